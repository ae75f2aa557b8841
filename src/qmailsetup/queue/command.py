"""The queue commands from the command line: the spec, the host, the
model, then create, check or repair; each returns its data and exit
status, printed by report.py (or, for check, as `qmailsetup check`)."""

from __future__ import annotations

import sys
from pathlib import Path

from qmailsetup.check.runner import render_json, render_text
from qmailsetup.errors import EXIT_OK, Refused
from qmailsetup.observe import observe
from qmailsetup.platforms import choose_profile
from qmailsetup.queue.check import check_status, queue_findings
from qmailsetup.queue.create import create_queue
from qmailsetup.queue.model import NotReady, queue_model
from qmailsetup.queue.repair import repair_queue
from qmailsetup.queue.report import outcome_json, outcome_text
from qmailsetup.spec import load_spec

ACTIONS = ("create", "check", "repair")


def run_queue(action: str, *, root: Path, spec_file: Path | None, platform: str, as_json: bool,
              dry_run: bool = False) -> int:
    spec = load_spec(spec_file)
    profile = choose_profile(platform, root)
    host = observe(spec, root, profile)
    if action == "check":
        findings = queue_findings(spec, root, host)
        text = render_json(findings) if as_json else render_text(findings, f"qmailsetup queue check: {root}")
        sys.stdout.write(text)
        return check_status(findings)
    try:
        model = queue_model(spec, host)
    except NotReady as error:
        raise Refused(f"{host.target.shown(spec.qmail.queue_path)}: {error}; nothing written; {error.remedy}") from None
    outcome = (create_queue if action == "create" else repair_queue)(model, host, dry_run)
    sys.stdout.write(outcome_json(outcome) if as_json else outcome_text(outcome))
    return EXIT_OK
