"""The flavors of account files: what each keeps and how it is edited.

A flavor is one row of data (FLAVORS): its files, the one that holds the
users, the lines a new account gets, the locks its tools honour, whether
it keeps login classes, how a password is locked, and whether a step after
the edit makes passwd (pwd_mkdb -p on the BSDs). Every other module asks
the Flavor; a new flavor is a new row here (and a platform profile naming
it, platforms/*.toml `flavor`). What a line of each file holds, and how the
files of one account go together, is filekinds.py's (FILE_KINDS).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Flavor:
    name: str
    # the files it keeps; the optional ones are used when present
    required: tuple[str, ...]
    optional: tuple[str, ...]
    # the file that holds the users (and their IDs); groups are in group
    users: str
    # files whose presence beside the users file says the host has this
    # flavor (platforms.account_format), in the order they are named
    marks: tuple[str, ...]
    # A new entry, per file, as the platform's own tool writes it (a
    # profile whose tool writes another line gives its own: platforms/*.toml
    # new_lines). Fields: {name} {uid} {gid} {comment} {home} {shell}
    # {class} {hidden} ('x', or '!' when there is no shadow file) {lastchg}
    new_lines: dict[str, str]
    # (kind, name in ROOT/etc) of the locks its tools honour (userdb/lock.py);
    # a per-file lock is taken only for a file that exists. A platform whose
    # other tools take other locks names them in its profile (also_locks).
    locks: tuple[tuple[str, str], ...]
    # the command (or the hand edit, where no tool of the flavor's locks
    # one) that locks NAME's password
    lock_password: str = "vipw, and put * in the password field of {name}"
    # the users file keeps a login class per user
    login_classes: bool = False
    # a step after the edit (the profile's post_edit) makes this file from
    # the users file, so it is written with every edit
    made_after_edit: str | None = None
    # other flavors whose files this one also writes correctly
    also_fits: tuple[str, ...] = ()
    # names in ROOT/etc that its tools open by path, besides its files and
    # locks (and every name that starts with one: FILE-, FILE+, FILE.<pid>)
    tools_also_open: tuple[str, ...] = ()

    def files(self) -> tuple[str, ...]:
        return self.required + self.optional

    def opened_by_tools(self) -> tuple[str, ...]:
        """The names in ROOT/etc its tools open by path (target.tool_hazards)."""
        files = self.files() + ((self.made_after_edit,) if self.made_after_edit else ())
        return files + tuple(name for _, name in self.locks) + self.tools_also_open

    def file_of(self, kind: str) -> str:
        """The file an account of KIND ("user" or "group") is kept in."""
        return "group" if kind == "group" else self.users

    def how_to_lock(self, name: str) -> str:
        return self.lock_password.format(name=name)

    def fits(self, found: str | None) -> bool:
        """Whether this flavor writes account files of the flavor FOUND
        (None: no users file, nothing to go against)."""
        return found is None or found == self.name or found in self.also_fits


FLAVORS = {
    flavor.name: flavor
    for flavor in (
        # Debian, Alpine...: what shadow-utils' useradd -r / groupadd -r
        # write (Debian 12, shadow 4.13): 'x' pointing to a locked '!' in
        # shadow/gshadow, the last-change day and no aging fields. Without
        # a shadow file it writes plain files as useradd does.
        Flavor(
            name="shadow",
            required=("passwd", "group"),
            optional=("shadow", "gshadow"),
            users="passwd",
            marks=("shadow", "gshadow"),
            new_lines={
                "group": "{name}:x:{gid}:",
                "gshadow": "{name}:!::",
                "passwd": "{name}:{hidden}:{uid}:{gid}:{comment}:{home}:{shell}",
                "shadow": "{name}:!:{lastchg}::::::",
            },
            locks=(
                ("fcntl", ".pwd.lock"),
                ("pidfile", "passwd"), ("pidfile", "shadow"),
                ("pidfile", "group"), ("pidfile", "gshadow"),
            ),
            lock_password="usermod -L {name}",
            also_fits=("plain",),
            # shadow-utils' subordinate IDs; and etc/nologin, which no
            # tree needs as a link (so for every flavor)
            tools_also_open=("subuid", "subgid", "nologin"),
        ),
        # FreeBSD, OpenBSD, NetBSD: master.passwd, as pw useradd / useradd
        # leave it ('*', class, change and expire 0), and passwd made from it
        # by pwd_mkdb -p
        Flavor(
            name="bsd",
            required=("master.passwd", "group"),
            optional=(),
            users="master.passwd",
            marks=("master.passwd",),
            new_lines={
                "group": "{name}:*:{gid}:",
                "master.passwd": "{name}:*:{uid}:{gid}:{class}:0:0:{comment}:{home}:{shell}",
            },
            locks=(("flock", "master.passwd"), ("flock", "group"), ("exclusive", "ptmp")),
            login_classes=True,
            made_after_edit="passwd",
            # pwd_mkdb's databases (and their .tmp files)
            tools_also_open=("pwd.db", "spwd.db", "nologin"),
        ),
        # passwd and group alone: INSTALL.ids' vipw recipe ('*' everywhere)
        Flavor(
            name="plain",
            required=("passwd", "group"),
            optional=(),
            users="passwd",
            marks=("passwd",),
            new_lines={
                "group": "{name}:*:{gid}:",
                "passwd": "{name}:*:{uid}:{gid}:{comment}:{home}:{shell}",
            },
            locks=(("fcntl", ".pwd.lock"), ("pidfile", "passwd"), ("pidfile", "group")),
            tools_also_open=("nologin",),
        ),
    )
}
# every file some flavor keeps (a profile's new_lines may name only these)
ALL_FILES = frozenset(kind for flavor in FLAVORS.values() for kind in flavor.files())
# the kinds of lock userdb/lock.py takes (its LOCK_KINDS), for a profile's
# also_locks to be checked without loading the lock module (a dry run takes none)
LOCK_KIND_NAMES = ("fcntl", "pidfile", "flock", "exclusive", "busybox")


def detect(present) -> tuple[str | None, list[str]]:
    """The flavor of account files where the files PRESENT (names) are, and
    the files that say so; (None, []) when no flavor's users file is there."""
    for flavor in FLAVORS.values():
        if flavor.users in present:
            marked = [kind for kind in flavor.marks if kind in present]
            if marked:
                return flavor.name, marked
    return None, []
