"""The accounts of the account files as records: what the rest of the
program sees of them. Which column holds what is known from
filekinds.FILE_KINDS alone; no module outside userdb/ indexes a field.
"""

from __future__ import annotations

import gc
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from qmailsetup.userdb.accountfile import AccountFile, companion_of
from qmailsetup.userdb.filekinds import FILE_KINDS


@dataclass(frozen=True)
class UserRecord:
    name: str
    uid: int
    gid: int
    comment: str
    home: str
    shell: str
    password: str
    login_class: str | None = None

    @property
    def own_id(self) -> int:
        return self.uid


@dataclass(frozen=True)
class GroupRecord:
    name: str
    gid: int
    # the member list (the 4th field), in the file's order
    members: tuple[str, ...] = ()

    @property
    def own_id(self) -> int:
        return self.gid


def member_list(field: str) -> tuple[str, ...]:
    """A group line's member field as names ("a,b" -> ("a", "b"))."""
    return tuple(name for name in field.split(",") if name)


@contextmanager
def collector_paused():
    """Reading a large host makes hundreds of thousands of objects, none in
    a cycle; the cyclic collector would only scan them again and again."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Records(Mapping):
    """The entries of one account file by name, each made into a record the
    first time it is asked for: the planner looks at a few dozen names, and
    a large host has 100,000 (making them all took half the run)."""

    def __init__(self, account_file: AccountFile, make, companion: AccountFile | None = None) -> None:
        self.file = account_file
        self.make = make  # (name, fields) -> record
        # the file that keeps a line for each of these (shadow, gshadow), where the host has one
        # (one this user may not read says nothing: nothing is half-made by it)
        self.companion = companion if companion is not None and companion.exists and companion.readable else None
        self.made: dict = {}

    def __getitem__(self, name: str):
        record = self.made.get(name)
        if record is None:
            fields = self.file.get(name)
            if fields is None:
                raise KeyError(name)
            record = self.made[name] = self.make(name, fields)
        return record

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.file

    def __iter__(self):
        yield from self.file.names()

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def holder(self, number: int) -> str | None:
        """Who holds the ID NUMBER: the first entry of the file holding it,
        as getpwuid/getgrgid answer."""
        return self.file.holder(number)

    def used_ids(self, low: int, high: int) -> set[int]:
        """The IDs from LOW to HIGH held in the file."""
        return self.file.used_ids(low, high)

    def half_made(self, name: str) -> str | None:
        """The companion file (shadow, gshadow) that has no line for NAME,
        an entry here: the account is half-made (FileKind.companion); None
        when it is whole, or not here."""
        companion = self.companion
        if companion is None or name not in self.file or name in companion:
            return None
        return companion.file_kind.name


def user_maker(users: AccountFile, companion: AccountFile | None):
    """(name, fields) -> UserRecord for USERS' kind; the password from its
    COMPANION (shadow) where the users file has only 'x' for it."""
    kind = users.file_kind
    uid, gid, gecos, home, shell, password = (
        kind.column(label) for label in ("uid", "gid", "gecos", "home", "shell", kind.password)
    )
    login_class = kind.column("class") if "class" in kind.columns else None
    # an unreadable shadow leaves the password 'x': unknown (check says so)
    hidden = companion if companion is not None and companion.exists and companion.readable else None

    def make(name: str, f: list[str]) -> UserRecord:
        secret = f[password]
        if secret == "x" and hidden is not None:
            shadowed = hidden.field(name, hidden.file_kind.password)
            secret = secret if shadowed is None else shadowed
        return UserRecord(
            name, int(f[uid]), int(f[gid]), f[gecos], f[home], f[shell], secret,
            None if login_class is None else f[login_class],
        )

    return make


def users_and_groups(files: dict[str, AccountFile], users_kind: str) -> tuple[Records, Records]:
    """The users (of the file USERS_KIND) and the groups of FILES, as records,
    each with its companion file where FILES hold one."""
    users_companion = companion_of(files, users_kind)
    users = Records(files[users_kind], user_maker(files[users_kind], users_companion), users_companion)
    group = FILE_KINDS["group"]
    assert group.members is not None  # the group file lists each group's members
    gid, members = group.column("gid"), group.column(group.members)
    groups = Records(files["group"], lambda name, f: GroupRecord(name, int(f[gid]), member_list(f[members])),
                     companion_of(files, "group"))
    return users, groups
