"""`qmailsetup apply`, step by step: spec -> observe -> plan -> apply ->
the closing check (one reading of the host after the writes, and the
run's plan). A plan made now (run), or one saved by a dry run and checked
against the host (saved). What the run found, planned and did comes back
as data (Outcome), with its exit status; output.py prints it."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from qmailsetup.apply import apply_plan
from qmailsetup.audit import Progress
from qmailsetup.backends import choose_backend, make_backend
from qmailsetup.backends.files import transaction
from qmailsetup.check import Finding
from qmailsetup.check.runner import setup_errors
from qmailsetup.errors import (
    EXIT_CHANGES,
    EXIT_CHECK_ERRORS,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_REFUSED,
    OperationFailed,
    QmailsetupError,
    Refused,
    first_of,
)
from qmailsetup.ids import ids_from as take_ids
from qmailsetup.observe import HostState, observe
from qmailsetup.plan import Plan, make_plan
from qmailsetup.platforms import choose_profile, require_format
from qmailsetup.savedplan import (
    check_origin,
    check_still_holds,
    plan_document,
    read_plan,
    saved_changes,
    saved_spec,
    write_plan,
)
from qmailsetup.spec import load_spec
from qmailsetup.userdb.etcdir import EtcDir


@dataclass
class Outcome:
    """How a run of apply ended."""

    data: dict  # what --json prints: the plan (plan_data), and what was done and found
    status: int  # the exit status it means
    error: QmailsetupError | None = None  # what stopped the run once data was made: refused, or failed
    check: list[Finding] = field(default_factory=list)  # check's errors about what apply sets up
    check_failed: str | None = None  # why check could not run


def plan_data(plan: Plan, backend, diffs: list[tuple[str, str]]) -> dict:
    """The plan as --json shows it (qmailsetup(8), JSON OUTPUT), and as the
    text is made from."""
    return {
        "in_sync": plan.in_sync,
        "refused": plan.refused,
        "changes": [
            {
                "kind": change.kind,
                "name": change.name,
                "action": change.action,
                "drift": change.drift,
                "fields": {
                    key: {"current": value.current, "desired": value.desired}
                    for key, value in change.fields.items()
                },
                "allocated": sorted(change.allocated),
                "field_notes": dict(change.field_notes),
                "commands": backend.commands(change),
            }
            for change in plan.changes
        ],
        "conflicts": [
            {"kind": c.kind, "name": c.name, "reason": c.reason} for c in plan.conflicts
        ],
        "warnings": list(plan.warnings),
        "notes": list(plan.notes),
        "unchanged": [{"kind": kind, "name": name} for kind, name in plan.unchanged],
        "diffs": [{"path": path, "diff": diff} for path, diff in diffs],
    }


def refusal(plan) -> str:
    """One line: the first reason, how many more, and for drift both ways
    on (a dry run is refused too: it shows what the real run would do)."""
    reasons = [f"{c.kind} {c.name}: {c.reason}" for c in plan.conflicts]
    reasons += [f"user {c.name} differs from the spec ({', '.join(c.fields)})" for c in plan.blocked_drift]
    ways = ("; to change the accounts rerun with --fix-drift, or to keep them make the spec accept "
            "what the host has") if plan.blocked_drift else ""
    return f"refused, nothing written: {first_of(reasons)}{ways}"


def checked(outcome: Outcome, spec, host, plan, dry_run: bool) -> Outcome:
    """OUTCOME with the errors of `qmailsetup check` about what apply sets
    up (a nosuid /var, a login shell it may not fix), in its data too:
    asked of HOST, the host as it stands (after a real apply, a reading
    taken after it), and PLAN, the run's. After a real run they make the
    exit status 5 (qmailsetup(8), EXIT STATUS), whatever
    --detailed-exitcode would have said; a dry run only notes them, its
    status is about the plan."""
    try:
        outcome.check = setup_errors(spec, host, plan, dry_run)
    except (QmailsetupError, OSError) as error:
        outcome.check_failed = str(error)
    outcome.data["check"] = [f.data() for f in outcome.check]
    if outcome.check and not dry_run:
        outcome.status = EXIT_CHECK_ERRORS
    return outcome


def account_locks(chosen: str, dry_run: bool, etc: EtcDir, profile):
    """What a run holds while it reads, plans and writes: the files
    backend's locks on a real run (backends/files.py transaction), else
    nothing."""
    if chosen != "files" or dry_run:
        return nullcontext()
    return transaction(etc, profile)


def run(
    *, spec_file: Path | None, root: Path, backend_name: str, platform: str, dry_run: bool, fix_drift: bool,
    detailed: bool, report, ids_from: str | None = None, plan_out: Path | None = None,
) -> Outcome:
    """apply with a plan made now; REPORT (output.ApplyReport) is told the
    plan, then each change as it is done."""
    spec = load_spec(spec_file)
    taken = None
    if ids_from is not None:  # the IDs an existing qmail home shows, fixed in the spec (ids.py)
        taken = take_ids(spec, root, ids_from, str(spec_file or "built-in default spec"))
        spec = taken.spec
    profile = choose_profile(platform, root)
    require_format(profile, root)

    def plan_now(host) -> Plan:
        if not dry_run or plan_out is not None:
            host.require_read()  # a run that may write rests on every account file, and so does a saved plan
        plan = make_plan(spec, host, fix_drift)
        if taken is not None:
            taken.annotate(plan)
        return plan

    return carry_out(spec, root, profile, backend_name, plan_now, dry_run=dry_run, detailed=detailed,
                     report=report, plan_out=plan_out)


def saved(*, plan_file: Path, root: Path, backend_name: str, platform: str, dry_run: bool, detailed: bool,
          report) -> Outcome:
    """apply --plan FILE: exactly the changes saved there, or refused
    (savedplan.py); with DRY_RUN, whether they still hold, writing nothing."""
    where = f"--plan {plan_file}"
    plan_read = read_plan(plan_file)
    changes = saved_changes(plan_read, where)
    check_origin(plan_read, root, platform, backend_name, where)
    spec = saved_spec(plan_read, where)
    profile = choose_profile(plan_read.platform, root)
    require_format(profile, root)

    def plan_saved(host) -> Plan:
        # the files backend's locks are held already: the files checked
        # here are the ones it writes over
        host.require_read()
        # the drift the plan fixes was allowed when it was made (--fix-drift)
        plan = Plan(fix_drift=True)
        if check_still_holds(plan_read, spec, host, where):
            plan.changes = changes
        else:
            plan.notes.append(f"{plan_file}: applied already; the host is as the plan leaves it")
        return plan

    return carry_out(spec, root, profile, plan_read.backend, plan_saved, dry_run=dry_run, detailed=detailed,
                     report=report)


def carry_out(spec, root: Path, profile, backend_name: str, planned: Callable[[HostState], Plan], *,
              dry_run: bool, detailed: bool, report, plan_out: Path | None = None) -> Outcome:
    """Read the host, take PLANNED's plan for it (one made now, or a saved
    one checked against it), tell REPORT of it and, unless a dry run,
    apply it; PLAN_OUT: a dry run saves it there."""
    chosen = choose_backend(backend_name, profile, root)
    etc = EtcDir.open(root)
    # the files backend takes its locks before it reads the files, and
    # holds them to its last write, as systemd-sysusers and shadow-utils
    # do: the one reading it plans from (or checks a saved plan against)
    # is the one it writes over. A dry run takes none; the command
    # backends' tools take their own
    with account_locks(chosen, dry_run, etc, profile) as locks:
        host = observe(spec, root, profile, etc)
        plan = planned(host)
        backend = make_backend(chosen, host, locks)
        plan.warnings += backend.warnings(plan.changes)
        data = plan_data(plan, backend, backend.preview(plan.changes))
        data.update(root=str(root), platform=profile.name, backend=backend.name, dry_run=dry_run)
        report.plan(data)
        if plan.refused:
            return Outcome(data, EXIT_REFUSED, Refused(refusal(plan)))
        if plan_out is not None:
            write_plan(plan_out, plan_document(plan, spec, host, backend, root))
            data["plan_out"] = str(plan_out)
            report.saved(plan_out, root)
        if not (dry_run or plan.in_sync):
            progress = Progress(host, backend, report.done)
            try:
                apply_plan(plan, host, backend, progress)
            except OperationFailed as error:
                data.update(applied=progress.applied(), error=str(error))
                return Outcome(data, EXIT_FAILED, error)
    if dry_run or plan.in_sync:
        status = EXIT_CHANGES if detailed and plan.changes else EXIT_OK
        return checked(Outcome(data, status), spec, host, plan, dry_run)
    data["applied"] = progress.applied()
    # the closing check's one reading of the host after the writes: the
    # files as the files backend wrote them (under its locks: what a read
    # would find), else read anew, the tools having written them. The old
    # reading goes first (on a large host it is a hundred megabytes)
    written = backend.files_after
    del host, backend, progress
    after = observe(spec, root, profile, etc, written)
    return checked(Outcome(data, EXIT_CHANGES if detailed else EXIT_OK), spec, after, plan, dry_run)
