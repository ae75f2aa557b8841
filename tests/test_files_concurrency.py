"""Several `qmailsetup apply --backend files` at once, with real useradd
and groupadd of unrelated accounts running at the same time on the same
tree: no entry is lost, none is duplicated, the database stays consistent,
and a last run finds everything in sync."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import require_tools
from files_support import assert_consistent, leftovers, parse_all
from process import apply_files, env
from qmail_layout import QMAIL_GROUPS, QMAIL_USERS
from trees import make_tree

APPLIES = 4
TOOL_USERS = 8


@pytest.mark.slow
def test_applies_and_useradds_at_once(privileged, tmp_path):
    require_tools("useradd", "groupadd")
    root = make_tree(tmp_path, "debian")
    lock_env = env(QMAILSETUP_LOCK_TIMEOUT="120")
    applies = [
        subprocess.Popen([sys.executable, "-m", "qmailsetup", "apply", "--root", str(root), "--platform", "linux",
                          "--backend", "files"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=lock_env)
        for _ in range(APPLIES)
    ]
    tools = []
    for i in range(TOOL_USERS):
        # half system accounts (their IDs race with the planned ones), half
        # people with their own group (USERGROUPS_ENAB)
        system = ["-r"] if i % 2 else []
        tools.append(subprocess.Popen(["useradd", "--prefix", str(root), *system, "-M", f"other{i}"],
                                      stderr=subprocess.PIPE, text=True))
        tools.append(subprocess.Popen(["groupadd", "--prefix", str(root), "-r", f"team{i}"],
                                      stderr=subprocess.PIPE, text=True))
    codes = [run.wait() for run in applies]
    print("apply exit codes:", codes)
    tool_codes = [(tool.args, tool.wait(), tool.stderr.read()) for tool in tools]
    assert all(code == 0 for _, code, _ in tool_codes), tool_codes
    # an apply either did the work, found it done, or refused because an ID
    # it had planned was taken meanwhile (exit 3, nothing written); its
    # closing check may also meet another apply's directory between its
    # mkdir (0700, root's) and its chown and chmod: exit 5, the work done
    assert set(codes) <= {0, 3, 5}, [(run.returncode, run.stderr.read()) for run in applies]

    final = apply_files(root)
    assert "0 to create, 0 to modify" in final.stdout or "Applied" in final.stdout
    again = apply_files(root)
    assert "0 to create, 0 to modify" in again.stdout

    files = parse_all(root)  # parsing refuses a name that appears twice
    expected_users = {f"other{i}" for i in range(TOOL_USERS)} | set(QMAIL_USERS)
    expected_groups = {f"team{i}" for i in range(TOOL_USERS)} | set(QMAIL_GROUPS)
    expected_groups |= {f"other{i}" for i in range(0, TOOL_USERS, 2)}
    for kind, names in (("passwd", expected_users), ("shadow", expected_users),
                        ("group", expected_groups), ("gshadow", expected_groups)):
        present = {name for name, _ in files[kind].entries()}
        assert names <= present, (kind, names - present)
    for kind, position in (("passwd", 2), ("group", 2)):
        ids = [fields[position] for _, fields in files[kind].entries()]
        assert len(ids) == len(set(ids)), f"an ID appears twice in {kind}"
    assert_consistent(root)
    assert leftovers(root) == []
