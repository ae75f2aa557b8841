"""The command backends: the host's own tools (shadow-utils useradd,
FreeBSD pw, OpenBSD useradd), with argv built from the platform profile.

The dialects differ in data only: each command is a list of argv parts in
the profile, and a part is kept when every {field} it names has a value.
"""

from __future__ import annotations

import re
from pathlib import Path

from qmailsetup.errors import BadInput, OperationFailed
from qmailsetup.plan import Change

PLACEHOLDER = re.compile(r"\{(\w+)\}")
# which template carries out each kind of change
TEMPLATES = {("group", "create"): "groupadd", ("user", "create"): "useradd", ("user", "modify"): "usermod"}


def build_argv(template: list[list[str]], values: dict) -> list[str]:
    argv: list[str] = []
    for part in template:
        names = PLACEHOLDER.findall(" ".join(part))
        if all(values.get(name) is not None for name in names):
            argv.extend(PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), token) for token in part)
    return argv


def command_values(change: Change, root: Path) -> dict:
    """What a command is told: never an ID the tool is to choose itself."""
    values = {key: value for key, value in change.values.items() if key not in change.allocated}
    values["root"] = None if root == Path("/") else str(root)
    return values


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
        if host.root != Path("/") and not any("{root}" in " ".join(part) for part in self.templates["useradd"]):
            raise BadInput(f"--root: {name} on {profile.name} cannot work under another root; use --backend files")

    def commands(self, change: Change) -> list[list[str]]:
        template = TEMPLATES.get((change.kind, change.action))
        if template is None:
            return []
        return [build_argv(self.templates[template], command_values(change, self.host.root))]

    def preview(self, changes: list[Change]) -> list:
        return []

    def apply(self, changes: list[Change], done) -> None:
        """Run each change's commands in order; stop at the first failure."""
        import sh

        for change in changes:
            for argv in self.commands(change):
                try:
                    sh.Command(argv[0])(*argv[1:])
                except sh.ErrorReturnCode as error:
                    # one line, so the error stays a single line on any terminal or log
                    stderr = "; ".join(l.strip() for l in error.stderr.decode(errors="replace").splitlines() if l.strip())
                    raise OperationFailed(f"{' '.join(argv)}: exit {error.exit_code}: {stderr}") from None
                except sh.CommandNotFound:
                    raise OperationFailed(f"{argv[0]}: command not found; use --backend files") from None
            done(change)
