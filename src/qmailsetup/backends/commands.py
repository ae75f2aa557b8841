"""The command backends: the host's own tools (shadow-utils useradd,
FreeBSD pw, OpenBSD and NetBSD useradd), with argv built from the platform
profile.

The dialects differ in data only: each command is a template in the
profile (template.py: a part is kept when every {field} it names has a
value). One code path builds them all, and tools.run_tool runs them.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from qmailsetup.errors import BadInput, OperationFailed
from qmailsetup.plan import Change
from qmailsetup.template import Template

# which template carries out each kind of change
TEMPLATES = {("group", "create"): "groupadd", ("user", "create"): "useradd", ("user", "modify"): "usermod"}


def command_values(change: Change, root: Path, pass_planned_ids: bool) -> dict:
    """What a command is told. An ID the planner allocated is left to the
    tool when the tool allocates the same way (shadow-utils -r); a tool that
    would pick from another range (pw, OpenBSD useradd) is told the ID."""
    values = change.settings()
    if not pass_planned_ids:
        values = {key: value for key, value in values.items() if key not in change.allocated}
    values["root"] = None if root == Path("/") else str(root)
    return values


def unexpressed(template: Template, change: Change) -> list[str]:
    """The changed fields a template has no place for (they would be lost)."""
    return [key for key in change.fields if key not in template.fields and key not in change.allocated]


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
        if host.root != Path("/") and "root" not in self.templates["useradd"].fields:
            raise BadInput(
                f"--root: {name} on {profile.name} has no option to work under another root; "
                "use --backend files (or run on the host itself)"
            )

    def commands(self, change: Change) -> list[list[str]]:
        if change.kind == "file":  # BSD's stale passwd: made again by the post-edit step (pwd_mkdb -p)
            from qmailsetup.userdb.pwdmkdb import post_edit_argv

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
        values = command_values(change, self.host.root, self.host.profile.pass_planned_ids)
        argvs = [template.render(values)] if change.action == "create" or change.fields else []
        for group in joining:
            member = {"root": values["root"], "name": change.name, "group": group}
            argvs.append(self.templates["addtogroup"].render(member))
        return argvs

    def preview(self, changes: list[Change]) -> list:
        return []

    def warnings(self, changes: list[Change]) -> list[str]:
        """What the tool does beyond the accounts (the profile's
        useradd_also: pw's mailbox and pw.conf), for the users it creates."""
        created = [c.name for c in changes if (c.kind, c.action) == ("user", "create")]
        also = self.host.profile.useradd_also
        return [also.render_line({"names": ", ".join(created)})] if also and created else []

    def apply(self, changes: list[Change], done) -> None:
        """Run each change's commands in order, each tool by its absolute
        path (found outside PATH too: cron's PATH has no /usr/sbin); stop
        at the first failure."""
        from qmailsetup import tools

        for change in changes:
            for argv in self.commands(change):
                try:
                    result = tools.run_tool(argv)
                except FileNotFoundError:
                    raise OperationFailed(f"{argv[0]}: command not found; use --backend files") from None
                except OSError as error:
                    raise OperationFailed(f"{argv[0]}: {error.strerror}") from None
                if result.returncode != 0:
                    raise OperationFailed(result.failure())
            done(change)
