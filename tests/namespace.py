"""Running a shell script in a private mount namespace, as root, with a copy
of /etc bind-mounted over /etc and a tmpfs over /var: the real tools and
getent see the result, and the machine's own /etc and /var are untouched."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

PRELUDE = """\
set -eu
mount --make-rprivate /
mount --bind "$ETC_COPY" /etc
mount -t tmpfs -o mode=0755 tmpfs /var
"""


def copy_etc(tmp_path: Path) -> Path:
    etc = tmp_path / "etc"
    shutil.copytree("/etc", etc, symlinks=True)
    return etc


def run_in_namespace(tmp_path: Path, script: str, etc: Path | None = None) -> subprocess.CompletedProcess:
    etc = etc or copy_etc(tmp_path)
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "ETC_COPY": str(etc),
        "QMAILSETUP": f"{sys.executable} -m qmailsetup",
    }
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", PRELUDE + script],
        env=env, capture_output=True, text=True, timeout=120,
    )


def with_etc(root: Path, argv: list[str]) -> subprocess.CompletedProcess:
    """Run ARGV with ROOT/etc bind-mounted over /etc in a private mount
    namespace, so that the tool, NSS included, sees only ROOT's files."""
    script = 'mount --make-rprivate / && mount --bind "$0" /etc && exec "$@"'
    return subprocess.run(["unshare", "-m", "sh", "-c", script, str(root / "etc"), *argv],
                          capture_output=True, text=True)
