"""Reading files on a host that may be hostile or just odd.

The one way every file the tool reads is opened (account files, locks,
leftovers, login.defs, os-release, resolv.conf, mount tables, the spec):
with O_NONBLOCK, so a FIFO, a device or a socket where a file is expected
can never make a run wait, then checked with fstat to be a regular file.
Anything else is NotRegular, an OSError the callers turn into their one-line
error. O_NONBLOCK is cleared again once the file is known to be regular.

A file the tool only consults (login.defs, os-release, shells,
resolv.conf, a platform profile, the spec) is read whole only up to
CONSULTED_LIMIT: a larger one is TooLarge, refused before it is read (a
sparse file of a gigabyte costs no disk, but would cost a gigabyte of
memory). The account files are read as they are, whatever their size.
"""

from __future__ import annotations

import errno
import fcntl
import io
import os
import stat
import struct
import sys

READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
CHUNK = 1 << 20
# _IOR('f', 1, long): the kernel reads and writes an int through it
FS_IOC_GETFLAGS = (2 << 30) | (struct.calcsize("l") << 16) | (ord("f") << 8) | 1
# chattr +i and +a (Linux inode flags)
FS_IMMUTABLE_FL, FS_APPEND_FL = 0x00000010, 0x00000020
# qmailsetup(8), SAFETY: each of those files is a few kilobytes
CONSULTED_LIMIT = 1 << 20


class NotRegular(OSError):
    """A path that is there but is not a regular file (a FIFO, a device, a
    socket, a directory); its strerror says which."""


class TooLarge(OSError):
    """A file the tool only consults that is larger than CONSULTED_LIMIT;
    its strerror gives the size and the limit."""


def kind_of(mode: int) -> str:
    """What a file of MODE is, in words for a message."""
    if stat.S_ISREG(mode):
        return "a file"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISLNK(mode):
        return "a symlink"
    return "not a regular file"


def open_regular(
    path, *, dir_fd: int | None = None, follow: bool = True, flags: int = READ_FLAGS, mode: int = 0o600,
) -> tuple[int, os.stat_result]:
    """An fd for reading PATH (relative to DIR_FD when given) and its fstat,
    or NotRegular; never blocks. FOLLOW=False refuses a symlink (ELOOP).
    FLAGS other than the default (a lock file opened for writing, perhaps
    created with MODE) get O_NONBLOCK, O_NOCTTY and O_CLOEXEC all the same."""
    flags |= os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags, mode, dir_fd=dir_fd)
    except OSError as error:
        if error.errno != errno.ENXIO:  # a socket, a device with no driver, a FIFO with no reader (O_WRONLY)
            raise
        mode = os.stat(path, dir_fd=dir_fd, follow_symlinks=follow).st_mode
        raise NotRegular(error.errno, f"{kind_of(mode)}, not a regular file") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegular(0, f"{kind_of(info.st_mode)}, not a regular file")
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    except BaseException:
        os.close(fd)
        raise
    return fd, info


def read_fd(fd: int, limit: int | None = None) -> bytes:
    """All of FD (or its first LIMIT bytes). All of it is read into one
    buffer, sized from fstat, so an account file of any size is in memory
    once, never also as the pieces it was read in."""
    if limit is None:
        with io.FileIO(fd, closefd=False) as stream:
            return stream.readall()
    chunks, size = [], 0
    while size < limit:
        chunk = os.read(fd, min(CHUNK, limit - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def read_regular(path, *, dir_fd: int | None = None, follow: bool = True, limit: int | None = None) -> bytes:
    """The bytes of the regular file PATH; OSError (NotRegular included) else."""
    fd, _ = open_regular(path, dir_fd=dir_fd, follow=follow)
    try:
        return read_fd(fd, limit)
    finally:
        os.close(fd)


def read_consulted(
    path, *, dir_fd: int | None = None, follow: bool = True, limit: int = CONSULTED_LIMIT,
) -> bytes:
    """The bytes of PATH, a regular file the tool only consults; TooLarge
    when it holds more than LIMIT bytes, told from its size before anything
    is read (or, for a file whose size says nothing, as /proc's, from the
    first LIMIT + 1 bytes)."""
    fd, info = open_regular(path, dir_fd=dir_fd, follow=follow)
    try:
        if info.st_size <= limit:
            data = read_fd(fd, limit + 1)
            if len(data) <= limit:
                return data
        size = f"{info.st_size} bytes" if info.st_size > limit else f"more than {limit} bytes"
        raise TooLarge(errno.EFBIG, f"{size}, larger than the {limit} bytes qmailsetup reads of a file it only consults")
    finally:
        os.close(fd)


def read_optional(path, *, dir_fd: int | None = None, follow: bool = True) -> bytes | None:
    """Like read_consulted, but None when PATH does not exist; a path that
    is there but is not a regular file is still NotRegular, never ignored."""
    try:
        return read_consulted(path, dir_fd=dir_fd, follow=follow)
    except FileNotFoundError:
        return None


def inode_flags(fd: int) -> int | None:
    """The chattr flags of FD (FS_IOC_GETFLAGS), None where the file system
    or the system has none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        result = fcntl.ioctl(fd, FS_IOC_GETFLAGS, bytes(8))
    except OSError:
        return None
    return int.from_bytes(result[:4], sys.byteorder)


def unchangeable(fd: int) -> str | None:
    """Why FD's file can be neither replaced nor renamed over: "immutable"
    or "append-only" (chattr +i/+a on Linux; chflags schg/uchg, sappnd/uappnd
    on the BSDs), else None."""
    flags = inode_flags(fd) or 0
    bsd = getattr(os.fstat(fd), "st_flags", 0)
    if flags & FS_IMMUTABLE_FL or bsd & (stat.SF_IMMUTABLE | stat.UF_IMMUTABLE):
        return "immutable"
    if flags & FS_APPEND_FL or bsd & (stat.SF_APPEND | stat.UF_APPEND):
        return "append-only"
    return None


def mount_id(fd: int) -> int | None:
    """The ID of the mount FD's file is on (Linux: /proc/self/fdinfo), None
    where that is not known. A file whose mount differs from its
    directory's is a mount point itself (a bind mount over one file), which
    a rename cannot replace."""
    try:
        text = read_regular(f"/proc/self/fdinfo/{fd}", limit=4096)
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(b"mnt_id:"):
            return int(line.split()[1])
    return None
