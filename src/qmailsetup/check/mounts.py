"""The mount table, and which mount holds a path.

Linux: /proc/self/mountinfo (per-mount and per-superblock options, bind
roots, parent IDs). The BSDs: `mount -p` (fstab format) for the table and
plain `mount` for what -p leaves out, such as soft updates; OpenBSD has no
-p, so plain `mount` alone serves there.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from qmailsetup import tools
from qmailsetup.errors import BadInput, OperationFailed
from qmailsetup.hostio import NotRegular, read_regular

MOUNTINFO = "/proc/self/mountinfo"

# Plain BSD `mount` spells some flags as words; these are their option names.
BSD_WORDS = {
    "asynchronous": "async",
    "synchronous": "sync",
    "read-only": "ro",
    "softdep": "soft-updates",  # OpenBSD
    "journaled soft-updates": "soft-updates",  # FreeBSD SU+J
}
# `mount` flags that -p never shows but the checks need
BSD_EXTRA = frozenset({"soft-updates", "journaled soft-updates", "log", "local", "async"})


@dataclass(frozen=True)
class Mount:
    mount_point: str
    fstype: str
    source: str
    # per-mount and per-superblock options together (nosuid is per mount,
    # sync per superblock; either one counts)
    options: frozenset[str]
    # "major:minor" on Linux, the source on the BSDs: the same filesystem
    # mounted twice (a bind mount) has the same device
    device: str = ""
    # the directory of the filesystem shown here: not "/" for a bind mount
    # of a subdirectory
    root: str = "/"
    mount_id: int | None = None
    parent_id: int | None = None

    @property
    def is_bind(self) -> bool:
        return self.root != "/" or self.fstype == "nullfs"

    def describe(self) -> str:
        bind = f", bind of {self.root}" if self.root != "/" else ""
        return f"{self.fstype} {self.source} at {self.mount_point}{bind}"


def unescape(field: bytes) -> str:
    """Undo the kernel's octal escapes (\\040 space, \\011 tab, \\012
    newline, \\134 backslash); bytes that are not UTF-8 survive."""
    raw = re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]), field)
    return os.fsdecode(raw)


def split_options(text: str) -> set[str]:
    return {option for option in text.split(",") if option}


def parse_mountinfo(data: bytes) -> list[Mount]:
    """Lines of /proc/PID/mountinfo (proc(5)):
    36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
    """
    mounts = []
    # only "\n" ends a line: the kernel escapes it in paths, but not "\r",
    # at which splitlines() would also end one
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        fields = line.split(b" ")
        try:
            separator = fields.index(b"-", 6)
            mount_id, parent_id, device, root, point, per_mount = fields[:6]
            fstype, source, per_super = fields[separator + 1 : separator + 4]
        except ValueError:
            raise OperationFailed(f"{MOUNTINFO}:{number}: not a mountinfo line") from None
        mounts.append(
            Mount(
                mount_point=unescape(point),
                fstype=unescape(fstype),
                source=unescape(source),
                options=frozenset(split_options(os.fsdecode(per_mount)) | split_options(os.fsdecode(per_super))),
                device=os.fsdecode(device),
                root=unescape(root),
                mount_id=int(mount_id),
                parent_id=int(parent_id),
            )
        )
    return mounts


def parse_mount_p(text: str) -> list[Mount]:
    """`mount -p` (FreeBSD, NetBSD, DragonFly): fstab lines,
    spec file vfstype mntops [freq passno]; spaces in paths as \\040."""
    mounts = []
    for line in text.splitlines():
        words = line.split()
        if len(words) < 4 or words[0].startswith("#"):
            continue
        source, point = unescape(words[0].encode()), unescape(words[1].encode())
        mounts.append(Mount(point, words[2], source, frozenset(split_options(words[3])), device=source))
    return mounts


# FreeBSD:          /dev/ada0p2 on / (ufs, local, soft-updates)
# OpenBSD, NetBSD:  /dev/sd0a on / type ffs (local, softdep)
FREEBSD_LINE = re.compile(r"(?P<source>.+?) on (?P<point>/.*?) \((?P<fstype>[^,()]+)(?:, (?P<flags>.*))?\)")
TYPED_LINE = re.compile(r"(?P<source>.+?) on (?P<point>/.*?) type (?P<fstype>\S+)(?: \((?P<flags>.*)\))?")


def parse_bsd_mount(text: str) -> list[Mount]:
    """Plain `mount` output of FreeBSD, OpenBSD and NetBSD."""
    mounts = []
    for line in text.splitlines():
        match = TYPED_LINE.fullmatch(line) or FREEBSD_LINE.fullmatch(line)
        if not match:
            continue
        options = set()
        for word in (match["flags"] or "").split(", "):
            if word:
                options.add(word)
                options.add(BSD_WORDS.get(word, word))
        source = match["source"]
        mounts.append(Mount(match["point"], match["fstype"], source, frozenset(options), device=source))
    return mounts


def merge_bsd(from_p: list[Mount], plain: list[Mount]) -> list[Mount]:
    """The -p table, with the flags only plain `mount` shows added."""
    extra = {m.mount_point: m.options & BSD_EXTRA for m in plain}
    return [
        Mount(m.mount_point, m.fstype, m.source, m.options | extra.get(m.mount_point, frozenset()), device=m.device)
        for m in from_p
    ]


def run_mount(*args: str) -> str | None:
    """What `mount ARGS` prints in the C locale (the BSDs only; Linux reads
    /proc), or None when it cannot run or fails."""
    try:
        done = tools.run_tool(["mount", *args], env={**os.environ, "LC_ALL": "C"})
    except OSError:
        return None
    return done.stdout if done.returncode == 0 else None


def read_mount_table() -> list[Mount]:
    """The running host's mount table (never the --root's: mounts belong to
    the kernel, not to a directory tree)."""
    try:
        return parse_mountinfo(read_regular(MOUNTINFO))
    except FileNotFoundError:
        pass
    except NotRegular as error:  # something mounted over it
        raise BadInput(f"{MOUNTINFO}: {error.strerror}") from None
    plain = run_mount()
    if plain is None:
        raise OperationFailed("cannot read the mount table: no /proc/self/mountinfo and `mount` failed")
    from_p = run_mount("-p")
    return merge_bsd(parse_mount_p(from_p), parse_bsd_mount(plain)) if from_p else parse_bsd_mount(plain)


def contains(mount_point: str, path: str) -> bool:
    return mount_point == "/" or path == mount_point or path.startswith(mount_point.rstrip("/") + "/")


def nearest_existing(path: str) -> str:
    """PATH with its symlinks resolved, or the nearest parent that exists:
    a directory not made yet will live on its parent's filesystem."""
    current = os.path.realpath(path)
    while not os.path.exists(current):
        current = os.path.dirname(current)
    return current


def holding(table: list[Mount], path: str) -> Mount:
    """The mount that holds PATH (which must exist; see nearest_existing)."""
    candidates = [m for m in table if contains(m.mount_point, path)]
    if not candidates:
        raise OperationFailed(f"no mount in the mount table holds {path}")
    if all(m.mount_id is not None for m in candidates):
        return walk_down(candidates)
    # No parent IDs (the BSDs): the table is in mount order, every candidate
    # lies on the way from / to PATH, and a later mount sits on top: deeper,
    # or over the same or a parent directory, hiding what was there.
    return candidates[-1]


def walk_down(candidates: list[Mount]) -> Mount:
    """Linux: follow the mount tree from the root mount towards the path,
    as path lookup does: the child met first on the way is next, the nearest
    one (a mount on the very point of the current one covers it whole). A
    child further down, mounted before a nearer one, is hidden under it: a
    queue mounted at /var/qmail/queue, then a filesystem at /var/qmail."""
    ids = {m.mount_id for m in candidates}
    tops = [m for m in candidates if m.parent_id not in ids or m.parent_id == m.mount_id]
    current = min(tops, key=lambda m: len(m.mount_point))
    while True:
        children = [m for m in candidates if m.parent_id == current.mount_id and m is not current]
        if not children:
            return current
        nearest = min(len(m.mount_point) for m in children)
        # of several on the same point, the last mounted is on top
        current = [m for m in children if len(m.mount_point) == nearest][-1]
