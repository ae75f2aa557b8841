"""Run the checks, collect their findings, show them."""

from __future__ import annotations

import re
from pathlib import Path
from textwrap import wrap

from qmailsetup.check import SEVERITIES, Finding, counted_by_apply
from qmailsetup.check.accounts import (
    account_findings,
    made_findings,
    password_findings,
    shell_findings,
    traverse_findings,
)
from qmailsetup.errors import EXIT_OK, EXIT_REFUSED, one_line
from qmailsetup.installation import qmail_install
from qmailsetup.observe import HostState
from qmailsetup.plan import Plan
from qmailsetup.platforms import Profile
from qmailsetup.spec import Spec
from qmailsetup.streams import json_text


def run_checks(spec: Spec, root: Path, profile: Profile) -> list[Finding]:
    # only `check` runs these (apply's setup_errors does not): imported here
    from qmailsetup.check.compiled import compiled_findings
    from qmailsetup.check.filesystem import filesystem_findings
    from qmailsetup.check.mounts import read_mount_table
    from qmailsetup.check.prereq import prereq_findings
    from qmailsetup.check.queue import queue_findings
    from qmailsetup.observe import observe
    from qmailsetup.plan import make_plan

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
    findings = shell_findings(spec, host) + password_findings(spec, host) + traverse_findings(spec, host)
    if not dry_run:
        findings += made_findings(plan, host)
    if host.root == Path("/"):
        # imported here: a run under --root (an image, a test tree) needs neither
        from qmailsetup.check.filesystem import filesystem_findings
        from qmailsetup.check.mounts import read_mount_table

        findings = filesystem_findings(host.root, read_mount_table(), qmail_install(spec)) + findings
    return [f for f in findings if f.severity == "error" and counted_by_apply(f.id, dry_run)]


def has_errors(findings: list[Finding]) -> bool:
    return any(f.severity == "error" for f in findings)


# the text report's lines are read in terminals and mails: at most this
# wide, but for a word longer than that (a long path)
TEXT_WIDTH = 100
# where a remedy's line may end, best first: after a step ("chown ...;
# chmod ..."), after a part of one, before a parenthesis (a command given
# in one), between words. A command stays whole on its line, to be copied
# as it is, unless it alone is too long
BREAKS = (re.compile(r"(?<=;) "), re.compile(r"(?<=,) "), re.compile(r" (?=\()"), re.compile(" "))


def pieces(text: str, width: int, level: int = 0) -> list[str]:
    """TEXT cut at the BREAKS, each piece cut again at the next kind of
    break only while it is wider than WIDTH."""
    if len(text) <= width or level == len(BREAKS):
        return [text]
    return [piece for part in BREAKS[level].split(text) for piece in pieces(part, width, level + 1)]


def remedy_lines(remedy: str, margin: str) -> list[str]:
    indent = margin + " " * 16
    lines = [margin + "        remedy:"]
    for piece in pieces(remedy, TEXT_WIDTH - len(indent)):
        if len(lines[-1]) + 1 + len(piece) > TEXT_WIDTH:
            lines.append(indent + piece)
        else:
            lines[-1] += " " + piece
    return lines


def finding_lines(finding: Finding, margin: str = "") -> list[str]:
    """A finding as text, each line MARGIN and at most TEXT_WIDTH wide in
    all: its message wrapped between words, its remedy between its steps
    (remedy_lines); each shows a newline a file name in it holds (a queue
    file's, another process's argv) escaped."""
    lines = wrap(f"{finding.severity:<7} {finding.id}: {one_line(finding.message)}", TEXT_WIDTH,
                 initial_indent=margin, subsequent_indent=margin + " " * 8, break_long_words=False,
                 break_on_hyphens=False)
    if finding.remedy and finding.severity != "ok":
        lines += remedy_lines(one_line(finding.remedy), margin)
    return lines


def render_text(findings: list[Finding], header: str) -> str:
    lines = [header, ""]
    for finding in findings:
        lines.extend(finding_lines(finding))
    counts = [(sum(1 for f in findings if f.severity == s), s) for s in SEVERITIES]
    lines += ["", ", ".join(f"{n} {s}" + ("s" if n != 1 and s in ("error", "warning") else "") for n, s in counts) + "."]
    return "\n".join(lines) + "\n"


def render_json(findings: list[Finding]) -> str:
    return json_text({"findings": [f.data() for f in findings]})


def run_check(root: Path, as_json: bool, spec_file: Path | None = None, platform: str = "auto") -> int:
    """`qmailsetup check`: 3 when any finding is an error, else 0."""
    import sys

    from qmailsetup.platforms import choose_profile
    from qmailsetup.spec import load_spec

    spec = load_spec(spec_file)
    profile = choose_profile(platform, root)
    findings = run_checks(spec, root, profile)
    if as_json:
        sys.stdout.write(render_json(findings))
    else:
        sys.stdout.write(render_text(findings, f"qmailsetup check: {root} (platform {profile.name})"))
    return EXIT_REFUSED if has_errors(findings) else EXIT_OK
