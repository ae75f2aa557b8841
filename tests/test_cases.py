"""Host in, plan, JSON and account files out: the cases in tests/cases/, one
stem each (case_runner.py says the format and the three ways each is run)."""

from __future__ import annotations

import json

import pytest

from case_runner import (
    applied_files,
    build,
    case_names,
    compare,
    describable,
    describe,
    dry_runs,
    make_paths,
    makes_directories,
    settings,
    why_apply_needs_root,
)
from conftest import cli
from files_support import assert_consistent, parse_all
from process import EPOCH
from snapshot import account_files, mode_owner, snapshot

NAMES = case_names()


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)


@pytest.mark.parametrize("name", [name for name in NAMES if describable(settings(name))])
def test_described(tmp_path, monkeypatch, name):
    case = settings(name)
    root = tmp_path / "root"
    args = build(case, root)
    describe(case, monkeypatch)
    dry_runs(name, args, root)


@pytest.mark.root("the host is made with its owners (chown)")
@pytest.mark.parametrize("name", NAMES)
def test_made(tmp_path, name):
    case = settings(name)
    root = tmp_path / "root"
    args = build(case, root)
    make_paths(case, root)
    before = snapshot(tmp_path)
    dry_runs(name, args, root)
    assert snapshot(tmp_path) == before, "a dry run writes nothing: no file, lock, backup or directory"


def applied(name: str):
    reason = why_apply_needs_root(settings(name))
    return pytest.param(name, marks=[pytest.mark.root(reason)] if reason else [])


@pytest.mark.parametrize("name", [applied(name) for name in NAMES if applied_files(name)])
def test_applied(tmp_path, name):
    """The files a real apply leaves are as stored, with the IDs the dry run
    showed; a second run is in sync and writes nothing."""
    case = settings(name)
    root = tmp_path / "root"
    args = build(case, root)
    make_paths(case, root)
    planned = json.loads(cli("apply", "--dry-run", "--json", "--root", root, *args).out)["changes"]

    first = cli("apply", "--detailed-exitcode", "--root", root, *args)
    assert first.code == 4, first.err
    written = account_files(root)
    for kind in applied_files(name):
        compare(name, kind, written.pop(kind).decode(errors="surrogateescape"))
    assert not written, f"files the case does not store: {sorted(written)}"
    assert_consistent(root)
    files = parse_all(root)
    users = files.get("master.passwd") or files["passwd"]
    ids = {("user", fields[0]): fields[2] for _, fields in users.entries()}
    ids |= {("group", fields[0]): fields[2] for _, fields in files["group"].entries()}
    for change in planned:
        if change["action"] == "create" and change["kind"] in ("user", "group"):
            number = change["fields"]["uid" if change["kind"] == "user" else "gid"]["desired"]
            assert ids[(change["kind"], change["name"])] == str(number), change["name"]
    if makes_directories(case):  # qmail's home and alias's, as qmail's installer leaves them
        qmail, alias = int(ids[("group", "qmail")]), int(ids[("user", "alias")])
        assert mode_owner(root / "var/qmail") == (0o755, 0, qmail)
        assert mode_owner(root / "var/qmail/alias") == (0o2755, alias, qmail)

    before = snapshot(root)
    second = cli("apply", "--detailed-exitcode", "--root", root, *args)
    assert second.code == 0, second.out + second.err
    assert "0 to create, 0 to modify" in second.out
    assert snapshot(root) == before
