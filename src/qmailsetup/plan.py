"""Planning: the difference between the spec and the host, as plain data.

Pure: it reads a Spec and a HostState and returns a Plan; it touches
nothing (what NSS knows comes through the host state, set by observe).
Groups come before the users that need them, users before the paths they
own. Each object goes through the same steps, each a function below:
conflicts (what refuses it), allocation (an ID the spec leaves open, picked
exactly as the platform's own tool would: shadow-utils' useradd -r counting
down, busybox adduser -S counting up, the profile's id_allocation), drift
(the fields that differ) and warnings. "Who holds this ID" is one query on
the host state (HostState.uid_holder/gid_holder).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from qmailsetup.observe import HostState, PathState, shown
from qmailsetup.spec import RESERVED_IDS, Spec, User


class Kind(StrEnum):
    GROUP = "group"
    USER = "user"
    PATH = "path"
    FILE = "file"  # a file made from others: BSD's passwd


class Action(StrEnum):
    CREATE = "create"
    MODIFY = "modify"


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

    def settings(self) -> dict[str, Value]:
        """What a backend sets: all of a new object; of one that exists its
        name, the fields that differ (a new group with its GID) and the
        groups to join."""
        if self.action == Action.CREATE:
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


def nobody_else(candidate: int) -> bool:
    return False


def allocate(used: set[int], low: int, high: int, upward: bool = False, held=nobody_else) -> int | None:
    """The ID the platform's tool would take. Down (useradd -r / groupadd -r):
    just below the lowest one in use in the system range; failing that, the
    highest free one; never an ID that is none (65535 inside an odd range).
    UPWARD (busybox adduser -S / addgroup -S): the first
    free one from LOW. A candidate is free when it is not in USED and HELD
    (NSS, asked per candidate as useradd and adduser do) does not know it."""

    def free(candidate: int) -> bool:
        return candidate not in used and candidate not in RESERVED_IDS and not held(candidate)

    if upward:
        return next((candidate for candidate in range(low, high + 1) if free(candidate)), None)
    in_range = [i for i in used if low <= i <= high]
    start = min(in_range) - 1 if in_range else high
    if start < low:
        start = high
    for candidate in range(start, low - 1, -1):
        if free(candidate):
            return candidate
    for candidate in range(high, start, -1):
        if free(candidate):
            return candidate
    return None


def in_range(sources, low: int, high: int) -> set[int]:
    return {i for source in sources for i in source if i is not None and low <= i <= high}


def is_locked(password: str) -> bool:
    """No password can match: '*', '!'-locked, *LOCKED*, or a bare 'x'."""
    return password == "x" or password.startswith(("*", "!"))


def membership(wanted: list[str], is_member) -> FieldChange | None:
    """The user's supplementary groups of the spec as a field change when it
    is not in them all ("a, qcerts (missing)" -> "a, qcerts"); None when it
    is. Groups the spec does not name are not looked at: a user in more
    groups than the spec says is in sync, and no membership is removed."""
    if all(is_member(group) for group in wanted):
        return None
    current = ", ".join(group if is_member(group) else f"{group} (missing)" for group in wanted)
    return FieldChange(current, ", ".join(wanted))


def format_mode(bits: int) -> str:
    """0755, 02755: the way chmod and the spec write modes."""
    return f"0{bits:03o}"


class Planning:
    """What the steps share while one plan is made: the spec, the host, the
    plan so far, and the IDs taken (the host's in the system range, the
    spec's fixed ones, and those allocated on the way)."""

    def __init__(self, spec: Spec, host: HostState, fix_drift: bool) -> None:
        self.spec = spec
        self.host = host
        self.plan = Plan(fix_drift=fix_drift)
        ids = host.id_range
        # only IDs in the system range count when allocating (a large host has 100,000 others)
        self.used = {
            Kind.GROUP: host.groups.used_ids(ids.gid_min, ids.gid_max)
            | in_range([host.nss_gids, [g.gid for g in spec.groups]], ids.gid_min, ids.gid_max),
            Kind.USER: host.users.used_ids(ids.uid_min, ids.uid_max)
            | in_range([host.nss_uids, [u.uid for u in spec.users]], ids.uid_min, ids.uid_max),
        }
        # the IDs of the accounts this plan creates (the host's are looked up)
        self.created: dict[Kind, dict[str, int]] = {Kind.GROUP: {}, Kind.USER: {}}
        self.warned_parents: set[str] = set()

    def gid_of(self, group: str) -> int | None:
        existing = self.host.groups.get(group)
        return existing.gid if existing else self.created[Kind.GROUP].get(group)

    def uid_of(self, user: str) -> int | None:
        existing = self.host.users.get(user)
        return existing.uid if existing else self.created[Kind.USER].get(user)

    def is_member(self, user: str, group: str) -> bool:
        """USER is in the member list of GROUP as the host has it now."""
        existing = self.host.groups.get(group)
        return existing is not None and user in existing.members

    def conflict(self, kind: Kind, name: str, reason: str) -> None:
        self.plan.conflicts.append(Conflict(kind, name, reason))

    def warn(self, warning: str) -> None:
        self.plan.warnings.append(warning)

    def add(self, change: Change) -> None:
        self.plan.changes.append(change)

    def in_sync(self, kind: Kind, name: str) -> None:
        self.plan.unchanged.append((kind, name))


# -- conflicts ----------------------------------------------------------------


def unresolved(p: Planning, kind: Kind, name: str, role: str, needed: str, in_spec: bool) -> None:
    """A conflict for an object whose ROLE (group, owner) NEEDED is not
    to be had: refused itself (its own conflict says why), or nowhere."""
    why = "cannot be made (see its conflict)" if in_spec else "is neither in the spec nor on the host"
    p.conflict(kind, name, f"its {role} {needed} {why}")


def group_conflict(p: Planning, name: str, gid: int | None) -> str | None:
    """Why the group NAME (to be made, with GID when the spec fixes it) is refused."""
    host = p.host
    if name in host.nss_groups:
        return f"exists only in NSS (gid {host.nss_groups[name]}), not in the local group file"
    holder = None if gid is None else host.gid_holder(gid)
    return None if holder is None else f"gid {gid} is already held by group {holder}"


def user_conflict(p: Planning, user: User, existing) -> str | None:
    """Why USER (EXISTING on the host, or None) is refused before its group is looked at."""
    host = p.host
    if existing is None and user.name in host.nss_users:
        return f"exists only in NSS (uid {host.nss_users[user.name]}), not in the local files"
    if existing is not None and user.uid is not None and existing.uid != user.uid:
        return (f"uid is {existing.uid} on the host, the spec says {user.uid}; "
                "qmail compiles UIDs in, so an account is never renumbered")
    holder = None if existing or user.uid is None else host.uid_holder(user.uid)
    return None if holder is None else f"uid {user.uid} is already held by user {holder}"


def groups_unresolved(p: Planning, user: User) -> bool:
    """A conflict for USER's primary group or each supplementary group that
    is not to be had; True when there was one."""
    if p.gid_of(user.group) is None:
        unresolved(p, Kind.USER, user.name, "group", user.group, p.spec.group(user.group) is not None)
        return True
    missing = [group for group in user.groups if p.gid_of(group) is None]
    for group in missing:
        unresolved(p, Kind.USER, user.name, "supplementary group", group, p.spec.group(group) is not None)
    return bool(missing)


def shell_refused(p: Planning, name: str, shell: str) -> bool:
    """A conflict when the platform's tool would refuse SHELL (NetBSD's
    useradd and usermod fail with "Cannot access shell" after the groups
    were made): found here, before anything runs."""
    accepted = p.host.accepted_shells
    if accepted is None or shell in accepted:
        return False
    profile = p.host.profile
    p.conflict(
        Kind.USER, name,
        f"shell {shell}: {profile.name}'s useradd and usermod accept only {profile.nologin[0]}, "
        f"a shell listed in {shown(p.host.root, '/etc/shells')} or an executable file; "
        "name one of those in the spec (shell = ...)",
    )
    return True


def path_conflict(p: Planning, path, state: PathState) -> bool:
    """A conflict when PATH cannot be had as a directory (its owner or group
    missing, a symlink or a file in the way); True when there was one."""
    if p.uid_of(path.owner) is None:
        in_spec = any(user.name == path.owner for user in p.spec.users)
        unresolved(p, Kind.PATH, path.path, "owner", path.owner, in_spec)
    elif p.gid_of(path.group) is None:
        unresolved(p, Kind.PATH, path.path, "group", path.group, p.spec.group(path.group) is not None)
    elif state.blocked_by:
        p.conflict(Kind.PATH, path.path, f"{state.blocked_by} is a symlink or not a directory; refusing to follow it")
    elif state.kind == "symlink":
        p.conflict(Kind.PATH, path.path, "is a symlink; a directory must be here, and links are never followed")
    elif state.kind == "other":
        p.conflict(Kind.PATH, path.path, "exists and is not a directory")
    else:
        return False
    return True


# -- allocation ---------------------------------------------------------------

ID_LABELS = {Kind.GROUP: "gid", Kind.USER: "uid"}


def new_id(p: Planning, kind: Kind, name: str, fixed: int | None) -> tuple[int, frozenset[str]] | None:
    """The ID of the account KIND NAME to create: FIXED by the spec, or
    allocated from the system range as the platform's tool would, and
    whether it was allocated; None (a conflict) when the range is full."""
    label = ID_LABELS[kind]
    number, allocated = fixed, frozenset()
    if number is None:
        ids, host = p.host.id_range, p.host
        low, high = (ids.gid_min, ids.gid_max) if kind == Kind.GROUP else (ids.uid_min, ids.uid_max)
        held = (host.nss_holds_gid if kind == Kind.GROUP else host.nss_holds_uid) or nobody_else
        number = allocate(p.used[kind], low, high, host.profile.id_allocation == "up", held)
        if number is None:
            p.conflict(kind, name, f"no free {label} left in the system range {low}-{high}")
            return None
        p.used[kind].add(number)
        allocated = frozenset({label})
    p.created[kind][name] = number
    return number, allocated


# -- drift --------------------------------------------------------------------


def desired_shell(p: Planning, user: User, current: str | None) -> str:
    if user.shell is not None:
        return user.shell
    # any shell that gives no login will do; only a login shell is drift
    if current is not None and p.host.profile.is_non_login(current):
        return current
    return p.host.nologin


def login_class(p: Planning, user: User) -> str | None:
    """The spec's login class where the host keeps one (the BSDs' master.passwd);
    elsewhere there is no field for it, and saying so beats a drift
    that could never be fixed."""
    if user.login_class is None or p.host.flavor.login_classes:
        return user.login_class
    p.warn(f"user {user.name}: class {user.login_class!r} ignored; "
           f"platform {p.host.profile.name} keeps no login classes")
    return None


def desired_user(p: Planning, user: User, uid: int, gid: int, current_shell: str | None) -> dict[str, Value]:
    desired: dict[str, Value] = {
        "name": user.name, "uid": uid, "group": user.group, "gid": gid,
        "home": user.home, "shell": desired_shell(p, user, current_shell),
    }
    if user.comment is not None:
        desired["comment"] = user.comment
    wanted_class = login_class(p, user)
    if wanted_class is not None:
        desired["class"] = wanted_class
    if user.groups:
        desired["groups"] = tuple(user.groups)
    return desired


# the fields of a user as the plan shows them (its GID is shown as its group)
USER_FIELDS = ("uid", "group", "home", "shell", "comment", "class")


def user_drift(p: Planning, user: User, existing, desired: dict[str, Value]) -> dict[str, FieldChange]:
    """The fields in which the host's EXISTING user differs from DESIRED."""
    current = {
        "group": p.host.gid_holder(existing.gid) or str(existing.gid) if existing.gid != desired["gid"] else user.group,
        "home": existing.home, "shell": existing.shell, "comment": existing.comment, "class": existing.login_class,
    }
    fields = {
        key: FieldChange(current[key], desired[key])
        for key in USER_FIELDS[1:]
        if key in desired and current[key] != desired[key]
    }
    groups = membership(user.groups, lambda group: p.is_member(user.name, group))
    if groups is not None:
        fields["groups"] = groups
    return fields


def path_drift(p: Planning, path, state: PathState) -> dict[str, FieldChange]:
    fields = {}
    if state.uid != p.uid_of(path.owner):
        fields["owner"] = FieldChange(p.host.uid_holder(state.uid) or str(state.uid), path.owner)
    if state.gid != p.gid_of(path.group):
        fields["group"] = FieldChange(p.host.gid_holder(state.gid) or str(state.gid), path.group)
    if state.mode != path.mode_bits:
        fields["mode"] = FieldChange(format_mode(state.mode), format_mode(path.mode_bits))
    return fields


# -- warnings -----------------------------------------------------------------


def user_warnings(p: Planning, user: User, existing) -> None:
    """A usable password; a passwd line without its shadow line."""
    if not is_locked(existing.password):
        p.warn(f"user {user.name} has a usable password; lock it ({p.host.flavor.how_to_lock(user.name)})")
    shadow = p.host.files.get("shadow")
    if existing.password == "x" and shadow is not None and shadow.exists and shadow.get(user.name) is None:
        p.warn(f"user {user.name} is in passwd but not in shadow (an interrupted useradd?); pwconv adds the entry")


def account_file_warnings(p: Planning) -> None:
    """The root and its etc when others than root may write there (they
    could swap the account files for their own); and, when accounts
    change, a file with more than one name: the rewrite replaces it by a
    new file, and its other names keep the old content."""
    host = p.host
    for place, owned in host.unsafe_etc:
        p.warned_parents.add(place)
        p.warn(f"{shown(host.root, place)} ({owned}) is writable by others than root: whoever can write there "
               "can replace the account files; make it root-owned and not group- or world-writable")
    if any(c.kind in ACCOUNT_KINDS for c in p.plan.changes):
        for kind, account_file in host.files.items():
            if account_file.exists and account_file.links > 1:
                p.warn(f"{shown(host.root, '/etc/' + kind)} has {account_file.links} hard links: it is "
                       "replaced by a new file, and its other names keep the old content")


def parent_warnings(p: Planning, path: str, state: PathState) -> None:
    """Warn, once each, of directories above PATH that others may write
    to; a parent that is itself in the spec gets its owner from the plan."""
    in_spec = {spec_path.path for spec_path in p.spec.paths}
    for parent, owned in state.unsafe_parents:
        if parent in in_spec or parent in p.warned_parents:
            continue
        p.warned_parents.add(parent)
        p.warn(f"{shown(p.host.root, parent)} ({owned}) is writable by others than root: whoever can write there can "
               f"replace {path}; make it root-owned and not group- or world-writable")


# -- each object, step by step ------------------------------------------------


def plan_group(p: Planning, name: str, gid: int | None) -> None:
    existing = p.host.groups.get(name)
    if existing:
        if gid is not None and existing.gid != gid:
            p.conflict(Kind.GROUP, name, f"gid is {existing.gid} on the host, the spec says {gid}; "
                       "a GID is never changed (files are owned by number)")
        else:
            p.in_sync(Kind.GROUP, name)
        return
    reason = group_conflict(p, name, gid)
    if reason:
        p.conflict(Kind.GROUP, name, reason)
        return
    made = new_id(p, Kind.GROUP, name, gid)
    if made is None:
        return
    number, allocated = made
    p.add(Change(Kind.GROUP, name, Action.CREATE, {"gid": FieldChange(None, number)},
                 {"name": name, "gid": number}, allocated))


def plan_user(p: Planning, user: User) -> None:
    existing = p.host.users.get(user.name)
    reason = user_conflict(p, user, existing)
    if reason:
        p.conflict(Kind.USER, user.name, reason)
        return
    if groups_unresolved(p, user):
        return
    if existing is None:
        create_user(p, user)
    else:
        modify_user(p, user, existing)


def create_user(p: Planning, user: User) -> None:
    if shell_refused(p, user.name, desired_shell(p, user, None)):
        return
    made = new_id(p, Kind.USER, user.name, user.uid)
    if made is None:
        return
    uid, allocated = made
    desired = desired_user(p, user, uid, p.gid_of(user.group), None)
    fields = {key: FieldChange(None, desired[key]) for key in USER_FIELDS if key in desired}
    if user.groups:
        fields["groups"] = FieldChange(None, ", ".join(user.groups))
    p.add(Change(Kind.USER, user.name, Action.CREATE, fields, desired, allocated, joining=tuple(user.groups)))


def modify_user(p: Planning, user: User, existing) -> None:
    desired = desired_user(p, user, existing.uid, p.gid_of(user.group), existing.shell)
    fields = user_drift(p, user, existing, desired)
    user_warnings(p, user, existing)
    if not fields:
        p.in_sync(Kind.USER, user.name)
        return
    if "shell" in fields and shell_refused(p, user.name, desired["shell"]):
        return
    joining = tuple(group for group in user.groups if not p.is_member(user.name, group))
    p.add(Change(Kind.USER, user.name, Action.MODIFY, fields, desired, drift=True, joining=joining))
    if not p.plan.fix_drift:
        p.warn(f"user {user.name} differs from the spec ({', '.join(fields)}); rerun with --fix-drift to change it")


def plan_path(p: Planning, path) -> None:
    state: PathState = p.host.paths[path.path]
    if path_conflict(p, path, state):
        return
    parent_warnings(p, path.path, state)
    desired = {"path": path.path, "owner": path.owner, "group": path.group, "mode": format_mode(path.mode_bits)}
    if state.kind == "missing":
        fields = {key: FieldChange(None, desired[key]) for key in ("owner", "group", "mode")}
        p.add(Change(Kind.PATH, path.path, Action.CREATE, fields, desired))
        return
    fields = path_drift(p, path, state)
    if fields:
        p.add(Change(Kind.PATH, path.path, Action.MODIFY, fields, desired))
    else:
        p.in_sync(Kind.PATH, path.path)


def repair_passwd(p: Planning) -> None:
    """BSD: master.passwd in sync but passwd not what pwd_mkdb -p makes of
    it (a run that died before pwd_mkdb): rebuilt. With account changes,
    pwd_mkdb runs after them anyway."""
    if p.host.stale_passwd and not p.plan.changes:
        fields = {"content": FieldChange("differs from master.passwd", "as pwd_mkdb -p makes it")}
        p.add(Change(Kind.FILE, "/etc/passwd", Action.MODIFY, fields, {"path": "/etc/passwd"}))


def make_plan(spec: Spec, host: HostState, fix_drift: bool = False) -> Plan:
    p = Planning(spec, host, fix_drift)
    for group in spec.groups:
        plan_group(p, group.name, group.gid)
    for user in spec.users:
        plan_user(p, user)
    account_file_warnings(p)
    repair_passwd(p)
    for path in spec.paths:
        plan_path(p, path)
    return p.plan
