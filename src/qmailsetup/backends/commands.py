"""The command backends: the host's own tools (shadow-utils useradd,
FreeBSD pw, OpenBSD and NetBSD useradd), with argv built from the platform
profile.

The dialects differ in data only: each command is a template in the
profile (template.py: a part is kept when every {field} it names has a
value). One code path builds them all, and tools.run_tool runs them.

No tool repairs a half-made account (a passwd or group line without its
shadow or gshadow line) for one account alone: pwconv and grpconv rewrite
every entry of the files, and drop the shadow lines they find no passwd
line for. The files backend's writer (the locks shadow-utils honours, an
atomic rewrite) adds the missing line, before the tools run.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from qmailsetup import tools
from qmailsetup.backends.files import FilesBackend
from qmailsetup.errors import BadInput, OperationFailed, QmailsetupError
from qmailsetup.observe import read_files
from qmailsetup.plan import ACCOUNT_KINDS, Change, Value
from qmailsetup.template import Template
from qmailsetup.userdb.pwdmkdb import post_edit_argv
from qmailsetup.userdb.records import users_and_groups

# which template carries out each kind of change
TEMPLATES = {("group", "create"): "groupadd", ("user", "create"): "useradd", ("user", "modify"): "usermod"}


def command_values(change: Change, root: Path) -> dict[str, Value | None]:
    """What a command is told: every value of the plan, the IDs it
    allocated too. A tool that allocates as the planner does (shadow-utils'
    useradd -r) gives the same ID; one that would pick from another range
    (pw, OpenBSD useradd) would not. Either way the plan shown is the one
    carried out, and nothing reads an ID back from the files."""
    return {**change.settings(), "root": None if root == Path("/") else str(root)}


def unexpressed(template: Template, change: Change) -> list[str]:
    """The changed fields a template has no place for (they would be lost)."""
    return [key for key in change.fields if key not in template.fields]


def without_memberships(change: Change) -> tuple[Change, tuple[str, ...]]:
    """A user's modify less its missing supplementary memberships, and those
    groups: usermod changes whatever else drifted, then the addtogroup
    template adds each group with a command that only adds (usermod -G
    alone, pw usermod -G and OpenBSD's usermod -S replace the whole list)."""
    if change.action != "modify" or "groups" not in change.fields:
        return change, ()
    fields = {key: value for key, value in change.fields.items() if key != "groups"}
    return replace(change, fields=fields, joining=()), change.joining


class CommandBackend:
    def __init__(self, name: str, host) -> None:
        profile = host.profile
        if profile.backend != name or not profile.commands:
            raise BadInput(
                f"--backend {name}: platform {profile.name} has no {name} commands "
                f"(it uses {profile.backend}); choose a --platform that does"
            )
        self.name = name
        self.host = host
        self.templates = profile.commands
        self._writer: FilesBackend | None = None
        if host.root != Path("/") and "root" not in self.templates["useradd"].fields:
            raise BadInput(
                f"--root: {name} on {profile.name} has no option to work under another root; "
                "use --backend files (or run on the host itself)"
            )

    def commands(self, change: Change) -> list[list[str]]:
        if change.kind == "file":  # BSD's stale passwd: made again by the post-edit step (pwd_mkdb -p)
            return [post_edit_argv(self.host.profile, self.host.root)]
        name = TEMPLATES.get((change.kind, change.action))
        if name is None:
            return []
        change, joining = without_memberships(change)
        template = self.templates[name]
        lost = unexpressed(template, change)
        if lost:
            raise BadInput(
                f"{change.kind} {change.name}: {self.name} on {self.host.profile.name} cannot set {', '.join(lost)}"
            )
        values = command_values(change, self.host.root)
        argvs = [template.render(values)] if change.action == "create" or change.fields else []
        for group in joining:
            member = {"root": values["root"], "name": change.name, "group": group}
            argvs.append(self.templates["addtogroup"].render(member))
        return argvs

    @property
    def writer(self):
        """The files backend, for the repairs no tool makes."""
        if self._writer is None:
            self._writer = FilesBackend(self.host)
        return self._writer

    @property
    def written(self) -> list[str]:
        """The account files the writer replaced (a failure names them)."""
        return [] if self._writer is None else self._writer.written

    def preview(self, changes: list[Change]) -> list:
        repairs = [c for c in changes if c.action == "repair"]
        return self.writer.preview(repairs) if repairs else []

    def warnings(self, changes: list[Change]) -> list[str]:
        """What the tool does beyond the accounts (the profile's
        useradd_also: pw's mailbox and pw.conf), for the users it creates."""
        created = [c.name for c in changes if (c.kind, c.action) == ("user", "create")]
        also = self.host.profile.useradd_also
        return [also.render_line({"names": ", ".join(created)})] if also and created else []

    locks = None  # its tools take their own
    files_after = None  # its tools wrote them: read anew

    def apply(self, changes: list[Change], done) -> None:
        """Repair the half-made accounts (the writer, while the files are
        still those planned from), then run each change's commands in
        order, each tool by its absolute path (found outside PATH too:
        cron's PATH has no /usr/sbin); stop at the first failure."""
        repairs = [c for c in changes if c.action == "repair"]
        if repairs:
            self.writer.apply(repairs, done)
        for change in changes:
            if change.action == "repair":
                continue
            for argv in self.commands(change):
                try:
                    result = tools.run_tool(argv)
                except FileNotFoundError:
                    raise OperationFailed(f"{argv[0]}: command not found; use --backend files") from None
                except OSError as error:
                    raise OperationFailed(f"{argv[0]}: {error.strerror}") from None
                if result.returncode != 0:
                    raise OperationFailed(result.failure(), *self.half_made(change))
            done(change)

    def half_made(self, change: Change) -> list[str]:
        """After CHANGE's tool failed: its account, when the tool wrote its
        passwd (group) line but not its shadow (gshadow) line (useradd and
        groupadd write them in that order), named as half-made."""
        if change.action != "create" or change.kind not in ACCOUNT_KINDS:
            return []
        host, etc = self.host, self.host.etc
        try:
            files = read_files(etc, host.flavor.name)
        except QmailsetupError:  # the failure to report is the tool's
            return []
        users, groups = users_and_groups(files, host.flavor.users)
        companion = (users if change.kind == "user" else groups).half_made(change.name)
        if companion is None:
            return []
        main = etc.shown(host.flavor.file_of(change.kind))
        return [f"{change.kind} {change.name} is half-made: in {main}, not in {etc.shown(companion)}; "
                "the next qmailsetup apply adds the missing line"]
