"""The queue commands' output: create's and repair's outcome as text or
JSON (check's findings print as `qmailsetup check` prints them)."""

from __future__ import annotations

from qmailsetup.errors import one_line
from qmailsetup.queue.create import Outcome
from qmailsetup.queue.tally import LABELS, Count
from qmailsetup.streams import json_text


def line(key: str, count: Count) -> str:
    examples = ", ".join(count.examples) + (", ..." if count.count > len(count.examples) else "")
    return one_line(f"  {key:<10} {count.count} {LABELS[key]}" + (f": {examples}" if examples else ""))


def outcome_text(outcome: Outcome) -> str:
    head = f"qmailsetup queue {outcome.command}: {outcome.queue} ({outcome.installation}, conf-split {outcome.split})"
    if outcome.dry_run:
        head += "; dry run, nothing written"
    lines = [one_line(head)]
    changes = outcome.tally.changes()
    lines += [line(key, count) for key, count in changes]
    if outcome.quarantine:
        lines.append(one_line(f"  the quarantine: {outcome.quarantine}"))
    seen = outcome.tally.seen()
    if seen:
        lines.append("seen:")
        lines += [line(key, count) for key, count in seen]
    total = sum(count.count for _, count in changes)
    if not total:
        lines.append("nothing to do: the queue is as qmail makes it")
    elif outcome.dry_run:
        lines.append(f"{total} changes to make; qmailsetup queue {outcome.command} makes them")
    else:
        lines.append(f"{total} changes made")
    return "\n".join(lines) + "\n"


def outcome_data(outcome: Outcome) -> dict:
    return {
        "command": outcome.command,
        "queue": outcome.queue,
        "installation": outcome.installation,
        "split": outcome.split,
        "dry_run": outcome.dry_run,
        "in_sync": not outcome.tally.changes(),
        "changes": [{"action": key, "count": c.count, "examples": c.examples} for key, c in outcome.tally.changes()],
        "seen": [{"what": key, "count": c.count, "examples": c.examples} for key, c in outcome.tally.seen()],
        "quarantine": outcome.quarantine,
        "messages": outcome.messages,
    }


def outcome_json(outcome: Outcome) -> str:
    return json_text(outcome_data(outcome))
