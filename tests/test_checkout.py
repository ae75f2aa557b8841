"""What a newcomer finds in the checkout: a README read in five minutes,
that starts with the two commands to type on a fresh machine and says
where the reference is (the man pages, which tests/test_manpage.py holds
to the code); the documents it names; no dangling link."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

from conftest import skip_or_fail
from qmailsetup.specs import names as spec_names

CHECKOUT = Path(__file__).resolve().parents[1]
README = (CHECKOUT / "README.md").read_text()
INSTALL_AND_RUN = "python3 -m venv .venv && .venv/bin/pip install -q . && .venv/bin/qmailsetup apply --dry-run"


def code_lines(text: str) -> list[str]:
    return [line[4:] for line in text.splitlines() if line.startswith("    ") and line.strip()]


def test_the_readme_is_read_in_five_minutes():
    assert len(README.encode()) <= 12_000


def test_the_readme_starts_with_the_two_commands():
    """Install and run the main job, then install and pass the tests: the
    first two commands, before any section; the second is the one .ci/run
    runs."""
    ci = (CHECKOUT / ".ci/run").read_text()
    test_command = re.search(r'^test_cmd="(.+)"$', ci, re.MULTILINE).group(1)
    before_any_section = README.split("\n## ", 1)[0]
    assert code_lines(before_any_section) == [INSTALL_AND_RUN, test_command]


def test_the_readme_puts_the_command_and_its_pages_on_path_before_using_them():
    """After the install the command is in .venv/bin: the README says how
    to reach it, and its man pages, before it calls qmailsetup bare."""
    lines = code_lines(README)
    path_line = lines.index('export PATH="$PWD/.venv/bin:$PATH"')
    first_bare = next(n for n, line in enumerate(lines) if line.startswith("qmailsetup "))
    assert path_line < first_bare
    assert "`man qmailsetup`" in README and "`man qmailsetup.toml`" in README
    assert "`man -M .venv/share/man qmailsetup`" in README


def test_the_readme_names_every_shipped_spec_and_only_those():
    named = re.findall(r"^\| `([a-z-]+)` \| [^|]*\d", README, re.MULTILINE)
    assert sorted(named) == spec_names()
    for line in code_lines(README):
        words = shlex.split(line.split("#", 1)[0])
        if "--spec" in words:
            value = words[words.index("--spec") + 1]
            assert value in spec_names() or value.endswith(".toml"), line


def test_the_documents_the_readme_names_exist():
    for path in re.findall(r"\b((?:docs|bench|man|examples|collections)/[\w./-]+\w)", README):
        if "*" not in path:
            assert (CHECKOUT / path).exists(), path
    for path in ("man/qmailsetup.8", "man/qmailsetup.toml.5", "bench/README.md", "docs/testing.md",
                 "docs/mutation.md"):
        assert path in README, path


def test_every_tracked_link_leads_to_a_file_of_the_checkout():
    """A link into someone's own tree (.venv-main -> /work/main/.venv) is
    dangling in every other clone."""
    if not (CHECKOUT / ".git").exists():
        skip_or_fail("not a git checkout")
    listed = subprocess.run(["git", "-C", str(CHECKOUT), "ls-files", "-s", "-z"], capture_output=True, check=True)
    links = [entry.split("\t", 1)[1] for entry in listed.stdout.decode().split("\0") if entry.startswith("120000 ")]
    for link in links:
        target = (CHECKOUT / link).resolve()
        assert target.is_relative_to(CHECKOUT) and target.exists(), f"{link} -> {(CHECKOUT / link).readlink()}"
