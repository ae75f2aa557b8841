"""Everything a run prints: each command's result as text for people or
as JSON for programs (qmailsetup(8), JSON OUTPUT), and the one-line
errors and notes on stderr. The commands (commands/) return data; this
module alone writes.

Plain text only: no colour, so pipes, logs and NO_COLOR terminals all read
the same. What is written to stdout goes through streams.GuardedOutput
(cli.main), which shows every character that is not printable escaped; a
message on stderr is one line (errors.one_line); every string in --json is
printable too (json_text).

A plan is shown per object: what is created or changed, field by field
(current -> desired), the exact commands a command backend runs, and for
the files backend a unified diff of each account file.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
from pathlib import Path
from textwrap import wrap

from qmailsetup.check import SEVERITIES, Finding
from qmailsetup.errors import one_line
from qmailsetup.plan import Change, DesiredDirectory
from qmailsetup.queue.create import Outcome
from qmailsetup.queue.tally import LABELS, Count
from qmailsetup.streams import printable_data
from qmailsetup.userdb.filekinds import ID_COLUMNS

MARKS = {"create": "+", "modify": "~", "repair": "~"}
# the text report's lines are read in terminals and mails: at most this
# wide, but for a word longer than that (a long path)
TEXT_WIDTH = 100
# where a remedy's line may end, best first: after a step ("chown ...;
# chmod ..."), after a part of one, before a parenthesis (a command given
# in one), between words. A command stays whole on its line, to be copied
# as it is, unless it alone is too long
BREAKS = (re.compile(r"(?<=;) "), re.compile(r"(?<=,) "), re.compile(r" (?=\()"), re.compile(" "))


def write(text: str) -> None:
    sys.stdout.write(text)


def line(text: str) -> None:
    print(text)


def error(message: str) -> None:
    """An error that ends the run, or a problem it went on after: one line
    on stderr."""
    print(f"qmailsetup: {one_line(message)}", file=sys.stderr)


def usage(text: str) -> None:
    """What to give a command run without what it needs (its help), on stderr."""
    print(text, file=sys.stderr)


def note(message: str) -> None:
    """Something the administrator must still do, told as the run goes on."""
    print(f"qmailsetup: note: {one_line(message)}", file=sys.stderr)


def json_text(data) -> str:
    """DATA as --json prints it."""
    return json.dumps(printable_data(data), indent=2) + "\n"


# apply

def show_value(value) -> str:
    return "(none)" if value is None else str(value)


def change_lines(change: dict) -> list[str]:
    """One change of the plan's data (commands/apply.plan_data), a line per
    field and command."""
    how = change["action"] + (" (drift)" if change["drift"] else "")
    lines = [f"{MARKS[change['action']]} {change['kind']} {change['name']}: {how}"]
    for key, field in change["fields"].items():
        said = ["allocated from the system range"] if key in change["allocated"] else []
        said += [change["field_notes"][key]] if key in change["field_notes"] else []
        noted = f" ({one_line('; '.join(said))})" if said else ""
        if change["action"] == "create":
            lines.append(f"    {key}: {show_value(field['desired'])}{noted}")
        else:
            lines.append(f"    {key}: {show_value(field['current'])} -> {show_value(field['desired'])}{noted}")
    lines.extend(f"    $ {shlex.join(argv)}" for argv in change["commands"])
    return lines


def summary(plan: dict) -> str:
    changes, conflicts = plan["changes"], plan["conflicts"]
    creates = sum(1 for c in changes if c["action"] == "create")
    repairs = sum(1 for c in changes if c["action"] == "repair")
    modifies = len(changes) - creates - repairs
    parts = [f"{creates} to create", f"{modifies} to modify", f"{len(plan['unchanged'])} in sync"]
    if repairs:
        parts.insert(2, f"{repairs} to repair")
    if conflicts:
        parts.append(f"{len(conflicts)} conflict{'s' if len(conflicts) != 1 else ''}")
    return ", ".join(parts) + "."


def plan_text(plan: dict) -> str:
    """The plan's data (commands/apply.plan_data) as text, its header first."""
    mode = "dry run" if plan["dry_run"] else "apply"
    lines = [f"qmailsetup {mode}: {plan['root']} (platform {plan['platform']}, backend {plan['backend']})", ""]
    for change in plan["changes"]:
        lines.extend(change_lines(change))
    for conflict in plan["conflicts"]:
        lines.append(f"! {conflict['kind']} {conflict['name']}: conflict: {one_line(conflict['reason'])}")
    if plan["unchanged"]:
        lines.extend(listed("= in sync: ", [f"{u['kind']} {u['name']}" for u in plan["unchanged"]]))
    for diff in plan["diffs"]:
        lines.extend(["", f"--- diff of {diff['path']}", diff["diff"].rstrip("\n")])
    lines.append("")
    lines.extend(f"note: {one_line(text)}" for text in plan["notes"])
    lines.extend(f"warning: {one_line(warning)}" for warning in plan["warnings"])
    lines.append(summary(plan))
    return "\n".join(lines) + "\n"


def progress_line(change: Change, number: int | None) -> str:
    """A change as a real run tells it when it is done; NUMBER, the ID an
    account it created got."""
    verb = "created" if change.action == "create" else "changed"
    if change.action == "repair":
        return f"repaired {change.kind} {change.name} (added its {', '.join(change.fields)} line)"
    if isinstance(change.desired, DesiredDirectory):
        desired = change.desired
        return f"{verb} {change.name} ({desired.owner}:{desired.group} {desired.mode})"
    if number is not None:
        return f"{verb} {change.kind} {change.name} ({ID_COLUMNS[change.kind]} {number})"
    if change.action == "modify":
        return f"{verb} {change.kind} {change.name} ({', '.join(change.fields)})"
    return f"{verb} {change.kind} {change.name}"


class ApplyReport:
    """What apply tells as it goes, in text (with --json, all is told at
    the end): the plan before anything is written, where it was saved,
    then each change as it is done, so a slow or failing run shows where
    it is."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def plan(self, data: dict) -> None:
        if not self.as_json:
            write(plan_text(data))

    def saved(self, plan_out: Path, root: Path) -> None:
        if not self.as_json:
            line(f"Plan saved in {plan_out}; apply exactly it with: qmailsetup apply --plan {plan_out}"
                 + ("" if str(root) == "/" else f" --root {root}"))

    def done(self, change, number: int | None) -> None:
        if not self.as_json:
            line(progress_line(change, number))


def applied(outcome, as_json: bool) -> None:
    """What apply tells once it is over (commands/apply.Outcome): with
    --json the whole document; in text, that a dry run wrote nothing, how
    many changes a real run made, and check's errors about what was set up.
    Those errors also go to stderr after a real run, a line each."""
    data = outcome.data
    if as_json:
        write(json_text(data))
    else:
        if data["dry_run"] and outcome.error is None and not data["in_sync"]:
            line("Dry run: nothing was written.")
        if "applied" in data and outcome.error is None:
            count = len(data["applied"])
            line(f"Applied {count} change{'s' if count != 1 else ''}.")
        if outcome.check_failed:
            line(f"qmailsetup check could not run: {one_line(outcome.check_failed)}")
        elif outcome.check:
            line("note: qmailsetup check finds, as things stand:" if data["dry_run"] else "qmailsetup check: errors that remain:")
        for finding in outcome.check:
            line("\n".join(finding_lines(finding, "  ")))
    if not data["dry_run"]:
        for finding in outcome.check:
            where = f"{finding.path}: " if finding.path else ""
            error(f"{one_line(where + finding.id)}: {one_line(finding.message)}")


# check

def listed(head: str, items: list[str], indent: int | None = None) -> list[str]:
    """HEAD and ITEMS separated by commas, in lines at most TEXT_WIDTH wide
    (but for an item wider alone), an item never broken, the lines after
    the first indented by INDENT (under the first item by default)."""
    lines = [head + items[0]]
    for item in items[1:]:
        if len(lines[-1]) + 2 + len(item) + 1 > TEXT_WIDTH:
            lines[-1] += ","
            lines.append(" " * (len(head) if indent is None else indent) + item)
        else:
            lines[-1] += ", " + item
    return lines


def pieces(text: str, width: int, level: int = 0) -> list[str]:
    """TEXT cut at the BREAKS, each piece cut again at the next kind of
    break only while it is wider than WIDTH."""
    if len(text) <= width or level == len(BREAKS):
        return [text]
    return [piece for part in BREAKS[level].split(text) for piece in pieces(part, width, level + 1)]


def remedy_lines(remedy: str, margin: str) -> list[str]:
    indent = margin + " " * 16
    lines = [margin + "        remedy:"]
    for piece in pieces(remedy, TEXT_WIDTH - len(indent)):
        if len(lines[-1]) + 1 + len(piece) > TEXT_WIDTH:
            lines.append(indent + piece)
        else:
            lines[-1] += " " + piece
    return lines


def finding_lines(finding: Finding, margin: str = "") -> list[str]:
    """A finding as text, each line MARGIN and at most TEXT_WIDTH wide in
    all: its message wrapped between words, its remedy between its steps
    (remedy_lines); each shows a newline a file name in it holds (a queue
    file's, another process's argv) escaped."""
    lines = wrap(f"{finding.severity:<7} {finding.id}: {one_line(finding.message)}", TEXT_WIDTH,
                 initial_indent=margin, subsequent_indent=margin + " " * 8, break_long_words=False,
                 break_on_hyphens=False)
    if finding.remedy and finding.severity != "ok":
        lines += remedy_lines(one_line(finding.remedy), margin)
    return lines


def check_text(findings: list[Finding], header: str) -> str:
    lines = [header, ""]
    for finding in findings:
        lines.extend(finding_lines(finding))
    counts = [(sum(1 for f in findings if f.severity == s), s) for s in SEVERITIES]
    lines += ["", ", ".join(f"{n} {s}" + ("s" if n != 1 and s in ("error", "warning") else "") for n, s in counts) + "."]
    return "\n".join(lines) + "\n"


def checked(result, as_json: bool) -> None:
    """`qmailsetup check`'s findings (commands/check.Checked)."""
    if as_json:
        write(json_text({"findings": [f.data() for f in result.findings]}))
    else:
        write(check_text(result.findings, f"qmailsetup check: {result.root} (platform {result.platform})"))


# env

def sh_quote(value: str) -> str:
    """Single quotes, always: nothing inside them is special to sh but the
    quote itself, written '\\'' (close, escaped quote, reopen)."""
    return "'" + value.replace("'", "'\\''") + "'"


def env(result) -> None:
    """`qmailsetup env`'s assignments (commands/env.Assignments), a line
    each, for sh to eval."""
    write("".join(f"{key}={sh_quote(value)}\n" for key, value in result.pairs))


# export

def exported(result) -> None:
    """`qmailsetup export`'s file (commands/export.Exported), or the names
    of the files it wrote into --output DIR."""
    if result.written is None:
        write(result.outputs[0].text)
    for path in result.written or []:
        line(f"wrote {path}")


# queue

def queue_checked(result, as_json: bool) -> None:
    """`qmailsetup queue check`'s findings (commands/check.Checked), as
    `qmailsetup check` prints its own."""
    if as_json:
        write(json_text({"findings": [f.data() for f in result.findings]}))
    else:
        write(check_text(result.findings, f"qmailsetup queue check: {result.root}"))


def count_lines(key: str, count: Count) -> list[str]:
    """A kind of change (or of what was seen), counted, then its first
    examples, in lines as wide as check's."""
    head = one_line(f"  {key:<10} {count.count} {LABELS[key]}")
    examples = [one_line(example) for example in count.examples]
    if count.count > len(examples):
        examples.append("...")
    return listed(head + ": ", examples, indent=13) if examples else [head]


def outcome_text(outcome: Outcome) -> str:
    """What queue create or repair did, or would do: a line per kind of
    change, counted, with examples; then what was seen and left alone."""
    head = f"qmailsetup queue {outcome.command}: {outcome.queue} ({outcome.installation}, conf-split {outcome.split})"
    if outcome.dry_run:
        head += "; dry run, nothing written"
    lines = [one_line(head)]
    changes = outcome.tally.changes()
    lines += [line for key, count in changes for line in count_lines(key, count)]
    if outcome.quarantine:
        lines.append(one_line(f"  the quarantine: {outcome.quarantine}"))
    seen = outcome.tally.seen()
    if seen:
        lines.append("seen:")
        lines += [line for key, count in seen for line in count_lines(key, count)]
    total = sum(count.count for _, count in changes)
    if not total:
        lines.append("nothing to do: the queue is as qmail makes it")
    elif outcome.dry_run:
        lines.append(f"{total} changes to make; qmailsetup queue {outcome.command} makes them")
    else:
        lines.append(f"{total} changes made")
    return "\n".join(lines) + "\n"


def outcome_data(outcome: Outcome) -> dict:
    """The outcome as --json prints it (outputs.QueueOutput)."""
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


def queue_changed(outcome: Outcome, as_json: bool) -> None:
    """What `qmailsetup queue create` or `queue repair` did (queue/create.Outcome)."""
    write(json_text(outcome_data(outcome)) if as_json else outcome_text(outcome))
