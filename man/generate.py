"""Write the man pages from their templates and the code:

    .venv/bin/python man/generate.py

writes man/qmailsetup.8 from man/qmailsetup.8.in and man/qmailsetup.toml.5
from man/qmailsetup.toml.5.in. A template is roff; a line that is only
`@NAME ARGUMENT@` becomes the lines the code gives (each command's help and
options as --help shows them, the exit codes of errors.py, the finding ids
of check/__init__.py, the spec's fields from spec.py's models), and
`@NAME@` within a line a value (a limit, a default). What the code cannot
say (what a spec field means, what each shipped spec is) is here, and this
refuses to write a page where the two disagree: a field without its text,
a text without its field, a shipped spec not described.

tests/test_manpage.py fails when a page is not what this writes.
"""

from __future__ import annotations

import re
import typing
from pathlib import Path

import typer

from qmailsetup import __version__, spec as spec_module
from qmailsetup.check import FINDING_IDS
from qmailsetup.check.compiled import OUTPUT_LIMIT
from qmailsetup.cli import app
from qmailsetup.errors import COMMAND_EXITS
from qmailsetup.hostio import CONSULTED_LIMIT
from qmailsetup.installation import known_names
from qmailsetup.plan.warnings import RUN_AS_ROOT
from qmailsetup.platforms import NON_LOGIN_SHELLS
from qmailsetup.specs import names as spec_names
from qmailsetup.userdb.lock import DEFAULT_TIMEOUT

HERE = Path(__file__).parent
PAGES = ("qmailsetup.8", "qmailsetup.toml.5")


def in_words(names) -> str:
    """a, b and c, sorted."""
    names = sorted(names)
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]


def finding_ids(scope: str) -> str:
    """The finding ids of SCOPE (check/__init__.py FINDING_IDS), in words."""
    return in_words(name for name, each in FINDING_IDS.items() if each.scope == scope)


SHIPPED_SPECS = {
    "install-ids": "qmail's INSTALL.ids (qmail 1.03, netqmail): users 7790-7796, groups qmail 2107 and nofiles 2108.",
    "freebsd-ports": "The FreeBSD ports' ports/UIDs and ports/GIDs: users 81-87, groups qnofiles 81 and qmail 82.",
    "gentoo": "Gentoo's acct-user and acct-group packages: users 200-206, groups nofiles 200 and qmail 201.",
    "s-qmail": "fehcom's s/qmail: users 7790-7796 and the TLS user sqmtls 7797, groups nofiles 2108 and sqmail 2109.",
    "void-sqmail": "Void Linux's s/qmail, with _ names: users 790-797, groups 798 and 799.",
    "debian-netqmail": "Debian's netqmail packaging: users 64010-64016, group qmail 64010, homes under "
                       "/var/lib/qmail.",
}

# what each kind of value is, by the validator spec.py gives it (VALUES in
# qmailsetup.toml(5) says what each allows)
KINDS = {
    spec_module.check_name: "name",
    spec_module.check_id: "ID",
    spec_module.check_absolute: "absolute path",
    spec_module.check_directory: "directory path",
    spec_module.check_field_text: "text",
    spec_module.check_mode: "mode",
    spec_module.check_installation: "installation",
    spec_module.check_split: "number",
}

SECTIONS = {
    "groups": spec_module.Group, "users": spec_module.User, "paths": spec_module.PathSpec,
    "qmail": spec_module.QmailTable,
}

FIELD_TEXT = {
    "groups.name": "The group's name.",
    "groups.gid": "Its GID. Without it a new group gets one from the system range, as the platform's tool "
                  "would choose it; an existing group with another GID is a conflict, never renumbered.",
    "groups.role": "The qmail role it plays (see ROLES), for a group not known by its standard name.",
    "users.name": "The user's name.",
    "users.group": "Its primary group, by name: a group of the spec or of the host, else a conflict.",
    "users.home": "Its home directory. Never made by useradd (-M); a directory the spec wants made is a "
                  "[[paths]] entry, or comes from [qmail].",
    "users.uid": "Its UID. Without it a new user gets one from the system range; an existing user with "
                 "another UID is a conflict, never renumbered (qmail compiles the IDs in).",
    "users.shell": "Its shell, never a login shell (any but " + in_words(NON_LOGIN_SHELLS) + "): a spec that "
                   "names one is refused, exit status 2. Without it a new user gets the platform's nologin, and "
                   "an existing user with any non-login shell is in sync; a login shell is drift.",
    "users.comment": "The GECOS field. Without it the host's is left as it is.",
    "users.class": "The BSD login class (OpenBSD useradd -L, pw -L).",
    "users.role": "The qmail role it plays (see ROLES), for a user not known by its standard name.",
    "users.groups": "Its supplementary groups: each a group of the spec or of the host (else a conflict), "
                    "none of them its primary group, none twice.",
    "paths.path": "The directory.",
    "paths.owner": "Its owner, by name: a user of the spec or of the host (under --root, of the tree).",
    "paths.group": "Its group, by name.",
    "paths.mode": "Its mode, set bit and sticky bit included.",
    "paths.link": "Make path a symbolic link to this directory (a queue on another disk, an FHS layout): "
                  "apply makes the link, and the directory with owner, group and mode; check verifies both. "
                  "Not path itself, inside it, or above it.",
    "qmail.installation": "Which installer made qmail: " + ", ".join(known_names()) + " (netqmail stands "
                          "for qmail 1.03 and netqmail 1.06).",
    "qmail.home": "qmail's home: conf-qmail (s/qmail: conf-home).",
    "qmail.queue": "The queue, when it is not the home's queue/ (s/qmail's conf-queue and FHS layouts).",
    "qmail.split": f"conf-split, 1 to {spec_module.MAX_SPLIT}.",
}

VALUES = {
    "VERSION": __version__,
    "OUTPUT_MIB": str(OUTPUT_LIMIT >> 20),
    "CONSULTED_MIB": str(CONSULTED_LIMIT >> 20),
    "LOCK_TIMEOUT": f"{DEFAULT_TIMEOUT:g}",
    "USER_ROLES": ", ".join(typing.get_args(spec_module.UserRole)),
    "GROUP_ROLES": ", ".join(typing.get_args(spec_module.GroupRole)),
    "NAME_RULE": "Lower case letters, digits, _ and -, not starting with - or a digit, at most 32 characters "
                 f"(the pattern {spec_module.NAME_PATTERN.pattern}): what useradd, pw and OpenBSD's user(8) "
                 "all accept.",
    "MAX_ID": str(spec_module.MAX_ID),
    "NAME_MAX": str(spec_module.NAME_MAX),
    "PATH_MAX": str(spec_module.PATH_MAX),
    "FILESYSTEM_IDS": finding_ids("filesystem"),
    "SETUP_IDS": finding_ids("setup"),
    "PLAN_IDS": finding_ids("plan"),
    "CHECK_IDS": finding_ids("check"),
    "NON_LOGIN_SHELLS": in_words(NON_LOGIN_SHELLS),
    "RUN_AS_ROOT": RUN_AS_ROOT,
}


def roff(text: str) -> str:
    """TEXT made safe for roff: backslashes, option dashes, and a line
    that would begin with a control character."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return re.sub(r"^([.'])", r"\\&\1", text, flags=re.MULTILINE)


def entry(head: str, text: str) -> list[str]:
    return [".TP", head, roff(text)]


def flag(record: tuple[str, str]) -> str:
    name, _, metavar = record[0].partition(" ")
    metavar = metavar.strip("<>")
    if not name.startswith("-"):  # an argument (schema's KIND): its values are typed as they stand
        return "|".join(f"\\fB{roff(value)}\\fR" for value in metavar.split("|")) if metavar else f"\\fI{roff(name)}\\fR"
    return f"\\fB{roff(name)}\\fR" + (f" \\fI{roff(metavar)}\\fR" if metavar else "")


def option_lines(params: list, ctx) -> list[str]:
    lines = []
    for param in params:
        record = param.get_help_record(ctx)
        if record is not None:
            lines += entry(flag(record), " ".join(record[1].split()))
    return lines


class CommandLine:
    """The command line as typer builds it: the group and its commands."""

    def __init__(self) -> None:
        self.group = typer.main.get_command(app)
        self.top = typer.Context(self.group, info_name="qmailsetup")
        self.commands = dict(self.group.commands)

    def context(self, name: str):
        return typer.Context(self.commands[name], info_name=name, parent=self.top)

    def synopsis(self) -> list[str]:
        lines = [".nh"]
        for name, command in self.commands.items():
            ctx = self.context(name)
            parts = []
            for param in command.params:
                record = param.get_help_record(ctx)
                if record is not None:
                    parts.append(flag(record) if param.required else f"[{flag(record)}]")
            lines += [".B qmailsetup", f"\\fB{name}\\fR " + " ".join(parts), ".br"]
        lines += [".B qmailsetup", "[\\fB\\-\\-version\\fR] [\\fB\\-\\-install\\-completion\\fR \\fISHELL\\fR] "
                  "[\\fB\\-\\-show\\-completion\\fR \\fISHELL\\fR] [\\fB\\-\\-help\\fR]", ".hy"]
        return lines

    def command(self, name: str) -> list[str]:
        command = self.commands[name]
        return [f".SS {name}", roff(" ".join((command.help or "").split()))] + option_lines(
            command.params, self.context(name))

    def options(self) -> list[str]:
        return option_lines(self.group.params, self.top) + [
            ".TP", "\\fB\\-\\-help\\fR", "Show the help of qmailsetup, or of the command it follows, and exit."]


def exit_status() -> list[str]:
    lines = []
    for command, table in COMMAND_EXITS.items():
        lines.append(f".SS {command}")
        for code, meaning in table:
            lines += entry(f"\\fB{code}\\fR", meaning)
    return lines


def findings() -> list[str]:
    return [line for finding, each in FINDING_IDS.items() for line in entry(f"\\fB{finding}\\fR", each.about)]


def shipped_specs() -> list[str]:
    if sorted(SHIPPED_SPECS) != spec_names():
        raise SystemExit(f"man/generate.py: SHIPPED_SPECS describes {sorted(SHIPPED_SPECS)}; "
                         f"src/qmailsetup/specs/ holds {spec_names()}")
    return [line for name, text in SHIPPED_SPECS.items() for line in entry(f"\\fB{name}\\fR", text)]


def kind(annotation, metadata=()) -> str:
    """What a field's value is, from its type and its validator."""
    for meta in (*metadata, *getattr(annotation, "__metadata__", ())):
        if hasattr(meta, "func"):  # a validator (spec.Described only adds to the JSON Schema)
            return KINDS[meta.func]
    if typing.get_origin(annotation) is list:
        return "array of " + kind(typing.get_args(annotation)[0]) + "s"
    if typing.get_origin(annotation) is typing.Literal:
        return "one of " + ", ".join(typing.get_args(annotation))
    # X | None: what X is
    return kind(next(part for part in typing.get_args(annotation) if part is not type(None)))


def fields(section: str) -> list[str]:
    model = SECTIONS[section]
    lines = []
    for name, info in model.model_fields.items():
        key = f"{section}.{info.alias or name}"
        if key not in FIELD_TEXT:
            raise SystemExit(f"man/generate.py: spec field {key} has no FIELD_TEXT")
        if info.is_required():
            need = "required"
        elif info.default is None:
            need = "optional"
        else:
            need = f"default {info.default}"
        head = f"\\fB{info.alias or name}\\fR ({roff(kind(info.annotation, info.metadata))}; {roff(need)})"
        lines += entry(head, FIELD_TEXT[key])
    return lines


def all_fields() -> set[str]:
    return {f"{section}.{info.alias or name}" for section, model in SECTIONS.items()
            for name, info in model.model_fields.items()}


def page(template: str, command_line: CommandLine) -> str:
    generators = {
        "SYNOPSIS": command_line.synopsis, "OPTIONS": command_line.options, "EXIT STATUS": exit_status,
        "FINDINGS": findings, "SHIPPED SPECS": shipped_specs,
    }
    lines = []
    for line in template.splitlines():
        placeholder = re.fullmatch(r"@([A-Z ]+?)(?: ([a-z]+))?@", line)
        if placeholder is None:
            lines.append(re.sub(r"@([A-Z_]+)@", lambda m: roff(VALUES[m.group(1)]), line))
        elif placeholder.group(1) == "COMMAND":
            lines += command_line.command(placeholder.group(2))
        elif placeholder.group(1) == "FIELDS":
            lines += fields(placeholder.group(2))
        else:
            lines += generators[placeholder.group(1)]()
    return "\n".join(lines) + "\n"


def pages() -> dict[str, str]:
    """{file name in man/: its text}."""
    if set(FIELD_TEXT) != all_fields():
        raise SystemExit(f"man/generate.py: FIELD_TEXT for fields the spec lacks: {sorted(set(FIELD_TEXT) - all_fields())}")
    command_line = CommandLine()
    templates = {name: (HERE / f"{name}.in").read_text() for name in PAGES}
    for command in command_line.commands:
        if f"\n@COMMAND {command}@\n" not in templates["qmailsetup.8"] or command not in COMMAND_EXITS:
            raise SystemExit(f"man/generate.py: no @COMMAND {command}@ in qmailsetup.8.in, or no exit codes in errors.py")
    return {name: page(template, command_line) for name, template in templates.items()}


if __name__ == "__main__":
    for name, text in pages().items():
        (HERE / name).write_text(text)
