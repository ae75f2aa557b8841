"""The post-edit step on the BSDs: pwd_mkdb, run by the files backend after
it rewrote master.passwd, with each platform's exact argv, never while the
run holds the flock FreeBSD's pwd_mkdb takes, and waiting for a busy one
at most QMAILSETUP_LOCK_TIMEOUT seconds.

What is real: the files backend's whole apply on BSD trees, the flocks
(the backend's, a holder process's, the stand-in's), the stand-in process
run through PATH. What is not: pwd_mkdb itself; tests/bsd_tools.py's
stand-in takes the same flock FreeBSD's does (and waits for it unless -N)
and records its argv, but builds no database.
"""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from bsd_tools import calls, pwd_mkdb
from conftest import cli, fake_tools
from qmailsetup.platforms import load_profile
from qmailsetup.userdb.pwdmkdb import post_edit_argv
from trees import bsd_tree

# the fixture tree each platform is tried on (NetBSD's master.passwd has
# OpenBSD's format; no NetBSD fixture is kept)
FIXTURE = {"freebsd": "freebsd", "openbsd": "openbsd", "netbsd": "openbsd"}


def expected_argv(platform: str, root: Path) -> list[str]:
    """Written out by hand from each pwd_mkdb.c: FreeBSD and OpenBSD take
    -d as the etc directory, NetBSD as a root prefix (absent on /)."""
    etc = "/etc" if root == Path("/") else f"{root}/etc"
    return {
        "freebsd": ["pwd_mkdb", "-N", "-p", "-d", etc, f"{etc}/master.passwd"],
        "openbsd": ["pwd_mkdb", "-p", "-d", etc, f"{etc}/master.passwd"],
        "netbsd": ["pwd_mkdb", "-p", f"{etc}/master.passwd"] if root == Path("/")
        else ["pwd_mkdb", "-p", "-d", str(root), f"{etc}/master.passwd"],
    }[platform]


@pytest.mark.parametrize("platform", sorted(FIXTURE))
@pytest.mark.parametrize("root", ["/", "/mnt/image"])
def test_the_post_edit_argv_per_platform_on_slash_and_under_a_root(platform, root):
    assert post_edit_argv(load_profile(platform), Path(root)) == expected_argv(platform, Path(root))


@pytest.fixture
def stand_in(tmp_path, monkeypatch):
    """pwd_mkdb's stand-in first on PATH; its log."""
    bin_dir = pwd_mkdb(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    log = tmp_path / "calls.log"
    monkeypatch.setenv("STAND_IN_LOG", str(log))
    return log


def apply(platform: str, root: Path, *extra):
    return cli("apply", "--platform", platform, "--backend", "files", "--root", root, *extra)


@pytest.mark.root("the host's tools are handed only a tree root alone can change")
@pytest.mark.parametrize("platform", sorted(FIXTURE))
def test_pwd_mkdb_runs_once_with_the_exact_argv_and_finds_its_lock_free(tmp_path, stand_in, platform):
    root = bsd_tree(tmp_path / "root", FIXTURE[platform])
    result = apply(platform, root)
    assert result.code == 0, result.err
    assert calls(stand_in) == [expected_argv(platform, root)]
    assert not Path(f"{stand_in}.busy").exists()  # the run held no flock on the file pwd_mkdb locked


@pytest.mark.root("the host's tools are handed only a tree root alone can change")
@pytest.mark.parametrize("platform", sorted(FIXTURE))
def test_a_failing_pwd_mkdb_names_the_right_command_to_run_again(tmp_path, stand_in, monkeypatch, platform):
    """The remedy is the platform's own argv (NetBSD: -d ROOT, not ROOT/etc)."""
    root = bsd_tree(tmp_path / "root", FIXTURE[platform])
    monkeypatch.setenv("STAND_IN_FAIL", "at line #30")
    result = apply(platform, root)
    assert result.code == 1
    assert result.err == (
        f"qmailsetup: {' '.join(expected_argv(platform, root))}: exit 1: pwd_mkdb: at line #30; group, master.passwd "
        "written but the databases not rebuilt: run that command again once it can succeed; done before the "
        f"failure: nothing (files replaced in {root}/etc: group-, group, master.passwd-, master.passwd)\n"
    )
    assert calls(stand_in) == [expected_argv(platform, root)]


def groups_only_spec(tmp_path: Path) -> Path:
    spec = tmp_path / "groups.toml"
    spec.write_text('[[groups]]\nname = "qmail"\n[[groups]]\nname = "nofiles"\n')
    return spec


@pytest.mark.root("the host's tools are handed only a tree root alone can change")
@pytest.mark.parametrize("platform", sorted(FIXTURE))
def test_a_run_that_changes_only_group_does_not_run_pwd_mkdb(tmp_path, stand_in, platform):
    """The hang of issue 14: with master.passwd untouched, the backend's
    flock is on the very file pwd_mkdb locks; pwd_mkdb has nothing to do
    with group, so it is not run at all."""
    root = bsd_tree(tmp_path / "root", FIXTURE[platform])
    master_before = (root / "etc/master.passwd").read_bytes()
    result = apply(platform, root, "--spec", groups_only_spec(tmp_path))
    assert result.code == 0, result.err
    assert calls(stand_in) == []
    assert (root / "etc/master.passwd").read_bytes() == master_before
    assert "qmail:*:" in (root / "etc/group").read_text()


HOLDER = r'''
import fcntl, os, sys, time
path, original, held, release = sys.argv[1:5]
for _ in range(600):  # until the run has replaced master.passwd
    try:
        if os.stat(path).st_ino != int(original):
            break
    except FileNotFoundError:
        pass
    time.sleep(0.05)
fd = os.open(path, os.O_RDONLY)
fcntl.flock(fd, fcntl.LOCK_EX)
open(held, "w").close()
for _ in range(600):
    if os.path.exists(release):
        break
    time.sleep(0.05)
'''


@contextmanager
def holder(root: Path, tmp_path: Path, release: Path, monkeypatch):
    """A process that takes the flock on the new master.passwd as soon as
    the run has written it, as a vipw or pw started meanwhile would, and
    keeps it until RELEASE exists; the stand-in tries its lock only once
    the holder has it, so the busy case is certain, not a race."""
    held = tmp_path / "held"
    monkeypatch.setenv("STAND_IN_WAIT_FOR", str(held))
    master = root / "etc/master.passwd"
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(master), str(master.stat().st_ino), str(held), str(release)]
    )
    try:
        yield process
    finally:
        process.kill()
        process.wait()


@pytest.mark.root("the host's tools are handed only a tree root alone can change")
def test_a_busy_lock_is_waited_for_at_most_the_timeout_then_one_line_exit_1(tmp_path, stand_in, monkeypatch):
    root = bsd_tree(tmp_path / "root", "freebsd")
    monkeypatch.setenv("QMAILSETUP_LOCK_TIMEOUT", "1")
    with holder(root, tmp_path, tmp_path / "never", monkeypatch):
        result = apply("freebsd", root)
    assert result.code == 1
    assert result.err == (
        f"qmailsetup: pwd_mkdb -N -p -d {root}/etc {root}/etc/master.passwd: {root}/etc/master.passwd is locked "
        "(flock) by another process; gave up after waiting 1s; group, master.passwd written but the databases not "
        "rebuilt: run that command again once it can succeed; done before the failure: nothing (files replaced in "
        f"{root}/etc: group-, group, master.passwd-, master.passwd)\n"
    )
    assert calls(stand_in) == [expected_argv("freebsd", root)]
    assert not (root / "etc/ptmp").exists()  # the run's own locks are let go


@pytest.mark.root("the host's tools are handed only a tree root alone can change")
def test_a_lock_let_go_while_waiting_gets_pwd_mkdb_run_again(tmp_path, stand_in, monkeypatch):
    root = bsd_tree(tmp_path / "root", "freebsd")
    # the holder lets go once the stand-in has found the lock busy
    with holder(root, tmp_path, Path(f"{stand_in}.busy"), monkeypatch):
        result = apply("freebsd", root)
    assert result.code == 0, result.err
    assert calls(stand_in) == [expected_argv("freebsd", root)] * 2
    again = apply("freebsd", root)
    assert again.code == 0 and "0 to create, 0 to modify" in again.out


def test_let_go_of_releases_a_flock_on_the_file_now_there_and_keeps_one_on_a_replaced_file(tmp_path):
    from qmailsetup.userdb import lock
    from qmailsetup.userdb.etcdir import EtcDir

    master = tmp_path / "etc/master.passwd"
    master.parent.mkdir()
    master.write_text("root:*:0:0::0:0::/root:/bin/sh\n")
    etc = EtcDir.open(tmp_path)
    same = lock.FlockLock(etc, "master.passwd")
    same.acquire()
    assert lock.flock_busy(etc, "master.passwd")
    lock.let_go_of([same], etc, "master.passwd")
    assert same.fd is None and not lock.flock_busy(etc, "master.passwd")

    old = lock.FlockLock(etc, "master.passwd")
    old.acquire()
    master.with_name("new").write_text("root:*:0:0::0:0::/root:/bin/sh\n")
    os.replace(master.with_name("new"), master)  # as the backend's write does
    lock.let_go_of([old], etc, "master.passwd")
    assert old.fd is not None and not lock.flock_busy(etc, "master.passwd")
    old.release()



# --- run_waiting on its own: pwd_mkdb stood in for at tools.run_tool, the flock real ---

LEFT = "group, master.passwd written but the databases not rebuilt: run that command again once it can succeed"
BUSY = "pwd_mkdb: flock: Resource temporarily unavailable"  # FreeBSD's pwd_mkdb -N, the lock busy


class Waiting:
    """run_waiting on a FreeBSD tree, its clock and sleep stood in for: each
    round of lock.POLL_SECONDS (a quarter second, so that the sums are
    exact) moves the clock on; pwd_mkdb answers (exit code, stderr) in turn."""

    def __init__(self, root, mocker, monkeypatch, *exits):
        import time

        from qmailsetup.tools import ToolResult
        from qmailsetup.userdb import lock
        from qmailsetup.userdb.etcdir import EtcDir

        self.etc = EtcDir.open(root)
        self.argv = expected_argv("freebsd", root)
        self.now, self.rounds, self.on_round = 1000.0, [], lambda count: None
        monkeypatch.setattr(lock, "POLL_SECONDS", 0.25)
        monkeypatch.setattr(time, "monotonic", lambda: self.now)
        monkeypatch.setattr(time, "sleep", self.sleep)
        queue = list(exits)
        self.calls = fake_tools(mocker, ["pwd_mkdb"], lambda argv: ToolResult(tuple(argv), *queue.pop(0)))

    def sleep(self, seconds):
        self.rounds.append(seconds)
        self.now += seconds
        self.on_round(len(self.rounds))

    def hold(self):
        """master.passwd's flock, through another open file (it conflicts even in this process)."""
        from qmailsetup.userdb import lock

        holder = lock.FlockLock(self.etc, "master.passwd")
        holder.acquire()
        return holder

    def run(self, timeout=1.0):
        from qmailsetup.userdb.pwdmkdb import run_waiting

        run_waiting(self.argv, self.etc, timeout, ["group", "master.passwd"])


@pytest.fixture
def waiting(tmp_path, mocker, monkeypatch):
    return lambda *exits: Waiting(bsd_tree(tmp_path / "root", "freebsd"), mocker, monkeypatch, *exits)


def test_a_busy_lock_is_polled_each_round_until_the_timeout(waiting):
    from qmailsetup.errors import OperationFailed

    wait = waiting((1, "", BUSY))
    holder = wait.hold()
    with pytest.raises(OperationFailed) as gave_up:
        wait.run(timeout=1)
    holder.release()
    master = wait.etc.path / "master.passwd"
    assert str(gave_up.value) == (
        f"{' '.join(wait.argv)}: {master} is locked (flock) by another process; gave up after waiting 1s; {LEFT}"
    )
    assert wait.rounds == [0.25] * 4, "rounds until the deadline, none after it"
    assert wait.calls == [wait.argv]


def test_a_lock_let_go_of_while_waiting_gets_the_command_run_again(waiting):
    wait = waiting((1, "", BUSY), (0, "", ""))
    holder = wait.hold()
    wait.on_round = lambda count: count == 2 and holder.release()
    wait.run(timeout=60)
    assert wait.rounds == [0.25] * 2 and wait.calls == [wait.argv] * 2


def test_a_busy_lock_let_go_of_before_the_check_is_run_again_at_once(waiting):
    """pwd_mkdb said flock, but the holder is gone by the time it is
    looked at: one round, and it runs again."""
    wait = waiting((1, "", BUSY), (0, "", ""))
    wait.run()
    assert wait.rounds == [0.25] and wait.calls == [wait.argv] * 2


def test_a_lock_held_when_pwd_mkdb_failed_otherwise_is_waited_for_too(waiting):
    """A pwd_mkdb without -N (OpenBSD's, say) fails its own way while the
    flock is held: the lock is what counts."""
    wait = waiting((1, "", "pwd_mkdb: cannot lock"), (0, "", ""))
    holder = wait.hold()
    wait.on_round = lambda count: holder.release()
    wait.run()
    assert wait.rounds == [0.25] and wait.calls == [wait.argv] * 2


def test_a_failure_that_is_not_the_lock_is_not_waited_for(waiting):
    from qmailsetup.errors import OperationFailed

    wait = waiting((1, "", "pwd_mkdb: at line #3: bad entry"))
    with pytest.raises(OperationFailed) as failed:
        wait.run()
    assert str(failed.value) == f"{' '.join(wait.argv)}: exit 1: pwd_mkdb: at line #3: bad entry; {LEFT}"
    assert wait.rounds == [] and wait.calls == [wait.argv]


def test_a_pwd_mkdb_that_cannot_be_started_names_what_was_written(tmp_path, mocker):
    from qmailsetup.errors import OperationFailed
    from qmailsetup.userdb.etcdir import EtcDir
    from qmailsetup.userdb.pwdmkdb import run_waiting

    def cannot_start(argv):
        raise PermissionError(13, "Permission denied", argv[0])

    fake_tools(mocker, ["pwd_mkdb"], cannot_start)
    root = bsd_tree(tmp_path / "root", "freebsd")
    with EtcDir.open(root) as etc, pytest.raises(OperationFailed) as failed:
        run_waiting(expected_argv("freebsd", root), etc, 1, ["group", "master.passwd"])
    assert str(failed.value) == "pwd_mkdb: Permission denied; group, master.passwd written"
