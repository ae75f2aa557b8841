"""A real SIGKILL (and a few SIGTERMs) of `qmailsetup apply --backend files`
at many moments, on a 100,000-line passwd and shadow so that the writes
take long enough to be hit: every file then holds either its old or its
new content, the database is consistent, and the next run completes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from files_support import assert_consistent, env, leftovers, make_tree, snapshot

USERS = 100_000
KILLS = 20
SIGTERMS = (5, 11, 17)  # which of the kills are a SIGTERM instead


def big_tree(root: Path) -> Path:
    make_tree(root, "debian")
    with open(root / "etc/passwd", "a") as passwd, open(root / "etc/shadow", "a") as shadow:
        for i in range(USERS):
            passwd.write(f"user{i:06d}:x:{100000 + i}:100:User {i}:/home/user{i:06d}:/bin/bash\n")
            shadow.write(f"user{i:06d}:$6$salt$hash{i}:19000:0:99999:7:::\n")
    return root


def start(root: Path) -> subprocess.Popen:
    argv = [sys.executable, "-m", "qmailsetup", "apply", "--root", str(root), "--platform", "linux",
            "--backend", "files"]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env())


def locked_region_started(run: subprocess.Popen) -> bool:
    """Whether RUN holds the account locks: it defers SIGTERM exactly then
    (the lock module blocks it), which /proc shows."""
    try:
        status = Path(f"/proc/{run.pid}/status").read_text()
    except OSError:
        return False
    blocked = next(int(line.split()[1], 16) for line in status.splitlines() if line.startswith("SigBlk:"))
    return bool(blocked & (1 << (signal.SIGTERM - 1)))


def wait_for_lock(run: subprocess.Popen, held: bool = True) -> float:
    """Wait until RUN holds the locks (or, HELD false, no longer does)."""
    while run.poll() is None and locked_region_started(run) != held:
        time.sleep(0.001)
    return time.monotonic()


def stale(root: Path, name: str) -> bool:
    pid = int((root / "etc" / name).read_bytes().rstrip(b"\0") or b"0")
    return not Path(f"/proc/{pid}").exists()


def copy_tree(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, symlinks=True)
    for path in (source / "etc").iterdir():
        shutil.copystat(path, target / "etc" / path.name)
        stat = path.stat()
        shutil.chown(target / "etc" / path.name, stat.st_uid, stat.st_gid)
    return target


def wait_for_writing(run: subprocess.Popen, root: Path) -> float:
    """Wait until RUN has a temporary file in ROOT/etc: it is writing."""
    while run.poll() is None and not any(".qmailsetup-" in name for name in os.listdir(root / "etc")):
        time.sleep(0.0005)
    return time.monotonic()


def kill_once(kill: int, pristine: Path, original: dict, final: dict, window: float, tmp_path: Path) -> str:
    root = copy_tree(pristine, tmp_path / f"kill{kill}")
    run = start(root)
    wait_for_lock(run)
    wait_for_writing(run, root)
    time.sleep(window * kill / (KILLS - 1))
    signum = signal.SIGTERM if kill in SIGTERMS else signal.SIGKILL
    run.send_signal(signum)
    code = run.wait()
    now = snapshot(root)
    states = set()
    for kind, data in now.items():
        assert data in (original[kind], final[kind]), (kill, kind)
        states.add("old" if data == original[kind] else "new")
    assert_consistent(root)
    left = leftovers(root)
    if signum == signal.SIGTERM:
        # deferred, then acted on at a safe point: every lock released
        assert code in (0, 1, -signal.SIGTERM), code
        assert [name for name in left if name.endswith(".lock")] == [], kill
    # what a killed run may leave: its lock files and shadow-utils-style
    # lock candidates, naming its dead PID, and its temporary files
    assert all(stale(root, name) for name in left if ".qmailsetup-" not in name), left
    state = "partial" if len(states) == 2 else states.pop()
    # the next run completes, over any stale lock or temp file: tried after
    # every partial write and every leftover temp file; an untouched tree
    # with only a stale lock is the stale-lock case (test_files_locks), so
    # tried twice here
    temps = any(".qmailsetup-" in name for name in left)
    if now != final and (state == "partial" or temps or kill < 2):
        assert start(root).wait() == 0, kill
        assert snapshot(root) == final, kill
        assert leftovers(root) == [], kill
    shutil.rmtree(root)
    return state


def test_sigkill_at_many_moments(tmp_path):
    pristine = big_tree(tmp_path / "pristine")
    original = snapshot(pristine)
    reference = copy_tree(pristine, tmp_path / "reference")
    run = start(reference)
    wait_for_lock(run)
    writing_at = wait_for_writing(run, reference)
    unlocked_at = wait_for_lock(run, held=False)
    assert run.wait() == 0, run.stderr.read()
    final = snapshot(reference)
    # the kills are spread over the writing part of a run (never asserted)
    window = unlocked_at - writing_at
    # two at a time: CI has two cores
    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(lambda kill: kill_once(kill, pristine, original, final, window, tmp_path),
                                 range(KILLS)))
    print(f"\n{KILLS} kills over the {window:.2f}s of writing:",
          {state: outcomes.count(state) for state in ("old", "partial", "new")})
