"""Owners, groups and modes against what qmail's installer and qmail
itself leave (check's queue.owner), and putting them back (repair).

After a restore onto a host whose accounts have other numbers, or a
renumber, the queue belongs to numbers that no longer match qmailq,
qmails, qmailr or the qmail group, and qmail fails with "Sorry, message
has wrong owner (#4.3.5)" or worse. A wrong entry costs a count and, for
the first few, an example: a queue of 300,000 wrong entries costs no list.
"""

from __future__ import annotations

import errno
import functools
import os
import stat

from qmailsetup.hostio import kind_of
from qmailsetup.observe import HostState
from qmailsetup.queue.model import FILE_MODES, Expect

EXAMPLES = 5


class Owners:
    """Entries judged, those that differ counted with examples, and the
    commands that would put them back."""

    def __init__(self, host: HostState, shown_queue: str) -> None:
        self.queue = shown_queue
        self.seen = 0
        self.wrong = 0
        self.examples: list[str] = []
        # what the commands will be about, in the walk's order
        self.chowns: dict[tuple, None] = {}
        self.chmods: dict[tuple, None] = {}
        self.unknown_uids: set[int] = set()
        self.unknown_gids: set[int] = set()
        # who holds an ID, asked once per ID: 300,000 entries have a few owners
        self.user_of = functools.cache(host.users.holder)
        self.group_of = functools.cache(host.groups.holder)
        # how files of a message directory differed, once told: the next
        # that differs the same way is only counted (a restore: 300,000 alike)
        self.told: set[tuple] = set()
        self.last: tuple | None = None  # the last such file's (uid, gid, st_mode), in the directories read now

    def judge(self, path: str, info: os.stat_result, expect: Expect, top: str) -> bool:
        """Whether PATH (relative to the queue; TOP its directory there) is
        as EXPECT says; counted either way."""
        self.seen += 1
        if expect.holds(info):
            return True
        # from here on once per wrong entry, perhaps 300,000 times: no strings but the examples
        self.wrong += 1
        if top in FILE_MODES and len(self.examples) >= EXAMPLES:
            how = (top, path == top, id(expect), info.st_uid, info.st_gid, info.st_mode)
            if path != top:
                self.last = how[3:]
            if how in self.told:
                return False
            self.told.add(how)
        if self.user_of(info.st_uid) is None:
            self.unknown_uids.add(info.st_uid)
        if self.group_of(info.st_gid) is None:
            self.unknown_gids.add(info.st_gid)
        same_type = stat.S_IFMT(info.st_mode) == stat.S_IFMT(expect.mode)
        if len(self.examples) < EXAMPLES:
            user, group = self.user_of(info.st_uid), self.group_of(info.st_gid)
            found = f"{user or info.st_uid}:{group or info.st_gid} {stat.S_IMODE(info.st_mode):04o}"
            if not same_type:
                found += f" ({kind_of(info.st_mode)})"
            self.examples.append(f"{path} is {found} (wants {expect.wanted()})")
        whole = top in FILE_MODES  # one command for the whole directory
        owned = info.st_uid == expect.uid and (expect.gid is None or info.st_gid == expect.gid)
        if not (owned and same_type):
            self.chowns[(top, expect.owner, expect.group, True) if whole else (path, expect.owner, expect.group, False)] = None
        if stat.S_IMODE(info.st_mode) != expect.permissions:
            kind = stat.S_IFMT(expect.mode)
            self.chmods[(top, kind, expect.permissions, True) if whole and path != top
                        else (path, kind, expect.permissions, False)] = None
        return False

    def alike(self, info: os.stat_result) -> bool:
        """Whether INFO differs as the last file told of did (in the files
        of the kind read now; reset self.last between kinds): counted only."""
        if self.last is None or self.last != (info.st_uid, info.st_gid, info.st_mode):
            return False
        self.seen += 1
        self.wrong += 1
        return True

    def commands(self) -> str:
        def full(path: str) -> str:
            return self.queue if path == "." else f"{self.queue}/{path}"

        commands = [
            f"chown {'-R ' if whole else ''}{owner}:{group} {full(path)}" for path, owner, group, whole in self.chowns
        ]
        commands += [
            f"find {full(path)} -type {'d' if kind == stat.S_IFDIR else 'f'} ! -perm {mode:04o} -exec chmod {mode:04o} {{}} +"
            if whole else f"chmod {mode:04o} {full(path)}"
            for path, kind, mode, whole in self.chmods
        ]
        return "; ".join(commands)

    def message(self) -> str:
        examples = ", ".join(self.examples) + (", ..." if self.wrong > EXAMPLES else "")
        message = f"{self.wrong} of {self.seen} entries under {self.queue} differ from what qmail sets: {examples}"
        unknown = [f"uid {n}" for n in sorted(self.unknown_uids)] + [f"gid {n}" for n in sorted(self.unknown_gids)]
        if unknown:
            verb = "belongs" if len(unknown) == 1 else "belong"
            message += f"; {', '.join(unknown)} {verb} to no account (left from before a renumber or a restore?)"
        return message


def fix_entry(dir_fd: int, name: str, info: os.stat_result, expect: Expect) -> None:
    """Give NAME in DIR_FD EXPECT's owner (its group too, unless any will
    do) and mode, through a descriptor of the very file lstat saw as INFO:
    chmod or chown by name would follow a link put there meanwhile."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    fd = os.open(name, flags, dir_fd=dir_fd)
    try:
        fix_fd(fd, info, expect)
    finally:
        os.close(fd)


def fix_fd(fd: int, info: os.stat_result, expect: Expect) -> None:
    now = os.fstat(fd)
    if (now.st_dev, now.st_ino) != (info.st_dev, info.st_ino):
        raise OSError(errno.ESTALE, "replaced while the repair ran")
    gid = -1 if expect.gid is None else expect.gid
    if now.st_uid != expect.uid or (gid != -1 and now.st_gid != gid):
        os.fchown(fd, expect.uid, gid)
    if stat.S_IMODE(now.st_mode) != expect.permissions:
        os.fchmod(fd, expect.permissions)
