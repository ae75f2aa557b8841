"""qmail-send's lock: a repair never runs while qmail-send does, and
qmail-send cannot start while a repair runs or after one was interrupted.

qmail-send opens lock/sendmutex and takes lock_exnb on it for as long as it
runs: flock(LOCK_EX | LOCK_NB) wherever the system has flock, which is
every system qmail's tryflock.c finds it on (lock_exnb.c). It refuses to
start when that fails ("qmail-send is already running"), and when the file
cannot be opened ("unable to open mutex"). So a repair takes the same lock,
without waiting (SendRunning when it is held, before anything is written),
then renames lock/sendmutex to lock/sendmutex.qmailsetup: from then on
qmail-send cannot start, whether the repair runs, failed or was killed,
until a repair finishes and renames it back. A dry run takes the locks
and changes no name.
"""

from __future__ import annotations

import fcntl
import os
import stat

from qmailsetup.errors import EXIT_SEND_RUNNING, QmailsetupError, Refused
from qmailsetup.queue.model import REPAIRING, SENDMUTEX, Expect

OPEN_FLAGS = os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


class SendRunning(QmailsetupError):
    exit_code = EXIT_SEND_RUNNING


def open_lockable(name: str, lock_fd: int) -> int | None:
    """NAME in lock/, opened to be locked; None when it is not there or is
    not a regular file (which no qmail-send can hold: it cannot open it
    to write), never opened then (a FIFO would block, a device act). A
    link is refused: qmail-send would lock whatever it leads to; so is a
    file with another name elsewhere, which a repair would empty as it
    gives it back (a link to /etc/shadow)."""
    try:
        info = os.stat(name, dir_fd=lock_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(info.st_mode):
        raise Refused(f"lock/{name} is a symlink: qmail-send locks what it leads to, which a repair cannot "
                      "judge; nothing written. Make it a file, as qmail's installer does")
    if not stat.S_ISREG(info.st_mode):
        return None
    try:
        fd = os.open(name, OPEN_FLAGS, dir_fd=lock_fd)
    except FileNotFoundError:
        return None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink > 1:
        os.close(fd)
        if stat.S_ISREG(info.st_mode):
            raise Refused(f"lock/{name} has another name elsewhere ({info.st_nlink} links): a repair empties and "
                          "chowns the lock file, and would change that file too; nothing written. Remove it "
                          "(qmailsetup queue repair makes it again)")
        return None
    return fd


class SendLock:
    def __init__(self, lock_fd: int, shown_lock: str, act: bool) -> None:
        self.lock_fd = lock_fd
        self.shown = shown_lock
        self.act = act
        self.held: list[int] = []
        self.repairing: int | None = None
        # lock/sendmutex (or an interrupted repair's) was there to lock
        self.found = False
        # an interrupted repair's was
        self.interrupted = False
        # the interrupted repair, or this one, has moved what no message
        # explains into the quarantine: kept as lock/sendmutex.qmailsetup's
        # size, one byte (survey.py, "orphans_gone")
        self.orphans_gone = False

    def take(self) -> None:
        """Lock lock/sendmutex.qmailsetup (an interrupted repair's) and
        lock/sendmutex, each that is there; SendRunning if either is held.
        Then, unless a dry run, hide lock/sendmutex from qmail-send."""
        found = {}
        for name in (REPAIRING, SENDMUTEX):
            fd = open_lockable(name, self.lock_fd)
            if fd is None:
                continue
            self.held.append(fd)
            found[name] = fd
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self.release()
                if name == REPAIRING:
                    who, then = "another qmailsetup queue repair", "Let it finish, then rerun"
                else:
                    who = "qmail-send"
                    then = "Stop qmail-send first (svc -d /service/qmail-send, or the init system's way)"
                raise SendRunning(
                    f"{who} is running: it holds the lock on {self.shown}/{name}; nothing written. {then}"
                ) from None
        self.found = bool(found)
        self.interrupted = REPAIRING in found
        self.orphans_gone = REPAIRING in found and os.fstat(found[REPAIRING]).st_size > 0
        if not self.act:
            return
        if SENDMUTEX in found:
            # over an interrupted repair's own, if there is one: both stay locked
            os.rename(SENDMUTEX, REPAIRING, src_dir_fd=self.lock_fd, dst_dir_fd=self.lock_fd)
            self.repairing = found[SENDMUTEX]
        elif REPAIRING in found:
            self.repairing = found[REPAIRING]
        else:  # no qmail-send can have run: it had no mutex to open
            try:
                fd = os.open(REPAIRING, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                             dir_fd=self.lock_fd)
            except FileExistsError:
                # another repair made it since this one looked
                self.release()
                raise SendRunning(f"another qmailsetup queue repair is running: it made {self.shown}/{REPAIRING} "
                                  "meanwhile; nothing written") from None
            self.held.append(fd)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self.repairing = fd
        if self.orphans_gone:
            self.mark_orphans_gone()
        os.fsync(self.lock_fd)

    def mutex_state(self) -> os.stat_result | None:
        """The lock file this repair gives back as lock/sendmutex (a dry
        run: the one there), as it is now."""
        fd = self.repairing if self.repairing is not None else next(iter(self.held), None)
        return None if fd is None else os.fstat(fd)

    def mark_orphans_gone(self) -> None:
        """Record, in the marker's size, that no orphan is left: a repair
        killed from now on is resumed knowing it."""
        if self.act and self.repairing is not None:
            os.ftruncate(self.repairing, 1)
            os.fsync(self.repairing)
        self.orphans_gone = True

    def give_back(self, expect: Expect) -> None:
        """The repair is done: lock/sendmutex back, as the installer makes
        it, for qmail-send to start."""
        if self.act and self.repairing is not None:
            os.ftruncate(self.repairing, 0)
            os.fchown(self.repairing, expect.uid, -1 if expect.gid is None else expect.gid)
            os.fchmod(self.repairing, expect.permissions)
            os.rename(REPAIRING, SENDMUTEX, src_dir_fd=self.lock_fd, dst_dir_fd=self.lock_fd)
            os.fsync(self.lock_fd)
            self.repairing = None

    def release(self) -> None:
        for fd in self.held:
            os.close(fd)
        self.held = []
