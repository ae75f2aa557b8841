"""Planning: the difference between the spec and the host, as plain data.

Pure: it reads a Spec and a HostState and returns a Plan; it touches
nothing (what NSS knows comes through the host state, set by observe).
Groups come before the users that need them, users before the paths they
own. Each object goes through the same steps, each a function below:
conflicts (what refuses it), allocation (an ID the spec leaves open, picked
exactly as the platform's own tool would: shadow-utils' useradd -r counting
down, busybox adduser -S counting up, the profile's id_allocation), drift
(the fields that differ) and warnings. "Who holds this ID" is one query on
the host state (HostState.uid_holder/gid_holder). One module a step: conflicts,
allocation, drift, warnings; model.py is what a plan is made of,
planning.py what the steps share; here, each object step by step.
"""

from __future__ import annotations

from qmailsetup.observe import HostState, PathState
from qmailsetup.plan.allocation import allocate, in_range, new_id, nobody_else
from qmailsetup.plan.conflicts import (
    group_conflict,
    groups_unresolved,
    path_conflict,
    shell_refused,
    unusable_id,
    user_conflict,
)
from qmailsetup.plan.drift import (
    desired_shell,
    desired_user,
    format_mode,
    membership,
    path_drift,
    shown_values,
    user_drift,
)
from qmailsetup.plan.model import (
    ACCOUNT_KINDS,
    BACKEND_KINDS,
    Action,
    Change,
    Conflict,
    Desired,
    DesiredAccount,
    DesiredDirectory,
    DesiredFile,
    DesiredGroup,
    DesiredLink,
    DesiredUser,
    FieldChange,
    Kind,
    Plan,
    Value,
)
from qmailsetup.plan.planning import Planning
from qmailsetup.plan.warnings import account_file_warnings, parent_warnings, user_warnings
from qmailsetup.spec import Spec, User

__all__ = [
    "ACCOUNT_KINDS", "BACKEND_KINDS", "Action", "Change", "Conflict", "Desired", "DesiredAccount", "DesiredDirectory",
    "DesiredFile", "DesiredGroup", "DesiredLink", "DesiredUser", "FieldChange", "Kind", "Plan", "Value",
    "allocate", "format_mode", "in_range", "make_plan", "membership", "nobody_else",
]


def plan_group(p: Planning, name: str, gid: int | None) -> None:
    existing = p.host.groups.get(name)
    if existing:
        unusable = unusable_id(p, Kind.GROUP, name)
        if unusable:
            p.conflict(Kind.GROUP, name, unusable)
        elif gid is not None and existing.gid != gid:
            p.conflict(Kind.GROUP, name, f"gid is {existing.gid} on the host, the spec says {gid}; "
                       "a GID is never changed (files are owned by number)")
        elif not complete_half_made(p, Kind.GROUP, name, DesiredGroup(name, existing.gid)):
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
                 DesiredGroup(name, number), allocated))


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
    desired = desired_user(p, user, uid, None)
    fields = {key: FieldChange(None, value) for key, value in shown_values(desired).items()}
    if user.groups:
        fields["groups"] = FieldChange(None, ", ".join(user.groups))
    p.add(Change(Kind.USER, user.name, Action.CREATE, fields, desired, allocated, joining=tuple(user.groups)))


def modify_user(p: Planning, user: User, existing) -> None:
    desired = desired_user(p, user, existing.uid, existing.shell)
    fields = user_drift(p, user, existing, desired)
    user_warnings(p, user, existing)
    account = DesiredUser(user.name, existing.uid, existing.gid, existing.home, existing.shell,
                          comment=existing.comment)
    repaired = complete_half_made(p, Kind.USER, user.name, account)
    if not fields:
        if not repaired:
            p.in_sync(Kind.USER, user.name)
        return
    if "shell" in fields and shell_refused(p, user.name, desired.shell):
        return
    joining = tuple(group for group in user.groups if not p.is_member(user.name, group))
    p.add(Change(Kind.USER, user.name, Action.MODIFY, fields, desired, drift=True, joining=joining))
    if not p.plan.fix_drift:
        p.warn(f"user {user.name} differs from the spec ({', '.join(fields)}); rerun with --fix-drift to change it")


def plan_path(p: Planning, path) -> None:
    """A spec path: a directory, or a link the spec declares and the
    directory it leads to."""
    if path.link:
        plan_directory(p, path.link, path)
        plan_link(p, path)
    else:
        plan_directory(p, path.path, path)


def plan_directory(p: Planning, name: str, path) -> None:
    """The directory NAME, owned and moded as PATH says; made where it
    really is when links root alone could have made lead there."""
    state: PathState = p.host.paths[name]
    if path_conflict(p, path, state, name):
        return
    parent_warnings(p, name, state)
    if state.via:
        p.note(f"path {name}: links on the way lead to {state.via}, and root alone could have made them: followed")
    desired = DesiredDirectory(state.via or name, path.owner, path.group, format_mode(path.mode_bits))
    if state.kind == "missing":
        fields = {"owner": FieldChange(None, desired.owner), "group": FieldChange(None, desired.group),
                  "mode": FieldChange(None, desired.mode)}
        p.add(Change(Kind.PATH, name, Action.CREATE, fields, desired))
        return
    fields = path_drift(p, path, state)
    if fields:
        p.add(Change(Kind.PATH, name, Action.MODIFY, fields, desired))
    else:
        p.in_sync(Kind.PATH, name)


def plan_link(p: Planning, path) -> None:
    """The link the spec declares at PATH.path, leading to PATH.link."""
    state: PathState = p.host.paths[path.path]
    wanted = p.host.paths[path.link].via or path.link
    if state.kind == "missing":
        desired = DesiredLink(path.path, path.link)
        p.add(Change(Kind.LINK, path.path, Action.CREATE, {"link": FieldChange(None, path.link)}, desired))
    elif state.kind == "symlink" and state.leads_to == wanted:
        p.in_sync(Kind.LINK, path.path)
    elif state.kind == "symlink":
        p.conflict(Kind.LINK, path.path, f"is a link to {state.leads_to or '(a loop)'}; the spec wants one to "
                   f"{path.link}: remove it and run again, or change the spec's link")
    elif state.kind == "directory":
        p.conflict(Kind.LINK, path.path, f"is a directory; the spec wants a link to {path.link}: move what it holds "
                   f"there, remove it and run again, or take link out of the spec")
    else:
        p.conflict(Kind.LINK, path.path, "exists and is neither a link nor a directory")


def complete_half_made(p: Planning, kind: Kind, name: str, account: DesiredAccount) -> bool:
    """An account with its passwd or group line but without the shadow or
    gshadow line the host keeps (useradd or groupadd stopped between the
    two; userdb/filekinds.py, FileKind.companion) gets that line, made of
    ACCOUNT as the host has it; True when it is half-made. Not drift: no
    --fix-drift."""
    records = p.host.users if kind == Kind.USER else p.host.groups
    companion = records.half_made(name)
    if companion is None:
        return False
    p.add(Change(kind, name, Action.REPAIR, {companion: FieldChange("missing", "present")}, account))
    return True


def repair_passwd(p: Planning) -> None:
    """BSD: master.passwd in sync but passwd not what pwd_mkdb -p makes of
    it (a run that died before pwd_mkdb): rebuilt. With account changes,
    pwd_mkdb runs after them anyway."""
    if p.host.stale_passwd and not p.plan.changes:
        fields = {"content": FieldChange("differs from master.passwd", "as pwd_mkdb -p makes it")}
        p.add(Change(Kind.FILE, "/etc/passwd", Action.MODIFY, fields, DesiredFile("/etc/passwd")))


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
