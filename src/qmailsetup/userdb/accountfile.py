"""One account file (passwd, group, shadow, gshadow, master.passwd), kept
byte for byte.

Every line is kept as read; entries are indexed by name. An edit appends new
lines (before the first NIS '+'/'-' line, so those stay last) or replaces owned
lines, so an edited file differs from the old one only by those lines.
Bytes that are not UTF-8 survive through surrogateescape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from qmailsetup.errors import BadInput

ENCODING = "utf-8"
ERRORS = "surrogateescape"


@dataclass(frozen=True)
class Format:
    """How many ':'-separated fields a line has, and which are numbers."""

    kind: str
    fields: int
    numeric: tuple[int, ...]
    labels: tuple[str, ...]

    def redact(self, line: str) -> str:
        """LINE as it may be shown: its password field as HIDDEN unless it
        is one of the values that hold no secret (README, "Safety rules": no
        output shows a hash). Any line with that column is redacted, comments
        too: commenting an entry out is a common way to disable it."""
        column = self.labels.index("password")
        body, newline = (line[:-1], "\n") if line.endswith("\n") else (line, "")
        fields = body.split(":", column + 1)  # pragma: no mutate (the limit only saves splitting the rest)
        if len(fields) <= column or holds_no_secret(fields[column]):
            return line
        fields[column] = HIDDEN
        return ":".join(fields) + newline


HIDDEN = "<hidden>"
# password fields that hold no secret, shown as they stand: shadowed ('x'),
# FreeBSD pw's and Solaris' lock words, and (holds_no_secret) any run of
# '!' and '*' ('*', '!', '!!', '!*') or nothing. '!' or '*LOCKED*' before
# a hash locks the account but still carries the hash: that is hidden.
NO_SECRET = frozenset({"x", "*LOCKED*", "*LK*", "*NP*", "NP"})


def holds_no_secret(password: str) -> bool:
    return password in NO_SECRET or not password.strip("!*")


def shown_value(value: str) -> str:
    """A field's value for an error message: quoted when it is short and
    no hash (a password shifted into another column by a missing ':'
    must not reach a terminal or a log), else only its length."""
    if len(value) <= 12 and "$" not in value:
        return repr(value)
    return f"({len(value)} characters, not shown)"


FORMATS = {
    "passwd": Format("passwd", 7, (2, 3), ("name", "password", "uid", "gid", "gecos", "home", "shell")),
    "group": Format("group", 4, (2,), ("name", "password", "gid", "members")),
    "shadow": Format("shadow", 9, (), ("name", "password", "lastchg", "min", "max", "warn", "inactive", "expire", "flag")),
    "gshadow": Format("gshadow", 4, (), ("name", "password", "admins", "members")),
    "master.passwd": Format(
        "master.passwd",
        10,
        (2, 3),
        ("name", "password", "uid", "gid", "class", "change", "expire", "gecos", "home", "shell"),
    ),
}


def is_nis(line: str) -> bool:
    return line.startswith(("+", "-"))


def is_inert(line: str) -> bool:
    """Comments and blank lines: kept, never parsed."""
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


@dataclass
class AccountFile:
    """The lines of one file and an index of its entries by name."""

    path: Path
    format: Format
    lines: list[str] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)
    exists: bool = True
    # names the file has (st_nlink): a rewrite by rename leaves the others behind
    links: int = field(default=1, repr=False)
    # where new lines go: the first NIS line, or the end (parse() notes it)
    nis_at: int | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, path: Path, kind: str, data: bytes, shown: str | None = None) -> AccountFile:
        """Parse DATA read from PATH; SHOWN is how the path is named in errors."""
        fmt = FORMATS[kind]
        where = shown or str(path)
        if b"\0" in data:
            line_number = data[: data.index(b"\0")].count(b"\n") + 1
            raise BadInput(f"{where}:{line_number}: contains a NUL byte")
        text = data.decode(ENCODING, ERRORS)
        if text and not text.endswith("\n"):
            raise BadInput(f"{where}:{text.count(chr(10)) + 1}: the last line has no newline at its end")
        if "\r" in text:
            line_number = text[: text.index("\r")].count("\n") + 1
            raise BadInput(f"{where}:{line_number}: carriage return in line (DOS line ends?)")
        # only '\n' ends a line; str.splitlines() also breaks at \x0b, \x0c,
        # \x1c-\x1e, \x85 and \u2028, which a GECOS field may legally hold
        bodies = text.split("\n")[:-1]
        account_file = cls(path, fmt, [body + "\n" for body in bodies])
        index = account_file.index
        first_nis = None
        for position, body in enumerate(bodies):
            # one look at the first character sorts out nearly every line:
            # this loop runs once per account, 100,000 times on a large host
            first = body[:1]
            if first in ("+", "-"):
                first_nis = position if first_nis is None else first_nis
                continue
            if first in ("#", "") or (
                    first.isspace() and is_inert(body)):  # pragma: no mutate (is_inert alone says the same)
                continue
            fields = body.split(":")
            if len(fields) != fmt.fields:
                raise BadInput(f"{where}:{position + 1}: {len(fields)} fields, a {kind} line has {fmt.fields}")
            name = fields[0]
            if not name:
                raise BadInput(f"{where}:{position + 1}: empty name")
            for column in fmt.numeric:
                value = fields[column]
                # isascii: str.isdigit() also accepts '²' and '١', which int() refuses or misreads
                if not (value.isdigit() and value.isascii()):
                    label = fmt.labels[column]
                    raise BadInput(f"{where}:{position + 1}: {label} {shown_value(value)} of {name!r} is not a number")
            if name in index:
                raise BadInput(f"{where}:{position + 1}: {name!r} appears again (first on line {index[name] + 1})")
            index[name] = position
        account_file.nis_at = len(bodies) if first_nis is None else first_nis
        return account_file

    @classmethod
    def missing(cls, path: Path, kind: str) -> AccountFile:
        return cls(path, FORMATS[kind], exists=False)

    def get(self, name: str) -> list[str] | None:
        position = self.index.get(name)
        return None if position is None else self.lines[position][:-1].split(":")

    def entries(self):
        """(name, fields) for every entry, in file order."""
        for name, position in self.index.items():
            yield name, self.lines[position][:-1].split(":")

    def id_holders(self) -> dict[int, str]:
        """ID (field 2 in passwd, master.passwd and group) -> the first name
        holding it, as getpwuid and getgrgid would answer; one cheap pass
        that splits no more of a line than it needs."""
        lines, holders = self.lines, {}
        for name, position in self.index.items():
            fields = lines[position].split(":", 3)  # pragma: no mutate (the limit only saves work)
            holders.setdefault(int(fields[2]), name)
        return holders

    def text(self) -> str:
        return "".join(self.lines)

    def data(self) -> bytes:
        return self.text().encode(ENCODING, ERRORS)

    def insert_position(self) -> int:
        """Where appended lines go: before the first NIS line, else at the end."""
        if self.nis_at is None:
            self.nis_at = next((i for i, line in enumerate(self.lines) if is_nis(line)), len(self.lines))
        return self.nis_at

    def edited(self, replace: dict[str, list[str]], append: list[list[str]]) -> str:
        """The file's text with the entries in REPLACE rewritten and APPEND
        added before the first NIS line, as shadow-utils does, or at the end."""
        lines = list(self.lines)
        for name, fields in replace.items():
            lines[self.index[name]] = ":".join(fields) + "\n"
        insert_at = self.insert_position()
        new_lines = [":".join(fields) + "\n" for fields in append]
        lines[insert_at:insert_at] = new_lines
        return "".join(lines)
