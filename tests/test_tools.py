"""The one way to run a host tool (tools.run_tool), with real programs:
the exact argv, its exit status and stderr, a timeout, a missing program,
no terminal, and no signal held back in the child."""

from __future__ import annotations

import errno
import os
import signal
from pathlib import Path

import pytest

from qmailsetup.tools import ToolResult, find_tool, run_tool


def test_the_argv_goes_as_it_is_in_utf8_and_the_output_comes_back():
    result = run_tool(["printf", "%s|", "a b", "", "*", "Luç"])
    assert result == ToolResult(("printf", "%s|", "a b", "", "*", "Luç"), 0, "a b||*|Luç|", "")


def test_a_nonzero_exit_is_a_result_with_its_stderr_and_one_line_failure():
    result = run_tool(["sh", "-c", "echo half done; echo 'first\n\n  second' >&2; exit 3"])
    assert (result.returncode, result.stdout, result.stderr) == (3, "half done\n", "first\n\n  second\n")
    assert result.failure() == "sh -c echo half done; echo 'first\n\n  second' >&2; exit 3: exit 3: first; second"


def test_a_tool_killed_by_a_signal_has_its_negative_number():
    assert run_tool(["sh", "-c", "kill -KILL $$"]).returncode == -signal.SIGKILL


def test_a_timeout_kills_the_tool_and_says_so():
    with pytest.raises(TimeoutError) as error:
        run_tool(["sleep", "30"], timeout=0.2)
    assert error.value.errno == errno.ETIMEDOUT and error.value.strerror == "did not finish in 0.2 s"
    assert error.value.filename == "sleep"


def test_a_missing_tool_is_file_not_found():
    with pytest.raises(FileNotFoundError) as error:
        run_tool(["no-such-tool-here", "-x"])
    assert error.value.filename == "no-such-tool-here" and error.value.strerror == "command not found"


def zombie_children() -> list[int]:
    """This process's children that have exited and were not waited for."""
    zombies = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z" and int(fields[1]) == os.getpid():
            zombies.append(int(stat.parent.name))
    return zombies


@pytest.mark.parametrize("how", ["not a program", "no such directory"])
def test_a_tool_that_cannot_be_started_is_an_os_error_and_leaves_no_child(tmp_path, how):
    """sh forgets the child whose exec (or whose setup before it) failed;
    run_tool reaps it: a zombie left here would be reaped by whatever waits
    for this process's children next (mutmut stopped on one with a KeyError)."""
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"\x7fELF\x00\x01 not a program")
    garbage.chmod(0o755)
    before = zombie_children()
    with pytest.raises(OSError) as error:
        if how == "not a program":
            run_tool([str(garbage)])
        else:
            run_tool(["sh", "-c", "exit 0"], cwd=str(tmp_path / "gone"))
    assert error.value.strerror == "could not be started (not a program this host runs, or not executable)"
    assert zombie_children() == before


def test_signals_held_back_here_reach_the_tool():
    """The files backend blocks SIGINT/SIGTERM/SIGHUP while it holds its
    locks (userdb/lock.py); a tool it runs then must still die of them."""
    held = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        killed = run_tool(["sh", "-c", "kill -TERM $$; echo survived"])
        status = run_tool(["grep", "^SigBlk:", "/proc/self/status"]).stdout
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    assert (killed.returncode, killed.stdout) == (-signal.SIGTERM, "")
    assert int(status.split()[1], 16) == 0


def test_no_terminal_and_no_input():
    result = run_tool(["sh", "-c", "test -t 0 || test -t 1 || test -t 2 || echo pipes; cat"])
    assert result.stdout == "pipes\n"


def test_the_environment_is_this_one_or_the_one_given(monkeypatch):
    monkeypatch.setenv("QMAILSETUP_PROBE", "here")
    assert run_tool(["sh", "-c", 'echo "$QMAILSETUP_PROBE"']).stdout == "here\n"
    bare = run_tool(["/usr/bin/env"], env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"})
    assert sorted(bare.stdout.splitlines()) == ["LC_ALL=C", "PATH=/usr/bin:/bin"]


def test_in_another_directory(tmp_path):
    assert run_tool(["pwd", "-P"], cwd=str(tmp_path)).stdout == f"{tmp_path.resolve()}\n"


def test_as_an_unprivileged_user_with_no_other_groups(privileged):
    result = run_tool(["sh", "-c", "id -u; id -g; id -G"], as_user=(65534, 65533))
    assert result.stdout.split() == ["65534", "65533", "65533"]


def test_output_that_is_not_utf8_round_trips():
    result = run_tool(["printf", "/var/qmail/\\377\\n"])
    assert os.fsencode(result.stdout) == b"/var/qmail/\xff\n"


def test_a_tool_outside_path_is_found_in_the_system_dirs(monkeypatch):
    """cron's PATH has no /usr/sbin; run_tool finds the tool there anyway."""
    monkeypatch.setenv("PATH", "/nonexistent")
    assert find_tool("true") in ("/usr/bin/true", "/bin/true")
    assert run_tool(["true"]).returncode == 0
