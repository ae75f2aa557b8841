"""Creating and fixing the directories of the spec under the root.

Every step goes through directory file descriptors with O_NOFOLLOW, so a
symlink planted anywhere on the way (even between planning and applying)
makes the step fail instead of redirecting it; ownership and mode are set
on the opened directory itself (fchown, then fchmod: chown clears setgid).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from qmailsetup.errors import OperationFailed

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def open_parent(root: Path, path: str) -> tuple[int, str]:
    """An fd of PATH's parent, walked from ROOT without following links;
    missing parents are made root-owned 0755, as mkdir -p would."""
    parts = Path(path).parts[1:]
    fd = os.open(root, DIR_FLAGS)
    try:
        for part in parts[:-1]:
            try:
                child = os.open(part, DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                os.mkdir(part, 0o755, dir_fd=fd)
                child = os.open(part, DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd, parts[-1]


def ensure_directory(root: Path, path: str, uid: int, gid: int, mode: int) -> None:
    try:
        parent, name = open_parent(root, path)
        try:
            try:
                # private until it has its owner and mode
                os.mkdir(name, 0o700, dir_fd=parent)
                os.fsync(parent)
            except FileExistsError:
                pass
            fd = os.open(name, DIR_FLAGS, dir_fd=parent)
        finally:
            os.close(parent)
        try:
            info = os.fstat(fd)
            if (info.st_uid, info.st_gid) != (uid, gid):
                os.fchown(fd, uid, gid)
            os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as error:
        reason = "a symlink or not a directory on the way" if error.errno in (errno.ELOOP, errno.ENOTDIR) else error.strerror
        raise OperationFailed(f"{path}: {reason}") from None
