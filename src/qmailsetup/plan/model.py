"""What a plan is made of: changes, conflicts, warnings."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Kind(StrEnum):
    GROUP = "group"
    USER = "user"
    PATH = "path"
    LINK = "link"  # a link the spec declares (paths' link = ...)
    FILE = "file"  # a file made from others: BSD's passwd


class Action(StrEnum):
    CREATE = "create"
    MODIFY = "modify"
    # a half-made account (its passwd or group line without its shadow or
    # gshadow line) completed: not drift, the account as it is, finished
    REPAIR = "repair"


# the kinds of change a backend carries out (apply does the paths itself)
BACKEND_KINDS = (Kind.GROUP, Kind.USER, Kind.FILE)
# the kinds that are account entries
ACCOUNT_KINDS = (Kind.GROUP, Kind.USER)

Value = str | int | tuple[str, ...]


@dataclass(frozen=True)
class FieldChange:
    """A field as the plan shows it: what the host has (None for an object
    to create) and what the spec wants."""

    current: str | int | None
    desired: str | int | None


@dataclass
class Change:
    kind: Kind
    name: str
    action: Action
    # the fields that differ, as shown (a create: every field)
    fields: dict[str, FieldChange]
    # the object as the spec wants it, whole, whatever the action: name (or
    # path), and uid, gid, group, home, shell, comment, class, groups (the
    # supplementary ones), owner, mode as the kind has them
    desired: dict[str, Value]
    # IDs the planner allocated: command backends let the tool choose them
    allocated: frozenset[str] = frozenset()
    drift: bool = False
    # the supplementary groups a user is to be added to (not yet a member)
    joining: tuple[str, ...] = ()
    # what the plan says of a field beside its value: where an ID came from
    # (apply --ids-from: the evidence for it)
    field_notes: dict[str, str] = field(default_factory=dict)

    def text(self, key: str) -> str:
        """The desired field KEY that is text: name, path, link, home,
        shell, group, owner, mode (octal digits)."""
        value = self.desired[key]
        if not isinstance(value, str):
            raise TypeError(f"{self.kind} {self.name}: {key} is {value!r}, not text")
        return value

    def number(self, key: str) -> int:
        """The desired field KEY that is a number: uid, gid."""
        value = self.desired[key]
        if not isinstance(value, int):
            raise TypeError(f"{self.kind} {self.name}: {key} is {value!r}, not a number")
        return value

    def names(self, key: str) -> tuple[str, ...]:
        """The desired field KEY that is a list of names (groups); none
        when the change has no such field."""
        value = self.desired.get(key, ())
        if not isinstance(value, tuple):
            raise TypeError(f"{self.kind} {self.name}: {key} is {value!r}, not a list of names")
        return value

    def settings(self) -> dict[str, Value]:
        """What a backend sets: all of a new object or of one repaired (its
        missing line is made of it); of one that exists its name, the
        fields that differ (a new group with its GID) and the groups to join."""
        if self.action in (Action.CREATE, Action.REPAIR):
            return {**self.desired, **({"groups": self.joining} if self.joining else {})}
        changed = {key: self.desired[key] for key in self.fields if key in self.desired and key != "groups"}
        if "group" in changed and "gid" in self.desired:
            changed["gid"] = self.desired["gid"]
        if self.joining:
            changed["groups"] = self.joining
        return {"name": self.name, **changed}


@dataclass(frozen=True)
class Conflict:
    kind: Kind
    name: str
    reason: str


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # what the plan does that is worth saying but needs nothing done: a
    # link followed
    notes: list[str] = field(default_factory=list)
    unchanged: list[tuple[str, str]] = field(default_factory=list)
    fix_drift: bool = False

    @property
    def in_sync(self) -> bool:
        return not self.changes and not self.conflicts

    @property
    def blocked_drift(self) -> list[Change]:
        return [] if self.fix_drift else [c for c in self.changes if c.drift]

    @property
    def refused(self) -> bool:
        return bool(self.conflicts or self.blocked_drift)
