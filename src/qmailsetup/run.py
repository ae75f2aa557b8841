"""The apply pipeline, step by step: spec -> observe -> plan -> render -> apply."""

from __future__ import annotations

import sys
from pathlib import Path

from qmailsetup.apply import apply_plan
from qmailsetup.backends import make_backend
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
from qmailsetup.observe import observe, observe_paths
from qmailsetup.plan import make_plan
from qmailsetup.platforms import choose_profile, require_format
from qmailsetup.render import plan_data, render_text
from qmailsetup.spec import load_spec
from qmailsetup.streams import json_text


def refusal(plan) -> str:
    """One line: the first reason, how many more, and for drift both ways
    on (a dry run is refused too: it shows what the real run would do)."""
    reasons = [f"{c.kind} {c.name}: {c.reason}" for c in plan.conflicts]
    reasons += [f"user {c.name} differs from the spec ({', '.join(c.fields)})" for c in plan.blocked_drift]
    ways = ("; to change the accounts rerun with --fix-drift, or to keep them make the spec accept "
            "what the host has") if plan.blocked_drift else ""
    return f"refused, nothing written: {first_of(reasons)}{ways}"


def check_errors(spec, root: Path, profile, as_json: bool, dry_run: bool, host=None) -> tuple[list, dict]:
    """The errors of `qmailsetup check` about what apply sets up (a nosuid
    /var, a login shell it may not fix), shown after the plan, and their
    JSON. HOST, the host state as the run knows it (observed, and what the
    files backend wrote), saves reading the account files again."""
    from qmailsetup.check.runner import finding_lines, setup_errors

    failed: str | None = None
    try:
        errors = setup_errors(spec, root, profile, dry_run, host)
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


def run_apply(
    *, spec_file: Path | None, root: Path, backend_name: str, platform: str,
    dry_run: bool, fix_drift: bool, as_json: bool, detailed: bool, ids_from: str | None = None,
) -> int:
    spec = load_spec(spec_file)
    taken = None
    if ids_from is not None:  # the IDs an existing qmail home shows, fixed in the spec (ids.py)
        from qmailsetup.ids import ids_from as take_ids

        taken = take_ids(spec, root, ids_from, str(spec_file or "built-in default spec"))
        spec = taken.spec
    profile = choose_profile(platform, root)
    require_format(profile, root)
    host = observe(spec, root, profile)
    if not dry_run:
        host.require_read()  # a run that may write rests on every account file
    plan = make_plan(spec, host, fix_drift)
    if taken is not None:
        taken.annotate(plan)
    backend = make_backend(backend_name, host)
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
    if dry_run or plan.in_sync:
        if dry_run and not as_json and not plan.in_sync:
            print("Dry run: nothing was written.")
        errors, found = check_errors(spec, root, profile, as_json, dry_run, host)
        emit(found)
        code = EXIT_CHANGES if detailed and plan.changes else EXIT_OK
        # a dry run only notes them: its code is about the plan
        return code if dry_run else outcome(errors, code)
    from qmailsetup.audit import Progress

    progress = Progress(host, backend, as_json)
    try:
        apply_plan(plan, host, backend, progress)
    except OperationFailed as error:
        emit({"applied": progress.applied(), "error": str(error)})
        raise
    if not as_json:
        count = len(progress.done)
        print(f"Applied {count} change{'s' if count != 1 else ''}.")
    applied = progress.applied()
    # the files backend put what it wrote into HOST: the check asks that.
    # The tools of the command backends wrote on their own, so the check
    # reads the files anew; the old reading goes first (on a large host it
    # is a hundred megabytes)
    known = host if backend.name == "files" else None
    if known is not None:
        known.paths = observe_paths(spec, root)  # the directories apply_plan made since
    del host, backend, progress
    errors, found = check_errors(spec, root, profile, as_json, dry_run, known)
    emit({"applied": applied, **found})
    return outcome(errors, EXIT_CHANGES if detailed else EXIT_OK)
