"""Observing the host: what exists under the root, read, never written.

Reads the account files of the platform's flavor, the system ID range, the
directories the spec names (with lstat: symlinks are seen, not followed)
and, when the root is /, asks NSS about the spec's names and IDs so that an
account that lives only in LDAP or NIS is not created a second time, and
gives the planner a way to ask it about each ID it would allocate.
"""

from __future__ import annotations

import errno
import grp
import os
import pwd
import stat
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from qmailsetup.errors import BadInput, Refused
from qmailsetup.hostio import NotRegular, read_fd, read_optional
from qmailsetup.logindefs import read_login_defs
from qmailsetup.platforms import IdRange, Profile
from qmailsetup.spec import Spec
from qmailsetup.target import Target, ownership, writable_by_others
from qmailsetup.userdb.accountfile import ENCODING, ERRORS, AccountFile, id_near_end
from qmailsetup.userdb.etcdir import EtcDir
from qmailsetup.userdb.filekinds import ID_COLUMNS
from qmailsetup.userdb.flavor import FLAVORS, Flavor
from qmailsetup.userdb.pwdmkdb import v7_passwd
from qmailsetup.userdb.records import Records, collector_paused, users_and_groups


@dataclass(frozen=True)
class Parent:
    """A directory on the way to a spec path, as lstat saw it."""

    path: str
    uid: int
    gid: int
    mode: int


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
    # the existing directories above it, the root first
    parents: tuple[Parent, ...] = ()
    # where it really is, when links root alone could have made were
    # followed on the way (target.py, the safe-path rule)
    via: str | None = None
    # a symlink: where it leads (inside the root), and why it may not be
    # followed (None: it may)
    leads_to: str | None = None
    distrust: str | None = None


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
    # ROOT/etc as opened once (userdb/etcdir.py): every later step on the
    # account files goes through it
    etc: EtcDir
    paths: dict[str, PathState] = field(default_factory=dict)
    # accounts that NSS knows but the local files do not (root / only)
    nss_users: dict[str, int] = field(default_factory=dict)
    nss_groups: dict[str, int] = field(default_factory=dict)
    nss_uids: dict[int, str] = field(default_factory=dict)
    nss_gids: dict[int, str] = field(default_factory=dict)
    # of those names, the ones the local files have now though they lacked
    # them when read: made meanwhile (another run's), as ("user"|"group", name)
    made_meanwhile: set[tuple[str, str]] = field(default_factory=set)
    # does NSS hold this UID/GID? Asked per allocation candidate, as useradd
    # and adduser do, so that an LDAP or sssd ID that getpwent does not list
    # is never handed out again; None off the live root (no NSS of its own)
    nss_holds_uid: Callable[[int], bool] | None = None
    nss_holds_gid: Callable[[int], bool] | None = None
    # the shells the platform's useradd accepts (profile shell_must_be_valid);
    # None: any
    accepted_shells: frozenset[str] | None = None
    # the root and its etc when others than root may write to them: (path
    # under the root, how it is owned), as PathState.unsafe_parents
    unsafe_etc: tuple[tuple[str, str], ...] = ()
    # BSD: passwd differs from what pwd_mkdb -p makes of master.passwd
    stale_passwd: bool = False
    # what the account files are and how they are edited (profile.flavor)
    flavor: Flavor = field(init=False)
    # the root as one object: live or not, how paths are shown and resolved
    target: Target = field(init=False)

    def __post_init__(self) -> None:
        self.flavor = FLAVORS[self.profile.flavor]
        self.target = Target(self.root)

    def uid_holder(self, uid: int) -> str | None:
        """Who holds UID: the first local entry, as getpwuid would answer,
        else the account NSS named for it (the live root only)."""
        return self.users.holder(uid) or self.nss_uids.get(uid)

    def gid_holder(self, gid: int) -> str | None:
        """Who holds GID, as uid_holder."""
        return self.groups.holder(gid) or self.nss_gids.get(gid)

    def unread(self) -> list[str]:
        """The account files there that this user may not read, as shown."""
        return [shown(self.root, f"/etc/{kind}") for kind, f in self.files.items() if not f.readable]

    def require_read(self) -> None:
        """Nothing is written on a reading that left a file unknown."""
        unread = self.unread()
        if unread:
            raise Unreadable(unread[0])


def under(root: Path, absolute: str) -> Path:
    return root / absolute.lstrip("/")


def shown(root: Path, absolute: str) -> str:
    """How a path under the root is named in messages."""
    return str(under(root, absolute)) if root != Path("/") else absolute


class Unreadable(BadInput):
    """An account file this user may not read (shadow and gshadow are
    root's alone): the run is told what to do."""

    def __init__(self, name: str) -> None:
        super().__init__(f"{name}: permission denied; run as root")


def cannot_read(name: str, error: OSError) -> BadInput:
    if error.errno in (errno.EACCES, errno.EPERM):
        return Unreadable(name)
    return BadInput(f"{name}: cannot read: {error.strerror}")


@contextmanager
def opened(etc: EtcDir, kind: str):
    """ETC's file KIND, open for reading (fd, status), through the
    directory's descriptor: never through a symlink (refused, exit 3, a
    dangling one too), never blocking on a FIFO, device or socket (not a
    regular file: exit 2); None when there is none."""
    name = etc.shown(kind)
    try:
        if stat.S_ISLNK(etc.lstat(kind).st_mode):
            raise Refused(f"{name}: is a symlink; refusing to edit an account file through a link")
        fd, info = etc.open_regular(kind)
    except FileNotFoundError:
        yield None
        return
    except NotRegular as error:
        raise BadInput(f"{name}: {error.strerror}") from None
    except OSError as error:
        if error.errno == errno.ELOOP:  # made a symlink since the lstat
            raise Refused(f"{name}: is a symlink; refusing to edit an account file through a link") from None
        raise cannot_read(name, error) from None
    try:
        yield fd, info
    finally:
        os.close(fd)


def read_bytes(etc: EtcDir, kind: str) -> bytes | None:
    """ETC's file KIND, as opened() opens it, read whole; None when there is none."""
    with opened(etc, kind) as found:
        if found is None:
            return None
        try:
            return read_fd(found[0])
        except OSError as error:
            raise cannot_read(etc.shown(kind), error) from None


def read_account_file(etc: EtcDir, kind: str, required: bool, unread_ok: bool = False) -> AccountFile:
    """ETC's file KIND, read once; while it is open, what stops a rename
    replacing it is noted too (apply's preflight asks, and opens it no
    more). UNREAD_OK: an optional one this user may not read (shadow,
    gshadow) is there but unknown, for a run that only reads."""
    name = etc.shown(kind)
    try:
        with opened(etc, kind) as found:
            if found is None:
                if required:
                    raise BadInput(f"{name}: missing; a {kind} file is needed here")
                return AccountFile.missing(kind)
            fd, info = found
            try:
                data = read_fd(fd)
            except OSError as error:
                raise cannot_read(name, error) from None
            unreplaceable = etc.unreplaceable(fd)
    except Unreadable:
        if required or not unread_ok:
            raise
        return AccountFile.unread(kind)
    if not data and required:
        raise BadInput(f"{name}: empty; a real {kind} file has at least root in it")
    account_file = AccountFile.parse(etc.path / kind, kind, data, shown=name)
    account_file.links = info.st_nlink
    account_file.unreplaceable = unreplaceable
    account_file.read_as = identity(info)
    return account_file


def identity(info: os.stat_result) -> tuple[int, int, int, int]:
    """Which file, of what size and last change: a file replaced or edited
    in place since (by a program that takes no lock) is told apart."""
    return info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns


def stale_passwd(etc: EtcDir, files: dict[str, AccountFile], flavor: Flavor) -> bool:
    """On the BSDs, passwd is made from master.passwd by pwd_mkdb -p, and is
    written with it: a symlinked or dangling one is refused before anything
    is written. True when it is there but differs from what pwd_mkdb -p
    would make (a run that died between master.passwd and pwd_mkdb). A tree
    without one gets one with the next edit."""
    if flavor.made_after_edit is None:
        return False
    found = read_bytes(etc, flavor.made_after_edit)
    if found is None:
        return False
    try:
        expected = v7_passwd(files[flavor.users].text())
    except ValueError:
        return False  # a line pwd_mkdb would refuse: not for this run to guess at
    return found != expected.encode(ENCODING, ERRORS)


def read_files(etc: EtcDir, flavor: str, unread_ok: bool = False) -> dict[str, AccountFile]:
    """The account files of the flavor named FLAVOR in ETC, each read once
    (UNREAD_OK: read_account_file)."""
    kinds = FLAVORS[flavor]
    with collector_paused():
        files = {kind: read_account_file(etc, kind, True) for kind in kinds.required}
        files.update({kind: read_account_file(etc, kind, False, unread_ok) for kind in kinds.optional})
    return files


def look_up_names(spec: Spec, files: dict[str, AccountFile]) -> None:
    """The accounts the spec names, found in each file in one pass: the
    planner and the backends ask for each of them, one at a time."""
    users = [user.name for user in spec.users] + [path.owner for path in spec.paths]
    groups = [group.name for group in spec.groups] + [path.group for path in spec.paths]
    groups += [name for user in spec.users for name in (user.group, *user.groups)]
    for account_file in files.values():
        account_file.look_up(groups if account_file.file_kind.account == "group" else users)


def observe_path(root: Path, path: str) -> PathState:
    """PATH under ROOT. Links on the way are followed (inside the root)
    when root alone could have made them and the way they lead
    (target.py: Target.distrust); any other link is seen, not followed."""
    target = Target(root)
    followed: list[str] = []
    try:
        real = target.resolve(path, followed)
    except OSError as error:
        return PathState(path, "symlink", leads_to=None, distrust=error.strerror)
    if not followed:
        return observe_walk(root, path)
    distrust = target.distrust(followed, real)
    if distrust:
        link = followed[0]
        state = observe_walk(root, path)
        return replace(state, kind="symlink" if link == path else state.kind, leads_to=target.resolve(link),
                       distrust=distrust, blocked_by=None if link == path else link)
    return replace(observe_walk(root, real), path=path, via=real)


def observe_link(root: Path, path: str) -> PathState:
    """PATH, which the spec wants to be a link: what is there now, and
    where it leads (inside the root) if it is one."""
    target = Target(root)
    try:
        info = os.lstat(target.host_path(path))
    except FileNotFoundError:
        return PathState(path, "missing")
    if not stat.S_ISLNK(info.st_mode):
        return PathState(path, "directory" if stat.S_ISDIR(info.st_mode) else "other")
    try:
        leads_to = target.resolve(path)
    except OSError as error:
        return PathState(path, "symlink", distrust=error.strerror)
    return PathState(path, "symlink", info.st_uid, info.st_gid, leads_to=leads_to)


def observe_walk(root: Path, path: str) -> PathState:
    """PATH as lstat sees it component by component, no link followed."""
    parts = Path(path).parts[1:]
    current = "/"
    unsafe: list[tuple[str, str]] = []
    root_info = os.stat(root)
    parents = [Parent("/", root_info.st_uid, root_info.st_gid, stat.S_IMODE(root_info.st_mode))]
    if writable_by_others(root_info):
        unsafe.append(("/", ownership(root_info)))
    for depth, part in enumerate(parts):
        current = str(Path(current) / part)
        try:
            info = os.lstat(under(root, current))
        except FileNotFoundError:
            return PathState(path, "missing", unsafe_parents=tuple(unsafe), parents=tuple(parents))
        except NotADirectoryError:  # the directory above, seen a moment ago, is no longer one
            return PathState(path, "missing", blocked_by=parents[-1].path, parents=tuple(parents))
        last = depth == len(parts) - 1
        if last:
            if stat.S_ISLNK(info.st_mode):
                return PathState(path, "symlink", parents=tuple(parents))
            kind = "directory" if stat.S_ISDIR(info.st_mode) else "other"
            return PathState(
                path, kind, info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode), None, tuple(unsafe), tuple(parents)
            )
        if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
            return PathState(path, "missing", blocked_by=current, parents=tuple(parents))
        if writable_by_others(info):
            unsafe.append((current, ownership(info)))
        parents.append(Parent(current, info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)))
    # not reached: the loop returns at the last component, and a spec path is never "/" itself
    return PathState(path, "missing", unsafe_parents=tuple(unsafe), parents=tuple(parents))


def now_in_local_file(state: HostState, kind: str, name: str) -> bool:
    """Whether the local file of KIND ("user" or "group") has NAME's line
    now: read again, for a name it lacked when first read."""
    found = read_bytes(state.etc, state.flavor.file_of(kind))
    return found is not None and id_near_end(found, state.flavor.file_of(kind), name) is not None


def observe_paths(spec: Spec, root: Path) -> dict[str, PathState]:
    """Each spec path; a declared link (link = ...) as the link itself, and
    the directory it leads to under that directory's own name."""
    states = {}
    for path in spec.paths:
        if path.link:
            states[path.path] = observe_link(root, path.path)
            states[path.link] = observe_path(root, path.link)
        else:
            states[path.path] = observe_path(root, path.path)
    return states


def ask_nss(spec: Spec, state: HostState) -> None:
    """What NSS knows of the spec's names and fixed IDs that the local
    files do not: an account in LDAP or NIS is not to be made again. A
    name NSS finds in the local files themselves, read again (another run
    made it since they were read), is told apart: not NSS's alone."""

    def entry(lookup, key):
        try:
            return lookup(key)  # struct_passwd and struct_group: the name first, the ID third
        except KeyError:
            return None

    for kind, accounts, local, by_name, by_id, names, numbers in (
        ("user", spec.users, state.users, pwd.getpwnam, pwd.getpwuid, state.nss_users, state.nss_uids),
        ("group", spec.groups, state.groups, grp.getgrnam, grp.getgrgid, state.nss_groups, state.nss_gids),
    ):
        for account in accounts:
            number = getattr(account, ID_COLUMNS[kind])
            found = None if account.name in local else entry(by_name, account.name)
            if found is not None:
                names[account.name] = found[2]
                if now_in_local_file(state, kind, account.name):
                    state.made_meanwhile.add((kind, account.name))
            found = None if number is None or local.holder(number) is not None else entry(by_id, number)
            if found is not None:
                numbers[number] = found[0]


def nss_holds(lookup) -> Callable[[int], bool]:
    """Whether NSS knows an ID, by LOOKUP (pwd.getpwuid, grp.getgrgid)."""

    def holds(number: int) -> bool:
        try:
            lookup(number)
        except KeyError:
            return False
        return True

    return holds


def accepted_shells(spec: Spec, root: Path, profile: Profile, nologin: str) -> frozenset[str] | None:
    """The shells valid_shell() (NetBSD's user.c) would accept under ROOT:
    nologin, those listed in etc/shells, and, of the shells this run could
    pass, the executable ones. None when there is no etc/shells (then it
    checks nothing)."""
    target = Target(root)
    try:
        data = read_optional(target.real_path("/etc/shells"))  # a link followed inside the root
    except OSError as error:
        raise BadInput(f"{shown(root, '/etc/shells')}: cannot read: {error.strerror}") from None
    if data is None:
        return None
    # getusershell(): the first word of each line that starts with '/'
    listed = {line.split()[0] for line in data.decode(errors="replace").splitlines() if line.startswith("/")}
    candidates = {user.shell for user in spec.users if user.shell} | {nologin}
    executable = {shell for shell in candidates if usable(target, shell, os.X_OK)}
    return frozenset(listed | executable | {profile.nologin[0]})


def usable(target: Target, path: str, mode: int = os.F_OK) -> bool:
    """PATH is there under the target (its links resolved inside the root)
    and can be used as MODE says (os.access)."""
    try:
        return os.access(target.real_path(path), mode)
    except OSError:  # a loop of links
        return False


def choose_nologin(root: Path, profile: Profile) -> str:
    target = Target(root)
    return next((shell for shell in profile.nologin if usable(target, shell)), profile.nologin[0])


def unsafe_etc(etc: EtcDir) -> tuple[tuple[str, str], ...]:
    """The root and ROOT/etc where others than root may write: they could
    rename etc or an account file away and put their own in its place."""
    unsafe = []
    root_info = os.stat(etc.root)
    if writable_by_others(root_info):
        unsafe.append(("/", ownership(root_info)))
    if etc.fd is not None and writable_by_others(etc.info()):
        unsafe.append(("/etc", ownership(etc.info())))
    return tuple(unsafe)


def observe(spec: Spec, root: Path, profile: Profile, etc: EtcDir | None = None,
            files: dict[str, AccountFile] | None = None) -> HostState:
    """The host under ROOT as SPEC and PROFILE ask: through ETC when the
    caller opened it (and holds its locks), from FILES when the caller
    holds the account files' content already (what it wrote), else read."""
    etc = etc or EtcDir.open(root)
    flavor = FLAVORS[profile.flavor]
    # shadow and gshadow are root's: as another user, what they hold is
    # unknown, which the dry run, check and env can do without (a run that
    # may write cannot: HostState.require_read)
    files = files or read_files(etc, flavor.name, unread_ok=True)
    look_up_names(spec, files)
    users, groups = users_and_groups(files, flavor.users)
    state = HostState(
        root=root,
        profile=profile,
        files=files,
        users=users,
        groups=groups,
        id_range=read_login_defs(root, profile),
        nologin=choose_nologin(root, profile),
        paths=observe_paths(spec, root),
        etc=etc,
        unsafe_etc=unsafe_etc(etc),
        stale_passwd=stale_passwd(etc, files, flavor),
    )
    if profile.shell_must_be_valid:
        state.accepted_shells = accepted_shells(spec, root, profile, state.nologin)
    if root.resolve() == Path("/"):
        ask_nss(spec, state)
        state.nss_holds_uid = nss_holds(pwd.getpwuid)
        state.nss_holds_gid = nss_holds(grp.getgrgid)
    return state
