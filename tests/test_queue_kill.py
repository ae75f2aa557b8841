"""A repair killed at any moment loses nothing, and the next run finishes
the job: killed before each of its writes in turn (in process: every call
that changes the file system stops the run there, as SIGKILL would), and
by SIGKILL at random moments of a larger repair; meanwhile qmail-send
cannot start (lock/sendmutex is hidden) and check says so."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import skip_or_fail
from qmailsetup.queue import walk
from queues import contents, made_queue, place, queue_cli, queue_message, restored, some_messages

# the calls by which a repair changes the file system
WRITES = ("rename", "link", "unlink", "mkdir", "mkfifo", "rmdir", "write", "ftruncate", "fchown", "fchmod")


class Killed(BaseException):
    """The run stops here, as if killed: no handler of the code under test catches it."""


pytestmark = [pytest.mark.root("lays out queues with qmail's owners"), pytest.mark.slow]


@pytest.fixture(scope="module")
def damaged(tmp_path_factory):
    """A restored queue (new inodes) with messages that hold each other's
    names, an orphan and a message qmail-queue left unfinished; and what
    it holds once repaired: its messages and what goes into the quarantine."""
    tmp_path = tmp_path_factory.mktemp("damaged")
    root, spec, queue = made_queue(tmp_path)
    some_messages(queue, count=4)
    one, other = (queue_message(queue, b"swapped %d" % n, "info") for n in range(2))
    held = contents(queue)
    for path in sorted(queue.rglob("*")):  # one and other trade names
        if path.is_file() and path.name in (str(one), str(other)):
            path.rename(path.with_name(f"{path.name}.trade"))
    for path in sorted(queue.rglob("*.trade")):
        name = str(other) if path.name == f"{one}.trade" else str(one)
        folder = path.parent if path.parent.parent == queue else path.parent.parent / str(int(name) % 23)
        path.rename(folder / name)
    queue_message(queue, b"never finished", "unfinished")
    place(queue, "remote/4/49", b"Tlost@example.org\0", "qmails", 0o600)
    copy = restored(root, tmp_path / "copy", shift=0)
    return copy, spec, held


def fresh(damaged, where: Path) -> Path:
    copy, _, _ = damaged
    return restored(copy, where, shift=0)


def kept(root: Path) -> list[str]:
    """Every file in every quarantine run, by its path in the queue."""
    base = root / "var/qmail/queue.quarantine"
    return sorted(str(p.relative_to(run)) for run in base.glob("*") for p in run.rglob("*") if not p.is_dir())


def stop_at(monkeypatch, countdown: list[int]) -> None:
    """Every write after COUNTDOWN[0] others raises Killed."""
    def wrap(call):
        def write(*args, **options):
            countdown[0] -= 1
            if countdown[0] < 0:
                raise Killed
            return call(*args, **options)
        return write

    for name in WRITES:
        monkeypatch.setattr(os, name, wrap(getattr(os, name)))
    real_open = os.open
    opening = wrap(real_open)
    monkeypatch.setattr(os, "open", lambda path, flags, *rest, **options: (
        opening if flags & os.O_CREAT else real_open)(path, flags, *rest, **options))
    if walk._renameat2 is not None:
        monkeypatch.setattr(walk, "_renameat2", wrap(walk._renameat2))


def writes_of_a_repair(damaged, tmp_path, monkeypatch) -> int:
    root = fresh(damaged, tmp_path / "count")
    countdown = [10**9]
    with monkeypatch.context() as patched:
        stop_at(patched, countdown)
        assert queue_cli("repair", root, damaged[1]).code == 0
    return 10**9 - countdown[0]


def assert_repaired(root: Path, damaged) -> None:
    _, spec, held = damaged
    queue = root / "var/qmail/queue"
    assert contents(queue) == held
    # the orphan, and the message qmail-queue never finished, which came from elsewhere
    assert [f.split("/")[0] for f in kept(root)] == ["intd", "mess", "remote"] and "remote/4/49" in kept(root), kept(root)
    assert (queue / "lock/sendmutex").exists() and not (queue / "lock/sendmutex.qmailsetup").exists()
    check = queue_cli("check", root, spec)
    assert check.code == 0, check.out


@pytest.mark.parametrize("primitive", ["renameat2", "link"])
def test_killed_before_each_write_the_next_run_finishes(damaged, tmp_path, monkeypatch, primitive):
    if primitive == "link":
        monkeypatch.setattr(walk, "_renameat2", None)
    elif walk._renameat2 is None:
        skip_or_fail("this C library has no renameat2")
    total = writes_of_a_repair(damaged, tmp_path, monkeypatch)
    assert total > 40
    for writes in range(total):
        root = fresh(damaged, tmp_path / f"at{writes}")
        with monkeypatch.context() as patched:
            stop_at(patched, [writes])
            with pytest.raises(Killed):
                queue_cli("repair", root, damaged[1])
        queue = root / "var/qmail/queue"
        if (queue / "lock/sendmutex.qmailsetup").exists():
            assert not (queue / "lock/sendmutex").exists(), "qmail-send could start on a half-repaired queue"
        if (queue / "lock/sendmutex.qmailsetup").exists() and writes % 10 == 5:
            interrupted = queue_cli("check", root, damaged[1])
            assert "queue.repair: a queue repair was interrupted" in interrupted.out
            assert queue_cli("create", root, damaged[1]).code == 3
        result = queue_cli("repair", root, damaged[1])
        assert result.code == 0, f"after {writes} writes: {result.err}"
        assert_repaired(root, damaged)
        shutil.rmtree(root)


def test_sigkill_at_random_moments(tmp_path):
    root, spec, queue = made_queue(tmp_path)
    for n in range(3000):
        queue_message(queue, b"message %d" % n, ("todo", "info", "remote", "bounce")[n % 4])
    held = contents(queue)
    copy = restored(root, tmp_path / "copy")
    argv = [sys.executable, "-m", "qmailsetup", "queue", "repair", "--root", str(copy), "--spec", str(spec),
            "--platform", "linux"]
    marker = copy / "var/qmail/queue/lock/sendmutex.qmailsetup"
    chance = random.Random(1997)
    interrupted = 0
    for _ in range(8):
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while not marker.exists() and process.poll() is None:  # the repair has begun
            time.sleep(0.002)
        time.sleep(chance.uniform(0, 0.1))
        process.send_signal(signal.SIGKILL)
        process.wait()
        interrupted += marker.exists()
    assert interrupted >= 4, "too few kills landed while a repair ran"
    finished = subprocess.run(argv, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    assert contents(copy / "var/qmail/queue") == held
    assert queue_cli("check", copy, spec).code == 0


@pytest.fixture(scope="module")
def moved_host(tmp_path_factory):
    """A queue of conf-split 5 restored onto a host of conf-split 3 whose
    accounts have other numbers, its lock/tcpto and a split directory
    lost: each kind of write a repair makes (owners and modes, the split
    directories made and removed, the lock files made) besides renames."""
    tmp_path = tmp_path_factory.mktemp("moved")
    root, spec, queue = made_queue(tmp_path, split=5)
    some_messages(queue, count=4, split=5)
    held = contents(queue, split=5)
    (queue / "lock/tcpto").unlink()
    copy = restored(root, tmp_path / "copy", shift=1000)
    spec.write_text(spec.read_text().replace("split = 5", "split = 3"))
    return copy, spec, held


def test_killed_before_each_write_of_a_move_to_another_host(moved_host, tmp_path, monkeypatch):
    copy, spec, held = moved_host
    total = writes_of_a_repair((copy, spec, held), tmp_path, monkeypatch)
    assert total > 40
    for writes in range(total):
        root = restored(copy, tmp_path / f"at{writes}", shift=0)
        with monkeypatch.context() as patched:
            stop_at(patched, [writes])
            with pytest.raises(Killed):
                queue_cli("repair", root, spec)
        result = queue_cli("repair", root, spec)
        assert result.code == 0, f"after {writes} writes: {result.err}"
        queue = root / "var/qmail/queue"
        assert contents(queue, split=3) == held
        assert (queue / "lock/tcpto").read_bytes() == bytes(1024), f"after {writes} writes"
        assert queue_cli("check", root, spec).code == 0, f"after {writes} writes"
        assert not (root / "var/qmail/queue.quarantine").exists()
        shutil.rmtree(root)
