"""What a person at a terminal sees: plain text (no ANSI escapes) in help
and errors, on a real terminal with colour asked for or NO_COLOR set, and
in pipes; shell completion; --help with examples for every command."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys

import pytest

from conftest import cli

COMMANDS = ("apply", "check", "env", "export")


def on_a_terminal(args: list[str], **env: str) -> tuple[int, str]:
    """Run qmailsetup with a pseudo-terminal as stdin, stdout and stderr."""
    environment = {"PATH": os.environ["PATH"], "TERM": "xterm-256color", "COLUMNS": "100", **env}
    pid, fd = pty.fork()
    if pid == 0:  # the child: nothing here may return
        try:
            os.execve(sys.executable, [sys.executable, "-m", "qmailsetup", *args], environment)
        finally:
            os._exit(127)
    output = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), output.decode()


@pytest.mark.parametrize("colour", [{"FORCE_COLOR": "1"}, {"NO_COLOR": "1"}], ids=["force-color", "no-color"])
@pytest.mark.parametrize(
    ("args", "code", "expected"),
    [
        (["--help"], 0, "Usage: qmailsetup [OPTIONS] COMMAND"),
        (["export", "--help"], 0, "Examples:"),
        (["apply", "--bogus"], 2, "qmailsetup: No such option: --bogus"),
        (["export"], 2, "Missing option '--format'"),
        (["env", "--root", "/nonexistent"], 2, "qmailsetup: --root /nonexistent: not a directory"),
    ],
)
def test_terminal_output_is_plain_text(colour, args, code, expected):
    returned, output = on_a_terminal(args, **colour)
    assert returned == code, output
    assert expected in output
    assert "\x1b" not in output
    assert not set("╭╮╰╯│─") & set(output)  # no rich panels either


def test_rich_is_never_imported():
    probe = (
        "import sys\nfrom qmailsetup.cli import main\n"
        "for args in (['--help'], ['apply', '--bogus'], ['export', '--help']):\n"
        "    try:\n        main(args)\n    except SystemExit:\n        pass\n"
        "print('rich' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.stdout.splitlines()[-1] == "False"


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_examples(command):
    result = cli(command, "--help")
    assert result.code == 0
    examples = result.out.split("Examples:\n", 1)[1].split("\n\n  Exit status:\n")[0].splitlines()
    assert examples and all(line.startswith("    ") for line in examples if line)
    assert any(line.strip().startswith(("qmailsetup", "vars=")) for line in examples)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_help_ends_with_its_own_exit_status(command):
    """Each command's codes, in its own terms: check's 3 is a finding that
    is an error, never apply's conflict or drift."""
    from qmailsetup.errors import COMMAND_EXITS

    result = cli(command, "--help")
    table = result.out.split("\n  Exit status:\n", 1)[1]
    # each meaning wrapped, its lines indented under its first word
    assert re.sub(r"\n {7}(?=\S)", " ", table) == "".join(f"    {code}  {meaning}\n" for code, meaning in COMMAND_EXITS[command])
    codes = [code for code, _ in COMMAND_EXITS[command]]
    assert codes == {"apply": [0, 1, 2, 3, 4, 5]}.get(command, [0, 1, 2, 3])
    if command != "apply":
        assert "every change applied" not in table and "drift" not in table


@pytest.mark.parametrize("command", [*COMMANDS, "schema", None])
def test_help_lines_are_at_most_80_columns(command):
    """As click wraps the options, on a terminal of any width: the exit
    status too, each meaning's lines under its first word."""
    out = cli(*filter(None, [command, "--help"])).out
    assert max(map(len, out.splitlines())) <= 80, out


@pytest.mark.parametrize("command", COMMANDS)
def test_help_names_files_and_directories_not_types(command):
    out = cli(command, "--help").out
    assert not {"<str>", "<path>", "TEXT", "PATH"} & set(out.replace("[", " ").split())
    assert "--spec FILE" in out
    assert "--root DIR" in out or command == "export"


@pytest.mark.parametrize(("shell", "installed", "rc_file"), [
    ("zsh", ".zfunc/_qmailsetup", ".zshrc"),
    ("bash", ".bash_completions/qmailsetup.sh", ".bashrc"),
    ("fish", ".config/fish/completions/qmailsetup.fish", None),
])
def test_install_completion_installs_the_shell_named_whatever_the_parent_shell(tmp_path, shell, installed, rc_file):
    # bash as the parent process: typer's own option would have installed bash's for zsh
    env = {**os.environ, "HOME": str(tmp_path), "SHELL": "/bin/bash"}
    result = subprocess.run(["bash", "-c", '"$0" -m qmailsetup --install-completion "$1"; :', sys.executable, shell],
                            env=env, capture_output=True, text=True)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == f"{shell} completion installed in {tmp_path / installed}; it takes effect in a new shell\n"
    made = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert made == sorted(filter(None, [installed, rc_file]))
    assert "qmailsetup" in (tmp_path / installed).read_text()


def test_install_completion_refuses_an_unknown_shell_and_writes_nothing(tmp_path):
    env = {**os.environ, "HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "qmailsetup", "--install-completion", "tcsh"],
                            env=env, capture_output=True, text=True)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == ("qmailsetup: Invalid value for '--install-completion': 'tcsh' is not one of "
                             "'bash', 'zsh', 'fish'. (see 'qmailsetup --help')\n")
    assert list(tmp_path.iterdir()) == []


def test_a_missing_choice_lists_the_choices_on_one_plain_line():
    result = cli("export")
    assert (result.code, result.out) == (2, "")
    assert result.err == ("qmailsetup: Missing option '--format'. Choose from: sysusers, json, qmail-conf, sh, toml "
                          "(see 'qmailsetup export --help')\n")


def test_bash_completion_script_and_completions():
    # typer detects the shell from the parent process: make that bash, whatever runs the tests
    # (the trailing ':' keeps bash from exec'ing python in its place)
    script = subprocess.run(
        ["bash", "-c", '"$0" -m qmailsetup --show-completion bash; :', sys.executable], capture_output=True, text=True
    )
    assert script.returncode == 0
    assert "complete -o default -F _qmailsetup_completion qmailsetup" in script.stdout

    def complete(words: str, cword: int) -> list[str]:
        env = dict(os.environ, _QMAILSETUP_COMPLETE="complete_bash", COMP_WORDS=words, COMP_CWORD=str(cword))
        # the console script's name is what the completion variable is named after
        done = subprocess.run([sys.executable, "-c", "import sys; sys.argv[0] = 'qmailsetup'; "
                               "from qmailsetup.cli import main; main()"], env=env, capture_output=True, text=True)
        return done.stdout.split()

    assert complete("qmailsetup ex", 1) == ["export"]
    assert complete("qmailsetup export --format ", 3) == ["sysusers", "json", "qmail-conf", "sh", "toml"]
    assert complete("qmailsetup schema ", 2) == ["spec", "json"]
    assert complete("qmailsetup apply --fix", 2) == ["--fix-drift"]
    assert complete("qmailsetup apply --spec ", 3) == []  # a file: the shell completes it


def test_the_bash_script_completes_through_qmailsetup(tmp_path):
    """The script --show-completion prints, loaded by a real bash and called
    as bash calls it for a Tab: its COMPREPLY is what qmailsetup answers."""
    program = tmp_path / "qmailsetup"
    program.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m qmailsetup "$@"\n')
    program.chmod(0o755)
    script = (
        'source <(qmailsetup --show-completion bash)\n'
        'COMP_WORDS=(qmailsetup apply --backend ""); COMP_CWORD=3\n'
        '_qmailsetup_completion qmailsetup\n'
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.split() == ["auto", "useradd", "pw", "files"]


@pytest.mark.parametrize(("shell", "rc_file", "line"), [
    ("bash", ".bashrc", "source ~/.bash_completions/qmailsetup.sh"),
    ("zsh", ".zshrc", "fpath+=~/.zfunc; autoload -Uz compinit; compinit"),
])
def test_installing_again_keeps_the_start_up_file_and_adds_its_line_once(tmp_path, shell, rc_file, line):
    (tmp_path / rc_file).write_text("export EDITOR=vi")  # no newline at its end
    env = {**os.environ, "HOME": str(tmp_path)}
    for _ in range(2):
        done = subprocess.run([sys.executable, "-m", "qmailsetup", "--install-completion", shell],
                              env=env, capture_output=True, text=True)
        assert (done.returncode, done.stderr) == (0, "")
    assert (tmp_path / rc_file).read_text() == f"export EDITOR=vi\n{line}\n"
