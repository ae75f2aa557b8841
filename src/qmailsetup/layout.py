"""What qmail's build calls the spec's accounts: its roles and its home.

qmail's conf-users and conf-groups are positional (the first line is the
alias user, the second the daemon user, ...). Each spec account plays a
role: the one its `role` field names ("daemon", "queue", ...), else the one
its name is qmail's standard name for (also OpenBSD-style '_qmaild', and
s/qmail's eighth user sqmtls, its TLS user). When no user is known that
way, the users are taken by position, in the built-in default's order, and
a recognisable name in the wrong place is refused rather than compiled into
a qmail that runs its daemons under the wrong IDs. The two groups follow
from the users: the queue, remote and send users' group is qmail's
(s/qmail's sqmail), the others' is the group that owns no files
(FreeBSD's qnofiles, say).

Roles are keyed by qmail's standard names (USER_ROLES, GROUP_ROLES):
the key "qmaild" is the daemon user, whatever the host calls it.
"""

from __future__ import annotations

from dataclasses import dataclass

from qmailsetup.errors import BadInput
from qmailsetup.spec import Spec, User

# conf-users' users, less root (the owner of binaries, never created), in order
USER_ROLES = ("alias", "qmaild", "qmaill", "qmailp", "qmailq", "qmailr", "qmails")
# s/qmail's eighth user, the owner of its TLS certificates (conf-ids only)
TLS_ROLE = "sqmtls"
# conf-groups: qmail's group, then the group that owns no files
GROUP_ROLES = ("qmail", "nofiles")
# INSTALL.ids: which of the two groups each user is in
ROLE_GROUP = {
    "alias": "nofiles", "qmaild": "nofiles", "qmaill": "nofiles", "qmailp": "nofiles",
    "qmailq": "qmail", "qmailr": "qmail", "qmails": "qmail",
}
# the spec's `role` values (conf-users' words) -> the role's standard name
SPEC_USER_ROLES = {
    "alias": "alias", "daemon": "qmaild", "log": "qmaill", "passwd": "qmailp",
    "queue": "qmailq", "remote": "qmailr", "send": "qmails", "tls": TLS_ROLE,
}
ROLE_TITLES = {standard: f"{word} user" for word, standard in SPEC_USER_ROLES.items()}
# group names known to play a role: FreeBSD's ports say qnofiles, s/qmail sqmail
GROUP_NAMES = {"qmail": "qmail", "sqmail": "qmail", "nofiles": "nofiles", "qnofiles": "nofiles"}


def plain_role(name: str) -> str:
    """A name as qmail's own: OpenBSD-style '_qmaild' is the daemon user."""
    return name.lstrip("_")


def user_role(user: User) -> str | None:
    """The role USER plays, by its `role` field or its name; None for none."""
    if user.role is not None:
        return SPEC_USER_ROLES[user.role]
    name = plain_role(user.name)
    return name if name in ROLE_TITLES else None


def group_role(name: str, spec: Spec) -> str | None:
    group = spec.group(name)
    if group is not None and group.role is not None:
        return group.role
    return GROUP_NAMES.get(plain_role(name))


@dataclass(frozen=True)
class Layout:
    users: dict[str, User]  # role -> the spec's user (USER_ROLES, and TLS_ROLE where there is one)
    groups: dict[str, str]  # role -> group name
    home: str

    def role_of(self, name: str) -> str | None:
        """The role of the user or group called NAME, if it plays one."""
        found = [role for role, user in self.users.items() if user.name == name]
        found += [role for role, group in self.groups.items() if group == name]
        return found[0] if found else None


def users_by_role(spec: Spec, source: str) -> dict[str, User]:
    by_role: dict[str, User] = {}
    for user in spec.users:
        role = user_role(user)
        if role is None:
            continue
        if role in by_role:
            raise BadInput(f"{source}: users {by_role[role].name} and {user.name} both play the {ROLE_TITLES[role]} role")
        by_role[role] = user
    if all(role in by_role for role in USER_ROLES):
        return by_role
    if any(user.role is not None for user in spec.users):
        missing = [ROLE_TITLES[role] for role in USER_ROLES if role not in by_role]
        raise BadInput(f"{source}: no user plays qmail's {', '.join(missing)} role (role = ...)")
    return users_by_position(spec, source)


def users_by_position(spec: Spec, source: str) -> dict[str, User]:
    if len(spec.users) < len(USER_ROLES):
        raise BadInput(
            f"{source}: qmail needs {len(USER_ROLES)} users, in conf-users' order "
            f"({', '.join(USER_ROLES)}); the spec has {len(spec.users)}"
        )
    for index, (role, user) in enumerate(zip(USER_ROLES, spec.users, strict=True)):
        named = plain_role(user.name)
        if named in USER_ROLES and named != role:
            raise BadInput(
                f"{source}: users[{index}] is {user.name}, but conf-users' order puts the {role} user there; "
                "list the users in the order of the built-in default, or give each its role"
            )
    return dict(zip(USER_ROLES, spec.users, strict=True))


def qmail_layout(spec: Spec, source: str) -> Layout:
    """The spec's accounts by qmail role; BadInput naming SOURCE when the
    spec is not one that qmail's conf-users and conf-groups can describe."""
    users = users_by_role(spec, source)
    groups: dict[str, str] = {}
    for role in GROUP_ROLES:
        members = [users[name] for name in USER_ROLES if ROLE_GROUP[name] == role]
        names = sorted({user.group for user in members})
        if len(names) != 1:
            who = ", ".join(f"{user.name} in {user.group}" for user in members)
            raise BadInput(f"{source}: qmail's {', '.join(u.name for u in members)} users must share one group ({who})")
        groups[role] = names[0]
    if groups["qmail"] == groups["nofiles"]:
        raise BadInput(
            f"{source}: group {groups['qmail']} is both qmail's group and the group that owns no files; "
            "qmail needs two groups"
        )
    for group in spec.groups:
        if group.role is not None and groups[group.role] != group.name:
            raise BadInput(
                f"{source}: group {group.name} has role {group.role}, but the users make {groups[group.role]} "
                f"that group"
            )
    return Layout(users=users, groups=groups, home=spec.qmail.home)


def standard_names(spec: Spec) -> tuple[dict[str, str], dict[str, str]]:
    """({user name: its role's standard name}, {group name: ...}) for the
    spec's accounts that play a role ('_qmaild' -> 'qmaild', 'qnofiles' ->
    'nofiles'); by the layout where qmail can be built from the spec, else
    by each account's own `role` or name."""
    try:
        layout = qmail_layout(spec, "the spec")
    except BadInput:
        users = {user.name: user_role(user) for user in spec.users}
        groups = {group.name: group_role(group.name, spec) for group in spec.groups}
        return ({n: r for n, r in users.items() if r}, {n: r for n, r in groups.items() if r})
    return ({user.name: role for role, user in layout.users.items()}, {name: role for role, name in layout.groups.items()})


def spec_roles(spec: Spec) -> tuple[dict[str, str], dict[str, str]]:
    """Like standard_names, but in the spec's own words: {'_qmaild': 'daemon'}, {'qnofiles': 'nofiles'}."""
    words = {standard: word for word, standard in SPEC_USER_ROLES.items()}
    users, groups = standard_names(spec)
    return {name: words[role] for name, role in users.items()}, groups
