"""`qmailsetup queue check`, and the queue findings of `qmailsetup check`:
the survey (survey.py), read only, told as findings.

- queue.structure: the directories and lock files the installer makes,
  missing or of another type; split directories it does not make;
- queue.owner: owners, groups and modes by role (owners.py);
- queue.messages: each message named after its inode, in its split
  directory, its entries where qmail looks for them;
- queue.orphans: entries no message explains;
- queue.unfinished, queue.leftovers: what qmail-queue left, qmail's to remove;
- queue.repair, queue.quarantine: an interrupted repair; what repairs kept;
- queue.unknown: names in the queue that are not qmail's.
"""

from __future__ import annotations

import os
from pathlib import Path

from qmailsetup.check import Finding
from qmailsetup.errors import QmailsetupError
from qmailsetup.observe import HostState
from qmailsetup.queue.model import NotReady, QueueModel, open_queue, queue_model
from qmailsetup.queue.survey import Survey
from qmailsetup.queue.tally import LABELS, Count
from qmailsetup.spec import Spec


def counted(count: Count, what: str) -> str:
    examples = ", ".join(count.examples) + (", ..." if count.count > len(count.examples) else "")
    return f"{count.count} {what}: {examples}"


def repair_command(host: HostState) -> str:
    root = "" if host.target.live else f" --root {host.target.path}"
    return (f"stop qmail-send, then run qmailsetup queue repair{root} "
            "(--dry-run shows what it would do; it refuses while qmail-send runs)")


def survey_findings(survey: Survey, model: QueueModel, host: HostState, where: str) -> list[Finding]:
    tally, shown = survey.tally, model.location.shown
    repair = repair_command(host)
    found = []

    def finding(id: str, severity: str, message: str, remedy: str | None = repair) -> None:
        found.append(Finding(id, severity, where, message, remedy))

    structure = [counted(tally[key], f"{what} missing") for key, what in
                 (("mkdir", "directories"), ("mkfile", "lock files"), ("mkfifo", "FIFOs")) if tally[key].count]
    structure += [counted(tally[key], what) for key, what in
                  (("wrong-type", "of another type than the installer makes"),
                   ("extra", "split directories beyond conf-split")) if tally[key].count]
    if structure:
        finding("queue.structure", "error", f"{shown} differs from what {model.install.name}'s installer makes "
                f"(conf-split {model.split}): " + "; ".join(structure))
    else:
        finding("queue.structure", "ok", f"the directories and lock files of {model.install.name}, conf-split {model.split}", None)
    owners = survey.owners
    if owners.wrong:
        finding("queue.owner", "error", owners.message(), f"{repair}; by hand: stop qmail (qmail-send and qmail-smtpd), "
                f"then: {owners.commands()}")
    else:
        finding("queue.owner", "ok", f"{owners.seen} entries, owners, groups and modes as qmail sets them", None)
    wrong = [counted(tally[key], LABELS[key]) for key in ("misnamed", "misplaced") if tally[key].count]
    entries = tally["rename"].count - tally["misnamed"].count - tally["misplaced"].count
    if entries:
        wrong.append(f"{entries} entries of todo, info, intd, local, remote or bounce not where qmail looks for them")
    if wrong:
        finding("queue.messages", "error", "; ".join(wrong) + " (a queue copied from another file system: a new "
                "message whose inode is an old name fails, \"qq trouble creating files in queue\", qmail-queue's "
                "trouble making link)")
    else:
        finding("queue.messages", "ok", f"{len(survey.messages)} messages, each named after its inode in its split "
                "directory, with its entries", None)
    if tally["quarantine"].count:
        finding("queue.orphans", "error", counted(tally["quarantine"], "entries no message explains") +
                f"; a repair moves them into {survey.quarantine_base}")
    if tally["unfinished"].count:
        finding("queue.unfinished", "warning", counted(tally["unfinished"], LABELS["unfinished"]) +
                "; qmail-send removes each 36 hours after it was last read", "none needed, unless they are unexpected")
    if tally["pid"].count:
        finding("queue.leftovers", "info", counted(tally["pid"], "files in pid/") + ": qmail-queue is running, or "
                "died; qmail-clean removes them 36 hours on", None)
    if survey.interrupted or tally["finish"].count:
        finding("queue.repair", "error", "a queue repair was interrupted: qmail-send cannot start until one "
                f"finishes ({tally['finish'].count} entries on their way to a new name)")
    if survey.quarantine_runs:
        finding("queue.quarantine", "warning", f"{survey.quarantine_base} holds what {len(survey.quarantine_runs)} "
                f"repair(s) could not explain ({', '.join(survey.quarantine_runs[-3:])})",
                "look at it: deliver what is wanted by hand (qmail-inject), then remove it")
    if tally["unknown"].count:
        finding("queue.unknown", "warning", counted(tally["unknown"], "names that are not qmail's") +
                ", left alone by a repair", "remove them, or move them out of the queue")
    return found


def queue_findings(spec: Spec, root: Path, host: HostState) -> list[Finding]:
    where = host.target.shown(spec.qmail.queue_path)
    try:
        model = queue_model(spec, host)
        fd = open_queue(model, host, writing=False)
    except NotReady as error:
        message = f"not checked: {error}" if error.severity == "info" else str(error)
        return [Finding("queue.owner", error.severity, where, message, error.remedy)]
    except PermissionError as error:
        return [Finding("queue.owner", "warning", where, f"cannot read the queue: {error.filename}: {error.strerror}",
                        "run qmailsetup check as root")]
    except (QmailsetupError, OSError) as error:
        return [Finding("queue.structure", "error", where, f"cannot read the queue: {error}", "make it a directory")]
    if fd is None:
        return [Finding("queue.owner", "info", where, f"{where} does not exist yet",
                        "qmail's make setup check makes it, after qmailsetup apply (or qmailsetup queue create)")]
    survey = None
    try:
        survey = Survey(model, host, fd, act=False, plan=False)
        survey.run()
    except OSError as error:
        return [Finding("queue.owner", "warning", where, f"cannot read the queue: {error.filename}: {error.strerror}",
                        "run qmailsetup check as root")]
    except QmailsetupError as error:
        return [Finding("queue.owner", "warning", where, f"cannot read the queue: {error}", None)]
    finally:
        if survey is not None:
            survey.close()
        os.close(fd)
    return survey_findings(survey, model, host, where)
