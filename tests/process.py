"""Running qmailsetup in a process of its own, as an administrator would,
with a fixed clock (SOURCE_DATE_EPOCH) so that what it writes is the same
every run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EPOCH = "1700000000"  # SOURCE_DATE_EPOCH of the runs: day 19675


def env(**extra: str) -> dict[str, str]:
    return {**os.environ, "SOURCE_DATE_EPOCH": EPOCH, **extra}


def qmailsetup(*args, extra_env: dict | None = None, check_codes=(0,), timeout: float | None = None,
               hook: str = "") -> subprocess.CompletedProcess:
    """qmailsetup ARGS; its exit code must be one of CHECK_CODES (None: any,
    for a test that asserts it itself). HOOK is Python run before it."""
    start = ["-c", f"{hook}\nfrom qmailsetup.cli import main\nmain()"] if hook else ["-m", "qmailsetup"]
    result = subprocess.run(
        [sys.executable, *start, *map(str, args)], capture_output=True, text=True,
        env=env(**(extra_env or {})), timeout=timeout,
    )
    if check_codes is not None:
        assert result.returncode in check_codes, (result.returncode, result.stdout, result.stderr)
    return result


def apply_files(root: Path, *more: str, platform: str = "linux", **kwargs) -> subprocess.CompletedProcess:
    return qmailsetup("apply", "--root", str(root), "--platform", platform, "--backend", "files", *more, **kwargs)
