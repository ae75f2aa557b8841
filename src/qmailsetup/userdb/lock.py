"""Locking the account files the way the host's own tools do, so that
useradd, vipw, passwd, pw and qmailsetup never edit them at the same time.

The kinds of lock, each matching one tool family:

- "fcntl": lckpwdf(3)'s write lock on /etc/.pwd.lock (glibc, and
  shadow-utils when it works on /); the file is created if missing.
- "pidfile": shadow-utils' per-file `<file>.lock`, holding the owner's PID
  and a NUL, written to `<file>.<pid>` and link()ed into place; a lock whose
  PID is dead is stale and removed, as shadow-utils does.
- "flock": FreeBSD's pw_lock(), flock(2) on master.passwd (and group).
- "exclusive": OpenBSD's /etc/ptmp, created with O_EXCL; it holds no PID,
  so a leftover one is reported, never removed.
- "busybox": busybox's `<file>+`, created with O_EXCL like ptmp, per file
  (BusyboxLock says what else it takes to make busybox safe beside us).

Which locks a flavor takes is data (userdb/flavor.py, Flavor.locks), and
so are those a platform's other tools take (the profile's also_locks:
busybox's on Alpine), taken after the flavor's. All are taken or none:
when one is busy the others are let go, so a waiting qmailsetup never holds
passwd.lock while a useradd waits for it. Every lock file is opened
relative to the one ROOT/etc descriptor (userdb/etcdir.py), never through a
link and never so that it could block: a FIFO, socket, device or directory
where a lock file belongs cannot be locked (exit 1, nothing written). SIGINT, SIGTERM and SIGHUP are
held back while the locks are held and acted on at safe points
(check_interrupted), so every path out releases the locks.
"""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import struct
import sys
import time
from contextlib import contextmanager, suppress

from qmailsetup.errors import BadInput, OperationFailed
from qmailsetup.hostio import read_fd
from qmailsetup.userdb.etcdir import EtcDir
from qmailsetup.userdb.flavor import FLAVORS

# lckpwdf waits 15 s; shadow-utils tries 15 times, a second apart.
DEFAULT_TIMEOUT = 15.0
TIMEOUT_VARIABLE = "QMAILSETUP_LOCK_TIMEOUT"
POLL_SECONDS = 0.1
DEFERRED_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}

# pidfile locks this process holds now, as (etc directory, name): a lock
# naming our own PID that is not among them is a leftover (an earlier failed
# release, or a reused PID)
HELD_PIDFILES: set[tuple[tuple[int, int], str]] = set()


class Busy(Exception):
    """The lock is held by someone else; the message says by whom."""


class CannotLock(OperationFailed):
    """A lock file that could not be made or opened; ERRNO says why."""

    def __init__(self, message: str, errno: int | None) -> None:
        super().__init__(message)
        self.errno = errno


def lock_timeout() -> float:
    raw = os.environ.get(TIMEOUT_VARIABLE)
    if raw is None:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 3600:
        raise BadInput(f"{TIMEOUT_VARIABLE}={raw!r}: not a number of seconds between 0 and 3600")
    return value


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OverflowError:
        return False  # beyond pid_t (a lock file or FILE.<pid> name of 20 digits): no process has it
    return True


class FdLock:
    """A lock held by an open descriptor of NAME in ETC: closing it lets go."""

    def __init__(self, etc: EtcDir, name: str) -> None:
        self.etc, self.name = etc, name
        self.path = etc.shown(name)
        self.fd: int | None = None

    def release(self) -> None:
        if self.fd is not None:
            fd, self.fd = self.fd, None
            os.close(fd)


class FcntlLock(FdLock):
    def acquire(self) -> None:
        fd, _ = self.etc.open_regular(self.name, flags=os.O_WRONLY | os.O_CREAT)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            holder = fcntl_holder(fd)
            os.close(fd)
            if error.errno in (errno.EACCES, errno.EAGAIN):
                raise Busy(f"{self.path} is locked (lckpwdf) by {holder}") from None
            raise
        self.fd = fd


def fcntl_holder(fd: int) -> str:
    """'PID n' of the process holding a write lock on FD, where the layout
    of struct flock is known (Linux); else 'another process'."""
    if sys.platform != "linux":
        return "another process"
    try:
        probe = struct.pack("hhqqi", fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
        answer = struct.unpack("hhqqi", fcntl.fcntl(fd, fcntl.F_GETLK, probe))
    except OSError:
        return "another process"
    return f"PID {answer[4]}" if answer[0] != fcntl.F_UNLCK and answer[4] > 0 else "another process"


class PidFileLock:
    """shadow-utils' lock of FILE: FILE.lock, a hard link of FILE.<pid>."""

    def __init__(self, etc: EtcDir, target: str) -> None:
        self.etc = etc
        self.name, self.temp = f"{target}.lock", f"{target}.{os.getpid()}"
        self.lock = etc.shown(self.name)  # as messages name it
        self.held = False

    def link(self) -> None:
        os.link(self.temp, self.name, src_dir_fd=self.etc.fd, dst_dir_fd=self.etc.fd, follow_symlinks=False)

    def acquire(self) -> None:
        self.key = (self.etc.key(), self.name)
        try:
            self.write_temp()
            try:
                self.link()
            except FileExistsError:
                self.remove_if_stale()
                try:
                    self.link()
                except FileExistsError:
                    raise Busy(f"{self.lock} was taken meanwhile") from None
            self.held = True
            HELD_PIDFILES.add(self.key)
            # two names for one inode, as shadow-utils checks (NFS)
            if self.etc.lstat(self.temp).st_nlink != 2:
                self.release()
                raise Busy(f"{self.lock}: lock file already used")
        finally:
            with suppress(OSError):
                os.unlink(self.temp, dir_fd=self.etc.fd)

    def write_temp(self) -> None:
        # shadow-utils truncates an existing FILE.<pid>; a fresh one is safer
        # (it may be a link planted in a directory someone else can write)
        with suppress(FileNotFoundError):
            os.unlink(self.temp, dir_fd=self.etc.fd)
        fd = os.open(self.temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600,
                     dir_fd=self.etc.fd)
        try:
            os.write(fd, f"{os.getpid()}\0".encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def holder(self) -> int | None:
        """The PID in the lock file; a lock that is not a regular file (a
        FIFO, a socket) is an OSError, never waited on."""
        try:
            fd, _ = self.etc.open_regular(self.name)
        except FileNotFoundError:
            return None
        try:
            text = read_fd(fd, 32).split(b"\0")[0].strip()
        finally:
            os.close(fd)
        if not text.isdigit() or int(text) <= 0:
            raise Busy(f"{self.lock} holds no valid PID ({text[:20]!r}); remove it if no account tool is running")
        return int(text)

    def remove_if_stale(self) -> None:
        holder = self.holder()
        if holder is None:
            return
        ours = holder == os.getpid() and self.key not in HELD_PIDFILES
        if pid_alive(holder) and not ours:
            raise Busy(f"{self.lock} is held by PID {holder}")
        try:
            os.unlink(self.name, dir_fd=self.etc.fd)  # stale: its owner is gone
        except FileNotFoundError:
            pass

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        HELD_PIDFILES.discard(self.key)
        try:
            if self.holder() == os.getpid():
                os.unlink(self.name, dir_fd=self.etc.fd)
        except (Busy, FileNotFoundError):
            pass


class FlockLock(FdLock):
    def acquire(self) -> None:
        fd, _ = self.etc.open_regular(self.name)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise Busy(f"{self.path} is locked (flock) by another process") from None
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd


class ExclusiveFileLock:
    """A file whose existence is the lock (/etc/ptmp); removed on release
    only while it is still the one this process created."""

    # who else makes it, as a busy lock names them
    makers = "another vipw, pw or useradd"

    def __init__(self, etc: EtcDir, name: str) -> None:
        self.etc, self.name = etc, name
        self.path = etc.shown(name)
        self.identity: tuple[int, int] | None = None

    def acquire(self) -> None:
        try:
            # O_EXCL: never opens what is there, so nothing there can block it
            fd = os.open(self.name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600,
                         dir_fd=self.etc.fd)
        except FileExistsError:
            raise Busy(f"{self.path} exists: {self.makers} is running (remove it if none is)") from None
        info = os.fstat(fd)
        os.close(fd)
        self.identity = (info.st_dev, info.st_ino)

    def ours(self) -> bool:
        """Whether the lock file there is still the one this lock made."""
        if self.identity is None:
            return False
        try:
            info = self.etc.lstat(self.name)
        except FileNotFoundError:
            return False  # consumed, e.g. renamed into place by pwd_mkdb
        return (info.st_dev, info.st_ino) == self.identity

    def release(self) -> None:
        ours, self.identity = self.ours(), None
        if ours:
            with suppress(FileNotFoundError):  # consumed meanwhile
                os.unlink(self.name, dir_fd=self.etc.fd)


class BusyboxLock(ExclusiveFileLock):
    """busybox's lock of FILE (libbb/update_passwd.c): FILE+, made with
    O_EXCL, then renamed over FILE with the new content; on EEXIST busybox
    tries again every 0.1 s for 3 s, and never removes a FILE+ it did not
    make.

    busybox opens FILE before it takes FILE+ and rewrites what it opened:
    a busybox tool that waited for our FILE+ would read the file we
    replaced and write our edit away. So our FILE+ is a second name of
    FILE as it was when locked (link(2) fails on EEXIST as O_EXCL does),
    and on release, if FILE was replaced meanwhile, that file is given
    FILE's content of now and renamed back over FILE: whoever opened FILE
    before, and every later run, has the one file that is up to date. A
    FILE that cannot be linked (gone, immutable) gets an empty FILE+."""

    makers = "busybox's adduser, addgroup, passwd, chpasswd or deluser"

    def __init__(self, etc: EtcDir, target: str) -> None:
        super().__init__(etc, f"{target}+")
        self.target = target
        self.locked_file: int | None = None  # FILE as it was when locked, also FILE+
        # what FILE holds now, where the holder wrote it under this lock
        # (written()): put_back need not read it again
        self.content: bytes | None = None

    def acquire(self) -> None:
        try:
            os.link(self.target, self.name, src_dir_fd=self.etc.fd, dst_dir_fd=self.etc.fd, follow_symlinks=False)
        except FileExistsError:
            raise Busy(f"{self.path} exists: {self.makers} is running (remove it if none is)") from None
        except OSError as error:
            if error.errno not in (errno.ENOENT, errno.EPERM):
                raise
            super().acquire()
            return
        try:
            self.locked_file, info = self.etc.open_regular(self.name, flags=os.O_RDWR)
        except OSError as error:
            os.unlink(self.name, dir_fd=self.etc.fd)
            raise OSError(error.errno, f"{self.etc.shown(self.target)}: {error.strerror}") from None
        self.identity = (info.st_dev, info.st_ino)

    def release(self) -> None:
        if self.locked_file is None:
            super().release()
            return
        locked_file, self.locked_file = self.locked_file, None
        try:
            if self.ours():
                self.put_back(locked_file)
        finally:
            self.identity = None
            os.close(locked_file)

    def put_back(self, locked_file: int) -> None:
        """FILE+ back over FILE, with FILE's content of now, where FILE was
        replaced and FILE+ is that file's only name left; else FILE+ goes.
        A failure leaves FILE+ as it is: busybox gives up on it (and the
        next run names it) rather than rewrite a file half brought up to
        date; FILE is whole all the same."""
        old = os.fstat(locked_file)
        try:
            now = self.etc.lstat(self.target)
        except FileNotFoundError:
            now = None
        if now is None or (now.st_dev, now.st_ino) == (old.st_dev, old.st_ino) or old.st_nlink != 1:
            os.unlink(self.name, dir_fd=self.etc.fd)  # not replaced, or another name's content
            return
        data = self.content
        if data is None:
            fd, _ = self.etc.open_regular(self.target)
            try:
                data = read_fd(fd)
            finally:
                os.close(fd)
        written = 0
        while written < len(data):
            written += os.pwrite(locked_file, data[written:], written)
        os.ftruncate(locked_file, len(data))
        os.fsync(locked_file)
        etc_fd = self.etc.descriptor()
        os.rename(self.name, self.target, src_dir_fd=etc_fd, dst_dir_fd=etc_fd)
        os.fsync(etc_fd)


def flock_busy(etc: EtcDir, name: str) -> bool:
    """Whether another open file holds a flock on NAME in ETC (as FreeBSD's
    pw, vipw and pwd_mkdb take on master.passwd); asked without waiting and
    let go at once."""
    try:
        fd, _ = etc.open_regular(name)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing lets the probe's lock go
    return False


def let_go_of(locks: list, etc: EtcDir, name: str) -> None:
    """Release any flock among LOCKS held on the file now at NAME in ETC, before a
    command that takes that flock itself runs (FreeBSD's pwd_mkdb waits
    for it, so holding it would hang the run). A lock on a file that was
    replaced since (the usual case) holds nothing a command can ask for,
    and is kept until the end."""
    try:
        now = etc.lstat(name)
    except FileNotFoundError:
        return
    for held_lock in locks:
        if isinstance(held_lock, FlockLock) and held_lock.fd is not None:
            info = os.fstat(held_lock.fd)
            if (info.st_dev, info.st_ino) == (now.st_dev, now.st_ino):
                held_lock.release()


def written(locks: list, name: str, data: bytes) -> None:
    """NAME in etc now holds DATA, written under LOCKS: busybox's FILE+ of
    it is brought up to date from DATA on release, not from a new reading."""
    for held_lock in locks:
        if isinstance(held_lock, BusyboxLock) and held_lock.target == name:
            held_lock.content = data


LOCK_KINDS = {
    "fcntl": FcntlLock, "pidfile": PidFileLock, "flock": FlockLock, "exclusive": ExclusiveFileLock,
    "busybox": BusyboxLock,
}


def flavor_locks(etc: EtcDir, flavor: str, also: tuple[tuple[str, str], ...] = ()) -> list:
    """The locks of the flavor named FLAVOR, then ALSO (the platform's
    other tools', platforms.Profile.also_locks); a per-file one only for a
    file that exists, as shadow-utils locks shadow only when there is one."""
    locks = []
    for kind, name in FLAVORS[flavor].locks + also:
        if kind in ("pidfile", "flock", "busybox") and not etc.exists(name):
            continue
        locks.append(LOCK_KINDS[kind](etc, name))
    return locks


def check_interrupted() -> None:
    """Act on a SIGINT/SIGTERM/SIGHUP held back since the locks were taken."""
    pending = signal.sigpending() & DEFERRED_SIGNALS
    if pending:
        info = signal.sigtimedwait(pending, 0)
        name = signal.Signals(info.si_signo).name if info else "a signal"
        raise OperationFailed(f"interrupted by {name}; stopped at a safe point, locks released")


@contextmanager
def deferred_signals():
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, DEFERRED_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def release_all(locks: list) -> None:
    for lock in reversed(locks):
        try:
            lock.release()
        except OSError:
            pass  # a lock left behind names a dead PID: the next run removes it


def acquire_all(locks: list) -> str | None:
    """Take every lock, or none: the reason the first busy one gave."""
    taken = []
    try:
        for lock in locks:
            lock.acquire()
            taken.append(lock)
    except Busy as busy:
        release_all(taken)
        return str(busy)
    except OSError as error:
        release_all(taken)
        where = getattr(lock, "path", None) or getattr(lock, "lock", "")
        raise CannotLock(f"{where}: cannot lock: {error.strerror or error}", error.errno) from None
    except BaseException:
        release_all(taken)
        raise
    return None


@contextmanager
def held(locks: list, timeout: float):
    """Hold all LOCKS, waiting up to TIMEOUT seconds for busy ones; signals
    are deferred meanwhile (see check_interrupted)."""
    with deferred_signals():
        deadline = time.monotonic() + timeout
        while True:
            check_interrupted()
            busy = acquire_all(locks)
            if busy is None:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise OperationFailed(f"{busy}; gave up after waiting {timeout:g}s")
            time.sleep(min(POLL_SECONDS, remaining))
        try:
            yield locks
        finally:
            release_all(locks)


def locked(etc: EtcDir, flavor: str, timeout: float | None = None, also: tuple[tuple[str, str], ...] = ()):
    """The locks of FLAVOR's files in ETC and ALSO, held (a context manager
    giving the list of them)."""
    return held(flavor_locks(etc, flavor, also), lock_timeout() if timeout is None else timeout)
