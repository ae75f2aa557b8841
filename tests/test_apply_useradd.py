"""Real shadow-utils useradd/groupadd/usermod with --prefix on temporary
trees, no mocks (the files they leave, host by host, and the second run in
sync: tests/cases/, test_cases.py)."""

from __future__ import annotations

import json
import os

import pytest

from conftest import cli, require_tools
from qmail_layout import QMAIL_USERS
from scenarios import build
from snapshot import snapshot

pytestmark = pytest.mark.root("useradd --prefix")


@pytest.fixture(autouse=True)
def real_tools():
    require_tools("useradd", "groupadd", "usermod")


def apply(root, *extra):
    return cli("apply", "--platform", "linux", "--backend", "useradd", "--root", root, *extra)


def test_new_accounts_are_locked_and_have_no_home_made(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    build("fresh_debian", root)
    assert apply(root).code == 0
    shadow = {line.split(":")[0]: line.split(":") for line in (root / "etc/shadow").read_text().splitlines()}
    passwd = {line.split(":")[0]: line.split(":") for line in (root / "etc/passwd").read_text().splitlines()}
    for name in QMAIL_USERS:
        assert shadow[name][1] in ("!", "!*", "*"), name
        assert passwd[name][6] == "/usr/sbin/nologin"
        assert int(passwd[name][2]) < 1000, "a system UID"
    assert not (root / "home").exists()
    assert sorted(p.name for p in (root / "var/qmail").iterdir()) == ["alias"], "no skeleton files"


@pytest.mark.slow
def test_a_failing_command_stops_the_run_and_says_what_was_done(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    build("fresh_debian", root)
    # a live lock on passwd: groupadd works, useradd cannot lock passwd
    (root / "etc/passwd.lock").write_text(str(os.getpid()))
    result = apply(root)
    assert result.code == 1
    error = result.err.strip().splitlines()
    assert len(error) == 1, result.err
    assert "useradd" in error[0] and "exit" in error[0]
    assert "done before the failure: group qmail, group nofiles" in error[0]
    # the progress shows where the run stopped
    assert result.out.endswith("11 to create, 0 to modify, 0 in sync.\ncreated group qmail (gid 999)\n"
                               "created group nofiles (gid 998)\n")
    assert "qmail:x:999:" in (root / "etc/group").read_text()
    assert "alias" not in (root / "etc/passwd").read_text()
    # the next run finishes the job
    (root / "etc/passwd.lock").unlink()
    assert apply(root).code == 0
    assert "alias:x:999:998" in (root / "etc/passwd").read_text()


def test_drift_without_fix_drift_is_refused_and_nothing_is_written(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    build("install_ids_as_shipped", root)
    before = snapshot(root)
    result = apply(root)
    assert result.code == 3
    assert "rerun with --fix-drift" in result.err
    assert snapshot(root) == before
    # a dry run is refused as well, and says both ways on
    result = apply(root, "--dry-run")
    assert result.code == 3
    assert result.err.endswith("; to change the accounts rerun with --fix-drift, "
                               "or to keep them make the spec accept what the host has\n")
    assert snapshot(root) == before


def test_each_change_is_told_as_it_completes_with_the_id_useradd_gave(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    build("partial", root)  # alias made by hand (999); useradd -r picks the rest
    result = apply(root)
    assert result.code == 0, result.err
    progress = result.out.split("8 to create, 0 to modify, 3 in sync.\n", 1)[1]
    assert progress == (
        "created user qmaild (uid 998)\n"
        "created user qmaill (uid 997)\n"
        "created user qmailp (uid 996)\n"
        "created user qmailq (uid 995)\n"
        "created user qmailr (uid 994)\n"
        "created user qmails (uid 993)\n"
        "created /var/qmail (root:qmail 0755)\n"
        "created /var/qmail/alias (alias:qmail 02755)\n"
        "Applied 8 changes.\n"
    )
    passwd = {line.split(":")[0]: line.split(":")[2] for line in (root / "etc/passwd").read_text().splitlines()}
    for line in progress.splitlines():
        if line.startswith("created user "):
            name, number = line.split()[2], line.split()[-1].rstrip(")")
            assert passwd[name] == number, "the ID shown is the one in the file"


def test_json_applied_lists_each_change_with_the_id_it_got(tmp_path):

    root = tmp_path / "root"
    root.mkdir()
    build("fresh_debian", root)
    result = apply(root, "--json")
    assert result.code == 0, result.err
    applied = json.loads(result.out)["applied"]
    assert applied[:3] == [
        {"kind": "group", "name": "qmail", "action": "create", "gid": 999},
        {"kind": "group", "name": "nofiles", "action": "create", "gid": 998},
        {"kind": "user", "name": "alias", "action": "create", "uid": 999},
    ]
    assert applied[-1] == {"kind": "path", "name": "/var/qmail/alias", "action": "create"}
    assert len(applied) == 11
