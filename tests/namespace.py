"""Running a shell script as root in a private mount namespace: what it
mounts (a copy of /etc over /etc, a tmpfs over /var, a read-only or full
file system) is gone when it ends, so the real tools and getent see the
result while the machine's own /etc and /var are untouched."""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import subprocess
import sys
from pathlib import Path

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# the first line of every script: no mount made after it reaches the machine
PRIVATE = "set -u\nmount --make-rprivate / || exit 1\n"
PRELUDE = """\
set -e
mount --bind "$ETC_COPY" /etc
mount -t tmpfs -o mode=0755 tmpfs /var
"""


def in_namespace(script: str, *args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
    """sh -c SCRIPT, with ARGS as "$@", in a private mount namespace; its
    environment is a plain PATH, $QMAILSETUP (this Python's qmailsetup)
    and ENV."""
    environment = {"PATH": PATH, "QMAILSETUP": f"{sys.executable} -m qmailsetup", **env}
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", PRIVATE + script, "sh", *args],
        env=environment, capture_output=True, text=True, timeout=timeout,
    )


CLONE_NEWNS = 0x00020000  # sched.h


@contextlib.contextmanager
def private_mounts():
    """This thread in a mount namespace of its own for the block (unshare(2),
    then setns(2) back to the one it left): what is mounted meanwhile, by
    mount(8) or by the code under test run in this process, is gone after,
    and the machine's mounts are never touched. For a test whose code must
    run in the test's own process: mutation testing sees only that."""
    libc = ctypes.CDLL(None, use_errno=True)
    home = os.open("/proc/thread-self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    cwd = os.getcwd()
    try:
        if libc.unshare(CLONE_NEWNS) != 0:
            raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
        try:
            subprocess.run(["mount", "--make-rprivate", "/"], check=True)
            yield
        finally:
            if libc.setns(home, CLONE_NEWNS) != 0:
                raise OSError(ctypes.get_errno(), "setns back to the first mount namespace")
            os.chdir(cwd)
    finally:
        os.close(home)


def copy_etc(tmp_path: Path) -> Path:
    etc = tmp_path / "etc"
    shutil.copytree("/etc", etc, symlinks=True)
    return etc


def run_in_namespace(tmp_path: Path, script: str, etc: Path | None = None) -> subprocess.CompletedProcess:
    """SCRIPT with ETC (a copy of /etc by default) over /etc and a tmpfs
    over /var."""
    etc = etc or copy_etc(tmp_path)
    return in_namespace(PRELUDE + script, ETC_COPY=str(etc))


def parse_report(output: str, value=str) -> dict:
    """What a script printed: `passwd LINE` and `group LINE` (getent's, with
    a prefix) by account name, split at the colons; `stat PATH OWNER...` by
    path; `KEY=VALUE` as VALUE(the text)."""
    seen: dict = {"passwd": {}, "group": {}, "stat": {}}
    for line in output.splitlines():
        kind, _, rest = line.partition(" ")
        if kind in ("passwd", "group"):
            fields = rest.split(":")
            seen[kind][fields[0]] = fields
        elif kind == "stat":
            path, *owner = rest.split()
            seen["stat"][path] = owner
        elif "=" in line:
            key, text = line.split("=", 1)
            seen[key] = value(text)
    return seen


def with_etc(root: Path, argv: list[str]) -> subprocess.CompletedProcess:
    """Run ARGV with ROOT/etc bind-mounted over /etc, so that the tool, NSS
    included, sees only ROOT's files."""
    return in_namespace('mount --bind "$ETC" /etc && exec "$@"', *argv, ETC=str(root / "etc"))
