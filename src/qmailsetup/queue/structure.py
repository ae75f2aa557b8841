"""The queue's directories and lock files as the installer makes them
(hier.c's hier_queue: each directory made 0700, then chowned and chmoded;
lock/tcpto written with 1024 zero bytes, lock/sendmutex empty, the FIFO
lock/trigger), judged, made where missing, their owners and modes put
back; and the split directories qmail's installer does not make (those a
larger conf-split left), found."""

from __future__ import annotations

import errno
import os
import stat

from qmailsetup.hostio import kind_of
from qmailsetup.queue.model import LOCK, REPAIRING, SENDMUTEX, TYPES
from qmailsetup.queue.surveyor import Surveyor
from qmailsetup.queue.walk import listing, number, open_directory

MAKE = {"dir": "mkdir", "file": "mkfile", "fifo": "mkfifo"}
WORDS = {"dir": "directory"}
WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_NOCTTY | os.O_CLOEXEC


def make(kind: str, name: str, dir_fd: int, size: int | None) -> None:
    """NAME in DIR_FD as the installer makes it, owned and moded after."""
    if kind == "dir":
        os.mkdir(name, 0o700, dir_fd=dir_fd)
    elif kind == "fifo":
        os.mkfifo(name, 0o700, dir_fd=dir_fd)
    else:
        fd = os.open(name, WRITE_FLAGS, 0o600, dir_fd=dir_fd)
        try:
            if size:
                os.write(fd, bytes(size))
            os.fsync(fd)
        finally:
            os.close(fd)


class Structure(Surveyor):
    """The part of a survey (survey.py) about what the installer makes."""

    def structure(self, strangers: bool = True) -> None:
        """Judge, and make or put back, each path of the installation
        table under the queue, in the installer's order; then (STRANGERS)
        find the split directories and entries it does not make."""
        model = self.model
        for place in model.places():
            relative = model.relative(place.path)
            parent, _, name = relative.rpartition("/")
            parent = parent or "."
            if relative == ".":
                self.queue_itself(place)
                continue
            parent_fd = self.fds.get(parent)
            if parent_fd is None:  # its directory is missing too: a dry run, or create's
                self.tally.add(MAKE[place.type], relative)
                continue
            info = self.lstat(name, parent_fd)
            expect = self.expect(relative)
            if info is not None and stat.S_IFMT(info.st_mode) != TYPES[place.type]:
                self.owners.judge(relative, info, expect, relative.split("/")[0])
                self.wrong_type(parent_fd, name, relative, info, f"{kind_of(info.st_mode)}, not a {WORDS.get(place.type, place.type)}",
                                f"{kind_of(info.st_mode)} where qmail's installer makes a {place.type}")
                info = None
            elif info is not None and self.foreign(info, expect):
                self.owners.judge(relative, info, expect, relative.split("/")[0])
                self.wrong_type(parent_fd, name, relative, info, self.foreign_reason(info),
                                f"{self.foreign_reason(info)}: not the installer's")
                info = None
            if relative == f"{LOCK}/{SENDMUTEX}" and info is None and self.mutex_hidden(parent_fd):
                continue
            if info is None:
                self.tally.add(MAKE[place.type], relative)
                if self.act:
                    make(place.type, name, parent_fd, place.size)
                    self.touched.add(parent_fd)
                    info = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
                    self.fix(parent_fd, name, relative, info, expect, count=False)
            else:
                if not self.owners.judge(relative, info, expect, relative.split("/")[0]):
                    self.fix(parent_fd, name, relative, info, expect)
                if place.size and info.st_size < place.size:
                    self.fill(parent_fd, name, relative, info, place.size)
            if place.type == "dir" and info is not None:
                self.fds[relative] = open_directory(name, parent_fd)
        if strangers:
            self.strangers()

    def fill(self, dir_fd: int, name: str, relative: str, info: os.stat_result, size: int) -> None:
        """A lock file the installer writes whole (lock/tcpto: 1024 zero
        bytes) found shorter, as a run killed between making and writing it
        leaves it: made whole with zero bytes, what it holds kept."""
        self.tally.add("mkfile", f"{relative} (short: {info.st_size} of {size} bytes)")
        if not self.act:
            return
        fd = os.open(name, os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC, dir_fd=dir_fd)
        try:
            now = os.fstat(fd)
            if (now.st_dev, now.st_ino) != (info.st_dev, info.st_ino):
                raise OSError(errno.ESTALE, "replaced while the repair ran", relative)
            os.ftruncate(fd, size)
            os.fsync(fd)
        finally:
            os.close(fd)

    def queue_itself(self, place) -> None:
        if self.queue_fd is None:
            self.tally.add("mkdir", ".")
            return
        info = os.fstat(self.queue_fd)
        expect = self.expect(".")
        if not self.owners.judge(".", info, expect, ""):
            self.fix_fd(self.queue_fd, ".", info, expect)

    def mutex_hidden(self, lock_fd: int) -> bool:
        """Whether a missing lock/sendmutex is a repair's doing: this one
        (which puts it back as it ends) or one that was interrupted."""
        if self.lstat(REPAIRING, lock_fd) is not None:
            self.interrupted = True
            return True
        return self.holds_lock

    def wrong_type(self, dir_fd: int, name: str, relative: str, info: os.stat_result, how: str, reason: str) -> None:
        """A path the installer makes found otherwise (HOW), kept (REASON)."""
        self.tally.add("wrong-type", f"{relative} ({how})")
        self.keep(dir_fd, name, relative, reason)

    def strangers(self) -> None:
        """What the installer does not make: the split directories of a
        larger conf-split (their messages are read, and moved out by a
        repair), anything else in a split message directory (moved into
        the quarantine); other names in the queue and in lock/, left alone."""
        model = self.model
        for kind in model.kinds.values():
            self.leaves[kind.name] = []
            kind_fd = self.fds.get(kind.name)
            if kind_fd is None:
                continue
            if not kind.split:
                self.leaves[kind.name].append((None, kind_fd, kind.name))
                continue
            for name, info in listing(kind_fd):
                relative = f"{kind.name}/{name}"
                split_dir = number(name)
                if split_dir is not None and split_dir < self.split and relative in self.fds:
                    self.leaves[kind.name].append((split_dir, self.fds[relative], relative))
                elif split_dir is not None and stat.S_ISDIR(info.st_mode):
                    self.tally.add("extra", relative)
                    if not self.owners.judge(relative, info, kind.directory, kind.name):
                        self.fix(kind_fd, name, relative, info, kind.directory)
                    self.fds[relative] = open_directory(name, kind_fd)
                    self.leaves[kind.name].append((split_dir, self.fds[relative], relative))
                elif split_dir is None or split_dir >= self.split:
                    self.owners.judge(relative, info, kind.directory, kind.name)
                    self.keep(kind_fd, name, relative, "not a split directory")
        known = {model.relative(p.path).split("/")[0] for p in model.places()} | {self.inside_quarantine}
        if self.queue_fd is not None:
            for name, _ in listing(self.queue_fd):
                if name not in known:
                    self.tally.add("unknown", name)
        lock_fd = self.fds.get(LOCK)
        if lock_fd is not None:
            ours = {model.relative(p.path) for p in model.places()} | {f"{LOCK}/{REPAIRING}"}
            for name, info in listing(lock_fd):
                if name == REPAIRING and not self.holds_lock:
                    self.interrupted = True
                    self.orphans_gone = info.st_size > 0
                if f"{LOCK}/{name}" not in ours:
                    self.tally.add("unknown", f"{LOCK}/{name}")
