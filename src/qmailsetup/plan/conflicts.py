"""Conflicts: what refuses an object of the spec (an ID held by another
account, a name only NSS knows, a group or owner not to be had, an ID no
file can be given, a shell the platform's tool would refuse, a symlink or
file where a directory goes).
A refused object is left out of the plan; nothing is written while any
conflict stands."""

from __future__ import annotations

from qmailsetup.observe import PathState, shown
from qmailsetup.plan.model import Kind
from qmailsetup.plan.planning import Planning
from qmailsetup.spec import User
from qmailsetup.target import SYSTEM_DIRECTORIES
from qmailsetup.userdb.filekinds import ID_COLUMNS

# chown(2) reads (uid_t)-1 and (gid_t)-1 as "leave it as it is", and neither
# type holds more than 32 bits: from here up, an ID is no owner or group any
# file can be given (the spec's own IDs stop at 2**31 - 1, spec.MAX_ID)
NO_CHANGE_ID = 2**32 - 1


def unusable_id(p: Planning, kind: Kind, name: str) -> str | None:
    """Why the host's account KIND NAME, which the plan relies on, has an
    ID no file can be given; None when it has none such (or no account)."""
    record = (p.host.users if kind == Kind.USER else p.host.groups).get(name)
    if record is None or record.own_id < NO_CHANGE_ID:
        return None
    label = ID_COLUMNS[kind]
    where = shown(p.host.root, f"/etc/{p.host.flavor.file_of(kind)}")
    if record.own_id == NO_CHANGE_ID:
        why = f"is ({label}_t)-1, which chown reads as 'leave it unchanged'"
    else:
        why = f"is more than a {label}_t holds (32 bits)"
    return f"{label} {record.own_id} in {where} {why}: no file can be given that {label}; renumber the account by hand"


def host_only_unusable(p: Planning, kind: Kind, name: str, in_spec: bool) -> str | None:
    """unusable_id for an account outside the spec (a directory's owner, a
    user's group from the host), which has no conflict of its own."""
    return None if in_spec else unusable_id(p, kind, name)


def unresolved(p: Planning, kind: Kind, name: str, role: str, needed: str, in_spec: bool) -> None:
    """A conflict for an object whose ROLE (group, owner) NEEDED is not
    to be had: refused itself (its own conflict says why), or nowhere."""
    why = "cannot be made (see its conflict)" if in_spec else "is neither in the spec nor on the host"
    p.conflict(kind, name, f"its {role} {needed} {why}")


def made_meanwhile(p: Planning, kind: Kind, name: str) -> str:
    """The conflict of an account that was not in the local file when this
    run read it, and is there now: NSS found it there, not elsewhere."""
    where = shown(p.host.root, f"/etc/{p.host.flavor.file_of(kind)}")
    return f"made meanwhile by another run: in {where} now, not when this run read it; run again"


def group_conflict(p: Planning, name: str, gid: int | None) -> str | None:
    """Why the group NAME (to be made, with GID when the spec fixes it) is refused."""
    host = p.host
    if (Kind.GROUP, name) in host.made_meanwhile:
        return made_meanwhile(p, Kind.GROUP, name)
    if name in host.nss_groups:
        return f"exists only in NSS (gid {host.nss_groups[name]}), not in the local group file"
    holder = None if gid is None else host.gid_holder(gid)
    return None if holder is None else f"gid {gid} is already held by group {holder}"


def user_conflict(p: Planning, user: User, existing) -> str | None:
    """Why USER (EXISTING on the host, or None) is refused before its group is looked at."""
    host = p.host
    if existing is None and (Kind.USER, user.name) in host.made_meanwhile:
        return made_meanwhile(p, Kind.USER, user.name)
    if existing is None and user.name in host.nss_users:
        return f"exists only in NSS (uid {host.nss_users[user.name]}), not in the local files"
    unusable = unusable_id(p, Kind.USER, user.name)
    if unusable:
        return unusable
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
    unusable = host_only_unusable(p, Kind.GROUP, user.group, p.spec.group(user.group) is not None)
    if unusable:
        p.conflict(Kind.USER, user.name, f"its group {user.group}: {unusable}")
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


def link_advice(state: PathState, link: str) -> str:
    """What to do about a link that may not be followed."""
    where = f" to {state.leads_to}" if state.leads_to else ""
    if state.leads_to in SYSTEM_DIRECTORIES:
        return f"{link} is a symlink{where} that is not followed: {state.distrust}; remove the link"
    return (f"{link} is a symlink{where} that is not followed: {state.distrust}; make the link and every "
            f"directory on its way root's alone (not writable by others), or declare it in the spec "
            f"([[paths]] path = \"{link}\", link = \"{state.leads_to or '...'}\")")


def path_conflict(p: Planning, path, state: PathState, name: str | None = None) -> bool:
    """A conflict when the directory NAME (PATH's own by default) cannot be
    had (its owner or group missing, a symlink that may not be followed or a
    file in the way); True when there was one."""
    name = name or path.path
    owner_in_spec = any(user.name == path.owner for user in p.spec.users)
    group_in_spec = p.spec.group(path.group) is not None
    owner_unusable = host_only_unusable(p, Kind.USER, path.owner, owner_in_spec)
    group_unusable = host_only_unusable(p, Kind.GROUP, path.group, group_in_spec)
    if p.uid_of(path.owner) is None:
        unresolved(p, Kind.PATH, name, "owner", path.owner, owner_in_spec)
    elif p.gid_of(path.group) is None:
        unresolved(p, Kind.PATH, name, "group", path.group, group_in_spec)
    elif owner_unusable:
        p.conflict(Kind.PATH, name, f"its owner {path.owner}: {owner_unusable}")
    elif group_unusable:
        p.conflict(Kind.PATH, name, f"its group {path.group}: {group_unusable}")
    elif state.blocked_by and state.distrust:
        p.conflict(Kind.PATH, name, link_advice(state, state.blocked_by))
    elif state.blocked_by:
        p.conflict(Kind.PATH, name, f"{state.blocked_by} is a symlink or not a directory; refusing to follow it")
    elif state.kind == "symlink" and state.distrust:
        p.conflict(Kind.PATH, name, link_advice(state, name))
    elif state.kind == "symlink":
        p.conflict(Kind.PATH, name, "is a symlink; a directory must be here, and links are never followed")
    elif state.kind == "other":
        p.conflict(Kind.PATH, name, "exists and is not a directory")
    else:
        return False
    return True
