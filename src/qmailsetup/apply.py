"""Applying a plan: accounts through the backend, then the directories.

Decides nothing: it carries out the plan's changes in order and, when a
step fails, says what was already done, so the next run can finish the job.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from qmailsetup.errors import BadInput, OperationFailed
from qmailsetup.hostio import NotRegular, unchangeable
from qmailsetup.observe import HostState, under
from qmailsetup.paths import ensure_directory, make_link
from qmailsetup.plan import BACKEND_KINDS, Change, DesiredDirectory, DesiredLink, Plan


def describe(changes: list[Change]) -> str:
    return ", ".join(f"{c.kind} {c.name}" for c in changes) or "nothing"


PAGE = 4096


def room_to_rewrite(host: HostState, locked: bool) -> tuple[int, int]:
    """Bytes and inodes a safe rewrite of the account files may take at its
    peak: a backup of each (<file>-, kept), a temporary copy of the largest
    beside it, and, unless the run holds them already (LOCKED), a lock file
    each (and lckpwdf's); bytes counted in pages, as file systems allot them."""
    pages = [-(-len(f.data()) // PAGE) or 1 for f in host.files.values() if f.exists]
    files = len(pages)
    locks = 0 if locked else files + 1
    return (sum(pages) + max(pages, default=0) + locks) * PAGE, files + 1 + locks


def nearest_existing(path: Path) -> Path:
    while not os.path.lexists(path):
        path = path.parent
    return path


def check_space(place, info: os.statvfs_result, needed: int, inodes: int = 0,
                purpose: str = "to rewrite the account files safely") -> None:
    if info.f_flag & os.ST_RDONLY:
        raise OperationFailed(f"{place}: read-only file system; nothing written")
    free = info.f_bavail * info.f_frsize
    if free < needed:
        raise OperationFailed(
            f"{place}: file system full ({free // 1024} KiB free, {needed // 1024} KiB needed "
            f"{purpose}); nothing written"
        )
    # f_files 0: a file system that does not count inodes (btrfs)
    if info.f_files and info.f_favail < inodes:
        raise OperationFailed(
            f"{place}: no free inodes ({info.f_favail} free, {inodes} needed "
            f"{purpose}); nothing written"
        )


def files_to_write(host: HostState) -> list[str]:
    """The account files a run may replace, with their backups: every one
    of the flavor that exists, and the one its post-edit step makes (the
    BSDs' passwd, made by pwd_mkdb)."""
    names = [kind for kind, f in host.files.items() if f.exists]
    if host.flavor.made_after_edit:
        names.append(host.flavor.made_after_edit)
    return [name for kind in names for name in (kind, f"{kind}-")]


def check_account_files(host: HostState, locked: bool) -> None:
    """Each account file, its backup and the directory must be replaceable:
    not on a read-only mount (a bind mount over one file included), not
    immutable or append-only (chattr +i/+a), the directory not either. An
    account file observe read was looked at then, while it was open
    (AccountFile.unreplaceable): it is not opened again."""
    etc = host.etc
    needed, inodes = room_to_rewrite(host, locked)
    etc_fd = etc.descriptor()
    check_space(etc.path, os.fstatvfs(etc_fd), needed, inodes)
    why = unchangeable(etc_fd)
    if why:
        raise OperationFailed(f"{etc.path}: the directory is {why} (chattr -i/-a to edit); nothing written")
    for name in files_to_write(host):
        read = host.files.get(name)
        why = read.unreplaceable if read is not None else unreplaceable_now(etc, name)
        if why:
            raise OperationFailed(f"{etc.shown(name)}: {why}; nothing written")


def unreplaceable_now(etc, name: str) -> str | None:
    """EtcDir.unreplaceable of NAME in ETC, opened for it (a backup, BSD's
    passwd); None for a name that is missing or a link (replaced, never
    followed)."""
    try:
        fd, _ = etc.open_regular(name)
    except FileNotFoundError:
        return None
    except NotRegular as error:
        if name.endswith("-"):
            raise OperationFailed(f"{etc.shown(name)}: {error.strerror}; cannot keep the backup there; "
                                  "nothing written") from None
        raise BadInput(f"{etc.shown(name)}: {error.strerror}") from None
    except OSError as error:
        if error.errno == errno.ELOOP:
            return None
        raise OperationFailed(f"{etc.shown(name)}: cannot check: {error.strerror}; nothing written") from None
    try:
        return etc.unreplaceable(fd)
    finally:
        os.close(fd)


def unchangeable_directory(place: Path, itself: bool) -> str | None:
    """Why the run cannot do what it does to the directory PLACE: make an
    entry in it (immutable), or, ITSELF, give it another owner or mode
    (immutable or append-only: chown and chmod fail on both). None when it
    can, or when PLACE is no directory (the run says so when it gets
    there)."""
    try:
        fd = os.open(place, os.O_RDONLY | os.O_DIRECTORY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        why = unchangeable(fd)
    finally:
        os.close(fd)
    return why if why == "immutable" or itself else None


def preflight(accounts: list[Change], paths: list[DesiredDirectory | DesiredLink], host: HostState,
              locked: bool) -> None:
    """Before the first write: each file system to be written must be
    writable, the account files' one must have room (bytes and inodes)
    for a safe rewrite (LOCKED: its locks are held already), each account
    file must be replaceable, and each directory to make (with the parents
    it lacks) must have an inode and a block, and each directory made or
    changed, or made in, must not be immutable (nor append-only where its
    owner or mode changes), so that nothing is left half done for want of
    any of these."""
    if accounts:
        check_account_files(host, locked)
    # the directories to make on each file system, parents included, each once
    to_make: dict[int, tuple[Path, os.statvfs_result, set[Path]]] = {}
    for desired in paths:
        target = under(host.root, desired.path)
        place = nearest_existing(target)
        info = os.statvfs(place)
        check_space(place, info, 0)
        # a directory that is there gets another owner or mode (a link in a
        # plan is always made: one that is there is in sync or a conflict)
        why = unchangeable_directory(place, itself=place == target)
        if why:
            raise OperationFailed(f"{place}: the directory is {why} (chattr -i/-a to edit); nothing written")
        _, _, made = to_make.setdefault(os.stat(place).st_dev, (place, info, set()))
        missing = len(target.relative_to(place).parts)  # 0 when only its owner or mode changes
        made.update([target, *target.parents][:missing])
    for place, info, made in to_make.values():
        check_space(place, info, len(made) * info.f_bsize, len(made), "to make the directories missing")


def account_id(kind: str, name: str, host: HostState, created: dict[tuple[str, str], int | None]) -> int:
    """The UID (or GID) of the account KIND NAME after the accounts step:
    the plan's when this run created it (CREATED: the files backend wrote
    it, a tool was told it), else the one observe read."""
    number = created.get((kind, name))
    if number is not None:
        return number
    record = (host.users if kind == "user" else host.groups).get(name)
    if record is None:
        raise OperationFailed(f"{host.etc.path / host.flavor.file_of(kind)}: {name} is missing after the accounts step")
    return record.own_id


def apply_plan(plan: Plan, host: HostState, backend, report) -> None:
    """Carry out PLAN, telling REPORT of each change as it is finished."""
    done: list[Change] = []

    def finished(change: Change) -> None:
        done.append(change)
        report(change)

    accounts = [c for c in plan.changes if c.kind in BACKEND_KINDS]
    paths = [(c, c.desired) for c in plan.changes if isinstance(c.desired, DesiredDirectory | DesiredLink)]
    preflight(accounts, [desired for _, desired in paths], host, backend.locks is not None)
    try:
        if accounts:
            backend.apply(accounts, finished)
        if paths:
            created: dict[tuple[str, str], int | None] = {(c.kind, c.name): c.created_id() for c in accounts}
            for change, desired in paths:
                if isinstance(desired, DesiredLink):
                    make_link(host.root, desired.path, desired.link)
                    finished(change)
                    continue
                uid = account_id("user", desired.owner, host, created)
                gid = account_id("group", desired.group, host, created)
                ensure_directory(host.root, desired.path, uid, gid, int(desired.mode, 8))
                finished(change)
    except OperationFailed as error:
        written = getattr(backend, "written", [])
        files = f" (files replaced in {host.etc.path}: {', '.join(written)})" if written else ""
        raise OperationFailed(f"{error}; done before the failure: {describe(done)}{files}") from None
