"""`apply --ids-from DIR`: each qmail account's ID taken from an existing
qmail home (a restored /var/qmail, the tree of a host being rebuilt)
instead of being allocated, so that the accounts made anew own the queue
and match the binaries again.

qmail 1.03 and netqmail compile the numeric IDs into their programs, and
the queue is owned by number (docs/qmail.md): accounts made again with
other numbers leave qmail running as the wrong users, or unable to read
its own queue. The evidence, per role (layout.py's roles):

- the owner and group of each path qmail's installer gives a qmail user
  (installation.py's places, with DIR as the home): the queue and its
  directories (qmailq; qmails for info, local, remote and bounce),
  lock/tcpto (qmailr), lock/sendmutex and lock/trigger (qmails), alias's
  home (alias) and bin/qmail-queue (qmailq, setuid); the group of each is
  qmail's. Only the installer's own paths are read, never a message.
- on the live root, the IDs compiled into the binaries, as
  DIR/bin/qmail-showctl prints them, run as `check` runs it
  (check/compiled.py): as nobody, no stdin, bounded in time and output.
  Under --root it is not run: its code is not this host's to run.

Evidence that disagrees (two numbers for one role, one number for two
roles, a tree that differs from its binaries or from an ID the spec fixes)
refuses the run before anything is written. A role no evidence speaks for
is allocated as without --ids-from, and the plan says so.
"""

from __future__ import annotations

import os
import posixpath
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path

from pydantic import ValidationError

from qmailsetup.check import Finding
from qmailsetup.check.compiled import SHOWN_GROUPS, SHOWN_USERS, built_ids
from qmailsetup.errors import BadInput, Refused
from qmailsetup.installation import QmailInstall, account_names, qmail_install
from qmailsetup.layout import ROLE_TITLES, Layout, qmail_layout
from qmailsetup.plan.model import Kind, Plan
from qmailsetup.spec import Spec, check_id, format_errors
from qmailsetup.target import Target
from qmailsetup.userdb.filekinds import ID_COLUMNS

KINDS = {"dir": stat.S_IFDIR, "file": stat.S_IFREG, "fifo": stat.S_IFIFO}
# qmail-showctl's lines: the IDs compiled into qmail
COMPILED = {Kind.USER: "user ids", Kind.GROUP: "group ids"}
SHOWN_PATHS = 3  # a note names this many paths, then counts the rest


def title(kind: Kind, role: str, name: str) -> str:
    """'the queue user qmailq', 'the qmail group qmail'."""
    return f"the {ROLE_TITLES[role] if kind == Kind.USER else role + ' group'} {name}"


def some_of(labels: list[str]) -> str:
    shown = ", ".join(labels[:SHOWN_PATHS])
    rest = len(labels) - SHOWN_PATHS
    return f"{shown} and {rest} more" if rest > 0 else shown


@dataclass
class Seen:
    """What DIR says of one role: each number, with the paths that have it
    (relative to DIR), and what qmail-showctl says (None: nothing)."""

    owners: dict[int, list[str]] = field(default_factory=dict)
    compiled: int | None = None

    def where(self, number: int, kind: Kind, directory: str) -> str:
        word = "owner" if kind == Kind.USER else "group"
        return f"{word} of {some_of(self.owners[number])} in {directory}"


@dataclass(frozen=True)
class Taken:
    number: int
    evidence: str  # the plan's words for where the number was seen


@dataclass
class IdsFrom:
    """The IDs DIR shows, per account of the spec: the spec with them
    fixed, and what the plan says of each."""

    directory: str  # DIR as messages name it
    spec: Spec
    taken: dict[tuple[Kind, str], Taken]  # (kind, account name) -> its ID
    unknown: list[tuple[Kind, str]]  # the accounts DIR shows nothing of
    showctl: str | None  # why qmail-showctl told nothing, when it did not

    def note(self, kind: Kind, name: str) -> str | None:
        if (kind, name) in self.taken:
            return self.taken[(kind, name)].evidence
        if (kind, name) in self.unknown:
            return f"no evidence in {self.directory}"
        return None

    def annotate(self, plan: Plan) -> None:
        """The evidence beside each ID the plan makes an account with; a
        note for the others (an account that exists keeps its ID, or is
        refused when that differs)."""
        created = set()
        for change in plan.changes:
            note = self.note(change.kind, change.name) if change.kind in ID_COLUMNS else None
            if note and ID_COLUMNS[change.kind] in change.fields:
                change.field_notes[ID_COLUMNS[change.kind]] = note
                created.add((change.kind, change.name))
        for kind, name in [*self.taken, *self.unknown]:
            if (kind, name) not in created:
                taken = self.taken.get((kind, name))
                said = f"{ID_COLUMNS[kind]} {taken.number}, {taken.evidence}" if taken else self.note(kind, name)
                plan.notes.append(f"{kind} {name}: {said}")
        if self.showctl:
            plan.notes.append(f"the IDs compiled into qmail are not known: {self.showctl}")


def ids_directory(target: Target, value: str) -> str:
    """DIR as an absolute path of the target, written one way; BadInput
    unless it is a directory there (links resolved inside the root)."""
    if not value:
        raise BadInput("--ids-from: empty; name an existing qmail home (the directory that holds its bin and queue)")
    if not value.startswith("/"):
        if not target.live:
            raise BadInput(f"--ids-from {value}: not an absolute path (under --root, a path inside the root)")
        value = os.path.join(os.getcwd(), value)
    directory = "/" + posixpath.normpath(value).lstrip("/")
    try:
        info = os.lstat(target.real_path(directory))
    except (FileNotFoundError, NotADirectoryError):
        info = None
    if info is None or not stat.S_ISDIR(info.st_mode):
        raise BadInput(f"--ids-from {target.shown(directory)}: not a directory")
    return directory


def installed_at(install: QmailInstall, directory: str) -> QmailInstall:
    """INSTALL with DIR as its home; a queue inside the home moves with it."""
    queue = install.queue
    if queue.startswith(install.home + "/"):
        queue = directory + queue[len(install.home):]
    return replace(install, home=directory, queue=queue)


def label(install: QmailInstall, path: str) -> str:
    """PATH as a note names it: relative to the home, a split
    subdirectory (queue/mess/7) as its directory's (queue/mess/N)."""
    parent, _, last = path.rpartition("/")
    if last.isdigit() and parent in install.by_path:
        path = f"{parent}/N"
    return path[len(install.home) + 1:] if path.startswith(install.home + "/") else path


def seen_in_tree(install: QmailInstall, target: Target) -> dict[tuple[Kind, str], Seen]:
    """The owners and groups of the paths the installer gives a qmail user,
    by role; a path missing, or of another type, says nothing."""
    seen: dict[tuple[Kind, str], Seen] = {}
    for place in install.places:
        if place.owner == "root":
            continue
        try:
            info = os.lstat(target.real_path(place.path))
        except (FileNotFoundError, NotADirectoryError):
            continue
        if stat.S_IFMT(info.st_mode) != KINDS[place.type]:
            continue
        named = label(install, place.path)
        for kind, role, number in ((Kind.USER, place.owner, info.st_uid), (Kind.GROUP, place.group, info.st_gid)):
            labels = seen.setdefault((kind, role), Seen()).owners.setdefault(number, [])
            if named not in labels:
                labels.append(named)
    return seen


def seen_in_binaries(install: QmailInstall, target: Target, seen: dict[tuple[Kind, str], Seen]) -> str | None:
    """What DIR/bin/qmail-showctl says, added to SEEN; else why it says
    nothing."""
    where = target.shown(f"{install.bin}/qmail-showctl")
    if not target.live:
        return f"{where} is not run under --root"
    built = built_ids(Path(install.bin) / "qmail-showctl", where)
    if isinstance(built, Finding):
        return built.message
    uids, gids = built
    for kind, roles, numbers in ((Kind.USER, SHOWN_USERS, uids), (Kind.GROUP, SHOWN_GROUPS, gids)):
        for role in roles:
            if role != "root":
                seen.setdefault((kind, role), Seen()).compiled = numbers[role]
    return None


def contradictions(names: dict[tuple[Kind, str], str], seen: dict[tuple[Kind, str], Seen], directory: str) -> list[str]:
    """Where the evidence disagrees with itself or with the binaries, or
    holds a number no account may have."""
    found = []
    for (kind, role), what in seen.items():
        if (kind, role) not in names:
            continue
        who = title(kind, role, names[(kind, role)])
        id_name = ID_COLUMNS[kind]
        if len(what.owners) > 1:
            each = "; ".join(f"{n} ({what.where(n, kind, directory)})" for n in sorted(what.owners))
            found.append(f"{who}: {id_name}s {each}")
        elif what.owners and what.compiled is not None and what.compiled not in what.owners:
            [number] = what.owners
            found.append(f"{who}: {id_name} {number} ({what.where(number, kind, directory)}), "
                         f"but qmail-showctl's {COMPILED[kind]} say {what.compiled}")
        for number in sorted({*what.owners, *([what.compiled] if what.compiled is not None else [])}):
            try:
                check_id(number)
            except ValueError as error:
                found.append(f"{who}: {id_name} {number}: {error}")
    return found


def roles_named(layout: Layout) -> dict[tuple[Kind, str], str]:
    """(kind, role) -> the spec's account name for each role."""
    names = {(Kind.USER, role): user.name for role, user in layout.users.items()}
    return names | {(Kind.GROUP, role): name for role, name in layout.groups.items()}


def one_number(seen: Seen) -> int:
    number = next(iter(seen.owners)) if seen.owners else seen.compiled
    if number is None:  # a Seen is made as a number is seen
        raise LookupError("a role seen without a number")
    return number


def evidence(seen: Seen, kind: Kind, directory: str) -> str:
    said = [f"the {seen.where(number, kind, directory)}" for number in seen.owners]
    if seen.compiled is not None:
        said.append(f"qmail-showctl's {COMPILED[kind]}")
    return "from " + "; ".join(said)


def shared_numbers(taken: dict[tuple[Kind, str], Taken], names: dict[tuple[Kind, str], str]) -> list[str]:
    """One number for two roles."""
    holders: dict[tuple[Kind, int], list[str]] = {}
    for (kind, role), each in taken.items():
        holders.setdefault((kind, each.number), []).append(title(kind, role, names[(kind, role)]))
    return [f"{ID_COLUMNS[kind]} {number} for both {' and '.join(who)}"
            for (kind, number), who in holders.items() if len(who) > 1]


def fixed_by_spec(spec: Spec, kind: Kind, name: str) -> int | None:
    if kind == Kind.USER:
        return next(u.uid for u in spec.users if u.name == name)
    group = spec.group(name)
    return None if group is None else group.gid


def spec_disagrees(spec: Spec, taken: dict[tuple[Kind, str], Taken], names: dict[tuple[Kind, str], str],
                   where: str, shown: str) -> list[str]:
    """An ID the spec fixes that DIR contradicts; BadInput for a role's
    group that the spec leaves to the host (its gid cannot be fixed)."""
    found = []
    for (kind, role), each in taken.items():
        name = names[(kind, role)]
        if kind == Kind.GROUP and spec.group(name) is None:
            raise BadInput(f"{where}: group {name} ({role} group) is not in the spec; add it ([[groups]]) "
                           f"so that its gid can be taken from {shown}")
        fixed = fixed_by_spec(spec, kind, name)
        if fixed is not None and fixed != each.number:
            found.append(f"{title(kind, role, name)}: the spec fixes {ID_COLUMNS[kind]} {fixed}, {shown} shows "
                         f"{each.number} ({each.evidence})")
    return found


def with_ids(spec: Spec, taken: dict[tuple[Kind, str], Taken], source: str) -> Spec:
    """SPEC with the IDs TAKEN fixed (validated again: an ID the spec gives
    another account is refused)."""
    data = spec.model_dump(by_alias=True)
    for section, kind in (("users", Kind.USER), ("groups", Kind.GROUP)):
        for entry in data[section]:
            if (kind, entry["name"]) in taken:
                entry[ID_COLUMNS[kind]] = taken[(kind, entry["name"])].number
    try:
        return Spec.model_validate(data)
    except ValidationError as error:
        raise Refused(*format_errors(source, error)) from None


def ids_from(spec: Spec, root: Path, value: str, source: str = "the spec") -> IdsFrom:
    """The spec's qmail accounts with the IDs the qmail home VALUE shows;
    Refused (exit 3) where the evidence contradicts itself or the spec,
    BadInput where VALUE is no qmail home or the spec no qmail layout."""
    target = Target(root)
    directory = ids_directory(target, value)
    shown = target.shown(directory)
    where = f"--ids-from {shown}"
    layout = qmail_layout(spec, source)
    install = installed_at(qmail_install(spec), directory)
    account_names(install, layout, source)  # every role the paths name is a user of the spec
    seen = seen_in_tree(install, target)
    showctl = seen_in_binaries(install, target, seen)
    names = roles_named(layout)
    if not any(key in names for key in seen):
        raise BadInput(f"{where}: no qmail there: none of the paths its installer gives qmail's users, "
                       f"and no IDs from qmail-showctl ({showctl})")
    wrong = contradictions(names, seen, shown)
    if not wrong:
        taken = {key: Taken(one_number(seen[key]), evidence(seen[key], key[0], shown)) for key in names if key in seen}
        wrong = shared_numbers(taken, names) + spec_disagrees(spec, taken, names, where, shown)
    if wrong:
        raise Refused(f"refused, nothing written: {where}: the evidence disagrees: {'; '.join(wrong)}")
    by_name = {(kind, names[(kind, role)]): each for (kind, role), each in taken.items()}
    unknown = [(kind, names[(kind, role)]) for kind, role in names if (kind, role) not in taken]
    return IdsFrom(shown, with_ids(spec, by_name, where), by_name, unknown, showctl)
