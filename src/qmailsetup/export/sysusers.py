"""sysusers.d(5): g, u and m lines for systemd-sysusers, for distributions
that ship their accounts that way (m: a user's supplementary group).

A user's primary group is given as "uid:groupname" ("-:groupname" when the
UID is left to sysusers), so sysusers makes no group per user. Every field
is expanded for %-specifiers, so '%' is written '%%'; a field with blanks or
quotes is double-quoted with '\\' before '"' and '\\'.
"""

from __future__ import annotations

import re

from qmailsetup import __version__
from qmailsetup.export import Output, default_shell
from qmailsetup.platforms import Profile
from qmailsetup.spec import Spec

NEEDS_QUOTES = re.compile(r"""[\s"'\\]""")


def field(value: str, quoted: bool = False) -> str:
    value = value.replace("%", "%%")
    if quoted or NEEDS_QUOTES.search(value) or not value:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value


def optional_id(value: int | None) -> str:
    return "-" if value is None else str(value)


def sysusers(spec: Spec, profile: Profile, source: str) -> list[Output]:
    lines = [
        f"# qmail's groups and users for systemd-sysusers, from {source}.",
        f"# Written by qmailsetup {__version__} (export --format sysusers --platform {profile.name}).",
        f"# Directories ({spec.qmail.home} and below) are not accounts: qmailsetup apply makes them.",
        "",
        "#Type Name ID GECOS Home Shell",
    ]
    lines += [f"g {group.name} {optional_id(group.gid)}" for group in spec.groups]
    for user in spec.users:
        gecos = "-" if user.comment is None else field(user.comment, quoted=True)
        shell = user.shell or default_shell(profile)
        lines.append(
            f"u {user.name} {optional_id(user.uid)}:{user.group} {gecos} {field(user.home)} {field(shell)}"
        )
    lines += [f"m {user.name} {group}" for user in spec.users for group in user.groups]
    return [Output("qmail.conf", "\n".join(lines) + "\n")]
