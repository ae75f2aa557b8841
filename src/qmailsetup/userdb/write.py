"""Replacing an account file atomically, the careful way.

For FILE in DIR: the current content is copied to a new temporary file in
DIR (created with O_EXCL, never following a link, with FILE's owner, group,
mode and times), fsynced and renamed over FILE- (the backup shadow-utils
and vipw keep); then the new content goes the same way over FILE, and DIR
is fsynced. Every rename replaces a complete, synced file, so at any
instant FILE and FILE- each hold an old or a new content, never a mix.
Temporary files are named FILE.qmailsetup-PID-RANDOM; ones left by a
killed run (dead PID) are removed by remove_stale_temps under the lock.
"""

from __future__ import annotations

import os
import re
import secrets
import stat
from contextlib import suppress
from pathlib import Path

from qmailsetup.userdb.lock import pid_alive

TEMP_MARK = ".qmailsetup-"
TEMP_NAME = re.compile(r"(?P<base>.+)\.qmailsetup-(?P<pid>\d+)-[0-9a-f]+")
# shadow-utils' lock candidate FILE.<pid>, holding "<pid>\0"
LOCK_TEMP_NAME = re.compile(r"(?P<base>.+)\.(?P<pid>\d+)")
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


class WriteError(OSError):
    """An OSError with the step it happened in."""

    def __init__(self, step: str, error: OSError) -> None:
        super().__init__(error.errno, error.strerror or str(error))
        self.step = step


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def install(dir_fd: int, name: str, data: bytes, like: os.stat_result, keep_times: bool = False) -> None:
    """Put DATA in place as NAME in the directory DIR_FD: temp file, owner,
    mode, write, fsync, rename."""
    temp = f"{name}{TEMP_MARK}{os.getpid()}-{secrets.token_hex(4)}"
    step = f"creating {temp}"
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dir_fd)
        try:
            step = f"setting the owner of {temp}"
            os.fchown(fd, like.st_uid, like.st_gid)
            step = f"setting the mode of {temp}"
            os.fchmod(fd, stat.S_IMODE(like.st_mode))  # after fchown, which may clear set-id bits
            step = f"writing {temp}"
            write_all(fd, data)
            if keep_times:
                os.utime(fd, ns=(like.st_atime_ns, like.st_mtime_ns))
            step = f"syncing {temp}"
            os.fsync(fd)
        finally:
            os.close(fd)
        step = f"renaming {temp} to {name}"
        os.rename(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException as error:
        with suppress(OSError):
            os.unlink(temp, dir_fd=dir_fd)
        if isinstance(error, OSError):
            raise WriteError(step, error) from None
        raise


def created_with(mode: int) -> os.stat_result:
    """What install() takes as LIKE for a file that copies no other: MODE,
    and the owner and group it is created with (-1: fchown keeps them)."""
    return os.stat_result((stat.S_IFREG | mode, 0, 0, 1, -1, -1, 0, 0, 0, 0))


def read_exactly(dir_fd: int, name: str) -> tuple[bytes, os.stat_result]:
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise WriteError(f"reading {name}", OSError(0, "not a regular file"))
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks), info
    finally:
        os.close(fd)


def replace_file(path: Path, data: bytes) -> None:
    """Replace PATH by DATA atomically, keeping its current content as PATH-.
    Raises WriteError naming the step that failed."""
    try:
        dir_fd = os.open(path.parent, DIR_FLAGS)
    except OSError as error:
        raise WriteError(f"opening {path.parent}", error) from None
    try:
        try:
            previous, info = read_exactly(dir_fd, path.name)
        except WriteError:
            raise
        except OSError as error:
            raise WriteError(f"reading {path.name}", error) from None
        install(dir_fd, f"{path.name}-", previous, info, keep_times=True)
        install(dir_fd, path.name, data, info)
        try:
            os.fsync(dir_fd)
        except OSError as error:
            raise WriteError(f"syncing the directory {path.parent}", error) from None
    finally:
        os.close(dir_fd)


def remove_stale_temps(directory: Path, names: set[str]) -> list[str]:
    """Remove temporary files of NAMES (and their backups) left by runs
    that died, or by an earlier failed step of this process (called under
    the lock, when this process has none in flight); returns them."""
    removed = []
    bases = names | {f"{name}-" for name in names}
    with suppress(OSError):
        for entry in os.scandir(directory):
            match = TEMP_NAME.fullmatch(entry.name) or LOCK_TEMP_NAME.fullmatch(entry.name)
            if not match or match["base"] not in bases:
                continue
            pid = int(match["pid"])
            if pid != os.getpid() and pid_alive(pid):
                continue
            if match.re is LOCK_TEMP_NAME and not holds_pid(entry.path, pid):
                continue  # not a lock candidate: someone else's file
            with suppress(OSError):
                os.unlink(entry.path)
                removed.append(entry.name)
    return removed


def holds_pid(path: str, pid: int) -> bool:
    with suppress(OSError), open(path, "rb") as file:
        return file.read(32) == f"{pid}\0".encode()
    return False
