"""NetBSD's useradd and usermod check the shell (user.c valid_shell()):
/sbin/nologin, a shell listed in /etc/shells, or an executable file; else
"Cannot access shell", after the groups were made. The plan finds this
first: a conflict naming the shell and what NetBSD accepts, nothing run.

What is real: observe on a tree with its own etc/shells and executables,
the planner, the command backend running processes found on PATH. What is
not: NetBSD's useradd; tests/bsd_tools.py's stand-in checks the shell as
valid_shell() does (against the tree's etc/shells and files) and records
its argv, but writes no account.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from bsd_tools import calls, netbsd_user_tools
from conftest import cli
from qmailsetup.backends import make_backend
from qmailsetup.errors import OperationFailed
from qmailsetup.observe import observe
from qmailsetup.plan import make_plan
from qmailsetup.platforms import load_profile
from qmailsetup.spec import load_spec, parse_spec
from snapshot import snapshot
from trees import bsd_tree, example_tables, spec_toml, write

NETBSD = load_profile("netbsd")
SHELLS = "# /etc/shells\n/bin/sh\n/bin/csh\n/bin/ksh\n"


def netbsd_tree(root: Path, shells: str | None = SHELLS) -> Path:
    bsd_tree(root, "openbsd")  # NetBSD's master.passwd has OpenBSD's format
    if shells is not None:
        write(root / "etc/shells", shells)
    return root


def plan_on(root: Path, spec_text: str | None, profile=NETBSD, fix_drift: bool = False):
    spec = parse_spec(spec_text, "t.toml") if spec_text else load_spec(None)
    host = observe(spec, root, profile)
    return make_plan(spec, host, fix_drift), host


def reasons(plan):
    return {(c.kind, c.name): c.reason for c in plan.conflicts}


def one_user(shell: str) -> str:
    return (f'[[groups]]\nname = "qmail"\n[[users]]\nname = "qmaild"\ngroup = "qmail"\n'
            f'home = "/var/qmail"\nshell = "{shell}"\n')


@pytest.mark.parametrize("shell", ["/nonexistent", "/usr/sbin/nologin"])
def test_a_shell_netbsd_refuses_is_a_conflict_naming_it_and_what_is_accepted(tmp_path, shell):
    root = netbsd_tree(tmp_path / "root")
    plan, _ = plan_on(root, one_user(shell))
    assert reasons(plan) == {("user", "qmaild"): (
        f"shell {shell}: netbsd's useradd and usermod accept only /sbin/nologin, a shell listed in "
        f"{root}/etc/shells or an executable file; name one of those in the spec (shell = ...)"
    )}
    assert plan.refused and [c.name for c in plan.changes] == ["qmail"]


@pytest.mark.parametrize("shell", ["/sbin/nologin", "/bin/false", "/usr/bin/true"])
def test_nologin_a_listed_shell_or_an_executable_file_is_accepted(tmp_path, shell):
    """A spec names no login shell (spec.py): a listed one here is /bin/false."""
    root = netbsd_tree(tmp_path / "root", SHELLS + "/bin/false\n")
    (root / "usr/bin").mkdir(parents=True, exist_ok=True)
    (root / "usr/bin/true").write_text("#!/bin/sh\n")
    (root / "usr/bin/true").chmod(0o755)
    plan, _ = plan_on(root, one_user(shell))
    assert not plan.conflicts


def test_without_etc_shells_netbsd_checks_nothing_and_neither_does_the_plan(tmp_path):
    """valid_shell(): access(_PATH_SHELLS, R_OK) == -1 -> "will not validate"."""
    plan, host = plan_on(netbsd_tree(tmp_path / "root", shells=None), one_user("/nonexistent"))
    assert host.accepted_shells is None and not plan.conflicts


def test_the_ports_shell_on_netbsd_is_refused_before_anything_runs(tmp_path):
    """The FreeBSD ports' choice, /nonexistent (IDs left open: the stock
    OpenBSD tree standing in for NetBSD holds 81-87)."""
    root = netbsd_tree(tmp_path / "root")
    tables = example_tables("freebsd-ports")
    for entry in tables["groups"] + tables["users"]:
        entry.pop("gid", None), entry.pop("uid", None)
    spec = tmp_path / "ports.toml"
    spec.write_text(spec_toml({**tables, "paths": []}))
    before = snapshot(root)
    result = cli("apply", "--platform", "netbsd", "--backend", "files", "--root", root, "--spec", spec)
    assert result.code == 3
    assert result.err == (
        f"qmailsetup: refused, nothing written: user alias: shell /nonexistent: netbsd's useradd and usermod "
        f"accept only /sbin/nologin, a shell listed in {root}/etc/shells or an executable file; name one of those "
        "in the spec (shell = ...) (and 6 more)\n"
    )
    assert snapshot(root) == before


def test_a_drifted_shell_netbsd_refuses_is_a_conflict_too(tmp_path):
    root = netbsd_tree(tmp_path / "root")
    with open(root / "etc/group", "a") as group:
        group.write("qmail:*:2107:\n")
    with open(root / "etc/master.passwd", "a") as master:
        master.write("qmaild:*:7791:2107::0:0::/var/qmail:/bin/sh\n")
    plan, _ = plan_on(root, one_user("/nonexistent"), fix_drift=True)
    assert list(reasons(plan)) == [("user", "qmaild")]
    assert not [c for c in plan.changes if c.kind == "user"]


@pytest.fixture
def netbsd_tools(tmp_path, monkeypatch):
    """The NetBSD user tools' stand-ins first on PATH, checking against ROOT."""
    monkeypatch.setenv("PATH", f"{netbsd_user_tools(tmp_path / 'bin')}:{os.environ['PATH']}")
    log = tmp_path / "calls.log"
    monkeypatch.setenv("STAND_IN_LOG", str(log))
    root = netbsd_tree(tmp_path / "root")
    monkeypatch.setenv("STAND_IN_ROOT", str(root))
    return root, log


def backend_for(root: Path, spec_text: str, profile=NETBSD):
    plan, host = plan_on(root, spec_text, profile)
    host.root = Path("/")  # NetBSD's tools have no root option: the tree stands for the host's /
    return plan, make_backend("useradd", host)


@pytest.mark.root("the host's tools are handed only a tree root alone can change")
def test_unchecked_the_stand_in_fails_as_netbsd_does_after_the_group_was_made(netbsd_tools):
    """Why the check: with it off, useradd fails only once groupadd ran."""
    root, log = netbsd_tools
    plan, backend = backend_for(root, one_user("/nonexistent"), dataclasses.replace(NETBSD, shell_must_be_valid=False))
    assert not plan.refused
    with pytest.raises(OperationFailed, match="Cannot access shell `/nonexistent'"):
        backend.apply(plan.changes, lambda change: None)
    assert [argv[0] for argv in calls(log)] == ["groupadd", "useradd"]


@pytest.mark.root("the host's tools are handed only a tree root alone can change")
def test_checked_nothing_runs_and_an_accepted_shell_runs_with_the_exact_argv(netbsd_tools):
    root, log = netbsd_tools
    plan, _ = backend_for(root, one_user("/nonexistent"))
    assert plan.refused and calls(log) == []

    plan, backend = backend_for(root, one_user("/sbin/nologin"))
    done = []
    backend.apply(plan.changes, done.append)
    assert calls(log) == [
        ["groupadd", "-g", "116", "qmail"],
        ["useradd", "-u", "999", "-g", "qmail", "-d", "/var/qmail", "-s", "/sbin/nologin", "-p", "*************", "qmaild"],
    ]
    assert [c.name for c in done] == ["qmail", "qmaild"]
