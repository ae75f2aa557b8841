"""Shared test helpers: the tiers (markers root and slow, docs/testing.md),
the one gate for what cannot run here, and running the CLI in-process."""

from __future__ import annotations

import contextlib
import functools
import io
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI") == "true"

# fixtures shared by the modules that use them: the queue tests' made queue
pytest_plugins = ["queues"]


def skip_or_fail(reason: str) -> None:
    """Skip a test that cannot run here; in CI every test must run."""
    if IN_CI:
        pytest.fail(f"cannot run in CI: {reason}")
    pytest.skip(reason)


@functools.cache
def namespaces_unavailable() -> str | None:
    if shutil.which("unshare") is None:
        return "needs unshare(1) from util-linux"
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    if probe.returncode != 0:
        return f"mount namespaces unavailable: {probe.stderr.decode().strip()}"
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items) -> None:
    """A test that uses the privileged fixture needs root: marked so before
    -m selects (tryfirst), so that -m "not root" leaves it out."""
    for item in items:
        if "privileged" in item.fixturenames and item.get_closest_marker("root") is None:
            item.add_marker(pytest.mark.root("mount namespaces, chown and the host's tools in them"))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item) -> None:
    """The one gate of the root tier: as another user a test marked root
    is skipped, with the reason it gives, before any of its fixtures run."""
    marker = item.get_closest_marker("root")
    if marker is not None and os.geteuid() != 0:
        skip_or_fail(f"needs root: {marker.args[0] if marker.args else 'marked root'}")


@pytest.fixture
def privileged() -> None:
    """For tests that work in a private mount namespace (tests/namespace.py):
    they are marked root (above); this checks that namespaces work here."""
    reason = namespaces_unavailable()
    if reason:
        skip_or_fail(reason)


def dead_pid() -> int:
    """pid_max itself is never a live process ID."""
    return int(Path("/proc/sys/kernel/pid_max").read_text())


@contextlib.contextmanager
def effective_uid(uid: int):
    """This (root) process acting as UID for the block, root's capabilities
    dropped meanwhile: what another user's process could do, in process."""
    os.seteuid(uid)
    try:
        yield
    finally:
        os.seteuid(0)


def require_tools(*names: str) -> None:
    missing = [name for name in names if shutil.which(name) is None]
    if missing:
        skip_or_fail(f"needs {', '.join(missing)} on PATH")


@dataclass
class Result:
    code: int
    out: str
    err: str


def cli(*args) -> Result:
    """Run qmailsetup in this process, as the console script would."""
    from qmailsetup.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main([str(a) for a in args])
        except SystemExit as exit:
            code = exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
    if "--json" in map(str, args) and out.getvalue():
        held_to_json_schema(out.getvalue())
    return Result(code, out.getvalue(), err.getvalue())


def held_to_json_schema(printed: str) -> None:
    """What --json printed is valid by `qmailsetup schema json`: every
    test's run checks the schema against what the tool really prints."""
    import json

    import jsonschema

    from qmailsetup.schema import json_schema

    jsonschema.validate(json.loads(printed), json_schema())


def squeezed(text: str) -> str:
    """TEXT with every run of blanks and line ends one space: check's
    report wraps its findings at 100 columns (output.py), so a test
    looks for what a finding says in this form."""
    return " ".join(text.split())


def fake_tools(mocker, names=None, answer=None) -> list[list[str]]:
    """Stand in for the tools NAMES (all when None), which cannot run here,
    at the one runner (tools.run_tool): each call's argv is recorded as
    asked for, and ANSWER(argv) gives the ToolResult (exit 0 with no output
    when None); any other tool runs for real."""
    from qmailsetup import tools

    real = tools.run_tool
    calls: list[list[str]] = []

    def run(argv, **options):
        if names is not None and argv[0] not in names:
            return real(argv, **options)
        calls.append(list(argv))
        return answer(argv) if answer else tools.ToolResult(tuple(argv), 0, "", "")

    mocker.patch("qmailsetup.tools.run_tool", side_effect=run)
    return calls


def checked_accounts(spec, root: Path, platform: str = "linux") -> list:
    """check's account findings for SPEC on the tree ROOT: observed and
    planned as `qmailsetup check` does."""
    from qmailsetup.check.accounts import account_findings
    from qmailsetup.observe import observe
    from qmailsetup.plan import make_plan
    from qmailsetup.platforms import load_profile

    host = observe(spec, root, load_profile(platform))
    return account_findings(spec, host, make_plan(spec, host))
