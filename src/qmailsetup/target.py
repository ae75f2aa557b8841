"""The target of a run: this host's own root, or a tree under --root DIR.

One object says which it is, where a path of the target lies on this host,
how a path is named in messages, and how a link in the target resolves:
inside the root, as openat2(2)'s RESOLVE_IN_ROOT does (an absolute link is
taken from the root, `..` stops at it), so nothing the tool reads, judges
or names under --root is ever the host's own.

It also knows the two rules of trust (docs/design.md, "The target"):

- the safe-path rule of sudo and OpenSSH: a directory is root's alone when
  it and every directory above it are owned by root and writable by no one
  else (a sticky directory such as /tmp is safe for what root owns in it);
- what may be handed to a tool that opens files by path and follows links
  (useradd --prefix, pw -R, pwd_mkdb -d): a tree whose etc is root's alone,
  with no link, hard link or odd file at any name the tool writes.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

# Where no link may lead qmail's directories, whoever made it: qmailsetup
# would chown and chmod them (a link /var/qmail -> /etc, a typo or a trap)
SYSTEM_DIRECTORIES = frozenset({
    "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/opt", "/proc", "/root", "/run",
    "/sbin", "/srv", "/sys", "/tmp", "/usr", "/usr/bin", "/usr/lib", "/usr/local", "/usr/local/bin",
    "/usr/local/sbin", "/usr/sbin", "/usr/share", "/var", "/var/lib", "/var/spool", "/var/tmp",
})
# Linux's MAXSYMLINKS (40 since 4.2); the BSDs allow 32: the smaller is not
# needed, a chain this long is a loop or an attack either way
MAX_LINKS = 40


def writable_by_others(info: os.stat_result) -> bool:
    """Not only root may write here: another owner, or group or other write
    permission (a group other than root's)."""
    mode = info.st_mode
    return info.st_uid != 0 or bool(mode & stat.S_IWOTH) or bool(mode & stat.S_IWGRP and info.st_gid != 0)


def ownership(info: os.stat_result) -> str:
    return f"owner {info.st_uid}, group {info.st_gid}, mode {stat.S_IMODE(info.st_mode):04o}"


def parts_of(absolute: str) -> list[str]:
    return [part for part in absolute.split("/") if part not in ("", ".")]


@dataclass(frozen=True)
class Target:
    """The root a run works on: `/`, or DIR of --root DIR (resolved)."""

    path: Path

    @property
    def live(self) -> bool:
        """This host's own root: NSS, nscd and the running qmail are its."""
        return self.path == Path("/")

    def host_path(self, absolute: str) -> Path:
        """Where the target's ABSOLUTE path lies on this host, its links
        not resolved."""
        return self.path / absolute.lstrip("/")

    def shown(self, absolute: str) -> str:
        """How the target's ABSOLUTE path is named in messages: as it is on
        the live root, with DIR in front under --root."""
        return absolute if self.live else str(self.host_path(absolute))

    def resolve(self, absolute: str, followed: list[str] | None = None) -> str:
        """ABSOLUTE, in the target's terms, with every link on it resolved
        inside the root; what does not exist is kept as written (`..`
        taken away lexically). OSError ELOOP when links nest deeper than
        MAX_LINKS. FOLLOWED, if given, gets each link met, in the target's
        terms, in the order met."""
        pending = list(reversed(parts_of(absolute)))
        done: list[str] = []
        links = 0
        exists = True
        while pending:
            part = pending.pop()
            if part == "..":
                if done:
                    done.pop()
                continue
            if not exists:
                done.append(part)
                continue
            place = self.path.joinpath(*done, part)
            try:
                info = os.lstat(place)
            except (FileNotFoundError, NotADirectoryError):
                exists = False
                done.append(part)
                continue
            if not stat.S_ISLNK(info.st_mode):
                done.append(part)
                continue
            links += 1
            if followed is not None:
                followed.append("/" + "/".join([*done, part]))
            if links > MAX_LINKS:
                raise OSError(errno.ELOOP, f"more than {MAX_LINKS} symlinks on the way", self.shown(absolute))
            link = os.readlink(place)
            if link.startswith("/"):
                done = []
            pending.extend(reversed(parts_of(link)))
        return "/" + "/".join(done)

    def real_path(self, absolute: str) -> Path:
        """Where the target's ABSOLUTE path, its links resolved inside the
        root, lies on this host."""
        return self.host_path(self.resolve(absolute))

    def untrusted_directory(self, absolute: str, holding_roots: bool = False) -> tuple[str, str] | None:
        """The first directory, from this host's / down to the target's
        ABSOLUTE (a directory, its links resolved), that someone other than
        root could change, with how it is owned; None when root alone can.
        A sticky directory on the way is safe for the root-owned entry in
        it that the way goes through; the last directory must be root's
        alone, as anyone who may write there may put a name in it (unless
        HOLDING_ROOTS: it is asked about for an entry root owns in it, which
        a sticky one keeps)."""
        place = Path("/")
        steps = [*self.path.parts[1:], *parts_of(self.resolve(absolute))]
        info = os.lstat(place)
        for part in steps:
            try:
                child = os.lstat(place / part)
            except (FileNotFoundError, NotADirectoryError):
                break  # to be made in the last directory that exists (or blocked by a file: never made)
            if writable_by_others(info) and not (info.st_mode & stat.S_ISVTX and child.st_uid == 0):
                return str(place), ownership(info)
            place, info = place / part, child
        if writable_by_others(info) and not (holding_roots and info.st_mode & stat.S_ISVTX and info.st_uid == 0):
            return str(place), ownership(info)
        return None

    def distrust(self, followed: list[str], real: str) -> str | None:
        """Why the links FOLLOWED on the way to REAL may not be trusted: a
        link not owned by root, or a directory holding one of them, where
        one leads, or on the way to REAL that others than root may change
        (the safe-path rule), or a link leading to a system directory
        (SYSTEM_DIRECTORIES); None when root alone could have made the way.
        REAL itself, beneath where the links lead, is what the spec
        manages (alias's home is alias's): only what holds it counts."""
        leads_to = [self.resolve(link) for link in followed]
        for place in leads_to:
            if place in SYSTEM_DIRECTORIES:
                return f"it leads to {self.shown(place)}, a system directory, never qmail's"
        for link in followed:
            owner = os.lstat(self.host_path(link)).st_uid
            if owner != 0:
                return f"the link {self.shown(link)} is owned by uid {owner}, not root"
        try:
            real_is_roots = os.lstat(self.host_path(real)).st_uid == 0
        except (FileNotFoundError, NotADirectoryError):
            real_is_roots = False
        ways = [(link.rpartition("/")[0] or "/", True) for link in followed]
        ways += [(place, False) for place in leads_to]
        ways.append((real.rpartition("/")[0] or "/", real_is_roots))
        for directory, holding_roots in ways:
            untrusted = self.untrusted_directory(directory, holding_roots)
            if untrusted:
                return f"{untrusted[0]} may be changed by others than root ({untrusted[1]})"
        return None

    def tool_hazards(self, etc_fd: int, names: tuple[str, ...], account_files: tuple[str, ...]) -> list[str]:
        """Why the directory ETC_FD (the target's etc) may not be handed to a
        tool that opens NAMES there by path (each name, and any name that
        starts with one: FILE-, FILE+, FILE.lock, FILE.<pid>): a symlink,
        which it would follow out of the tree; anything but a regular file,
        which could make it block; a file with other hard links (but the
        ACCOUNT_FILES themselves, which are renamed over, never written
        through), whose other names it would overwrite."""
        hazards = []
        with os.scandir(etc_fd) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                if not entry.name.startswith(names):
                    continue
                info = entry.stat(follow_symlinks=False)
                where = self.shown(f"/etc/{entry.name}")
                if stat.S_ISLNK(info.st_mode):
                    hazards.append(f"{where} is a symlink (to {os.readlink(entry.name, dir_fd=etc_fd)})")
                elif not stat.S_ISREG(info.st_mode):
                    hazards.append(f"{where} is not a regular file")
                elif info.st_nlink > 1 and entry.name not in account_files:
                    hazards.append(f"{where} has {info.st_nlink} hard links")
        return hazards
