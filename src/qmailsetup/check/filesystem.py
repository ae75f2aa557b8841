"""The filesystem under /var/qmail (docs/qmail.md, "The filesystem under
/var/qmail"): setuid and exec must work for bin, and the queue wants
synchronous metadata on a local disk, ideally on its own partition.

Paths are looked at under --root; the mount table is the running host's.
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
from qmailsetup.observe import under

HOME, BIN, QUEUE = "/var/qmail", "/var/qmail/bin", "/var/qmail/queue"

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
    """A qmail path, where it stands, and the mount that holds it."""

    shown: str
    existing: str
    mount: Mount

    @property
    def exists(self) -> bool:
        return self.existing == os.path.realpath(self.shown)

    def subject(self) -> str:
        if self.exists:
            return f"{self.shown} is on {self.mount.describe()}"
        return f"{self.shown} does not exist yet; its nearest existing parent {self.existing} is on {self.mount.describe()}"


def locate(table: list[Mount], path: Path) -> Where:
    existing = nearest_existing(str(path))
    return Where(str(path), existing, holding(table, existing))


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


def check_mount_flag(where: Where, flag: str, finding_id: str, why: str) -> Finding:
    mount = where.mount
    if flag not in mount.options:
        return Finding(finding_id, "ok", where.shown, f"{where.subject()}, mounted without {flag}")
    allowed = flag[2:]
    return Finding(
        finding_id, "error", where.shown,
        f"{where.subject()}, mounted {flag}: {why}",
        f"remove {flag} from the options of {mount.mount_point} in /etc/fstab and remount it "
        f"({remount(mount.mount_point, allowed)}), or give /var/qmail a filesystem of its own without {flag}",
    )


def is_network(mount: Mount) -> bool:
    return mount.fstype in NETWORK_TYPES or mount.fstype.startswith("nfs")


def check_network(table: list[Mount], where: Where) -> Finding:
    if is_network(underlying(table, where.mount)):
        return Finding(
            "fs.network", "error", where.shown,
            f"{where.subject()}, a network filesystem: the queue must be on a local disk, "
            "never NFS or a filesystem shared among machines (conf-qmail)",
            "put /var/qmail (at least /var/qmail/queue) on a local filesystem of this host",
        )
    return Finding("fs.network", "ok", where.shown, f"{where.subject()}, a local filesystem")


def inode_flags(path: str) -> int | None:
    """The chattr flags of a directory (FS_IOC_GETFLAGS), None where the
    filesystem has none."""
    if not LINUX:
        return None
    from qmailsetup.hostio import inode_flags as flags_of

    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        return flags_of(fd)
    finally:
        os.close(fd)


def without_sync_flag(where: Where) -> str | None:
    """The first queue directory that lacks chattr +S (or +D), None when
    all have it. A queue not made yet inherits the flag of its parent."""
    directories = [where.existing]
    if where.exists:
        for top, subdirectories, _ in os.walk(where.existing):
            directories.extend(os.path.join(top, name) for name in sorted(subdirectories))
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
    command = f"find {where.shown} -type d -exec chattr +S {{}} +"
    return command if where.exists else f"once the queue is made, {command}"


def sync_remedy(where: Where, real: Mount) -> str:
    point = where.mount.mount_point
    if real.fstype in FFS_TYPES:
        return (
            "build qmail with Bruce Guenter's syncdir; or apply Frank Denis' qmail-link-sync patch; "
            f"or turn soft updates off on {real.source} (FreeBSD: tunefs -n disable {real.source} while unmounted; "
            f"OpenBSD: drop softdep from its /etc/fstab options); or mount {point} with sync"
        )
    return (
        "in order of preference: build qmail with Bruce Guenter's syncdir; or apply Frank Denis' "
        f"qmail-link-sync patch; or mount {point} with sync ({remount(point, 'sync')}, and sync in /etc/fstab); "
        f"or, on ext2/3/4, {chattr_remedy(where)}"
    )


def check_sync(table: list[Mount], where: Where) -> Finding:
    real = underlying(table, where.mount)
    options = where.mount.options | real.options
    subject = where.subject()
    memory = in_memory(table, real)
    if memory:
        return Finding(
            "fs.sync-metadata", "error", where.shown,
            f"{subject}: {memory} lives in memory, so the queue and every message in it are lost at each reboot",
            "put /var/qmail (at least /var/qmail/queue) on a filesystem on a disk",
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
    real_home = os.path.realpath(home)
    own_points = {real_home, os.path.realpath(where.shown)}
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
        "a partition of its own for /var/qmail (or /var/qmail/queue) is recommended; mounting it noatime is safe",
    )


def not_its_own(table: list[Mount], home: Path, mount: Mount, local: bool) -> str:
    """Why the filesystem holding the queue is not /var/qmail's own."""
    real_home = os.path.realpath(home)
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


def filesystem_findings(root: Path, table: list[Mount]) -> list[Finding]:
    home = under(root, HOME)
    binaries = locate(table, under(root, BIN))
    queue = locate(table, under(root, QUEUE))
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
