"""`qmailsetup queue repair`: a queue restored to new inodes and other
owners made right, message by message; each kind of damage repaired,
what no message explains kept in the quarantine, never deleted; nothing
written while qmail-send holds its lock; the dry run writes nothing and
plans what the repair does."""

from __future__ import annotations

import fcntl
import itertools
import json
import os
import re
import resource
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from namespace import private_mounts
from qmailsetup.queue import lock
from qmailsetup.queue.moves import Moves
from queues import IDS, INFO, contents, made_queue, place, queue_cli, queue_message, queue_root, restored, some_messages
from snapshot import snapshot

pytestmark = pytest.mark.root("lays out queues with qmail's owners")


def repair(root: Path, spec: Path, *options: str) -> dict:
    result = queue_cli("repair", root, spec, "--json", *options)
    assert result.code == 0, result.err
    return json.loads(result.out)


def counts(outcome: dict) -> dict[str, int]:
    return {c["action"]: c["count"] for c in outcome["changes"]} | {s["what"]: s["count"] for s in outcome["seen"]}


def checks_clean(root: Path, spec: Path) -> None:
    result = queue_cli("check", root, spec, "--json")
    found = {f["id"]: f["severity"] for f in json.loads(result.out)["findings"]}
    assert result.code == 0 and all(s != "error" for s in found.values()), result.out


def test_a_restored_queue_with_other_owners_is_made_right(made, tmp_path):
    root, spec, queue = made
    held = contents(queue)
    copy = restored(root, tmp_path / "copy")
    outcome = repair(copy, spec)
    assert counts(outcome)["misnamed"] == 6
    assert outcome["quarantine"] is None
    assert contents(copy / "var/qmail/queue") == held
    checks_clean(copy, spec)
    mutex = (copy / "var/qmail/queue/lock/sendmutex").lstat()
    assert (mutex.st_uid, stat.S_IMODE(mutex.st_mode), mutex.st_size) == (IDS["qmails"], 0o600, 0)
    assert not (copy / "var/qmail/queue/lock/sendmutex.qmailsetup").exists()
    assert repair(copy, spec)["in_sync"]


def test_the_dry_run_writes_nothing_and_plans_what_the_repair_does(made, tmp_path):
    root, spec, _ = made
    copy = restored(root, tmp_path / "copy", shift=0)
    place(copy / "var/qmail/queue", "info/3/49", b"F\0", "qmails", 0o600)
    before = snapshot(copy)
    planned = repair(copy, spec, "--dry-run")
    assert snapshot(copy) == before
    assert planned["dry_run"] and not planned["in_sync"]
    done = repair(copy, spec)
    assert counts(planned) == counts(done)
    assert counts(done)["rename"] == 6 + 15  # the message files, and their 15 entries
    [example] = next(c for c in done["changes"] if c["action"] == "quarantine")["examples"]
    assert example == "info/3/49 (no message 49)"


def test_the_dry_run_counts_the_owners_a_repair_changes(made, tmp_path):
    """A queued message's intd and todo entries are one file (qmail-queue
    links the one to the other): its owner is changed once, and counted
    once, in the plan too."""
    root, spec, _ = made
    copy = restored(root, tmp_path / "copy")
    planned, done = repair(copy, spec, "--dry-run"), repair(copy, spec)
    assert counts(planned) == counts(done)
    queue = copy / "var/qmail/queue"
    assert counts(done)["chown"] == len({p.lstat().st_ino for p in [queue, *queue.rglob("*")]})  # each file once


def swap(queue: Path, one: int, other: int) -> None:
    """Give the messages ONE and OTHER each other's number, every entry
    (what a restore of two messages onto each other's inodes looks like)."""
    for path in sorted(queue.rglob("*")):
        if path.name in (str(one), str(other)) and path.is_file():
            path.rename(path.with_name(f"{path.name}.swap"))
    for path in sorted(queue.rglob("*.swap")):
        name = str(other) if path.name == f"{one}.swap" else str(one)
        folder = path.parent if path.parent.parent == queue else path.parent.parent / str(int(name) % 23)
        path.rename(folder / name)


def test_messages_holding_each_others_names(made):
    root, spec, queue = made
    held = contents(queue)
    one, other, third = (queue_message(queue, b"message %d" % n, "info") for n in range(3))
    held = contents(queue)
    swap(queue, one, other)
    swap(queue, other, third)  # one -> third's name, third -> other's, other -> one's
    outcome = repair(root, spec)
    assert counts(outcome)["misnamed"] == 3
    assert contents(queue) == held
    checks_clean(root, spec)


def test_queued_messages_holding_each_others_names(made):
    """Eight queued messages (todo and intd, which are not split) each
    named as the next: every entry takes its staged name first, beside
    the entries of the messages at their place, then its own."""
    root, spec, queue = made
    numbers = [queue_message(queue, b"queued %d" % n, "todo") for n in range(14)]
    held = contents(queue)
    for one, other in itertools.pairwise(numbers[:8]):
        swap(queue, one, other)
    outcome = repair(root, spec)
    assert counts(outcome)["misnamed"] == 8
    assert contents(queue) == held
    assert not [p for p in queue.rglob("*.qmailsetup") if p.parent.name != "lock"]
    checks_clean(root, spec)


def test_what_no_message_explains_goes_into_the_quarantine(made):
    root, spec, queue = made
    held = contents(queue)
    place(queue, "remote/6/49", b"Tsomeone@example.org\0", "qmails", 0o600)
    place(queue, "todo/50", b"u0\0", "qmailq", 0o644)
    (queue / "mess/2/readme").write_text("hello")
    outcome = repair(root, spec)
    kept = Path(outcome["quarantine"])
    assert kept.parent == root / "var/qmail/queue.quarantine"
    assert sorted(str(p.relative_to(kept)) for p in kept.rglob("*") if p.is_file()) == [
        "mess/2/readme", "remote/6/49", "todo/50"]
    assert (kept / "remote/6/49").read_bytes() == b"Tsomeone@example.org\0"
    for directory in (kept.parent, kept, kept / "remote"):
        info = directory.lstat()
        assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (0, 0o700)
    assert contents(queue) == held
    checks_clean(root, spec)


def test_a_queue_from_a_larger_split(tmp_path):
    root, spec, queue = made_queue(tmp_path, split=29)
    numbers = some_messages(queue, count=12, split=29)
    held = contents(queue, split=29)
    spec.write_text(spec.read_text().replace("split = 29", "split = 23"))
    outcome = repair(root, spec)
    assert counts(outcome)["rmdir"] == 4 * 6  # mess, info, local, remote: 23 to 28
    assert counts(outcome)["misplaced"] == sum(1 for n in numbers if n % 29 != n % 23)
    assert contents(queue) == held
    assert sorted(int(p.name) for p in (queue / "mess").iterdir()) == list(range(23))
    checks_clean(root, spec)


def test_a_split_directory_beyond_conf_split_that_is_not_empty_stays_and_the_others_go(tmp_path, monkeypatch):
    """Something appears in mess/23 as the repair ends (say a message qmail-queue
    of the old conf-split wrote meanwhile): that directory stays, never
    emptied, and every other beyond conf-split is still removed."""
    root, spec, queue = made_queue(tmp_path, split=29)
    some_messages(queue, count=12, split=29)
    spec.write_text(spec.read_text().replace("split = 29", "split = 23"))
    tidy = Moves.tidy

    def written_meanwhile(self):
        (queue / "mess/23/meanwhile").write_bytes(b"late")
        tidy(self)

    monkeypatch.setattr(Moves, "tidy", written_meanwhile)
    outcome = repair(root, spec)
    assert counts(outcome)["rmdir"] == 4 * 6 - 1
    assert next(c for c in outcome["changes"] if c["action"] == "rmdir")["examples"] == [
        f"mess/{n}" for n in range(24, 29)]
    assert sorted(int(p.name) for p in (queue / "mess").iterdir()) == list(range(24))
    assert (queue / "mess/23/meanwhile").read_bytes() == b"late"
    for kind in ("info", "local", "remote"):
        assert sorted(int(p.name) for p in (queue / kind).iterdir()) == list(range(23))


def test_unfinished_messages_left_where_qmail_put_them_kept_where_they_came_from_elsewhere(made, tmp_path):
    root, spec, queue = made
    left = queue_message(queue, b"qmail-queue died", "unfinished")
    place(queue, "pid/123.456.7", b"", "qmailq", 0o644)
    copy = restored(root, tmp_path / "copy", shift=0)
    copied = copy / "var/qmail/queue"
    kept = repair(copy, spec)
    examples = next(c for c in kept["changes"] if c["action"] == "quarantine")["examples"]
    assert examples == [f"intd/{left} (message {left} has neither todo nor info)",
                        f"mess/{left % 23}/{left} (message {left} has neither todo nor info, and came from another "
                        "file system)"]
    assert (copied / "pid/123.456.7").exists()
    number = queue_message(copied, b"queued meanwhile", "unfinished")
    outcome = repair(copy, spec)
    assert outcome["in_sync"] and counts(outcome)["unfinished"] == 1
    assert (copied / f"mess/{number % 23}/{number}").exists() and (copied / f"intd/{number}").exists()


def test_two_message_files_of_one_name_are_kept_together(made):
    root, spec, queue = made
    number = queue_message(queue, b"twice")
    shutil.copy2(queue / f"mess/{number % 23}/{number}", queue / f"mess/{(number + 2) % 23}/{number}")
    outcome = repair(root, spec)
    kept = Path(outcome["quarantine"])
    assert sorted(str(p.relative_to(kept)) for p in kept.rglob("*") if p.is_file()) == sorted(
        [f"todo/{number}", f"intd/{number}", f"mess/{number % 23}/{number}", f"mess/{(number + 2) % 23}/{number}"])
    checks_clean(root, spec)


def test_a_second_name_of_a_message_file_is_let_go(made):
    """What a repair killed between link and unlink leaves of a message
    outside its split directory: one file, two names."""
    root, spec, queue = made
    held = contents(queue)
    number = next(iter(int(p.name) for p in (queue / "mess").glob("*/*")))
    os.link(queue / f"mess/{number % 23}/{number}", queue / f"mess/{(number + 2) % 23}/{number}")
    outcome = repair(root, spec)
    assert counts(outcome)["finish"] == 1 and outcome["quarantine"] is None
    assert contents(queue) == held
    checks_clean(root, spec)


def test_the_structure_made_again(made):
    root, spec, queue = made
    held = contents(queue)
    empty = [n for n in range(23) if not [*(queue / f"info/{n}").iterdir(), *(queue / f"local/{n}").iterdir()]][:2]
    os.rmdir(queue / f"local/{empty[0]}")
    (queue / "lock/trigger").unlink()
    (queue / "lock/tcpto").unlink()
    os.rmdir(queue / f"info/{empty[1]}")
    (queue / f"info/{empty[1]}").write_text("a file where a directory belongs")
    outcome = repair(root, spec)
    assert counts(outcome)["mkdir"] == 2 and counts(outcome)["mkfifo"] == 1 and counts(outcome)["mkfile"] == 1
    assert (Path(outcome["quarantine"]) / f"info/{empty[1]}").read_text() == "a file where a directory belongs"
    assert (queue / "lock/tcpto").read_bytes() == bytes(1024)
    assert contents(queue) == held
    checks_clean(root, spec)


def test_links_are_moved_never_followed(made, tmp_path):
    root, spec, queue = made
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("root's")
    (outside / "secret").chmod(0o600)
    os.symlink(outside / "secret", queue / "info/3/49")
    [empty] = [n for n in range(23) if not [*(queue / f"mess/{n}").iterdir()]][:1]
    os.rmdir(queue / f"mess/{empty}")
    os.symlink(outside, queue / f"mess/{empty}")
    before = snapshot(outside)
    outcome = repair(root, spec)
    assert snapshot(outside) == before
    kept = Path(outcome["quarantine"])
    assert (kept / "info/3/49").is_symlink() and (kept / f"mess/{empty}").is_symlink()
    assert (queue / f"mess/{empty}").is_dir() and not (queue / f"mess/{empty}").is_symlink()
    checks_clean(root, spec)


def repair_while_held(lock_file: Path, root: Path, spec: Path, dry_run: bool):
    """queue repair (or its dry run) while LOCK_FILE is locked as qmail-send's
    lock_exnb locks it: flock, on its own open file."""
    held = os.open(lock_file, os.O_WRONLY)
    fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        return queue_cli("repair", root, spec, *(["--dry-run"] if dry_run else []))
    finally:
        os.close(held)


@pytest.mark.parametrize("dry_run", [False, True])
def test_nothing_written_while_qmail_send_holds_its_lock(made, tmp_path, dry_run):
    root, spec, _ = made
    copy = restored(root, tmp_path / "copy")
    before = snapshot(copy)
    result = repair_while_held(copy / "var/qmail/queue/lock/sendmutex", copy, spec, dry_run)
    assert (result.code, result.err) == (6, f"qmailsetup: qmail-send is running: it holds the lock on "
                                            f"{copy}/var/qmail/queue/lock/sendmutex; nothing written. Stop qmail-send "
                                            "first (svc -d /service/qmail-send, or the init system's way)\n")
    assert snapshot(copy) == before


@pytest.mark.parametrize("dry_run", [False, True])
def test_nothing_written_while_another_repair_holds_its_marker(made, tmp_path, dry_run):
    """A repair runs (lock/sendmutex renamed to its marker, locked): a
    second one, or its dry run, stops at once, naming the other repair."""
    root, spec, _ = made
    copy = restored(root, tmp_path / "copy")
    lock_dir = copy / "var/qmail/queue/lock"
    (lock_dir / "sendmutex").rename(lock_dir / "sendmutex.qmailsetup")
    before = snapshot(copy)
    result = repair_while_held(lock_dir / "sendmutex.qmailsetup", copy, spec, dry_run)
    # not told to stop qmail-send, which cannot run meanwhile
    assert (result.code, result.err) == (6, f"qmailsetup: another qmailsetup queue repair is running: it holds the "
                                            f"lock on {lock_dir}/sendmutex.qmailsetup; nothing written. Let it "
                                            "finish, then rerun\n")
    assert snapshot(copy) == before


def test_a_repair_started_beside_another_on_a_queue_without_sendmutex_exits_6(made, mocker):
    """No lock/sendmutex: each repair makes its own marker, O_EXCL. One that
    finds the other's made between its look and its make stops as when the
    lock is held, nothing written (it was Python's [Errno 17], exit 1)."""
    root, spec, queue = made
    (queue / "lock/sendmutex").unlink()
    looked = lock.open_lockable
    after_the_other = {}

    def the_other_repair_meanwhile(name, lock_fd):
        found = looked(name, lock_fd)
        if name == lock.SENDMUTEX:
            (queue / "lock" / lock.REPAIRING).touch(mode=0o600, exist_ok=False)
            after_the_other["snapshot"] = snapshot(root)
        return found

    mocker.patch("qmailsetup.queue.lock.open_lockable", side_effect=the_other_repair_meanwhile)
    result = queue_cli("repair", root, spec)
    assert (result.code, result.err) == (6, f"qmailsetup: another qmailsetup queue repair is running: it made "
                                            f"{queue}/lock/{lock.REPAIRING} meanwhile; nothing written\n")
    assert snapshot(root) == after_the_other["snapshot"]


def test_no_queue_is_refused(tmp_path):
    root, spec = queue_root(tmp_path)
    result = queue_cli("repair", root, spec)
    assert result.code == 3 and "qmailsetup queue create makes it" in result.err


def test_the_text_report_counts_each_change_with_examples(made, tmp_path):
    root, spec, _ = made
    copy = restored(root, tmp_path / "copy")
    result = queue_cli("repair", copy, spec, "--dry-run")
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0] == f"qmailsetup queue repair: {copy}/var/qmail/queue (netqmail, conf-split 23); dry run, nothing written"
    assert lines[1].startswith("  chown      ")
    rename = next(i for i, line in enumerate(lines) if line.startswith("  rename "))
    assert lines[rename].startswith("  rename     21 entries, each to its message's inode: ")
    # the examples go on under the column after the kind, as wide as check's lines
    assert re.match(r" {13}[a-z]+/\d+", lines[rename + 1]), result.out
    assert max(len(line) for line in lines[1:]) <= 100, result.out
    assert lines[-1].endswith("changes to make; qmailsetup queue repair makes them")


def test_the_lock_directory_made_again_with_its_files(made):
    root, spec, queue = made
    held = contents(queue)
    shutil.rmtree(queue / "lock")
    outcome = repair(root, spec)
    assert counts(outcome)["mkdir"] == 1 and counts(outcome)["mkfile"] == 2 and counts(outcome)["mkfifo"] == 1
    assert sorted(p.name for p in (queue / "lock").iterdir()) == ["sendmutex", "tcpto", "trigger"]
    assert contents(queue) == held
    checks_clean(root, spec)


@pytest.mark.slow
def test_a_thousand_split_directories(tmp_path):
    root, spec, queue = made_queue(tmp_path, split=1000)
    some_messages(queue, count=8, split=1000)
    held = contents(queue, split=1000)
    copy = restored(root, tmp_path / "copy")
    assert counts(repair(copy, spec))["misnamed"] == 8
    assert contents(copy / "var/qmail/queue", split=1000) == held


def test_the_quarantine_is_inside_a_queue_that_is_a_file_system_of_its_own(made, privileged):
    root, spec, queue = made
    saved = root / "var/qmail/saved"
    os.rename(queue, saved)
    queue.mkdir()
    with private_mounts():
        subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0750", "tmpfs", str(queue)], check=True)
        subprocess.run(f"tar -C '{saved}' -cf - . | tar -C '{queue}' -xpf -", shell=True, check=True)
        place(queue, "info/3/49", b"F\0", "qmails", 0o600)
        outcome = repair(root, spec)
        kept = Path(outcome["quarantine"])
        assert kept.parent == queue / "quarantine" and (kept / "info/3/49").read_bytes() == b"F\0"
        found = {f["id"]: f for f in json.loads(queue_cli("check", root, spec, "--json").out)["findings"]}
        assert found["queue.quarantine"]["severity"] == "warning" and "queue.unknown" not in found
        assert found["queue.messages"]["severity"] == "ok"


def limited(soft: int, hard: int):
    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.slow
def test_the_limit_of_open_files_is_raised_or_named_before_anything_is_written(tmp_path):
    root, spec, queue = made_queue(tmp_path, split=100)
    some_messages(queue, count=4, split=100)
    copy = restored(root, tmp_path / "copy")
    argv = [sys.executable, "-m", "qmailsetup", "queue", "repair", "--root", str(copy), "--spec", str(spec),
            "--platform", "linux"]
    before = snapshot(copy)
    refused = subprocess.run(argv, capture_output=True, text=True, preexec_fn=limited(200, 200))
    assert refused.returncode == 1
    assert refused.stderr == ("qmailsetup: the queue's 424 directories need 488 open files, and the limit is 200 "
                              "(ulimit -Hn): raise it\n")
    assert snapshot(copy) == before
    raised = subprocess.run(argv, capture_output=True, text=True, preexec_fn=limited(200, 4096))
    assert raised.returncode == 0, raised.stderr
    assert contents(copy / "var/qmail/queue", split=100)


def test_a_file_root_owns_with_another_name_is_never_chowned(made, tmp_path):
    """A process with qmail's IDs could link any file into the queue where
    the system lets it (the BSDs do): root's file is kept, never chowned."""
    root, spec, queue = made
    outside = tmp_path / "master.passwd"
    outside.write_text("root:...")
    outside.chmod(0o600)
    remote = next(queue.glob("remote/*/*"))
    remote.unlink()
    os.link(outside, remote)
    outcome = repair(root, spec)
    info = outside.stat()
    assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (0, 0o600)
    assert f"{remote.relative_to(queue)} (root's, with another name elsewhere)" in next(
        c for c in outcome["changes"] if c["action"] == "quarantine")["examples"]


def test_the_split_directories_a_larger_conf_split_left_are_counted_before_the_lock(tmp_path):
    """A queue from a host of conf-split 60 on one of 23: its 4 x 37 split
    directories beyond 23 are held open too, and the limit of open files
    is raised for them, or named before anything is written."""
    root, spec, queue = made_queue(tmp_path, split=60)
    some_messages(queue, count=6, split=60)
    held = contents(queue, split=60)
    spec.write_text(spec.read_text().replace("split = 60", "split = 23"))
    argv = [sys.executable, "-m", "qmailsetup", "queue", "repair", "--root", str(root), "--spec", str(spec),
            "--platform", "linux"]
    before = snapshot(root)
    refused = subprocess.run(argv, capture_output=True, text=True, preexec_fn=limited(200, 200))
    assert refused.returncode == 1 and refused.stderr.startswith("qmailsetup: the queue's "), refused.stderr
    assert refused.stderr.endswith("open files, and the limit is 200 (ulimit -Hn): raise it\n")
    assert snapshot(root) == before
    checked = subprocess.run(argv[:4] + ["check"] + argv[5:], capture_output=True, text=True,
                             preexec_fn=limited(200, 4096))
    assert checked.returncode == 3 and "error   queue.structure:" in checked.stdout, checked.stdout
    raised = subprocess.run(argv, capture_output=True, text=True, preexec_fn=limited(200, 4096))
    assert raised.returncode == 0, raised.stderr
    assert contents(queue) == held


def test_a_message_kept_in_the_quarantine_takes_its_entries_at_their_place_with_it(tmp_path):
    """A message qmail-queue left unfinished (intd/I, no todo/I) on a host
    of conf-split 29, outside its split directory of 23: kept, and its
    intd entry with it, in one run."""
    root, spec, queue = made_queue(tmp_path, split=29)
    number = next(n for n in (queue_message(queue, b"left %d" % n, "unfinished", split=29) for n in range(40))
                  if n % 29 != n % 23)
    spec.write_text(spec.read_text().replace("split = 29", "split = 23"))
    outcome = repair(root, spec)
    kept = Path(outcome["quarantine"])
    assert (kept / f"mess/{number % 29}/{number}").exists() and (kept / f"intd/{number}").exists()
    checks_clean(root, spec)


def test_a_second_name_of_a_message_file_whose_name_another_holds(made):
    """Message A at its place, with a second name elsewhere; message B
    named after A's inode, beside that second name: the name is two
    message files', so A goes into the quarantine, every name of it."""
    root, spec, queue = made
    one = next(n for n in (queue_message(queue, b"one %d" % n, "remote") for n in range(10)) if n % 23 < 22)
    other = queue_message(queue, b"other", "todo")
    beside = one % 23 + 1
    os.rename(queue / f"mess/{other % 23}/{other}", queue / f"mess/{beside}/{one}")
    os.link(queue / f"mess/{one % 23}/{one}", queue / f"mess/{beside}/{one + 23 * 1000 + 1}")
    outcome = repair(root, spec)
    kept = Path(outcome["quarantine"])
    assert {(kept / f"mess/{one % 23}/{one}").stat().st_ino, (kept / f"mess/{beside}/{one + 23 * 1000 + 1}").stat().st_ino} == {one}
    checks_clean(root, spec)
    assert repair(root, spec)["in_sync"]


def test_an_interrupted_repair_resumed_where_a_second_name_of_the_message_is_another_files(made):
    """As a repair killed after step 2 leaves it: todo/I and intd/I
    renamed after the inode I of a message file that has two names, X
    (which another file holds too) and Y. The entry is the message's,
    found by its inode through the name no other file holds."""
    root, spec, queue = made
    number = queue_message(queue, b"two names", "todo")
    x, y = number + 23 * 1000 + 1, number + 23 * 2000 + 2
    os.rename(queue / f"mess/{number % 23}/{number}", queue / f"mess/{x % 23}/{x}")
    os.link(queue / f"mess/{x % 23}/{x}", queue / f"mess/{y % 23}/{y}")
    place(queue, f"mess/{(x + 3) % 23}/{x}", b"another file", "qmailq", 0o644)
    os.rename(queue / "lock/sendmutex", queue / "lock/sendmutex.qmailsetup")
    os.truncate(queue / "lock/sendmutex.qmailsetup", 1)  # no orphan left: step 2 was done
    outcome = repair(root, spec)
    assert (queue / f"mess/{number % 23}/{number}").read_bytes() == b"two names"
    assert (queue / f"todo/{number}").exists() and (queue / f"intd/{number}").exists()
    assert f"todo/{number}" not in str(outcome["changes"])
    checks_clean(root, spec)
    assert repair(root, spec)["in_sync"]


def test_an_interrupted_repairs_marker_beside_a_sendmutex_made_again(made, tmp_path):
    """A repair killed on a queue without lock/sendmutex leaves its own
    marker (root's, as it made it); qmail's installer then makes
    lock/sendmutex again. The next repair gives back that sendmutex, as it
    is (qmail's already), over the marker, and reports no change to its
    owner or mode: the changes it made are the ones its dry run planned."""
    root, spec, queue = made
    held = contents(queue)
    mutex = queue / "lock/sendmutex"
    mutex.rename(queue / "lock/sendmutex.saved")
    marker = os.open(queue / "lock/sendmutex.qmailsetup", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(marker)
    (queue / "lock/sendmutex.saved").rename(mutex)
    made_again = mutex.lstat()
    planned = repair(root, spec, "--dry-run")
    done = repair(root, spec)
    assert counts(done) == counts(planned) == {"finish": 1}
    assert [c["examples"] for c in done["changes"]] == [["lock/sendmutex"]]
    info = mutex.lstat()
    assert (info.st_ino, info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode), info.st_size) == (
        made_again.st_ino, IDS["qmails"], IDS["qmail"], 0o600, 0)
    assert sorted(p.name for p in (queue / "lock").iterdir()) == ["sendmutex", "tcpto", "trigger"]
    assert contents(queue) == held
    checks_clean(root, spec)


def test_an_orphan_named_after_a_messages_new_inode_is_kept_by_a_repair_killed_before_it_looked(made, tmp_path):
    """A repair killed before it had moved what no message explains leaves
    its marker empty. The next one cannot yet tell an entry named after
    the inode I of a message file named otherwise from an orphan that
    carries the number I: it keeps the orphan in the quarantine, never
    makes it the message's (delivered to someone it was never sent to)."""
    root, spec, _ = made
    copy = restored(root, tmp_path / "copy", shift=0)
    queue = copy / "var/qmail/queue"
    numbers = {int(p.name) for p in queue.glob("mess/*/*")}
    queued = next(p for p in queue.glob("mess/*/*") if (queue / f"todo/{p.name}").exists())
    inode = queued.stat().st_ino
    assert inode != int(queued.name) and inode not in numbers
    (queue / "lock/sendmutex").rename(queue / "lock/sendmutex.qmailsetup")  # killed before step 2 ended
    held = contents(root / "var/qmail/queue")
    place(queue, f"remote/{inode % 23}/{inode}", b"Tstranger@example.org\0", "qmails", 0o600)
    outcome = repair(copy, spec)
    assert [c["examples"] for c in outcome["changes"] if c["action"] == "quarantine"] == [
        [f"remote/{inode % 23}/{inode} (no message {inode})"]]
    assert (Path(outcome["quarantine"]) / f"remote/{inode % 23}/{inode}").read_bytes() == b"Tstranger@example.org\0"
    assert contents(queue) == held
    checks_clean(copy, spec)


class Killed(BaseException):
    """The run stops here, as if killed: no handler of the code under test catches it."""


def test_a_repair_killed_before_the_message_files_moved_leaves_each_message_its_own_entries(made, monkeypatch):
    """Two messages hold each other's names, one with info, local and
    remote, the other queued (todo and intd): no entry of the one may take
    the final name of its message while the other message file still
    holds that name (the staged name instead), or the next repair, killed
    this one after step 3, would give the other message its entries."""
    root, spec, queue = made
    one, other = queue_message(queue, b"one", "info"), queue_message(queue, b"other", "todo")
    held = contents(queue)
    swap(queue, one, other)
    with monkeypatch.context() as patched:
        patched.setattr(Moves, "move_messages", lambda self: (_ for _ in ()).throw(Killed))
        with pytest.raises(Killed):
            queue_cli("repair", root, spec)
    assert not (queue / "lock/sendmutex").exists()
    repair(root, spec)
    assert contents(queue) == held
    checks_clean(root, spec)


def test_a_message_files_staged_name_left_by_a_repair_killed_between_link_and_unlink(made):
    """Where the system has no renameat2, a repair renames by link(2),
    then unlink(2): killed between the two while giving a message file its
    staged name (another file holds the final one), it leaves the file
    with both names; the next repair lets the old one go and finishes."""
    root, spec, queue = made
    one, other = (queue_message(queue, b"message %d" % n, "info") for n in range(2))
    held = contents(queue)
    swap(queue, one, other)  # one's file is named other, and other's one
    os.link(queue / f"mess/{other % 23}/{other}", queue / f"mess/{one % 23}/{one}.qmailsetup")
    outcome = repair(root, spec)
    assert sorted(next(c for c in outcome["changes"] if c["action"] == "finish")["examples"]) == sorted(
        [f"mess/{one % 23}/{one}.qmailsetup", f"mess/{other % 23}/{other}"])
    assert contents(queue) == held
    checks_clean(root, spec)


def test_the_message_files_moved_to_their_split_directory_are_named_in_the_report(tmp_path):
    """Queued messages (todo and intd, which are not split) from a host of
    conf-split 29: only their message files move, each named with its way."""
    root, spec, queue = made_queue(tmp_path, split=29)
    numbers = [n for n in (queue_message(queue, b"queued %d" % n, "todo", split=29) for n in range(10))
               if n % 29 != n % 23]
    held = contents(queue, split=29)
    spec.write_text(spec.read_text().replace("split = 29", "split = 23"))
    outcome = repair(root, spec)
    renamed = next(c for c in outcome["changes"] if c["action"] == "rename")
    assert renamed["count"] == len(numbers) >= 5
    assert len(renamed["examples"]) == 5
    assert set(renamed["examples"]) <= {f"mess/{n % 29}/{n} -> mess/{n % 23}/{n}" for n in numbers}
    assert contents(queue) == held


def test_a_message_file_whose_new_names_are_taken_meanwhile_is_kept(made, monkeypatch):
    """A process with qmail's IDs puts files at a message file's new name
    and at its staged one while the repair runs: nothing is replaced, and
    the message goes into the quarantine, never lost nor left misnamed."""
    root, spec, queue = made
    copy_of = queue_message(queue, b"to be renamed", "info")
    number = copy_of + 23 * 1000 + 1  # named as no inode of it: to be renamed to copy_of
    for path in sorted(queue.rglob(str(copy_of))):
        path.rename(path.parent.parent / str(number % 23) / str(number) if path.parent.name.isdigit()
                    else path.with_name(str(number)))
    move = Moves.move_messages

    def planted_meanwhile(self):
        for name in (str(copy_of), f"{copy_of}.qmailsetup"):
            (queue / f"mess/{copy_of % 23}" / name).write_bytes(b"planted")
        move(self)

    monkeypatch.setattr(Moves, "move_messages", planted_meanwhile)
    outcome = repair(root, spec)
    kept = Path(outcome["quarantine"])
    assert (kept / f"mess/{number % 23}/{number}").read_bytes() == b"to be renamed"
    assert f"mess/{number % 23}/{number} (mess/{copy_of % 23}/{copy_of}.qmailsetup is another file)" in next(
        c for c in outcome["changes"] if c["action"] == "quarantine")["examples"]
    assert (queue / f"mess/{copy_of % 23}/{copy_of}").read_bytes() == b"planted"
    assert (kept / f"mess/{copy_of % 23}/{copy_of}.qmailsetup").read_bytes() == b"planted"


def test_a_second_entry_of_one_kind_for_a_message_from_a_larger_split_is_kept(tmp_path):
    """A message of a host of conf-split 29 with an info entry in its
    split directory of 29 and another in that of 23 (a copy over a copy):
    the one at its place stays, the other goes into the quarantine, never
    over it and never left under its staged name."""
    root, spec, queue = made_queue(tmp_path, split=29)
    number = next(n for n in (queue_message(queue, b"left %d" % n, "info", split=29) for n in range(40))
                  if n % 29 != n % 23)
    place(queue, f"info/{number % 23}/{number}", b"Fsomeone@example.org\0", "qmails", 0o600)
    spec.write_text(spec.read_text().replace("split = 29", "split = 23"))
    outcome = repair(root, spec)
    kept = Path(outcome["quarantine"])
    staged = f"info/{number % 23}/{number}.qmailsetup"
    assert [str(p.relative_to(kept)) for p in kept.rglob("*") if p.is_file()] == [staged]
    assert f"{staged} (info entry {number} is there already)" in next(
        c for c in outcome["changes"] if c["action"] == "quarantine")["examples"]
    assert (kept / staged).read_bytes() == INFO
    assert (queue / f"info/{number % 23}/{number}").read_bytes() == b"Fsomeone@example.org\0"
    checks_clean(root, spec)


def test_a_third_entry_of_one_kind_for_a_message_from_a_larger_split_is_kept_at_its_place(tmp_path):
    """As above, and the entry's staged name taken too (a third copy):
    the entry that cannot be moved is kept, under the path it had."""
    root, spec, queue = made_queue(tmp_path, split=29)
    number = next(n for n in (queue_message(queue, b"left %d" % n, "info", split=29) for n in range(40))
                  if n % 29 != n % 23)
    place(queue, f"info/{number % 23}/{number}", b"Fsomeone@example.org\0", "qmails", 0o600)
    place(queue, f"info/{number % 23}/{number}.qmailsetup", b"Fsomeone.else@example.org\0", "qmails", 0o600)
    spec.write_text(spec.read_text().replace("split = 29", "split = 23"))
    outcome = repair(root, spec)
    kept = Path(outcome["quarantine"])
    assert sorted(str(p.relative_to(kept)) for p in kept.rglob("*") if p.is_file()) == sorted(
        [f"info/{number % 29}/{number}", f"info/{number % 23}/{number}.qmailsetup"])
    assert f"info/{number % 29}/{number} (a second info entry for message {number})" in next(
        c for c in outcome["changes"] if c["action"] == "quarantine")["examples"]
    assert (kept / f"info/{number % 29}/{number}").read_bytes() == INFO
    checks_clean(root, spec)


def test_a_message_files_staged_name_left_beside_its_final_one(made):
    """A repair killed between link(2) and unlink(2) as it gave a staged
    message file its final name: the staged name is let go, the final
    one kept, and that is the one change counted."""
    root, spec, queue = made
    held = contents(queue)
    number = next(iter(int(p.name) for p in (queue / "mess").glob("*/*")))
    os.link(queue / f"mess/{number % 23}/{number}", queue / f"mess/{number % 23}/{number}.qmailsetup")
    outcome = repair(root, spec)
    assert outcome["changes"] == [{"action": "finish", "count": 1, "examples": [f"mess/{number % 23}/{number}.qmailsetup"]}]
    assert contents(queue) == held
    assert not (queue / f"mess/{number % 23}/{number}.qmailsetup").exists()
    checks_clean(root, spec)


def test_a_third_todo_entry_of_a_message_resumed_is_kept_at_its_place(made, tmp_path):
    """todo/ is not split: an entry of it that can take neither its new
    name nor its staged one (both held, as a resumed repair may find
    them) is kept under the path it had, todo/NAME."""
    root, spec, _ = made
    copy = restored(root, tmp_path / "copy", shift=0)
    queue = copy / "var/qmail/queue"
    queued = next(p for p in queue.glob("mess/*/*") if (queue / f"todo/{p.name}").exists())
    name, inode = queued.name, queued.stat().st_ino
    for held_name in (str(inode), f"{inode}.qmailsetup"):
        place(queue, f"todo/{held_name}", b"u0\0", "qmailq", 0o644)
    (queue / "lock/sendmutex").rename(queue / "lock/sendmutex.qmailsetup")
    os.truncate(queue / "lock/sendmutex.qmailsetup", 1)  # no orphan left: step 2 was done
    outcome = repair(copy, spec)
    kept = Path(outcome["quarantine"])
    assert (kept / f"todo/{name}").exists()
    assert f"todo/{name} (a second todo entry for message {inode})" in next(
        c for c in outcome["changes"] if c["action"] == "quarantine")["examples"]
