"""The declarative model: which groups, users and directories must exist.

A spec is TOML (or the built-in default, default.toml beside this file),
validated by pydantic. Validation covers what can be known without a host;
whatever needs the host (a user's group that exists only there, an owner)
is the planner's job.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path, PurePosixPath
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from qmailsetup.errors import BadInput

# What useradd, pw and OpenBSD's user(8) all accept: lower case, digits,
# '_' and '-', not starting with '-' or a digit, at most 32 characters.
NAME_PATTERN = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
# 0 is root's; 65535 and 4294967295 are (uid_t)-1 in 16 and 32 bits.
MAX_ID = 2**31 - 1
RESERVED_IDS = {0, 65535}
MODE_PATTERN = re.compile(r"0?[0-7]{3,4}")
FORBIDDEN_IN_FIELDS = (":", "\n", "\r", "\0")

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
    path = PurePosixPath(value)
    if not path.is_absolute():
        raise ValueError(f"{value!r} is not an absolute path")
    if ".." in path.parts or "//" in value or (value != "/" and value.endswith("/")):
        raise ValueError(f"{value!r} is not a normalised absolute path")
    check_field_text(value)
    return value


def check_field_text(value: str) -> str:
    bad = [c for c in FORBIDDEN_IN_FIELDS if c in value]
    if bad:
        raise ValueError(f"{value!r} contains {bad[0]!r}, which the account files cannot hold")
    return value


Name = Annotated[str, AfterValidator(check_name)]
Id = Annotated[int, AfterValidator(check_id)]
AbsolutePath = Annotated[str, AfterValidator(check_absolute)]
FieldText = Annotated[str, AfterValidator(check_field_text)]


def check_mode(value: str) -> str:
    if not MODE_PATTERN.fullmatch(value):
        raise ValueError(f"{value!r} is not an octal mode such as \"0755\" or \"02755\"")
    return value


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
    shell: AbsolutePath | None = None
    comment: FieldText | None = None
    # BSD login class (OpenBSD useradd -L, pw -L); "class" in the spec file
    login_class: FieldText | None = Field(default=None, alias="class")
    role: UserRole | None = None


class PathSpec(Strict):
    path: AbsolutePath
    owner: Name
    group: Name
    mode: Annotated[str, AfterValidator(check_mode)]

    @property
    def mode_bits(self) -> int:
        return int(self.mode, 8)


def _duplicates(values) -> list:
    seen, dups = set(), []
    for value in values:
        if value in seen and value not in dups:
            dups.append(value)
        seen.add(value)
    return dups


class Spec(Strict):
    groups: list[Group] = []
    users: list[User] = []
    paths: list[PathSpec] = []

    @model_validator(mode="after")
    def _unique(self) -> Spec:
        checks = [
            ("groups", "name", [g.name for g in self.groups]),
            ("groups", "gid", [g.gid for g in self.groups if g.gid is not None]),
            ("users", "name", [u.name for u in self.users]),
            ("users", "uid", [u.uid for u in self.users if u.uid is not None]),
            ("paths", "path", [p.path for p in self.paths]),
        ]
        for section, field, values in checks:
            dups = _duplicates(values)
            if dups:
                raise ValueError(f"{section}: {field} {dups[0]!r} appears more than once")
        return self

    def group(self, name: str) -> Group | None:
        return next((g for g in self.groups if g.name == name), None)


def _format_error(source: str, error: ValidationError) -> str:
    first = error.errors()[0]
    # [[users]] entries are a list: show users[2].home, counting from 0
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in first["loc"])
    where = where.lstrip(".")
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown field"
    count = error.error_count()
    more = f" (and {count - 1} more)" if count > 1 else ""
    # a check of the whole spec names its section itself ("users: name ...")
    return f"{source}: {where + ': ' if where else ''}{message}{more}"


def parse_spec(text: str, source: str) -> Spec:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise BadInput(f"{source}: invalid TOML: {error}") from None
    try:
        return Spec.model_validate(data)
    except ValidationError as error:
        raise BadInput(_format_error(source, error)) from None


def load_spec(path: Path | None) -> Spec:
    """The spec in FILE, or the built-in qmail layout when there is none."""
    if path is None:
        # beside this file: importlib.resources would cost more to import than the read
        text = Path(__file__).with_name("default.toml").read_text()
        return parse_spec(text, "built-in default spec")
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise BadInput(f"{path}: cannot read spec: {reason}") from None
    return parse_spec(text, str(path))
