"""`qmailsetup env`: the numbers a qmail build will compile in, as POSIX sh
assignments a bootstrap script can eval.

Accounts are named by the role they play, in qmail's standard names
(layout.py): the daemon user's uid is QMAIL_UID_QMAILD whether the host
calls it qmaild or _qmaild, qmail's group's gid QMAIL_GID_QMAIL whether it
is qmail or s/qmail's sqmail, s/qmail's TLS user's QMAIL_UID_SQMTLS. An
account that plays no role keeps its own name.

The IDs come from the account files under the root (observe.py), never
from the spec: they are what exists, and what qmail's auto-uid and
auto-gid will read. Missing accounts, or fixed IDs that the host does not
have, are refused (exit 3): a build must not go on with half the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from qmailsetup.errors import EXIT_OK, BadInput, Refused
from qmailsetup.layout import standard_names
from qmailsetup.observe import HostState, observe
from qmailsetup.platforms import choose_profile
from qmailsetup.spec import Spec, load_spec


def variable(prefix: str, name: str) -> str:
    return f"QMAIL_{prefix}_{name.upper().replace('-', '_')}"


def missing_accounts(spec: Spec, host: HostState) -> list[str]:
    missing = []
    for kind, names, known, nss in (
        ("group", [g.name for g in spec.groups], host.groups, host.nss_groups),
        ("user", [u.name for u in spec.users], host.users, host.nss_users),
    ):
        for name in names:
            if name not in known:
                missing.append(f"{kind} {name}" + (" (only in NSS, not in the local files)" if name in nss else ""))
    return missing


def wrong_ids(spec: Spec, host: HostState) -> list[str]:
    wrong = [
        f"group {g.name} has gid {host.groups[g.name].gid}, the spec says {g.gid}"
        for g in spec.groups if g.gid is not None and host.groups[g.name].gid != g.gid
    ]
    wrong += [
        f"user {u.name} has uid {host.users[u.name].uid}, the spec says {u.uid}"
        for u in spec.users if u.uid is not None and host.users[u.name].uid != u.uid
    ]
    return wrong


def assignments(spec: Spec, host: HostState) -> list[tuple[str, str]]:
    """(variable, value) pairs: QMAIL_HOME, each user's UID, each group's
    GID (the spec's groups, then any other group a user is in), by role."""
    user_roles, group_roles = standard_names(spec)
    pairs = [("QMAIL_HOME", spec.qmail.home)]  # the [qmail] table: never the users' homes
    pairs += [(variable("UID", user_roles.get(u.name, u.name)), str(host.users[u.name].uid)) for u in spec.users]
    group_names = [g.name for g in spec.groups]
    group_names += [u.group for u in spec.users if u.group not in group_names]
    for name in dict.fromkeys(group_names):
        group = host.groups.get(name)
        if group is None:
            raise Refused(f"group {name} (a user's group) is not on the host; run qmailsetup apply first")
        pairs.append((variable("GID", group_roles.get(name, name)), str(group.gid)))
    keys = [key for key, _ in pairs]
    clash = next((key for key in keys if keys.count(key) > 1), None)
    if clash:
        raise BadInput(
            f"two spec names both give the variable {clash} ('-' becomes '_', a role its standard name); rename one"
        )
    return pairs


def require_accounts(spec: Spec, host: HostState) -> None:
    """Refuse (exit 3) unless every account of SPEC is on HOST with the IDs
    the spec fixes: what is read from the host must be all of it."""
    missing = missing_accounts(spec, host)
    if missing:
        raise Refused(f"not on the host yet: {', '.join(missing)}; run qmailsetup apply first")
    wrong = wrong_ids(spec, host)
    if wrong:
        raise Refused(f"the host does not have the spec's IDs: {'; '.join(wrong)}")


@dataclass(frozen=True)
class Assignments:
    pairs: list[tuple[str, str]]  # (variable, value), in the order printed
    status: int = EXIT_OK


def run(*, spec_file: Path | None, root: Path, platform: str) -> Assignments:
    spec = load_spec(spec_file)
    host = observe(spec, root, choose_profile(platform, root))
    require_accounts(spec, host)
    return Assignments(assignments(spec, host))
