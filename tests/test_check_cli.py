"""`qmailsetup check` on the command line: JSON shape, exit codes, bad input."""

from __future__ import annotations

import json

import pytest

from conftest import cli
from qmailsetup.check import SEVERITIES
from scenarios import build

DESIGN_IDS = {
    "fs.nosuid", "fs.noexec", "fs.sync-metadata", "fs.network", "fs.separate-partition",
    "prereq.daemontools", "prereq.ucspi-tcp", "prereq.dns-resolver", "account.login-shell", "account.password",
    "qmail.compiled-ids", "queue.owner",
}


def test_json_has_every_design_id_and_exits_3_on_errors(tmp_path):
    root = tmp_path / "root"
    build("install_ids_as_shipped", root)
    result = cli("check", "--root", root, "--json")
    assert result.code == 3, result.err
    assert result.err == ""
    findings = json.loads(result.out)["findings"]
    assert {f["id"] for f in findings} >= DESIGN_IDS
    for finding in findings:
        assert set(finding) == {"id", "severity", "path", "message", "remedy"}
        assert finding["severity"] in SEVERITIES
        assert finding["remedy"] or finding["severity"] == "ok"
    shells = [f for f in findings if f["id"] == "account.login-shell"]
    assert len(shells) == 7 and {f["severity"] for f in shells} == {"error"}
    # the filesystem is looked at under the root, which exists only in part
    [nosuid] = [f for f in findings if f["id"] == "fs.nosuid"]
    assert nosuid["path"] == str(root / "var/qmail/bin")
    assert f"{root}/var/qmail/bin does not exist yet; its nearest existing parent {root} is on" in nosuid["message"]


def test_text_output_lists_findings_with_remedies_and_a_summary(tmp_path):
    root = tmp_path / "root"
    build("fresh_debian", root)
    result = cli("check", "--root", root)
    assert result.code == 3
    lines = result.out.splitlines()
    assert lines[0] == f"qmailsetup check: {root} (platform linux)"
    assert "error   account.exists: missing: group qmail, group nofiles, user alias," in result.out
    assert "        remedy: run qmailsetup apply (qmailsetup apply --dry-run shows what it would do)" in lines
    assert lines[-1].startswith("3 errors, ")


def test_a_root_that_is_not_a_directory_is_bad_input(tmp_path):
    result = cli("check", "--root", tmp_path / "nowhere")
    assert (result.code, result.out) == (2, "")
    assert result.err == f"qmailsetup: --root {tmp_path / 'nowhere'}: not a directory\n"


def test_a_malformed_passwd_is_one_line_and_exit_2(tmp_path):
    root = tmp_path / "root"
    build("fresh_debian", root)
    with open(root / "etc/passwd", "a") as passwd:
        passwd.write("broken:line\n")
    result = cli("check", "--root", root, "--json")
    assert result.code == 2
    assert result.err.count("\n") == 1 and "etc/passwd:" in result.err and "fields" in result.err
    assert "Traceback" not in result.err


def test_help_shows_examples():
    result = cli("check", "--help")
    assert result.code == 0
    assert "qmailsetup check --root /mnt/image --json" in result.out and "Exit 3" in result.out


@pytest.mark.root("the host is made with qmail's owners (chown)")
def test_apply_notes_a_usable_password_it_does_not_fix(tmp_path):
    root = tmp_path / "root"
    build("provisioned", root)
    shadow = (root / "etc/shadow").read_text().replace("qmailp:!:", "qmailp:$6$salt$hash:")
    (root / "etc/shadow").write_text(shadow)
    result = cli("apply", "--dry-run", "--platform", "linux", "--root", root)
    assert result.code == 0, result.err
    assert result.out.endswith(
        "note: qmailsetup check finds, as things stand:\n"
        "  error   account.password: user qmailp has a usable password (set); a qmail account must have none\n"
        "          remedy: lock it: usermod -L qmailp\n"
    )
    data = json.loads(cli("apply", "--platform", "linux", "--root", root, "--json").out)
    assert [(f["id"], f["path"]) for f in data["check"]] == [("account.password", str(root / "etc/shadow"))]


def test_check_reads_the_accounts_of_the_spec_it_is_given(tmp_path):
    root = tmp_path / "root"
    spec = build("fixed_ids_conflicting", root)  # INSTALL.ids' IDs, in part taken
    default = json.loads(cli("check", "--root", root, "--json", "--platform", "linux").out)["findings"]
    given = json.loads(cli("check", "--root", root, "--json", "--platform", "linux", *spec).out)["findings"]
    conflicts = [f["message"] for f in given if f["id"] == "account.conflict"]
    assert any("uid is 7000 on the host, the spec says 7790" in message for message in conflicts), conflicts
    assert not any("7790" in f["message"] for f in default)


def test_text_lines_are_at_most_100_columns_and_commands_stay_whole():
    """Read in a terminal or a mail: each finding wrapped at 100 columns
    (under a short root, so no path alone is longer), a remedy's commands
    each whole on a line."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory(prefix="q", dir="/tmp") as short:
        root = Path(short)
        build("fresh_debian", root)
        (root / "var").mkdir(exist_ok=True)
        result = cli("check", "--root", root, "--platform", "linux")
        as_json = json.loads(cli("check", "--root", root, "--platform", "linux", "--json").out)["findings"]
    assert result.code == 3
    assert max(len(line) for line in result.out.splitlines()) <= 100, result.out
    [sync] = [f for f in as_json if f["id"] == "fs.sync-metadata"]
    command = sync["remedy"].rsplit(", ", 1)[1]
    assert command.startswith("find ") and f"                {command}\n" in result.out
