"""What a field of an account line may hold: the one rule for every value
the tool writes into one, the spec's (spec.py) and every line the files
backend writes, whatever its source (a template, a value kept from the
host).

Never the field separator ':' or a line end, and never a control
character: C0 (TAB included), DEL, C1 (NEL, U+0085, among them) and the
Unicode line and paragraph separators U+2028 and U+2029. The files would
hold most of them, but each breaks something that reads them:
shadow-utils' valid_field() refuses a control character in a field, so
useradd and the files backend would disagree; Python's str.splitlines()
ends a line at VT, FF, the C0 separators, NEL, U+2028 and U+2029; a
terminal acts on ESC and BEL when a plan or a diff shows the value.
"""

from __future__ import annotations

import re

UNWRITABLE = re.compile("[:\x00-\x1f\x7f-\x9f\u2028\u2029]")


def unwritable(value: str) -> str | None:
    """The first character of VALUE that no field of an account line may
    hold, in words ("':', the field separator"); None when there is none."""
    found = UNWRITABLE.search(value)
    if found is None:
        return None
    char = found.group()
    if char == ":":
        return "':', the field separator"
    if char == "\n":
        return "'\\n', a line end"
    if char in "\u2028\u2029":
        return f"{char!r} (U+{ord(char):04X}), a Unicode line separator"
    return f"{char!r} (U+{ord(char):04X}), a control character"
