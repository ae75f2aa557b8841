"""State in -> plan out: each scenario's dry run, as JSON, against a golden."""

from __future__ import annotations

import json
import os

import pytest
from conftest import cli, skip_or_fail
from golden import check_json, scrub
from scenarios import SCENARIOS, build
from trees import snapshot

CASES = [(name, []) for name in SCENARIOS] + [
    ("install_ids_as_shipped", ["--fix-drift"]),
    ("drifted_dirs", ["--fix-drift"]),
]


@pytest.mark.parametrize(("scenario", "extra"), CASES, ids=[f"{n}{''.join(e)}" for n, e in CASES])
def test_dry_run_plan_matches_golden(tmp_path, scenario, extra):
    if os.geteuid() != 0:
        skip_or_fail("scenarios chown directories: needs root")
    root = tmp_path / "root"
    root.mkdir()
    args = build(scenario, root)
    before = snapshot(tmp_path)
    result = cli("apply", "--dry-run", "--json", "--platform", "linux", "--root", root, *args, *extra)
    plan = json.loads(scrub(result.out, root))
    check_json(f"plan/{scenario}{''.join(extra)}.json", {"exit": result.code, "stderr": scrub(result.err, root), "plan": plan})
    assert snapshot(tmp_path) == before, "a dry run writes nothing: no file, lock, backup or directory"
