"""Every way a run can end is a clear one (qmailsetup(8), "EXIT STATUS"):
stdout closed, a broken pipe, a full device, a terminal encoding without
the spec's characters, a host without pseudo-terminals. Through the real
command line: no traceback, one line on stderr (none for a pipe whose
reader stopped: `| head` is no error), and the exit status still says what
happened to the host."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import require_tools
from namespace import run_in_namespace
from snapshot import snapshot
from trees import debian_tree

REPORT_LOST = "qmailsetup: stdout: cannot write the report: {}; the run went on, its exit status says what was done\n"
COMMENT_SPEC = """\
[[groups]]
name = "qmail"

[[users]]
name = "alias"
group = "qmail"
home = "/var/qmail/alias"
comment = "qmail café ✉"  # été
"""


def run(args: list[str], stdout, env: dict | None = None, shell_suffix: str = "") -> subprocess.CompletedProcess:
    """qmailsetup ARGS as a separate process, its stdout as given; with
    SHELL_SUFFIX, through sh (for `>&-`)."""
    argv = [sys.executable, "-m", "qmailsetup", *args]
    environment = {**os.environ, **(env or {})}
    if shell_suffix:
        argv = ["sh", "-c", '"$@" ' + shell_suffix, "sh", *argv]
    return subprocess.run(argv, stdout=stdout, stderr=subprocess.PIPE, text=True, env=environment, timeout=60)


def broken_pipe() -> int:
    """The write end of a pipe nobody reads any more (`| head -1` once head
    has gone): every write fails with EPIPE, deterministically."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    return write_end


def dry_run(root: Path) -> list[str]:
    return ["apply", "--dry-run", "--root", str(root), "--platform", "linux", "--detailed-exitcode"]


def real_run(root: Path) -> list[str]:
    return ["apply", "--root", str(root), "--platform", "linux", "--backend", "files", "--detailed-exitcode"]


@pytest.fixture
def tree(tmp_path) -> Path:
    return debian_tree(tmp_path / "root")


@pytest.mark.parametrize("how", ["closed", "broken-pipe", "full"])
def test_a_dry_run_whose_report_cannot_be_written_says_so_and_keeps_its_code(tree, how):
    before = snapshot(tree)
    if how == "closed":
        result = run(dry_run(tree), None, shell_suffix=">&-")
        reason = "Bad file descriptor"
    elif how == "broken-pipe":
        pipe = broken_pipe()
        result = run(dry_run(tree), pipe)
        os.close(pipe)
        reason = None
    else:
        with open("/dev/full", "w") as full:
            result = run(dry_run(tree), full)
        reason = "No space left on device"
    assert (result.returncode, result.stderr) == (4, REPORT_LOST.format(reason) if reason else "")
    assert snapshot(tree) == before


@pytest.mark.slow
@pytest.mark.parametrize("how", ["closed", "broken-pipe", "full"])
def test_a_real_run_whose_report_cannot_be_written_still_changes_the_host_and_says_so(tree, how, privileged):
    passwd = tree / "etc/passwd"
    if how == "closed":
        result = run(real_run(tree), None, shell_suffix=">&-")
        reason = "Bad file descriptor"
    elif how == "broken-pipe":
        pipe = broken_pipe()
        result = run(real_run(tree), pipe)
        os.close(pipe)
        reason = None
    else:
        with open("/dev/full", "w") as full:
            result = run(real_run(tree), full)
        reason = "No space left on device"
    # 4: changes were made (--detailed-exitcode), and the stderr line
    assert (result.returncode, result.stderr) == (4, REPORT_LOST.format(reason) if reason else "")
    assert "qmaild:x:" in passwd.read_text()
    assert (tree / "var/qmail/alias").is_dir()
    again = run(real_run(tree), subprocess.PIPE)
    assert (again.returncode, again.stderr) == (0, "")
    assert again.stdout.rstrip().endswith("0 to create, 0 to modify, 11 in sync.")


def test_a_closed_stdout_is_not_given_to_the_first_file_opened(tree, privileged):
    """With descriptor 1 closed, the account files opened later must not
    take its place: the report would be written into them."""
    result = run(real_run(tree), None, shell_suffix=">&-")
    assert result.returncode == 4, result.stderr
    for name in ("passwd", "group", "shadow", "gshadow"):
        assert "qmailsetup" not in (tree / "etc" / name).read_text(), name


@pytest.mark.parametrize("encoding_env", [{"PYTHONIOENCODING": "ascii"}, {"LC_ALL": "C", "LANG": "C"}])
def test_a_terminal_encoding_without_the_spec_characters_is_no_traceback(tree, tmp_path, encoding_env):
    spec = tmp_path / "spec.toml"
    spec.write_text(COMMENT_SPEC, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONIOENCODING", "LC_ALL", "LANG")}
    result = subprocess.run(
        [sys.executable, "-m", "qmailsetup", *dry_run(tree), "--spec", str(spec)],
        capture_output=True, env={**env, **encoding_env}, timeout=60,
    )
    assert (result.returncode, result.stderr) == (4, b"")
    shown = b"    comment: qmail caf\\xe9 \\u2709\n" if "PYTHONIOENCODING" in encoding_env else \
        "    comment: qmail café ✉\n".encode()
    assert shown in result.stdout


def test_a_real_run_under_an_ascii_terminal_writes_the_comment_in_utf8(tree, tmp_path, privileged):
    spec = tmp_path / "spec.toml"
    spec.write_text(COMMENT_SPEC, encoding="utf-8")
    result = run([*real_run(tree), "--spec", str(spec)], subprocess.PIPE, env={"PYTHONIOENCODING": "ascii"})
    assert (result.returncode, result.stderr) == (4, "")
    assert "Applied 2 changes." in result.stdout
    line = next(entry for entry in (tree / "etc/passwd").read_bytes().splitlines() if entry.startswith(b"alias:"))
    assert line.split(b":")[4] == "qmail café ✉".encode()


NO_PTY = """\
mount -t tmpfs -o mode=0755 tmpfs /dev/pts
mount --bind /dev/null /dev/ptmx
python3 -c 'import pty; pty.openpty()' 2>/dev/null && echo "a pty is still to be had" || true
$QMAILSETUP apply --backend useradd --spec "$SPEC" && echo "apply exit $?"
getent passwd alias | cut -d: -f1,5
"""


def test_the_useradd_backend_needs_no_pseudo_terminal(tmp_path, privileged):
    require_tools("useradd", "groupadd")
    spec = tmp_path / "spec.toml"
    spec.write_text(COMMENT_SPEC, encoding="utf-8")
    result = run_in_namespace(tmp_path, f'SPEC="{spec}"\n' + NO_PTY)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "a pty is still to be had" not in result.stdout
    assert result.stderr == ""
    assert "Applied 2 changes.\napply exit 0\nalias:qmail café ✉\n" in result.stdout


def test_with_stderr_closed_an_error_never_lands_in_the_report(tree):
    result = run(["apply", "--dry-run", "--root", str(tree / "missing")], subprocess.PIPE, shell_suffix="2>&-")
    assert (result.returncode, result.stdout) == (2, "")
