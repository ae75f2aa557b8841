"""The queue commands' --help, as every command's (test_tools_terminal.py):
examples, the exit statuses the queue group has, at most 80 columns."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import pytest

from conftest import cli
from qmailsetup.errors import COMMAND_EXITS
from queues import made_queue, queue_cli
from snapshot import snapshot
from test_bad_input import as_nobody


@pytest.mark.parametrize("command", ["create", "check", "repair"])
def test_each_queue_command_has_help_with_examples_and_its_exit_status(command):
    result = cli("queue", command, "--help")
    assert result.code == 0
    examples = result.out.split("Examples:\n", 1)[1].split("\n\n  Exit status:\n")[0].splitlines()
    assert any(line.strip().startswith(f"qmailsetup queue {command}") for line in examples)
    table = result.out.split("\n  Exit status:\n", 1)[1]
    assert re.sub(r"\n {7}(?=\S)", " ", table) == "".join(f"    {code}  {meaning}\n" for code, meaning in COMMAND_EXITS["queue"])
    assert max(map(len, result.out.splitlines())) <= 80, result.out
    assert "--spec FILE" in result.out and "--root DIR" in result.out


@pytest.mark.root("makes a queue, then switches to nobody")
@pytest.mark.parametrize(("command", "expected"), [
    (("create",), "qmailsetup: queue create: run as root (the queue belongs to root and qmail's users); nothing written"),
    (("repair",), "qmailsetup: queue repair: run as root (the queue belongs to root and qmail's users); nothing written"),
    (("repair", "--dry-run"), "qmailsetup: {queue}: permission denied; run as root; nothing written"),
    (("create", "--dry-run"), "qmailsetup: {queue}: permission denied; run as root; nothing written"),
])
def test_create_and_repair_as_another_user_are_one_line_exit_2_nothing_written(command, expected):
    # outside pytest's private (0700) temporary directory, so nobody can walk in
    with tempfile.TemporaryDirectory() as top:
        os.chmod(top, 0o755)
        root, spec, queue = made_queue(Path(top))
        spec.chmod(0o644)
        before = snapshot(root)
        with as_nobody():
            result = queue_cli(command[0], root, spec, *command[1:])
        assert (result.code, result.err) == (2, expected.format(queue=queue) + "\n")
        assert snapshot(root) == before
