"""Shell completion for bash, zsh and fish: the script each shell loads,
its installation in the user's home, and the answer to the shell's
question.

The scripts ask qmailsetup itself: with _QMAILSETUP_COMPLETE set, it
reads the words typed (COMP_WORDS) and which one the cursor is on
(COMP_CWORD), prints what may come there, a line each, and exits. The
answer comes from the command line's own definition (cli.py), through
click's Command and Parameter shell_complete, as typer's commands have
them; nothing else is spelt twice. Where there is nothing to offer (a
file name), each shell completes file names itself.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import typer

COMPLETE_VAR = "_QMAILSETUP_COMPLETE"

SCRIPTS = {
    "bash": """\
_qmailsetup_completion() {
    local IFS=$'\\n'
    COMPREPLY=( $(env COMP_WORDS="${COMP_WORDS[*]}" COMP_CWORD=$COMP_CWORD _QMAILSETUP_COMPLETE=complete_bash "$1") )
    return 0
}

complete -o default -F _qmailsetup_completion qmailsetup
""",
    "zsh": """\
#compdef qmailsetup

_qmailsetup_completion() {
  local -a found
  found=(${(f)"$(env COMP_WORDS="${words[*]}" COMP_CWORD=$((CURRENT - 1)) _QMAILSETUP_COMPLETE=complete_zsh qmailsetup)"})
  if (( ${#found} )); then
    compadd -- $found
  else
    _files
  fi
}

compdef _qmailsetup_completion qmailsetup
""",
    "fish": """\
function __qmailsetup_completion
    set -l found (env COMP_WORDS=(commandline -cp) COMP_CWORD=(count (commandline -opc)) _QMAILSETUP_COMPLETE=complete_fish qmailsetup)
    if set -q found[1]
        printf '%s\\n' $found
    else
        __fish_complete_path (commandline -ct)
    end
end

complete --command qmailsetup --no-files --arguments '(__qmailsetup_completion)'
""",
}

# where each shell finds the script, and its start-up file with the line it needs for it (fish needs none)
PLACES: dict[str, tuple[str, tuple[str, str] | None]] = {
    "bash": (".bash_completions/qmailsetup.sh", (".bashrc", "source ~/.bash_completions/qmailsetup.sh")),
    "zsh": (".zfunc/_qmailsetup", (".zshrc", "fpath+=~/.zfunc; autoload -Uz compinit; compinit")),
    "fish": (".config/fish/completions/qmailsetup.fish", None),
}


def install(shell: str, home: Path) -> Path:
    """SHELL's script into HOME, and the line that loads it into the
    shell's start-up file unless it is there already; where it went."""
    script, startup = PLACES[shell]
    path = home / script
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(SCRIPTS[shell])
    if startup is not None:
        rc_file, needed = startup
        rc = home / rc_file
        text = rc.read_text() if rc.exists() else ""
        if needed not in text.splitlines():
            with rc.open("a") as appended:  # the rest of the file as it is
                appended.write(("\n" if text and not text.endswith("\n") else "") + needed + "\n")
    return path


def words_typed(environ) -> tuple[list[str], str]:
    """The words typed after the program's name, up to the one the cursor
    is on, and what is typed of that one."""
    line = environ.get("COMP_WORDS", "")
    try:
        words = shlex.split(line)
    except ValueError:  # a quote not closed yet
        words = line.split()
    cursor = int(environ.get("COMP_CWORD", len(words)))
    return words[1:cursor], words[cursor] if cursor < len(words) else ""


def candidates(group, words: list[str], incomplete: str) -> list[str]:
    """What may come after WORDS where INCOMPLETE is typed, in GROUP (the
    command line as click sees it): a command, an option, or an option's
    or an argument's value among its choices."""
    command, expecting, given = group, None, 0
    for word in words:
        if expecting is not None:
            expecting = None  # WORD was its value
        elif word in getattr(command, "commands", {}):
            command, given = command.commands[word], 0
        elif word.startswith("-"):
            expecting = next((p for p in command.params if word in p.opts and not p.is_flag), None)
        else:
            given += 1  # an argument's value
    arguments = [p for p in command.params if p.param_type_name == "argument"]
    if expecting is None and not incomplete.startswith("-") and given < len(arguments):
        expecting = arguments[given]
    context = typer.Context(command)
    found = (expecting or command).shell_complete(context, incomplete)
    return [item.value for item in found]


def answer(app, environ) -> str:
    """The answer to the shell's question in ENVIRON, a line each."""
    words, incomplete = words_typed(environ)
    return "".join(f"{value}\n" for value in candidates(typer.main.get_command(app), words, incomplete))
