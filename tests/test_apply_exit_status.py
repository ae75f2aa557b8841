"""Exit status and check agree: after a real run, apply exits 5 exactly
when `qmailsetup check` reports an error about what apply set up
(check/__init__.py FINDING_IDS), on the live root, in a private mount
namespace (tests/namespace.py: a copy of /etc over /etc, a tmpfs over
/var). A queue in memory is a warning, never an error: qmail works there."""

from __future__ import annotations

import json

import pytest

from namespace import run_in_namespace
from qmailsetup.check import FINDING_IDS, counted_by_apply

# each run's output and exit code into $OUT, outside the namespace's /var
SCRIPT = """\
{setup}
$QMAILSETUP apply --dry-run >"$OUT/dry-run.txt" 2>&1 || true
$QMAILSETUP apply --json >"$OUT/apply.json" 2>"$OUT/apply.err" && code=0 || code=$?
echo $code >"$OUT/apply.code"
$QMAILSETUP check --json >"$OUT/check.json" && code=0 || code=$?
echo $code >"$OUT/check.code"
"""

SCENARIOS = {
    # a tmpfs: the queue is lost at each reboot, a warning
    "tmpfs": ("", 0, 0, []),
    "nosuid": ("mount -o remount,nosuid /var", 5, 3, ["fs.nosuid"]),
    # a /var made under umask 077: qmail's users cannot reach /var/qmail
    "var-0700": ("chmod 0700 /var", 5, 3, ["path.traverse"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_apply_exits_5_exactly_when_check_finds_an_error_about_what_it_set_up(tmp_path, privileged, name):
    setup, apply_code, check_code, errors = SCENARIOS[name]
    out = tmp_path / "out"
    out.mkdir()
    result = run_in_namespace(tmp_path, f'OUT="{out}"\n' + SCRIPT.format(setup=setup))
    assert result.returncode == 0, result.stdout + result.stderr
    applied = json.loads((out / "apply.json").read_text())
    findings = json.loads((out / "check.json").read_text())["findings"]
    found = sorted(f["id"] for f in findings if f["severity"] == "error")
    counted = [each for each in found if counted_by_apply(each, dry_run=False)]
    codes = (int((out / "apply.code").read_text()), int((out / "check.code").read_text()))
    # the rule, whatever the scenario: 5 exactly when check has a counted error
    assert (codes[0] == 5) == bool(counted), (codes, found, (out / "apply.err").read_text())
    assert sorted(f["id"] for f in applied["check"]) == counted
    assert (codes, found) == ((apply_code, check_code), errors)
    [sync] = [f for f in findings if f["id"] == "fs.sync-metadata"]
    assert sync["severity"] == "warning" and "tmpfs lives in memory" in sync["message"]
    dry_run = (out / "dry-run.txt").read_text()
    for each in errors:  # the dry run notes it before anything is made
        assert f"error   {each}:" in dry_run


def test_every_finding_id_has_its_rule():
    """An id check may report is in the registry, each with its rule (a
    Finding of another is refused); qmailsetup(8) lists them all
    (tests/test_manpage.py)."""
    from qmailsetup.check import Finding

    assert {each.scope for each in FINDING_IDS.values()} == {"filesystem", "setup", "plan", "check"}
    with pytest.raises(ValueError, match=r"unknown finding id 'fs\.tmpfs'"):
        Finding("fs.tmpfs", "error", None, "")
