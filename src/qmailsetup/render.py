"""Rendering a plan: text for people, JSON for programs (qmailsetup(8), JSON OUTPUT).

A plan is shown per object: what is created or changed, field by field
(current -> desired), the exact commands a command backend runs, and for the
files backend a unified diff of each account file. Plain text only: no
colour, so pipes, logs and NO_COLOR terminals all read the same.
"""

from __future__ import annotations

import shlex

from qmailsetup.errors import one_line
from qmailsetup.plan import Change, Plan

MARKS = {"create": "+", "modify": "~", "repair": "~"}


def show_value(value) -> str:
    return "(none)" if value is None else str(value)


def change_lines(change: Change, commands: list[list[str]]) -> list[str]:
    how = change.action + (" (drift)" if change.drift else "")
    lines = [f"{MARKS[change.action]} {change.kind} {change.name}: {how}"]
    for key, field in change.fields.items():
        said = ["allocated from the system range"] if key in change.allocated else []
        said += [change.field_notes[key]] if key in change.field_notes else []
        note = f" ({one_line('; '.join(said))})" if said else ""
        if change.action == "create":
            lines.append(f"    {key}: {show_value(field.desired)}{note}")
        else:
            lines.append(f"    {key}: {show_value(field.current)} -> {show_value(field.desired)}{note}")
    lines.extend(f"    $ {shlex.join(argv)}" for argv in commands)
    return lines


def summary(plan: Plan) -> str:
    creates = sum(1 for c in plan.changes if c.action == "create")
    repairs = sum(1 for c in plan.changes if c.action == "repair")
    modifies = len(plan.changes) - creates - repairs
    parts = [f"{creates} to create", f"{modifies} to modify", f"{len(plan.unchanged)} in sync"]
    if repairs:
        parts.insert(2, f"{repairs} to repair")
    if plan.conflicts:
        parts.append(f"{len(plan.conflicts)} conflict{'s' if len(plan.conflicts) != 1 else ''}")
    return ", ".join(parts) + "."


def render_text(plan: Plan, header: str, backend, diffs: list[tuple[str, str]]) -> str:
    lines = [header, ""]
    for change in plan.changes:
        lines.extend(change_lines(change, backend.commands(change)))
    for conflict in plan.conflicts:
        lines.append(f"! {conflict.kind} {conflict.name}: conflict: {one_line(conflict.reason)}")
    if plan.unchanged:
        lines.append("= in sync: " + ", ".join(f"{kind} {name}" for kind, name in plan.unchanged))
    for path, diff in diffs:
        lines.extend(["", f"--- diff of {path}", diff.rstrip("\n")])
    lines.append("")
    lines.extend(f"note: {one_line(note)}" for note in plan.notes)
    lines.extend(f"warning: {one_line(warning)}" for warning in plan.warnings)
    lines.append(summary(plan))
    return "\n".join(lines) + "\n"


def plan_data(plan: Plan, backend, diffs: list[tuple[str, str]]) -> dict:
    return {
        "in_sync": plan.in_sync,
        "refused": plan.refused,
        "changes": [
            {
                "kind": change.kind,
                "name": change.name,
                "action": change.action,
                "drift": change.drift,
                "fields": {
                    key: {"current": field.current, "desired": field.desired}
                    for key, field in change.fields.items()
                },
                "allocated": sorted(change.allocated),
                "field_notes": dict(change.field_notes),
                "commands": backend.commands(change),
            }
            for change in plan.changes
        ],
        "conflicts": [
            {"kind": c.kind, "name": c.name, "reason": c.reason} for c in plan.conflicts
        ],
        "warnings": list(plan.warnings),
        "notes": list(plan.notes),
        "unchanged": [{"kind": kind, "name": name} for kind, name in plan.unchanged],
        "diffs": [{"path": path, "diff": diff} for path, diff in diffs],
    }
