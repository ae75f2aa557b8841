"""apply --dry-run --plan-out FILE, then apply --plan FILE: exactly the
planned changes on a host that did not move; a refusal (exit 3) naming what
moved, with nothing written, on one that did; a damaged, edited, truncated
or foreign plan refused (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import cli
from qmailsetup import savedplan
from snapshot import snapshot, without_pwd_lock
from trees import append, debian_tree

ROOT_ARGS = ("--platform", "linux")


def make_plan(root: Path, plan: Path, *more) -> dict:
    result = cli("apply", "--dry-run", "--root", root, *ROOT_ARGS, "--plan-out", plan, *more)
    assert result.code == 0, result.err
    return json.loads(plan.read_text())


@pytest.fixture
def planned(tmp_path):
    root = debian_tree(tmp_path / "root")
    plan = tmp_path / "plan.json"
    return root, plan, make_plan(root, plan)


def apply_saved(root: Path, plan: Path, *more):
    return cli("apply", "--plan", plan, "--root", root, *more)


def entry_id(root: Path, file: str, name: str) -> int:
    for line in (root / "etc" / file).read_text().splitlines():
        fields = line.split(":")
        if fields[0] == name:
            return int(fields[2])
    raise AssertionError(f"{name} not in {file}")


@pytest.mark.root("apply chowns /var/qmail and /var/qmail/alias")
def test_an_unchanged_host_gets_exactly_the_planned_ids(planned):
    root, plan, document = planned
    assert document["version"] == savedplan.VERSION
    assert document["root"] == str(root) and document["platform"] == "linux" and document["backend"] == "files"
    result = apply_saved(root, plan)
    assert result.code == 0, result.err
    created = [c for c in document["changes"] if c["kind"] in ("user", "group")]
    assert len(created) == 9
    for change in created:
        file, label = ("passwd", "uid") if change["kind"] == "user" else ("group", "gid")
        assert entry_id(root, file, change["name"]) == change["desired"][label]
    assert (root / "var/qmail/alias").is_dir()


@pytest.mark.root("apply chowns /var/qmail and /var/qmail/alias")
def test_a_plan_applied_already_is_in_sync(planned):
    root, plan, _ = planned
    assert apply_saved(root, plan).code == 0
    before = without_pwd_lock(snapshot(root))
    again = apply_saved(root, plan)
    assert again.code == 0, again.err
    assert "applied already" in again.out
    assert without_pwd_lock(snapshot(root)) == before


def test_a_dry_run_of_a_plan_shows_it_still_holds_and_writes_nothing(planned):
    """apply --dry-run --plan: the plan checked against the host as apply
    --plan checks it, shown, exit 4 with --detailed-exitcode (changes
    pending), nothing written and no lock taken."""
    root, plan, document = planned
    before = snapshot(root)
    result = apply_saved(root, plan, "--dry-run", "--detailed-exitcode", "--json")
    assert result.code == 4, result.err
    shown = json.loads(result.out)
    assert shown["dry_run"] is True
    assert [(c["kind"], c["name"]) for c in shown["changes"]] == [(c["kind"], c["name"]) for c in document["changes"]]
    assert snapshot(root) == before


def group_with_a_planned_gid(root: Path, document: dict) -> str:
    gid = next(c["desired"]["gid"] for c in document["changes"] if c["kind"] == "group")
    append(root, "group", [f"meanwhile:x:{gid}:"])
    append(root, "gshadow", ["meanwhile:!::"])
    return f"gid {gid}, planned for group qmail, is now meanwhile's"


def narrower_login_defs(root: Path, document: dict) -> str:
    with open(root / "etc/login.defs", "a") as defs:
        defs.write("SYS_UID_MAX 500\nSYS_GID_MAX 500\n")
    return "the system ID range (login.defs) is now uid 101..500"


def directory_made(root: Path, document: dict) -> str:
    (root / "var/qmail").mkdir(parents=True, mode=0o700)
    return "var/qmail changed (missing -> directory 0:0 0700)"


def another_user(root: Path, document: dict) -> str:
    append(root, "passwd", ["other:x:1500:1500::/home/other:/bin/sh"])
    append(root, "shadow", ["other:!:19000::::::"])
    return "etc/passwd changed"


@pytest.mark.parametrize("move", [
    group_with_a_planned_gid, narrower_login_defs,
    pytest.param(directory_made, marks=pytest.mark.root("the directory made meanwhile is root's (0:0)")), another_user,
])
@pytest.mark.parametrize("dry_run", [(), ("--dry-run",)], ids=["apply", "dry-run"])
def test_a_host_that_moved_is_refused_and_nothing_written(planned, move, dry_run):
    root, plan, document = planned
    expected = move(root, document)
    before = without_pwd_lock(snapshot(root))
    result = apply_saved(root, plan, *dry_run)
    assert result.code == 3, (result.out, result.err)
    assert "the host moved since the plan was made" in result.err
    assert expected in result.err
    assert len(result.err.splitlines()) == 1
    assert without_pwd_lock(snapshot(root)) == before


def test_the_fingerprint_is_checked_under_the_locks_and_a_lockless_edit_after_it_refused(planned, mocker):
    """The files backend holds its locks from before it reads the host to
    its last write, so the fingerprint is checked against the very files it
    writes over; a program that takes no lock and edits passwd after the
    check is seen before anything is written."""
    root, plan, _ = planned
    check = savedplan.check_still_holds
    held = []

    def then_moved(*args):
        held.append((root / "etc/passwd.lock").exists())
        holds = check(*args)
        append(root, "passwd", ["late:x:1501:1501::/home/late:/bin/sh"])
        return holds

    mocker.patch("qmailsetup.commands.apply.check_still_holds", side_effect=then_moved)
    result = apply_saved(root, plan)
    assert held == [True]
    assert result.code == 3, result.err
    assert "passwd: changed since it was read, by a program that takes no lock" in result.err
    assert "qmail" not in (root / "etc/group").read_text()
    assert not (root / "var/qmail").exists()
    assert not (root / "etc/passwd.lock").exists()


def rewrite(plan: Path, edit) -> None:
    document = json.loads(plan.read_text())
    edit(document)
    plan.write_text(json.dumps(document))


def tampered(plan: Path) -> None:
    rewrite(plan, lambda d: d["changes"][0]["desired"].update(gid=4242))


def truncated(plan: Path) -> None:
    plan.write_bytes(plan.read_bytes()[: len(plan.read_bytes()) // 2])


def another_version(plan: Path) -> None:
    rewrite(plan, lambda d: d.update(version=2))


def not_a_plan(plan: Path) -> None:
    plan.write_text("[1, 2]\n")


def writable_by_others(plan: Path) -> None:
    plan.chmod(0o622)


@pytest.mark.parametrize("damage, reason", [
    (tampered, "damaged or edited since it was written"),
    (truncated, "damaged or truncated JSON"),
    (another_version, "a plan of version 2; this qmailsetup applies version 1"),
    (not_a_plan, "not a qmailsetup plan"),
    (writable_by_others, "others than its owner may write it"),
])
def test_a_damaged_or_foreign_plan_is_bad_input(planned, damage, reason):
    root, plan, _ = planned
    damage(plan)
    before = snapshot(root)
    result = apply_saved(root, plan)
    assert result.code == 2, (result.out, result.err)
    assert reason in result.err and len(result.err.splitlines()) == 1
    assert snapshot(root) == before


def test_a_plan_with_a_valid_digest_still_has_its_values_checked(planned):
    """A value no spec could ask for (a ':' in a home) is refused even when
    the digest was made anew for it."""
    root, plan, _ = planned

    def edit(document):
        user = next(c for c in document["changes"] if c["kind"] == "user")
        user["desired"]["home"] = "/var/qmail:x"
        body = {key: value for key, value in document.items() if key != "digest"}
        document["digest"] = savedplan.digest(body)

    rewrite(plan, edit)
    result = apply_saved(root, plan)
    assert result.code == 2 and "home" in result.err, result.err


def test_a_plan_for_another_root_is_bad_input(planned, tmp_path):
    _, plan, _ = planned
    other = debian_tree(tmp_path / "other")
    result = apply_saved(other, plan)
    assert result.code == 2 and "a plan for the root" in result.err, result.err


@pytest.mark.parametrize("more", [("--spec", "x.toml"), ("--fix-drift",), ("--plan-out", "p2"), ("--backend", "useradd")])
def test_options_that_would_change_a_saved_plan_are_refused(planned, more):
    root, plan, _ = planned
    result = apply_saved(root, plan, *more)
    assert result.code == 2 and "--plan" in result.err, result.err


def test_plan_out_needs_a_dry_run(tmp_path):
    root = debian_tree(tmp_path / "root")
    result = cli("apply", "--root", root, *ROOT_ARGS, "--plan-out", tmp_path / "plan.json")
    assert result.code == 2 and "--plan-out: only with --dry-run" in result.err
    assert not (tmp_path / "plan.json").exists()


@pytest.mark.root("apply chowns /var/qmail and /var/qmail/alias")
def test_the_json_of_both_runs(tmp_path):
    root = debian_tree(tmp_path / "root")
    plan = tmp_path / "plan.json"
    made = cli("apply", "--dry-run", "--root", root, *ROOT_ARGS, "--plan-out", plan, "--json")
    assert json.loads(made.out)["plan_out"] == str(plan)
    assert plan.stat().st_mode & 0o777 == 0o600
    applied = cli("apply", "--plan", plan, "--root", root, "--json", "--detailed-exitcode")
    assert applied.code == 4, applied.err
    assert len(json.loads(applied.out)["applied"]) == 11


def test_a_plan_whose_change_lacks_a_value_its_kind_needs_is_bad_input(planned):
    """A user without its uid (the digest made anew) is refused as the file
    is read, naming the change, before any lock or write."""
    root, plan, _ = planned

    def edit(document):
        user = next(c for c in document["changes"] if c["kind"] == "user")
        del user["desired"]["uid"]
        body = {key: value for key, value in document.items() if key != "digest"}
        document["digest"] = savedplan.digest(body)

    rewrite(plan, edit)
    before = snapshot(root)
    result = apply_saved(root, plan)
    assert result.code == 2, (result.out, result.err)
    assert len(result.err.splitlines()) == 1
    assert f"--plan {plan}: user alias: its desired values (gid, group, home, name, shell) are not those of a user" \
        in result.err, result.err
    assert snapshot(root) == before
