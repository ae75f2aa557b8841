"""The queue commands' --help, as every command's (test_tools_terminal.py):
examples, the exit statuses the queue group has, at most 80 columns."""

from __future__ import annotations

import re

import pytest

from conftest import cli
from qmailsetup.errors import COMMAND_EXITS


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
