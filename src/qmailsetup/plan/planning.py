"""What the steps of planning share while one plan is made."""

from __future__ import annotations

from qmailsetup.observe import HostState
from qmailsetup.plan.allocation import in_range
from qmailsetup.plan.model import Change, Conflict, Kind, Plan
from qmailsetup.spec import Spec


class Planning:
    """What the steps share while one plan is made: the spec, the host, the
    plan so far, and the IDs taken (the host's in the system range, the
    spec's fixed ones, and those allocated on the way)."""

    def __init__(self, spec: Spec, host: HostState, fix_drift: bool) -> None:
        self.spec = spec
        self.host = host
        self.plan = Plan(fix_drift=fix_drift)
        ids = host.id_range
        # only IDs in the system range count when allocating (a large host has 100,000 others)
        self.used = {
            Kind.GROUP: host.groups.used_ids(ids.gid_min, ids.gid_max)
            | in_range([host.nss_gids, [g.gid for g in spec.groups]], ids.gid_min, ids.gid_max),
            Kind.USER: host.users.used_ids(ids.uid_min, ids.uid_max)
            | in_range([host.nss_uids, [u.uid for u in spec.users]], ids.uid_min, ids.uid_max),
        }
        # the IDs of the accounts this plan creates (the host's are looked up)
        self.created: dict[Kind, dict[str, int]] = {Kind.GROUP: {}, Kind.USER: {}}
        self.warned_parents: set[str] = set()

    def gid_of(self, group: str) -> int | None:
        existing = self.host.groups.get(group)
        return existing.gid if existing else self.created[Kind.GROUP].get(group)

    def uid_of(self, user: str) -> int | None:
        existing = self.host.users.get(user)
        return existing.uid if existing else self.created[Kind.USER].get(user)

    def is_member(self, user: str, group: str) -> bool:
        """USER is in the member list of GROUP as the host has it now."""
        existing = self.host.groups.get(group)
        return existing is not None and user in existing.members

    def conflict(self, kind: Kind, name: str, reason: str) -> None:
        self.plan.conflicts.append(Conflict(kind, name, reason))

    def warn(self, warning: str) -> None:
        self.plan.warnings.append(warning)

    def note(self, note: str) -> None:
        self.plan.notes.append(note)

    def add(self, change: Change) -> None:
        self.plan.changes.append(change)

    def in_sync(self, kind: Kind, name: str) -> None:
        self.plan.unchanged.append((kind, name))
