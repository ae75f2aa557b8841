"""The qmail installation as data: every path qmail's installer makes, per
fork and version (installations/*.toml, sources in docs/installations.md),
and that table resolved for a spec's [qmail] home, queue and split.

Each installation is one TOML file in installations/ (shipped inside the
wheel as qmailsetup/installations, read from the checkout's top level
otherwise), as platforms/ are: a new fork or version is a new file. Its
paths are relative, `home` entries to the qmail home and `queue` entries to
the queue, so a queue the spec puts elsewhere (s/qmail's conf-queue, an FHS
layout) takes its entries along. Owners and groups are roles, written as
qmail's own layout names them (conf-users: root, alias, qmaild, ...,
qmails, and s/qmail's TLS user sqmtls; conf-groups: qmail, nofiles);
layout.py says which of a spec's accounts plays each (account_names).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, TypeAlias

from pydantic import AfterValidator, Field, ValidationError, model_validator

from qmailsetup.errors import BadInput
from qmailsetup.layout import GROUP_ROLES, ROLE_TITLES, TLS_ROLE, USER_ROLES, Layout, qmail_layout
from qmailsetup.platforms import data_dir, read_data_file
from qmailsetup.spec import PathSpec, Spec, Strict, check_mode, format_errors

# conf-users' fourth line, the owner of binaries, is root: never created
OWNER_ROLES = ("root", *USER_ROLES, TLS_ROLE)
# the roles a path may name, for the table's checks; a Literal made at run
# time, which mypy cannot read: to it they are text
if TYPE_CHECKING:
    OwnerRole: TypeAlias = str
    GroupRole: TypeAlias = str
else:
    OwnerRole = Literal[OWNER_ROLES]
    GroupRole = Literal[GROUP_ROLES]


def check_relative(value: str) -> str:
    """A path under its anchor written one way only; '.' is the anchor."""
    if value != "." and (value.startswith("/") or any(part in ("", ".", "..") for part in value.split("/"))):
        raise ValueError(
            f"{value!r} is not a relative path written one way "
            "(no leading '/', no '.', '..' or empty parts; '.' alone is the anchor itself)"
        )
    return value


class InstalledPath(Strict):
    path: Annotated[str, AfterValidator(check_relative)]
    type: Literal["dir", "file", "fifo"]
    owner: OwnerRole
    group: GroupRole
    mode: Annotated[str, AfterValidator(check_mode)]
    # the bytes hier.c's z() writes (lock/tcpto: 1024 zeros)
    size: int | None = Field(default=None, ge=0)
    # dsplit(): the directory and its conf-split subdirectories 0 .. split-1
    split: bool = False
    # made only where the build made it (notqmail's formatted man pages)
    optional: bool = False

    @model_validator(mode="after")
    def _fits_its_type(self) -> InstalledPath:
        if self.size is not None and self.type != "file":
            raise ValueError(f"{self.path}: a {self.type} has no size")
        if self.split and self.type != "dir":
            raise ValueError(f"{self.path}: only a directory is split")
        return self


def check_anchored(entries: list[InstalledPath], anchor: str) -> None:
    """ANCHOR's entries start with the anchor itself, a directory, and list
    each path once, after the directory that holds it: the order an
    installer can make them in."""
    if not entries or entries[0].path != "." or entries[0].type != "dir" or entries[0].split:
        raise ValueError(f"{anchor}: the first entry must be the {anchor} itself, path \".\", an unsplit directory")
    directories = {"."}
    seen = set()
    for entry in entries[1:]:
        if entry.path in seen or entry.path == ".":
            raise ValueError(f"{anchor}: {entry.path!r} is listed more than once")
        seen.add(entry.path)
        parent = entry.path.rpartition("/")[0] or "."
        if parent not in directories:
            raise ValueError(f"{anchor}: {entry.path!r} comes before its directory {parent!r}, or that is no directory")
        if entry.type == "dir":
            directories.add(entry.path)


class Installation(Strict):
    description: str
    source: str
    home: list[InstalledPath]
    queue: list[InstalledPath]

    @model_validator(mode="after")
    def _one_way_to_each_path(self) -> Installation:
        check_anchored(self.home, "home")
        check_anchored(self.queue, "queue")
        inside = [e.path for e in self.home if e.path == "queue" or e.path.startswith("queue/")]
        if inside:
            raise ValueError(f"home: {inside[0]!r} belongs to the queue's entries (paths relative to the queue)")
        return self


def installations_dir() -> Path:
    return data_dir("installations")


def known_names() -> list[str]:
    return sorted(path.stem for path in installations_dir().glob("*.toml"))


@cache
def load_installation(name: str) -> Installation:
    """The installation NAME (a file stem in installations/); BadInput for
    an unknown name or a broken file."""
    folder = installations_dir()
    path = folder / f"{name}.toml"
    text = read_data_file(folder, name, "installation table")
    if text is None:
        raise BadInput(f"installation {name!r}: no such installation (known: {', '.join(known_names())})")
    source = f"{path}: broken installation table"
    try:
        return Installation.model_validate(tomllib.loads(text))
    except tomllib.TOMLDecodeError as error:
        raise BadInput(f"{source}: invalid TOML: {error}") from None
    except ValidationError as error:
        raise BadInput(*format_errors(source, error)) from None


@dataclass(frozen=True)
class Place:
    """One path as qmail sees it (never under --root), with the roles that
    own it and its mode."""

    path: str
    type: str
    owner: str  # an OWNER_ROLES role
    group: str  # a GROUP_ROLES role
    mode: int
    size: int | None = None
    optional: bool = False


@dataclass(frozen=True)
class QmailInstall:
    """An installation at a spec's home and queue, with its split."""

    name: str
    installation: Installation
    home: str
    queue: str
    split: int

    @property
    def bin(self) -> str:
        # qmail compiles auto_qmail + "/bin/..." into its programs
        return f"{self.home}/bin"

    @cached_property
    def places(self) -> tuple[Place, ...]:
        """Every path the installer makes, in its order, split directories
        followed by their subdirectories 0 .. split-1."""
        places = []
        for anchor, entries in ((self.home, self.installation.home), (self.queue, self.installation.queue)):
            for entry in entries:
                path = anchor if entry.path == "." else f"{anchor}/{entry.path}"
                paths = [path] + ([f"{path}/{i}" for i in range(self.split)] if entry.split else [])
                places += [
                    Place(each, entry.type, entry.owner, entry.group, int(entry.mode, 8), entry.size, entry.optional)
                    for each in paths
                ]
        return tuple(places)

    @cached_property
    def by_path(self) -> dict[str, Place]:
        return {place.path: place for place in self.places}

    def place(self, path: str) -> Place | None:
        return self.by_path.get(path)


def qmail_install(spec: Spec) -> QmailInstall:
    """The spec's installation ([qmail], or the built-in one), resolved."""
    table = spec.qmail
    return QmailInstall(
        name=table.installation,
        installation=load_installation(table.installation),
        home=table.home,
        queue=table.queue_path,
        split=table.split,
    )


def account_names(install: QmailInstall, layout: Layout, source: str) -> tuple[dict[str, str], dict[str, str]]:
    """({owner role: user name}, {group role: group name}) for the roles
    INSTALL's paths name, as the spec's LAYOUT calls them; BadInput naming
    SOURCE when no account plays one (s/qmail's ssl needs the TLS user)."""
    users = {"root": "root"} | {role: user.name for role, user in layout.users.items()}
    missing = sorted({p.owner for p in install.places} - set(users), key=OWNER_ROLES.index)
    if missing:
        raise BadInput(
            f"{source}: installation {install.name} has paths owned by qmail's {ROLE_TITLES[missing[0]]}, "
            "but no user of the spec plays that role"
        )
    return users, dict(layout.groups)


# what `apply` makes of an installation (docs/qmail.md, "The directory"):
# the home and alias's home, before qmail is built; the installer makes
# the rest
SETUP_DIRECTORIES = (".", "alias")


def with_setup_directories(spec: Spec, source: str) -> Spec:
    """SPEC with [[paths]] made from its installation: the home and
    alias's home, with the owners and modes the installer gives them (the
    built-in default spec names none of its own)."""
    install = qmail_install(spec)
    users, groups = account_names(install, qmail_layout(spec, source), source)
    wanted = {install.home if path == "." else f"{install.home}/{path}" for path in SETUP_DIRECTORIES}
    paths = [
        PathSpec(path=place.path, owner=users[place.owner], group=groups[place.group], mode=f"0{place.mode:o}")
        for place in install.places if place.path in wanted
    ]
    return spec.model_copy(update={"paths": paths})
