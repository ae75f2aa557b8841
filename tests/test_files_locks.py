"""Locks: the files backend waits for the locks the host's tools take, gives
up with exit 1 naming the lock, recovers stale ones, and the real tools
(useradd, groupadd, glibc's lckpwdf) wait for the locks it holds."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import signal
import stat
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import cli, effective_uid, require_tools
from files_support import leftovers
from process import apply_files, env, exit_code, forked
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


@pytest.mark.slow
@pytest.mark.root("apply chowns /var/qmail and /var/qmail/alias")
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


@pytest.mark.root("apply chowns /var/qmail and /var/qmail/alias")
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
        with pytest.raises(OperationFailed, match=r"gshadow\.lock is held by PID"):
            with lock.locked(EtcDir.open(root), "shadow", timeout=0.3):
                pass
        assert sorted(leftovers(root)) == ["gshadow.lock"]


def test_bsd_variants(tmp_path):
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "master.passwd").write_text("root:*:0:0::0:0:Charlie &:/root:/bin/sh\n")
    (etc / "group").write_text("wheel:*:0:root\n")
    locks = lock.flavor_locks(EtcDir.open(tmp_path), "bsd")
    assert [type(lock).__name__ for lock in locks] == ["FlockLock", "FlockLock", "ExclusiveFileLock"]
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


# --- in this process: each lock on its own, seen from the files it leaves -----
# (the runs above go through a subprocess, which mutation testing cannot see)


@pytest.fixture
def etc(tmp_path):
    """ROOT/etc with passwd and group, opened as the files backend opens it."""
    (tmp_path / "etc").mkdir()
    for name in ("passwd", "group"):
        (tmp_path / "etc" / name).write_text("root:x:0:\n")
    with EtcDir.open(tmp_path) as directory:
        yield directory


def lock_file(etc: EtcDir, name: str) -> tuple[bytes, int]:
    """NAME's content and permission bits."""
    path = etc.path / name
    return path.read_bytes(), stat.S_IMODE(path.stat().st_mode)


def taken_elsewhere(path: Path, how: str) -> bool:
    """Whether another process finds PATH locked (HOW: lockf or flock), asked without waiting."""
    probe = subprocess.run([sys.executable, "-c", f"import fcntl, os, sys\nfd = os.open(sys.argv[1], os.O_RDWR)\n"
                            f"fcntl.{how}(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)", str(path)], capture_output=True, text=True)
    return "BlockingIOError" in probe.stderr or "PermissionError" in probe.stderr


def test_the_wait_is_15_seconds_unless_the_variable_says_otherwise(monkeypatch):
    monkeypatch.delenv("QMAILSETUP_LOCK_TIMEOUT", raising=False)
    assert lock.lock_timeout() == 15  # as lckpwdf's
    for raw, seconds in [("0", 0), ("0.25", 0.25), ("3600", 3600)]:
        monkeypatch.setenv("QMAILSETUP_LOCK_TIMEOUT", raw)
        assert lock.lock_timeout() == seconds


@pytest.mark.parametrize("raw", ["-0.5", "3600.5", "soon", ""])
def test_a_timeout_out_of_range_is_one_line_exit_2_and_nothing_written(tmp_path, monkeypatch, raw):
    root = make_tree(tmp_path, "debian")
    before = account_files(root)
    monkeypatch.setenv("QMAILSETUP_LOCK_TIMEOUT", raw)
    result = cli("apply", "--root", root, "--platform", "linux", "--backend", "files")
    assert result.code == 2
    assert result.err == f"qmailsetup: QMAILSETUP_LOCK_TIMEOUT={raw!r}: not a number of seconds between 0 and 3600\n"
    assert account_files(root) == before and leftovers(root) == []


def pending_signals(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("SigPnd:", "ShdPnd:")) and int(line.split()[1], 16):
            return int(line.split()[1], 16)
    return 0


def test_asking_whether_a_holder_lives_sends_it_no_signal():
    """The stale-lock probe is kill(pid, 0): a stopped process keeps any
    signal sent to it pending, so a real one would show."""
    sleeper = subprocess.Popen(["sleep", "60"])
    with killed_after(sleeper):
        os.kill(sleeper.pid, signal.SIGSTOP)
        os.waitpid(sleeper.pid, os.WUNTRACED)
        assert lock.pid_alive(sleeper.pid)
        assert pending_signals(sleeper.pid) == 0
    dead = subprocess.Popen(["true"])
    dead.wait()
    assert not lock.pid_alive(dead.pid)


def test_a_holder_of_another_user_that_may_not_be_signalled_is_alive(privileged, etc):
    """kill(pid, 0) says EPERM for another user's process: it lives, and its
    lock is not removed as stale."""
    sleeper = subprocess.Popen(["sleep", "60"], user=1234, group=1234)
    with killed_after(sleeper):
        (etc.path / "passwd.lock").write_bytes(f"{sleeper.pid}\0".encode())
        with effective_uid(4321):
            alive = lock.pid_alive(sleeper.pid)
        assert alive
        assert lock.pid_alive(sleeper.pid)
    assert lock_file(etc, "passwd.lock")[0] == f"{sleeper.pid}\0".encode()


def test_lckpwdf_s_lock_is_created_0600_held_and_let_go(etc):
    pwd_lock = etc.path / ".pwd.lock"
    taken = lock.FcntlLock(etc, ".pwd.lock")
    taken.acquire()
    assert taken_elsewhere(pwd_lock, "lockf")
    # (stat, not a read: closing any descriptor of the file would let go of the lock)
    assert (pwd_lock.stat().st_size, stat.S_IMODE(pwd_lock.stat().st_mode)) == (0, 0o600)
    taken.release()
    assert taken.fd is None and not taken_elsewhere(pwd_lock, "lockf")
    taken.release()  # a second release is harmless
    assert pwd_lock.exists()  # the file stays, as glibc leaves it


def test_a_held_lckpwdf_lock_names_its_holder(etc):
    holder = hold(etc.path / ".pwd.lock", 60)
    with killed_after(holder):
        with pytest.raises(lock.Busy) as busy:
            lock.FcntlLock(etc, ".pwd.lock").acquire()
    assert str(busy.value) == f"{etc.path}/.pwd.lock is locked (lckpwdf) by PID {holder.pid}"


def test_an_open_file_description_lock_has_no_holder_to_name(etc):
    """A lock held through F_OFD_SETLK (here by this process, on another
    open file) reports no PID: 'another process' is said instead."""
    fd = os.open(etc.path / ".pwd.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.fcntl(fd, fcntl.F_OFD_SETLK, struct.pack("hhqqi", fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0))
        with pytest.raises(lock.Busy) as busy:
            lock.FcntlLock(etc, ".pwd.lock").acquire()
    finally:
        os.close(fd)
    assert str(busy.value) == f"{etc.path}/.pwd.lock is locked (lckpwdf) by another process"


CLONE_NEWPID = 0x20000000


def test_a_lckpwdf_holder_is_named_as_the_asker_s_pid_namespace_sees_it(privileged, etc):
    """Run in a container (a PID namespace of its own), qmailsetup cannot
    see a lckpwdf holder outside it: F_GETLK gives PID 0, and 'another
    process' is said. A lock the container's init holds is PID 1's there,
    and here the PID this namespace sees that process by."""
    said_from, said_to = os.pipe()
    go_from, go_to = os.pipe()

    def busy(name: str) -> str:
        with pytest.raises(lock.Busy) as error:
            lock.FcntlLock(etc, name).acquire()
        return str(error.value)

    def namespace_init():  # PID 1 there
        lock.FcntlLock(etc, "inside.lock").acquire()
        asked = forked(lambda: os.write(said_to, f"{busy('.pwd.lock')}\n{busy('inside.lock')}\n".encode()))
        assert exit_code(asked) == 0
        os.write(said_to, b"asked\n")
        os.read(go_from, 1)  # holding inside.lock until this test has asked too

    def unshared():
        assert ctypes.CDLL(None, use_errno=True).unshare(CLONE_NEWPID) == 0, os.strerror(ctypes.get_errno())
        init = forked(namespace_init)  # its PID as this namespace sees it
        os.write(said_to, f"{init}\n".encode())
        assert exit_code(init) == 0

    outside = lock.FcntlLock(etc, ".pwd.lock")
    outside.acquire()  # by this process, which the container cannot see
    outer = forked(unshared)
    os.close(said_to)
    try:
        with os.fdopen(said_from) as said:
            lines = list(iter(said.readline, "asked\n"))  # (or up to the end, "", if a fork failed)
        init = next(line for line in lines if line.strip().isdigit())
        lines.remove(init)
        assert lines == [
            f"{etc.path}/.pwd.lock is locked (lckpwdf) by another process\n",
            f"{etc.path}/inside.lock is locked (lckpwdf) by PID 1\n",
        ]
        # and from here (which mutation testing sees, as it does not the forks)
        assert busy("inside.lock") == f"{etc.path}/inside.lock is locked (lckpwdf) by PID {init.strip()}"
    finally:
        os.write(go_to, b"x")
        assert exit_code(outer) == 0
        outside.release()
        os.close(go_from)
        os.close(go_to)


def test_a_per_file_lock_holds_our_pid_and_a_nul_0600_and_goes_on_release(etc):
    taken = lock.PidFileLock(etc, "passwd")
    taken.acquire()
    assert lock_file(etc, "passwd.lock") == (f"{os.getpid()}\0".encode(), 0o600)
    assert (etc.path / "passwd.lock").stat().st_nlink == 1, "the FILE.<pid> it was linked from is gone"
    assert sorted(os.listdir(etc.path)) == ["group", "passwd", "passwd.lock"]
    # this process holds it: a second lock of its own on passwd is refused
    with pytest.raises(lock.Busy) as busy:
        lock.PidFileLock(etc, "passwd").acquire()
    assert str(busy.value) == f"{etc.path}/passwd.lock is held by PID {os.getpid()}"
    taken.release()
    taken.release()  # a second release is harmless
    assert sorted(os.listdir(etc.path)) == ["group", "passwd"]


@pytest.mark.parametrize("owner", ["dead", "this-process-earlier", "beyond-any-pid"])
def test_a_per_file_lock_left_by_a_dead_run_or_by_this_one_is_taken_over(etc, owner):
    """A lock naming a dead PID, or this process's PID though it holds no
    such lock (an earlier failed release, a reused PID), is stale."""
    if owner == "dead":
        dead = subprocess.Popen(["true"])
        dead.wait()
        pid = dead.pid
    elif owner == "beyond-any-pid":
        pid = 123456789012345678901234567890  # once a traceback (OverflowError)
    else:
        pid = os.getpid()
    # while this process holds passwd's lock, and after it held group's once
    before = lock.PidFileLock(etc, "group")
    before.acquire()
    before.release()
    passwd = lock.PidFileLock(etc, "passwd")
    passwd.acquire()
    (etc.path / "group.lock").write_bytes(f"{pid}\0".encode())
    taken = lock.PidFileLock(etc, "group")
    taken.acquire()
    assert lock_file(etc, "group.lock") == (f"{os.getpid()}\0".encode(), 0o600)
    taken.release()
    passwd.release()
    assert sorted(os.listdir(etc.path)) == ["group", "passwd"]


@pytest.mark.parametrize(("content", "shown"), [
    (b"", "b''"),
    (b"0\0", "b'0'"),
    (b"-5\0", "b'-5'"),
    (b"x" * 30, f"{b'x' * 20!r}"),
], ids=["empty", "zero", "negative", "long-junk"])
def test_a_per_file_lock_without_a_valid_pid_is_reported_and_kept(etc, content, shown):
    (etc.path / "passwd.lock").write_bytes(content)
    with pytest.raises(lock.Busy) as busy:
        lock.PidFileLock(etc, "passwd").acquire()
    assert str(busy.value) == (
        f"{etc.path}/passwd.lock holds no valid PID ({shown}); remove it if no account tool is running"
    )
    assert (etc.path / "passwd.lock").read_bytes() == content
    assert sorted(os.listdir(etc.path)) == ["group", "passwd", "passwd.lock"]


def test_the_pid_is_read_up_to_the_nul_with_blanks_around_it(etc):
    """'<pid>\\0' as shadow-utils writes it, or '<pid>\\n' as a hand-made one:
    the PID of a live process either way; no more than the first 32 bytes
    are read (shadow-utils' buffer), so a big file is never read whole."""
    sleeper = subprocess.Popen(["sleep", "60"])
    with killed_after(sleeper):
        for content in (f"{sleeper.pid}\0junk", f" {sleeper.pid}\n", f"{sleeper.pid}".ljust(32) + "junk" * 1000):
            (etc.path / "passwd.lock").write_bytes(content.encode())
            with pytest.raises(lock.Busy) as busy:
                lock.PidFileLock(etc, "passwd").acquire()
            assert str(busy.value) == f"{etc.path}/passwd.lock is held by PID {sleeper.pid}"
    (etc.path / "passwd.lock").write_bytes(b"1\0")  # init: alive, a valid PID
    with pytest.raises(lock.Busy) as busy:
        lock.PidFileLock(etc, "passwd").acquire()
    assert str(busy.value) == f"{etc.path}/passwd.lock is held by PID 1"


def test_a_lock_someone_else_took_over_is_not_removed_on_release(etc):
    taken = lock.PidFileLock(etc, "group")
    taken.acquire()
    (etc.path / "group.lock").unlink()
    (etc.path / "group.lock").write_bytes(b"4242\0")
    taken.release()
    assert (etc.path / "group.lock").read_bytes() == b"4242\0"
    # and one that vanished meanwhile is no error
    again = lock.PidFileLock(etc, "passwd")
    again.acquire()
    (etc.path / "passwd.lock").unlink()
    again.release()
    assert not (etc.path / "passwd.lock").exists()


def test_a_link_planted_where_the_pid_file_goes_is_never_written_through(etc, tmp_path):
    target = tmp_path / "elsewhere"
    target.write_bytes(b"precious\n")
    (etc.path / f"passwd.{os.getpid()}").symlink_to(target)
    taken = lock.PidFileLock(etc, "passwd")
    taken.acquire()
    assert target.read_bytes() == b"precious\n"
    assert lock_file(etc, "passwd.lock") == (f"{os.getpid()}\0".encode(), 0o600)
    taken.release()
    assert sorted(os.listdir(etc.path)) == ["group", "passwd"]


def test_a_link_planted_after_the_old_pid_file_was_cleared_is_never_written_through(etc, monkeypatch):
    """FILE.<pid> is created with O_EXCL: a hard link to passwd planted
    between the removal of an old one and the creation (a race with whoever
    can write in etc) fails the lock, and passwd is left as it was."""
    temp, real_unlink, planted = f"passwd.{os.getpid()}", os.unlink, []

    def unlink_then_plant(path, *, dir_fd=None):
        try:
            real_unlink(path, dir_fd=dir_fd)
        finally:
            if path == temp and not planted:
                planted.append(temp)
                os.link("passwd", temp, src_dir_fd=etc.fd, dst_dir_fd=etc.fd)

    monkeypatch.setattr(lock.os, "unlink", unlink_then_plant)
    with pytest.raises(OperationFailed) as failed:
        lock.acquire_all([lock.PidFileLock(etc, "passwd")])
    monkeypatch.undo()
    assert str(failed.value) == f"{etc.path}/passwd.lock: cannot lock: File exists"
    assert planted and (etc.path / "passwd").read_text() == "root:x:0:\n"
    assert sorted(os.listdir(etc.path)) == ["group", "passwd"]


def test_a_lock_file_with_a_third_name_is_given_up(etc, monkeypatch):
    """shadow-utils' check that the lock and FILE.<pid> are one inode with
    two names (NFS can say a link failed when it did not): anything else
    is another's lock file, let go of at once."""
    real_link = lock.PidFileLock.link

    def link_twice(self):
        real_link(self)
        os.link(self.temp, "passwd.other", src_dir_fd=self.etc.fd, dst_dir_fd=self.etc.fd)

    monkeypatch.setattr(lock.PidFileLock, "link", link_twice)
    taken = lock.PidFileLock(etc, "passwd")
    with pytest.raises(lock.Busy) as busy:
        taken.acquire()
    assert str(busy.value) == f"{etc.path}/passwd.lock: lock file already used"
    assert not taken.held
    assert sorted(os.listdir(etc.path)) == ["group", "passwd", "passwd.other"]


def test_a_lock_taken_between_the_stale_check_and_the_link_is_busy(etc, monkeypatch):
    """Another tool links its lock in right after the stale one was removed."""
    (etc.path / "passwd.lock").write_bytes(b"999999999\0")  # no such PID
    real_remove = lock.PidFileLock.remove_if_stale

    def removed_then_taken(self):
        real_remove(self)
        (etc.path / "passwd.lock").write_bytes(b"4242\0")

    monkeypatch.setattr(lock.PidFileLock, "remove_if_stale", removed_then_taken)
    with pytest.raises(lock.Busy) as busy:
        lock.PidFileLock(etc, "passwd").acquire()
    assert str(busy.value) == f"{etc.path}/passwd.lock was taken meanwhile"
    assert (etc.path / "passwd.lock").read_bytes() == b"4242\0"
    assert sorted(os.listdir(etc.path)) == ["group", "passwd", "passwd.lock"]


@pytest.fixture
def bsd_etc(tmp_path):
    """A BSD ROOT/etc: master.passwd and group."""
    root = tmp_path / "bsd"
    (root / "etc").mkdir(parents=True)
    (root / "etc/master.passwd").write_text("root:*:0:0::0:0:Charlie &:/root:/bin/sh\n")
    (root / "etc/group").write_text("wheel:*:0:root\n")
    with EtcDir.open(root) as directory:
        yield directory


def test_ptmp_is_created_0600_and_only_our_own_is_removed(bsd_etc):
    ptmp = lock.ExclusiveFileLock(bsd_etc, "ptmp")
    ptmp.acquire()
    assert lock_file(bsd_etc, "ptmp") == (b"", 0o600)
    ptmp.release()
    assert not (bsd_etc.path / "ptmp").exists()
    ptmp.release()  # a second release is harmless
    # consumed (renamed into place): no error
    ptmp.acquire()
    os.rename(bsd_etc.path / "ptmp", bsd_etc.path / "ptmp.used")
    ptmp.release()
    assert sorted(os.listdir(bsd_etc.path)) == ["group", "master.passwd", "ptmp.used"]
    # replaced meanwhile (another vipw's after ours was consumed): kept
    ptmp.acquire()
    os.rename(bsd_etc.path / "ptmp", bsd_etc.path / "ptmp.used")  # (kept: its inode cannot be reused)
    (bsd_etc.path / "ptmp").write_text("theirs\n")
    ptmp.release()
    assert (bsd_etc.path / "ptmp").read_text() == "theirs\n"


def test_a_link_at_ptmp_is_busy_and_never_followed(bsd_etc, tmp_path):
    (bsd_etc.path / "ptmp").symlink_to(tmp_path / "nowhere")
    with pytest.raises(lock.Busy) as busy:
        lock.ExclusiveFileLock(bsd_etc, "ptmp").acquire()
    assert str(busy.value) == (
        f"{bsd_etc.path}/ptmp exists: another vipw, pw or useradd is running (remove it if none is)"
    )
    assert not (tmp_path / "nowhere").exists()


def test_a_flock_is_held_until_released_and_a_held_one_is_busy(bsd_etc):
    master = bsd_etc.path / "master.passwd"
    taken = lock.FlockLock(bsd_etc, "master.passwd")
    taken.acquire()
    assert taken_elsewhere(master, "flock") and lock.flock_busy(bsd_etc, "master.passwd")
    taken.release()
    assert taken.fd is None and not taken_elsewhere(master, "flock")
    assert not lock.flock_busy(bsd_etc, "master.passwd")
    assert not lock.flock_busy(bsd_etc, "missing")
    with killed_after(hold(master, 60, how=FLOCK)):
        with pytest.raises(lock.Busy) as busy:
            lock.FlockLock(bsd_etc, "master.passwd").acquire()
    assert str(busy.value) == f"{master} is locked (flock) by another process"


def test_a_lock_never_taken_lets_go_of_nothing(etc, bsd_etc):
    """release() of a lock whose acquire() never ran or failed, of each
    kind, is no error and leaves another's lock files alone."""
    (etc.path / "passwd.lock").write_bytes(b"4242\0")
    (bsd_etc.path / "ptmp").write_text("theirs\n")
    before = sorted(os.listdir(etc.path)), sorted(os.listdir(bsd_etc.path))
    for never_taken in (lock.FcntlLock(etc, ".pwd.lock"), lock.PidFileLock(etc, "passwd"),
                        lock.FlockLock(bsd_etc, "master.passwd"), lock.ExclusiveFileLock(bsd_etc, "ptmp")):
        never_taken.release()
    assert (sorted(os.listdir(etc.path)), sorted(os.listdir(bsd_etc.path))) == before
    assert (etc.path / "passwd.lock").read_bytes() == b"4242\0"
    assert (bsd_etc.path / "ptmp").read_text() == "theirs\n"


def test_an_error_no_lock_expects_lets_go_of_what_was_taken_and_goes_on(etc):
    """All or none, whatever stops the taking: an error that is neither
    Busy nor OSError (here MemoryError) is raised as it is, after the
    locks taken before it were let go of."""
    class Failing:
        def acquire(self):
            raise MemoryError

        def release(self):
            raise AssertionError("never taken, never let go of")

    taken = lock.FcntlLock(etc, ".pwd.lock")
    with pytest.raises(MemoryError):
        lock.acquire_all([taken, Failing()])
    assert taken.fd is None and not taken_elsewhere(etc.path / ".pwd.lock", "lockf")


def test_let_go_of_a_missing_file_keeps_every_lock(bsd_etc):
    taken = lock.FlockLock(bsd_etc, "group")
    taken.acquire()
    lock.let_go_of([taken], bsd_etc, "master.passwd.gone")
    assert taken.fd is not None and lock.flock_busy(bsd_etc, "group")
    taken.release()


def described(locks: list) -> list[tuple[str, str]]:
    return [(type(taken).__name__, getattr(taken, "path", None) or taken.lock) for taken in locks]


def test_the_locks_of_each_flavor_a_per_file_one_only_for_a_file_that_exists(etc, bsd_etc):
    where = etc.path
    assert described(lock.flavor_locks(etc, "shadow")) == [
        ("FcntlLock", f"{where}/.pwd.lock"), ("PidFileLock", f"{where}/passwd.lock"),
        ("PidFileLock", f"{where}/group.lock"),
    ]
    (where / "gshadow").write_text("root:*::\n")
    assert described(lock.flavor_locks(etc, "shadow"))[-1] == ("PidFileLock", f"{where}/gshadow.lock")
    assert described(lock.flavor_locks(etc, "plain")) == [
        ("FcntlLock", f"{where}/.pwd.lock"), ("PidFileLock", f"{where}/passwd.lock"),
        ("PidFileLock", f"{where}/group.lock"),
    ]
    (bsd_etc.path / "group").unlink()
    assert described(lock.flavor_locks(bsd_etc, "bsd")) == [
        ("FlockLock", f"{bsd_etc.path}/master.passwd"), ("ExclusiveFileLock", f"{bsd_etc.path}/ptmp"),
    ]


def blocked_here() -> set[int]:
    return signal.pthread_sigmask(signal.SIG_BLOCK, [])


@pytest.fixture
def caught():
    """The signals that reach this process (recorded, not acted on) while
    the test runs: one that escaped being held back shows here."""
    seen = []
    previous = {signum: signal.signal(signum, lambda number, frame: seen.append(number))
                for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    yield seen
    for signum, handler in previous.items():
        signal.signal(signum, handler)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["INT", "TERM", "HUP"])
def test_a_signal_is_held_back_until_a_safe_point_then_stops_the_run(signum, caught):
    before = blocked_here()
    with lock.deferred_signals():
        assert {signal.SIGINT, signal.SIGTERM, signal.SIGHUP} <= blocked_here()
        lock.check_interrupted()  # nothing pending: goes on
        os.kill(os.getpid(), signum)
        with pytest.raises(OperationFailed) as stopped:
            lock.check_interrupted()
        assert not signal.sigpending(), "taken, not left to strike after the block"
    assert blocked_here() == before
    assert str(stopped.value) == (
        f"interrupted by {signal.Signals(signum).name}; stopped at a safe point, locks released"
    )
    assert caught == [], "taken at the safe point, never delivered"


def test_a_signal_while_waiting_stops_the_wait_and_lets_go_of_what_it_took(etc, monkeypatch, caught):
    """SIGTERM arrives while group.lock is busy and .pwd.lock was taken: the
    wait stops at its next round, with nothing held and nothing left."""
    sleeper = subprocess.Popen(["sleep", "60"])
    rounds = []

    def sleep(seconds):
        rounds.append(seconds)
        assert not taken_elsewhere(etc.path / ".pwd.lock", "lockf"), "nothing is kept while waiting"
        os.kill(os.getpid(), signal.SIGTERM)  # held back: acted on at the next round

    monkeypatch.setattr(lock.time, "sleep", sleep)
    with killed_after(sleeper):
        (etc.path / "group.lock").write_bytes(f"{sleeper.pid}\0".encode())
        with pytest.raises(OperationFailed) as stopped:
            with lock.locked(etc, "shadow", timeout=60):
                pass
    assert str(stopped.value) == "interrupted by SIGTERM; stopped at a safe point, locks released"
    assert rounds == [lock.POLL_SECONDS]
    assert caught == []
    assert sorted(os.listdir(etc.path)) == [".pwd.lock", "group", "group.lock", "passwd"]


class Clock:
    """time.monotonic and time.sleep for held(): each sleep moves the clock on."""

    def __init__(self, monkeypatch, on_sleep=lambda rounds: None):
        self.now, self.rounds, self.on_sleep = 1000.0, [], on_sleep
        monkeypatch.setattr(lock.time, "monotonic", lambda: self.now)
        monkeypatch.setattr(lock.time, "sleep", self.sleep)

    def sleep(self, seconds: float) -> None:
        self.rounds.append(seconds)
        self.now += seconds
        self.on_sleep(len(self.rounds))


def test_a_busy_lock_is_tried_every_tenth_of_a_second_until_the_timeout(etc, monkeypatch):
    clock = Clock(monkeypatch)
    with killed_after(live_pid_lock(etc.root, "group")) as sleeper:
        with pytest.raises(OperationFailed) as gave_up:
            with lock.locked(etc, "shadow", timeout=0.25):
                pass
        assert str(gave_up.value) == f"{etc.path}/group.lock is held by PID {sleeper.pid}; gave up after waiting 0.25s"
        assert clock.rounds == pytest.approx([0.1, 0.1, 0.05]), "the last round only as long as what is left"
        # no time at all: one try
        clock.rounds.clear()
        with pytest.raises(OperationFailed, match=r"is held by PID \d+; gave up after waiting 0s$"):
            with lock.locked(etc, "shadow", timeout=0):
                pass
        assert clock.rounds == []
    assert sorted(os.listdir(etc.path)) == [".pwd.lock", "group", "group.lock", "passwd"]


def test_a_lock_let_go_of_while_waiting_is_then_taken(etc, monkeypatch):
    """The wait really waits: the holder is alive for two rounds and gone
    in the third; then every lock is taken, and let go of after the block."""
    sleeper = live_pid_lock(etc.root, "passwd")

    def holder_ends(rounds):
        if rounds == 3:
            sleeper.kill()
            sleeper.wait()

    clock = Clock(monkeypatch, holder_ends)
    with killed_after(sleeper):
        with lock.locked(etc, "shadow", timeout=60) as locks:
            assert clock.rounds == pytest.approx([0.1, 0.1, 0.1])
            assert described(locks) == [
                ("FcntlLock", f"{etc.path}/.pwd.lock"), ("PidFileLock", f"{etc.path}/passwd.lock"),
                ("PidFileLock", f"{etc.path}/group.lock"),
            ]
            for name in ("passwd.lock", "group.lock"):
                assert lock_file(etc, name) == (f"{os.getpid()}\0".encode(), 0o600)
            assert taken_elsewhere(etc.path / ".pwd.lock", "lockf")
    assert sorted(os.listdir(etc.path)) == [".pwd.lock", "group", "passwd"]
    assert not taken_elsewhere(etc.path / ".pwd.lock", "lockf")


@pytest.mark.parametrize(("name", "make", "why"), [
    ("passwd.lock", os.mkfifo, "a FIFO, not a regular file"),
    (".pwd.lock", os.mkfifo, "a FIFO, not a regular file"),
    (".pwd.lock", os.mkdir, "Is a directory"),
], ids=["fifo-at-passwd-lock", "fifo-at-pwd-lock", "directory-at-pwd-lock"])
def test_a_lock_file_that_is_no_file_fails_the_run_and_nothing_is_written(tmp_path, name, make, why):
    root = make_tree(tmp_path, "debian")
    make(root / "etc" / name)
    before, names = account_files(root), sorted(os.listdir(root / "etc"))
    result = cli("apply", "--root", root, "--platform", "linux", "--backend", "files")
    assert (result.code, result.err) == (1, f"qmailsetup: {root}/etc/{name}: cannot lock: {why}; nothing written\n")
    assert account_files(root) == before
    assert sorted(os.listdir(root / "etc")) == sorted({*names, ".pwd.lock"})  # lckpwdf's file stays, as glibc leaves it
    assert not (root / "etc" / name).is_file()


def test_a_file_system_that_cannot_flock_fails_the_run_in_one_line(bsd_etc, monkeypatch):
    """ENOLCK (an NFS mount without a lock manager; stood in for, as it
    cannot happen on this machine's file systems): exit 1, the file named."""
    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(lock.fcntl, "flock", no_locks)
    with pytest.raises(OperationFailed) as failed:
        with lock.held(lock.flavor_locks(bsd_etc, "bsd"), 1):
            pass
    assert str(failed.value) == f"{bsd_etc.path}/master.passwd: cannot lock: No locks available"
    assert sorted(os.listdir(bsd_etc.path)) == ["group", "master.passwd"]
