"""A real SIGKILL (and SIGTERM) of `qmailsetup apply --backend files` at
every moment that matters, chosen, not hoped for: the run is stopped
(SIGSTOP, from inside, by a stand-in for os.rename or the lock release)
before its first rename, after each rename of a backup or a file, and
after its last write with the locks still held; then it is killed. Every
file then holds its old or its new content, the database is consistent,
the kills fell before, during and after the writes, and the next run
completes over whatever was left."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from files_support import assert_consistent, leftovers
from process import env, qmailsetup
from snapshot import account_files
from trees import make_tree

# gshadow, group, shadow and passwd, each its backup and then itself
RENAMES = 8
# the run in a process of its own, stopping itself at STOP: "rename N"
# (before the Nth rename, from 0) or "release" (the writes done, the locks
# still held)
STOPPING_RUN = """
import os, signal, sys
from qmailsetup.userdb import lock

where, number = sys.argv[1], int(sys.argv[2])
renames, real_rename, real_release = 0, os.rename, lock.release_all

def rename(*args, **kwargs):
    global renames
    if where == "rename" and renames == number:
        os.kill(os.getpid(), signal.SIGSTOP)
    renames += 1
    return real_rename(*args, **kwargs)

def release_all(locks):
    if where == "release":
        os.kill(os.getpid(), signal.SIGSTOP)
    return real_release(locks)

os.rename, lock.release_all = rename, release_all
from qmailsetup.cli import main
main(sys.argv[3:])
"""
MOMENTS = [("rename", n) for n in range(RENAMES)] + [("release", 0)]


def tree(root: Path) -> Path:
    """A Debian tree with a thousand people, password hashes and all."""
    make_tree(root, "debian")
    with open(root / "etc/passwd", "a") as passwd, open(root / "etc/shadow", "a") as shadow:
        for i in range(1000):
            passwd.write(f"user{i:04d}:x:{10000 + i}:100:User {i}:/home/user{i:04d}:/bin/bash\n")
            shadow.write(f"user{i:04d}:$6$salt$hash{i}:19000:0:99999:7:::\n")
    return root


def apply_argv(root: Path) -> list[str]:
    return ["apply", "--root", str(root), "--platform", "linux", "--backend", "files"]


def stopped(process: subprocess.Popen) -> bool:
    status = Path(f"/proc/{process.pid}/stat").read_text()
    return status[status.rindex(")") + 2] == "T"


def run_until(root: Path, where: str, number: int) -> subprocess.Popen:
    argv = [sys.executable, "-c", STOPPING_RUN, where, str(number), *apply_argv(root)]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env())
    while process.poll() is None and not stopped(process):
        time.sleep(0.005)
    assert process.poll() is None, process.stderr.read()
    return process


pytestmark = [pytest.mark.root("apply chowns /var/qmail and /var/qmail/alias"), pytest.mark.slow]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """The tree before, and after an uninterrupted run."""
    base = tmp_path_factory.mktemp("kill")
    before = tree(base / "before")
    after = shutil.copytree(before, base / "after", symlinks=True)
    qmailsetup(*apply_argv(after))
    return before, account_files(before), account_files(after)


def states_after_kill(root: Path, original: dict, final: dict) -> set[str]:
    states = set()
    for kind, data in account_files(root).items():
        assert data in (original[kind], final[kind]), kind
        states.add("old" if data == original[kind] else "new")
    assert_consistent(root)
    return states


@pytest.mark.parametrize(("where", "number"), MOMENTS, ids=[f"{w}{n}" for w, n in MOMENTS])
def test_sigkill_at_every_moment_converges(tmp_path, pristine, where, number):
    before, original, final = pristine
    root = shutil.copytree(before, tmp_path / "root", symlinks=True)
    process = run_until(root, where, number)
    process.kill()
    assert process.wait() == -signal.SIGKILL

    states = states_after_kill(root, original, final)
    # before gshadow itself is renamed (the 2nd rename, after its backup)
    # nothing has changed; after passwd (the 8th) all has; in between the
    # database is part old, part new
    expected = {"old"} if where == "rename" and number < 2 else {"old", "new"} if where == "rename" else {"new"}
    assert states == expected, (where, number, states)
    # a SIGKILL leaves the locks it held, naming its dead PID
    assert [name for name in leftovers(root) if name.endswith(".lock")], "the locks of the killed run"

    rerun = subprocess.run([sys.executable, "-m", "qmailsetup", *apply_argv(root)], capture_output=True, env=env())
    assert rerun.returncode == 0, rerun.stderr
    assert account_files(root) == final
    if expected != {"new"}:
        # the next run took the locks: the dead run's are gone with its temporaries
        assert leftovers(root) == []


@pytest.mark.parametrize("number", [0, 3, 7])
def test_sigterm_is_held_back_to_a_safe_point(tmp_path, pristine, number):
    """A SIGTERM while the files are being written is acted on at the next
    safe point: locks released, every file old or new, and the next run
    finishes the job."""
    before, original, final = pristine
    root = shutil.copytree(before, tmp_path / "root", symlinks=True)
    process = run_until(root, "rename", number)
    process.send_signal(signal.SIGTERM)
    process.send_signal(signal.SIGCONT)
    code = process.wait()
    assert code in (0, 1), (code, process.stderr.read())
    states_after_kill(root, original, final)
    assert [name for name in leftovers(root) if name.endswith(".lock")] == []

    rerun = subprocess.run([sys.executable, "-m", "qmailsetup", *apply_argv(root)], capture_output=True, env=env())
    assert rerun.returncode == 0, rerun.stderr
    assert account_files(root) == final
