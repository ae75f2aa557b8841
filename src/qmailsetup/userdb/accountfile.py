"""One account file (passwd, group, shadow, gshadow, master.passwd), kept
byte for byte.

Every byte is kept as read; entries are indexed by name. An edit appends new
lines (before the first NIS '+'/'-' line, so those stay last) or replaces owned
lines, so an edited file differs from the old one only by those lines.
Bytes that are not UTF-8 survive through surrogateescape.
"""

from __future__ import annotations

import re
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from operator import itemgetter
from pathlib import Path

from qmailsetup.errors import BadInput
from qmailsetup.userdb.filekinds import FILE_KINDS, FileKind

ENCODING = "utf-8"
ERRORS = "surrogateescape"


def shown_value(value: str) -> str:
    """A field's value for an error message: quoted when it is short and
    no hash (a password shifted into another column by a missing ':'
    must not reach a terminal or a log), else only its length."""
    if len(value) <= 12 and "$" not in value:
        return repr(value)
    return f"({len(value)} characters, not shown)"


def is_nis(line: str) -> bool:
    return line.startswith(("+", "-"))


def is_inert(line: str) -> bool:
    """Comments and blank lines: kept, never parsed."""
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


def entry_pattern(file_kind: FileKind) -> re.Pattern:
    """A line of FILE_KIND that is plainly a well-formed entry (nearly every line
    of nearly every file), capturing its name and, where the kind has
    one, its own ID: a first character no NIS, comment or blank line starts
    with, the right number of fields, ASCII digits where a number belongs.
    Possessive (*+, ++): a field never gives back what it took, so nothing
    is kept to backtrack to (13 % faster over 14 MiB of account files)."""
    fields = [r"([^:\n+\-#\s][^:\n]*+)"]
    for column in range(1, file_kind.fields):
        if column in file_kind.numeric:
            fields.append("([0-9]++)" if column == file_kind.id_column else "[0-9]++")
        else:
            fields.append(r"[^:\n]*+")
    return re.compile("^" + ":".join(fields) + "$", re.MULTILINE)


ENTRY_PATTERNS = {name: entry_pattern(file_kind) for name, file_kind in FILE_KINDS.items()}


def plain_ids(kind: str, text: str) -> Sequence[int] | None:
    """The own IDs of TEXT's entries in file order (none for a kind
    without), when every line is a plainly well-formed entry and no name
    comes twice: one pass of a compiled pattern, and nothing kept per entry
    but its ID. None for anything else; then checked_ids() goes line by
    line and says what is wrong and where."""
    found = ENTRY_PATTERNS[kind].findall(text)
    # a match is one whole line ('^' to '$', no field crosses a newline):
    # as many matches as lines means every line is one
    if len(found) != text.count("\n"):
        return None
    with_ids = FILE_KINDS[kind].id_column is not None
    if len(set(map(itemgetter(0), found) if with_ids else found)) != len(found):
        return None
    return as_numbers(map(itemgetter(1), found)) if with_ids else ()


def as_numbers(values) -> Sequence[int]:
    """VALUES (strings of digits) as a compact array; a list when one is
    too large for 64 bits (nonsense, but a file may say it)."""
    numbers = list(map(int, values))
    try:
        return array("q", numbers)
    except OverflowError:
        return numbers


class AccountFile:
    """One file's text, kept whole as read, and its entries' own IDs in
    file order. An entry is found by its name when asked for, by a search
    of the text: the planner asks for a few dozen of a large host's
    100,000, and an object per entry took most of a run's time and memory."""

    def __init__(self, file_kind: FileKind, content: str = "", ids: Sequence[int] | None = (),
                 exists: bool = True, entry_lines: Sequence[int] | None = None, readable: bool = True) -> None:
        self.file_kind = file_kind
        self.content = content
        # every entry's own ID (UID or GID), in file order; none for shadow
        # and gshadow; None: not found yet (the ids property finds them)
        self.found_ids = ids
        # the line of each entry, counted from 0; None when every line is one
        self.entry_lines = entry_lines
        self.exists = exists
        # False: there, but this user may not read it (shadow, gshadow): what
        # it holds is unknown, not absent
        self.readable = readable
        # names the file has (st_nlink): a rewrite by rename leaves the others behind
        self.links = 1
        # why a rename cannot replace the file, as observe found it while it
        # had the file open (EtcDir.unreplaceable); None: it can
        self.unreplaceable: str | None = None
        # the file as it was read: (device, inode, size, mtime), observe.identity
        self.read_as: tuple[int, int, int, int] | None = None
        self.nis_offset: int | None = None
        # name -> where its line starts (None: no such entry), as asked
        self.offsets: dict[str, int | None] = {}
        # the IDs in order, made the first time a range of them is asked for
        self.sorted_ids: list[int] | None = None

    @classmethod
    def parse(cls, path: Path, kind: str, data: bytes, shown: str | None = None) -> AccountFile:
        """Parse DATA read from PATH; SHOWN is how the path is named in errors."""
        file_kind = FILE_KINDS[kind]
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
        ids = plain_ids(kind, text)
        if ids is not None:
            return cls(file_kind, text, ids)
        ids, entry_lines = checked_ids(file_kind, text, where)
        return cls(file_kind, text, ids, entry_lines=entry_lines)

    @classmethod
    def missing(cls, kind: str) -> AccountFile:
        return cls(FILE_KINDS[kind], exists=False)

    @classmethod
    def unread(cls, kind: str) -> AccountFile:
        """A file that is there, but that this user may not read."""
        return cls(FILE_KINDS[kind], readable=False)

    @classmethod
    def written(cls, kind: str, text: str) -> AccountFile:
        """TEXT, as this run wrote it under the locks: the lines it kept were
        checked when they were read and the lines it made as it made them,
        so nothing is checked again, and the IDs are found only if asked
        for (the closing check asks for a few names, never an ID)."""
        return cls(FILE_KINDS[kind], text, ids=None)

    @property
    def ids(self) -> Sequence[int]:
        if self.found_ids is None:
            kind = self.file_kind.name
            self.found_ids = plain_ids(kind, self.content)
            if self.found_ids is None:
                self.found_ids, self.entry_lines = checked_ids(self.file_kind, self.content, kind)
        return self.found_ids

    # -- finding an entry -----------------------------------------------------

    def offset(self, name: str) -> int | None:
        """Where NAME's line starts, None when NAME is not an entry here."""
        if name not in self.offsets:
            self.look_up([name])
        return self.offsets[name]

    def look_up(self, names) -> None:
        """Find where the line of each of NAMES starts, in one pass over the
        text, for offset() to answer from (seven searches of a large passwd
        for names it lacks cost seven times what one pass for them all does).
        Only an entry's line starts with its name and a ':' (a NIS line
        starts with '+' or '-', a comment with '#'); each name is there once."""
        wanted = [name for name in set(names) if name not in self.offsets]
        for name in wanted:
            self.offsets[name] = None
        valid = {name for name in wanted if entry_line(name) and ":" not in name and "\n" not in name}
        if not valid:
            return
        first = self.content.partition(":")[0]
        if first in valid:
            self.offsets[first] = 0
        # a pattern that starts with a plain "\n" is searched for fast; '^' is tried everywhere
        pattern = re.compile("\n(" + "|".join(map(re.escape, sorted(valid))) + "):")
        for found in pattern.finditer(self.content):
            if self.offsets[found.group(1)] is None:
                self.offsets[found.group(1)] = found.start() + 1

    def __contains__(self, name: str) -> bool:
        return self.offset(name) is not None

    def get(self, name: str) -> list[str] | None:
        start = self.offset(name)
        if start is None:
            return None
        return self.content[start : self.content.index("\n", start)].split(":")

    def field(self, name: str, label: str) -> str | None:
        """NAME's field LABEL (a FileKind column), or None when NAME is not here."""
        fields = self.get(name)
        return None if fields is None else self.file_kind.value(fields, label)

    def number(self, name: str) -> int | None:
        """NAME's own ID (UID or GID), or None when NAME is not here (or the
        file keeps no IDs: shadow, gshadow)."""
        label = self.file_kind.id_label
        value = None if label is None else self.field(name, label)
        return None if value is None else int(value)

    def holder(self, number: int) -> str | None:
        """The name of the first entry whose own ID is NUMBER, as getpwuid
        and getgrgid answer; None when none holds it."""
        try:
            entry = self.ids.index(number)
        except ValueError:
            return None
        line = entry if self.entry_lines is None else self.entry_lines[entry]
        return self.lines[line].partition(":")[0]

    def used_ids(self, low: int, high: int) -> set[int]:
        """The own IDs from LOW to HIGH the entries hold."""
        if self.sorted_ids is None:
            self.sorted_ids = sorted(self.ids)
        ids = self.sorted_ids
        return set(ids[bisect_left(ids, low) : bisect_right(ids, high)])

    def with_values(self, fields: list[str], values: dict[str, str]) -> list[str]:
        """FIELDS (an entry of this file, split at ':') with those named in
        VALUES (label -> value) replaced; labels this kind has not are
        left out."""
        for label, value in values.items():
            if label in self.file_kind.columns:
                fields[self.file_kind.column(label)] = value
        return fields

    def names(self):
        """The entries' names, in file order."""
        return (name for name, _ in self.entries())

    def entries(self):
        """(name, fields) for every entry, in file order."""
        for body in self.content.split("\n")[:-1]:
            if entry_line(body):
                fields = body.split(":")
                yield fields[0], fields

    # -- the text, and the text edited ----------------------------------------

    @property
    def lines(self) -> Lines:
        """The lines, with their newlines (made when asked for)."""
        return Lines(self.content)

    def text(self) -> str:
        return self.content

    def data(self) -> bytes:
        return self.content.encode(ENCODING, ERRORS)

    def nis_start(self) -> int:
        """Where the first NIS line starts, else the end."""
        if self.nis_offset is None:
            content = self.content
            # str.find, not a '^' pattern: that tries every character of a large file
            starts = [0] if content.startswith(("+", "-")) else []
            starts += [at + 1 for at in (content.find("\n+"), content.find("\n-")) if at >= 0]
            self.nis_offset = min(starts, default=len(content))
        return self.nis_offset

    def line_number(self, name: str) -> int:
        """NAME's line, counted from 0."""
        return self.content.count("\n", 0, self.offset(name))

    def insert_position(self) -> int:
        """The line appended lines go before: the first NIS line, else the end."""
        return self.content.count("\n", 0, self.nis_start())

    def edited(self, replace: dict[str, list[str]], append: list[list[str]]) -> str:
        """The file's text with the entries in REPLACE rewritten and APPEND
        added before the first NIS line, as shadow-utils does, or at the end."""
        content = self.content
        cuts = []
        for name, fields in replace.items():
            start = self.offset(name)
            cuts.append((start, content.index("\n", start) + 1, ":".join(fields) + "\n"))
        at = self.nis_start()
        cuts.append((at, at, "".join(":".join(fields) + "\n" for fields in append)))
        pieces, position = [], 0
        for start, end, new in sorted(cuts, key=lambda cut: (cut[0], cut[1])):
            pieces += [content[position:start], new]
            position = end
        pieces.append(content[position:])
        return "".join(pieces)


def entry_line(body: str) -> bool:
    """Whether the line BODY (without its newline) is an entry: not NIS,
    not a comment, not blank."""
    first = body[:1]
    return not (first in ("+", "-", "#", "") or (first.isspace() and is_inert(body)))


def checked_ids(file_kind: FileKind, text: str, where: str) -> tuple[list[int], list[int]]:
    """The own IDs of TEXT's entries and the line of each, line by line:
    the first line that is not well formed, or a name that appears again,
    is bad input naming it."""
    ids: list[int] = []
    entry_lines: list[int] = []
    first_lines: dict[str, int] = {}
    id_column = file_kind.id_column
    for position, body in enumerate(text.split("\n")[:-1]):
        if not entry_line(body):
            continue
        fields = body.split(":")
        if len(fields) != file_kind.fields:
            raise BadInput(f"{where}:{position + 1}: {len(fields)} fields, a {file_kind.name} line has {file_kind.fields}")
        name = fields[0]
        if not name:
            raise BadInput(f"{where}:{position + 1}: empty name")
        for column in file_kind.numeric:
            value = fields[column]
            # isascii: str.isdigit() also accepts '²' and '١', which int() refuses or misreads  # noqa: RUF003 (that digit is the point)
            if not (value.isdigit() and value.isascii()):
                label = file_kind.columns[column]
                raise BadInput(f"{where}:{position + 1}: {label} {shown_value(value)} of {name!r} is not a number")
        if name in first_lines:
            raise BadInput(f"{where}:{position + 1}: {name!r} appears again (first on line {first_lines[name] + 1})")
        first_lines[name] = position
        entry_lines.append(position)
        if id_column is not None:
            ids.append(int(fields[id_column]))
    return ids, entry_lines


def companion_of(files: dict[str, AccountFile], kind: str) -> AccountFile | None:
    """Of FILES, the one that keeps a line for each of KIND's
    (FileKind.companion: shadow for passwd); None where there is none."""
    companion = FILE_KINDS[kind].companion
    return None if companion is None else files.get(companion)


class Lines(Sequence[str]):
    """The lines of a text, with their newlines, found when asked for: a
    diff looks at a few lines of a file that may have 100,000."""

    def __init__(self, content: str) -> None:
        self.content = content
        self.total = content.count("\n")

    def __len__(self) -> int:
        return self.total

    def start(self, number: int) -> int:
        """Where line NUMBER starts (the end, for the line after the last)."""
        content = self.content
        if number >= self.total:
            return len(content)
        if number <= self.total // 2:
            position = 0
            for _ in range(number):
                position = content.index("\n", position) + 1
            return position
        position = len(content)
        for _ in range(self.total - number):
            position = content.rfind("\n", 0, position - 1) + 1
        return position

    def __getitem__(self, item):
        if isinstance(item, slice):
            first, last, step = item.indices(self.total)
            if step != 1:
                raise ValueError("only contiguous slices")
            if last <= first:
                return []
            start = self.start(first)
            end = start
            for _ in range(last - first):
                end = self.content.index("\n", end) + 1
            return [body + "\n" for body in self.content[start:end].split("\n")[:-1]]
        number = item + self.total if item < 0 else item
        if not 0 <= number < self.total:
            raise IndexError(item)
        return self[number : number + 1][0]

    def __iter__(self):
        return (body + "\n" for body in self.content.split("\n")[:-1])


def id_near_end(data: bytes, kind: str, name: str) -> int | None:
    """NAME's own ID in DATA, the bytes of an account file of KIND, as a
    tool just appended it: a search from the end, no parse (a large host
    has 100,000 lines, and this runs once per account made)."""
    prefix = name.encode() + b":"
    if data.startswith(prefix):
        start = 0
    else:
        found = data.rfind(b"\n" + prefix)
        if found < 0:
            return None
        start = found + 1
    end = data.find(b"\n", start)  # no copy of the rest: a large file has 100,000 lines after a name on its first
    fields = data[start : end if end >= 0 else len(data)].split(b":")
    column = FILE_KINDS[kind].id_column
    if column is None or len(fields) <= column or not fields[column].isdigit():
        return None
    return int(fields[column])
