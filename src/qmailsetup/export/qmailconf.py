"""qmail's conf-users, conf-groups and conf-qmail for a source tree, so a
spec that renames the accounts builds a qmail that matches it.

qmail's Makefile reads only the first lines of each (`head -1 conf-qmail`,
`head -2 conf-users | tail -1`, ...); the text after the blank line is for
people, as in the files qmail ships.
"""

from __future__ import annotations

from qmailsetup import __version__
from qmailsetup.export import Output
from qmailsetup.layout import GROUP_ROLES, USER_ROLES, qmail_layout
from qmailsetup.platforms import Profile
from qmailsetup.spec import Spec

# conf-users' fourth line: the owner of binaries and other files
BINARIES_OWNER = "root"


def conf_file(name: str, values: list[str], note: str) -> Output:
    return Output(name, "\n".join(values) + "\n\n" + note.strip() + "\n")


def qmail_conf(spec: Spec, profile: Profile, source: str) -> list[Output]:
    layout = qmail_layout(spec, source)
    users = [layout.users[role].name for role in USER_ROLES]
    users.insert(3, BINARIES_OWNER)
    written = f"Written by qmailsetup {__version__} from {source}."
    return [
        conf_file("conf-users", users, f"""
{written}
The build reads the first eight lines, in this order: the alias user, the
daemon user, the log user, the owner of the binaries, the passwd user, the
queue user, the remote user and the send user. Their numeric IDs are
compiled into qmail, so they must exist before the build and never change.
"""),
        conf_file("conf-groups", [layout.groups[role] for role in GROUP_ROLES], f"""
{written}
The build reads the first two lines: qmail's group, then a group that owns
no files but can run processes (not nogroup or nobody).
"""),
        conf_file("conf-qmail", [layout.home], f"""
{written}
qmail's home directory, where it keeps the queue: a local filesystem with
synchronous metadata, never one shared among machines.
"""),
    ]
