"""`qmailsetup queue create`: the queue as the installation's installer
makes it (structure.py), for the spec's conf-split, under --root too (a
package's post-install script). Idempotent: what is there with its type is
left, its owner and mode put back as the installer would; a path of
another type is refused before anything is written; messages are never
read. A queue whose repair was interrupted is refused: making
lock/sendmutex again would let qmail-send start on a half-repaired queue."""

from __future__ import annotations

import os
from dataclasses import dataclass

from qmailsetup.errors import EXIT_OK, Refused, first_of
from qmailsetup.observe import HostState
from qmailsetup.queue.model import LOCK, REPAIRING, QueueModel, open_queue
from qmailsetup.queue.survey import Survey
from qmailsetup.queue.tally import Tally
from qmailsetup.queue.walk import open_directory


@dataclass
class Outcome:
    """What create or repair did (or, in a dry run, would do)."""

    command: str
    queue: str
    installation: str
    split: int
    dry_run: bool
    tally: Tally
    status: int = EXIT_OK
    quarantine: str | None = None
    messages: int = 0


def create_queue(model: QueueModel, host: HostState, dry_run: bool) -> Outcome:
    location = model.location
    parent = os.path.dirname(location.real)
    try:
        parent_fd = open_directory(parent)
    except (FileNotFoundError, NotADirectoryError):
        raise Refused(f"{os.path.dirname(location.shown)} is not a directory: the queue is made in it; "
                      "nothing written (qmailsetup apply makes qmail's home)") from None
    try:
        queue_fd = open_queue(model, host, writing=True)
        try:
            if queue_fd is not None:
                refuse_interrupted(queue_fd, location.shown)
            looked = Survey(model, host, queue_fd, act=False)
            try:
                looked.structure(strangers=False)
            finally:
                looked.close()
            wrong = looked.tally["wrong-type"]
            if wrong.count:
                raise Refused(f"{location.shown}: {first_of(wrong.examples)} ({wrong.count} in all); nothing written. "
                              "qmailsetup queue repair moves them into a quarantine")
            if dry_run:
                return outcome(model, looked, dry_run)
            tally = Tally()
            if queue_fd is None:
                queue_fd = make_queue(model, parent_fd, tally)
            made = Survey(model, host, queue_fd, act=True, tally=tally)
            try:
                made.structure(strangers=False)
                for fd in made.touched:
                    os.fsync(fd)
            finally:
                made.close()
            return outcome(model, made, dry_run)
        finally:
            if queue_fd is not None:
                os.close(queue_fd)
    finally:
        os.close(parent_fd)


def refuse_interrupted(queue_fd: int, shown: str) -> None:
    try:
        os.stat(f"{LOCK}/{REPAIRING}", dir_fd=queue_fd, follow_symlinks=False)
    except (FileNotFoundError, NotADirectoryError):
        return
    raise Refused(f"{shown}/{LOCK}/{REPAIRING}: a queue repair was interrupted; nothing written. "
                  "Finish it with qmailsetup queue repair (lock/sendmutex comes back as it ends)")


def make_queue(model: QueueModel, parent_fd: int, tally: Tally) -> int:
    """The queue directory itself, made as the installer makes it."""
    name = os.path.basename(model.location.real)
    expect = model.queue.expect
    os.mkdir(name, 0o700, dir_fd=parent_fd)
    fd = open_directory(name, parent_fd)
    os.fchown(fd, expect.uid, -1 if expect.gid is None else expect.gid)
    os.fchmod(fd, expect.permissions)
    os.fsync(parent_fd)
    tally.add("mkdir", ".")
    return fd


def outcome(model: QueueModel, survey: Survey, dry_run: bool) -> Outcome:
    return Outcome("create", model.location.shown, model.install.name, model.split, dry_run, survey.tally)
