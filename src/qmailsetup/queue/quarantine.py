"""Where a repair puts what it cannot explain, instead of deleting it.

Beside the queue, as QUEUE.quarantine (/var/qmail/queue.quarantine), one
directory per run named after its start (20250101T120000Z.PID), each entry
under the path it had in the queue (info/4/77): root's, mode 0700, so no
qmail program and no user reads or changes what is kept there. Each entry
gets there by one rename(2), which is atomic: a repair killed at any moment
has the entry in the queue or in the quarantine, never in neither. A
rename cannot cross file systems: when the queue is a file system of its
own (a mount point, as the djb way suggests), the quarantine is inside it,
QUEUE/quarantine, where no qmail program looks.
"""

from __future__ import annotations

import errno
import os
import time

from qmailsetup.errors import OperationFailed
from qmailsetup.hostio import mount_id
from qmailsetup.queue.tally import Tally
from qmailsetup.queue.walk import listing, open_directory
from qmailsetup.target import ownership, writable_by_others

INSIDE = "quarantine"


def same_mount(one: int, other: int) -> bool:
    ids = mount_id(one), mount_id(other)
    if None in ids:
        return os.fstat(one).st_dev == os.fstat(other).st_dev
    return ids[0] == ids[1]


class Quarantine:
    def __init__(self, queue_fd: int, real: str, shown: str, act: bool, tally: Tally) -> None:
        self.act = act
        self.tally = tally
        parent = os.path.dirname(real)
        self.base_fd = open_directory(parent)
        if same_mount(queue_fd, self.base_fd):
            self.name = os.path.basename(real) + ".quarantine"
            self.shown_base = shown + ".quarantine"
        else:
            os.close(self.base_fd)
            self.base_fd = os.dup(queue_fd)
            self.name = INSIDE
            self.shown_base = f"{shown}/{INSIDE}"
        self.run = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + f".{os.getpid()}"
        self.shown = f"{self.shown_base}/{self.run}"
        self.directories: dict[str, int] = {}

    def close(self) -> None:
        for fd in self.directories.values():
            os.close(fd)
        os.close(self.base_fd)

    def directory(self, relative: str) -> int:
        """The quarantine's directory RELATIVE ("" its run directory),
        made root's 0700 where missing, never through a link."""
        if relative in self.directories:
            return self.directories[relative]
        if relative:
            parent_relative, _, name = relative.rpartition("/")
            parent = self.directory(parent_relative)
        else:
            parent, name = self.top(), self.run
        fd = make_private(name, parent, f"{self.shown}/{relative}".rstrip("/"))
        self.directories[relative] = fd
        return fd

    def top(self) -> int:
        if "top" not in self.directories:
            self.directories["top"] = make_private(self.name, self.base_fd, self.shown_base)
        return self.directories["top"]

    def keep(self, dir_fd: int, name: str, relative: str, reason: str) -> None:
        """Move NAME (in DIR_FD; RELATIVE to the queue) into the quarantine."""
        self.tally.add("quarantine", f"{relative} ({reason})")
        if not self.act:
            return
        where, _, _ = relative.rpartition("/")
        target = self.directory(where)
        keep_as = name
        while exists(keep_as, target):  # pragma: no cover - a run moves each queue path once
            keep_as += "+"
        os.rename(name, keep_as, src_dir_fd=dir_fd, dst_dir_fd=target)


def exists(name: str, dir_fd: int) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def make_private(name: str, parent: int, shown: str) -> int:
    """The directory NAME in PARENT, made root's 0700 if missing; one that
    was there must be root's alone (no link, no other owner, no group or
    other write): another owner could take back what is kept in it."""
    try:
        os.mkdir(name, 0o700, dir_fd=parent)
        made = True
    except FileExistsError:
        made = False
    try:
        fd = open_directory(name, parent)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENOTDIR):
            raise OperationFailed(f"{shown}: not a directory (a link?); move it away, then rerun") from None
        raise
    info = os.fstat(fd)
    if made:
        os.fchown(fd, 0, 0)
        os.fchmod(fd, 0o700)
    elif writable_by_others(info):
        os.close(fd)
        raise OperationFailed(f"{shown}: others than root may change it ({ownership(info)}); "
                              "make it root's, mode 0700, or move it away, then rerun")
    return fd


def earlier_runs(quarantine: Quarantine) -> list[str]:
    """The run directories an earlier repair left in the quarantine."""
    try:
        fd = open_directory(quarantine.name, quarantine.base_fd)
    except (FileNotFoundError, NotADirectoryError):
        return []
    try:
        return sorted(name for name, _ in listing(fd))
    finally:
        os.close(fd)
