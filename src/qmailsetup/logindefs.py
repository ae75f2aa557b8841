"""The system ID range of login.defs, as useradd -r and groupadd -r read it.

Kept to valid IDs (spec.MAX_ID, spec.RESERVED_IDS): a SYS_UID_MIN of -100 or
a SYS_UID_MAX of 4294967295 would have an ID allocated that is none. Read
through hostio, so a FIFO or a device there cannot make a run wait, nor
a sparse file of a gigabyte fill its memory.
"""

from __future__ import annotations

import errno
import re
from pathlib import Path

from qmailsetup.errors import BadInput, OperationFailed
from qmailsetup.hostio import NotRegular, TooLarge, read_optional
from qmailsetup.platforms import IdRange, Profile
from qmailsetup.spec import MAX_ID, RESERVED_IDS
from qmailsetup.target import Target

# a number as shadow-utils reads one (strtol, base 0): 0x1f hex, 017 octal
C_NUMBER = re.compile(r"([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")


def c_number(word: str) -> int | None:
    match = C_NUMBER.fullmatch(word)
    if not match:
        return None
    sign, digits = match.groups()
    if digits[:2] in ("0x", "0X"):
        value = int(digits, 16)
    else:
        value = int(digits, 8) if digits.startswith("0") else int(digits)
    return -value if sign == "-" else value


def valid_bound(value: int, step: int) -> int:
    """A lowest (STEP +1) or highest (STEP -1) ID of a range, moved inside
    1..MAX_ID and off a reserved ID: the range then starts and ends on
    valid IDs, or is empty (the allocator skips a reserved ID inside it)."""
    value = max(value, 1) if step > 0 else min(value, MAX_ID)
    while value in RESERVED_IDS:
        value += step
    return value


def system_range(kind: str, read, default_low: int, default_high: int, shown_as: str) -> tuple[int, int]:
    """The system range of KIND ("UID" or "GID") as useradd -r computes it
    (SYS_UID_MAX defaults to UID_MIN - 1), made of valid IDs only; READ
    gives a key's number or None."""
    low_key, high_key, fallback_key = f"SYS_{kind}_MIN", f"SYS_{kind}_MAX", f"{kind}_MIN"
    low = read(low_key)
    low_said = f"{low_key} {low}" if low is not None else f"{low_key} {default_low} (the default)"
    high = read(high_key)
    high_said = f"{high_key} {high}"
    if high is None:
        fallback = read(fallback_key)
        high = fallback - 1 if fallback is not None else None
        high_said = f"{fallback_key} - 1 = {high}" if high is not None else f"{high_key} {default_high} (the default)"
    valid_low = valid_bound(default_low if low is None else low, +1)
    valid_high = valid_bound(default_high if high is None else high, -1)
    if valid_low > valid_high:
        raise BadInput(
            f"{shown_as}: no valid system {kind} from {low_said} to {high_said} "
            f"(IDs are 1..{MAX_ID}, not {', '.join(str(i) for i in sorted(RESERVED_IDS) if i)})"
        )
    return valid_low, valid_high


def read_login_defs(root: Path, profile: Profile) -> IdRange:
    """The system ID range as shadow-utils computes it from login.defs,
    kept to valid IDs (a SYS_UID_MIN of -100 or a SYS_UID_MAX of 4294967295
    would have an ID allocated that is none). A FIFO or device there, a key
    that is not a number or a range with no valid ID in it is bad input."""
    defaults = profile.system_ids
    if not profile.login_defs:
        return defaults
    target = Target(root)
    name = target.shown(profile.login_defs)
    try:
        data = read_optional(target.real_path(profile.login_defs))  # a link followed inside the root
    except (NotRegular, TooLarge) as error:
        raise BadInput(f"{name}: {error.strerror}") from None
    except OSError as error:
        # a failing disk is a failed run (1); a file it may not read, bad input (2)
        failure = OperationFailed if error.errno == errno.EIO else BadInput
        raise failure(f"{name}: cannot read: {error.strerror}") from None
    if data is None:
        return defaults
    words: dict[str, str] = {}
    for line in data.decode(errors="replace").splitlines():
        fields = line.split()
        if len(fields) >= 2 and not fields[0].startswith("#"):
            words[fields[0]] = fields[1]  # the last definition counts, as in shadow-utils

    def read(key: str) -> int | None:
        if key not in words:
            return None
        value = c_number(words[key])
        if value is None:
            raise BadInput(f"{name}: {key} {words[key]!r} is not a number")
        return value

    uid_min, uid_max = system_range("UID", read, defaults.uid_min, defaults.uid_max, name)
    gid_min, gid_max = system_range("GID", read, defaults.gid_min, defaults.gid_max, name)
    return IdRange(uid_min=uid_min, uid_max=uid_max, gid_min=gid_min, gid_max=gid_max)
