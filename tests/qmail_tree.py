"""A qmail home as qmail's installer lays it out (hier.c: every path of the
installation table, installation.py's places), owned by numbers the test
chooses, and a stand-in qmail-showctl that prints what a build with those
numbers prints: a tree left by an existing qmail, for --ids-from."""

from __future__ import annotations

import os
from pathlib import Path

from qmailsetup.installation import qmail_install
from qmailsetup.spec import Spec

# qmail's INSTALL.ids: the numbers a tree is laid out with unless told
INSTALL_IDS_UIDS = {"root": 0, "alias": 7790, "qmaild": 7791, "qmaill": 7792, "qmailp": 7793,
                    "qmailq": 7794, "qmailr": 7795, "qmails": 7796}
INSTALL_IDS_GIDS = {"qmail": 2107, "nofiles": 2108}


def lay_out(root: Path, spec: Spec, uids: dict[str, int] = INSTALL_IDS_UIDS,
            gids: dict[str, int] = INSTALL_IDS_GIDS) -> None:
    """Every path the spec's installation makes, under ROOT, with the owner,
    group and mode the installer gives it, owned by UIDS and GIDS (by role)."""
    for place in qmail_install(spec).places:
        path = root / place.path.lstrip("/")
        if place.type == "dir":
            path.mkdir(parents=True, exist_ok=True)
        elif place.type == "file":
            path.write_bytes(b"\0" * (place.size or 0))
        else:
            os.mkfifo(path)
        os.chown(path, uids[place.owner], gids[place.group])
        path.chmod(place.mode)


def showctl_output(uids: dict[str, int] = INSTALL_IDS_UIDS, gids: dict[str, int] = INSTALL_IDS_GIDS) -> str:
    """The lines of qmail-showctl that tell the IDs (qmail-showctl.c's order)."""
    users = ", ".join(str(uids[r]) for r in ("alias", "qmaild", "qmaill", "root", "qmailp", "qmailq", "qmailr", "qmails"))
    return f"qmail home directory: /var/qmail.\nuser ids: {users}.\ngroup ids: {gids['nofiles']}, {gids['qmail']}.\n"


def stand_in_showctl(home: Path, output: str) -> None:
    """HOME/bin/qmail-showctl, root's 0755 as hier.c installs it, printing OUTPUT."""
    program = home / "bin/qmail-showctl"
    program.write_text(f"#!/bin/sh\ncat <<'OUTPUT'\n{output}OUTPUT\n")
    os.chown(program, 0, os.stat(program).st_gid)
    program.chmod(0o755)
