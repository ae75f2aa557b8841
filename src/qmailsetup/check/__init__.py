"""`qmailsetup check`: is this host fit for a qmail queue?

Each check yields findings: an id (one of FINDING_IDS), a severity, the path it
is about, what was seen and what to do about it. runner.py collects them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

SEVERITIES = ("error", "warning", "info", "ok")


@dataclass(frozen=True)
class FindingId:
    scope: str  # what apply does with its errors (below)
    about: str  # what it is about, as qmailsetup(8) lists it


# Every finding id, what it is about, and the one rule check and apply
# follow about its errors (qmailsetup(8) prints both):
# "filesystem", the filesystem under qmail's home: apply counts it on the
#   live root only (a tree under --root may be mounted elsewhere later);
# "setup", the accounts and directories where the plan does not show it:
#   counted;
# "plan", what the plan itself shows and makes: counted after a real run
#   (left where apply could not make it), not noted again by a dry run;
# "check", not what apply sets up (the services, the installed qmail, its
#   queue): check's alone.
# A counted error makes a real run's exit status 5; a dry run notes it. A
# new check adds its ids here first (a Finding of another id is refused).
FINDING_IDS = {
    "fs.nosuid": FindingId("filesystem", "the filesystem of qmail's bin is mounted nosuid (qmail-queue is "
                                         "setuid): an error"),
    "fs.noexec": FindingId("filesystem", "the filesystem of qmail's bin is mounted noexec: an error"),
    "fs.network": FindingId("filesystem", "the queue is on a network filesystem (NFS, CIFS): an error"),
    # a warning at worst, a queue in memory included: qmail works there,
    # and loses what the queue holds at a reboot, as at a power loss
    "fs.sync-metadata": FindingId("filesystem", "the queue's metadata is not written at once (no sync mount, "
                                                "no chattr +S; BSD soft updates; a filesystem in memory, which "
                                                "loses the queue at each reboot): a warning, with the remedies "
                                                "in order of preference"),
    "fs.separate-partition": FindingId("filesystem", "whether the queue has a filesystem of its own (info)"),
    "prereq.daemontools": FindingId("check", "daemontools (svscan, supervise, multilog), and whether svscan "
                                             "runs"),
    "prereq.ucspi-tcp": FindingId("check", "ucspi-tcp (tcpserver, tcprules)"),
    "prereq.dns-resolver": FindingId("check", "a resolver for qmail-remote"),
    "account.exists": FindingId("plan", "the spec's groups and users that are missing"),
    "account.conflict": FindingId("plan", "an account of the spec that apply would refuse (an ID held by "
                                          "another name, ...)"),
    "account.drift": FindingId("plan", "an account that differs from the spec (apply --fix-drift)"),
    "account.incomplete": FindingId("plan", "a half-made qmail account: its passwd (group) line without its "
                                            "shadow (gshadow) line, which pwck (grpck) fails on; apply "
                                            "repairs it"),
    "account.login-shell": FindingId("plan", "a qmail account with a login shell: an error"),
    "account.password": FindingId("setup", "a qmail account with a usable password: an error (info as "
                                           "another user than root, who cannot read shadow)"),
    "path.owner-mode": FindingId("plan", "the spec's directories: missing, or another owner, group or mode"),
    "path.traverse": FindingId("setup", "a directory above a spec path that qmail's users cannot pass "
                                        "through (a /var made 0700 under umask 077); the remedy names the "
                                        "chmod o+x"),
    "qmail.compiled-ids": FindingId("check", "the IDs the installed qmail was built with (qmail-showctl), "
                                             "against the accounts"),
    "queue.owner": FindingId("check", "the owners, groups and modes of the queue's directories and files"),
    "queue.structure": FindingId("check", "the queue's directories and lock files as the installer makes them: "
                                          "missing, of another type, split directories beyond conf-split"),
    "queue.messages": FindingId("check", "each message named after its own inode, in its split directory, with "
                                         "its entries where qmail looks for them (a queue copied to another file "
                                         "system is not)"),
    "queue.orphans": FindingId("check", "entries no message explains: todo, info, intd, local, remote or bounce "
                                        "without their message file, names that are not numbers, links"),
    "queue.unfinished": FindingId("check", "message files without todo or info: qmail-queue did not finish them "
                                           "(a warning)"),
    "queue.leftovers": FindingId("check", "files in the queue's pid/, which qmail-clean removes (info)"),
    "queue.repair": FindingId("check", "a queue repair that was interrupted: qmail-send cannot start until one "
                                       "finishes"),
    "queue.quarantine": FindingId("check", "what queue repair could not explain, kept beside the queue (a "
                                           "warning)"),
    "queue.unknown": FindingId("check", "names in the queue that are not qmail's (a warning)"),
}


def counted_by_apply(finding_id: str, dry_run: bool) -> bool:
    """Whether an error of FINDING_ID is one apply reports (on the live
    root for the filesystem's): a dry run's plan shows the plan's own."""
    scope = FINDING_IDS[finding_id].scope
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
