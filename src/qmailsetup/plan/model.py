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

# a desired value as the plan's fields name it (Desired*.values())
Value = str | int | tuple[str, ...]


# What the spec wants of an object, whole, whatever the action: one type a
# kind. values() gives them under the plan's field names (class for
# login_class), without the ones the object leaves unset.


@dataclass(frozen=True)
class DesiredGroup:
    name: str
    gid: int

    @property
    def own_id(self) -> int:
        return self.gid

    def values(self) -> dict[str, Value]:
        return {"name": self.name, "gid": self.gid}


@dataclass(frozen=True)
class DesiredUser:
    name: str
    uid: int
    gid: int
    home: str
    shell: str
    # its primary group by name; None in a repair (the missing line is made
    # of the account as the host has it, its group by GID)
    group: str | None = None
    comment: str | None = None
    login_class: str | None = None
    # the supplementary groups of the spec
    groups: tuple[str, ...] = ()

    @property
    def own_id(self) -> int:
        return self.uid

    def values(self) -> dict[str, Value]:
        values: dict[str, Value] = {"name": self.name, "uid": self.uid}
        if self.group is not None:
            values["group"] = self.group
        values.update({"gid": self.gid, "home": self.home, "shell": self.shell})
        if self.comment is not None:
            values["comment"] = self.comment
        if self.login_class is not None:
            values["class"] = self.login_class
        if self.groups:
            values["groups"] = self.groups
        return values


@dataclass(frozen=True)
class DesiredDirectory:
    path: str  # where it really is (links on the way followed)
    owner: str
    group: str
    mode: str  # octal digits, as chmod and the spec write it

    def values(self) -> dict[str, Value]:
        return {"path": self.path, "owner": self.owner, "group": self.group, "mode": self.mode}


@dataclass(frozen=True)
class DesiredLink:
    path: str
    link: str  # where it leads

    def values(self) -> dict[str, Value]:
        return {"path": self.path, "link": self.link}


@dataclass(frozen=True)
class DesiredFile:
    """A file made from others (BSD's passwd, from master.passwd)."""

    path: str

    def values(self) -> dict[str, Value]:
        return {"path": self.path}


Desired = DesiredGroup | DesiredUser | DesiredDirectory | DesiredLink | DesiredFile
DesiredAccount = DesiredGroup | DesiredUser


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
    # the object as the spec wants it, whole, whatever the action
    desired: Desired
    # IDs the planner allocated: command backends let the tool choose them
    allocated: frozenset[str] = frozenset()
    drift: bool = False
    # the supplementary groups a user is to be added to (not yet a member)
    joining: tuple[str, ...] = ()
    # what the plan says of a field beside its value: where an ID came from
    # (apply --ids-from: the evidence for it)
    field_notes: dict[str, str] = field(default_factory=dict)

    def created_id(self) -> int | None:
        """The UID or GID of the account this change creates (the plan's,
        which every backend writes or tells its tool); None for any other."""
        if self.action == Action.CREATE and isinstance(self.desired, DesiredGroup | DesiredUser):
            return self.desired.own_id
        return None

    def settings(self) -> dict[str, Value]:
        """What a backend sets, under the plan's field names (the names the
        profiles' templates use): all of a new object or of one repaired
        (its missing line is made of it); of one that exists its name, the
        fields that differ (a new group with its GID) and the groups to join."""
        desired = self.desired.values()
        if self.action in (Action.CREATE, Action.REPAIR):
            return {**desired, **({"groups": self.joining} if self.joining else {})}
        changed = {key: desired[key] for key in self.fields if key in desired and key != "groups"}
        if "group" in changed and "gid" in desired:
            changed["gid"] = desired["gid"]
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
