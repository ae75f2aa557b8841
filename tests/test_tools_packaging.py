"""Installed as users install command-line tools: a wheel built from the
checkout, in a fresh venv (what pipx and uv tool install make), runs from
anywhere with its platform profiles and default spec inside the wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from trees import debian_tree

from qmailsetup import __version__

CHECKOUT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path]:
    """(the wheel, the qmailsetup script of a fresh venv with it installed)."""
    base = tmp_path_factory.mktemp("packaging")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(CHECKOUT), "-w", str(base / "dist")],
        capture_output=True, text=True,
    )
    assert built.returncode == 0, built.stderr
    wheel = next((base / "dist").glob("qmailsetup-*.whl"))
    subprocess.run([sys.executable, "-m", "venv", str(base / "venv")], check=True)
    install = subprocess.run(
        [str(base / "venv/bin/pip"), "install", "-q", str(wheel)], capture_output=True, text=True
    )
    assert install.returncode == 0, install.stderr
    return wheel, base / "venv/bin/qmailsetup"


def test_wheel_holds_the_platforms_and_the_default_spec(installed):
    wheel, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    profiles = {p.name for p in (CHECKOUT / "platforms").glob("*.toml")}
    assert {f"qmailsetup/platforms/{name}" for name in profiles} <= names
    assert "qmailsetup/default.toml" in names


def test_installed_tool_runs_from_anywhere(installed, tmp_path):
    _, qmailsetup = installed
    version = subprocess.run([str(qmailsetup), "--version"], capture_output=True, text=True, cwd=tmp_path)
    assert version.stdout == f"qmailsetup {__version__}\n"
    root = debian_tree(tmp_path / "root")
    plan = subprocess.run(
        [str(qmailsetup), "apply", "--dry-run", "--platform", "linux", "--root", str(root)],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert plan.returncode == 0, plan.stderr
    assert "11 to create, 0 to modify, 0 in sync." in plan.stdout.splitlines()
    export = subprocess.run(
        [str(qmailsetup), "export", "--format", "sysusers", "--platform", "linux"], capture_output=True, text=True, cwd=tmp_path
    )
    assert export.returncode == 0 and "u alias -:nofiles - /var/qmail/alias /usr/sbin/nologin" in export.stdout
