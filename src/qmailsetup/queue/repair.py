"""`qmailsetup queue repair [--dry-run]`: the queue made right again after
a restore or a migration, never while qmail-send runs (lock.py).

In order: the lock (refused, exit 6, nothing written, while qmail-send
holds it); the directories and lock files (structure.py); owners and
modes; every message renamed after its inode with all its entries, in its
split directories (survey.py); what no message explains into the
quarantine (quarantine.py); lock/sendmutex given back last. A dry run
takes the lock too, so its plan is the one a repair would carry out now,
and writes nothing. A repair that fails or is killed leaves lock/sendmutex
hidden: qmail-send cannot start until a repair finishes the job.
"""

from __future__ import annotations

import errno
import os

from qmailsetup.errors import OperationFailed, Refused
from qmailsetup.observe import HostState
from qmailsetup.queue.create import Outcome
from qmailsetup.queue.lock import SendLock
from qmailsetup.queue.model import LOCK, SENDMUTEX, QueueModel, open_queue
from qmailsetup.queue.survey import Survey
from qmailsetup.queue.surveyor import directories_to_hold
from qmailsetup.queue.walk import open_directory, room_for_directories

HIDDEN = "qmail-send cannot start until qmailsetup queue repair finishes (lock/sendmutex is hidden meanwhile)"


def open_lock(queue_fd: int) -> int | None:
    """lock/, where it is a directory; None where it is not: then no
    qmail-send runs (it opens lock/sendmutex), and the survey makes it."""
    try:
        return open_directory(LOCK, queue_fd)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as error:
        if error.errno == errno.ELOOP:  # qmail-send would follow the link
            raise Refused(f"{LOCK} is a symlink: qmail-send may be holding a lock through it; nothing written") from None
        raise


def repair_queue(model: QueueModel, host: HostState, dry_run: bool) -> Outcome:
    shown = model.location.shown
    queue_fd = open_queue(model, host, writing=True)
    if queue_fd is None:
        raise Refused(f"{shown} does not exist: qmailsetup queue create makes it; nothing written")
    act = not dry_run
    lock_fd = None
    lock = None
    survey = None
    started = False
    try:
        room_for_directories(directories_to_hold(model, queue_fd))  # before the lock: a limit is no reason to hide it
        lock_fd = open_lock(queue_fd)
        if lock_fd is not None:
            lock = SendLock(lock_fd, f"{shown}/{LOCK}", act)
            lock.take()
        started = act
        survey = Survey(model, host, queue_fd, act, holds_lock=True,
                        orphans_gone=lock is not None and lock.orphans_gone)
        survey.structure()
        if lock is None and act:  # lock/ made by the survey: no qmail-send could run without it
            lock_fd = open_lock(queue_fd)
            if lock_fd is None:
                raise OperationFailed(f"{shown}/{LOCK}: not made")
            lock = SendLock(lock_fd, f"{shown}/{LOCK}", act)
            lock.take()
        survey.walk_messages(orphans_gone=None if lock is None else lock.mark_orphans_gone)
        if lock is None or not lock.found:
            survey.tally.add("mkfile", f"{LOCK}/{SENDMUTEX}")
        elif lock.interrupted:
            survey.tally.add("finish", f"{LOCK}/{SENDMUTEX}")
        if lock is not None:
            expect = next(f.expect for f in model.fixed if f.path == f"{LOCK}/{SENDMUTEX}")
            if lock.repairing is not None and lock.found:  # hidden from the survey meanwhile; one it made is new
                info = lock.mutex_state()
                if info is not None and not expect.holds(info):
                    survey.count_fix(f"{LOCK}/{SENDMUTEX}", info, expect)
            lock.give_back(expect)
    except (OSError, KeyboardInterrupt, OperationFailed) as error:
        if not started:
            raise
        reason = "interrupted" if isinstance(error, KeyboardInterrupt) else describe(error)
        raise OperationFailed(f"queue repair failed: {reason}; {HIDDEN}; rerun it to finish") from None
    finally:
        if survey is not None:
            survey.close()
        if lock is not None:
            lock.release()
        if lock_fd is not None:
            os.close(lock_fd)
        os.close(queue_fd)
    result = Outcome("repair", shown, model.install.name, model.split, dry_run, survey.tally,
                     quarantine=survey.quarantine_path if survey.tally["quarantine"].count else None,
                     messages=len(survey.messages))
    return result


def describe(error: Exception) -> str:
    if not isinstance(error, OSError):
        return str(error)
    where = f"{error.filename}: " if error.filename else ""
    return f"{where}{error.strerror or error}"
