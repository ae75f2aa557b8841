"""The declarative model: which groups, users and directories must exist.

A spec is TOML (or the built-in default, default.toml beside this file),
validated by pydantic. Validation covers what can be known without a host;
whatever needs the host (a user's group that exists only there, an owner)
is the planner's job.
"""

from __future__ import annotations

import re
import tomllib
from difflib import get_close_matches
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from qmailsetup.errors import BadInput
from qmailsetup.hostio import read_consulted
from qmailsetup.platforms import NON_LOGIN_SHELLS, is_login_shell
from qmailsetup.userdb.fieldtext import unwritable

# What useradd, pw and OpenBSD's user(8) all accept: lower case, digits,
# '_' and '-', not starting with '-' or a digit, at most 32 characters.
NAME_PATTERN = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
# 0 is root's; 65535 and 4294967295 are (uid_t)-1 in 16 and 32 bits.
MAX_ID = 2**31 - 1
RESERVED_IDS = {0, 65535}
MODE_PATTERN = re.compile(r"0?[0-7]{3,4}")
# Linux's NAME_MAX and PATH_MAX (less its NUL), the smallest of the hosts served
NAME_MAX = 255
PATH_MAX = 4095

class Described:
    """What a validator checks, said in JSON Schema where it can be said
    (schema.py): added to the schema pydantic makes of the type, never
    checked by pydantic itself (the validators' own words are the errors)."""

    def __init__(self, **schema) -> None:
        self.schema = schema

    def __get_pydantic_json_schema__(self, core_schema, handler) -> dict:
        schema = handler(core_schema)
        # a value known only when asked for (the installations) is a function
        schema.update({key: value() if callable(value) else value for key, value in self.schema.items()})
        return schema


# the same rules as patterns (ECMA 262 and Rust's regex alike: no
# look-around, \uXXXX escapes), for schema.py
NAME_SCHEMA = "^[a-z_][a-z0-9_-]{0,31}$"
MODE_SCHEMA = "^0?[0-7]{3,4}$"
# userdb/fieldtext.py's characters, and the blanks and format characters
# str.isprintable() refuses that are in common use (not all of them)
NOT_TEXT = ("\\u0000-\\u001f:\\u007f-\\u00a0\\u00ad\\u1680\\u2000-\\u200f\\u2028-\\u202f"
            "\\u205f-\\u2064\\u3000\\ufeff")
# a component: not '.' or '..'
COMPONENT_SCHEMA = (f"(?:[^/.{NOT_TEXT}][^/{NOT_TEXT}]*|\\.[^/.{NOT_TEXT}][^/{NOT_TEXT}]*"
                    f"|\\.\\.[^/{NOT_TEXT}]+)")
TEXT_SCHEMA = f"^[^{NOT_TEXT}]*$"
ABSOLUTE_SCHEMA = f"^(?:/|(?:/{COMPONENT_SCHEMA})+)$"
DIRECTORY_SCHEMA = f"^(?:/{COMPONENT_SCHEMA})+$"


def matching(pattern: str, **more) -> Described:
    """A string PATTERN matches whole. Some engines (Python's re) let '$'
    match before a last newline, which no value here may hold anyway."""
    return Described(pattern=pattern, **{"not": {"pattern": "\\n"}}, **more)


def check_name(value: str) -> str:
    if not NAME_PATTERN.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a portable account name "
            "(lower case letters, digits, '_' and '-', not starting with '-' or a digit, at most 32 characters)"
        )
    return value


def check_id(value: int) -> int:
    if value in RESERVED_IDS or not 0 < value <= MAX_ID:
        raise ValueError(f"{value} is out of range (1..{MAX_ID}, not 65535)")
    return value


def check_absolute(value: str) -> str:
    """An absolute path written one way only: no '.', '..' or empty
    components, no trailing '/', within NAME_MAX and PATH_MAX; so two paths
    are the same directory exactly when they are the same string."""
    check_field_text(value)
    if not value.startswith("/"):
        raise ValueError(f"{value!r} is not an absolute path")
    if value != "/" and any(part in ("", ".", "..") for part in value[1:].split("/")):
        raise ValueError(f"{value!r} is not a normalised absolute path (no '.', '..', '//' or trailing '/')")
    size = len(value.encode("utf-8", "surrogateescape"))
    if size > PATH_MAX:
        raise ValueError(f"{value[:40]!r}... is {size} bytes long, more than a path may be ({PATH_MAX})")
    longest = max(value.split("/"), key=lambda part: len(part.encode("utf-8", "surrogateescape")))
    if len(longest.encode("utf-8", "surrogateescape")) > NAME_MAX:
        raise ValueError(f"{value[:40]!r}... has a component longer than a file name may be ({NAME_MAX} bytes)")
    return value


def check_directory(value: str) -> str:
    """A directory the tool creates, chowns and chmods: never the root itself."""
    check_absolute(value)
    if value == "/":
        raise ValueError("'/' is the root directory itself; name a directory under it")
    return value


def check_field_text(value: str) -> str:
    """A value the tool may write into an account line (userdb/fieldtext.py)."""
    bad = unwritable(value)
    if bad:
        raise ValueError(f"{value!r} contains {bad}, which no account line may hold")
    # an escape sequence in a comment or a path would reach terminals raw
    # through every export, or be shown escaped, not as written (streams.printable)
    unprintable = [c for c in value if not c.isprintable()]
    if unprintable:
        raise ValueError(f"{value!r} contains {unprintable[0]!r}, which is not printable")
    return value


Name = Annotated[str, AfterValidator(check_name), matching(NAME_SCHEMA)]
Id = Annotated[int, AfterValidator(check_id),
               Described(minimum=1, maximum=MAX_ID, **{"not": {"enum": sorted(RESERVED_IDS)}})]
AbsolutePath = Annotated[str, AfterValidator(check_absolute), matching(ABSOLUTE_SCHEMA, maxLength=PATH_MAX)]
DirectoryPath = Annotated[str, AfterValidator(check_directory), matching(DIRECTORY_SCHEMA, maxLength=PATH_MAX)]
FieldText = Annotated[str, AfterValidator(check_field_text), matching(TEXT_SCHEMA)]
# a shell that never gives a login (the rule of User._no_login)
Shell = Annotated[str, AfterValidator(check_absolute), Described(enum=sorted(NON_LOGIN_SHELLS))]


def check_mode(value: str) -> str:
    if not MODE_PATTERN.fullmatch(value):
        raise ValueError(f"{value!r} is not an octal mode such as \"0755\" or \"02755\"")
    return value


def _duplicates(values) -> list:
    seen, dups = set(), []
    for value in values:
        if value in seen and value not in dups:
            dups.append(value)
        seen.add(value)
    return dups


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


# qmail's roles (layout.py): which account a build's conf-users and
# conf-groups name for each; by default known from qmail's standard names
UserRole = Literal["alias", "daemon", "log", "passwd", "queue", "remote", "send", "tls"]
GroupRole = Literal["qmail", "nofiles"]


class Group(Strict):
    name: Name
    gid: Id | None = None
    role: GroupRole | None = None


class User(Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)

    name: Name
    group: Name
    home: AbsolutePath
    uid: Id | None = None
    shell: Shell | None = None
    comment: FieldText | None = None
    # BSD login class (OpenBSD useradd -L, pw -L); "class" in the spec file
    login_class: FieldText | None = Field(default=None, alias="class")
    role: UserRole | None = None
    # supplementary groups (notqmail's qmail-remote reads a TLS client
    # certificate through one): each a group of the spec or of the host
    groups: Annotated[list[Name], Described(uniqueItems=True)] = []

    @model_validator(mode="after")
    def _groups(self) -> User:
        dups = _duplicates(self.groups)
        if dups:
            raise ValueError(f"groups: {dups[0]!r} appears more than once")
        if self.group in self.groups:
            raise ValueError(f"groups: {self.group!r} is the user's primary group already (group = ...)")
        return self

    @field_validator("shell")
    @classmethod
    def _no_login(cls, shell: str | None, info: ValidationInfo) -> str | None:
        # the rule check applies (account.login-shell), known without a
        # host: a spec that asked for a login would be applied, then fail
        # check after every run, --fix-drift included
        if shell is not None and is_login_shell(shell):
            user = f" (user {info.data['name']})" if "name" in info.data else ""
            raise ValueError(
                f"{shell!r}{user} gives a login, which no qmail account may have; name a shell that "
                f"never does ({', '.join(sorted(NON_LOGIN_SHELLS))}), or none for the platform's nologin"
            )
        return shell


class PathSpec(Strict):
    path: DirectoryPath
    owner: Name
    group: Name
    mode: Annotated[str, AfterValidator(check_mode), matching(MODE_SCHEMA)]
    # PATH is a link to this directory (a queue on another disk, an FHS
    # layout): apply makes the link, and the directory with OWNER, GROUP
    # and MODE
    link: DirectoryPath | None = None

    @model_validator(mode="after")
    def _link_elsewhere(self) -> PathSpec:
        if self.link is not None and (self.link == self.path or self.link.startswith(self.path + "/")
                                      or self.path.startswith(self.link + "/")):
            raise ValueError(f"link: {self.link!r} is {self.path!r} itself, in it, or above it; a link leads elsewhere")
        return self

    @property
    def mode_bits(self) -> int:
        return int(self.mode, 8)


# the built-in installation: the qmail layout of docs/qmail.md, as the
# maintained qmail (notqmail 1.09) installs it (docs/installations.md)
DEFAULT_INSTALLATION = "notqmail-1.09"
DEFAULT_HOME = "/var/qmail"
DEFAULT_SPLIT = 23
# conf-split need only be at least 1 (fmtqfn.c: inode % split); the bound
# keeps a typo from asking for millions of queue directories (4 per split)
MAX_SPLIT = 1000


def installation_names() -> list[str]:
    # not at the top: installation.py imports this module
    from qmailsetup.installation import known_names

    return known_names()


def check_installation(value: str) -> str:
    known = installation_names()
    if value not in known:
        raise ValueError(f"{value!r} is not a known installation ({', '.join(known)})")
    return value


def check_split(value: int) -> int:
    if not 1 <= value <= MAX_SPLIT:
        raise ValueError(f"{value} is out of range (1..{MAX_SPLIT}; qmail's default is {DEFAULT_SPLIT})")
    return value


class QmailTable(Strict):
    """Which qmail is installed, and where: never derived from the users'
    homes (Gentoo's are /dev/null)."""

    installation: Annotated[str, AfterValidator(check_installation), Described(enum=installation_names)] = DEFAULT_INSTALLATION
    home: DirectoryPath = DEFAULT_HOME
    # None: the home's queue/ (s/qmail's conf-queue and FHS layouts move it)
    queue: DirectoryPath | None = None
    split: Annotated[int, AfterValidator(check_split), Described(minimum=1, maximum=MAX_SPLIT)] = DEFAULT_SPLIT

    @model_validator(mode="after")
    def _queue_apart(self) -> QmailTable:
        if self.queue == self.home:
            raise ValueError(f"queue: {self.queue!r} is the home itself; the queue is a directory of its own")
        return self

    @property
    def queue_path(self) -> str:
        return self.queue or f"{self.home}/queue"


class Spec(Strict):
    groups: list[Group] = []
    users: list[User] = []
    paths: list[PathSpec] = []
    qmail: QmailTable = QmailTable()

    @model_validator(mode="after")
    def _unique(self) -> Spec:
        checks = [
            ("groups", "name", [g.name for g in self.groups]),
            ("groups", "gid", [g.gid for g in self.groups if g.gid is not None]),
            ("users", "name", [u.name for u in self.users]),
            ("users", "uid", [u.uid for u in self.users if u.uid is not None]),
            ("paths", "path", [p.path for p in self.paths] + [p.link for p in self.paths if p.link]),
        ]
        for section, field, values in checks:
            dups = _duplicates(values)
            if dups:
                raise ValueError(f"{section}: {field} {dups[0]!r} appears more than once")
        return self

    def group(self, name: str) -> Group | None:
        return next((g for g in self.groups if g.name == name), None)


SECTIONS: dict[str, type[BaseModel]] = {"groups": Group, "users": User, "paths": PathSpec}
TABLES: dict[str, type[BaseModel]] = {"qmail": QmailTable}

# pydantic's error types, in plain words (its own wording names Python types)
PLAIN = {
    "missing": "missing; every entry needs it",
    "string_type": "must be a string, in quotes",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "list_type": "must be a list of tables, written [[{section}]]",
    "model_type": "must be a table",
    "dict_type": "must be a table",
    "model_attributes_type": "must be a table",
}


def field_names(loc: tuple) -> list[str]:
    """The fields the spec file may name where LOC's last part stands."""
    model = {1: Spec, 2: TABLES.get(loc[0]), 3: SECTIONS.get(loc[0])}.get(len(loc))
    if model is None:
        return []
    return [info.alias or name for name, info in model.model_fields.items()]


def meant_field(loc: tuple) -> str | None:
    """The field an unknown one at LOC is a misspelling of, if any."""
    close = get_close_matches(str(loc[-1]), field_names(loc), n=1)
    return close[0] if close else None


def plain_reason(error: ErrorDetails) -> str:
    kind, loc, value = error["type"], error["loc"], error.get("input")
    if kind == "extra_forbidden":
        meant = meant_field(loc)
        return "unknown field" + (f"; did you mean {meant!r}?" if meant else "")
    if kind == "string_type" and loc[-1] == "mode" and type(value) is int:
        # TOML read 755 as a number; the octal digits are what was meant
        # (true is no number here, though Python counts a bool an int)
        return f"{value} is a number; write the mode as a quoted octal string (\"0{value}\")"
    if kind == "int_type" and isinstance(value, str):
        return f"{value!r} is a string; write the number without quotes"
    if kind == "list_type" and len(loc) == 3:  # a user's groups, not a section
        return 'must be a list of group names, such as ["qcerts"]'
    if kind == "literal_error":  # a role, say: name the choices
        return f"{value!r} is not one of {error['ctx']['expected']}"
    if kind in PLAIN:
        return PLAIN[kind].format(section=loc[0] if loc else "")
    message = error["msg"]
    if message.startswith("Value error, "):
        # our own validators' words, the value shown as written
        return message.removeprefix("Value error, ")
    # pydantic's words for a kind PLAIN lacks, less its Python talk
    return message.removeprefix("Input should be ").replace("valid ", "")


def format_errors(source: str, error: ValidationError) -> list[str]:
    """Every problem of the spec, a line each: SOURCE: where: why."""
    errors = error.errors()
    # "users[0].hom: unknown field; did you mean 'home'?" says all that
    # "users[0].home: missing" would
    meant = {(*e["loc"][:-1], meant_field(e["loc"])) for e in errors if e["type"] == "extra_forbidden"}
    lines = []
    for each in errors:
        if each["type"] == "missing" and tuple(each["loc"]) in meant:
            continue
        # [[users]] entries are a list: show users[2].home, counting from 0
        where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in each["loc"]).lstrip(".")
        # a check of the whole spec names its section itself ("users: name ...")
        lines.append(f"{source}: {where + ': ' if where else ''}{plain_reason(each)}")
    return lines


def parse_spec(text: str, source: str) -> Spec:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise BadInput(f"{source}: invalid TOML: {error}") from None
    try:
        return Spec.model_validate(data)
    except ValidationError as error:
        raise BadInput(*format_errors(source, error)) from None


def load_spec(path: Path | None) -> Spec:
    """The spec in FILE, or the built-in qmail layout when there is none."""
    if path is None:
        # not at the top: installation.py imports this module
        from qmailsetup.installation import with_setup_directories

        text = Path(__file__).with_name("default.toml").read_text()
        return with_setup_directories(parse_spec(text, "built-in default spec"), "built-in default spec")
    try:
        # never blocks: a FIFO (also `--spec <(...)`) or a device is refused,
        # and so is a file larger than any spec
        text = read_consulted(path).decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise BadInput(f"{path}: cannot read spec: {reason}") from None
    return parse_spec(text, str(path))
