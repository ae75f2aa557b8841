"""A survey's state (survey.py): what it knows of the queue as it walks,
and the changes it counts and, with ACT, makes; structure.py, moves.py and
survey.py each do a part of the walk on it."""

from __future__ import annotations

import os
import stat

from qmailsetup.observe import HostState
from qmailsetup.queue.model import Expect, QueueModel
from qmailsetup.queue.owners import Owners, fix_entry, fix_fd
from qmailsetup.queue.quarantine import INSIDE, Quarantine, earlier_runs
from qmailsetup.queue.tally import Tally
from qmailsetup.queue.walk import Messages, names, open_directory, room_for_directories


def directories_to_hold(model: QueueModel, queue_fd: int | None) -> int:
    """How many directories a survey of the queue QUEUE_FD holds open:
    the model's, or more where a larger conf-split left more split
    directories (a queue from a host of conf-split 1000 holds 4,000)."""
    found = 0
    for kind in model.kinds.values():
        if queue_fd is None or not kind.split:
            continue
        try:
            fd = open_directory(kind.name, queue_fd)
        except OSError:
            continue  # judged, and made or kept, by the survey
        try:
            found += sum(1 for _ in names(fd))
        finally:
            os.close(fd)
    return max(model.directories(), found + len(model.kinds) + 16)


class Surveyor:
    """What a survey knows as it walks, and the changes it counts (and,
    with ACT, makes): the state structure.py, moves.py and survey.py share."""

    def __init__(self, model: QueueModel, host: HostState, queue_fd: int | None, act: bool, *,
                 holds_lock: bool = False, tally: Tally | None = None, orphans_gone: bool = False,
                 plan: bool = True) -> None:
        self.model = model
        # count the changes a repair makes (check has no use for them)
        self.plan = plan or act
        self.split = model.split
        self.queue_fd = queue_fd
        self.act = act
        # a repair, which takes lock/sendmutex away while it runs
        self.holds_lock = holds_lock
        # no entry is left that no message explains (lock.py)
        self.orphans_gone = orphans_gone
        self.tally = Tally() if tally is None else tally
        self.owners = Owners(host, model.location.shown)
        self.messages = Messages(model.split)
        self.fds: dict[str, int] = {} if queue_fd is None else {".": queue_fd}
        self.leaves: dict[str, list[tuple[int | None, int, str]]] = {}
        self.touched: set[int] = set()
        # mess/ directories whose files are all named after their inodes, where they belong
        self.plain: set[int] = set()
        self.interrupted = False
        self._quarantine: Quarantine | None = None
        self.inside_quarantine = None
        # what earlier repairs kept, as this one starts
        self.quarantine_runs: list[str] = []
        room_for_directories(directories_to_hold(model, queue_fd))
        if queue_fd is not None:
            self._quarantine = Quarantine(queue_fd, model.location.real, model.location.shown, act, self.tally)
            self.inside_quarantine = INSIDE if self._quarantine.name == INSIDE else None
            self.quarantine_runs = earlier_runs(self._quarantine)

    @property
    def quarantine_path(self) -> str | None:
        return None if self._quarantine is None else self._quarantine.shown

    @property
    def quarantine_base(self) -> str | None:
        return None if self._quarantine is None else self._quarantine.shown_base

    def close(self) -> None:
        for relative, fd in self.fds.items():
            if relative != ".":
                os.close(fd)
        if self._quarantine is not None:
            self._quarantine.close()

    def expect(self, relative: str) -> Expect:
        top = relative.split("/")[0]
        if top in self.model.kinds:
            return self.model.kinds[top].directory
        return next(f.expect for f in self.model.fixed if f.path == relative)

    # -- changes, counted; made only with ACT

    def fix(self, dir_fd: int, name: str, relative: str, info, expect: Expect, count: bool = True) -> None:
        if count and self.plan:
            self.count_fix(relative, info, expect)
        if self.act:
            fix_entry(dir_fd, name, info, expect)

    def fix_fd(self, fd: int, relative: str, info, expect: Expect) -> None:
        self.count_fix(relative, info, expect)
        if self.act:
            fix_fd(fd, info, expect)

    def count_fix(self, relative: str, info, expect: Expect) -> None:
        if info.st_uid != expect.uid or (expect.gid is not None and info.st_gid != expect.gid):
            group = f":{expect.group}" if expect.gid is not None else ""
            self.tally.add("chown", f"{relative} -> {expect.owner}{group}" if self.tally.wants("chown") else None)
        if stat.S_IMODE(info.st_mode) != expect.permissions:
            self.tally.add("chmod", f"{relative} -> {expect.permissions:04o}" if self.tally.wants("chmod") else None)

    def keep(self, dir_fd: int | None, name: str, relative: str, reason: str) -> None:
        """What cannot be explained: into the quarantine, never deleted."""
        if self._quarantine is None or dir_fd is None:
            self.tally.add("quarantine", f"{relative} ({reason})")
            return
        self._quarantine.keep(dir_fd, name, relative, reason)
        self.touched.add(dir_fd)

    def foreign(self, info: os.stat_result, expect: Expect, partner: tuple[int | None, str] | None = None) -> bool:
        """A file with another name elsewhere that is not its expected
        owner's: perhaps another's (a link to /etc/master.passwd, or to a
        user's file, which the BSDs let anyone make): never chowned nor
        chmoded, kept in the quarantine. PARTNER (a directory and a name)
        is the one other name the file may have in the queue: a queued
        message's intd and todo entries are one file (qmail-queue)."""
        if stat.S_ISDIR(info.st_mode) or info.st_nlink < 2 or info.st_uid == expect.uid:
            return False
        if partner is None or partner[0] is None or info.st_nlink > 2:
            return True
        other = self.lstat(partner[1], partner[0])
        return other is None or (other.st_dev, other.st_ino) != (info.st_dev, info.st_ino)

    @staticmethod
    def foreign_reason(info: os.stat_result) -> str:
        return f"{'root' if info.st_uid == 0 else f'uid {info.st_uid}'}'s, with another name elsewhere"

    def lstat(self, name: str, dir_fd: int) -> os.stat_result | None:
        try:
            return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def moving(self, position: int) -> bool:
        """Whether the message file at POSITION is to be renamed."""
        messages = self.messages
        inode = messages.inodes[position]
        return not messages.staged[position] and (
            messages.names[position] != inode or messages.dirs[position] != inode % self.split)
