"""End to end on "/": a copy of this machine's /etc bind-mounted over /etc
and a tmpfs over /var, in a private mount namespace; `qmailsetup apply
--backend files` with no --root, then the system's own NSS sees the
accounts and a second run finds everything in sync."""

from __future__ import annotations

import subprocess
import sys

from process import env
from trees import host_tree

SCRIPT = """
set -e
mount --make-rprivate /
mount --bind "$1/etc" /etc
mount -t tmpfs tmpfs /var
"$2" -m qmailsetup apply --backend files
getent passwd qmaild
stat -c '%U:%G %a' /var/qmail /var/qmail/alias
"$2" -m qmailsetup apply --backend files --detailed-exitcode
"""


def test_apply_on_the_real_root(privileged, tmp_path):
    root = host_tree(tmp_path)
    result = subprocess.run(["unshare", "-m", "sh", "-c", SCRIPT, "sh", str(root), sys.executable],
                            capture_output=True, text=True, env=env())
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Applied 11 changes." in out
    assert "qmaild:x:" in out and ":/var/qmail:" in out
    assert "root:qmail 755\nalias:qmail 2755\n" in out
    assert out.rstrip().endswith("0 to create, 0 to modify, 11 in sync.")
    assert (root / "etc/passwd-").exists()  # written to the copy, never to /etc
