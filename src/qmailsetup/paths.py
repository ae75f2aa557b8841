"""Creating and fixing the directories of the spec under the root.

Every step goes through directory file descriptors with O_NOFOLLOW, so a
symlink planted anywhere on the way (even between planning and applying)
makes the step fail instead of redirecting it; ownership and mode are set
on the opened directory itself (fchown, then fchmod: chown clears setgid).
"""

from __future__ import annotations

import errno
import os
from contextlib import contextmanager
from pathlib import Path

from qmailsetup.errors import OperationFailed
from qmailsetup.observe import shown

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


# a directory made above a spec path: anyone may pass through it to reach
# /var/qmail, as qmail's users must, whatever the umask of the run
PARENT_MODE = 0o755


def make_parent(fd: int, name: str) -> int:
    """An fd of the new directory NAME in FD, mode PARENT_MODE (set on the
    fd opened without following links: mkdir's mode is cut by the umask)."""
    os.mkdir(name, PARENT_MODE, dir_fd=fd)
    child = os.open(name, DIR_FLAGS, dir_fd=fd)
    try:
        os.fchmod(child, PARENT_MODE)
    except BaseException:
        os.close(child)
        raise
    return child


def open_parent(root: Path, path: str) -> tuple[int, str]:
    """An fd of PATH's parent, walked from ROOT without following links;
    missing parents are made root-owned 0755 whatever the umask."""
    parts = Path(path).parts[1:]
    fd = os.open(root, DIR_FLAGS)
    try:
        for part in parts[:-1]:
            try:
                child = os.open(part, DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                child = make_parent(fd, part)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd, parts[-1]


@contextmanager
def step_on(root: Path, path: str):
    """A step on PATH under ROOT: an OSError in it is one line naming the
    path as shown (under the root) and why."""
    try:
        yield
    except OSError as error:
        reason = "a symlink or not a directory on the way" if error.errno in (errno.ELOOP, errno.ENOTDIR) else error.strerror
        raise OperationFailed(f"{shown(root, path)}: {reason}") from None


def ensure_directory(root: Path, path: str, uid: int, gid: int, mode: int) -> None:
    with step_on(root, path):
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


def make_link(root: Path, path: str, leads_to: str) -> None:
    """The link PATH (under ROOT) to LEADS_TO, written as given (an absolute
    path in the target's terms); its parents walked and made as for a
    directory, never through a link."""
    with step_on(root, path):
        parent, name = open_parent(root, path)
        try:
            os.symlink(leads_to, name, dir_fd=parent)
            os.fsync(parent)
        finally:
            os.close(parent)
