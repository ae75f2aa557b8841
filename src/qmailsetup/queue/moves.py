"""A survey's renames (survey.py, steps 3 to 5): each entry of a message
to rename, then the message file, to the message's inode; each through
walk.rename_new, which never replaces what is there, so an entry always
has a name, its old, its staged or its final one."""

from __future__ import annotations

import os
from array import array

from qmailsetup.queue.model import ENVELOPES, MESSAGE, STAGED, Kind
from qmailsetup.queue.surveyor import Surveyor
from qmailsetup.queue.walk import names, rename_new, staged_number, unlink_if_same

# walk.Messages.found: the envelopes that tell qmail-send of a message
TODO, INFO = 1, 2
BITS = {"todo": TODO, "info": INFO}
NO_SPLIT = 0  # a pending move's directory, +1, where the kind is not split


class Moves(Surveyor):
    """The part of a survey (survey.py) that renames."""

    def directory_of(self, kind: str, split_dir: int | None) -> int:
        return self.fds[kind if split_dir is None else f"{kind}/{split_dir}"]

    def contested(self, inode: int, position: int) -> bool:
        """Whether another message file than POSITION's is named INODE:
        its entries may hold that name, so it is not free yet (the entry
        goes to its staged name, the final one in step 5)."""
        other = self.messages.named(inode)
        return other is not None and other != position

    def stage(self, kind: Kind, pending: array) -> None:
        """Step 3's renames, once all of KIND was read: a directory read
        while names are added to it may or may not list them."""
        if not self.act:
            return
        messages = self.messages
        for at in range(0, len(pending), 3):
            where, name, position = pending[at:at + 3]
            split_dir = None if where == NO_SPLIT else where - 1
            inode = messages.inodes[position]
            from_fd = self.directory_of(kind.name, split_dir)
            to_fd = self.directory_of(kind.name, inode % self.split if kind.split else None)
            moved = not self.contested(inode, position) and rename_new(str(name), from_fd, str(inode), to_fd)
            if not moved and not rename_new(str(name), from_fd, f"{inode}{STAGED}", to_fd):
                relative = f"{kind.name}/{split_dir}/{name}" if kind.split else f"{kind.name}/{name}"
                self.keep(from_fd, str(name), relative, f"a second {kind.name} entry for message {inode}")
            self.touched.update((from_fd, to_fd))

    def move_messages(self) -> None:
        """Step 4: the message files, after every entry of theirs."""
        messages = self.messages
        for split_dir, (start, _, end, _, _) in messages.runs.items():
            if split_dir in self.plain and messages.found.find(0, start, end) < 0:
                continue  # every message there is where qmail put it, with an envelope
            for position in range(start, end):
                self.move_message(position)

    def move_message(self, position: int) -> None:
        messages = self.messages
        if messages.staged[position]:
            return
        name, inode, split_dir = messages.names[position], messages.inodes[position], messages.dirs[position]
        path = f"{MESSAGE}/{split_dir}/{name}"
        fd = self.fds[f"{MESSAGE}/{split_dir}"]
        twin = messages.twin(position) if self.moving(position) else None
        if twin is not None and not self.moving(twin) and not messages.shared[twin]:
            # the file has its new name already (no other file holds it): this one is the old, left
            # by a repair killed between link and unlink
            self.tally.add("finish", path)
            if self.act and unlink_if_same(str(name), fd, messages.name_in_mess(twin, STAGED), self.fds[MESSAGE]):
                self.touched.add(fd)
        elif messages.shared[position]:
            self.keep(fd, str(name), path, f"two message files are named {name}")
        elif not self.moving(position):
            if not messages.found[position]:
                self.tally.add("unfinished", path)
        elif not messages.found[position]:
            self.keep(fd, str(name), path, f"message {name} has neither todo nor info, and came from another file system")
        else:
            home = inode % self.split
            self.tally.add("misnamed" if name != inode else "misplaced", path)
            self.tally.add("rename", f"{path} -> {MESSAGE}/{home}/{inode}" if self.tally.wants("rename") else None)
            if self.act:
                to_fd = self.fds[f"{MESSAGE}/{home}"]
                moved = not self.contested(inode, position) and rename_new(str(name), fd, str(inode), to_fd)
                if not moved and not rename_new(str(name), fd, f"{inode}{STAGED}", to_fd):
                    self.keep(fd, str(name), path, f"mess/{home}/{inode}{STAGED} is another file")
                self.touched.update((fd, to_fd))

    def finish(self) -> None:
        """Step 5: every staged name to its final one, message files last."""
        for kind_name in [k for k in (*ENVELOPES, MESSAGE) if k in self.model.kinds]:
            kind = self.model.kinds[kind_name]
            for _, fd, relative in self.leaves.get(kind_name, []):
                for name in names(fd):
                    inode = staged_number(name, STAGED)
                    if inode is None:
                        continue
                    to_fd = self.directory_of(kind_name, inode % self.split if kind.split else None)
                    if not rename_new(name, fd, str(inode), to_fd):
                        self.keep(fd, name, f"{relative}/{name}", f"{kind_name} entry {inode} is there already")
                    self.touched.update((fd, to_fd))

    def tidy(self) -> None:
        """The split directories of a larger conf-split, empty once their
        messages moved: removed (one that is not empty stays)."""
        for kind in self.model.kinds.values():
            for split_dir, _, relative in self.leaves.get(kind.name, []):
                if split_dir is None or split_dir < self.split:
                    continue
                if self.act:
                    try:
                        os.rmdir(relative.rpartition("/")[2], dir_fd=self.fds[kind.name])
                    except OSError:
                        continue
                self.tally.add("rmdir", relative)
