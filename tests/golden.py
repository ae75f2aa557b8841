"""Golden files: compare with what is stored; UPDATE_GOLDENS=1 rewrites them
(then read the diff before committing)."""

from __future__ import annotations

import json
import os
from pathlib import Path

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDENS") == "1"


def check_text(relative: str, actual: str) -> None:
    path = GOLDEN / relative
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual)
    assert path.exists(), f"no golden file {path}; run with UPDATE_GOLDENS=1 and review it"
    assert actual == path.read_text(), f"differs from {path}"


def check_json(relative: str, actual) -> None:
    check_text(relative, json.dumps(actual, indent=2, sort_keys=True) + "\n")


def scrub(text: str, root: Path) -> str:
    """Make output independent of the temporary directory."""
    return text.replace(str(root), "<root>")
