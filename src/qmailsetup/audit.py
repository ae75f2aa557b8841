"""What a real run tells as it goes: each change as it completes, with
the ID the account got (output.progress_line says it, so a slow or failing
run shows where it is), and, when the files backend edits the live root's
account files (for a command backend too: its repairs), the syslog lines
shadow-utils' useradd, groupadd and usermod would have logged (auth
facility), so the host's audit trail does not depend on the backend.
"""

from __future__ import annotations

import os
import syslog
from pathlib import Path

from qmailsetup.plan import Change, DesiredGroup, DesiredUser
from qmailsetup.userdb.filekinds import ID_COLUMNS


def terminal() -> str:
    """useradd's from=: the terminal on standard input, or none."""
    try:
        return os.ttyname(0)
    except OSError:
        return "none"


def syslog_lines(change: Change, host) -> list[str]:
    """shadow-utils' own wording (groupadd.c, useradd.c, usermod.c), so a
    log watcher that knows those knows these. Comments and login classes
    usermod does not log; they are logged here in its form all the same."""
    desired = change.desired
    if change.action == "repair":  # no shadow-utils tool repairs one account: our own words
        return [f"add missing {file} entry of {change.kind} '{change.name}'" for file in change.fields]
    if isinstance(desired, DesiredGroup):  # a group is only ever created
        return [f"new group: name={change.name}, GID={desired.gid}"]
    if not isinstance(desired, DesiredUser):
        return []
    if change.action == "create":
        return [
            f"new user: name={change.name}, UID={desired.uid}, GID={desired.gid}, "
            f"home={desired.home}, shell={desired.shell}, from={terminal()}"
        ]
    lines = []
    for key, field in change.fields.items():
        if key == "group":
            before = host.users[change.name].gid
            lines.append(f"change user '{change.name}' GID from '{before}' to '{desired.gid}'")
        else:
            lines.append(f"change user '{change.name}' {key} from '{field.current}' to '{field.desired}'")
    return lines


class Progress:
    """The done hook of a real run: keeps what was done, tells TELL of it
    (the change, the ID a created account got), and logs it where
    shadow-utils would have (see the module)."""

    def __init__(self, host, backend, tell) -> None:
        self.host = host
        self.tell = tell
        # on the live root, what qmailsetup wrote itself: every change of the
        # files backend; of a command backend, whose tools log their own, the
        # repairs (the files backend's writer makes them)
        self.live = host.root == Path("/")
        self.writes_all = backend.name == "files"
        self.done: list[Change] = []
        self.ids: dict[int, int | None] = {}
        self.log_opened = False

    def __call__(self, change: Change) -> None:
        self.done.append(change)
        number = change.created_id()
        self.ids[id(change)] = number
        self.tell(change, number)
        if self.live and (self.writes_all or change.action == "repair"):
            if not self.log_opened:
                syslog.openlog("qmailsetup", syslog.LOG_PID, syslog.LOG_AUTH)
                self.log_opened = True
            for line in syslog_lines(change, self.host):
                syslog.syslog(syslog.LOG_INFO, line)

    def applied(self) -> list[dict]:
        """The JSON of what was done; a created account with its ID."""
        entries = []
        for change in self.done:
            entry: dict[str, str | int] = {"kind": change.kind, "name": change.name, "action": change.action}
            number = self.ids.get(id(change))
            if number is not None:
                entry[ID_COLUMNS[change.kind]] = number
            entries.append(entry)
        return entries
