"""`qmailsetup queue create`: the queue exactly as qmail's installer makes
it (the listing of a real netqmail 1.06 `make setup check`), for any
conf-split, idempotent, under --root; refused, with nothing written, where
it cannot be made that way."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from queues import IDS, made_queue, queue_cli, queue_message, queue_root
from snapshot import snapshot
from trees import FIXTURES

NAMES = {7794: "qmailq", 7795: "qmailr", 7796: "qmails", 2107: "qmail"}
TYPES = {stat.S_IFDIR: "d", stat.S_IFREG: "f", stat.S_IFIFO: "p"}


pytestmark = pytest.mark.root("makes the queue with qmail's owners")


def listing(home: Path) -> list[tuple[str, str, str, str, str]]:
    """HOME's queue as the recording lists it: path owner group mode type."""
    found = []
    for path in [home / "queue", *(home / "queue").rglob("*")]:
        info = path.lstat()
        found.append((str(path.relative_to(home)), NAMES[info.st_uid], NAMES[info.st_gid],
                      f"{stat.S_IMODE(info.st_mode):04o}", TYPES[stat.S_IFMT(info.st_mode)]))
    return sorted(found)


def recorded() -> list[tuple[str, ...]]:
    """netqmail 1.06's installer's queue, less the one message recorded in it (302)."""
    lines = (FIXTURES / "queue/netqmail-1.06.txt").read_text().splitlines()
    return sorted(tuple(line.split()) for line in lines if not line.startswith("#") and not line.split()[0].endswith("/302"))


def test_the_queue_is_the_one_netqmails_installer_makes(tmp_path):
    root, _, queue = made_queue(tmp_path)
    assert listing(root / "var/qmail") == recorded()
    assert (queue / "lock/tcpto").read_bytes() == bytes(1024)
    assert (queue / "lock/sendmutex").read_bytes() == b""


def test_a_second_run_changes_nothing_and_says_so(tmp_path):
    root, spec, queue = made_queue(tmp_path)
    queue_message(queue, b"a message")
    before = snapshot(root)
    result = queue_cli("create", root, spec)
    assert result.code == 0
    assert snapshot(root) == before
    assert result.out.splitlines()[-1] == "nothing to do: the queue is as qmail makes it"


@pytest.mark.parametrize("split", [1, 7, 101])
def test_any_split(tmp_path, split):
    root, spec, queue = made_queue(tmp_path, split)
    for kind in ("mess", "info", "local", "remote"):
        assert sorted(int(p.name) for p in (queue / kind).iterdir()) == list(range(split))
    assert sorted(p.name for p in (queue / "todo").iterdir()) == []
    check = queue_cli("check", root, spec, "--json")
    assert check.code == 0, check.out


def test_the_dry_run_counts_what_it_would_make_and_writes_nothing(tmp_path):
    root, spec = queue_root(tmp_path)
    before = snapshot(root)
    result = queue_cli("create", root, spec, "--dry-run", "--json")
    assert result.code == 0, result.err
    assert snapshot(root) == before
    changes = {c["action"]: c["count"] for c in json.loads(result.out)["changes"]}
    # the queue, 9 directories, 4 x 23 split directories; tcpto and sendmutex; trigger
    assert changes == {"mkdir": 102, "mkfile": 2, "mkfifo": 1}


def test_owners_and_modes_put_back_as_the_installer_does_messages_never_touched(tmp_path):
    root, spec, queue = made_queue(tmp_path)
    number = queue_message(queue, b"a message")
    message = queue / f"mess/{number % 23}/{number}"
    message.chmod(0o600)
    (queue / "mess/4").chmod(0o777)
    os.chown(queue / "lock/tcpto", 0, 0)
    (queue / "lock/trigger").unlink()
    (queue / "mess/5/notes").write_text("not qmail's")
    (queue / "remote/23").mkdir()
    result = queue_cli("create", root, spec)
    assert result.code == 0, result.err
    assert stat.S_IMODE((queue / "mess/4").stat().st_mode) == 0o750
    assert (queue / "lock/tcpto").stat().st_uid == IDS["qmailr"]
    assert stat.S_ISFIFO((queue / "lock/trigger").lstat().st_mode)
    assert stat.S_IMODE(message.stat().st_mode) == 0o600, "create touched a message"
    assert (queue / "mess/5/notes").exists() and (queue / "remote/23").is_dir(), "create is no repair"
    assert not (root / "var/qmail/queue.quarantine").exists()


def test_a_path_of_another_type_is_refused_with_nothing_written(tmp_path):
    root, spec, queue = made_queue(tmp_path)
    os.rmdir(queue / "info/4")
    (queue / "info/4").write_text("not a directory")
    (queue / "mess/7").chmod(0o777)
    before = snapshot(root)
    result = queue_cli("create", root, spec)
    assert result.code == 3
    assert "info/4 (a file, not a directory)" in result.err and "nothing written" in result.err
    assert snapshot(root) == before


def test_an_interrupted_repair_is_refused(tmp_path):
    root, spec, queue = made_queue(tmp_path)
    os.rename(queue / "lock/sendmutex", queue / "lock/sendmutex.qmailsetup")
    before = snapshot(root)
    result = queue_cli("create", root, spec)
    assert result.code == 3
    assert "a queue repair was interrupted" in result.err
    assert snapshot(root) == before


def test_no_home_no_accounts_refused(tmp_path):
    root, spec = queue_root(tmp_path)
    home = root / "var/qmail"
    os.rename(home, root / "var/elsewhere")
    result = queue_cli("create", root, spec)
    assert result.code == 3 and "the queue is made in it" in result.err
    os.rename(root / "var/elsewhere", home)
    passwd = root / "etc/passwd"
    passwd.write_text("".join(line for line in passwd.read_text().splitlines(True) if not line.startswith("qmails:")))
    before = snapshot(root)
    result = queue_cli("create", root, spec)
    assert result.code == 3 and "qmails missing" in result.err
    assert snapshot(root) == before


def test_a_queue_linked_through_a_link_others_made_is_refused(tmp_path):
    root, spec = queue_root(tmp_path)
    (root / "data").mkdir()
    (root / "var/qmail/queue").symlink_to("/data")
    os.lchown(root / "var/qmail/queue", 1000, 1000)
    before = snapshot(root)
    result = queue_cli("create", root, spec)
    assert result.code == 3 and "owned by uid 1000" in result.err
    assert snapshot(root) == before
