"""`qmailsetup queue check` (and `qmailsetup check`'s queue findings): each
kind of damage a queue can have, found and told, nothing written."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import cli, require_tools
from queues import made_queue, place, queue_cli, queue_message, restored
from snapshot import snapshot

pytestmark = pytest.mark.root("lays out queues with qmail's owners")


def findings(root: Path, spec: Path, code: int | None = None) -> dict[str, dict]:
    before = snapshot(root)
    result = queue_cli("check", root, spec, "--json")
    assert snapshot(root) == before, "check wrote"
    assert result.err == ""
    found = {f["id"]: f for f in json.loads(result.out)["findings"]}
    errors = any(f["severity"] == "error" for f in found.values())
    assert result.code == (3 if errors else 0)
    if code is not None:
        assert result.code == code
    return found


def severities(found: dict[str, dict]) -> dict[str, str]:
    return {id: f["severity"] for id, f in found.items()}


def test_a_queue_qmail_filled_is_ok(made):
    root, spec, _ = made
    assert severities(findings(root, spec, 0)) == {"queue.structure": "ok", "queue.owner": "ok", "queue.messages": "ok"}


def test_missing_and_extra_split_directories_and_a_wrong_type(made):
    root, spec, queue = made
    # the messages' split directories follow their inode numbers: an empty one
    empty = next(n for n in range(23) if not any((queue / "local" / str(n)).iterdir()))
    os.rmdir(queue / "local" / str(empty))
    (queue / "remote/23").mkdir()
    (queue / "lock/trigger").unlink()
    (queue / "lock/trigger").write_text("")
    found = findings(root, spec, 3)
    message = found["queue.structure"]["message"]
    assert f"1 directories missing: local/{empty}" in message
    assert "1 lock files missing" not in message
    assert "lock/trigger (a file, not a fifo)" in message
    assert "1 split directories beyond conf-split: remote/23" in message


def test_a_restored_queue_is_named_after_other_inodes_and_owned_by_dead_numbers(made, tmp_path):
    root, spec, _ = made
    copy = restored(root, tmp_path / "copy")
    found = findings(copy, spec, 3)
    assert found["queue.messages"]["message"].startswith("6 messages named after an inode that is not theirs: mess/")
    assert "qq trouble creating files in queue" in found["queue.messages"]["message"]
    assert "belong to no account" in found["queue.owner"]["message"]
    assert found["queue.owner"]["remedy"].startswith(f"stop qmail-send, then run qmailsetup queue repair --root {copy} ")


def test_every_entry_of_a_restored_queue_is_counted_once(tmp_path):
    """A restore whose owners all differ: hundreds of files alike are
    counted without an example each, and counted all the same, every entry
    once (a queued message's todo and intd entries are two)."""
    root, spec, queue = made_queue(tmp_path)
    for n in range(40):
        queue_message(queue, b"message %d" % n, ("todo", "info", "remote", "bounce")[n % 4])
    copy = restored(root, tmp_path / "copy")
    entries = 1 + sum(1 for _ in (copy / "var/qmail/queue").rglob("*"))
    message = findings(copy, spec, 3)["queue.owner"]["message"]
    assert message.startswith(f"{entries} of {entries} entries under {copy}/var/qmail/queue differ from what qmail "
                              "sets: "), message


def test_a_message_file_that_differs_otherwise_than_those_before_it_is_told(tmp_path):
    """Among message files that all differ alike (owned by a number no
    account holds), one read late also has another mode: the remedy
    check gives still puts its mode back."""
    root, spec, queue = made_queue(tmp_path)
    for n in range(40):
        queue_message(queue, b"message %d" % n, ("todo", "info", "remote", "bounce")[n % 4])
    copy = restored(root, tmp_path / "copy")
    mess = copy / "var/qmail/queue/mess"
    last = max((d for d in mess.iterdir() if any(d.iterdir())), key=lambda d: d.name)  # read last: by name
    next(last.iterdir()).chmod(0o600)
    remedy = findings(copy, spec, 3)["queue.owner"]["remedy"]
    assert f"find {mess} -type f ! -perm 0644 -exec chmod 0644 {{}} +" in remedy, remedy


def test_a_message_in_the_wrong_split_directory(made):
    root, spec, queue = made
    number = queue_message(queue, b"moved")
    os.rename(queue / f"mess/{number % 23}/{number}", queue / f"mess/{(number + 1) % 23}/{number}")
    message = findings(root, spec, 3)["queue.messages"]["message"]
    assert message.startswith(f"1 messages outside their split directory: mess/{(number + 1) % 23}/{number}")


@pytest.mark.parametrize("kind", ["info/3", "local/3", "remote/3", "bounce", "todo", "intd"])
def test_an_entry_without_its_message(made, kind):
    root, spec, queue = made
    place(queue, f"{kind}/49", b"T\0", "qmails" if kind.startswith(("info", "local", "remote", "bounce")) else "qmailq",
          0o600 if kind.startswith(("info", "local", "remote", "bounce")) else 0o644)
    found = findings(root, spec, 3)
    assert found["queue.orphans"]["message"].startswith(f"1 entries no message explains: {kind}/49 (no message 49)")
    assert found["queue.orphans"]["message"].endswith(f"a repair moves them into {queue}.quarantine")


def test_a_message_without_todo_or_info_is_unfinished_not_an_error(made):
    root, spec, queue = made
    number = queue_message(queue, b"qmail-queue died", state="unfinished")
    place(queue, "pid/1234.5678.1", b"", "qmailq", 0o644)
    found = findings(root, spec, 0)
    assert found["queue.unfinished"]["severity"] == "warning"
    assert f"mess/{number % 23}/{number}" in found["queue.unfinished"]["message"]
    assert found["queue.leftovers"]["severity"] == "info"
    assert "pid/1234.5678.1" in found["queue.leftovers"]["message"]


def test_the_one_message_of_a_queue_unfinished_is_named(tmp_path):
    """The first message file read (here the only one) is judged as every
    other: a queue whose messages are all at their place is not passed
    over while one of them has neither todo nor info."""
    root, spec, queue = made_queue(tmp_path)
    number = queue_message(queue, b"qmail-queue died", state="unfinished")
    found = findings(root, spec, 0)
    assert found["queue.unfinished"]["severity"] == "warning"
    assert f"mess/{number % 23}/{number}" in found["queue.unfinished"]["message"]


def test_two_message_files_of_one_name(made):
    root, spec, queue = made
    number = queue_message(queue, b"twice")
    shutil.copy2(queue / f"mess/{number % 23}/{number}", queue / f"mess/{(number + 2) % 23}/{number}")
    message = findings(root, spec, 3)["queue.orphans"]["message"]
    assert message.startswith(f"4 entries no message explains: todo/{number} (two message files are named {number}), "
                              f"intd/{number} (two message files are named {number}), ")
    assert f"mess/{number % 23}/{number} (two message files are named {number})" in message
    assert f"mess/{(number + 2) % 23}/{number} (two message files are named {number})" in message


def test_names_that_are_no_numbers_and_links(made):
    root, spec, queue = made
    place(queue, "mess/0/0123", b"", "qmailq", 0o644)
    (queue / "info/0/notes.txt").write_text("")
    os.symlink("/etc/passwd", queue / "remote/1/77")
    message = findings(root, spec, 3)["queue.orphans"]["message"]
    assert "mess/0/0123 (not a message's name)" in message
    assert "info/0/notes.txt (not a message's name)" in message
    assert "remote/1/77 (a symlink, not a file)" in message


def test_an_interrupted_repair_and_a_quarantine(made):
    root, spec, queue = made
    os.rename(queue / "lock/sendmutex", queue / "lock/sendmutex.qmailsetup")
    (root / "var/qmail/queue.quarantine/20250101T000000Z.1").mkdir(parents=True)
    (queue / "notes").write_text("")
    found = findings(root, spec, 3)
    assert found["queue.repair"]["message"].startswith("a queue repair was interrupted: qmail-send cannot start")
    assert found["queue.quarantine"]["message"] == (
        f"{queue}.quarantine holds what 1 repair(s) could not explain (20250101T000000Z.1)")
    assert found["queue.unknown"]["message"].startswith("1 names that are not qmail's: notes")
    assert found["queue.structure"]["severity"] == "ok"


def test_qmailsetup_check_tells_the_same(made, tmp_path):
    root, spec, _ = made
    copy = restored(root, tmp_path / "copy", shift=0)
    result = cli("check", "--json", "--root", copy, "--spec", spec, "--platform", "linux")
    found = {f["id"]: f for f in json.loads(result.out)["findings"]}
    assert found["queue.messages"]["severity"] == "error"
    assert found["queue.owner"]["severity"] == "ok"
    text = queue_cli("check", copy, spec)
    assert text.code == 3 and "error   queue.messages: 6 messages named after an inode" in text.out


def test_a_queue_another_user_cannot_read_is_a_warning_to_run_as_root():
    """As qmailsetup check run by a monitoring agent sees it: not an error
    in the queue ("make it a directory"), but a run without root."""
    require_tools("setpriv")
    with tempfile.TemporaryDirectory(prefix="qmailsetup-queue-") as place:
        os.chmod(place, 0o755)
        root, spec, _ = made_queue(Path(place))
        spec.chmod(0o644)
        result = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m",
                                 "qmailsetup", "queue", "check", "--root", str(root), "--spec", str(spec),
                                 "--platform", "linux", "--json"], capture_output=True, text=True)
    [finding] = json.loads(result.stdout)["findings"]
    assert (finding["severity"], finding["remedy"]) == ("warning", "run qmailsetup check as root"), finding
    assert finding["message"] == f"cannot read the queue: {root}/var/qmail/queue: Permission denied"
