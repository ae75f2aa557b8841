"""Running qmailsetup in a process of its own, as an administrator would,
with a fixed clock (SOURCE_DATE_EPOCH) so that what it writes is the same
every run; and a fork of the test process itself (forked), for what must
run in a process of its own (a new session, a PID namespace) and still be
the code under test, which mutation testing sees only in process."""

from __future__ import annotations

import os
import subprocess
import sys
import traceback
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


def forked(work) -> int:
    """The PID of a fork of this process (so running the code under test)
    that runs WORK and exits, 0 if WORK returned and 1 if it raised (the
    traceback on stderr); it never goes back into pytest."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            work()
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    return pid


def exit_code(pid: int) -> int:
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
