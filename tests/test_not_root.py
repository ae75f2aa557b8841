"""Without root, what can be known is said: on a tree root made, whose
shadow and gshadow are 0640 root:shadow as on an installed host, another
user's env reads passwd and group alone, and check and the dry run show
what they can and call the passwords unknown ("run as root to check
passwords"), as a monitoring agent needs. A run that may write still
stops, exit 2: it must not rest on a file it could not read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import cli, require_tools
from snapshot import snapshot
from trees import make_tree

NOBODY = 65534
NOTE = "run as root to check passwords"


pytestmark = pytest.mark.root("makes the tree and runs as another user")


@pytest.fixture
def root():
    """A Debian tree, outside pytest's private (0700) temporary directory so
    that another user can walk in; its shadow files are not that user's."""
    require_tools("setpriv")
    with tempfile.TemporaryDirectory(prefix="qmailsetup-not-root-") as place:
        os.chmod(place, 0o755)
        tree = make_tree(Path(place) / "root", "debian")
        for kind in ("shadow", "gshadow"):
            info = (tree / "etc" / kind).stat()
            assert (info.st_mode & 0o777, info.st_uid) == (0o640, 0) and info.st_gid != NOBODY
        yield tree


def as_nobody(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
         sys.executable, "-m", "qmailsetup", *map(str, args)],
        capture_output=True, text=True, cwd="/",
    )


def findings(output: str) -> dict:
    return {f["id"]: f for f in json.loads(output)["findings"] if f["id"].startswith("account.")}


def test_env_as_another_user_reads_passwd_and_group_alone(root):
    assert cli("apply", "--platform", "linux", "--root", root).code == 0
    expected = cli("env", "--platform", "linux", "--root", root)
    result = as_nobody("env", "--platform", "linux", "--root", root)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == expected.out
    assert "QMAIL_UID_ALIAS='999'\n" in result.stdout and "QMAIL_GID_NOFILES='998'\n" in result.stdout


def test_check_as_another_user_calls_the_passwords_unknown(root):
    before = as_nobody("check", "--json", "--platform", "linux", "--root", root)
    assert before.returncode == 3, before.stderr  # the accounts are missing: an error
    assert findings(before.stdout)["account.exists"]["severity"] == "error"
    assert cli("apply", "--platform", "linux", "--root", root).code == 0
    result = as_nobody("check", "--json", "--platform", "linux", "--root", root)
    assert (result.returncode, result.stderr) == (0, "")
    password = findings(result.stdout)["account.password"]
    assert (password["severity"], password["path"], password["remedy"]) == ("info", f"{root}/etc/shadow", NOTE)
    assert password["message"].startswith(f"unknown: {root}/etc/shadow is not readable by this user, so the "
                                          "passwords of alias, qmaild, qmaill, qmailp, qmailq, qmailr, qmails")
    assert findings(result.stdout)["account.incomplete"]["severity"] == "info"
    assert findings(cli("check", "--json", "--platform", "linux", "--root", root).out)["account.password"]["severity"] == "ok"
    # a usable password: root's check finds it; another user's cannot know
    shadow = root / "etc/shadow"
    shadow.write_text(shadow.read_text().replace("qmaild:!:", "qmaild:$6$salt$hash:"))
    assert cli("check", "--platform", "linux", "--root", root).code == 3
    text = as_nobody("check", "--platform", "linux", "--root", root)
    assert text.returncode == 0
    assert f"info    account.password: unknown: {root}/etc/shadow" in text.stdout
    assert f"        remedy: {NOTE}\n" in text.stdout and "$6$" not in text.stdout


def test_a_dry_run_as_another_user_shows_the_plan_and_says_what_is_unknown(root):
    before = snapshot(root)
    as_root = json.loads(cli("apply", "--dry-run", "--json", "--platform", "linux", "--root", root).out)
    result = as_nobody("apply", "--dry-run", "--detailed-exitcode", "--platform", "linux", "--root", root)
    assert (result.returncode, result.stderr) == (4, "")
    out = result.stdout
    assert "+ user alias: create\n" in out and "+alias:x:999:998::/var/qmail/alias:/usr/sbin/nologin\n" in out
    assert f"--- diff of {root}/etc/shadow\n(not shown: {root}/etc/shadow is not readable by this user; " \
           "run as root to see its diff)\n" in out
    assert (f"warning: {root}/etc/shadow is not readable by this user: the passwords in it, and any account "
            f"half-made without its line there, are unknown; {NOTE}\n") in out
    assert out.endswith("11 to create, 0 to modify, 0 in sync.\nDry run: nothing was written.\n")
    data = json.loads(as_nobody("apply", "--dry-run", "--json", "--platform", "linux", "--root", root).stdout)
    assert data["changes"] == as_root["changes"], "the same plan as root's"
    assert [w for w in data["warnings"] if w.endswith(NOTE)] != []
    assert snapshot(root) == before
    # a run that may write must not rest on a file it could not read
    result = as_nobody("apply", "--platform", "linux", "--root", root)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"qmailsetup: {root}/etc/shadow: permission denied; run as root\n"
    assert snapshot(root) == before
