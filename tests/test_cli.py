"""The command line: usage errors, exit codes (what a dry run prints, host
by host: tests/cases/, test_cases.py)."""

from __future__ import annotations

import pytest

from conftest import cli
from trees import debian_tree


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["apply", "--no-such-option"], "No such option"),
        (["apply", "--backend", "rpm"], "Invalid value"),
        (["frobnicate"], "No such command"),
        (["apply", "--dry-run", "--root", "/nonexistent/root"], "--root /nonexistent/root: not a directory"),
        (["apply", "--dry-run", "--platform", "plan9", "--root", "{tree}"], "--platform plan9: no such platform"),
        (["apply", "--dry-run", "--platform", "linux", "--backend", "pw", "--root", "{tree}"],
         "--backend pw: platform linux has no pw commands"),
    ],
)
def test_usage_errors_exit_2(tmp_path, args, message):
    tree = debian_tree(tmp_path / "root")
    result = cli(*[a.replace("{tree}", str(tree)) for a in args])
    assert result.code == 2
    assert message in result.err
    assert "Traceback" not in result.err


def test_no_command_prints_the_help_on_stderr_and_exits_2():
    """The help, whole and nothing else (no 'Error:' line): what was
    missing is a command, and the help lists them."""
    result = cli()
    assert result.code == 2 and result.out == ""
    assert result.err.startswith("Usage: qmailsetup [OPTIONS] COMMAND [ARGS]...\n") and "Error" not in result.err
    assert all(f"\n  {command} " in result.err for command in ("apply", "check", "env", "export", "schema"))


def test_version():
    result = cli("--version")
    assert result.code == 0
    assert result.out.startswith("qmailsetup ")


def test_missing_account_file_exits_2(tmp_path):
    root = debian_tree(tmp_path / "root")
    (root / "etc/group").unlink()
    result = cli("apply", "--dry-run", "--platform", "linux", "--root", root)
    assert result.code == 2
    assert result.err == f"qmailsetup: {root}/etc/group: missing; a group file is needed here\n"


def test_malformed_account_file_exits_2_naming_file_and_line(tmp_path):
    root = debian_tree(tmp_path / "root")
    with open(root / "etc/passwd", "a") as f:
        f.write("broken:x:12\n")
    result = cli("apply", "--dry-run", "--platform", "linux", "--root", root)
    assert result.code == 2
    assert result.err == f"qmailsetup: {root}/etc/passwd:19: 3 fields, a passwd line has 7\n"


def test_detailed_exitcode_on_a_dry_run_with_changes(tmp_path):
    root = debian_tree(tmp_path / "root")
    assert cli("apply", "--dry-run", "--platform", "linux", "--root", root).code == 0
    assert cli("apply", "--dry-run", "--detailed-exitcode", "--platform", "linux", "--root", root).code == 4
