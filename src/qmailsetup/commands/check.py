"""`qmailsetup check`: is this host fit for qmail? Every check's findings
(check/), and the exit status they mean: 3 when any is an error, else 0."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from qmailsetup.check import Finding
from qmailsetup.check.runner import run_checks
from qmailsetup.errors import EXIT_OK, EXIT_REFUSED
from qmailsetup.platforms import choose_profile
from qmailsetup.spec import load_spec


@dataclass(frozen=True)
class Checked:
    root: Path
    platform: str  # the profile's name
    findings: list[Finding]

    @property
    def status(self) -> int:
        return EXIT_REFUSED if any(f.severity == "error" for f in self.findings) else EXIT_OK


def run(*, root: Path, spec_file: Path | None, platform: str) -> Checked:
    spec = load_spec(spec_file)
    profile = choose_profile(platform, root)
    return Checked(root, profile.name, run_checks(spec, root, profile))
