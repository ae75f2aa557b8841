"""examples/ansible with ansible-core against localhost (local connection)
on a temporary --root: --check --diff shows the plan and writes nothing, a
real run reports changed, a second run reports ok; a conflict fails the
task and writes nothing. Four playbook runs: they are slow."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_tools, skip_or_fail
from scenarios import INSTALL_IDS_SPEC
from trees import append, debian_tree, snapshot, write

EXAMPLE = Path(__file__).resolve().parents[1] / "examples/ansible"
BIN = Path(sys.executable).parent


@pytest.fixture
def playbook(tmp_path):
    """run(*extra_args) -> (exit code, output, recap counts) for the
    example playbook on localhost."""
    if os.geteuid() != 0:
        skip_or_fail("useradd --prefix needs root")
    require_tools("useradd", "groupadd")
    if not (BIN / "ansible-playbook").exists():
        skip_or_fail("needs ansible-core (the test extra)")
    inventory = tmp_path / "inventory.ini"
    write(inventory, f"[qmail_hosts]\nlocalhost ansible_connection=local ansible_python_interpreter={sys.executable}\n")
    env = {
        "PATH": f"{BIN}:{os.environ['PATH']}", "HOME": str(tmp_path), "LC_ALL": "C.UTF-8",
        "ANSIBLE_NOCOLOR": "1", "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-local"),
        "ANSIBLE_REMOTE_TEMP": str(tmp_path / "ansible-remote"), "ANSIBLE_CONFIG": str(tmp_path / "none.cfg"),
    }

    def run(*extra: str):
        variables = {"qmailsetup_executable": str(BIN / "qmailsetup"), "qmailsetup_platform": "linux"}
        result = subprocess.run(
            [str(BIN / "ansible-playbook"), "-i", str(inventory), str(EXAMPLE / "playbook.yml"),
             "-e", json.dumps(variables), *extra],
            env=env, capture_output=True, text=True, timeout=300,
        )
        output = result.stdout + result.stderr
        recap = re.search(r"^localhost\s+:\s+(.*)$", output, re.MULTILINE)
        counts = {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", recap.group(1))} if recap else {}
        return result.returncode, output, counts

    return run


def test_check_diff_then_apply_then_unchanged(tmp_path, playbook):
    root = debian_tree(tmp_path / "root")
    on_root = ["-e", json.dumps({"qmailsetup_root": str(root)})]
    before = snapshot(root)

    code, output, counts = playbook(*on_root, "--check", "--diff")
    assert code == 0, output
    assert counts["changed"] == 1 and counts["failed"] == 0, output
    assert "+++ after: user alias (create)" in output
    assert "+home: /var/qmail/alias\n+shell: /usr/sbin/nologin" in output
    assert "+++ after: path /var/qmail/alias (create)" in output and "+mode: 02755" in output
    assert snapshot(root) == before, "check mode wrote something"

    code, output, counts = playbook(*on_root)
    assert code == 0, output
    assert counts["changed"] == 1, output
    uid = next(line.split(":")[2] for line in (root / "etc/passwd").read_text().splitlines() if line.startswith("alias:"))
    assert f"QMAIL_UID_ALIAS='{uid}'" in output  # the play shows the IDs
    after = snapshot(root)

    code, output, counts = playbook(*on_root)
    assert code == 0, output
    assert counts["changed"] == 0 and counts["ok"] == 3, output
    assert snapshot(root) == after


def test_a_conflict_fails_the_task_and_writes_nothing(tmp_path, playbook):
    root = debian_tree(tmp_path / "root")
    append(root, "group", ["staff2:x:2108:"])
    write(tmp_path / "ids.toml", INSTALL_IDS_SPEC)
    before = snapshot(root)
    code, output, counts = playbook("-e", json.dumps({"qmailsetup_root": str(root), "qmailsetup_spec": str(tmp_path / "ids.toml")}))
    assert code != 0
    assert counts["failed"] == 1, output
    assert "refused, nothing written: group nofiles: gid 2108 is already held by group staff2" in output
    assert snapshot(root) == before


def test_diff_of_a_drifted_account_shows_current_and_desired_fields():
    """The module's diff for a modify: before = current values, after = desired."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("qmailsetup_module", EXAMPLE / "library/qmailsetup.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    plan = {
        "changes": [{
            "kind": "user", "name": "qmaild", "action": "modify",
            "fields": {"shell": {"current": "/bin/sh", "desired": "/usr/sbin/nologin"},
                       "home": {"current": "/home/qmaild", "desired": "/var/qmail"}},
        }],
        "diffs": [{"path": "/etc/passwd", "diff": "@@ -1 +1 @@\n-a\n+b\n"}],
    }
    assert module.plan_diff(plan) == [
        {"before_header": "user qmaild", "after_header": "user qmaild (modify)",
         "before": "shell: /bin/sh\nhome: /home/qmaild\n", "after": "shell: /usr/sbin/nologin\nhome: /var/qmail\n"},
        {"prepared": "--- /etc/passwd\n@@ -1 +1 @@\n-a\n+b\n"},
    ]
