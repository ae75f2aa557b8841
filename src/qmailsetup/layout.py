"""What qmail's build calls the spec's accounts: its roles and its home.

qmail's conf-users and conf-groups are positional (the first line is the
alias user, the second the daemon user, ...). The spec's users are matched
to those roles by name where every role's name is there (also OpenBSD-style,
'_qmaild'); otherwise by position, in the built-in default's order, and a
recognisable name in the wrong place is refused rather than compiled into a
qmail that runs its daemons under the wrong IDs. The two groups follow from
the users: the queue, remote and send users' group is qmail's, the others'
is the group that owns no files (FreeBSD's qnofiles, say).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from qmailsetup.errors import BadInput
from qmailsetup.spec import Spec, User

# conf-users' users, less root (the owner of binaries, never created), in order
USER_ROLES = ("alias", "qmaild", "qmaill", "qmailp", "qmailq", "qmailr", "qmails")
# conf-groups: qmail's group, then the group that owns no files
GROUP_ROLES = ("qmail", "nofiles")
# INSTALL.ids: which of the two groups each user is in
ROLE_GROUP = {
    "alias": "nofiles", "qmaild": "nofiles", "qmaill": "nofiles", "qmailp": "nofiles",
    "qmailq": "qmail", "qmailr": "qmail", "qmails": "qmail",
}


def qmail_home(spec: Spec) -> str:
    """The home most of the spec's users share (/var/qmail in qmail's own
    layout, /var/lib/qmail in Debian's); the first such on a tie."""
    if not spec.users:
        raise BadInput("the spec has no users, so no qmail home directory")
    return Counter(user.home for user in spec.users).most_common(1)[0][0]


def plain_role(name: str) -> str:
    """A name as qmail's own: OpenBSD-style '_qmaild' is the daemon user."""
    return name.lstrip("_")


@dataclass(frozen=True)
class Layout:
    users: dict[str, User]  # role -> the spec's user
    groups: dict[str, str]  # role -> group name
    home: str


def users_by_role(spec: Spec, source: str) -> dict[str, User]:
    by_name = {plain_role(user.name): user for user in spec.users}
    if all(role in by_name for role in USER_ROLES):
        return {role: by_name[role] for role in USER_ROLES}
    if len(spec.users) < len(USER_ROLES):
        raise BadInput(
            f"{source}: qmail needs {len(USER_ROLES)} users, in conf-users' order "
            f"({', '.join(USER_ROLES)}); the spec has {len(spec.users)}"
        )
    for index, (role, user) in enumerate(zip(USER_ROLES, spec.users)):
        named = plain_role(user.name)
        if named in USER_ROLES and named != role:
            raise BadInput(
                f"{source}: users[{index}] is {user.name}, but conf-users' order puts the {role} user there; "
                "list the users in the order of the built-in default"
            )
    return dict(zip(USER_ROLES, spec.users))


def qmail_layout(spec: Spec, source: str) -> Layout:
    """The spec's accounts by qmail role; BadInput naming SOURCE when the
    spec is not one that qmail's conf-users and conf-groups can describe."""
    users = users_by_role(spec, source)
    groups: dict[str, str] = {}
    for group_role in GROUP_ROLES:
        members = [users[role] for role in USER_ROLES if ROLE_GROUP[role] == group_role]
        names = sorted({user.group for user in members})
        if len(names) != 1:
            who = ", ".join(f"{user.name} in {user.group}" for user in members)
            raise BadInput(f"{source}: qmail's {', '.join(u.name for u in members)} users must share one group ({who})")
        groups[group_role] = names[0]
    if groups["qmail"] == groups["nofiles"]:
        raise BadInput(
            f"{source}: group {groups['qmail']} is both qmail's group and the group that owns no files; "
            "qmail needs two groups"
        )
    return Layout(users=users, groups=groups, home=qmail_home(spec))
