"""`qmailsetup check`: is this host fit for a qmail queue?

Each check yields findings: an id (README.md's finding ids), a severity, the path it is
about, what was seen and what to do about it. runner.py collects them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

SEVERITIES = ("error", "warning", "info", "ok")


@dataclass(frozen=True)
class Finding:
    id: str
    severity: str  # one of SEVERITIES
    path: str | None
    message: str
    remedy: str | None = None

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}")

    def data(self) -> dict:
        return asdict(self)
