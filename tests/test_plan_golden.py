"""The dry run through the command line, on real trees: it writes nothing,
exits as its plan says, and its JSON keeps qmailsetup(8)'s shape. What each plan
holds is tested without root, case by case, in test_plan_cases.py."""

from __future__ import annotations

import json
import os

import pytest

from conftest import cli, skip_or_fail
from golden import check_json, scrub
from scenarios import SCENARIOS, build
from snapshot import snapshot

# the JSON document is a contract: one plan with changes, one refused
JSON_GOLDENS = ("partial", "fixed_ids_conflicting")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_dry_run_writes_nothing_and_exits_as_planned(tmp_path, scenario):
    if os.geteuid() != 0:
        skip_or_fail("scenarios chown directories: needs root")
    root = tmp_path / "root"
    root.mkdir()
    args = build(scenario, root)
    before = snapshot(tmp_path)
    result = cli("apply", "--dry-run", "--json", "--platform", "linux", "--backend", "useradd", "--root", root, *args)
    plan = json.loads(scrub(result.out, root))
    assert result.code == (3 if plan["refused"] else 0), result.err
    assert snapshot(tmp_path) == before, "a dry run writes nothing: no file, lock, backup or directory"
    if scenario in JSON_GOLDENS:
        check_json(f"plan/{scenario}.json", {"exit": result.code, "stderr": scrub(result.err, root), "plan": plan})
