"""After master.passwd is edited on a BSD: what pwd_mkdb -p does.

pwd_mkdb rebuilds the password databases and, with -p, the Version 7
/etc/passwd: every entry with '*' for the password and without the
master-only fields (class, change, expire); comment and blank lines copied
as they are (FreeBSD's pwd_mkdb.c, "copy comments"). Where pwd_mkdb is
missing (a BSD tree edited from another system), passwd is regenerated the
same way and the databases are left for pwd_mkdb on the host itself.
"""

from __future__ import annotations

from pathlib import Path

from qmailsetup.errors import OperationFailed
from qmailsetup.platforms import PLACEHOLDER
from qmailsetup.userdb.accountfile import ENCODING, ERRORS, is_inert


def number(field: str) -> str:
    """As pwd_mkdb prints it (%u): empty stays empty (NIS '+' lines)."""
    return str(int(field)) if field else ""


def v7_line(line: str) -> str:
    body = line.rstrip("\n")
    if is_inert(body):
        return body + "\n"
    if body == "+":  # pwd_mkdb reads a bare "+" as "+:::::::::"
        body = "+:::::::::"
    f = body.split(":")
    if len(f) > 10:
        raise ValueError(f"{len(f)} fields, a master.passwd line has 10: {f[0]}")
    f += [""] * (10 - len(f))  # a short NIS line: the missing fields are empty
    name, uid, gid, gecos, home, shell = f[0], f[2], f[3], f[7], f[8], f[9]
    return f"{name}:*:{number(uid)}:{number(gid)}:{gecos}:{home}:{shell}\n"


def v7_passwd(master_text: str) -> str:
    """/etc/passwd as `pwd_mkdb -p` writes it from MASTER_TEXT: no secrets."""
    return "".join(v7_line(line) for line in master_text.splitlines(keepends=True))


def post_edit_argv(template: tuple[str, ...], root: Path) -> list[str]:
    """A profile's post-edit command for ROOT: {etcdir} is ROOT/etc."""
    values = {"etcdir": str(root / "etc"), "root": str(root)}
    return [PLACEHOLDER.sub(lambda m: values[m.group(1)], part) for part in template]


def run_post_edit(profile, root: Path, run, write_passwd, say) -> None:
    """Run the profile's post-edit commands after master.passwd was written.

    RUN runs one argv (raising OperationFailed when it fails, and
    FileNotFoundError when there is no such command). Where pwd_mkdb is
    missing, /etc/passwd is regenerated as `pwd_mkdb -p` would (WRITE_PASSWD
    replaces it atomically) and SAY tells the administrator that the
    password databases still need pwd_mkdb on the host itself.
    """
    for template in profile.post_edit:
        argv = post_edit_argv(template, root)
        try:
            run(argv)
        except FileNotFoundError:
            if argv[0] != "pwd_mkdb":
                raise OperationFailed(f"{argv[0]}: command not found (the post-edit step of {profile.name})") from None
            master = root / "etc/master.passwd"
            write_passwd(v7_passwd(master.read_bytes().decode(ENCODING, ERRORS)).encode(ENCODING, ERRORS))
            say(
                f"pwd_mkdb not found: {root / 'etc/passwd'} regenerated from master.passwd as pwd_mkdb -p would; "
                f"the password databases are not rebuilt: run `{' '.join(argv)}` on the host"
            )
