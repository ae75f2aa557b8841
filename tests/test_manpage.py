"""qmailsetup(8), README.md and the command line agree: every command and
option, and the exit-status table of errors.py. The man page is what
man/generate.py prints, and renders without a warning."""

from __future__ import annotations

import re
import runpy
import shutil
import subprocess
from pathlib import Path

import pytest
import typer

from conftest import require_tools
from qmailsetup.cli import app
from qmailsetup.errors import EXIT_TABLE

CHECKOUT = Path(__file__).resolve().parents[1]
MANPAGE = CHECKOUT / "man/qmailsetup.8"
README = (CHECKOUT / "README.md").read_text()


def generated() -> str:
    return runpy.run_path(str(CHECKOUT / "man/generate.py"))["manpage"]()


def command_line() -> dict[str, list[str]]:
    """{command: its options}; "" for the options before the command."""
    group = typer.main.get_command(app)
    options = {"": [o for p in group.params for o in p.opts]}
    for name, command in group.commands.items():
        options[name] = [o for p in command.params for o in p.opts]
    return options


def test_the_man_page_is_what_generate_prints():
    assert MANPAGE.read_text() == generated(), "run: .venv/bin/python man/generate.py > man/qmailsetup.8"


def test_the_man_page_and_the_readme_name_every_command_and_option():
    page = MANPAGE.read_text().replace("\\-", "-")
    sections = page.split("\n.SS ")
    for command, options in command_line().items():
        if command:
            [section] = [s for s in sections if s.startswith(f"{command}\n")]
            assert re.search(rf"^\\fB{command}\\fR ", page, re.MULTILINE), f"{command} not in SYNOPSIS"
            assert f"qmailsetup {command}" in README, f"README.md never shows {command}"
        else:
            section = page.split("\n.SH OPTIONS\n", 1)[1]
        for option in options:
            assert f"\\fB{option}\\fR" in section, f"{command} {option} not in the man page"
            assert option in README, f"README.md never names {option}"


def test_readme_exit_table_is_errors_table():
    table = README.split("## Exit codes\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if re.match(r"\| \d ", line)]
    assert rows == [f"| {code} | {meaning} |" for code, meaning in EXIT_TABLE]


def test_the_man_page_has_the_sections_of_a_man_page():
    sections = re.findall(r"^\.SH (.+)$", MANPAGE.read_text(), re.MULTILINE)
    assert sections == ["NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "OPTIONS", "EXIT STATUS",
                        "ENVIRONMENT", "FILES", "EXAMPLES", "SEE ALSO"]
    page = MANPAGE.read_text()
    for code, _ in EXIT_TABLE:
        assert f".TP\n\\fB{code}\\fR\n" in page
    for variable in ("QMAILSETUP_LOCK_TIMEOUT", "SOURCE_DATE_EPOCH"):
        assert f".TP\n\\fB{variable}\\fR\n" in page


@pytest.mark.parametrize("renderer", ["groff", "man"])
def test_the_man_page_renders_without_warnings(renderer):
    if renderer == "groff":
        require_tools("groff")
        argv = ["groff", "-man", "-Tutf8", "-ww", "-z", str(MANPAGE)]
    else:
        require_tools("man")
        argv = ["man", "--warnings", "-l", str(MANPAGE)]
    result = subprocess.run(argv, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "MANWIDTH": "80"})
    assert (result.returncode, result.stderr) == (0, "")
    if renderer == "man":
        assert "qmailsetup - prepare a UNIX host for qmail" in result.stdout
        assert not shutil.which("col") or "\\-" not in result.stdout  # no escape shown as is
