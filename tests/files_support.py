"""Helpers for the files-backend tests: account trees, running the CLI,
checking that a database is consistent."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from qmailsetup.userdb.accountfile import AccountFile

HERE = Path(__file__).parent
GOLDEN = HERE / "golden" / "files"
TREES = GOLDEN / "trees"
KINDS = ("passwd", "group", "shadow", "gshadow", "master.passwd")
SHADOW_GID = 42  # the shadow group of Debian's base-passwd
EPOCH = "1700000000"  # SOURCE_DATE_EPOCH of the runs: day 19675


def make_tree(root: Path, name: str) -> Path:
    """ROOT/etc as the golden input tree NAME (debian, alpine), with the
    modes and owners an installed system gives (shadow 0640 root:shadow)."""
    shutil.copytree(TREES / name / "etc", root / "etc", dirs_exist_ok=True)
    for kind in ("shadow", "gshadow"):
        path = root / "etc" / kind
        if path.exists():
            os.chown(path, 0, SHADOW_GID)
            path.chmod(0o640)
    return root


def host_tree(root: Path) -> Path:
    """ROOT/etc with copies of this machine's own account files."""
    (root / "etc").mkdir(parents=True, exist_ok=True)
    for kind in ("passwd", "group", "shadow", "gshadow", "login.defs"):
        if Path("/etc", kind).exists():
            shutil.copy2(Path("/etc", kind), root / "etc" / kind)
            info = os.stat(Path("/etc", kind))
            os.chown(root / "etc" / kind, info.st_uid, info.st_gid)
    return root


def snapshot(root: Path) -> dict[str, bytes]:
    return {kind: (root / "etc" / kind).read_bytes() for kind in KINDS if (root / "etc" / kind).exists()}


def env(**extra: str) -> dict[str, str]:
    return {**os.environ, "SOURCE_DATE_EPOCH": EPOCH, **extra}


def qmailsetup(*args: str, extra_env: dict | None = None, check_codes=(0,)) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "qmailsetup", *args], capture_output=True, text=True, env=env(**(extra_env or {})),
    )
    assert result.returncode in check_codes, (result.returncode, result.stdout, result.stderr)
    return result


def apply_files(root: Path, *more: str, platform: str = "linux", **kwargs) -> subprocess.CompletedProcess:
    return qmailsetup("apply", "--root", str(root), "--platform", platform, "--backend", "files", *more, **kwargs)


def parse_all(root: Path) -> dict[str, AccountFile]:
    """Every account file under ROOT, parsed (raises on a broken one)."""
    files = {}
    for kind in KINDS:
        path = root / "etc" / kind
        if path.exists():
            files[kind] = AccountFile.parse(path, kind, path.read_bytes())
    return files


def assert_consistent(root: Path) -> None:
    """What the write order guarantees at every instant: each file parses;
    every user's group exists; every passwd line has its shadow line and
    every group line its gshadow line (a companion line may exist alone)."""
    files = parse_all(root)
    gids = {int(fields[2]) for _, fields in files["group"].entries()}
    users = files.get("passwd") or files["master.passwd"]
    for name, fields in users.entries():
        assert int(fields[3]) in gids, f"user {name}: group {fields[3]} missing"
    for main, companion in (("passwd", "shadow"), ("group", "gshadow")):
        if main in files and companion in files:
            missing = [name for name, _ in files[main].entries() if files[companion].get(name) is None]
            assert not missing, f"{main} lines without {companion}: {missing}"


def leftovers(root: Path) -> list[str]:
    """Lock and temporary files left in ROOT/etc."""
    return sorted(
        entry.name for entry in (root / "etc").iterdir()
        if (entry.name.endswith(".lock") and entry.name != ".pwd.lock") or ".qmailsetup-" in entry.name or entry.name.split(".")[-1].isdigit()
    )


def mask_clock(text: bytes) -> bytes:
    """shadow lines with the last-change day blanked: the one clock field."""
    lines = []
    for line in text.split(b"\n"):
        fields = line.split(b":")
        if len(fields) == 9:
            fields[2] = b"<day>"
        lines.append(b":".join(fields))
    return b"\n".join(lines)


def with_etc(root: Path, argv: list[str]) -> subprocess.CompletedProcess:
    """Run ARGV with ROOT/etc bind-mounted over /etc in a private mount
    namespace, so that the tool, NSS included, sees only ROOT's files."""
    script = 'mount --make-rprivate / && mount --bind "$0" /etc && exec "$@"'
    return subprocess.run(["unshare", "-m", "sh", "-c", script, str(root / "etc"), *argv],
                          capture_output=True, text=True)
