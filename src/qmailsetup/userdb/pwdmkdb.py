"""After master.passwd is edited on a BSD: what pwd_mkdb -p does.

pwd_mkdb rebuilds the password databases and, with -p, the Version 7
/etc/passwd: every entry with '*' for the password and without the
master-only fields (class, change, expire); comment and blank lines copied
as they are (FreeBSD's pwd_mkdb.c, "copy comments"). Where pwd_mkdb is
missing (a BSD tree edited from another system), passwd is regenerated the
same way and the databases are left for pwd_mkdb on the host itself.

pwd_mkdb runs only after master.passwd was rewritten (it has nothing to do
with group), with no lock held that it asks for: FreeBSD's takes the flock
on master.passwd, which the files backend then holds only on the replaced
file (lock.let_go_of makes sure). A busy lock is waited for, boundedly.
"""

from __future__ import annotations

import os
import time
from operator import itemgetter
from pathlib import Path

from qmailsetup import tools
from qmailsetup.errors import OperationFailed
from qmailsetup.hostio import read_fd
from qmailsetup.userdb import lock
from qmailsetup.userdb.accountfile import ENCODING, ERRORS, is_inert
from qmailsetup.userdb.filekinds import FILE_KINDS

MASTER, V7 = FILE_KINDS["master.passwd"], FILE_KINDS["passwd"]
# a passwd line's fields, picked from a master.passwd line (whose password
# is '*' by then, and its IDs as pwd_mkdb prints them)
V7_FIELDS = itemgetter(*(MASTER.column(label) for label in V7.columns))
PASSWORD, UID, GID = (MASTER.column(label) for label in (MASTER.password, "uid", "gid"))


def number(field: str) -> str:
    """As pwd_mkdb prints it (%u): empty stays empty (NIS '+' lines)."""
    return str(int(field)) if field else ""


def v7_line(line: str) -> str:
    body = line.rstrip("\n")
    if is_inert(body):
        return body + "\n"
    f = body.split(":")
    if len(f) > MASTER.fields:
        raise ValueError(f"{len(f)} fields, a master.passwd line has {MASTER.fields}: {f[0]}")
    # a short NIS line (a bare "+" too, which pwd_mkdb reads as "+:::::::::"): the missing fields are empty
    f += [""] * (MASTER.fields - len(f))
    f[PASSWORD], f[UID], f[GID] = "*", number(f[UID]), number(f[GID])
    return ":".join(V7_FIELDS(f)) + "\n"


def v7_passwd(master_text: str) -> str:
    """/etc/passwd as `pwd_mkdb -p` writes it from MASTER_TEXT: no secrets."""
    # lines end at '\n' alone, as pwd_mkdb reads them (str.splitlines() would
    # also end one at a form feed, a vertical tab, NEL, U+2028 ...)
    lines = master_text.split("\n")
    if lines[-1] == "":
        lines.pop()  # what follows the last line end
    return "".join(v7_line(body) for body in lines)


def post_edit_argv(profile, root: Path) -> list[str]:
    """The profile's post-edit command for ROOT: {etcdir} is ROOT's etc,
    {root} ROOT (none on /, so a part naming it is left out: NetBSD's `-d`
    prefix)."""
    values = {"etcdir": str(root / "etc"), "root": None if root == Path("/") else str(root)}
    return profile.post_edit.render(values)


def run_waiting(argv: list[str], etc, timeout: float, written: list[str]) -> None:
    """Run the post-edit command ARGV; while it fails for the flock on
    master.passwd in ETC (FreeBSD's pwd_mkdb takes it, and with -N fails at once instead
    of waiting), wait for that lock to be free and run it again, for at
    most TIMEOUT seconds in all. FileNotFoundError when there is no such
    command; OperationFailed, naming what to run again, else."""
    deadline = time.monotonic() + timeout
    # the next run finds master.passwd in sync, so say what is left to do
    left = f"{', '.join(written)} written but the databases not rebuilt: run that command again once it can succeed"
    command = " ".join(argv)
    while True:
        try:
            # pwd_mkdb is in /usr/sbin, which cron's PATH leaves out: run_tool finds it
            result = tools.run_tool(argv)
        except FileNotFoundError:
            raise  # no such command: run_post_edit decides what that means
        except OSError as error:
            raise OperationFailed(f"{argv[0]}: {error.strerror}; {', '.join(written)} written") from None
        if result.returncode == 0:
            return
        # FreeBSD's pwd_mkdb -N says error("flock") when the lock is busy;
        # the holder may be gone by now, so that counts as much as a busy lock
        if "flock: " not in result.stderr and not lock.flock_busy(etc, "master.passwd"):
            raise OperationFailed(f"{result.failure()}; {left}")
        while True:  # until the lock is free, at most until the deadline
            if time.monotonic() >= deadline:
                raise OperationFailed(
                    f"{command}: {etc.shown('master.passwd')} is locked (flock) by another process; gave up after waiting "
                    f"{timeout:g}s; {left}"
                )
            lock.check_interrupted()
            time.sleep(lock.POLL_SECONDS)
            if not lock.flock_busy(etc, "master.passwd"):
                break


def run_post_edit(profile_name: str, argv: list[str], etc, run, write_passwd, say) -> None:
    """Run ARGV, the profile's post-edit command for the root whose etc is
    ETC (userdb/etcdir.py), after master.passwd was written.

    RUN runs it (raising OperationFailed when it fails, and
    FileNotFoundError when there is no such command). Where pwd_mkdb is
    missing, /etc/passwd is regenerated as `pwd_mkdb -p` would (WRITE_PASSWD
    replaces it atomically) and SAY tells the administrator that the
    password databases still need pwd_mkdb on the host itself.
    """
    try:
        run(argv)
    except FileNotFoundError:
        if argv[0] != "pwd_mkdb":
            raise OperationFailed(f"{argv[0]}: command not found (the post-edit step of {profile_name})") from None
        fd, _ = etc.open_regular("master.passwd")
        try:
            master = read_fd(fd)
        finally:
            os.close(fd)
        write_passwd(v7_passwd(master.decode(ENCODING, ERRORS)).encode(ENCODING, ERRORS))
        say(
            f"pwd_mkdb not found: {etc.shown('passwd')} regenerated from master.passwd as pwd_mkdb -p would; "
            f"the password databases are not rebuilt: run `{' '.join(argv)}` on the host"
        )
