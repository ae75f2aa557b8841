"""Golden files under tests/golden/ (the BSD commands and files, check's
findings and mount tables, the exports): compare with what is stored;
UPDATE_GOLDENS=1 rewrites them all (then read the diff before committing).
What qmailsetup makes of a host is kept per case in tests/cases/
(case_runner.py)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDENS") == "1"


def check_text(relative: str, actual: str, errors: str = "strict") -> None:
    """ACTUAL is golden/RELATIVE; ERRORS as open() takes it, for text that
    holds bytes that are not UTF-8 (surrogateescape)."""
    path = GOLDEN / relative
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, errors=errors)
    assert path.exists(), f"no golden file {path}; run with UPDATE_GOLDENS=1 and review it"
    assert actual == path.read_text(errors=errors), f"differs from {path}"


def check_json(relative: str, actual) -> None:
    check_text(relative, json.dumps(actual, indent=2, sort_keys=True) + "\n")


def check_files(relative: str, actual: dict[str, bytes]) -> None:
    """The directory golden/RELATIVE holds exactly the files ACTUAL names,
    with exactly its bytes."""
    directory = GOLDEN / relative
    if UPDATE:
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        for name, data in actual.items():
            (directory / name).write_bytes(data)
    assert directory.is_dir(), f"no golden directory {directory}; run with UPDATE_GOLDENS=1 and review it"
    assert actual == {path.name: path.read_bytes() for path in directory.iterdir()}, f"differs from {directory}"


def scrub(text: str, root: Path, placeholder: str = "<root>") -> str:
    """Make output independent of the temporary directory."""
    return text.replace(str(root), placeholder)


def scrub_version(text: str) -> str:
    """Make output independent of qmailsetup's version."""
    from qmailsetup import __version__

    return text.replace(f"qmailsetup {__version__}", "qmailsetup <version>")
