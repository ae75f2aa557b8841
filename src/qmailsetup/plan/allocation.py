"""Allocation: an ID the spec leaves open, picked exactly as the platform's
own tool would (shadow-utils' useradd -r / groupadd -r counting down,
busybox adduser -S counting up: the profile's id_allocation), so every
backend agrees with what the dry run showed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from qmailsetup.plan.model import Kind
from qmailsetup.spec import RESERVED_IDS
from qmailsetup.userdb.filekinds import ID_COLUMNS

if TYPE_CHECKING:
    from qmailsetup.plan.planning import Planning


def nobody_else(candidate: int) -> bool:
    return False


def allocate(used: set[int], low: int, high: int, upward: bool = False, held=nobody_else) -> int | None:
    """The ID the platform's tool would take. Down (useradd -r / groupadd -r):
    just below the lowest one in use in the system range; failing that, the
    highest free one; never an ID that is none (65535 inside an odd range).
    UPWARD (busybox adduser -S / addgroup -S): the first
    free one from LOW. A candidate is free when it is not in USED and HELD
    (NSS, asked per candidate as useradd and adduser do) does not know it."""

    def free(candidate: int) -> bool:
        return candidate not in used and candidate not in RESERVED_IDS and not held(candidate)

    if upward:
        return next((candidate for candidate in range(low, high + 1) if free(candidate)), None)
    taken = in_range([used], low, high)
    start = min(taken) - 1 if taken else high
    if start < low:
        start = high
    for candidate in range(start, low - 1, -1):
        if free(candidate):
            return candidate
    for candidate in range(high, start, -1):
        if free(candidate):
            return candidate
    return None


def in_range(sources, low: int, high: int) -> set[int]:
    return {i for source in sources for i in source if i is not None and low <= i <= high}


def new_id(p: Planning, kind: Kind, name: str, fixed: int | None) -> tuple[int, frozenset[str]] | None:
    """The ID of the account KIND NAME to create: FIXED by the spec, or
    allocated from the system range as the platform's tool would, and
    whether it was allocated; None (a conflict) when the range is full."""
    label = ID_COLUMNS[kind]
    number, allocated = fixed, frozenset[str]()
    if number is None:
        ids, host = p.host.id_range, p.host
        low, high = (ids.gid_min, ids.gid_max) if kind == Kind.GROUP else (ids.uid_min, ids.uid_max)
        held = (host.nss_holds_gid if kind == Kind.GROUP else host.nss_holds_uid) or nobody_else
        number = allocate(p.used[kind], low, high, host.profile.id_allocation == "up", held)
        if number is None:
            p.conflict(kind, name, f"no free {label} left in the system range {low}-{high}")
            return None
        p.used[kind].add(number)
        allocated = frozenset({label})
    p.created[kind][name] = number
    return number, allocated
