"""Filesystem findings from mount tables, without mounting anything: the
tables put their mounts under a temporary root (<root>), the findings are
compared with tests/golden/check/findings/. The same checks on real mounts
are in test_check_privileged.py."""

from __future__ import annotations

import subprocess

import pytest

from conftest import require_tools, skip_or_fail
from golden import check_json, scrub
from qmailsetup.check import filesystem
from qmailsetup.check.filesystem import filesystem_findings
from qmailsetup.check.mounts import merge_bsd, parse_bsd_mount, parse_mount_p, parse_mountinfo

ROOT_FS = "1 0 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n"

# name: (directories made under <root>, mount table, Linux?)
CASES = {
    # the queue's parent on NFS: conf-qmail forbids it
    "nfs": (["var/qmail"], ROOT_FS + "60 1 0:70 / <root>/var/qmail rw,relatime - nfs4 mailhub:/export/qmail rw,vers=4.2\n", True),
    # the queue itself on a CIFS share
    "cifs": (
        ["var/qmail/queue"],
        ROOT_FS + "61 1 0:71 / <root>/var/qmail/queue rw - cifs //filer/qmail\\040queue rw,vers=3.1.1\n", True,
    ),
    # /srv/qmail of the root filesystem bound at /var/qmail, nosuid on the bind only
    "bind-nosuid": (
        ["srv/qmail", "var/qmail"], ROOT_FS + "40 1 8:1 <root>/srv/qmail <root>/var/qmail rw,nosuid - ext4 /dev/sda1 rw\n", True,
    ),
    # /var/qmail on its own filesystem, sync and noatime: all well
    "own-partition": (
        ["var/qmail"], ROOT_FS + "50 1 8:17 / <root>/var/qmail rw,noatime - ext4 /dev/sdb1 rw,sync\n", True,
    ),
    # /var on ext2, /var/qmail not made yet, noexec
    "ext2-noexec": (["var"], ROOT_FS + "51 1 8:33 / <root>/var rw,noexec - ext2 /dev/sdc1 rw\n", True),
    # FreeBSD: soft updates on the queue's filesystem
    "freebsd-soft-updates": (
        ["var/qmail"],
        ("/dev/ada0p2\t/\tufs\trw\t1 1\n/dev/ada0p5\t<root>/var/qmail\tufs\trw,noatime\t2 2\n",
         "/dev/ada0p2 on / (ufs, local, soft-updates)\n/dev/ada0p5 on <root>/var/qmail (ufs, local, noatime, soft-updates)\n"),
        False,
    ),
    # FreeBSD: the same without soft updates
    "freebsd-no-soft-updates": (
        ["var/qmail"],
        ("/dev/ada0p2\t/\tufs\trw\t1 1\n/dev/ada0p5\t<root>/var/qmail\tufs\trw,noatime\t2 2\n",
         "/dev/ada0p2 on / (ufs, local, soft-updates)\n/dev/ada0p5 on <root>/var/qmail (ufs, local, noatime)\n"),
        False,
    ),
    # OpenBSD's default /var: nosuid, here with softdep
    "openbsd-var": (
        ["var"],
        (None, "/dev/sd0a on / type ffs (local)\n/dev/sd0e on <root>/var type ffs (local, nodev, nosuid, softdep)\n"),
        False,
    ),
}


def build_table(mounts, root):
    if isinstance(mounts, str):
        return parse_mountinfo(mounts.replace("<root>", str(root)).encode())
    from_p, plain = (text.replace("<root>", str(root)) if text else None for text in mounts)
    plain_table = parse_bsd_mount(plain)
    return merge_bsd(parse_mount_p(from_p), plain_table) if from_p else plain_table


def findings_for(name, tmp_path, monkeypatch):
    directories, mounts, linux = CASES[name]
    root = tmp_path / "root"
    for directory in directories:
        (root / directory).mkdir(parents=True)
    monkeypatch.setattr(filesystem, "LINUX", linux)
    return root, filesystem_findings(root, build_table(mounts, root))


@pytest.mark.parametrize("name", sorted(CASES))
def test_filesystem_findings_match_golden(name, tmp_path, monkeypatch):
    root, findings = findings_for(name, tmp_path, monkeypatch)
    data = [{key: scrub(value, root) if value else value for key, value in f.data().items()} for f in findings]
    check_json(f"check/findings/{name}.json", data)


def severities(name, tmp_path, monkeypatch):
    return {f.id: f.severity for f in findings_for(name, tmp_path, monkeypatch)[1]}


# The golden files hold the wording; these say what must never change.
EXPECTED = {
    "nfs": {"fs.network": "error", "fs.nosuid": "ok", "fs.separate-partition": "info"},
    "cifs": {"fs.network": "error", "fs.nosuid": "ok"},
    "bind-nosuid": {"fs.nosuid": "error", "fs.noexec": "ok", "fs.separate-partition": "info"},
    "own-partition": {
        "fs.nosuid": "ok", "fs.noexec": "ok", "fs.network": "ok", "fs.sync-metadata": "ok", "fs.separate-partition": "ok",
    },
    "ext2-noexec": {"fs.noexec": "error", "fs.sync-metadata": "warning", "fs.separate-partition": "info"},
    "freebsd-soft-updates": {"fs.sync-metadata": "warning", "fs.separate-partition": "ok"},
    "freebsd-no-soft-updates": {"fs.sync-metadata": "ok"},
    "openbsd-var": {"fs.nosuid": "error", "fs.sync-metadata": "warning"},
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_severities(name, tmp_path, monkeypatch):
    seen = severities(name, tmp_path, monkeypatch)
    assert {key: seen[key] for key in EXPECTED[name]} == EXPECTED[name]


def test_ext2_warning_names_ext2_and_the_remedies_in_order_of_preference(tmp_path, monkeypatch):
    root, findings = findings_for("ext2-noexec", tmp_path, monkeypatch)
    [sync] = [f for f in findings if f.id == "fs.sync-metadata"]
    assert "ext2" in sync.message and "does not exist yet" in sync.message
    order = [sync.remedy.index(word) for word in ("syncdir", "qmail-link-sync", "with sync", "chattr +S")]
    assert order == sorted(order)
    # the queue's FIFOs make chattr -R fail: directories only, at the real path
    assert sync.remedy.endswith(f"once the queue is made, find {root}/var/qmail/queue -type d -exec chattr +S {{}} +")


@pytest.mark.parametrize(("table", "memory"), [
    (ROOT_FS + "51 1 0:33 / <root>/var rw,nosuid - tmpfs tmpfs rw,sync\n", "tmpfs"),
    (ROOT_FS + "52 1 0:34 / <root>/var/qmail rw - ramfs ramfs rw\n", "ramfs"),
    (ROOT_FS + "53 1 0:35 / <root>/upper rw - tmpfs tmpfs rw\n"
     "54 1 0:36 / <root>/var rw - overlay overlay rw,lowerdir=/usr,upperdir=<root>/upper/u,workdir=<root>/upper/w\n",
     "overlay whose upper layer <root>/upper/u is on tmpfs"),
])
def test_a_queue_in_memory_is_a_warning_whose_remedy_is_a_disk(tmp_path, monkeypatch, table, memory):
    root = tmp_path / "root"
    for directory in ("var/qmail", "upper/u"):
        (root / directory).mkdir(parents=True)
    monkeypatch.setattr(filesystem, "LINUX", True)
    [sync] = [f for f in filesystem_findings(root, build_table(table, root)) if f.id == "fs.sync-metadata"]
    assert (sync.severity, sync.path) == ("warning", f"{root}/var/qmail/queue")
    assert scrub(sync.message, root).endswith(
        f": {memory} lives in memory, so the queue and every message in it are lost at each reboot"
    )
    assert sync.remedy == f"put {root}/var/qmail (at least {root}/var/qmail/queue) on a filesystem on a disk"


def test_an_overlay_on_a_disk_is_judged_as_a_disk(tmp_path, monkeypatch):
    root = tmp_path / "root"
    (root / "var/qmail").mkdir(parents=True)
    table = ROOT_FS + "54 1 0:36 / <root>/var rw - overlay overlay rw,lowerdir=/usr,upperdir=/srv/u,workdir=/srv/w\n"
    monkeypatch.setattr(filesystem, "LINUX", True)
    [sync] = [f for f in filesystem_findings(root, build_table(table, root)) if f.id == "fs.sync-metadata"]
    assert sync.severity == "warning"


def test_bsd_remedies_speak_bsd(tmp_path, monkeypatch):
    _, findings = findings_for("openbsd-var", tmp_path, monkeypatch)
    by_id = {f.id: f for f in findings}
    assert "mount -u -o suid" in by_id["fs.nosuid"].remedy
    assert "soft updates" in by_id["fs.sync-metadata"].remedy and "softdep" in by_id["fs.sync-metadata"].remedy


def chattr_sync(*paths):
    """chattr +S on PATHS (root, and a filesystem with inode flags: the
    ext4 of tmp_path here)."""
    require_tools("chattr")
    done = subprocess.run(["chattr", "+S", *map(str, paths)], capture_output=True, text=True)
    if done.returncode != 0:
        skip_or_fail(f"tmp_path's filesystem has no chattr +S: {done.stderr.strip()}")


def sync_finding(root):
    [sync] = [f for f in filesystem_findings(root, build_table(ROOT_FS, root)) if f.id == "fs.sync-metadata"]
    return sync


@pytest.mark.root("chattr +S")
def test_chattr_s_on_every_queue_directory_makes_an_async_mount_safe(tmp_path, monkeypatch):
    """Read in this process from the directories themselves (the same on a
    loop-mounted ext4 is in test_check_privileged.py): every directory of
    the queue must have +S, the first one without it is named."""
    root = tmp_path / "root"
    queue = root / "var/qmail/queue"
    for directory in ("mess/0", "todo"):
        (queue / directory).mkdir(parents=True)
    monkeypatch.setattr(filesystem, "LINUX", True)
    chattr_sync(queue, queue / "mess", queue / "todo")
    partial = sync_finding(root)
    assert partial.severity == "warning"
    assert partial.message.startswith(
        f"{queue} is on ext4 /dev/sda1 at /, mounted without sync or dirsync, and {queue}/mess/0 has no chattr +S: "
        "ext4 journals metadata"
    )
    chattr_sync(queue / "mess/0")
    whole = sync_finding(root)
    assert (whole.severity, whole.path, whole.message) == (
        "ok", str(queue),
        f"{queue} is on ext4 /dev/sda1 at /; {queue} has the synchronous attribute (chattr +S): metadata is written at once",
    )


@pytest.mark.root("chattr +S")
@pytest.mark.parametrize("odd", ["symlink", "file"])
def test_chattr_s_counts_only_on_a_directory_itself(tmp_path, monkeypatch, odd):
    """A symlink in the queue is not followed to a +S directory elsewhere,
    and a queue that is a file is no synchronous queue, +S or not."""
    root = tmp_path / "root"
    queue = root / "var/qmail/queue"
    (root / "var/qmail").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    if odd == "symlink":
        queue.mkdir()
        (queue / "mess").symlink_to(tmp_path / "elsewhere")
        chattr_sync(queue, tmp_path / "elsewhere")
        lacking = queue / "mess"
    else:
        queue.write_text("")
        chattr_sync(queue)
        lacking = queue
    monkeypatch.setattr(filesystem, "LINUX", True)
    sync = sync_finding(root)
    assert sync.severity == "warning"
    assert f", and {lacking} has no chattr +S: ext4" in sync.message


def jail_findings(tmp_path, monkeypatch, data_line_p, data_line_plain, queue_options="rw"):
    """FreeBSD: a jail's queue is a nullfs mount of <root>/data/queue, whose
    filesystem is given; every finding by id."""
    root = tmp_path / "root"
    for directory in ("data/queue", "var/qmail/queue"):
        (root / directory).mkdir(parents=True)
    mounts = (
        f"/dev/ada0p2\t/\tufs\trw\t1 1\n{data_line_p}\n<root>/data/queue\t<root>/var/qmail/queue\tnullfs\t{queue_options}\t0 0\n",
        f"/dev/ada0p2 on / (ufs, local)\n{data_line_plain}\n<root>/data/queue on <root>/var/qmail/queue (nullfs, local)\n",
    )
    monkeypatch.setattr(filesystem, "LINUX", False)
    return root, {f.id: f for f in filesystem_findings(root, build_table(mounts, root))}


def test_a_nullfs_queue_is_judged_by_the_filesystem_it_shows(tmp_path, monkeypatch):
    # nullfs of a directory on NFS: still the network, still forbidden
    root, nfs = jail_findings(
        tmp_path, monkeypatch, "filer:/export/q\t<root>/data\tnfs\trw\t0 0", "filer:/export/q on <root>/data (nfs)",
    )
    queue = f"{root}/var/qmail/queue"
    assert (nfs["fs.network"].severity, nfs["fs.network"].message) == (
        "error",
        f"{queue} is on nullfs {root}/data/queue at {queue}, a network filesystem: the queue must be on a local disk, "
        "never NFS or a filesystem shared among machines (conf-qmail)",
    )
    # nullfs of a directory on a memory filesystem: lost at each reboot
    _, memory = jail_findings(tmp_path / "m", monkeypatch, "tmpfs\t<root>/data\ttmpfs\trw\t0 0", "tmpfs on <root>/data (tmpfs, local)")
    assert memory["fs.sync-metadata"].severity == "warning"
    assert memory["fs.sync-metadata"].message.endswith(": tmpfs lives in memory, so the queue and every message in it are lost at each reboot")


@pytest.mark.parametrize("where", ["underneath", "nullfs"])
def test_sync_on_either_the_nullfs_mount_or_its_filesystem_counts(tmp_path, monkeypatch, where):
    disk_options = "rw,sync" if where == "underneath" else "rw"
    _, findings = jail_findings(
        tmp_path, monkeypatch, f"/dev/ada0p5\t<root>/data\tufs\t{disk_options}\t2 2",
        f"/dev/ada0p5 on <root>/data (ufs, local{', synchronous' if where == 'underneath' else ''})",
        queue_options="rw,sync" if where == "nullfs" else "rw",
    )
    sync = findings["fs.sync-metadata"]
    assert sync.severity == "ok"
    assert sync.message.endswith(", mounted sync: metadata is written at once")


def test_nullfs_mounts_are_followed_eight_deep_and_no_deeper(tmp_path, monkeypatch):
    """A cap, so that nullfs mounts that show one another cannot loop."""
    root = tmp_path / "root"
    (root / "var/qmail/queue").mkdir(parents=True)

    def table(hops):
        # <root>/n0 on NFS; n1 shows n0, n2 shows n1, ...; the queue shows the last
        lines = ["/dev/ada0p2\t/\tufs\trw\t1 1", "filer:/q\t<root>/n0\tnfs\trw\t0 0"]
        for hop in range(1, hops):
            (root / f"n{hop}").mkdir(exist_ok=True)
            lines.append(f"<root>/n{hop - 1}\t<root>/n{hop}\tnullfs\trw\t0 0")
        lines.append(f"<root>/n{hops - 1}\t<root>/var/qmail/queue\tnullfs\trw\t0 0")
        return parse_mount_p("\n".join(lines).replace("<root>", str(root)))

    (root / "n0").mkdir()
    monkeypatch.setattr(filesystem, "LINUX", False)
    for hops, severity in ((8, "error"), (9, "ok")):
        [network] = [f for f in filesystem_findings(root, table(hops)) if f.id == "fs.network"]
        assert network.severity == severity, hops


@pytest.mark.parametrize("fstype", ["nfs", "nfs4", "nfsv4", "fuse.sshfs", "9p"])
def test_network_filesystems_are_errors_for_the_queue(tmp_path, monkeypatch, fstype):
    root = tmp_path / "root"
    (root / "var/qmail").mkdir(parents=True)
    table = build_table(ROOT_FS + f"60 1 0:70 / <root>/var/qmail rw - {fstype} filer:/q rw\n", root)
    monkeypatch.setattr(filesystem, "LINUX", True)
    findings = {f.id: f for f in filesystem_findings(root, table)}
    assert findings["fs.network"].severity == "error"
    assert findings["fs.separate-partition"].message.endswith(": a network filesystem, not a local one of its own")


@pytest.mark.parametrize(("overlay", "memory"), [
    # an upper layer whose path holds '=': the path is all after the first one
    ("upperdir=<root>/up=per/u,workdir=<root>/up=per/w", "overlay whose upper layer <root>/up=per/u is on tmpfs"),
    # a read-only overlay has no upper layer: nothing is written to memory
    ("lowerdir=<root>/up=per/a:<root>/up=per/b", None),
])
def test_an_overlay_is_in_memory_only_through_its_upper_layer(tmp_path, monkeypatch, overlay, memory):
    root = tmp_path / "root"
    for directory in ("var/qmail", "up=per/u"):
        (root / directory).mkdir(parents=True)
    table = ROOT_FS + f"53 1 0:35 / <root>/up=per rw - tmpfs tmpfs rw\n54 1 0:36 / <root>/var rw - overlay overlay ro,{overlay}\n"
    monkeypatch.setattr(filesystem, "LINUX", True)
    [sync] = [f for f in filesystem_findings(root, build_table(table, root)) if f.id == "fs.sync-metadata"]
    if memory:
        assert sync.severity == "warning"
        assert scrub(sync.message, root).endswith(f": {memory} lives in memory, so the queue and every message in it are lost at each reboot")
    else:
        assert sync.severity == "warning"
        assert ": overlay is not known to write metadata synchronously." in sync.message


def test_a_queue_on_a_filesystem_of_its_own_inside_qmails_home(tmp_path, monkeypatch):
    """/var/qmail/queue a symlink to /var/qmail/spool/queue, on a disk
    mounted at /var/qmail/spool: within qmail's home, yet not its own."""
    root = tmp_path / "root"
    (root / "var/qmail/spool/queue").mkdir(parents=True)
    (root / "var/qmail/queue").symlink_to("spool/queue")
    table = build_table(ROOT_FS + "55 1 8:17 / <root>/var/qmail/spool rw - ext4 /dev/sdb1 rw\n", root)
    monkeypatch.setattr(filesystem, "LINUX", True)
    [separate] = [f for f in filesystem_findings(root, table) if f.id == "fs.separate-partition"]
    assert separate.severity == "info"
    assert separate.message == (
        f"{root}/var/qmail/queue is on ext4 /dev/sdb1 at {root}/var/qmail/spool: not a filesystem of its own"
    )


def test_a_nullfs_queue_is_a_bind_mount_of_the_directory_it_shows(tmp_path, monkeypatch):
    root, findings = jail_findings(
        tmp_path, monkeypatch, "/dev/ada0p5\t<root>/data\tufs\trw\t2 2", "/dev/ada0p5 on <root>/data (ufs, local)",
    )
    separate = findings["fs.separate-partition"]
    assert separate.severity == "info"
    assert separate.message == (
        f"{root}/var/qmail/queue is on nullfs {root}/data/queue at {root}/var/qmail/queue: "
        f"a bind mount of {root}/data/queue, a directory of another filesystem"
    )
    # FFS without soft updates writes its metadata at once, nullfs or not
    assert findings["fs.sync-metadata"].severity == "ok"


@pytest.mark.parametrize("option", ["sync", "dirsync"])
def test_a_queue_mounted_sync_or_dirsync_is_safe(tmp_path, monkeypatch, option):
    root = tmp_path / "root"
    (root / "var/qmail").mkdir(parents=True)
    table = build_table(ROOT_FS + f"50 1 8:17 / <root>/var/qmail rw - ext4 /dev/sdb1 rw,{option}\n", root)
    monkeypatch.setattr(filesystem, "LINUX", True)
    [sync] = [f for f in filesystem_findings(root, table) if f.id == "fs.sync-metadata"]
    assert (sync.severity, sync.path, sync.remedy) == ("ok", f"{root}/var/qmail/queue", None)
    assert sync.message.endswith(f"/var/qmail, mounted {option}: metadata is written at once")


@pytest.mark.parametrize(("flags", "delay"), [
    ("local, log", "ffs with log delays metadata writes"),  # NetBSD's WAPBL journal
    ("asynchronous, local, soft-updates", "ffs with soft updates and async delays metadata writes"),
])
def test_ffs_names_each_option_that_delays_metadata(tmp_path, monkeypatch, flags, delay):
    root = tmp_path / "root"
    (root / "var/qmail").mkdir(parents=True)
    table = build_table((None, f"/dev/wd0a on / type ffs (local)\n/dev/wd0e on <root>/var/qmail type ffs ({flags})\n"), root)
    monkeypatch.setattr(filesystem, "LINUX", False)
    [sync] = [f for f in filesystem_findings(root, table) if f.id == "fs.sync-metadata"]
    assert sync.severity == "warning"
    assert f"/var/qmail, mounted without sync or dirsync: {delay}. link() and rename()" in sync.message


def test_a_disk_of_its_own_that_is_also_mounted_elsewhere_is_shared(tmp_path, monkeypatch):
    root = tmp_path / "root"
    for directory in ("var/qmail", "srv"):
        (root / directory).mkdir(parents=True)
    table = ROOT_FS + "50 1 8:17 / <root>/var/qmail rw - ext4 /dev/sdb1 rw\n51 1 8:17 / <root>/srv rw - ext4 /dev/sdb1 rw\n"
    monkeypatch.setattr(filesystem, "LINUX", True)
    findings = {f.id: f for f in filesystem_findings(root, build_table(table, root))}
    separate = findings["fs.separate-partition"]
    assert (separate.severity, separate.message) == (
        "info", f"{root}/var/qmail/queue does not exist yet; its nearest existing parent {root}/var/qmail is on "
                f"ext4 /dev/sdb1 at {root}/var/qmail: it shares its filesystem with {root}/srv",
    )
    # the same disk at /var/qmail alone: its own, and noatime is offered
    alone = {f.id: f for f in filesystem_findings(root, build_table(table.split("51 1")[0], root))}
    assert (alone["fs.separate-partition"].severity, alone["fs.separate-partition"].message) == (
        "ok", f"{root}/var/qmail/queue does not exist yet; its nearest existing parent {root}/var/qmail is on "
              f"ext4 /dev/sdb1 at {root}/var/qmail, a filesystem of its own; noatime would be safe there",
    )


def test_a_subdirectory_of_a_disk_mounted_nowhere_else_is_a_bind_mount(tmp_path, monkeypatch):
    root = tmp_path / "root"
    (root / "var/qmail").mkdir(parents=True)
    table = build_table(ROOT_FS + "50 1 8:17 /mail/qmail <root>/var/qmail rw - ext4 /dev/sdb1 rw\n", root)
    monkeypatch.setattr(filesystem, "LINUX", True)
    [separate] = [f for f in filesystem_findings(root, table) if f.id == "fs.separate-partition"]
    assert separate.severity == "info"
    assert separate.message.endswith(
        f"ext4 /dev/sdb1 at {root}/var/qmail, bind of /mail/qmail: a bind mount of /mail/qmail, a directory of another filesystem"
    )


@pytest.mark.parametrize("linux", [True, False])
def test_the_root_filesystem_is_never_to_be_mounted_sync(monkeypatch, linux):
    """A stock host keeps the queue on /: mounting / with sync would make
    every write of the whole system wait for the disk. The remedy offers a
    filesystem of the queue's own instead (read only: / of this machine)."""
    from pathlib import Path

    monkeypatch.setattr(filesystem, "LINUX", linux)
    table = build_table(ROOT_FS if linux else (None, "/dev/ada0p2 on / (ufs, local, soft-updates)\n"), "/")
    [sync] = [f for f in filesystem_findings(Path("/"), table) if f.id == "fs.sync-metadata"]
    if sync.severity == "ok":
        skip_or_fail("this machine's /var has chattr +S")
    assert "with sync" in sync.remedy and "mount / " not in sync.remedy and "remount" not in sync.remedy
    assert "give /var/qmail/queue a filesystem of its own, mounted with sync" in sync.remedy
