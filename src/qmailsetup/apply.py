"""Applying a plan: accounts through the backend, then the directories.

Decides nothing: it carries out the plan's changes in order and, when a
step fails, says what was already done, so the next run can finish the job.
"""

from __future__ import annotations

from qmailsetup.errors import OperationFailed
from qmailsetup.observe import HostState, read_files, users_and_groups
from qmailsetup.paths import ensure_directory
from qmailsetup.plan import Change, Plan


def describe(changes: list[Change]) -> str:
    return ", ".join(f"{c.kind} {c.name}" for c in changes) or "nothing"


def apply_plan(plan: Plan, host: HostState, backend, done: list[Change]) -> None:
    """Carry out PLAN, appending each finished change to DONE."""
    accounts = [c for c in plan.changes if c.kind != "path"]
    directories = [c for c in plan.changes if c.kind == "path"]
    try:
        if accounts:
            backend.apply(accounts, done.append)
        if directories:
            # owners by number, from the root's own files as they are now
            users, groups = users_and_groups(read_files(host.root, host.profile.flavor))
            for change in directories:
                values = change.values
                ensure_directory(
                    host.root, values["path"], users[values["owner"]].uid, groups[values["group"]].gid,
                    int(values["mode"], 8),
                )
                done.append(change)
    except OperationFailed as error:
        raise OperationFailed(f"{error}; done before the failure: {describe(done)}") from None
