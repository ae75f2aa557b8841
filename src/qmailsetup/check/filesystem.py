"""The filesystem under qmail's home (docs/qmail.md, "The filesystem under
/var/qmail"): setuid and exec must work for bin, and the queue wants
synchronous metadata on a local disk, ideally on its own partition.

Paths are looked at under --root, their links resolved inside it
(target.py), and a remedy names no path outside it; the mount table is
the running host's.
A path that does not exist yet is judged by the filesystem of its nearest
existing parent, where it will be made.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from qmailsetup.check import Finding
from qmailsetup.check.mounts import Mount, contains, holding, nearest_existing
from qmailsetup.hostio import inode_flags as flags_of
from qmailsetup.installation import QmailInstall, qmail_install
from qmailsetup.spec import Spec
from qmailsetup.target import Target

# Filesystems reached over a network or shared among machines (conf-qmail:
# never put the queue there).
NETWORK_TYPES = frozenset(
    {
        "nfs", "nfs4", "cifs", "smb3", "smbfs", "afs", "ceph", "glusterfs", "lustre", "gfs2", "ocfs2",
        "9p", "virtiofs", "ncpfs", "coda", "davfs", "fuse.sshfs", "fuse.glusterfs", "fuse.cephfs",
        "fuse.s3fs", "fuse.rclone", "fuse.gcsfuse", "fuse.davfs",
    }
)
# Why a filesystem without sync loses mail, per type.
SYNC_NOTES = {
    "ext2": "ext2 writes metadata asynchronously and has no journal: the classic danger for a qmail queue",
    "ext3": "ext3 journals metadata but commits the journal asynchronously, seconds later",
    "ext4": "ext4 journals metadata but commits the journal asynchronously, seconds later",
    "xfs": "XFS buffers and journals metadata asynchronously",
    "reiserfs": "ReiserFS buffers and journals metadata asynchronously",
    "btrfs": "btrfs commits metadata in transactions, seconds later",
    "zfs": "ZFS commits metadata in transaction groups, seconds later",
}
# Filesystems in memory: the queue, and every message in it, is gone at the
# next reboot, whatever sync options or attributes it has.
MEMORY_TYPES = frozenset({"tmpfs", "ramfs", "mfs"})
FFS_TYPES = frozenset({"ufs", "ffs"})
# Linux: remount with -o remount, chattr flags; else BSD mount -u
LINUX = sys.platform.startswith("linux")
# ext2/3/4 (and XFS, btrfs) inode flags: chattr +S and chattr +D
FS_SYNC_FL, FS_DIRSYNC_FL = 0x00000008, 0x00010000


@dataclass(frozen=True)
class Where:
    """A qmail path as the target names it, where it really is (its links
    resolved inside the root), the nearest part of that which exists, and
    the mount that holds it."""

    shown: str
    real: str
    existing: str
    mount: Mount
    # the root under --root: a mount point outside it is not named in a remedy
    root: str = "/"
    # qmail's home and queue as the target names them, for the remedies
    home: str = ""
    queue: str = ""

    @property
    def exists(self) -> bool:
        return self.existing == self.real

    def subject(self) -> str:
        if self.exists:
            return f"{self.shown} is on {self.mount.describe()}"
        return f"{self.shown} does not exist yet; its nearest existing parent {self.existing} is on {self.mount.describe()}"

    def mount_point(self) -> str | None:
        """The mount point to name in a remedy: None when it lies outside
        the root (a tree under --root is judged, never the host around it)."""
        point = self.mount.mount_point
        return point if contains(self.root, point) else None


def locate(table: list[Mount], target: Target, install: QmailInstall, path: str) -> Where:
    real = str(target.real_path(path))
    existing = nearest_existing(real)
    return Where(target.shown(path), real, existing, holding(table, existing), str(target.path),
                 target.shown(install.home), target.shown(install.queue))


def underlying(table: list[Mount], mount: Mount) -> Mount:
    """The real filesystem behind a BSD nullfs mount (a Linux bind mount
    already shows its own type and superblock options)."""
    for _ in range(8):
        if mount.fstype != "nullfs":
            break
        mount = holding(table, nearest_existing(mount.source))
    return mount


def remount(point: str, option: str) -> str:
    if LINUX:
        return f"mount -o remount,{option} {point}"
    return f"mount -u -o {option} {point}"


def elsewhere(where: Where, setting: str) -> str:
    """How to mount the file system holding WHERE when its mount point is
    outside the root: in words (under --root the host's mounts are not the
    tree's to change)."""
    return f"mount the file system that holds {where.shown} {setting} on the host that runs it"


def check_mount_flag(where: Where, flag: str, finding_id: str, why: str) -> Finding:
    mount = where.mount
    if flag not in mount.options:
        return Finding(finding_id, "ok", where.shown, f"{where.subject()}, mounted without {flag}")
    point = where.mount_point()
    how = (
        f"remove {flag} from the options of {point} in /etc/fstab and remount it ({remount(point, flag[2:])})"
        if point else elsewhere(where, f"without {flag}")
    )
    return Finding(
        finding_id, "error", where.shown,
        f"{where.subject()}, mounted {flag}: {why}",
        f"{how}, or give {where.home} a filesystem of its own without {flag}",
    )


def is_network(mount: Mount) -> bool:
    return mount.fstype in NETWORK_TYPES or mount.fstype.startswith("nfs")


def check_network(table: list[Mount], where: Where) -> Finding:
    if is_network(underlying(table, where.mount)):
        return Finding(
            "fs.network", "error", where.shown,
            f"{where.subject()}, a network filesystem: the queue must be on a local disk, "
            "never NFS or a filesystem shared among machines (conf-qmail)",
            f"put {where.home} (at least {where.queue}) on a local filesystem of this host",
        )
    return Finding("fs.network", "ok", where.shown, f"{where.subject()}, a local filesystem")


def inode_flags(path: str) -> int | None:
    """The chattr flags of a directory (FS_IOC_GETFLAGS), None where the
    filesystem has none."""
    if not LINUX:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        return flags_of(fd)
    finally:
        os.close(fd)


# the queue's directories are two deep at most (queue/mess/22): no deeper
# one is qmail's, and a walk that went on could be led anywhere
QUEUE_DEPTH = 2


def queue_directories(top: str) -> list[str]:
    """TOP and its directories down to QUEUE_DEPTH, by name, never walked
    through a link."""
    found, level = [top], [top]
    for _ in range(QUEUE_DEPTH):
        below = []
        for directory in level:
            try:
                with os.scandir(directory) as entries:
                    subdirectories = sorted((e for e in entries if e.is_dir()), key=lambda e: e.name)
            except OSError:
                continue
            # a link to a directory is listed (no chattr +S of its own) but not walked
            found += [e.path for e in subdirectories]
            below += [e.path for e in subdirectories if not e.is_symlink()]
        level = below
    return found


def without_sync_flag(where: Where) -> str | None:
    """The first queue directory that lacks chattr +S (or +D), None when
    all have it. A queue not made yet inherits the flag of its parent."""
    directories = queue_directories(where.existing) if where.exists else [where.existing]
    for directory in directories:
        flags = inode_flags(directory)
        if flags is None or not flags & (FS_SYNC_FL | FS_DIRSYNC_FL):
            return directory
    return None


def in_memory(table: list[Mount], mount: Mount) -> str | None:
    """What keeps MOUNT in memory ("tmpfs", or "overlay whose upper layer
    is tmpfs ..."), None for a filesystem on a disk."""
    if mount.fstype in MEMORY_TYPES:
        return mount.fstype
    if mount.fstype == "overlay":
        # what is written lands in the upper layer
        upper = next((o.split("=", 1)[1] for o in mount.options if o.startswith("upperdir=")), None)
        if upper:
            holder = holding(table, nearest_existing(upper))
            if holder.fstype in MEMORY_TYPES:
                return f"overlay whose upper layer {upper} is on {holder.fstype}"
    return None


def chattr_remedy(where: Where) -> str:
    """chattr +S on every directory of the queue: `chattr -R` would also
    meet its FIFOs (lock/trigger) and fail on them."""
    command = f"find {where.real} -type d -exec chattr +S {{}} +"
    return command if where.exists else f"once the queue is made, {command}"


def sync_mount(where: Where, point: str | None, command: str) -> str:
    """The sync mount remedy: never for the root file system, where every
    write of the whole system would wait for the disk; a filesystem of the
    queue's own instead."""
    if point is None:
        return elsewhere(where, "with sync")
    if point in ("/", where.root):
        return f"give {where.queue} a filesystem of its own, mounted with sync"
    return f"mount {point} with sync{command}"


def sync_remedy(where: Where, real: Mount) -> str:
    point = where.mount_point()
    if real.fstype in FFS_TYPES:
        device = real.source if point else "its device"
        return (
            "build qmail with Bruce Guenter's syncdir; or apply Frank Denis' qmail-link-sync patch; "
            f"or turn soft updates off on {device} (FreeBSD: tunefs -n disable {device} while unmounted; "
            f"OpenBSD: drop softdep from its /etc/fstab options); or {sync_mount(where, point, '')}"
        )
    command = f" ({remount(point, 'sync')}, and sync in /etc/fstab)" if point else ""
    return (
        "in order of preference: build qmail with Bruce Guenter's syncdir; or apply Frank Denis' "
        f"qmail-link-sync patch; or {sync_mount(where, point, command)}; or, on ext2/3/4, {chattr_remedy(where)}"
    )


def check_sync(table: list[Mount], where: Where) -> Finding:
    real = underlying(table, where.mount)
    options = where.mount.options | real.options
    subject = where.subject()
    memory = in_memory(table, real)
    if memory:
        # qmail works there: a warning, as delayed metadata is (check/__init__.py FINDING_IDS)
        return Finding(
            "fs.sync-metadata", "warning", where.shown,
            f"{subject}: {memory} lives in memory, so the queue and every message in it are lost at each reboot",
            f"put {where.home} (at least {where.queue}) on a filesystem on a disk",
        )
    for option in ("sync", "dirsync"):
        if option in options:
            return Finding("fs.sync-metadata", "ok", where.shown, f"{subject}, mounted {option}: metadata is written at once")
    lacking = without_sync_flag(where) if LINUX else None
    if LINUX and lacking is None:
        return Finding(
            "fs.sync-metadata", "ok", where.shown,
            f"{subject}; {where.existing} has the synchronous attribute (chattr +S): metadata is written at once",
        )
    if real.fstype in FFS_TYPES:
        delayed = [word for word in ("soft-updates", "async", "log") if word in options]
        if not delayed:
            return Finding(
                "fs.sync-metadata", "ok", where.shown,
                f"{subject}, without soft updates: FFS writes metadata synchronously",
            )
        note = f"{real.fstype} with {' and '.join(delayed).replace('-', ' ')} delays metadata writes"
    else:
        note = SYNC_NOTES.get(real.fstype, f"{real.fstype} is not known to write metadata synchronously")
    attribute = f", and {lacking} has no chattr +S" if lacking else ""
    return Finding(
        "fs.sync-metadata", "warning", where.shown,
        f"{subject}, mounted without sync or dirsync{attribute}: {note}. "
        "link() and rename() in the queue may return before they reach the disk, and mail can be lost at power loss",
        sync_remedy(where, real),
    )


def check_separate(table: list[Mount], home: Path, where: Where) -> Finding:
    mount = where.mount
    real_home = str(home)
    own_points = {real_home, where.real}
    shared = mount.mount_id is not None and any(
        other.device == mount.device and not contains(real_home, other.mount_point) for other in table
    )
    atime = "noatime is set, which is safe" if "noatime" in mount.options else "noatime would be safe there"
    local = not is_network(underlying(table, mount))
    if mount.mount_point in own_points and not mount.is_bind and not shared and local:
        return Finding("fs.separate-partition", "ok", where.shown, f"{where.subject()}, a filesystem of its own; {atime}")
    return Finding(
        "fs.separate-partition", "info", where.shown,
        f"{where.subject()}: {not_its_own(table, home, mount, local)}",
        f"a partition of its own for {where.home} (or {where.queue}) is recommended; mounting it noatime is safe",
    )


def not_its_own(table: list[Mount], home: Path, mount: Mount, local: bool) -> str:
    """Why the filesystem holding the queue is not /var/qmail's own."""
    real_home = str(home)
    if not contains(real_home, mount.mount_point):
        return f"it shares its filesystem with {mount.mount_point}"
    others = [
        m.mount_point for m in table
        if m is not mount and m.device == mount.device and not contains(real_home, m.mount_point)
    ]
    if others:
        return f"it shares its filesystem with {others[0]}"
    if mount.is_bind:
        # a BSD nullfs mount names the directory it shows as its source
        shown = mount.source if mount.fstype == "nullfs" else mount.root
        return f"a bind mount of {shown}, a directory of another filesystem"
    return "a network filesystem, not a local one of its own" if not local else "not a filesystem of its own"


def filesystem_findings(root: Path, table: list[Mount], install: QmailInstall | None = None) -> list[Finding]:
    """The findings about the file systems of INSTALL's bin and queue (by
    default the built-in installation's) under ROOT."""
    install = install or qmail_install(Spec())
    target = Target(root)
    home = target.real_path(install.home)
    binaries = locate(table, target, install, install.bin)
    queue = locate(table, target, install, install.queue)
    return [
        check_mount_flag(
            binaries, "nosuid", "fs.nosuid",
            "qmail-queue is setuid qmailq and cannot work here (\"qq trouble creating files in queue (#4.3.0)\")",
        ),
        check_mount_flag(binaries, "noexec", "fs.noexec", "qmail's programs cannot run from here"),
        check_network(table, queue),
        check_sync(table, queue),
        check_separate(table, home, queue),
    ]
