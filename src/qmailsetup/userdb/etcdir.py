"""ROOT/etc, opened once: the one directory every account-file step uses.

observe reads the account files through it (and notes, while each is
open, whether a rename could replace it), and the files backend takes its
locks, creates its temporary files, renames them over the files and their
FILE- backups and fsyncs the directory through it, and apply's preflight
looks at it: all relative to one descriptor
(openat and friends, dir_fd=), opened without following a link when the
root is not /. Whatever happens to the name ROOT/etc after that (renamed,
swapped for a symlink to the host's own /etc), every step still works on
the directory that was checked (qmailsetup(8), SAFETY).
"""

from __future__ import annotations

import errno
import os
import stat
import weakref
from functools import cached_property
from pathlib import Path

from qmailsetup.errors import BadInput, Refused
from qmailsetup.hostio import mount_id, open_regular, unchangeable

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


class EtcDir:
    """ROOT/etc as a descriptor (fd is None when there is no such directory:
    every file in it is then missing). Closed by close() or when dropped."""

    def __init__(self, root: Path, fd: int | None) -> None:
        self.root = root
        self.path = root / "etc"
        self.fd = fd
        self.closer = weakref.finalize(self, os.close, fd) if fd is not None else None

    @classmethod
    def open(cls, root: Path) -> EtcDir:
        """ROOT/etc; a symlink there is refused (exit 3) unless ROOT is /,
        as with useradd --prefix it would lead to another host's files."""
        flags = DIR_FLAGS if root == Path("/") else DIR_FLAGS | os.O_NOFOLLOW
        try:
            root_fd = os.open(root, DIR_FLAGS)
        except OSError as error:
            raise BadInput(f"--root {root}: cannot open: {error.strerror}") from None
        try:
            fd = os.open("etc", flags, dir_fd=root_fd)
        except FileNotFoundError:
            return cls(root, None)  # the missing account files are named one by one
        except OSError as error:
            cls.refuse(root_fd, root / "etc", error)
        finally:
            os.close(root_fd)
        return cls(root, fd)

    @staticmethod
    def refuse(root_fd: int, etc: Path, error: OSError):
        try:
            info = os.stat("etc", dir_fd=root_fd, follow_symlinks=False)
        except OSError:
            info = None
        if info is not None and stat.S_ISLNK(info.st_mode):
            target = os.readlink("etc", dir_fd=root_fd)
            raise Refused(f"{etc}: is a symlink (to {target}); refusing to edit account files through a link")
        if error.errno == errno.ENOTDIR:
            raise BadInput(f"{etc}: not a directory")
        raise BadInput(f"{etc}: cannot open: {error.strerror}")

    def __enter__(self) -> EtcDir:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.closer is not None:
            self.closer()
            self.fd = None

    def shown(self, name: str) -> str:
        """How ROOT/etc/NAME is named in messages: /etc/NAME on the host itself."""
        return f"/etc/{name}" if self.root == Path("/") else str(self.path / name)

    def lstat(self, name: str) -> os.stat_result:
        """NAME's own status (a symlink is not followed); FileNotFoundError
        when it or ROOT/etc is missing."""
        if self.fd is None:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), self.shown(name))
        return os.stat(name, dir_fd=self.fd, follow_symlinks=False)

    def exists(self, name: str) -> bool:
        try:
            self.lstat(name)
        except FileNotFoundError:
            return False
        return True

    def descriptor(self, name: str = "") -> int:
        """The directory's descriptor; FileNotFoundError (of NAME in it)
        when there is no such directory."""
        if self.fd is None:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), self.shown(name))
        return self.fd

    def open_regular(self, name: str, **kwargs) -> tuple[int, os.stat_result]:
        """hostio.open_regular of NAME in this directory, never through a link."""
        return open_regular(name, dir_fd=self.descriptor(name), follow=False, **kwargs)

    def info(self) -> os.stat_result:
        return os.fstat(self.descriptor())

    def key(self) -> tuple[int, int]:
        """Which directory this is, whatever it is called now."""
        info = self.info()
        return info.st_dev, info.st_ino

    @cached_property
    def mount(self) -> int | None:
        """The mount this directory is on (hostio.mount_id)."""
        return None if self.fd is None else mount_id(self.fd)

    def unreplaceable(self, fd: int) -> str | None:
        """Why the file open at FD, in this directory, cannot be replaced by
        a rename over it: on a read-only mount, immutable or append-only
        (chattr +i/+a), a mount point of its own; None when it can be. Of
        the directory itself (FD its own): why nothing can be made in it."""
        if os.fstatvfs(fd).f_flag & os.ST_RDONLY:
            return "on a read-only mount (a bind mount over the file?)"
        why = unchangeable(fd)
        if why:
            return f"{why} (chattr -i/-a to edit)"
        if self.mount is not None and mount_id(fd) not in (None, self.mount):
            return "a mount point (a bind mount over the file), which a rename cannot replace"
        return None
