"""Drift: what the spec wants of an object, and the fields in which the
host's differs (shown current -> desired)."""

from __future__ import annotations

from qmailsetup.observe import PathState
from qmailsetup.plan.model import DesiredUser, FieldChange
from qmailsetup.plan.planning import Planning
from qmailsetup.platforms import is_login_shell
from qmailsetup.spec import User


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


def desired_shell(p: Planning, user: User, current: str | None) -> str:
    if user.shell is not None:
        return user.shell
    # any shell that gives no login will do; only a login shell is drift
    if current is not None and not is_login_shell(current):
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


def desired_user(p: Planning, user: User, uid: int, current_shell: str | None) -> DesiredUser:
    """USER as the spec wants it, with UID; its group resolved already
    (conflicts.groups_unresolved refuses a user whose group is not to be had)."""
    gid = p.gid_of(user.group)
    if gid is None:
        raise LookupError(f"user {user.name}: group {user.group} has no GID, yet no conflict refused the user")
    return DesiredUser(user.name, uid, gid, user.home, desired_shell(p, user, current_shell), group=user.group,
                       comment=user.comment, login_class=login_class(p, user), groups=tuple(user.groups))


def shown_values(desired: DesiredUser) -> dict[str, str | int]:
    """The fields of a user as the plan shows them, in that order (its GID
    shown as its group), those it leaves unset left out."""
    values = {"uid": desired.uid, "group": desired.group, "home": desired.home, "shell": desired.shell,
              "comment": desired.comment, "class": desired.login_class}
    return {key: value for key, value in values.items() if value is not None}


def current_values(user, groups) -> dict:
    """A user's values under the names the plan's fields use (its primary
    group by name, as GROUPS, records, hold its GID)."""
    return {
        "group": groups.holder(user.gid) or str(user.gid),
        "home": user.home,
        "shell": user.shell,
        "comment": user.comment,
        "class": user.login_class,
    }


def user_drift(p: Planning, user: User, existing, desired: DesiredUser) -> dict[str, FieldChange]:
    """The fields in which the host's EXISTING user differs from DESIRED,
    current as current_values() shows them."""
    current = current_values(existing, p.host.groups)
    if existing.gid == desired.gid:
        current["group"] = user.group  # the same group, whichever name holds the GID first
    fields = {
        key: FieldChange(current[key], value)
        for key, value in shown_values(desired).items()
        if key != "uid" and current[key] != value
    }
    groups = membership(user.groups, lambda group: p.is_member(user.name, group))
    if groups is not None:
        fields["groups"] = groups
    return fields


def path_drift(p: Planning, path, state: PathState) -> dict[str, FieldChange]:
    """The fields in which the directory STATE, one that exists, differs from the spec's PATH."""
    if state.uid is None or state.gid is None or state.mode is None:
        raise ValueError(f"{state.path}: {state.kind}, not a directory")
    fields = {}
    if state.uid != p.uid_of(path.owner):
        fields["owner"] = FieldChange(p.host.uid_holder(state.uid) or str(state.uid), path.owner)
    if state.gid != p.gid_of(path.group):
        fields["group"] = FieldChange(p.host.gid_holder(state.gid) or str(state.gid), path.group)
    if state.mode != path.mode_bits:
        fields["mode"] = FieldChange(format_mode(state.mode), format_mode(path.mode_bits))
    return fields
