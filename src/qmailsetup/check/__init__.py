"""`qmailsetup check`: is this host fit for a qmail queue?

Each check yields findings: an id (one of FINDINGS), a severity, the path it is
about, what was seen and what to do about it. runner.py collects them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

SEVERITIES = ("error", "warning", "info", "ok")

# Every finding id and what it is about: a contract of `check --json`,
# listed in qmailsetup(8) from here (a new check adds its id here first)
FINDINGS = {
    "fs.nosuid": "the filesystem of qmail's bin is mounted nosuid (qmail-queue is setuid): an error",
    "fs.noexec": "the filesystem of qmail's bin is mounted noexec: an error",
    "fs.network": "the queue is on a network filesystem (NFS, CIFS): an error",
    "fs.sync-metadata": "the queue's metadata is not written at once (no sync mount, no chattr +S; BSD soft "
                        "updates): a warning, with the remedies in order of preference; a filesystem in "
                        "memory (tmpfs), which loses the queue at each reboot: an error",
    "fs.separate-partition": "whether the queue has a filesystem of its own (info)",
    "prereq.daemontools": "daemontools (svscan, supervise, multilog), and whether svscan runs",
    "prereq.ucspi-tcp": "ucspi-tcp (tcpserver, tcprules)",
    "prereq.dns-resolver": "a resolver for qmail-remote",
    "account.exists": "the spec's groups and users that are missing",
    "account.conflict": "an account of the spec that apply would refuse (an ID held by another name, ...)",
    "account.drift": "an account that differs from the spec (apply --fix-drift)",
    "account.incomplete": "a half-made qmail account: its passwd (group) line without its shadow (gshadow) "
                          "line, which pwck (grpck) fails on; apply repairs it",
    "account.login-shell": "a qmail account with a login shell: an error",
    "account.password": "a qmail account with a usable password: an error",
    "path.owner-mode": "the spec's directories: missing, or another owner, group or mode",
    "path.traverse": "a directory above a spec path that qmail's users cannot pass through (a /var made "
                     "0700 under umask 077); the remedy names the chmod o+x",
    "qmail.compiled-ids": "the IDs the installed qmail was built with (qmail-showctl), against the accounts",
    "queue.owner": "the owners, groups and modes of the queue's directories and files",
}


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
        if self.id not in FINDINGS:
            raise ValueError(f"unknown finding id {self.id!r}")

    def data(self) -> dict:
        return asdict(self)
