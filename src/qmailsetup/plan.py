"""Planning: the difference between the spec and the host, as plain data.

Pure: it reads a Spec and a HostState and returns a Plan; it touches
nothing (what NSS knows comes through HostState's nss_holds_uid/gid, set by
observe). Groups come before the users that need them, users before the
paths they own. IDs the spec leaves open are allocated here exactly as the
platform's own tool would pick them (shadow-utils' useradd -r counting
down, busybox adduser -S counting up: the profile's id_allocation), so
every backend agrees with what the dry run showed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qmailsetup.observe import HostState, PathState, shown
from qmailsetup.spec import RESERVED_IDS, Spec, User


@dataclass(frozen=True)
class FieldChange:
    current: str | int | None
    desired: str | int | None


@dataclass
class Change:
    kind: str  # "group", "user", "path" or "file" (a file made from others: BSD's passwd)
    name: str
    action: str  # "create" or "modify"
    fields: dict[str, FieldChange]
    # the whole desired object; for a modify, only the changed fields count
    # ("groups": the supplementary groups to join, a tuple of names)
    values: dict[str, str | int | tuple[str, ...]]
    # IDs the planner allocated: command backends let the tool choose them
    allocated: frozenset[str] = frozenset()
    drift: bool = False


# the kinds of change a backend carries out (apply does the paths itself)
BACKEND_KINDS = ("group", "user", "file")
# the kinds that are account entries
ACCOUNT_KINDS = ("group", "user")


@dataclass(frozen=True)
class Conflict:
    kind: str
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


class Planner:
    def __init__(self, spec: Spec, host: HostState, fix_drift: bool) -> None:
        self.spec = spec
        self.host = host
        self.plan = Plan(fix_drift=fix_drift)
        # the IDs in use in the system range (only those count when allocating;
        # a large host has 100,000 others), fixed IDs of the spec included
        ids = host.id_range
        self.used_gids = in_range([host.gid_names, host.nss_gids, [g.gid for g in spec.groups]], ids.gid_min, ids.gid_max)
        self.used_uids = in_range([host.uid_names, host.nss_uids, [u.uid for u in spec.users]], ids.uid_min, ids.uid_max)
        self.upward = host.profile.id_allocation == "up"
        # GIDs of the groups this plan creates; the host's are looked up
        self.created_groups: dict[str, int] = {}
        # UIDs of the users this plan creates; the host's are looked up
        # when needed (a large host has 100,000)
        self.created_uids: dict[str, int] = {}
        self.warned_parents: set[str] = set()

    def gid_of(self, group: str) -> int | None:
        existing = self.host.groups.get(group)
        return existing.gid if existing else self.created_groups.get(group)

    def is_member(self, user: str, group: str) -> bool:
        """USER is in the member list of GROUP as the host has it now."""
        existing = self.host.groups.get(group)
        return existing is not None and user in existing.members

    def supplementary_unresolved(self, user: User) -> bool:
        """A conflict for each of USER's supplementary groups that is not to
        be had (as for its primary group); True when there was one."""
        unresolved = [group for group in user.groups if self.gid_of(group) is None]
        for group in unresolved:
            self.unresolved("user", user.name, "supplementary group", group, self.spec.group(group) is not None)
        return bool(unresolved)

    def missing_memberships(self, user: User) -> tuple[FieldChange | None, tuple[str, ...]]:
        """The drift of an existing USER's supplementary groups, and the
        groups it is to be added to."""
        field = membership(user.groups, lambda group: self.is_member(user.name, group))
        missing = tuple(group for group in user.groups if not self.is_member(user.name, group))
        return field, missing

    def conflict(self, kind: str, name: str, reason: str) -> None:
        self.plan.conflicts.append(Conflict(kind, name, reason))

    def unresolved(self, kind: str, name: str, role: str, needed: str, in_spec: bool) -> None:
        """A conflict for an object whose ROLE (group, owner) NEEDED is not
        to be had: refused itself (its own conflict says why), or nowhere."""
        why = "cannot be made (see its conflict)" if in_spec else "is neither in the spec nor on the host"
        self.conflict(kind, name, f"its {role} {needed} {why}")

    def login_class(self, user: User) -> str | None:
        """The spec's login class where the host keeps one (the BSDs' master.passwd);
        elsewhere there is no field for it, and saying so beats a drift
        that could never be fixed."""
        if user.login_class is None or self.host.flavor.login_classes:
            return user.login_class
        self.plan.warnings.append(
            f"user {user.name}: class {user.login_class!r} ignored; "
            f"platform {self.host.profile.name} keeps no login classes"
        )
        return None

    def run(self) -> Plan:
        for group in self.spec.groups:
            self.plan_group(group.name, group.gid)
        for user in self.spec.users:
            self.plan_user(user)
        self.warn_account_files()
        self.repair_passwd()
        for path in self.spec.paths:
            self.plan_path(path)
        return self.plan

    def repair_passwd(self) -> None:
        """BSD: master.passwd in sync but passwd not what pwd_mkdb -p makes
        of it (a run that died before pwd_mkdb): rebuilt. With account
        changes, pwd_mkdb runs after them anyway."""
        if self.host.stale_passwd and not self.plan.changes:
            fields = {"content": FieldChange("differs from master.passwd", "as pwd_mkdb -p makes it")}
            self.plan.changes.append(Change("file", "/etc/passwd", "modify", fields, {"path": "/etc/passwd"}))

    def warn_account_files(self) -> None:
        """The root and its etc when others than root may write there (they
        could swap the account files for their own); and, when accounts
        change, a file with more than one name: the rewrite replaces it by a
        new file, and its other names keep the old content."""
        for place, owned in self.host.unsafe_etc:
            self.warned_parents.add(place)
            self.plan.warnings.append(
                f"{shown(self.host.root, place)} ({owned}) is writable by others than root: whoever can write there "
                "can replace the account files; make it root-owned and not group- or world-writable"
            )
        if any(c.kind in ACCOUNT_KINDS for c in self.plan.changes):
            for kind, account_file in self.host.files.items():
                if account_file.exists and account_file.links > 1:
                    self.plan.warnings.append(
                        f"{shown(self.host.root, '/etc/' + kind)} has {account_file.links} hard links: it is "
                        "replaced by a new file, and its other names keep the old content"
                    )

    def plan_group(self, name: str, gid: int | None) -> None:
        host = self.host
        existing = host.groups.get(name)
        if existing:
            if gid is not None and existing.gid != gid:
                self.conflict(
                    "group", name,
                    f"gid is {existing.gid} on the host, the spec says {gid}; "
                    "a GID is never changed (files are owned by number)",
                )
            else:
                self.plan.unchanged.append(("group", name))
            return
        if name in host.nss_groups:
            self.conflict("group", name, f"exists only in NSS (gid {host.nss_groups[name]}), not in the local group file")
            return
        allocated = frozenset()
        if gid is not None:
            holder = host.gid_names.get(gid) or host.nss_gids.get(gid)
            if holder:
                self.conflict("group", name, f"gid {gid} is already held by group {holder}")
                return
        else:
            ids = host.id_range
            gid = allocate(self.used_gids, ids.gid_min, ids.gid_max, self.upward, host.nss_holds_gid or nobody_else)
            if gid is None:
                self.conflict("group", name, f"no free gid left in the system range {ids.gid_min}-{ids.gid_max}")
                return
            self.used_gids.add(gid)
            allocated = frozenset({"gid"})
        self.created_groups[name] = gid
        self.plan.changes.append(
            Change("group", name, "create", {"gid": FieldChange(None, gid)}, {"name": name, "gid": gid}, allocated)
        )

    def desired_shell(self, user: User, current: str | None) -> str:
        if user.shell is not None:
            return user.shell
        # any shell that gives no login will do; only a login shell is drift
        if current is not None and self.host.profile.is_non_login(current):
            return current
        return self.host.nologin

    def shell_refused(self, name: str, shell: str) -> bool:
        """A conflict when the platform's tool would refuse SHELL (NetBSD's
        useradd and usermod fail with "Cannot access shell" after the groups
        were made): found here, before anything runs."""
        accepted = self.host.accepted_shells
        if accepted is None or shell in accepted:
            return False
        self.conflict(
            "user", name,
            f"shell {shell}: {self.host.profile.name}'s useradd and usermod accept only {self.host.profile.nologin[0]}, "
            f"a shell listed in {shown(self.host.root, '/etc/shells')} or an executable file; "
            "name one of those in the spec (shell = ...)",
        )
        return True

    def plan_user(self, user: User) -> None:
        host = self.host
        existing = host.users.get(user.name)
        if existing is None and user.name in host.nss_users:
            self.conflict("user", user.name, f"exists only in NSS (uid {host.nss_users[user.name]}), not in the local files")
            return
        if existing is not None and user.uid is not None and existing.uid != user.uid:
            self.conflict(
                "user", user.name,
                f"uid is {existing.uid} on the host, the spec says {user.uid}; "
                "qmail compiles UIDs in, so an account is never renumbered",
            )
            return
        holder = None if existing or user.uid is None else host.uid_names.get(user.uid) or host.nss_uids.get(user.uid)
        if holder:
            self.conflict("user", user.name, f"uid {user.uid} is already held by user {holder}")
            return
        gid = self.gid_of(user.group)
        if gid is None:
            self.unresolved("user", user.name, "group", user.group, self.spec.group(user.group) is not None)
            return
        if self.supplementary_unresolved(user):
            return
        if existing is None:
            self.create_user(user, gid)
            return
        fields: dict[str, FieldChange] = {}
        if existing.gid != gid:
            fields["group"] = FieldChange(host.gid_names.get(existing.gid, str(existing.gid)), user.group)
        if existing.home != user.home:
            fields["home"] = FieldChange(existing.home, user.home)
        shell = self.desired_shell(user, existing.shell)
        if existing.shell != shell:
            fields["shell"] = FieldChange(existing.shell, shell)
        if user.comment is not None and existing.comment != user.comment:
            fields["comment"] = FieldChange(existing.comment, user.comment)
        login_class = self.login_class(user)
        if login_class is not None and existing.login_class != login_class:
            fields["class"] = FieldChange(existing.login_class, login_class)
        groups, joining = self.missing_memberships(user)
        if groups is not None:
            fields["groups"] = groups
        if not is_locked(existing.password):
            self.plan.warnings.append(
                f"user {user.name} has a usable password; lock it ({host.flavor.how_to_lock(user.name)})"
            )
        shadow = host.files.get("shadow")
        if existing.password == "x" and shadow is not None and shadow.exists and shadow.get(user.name) is None:
            self.plan.warnings.append(
                f"user {user.name} is in passwd but not in shadow (an interrupted useradd?); pwconv adds the entry"
            )
        if not fields:
            self.plan.unchanged.append(("user", user.name))
            return
        if "shell" in fields and self.shell_refused(user.name, shell):
            return
        values = {"name": user.name, **{key: change.desired for key, change in fields.items()}}
        if "group" in fields:
            values["gid"] = gid
        if joining:
            values["groups"] = joining
        self.plan.changes.append(Change("user", user.name, "modify", fields, values, drift=True))
        if not self.plan.fix_drift:
            changed = ", ".join(fields)
            self.plan.warnings.append(f"user {user.name} differs from the spec ({changed}); rerun with --fix-drift to change it")

    def create_user(self, user: User, gid: int) -> None:
        host = self.host
        shell = self.desired_shell(user, None)
        if self.shell_refused(user.name, shell):
            return
        uid, allocated = user.uid, frozenset()
        if uid is None:
            ids = host.id_range
            uid = allocate(self.used_uids, ids.uid_min, ids.uid_max, self.upward, host.nss_holds_uid or nobody_else)
            if uid is None:
                self.conflict("user", user.name, f"no free uid left in the system range {ids.uid_min}-{ids.uid_max}")
                return
            self.used_uids.add(uid)
            allocated = frozenset({"uid"})
        self.created_uids[user.name] = uid
        values: dict[str, str | int] = {
            "name": user.name, "uid": uid, "group": user.group, "gid": gid,
            "home": user.home, "shell": shell,
        }
        if user.comment is not None:
            values["comment"] = user.comment
        login_class = self.login_class(user)
        if login_class is not None:
            values["class"] = login_class
        shown = ("uid", "group", "home", "shell", "comment", "class")
        fields = {key: FieldChange(None, values[key]) for key in shown if key in values}
        if user.groups:
            values["groups"] = tuple(user.groups)
            fields["groups"] = FieldChange(None, ", ".join(user.groups))
        self.plan.changes.append(Change("user", user.name, "create", fields, values, allocated))

    def warn_unsafe_parents(self, path: str, state: PathState) -> None:
        """Warn, once each, of directories above PATH that others may write
        to; a parent that is itself in the spec gets its owner from the plan."""
        in_spec = {p.path for p in self.spec.paths}
        for parent, owned in state.unsafe_parents:
            if parent in in_spec or parent in self.warned_parents:
                continue
            self.warned_parents.add(parent)
            self.plan.warnings.append(
                f"{shown(self.host.root, parent)} ({owned}) is writable by others than root: whoever can write there can "
                f"replace {path}; make it root-owned and not group- or world-writable"
            )

    def plan_path(self, path) -> None:
        state: PathState = self.host.paths[path.path]
        existing = self.host.users.get(path.owner)
        owner_uid = existing.uid if existing else self.created_uids.get(path.owner)
        gid = self.gid_of(path.group)
        if owner_uid is None:
            in_spec = any(user.name == path.owner for user in self.spec.users)
            self.unresolved("path", path.path, "owner", path.owner, in_spec)
            return
        if gid is None:
            self.unresolved("path", path.path, "group", path.group, self.spec.group(path.group) is not None)
            return
        if state.blocked_by:
            self.conflict("path", path.path, f"{state.blocked_by} is a symlink or not a directory; refusing to follow it")
            return
        if state.kind == "symlink":
            self.conflict("path", path.path, "is a symlink; a directory must be here, and links are never followed")
            return
        if state.kind == "other":
            self.conflict("path", path.path, "exists and is not a directory")
            return
        self.warn_unsafe_parents(path.path, state)
        mode = format_mode(path.mode_bits)
        values = {"path": path.path, "owner": path.owner, "group": path.group, "mode": mode}
        if state.kind == "missing":
            fields = {key: FieldChange(None, values[key]) for key in ("owner", "group", "mode")}
            self.plan.changes.append(Change("path", path.path, "create", fields, values))
            return
        fields = {}
        if state.uid != owner_uid:
            fields["owner"] = FieldChange(self.host.uid_names.get(state.uid, str(state.uid)), path.owner)
        if state.gid != gid:
            fields["group"] = FieldChange(self.host.gid_names.get(state.gid, str(state.gid)), path.group)
        if state.mode != path.mode_bits:
            fields["mode"] = FieldChange(format_mode(state.mode), mode)
        if fields:
            self.plan.changes.append(Change("path", path.path, "modify", fields, values))
        else:
            self.plan.unchanged.append(("path", path.path))


def make_plan(spec: Spec, host: HostState, fix_drift: bool = False) -> Plan:
    return Planner(spec, host, fix_drift).run()
