"""What a tree holds, to compare before and after a run: the one place that
says "nothing was written" (snapshot) or what account files a run left
(account_files)."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from trees import KINDS

EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"  # sha256 of nothing


def snapshot(root: Path) -> dict[str, tuple]:
    """Every path under ROOT with its type, mode, owner and content: two
    equal snapshots mean nothing under the root was written."""
    result = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            info = path.lstat()
            digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() and not path.is_symlink() else None
            result[str(path.relative_to(root))] = (info.st_mode, info.st_uid, info.st_gid, info.st_size, digest)
    return result


def without_pwd_lock(tree: dict) -> dict:
    """A snapshot without lckpwdf's lock file (an empty .pwd.lock in etc,
    at any depth, or at the top of a snapshot of etc): it is made by the
    first lock and stays, as glibc leaves it; it is no account file and
    holds nothing. Nor the size of an etc directory, which counts it on a
    tmpfs (its entries are compared one by one)."""
    kept = {}
    for path, (mode, uid, gid, size, digest) in tree.items():
        parts = Path(path).parts
        if parts[-1] == ".pwd.lock" and parts[:-1][-1:] in ((), ("etc",)) and digest == EMPTY:
            continue
        kept[path] = (mode, uid, gid, None if parts[-1:] == ("etc",) else size, digest)
    return kept


def account_files(root: Path) -> dict[str, bytes]:
    """The bytes of each account file in ROOT/etc, by kind: what a run made,
    to compare with another tree or a golden."""
    return {kind: (root / "etc" / kind).read_bytes() for kind in KINDS if (root / "etc" / kind).exists()}


def mode_owner(path: Path) -> tuple[int, int, int]:
    """PATH's permission bits, owner and group (the link itself)."""
    info = os.lstat(path)
    return stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid
