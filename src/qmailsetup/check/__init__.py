"""`qmailsetup check`: is this host fit for a qmail queue?

Each check yields findings: an id (README.md's finding ids), a severity, the path it is
about, what was seen and what to do about it. runner.py collects them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

SEVERITIES = ("error", "warning", "info", "ok")

# Every finding id, and the one rule check and apply follow about its
# errors (README.md, "Checking the host"; qmailsetup(8) prints it):
# "filesystem", the filesystem under qmail's home: apply counts it on the
#   live root only (a tree under --root may be mounted elsewhere later);
# "setup", the accounts and directories where the plan does not show it:
#   counted;
# "plan", what the plan itself shows and makes: counted after a real run
#   (left where apply could not make it), not noted again by a dry run;
# "check", not what apply sets up (the services, the installed qmail, its
#   queue): check's alone.
# A counted error makes a real run's exit status 5; a dry run notes it.
FINDING_IDS = {
    "fs.nosuid": "filesystem",
    "fs.noexec": "filesystem",
    "fs.network": "filesystem",
    # a warning at worst, a queue in memory included: qmail works there,
    # and loses what the queue holds at a reboot, as at a power loss
    "fs.sync-metadata": "filesystem",
    "fs.separate-partition": "filesystem",
    "prereq.daemontools": "check",
    "prereq.ucspi-tcp": "check",
    "prereq.dns-resolver": "check",
    "account.exists": "plan",
    "account.conflict": "plan",
    "account.drift": "plan",
    "account.incomplete": "plan",
    "account.login-shell": "plan",
    "account.password": "setup",
    "path.owner-mode": "plan",
    "path.traverse": "setup",
    "qmail.compiled-ids": "check",
    "queue.owner": "check",
}


def counted_by_apply(finding_id: str, dry_run: bool) -> bool:
    """Whether an error of FINDING_ID is one apply reports (on the live
    root for the filesystem's): a dry run's plan shows the plan's own."""
    scope = FINDING_IDS[finding_id]
    return scope in ("filesystem", "setup") or (scope == "plan" and not dry_run)


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
        if self.id not in FINDING_IDS:
            raise ValueError(f"unknown finding id {self.id!r}")

    def data(self) -> dict:
        return asdict(self)
