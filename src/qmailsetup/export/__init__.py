"""`qmailsetup export`: the spec in other tools' terms.

Each format is a function of the spec and a platform profile that returns
the files it makes, [(file name, text, mode)]; with no --output DIR the
one file is printed instead. Nothing here reads the host's accounts.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from qmailsetup.errors import BadInput
from qmailsetup.plan import format_mode
from qmailsetup.platforms import Profile
from qmailsetup.spec import Spec


@dataclass(frozen=True)
class Output:
    name: str  # the file's name under --output DIR
    text: str
    mode: int = 0o644


def default_shell(profile: Profile) -> str:
    """The shell an account gets when the spec names none: the platform's
    first nologin, as on a host that has it."""
    return profile.nologin[0]


def spec_json(spec: Spec, profile: Profile, source: str) -> list[Output]:
    """The validated spec with the platform's defaults filled in (shells,
    and the qmail role each account plays); it loads back as a spec (JSON
    is TOML's data model)."""
    from qmailsetup.layout import spec_roles

    data = spec.model_dump(mode="json", by_alias=True)
    user_roles, group_roles = spec_roles(spec)
    for group in data["groups"]:
        group["role"] = group_roles.get(group["name"])
    for user in data["users"]:
        user["shell"] = user["shell"] or default_shell(profile)
        user["role"] = user_roles.get(user["name"])
    for path in data["paths"]:
        path["mode"] = format_mode(int(path["mode"], 8))
    return [Output("qmail-spec.json", json.dumps(data, indent=2) + "\n")]


def exporters():
    from qmailsetup.export.qmailconf import qmail_conf
    from qmailsetup.export.script import shell_script
    from qmailsetup.export.sysusers import sysusers

    return {"sysusers": sysusers, "json": spec_json, "qmail-conf": qmail_conf, "sh": shell_script}


FORMATS = ("sysusers", "json", "qmail-conf", "sh")


def export(fmt: str, spec: Spec, profile: Profile, source: str) -> list[Output]:
    # SOURCE (the spec's path) goes into comments: one line, whatever it holds
    source = " ".join(source.splitlines())
    return exporters()[fmt](spec, profile, source)


def write_outputs(outputs: list[Output], directory: Path) -> list[Path]:
    """Each output as a file in DIRECTORY, replaced whole (a temporary file
    renamed over it), so a build never reads half a conf file."""
    if not directory.is_dir():
        raise BadInput(f"--output {directory}: not a directory")
    written = []
    for output in outputs:
        target = directory / output.name
        temporary = directory / f".{output.name}.qmailsetup-tmp"
        temporary.write_text(output.text)
        os.chmod(temporary, output.mode)
        os.replace(temporary, target)
        written.append(target)
    return written
