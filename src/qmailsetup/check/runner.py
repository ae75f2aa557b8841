"""Run the checks and collect their findings: all of them for `qmailsetup
check`, those about what apply sets up for apply."""

from __future__ import annotations

from pathlib import Path

from qmailsetup.check import Finding, counted_by_apply
from qmailsetup.check.accounts import (
    account_findings,
    made_findings,
    password_findings,
    shell_findings,
    traverse_findings,
)
from qmailsetup.check.compiled import compiled_findings
from qmailsetup.check.filesystem import filesystem_findings
from qmailsetup.check.mounts import read_mount_table
from qmailsetup.check.prereq import prereq_findings
from qmailsetup.check.queue import queue_findings
from qmailsetup.installation import qmail_install
from qmailsetup.observe import HostState, observe
from qmailsetup.plan import Plan, make_plan
from qmailsetup.platforms import Profile
from qmailsetup.spec import Spec


def run_checks(spec: Spec, root: Path, profile: Profile) -> list[Finding]:
    host = observe(spec, root, profile)
    return (
        filesystem_findings(root, read_mount_table(), qmail_install(spec)) + prereq_findings(root)
        + account_findings(spec, host, make_plan(spec, host)) + compiled_findings(spec, root, host)
        + queue_findings(spec, root, host)
    )


def setup_errors(spec: Spec, host: HostState, plan: Plan, dry_run: bool = False) -> list[Finding]:
    """The errors of check about what apply sets up, as FINDING_IDS
    (check/__init__.py) counts them, asked of HOST (after a real run, the
    one reading taken after it) and PLAN, the run's, never made again: the
    run carried out each of its changes (else it failed), what it created
    is looked for in HOST (made_findings), and what it did not touch was
    as the spec says when it planned (else it was refused). On the live
    root only, the filesystem under /var/qmail too (a tree under --root
    may be an image that will be mounted elsewhere; `qmailsetup check
    --root DIR` looks at it on request)."""
    findings = shell_findings(spec, host) + password_findings(spec, host) + traverse_findings(spec, host, plan.conflicts)
    if not dry_run:
        findings += made_findings(plan, host)
    if host.root == Path("/"):
        findings = filesystem_findings(host.root, read_mount_table(), qmail_install(spec)) + findings
    return [f for f in findings if f.severity == "error" and counted_by_apply(f.id, dry_run)]
