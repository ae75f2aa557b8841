"""What the queue must be, with the host's numbers, and where it is.

The installation table (installation.py) says what qmail's installer makes
of the queue: each directory and lock file, its type, owner role, group
role and mode, and which directories are split into conf-split numbered
subdirectories. qmail itself makes the files in them as it runs, each by
the owner of its directory, with its umask (FILE_MODES). Here the roles
become the numbers the target's account files give them.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from qmailsetup.errors import BadInput, QmailsetupError, Refused
from qmailsetup.installation import Place, QmailInstall, qmail_install
from qmailsetup.layout import qmail_layout
from qmailsetup.observe import HostState
from qmailsetup.spec import Spec

# The files qmail makes at run time in each of its queue directories, and
# their mode: qmail-queue runs with umask 033 (mess, todo, intd, pid),
# qmail-send with umask 077 (info, local, remote, bounce); docs/queue.md.
FILE_MODES = {
    "mess": 0o644, "todo": 0o644, "intd": 0o644, "pid": 0o644,
    "info": 0o600, "local": 0o600, "remote": 0o600, "bounce": 0o600,
}
# qmail-queue is setuid, not setgid: its files keep the group of whoever
# queued the message, so their group is never judged (docs/queue.md)
QUEUED_BY_INJECTOR = frozenset({"mess", "todo", "intd", "pid"})
MESSAGE = "mess"
# the other directories named by message number, in the order a survey
# reads them: todo and info first, so that by the time intd, local, remote
# and bounce are read it is known which messages have an envelope
ENVELOPES = ("todo", "info", "intd", "local", "remote", "bounce")
TODO, INTD = "todo", "intd"
# qmail-queue's pid/PID.TIME.SEQ files, removed by qmail-clean 36 hours on
PIDS = "pid"
LOCK = "lock"
SENDMUTEX = "sendmutex"
# What a repair renames lock/sendmutex to while it runs, and what it names
# an entry on its way to its new name: no qmail program opens either
# (qmail-send reads numeric names only), and qmail-send cannot start
# without lock/sendmutex (docs/queue.md, "Repair")
REPAIRING = "sendmutex.qmailsetup"
STAGED = ".qmailsetup"
TYPES = {"dir": stat.S_IFDIR, "file": stat.S_IFREG, "fifo": stat.S_IFIFO}


@dataclass(frozen=True)
class Expect:
    """An owner, a group (None: any) and a whole st_mode, type bits included."""

    uid: int
    gid: int | None
    mode: int
    owner: str
    group: str

    @property
    def permissions(self) -> int:
        return stat.S_IMODE(self.mode)

    def holds(self, info) -> bool:
        return info.st_mode == self.mode and info.st_uid == self.uid and (self.gid is None or info.st_gid == self.gid)

    def wanted(self) -> str:
        return f"{self.owner}:{self.group if self.gid is not None else '(any group)'} {self.permissions:04o}"


@dataclass(frozen=True)
class Kind:
    """One of qmail's directories that hold a file per message."""

    name: str
    split: bool
    directory: Expect  # it, and each of its split subdirectories
    file: Expect  # each file qmail makes in it


@dataclass(frozen=True)
class Fixed:
    """A path the installer makes that is not a message directory: the
    queue itself, lock/ and its three files."""

    path: str  # relative to the queue; "." is the queue itself
    type: str  # "dir", "file" or "fifo"
    expect: Expect
    size: int | None


@dataclass(frozen=True)
class Location:
    """Where the queue is: PATH in the target's terms, its links resolved
    inside the root; SHOWN as messages name it; REAL on this host."""

    path: str
    shown: str
    real: str
    followed: tuple[str, ...] = ()


@dataclass(frozen=True)
class QueueModel:
    install: QmailInstall
    location: Location
    split: int
    kinds: dict[str, Kind]
    fixed: tuple[Fixed, ...]

    @property
    def queue(self) -> Fixed:
        return self.fixed[0]

    def directories(self) -> int:
        """How many directories a survey holds open: each message
        directory, split or not, with a few to spare (the split
        directories of a larger conf-split)."""
        return sum(self.split + 1 if kind.split else 1 for kind in self.kinds.values()) + 16

    def places(self) -> list[Place]:
        queue = self.install.queue
        return [p for p in self.install.places if p.path == queue or p.path.startswith(queue + "/")]

    def relative(self, path: str) -> str:
        queue = self.install.queue
        return "." if path == queue else path[len(queue) + 1:]


class NotReady(QmailsetupError):
    """The queue cannot be judged or worked on yet: its accounts are
    missing, or it cannot be found; check reports it, the commands refuse."""

    exit_code = Refused.exit_code

    def __init__(self, line: str, severity: str, remedy: str) -> None:
        super().__init__(line)
        self.severity = severity
        self.remedy = remedy


def locate(install: QmailInstall, host: HostState) -> Location:
    """The queue, its links resolved inside the root; NotReady when it
    cannot be followed, or leads to the root or to a directory above qmail's
    home (a link there is no queue)."""
    target = host.target
    where = target.shown(install.queue)
    followed: list[str] = []
    try:
        resolved = target.resolve(install.queue, followed)
    except OSError as error:
        raise NotReady(f"cannot find the queue: {error.strerror}", "warning",
                       f"make {where} a directory, or a link to one") from None
    if resolved == "/" or install.home.startswith(resolved.rstrip("/") + "/"):
        raise NotReady(f"{where} leads to {target.shown(resolved)}, which holds qmail's home: not a queue", "error",
                       f"remove the link {where}; qmail's make setup check makes the queue")
    return Location(resolved, target.shown(resolved), str(target.host_path(resolved)), tuple(followed))


def queue_model(spec: Spec, host: HostState) -> QueueModel:
    """The queue of SPEC's installation on HOST; NotReady when the spec
    names no qmail accounts or the host lacks them."""
    try:
        layout = qmail_layout(spec, "the spec")
    except BadInput as error:
        raise NotReady(f"the spec names no qmail accounts: {error}", "info", "fix the spec") from None
    install = qmail_install(spec)
    places = [p for p in install.places if p.path == install.queue or p.path.startswith(install.queue + "/")]
    users = {role: layout.users[role].name for role in sorted({p.owner for p in places})}
    groups = {role: layout.groups[role] for role in sorted({p.group for p in places})}
    missing = [n for n in users.values() if n not in host.users] + [g for g in groups.values() if g not in host.groups]
    if missing:
        raise NotReady(f"{', '.join(missing)} missing (see account.exists)", "info",
                       "run qmailsetup apply (qmailsetup apply --dry-run shows what it would do)")
    location = locate(install, host)

    def expect(place: Place, kind: int, permissions: int, any_group: bool = False) -> Expect:
        group = groups[place.group]
        return Expect(host.users[users[place.owner]].uid, None if any_group else host.groups[group].gid,
                      kind | permissions, users[place.owner], group)

    kinds, fixed = {}, []
    for place in places:
        relative = "." if place.path == install.queue else place.path[len(install.queue) + 1:]
        if relative in FILE_MODES:
            split = install.place(f"{place.path}/0") is not None
            kinds[relative] = Kind(relative, split, expect(place, stat.S_IFDIR, place.mode),
                                   expect(place, stat.S_IFREG, FILE_MODES[relative], relative in QUEUED_BY_INJECTOR))
        elif "/" not in relative or relative.startswith(LOCK + "/"):
            fixed.append(Fixed(relative, place.type, expect(place, TYPES[place.type], place.mode), place.size))
    return QueueModel(install, location, install.split, kinds, tuple(fixed))


def open_queue(model: QueueModel, host: HostState, writing: bool) -> int | None:
    """The queue's directory, opened without following a link at it (those
    on the way are resolved inside the root, and must be root's alone to be
    written through); None where there is none."""
    location = model.location
    if writing and location.followed:
        why = host.target.distrust(list(location.followed), location.path)
        if why:
            raise Refused(f"{host.target.shown(model.install.queue)} is not followed to {location.shown}: {why}; "
                          "nothing written")
    try:
        return os.open(location.real, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        raise Refused(f"{location.shown} is not a directory; nothing written") from None
