"""Write qmailsetup(8) from the command line itself: each command, its help
and every option as `--help` shows them, the exit status from errors.py's
table; the prose (description, environment, files, examples) is here.

    .venv/bin/python man/generate.py > man/qmailsetup.8

tests/test_manpage.py fails when man/qmailsetup.8 is not what this prints,
and when README.md leaves out a command or an option.
"""

from __future__ import annotations

import re

import typer
from typer import _click as click

from qmailsetup import __version__
from qmailsetup.check import FINDING_IDS
from qmailsetup.check.compiled import OUTPUT_LIMIT
from qmailsetup.cli import app
from qmailsetup.errors import EXIT_TABLE
from qmailsetup.hostio import CONSULTED_LIMIT
from qmailsetup.plan.warnings import RUN_AS_ROOT
from qmailsetup.platforms import NON_LOGIN_SHELLS


def in_words(names) -> str:
    """a, b and c, sorted."""
    names = sorted(names)
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]


def finding_ids(scope: str) -> str:
    """The finding ids of SCOPE (check/__init__.py FINDING_IDS), in words."""
    return in_words(name for name, each in FINDING_IDS.items() if each == scope)


DESCRIPTION = [
    "qmailsetup makes a UNIX host ready for qmail, netqmail or notqmail: the qmail and nofiles groups, "
    "the seven system accounts and /var/qmail, created idempotently from a declarative spec, through the "
    "host's own tools (useradd, groupadd and usermod; pw on FreeBSD), or by editing the account files "
    "itself as vipw would (--backend files).",
    "apply reads the spec (the built-in qmail layout unless --spec names a TOML file), observes the host, "
    "plans the difference, shows it field by field, and carries it out, telling each change as it completes. "
    "Nothing is ever deleted; an account that differs is drift, changed only with --fix-drift; a UID or GID "
    "is never changed. A conflict means nothing at all is written. A second run finds nothing to do. "
    "An account useradd or groupadd left half-made (a passwd or group line without its shadow or gshadow "
    "line) is a repair (action \"repair\" in --json output): the missing line is added, for that account "
    "alone, by either backend; check reports it as account.incomplete. "
    "When --backend files edits the account files of the running host, each account made or changed is "
    "logged to syslog (auth facility) as useradd, groupadd and usermod log it.",
    "check tells whether the host is fit for qmail: the filesystem under /var/qmail (nosuid, noexec, a "
    "network or in-memory filesystem, synchronous metadata), daemontools, ucspi-tcp and a resolver, and the "
    "accounts. env prints the IDs for a bootstrap script; export writes the spec for other tools.",
    "After a real run, apply's exit status is 5 exactly when check reports an error about what apply set up, "
    f"one table deciding which: the filesystem under /var/qmail ({finding_ids('filesystem')}; on the live root "
    f"only, as a tree under --root may be mounted elsewhere later), {finding_ids('setup')}, and what the plan "
    f"itself shows and makes ({finding_ids('plan')}), which a dry run does not note again. The other findings "
    f"({finding_ids('check')}) are about what apply does not set up: check alone reports them. A queue in "
    "memory (tmpfs, ramfs, an overlay whose upper layer is one) is a warning of fs.sync-metadata, never an "
    "error: qmail works there, and loses the queue at each reboot.",
    f"A login shell is any shell but {in_words(NON_LOGIN_SHELLS)}, whatever the platform. check "
    "reports one on a qmail account as account.login-shell, an error; a spec that names one is refused before "
    "anything is read, exit status 2, naming the user, the field and the shell.",
    "As another user than root, env, check and apply --dry-run read what everyone may read, passwd and group. "
    "What only shadow and gshadow hold (the passwords, an account half-made without its line there) is "
    f"unknown: an info finding of check, a warning of the dry run, \"{RUN_AS_ROOT}\", and the diff of those "
    "files is not shown. apply without --dry-run stops before anything, exit status 2.",
    "Whatever the host holds, a run stays bounded. A file qmailsetup only consults (login.defs, os-release, "
    f"shells, resolv.conf, a platform profile, the spec) larger than {CONSULTED_LIMIT >> 20} MiB is refused "
    "before it is read, exit status 2; the account files are read as they are, once. check reads at most "
    f"{OUTPUT_LIMIT >> 20} MiB of qmail-showctl's output, then kills it. A control character from the host "
    "(in another account's GECOS, a file name, another process's arguments, a path) is shown escaped, as "
    "\\x1b or \\u202e, in the text, in --json and in error messages: it cannot drive the terminal.",
]

ENVIRONMENT = [
    ("QMAILSETUP_LOCK_TIMEOUT",
     "Seconds to wait for a busy account-file lock (--backend files); 15 by default. "
     "Then the run fails with exit status 1, naming the lock."),
    ("SOURCE_DATE_EPOCH",
     "The time the files backend writes as the last password change of new shadow "
     "entries, as useradd does, when it is valid and not in the future."),
    ("PATH",
     "Where the platform's tools (useradd, pw, pwd_mkdb) and the prerequisites "
     "check looks for are found."),
]

FILES = [
    ("/etc/passwd, /etc/shadow, /etc/group, /etc/gshadow",
     "The account files on Linux; under --root DIR, DIR/etc/...; the files backend "
     "keeps the previous version of each as FILE-."),
    ("/etc/.pwd.lock, /etc/FILE.lock, /etc/FILE+, /etc/ptmp",
     "The locks the files backend takes, as the platform's account tools do: lckpwdf's and "
     "shadow-utils' on Linux, busybox's FILE+ too on Alpine, ptmp on the BSDs. FILE+ and ptmp hold no "
     "PID: one that is there is waited for, never removed."),
    ("/etc/master.passwd", "The account file on the BSDs, rebuilt into passwd and the databases with pwd_mkdb."),
    ("/etc/login.defs", "SYS_UID_MIN, SYS_UID_MAX, SYS_GID_MIN and SYS_GID_MAX: the range system IDs are taken from."),
    ("/etc/os-release", "Which platform profile --platform auto picks."),
    ("/var/qmail", "qmail's home: made with the owners and modes of the spec."),
    ("/proc/self/mountinfo", "The mount table check reads on Linux (mount -p on the BSDs)."),
]

EXAMPLES = [
    ("See what would be done on this host; nothing is written:", "qmailsetup apply --dry-run"),
    ("Do it, with qmail's INSTALL.ids numbers, into an image:",
     "qmailsetup apply --spec examples/install-ids.toml --root /mnt/image"),
    ("In a bootstrap script: stop unless the host is ready, then use the IDs:",
     'qmailsetup apply && vars=$(qmailsetup env) && eval "$vars"'),
    ("Is the host fit for qmail?", "qmailsetup check"),
    ("A sysusers.d(5) snippet of the spec:", "qmailsetup export --format sysusers"),
]

SEE_ALSO = "useradd(8), groupadd(8), usermod(8), pw(8), vipw(8), pwd_mkdb(8), sysusers.d(5), chattr(1), mount(8)"


def roff(text: str) -> str:
    """TEXT made safe for roff: backslashes, option dashes, and a line
    that would begin with a control character."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return re.sub(r"^([.'])", r"\\&\1", text, flags=re.MULTILINE)


def option_lines(params: list, ctx) -> list[str]:
    lines = []
    for param in params:
        record = param.get_help_record(ctx)
        if record is None:
            continue
        names, help_text = record
        flag, _, metavar = names.partition(" ")
        metavar = metavar.strip("<>")
        head = f"\\fB{roff(flag)}\\fR" + (f" \\fI{roff(metavar)}\\fR" if metavar else "")
        lines += [".TP", head, roff(" ".join(help_text.split()))]
    return lines


def synopsis(name: str, command, ctx) -> list[str]:
    parts = []
    for param in command.params:
        record = param.get_help_record(ctx)
        if record is None:
            continue
        flag, _, metavar = record[0].partition(" ")
        metavar = metavar.strip("<>")
        text = f"\\fB{roff(flag)}\\fR" + (f" \\fI{roff(metavar)}\\fR" if metavar else "")
        parts.append(text if param.required else f"[{text}]")
    return [".B qmailsetup", f"\\fB{name}\\fR " + " ".join(parts), ".br"]


def manpage() -> str:
    group = typer.main.get_command(app)
    top = click.Context(group, info_name="qmailsetup")
    lines = [
        f'.TH QMAILSETUP 8 "" "qmailsetup {__version__}" "System Manager\'s Manual"',
        ".SH NAME",
        "qmailsetup \\- prepare a UNIX host for qmail: groups, system accounts and /var/qmail",
        ".SH SYNOPSIS",
        ".nh",
    ]
    commands = list(group.commands.items())
    for name, command in commands:
        lines += synopsis(name, command, click.Context(command, info_name=name, parent=top))
    lines += [".B qmailsetup", "[\\fB\\-\\-version\\fR] [\\fB\\-\\-install\\-completion\\fR \\fISHELL\\fR] "
              "[\\fB\\-\\-show\\-completion\\fR \\fISHELL\\fR] [\\fB\\-\\-help\\fR]"]
    lines += [".hy", ".SH DESCRIPTION"]
    for number, paragraph in enumerate(DESCRIPTION):
        lines += ([".PP"] if number else []) + [roff(paragraph)]
    lines += [".SH COMMANDS"]
    for name, command in commands:
        ctx = click.Context(command, info_name=name, parent=top)
        lines += [f".SS {name}", roff(" ".join((command.help or "").split()))]
        lines += option_lines(command.params, ctx)
    lines += [".SH OPTIONS", "Before the command:"]
    lines += option_lines(group.params, top)
    lines += [".TP", "\\fB\\-\\-help\\fR", "Show the help of qmailsetup, or of the command it follows, and exit."]
    lines += [".SH EXIT STATUS"]
    for code, meaning in EXIT_TABLE:
        lines += [".TP", f"\\fB{code}\\fR", roff(meaning)]
    for title, entries in (("ENVIRONMENT", ENVIRONMENT), ("FILES", FILES)):
        lines += [f".SH {title}"]
        for name, text in entries:
            lines += [".TP", f"\\fI{roff(name)}\\fR" if title == "FILES" else f"\\fB{roff(name)}\\fR", roff(text)]
    lines += [".SH EXAMPLES"]
    for text, command in EXAMPLES:
        lines += [".PP", roff(text), ".IP", f"\\fB{roff(command)}\\fR"]
    lines += [".SH SEE ALSO", SEE_ALSO]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(manpage(), end="")
