"""Installed as users install command-line tools: a wheel built from the
checkout, in a fresh venv (what pipx and uv tool install make), runs from
anywhere with its platform profiles and default spec inside the wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import require_tools
from qmailsetup import __version__
from trees import debian_tree

CHECKOUT = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.slow  # a wheel built and installed into a fresh environment


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


def test_the_wheel_ships_the_well_known_specs_and_spec_names_them(installed, tmp_path):
    """--spec install-ids on an installed qmailsetup, in a directory
    without a checkout: the spec shipped in the wheel, as the checkout
    has it."""
    wheel, qmailsetup = installed
    shipped = sorted(p.name for p in (CHECKOUT / "src/qmailsetup/specs").glob("*.toml"))
    assert len(shipped) == 6
    assert {f"qmailsetup/specs/{name}" for name in shipped} <= set(zipfile.ZipFile(wheel).namelist())
    root = debian_tree(tmp_path / "root")
    plan = subprocess.run(
        [str(qmailsetup), "apply", "--dry-run", "--platform", "linux", "--root", str(root), "--spec", "install-ids"],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert plan.returncode == 0, plan.stderr
    assert "    uid: 7790\n" in plan.stdout and "    gid: 2107\n" in plan.stdout
    helped = subprocess.run([str(qmailsetup), "apply", "--help"], capture_output=True, text=True, cwd=tmp_path)
    assert "--spec install-ids" in helped.stdout and "examples/" not in helped.stdout


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


PAGES = {"qmailsetup": "man8/qmailsetup.8", "qmailsetup.toml": "man5/qmailsetup.toml.5"}


def test_the_wheel_installs_the_man_pages_where_man_finds_them(installed):
    """Both pages in the venv's share/man: man finds them with the venv's
    bin on PATH (README.md says so after its install command), or with
    man -M VENV/share/man."""
    wheel, qmailsetup = installed
    names = zipfile.ZipFile(wheel).namelist()
    venv = qmailsetup.parent.parent
    for place in PAGES.values():
        assert f"qmailsetup-{__version__}.data/data/share/man/{place}" in names
        page = venv / "share/man" / place
        assert page.read_text() == (CHECKOUT / "man" / Path(place).name).read_text()
    require_tools("man")
    for name, place in PAGES.items():
        page = venv / "share/man" / place
        # man-db looks in share/man beside each bin/ on PATH: a venv's, or pipx's
        found = subprocess.run(["man", "-w", name], capture_output=True, text=True,
                               env={"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "MANPATH": ""})
        assert (found.returncode, found.stdout) == (0, f"{page}\n"), found.stderr
        found = subprocess.run(["man", "-M", str(venv / "share/man"), "-w", name], capture_output=True, text=True,
                               env={"PATH": "/usr/bin:/bin"})
        assert (found.returncode, found.stdout) == (0, f"{page}\n"), found.stderr
        # and, as README.md's install leaves it, not without either
        lost = subprocess.run(["man", "-w", name], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
        assert lost.returncode != 0


def test_the_readme_install_line_names_the_wheel_that_is_built(installed):
    wheel, _ = installed
    readme = (CHECKOUT / "README.md").read_text()
    line = next(shown for shown in readme.splitlines() if "uv tool install" in shown and "pip wheel" in shown)
    assert line.strip() == f"python3 -m pip wheel --no-deps -w dist . && uv tool install dist/{wheel.name}"
