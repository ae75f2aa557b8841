"""`qmailsetup queue create | check | repair`: the spec, the host and the
queue's model (queue/model.py), then the command (queue/create.py,
queue/check.py, queue/repair.py). check returns findings, as `qmailsetup
check` does; create and repair what they did (queue/create.Outcome), each
with its exit status."""

from __future__ import annotations

import os
from pathlib import Path

from qmailsetup.commands.check import Checked
from qmailsetup.errors import BadInput, Refused
from qmailsetup.observe import HostState, observe
from qmailsetup.platforms import choose_profile
from qmailsetup.queue.check import queue_findings
from qmailsetup.queue.create import Outcome, create_queue
from qmailsetup.queue.model import NotReady, queue_model
from qmailsetup.queue.repair import repair_queue
from qmailsetup.spec import Spec, load_spec

CHANGES = {"create": create_queue, "repair": repair_queue}


def host_of(spec: Spec, root: Path, platform: str) -> HostState:
    return observe(spec, root, choose_profile(platform, root))


def check(*, root: Path, spec_file: Path | None, platform: str) -> Checked:
    spec = load_spec(spec_file)
    host = host_of(spec, root, platform)
    return Checked(root, host.profile.name, queue_findings(spec, root, host))


def change(action: str, *, root: Path, spec_file: Path | None, platform: str, dry_run: bool) -> Outcome:
    """create or repair (CHANGES), or with DRY_RUN, the plan of it."""
    if not dry_run and os.geteuid() != 0:
        # the queue is root's and qmail's users': every write would be refused, the first after others
        raise BadInput(f"queue {action}: run as root (the queue belongs to root and qmail's users); nothing written")
    spec = load_spec(spec_file)
    host = host_of(spec, root, platform)
    try:
        model = queue_model(spec, host)
    except NotReady as error:
        raise Refused(f"{host.target.shown(spec.qmail.queue_path)}: {error}; nothing written; {error.remedy}") from None
    try:
        return CHANGES[action](model, host, dry_run)
    except PermissionError as error:
        if not dry_run:
            raise
        raise BadInput(f"{error.filename}: permission denied; run as root; nothing written") from None
