"""What the files backend keeps of the files it edits, on the files cases
(tests/cases/files_*.case; what each run must leave is stored beside them,
test_cases.py): every line it does not own, in order, and the previous
content as the backup, with its mode and owner."""

from __future__ import annotations

import os

import pytest

from case_runner import build, case_names, settings
from conftest import cli
from process import EPOCH
from snapshot import account_files

FILES_CASES = [name for name in case_names() if name.startswith("files_")]
OWNED = (b"alias:", b"qmail", b"qnofiles:", b"nofiles:")


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)


@pytest.mark.parametrize("name", FILES_CASES)
def test_only_owned_lines_change(tmp_path, name):
    """Every line of the input is still there, in order, except the ones of
    accounts in the spec (rewritten in place, drift only)."""
    case = settings(name)
    build(case, tmp_path / "before" / "root")
    before = account_files(tmp_path / "before" / "root")
    args = build(case, tmp_path / "after" / "root")
    assert cli("apply", "--root", tmp_path / "after" / "root", *args).code == 0
    after = account_files(tmp_path / "after" / "root")
    for kind, old in before.items():
        new_lines = after[kind].splitlines(keepends=True)
        kept = [line for line in old.splitlines(keepends=True) if not line.startswith(OWNED)]
        assert [line for line in new_lines if line in kept] == kept, kind
        assert after[kind].startswith(old) or case.get("fix_drift") or old.splitlines()[-1].startswith((b"+", b"-"))


def test_backups_keep_the_previous_content_mode_and_owner(tmp_path):
    root = tmp_path / "root"
    args = build(settings("files_debian"), root)
    before = account_files(root)
    old_mode = {kind: os.stat(root / "etc" / kind) for kind in before}
    assert cli("apply", "--root", root, *args).code == 0
    for kind, data in before.items():
        backup = root / "etc" / f"{kind}-"
        assert backup.read_bytes() == data
        for path in (root / "etc" / kind, backup):
            info = os.stat(path)
            assert (info.st_mode, info.st_uid, info.st_gid) == (
                old_mode[kind].st_mode, old_mode[kind].st_uid, old_mode[kind].st_gid), path
    assert sorted(p.name for p in (root / "etc").iterdir()) == sorted(
        [".pwd.lock", "login.defs"] + [k for k in before] + [f"{k}-" for k in before])
