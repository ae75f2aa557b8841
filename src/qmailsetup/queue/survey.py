"""The one walk of the queue behind check, a repair's dry run and a repair.

It judges every entry once; with ACT it also changes what it judged, and
without it only counts what it would change: the check, the dry run and
the repair are the same code, so the plan shown is the plan carried out.

A message is correct when its file is mess/(I % split)/I, I being its
inode, and each entry of its number (todo, info, intd, local, remote,
bounce) is where qmail looks for it. An entry belongs to the message file
named as it is; a repair gives each other message its inode for a name,
with all its entries (moves.py), in this order (docs/queue.md, "Repair",
says why):

1. read mess/: the index of every message file (walk.Messages);
2. read todo, info, then intd, local, remote, bounce: what no message
   explains goes into the quarantine, and, that done, the lock file says
   so (lock.py, orphans_gone);
3. read them again: owners and modes; each entry of a message to rename
   takes its new name, or, where another message still holds that name,
   the same with STAGED appended (I.qmailsetup, a name qmail never reads);
4. each message file to rename likewise, after every entry of its own;
5. each staged name its final one.

Once no orphan is left, an entry named after the inode I of a message
file that nothing else is named after can only be that message's, moved
by a repair; before, it may be an orphan that happens to carry the
number. So a repair killed at any moment is finished by the next, which
reads every name as what it is.
"""

from __future__ import annotations

import os
import stat
from array import array
from bisect import bisect_left

from qmailsetup.hostio import kind_of
from qmailsetup.observe import HostState
from qmailsetup.queue.model import ENVELOPES, MESSAGE, PIDS, STAGED, Expect, Kind, QueueModel
from qmailsetup.queue.moves import BITS, NO_SPLIT, Moves
from qmailsetup.queue.owners import Owners, fix_entry, fix_fd
from qmailsetup.queue.quarantine import INSIDE, Quarantine, earlier_runs
from qmailsetup.queue.structure import Structure
from qmailsetup.queue.tally import Tally
from qmailsetup.queue.walk import Messages, number, room_for_directories, staged_number

NO_RUN = (0, 0, 0, 0, 0)  # walk.Messages.runs of a directory without messages
# what explain() makes of an entry
HOME, MOVE, STAGED_NAME, ORPHAN, NEW = "home", "move", "staged", "orphan", "new"


class Survey(Structure, Moves):
    def __init__(self, model: QueueModel, host: HostState, queue_fd: int | None, act: bool, *,
                 holds_lock: bool = False, tally: Tally | None = None, orphans_gone: bool = False) -> None:
        self.model = model
        self.split = model.split
        self.queue_fd = queue_fd
        self.act = act
        # a repair, which takes lock/sendmutex away while it runs
        self.holds_lock = holds_lock
        # no entry is left that no message explains (lock.py)
        self.orphans_gone = orphans_gone
        self.tally = Tally() if tally is None else tally
        self.owners = Owners(host, model.location.shown)
        self.messages = Messages()
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
        room_for_directories(model.directories())
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
        if count:
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

    # -- the walk

    def run(self) -> None:
        self.structure()
        self.walk_messages()

    def walk_messages(self, orphans_gone=None) -> None:
        """Steps 1 to 5; ORPHANS_GONE, called once step 2 is done, records
        it (a repair's lock)."""
        self.read_messages()
        if self.act:
            self.read_envelopes(moving=False)
            self.sync()
            if orphans_gone is not None:
                orphans_gone()
            self.orphans_gone = True
        self.read_envelopes(moving=True)
        self.read_pids()
        self.move_messages()
        if self.act:
            self.finish()
        self.tidy()
        self.sync()

    def sync(self) -> None:
        for fd in self.touched:
            os.fsync(fd)
        self.touched = set()

    def read_messages(self) -> None:
        kind = self.model.kinds[MESSAGE]
        mode, uid = kind.file.mode, kind.file.uid  # any group: qmail-queue's files
        owners, split, seen = self.owners, self.split, 0
        for split_dir, fd, relative in self.leaves.get(MESSAGE, []):
            run: list[tuple[bool, int, int]] = []  # (staged, name, inode)
            plain = True
            with os.scandir(fd) as entries:
                for entry in entries:
                    name = entry.name
                    info = entry.stat(follow_symlinks=False)
                    if info.st_mode == mode and info.st_uid == uid:
                        seen += 1
                        fine = True
                    else:
                        fine = owners.judge(f"{relative}/{name}", info, kind.file, MESSAGE)
                    if (fine or stat.S_ISREG(info.st_mode)) and name.isdigit() and name.isascii() and (
                            name[0] != "0" and int(name) == info.st_ino and info.st_ino % split == split_dir):
                        # the common case, a message where qmail-queue put it, first and fast
                        run.append((False, info.st_ino, info.st_ino))
                        if not fine:
                            self.fix(fd, name, f"{relative}/{name}", info, kind.file)
                        continue
                    plain = False
                    name_number = number(name) if stat.S_ISREG(info.st_mode) else None
                    if name_number is not None:
                        run.append((False, name_number, info.st_ino))
                    elif not self.odd_message(fd, relative, name, info, run):
                        continue
                    if not fine:
                        self.fix(fd, name, f"{relative}/{name}", info, kind.file)
            if run:
                self.messages.add_run(split_dir, run)
            if plain:
                self.plain.add(split_dir)
        owners.seen += seen
        self.messages.mark_shared(split, self.plain)

    def odd_message(self, fd: int, relative: str, name: str, info, run: list) -> bool:
        """A file in mess/ without a number for its name: a repair's staged
        name (added to RUN; True), else kept in the quarantine."""
        path = f"{relative}/{name}"
        if not stat.S_ISREG(info.st_mode):
            self.keep(fd, name, path, f"{kind_of(info.st_mode)}, not a message")
            return False
        if staged_number(name, STAGED) != info.st_ino:
            self.keep(fd, name, path, "not a message's name")
            return False
        run.append((True, info.st_ino, info.st_ino))
        self.tally.add("finish", path)
        return True

    def read_envelopes(self, moving: bool) -> None:
        """Step 2 (not MOVING: only what no message explains, into the
        quarantine) or 3; a check or a dry run does both in one."""
        messages, split = self.messages, self.split
        names, inodes, shared, found, runs = (messages.names, messages.inodes, messages.shared, messages.found,
                                              messages.runs)
        seen = 0
        for kind_name in ENVELOPES:
            kind = self.model.kinds.get(kind_name)
            if kind is None:
                continue
            mode, uid, gid = kind.file.mode, kind.file.uid, kind.file.gid
            bit = BITS.get(kind_name, 0)
            pending = array("Q")
            for split_dir, fd, relative in self.leaves.get(kind_name, []):
                low, high, _, _, _ = runs.get(split_dir, NO_RUN)
                with os.scandir(fd) as entries:
                    for entry in entries:
                        name = entry.name
                        if not moving:
                            self.sort_out(kind, split_dir, fd, relative, entry)
                            continue
                        info = entry.stat(follow_symlinks=False)
                        if info.st_mode == mode and info.st_uid == uid and (gid is None or info.st_gid == gid):
                            seen += 1
                            fine = True
                        else:
                            fine = self.owners.judge(f"{relative}/{name}", info, kind.file, kind_name)
                        # the common case, a message's entry where qmail put it, first and fast
                        if (fine or stat.S_ISREG(info.st_mode)) and name.isdigit() and name.isascii() and name[0] != "0":
                            name_number = int(name)
                            if split_dir is None:
                                low, high, _, _, _ = runs.get(name_number % split, NO_RUN)
                            at = bisect_left(names, name_number, low, high)
                            if (at < high and names[at] == name_number and inodes[at] == name_number
                                    and not shared[at] and (split_dir is None or split_dir == name_number % split)):
                                found[at] |= bit
                                if not fine:
                                    self.fix(fd, name, f"{relative}/{name}", info, kind.file)
                                continue
                        self.envelope(kind, split_dir, fd, relative, name, info, pending, fine)
            if moving:
                self.stage(kind, pending)
        self.owners.seen += seen

    def sort_out(self, kind: Kind, split_dir, fd: int, relative: str, entry: os.DirEntry) -> None:
        """Step 2 for one entry: told from its name and type alone."""
        if not entry.is_file(follow_symlinks=False):
            return  # judged, and kept in the quarantine, in step 3
        verdict, _, reason = self.explain(kind, split_dir, entry.name)
        if verdict == ORPHAN:
            self.keep(fd, entry.name, f"{relative}/{entry.name}", reason)

    def explain(self, kind: Kind, split_dir, name: str) -> tuple[str, int | None, str | None]:
        """What the entry NAME of KIND (in SPLIT_DIR) is: (HOME, MOVE,
        STAGED_NAME, ORPHAN or NEW, its message's position, why an orphan)."""
        messages, split = self.messages, self.split
        name_number = number(name)
        if name_number is None:
            staged = staged_number(name, STAGED)
            position = None if staged is None else messages.with_inode(staged, staged % split)
            if position is None:
                return ORPHAN, None, "not a message's name" if staged is None else f"no message {staged}"
            messages.found[position] |= BITS.get(kind.name, 0)
            return STAGED_NAME, position, None
        position = messages.named(name_number, split_dir if kind.split else name_number % split)
        if position is None:
            position = messages.with_inode(name_number, name_number % split)
            if position is None or not (self.orphans_gone or messages.staged[position]):
                return (NEW, None, None) if self.queued_since(name_number) else (ORPHAN, None, f"no message {name_number}")
        elif messages.shared[position]:
            return ORPHAN, None, f"two message files are named {name_number}"
        messages.found[position] |= BITS.get(kind.name, 0)
        inode = messages.inodes[position]
        if name_number == inode and (not kind.split or split_dir == inode % split):
            return HOME, position, None
        if kind.name not in BITS and self.moving(position) and not messages.found[position]:
            return ORPHAN, None, f"message {name_number} has neither todo nor info"
        return MOVE, position, None

    def envelope(self, kind: Kind, split_dir, fd: int, relative: str, name: str, info, pending: array,
                 fine: bool) -> None:
        """Step 3 (or a check's one pass) for an entry off the fast path,
        judged already (FINE)."""
        path = f"{relative}/{name}"
        if not stat.S_ISREG(info.st_mode):
            self.keep(fd, name, path, f"{kind_of(info.st_mode)}, not a file")
            return
        verdict, position, reason = self.explain(kind, split_dir, name)
        if verdict == ORPHAN:
            self.keep(fd, name, path, reason)
            return
        if verdict == NEW:
            return
        if verdict == STAGED_NAME:
            self.tally.add("finish", path)
        elif verdict == MOVE:
            inode = self.messages.inodes[position]
            new = f"{kind.name}/{inode % self.split}/{inode}" if kind.split else f"{kind.name}/{inode}"
            self.tally.add("rename", f"{path} -> {new}" if self.tally.wants("rename") else None)
            pending.extend((NO_SPLIT if split_dir is None else split_dir + 1, int(name), position))
        if not fine:
            self.fix(fd, name, path, info, kind.file)

    def moving(self, position: int) -> bool:
        """Whether the message file at POSITION is to be renamed."""
        messages = self.messages
        inode = messages.inodes[position]
        return not messages.staged[position] and (
            messages.names[position] != inode or messages.dirs[position] != inode % self.split)

    def queued_since(self, name: int) -> bool:
        """Whether mess/ holds NAME now, at its place: a message
        qmail-queue made after mess/ was read, not an orphan."""
        mess = self.fds.get(f"{MESSAGE}/{name % self.split}")
        return mess is not None and self.lstat(str(name), mess) is not None

    def read_pids(self) -> None:
        kind = self.model.kinds.get(PIDS)
        if kind is None:
            return
        for _, fd, relative in self.leaves.get(PIDS, []):
            with os.scandir(fd) as entries:
                for entry in entries:
                    info = entry.stat(follow_symlinks=False)
                    path = f"{relative}/{entry.name}"
                    self.tally.add("pid", path)
                    if not self.owners.judge(path, info, kind.file, PIDS) and stat.S_ISREG(info.st_mode):
                        self.fix(fd, entry.name, path, info, kind.file)
