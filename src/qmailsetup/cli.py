"""The command line: parse the options, hand them to the command
(commands/), have output.py print what it returns, and map how the run
ended to the exit codes of qmailsetup(8)."""

from __future__ import annotations

import os
import sys
import textwrap
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeAlias

import typer

from qmailsetup import __version__, completion, output
from qmailsetup.choices import BACKENDS, EXPORT_FORMATS
from qmailsetup.commands import (
    apply as apply_command,
    check as check_command,
    env as env_command,
    export as export_command,
    queue as queue_command,
)
from qmailsetup.errors import COMMAND_EXITS, EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, BadInput, QmailsetupError
from qmailsetup.schema import schema_text
from qmailsetup.specs import names as spec_names, spec_path
from qmailsetup.streams import guard_stdout, reopen_closed_descriptors, report_error

app = typer.Typer(
    name="qmailsetup",
    help="Prepare a UNIX host for qmail: groups, system accounts and qmail's home.",
    no_args_is_help=True,
    # our own --install-completion SHELL and --show-completion SHELL
    # (completion.py): typer's guess the shell from the parent process
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


# The options' values as the Enums typer takes, made from the one list of
# each (choices.py); mypy cannot read an Enum made at run time (nor its
# members), so to it they are StrEnums
if TYPE_CHECKING:
    BackendChoice: TypeAlias = StrEnum
    ExportFormat: TypeAlias = StrEnum
else:
    BackendChoice = StrEnum("BackendChoice", [(value, value) for value in ("auto", *BACKENDS)])
    ExportFormat = StrEnum("ExportFormat", [(value, value) for value in EXPORT_FORMATS])
DEFAULT_BACKEND = BackendChoice("auto")


# a str, not a Path: Path("./gentoo") is Path("gentoo"), a shipped spec's name
SpecOption = Annotated[
    str | None,
    typer.Option("--spec", metavar="FILE", help="A TOML spec file, or the name of a spec shipped with qmailsetup: "
                 f"{', '.join(spec_names())}; default: the built-in qmail layout."),
]
# a str, not a Path: Path("") would quietly become the current directory
RootOption = Annotated[
    str, typer.Option("--root", metavar="DIR", help="Work on the tree DIR (DIR/etc, qmail's home under DIR), as useradd --prefix does.")
]
PlatformOption = Annotated[
    str,
    typer.Option(
        "--platform", metavar="NAME", help="auto, or a profile in platforms/: linux, freebsd, openbsd, generic, ..."
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def epilog(command: str, *lines: str) -> str:
    """Example commands, then COMMAND's exit status (errors.py), kept as
    written (click's \\b: no rewrapping), so each meaning is wrapped here to
    the 80 columns of click's help, after the 2 it indents the epilog by."""
    examples = "\n".join(f"  {line}" for line in lines)
    codes = "\n".join(
        textwrap.fill(meaning, 78, initial_indent=f"  {code}  ", subsequent_indent=" " * (len(f"  {code}  ")))
        for code, meaning in COMMAND_EXITS[command]
    )
    return f"\b\nExamples:\n{examples}\n\n\b\nExit status:\n{codes}"


def version_callback(value: bool) -> None:
    if value:
        output.line(f"qmailsetup {__version__}")
        raise typer.Exit()


class Shell(StrEnum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"


def completion_callback(install: bool):
    def callback(value: Shell | None) -> None:
        if value is None:
            return
        if install:
            path = completion.install(value.value, Path.home())
            output.line(f"{value.value} completion installed in {path}; it takes effect in a new shell")
        else:
            output.write(completion.SCRIPTS[value.value])
        raise typer.Exit()

    return callback


def completion_option(install: bool, help: str):
    """--install-completion or --show-completion: handled as it is read."""
    name = "--install-completion" if install else "--show-completion"
    return typer.Option(name, metavar="SHELL", callback=completion_callback(install), is_eager=True,
                        expose_value=False, help=help)


@app.callback()
def common(
    version: Annotated[
        bool, typer.Option("--version", callback=version_callback, is_eager=True, help="Show the version.")
    ] = False,
    install_completion: Annotated[
        Shell | None,
        completion_option(True, "Install completion for SHELL (bash, zsh or fish) in your home directory."),
    ] = None,
    show_completion: Annotated[
        Shell | None, completion_option(False, "Print the completion script for SHELL (bash, zsh or fish).")
    ] = None,
) -> None:
    """Prepare a UNIX host for qmail, idempotently and safely."""


def check_root(value: str) -> Path:
    if not value:
        raise BadInput("--root: empty; name a directory (/ for this host)")
    root = Path(value)
    if not root.is_dir():
        raise BadInput(f"--root {root}: not a directory")
    return root.resolve()


@app.command(
    epilog=epilog(
        "apply",
        "qmailsetup apply --dry-run",
        "qmailsetup apply --spec install-ids --root /mnt/image",
        "qmailsetup apply --fix-drift --json --detailed-exitcode",
    )
)
def apply(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan; write nothing at all.")] = False,
    spec: SpecOption = None,
    root: RootOption = "/",
    backend: Annotated[BackendChoice, typer.Option("--backend", help="How accounts are made.")] = DEFAULT_BACKEND,
    platform: PlatformOption = "auto",
    fix_drift: Annotated[
        bool, typer.Option("--fix-drift", help="Also change existing accounts that differ in group, home, shell, comment, or lack a supplementary group.")
    ] = False,
    json: JsonOption = False,
    detailed_exitcode: Annotated[
        bool, typer.Option("--detailed-exitcode", help="Exit 4 when changes are pending (--dry-run) or were made.")
    ] = False,
    ids_from: Annotated[
        str | None,
        typer.Option("--ids-from", metavar="DIR", help="Take each qmail account's ID from the existing qmail home DIR "
                     "(under --root, a path inside the root): its queue's and alias's owners, and the IDs compiled "
                     "into its binaries; refused where they disagree."),
    ] = None,
    plan_out: Annotated[
        Path | None, typer.Option("--plan-out", metavar="FILE", help="With --dry-run: save the plan in FILE.")
    ] = None,
    plan: Annotated[
        Path | None, typer.Option("--plan", metavar="FILE", help="Apply exactly the plan saved in FILE, or refuse; with --dry-run, check that it still holds.")
    ] = None,
) -> None:
    """Create the groups, accounts and directories of the spec; --dry-run shows the plan."""
    report = output.ApplyReport(json)
    if plan is not None:
        # the plan holds the spec and what to do: the options that would change them are refused
        others = {"spec": spec, "fix_drift": fix_drift, "plan_out": plan_out, "ids_from": ids_from}
        given = [name for name, value in others.items() if value not in (None, False)]
        if given:
            raise BadInput(f"--plan: not with --{given[0].replace('_', '-')} (the plan holds its spec and its changes)")
        outcome = apply_command.saved(plan_file=plan, root=check_root(root), backend_name=backend.value,
                                      platform=platform, dry_run=dry_run, detailed=detailed_exitcode, report=report)
    else:
        if plan_out is not None and not dry_run:
            raise BadInput("--plan-out: only with --dry-run (the plan is saved, not applied)")
        outcome = apply_command.run(
            spec_file=spec_path(spec), root=check_root(root), backend_name=backend.value, platform=platform,
            dry_run=dry_run, fix_drift=fix_drift, detailed=detailed_exitcode, report=report, ids_from=ids_from,
            plan_out=plan_out,
        )
    output.applied(outcome, json)
    if outcome.error is not None:
        raise outcome.error
    raise typer.Exit(outcome.status)


@app.command(
    epilog=epilog(
        "check",
        "qmailsetup check",
        "qmailsetup check --root /mnt/image --json",
        "qmailsetup check --spec freebsd-ports",
    )
)
def check(
    root: RootOption = "/", json: JsonOption = False, spec: SpecOption = None, platform: PlatformOption = "auto"
) -> None:
    """Is this host fit for qmail? The filesystem under qmail's home, the prerequisites, the accounts.

    Exit 3 when any finding is an error, else 0.
    """
    result = check_command.run(root=check_root(root), spec_file=spec_path(spec), platform=platform)
    output.checked(result, json)
    raise typer.Exit(result.status)


@app.command(
    epilog=epilog(
        "env",
        'vars=$(qmailsetup env) && eval "$vars" && echo "qmaild is $QMAIL_UID_QMAILD"',
        "qmailsetup env --root /mnt/image --spec install-ids",
    )
)
def env(spec: SpecOption = None, root: RootOption = "/", platform: PlatformOption = "auto") -> None:
    """Print QMAIL_HOME, QMAIL_UID_<USER> and QMAIL_GID_<GROUP> as sh assignments, read from the host's files.

    Exits 3, naming them, when accounts are missing: run apply first.
    """
    result = env_command.run(spec_file=spec_path(spec), root=check_root(root), platform=platform)
    output.env(result)
    raise typer.Exit(result.status)


@app.command(
    epilog=epilog(
        "export",
        "qmailsetup export --format sysusers > /etc/sysusers.d/qmail.conf",
        "qmailsetup export --format qmail-conf --output ~/src/netqmail-1.06",
        "qmailsetup export --format sh --platform linux > qmail-accounts.sh",
        "sh qmail-accounts.sh --dry-run",
        "qmailsetup export --format json",
        "qmailsetup export --format toml --root /mnt/old-host > pinned.toml",
    )
)
def export(
    format: Annotated[
        ExportFormat,
        typer.Option("--format", help=", ".join(f"{name} ({what})" for name, what in EXPORT_FORMATS.items()) + "."),
    ],
    spec: SpecOption = None,
    platform: PlatformOption = "auto",
    output_dir: Annotated[
        Path | None,
        typer.Option("--output", metavar="DIR", help="Write the file(s) into DIR (qmail-conf needs it)."),
    ] = None,
    root: Annotated[
        str | None, typer.Option("--root", metavar="DIR", help="--format toml: the IDs the tree DIR has (DIR/etc).")
    ] = None,
) -> None:
    """Write the spec in other tools' terms: sysusers.d, JSON, qmail's conf files, a POSIX sh script, or the spec
    with the host's IDs pinned."""
    if root is not None and format.value not in export_command.READS_HOST:
        raise BadInput(f"--root: --format {format.value} is the spec alone and reads no host; only --format toml reads one")
    result = export_command.run(fmt=format.value, spec=spec, platform=platform,
                                root=check_root("/" if root is None else root), directory=output_dir)
    output.exported(result)
    raise typer.Exit(result.status)


class SchemaKind(StrEnum):
    spec = "spec"
    json = "json"


@app.command(
    epilog=epilog(
        "schema",
        "qmailsetup schema spec > qmail.schema.json",
        "qmailsetup schema json",
    )
)
def schema(kind: Annotated[SchemaKind, typer.Argument(metavar="KIND", help="spec (the TOML spec file) or json (what --json prints).")]) -> None:
    """Print a JSON Schema: of the spec file, or of what apply, check and queue print with --json."""
    output.write(schema_text(kind.value))


queue_app = typer.Typer(
    name="queue",
    help="qmail's queue: create it as qmail's installer does, check it, repair it after a restore.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(queue_app)


QueueDryRun = Annotated[bool, typer.Option("--dry-run", help="Show what would be done; write nothing.")]


def queue_change(action: str, root: str, spec: str | None, platform: str, json: bool, dry_run: bool) -> None:
    outcome = queue_command.change(action, root=check_root(root), spec_file=spec_path(spec), platform=platform,
                                   dry_run=dry_run)
    output.queue_changed(outcome, json)
    raise typer.Exit(outcome.status)


@queue_app.command("create", epilog=epilog(
    "queue", "qmailsetup queue create", "qmailsetup queue create --root \"$DESTDIR\" --spec my.toml"))
def queue_create(dry_run: QueueDryRun = False, spec: SpecOption = None, root: RootOption = "/",
                 platform: PlatformOption = "auto", json: JsonOption = False) -> None:
    """Make the queue as the installation's installer does (its directories split by conf-split, lock/tcpto,
    lock/sendmutex, the FIFO lock/trigger), or put back what is missing, owners and modes; idempotent."""
    queue_change("create", root, spec, platform, json, dry_run)


@queue_app.command("check", epilog=epilog("queue", "qmailsetup queue check", "qmailsetup queue check --json"))
def queue_check(spec: SpecOption = None, root: RootOption = "/", platform: PlatformOption = "auto",
                json: JsonOption = False) -> None:
    """Check the queue: its structure, owners and modes, every message named after its inode in its split
    directory, entries no message explains, what qmail-queue left. Read only.

    Exit 3 when a finding is an error.
    """
    result = queue_command.check(root=check_root(root), spec_file=spec_path(spec), platform=platform)
    output.queue_checked(result, json)
    raise typer.Exit(result.status)


@queue_app.command("repair", epilog=epilog(
    "queue", "svc -d /service/qmail-send && qmailsetup queue repair --dry-run", "qmailsetup queue repair"))
def queue_repair(dry_run: QueueDryRun = False, spec: SpecOption = None, root: RootOption = "/",
                 platform: PlatformOption = "auto", json: JsonOption = False) -> None:
    """Repair the queue after a restore: owners and modes, every message renamed after its inode with all its
    entries in their split directories, lock files remade; what no message explains goes into a quarantine
    beside the queue, never deleted. Refused (exit 6) while qmail-send runs; qmail-send cannot start meanwhile."""
    queue_change("repair", root, spec, platform, json, dry_run)


def run_command(argv: list[str] | None) -> int:
    """Run the command line; every way it can end becomes an exit code."""
    try:
        # not standalone: usage errors come back here, to be told in one line
        return app(args=argv, prog_name="qmailsetup", standalone_mode=False) or EXIT_OK
    except QmailsetupError as error:
        for line in error.lines:
            output.error(line)
        return error.exit_code
    except OSError as error:
        output.error(str(error))
        return EXIT_FAILED
    except typer.TyperException as error:
        if type(error).__name__ == "NoArgsIsHelpError":  # its message is the help (typer's class is private)
            output.usage(error.format_message())
            return EXIT_BAD_INPUT
        ctx = getattr(error, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        # click lays some out over lines ("Choose from:\n\tsysusers,\n\tjson"): one line, plain spaces
        message = " ".join(error.format_message().split()).replace("Value error, ", "")
        output.error(message + hint)
        return error.exit_code
    except typer.Abort:
        output.error("aborted")
        return EXIT_FAILED


def main(argv: list[str] | None = None) -> None:
    reopen_closed_descriptors()
    if completion.COMPLETE_VAR in os.environ:  # the shell asks what may come next
        output.write(completion.answer(app, os.environ))
        sys.exit(EXIT_OK)
    original = sys.stdout
    guarded = guard_stdout()
    try:
        code = run_command(argv)
        problem = report_error(guarded)
    finally:
        sys.stdout = original if original is not None else guarded.stream
    if problem:
        output.error(problem)
    sys.exit(code)
