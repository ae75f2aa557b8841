"""`qmailsetup export`: the spec in other tools' terms (export/), the one
file to print, or the files written into --output DIR."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from qmailsetup.errors import EXIT_OK, BadInput, OperationFailed
from qmailsetup.export import Output
from qmailsetup.export.qmailconf import qmail_conf
from qmailsetup.export.script import shell_script
from qmailsetup.export.spec_json import spec_json
from qmailsetup.export.sysusers import sysusers
from qmailsetup.export.toml import pinned_spec
from qmailsetup.platforms import Profile, choose_profile
from qmailsetup.spec import Spec, load_spec
from qmailsetup.specs import names as spec_names, spec_path
from qmailsetup.userdb.write import WriteError, created_with, install

# one for each of choices.EXPORT_FORMATS: those of the spec alone, and
# those that read the host's accounts (under --root)
SPEC_ONLY = {"sysusers": sysusers, "json": spec_json, "qmail-conf": qmail_conf, "sh": shell_script}
READS_HOST = {"toml": pinned_spec}


@dataclass(frozen=True)
class Exported:
    outputs: list[Output]
    written: list[Path] | None  # the files written into --output DIR; None: the one output is to be printed
    status: int = EXIT_OK


def export(fmt: str, spec: Spec, profile: Profile, source: str, root: Path = Path("/")) -> list[Output]:
    # SOURCE (the spec's path) goes into comments: one line, whatever it holds
    source = " ".join(source.splitlines())
    if fmt in READS_HOST:
        return READS_HOST[fmt](spec, profile, source, root)
    return SPEC_ONLY[fmt](spec, profile, source)


def write_outputs(outputs: list[Output], directory: Path) -> list[Path]:
    """Each output as a file in DIRECTORY, replaced whole, so a build never
    reads half a conf file. DIRECTORY is opened once (a link the
    administrator named is followed there, once); each file is written as
    the account files are (userdb.write.install: a temporary file of an
    unpredictable name, created exclusively, never through a link, given
    its mode, then renamed), so a link planted in DIRECTORY is replaced,
    never written through."""
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


def run(*, fmt: str, spec: str | None, platform: str, root: Path, directory: Path | None) -> Exported:
    """The spec --spec SPEC names (the built-in one when None) in the
    format FMT for PLATFORM (with the IDs the tree ROOT has, for a format
    that reads them): written into DIRECTORY, or, without one, the one file."""
    source = f"the shipped spec {spec}" if spec in spec_names() else spec or "the built-in default spec"
    outputs = export(fmt, load_spec(spec_path(spec)), choose_profile(platform, root), source, root)
    if directory is None:
        if len(outputs) > 1:
            raise BadInput(f"--format {fmt} writes {len(outputs)} files; give --output DIR")
        return Exported(outputs, None)
    return Exported(outputs, write_outputs(outputs, directory))
