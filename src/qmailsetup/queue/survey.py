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

from qmailsetup.errors import OperationFailed
from qmailsetup.hostio import kind_of
from qmailsetup.queue.model import ENVELOPES, INTD, MESSAGE, PIDS, STAGED, TODO, Kind
from qmailsetup.queue.moves import BITS, NO_SPLIT, Moves
from qmailsetup.queue.structure import Structure
from qmailsetup.queue.walk import number, staged_number

NO_RUN = (0, 0, 0, 0, 0)  # walk.Messages.runs of a directory without messages
# for bytes.translate: each byte with a bit of moves.BITS set
OR_BIT = {bit: bytes(byte | bit for byte in range(256)) for bit in BITS.values()}
# what explain() makes of an entry
HOME, MOVE, STAGED_NAME, ORPHAN, NEW = "home", "move", "staged", "orphan", "new"


class Survey(Structure, Moves):
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
        owners.last = None
        for split_dir, fd, relative in self.leaves.get(MESSAGE, []):
            if split_dir is None:  # every installation splits mess/ (model.py)
                raise OperationFailed(f"{self.model.install.name}: mess is not split")
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
                        fine = not owners.alike(info) and owners.judge(f"{relative}/{name}", info, kind.file, MESSAGE)
                    if (fine or (stat.S_ISREG(info.st_mode) and not self.foreign(info, kind.file))) and (
                            name.isdigit() and name.isascii() and name[0] != "0" and int(name) == info.st_ino
                            and info.st_ino % split == split_dir):
                        # the common case, a message where qmail-queue put it, first and fast
                        run.append((False, info.st_ino, info.st_ino))
                        if not fine:
                            self.fix(fd, name, f"{relative}/{name}", info, kind.file)
                        continue
                    plain = False
                    if not fine and self.foreign(info, kind.file):
                        self.keep(fd, name, f"{relative}/{name}", self.foreign_reason(info))
                        continue
                    name_number = number(name) if stat.S_ISREG(info.st_mode) else None
                    if name_number is not None:
                        run.append((False, name_number, info.st_ino))
                    elif not self.odd_message(fd, relative, name, info, run):
                        continue
                    if not fine:
                        self.fix(fd, name, f"{relative}/{name}", info, kind.file)
            if run:
                self.messages.add_run(split_dir, run, plain)
            if plain:
                self.plain.add(split_dir)
        owners.seen += seen
        self.messages.mark_shared()

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
        seen, owners = 0, self.owners
        for kind_name in ENVELOPES:
            kind = self.model.kinds.get(kind_name)
            if kind is None:
                continue
            owners.last = None
            mode, uid, gid = kind.file.mode, kind.file.uid, kind.file.gid
            bit = BITS.get(kind_name, 0)
            pending = array("Q")
            for split_dir, fd, relative in self.leaves.get(kind_name, []):
                low, high, _, _, _ = NO_RUN if split_dir is None else runs.get(split_dir, NO_RUN)
                # where mess/ of the same number holds only messages at their place,
                # the entries qmail wrote as it does are told in bulk (below)
                bulk: list[str] | None = [] if moving and split_dir in self.plain else None
                unfixed: set[str] = set()  # of the bulk: fixed once all are known to be messages' entries
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
                            fine = not owners.alike(info) and owners.judge(f"{relative}/{name}", info, kind.file, kind_name)
                        ours = fine or (stat.S_ISREG(info.st_mode) and
                                        not self.foreign(info, kind.file, self.partner(kind, split_dir, name)))
                        if bulk is not None and ours:
                            if not fine:
                                unfixed.add(name)
                            bulk.append(name)
                            continue
                        # the common case, a message's entry where qmail put it, first and fast
                        if ours and name.isdigit() and name.isascii() and name[0] != "0":
                            name_number = int(name)
                            if split_dir is None:
                                low, high, _, _, _ = runs.get(name_number % split, NO_RUN)
                            at = bisect_left(names, name_number, low, high)
                            if at < high and names[at] == name_number and not shared[at]:
                                found[at] |= bit
                                if bit == 0 and not found[at] and self.moving(at):
                                    # its message, without todo or info, goes into the quarantine
                                    self.envelope(kind, split_dir, fd, relative, name, info, pending, fine)
                                    continue
                                if inodes[at] != name_number or (split_dir is not None and
                                                                 split_dir != name_number % split):
                                    # the next most common: its message is to be renamed (a restored queue)
                                    self.rename(kind, split_dir, relative, name_number, at, pending)
                                if not fine:
                                    self.fix_envelope(kind, split_dir, fd, name, f"{relative}/{name}", info)
                                continue
                        self.envelope(kind, split_dir, fd, relative, name, info, pending, fine)
                if bulk:
                    home = self.at_home(bulk, low, high, bit)
                    for name in unfixed if home else bulk:
                        info = os.stat(name, dir_fd=fd, follow_symlinks=False)
                        if home:
                            self.fix_envelope(kind, split_dir, fd, name, f"{relative}/{name}", info)
                        else:
                            self.envelope(kind, split_dir, fd, relative, name, info, pending, name not in unfixed)
            if moving:
                self.stage(kind, pending)
        owners.seen += seen

    def at_home(self, entries: list[str], low: int, high: int, bit: int) -> bool:
        """Whether the ENTRIES of one split directory are each named as
        qmail writes a number and name a message of the run LOW..HIGH of
        mess/ (one whose files are all named after their inodes, at their
        place), told with C's loops: then BIT is set for those messages.
        False (nothing set) when one is not: each is then told alone."""
        try:
            numbers = sorted(map(int, entries))
        except ValueError:
            return False
        if list(map(str, numbers)) != sorted(entries, key=int):  # a leading zero, a sign, a space, other digits
            return False
        run = self.messages.names[low:high]
        if numbers == run.tolist():
            if bit:
                self.messages.found[low:high] = self.messages.found[low:high].translate(OR_BIT[bit])
            return True
        if not set(numbers) <= set(run):
            return False
        if bit:
            found, names = self.messages.found, self.messages.names
            for number in numbers:
                found[bisect_left(names, number, low, high)] |= bit
        return True

    def sort_out(self, kind: Kind, split_dir, fd: int, relative: str, entry: os.DirEntry) -> None:
        """Step 2 for one entry: told from its name and type alone."""
        if not entry.is_file(follow_symlinks=False):
            return  # judged, and kept in the quarantine, in step 3
        verdict, _, reason = self.explain(kind, split_dir, entry.name)
        if verdict == ORPHAN:
            self.keep(fd, entry.name, f"{relative}/{entry.name}", reason)

    def explain(self, kind: Kind, split_dir, name: str) -> tuple[str, int, str]:
        """What the entry NAME of KIND (in SPLIT_DIR) is: (HOME, MOVE,
        STAGED_NAME, ORPHAN or NEW, its message's position (-1 for none),
        why an orphan)."""
        messages, split = self.messages, self.split
        name_number = number(name)
        if name_number is None:
            staged = staged_number(name, STAGED)
            position = None if staged is None else messages.with_inode(staged)
            if position is None:
                return ORPHAN, -1, "not a message's name" if staged is None else f"no message {staged}"
            messages.found[position] |= BITS.get(kind.name, 0)
            return STAGED_NAME, position, ""
        position = messages.named(name_number)
        if position is None:
            position = messages.with_inode(name_number)
            if position is None or not (self.orphans_gone or messages.staged[position]):
                return (NEW, -1, "") if self.queued_since(name_number) else (ORPHAN, -1, f"no message {name_number}")
        elif messages.shared[position]:
            return ORPHAN, -1, f"two message files are named {name_number}"
        messages.found[position] |= BITS.get(kind.name, 0)
        if kind.name not in BITS and self.moving(position) and not messages.found[position]:
            # its message goes into the quarantine (move_message): it goes with it
            return ORPHAN, -1, f"message {name_number} has neither todo nor info"
        inode = messages.inodes[position]
        if name_number == inode and (not kind.split or split_dir == inode % split):
            return HOME, position, ""
        return MOVE, position, ""

    def envelope(self, kind: Kind, split_dir, fd: int, relative: str, name: str, info, pending: array,
                 fine: bool) -> None:
        """Step 3 (or a check's one pass) for an entry off the fast path,
        judged already (FINE)."""
        path = f"{relative}/{name}"
        if not stat.S_ISREG(info.st_mode):
            self.keep(fd, name, path, f"{kind_of(info.st_mode)}, not a file")
            return
        if not fine and self.foreign(info, kind.file, self.partner(kind, split_dir, name)):
            self.keep(fd, name, path, self.foreign_reason(info))
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
            self.rename(kind, split_dir, relative, int(name), position, pending)
        if not fine:
            self.fix_envelope(kind, split_dir, fd, name, path, info)

    def partner(self, kind: Kind, split_dir: int | None, name: str) -> tuple[int | None, str] | None:
        """Where the other name of a queued message's todo or intd entry
        is (qmail-queue links todo/I to intd/I): for Surveyor.foreign."""
        other = {TODO: INTD, INTD: TODO}.get(kind.name)
        if other is None:
            return None
        return self.fds.get(other if split_dir is None else f"{other}/{split_dir}"), name

    def fix_envelope(self, kind: Kind, split_dir: int | None, fd: int, name: str, path: str, info) -> None:
        """fix() for the entry NAME of KIND. A queued message's intd entry
        is its todo entry's file (qmail-queue links todo/I to intd/I,
        docs/queue.md), fixed with it, todo being read first: a dry run
        counts it once, as a repair changes it once."""
        if not self.act and kind.name == INTD and info.st_nlink > 1:
            todo = self.fds.get(TODO if split_dir is None else f"{TODO}/{split_dir}")
            same = None if todo is None else self.lstat(name, todo)
            if same is not None and (same.st_dev, same.st_ino) == (info.st_dev, info.st_ino):
                return
        self.fix(fd, name, path, info, kind.file)

    def rename(self, kind: Kind, split_dir: int | None, relative: str, name: int, position: int,
               pending: array) -> None:
        """The entry NAME of the message at POSITION, to take its new name
        (stage, in moves.py, once KIND is read)."""
        if self.tally.wants("rename"):
            inode = self.messages.inodes[position]
            new = f"{kind.name}/{inode % self.split}/{inode}" if kind.split else f"{kind.name}/{inode}"
            self.tally.add("rename", f"{relative}/{name} -> {new}")
        else:
            self.tally.add("rename")
        if self.act:
            pending.extend((NO_SPLIT if split_dir is None else split_dir + 1, name, position))

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
                self.owners.last = None
                for entry in entries:
                    info = entry.stat(follow_symlinks=False)
                    path = f"{relative}/{entry.name}"
                    self.tally.add("pid", path)
                    if self.owners.judge(path, info, kind.file, PIDS) or not stat.S_ISREG(info.st_mode):
                        continue
                    if self.foreign(info, kind.file):
                        self.keep(fd, entry.name, path, self.foreign_reason(info))
                    else:
                        self.fix(fd, entry.name, path, info, kind.file)
