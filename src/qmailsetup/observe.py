"""Observing the host: what exists under the root, read, never written.

Reads the account files of the platform's flavor, the system ID range, the
directories the spec names (with lstat: symlinks are seen, not followed)
and, when the root is /, asks NSS about the spec's names and IDs so that an
account that lives only in LDAP or NIS is not created a second time.
"""

from __future__ import annotations

import errno
import gc
import os
import stat
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from qmailsetup.errors import BadInput, Refused
from qmailsetup.platforms import IdRange, Profile
from qmailsetup.spec import Spec
from qmailsetup.userdb.accountfile import AccountFile

# Which files each flavor keeps; the optional ones are used when present.
FLAVOR_FILES = {
    "shadow": {"required": ("passwd", "group"), "optional": ("shadow", "gshadow")},
    "bsd": {"required": ("master.passwd", "group"), "optional": ()},
    "plain": {"required": ("passwd", "group"), "optional": ()},
}


def users_file(flavor: str) -> str:
    """The file FLAVOR keeps its users in: master.passwd on the BSDs, else passwd."""
    return "master.passwd" if "master.passwd" in FLAVOR_FILES[flavor]["required"] else "passwd"


# NamedTuples: immutable, and made three times faster than frozen
# dataclasses; a large host has 100,000 of each, made on every run
class UserRecord(NamedTuple):
    name: str
    uid: int
    gid: int
    comment: str
    home: str
    shell: str
    password: str
    login_class: str | None = None


class GroupRecord(NamedTuple):
    name: str
    gid: int


@dataclass(frozen=True)
class PathState:
    """A spec path as lstat sees it under the root."""

    path: str
    kind: str  # "missing", "directory", "symlink" or "other"
    uid: int | None = None
    gid: int | None = None
    mode: int | None = None
    # the first component above it that is a symlink or not a directory
    blocked_by: str | None = None
    # directories above it (the root included) that someone other than root
    # may write to, so could rename it away and put their own in its place:
    # (path, how it is owned)
    unsafe_parents: tuple[tuple[str, str], ...] = ()


@dataclass
class HostState:
    root: Path
    profile: Profile
    files: dict[str, AccountFile]
    # name -> record, made when asked for
    users: Records
    groups: Records
    id_range: IdRange
    nologin: str
    paths: dict[str, PathState] = field(default_factory=dict)
    # accounts that NSS knows but the local files do not (root / only)
    nss_users: dict[str, int] = field(default_factory=dict)
    nss_groups: dict[str, int] = field(default_factory=dict)
    nss_uids: dict[int, str] = field(default_factory=dict)
    nss_gids: dict[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # the first entry holding an ID names it, as getpwuid would
        self.uid_names: dict[int, str] = self.users.id_holders()
        self.gid_names: dict[int, str] = self.groups.id_holders()


def under(root: Path, absolute: str) -> Path:
    return root / absolute.lstrip("/")


def shown(root: Path, absolute: str) -> str:
    """How a path under the root is named in messages."""
    return str(under(root, absolute)) if root != Path("/") else absolute


def cannot_read(name: str, error: OSError) -> str:
    """Why an account file could not be read; shadow and gshadow are for
    root alone, so a run as another user is told what to do."""
    if error.errno in (errno.EACCES, errno.EPERM):
        return f"{name}: permission denied; run as root"
    return f"{name}: cannot read: {error.strerror}"


def read_account_file(root: Path, kind: str, required: bool) -> AccountFile:
    path = under(root, f"/etc/{kind}")
    name = shown(root, f"/etc/{kind}")
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        if required:
            raise BadInput(f"{name}: missing; a {kind} file is needed here") from None
        return AccountFile.missing(path, kind)
    except OSError as error:
        raise BadInput(cannot_read(name, error)) from None
    if stat.S_ISLNK(info.st_mode):
        raise Refused(f"{name}: is a symlink; refusing to edit an account file through a link")
    if not stat.S_ISREG(info.st_mode):
        raise BadInput(f"{name}: not a regular file")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise BadInput(cannot_read(name, error)) from None
    if not data and required:
        raise BadInput(f"{name}: empty; a real {kind} file has at least root in it")
    return AccountFile.parse(path, kind, data, shown=name)


def check_etc(root: Path) -> None:
    """ROOT/etc must be the root's own directory: through a link to the
    running host's /etc, useradd --prefix would edit the host's accounts."""
    etc = under(root, "/etc")
    try:
        info = os.lstat(etc)
    except FileNotFoundError:
        return  # the missing account files are named one by one
    if stat.S_ISLNK(info.st_mode):
        raise Refused(f"{etc}: is a symlink (to {os.readlink(etc)}); refusing to edit account files through a link")


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


def read_files(root: Path, flavor: str) -> dict[str, AccountFile]:
    if root != Path("/"):
        check_etc(root)
    kinds = FLAVOR_FILES[flavor]
    with collector_paused():
        files = {kind: read_account_file(root, kind, True) for kind in kinds["required"]}
        files.update({kind: read_account_file(root, kind, False) for kind in kinds["optional"]})
    return files


class Records(Mapping):
    """The entries of one account file by name, each made into a record the
    first time it is asked for: the planner looks at a few dozen names, and
    a large host has 100,000 (making them all took half the run)."""

    def __init__(self, account_file: AccountFile, make) -> None:
        self.file = account_file
        self.make = make  # (name, fields) -> record
        self.made: dict = {}

    def __getitem__(self, name: str):
        record = self.made.get(name)
        if record is None:
            position = self.file.index[name]  # KeyError: no such entry
            record = self.made[name] = self.make(name, self.file.lines[position][:-1].split(":"))
        return record

    def __contains__(self, name: object) -> bool:
        return name in self.file.index

    def __iter__(self):
        return iter(self.file.index)

    def __len__(self) -> int:
        return len(self.file.index)

    def id_holders(self) -> dict[int, str]:
        with collector_paused():
            return self.file.id_holders()


def users_and_groups(files: dict[str, AccountFile]) -> tuple[Records, Records]:
    if "master.passwd" in files:
        users = Records(
            files["master.passwd"], lambda name, f: UserRecord(name, int(f[2]), int(f[3]), f[7], f[8], f[9], f[1], f[4])
        )
    else:
        shadow = files.get("shadow")

        def user(name: str, f: list[str]) -> UserRecord:
            password = f[1]
            if password == "x" and shadow is not None:
                hidden = shadow.get(name)
                password = hidden[1] if hidden else password
            return UserRecord(name, int(f[2]), int(f[3]), f[4], f[5], f[6], password)

        users = Records(files["passwd"], user)
    groups = Records(files["group"], lambda name, f: GroupRecord(name, int(f[2])))
    return users, groups


def read_login_defs(root: Path, profile: Profile) -> IdRange:
    """The system ID range as shadow-utils computes it from login.defs."""
    defaults = profile.system_ids
    if not profile.login_defs:
        return defaults
    values: dict[str, int] = {}
    try:
        text = under(root, profile.login_defs).read_text(errors="replace")
    except OSError:
        return defaults
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2 and not words[0].startswith("#"):
            try:
                values[words[0]] = int(words[1], 0)
            except ValueError:
                continue
    uid_max = values.get("SYS_UID_MAX", values["UID_MIN"] - 1 if "UID_MIN" in values else defaults.uid_max)
    gid_max = values.get("SYS_GID_MAX", values["GID_MIN"] - 1 if "GID_MIN" in values else defaults.gid_max)
    return IdRange(
        uid_min=values.get("SYS_UID_MIN", defaults.uid_min),
        uid_max=uid_max,
        gid_min=values.get("SYS_GID_MIN", defaults.gid_min),
        gid_max=gid_max,
    )


def writable_by_others(info: os.stat_result) -> bool:
    """Not only root may write here: another owner, or group or other write
    permission (a group other than root's)."""
    mode = info.st_mode
    return info.st_uid != 0 or bool(mode & stat.S_IWOTH) or bool(mode & stat.S_IWGRP and info.st_gid != 0)


def ownership(info: os.stat_result) -> str:
    return f"owner {info.st_uid}, group {info.st_gid}, mode {stat.S_IMODE(info.st_mode):04o}"


def observe_path(root: Path, path: str) -> PathState:
    parts = Path(path).parts[1:]
    current = "/"
    unsafe: list[tuple[str, str]] = []
    root_info = os.stat(root)
    if writable_by_others(root_info):
        unsafe.append(("/", ownership(root_info)))
    for depth, part in enumerate(parts):
        current = str(Path(current) / part)
        try:
            info = os.lstat(under(root, current))
        except FileNotFoundError:
            return PathState(path, "missing", unsafe_parents=tuple(unsafe))
        except NotADirectoryError:
            return PathState(path, "missing", blocked_by=current)
        last = depth == len(parts) - 1
        if last:
            if stat.S_ISLNK(info.st_mode):
                return PathState(path, "symlink")
            kind = "directory" if stat.S_ISDIR(info.st_mode) else "other"
            return PathState(path, kind, info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode), None, tuple(unsafe))
        if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
            return PathState(path, "missing", blocked_by=current)
        if writable_by_others(info):
            unsafe.append((current, ownership(info)))
    return PathState(path, "missing", unsafe_parents=tuple(unsafe))


def ask_nss(spec: Spec, state: HostState) -> None:
    import grp
    import pwd

    for user in spec.users:
        if user.name not in state.users:
            try:
                state.nss_users[user.name] = pwd.getpwnam(user.name).pw_uid
            except KeyError:
                pass
        if user.uid is not None and user.uid not in state.uid_names:
            try:
                state.nss_uids[user.uid] = pwd.getpwuid(user.uid).pw_name
            except KeyError:
                pass
    for group in spec.groups:
        if group.name not in state.groups:
            try:
                state.nss_groups[group.name] = grp.getgrnam(group.name).gr_gid
            except KeyError:
                pass
        if group.gid is not None and group.gid not in state.gid_names:
            try:
                state.nss_gids[group.gid] = grp.getgrgid(group.gid).gr_name
            except KeyError:
                pass


def choose_nologin(root: Path, profile: Profile) -> str:
    return next((shell for shell in profile.nologin if under(root, shell).exists()), profile.nologin[0])


def observe(spec: Spec, root: Path, profile: Profile) -> HostState:
    files = read_files(root, profile.flavor)
    users, groups = users_and_groups(files)
    state = HostState(
        root=root,
        profile=profile,
        files=files,
        users=users,
        groups=groups,
        id_range=read_login_defs(root, profile),
        nologin=choose_nologin(root, profile),
        paths={p.path: observe_path(root, p.path) for p in spec.paths},
    )
    if root.resolve() == Path("/"):
        ask_nss(spec, state)
    return state
