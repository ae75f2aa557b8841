"""A queue that a process with qmail's IDs laid out against root: hard
links to files outside the queue (which the BSDs let anyone make, and
Linux without fs.protected_hardlinks), lock files of another type. A
repair never changes a file it did not find to be the queue's own: it
keeps it in the quarantine, or refuses; create refuses."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from qmailsetup.queue.survey import Survey
from queues import IDS, contents, queue_cli
from snapshot import snapshot

pytestmark = pytest.mark.root("lays out queues with qmail's owners")


def state(path: Path) -> tuple:
    info = path.lstat()
    return info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode), path.read_bytes()


def kept(outcome: dict) -> list[str]:
    run = Path(outcome["quarantine"])
    return sorted(str(p.relative_to(run)) for p in run.rglob("*") if not p.is_dir())


def counts(outcome: dict) -> dict[str, int]:
    return {c["action"]: c["count"] for c in outcome["changes"]}


def test_a_file_of_another_user_linked_into_the_queue_is_kept_never_chowned(made):
    root, spec, queue = made
    held = contents(queue)
    home = root / "home/alice"
    home.mkdir(parents=True)
    secrets = []
    for name in ("key", "mail"):
        secret = home / name
        secret.write_bytes(b"alice's " + name.encode())
        os.chown(secret, 1000, 1000)
        secret.chmod(0o600)
        secrets.append(secret)
    number = secrets[0].stat().st_ino  # named as qmail-queue names a message file
    os.link(secrets[0], queue / f"mess/{number % 23}/{number}")
    info = next(queue.glob("info/*/*"))
    info.rename(queue / "saved-info")
    os.link(secrets[1], info)
    before = [state(s) for s in secrets]
    result = queue_cli("repair", root, spec, "--json")
    assert result.code == 0, result.err
    assert [state(s) for s in secrets] == before
    assert kept(json.loads(result.out)) == sorted([f"mess/{number % 23}/{number}", str(info.relative_to(queue))])
    (queue / "saved-info").rename(info)
    assert contents(queue) == held


@pytest.mark.parametrize("name", ["tcpto", "trigger"])
def test_a_lock_file_linked_to_a_file_outside_is_refused_by_create_and_kept_by_repair(made, name):
    root, spec, queue = made
    outside = root / "etc/shadow"
    if name == "trigger":  # a FIFO of the system's, root's
        outside = root / "etc/initctl"
        os.mkfifo(outside, 0o600)
    before = outside.lstat()
    (queue / "lock" / name).unlink()
    os.link(outside, queue / "lock" / name)
    tree = snapshot(root)
    refused = queue_cli("create", root, spec)
    assert refused.code == 3 and "nothing written" in refused.err
    assert f"lock/{name} (" in refused.err and "another name" in refused.err
    assert snapshot(root) == tree
    result = queue_cli("repair", root, spec, "--json")
    assert result.code == 0, result.err
    after = outside.lstat()
    assert (after.st_uid, after.st_gid, after.st_mode, after.st_size) == (
        before.st_uid, before.st_gid, before.st_mode, before.st_size)
    assert kept(json.loads(result.out)) == [f"lock/{name}"]
    made_again = (queue / "lock" / name).lstat()
    assert made_again.st_nlink == 1 and made_again.st_uid == IDS["qmailr" if name == "tcpto" else "qmails"]


@pytest.mark.parametrize("name", ["sendmutex", "sendmutex.qmailsetup"])
@pytest.mark.parametrize("dry_run", [False, True])
def test_a_lock_file_linked_to_a_file_outside_is_never_truncated(made, name, dry_run):
    """A repair empties and chowns the lock file it gives back: through a
    link, it would empty /etc/shadow."""
    root, spec, queue = made
    shadow = root / "etc/shadow"
    before = state(shadow)
    if name == "sendmutex":
        (queue / "lock/sendmutex").unlink()
    os.link(shadow, queue / "lock" / name)
    tree = snapshot(root)
    result = queue_cli("repair", root, spec, *(["--dry-run"] if dry_run else []))
    assert (result.code, result.err) == (3, f"qmailsetup: lock/{name} has another name elsewhere (2 links): a repair "
                                            "empties and chowns the lock file, and would change that file too; "
                                            "nothing written. Remove it (qmailsetup queue repair makes it again)\n")
    assert snapshot(root) == tree and state(shadow) == before


TYPES = {"directory": stat.S_IFDIR, "fifo": stat.S_IFIFO, "device": stat.S_IFCHR}


@pytest.mark.parametrize("kind", TYPES)
def test_a_lock_file_of_another_type_is_kept_and_qmail_send_cannot_start_meanwhile(made, monkeypatch, kind):
    root, spec, queue = made
    held = contents(queue)
    mutex = queue / "lock/sendmutex"
    mutex.unlink()
    if kind == "directory":
        mutex.mkdir()
    elif kind == "fifo":
        os.mkfifo(mutex, 0o600)
    else:
        os.mknod(mutex, 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    during = []
    walk = Survey.walk_messages

    def looking(survey, *args, **options):
        if not survey.act:
            return walk(survey, *args, **options)
        during.append(sorted(os.listdir(queue / "lock")))
        marker = (queue / "lock/sendmutex.qmailsetup").lstat()  # the repair's own: root's alone until given back
        during.append((marker.st_uid, stat.S_IMODE(marker.st_mode)))
        return walk(survey, *args, **options)

    monkeypatch.setattr(Survey, "walk_messages", looking)
    planned = queue_cli("repair", root, spec, "--json", "--dry-run")
    result = queue_cli("repair", root, spec, "--json")
    assert result.code == 0, result.err
    outcome = json.loads(result.out)
    assert counts(outcome) == counts(json.loads(planned.out))
    assert counts(outcome)["mkfile"] == 1
    assert during[-2] == ["sendmutex.qmailsetup", "tcpto", "trigger"], "qmail-send could start meanwhile"
    assert during[-1] == (0, 0o600)
    assert stat.S_IFMT((Path(outcome["quarantine"]) / "lock/sendmutex").lstat().st_mode) == TYPES[kind]
    assert mutex.is_file() and contents(queue) == held


def test_the_dry_run_counts_no_change_to_what_goes_into_the_quarantine(made):
    root, spec, queue = made
    stray = queue / "info/4/notes"
    stray.write_text("not qmail's")  # root's 0644: as qmail-send's, its owner and mode would change
    planned = json.loads(queue_cli("repair", root, spec, "--json", "--dry-run").out)
    done = json.loads(queue_cli("repair", root, spec, "--json").out)
    assert counts(planned) == counts(done) == {"quarantine": 1}


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_lock_file_that_is_a_symlink_is_refused_never_followed(made, dry_run):
    """qmail-send locks what lock/sendmutex leads to, which a repair cannot
    judge: refused (exit 3, nothing written), the file it leads to never
    opened, emptied nor chowned."""
    root, spec, queue = made
    shadow = root / "etc/shadow"
    before = state(shadow)
    (queue / "lock/sendmutex").unlink()
    os.symlink(shadow, queue / "lock/sendmutex")
    tree = snapshot(root)
    result = queue_cli("repair", root, spec, *(["--dry-run"] if dry_run else []))
    assert (result.code, result.err) == (3, "qmailsetup: lock/sendmutex is a symlink: qmail-send locks what it leads "
                                            "to, which a repair cannot judge; nothing written. Make it a file, as "
                                            "qmail's installer does\n")
    assert snapshot(root) == tree and state(shadow) == before
