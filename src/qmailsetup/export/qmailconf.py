"""qmail's conf-users, conf-groups and conf-qmail for a source tree, so a
spec that renames the accounts builds a qmail that matches it; and, for
s/qmail (a spec with its eighth user, the TLS user), conf-ids.

qmail's Makefile reads only the first lines of each (`head -1 conf-qmail`,
`head -2 conf-users | tail -1`, ...); the text after the blank line is for
people, as in the files qmail ships. What the text says about the IDs
holds for each fork: qmail 1.03 and netqmail compile the numeric IDs in
(auto-uid, auto-gid); notqmail 1.07 and later look the names up when they
run (uid.c); s/qmail takes the numbers from conf-ids, whose lines are
`ID:name:comment:group[:directory]` for users and `ID:name:comment:` for
groups (fehcom.de, sqmaildoc_01, 1.3.3).
"""

from __future__ import annotations

from qmailsetup import __version__
from qmailsetup.errors import BadInput
from qmailsetup.export import Output
from qmailsetup.layout import GROUP_ROLES, TLS_ROLE, USER_ROLES, Layout, qmail_layout
from qmailsetup.platforms import Profile
from qmailsetup.spec import Spec

# conf-users' fourth line: the owner of binaries and other files
BINARIES_OWNER = "root"
ID_NOTE = {
    "qmail": """\
qmail 1.03 and netqmail compile these users' numeric IDs in when they are
built, so the accounts must exist before the build and never change number
afterwards (a renumber means a rebuild). notqmail 1.07 and later look the
names up each time they run, so the accounts must exist before make setup
and must stay.""",
    "s/qmail": """\
s/qmail takes the user names from here, the group names from conf-groups
and the numbers from conf-ids (written beside them); its package/ids makes
the accounts from conf-ids. Keep all three alike.""",
}
# s/qmail's conf-ids: the comment of each role's line, and the directory
# (under the qmail home) the alias, queue and TLS users' lines end with
SQMAIL_COMMENTS = {
    "alias": "sqmail Alias user", "qmaild": "sqmail Daemon user", "qmaill": "sqmail Log user",
    "qmailp": "sqmail Password user", "qmailq": "sqmail Queue user", "qmailr": "sqmail Remote user",
    "qmails": "sqmail Send user", TLS_ROLE: "sqmail TLS user",
    "nofiles": "sqmail group for auxiliar files", "qmail": "sqmail group for binary files",
}
# s/qmail names its home in conf-home (and a queue elsewhere in conf-queue)
HOME_FILE = {"qmail": "conf-qmail", "s/qmail": "conf-home"}
SQMAIL_DIRECTORIES = {"alias": "alias", "qmailq": "queue", TLS_ROLE: "ssl"}


def conf_file(name: str, values: list[str], note: str) -> Output:
    return Output(name, "\n".join(values) + "\n\n" + note.strip() + "\n")


def conf_ids(spec: Spec, layout: Layout, source: str, written: str) -> Output:
    """s/qmail's conf-ids: its groups (nofiles first), then its users."""
    lines = ["# sqmail Unix group-ids and user-ids", f"# {written}", "#"]
    missing = []
    for role in reversed(GROUP_ROLES):
        group = spec.group(layout.groups[role])
        if group is None or group.gid is None:
            missing.append(f"group {layout.groups[role]} has no gid")
            continue
        lines.append(f"{group.gid}:{group.name}:{SQMAIL_COMMENTS[role]}:")
    lines.append("#")
    for role in (*USER_ROLES, TLS_ROLE):
        user = layout.users[role]
        if user.uid is None:
            missing.append(f"user {user.name} has no uid")
            continue
        fields = [str(user.uid), user.name, user.comment or SQMAIL_COMMENTS[role], user.group]
        fields += [SQMAIL_DIRECTORIES[role]] if role in SQMAIL_DIRECTORIES else []
        lines.append(":".join(fields))
    if missing:
        raise BadInput(f"{source}: s/qmail's conf-ids needs every account's number: {', '.join(missing)}")
    return Output("conf-ids", "\n".join(lines) + "\n")


def qmail_conf(spec: Spec, profile: Profile, source: str) -> list[Output]:
    layout = qmail_layout(spec, source)
    fork = "s/qmail" if TLS_ROLE in layout.users else "qmail"
    users = [layout.users[role].name for role in USER_ROLES]
    users.insert(3, BINARIES_OWNER)
    written = f"Written by qmailsetup {__version__} from {source}."
    outputs = [
        conf_file("conf-users", users, f"""
{written}
The build reads the first eight lines, in this order: the alias user, the
daemon user, the log user, the owner of the binaries, the passwd user, the
queue user, the remote user and the send user.
{ID_NOTE[fork]}
"""),
        conf_file("conf-groups", [layout.groups[role] for role in GROUP_ROLES], f"""
{written}
The build reads the first two lines: qmail's group, then a group that owns
no files but can run processes (not nogroup or nobody).
"""),
        conf_file(HOME_FILE[fork], [layout.home], f"""
{written}
qmail's home directory, where it keeps the queue: a local filesystem with
synchronous metadata, never one shared among machines.
"""),
        conf_file("conf-split", [str(spec.qmail.split)], f"""
{written}
How many subdirectories each split directory of the queue has (a message
lives in the one its inode number modulo this names).
"""),
    ]
    if fork == "s/qmail":
        outputs.append(conf_ids(spec, layout, source, written))
    return outputs
