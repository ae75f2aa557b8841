"""Backends carry out the account part of a plan; they decide nothing.

A command backend (useradd, pw) runs the host's tools, with argv built
from the platform profile's templates; the files backend edits the account
files as vipw would. Each offers the same three things: the commands it
would run for a change, a preview of the files it would write, and apply.
"""

from __future__ import annotations

from qmailsetup.errors import BadInput
from qmailsetup.platforms import BACKENDS


def make_backend(name: str, host):
    """The backend NAME ('auto': the platform's) for HOST."""
    chosen = host.profile.backend if name == "auto" else name
    if chosen not in BACKENDS:
        raise BadInput(f"--backend {name}: unknown (choose auto, {', '.join(BACKENDS)})")
    if chosen == "files":
        from qmailsetup.backends.files import FilesBackend

        return FilesBackend(host)
    from qmailsetup.backends.commands import CommandBackend

    return CommandBackend(chosen, host)
