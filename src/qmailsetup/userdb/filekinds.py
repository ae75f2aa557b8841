"""The kinds of account file (passwd, shadow, group, gshadow, master.passwd):
what a line of each holds and how the files of one account go together.

One row a kind (FILE_KINDS): its columns, whose entries it keeps, which
column lists a group's members, which file keeps a line for each of its
lines, the nscd table that caches it. Everything else that knows these
(parsing, records, the files backend's edits and write order, pwd_mkdb's
Version 7 line, the sh export's awk columns, check) asks here. A new kind
of account file is a new row here, and the flavors that keep it
(flavor.py: its files and its new-line template).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

# the column of an account's own ID, by the kind of account
ID_COLUMNS = {"user": "uid", "group": "gid"}


@dataclass(frozen=True)
class FileKind:
    # its name in /etc
    name: str
    # whose entries it keeps: "user" or "group"
    account: str
    # the ':'-separated fields of a line, in order; uid and gid are numbers
    columns: tuple[str, ...]
    # the nscd table that caches its entries (nscd -i TABLE once it changed)
    nscd_table: str
    # the column that lists a group's members (gshadow's admins are not)
    members: str | None = None
    # shadow-utils' file that keeps a line for each line of this one, with
    # its password ('x' here then): an account whose line is here but not
    # there (the host keeping both) is half-made, as useradd and groupadd
    # leave it when they stop between the two (they write passwd before
    # shadow, group before gshadow); pwck and grpck report it
    companion: str | None = None
    password: str = "password"

    @cached_property
    def fields(self) -> int:
        return len(self.columns)

    @cached_property
    def numeric(self) -> tuple[int, ...]:
        """Where the numbers are: the uid and gid columns."""
        return tuple(at for at, label in enumerate(self.columns) if label in ID_COLUMNS.values())

    @cached_property
    def id_label(self) -> str | None:
        """The column of the entry's own ID (a user's UID, a group's GID);
        None for a file that keeps none (shadow, gshadow)."""
        label = ID_COLUMNS[self.account]
        return label if label in self.columns else None

    @cached_property
    def id_column(self) -> int | None:
        return None if self.id_label is None else self.column(self.id_label)

    def column(self, label: str) -> int:
        return self.columns.index(label)

    def value(self, fields: list[str], label: str) -> str:
        """The field LABEL of FIELDS, a line of this kind split at ':'."""
        return fields[self.column(label)]

    def redact(self, line: str) -> str:
        """LINE as it may be shown: its password field as HIDDEN unless it
        is one of the values that hold no secret (qmailsetup(8), SAFETY: no
        output shows a hash). Any line with that column is redacted, comments
        too: commenting an entry out is a common way to disable it. A line
        without it (a comment such as "# $6$salt$hash", a line cut short)
        could hold a hash anywhere: only its leading '#'s and blanks are
        shown, unless it is blank or a lone NIS '+' or '-'."""
        column = self.column(self.password)
        body, newline = (line[:-1], "\n") if line.endswith("\n") else (line, "")
        fields = body.split(":", column + 1)
        if len(fields) <= column:
            text = body.lstrip("# \t")
            return line if text in ("", "+", "-") else body[: len(body) - len(text)] + HIDDEN + newline
        if holds_no_secret(fields[column]):
            return line
        fields[column] = HIDDEN
        return ":".join(fields) + newline


FILE_KINDS = {
    kind.name: kind
    for kind in (
        FileKind("passwd", "user", ("name", "password", "uid", "gid", "gecos", "home", "shell"), "passwd",
                 companion="shadow"),
        FileKind("shadow", "user",
                 ("name", "password", "lastchg", "min", "max", "warn", "inactive", "expire", "flag"), "passwd"),
        FileKind("group", "group", ("name", "password", "gid", "members"), "group",
                 members="members", companion="gshadow"),
        FileKind("gshadow", "group", ("name", "password", "admins", "members"), "group", members="members"),
        # the BSDs' (passwd is made from it: userdb/pwdmkdb.py)
        FileKind("master.passwd", "user",
                 ("name", "password", "uid", "gid", "class", "change", "expire", "gecos", "home", "shell"), "passwd"),
    )
}
COMPANIONS = frozenset(kind.companion for kind in FILE_KINDS.values() if kind.companion)


def write_rank(kind: FileKind) -> tuple[bool, bool]:
    """Where KIND goes in the write order. Groups go before the users that
    need them. A companion goes before its main file: a crash between the
    two leaves a shadow line with no passwd line, which grants nothing,
    and the next run (the files backend or useradd/groupadd alike) sees
    the account missing, creates it and rewrites that leftover line in
    place. The other order (useradd's) leaves an account half-made, with a
    passwd line and no shadow line, which the next run has to repair; this
    order never leaves one."""
    return kind.account != "group", kind.name not in COMPANIONS


# the order the files backend writes them in (sorted keeps the table's order where equal)
WRITE_ORDER = tuple(kind.name for kind in sorted(FILE_KINDS.values(), key=write_rank))

HIDDEN = "<hidden>"
# password fields that hold no secret, shown as they stand: shadowed ('x'),
# FreeBSD pw's and Solaris' lock words, and (holds_no_secret) any run of
# '!' and '*' ('*', '!', '!!', '!*') or nothing. '!' or '*LOCKED*' before
# a hash locks the account but still carries the hash: that is hidden.
NO_SECRET = frozenset({"x", "*LOCKED*", "*LK*", "*NP*", "NP"})


def holds_no_secret(password: str) -> bool:
    return password in NO_SECRET or not password.strip("!*")


def is_locked(password: str) -> bool:
    """No password can match: '*', '!'-locked, *LOCKED*, or a bare 'x'
    (a user's password as its records give it: from shadow where passwd
    says 'x'). Not the same as holding no secret: '!' before a hash locks
    it and still carries the hash; an empty one is no secret and no lock."""
    return password == "x" or password.startswith(("*", "!"))
