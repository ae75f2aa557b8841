"""Locks: the files backend waits for the locks the host's tools take, gives
up with exit 1 naming the lock, recovers stale ones, and the real tools
(useradd, groupadd, glibc's lckpwdf) wait for the locks it holds."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import require_tools
from files_support import leftovers
from process import apply_files, env
from qmailsetup.errors import OperationFailed
from qmailsetup.userdb import lock
from qmailsetup.userdb.etcdir import EtcDir
from snapshot import account_files
from trees import make_tree

FAST = {lock.TIMEOUT_VARIABLE: "0.5"}
FCNTL_HOLDER = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o600)
{how}
print("ready", flush=True)
time.sleep(float(sys.argv[2]))
"""
LOCKF = "fcntl.lockf(fd, fcntl.LOCK_EX)"
LCKPWDF = "import ctypes; assert ctypes.CDLL(None).lckpwdf() == 0"
FLOCK = "fcntl.flock(fd, fcntl.LOCK_EX)"


def hold(path: Path, seconds: float, how: str = LOCKF, namespace_root: Path | None = None) -> subprocess.Popen:
    """Another process holding a lock on PATH for SECONDS."""
    argv = [sys.executable, "-c", FCNTL_HOLDER.format(how=how), str(path), str(seconds)]
    if namespace_root is not None:
        script = 'mount --make-rprivate / && mount --bind "$0" /etc && exec "$@"'
        argv = ["unshare", "-m", "sh", "-c", script, str(namespace_root / "etc"), *argv]
    holder = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "ready\n"
    return holder


@contextlib.contextmanager
def killed_after(process: subprocess.Popen):
    """Run the block, then kill PROCESS and reap it, however the block ends."""
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def live_pid_lock(root: Path, kind: str) -> subprocess.Popen:
    sleeper = subprocess.Popen(["sleep", "60"])
    (root / "etc" / f"{kind}.lock").write_bytes(f"{sleeper.pid}\0".encode())
    return sleeper


def test_a_held_per_file_lock_makes_apply_fail_naming_it(tmp_path):
    root = make_tree(tmp_path, "debian")
    before = account_files(root)
    with killed_after(live_pid_lock(root, "group")) as sleeper:
        result = apply_files(root, extra_env=FAST, check_codes=(1,))
    assert f"{root}/etc/group.lock is held by PID {sleeper.pid}; gave up after waiting 0.5s" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert account_files(root) == before
    assert leftovers(root) == ["group.lock"]  # not ours to remove


def test_a_held_lckpwdf_lock_makes_apply_fail_naming_it(privileged, tmp_path):
    root = make_tree(tmp_path, "debian")
    before = account_files(root)
    # glibc's own lckpwdf(), in a namespace where the tree is /etc
    with killed_after(hold(root / "etc/.pwd.lock", 30, how=LCKPWDF, namespace_root=root)):
        result = apply_files(root, extra_env=FAST, check_codes=(1,))
    assert f"{root}/etc/.pwd.lock is locked (lckpwdf) by PID" in result.stderr
    assert account_files(root) == before
    assert leftovers(root) == []


def in_locking_loop(run: subprocess.Popen) -> bool:
    """RUN holds SIGTERM back exactly while it takes or holds the locks."""
    return run.poll() is None and bool(blocked_signals(run.pid) & (1 << (signal.SIGTERM - 1)))


def test_apply_waits_for_a_lock_to_be_released(tmp_path):
    """While another process holds lckpwdf's lock the apply is seen waiting
    (running, in its locking loop, nothing written); once the holder lets
    go it goes on, and the files it writes are newer than the release."""
    root = make_tree(tmp_path, "debian")
    before = account_files(root)
    holder = hold(root / "etc/.pwd.lock", 600)
    with killed_after(holder):
        run = subprocess.Popen(
            [sys.executable, "-m", "qmailsetup", "apply", "--root", str(root), "--platform", "linux",
             "--backend", "files"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=env(**{lock.TIMEOUT_VARIABLE: "120"}),
        )
        while run.poll() is None and not in_locking_loop(run):
            time.sleep(0.02)
        # many polls of the lock later (it retries every POLL_SECONDS), still waiting
        for _ in range(20):
            time.sleep(lock.POLL_SECONDS)
            assert in_locking_loop(run), run.communicate()
            assert account_files(root) == before, "nothing is written while the lock is held"
        released = time.time_ns()
    out, err = run.communicate(timeout=60)
    assert run.returncode == 0, err
    assert "Applied 11 changes." in out
    assert os.stat(root / "etc/passwd").st_mtime_ns >= released, "written after the holder let go"


def test_a_stale_lock_is_recovered(tmp_path):
    root = make_tree(tmp_path, "debian")
    dead = subprocess.Popen(["true"])
    dead.wait()
    (root / "etc/passwd.lock").write_bytes(f"{dead.pid}\0".encode())
    apply_files(root, extra_env=FAST)
    assert b"qmails:" in (root / "etc/passwd").read_bytes()
    assert leftovers(root) == []


def test_a_lock_with_no_pid_is_reported_not_removed(tmp_path):
    root = make_tree(tmp_path, "debian")
    (root / "etc/shadow.lock").write_bytes(b"")
    result = apply_files(root, extra_env=FAST, check_codes=(1,))
    assert "shadow.lock holds no valid PID" in result.stderr
    assert leftovers(root) == ["shadow.lock"]


def test_a_bad_timeout_is_bad_input(tmp_path):
    root = make_tree(tmp_path, "debian")
    result = apply_files(root, extra_env={lock.TIMEOUT_VARIABLE: "soon"}, check_codes=(2,))
    assert "QMAILSETUP_LOCK_TIMEOUT='soon'" in result.stderr
    assert not (root / "etc/passwd-").exists()


def blocked_signals(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigBlk:"):
            return int(line.split()[1], 16)
    return 0


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_while_waiting_releases_everything(tmp_path, signum):
    root = make_tree(tmp_path, "debian")
    before = account_files(root)
    with killed_after(live_pid_lock(root, "gshadow")):
        run = subprocess.Popen(
            [sys.executable, "-m", "qmailsetup", "apply", "--root", str(root), "--platform", "linux",
             "--backend", "files"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=env(**{lock.TIMEOUT_VARIABLE: "120"}),
        )
        # the signals are held back once it is in the locking loop
        while run.poll() is None and not blocked_signals(run.pid) & (1 << (signal.SIGTERM - 1)):
            time.sleep(0.02)
        run.send_signal(signum)
        out, err = run.communicate(timeout=60)
    assert run.returncode == 1, (out, err)
    assert f"interrupted by {signal.Signals(signum).name}" in err
    assert account_files(root) == before
    assert leftovers(root) == ["gshadow.lock"]  # the sleeper's, untouched


def held_in_this_process(root: Path):
    return lock.locked(EtcDir.open(root), "shadow", timeout=5)


@pytest.mark.parametrize("argv", [
    ["useradd", "-r", "-M", "-s", "/usr/sbin/nologin", "waiter"],
    ["groupadd", "-r", "waiters"],
])
def test_real_tools_wait_for_our_per_file_locks(privileged, tmp_path, argv):
    require_tools(argv[0])
    root = make_tree(tmp_path, "debian")
    with held_in_this_process(root):
        tool = subprocess.Popen([argv[0], "--prefix", str(root), *argv[1:]], stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)  # shadow-utils retries for 15 s: it must still be waiting
        still_waiting = tool.poll() is None
        unchanged = b"waiter" not in (root / "etc/passwd").read_bytes() + (root / "etc/group").read_bytes()
    assert tool.wait(timeout=30) == 0, tool.stderr.read()
    assert still_waiting and unchanged
    assert argv[-1].encode() in (root / "etc/passwd").read_bytes() + (root / "etc/group").read_bytes()


def test_lckpwdf_waits_for_our_pwd_lock(privileged, tmp_path):
    root = make_tree(tmp_path, "debian")
    with held_in_this_process(root):
        # a real lckpwdf() on the tree's /etc/.pwd.lock (15 s timeout)
        waiter = subprocess.Popen(
            ["unshare", "-m", "sh", "-c", 'mount --make-rprivate / && mount --bind "$0" /etc && exec "$@"',
             str(root / "etc"), sys.executable, "-c",
             "import ctypes; print(ctypes.CDLL(None).lckpwdf(), flush=True)"],
            stdout=subprocess.PIPE, text=True,
        )
        time.sleep(1.5)
        still_waiting = waiter.poll() is None
    assert waiter.communicate(timeout=30)[0] == "0\n"
    assert still_waiting


def test_all_or_nothing_while_waiting(tmp_path):
    """While one lock is busy, the others are not kept: a useradd that needs
    only those is never held up by a waiting qmailsetup."""
    root = make_tree(tmp_path, "debian")
    with killed_after(live_pid_lock(root, "gshadow")):
        with pytest.raises(OperationFailed, match="gshadow.lock is held by PID"):
            with lock.locked(EtcDir.open(root), "shadow", timeout=0.3):
                pass
        assert sorted(leftovers(root)) == ["gshadow.lock"]


def test_bsd_variants(tmp_path):
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "master.passwd").write_text("root:*:0:0::0:0:Charlie &:/root:/bin/sh\n")
    (etc / "group").write_text("wheel:*:0:root\n")
    locks = lock.flavor_locks(EtcDir.open(tmp_path), "bsd")
    assert [type(l).__name__ for l in locks] == ["FlockLock", "FlockLock", "ExclusiveFileLock"]
    with lock.held(locks, 1):
        assert (etc / "ptmp").exists()
        # another process cannot flock master.passwd meanwhile
        probe = subprocess.run([sys.executable, "-c", "import fcntl,os,sys; fd=os.open(sys.argv[1], os.O_RDONLY);"
                                " fcntl.flock(fd, fcntl.LOCK_EX|fcntl.LOCK_NB)", str(etc / "master.passwd")],
                               capture_output=True, text=True)
        assert "BlockingIOError" in probe.stderr
    assert not (etc / "ptmp").exists()
    # someone else's ptmp: reported, never removed
    (etc / "ptmp").write_text("")
    with pytest.raises(OperationFailed, match="ptmp exists: another vipw, pw or useradd is running"):
        with lock.held(lock.flavor_locks(EtcDir.open(tmp_path), "bsd"), 0.2):
            pass
    assert (etc / "ptmp").exists()
    os.unlink(etc / "ptmp")
    with killed_after(hold(etc / "master.passwd", 30, how=FLOCK)):
        with pytest.raises(OperationFailed, match=r"master.passwd is locked \(flock\)"):
            with lock.held(lock.flavor_locks(EtcDir.open(tmp_path), "bsd"), 0.2):
                pass
    assert not (etc / "ptmp").exists()
