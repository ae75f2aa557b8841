"""Reading the queue: one open directory at a time, never through a link.

Every directory is opened relative to the one above it, with O_NOFOLLOW
and O_DIRECTORY, and listed with scandir on that descriptor; each entry is
lstat()ed once, relative to it (fstatat). A link in the queue is an entry
like any other, seen and never followed, so nothing outside the queue is
ever read or changed, whatever a process with qmail's IDs put there.

Messages (below) keeps what a survey must know of every message file
compactly: a queue of a million messages costs some 40 bytes a message,
never a Python object each.
"""

from __future__ import annotations

import ctypes
import errno
import os
import resource
from array import array
from bisect import bisect_left
from collections.abc import Iterator

from qmailsetup.errors import OperationFailed

DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
# qmail's names are unsigned longs (fmt_ulong): 64 bits where it runs
LARGEST = 2**64 - 1


def open_directory(name: str, dir_fd: int | None = None) -> int:
    return os.open(name, DIRECTORY_FLAGS, dir_fd=dir_fd)


def listing(fd: int) -> list[tuple[str, os.stat_result]]:
    """The entries of the directory FD with their lstat, by name: the
    disk's order is no order, and reports must not change between runs."""
    with os.scandir(fd) as entries:
        found = [(entry.name, entry.stat(follow_symlinks=False)) for entry in entries]
    found.sort()
    return found


def names(fd: int) -> Iterator[str]:
    """The names in the directory FD, read without a stat."""
    with os.scandir(fd) as entries:
        for entry in entries:
            yield entry.name


def number(name: str) -> int | None:
    """NAME as qmail writes a number (fmt_ulong: decimal digits, no leading
    zero), or None: any other name is one qmail never makes or reads."""
    if not name.isdigit() or not name.isascii() or (name[0] == "0" and name != "0"):
        return None
    value = int(name)
    return value if value <= LARGEST else None


def staged_number(name: str, suffix: str) -> int | None:
    """The number N of a name N+SUFFIX (a repair's name on the way)."""
    return number(name[: -len(suffix)]) if name.endswith(suffix) else None


class Messages:
    """The message files of a queue (mess/D/NAME): for each, its name (a
    number, or the number a repair's staged name carries), inode, split
    directory D, whether it is staged, and which envelope directories hold
    an entry for it. The files of one directory are added together
    (add_run), as a run sorted by name, staged names last, with an index by
    inode beside it. A name N is looked for by bisection in the run of
    directory N % split, and in the runs that hold names of other
    directories (MIXED: none, in a queue from a host of the same conf-split).
    About 43 bytes a message: a million cost 43 MB, not a Python object each."""

    def __init__(self, split: int) -> None:
        self.split = split
        self.names = array("Q")
        self.inodes = array("Q")
        self.dirs = array("Q")
        self.staged = bytearray()
        self.found = bytearray()  # bits: moves.BITS of the envelopes seen for it
        self.shared = bytearray()  # mark_shared: another file holds the same name
        self.inode_keys = array("Q")  # each run's inodes, sorted
        self.inode_positions = array("Q")  # and where each is
        # directory -> (start, end of its numeric names, end, start and end in the inode index)
        self.runs: dict[int, tuple[int, int, int, int, int]] = {}
        self.mixed: list[int] = []

    def __len__(self) -> int:
        return len(self.names)

    def add_run(self, directory: int, files: list[tuple[bool, int, int]], plain: bool = False) -> None:
        """FILES of mess/DIRECTORY, each (staged, name, inode); PLAIN: each
        named after its inode, DIRECTORY its split directory."""
        start = len(self.names)
        files.sort()
        staged, names, inodes = zip(*files, strict=True)
        numeric = start + staged.count(False)
        self.names.extend(names)
        self.inodes.extend(inodes)
        self.dirs.extend([directory] * len(files))
        self.staged.extend(staged)
        self.found.extend(bytes(len(files)))
        self.shared.extend(bytes(len(files)))
        inode_start = len(self.inode_keys)
        if names == inodes:  # each file named after its inode: the run is its own index
            self.inode_keys.extend(names)
            self.inode_positions.extend(range(start, start + len(files)))
        else:
            keys, positions = zip(*sorted(zip(inodes, range(start, start + len(files)), strict=True)), strict=True)
            self.inode_keys.extend(keys)
            self.inode_positions.extend(positions)
        self.runs[directory] = (start, numeric, len(self.names), inode_start, len(self.inode_keys))
        if not plain and any(name % self.split != directory for name in names[: numeric - start]):
            self.mixed.append(directory)

    def named(self, name: int) -> int | None:
        """The position of an unstaged file called NAME (where two hold the
        name, shared says so)."""
        names, home = self.names, name % self.split
        for directory in (home, *(d for d in self.mixed if d != home)):
            run = self.runs.get(directory)
            if run is None:
                continue
            start, numeric = run[0], run[1]
            at = bisect_left(names, name, start, numeric)
            if at < numeric and names[at] == name:
                return at
        return None

    def with_inode(self, inode: int) -> int | None:
        """The position of the file whose inode is INODE: looked for in
        the run of directory INODE % split (where a message at its name, or
        staged for it, is), then in the others. Of a file with several
        names, one no other file holds (shared: that one goes into the
        quarantine, this one is moved)."""
        keys, home = self.inode_keys, inode % self.split
        first = None
        for directory in (home, *(d for d in self.runs if d != home)):
            run = self.runs.get(directory)
            if run is None:
                continue
            low, high = run[3], run[4]
            at = bisect_left(keys, inode, low, high)
            while at < high and keys[at] == inode:
                position = self.inode_positions[at]
                if not self.shared[position]:
                    return position
                first = position if first is None else first
                at += 1
        return first

    def twin(self, position: int) -> int | None:
        """Another position of the file at POSITION (its inode) in the run
        of its own split directory: its new name, or its staged one, that
        a repair killed between link(2) and unlink(2) left beside the old."""
        inode, keys = self.inodes[position], self.inode_keys
        run = self.runs.get(inode % self.split)
        if run is None:
            return None
        low, high = run[3], run[4]
        at = bisect_left(keys, inode, low, high)
        while at < high and keys[at] == inode:
            if self.inode_positions[at] != position:
                return self.inode_positions[at]
            at += 1
        return None

    def mark_shared(self) -> None:
        """Mark every name that two unstaged files hold: in two runs (one
        directory holds a name once), one of them mixed. Two names of one
        file (its inode) are no two files."""
        names, inodes, shared = self.names, self.inodes, self.shared
        for directory in self.mixed:
            start, numeric = self.runs[directory][:2]
            for at in range(start, numeric):
                name = names[at]
                twins = []
                for other in {name % self.split, *self.mixed} - {directory}:
                    run = self.runs.get(other)
                    if run is not None:
                        found = bisect_left(names, name, run[0], run[1])
                        if found < run[1] and names[found] == name:
                            twins.append(found)
                for twin in twins:
                    if inodes[twin] != inodes[at]:
                        shared[at] = shared[twin] = 1

    def name_in_mess(self, position: int, staged_suffix: str) -> str:
        """The path of the file at POSITION in mess/."""
        suffix = staged_suffix if self.staged[position] else ""
        return f"{self.dirs[position]}/{self.names[position]}{suffix}"


_LIBC = ctypes.CDLL(None, use_errno=True)
# renameat2(2) where the C library has it (Linux, glibc 2.28 and musl 1.2.2 on)
_renameat2 = getattr(_LIBC, "renameat2", None)
RENAME_NOREPLACE = 1


def same_file(name: str, dir_fd: int, other: str, other_fd: int) -> bool:
    one = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    two = os.stat(other, dir_fd=other_fd, follow_symlinks=False)
    return (one.st_dev, one.st_ino) == (two.st_dev, two.st_ino)


def rename_new(name: str, from_fd: int, new_name: str, to_fd: int) -> bool:
    """Give NAME (in FROM_FD) the name NEW_NAME (in TO_FD), never over
    what is there: False when NEW_NAME is another file (nothing changed).
    renameat2(RENAME_NOREPLACE) where the system has it, else link(2), then
    unlink(2): where a repair killed between the two left both names on
    one file, the old one is let go."""
    global _renameat2
    if _renameat2 is not None:  # the queue's names are ASCII: no fsencode needed
        if _renameat2(from_fd, name.encode(), to_fd, new_name.encode(), RENAME_NOREPLACE) == 0:
            return True
        error = ctypes.get_errno()
        if error == errno.EEXIST:
            return unlink_if_same(name, from_fd, new_name, to_fd)
        if error not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise OSError(error, os.strerror(error), name)
        _renameat2 = None  # a file system without it: link and unlink from now on
    try:
        os.link(name, new_name, src_dir_fd=from_fd, dst_dir_fd=to_fd, follow_symlinks=False)
    except FileExistsError:
        return unlink_if_same(name, from_fd, new_name, to_fd)
    os.unlink(name, dir_fd=from_fd)
    return True


def unlink_if_same(name: str, from_fd: int, new_name: str, to_fd: int) -> bool:
    if not same_file(name, from_fd, new_name, to_fd):
        return False
    os.unlink(name, dir_fd=from_fd)
    return True


def room_for_directories(count: int) -> None:
    """Let this process hold COUNT more open directories (a survey keeps
    each of the queue's open: 4 x conf-split and more): the soft limit of
    open files raised up to the hard one; OSError EMFILE naming both
    where even that is not enough (OperationFailed)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = count + 64  # and the few files a run has open besides
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return
    if hard != resource.RLIM_INFINITY and hard < wanted:
        raise OperationFailed(f"the queue's {count} directories need {wanted} open files, and the limit is {hard} "
                              "(ulimit -Hn): raise it")
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
