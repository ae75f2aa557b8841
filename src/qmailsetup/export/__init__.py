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

from qmailsetup.errors import BadInput, OperationFailed
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

    # one for each of choices.EXPORT_FORMATS but those READS_HOST names (export() gives them the root)
    return {"sysusers": sysusers, "json": spec_json, "qmail-conf": qmail_conf, "sh": shell_script}


# the formats that read the host's accounts (under ROOT): the others are the spec alone
READS_HOST = ("toml",)


def export(fmt: str, spec: Spec, profile: Profile, source: str, root: Path = Path("/")) -> list[Output]:
    # SOURCE (the spec's path) goes into comments: one line, whatever it holds
    source = " ".join(source.splitlines())
    if fmt == "toml":  # the spec with the IDs the host has (export/toml.py)
        from qmailsetup.export.toml import pinned_spec

        return pinned_spec(spec, profile, source, root)
    return exporters()[fmt](spec, profile, source)


def write_outputs(outputs: list[Output], directory: Path) -> list[Path]:
    """Each output as a file in DIRECTORY, replaced whole, so a build never
    reads half a conf file. DIRECTORY is opened once (a link the
    administrator named is followed there, once); each file is written as
    the account files are (userdb.write.install: a temporary file of an
    unpredictable name, created exclusively, never through a link, given
    its mode, then renamed), so a link planted in DIRECTORY is replaced,
    never written through."""
    from qmailsetup.userdb.write import WriteError, created_with, install

    try:
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        raise BadInput(f"--output {directory}: not a directory") from None
    except OSError as error:
        raise BadInput(f"--output {directory}: {error.strerror}") from None
    written = []
    try:
        for output in outputs:
            install(dir_fd, output.name, output.text.encode(), created_with(output.mode), xattrs={})
            written.append(directory / output.name)
        os.fsync(dir_fd)
    except OSError as error:
        step = error.step if isinstance(error, WriteError) else "syncing the directory"
        done = f" (written before: {', '.join(p.name for p in written)})" if written else ""
        raise OperationFailed(f"--output {directory}: {step}: {error.strerror}{done}") from None
    finally:
        os.close(dir_fd)
    return written
