"""The apply pipeline, step by step: spec -> observe -> plan -> render ->
apply -> the closing check (one reading of the host after the writes, and
the run's plan)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

from qmailsetup.apply import apply_plan
from qmailsetup.backends import choose_backend, make_backend
from qmailsetup.errors import (
    EXIT_CHANGES,
    EXIT_CHECK_ERRORS,
    EXIT_OK,
    OperationFailed,
    QmailsetupError,
    Refused,
    first_of,
    one_line,
)
from qmailsetup.observe import HostState, observe
from qmailsetup.plan import Plan, make_plan
from qmailsetup.platforms import choose_profile, require_format
from qmailsetup.render import plan_data, render_text
from qmailsetup.spec import load_spec
from qmailsetup.streams import json_text
from qmailsetup.userdb.etcdir import EtcDir


def refusal(plan) -> str:
    """One line: the first reason, how many more, and for drift both ways
    on (a dry run is refused too: it shows what the real run would do)."""
    reasons = [f"{c.kind} {c.name}: {c.reason}" for c in plan.conflicts]
    reasons += [f"user {c.name} differs from the spec ({', '.join(c.fields)})" for c in plan.blocked_drift]
    ways = ("; to change the accounts rerun with --fix-drift, or to keep them make the spec accept "
            "what the host has") if plan.blocked_drift else ""
    return f"refused, nothing written: {first_of(reasons)}{ways}"


def check_errors(spec, host, plan, as_json: bool, dry_run: bool) -> tuple[list, dict]:
    """The errors of `qmailsetup check` about what apply sets up (a nosuid
    /var, a login shell it may not fix), shown after the plan, and their
    JSON: asked of HOST, the host as it stands (after a real apply, a
    reading taken after it), and PLAN, the run's."""
    from qmailsetup.check.runner import finding_lines, setup_errors

    failed: str | None = None
    try:
        errors = setup_errors(spec, host, plan, dry_run)
    except (QmailsetupError, OSError) as error:
        errors, failed = [], str(error)
    if not as_json and (errors or failed):
        heading = "note: qmailsetup check finds, as things stand:" if dry_run else "qmailsetup check: errors that remain:"
        print(f"qmailsetup check could not run: {one_line(failed)}" if failed else heading)
        for finding in errors:
            print("\n".join(finding_lines(finding, "  ")))
    return errors, {"check": [f.data() for f in errors]}


def outcome(errors: list, code: int) -> int:
    """After a real or an in-sync run: check's errors about what was set up
    go to stderr, a line each, and make the exit status 5 (qmailsetup(8),
    EXIT STATUS), whatever --detailed-exitcode would have said."""
    for finding in errors:
        where = f"{finding.path}: " if finding.path else ""
        print(f"qmailsetup: {one_line(where + finding.id)}: {one_line(finding.message)}", file=sys.stderr)
    return EXIT_CHECK_ERRORS if errors else code


def account_locks(chosen: str, dry_run: bool, etc: EtcDir, profile):
    """What a run holds while it reads, plans and writes: the files
    backend's locks on a real run (backends/files.py transaction), else
    nothing."""
    if chosen != "files" or dry_run:
        return nullcontext()
    from qmailsetup.backends.files import transaction

    return transaction(etc, profile)


def run_apply(
    *, spec_file: Path | None, root: Path, backend_name: str, platform: str,
    dry_run: bool, fix_drift: bool, as_json: bool, detailed: bool, ids_from: str | None = None,
    plan_out: Path | None = None,
) -> int:
    spec = load_spec(spec_file)
    taken = None
    if ids_from is not None:  # the IDs an existing qmail home shows, fixed in the spec (ids.py)
        from qmailsetup.ids import ids_from as take_ids

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

    return carry_out(spec, root, profile, backend_name, plan_now, dry_run=dry_run, as_json=as_json,
                     detailed=detailed, plan_out=plan_out)


def carry_out(spec, root: Path, profile, backend_name: str, planned: Callable[[HostState], Plan], *,
              dry_run: bool, as_json: bool, detailed: bool, plan_out: Path | None = None) -> int:
    """Read the host, take PLANNED's plan for it (one made now, or a saved
    one checked against it: savedplan.py), show it and, unless a dry run,
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
        diffs = backend.preview(plan.changes)
        data = plan_data(plan, backend, diffs)
        data.update(root=str(root), platform=profile.name, backend=backend.name, dry_run=dry_run)
        mode = "dry run" if dry_run else "apply"
        header = f"qmailsetup {mode}: {root} (platform {profile.name}, backend {backend.name})"

        def emit(extra: dict | None = None) -> None:
            if as_json:
                sys.stdout.write(json_text({**data, **(extra or {})}))

        if not as_json:
            sys.stdout.write(render_text(plan, header, backend, diffs))
        if plan.refused:
            emit()
            raise Refused(refusal(plan))
        if plan_out is not None:
            from qmailsetup.savedplan import plan_document, write_plan

            write_plan(plan_out, plan_document(plan, spec, host, backend, root))
            data["plan_out"] = str(plan_out)
            if not as_json:
                print(f"Plan saved in {plan_out}; apply exactly it with: qmailsetup apply --plan {plan_out}"
                      + ("" if str(root) == "/" else f" --root {root}"))
        if not (dry_run or plan.in_sync):
            from qmailsetup.audit import Progress

            progress = Progress(host, backend, as_json)
            try:
                apply_plan(plan, host, backend, progress)
            except OperationFailed as error:
                emit({"applied": progress.applied(), "error": str(error)})
                raise
    if dry_run or plan.in_sync:
        if dry_run and not as_json and not plan.in_sync:
            print("Dry run: nothing was written.")
        errors, found = check_errors(spec, host, plan, as_json, dry_run)
        emit(found)
        code = EXIT_CHANGES if detailed and plan.changes else EXIT_OK
        # a dry run only notes them: its code is about the plan
        return code if dry_run else outcome(errors, code)
    if not as_json:
        count = len(progress.done)
        print(f"Applied {count} change{'s' if count != 1 else ''}.")
    applied = progress.applied()
    # the closing check's one reading of the host after the writes: the
    # files as the files backend wrote them (under its locks: what a read
    # would find), else read anew, the tools having written them. The old
    # reading goes first (on a large host it is a hundred megabytes)
    written = backend.files_after
    del host, backend, progress
    after = observe(spec, root, profile, etc, written)
    errors, found = check_errors(spec, after, plan, as_json, dry_run)
    emit({"applied": applied, **found})
    return outcome(errors, EXIT_CHANGES if detailed else EXIT_OK)
