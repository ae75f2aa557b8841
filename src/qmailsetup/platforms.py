"""Platform profiles: the data that tells one UNIX from another.

Each platform is one TOML file in platforms/ (shipped inside the wheel as
qmailsetup/platforms, read from the checkout's top level otherwise). Code
here only loads, checks and chooses them; what differs between systems is
data, so adding a platform means adding a file.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from qmailsetup.choices import BACKENDS, COMMAND_BACKENDS
from qmailsetup.errors import BadInput, Refused
from qmailsetup.hostio import NotRegular, TooLarge, read_consulted, read_optional
from qmailsetup.target import Target
from qmailsetup.template import Template
from qmailsetup.tools import find_tool
from qmailsetup.userdb.flavor import ALL_FILES, FLAVORS, LOCK_KIND_NAMES, detect as detect_flavor

# Shells that never give a login, whatever the platform. This list alone
# says what a login shell is, so it is known without a host: a spec is
# refused one before the platform is known (spec.py), check calls one an
# error (check/accounts.py), and a profile's nologin shells must be here.
NON_LOGIN_SHELLS = frozenset(
    {
        "/usr/sbin/nologin", "/sbin/nologin", "/usr/bin/nologin",
        "/bin/false", "/usr/bin/false", "/bin/true", "/usr/bin/true",
        "/nonexistent", "/dev/null",
    }
)


def is_login_shell(shell: str) -> bool:
    """Whether an account whose shell field is SHELL may log in (an empty
    field is /bin/sh): every shell but those that never give a login."""
    return shell not in NON_LOGIN_SHELLS


# the commands a command backend needs, the fields each must be able to
# pass on (else a planned change would be silently lost), and all it may name
TEMPLATES = {
    "groupadd": ("name", "gid"),
    "useradd": ("name", "uid", "group", "home", "shell", "comment", "groups"),
    "usermod": ("name", "group", "home", "shell", "comment"),
    # adds user {name} to the supplementary group {group}, keeping its others
    "addtogroup": ("name", "group"),
}
TEMPLATE_FIELDS = frozenset({"root", "name", "uid", "gid", "group", "home", "shell", "comment", "class", "groups"})
POST_EDIT_FIELDS = frozenset({"etcdir", "root"})
# where the files backend's new lines go, and what a line template may name
NEW_LINE_KINDS = ALL_FILES
NEW_LINE_FIELDS = frozenset({"name", "uid", "gid", "comment", "home", "shell", "class", "hidden", "lastchg"})
# what useradd_also may name: the users the tool creates
USERADD_ALSO_FIELDS = frozenset({"names"})
# which way the host's own tool counts through the system range for a free ID
ID_ALLOCATIONS = ("down", "up")


@dataclass(frozen=True)
class IdRange:
    uid_min: int
    uid_max: int
    gid_min: int
    gid_max: int


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    backend: str
    flavor: str
    nologin: tuple[str, ...]
    system_ids: IdRange
    login_defs: str | None = None
    # one command, run after master.passwd was written ({root} has no
    # value on /, so a part naming it is left out there)
    post_edit: Template = Template()
    commands: dict[str, Template] = field(default_factory=dict)
    detect: dict = field(default_factory=dict)
    # "down": the highest free ID below the lowest in use (shadow-utils -r);
    # "up": the first free one from the bottom (busybox adduser -S)
    id_allocation: str = "down"
    # the tool refuses a shell that is not nologin, in /etc/shells or an
    # executable file (NetBSD's valid_shell()): the plan checks it first
    shell_must_be_valid: bool = False
    # the files backend's new-line templates where the host's tool writes
    # other lines than the flavor's default (userdb/flavor.py new_lines)
    new_lines: dict[str, Template] = field(default_factory=dict)
    # what the tool does beyond the accounts when it creates a user, shown
    # in the plan as a warning (pw: a mailbox, pw.conf's extragroups)
    useradd_also: Template | None = None
    # (kind, name in etc) of the locks the platform's other account tools
    # take, which the files backend takes besides the flavor's (busybox's
    # FILE+ on Alpine)
    also_locks: tuple[tuple[str, str], ...] = ()


def data_dir(name: str) -> Path:
    """The data folder NAME (platforms, installations) inside the installed
    package, else the checkout's top level."""
    shipped = Path(__file__).with_name(name)  # in the wheel
    if shipped.is_dir():
        return shipped
    return Path(__file__).resolve().parents[2] / name


# a data file's name: a file stem, never a path
DATA_FILE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")


def read_data_file(folder: Path, name: str, what: str) -> str | None:
    """The text of the shipped data file FOLDER/NAME.toml; None when there
    is none or NAME is not a file stem; BadInput naming WHAT when it cannot
    be read."""
    if not DATA_FILE_NAME.fullmatch(name):
        return None
    path = folder / f"{name}.toml"
    try:
        data = read_optional(path)
        return None if data is None else data.decode()
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise BadInput(f"{path}: cannot read {what}: {reason}") from None


def profiles_dir() -> Path:
    return data_dir("platforms")


def known_names() -> list[str]:
    return sorted(path.stem for path in profiles_dir().glob("*.toml"))


# The pydantic model of a profile file. The templates are parsed by the
# checks, once, and kept beside the fields they come from (the private
# attributes).
class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Detect(Strict):
    system: str | None = None  # uname -s: Linux, FreeBSD, OpenBSD, NetBSD
    os_release_ids: list[str] = []  # /etc/os-release ID or ID_LIKE
    tools: list[str] = []  # all found by find_tool
    priority: int = 0  # the most specific match wins


class Ids(Strict):
    uid_min: int = Field(ge=1)
    uid_max: int = Field(ge=1)
    gid_min: int = Field(ge=1)
    gid_max: int = Field(ge=1)

    @model_validator(mode="after")
    def ordered(self):
        if self.uid_min > self.uid_max or self.gid_min > self.gid_max:
            raise ValueError("a minimum is above its maximum")
        return self


class Accounts(Strict):
    backend: str
    flavor: str
    nologin: list[str] = Field(min_length=1)
    system_ids: Ids
    login_defs: str | None = None
    post_edit: list[list[str]] = []
    id_allocation: str = "down"
    shell_must_be_valid: bool = False
    new_lines: dict[str, str] = {}
    useradd_also: str | None = None
    also_locks: dict[str, list[str]] = {}
    _post_edit: Template = PrivateAttr(Template())
    _new_lines: dict[str, Template] = PrivateAttr(default_factory=dict)
    _useradd_also: Template | None = PrivateAttr(None)

    @model_validator(mode="after")
    def known(self):
        if self.backend not in BACKENDS:
            raise ValueError(f"backend {self.backend!r} is not one of {', '.join(BACKENDS)}")
        if self.flavor not in FLAVORS:
            raise ValueError(f"flavor {self.flavor!r} is not one of {', '.join(FLAVORS)}")
        bad = [shell for shell in self.nologin if not shell.startswith("/")]
        if bad:
            raise ValueError(f"nologin shell {bad[0]!r} is not an absolute path")
        login = [shell for shell in self.nologin if is_login_shell(shell)]
        if login:
            raise ValueError(f"nologin shell {login[0]!r} is not one of the shells that never give a login "
                             f"({', '.join(sorted(NON_LOGIN_SHELLS))})")
        if not all(self.post_edit):
            raise ValueError("post_edit has an empty part")
        self._post_edit = Template.parse(self.post_edit, POST_EDIT_FIELDS, "post_edit")
        if self.id_allocation not in ID_ALLOCATIONS:
            raise ValueError(f"id_allocation {self.id_allocation!r} is not one of {', '.join(ID_ALLOCATIONS)}")
        for kind, line in self.new_lines.items():
            if kind not in NEW_LINE_KINDS:
                raise ValueError(f"new_lines.{kind}: unknown file (known: {', '.join(sorted(NEW_LINE_KINDS))})")
            self._new_lines[kind] = Template.parse_line(line, NEW_LINE_FIELDS, f"new_lines.{kind}")
        for kind, names in self.also_locks.items():
            if kind not in LOCK_KIND_NAMES:
                raise ValueError(f"also_locks.{kind}: unknown kind of lock (known: {', '.join(LOCK_KIND_NAMES)})")
            bad = [name for name in names if not re.fullmatch(r"[A-Za-z0-9._+-]+", name) or name in (".", "..")]
            if bad:
                raise ValueError(f"also_locks.{kind}: {bad[0]!r} is not a file name in etc")
        if self.useradd_also is not None:
            self._useradd_also = Template.parse_line(self.useradd_also, USERADD_ALSO_FIELDS, "useradd_also")
        return self


class ProfileFile(Strict):
    description: str
    detect: Detect = Detect()
    accounts: Accounts
    commands: dict[str, list[list[str]]] = {}
    _commands: dict[str, Template] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def complete(self):
        for name, parts in self.commands.items():
            if name not in TEMPLATES:
                raise ValueError(f"commands.{name}: unknown command (known: {', '.join(TEMPLATES)})")
            if not parts or not all(parts):
                raise ValueError(f"commands.{name}: empty template or part")
            self._commands[name] = Template.parse(parts, TEMPLATE_FIELDS, f"commands.{name}")
        if self.accounts.backend in COMMAND_BACKENDS:
            missing = [name for name in TEMPLATES if name not in self.commands]
            if missing:
                raise ValueError(f"backend {self.accounts.backend} needs commands.{missing[0]}")
            for name, needed in TEMPLATES.items():
                # master.passwd keeps a login class, so its tools must set it
                needed += ("class",) if FLAVORS[self.accounts.flavor].login_classes and name in ("useradd", "usermod") else ()
                lost = [key for key in needed if key not in self._commands[name].fields]
                if lost:
                    raise ValueError(f"commands.{name}: no {{{lost[0]}}}; that field could not be set")
        return self


def describe_error(error) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown key"
    # checks of the whole file name their own place
    return f"{where}: {message}" if where else message


def parse_profile(name: str, text: str, source: str) -> Profile:
    """The profile in TEXT; a broken one is one line naming SOURCE and why."""
    try:
        data = ProfileFile.model_validate(tomllib.loads(text))
    except tomllib.TOMLDecodeError as error:
        raise BadInput(f"{source}: broken platform profile: invalid TOML: {error}") from None
    except ValidationError as error:
        raise BadInput(f"{source}: broken platform profile: {describe_error(error)}") from None
    accounts = data.accounts
    return Profile(
        name=name,
        description=data.description,
        backend=accounts.backend,
        flavor=accounts.flavor,
        nologin=tuple(accounts.nologin),
        system_ids=IdRange(**accounts.system_ids.model_dump()),
        login_defs=accounts.login_defs,
        post_edit=accounts._post_edit,
        commands=dict(data._commands),
        detect=data.detect.model_dump(),
        id_allocation=accounts.id_allocation,
        shell_must_be_valid=accounts.shell_must_be_valid,
        new_lines=dict(accounts._new_lines),
        useradd_also=accounts._useradd_also,
        also_locks=tuple((kind, name) for kind, names in accounts.also_locks.items() for name in names),
    )


def load_profile(name: str) -> Profile:
    folder = profiles_dir()
    path = folder / f"{name}.toml"
    text = read_data_file(folder, name, "platform profile")
    if text is None:
        raise BadInput(f"--platform {name}: no such platform (known: {', '.join(known_names())})")
    return parse_profile(name, text, str(path))


def all_profiles() -> list[Profile]:
    return [load_profile(name) for name in known_names()]


def parse_os_release(text: str) -> dict[str, str]:
    values = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith("#"):
            values[key.strip()] = value.strip().strip("'\"")
    return values


def read_os_release(root: Path) -> dict[str, str]:
    """ID and ID_LIKE, from the first os-release there is (os-release(5));
    a symlink is followed (etc/os-release usually is one), but something
    that is not a file is bad input: a FIFO there would hang even a dry run;
    so is one larger than hostio.CONSULTED_LIMIT."""
    target = Target(root)
    for candidate in (root / "etc/os-release", root / "usr/lib/os-release"):
        try:
            # a link followed inside the root, never to the host's own
            real = target.real_path("/" + str(candidate.relative_to(root)))
            return parse_os_release(read_consulted(real).decode(errors="replace"))
        except (NotRegular, TooLarge) as error:
            raise BadInput(f"{candidate}: {error.strerror}") from None
        except OSError:
            continue
    return {}


def matches(profile: Profile, system: str, os_release: dict[str, str], has_tool) -> bool:
    detect = profile.detect
    if detect.get("system") and detect["system"] != system:
        return False
    wanted_ids = set(detect.get("os_release_ids", []))
    if wanted_ids:
        seen = {os_release.get("ID", "")} | set(os_release.get("ID_LIKE", "").split())
        if not wanted_ids & seen:
            return False
    return all(has_tool(tool) for tool in detect.get("tools", []))


def account_format(root: Path) -> tuple[str | None, list[str]]:
    """The flavor of the account files under ROOT, and the files that say
    so (each flavor's marks, userdb/flavor.py): master.passwd is bsd;
    shadow or gshadow beside passwd is shadow; passwd alone is plain; no
    users file at all says nothing (observe names what is missing)."""
    present = [kind for kind in sorted(ALL_FILES) if os.path.lexists(root / "etc" / kind)]
    return detect_flavor(present)


def writes_format(profile: Profile, found: str | None) -> bool:
    """Whether PROFILE keeps the account files in the format FOUND. The
    shadow flavor also fits plain files (Flavor.also_fits): without a
    shadow file it writes the password into passwd, as useradd does;
    anything else would write a format the host does not have (or leave
    out its shadow lines)."""
    return FLAVORS[profile.flavor].fits(found)


def format_refusal(root: Path, found: str | None, files: list[str], profile: Profile) -> Refused:
    where = ", ".join(str(root / "etc" / kind) for kind in files)
    others = ", ".join(p.name for p in all_profiles() if writes_format(p, found))
    return Refused(
        f"{where}: the {found} format, but platform {profile.name} writes the {profile.flavor} format; "
        f"nothing written; choose a platform that fits: --platform {others}"
    )


def detect_profile(system: str, os_release: dict[str, str], has_tool=None, root: Path | None = None) -> Profile:
    """The most specific profile whose conditions hold on this host and,
    given ROOT, that writes the format of the account files there."""
    has_tool = has_tool or (lambda tool: find_tool(tool) is not None)
    candidates = [p for p in all_profiles() if matches(p, system, os_release, has_tool)]
    if not candidates:
        raise BadInput(f"no platform profile matches this host ({system}); use --platform")
    best = max(candidates, key=lambda p: p.detect.get("priority", 0))
    if root is None:
        return best
    found, files = account_format(root)
    fitting = [p for p in candidates if writes_format(p, found)]
    if not fitting:
        raise format_refusal(root, found, files, best)
    return max(fitting, key=lambda p: p.detect.get("priority", 0))


def require_format(profile: Profile, root: Path) -> None:
    """Refuse a run that would write the account files under ROOT in
    another format than theirs (--platform generic on a host with shadow
    would add entries to passwd and group with no shadow lines)."""
    found, files = account_format(root)
    if not writes_format(profile, found):
        raise format_refusal(root, found, files, profile)


def choose_profile(name: str, root: Path) -> Profile:
    """The profile NAME, or (auto) the one this host and the account files
    under ROOT call for."""
    if name != "auto":
        return load_profile(name)
    return detect_profile(os.uname().sysname, read_os_release(root), root=root)
