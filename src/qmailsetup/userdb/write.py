"""Replacing an account file atomically, the careful way.

For FILE in DIR (the root's etc, as one descriptor: userdb/etcdir.py): the
current content (the bytes the caller read under the locks, not read
again) is copied to a new temporary file in DIR (created with
O_EXCL, never following a link, with FILE's owner, group, mode, times and
extended attributes), fsynced and renamed over FILE- (the backup shadow-utils
and vipw keep); then the new content goes the same way over FILE, and DIR
is fsynced. Every rename replaces a complete, synced file, so at any
instant FILE and FILE- each hold an old or a new content, never a mix.
Temporary files are named FILE.qmailsetup-PID-RANDOM; ones left by a
killed run (dead PID) are removed by remove_stale_temps under the lock.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import stat
from contextlib import suppress

from qmailsetup.hostio import read_fd
from qmailsetup.userdb.etcdir import EtcDir
from qmailsetup.userdb.lock import pid_alive

TEMP_MARK = ".qmailsetup-"
TEMP_NAME = re.compile(r"(?P<base>.+)\.qmailsetup-(?P<pid>\d+)-[0-9a-f]+")
# shadow-utils' lock candidate FILE.<pid>, holding "<pid>\0"
LOCK_TEMP_NAME = re.compile(r"(?P<base>.+)\.(?P<pid>\d+)")


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


def read_xattrs(fd: int, name: str) -> dict[str, bytes]:
    """Every extended attribute of FD (POSIX ACLs, user.*, the SELinux
    label): the new file and the backup get them all, as shadow-utils does."""
    try:
        names = os.listxattr(fd)
    except OSError as error:
        if error.errno in (errno.ENOTSUP, errno.ENOSYS):
            return {}  # a file system without extended attributes
        raise WriteError(f"listing the extended attributes of {name}", error) from None
    values = {}
    for attribute in names:
        try:
            values[attribute] = os.getxattr(fd, attribute)
        except OSError as error:
            if error.errno != errno.ENODATA:  # removed meanwhile
                raise WriteError(f"reading the extended attribute {attribute} of {name}", error) from None
    return values


def install(dir_fd: int, name: str, data: bytes, like: os.stat_result, xattrs: dict[str, bytes],
            keep_times: bool = False) -> None:
    """Put DATA in place as NAME in the directory DIR_FD: temp file, owner,
    mode, extended attributes, write, fsync, rename. An attribute the file
    system refuses fails the step: a file never loses its ACL or its
    security label silently."""
    temp = f"{name}{TEMP_MARK}{os.getpid()}-{secrets.token_hex(4)}"
    step = f"creating {temp}"
    try:
        fd = os.open(
            temp,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL  # a name already there, a planted link too, fails
            | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o600, dir_fd=dir_fd)
        try:
            step = f"setting the owner of {temp}"
            os.fchown(fd, like.st_uid, like.st_gid)
            step = f"setting the mode of {temp}"
            os.fchmod(fd, stat.S_IMODE(like.st_mode))  # after fchown, which may clear set-id bits
            for attribute, value in xattrs.items():  # after fchmod: an ACL sets the group bits
                step = f"keeping the extended attribute {attribute} on {temp}"
                os.setxattr(fd, attribute, value)
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
    return os.stat_result((
        stat.S_IFREG | mode,
        0, 0, 1,  # inode, device, links
        -1, -1,
        0, 0, 0, 0,  # size and times
    ))


def read_current(etc: EtcDir, name: str, content: bytes | None = None) -> tuple[bytes, os.stat_result, dict[str, bytes]]:
    """NAME's content, status and extended attributes, from one descriptor
    opened without following a link and without blocking; CONTENT, when
    the caller holds it already (read under the locks it still holds), is
    not read again."""
    try:
        fd, info = etc.open_regular(name)
    except OSError as error:
        raise WriteError(f"reading {name}", error) from None
    try:
        if content is None:
            try:
                content = read_fd(fd)
            except OSError as error:
                raise WriteError(f"reading {name}", error) from None
        return content, info, read_xattrs(fd, name)
    finally:
        os.close(fd)


def replace_file(etc: EtcDir, name: str, data: bytes, previous: bytes | None = None,
                 wrote=lambda name: None) -> None:
    """Replace NAME in ETC by DATA atomically, keeping its current content
    as NAME-: PREVIOUS, the bytes the caller read under the locks it still
    holds (the backup is made from them, as shadow-utils' commonio makes
    it), else read now. WROTE is told each name once it is in place
    (NAME-, then NAME). Raises WriteError naming the step that failed."""
    previous, info, xattrs = read_current(etc, name, previous)
    etc_fd = etc.descriptor(name)
    install(etc_fd, f"{name}-", previous, info, xattrs, keep_times=True)
    wrote(f"{name}-")
    install(etc_fd, name, data, info, xattrs)
    wrote(name)
    try:
        os.fsync(etc_fd)
    except OSError as error:
        raise WriteError(f"syncing the directory {etc.path}", error) from None


def remove_stale_temps(etc: EtcDir, names: set[str]) -> list[str]:
    """Remove temporary files of NAMES (and their backups) left by runs
    that died, or by an earlier failed step of this process (called under
    the lock, when this process has none in flight); returns them. A FILE.<pid>
    that is not a regular file holding "<pid>\\0" is no lock candidate: left as
    it is, never opened so that it could block."""
    removed = []
    bases = names | {f"{name}-" for name in names}
    with suppress(OSError), os.scandir(etc.fd) as entries:
        for entry in entries:
            match = TEMP_NAME.fullmatch(entry.name) or LOCK_TEMP_NAME.fullmatch(entry.name)
            if not match or match["base"] not in bases:
                continue
            pid = int(match["pid"])
            if pid != os.getpid() and pid_alive(pid):
                continue
            if match.re is LOCK_TEMP_NAME and not holds_pid(etc, entry.name, pid):
                continue  # not a lock candidate: someone else's file
            with suppress(OSError):
                os.unlink(entry.name, dir_fd=etc.fd)
                removed.append(entry.name)
    return removed


def holds_pid(etc: EtcDir, name: str, pid: int) -> bool:
    try:
        fd, _ = etc.open_regular(name)
    except OSError:
        return False
    try:
        return read_fd(fd, 32) == f"{pid}\0".encode()
    finally:
        os.close(fd)
