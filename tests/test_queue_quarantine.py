"""The quarantine a repair keeps what it cannot explain in: beside the
queue, one directory per run named after its start, root's alone; one
found there that others may change, or that is a link, is never written
through (what is kept there could be taken back or put elsewhere)."""

from __future__ import annotations

import calendar
import json
import os
import re
import stat
import time
from pathlib import Path

import pytest

from queues import IDS, contents, place, queue_cli
from snapshot import snapshot

pytestmark = pytest.mark.root("lays out queues with qmail's owners")


def test_each_run_keeps_what_it_moves_in_a_directory_named_after_its_start(made):
    root, spec, queue = made
    runs = []
    for n, path in enumerate(["info/3/49", "info/4/50"]):
        place(queue, path, b"F\0", "qmails", 0o600)
        started = time.time()
        result = queue_cli("repair", root, spec, "--json")
        assert result.code == 0, result.err
        kept = Path(json.loads(result.out)["quarantine"])
        stamp, pid = re.fullmatch(r"(\d{8}T\d{6}Z)\.(\d+)", kept.name).groups()
        assert int(pid) == os.getpid()
        assert int(started) - 1 <= calendar.timegm(time.strptime(stamp, "%Y%m%dT%H%M%SZ")) <= time.time()
        assert (kept / path).read_bytes() == b"F\0"
        runs.append(kept)
        if n == 0:
            time.sleep(1)  # the next run, a second later: a directory of its own
    assert runs[0].parent == runs[1].parent == root / "var/qmail/queue.quarantine" and runs[0] != runs[1]
    for directory in (runs[0].parent, *runs, runs[0] / "info", runs[0] / "info/3"):
        info = directory.lstat()
        assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (0, 0, 0o700), directory
    found = {f["id"]: f for f in json.loads(queue_cli("check", root, spec, "--json").out)["findings"]}
    assert found["queue.quarantine"]["message"] == (
        f"{queue}.quarantine holds what 2 repair(s) could not explain ({runs[0].name}, {runs[1].name})")


def test_a_quarantine_that_is_a_link_is_never_written_through(made, tmp_path):
    root, spec, queue = made
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    os.symlink(elsewhere, root / "var/qmail/queue.quarantine")
    place(queue, "info/3/49", b"F\0", "qmails", 0o600)
    result = queue_cli("repair", root, spec)
    assert result.code == 1
    assert f"{queue}.quarantine: not a directory (a link?); move it away, then rerun" in result.err
    assert list(elsewhere.iterdir()) == []
    assert (queue / "info/3/49").read_bytes() == b"F\0"


@pytest.mark.parametrize("how", ["owner", "group", "other"])
def test_a_quarantine_others_may_change_is_never_written_to(made, how):
    root, spec, queue = made
    base = root / "var/qmail/queue.quarantine"
    base.mkdir(mode=0o700)
    if how == "owner":
        os.chown(base, IDS["qmailq"], 0)
    else:
        os.chown(base, 0, IDS["qmail"])
        base.chmod(0o770 if how == "group" else 0o703)
    place(queue, "info/3/49", b"F\0", "qmails", 0o600)
    before = snapshot(base)
    result = queue_cli("repair", root, spec)
    assert result.code == 1
    info = base.lstat()
    assert (f"{base}: others than root may change it (owner {info.st_uid}, group {info.st_gid}, mode "
            f"{stat.S_IMODE(info.st_mode):04o}); make it root's, mode 0700, or move it away, then rerun") in result.err
    assert snapshot(base) == before
    assert (queue / "info/3/49").read_bytes() == b"F\0"


def test_a_quarantine_root_owns_with_group_write_for_root_is_used(made):
    """Group write for root's group is root's alone too."""
    root, spec, queue = made
    held = contents(queue)
    base = root / "var/qmail/queue.quarantine"
    base.mkdir()
    os.chown(base, 0, 0)
    base.chmod(0o770)
    place(queue, "info/3/49", b"F\0", "qmails", 0o600)
    result = queue_cli("repair", root, spec, "--json")
    assert result.code == 0, result.err
    kept = Path(json.loads(result.out)["quarantine"])
    assert (kept / "info/3/49").read_bytes() == b"F\0" and contents(queue) == held
    assert stat.S_IMODE(base.lstat().st_mode) == 0o770  # left as it was
