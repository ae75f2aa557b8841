"""Fault injection: the Nth system call of a run (open, write, fsync,
rename, link, unlink, fchown, fchmod, utime: the lock, backup and replace
steps) fails with EIO, for every N. After each, the database is
consistent and every file holds its old or its new content; a second run
finishes the job and leaves no lock or temporary file behind."""

from __future__ import annotations

import errno
import os

import pytest

from files_support import assert_consistent, leftovers
from process import EPOCH
from qmailsetup.commands import apply as apply_command
from qmailsetup.errors import QmailsetupError
from qmailsetup.output import ApplyReport
from snapshot import account_files
from trees import make_tree

STEPS = ("open", "write", "fsync", "rename", "link", "unlink", "fchown", "fchmod", "utime")


class Injector:
    """Counts the calls from the moment the run takes its locks on (before
    it reads the files: a read that fails is exit 2 and writes nothing,
    bad input, not a fault in the middle of a write)."""

    def __init__(self, monkeypatch, fail_at: int | None) -> None:
        self.fail_at, self.calls, self.fired, self.armed = fail_at, 0, None, False
        for name in STEPS:
            monkeypatch.setattr(os, name, self.wrap(name, getattr(os, name)))
        real_transaction = apply_command.transaction

        def armed_transaction(*args, **kwargs):
            self.armed = True
            return real_transaction(*args, **kwargs)

        monkeypatch.setattr(apply_command, "transaction", armed_transaction)

    def wrap(self, name, real):
        def call(*args, **kwargs):
            if not self.armed:
                return real(*args, **kwargs)
            self.calls += 1
            if self.calls == self.fail_at:
                self.fired = f"{name}{args[:1]}"
                raise OSError(errno.EIO, f"injected failure of {name}")
            return real(*args, **kwargs)

        return call


def run_apply(root, fix_drift=False) -> apply_command.Outcome:
    return apply_command.run(spec_file=None, root=root, backend_name="files", platform="linux", dry_run=False,
                             fix_drift=fix_drift, detailed=False, report=ApplyReport(as_json=False))


def apply(root, fix_drift=False) -> int:
    try:
        outcome = run_apply(root, fix_drift)
    except QmailsetupError as error:
        return error.exit_code
    return outcome.status if outcome.error is None else outcome.error.exit_code


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)


@pytest.mark.slow
@pytest.mark.root("apply chowns /var/qmail and /var/qmail/alias")
def test_a_failure_at_every_step_leaves_a_consistent_database(tmp_path, monkeypatch, capsys):
    reference = make_tree(tmp_path / "reference", "debian")
    original = account_files(reference)
    assert apply(reference) == 0
    final = account_files(reference)
    assert final != original

    fired = []
    for step in range(1, 1000):
        root = make_tree(tmp_path / f"run{step}", "debian")
        with monkeypatch.context() as patch:
            injector = Injector(patch, step)
            code = apply(root)
        if injector.fired is None:
            assert code == 0
            break
        fired.append(injector.fired)
        now = account_files(root)
        # 2: a file unreadable when read under the lock, before any write; or an input that cannot be read
        # (the platform profile, opened through hostio's os.open)
        assert code in (0, 1) or (code == 2 and now == original), (step, injector.fired)
        for kind, data in now.items():
            assert data in (original[kind], final[kind]), (step, injector.fired, kind)
        assert_consistent(root)
        assert apply(root) == 0, (step, injector.fired, capsys.readouterr())
        assert account_files(root) == final, (step, injector.fired)
        # a lock whose removal failed stays, naming this (finished) run:
        # stale for every tool, as after a crash; nothing else stays
        left = [name for name in leftovers(root)
                if not (name.endswith(".lock") and (root / "etc" / name).read_bytes() == f"{os.getpid()}\0".encode())]
        assert left == [], (step, injector.fired)
        assert apply(root) == 0
    capsys.readouterr()
    # the lock, backup, replace and directory-sync steps were all hit
    hit = {f.split("(")[0] for f in fired}
    assert hit >= {"open", "write", "fsync", "rename", "link", "unlink", "fchown", "fchmod", "utime"}, hit
    assert len(fired) > 50
    print(f"\n{len(fired)} injected failures")


def test_failure_messages_name_the_file_and_step(tmp_path, monkeypatch, capsys):
    root = make_tree(tmp_path, "debian")

    def broken_rename(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "rename", broken_rename)
    failure = run_apply(root).error
    message = str(failure)
    assert failure.exit_code == 1
    assert f"{root}/etc/gshadow: renaming gshadow-.qmailsetup-" in message
    assert "No space left on device" in message
    assert message.endswith("done before the failure: nothing")
    assert leftovers(root) == []
