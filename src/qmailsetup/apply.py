"""Applying a plan: accounts through the backend, then the directories.

Decides nothing: it carries out the plan's changes in order and, when a
step fails, says what was already done, so the next run can finish the job.
"""

from __future__ import annotations

import os
from pathlib import Path

from qmailsetup.errors import OperationFailed
from qmailsetup.observe import HostState, read_account_file, under, users_file
from qmailsetup.paths import ensure_directory
from qmailsetup.plan import Change, Plan


def describe(changes: list[Change]) -> str:
    return ", ".join(f"{c.kind} {c.name}" for c in changes) or "nothing"


PAGE = 4096


def room_to_rewrite(host: HostState) -> int:
    """Bytes a safe rewrite of the account files may take at its peak: a
    backup of each (<file>-, kept), a temporary copy of the largest beside
    it, and a lock file each; counted in pages, as file systems allot them."""
    pages = [-(-len(f.data()) // PAGE) or 1 for f in host.files.values() if f.exists]
    return (sum(pages) + max(pages, default=0) + len(pages) + 1) * PAGE


def nearest_existing(path: Path) -> Path:
    while not os.path.lexists(path):
        path = path.parent
    return path


def preflight(accounts: list[Change], directories: list[Change], host: HostState) -> None:
    """Before the first write: each file system to be written must be
    writable, and the account files' one must have room for a safe rewrite,
    so that nothing is left half done for want of either."""
    places = [(under(host.root, "/etc"), room_to_rewrite(host))] if accounts else []
    places += [(nearest_existing(under(host.root, c.name)), 0) for c in directories]
    for place, needed in places:
        info = os.statvfs(place)
        if info.f_flag & os.ST_RDONLY:
            raise OperationFailed(f"{place}: read-only file system; nothing written")
        free = info.f_bavail * info.f_frsize
        if free < needed:
            raise OperationFailed(
                f"{place}: file system full ({free // 1024} KiB free, {needed // 1024} KiB needed "
                "to rewrite the account files safely); nothing written"
            )


def number_of(account_file, name: str) -> int:
    """NAME's UID (or GID): field 2 in passwd, master.passwd and group alike.
    Looked up alone: making records for a host's every account is not needed."""
    fields = account_file.get(name)
    if fields is None:
        raise OperationFailed(f"{account_file.path}: {name} is missing after the accounts step")
    return int(fields[2])


def apply_plan(plan: Plan, host: HostState, backend, report) -> None:
    """Carry out PLAN, telling REPORT of each change as it is finished."""
    done: list[Change] = []

    def finished(change: Change) -> None:
        done.append(change)
        report(change)

    accounts = [c for c in plan.changes if c.kind != "path"]
    directories = [c for c in plan.changes if c.kind == "path"]
    preflight(accounts, directories, host)
    try:
        if accounts:
            backend.apply(accounts, finished)
        if directories:
            # owners by number, from the root's own files as they are now
            users = read_account_file(host.root, users_file(host.profile.flavor), True)
            groups = read_account_file(host.root, "group", True)
            for change in directories:
                values = change.values
                uid, gid = number_of(users, values["owner"]), number_of(groups, values["group"])
                ensure_directory(host.root, values["path"], uid, gid, int(values["mode"], 8))
                finished(change)
    except OperationFailed as error:
        raise OperationFailed(f"{error}; done before the failure: {describe(done)}") from None
