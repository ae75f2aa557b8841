"""No output shows a password hash (qmailsetup(8), SAFETY).

Trees whose accounts around the insertion point, and a qmail account
itself, carry real-looking hashes of every common kind, in shadow, gshadow,
master.passwd, and (as on old systems) in passwd and group. Every command
is run with every flavor and backend that can run here (the real applies
as processes of their own, so a tool's own output is seen too); none of
the hashes may appear in stdout or stderr, and the diffs keep their exact
shape (goldens)."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

from conftest import Result, cli, require_tools
from golden import check_text, scrub
from process import EPOCH, qmailsetup
from qmailsetup.errors import EXIT_BAD_INPUT
from qmailsetup.userdb.diff import Edit, unified_diff
from qmailsetup.userdb.filekinds import FILE_KINDS, HIDDEN, holds_no_secret
from trees import append, bsd_tree, debian_tree, master_line, write

# one of each kind a host may hold; every one unique, so a match is a leak
HASHES = {
    "sha512": "$6$Qm7sLt0vWx$4hQ1F0cB8pE2vR9kYx3ZsNwLdTgHuJiKoPa5Sb6Cc7Dd8Ee9Ff0Gg1Hh2Ii3Jj4Kk5Ll6Mm7Nn8Oo9Pp0Qq1Rr2Ss3Tt4U",
    "yescrypt": "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$X3DX6M94c7o.9agCG9G317fhZg9SqC.5i5rd.RhAtQ7",
    "bcrypt": "$2b$12$GhvMmNVjRW29ulnudl.LbuAnUtN/LRfe1JsBm1Xu6LE3059z5Tr8m",
    "des": "aBcD3fGh1jKlM",
    "md5": "$1$pQ8sAlt1$qjXMvbEw8oaL.CzflDugX/",
    "locked": "!$6$lockedSALT$Zq9W8e7R6t5Y4u3I2o1P0aSdFgHjKlZxCvBnM.qwertyuiopasdfghjklzxcvbnm0123456789ABCDE",
    "pw-locked": "*LOCKED*$6$pwlockSALT$Lk9J8h7G6f5D4s3A2p1O0iUyTrEwQ.mnbvcxzlkjhgfdsapoiuytrewq9876543210ZYXW",
    "des-group": "Zy9xW8vU7tS6r",
}


def secrets() -> list[str]:
    """The hashes, and each without its lock prefix: neither may be shown."""
    return [*HASHES.values(), *(h.lstrip("!").removeprefix("*LOCKED*") for h in HASHES.values())]


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        leaked = [secret for secret in secrets() if secret in text]
        assert not leaked, f"a hash reached the output: {leaked}\n{text}"


PEOPLE = ["alice", "bob", "carol", "dave", "erin"]
PEOPLE_HASHES = ["sha512", "yescrypt", "bcrypt", "des", "locked"]


def hashes_tree(root: Path) -> Path:
    """Debian, then people with hashes, the qmail group (with a locked group
    password), qmaild with a hash, a login shell and group qmail (drift),
    and an old account and group with their hashes in passwd and group
    themselves: hashes on every side of every line the tool writes."""
    debian_tree(root)
    append(root, "group", [f"{n}:x:{1000 + i}:" for i, n in enumerate(PEOPLE)] + ["qmail:x:990:",
                           f"oldgrp:{HASHES['des-group']}:1010:"])
    append(root, "gshadow", [f"{n}:{HASHES[h]}::" for n, h in zip(PEOPLE, PEOPLE_HASHES, strict=True)]
           + [f"qmail:{HASHES['pw-locked']}::"])
    append(root, "passwd", [f"{n}:x:{1000 + i}:{1000 + i}::/home/{n}:/bin/bash" for i, n in enumerate(PEOPLE[:3])]
           + ["qmaild:x:990:990::/var/qmail:/bin/sh", f"oldie:{HASHES['md5']}:1009:1010::/home/oldie:/bin/sh"]
           + [f"{n}:x:{1003 + i}:{1003 + i}::/home/{n}:/bin/bash" for i, n in enumerate(PEOPLE[3:])])
    append(root, "shadow", [f"{n}:{HASHES[h]}:19000:0:99999:7:::" for n, h in zip(PEOPLE[:3], PEOPLE_HASHES[:3], strict=True)]
           + [f"qmaild:{HASHES['sha512']}:19000:0:99999:7:::"]
           + [f"{n}:{HASHES[h]}:19000:0:99999:7:::" for n, h in zip(PEOPLE[3:], PEOPLE_HASHES[3:], strict=True)])
    return root


def hashes_tree_with_nofiles(root: Path) -> Path:
    """The same with group nofiles made and qmaild in it: shadow-utils 4.13's
    usermod --prefix looks a -g group up on the running host, not under the
    prefix, so moving qmaild to a new group fails there (not ours to fix)."""
    hashes_tree(root)
    append(root, "group", ["nofiles:x:991:"])
    append(root, "gshadow", ["nofiles:!::"])
    passwd = root / "etc/passwd"
    passwd.write_text(passwd.read_text().replace("qmaild:x:990:990:", "qmaild:x:990:991:"))
    return root


def plain_tree(root: Path) -> Path:
    """An old host without shadow files: the hashes are in passwd and group."""
    hashes = [HASHES[h] for h in PEOPLE_HASHES]
    write(root / "etc/passwd", "root:*:0:0:root:/root:/bin/sh\n" + "".join(
        f"{n}:{h}:{1000 + i}:100::/home/{n}:/bin/sh\n" for i, (n, h) in enumerate(zip(PEOPLE, hashes, strict=True))
    ) + f"qmaild:{HASHES['md5']}:990:990::/var/qmail:/bin/sh\n")
    write(root / "etc/group", "root:*:0:\nusers:*:100:\nqmail:*:990:\n"
          f"oldgrp:{HASHES['des-group']}:1010:\n")
    return root


def master_tree(root: Path, fixture: str) -> Path:
    bsd_tree(root, fixture)
    lines = [master_line(n, 1000 + i, 0, f"/home/{n}", "/bin/sh") for i, n in enumerate(PEOPLE)]
    kinds = ["sha512", "yescrypt", "pw-locked", "des", "locked"]
    lines = [line.replace(":*:", f":{HASHES[h]}:", 1) for line, h in zip(lines, kinds, strict=True)]
    qmaild = master_line("qmaild", 990, 990, "/var/qmail", "/bin/sh").replace(":*:", f":{HASHES['bcrypt']}:", 1)
    append(root, "master.passwd", lines[:3] + [qmaild] + lines[3:])
    append(root, "group", ["qmail:*:990:", f"oldgrp:{HASHES['des-group']}:1010:"])
    return root


# (tree, platform, backends that may run for real here, backends only shown)
HOSTS = {
    "shadow": (hashes_tree, "linux", ["files"], []),
    "shadow-useradd": (hashes_tree_with_nofiles, "linux", ["useradd"], []),
    "plain": (plain_tree, "generic", ["files"], []),
    "freebsd": (lambda root: master_tree(root, "freebsd"), "freebsd", ["files"], ["pw"]),
    "openbsd": (lambda root: master_tree(root, "openbsd"), "openbsd", ["files"], []),
}


def run(*args, separate: bool = False) -> Result:
    """The CLI, in this process or (SEPARATE) as a process of its own, so
    that whatever a tool it runs writes to its stdout or stderr is seen."""
    if not separate:
        return cli(*args)
    result = qmailsetup(*args, check_codes=None, timeout=120)
    return Result(result.returncode, result.stdout, result.stderr)


def checked(*args, codes, separate: bool = False) -> Result:
    result = run(*args, separate=separate)
    assert result.code in codes, (args, result.code, result.out, result.err)
    assert "Traceback" not in result.err
    assert_no_secret(result.out, result.err)
    return result


pytestmark = pytest.mark.root("the real runs chown and may run useradd --prefix")


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)


@pytest.mark.parametrize("host", sorted(HOSTS))
def test_no_command_shows_a_hash(tmp_path, host):
    build, platform, real, shown_only = HOSTS[host]
    for backend in real + shown_only:
        root = build(tmp_path / backend)
        if backend == "useradd":
            require_tools("useradd", "groupadd", "usermod")
        common = ("--root", root, "--platform", platform, "--backend", backend)
        # without --fix-drift qmaild's login shell refuses the run, after the plan and diffs were shown
        refused = checked("apply", "--dry-run", *common, codes=(3,))
        assert "qmailsetup: refused" in refused.err
        dry = checked("apply", "--dry-run", "--fix-drift", *common, codes=(0,))
        dry_json = checked("apply", "--dry-run", "--fix-drift", "--json", *common, codes=(0,))
        if backend == "files":
            assert HIDDEN in dry.out and HIDDEN in dry_json.out, "the diffs show the redacted lines"
        checked("env", "--root", root, "--platform", platform, codes=(3,))
        checked("check", "--root", root, "--platform", platform, codes=(3,))
        checked("check", "--json", "--root", root, "--platform", platform, codes=(3,))
        if backend in shown_only:
            continue
        # qmaild keeps its usable password, so check's error remains: exit 5,
        # the error on stderr naming the account, never the hash
        applied = checked("apply", "--fix-drift", *common, codes=(5,), separate=True)
        assert "account.password: user qmaild has a usable password (set)" in applied.err
        checked("apply", "--json", "--fix-drift", *common, codes=(5,), separate=True)
        checked("env", "--root", root, "--platform", platform, codes=(0,))
        # qmaild keeps its usable password: check names the account, not the hash
        password = checked("check", "--root", root, "--platform", platform, codes=(3,))
        assert "user qmaild has a usable password (set)" in password.out
    # the exports read only the spec; sh needs a platform with account tools
    for export_format in ("json", "sysusers") + (("sh",) if platform != "generic" else ()):
        checked("export", "--format", export_format, "--platform", platform, codes=(0,))


@pytest.mark.parametrize("host", ["shadow", "freebsd"])
def test_the_redacted_diff_keeps_its_shape(tmp_path, host):
    """Golden: the files backend's dry run, every line of every diff
    present, each password field that holds a hash hidden."""
    build, platform, _, _ = HOSTS[host]
    root = build(tmp_path / "root")
    result = checked("apply", "--dry-run", "--fix-drift", "--root", root, "--platform", platform,
                     "--backend", "files", codes=(0,))
    check_text(f"text/secrets_redacted_{host}.txt", scrub(result.out, root))


def test_redaction_only_replaces_the_password_field():
    old = [f"{n}:{HASHES[h]}:19000:0:99999:7:::\n" for n, h in zip(PEOPLE, PEOPLE_HASHES, strict=True)]
    old += ["#mallory:$6$commented$out:19000::::::\n", "locked:!:19000::::::\n", "+::::::::\n"]
    redacted = unified_diff(old, [Edit(len(old), len(old), ("qmaild:!:19675::::::\n",))], "a", "b",
                            redact=FILE_KINDS["shadow"].redact)
    plain = unified_diff(old, [Edit(len(old), len(old), ("qmaild:!:19675::::::\n",))], "a", "b")
    assert [line[:2] for line in redacted.splitlines()] == [line[:2] for line in plain.splitlines()]
    assert redacted.splitlines()[2] == plain.splitlines()[2] == "@@ -6,3 +6,4 @@"
    assert redacted.splitlines()[3:] == [
        " #mallory:<hidden>:19000::::::", " locked:!:19000::::::", " +::::::::", "+qmaild:!:19675::::::",
    ]
    assert FILE_KINDS["master.passwd"].redact("bob:$2b$x:1:1::0:0::/h:/s\n") == "bob:<hidden>:1:1::0:0::/h:/s\n"
    assert FILE_KINDS["group"].redact("old:aBcD3fGh1jKlM:1:\n") == "old:<hidden>:1:\n"
    assert FILE_KINDS["gshadow"].redact("a:b") == "a:<hidden>"
    assert FILE_KINDS["gshadow"].redact("# no fields\n") == "# <hidden>\n"


def ansible_apply_module():
    """The collection's apply module, imported from the checkout as Ansible
    imports it (tests/test_tools_ansible.py runs it for real)."""
    collections = str(Path(__file__).resolve().parents[1] / "collections")
    sys.path.insert(0, collections)
    try:
        return importlib.import_module("ansible_collections.qmailsetup.qmail.plugins.modules.apply")
    finally:
        sys.path.remove(collections)


@pytest.mark.parametrize(("comment", "shown"), [
    (f"# {HASHES['sha512']}", "# <hidden>"),
    (f"#{HASHES['yescrypt']}", "#<hidden>"),
    (f"  #  old password {HASHES['locked']}", "  #  <hidden>"),
], ids=["spaced", "close", "words"])
def test_a_hash_in_a_comment_without_fields_is_hidden_in_the_diff_the_json_and_ansible(tmp_path, comment, shown):
    """A comment line of shadow with no ':' has no password column to
    hide: it was shown whole, in the text diff, in --json's "diffs" and so
    in the Ansible module's diff. Now only its leading '#'s and blanks are."""
    root = debian_tree(tmp_path / "root")
    append(root, "shadow", [comment])  # the last line: context of the lines appended after it
    common = ("apply", "--dry-run", "--root", root, "--platform", "linux", "--backend", "files")

    text = checked(*common, codes=(0,))
    data = json.loads(checked(*common, "--json", codes=(0,)).out)
    ansible_diff = ansible_apply_module().plan_diff(data)

    assert f"\n {shown}\n+alias:" in text.out
    (shadow_diff,) = [item["diff"] for item in data["diffs"] if item["path"].endswith("/etc/shadow")]
    assert f"\n {shown}\n+alias:" in shadow_diff
    assert {"prepared": shadow_diff} in ansible_diff
    assert_no_secret(json.dumps(data), json.dumps(ansible_diff))


@pytest.mark.parametrize("value", ["", "x", "*", "!", "!!", "!*", "*LOCKED*", "*LK*", "*NP*"])
def test_values_that_hold_no_secret_are_shown(value):
    assert holds_no_secret(value)


@pytest.mark.parametrize("value", [*HASHES.values(), "!x", "xx", "*LOCKED*!", "secret"])
def test_anything_else_is_hidden(value):
    assert not holds_no_secret(value)


def test_a_hash_shifted_into_a_number_column_is_not_quoted(tmp_path):
    """A hash pasted after the 'x' lands where passwd's UID belongs: the
    error names the line and the field, never the hash."""
    root = debian_tree(tmp_path / "root")
    number = len((root / "etc/passwd").read_text().splitlines()) + 1
    append(root, "passwd", [f"mallory:x:{HASHES['yescrypt']}:100::/home/m:/bin/sh"])
    result = checked("apply", "--dry-run", "--root", root, "--platform", "linux", codes=(EXIT_BAD_INPUT,))
    assert result.err == (
        f"qmailsetup: {root}/etc/passwd:{number}: uid ({len(HASHES['yescrypt'])} characters, not shown) "
        "of 'mallory' is not a number\n"
    )
    assert result.out == ""
