"""The spec in other tools' terms, one module per format: sysusers.d
(sysusers.py), JSON (spec_json.py), qmail's conf files (qmailconf.py), a
POSIX sh script (script.py), and the spec with the host's IDs pinned
(toml.py, the one that reads the host's accounts).

Each format is a function of the spec, a platform profile and the spec's
source that returns the files it makes, [Output]; commands/export.py
prints the one file or writes them all.
"""

from __future__ import annotations

from dataclasses import dataclass

from qmailsetup.platforms import Profile


@dataclass(frozen=True)
class Output:
    name: str  # the file's name under --output DIR
    text: str
    mode: int = 0o644


def default_shell(profile: Profile) -> str:
    """The shell an account gets when the spec names none: the platform's
    first nologin, as on a host that has it."""
    return profile.nologin[0]
