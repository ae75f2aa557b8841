"""qmail.compiled-ids: the IDs the installed qmail was built with, against
the account database.

qmail 1.03 and netqmail compile the numeric IDs in when they are built
(auto_uids.c); after a restore, a migration or a second install that made
the accounts again with other numbers, qmail runs as the wrong users and
mail stops or leaks. qmail-showctl prints what it was built with, in
qmail-showctl.c's order:

    user ids: alias, qmaild, qmaill, root, qmailp, qmailq, qmailr, qmails.
    group ids: nofiles, qmail.

notqmail (1.07 and later) prints the same lines, but looks the names up
when it runs (uid.c's inituid); its qmail-showctl holds uid.c's message,
which is how it is told apart without running anything.

The installed qmail-showctl is run only on the live root, as nobody, with
no stdin, in a bounded time and output (its first OUTPUT_LIMIT bytes are
read; past them it is killed: the ID lines come first), and only when it
is root's alone (not setuid, not writable by others): never under --root,
where its code is not this host's to run.
"""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path

from qmailsetup import tools
from qmailsetup.check import Finding
from qmailsetup.errors import BadInput
from qmailsetup.hostio import open_regular, read_fd
from qmailsetup.installation import qmail_install
from qmailsetup.layout import ROLE_TITLES, Layout, qmail_layout
from qmailsetup.observe import HostState, shown
from qmailsetup.spec import Spec

# qmail-showctl.c prints auto_uida, uidd, uidl, uido, uidp, uidq, uidr, uids
SHOWN_USERS = ("alias", "qmaild", "qmaill", "root", "qmailp", "qmailq", "qmailr", "qmails")
SHOWN_GROUPS = ("nofiles", "qmail")  # auto_gidn, auto_gidq
# notqmail's uid.c, linked into its qmail-showctl: names are looked up at run time
RUNTIME_LOOKUP = b"fatal: unable to find user "
TIMEOUT = 10  # seconds; qmail-showctl reads a few control files
OUTPUT_LIMIT = 1 << 20  # qmailsetup(8), SAFETY
BY_HAND = (
    "run qmail-showctl by hand and compare its 'user ids:' (alias, qmaild, qmaill, root, qmailp, qmailq, "
    "qmailr, qmails) and 'group ids:' (nofiles, qmail) with id -u and getent group"
)
REBUILD = (
    "rebuild qmail against the accounts as they are now (make, then make setup check, with qmail stopped), "
    "and chown the queue to match (qmailsetup check's queue.owner); never renumber the accounts to fit"
)


def parse_ids(text: str, label: str, count: int) -> list[int] | None:
    """The numbers of qmail-showctl's line 'LABEL: A, B, ....', or None."""
    prefix = f"{label}: "
    for line in text.splitlines():
        if line.startswith(prefix) and line.endswith("."):
            words = line[len(prefix):-1].split(", ")
            if len(words) == count and all(word.isdigit() for word in words):
                return [int(word) for word in words]
    return None


def parse_showctl(text: str) -> tuple[dict[str, int], dict[str, int]] | None:
    """({user role: uid}, {group role: gid}) as qmail-showctl prints them."""
    uids = parse_ids(text, "user ids", len(SHOWN_USERS))
    gids = parse_ids(text, "group ids", len(SHOWN_GROUPS))
    if uids is None or gids is None:
        return None
    return dict(zip(SHOWN_USERS, uids, strict=True)), dict(zip(SHOWN_GROUPS, gids, strict=True))


def nobody() -> tuple[int, int] | None:
    """The uid and gid a root run drops to (no other groups); None when
    this run is not root's."""
    if os.geteuid() != 0:
        return None
    try:
        account = pwd.getpwnam("nobody")
    except KeyError:
        return 65534, 65534
    return account.pw_uid, account.pw_gid


def run_showctl(program: Path):
    """PROGRAM run as nobody, no stdin, a bare environment, at most TIMEOUT
    seconds (TimeoutError after) and OUTPUT_LIMIT bytes of output (then killed)."""
    return tools.run_tool([str(program)], timeout=TIMEOUT, env={"PATH": "/usr/bin:/bin"}, cwd="/", as_user=nobody(),
                    output_limit=OUTPUT_LIMIT)


def compare(layout: Layout, host: HostState, uids: dict[str, int], gids: dict[str, int]) -> list[str]:
    """'the daemon user qmaild: built with N, the account database says M'
    for each role whose number differs from its account's (or that has none)."""
    accounts = [
        (ROLE_TITLES[role], layout.users[role].name, uids[role], host.users.get(layout.users[role].name), "uid")
        for role in SHOWN_USERS if role != "root"
    ]
    accounts += [
        (f"{role} group", layout.groups[role], gids[role], host.groups.get(layout.groups[role]), "gid")
        for role in SHOWN_GROUPS
    ]
    wrong = []
    for title, name, built, record, field in accounts:
        now = None if record is None else getattr(record, field)
        if now != built:
            said = "no such account" if now is None else f"the account database says {now}"
            wrong.append(f"the {title} {name}: built with {built}, {said}")
    if uids["root"] != 0:
        wrong.append(f"the owner of the binaries: built with {uids['root']}, root is 0")
    return wrong


def compiled_findings(spec: Spec, root: Path, host: HostState) -> list[Finding]:
    try:
        layout = qmail_layout(spec, "the spec")
    except BadInput:
        return []  # not a spec qmail is built from: nothing to compare with
    program = Path(qmail_install(spec).bin) / "qmail-showctl"
    where = shown(root, str(program))
    if root != Path("/"):
        return [Finding(
            "qmail.compiled-ids", "info", where,
            f"not run under --root {root}: the IDs qmail was built with are checked on the live root only",
            "run qmailsetup check on the host that runs this qmail",
        )]
    built = built_ids(program, where)
    if isinstance(built, Finding):
        return [built]
    wrong = compare(layout, host, *built)
    if wrong:
        return [Finding("qmail.compiled-ids", "error", where, "qmail was built with other IDs than the accounts have: " + "; ".join(wrong), REBUILD)]
    return [Finding("qmail.compiled-ids", "ok", where, "qmail was built with the IDs the accounts have")]


def built_ids(program: Path, where: str) -> tuple[dict[str, int], dict[str, int]] | Finding:
    """What PROGRAM, the installed qmail-showctl (named WHERE in messages),
    says qmail was built with, run as the module's docstring says; else a
    finding that says why it was not asked or did not tell."""
    try:
        fd, info = open_regular(program)
        try:
            binary = read_fd(fd, 16 << 20)
        finally:
            os.close(fd)
    except FileNotFoundError:
        return Finding(
            "qmail.compiled-ids", "info", where, "qmail is not installed yet: no qmail-showctl to ask which IDs it was built with",
            "build and install qmail (make setup check) after qmailsetup apply, so the build finds the accounts",
        )
    except OSError as error:
        return Finding("qmail.compiled-ids", "warning", where, f"cannot read {where}: {error.strerror}", BY_HAND)
    if info.st_uid != 0 or info.st_mode & (stat.S_ISUID | stat.S_ISGID | 0o022):
        return Finding(
            "qmail.compiled-ids", "warning", where,
            f"not run: {where} is uid {info.st_uid}, mode {stat.S_IMODE(info.st_mode):04o}, not root's alone "
            "(hier.c installs it root, 0755)",
            f"chown root {where} && chmod 0755 {where}, if that is what it should be; then {BY_HAND}",
        )
    if RUNTIME_LOOKUP in binary:
        return Finding(
            "qmail.compiled-ids", "info", where,
            "this qmail (notqmail 1.07 or later) looks the accounts up by name when it runs: no IDs are compiled in",
            "nothing to rebuild after a renumber; the accounts must stay (a missing one stops qmail: "
            "'fatal: unable to find user'), and the queue must be chowned to match (queue.owner)",
        )
    try:
        result = run_showctl(program)
    except TimeoutError:
        return Finding(
            "qmail.compiled-ids", "warning", where, f"{where} did not finish in {TIMEOUT} s; the IDs qmail was built with are unknown",
            BY_HAND,
        )
    except OSError as error:
        return Finding("qmail.compiled-ids", "warning", where, f"cannot run {where}: {error.strerror}", BY_HAND)
    # a cut output's last line may be cut too: only whole lines count
    text = result.stdout[: result.stdout.rfind("\n") + 1] if result.cut else result.stdout
    parsed = parse_showctl(text)
    if parsed is None:
        how = f"was stopped after {OUTPUT_LIMIT} bytes of output" if result.cut else f"exit {result.returncode}"
        return Finding(
            "qmail.compiled-ids", "warning", where, f"{where} ({how}) printed no 'user ids:' and 'group ids:' lines",
            BY_HAND,
        )
    return parsed
