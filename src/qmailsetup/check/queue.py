"""queue.owner: the queue's owners, groups and modes as qmail's installer
and qmail itself leave them.

After a restore from backup or a renumber, the queue's files can belong to
numbers that no longer match qmailq, qmails, qmailr or the qmail group, and
qmail fails with "Sorry, message has wrong owner (#4.3.5)" or worse.

hier.c (netqmail 1.06, notqmail) makes the directories: queue, pid, intd,
todo, mess, lock qmailq; bounce, info, local, remote qmails; all group
qmail; mess, info, local and remote split into conf-split numbered
subdirectories (todo and intd too where a big-todo patch is applied). The
files in them are made at run time: qmail-queue runs as qmailq with umask
033 (mess/N/INODE, intd/INODE, todo/INODE, pid/PID: 0644), qmail-send as
qmails with umask 077 (info/N/INODE, local/N/INODE, remote/N/INODE,
bounce/INODE: 0600); lock/tcpto is qmailr's 0644, lock/sendmutex qmails'
0600, lock/trigger a FIFO of qmails' 0622. qmail-queue is setuid, not
setgid: on Linux its files keep the group of whoever queued the message
(nofiles through qmail-smtpd, root through a root qmail-inject; seen on a
real netqmail 1.06 queue), so their group is not compared; qmail reads them
by owner and mode.

The walk reads directories and lstat()s each entry once (os.scandir's
entries); it never opens a message, never follows a symlink below the
queue, and never changes anything.
"""

from __future__ import annotations

import functools
import os
import stat
from pathlib import Path

from qmailsetup.check import Finding
from qmailsetup.errors import BadInput
from qmailsetup.hostio import kind_of
from qmailsetup.installation import QmailInstall, qmail_install
from qmailsetup.layout import Layout, qmail_layout
from qmailsetup.observe import HostState, shown
from qmailsetup.spec import Spec

# The files qmail makes at run time in each directory of the queue, and
# their mode (qmail-queue's umask 033, qmail-send's 077): the installation
# table holds what the installer makes, these are made by qmail as it runs,
# each by the owner of its directory.
FILE_MODES = {
    "mess": 0o644, "todo": 0o644, "intd": 0o644, "pid": 0o644,
    "info": 0o600, "local": 0o600, "remote": 0o600, "bounce": 0o600,
}
KINDS = {"dir": stat.S_IFDIR, "file": stat.S_IFREG, "fifo": stat.S_IFIFO}


class Expected:
    """What the installation table says of the queue: (owner's role, mode,
    file type) of the queue itself, of each of its directories, and of the
    files in lock/."""

    def __init__(self, install: QmailInstall) -> None:
        places = {p.path[len(install.queue) + 1:] if p.path != install.queue else ".": p
                  for p in install.places if p.path == install.queue or p.path.startswith(install.queue + "/")}
        self.places = {path: (p.owner, p.mode, KINDS[p.type]) for path, p in places.items()}
        self.groups = {p.group for p in places.values()}

    def of(self, path: str) -> tuple[str, int, int] | None:
        return self.places.get(path)


EXAMPLES = 5
# the directories whose files qmail-queue writes: any group (see above)
QUEUED_BY_INJECTOR = frozenset({"mess", "todo", "intd", "pid"})


class Walk:
    """The expected uid, gid and modes, and what differs from them: counted,
    the first few kept as examples, and the commands that put them back
    (so a queue of 100,000 wrong messages costs no list of them)."""

    def __init__(self, layout: Layout, host: HostState, shown_queue: str, expected: Expected) -> None:
        self.host = host
        self.queue_path = shown_queue
        self.expected = expected
        roles = {role for role, _, _ in expected.places.values()}
        self.names = {role: layout.users[role].name for role in roles}
        self.uids = {role: host.users[name].uid for role, name in self.names.items()}
        [group_role] = expected.groups  # qmail's group owns the whole queue
        self.group = layout.groups[group_role]
        self.gid = host.groups[self.group].gid
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

    def shown_ids(self, uid: int, gid: int) -> str:
        user, group = self.user_of(uid), self.group_of(gid)
        return f"{user or uid}:{group or gid}"

    def expect(self, path: str, info: os.stat_result, role: str, mode: int, kind: int, top: str) -> None:
        self.seen += 1
        found_mode = stat.S_IMODE(info.st_mode)
        same_type = stat.S_IFMT(info.st_mode) == kind
        any_group = kind != stat.S_IFDIR and top in QUEUED_BY_INJECTOR
        owned = info.st_uid == self.uids[role] and (any_group or info.st_gid == self.gid)
        if owned and found_mode == mode and same_type:
            return
        # from here on once per wrong entry, perhaps 300,000 times: no strings but the examples
        self.wrong += 1
        if self.user_of(info.st_uid) is None:
            self.unknown_uids.add(info.st_uid)
        if self.group_of(info.st_gid) is None:
            self.unknown_gids.add(info.st_gid)
        if len(self.examples) < EXAMPLES:
            found = f"{self.shown_ids(info.st_uid, info.st_gid)} {found_mode:04o}"
            if not same_type:
                found += f" ({kind_of(info.st_mode)})"
            group = "(any group)" if any_group else self.group
            self.examples.append(f"{path} is {found} (wants {self.names[role]}:{group} {mode:04o})")
        whole = top in FILE_MODES  # one command for the whole subdirectory
        if not (owned and same_type):
            self.chowns[(top, role, True) if whole else (path, role, False)] = None
        if found_mode != mode:
            self.chmods[(top, kind, mode, True) if whole and path != top else (path, kind, mode, False)] = None

    def remedy(self) -> str:
        def full(path: str) -> str:
            return self.queue_path if path == "." else f"{self.queue_path}/{path}"

        commands = [
            f"chown {'-R ' if whole else ''}{self.names[role]}:{self.group} {full(path)}"
            for path, role, whole in self.chowns
        ]
        commands += [
            f"find {full(path)} -type {'d' if kind == stat.S_IFDIR else 'f'} ! -perm {mode:04o} -exec chmod {mode:04o} {{}} +"
            if whole else f"chmod {mode:04o} {full(path)}"
            for path, kind, mode, whole in self.chmods
        ]
        return "stop qmail (qmail-send and qmail-smtpd), then: " + "; ".join(commands)

    def tree(self, directory: str, relative: str, top: str, split: bool = True) -> None:
        """Every entry below DIRECTORY: the split's subdirectories (SPLIT:
        this level may hold them) and files; a directory below a split one
        is no queue's, and is not walked (bounded depth, whatever the tree)."""
        role, dir_mode, _ = self.expected.places[top]  # a directory of FILE_MODES: in the table
        file_mode = FILE_MODES[top]
        for entry in sorted_entries(directory):
            info = entry.stat(follow_symlinks=False)
            path = f"{relative}/{entry.name}"
            if split and stat.S_ISDIR(info.st_mode):
                self.expect(path, info, role, dir_mode, stat.S_IFDIR, top)
                self.tree(entry.path, path, top, split=False)
            else:
                self.expect(path, info, role, file_mode, stat.S_IFREG, top)

    def queue(self, queue: str) -> None:
        info = os.lstat(queue)  # its links already resolved inside the root
        self.expect(".", info, *self.expected.places["."], "")
        for entry in sorted_entries(queue):
            expected = self.expected.of(entry.name)
            if expected is None:
                continue
            info = entry.stat(follow_symlinks=False)
            self.expect(entry.name, info, *expected, entry.name)
            if stat.S_ISDIR(info.st_mode) and entry.name in FILE_MODES:
                self.tree(entry.path, entry.name, entry.name)
            elif stat.S_ISDIR(info.st_mode):
                self.listed(entry.path, entry.name)

    def listed(self, directory: str, relative: str) -> None:
        """The entries of DIRECTORY (lock/) that the installer makes."""
        for entry in sorted_entries(directory):
            path = f"{relative}/{entry.name}"
            expected = self.expected.of(path)
            if expected is not None:
                self.expect(path, entry.stat(follow_symlinks=False), *expected, relative)


def sorted_entries(directory: str) -> list[os.DirEntry]:
    """DIRECTORY's entries by name: the disk's order is no order, and the
    examples and commands must not change from one run to the next."""
    with os.scandir(directory) as entries:
        return sorted(entries, key=lambda entry: entry.name)


def queue_findings(spec: Spec, root: Path, host: HostState) -> list[Finding]:
    try:
        layout = qmail_layout(spec, "the spec")
    except BadInput:
        return []
    install = qmail_install(spec)
    queue_path = install.queue
    where = shown(root, queue_path)
    try:
        # a queue on another disk through a link: walked, and named in the
        # remedy, where it really is (inside the root)
        resolved = host.target.resolve(queue_path)
    except OSError as error:
        return [Finding("queue.owner", "warning", where, f"cannot find the queue: {error.strerror}",
                        f"make {where} a directory, or a link to one")]
    if resolved == "/" or install.home.startswith(resolved.rstrip("/") + "/"):
        return [Finding(
            "queue.owner", "error", where, f"{where} leads to {host.target.shown(resolved)}, which holds qmail's home: "
            "not a queue", f"remove the link {where}; qmail's make setup check makes the queue",
        )]
    real = str(host.target.host_path(resolved))
    expected = Expected(install)
    names = sorted({layout.users[role].name for role, _, _ in expected.places.values()})
    groups = [layout.groups[role] for role in sorted(expected.groups)]
    missing = [n for n in names if n not in host.users] + [g for g in groups if g not in host.groups]
    if missing:
        return [Finding(
            "queue.owner", "info", where, f"not checked: {', '.join(missing)} missing (see account.exists)",
            "run qmailsetup apply (qmailsetup apply --dry-run shows what it would do)",
        )]
    walk = Walk(layout, host, real, expected)
    try:
        walk.queue(real)
    except FileNotFoundError:
        return [Finding(
            "queue.owner", "info", where, f"{where} does not exist yet",
            "qmail's make setup check makes it, after qmailsetup apply",
        )]
    except OSError as error:
        return [Finding(
            "queue.owner", "warning", where, f"cannot read the queue: {error.filename}: {error.strerror}",
            "run qmailsetup check as root",
        )]
    if not walk.wrong:
        return [Finding("queue.owner", "ok", where, f"{walk.seen} entries, owners, groups and modes as qmail sets them")]
    examples = ", ".join(walk.examples)
    message = f"{walk.wrong} of {walk.seen} entries under {where} differ from what qmail sets: {examples}"
    if walk.wrong > EXAMPLES:
        message += ", ..."
    unknown = [f"uid {n}" for n in sorted(walk.unknown_uids)] + [f"gid {n}" for n in sorted(walk.unknown_gids)]
    if unknown:
        verb = "belongs" if len(unknown) == 1 else "belong"
        message += f"; {', '.join(unknown)} {verb} to no account (left from before a renumber or a restore?)"
    return [Finding("queue.owner", "error", where, message, walk.remedy())]
