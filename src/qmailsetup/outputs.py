"""What --json prints, as models: the source of `qmailsetup schema json`
(schema.py). The commands build their JSON as plain dicts (commands/apply.py
plan_data, check's Finding.data); tests hold every JSON they print to
these models' schema, so a key added there must be added here."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict

from qmailsetup.check import FINDING_IDS, SEVERITIES
from qmailsetup.plan.model import Action, Kind
from qmailsetup.queue.tally import CHANGES, SEEN

# The values each may take, from their registries, for the schema; made at
# run time, so to mypy (which cannot read such a Literal) they are text.
if TYPE_CHECKING:
    FindingId: TypeAlias = str
    Severity: TypeAlias = str
    KindName: TypeAlias = str
    ActionName: TypeAlias = str
else:
    FindingId = Literal[tuple(FINDING_IDS)]
    Severity = Literal[SEVERITIES]
    KindName = Literal[tuple(kind.value for kind in Kind)]
    ActionName = Literal[tuple(action.value for action in Action)]


class Exact(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Finding(Exact):
    """One finding of `check` (check/__init__.py Finding)."""

    id: FindingId
    severity: Severity
    path: str | None
    message: str
    remedy: str | None = None


class CheckOutput(Exact):
    """`qmailsetup check --json`."""

    findings: list[Finding]


class FieldValues(Exact):
    current: str | int | None
    desired: str | int | None


class ChangeOut(Exact):
    kind: KindName
    name: str
    action: ActionName
    drift: bool
    # the fields that differ (a create: every field), current -> desired
    fields: dict[str, FieldValues]
    # the IDs the planner allocated from the system range
    allocated: list[str]
    # what the plan says of a field beside its value (--ids-from: the evidence)
    field_notes: dict[str, str]
    # the exact commands a command backend runs (none for the files backend)
    commands: list[list[str]]


class ConflictOut(Exact):
    kind: KindName
    name: str
    reason: str


class Unchanged(Exact):
    kind: KindName
    name: str


class Diff(Exact):
    path: str
    diff: str


class Applied(Exact):
    """A change done; a created account with the ID it got."""

    kind: KindName
    name: str
    action: ActionName
    uid: int | None = None
    gid: int | None = None


class ApplyOutput(Exact):
    """`qmailsetup apply --json` (a dry run, a real run, a refusal)."""

    in_sync: bool
    refused: bool
    changes: list[ChangeOut]
    conflicts: list[ConflictOut]
    warnings: list[str]
    notes: list[str]
    unchanged: list[Unchanged]
    diffs: list[Diff]
    root: str
    platform: str
    backend: str
    dry_run: bool
    # what check finds about what apply sets up (not after a refusal)
    check: list[Finding] | None = None
    # a real run: what was done, and, when it stopped, why
    applied: list[Applied] | None = None
    error: str | None = None
    # apply --dry-run --plan-out FILE: where the plan was saved
    plan_out: str | None = None


if TYPE_CHECKING:
    QueueChange: TypeAlias = str
    QueueSeen: TypeAlias = str
else:
    QueueChange = Literal[CHANGES]
    QueueSeen = Literal[SEEN]


class QueueCount(Exact):
    count: int
    # the first few (queue/tally.py EXAMPLES)
    examples: list[str]


class QueueChangeOut(QueueCount):
    action: QueueChange


class QueueSeenOut(QueueCount):
    what: QueueSeen


class QueueOutput(Exact):
    """`qmailsetup queue create --json` and `queue repair --json` (queue
    check prints check's): each kind of change counted, with examples."""

    command: Literal["create", "repair"]
    queue: str
    installation: str
    split: int
    dry_run: bool
    in_sync: bool
    changes: list[QueueChangeOut]
    seen: list[QueueSeenOut]
    # where this repair kept what it could not explain, if it kept anything
    quarantine: str | None
    messages: int


Output: TypeAlias = ApplyOutput | CheckOutput | QueueOutput
