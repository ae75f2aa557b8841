"""A unified diff computed from known edits, not by comparing texts.

An account file may have 100,000 lines and an edit touches a handful, so
the hunks are built straight from the edits (which old lines are replaced
by which new ones); the output is what difflib.unified_diff would print,
each line shown through REDACT (the account file's: no password hash is
ever printed), with the same lines and hunk headers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

CONTEXT = 3


@dataclass(frozen=True)
class Edit:
    """Old lines [start, end) become NEW (an insertion when start == end)."""

    start: int
    end: int
    new: tuple[str, ...]


def hunk_range(start: int, length: int) -> str:
    """difflib's way: 'start,length', 1-based; an empty range names the
    line before it."""
    if length == 1:
        return str(start + 1)
    if length == 0:
        return f"{start},0"
    return f"{start + 1},{length}"


def merge_touching(edits: list[Edit]) -> list[Edit]:
    """Edits that touch become one, printed as all its '-' lines then all
    its '+' lines, as difflib prints a replaced block."""
    merged: list[Edit] = []
    for edit in edits:
        if merged and edit.start == merged[-1].end:
            last = merged.pop()
            edit = Edit(last.start, edit.end, last.new + edit.new)
        merged.append(edit)
    return merged


def group_edits(edits: list[Edit], context: int) -> list[list[Edit]]:
    groups: list[list[Edit]] = []
    for edit in edits:
        if groups and edit.start - groups[-1][-1].end <= 2 * context:
            groups[-1].append(edit)
        else:
            groups.append([edit])
    return groups


def unchanged(line: str) -> str:
    return line


def unified_diff(
    old: Sequence[str], edits: list[Edit], from_name: str, to_name: str, context: int = CONTEXT,
    redact: Callable[[str], str] = unchanged,
) -> str:
    """The unified diff of OLD (lines with their newlines) and OLD with
    EDITS applied, every line shown as REDACT makes it; EDITS must not
    overlap. Empty when nothing changes."""
    edits = sorted((e for e in edits if e.new != tuple(old[e.start:e.end])), key=lambda e: (e.start, e.end))
    edits = merge_touching(edits)
    if not edits:
        return ""
    out = [f"--- {from_name}\n", f"+++ {to_name}\n"]
    shift = 0  # new line number minus old line number, before the hunk
    for group in group_edits(edits, context):
        first = max(0, group[0].start - context)
        last = min(len(old), group[-1].end + context)
        body: list[str] = []
        position, added = first, 0
        for edit in group:
            body.extend(" " + redact(line) for line in old[position:edit.start])
            body.extend("-" + redact(line) for line in old[edit.start:edit.end])
            body.extend("+" + redact(line) for line in edit.new)
            added += len(edit.new) - (edit.end - edit.start)
            position = edit.end
        body.extend(" " + redact(line) for line in old[position:last])
        old_length = last - first
        out.append(f"@@ -{hunk_range(first, old_length)} +{hunk_range(first + shift, old_length + added)} @@\n")
        out.extend(body)
        shift += added
    return "".join(out)
