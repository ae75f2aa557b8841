"""Filesystem findings from mount tables, without mounting anything: the
tables put their mounts under a temporary root (<root>), the findings are
compared with tests/golden/check/findings/. The same checks on real mounts
are in test_check_privileged.py."""

from __future__ import annotations

import pytest

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
def test_a_queue_in_memory_is_an_error_whose_remedy_is_a_disk(tmp_path, monkeypatch, table, memory):
    root = tmp_path / "root"
    for directory in ("var/qmail", "upper/u"):
        (root / directory).mkdir(parents=True)
    monkeypatch.setattr(filesystem, "LINUX", True)
    [sync] = [f for f in filesystem_findings(root, build_table(table, root)) if f.id == "fs.sync-metadata"]
    assert sync.severity == "error"
    assert scrub(sync.message, root).endswith(
        f": {memory} lives in memory, so the queue and every message in it are lost at each reboot"
    )
    assert sync.remedy == "put /var/qmail (at least /var/qmail/queue) on a filesystem on a disk"


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
