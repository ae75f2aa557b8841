"""Mount tables from Linux mountinfo and BSD `mount -p` / `mount` output,
and which mount holds a path: golden tables in tests/golden/check/mounts/,
each with the paths it must resolve (mount point and source)."""

from __future__ import annotations

import json
import os

import pytest

from golden import GOLDEN
from qmailsetup.check.mounts import (
    holding,
    merge_bsd,
    nearest_existing,
    parse_bsd_mount,
    parse_mount_p,
    parse_mountinfo,
)
from qmailsetup.errors import OperationFailed

MOUNTS = GOLDEN / "check/mounts"


def table(name: str):
    """The mount table of a golden case, as read_mount_table would build it."""
    mountinfo = MOUNTS / f"{name}.mountinfo"
    if mountinfo.exists():
        return parse_mountinfo(mountinfo.read_bytes())
    plain = parse_bsd_mount((MOUNTS / f"{name}.mount").read_text())
    from_p = MOUNTS / f"{name}.mount-p"
    return merge_bsd(parse_mount_p(from_p.read_text()), plain) if from_p.exists() else plain


CASES = sorted(path.name.removesuffix(".expected.json") for path in MOUNTS.glob("*.expected.json"))


@pytest.mark.parametrize("name", CASES)
def test_the_mount_holding_each_path(name):
    mounts = table(name)
    expected = json.loads((MOUNTS / f"{name}.expected.json").read_text())["holding"]
    seen = {path: [holding(mounts, path).mount_point, holding(mounts, path).source] for path in expected}
    assert seen == expected


def by_point(mounts, point):
    [mount] = [m for m in mounts if m.mount_point == point]
    return mount


def test_mountinfo_merges_per_mount_and_superblock_options():
    mounts = table("linux-nested")
    var = by_point(mounts, "/var")
    assert {"nosuid", "nodev", "rw"} <= var.options and "sync" not in var.options
    queue = by_point(mounts, "/var/qmail/queue")
    assert {"noatime", "sync"} <= queue.options  # noatime per mount, sync per superblock
    assert (queue.fstype, queue.device, queue.mount_id, queue.parent_id) == ("ext4", "8:49", 32, 31)


def test_mountinfo_octal_escapes():
    mounts = table("linux-escapes")
    store = by_point(mounts, "/srv/mail store")
    assert store.source == "/dev/disk/by-label/mail disk"
    bind = by_point(mounts, "/var/qmail")
    assert bind.root == "/qmail\tdir" and bind.is_bind
    assert by_point(mounts, "/mnt/back\\slash\nnl").fstype == "tmpfs"


def test_mountinfo_bind_mount_keeps_its_own_nosuid():
    mounts = table("linux-bind")
    bind = holding(mounts, "/var/qmail/bin")
    assert bind.is_bind and bind.root == "/srv/qmail" and "nosuid" in bind.options
    assert "nosuid" not in holding(mounts, "/srv/qmail/bin").options


def test_mountinfo_bad_line_is_one_clear_error():
    with pytest.raises(OperationFailed, match=r"mountinfo:2: not a mountinfo line"):
        parse_mountinfo(b"21 1 254:1 / / rw - ext4 /dev/vda1 rw\ngarbage here\n")


def test_freebsd_soft_updates_come_from_plain_mount():
    # mount -p never prints soft updates (FreeBSD's flags2opts has no such
    # option); the plain listing does
    with_su, without_su = table("freebsd-su"), table("freebsd-nosu")
    assert "soft-updates" not in {o for m in parse_mount_p((MOUNTS / "freebsd-su.mount-p").read_text()) for o in m.options}
    assert "soft-updates" in by_point(with_su, "/var/qmail").options
    assert "journaled soft-updates" in by_point(with_su, "/").options
    assert "soft-updates" not in by_point(without_su, "/var/qmail").options
    assert "noatime" in by_point(without_su, "/var/qmail").options
    assert {"nosuid", "soft-updates"} <= by_point(without_su, "/var").options
    assert "sync" in by_point(without_su, "/var/spool/my queue").options
    assert by_point(with_su, "/jail/mail/var/qmail/queue").fstype == "nullfs"


def test_openbsd_and_netbsd_plain_mount():
    openbsd = table("openbsd")
    var = by_point(openbsd, "/var")
    assert {"nodev", "nosuid", "softdep", "soft-updates", "local"} <= var.options
    assert by_point(openbsd, "/var/qmail/queue").fstype == "nfs"
    netbsd = table("netbsd")
    assert "log" in by_point(netbsd, "/").options
    assert "nosuid" in by_point(netbsd, "/var/qmail").options


def test_a_path_not_made_yet_is_judged_by_its_nearest_existing_parent(tmp_path):
    (tmp_path / "var").mkdir()
    assert nearest_existing(str(tmp_path / "var/qmail/queue")) == str(tmp_path / "var")
    (tmp_path / "var/qmail").mkdir()
    assert nearest_existing(str(tmp_path / "var/qmail/queue")) == str(tmp_path / "var/qmail")


def test_a_symlinked_qmail_directory_is_followed_to_where_it_lives(tmp_path):
    (tmp_path / "data/qmail").mkdir(parents=True)
    (tmp_path / "var").mkdir()
    (tmp_path / "var/qmail").symlink_to(tmp_path / "data/qmail")
    assert nearest_existing(str(tmp_path / "var/qmail/queue")) == str(tmp_path / "data/qmail")
    mounts = parse_mountinfo(
        f"1 0 8:1 / / rw - ext4 /dev/sda1 rw\n2 1 0:9 / {tmp_path}/data rw,nosuid - tmpfs data rw\n".encode()
    )
    assert holding(mounts, nearest_existing(str(tmp_path / "var/qmail/bin"))).source == "data"


def test_a_prefix_is_not_a_parent():
    mounts = table("linux-nested")
    assert holding(mounts, "/var/qmailx").mount_point == "/var"
    assert holding(mounts, "/var/qm").mount_point == "/var/qm"


@pytest.mark.parametrize("name", ["freebsd-su", "openbsd"])
def test_without_mountinfo_the_table_is_what_mount_prints(tmp_path, mocker, name):
    """The BSDs have no /proc: `mount -p` and `mount`, in the C locale,
    through the one runner (mocked: the BSD output is a golden)."""
    from qmailsetup.check import mounts
    from qmailsetup.tools import ToolResult

    mocker.patch.object(mounts, "MOUNTINFO", str(tmp_path / "no-proc"))
    runs = []

    def run_tool(argv, **options):
        runs.append((argv, options))
        printed = MOUNTS / f"{name}.mount{'-p' if argv[1:] == ['-p'] else ''}"
        if not printed.exists():  # OpenBSD's mount has no -p
            return ToolResult(tuple(argv), 1, "", "mount: unknown option -- p\n")
        return ToolResult(tuple(argv), 0, printed.read_text(), "")

    mocker.patch("qmailsetup.tools.run_tool", run_tool)
    assert mounts.read_mount_table() == table(name)
    in_c = {"env": {**os.environ, "LC_ALL": "C"}}
    assert runs == [(["mount"], in_c), (["mount", "-p"], in_c)]


def test_run_mount_captures_what_the_real_mount_prints():
    from qmailsetup.check.mounts import run_mount

    printed = run_mount()
    assert printed is not None and " on / " in printed


def test_mount_p_lines_without_dump_and_pass_fields_count_and_comments_do_not():
    mounts = parse_mount_p(
        "# Device\tMountpoint\tFStype\tOptions\tDump\tPass#\n"
        "/dev/ada0p2\t/\tufs\trw\n"
        "/dev/ada0p5\t/var/qmail\tufs\trw,sync\n"
        "devfs\t/dev\tdevfs\n"
    )
    assert [(m.mount_point, m.fstype, m.source, m.options, m.device) for m in mounts] == [
        ("/", "ufs", "/dev/ada0p2", frozenset({"rw"}), "/dev/ada0p2"),
        ("/var/qmail", "ufs", "/dev/ada0p5", frozenset({"rw", "sync"}), "/dev/ada0p5"),
    ]


def test_a_mount_that_plain_mount_does_not_list_keeps_its_options():
    # mounted between the two runs of mount(8): -p lists it, plain mount does not
    from_p = parse_mount_p("/dev/ada0p2\t/\tufs\trw\t1 1\n/dev/ada0p5\t/var/qmail\tufs\trw,noatime\t2 2\n")
    plain = parse_bsd_mount("/dev/ada0p2 on / (ufs, local, soft-updates)\n")
    merged = merge_bsd(from_p, plain)
    assert [(m.mount_point, m.options) for m in merged] == [
        ("/", frozenset({"rw", "local", "soft-updates"})),
        ("/var/qmail", frozenset({"rw", "noatime"})),
    ]


def test_a_path_no_mount_holds_is_one_clear_error():
    mounts = parse_mount_p("/dev/ada0p5\t/var/qmail\tufs\trw\t2 2\n")
    with pytest.raises(OperationFailed) as error:
        holding(mounts, "/etc")
    assert str(error.value) == "no mount in the mount table holds /etc"


def test_a_mountinfo_that_is_no_file_is_bad_input(tmp_path, mocker):
    from qmailsetup.check import mounts
    from qmailsetup.errors import BadInput

    fifo = tmp_path / "mountinfo"
    os.mkfifo(fifo)
    mocker.patch.object(mounts, "MOUNTINFO", str(fifo))
    with pytest.raises(BadInput) as error:
        mounts.read_mount_table()
    assert str(error.value) == f"{fifo}: a FIFO, not a regular file"


@pytest.mark.parametrize("failure", ["missing", "exit 1"])
def test_without_mountinfo_or_a_working_mount_the_table_cannot_be_read(tmp_path, mocker, failure):
    """mocked: a host with neither /proc nor a mount(8) that works."""
    from qmailsetup.check import mounts
    from qmailsetup.tools import ToolResult

    mocker.patch.object(mounts, "MOUNTINFO", str(tmp_path / "no-proc"))

    def run_tool(argv, **options):
        if failure == "missing":
            raise FileNotFoundError(2, "command not found", argv[0])
        return ToolResult(tuple(argv), 1, "/dev/sd0a on / type ffs (local)\n", "mount: cannot\n")

    mocker.patch("qmailsetup.tools.run_tool", run_tool)
    assert mounts.run_mount() is None
    with pytest.raises(OperationFailed) as error:
        mounts.read_mount_table()
    assert str(error.value) == "cannot read the mount table: no /proc/self/mountinfo and `mount` failed"


def test_plain_bsd_mount_lines_in_full():
    """Every field of a line; flags in words become option names beside the
    words themselves; a line that is not a mount is skipped, the rest read."""
    mounts = parse_bsd_mount(
        "/dev/ada0p2 on / (ufs, local, journaled soft-updates)\n"
        "\n"
        "mount: some mounts could not be listed\n"
        "devfs on /dev (devfs)\n"
        "/dev/sd1a on /var/qmail type ffs (asynchronous, local)\n"
        "/dev/sd2a on /mnt type ffs\n"
    )
    assert [(m.mount_point, m.fstype, m.source, m.device, m.options) for m in mounts] == [
        ("/", "ufs", "/dev/ada0p2", "/dev/ada0p2", frozenset({"local", "journaled soft-updates", "soft-updates"})),
        ("/dev", "devfs", "devfs", "devfs", frozenset()),
        ("/var/qmail", "ffs", "/dev/sd1a", "/dev/sd1a", frozenset({"asynchronous", "async", "local"})),
        ("/mnt", "ffs", "/dev/sd2a", "/dev/sd2a", frozenset()),
    ]


def test_a_mount_hidden_under_a_later_one_holds_nothing_even_without_its_parent():
    """In a chroot the parent mount is not listed: /var/qmail was mounted
    first, /var later over the directory that held it, so path lookup
    never reaches /var/qmail's filesystem."""
    mounts = parse_mountinfo(
        b"40 1 8:33 / /var/qmail rw - ext4 /dev/sdc1 rw\n"
        b"41 1 8:17 / /var rw - ext4 /dev/sdb1 rw\n"
    )
    assert holding(mounts, "/var/qmail/queue").source == "/dev/sdb1"


def test_a_root_mount_that_is_its_own_parent_is_where_the_walk_starts():
    # the later of two mounts on / hides the earlier
    mounts = parse_mountinfo(
        b"1 1 0:2 / / rw - rootfs rootfs rw\n"
        b"20 1 254:1 / / rw - ext4 /dev/vda1 rw\n"
        b"21 1 0:60 / / rw - tmpfs tmpfs rw\n"
    )
    assert holding(mounts, "/var/qmail").source == "tmpfs"


def test_a_mount_point_with_a_carriage_return_or_a_vertical_tab_is_read():
    """The kernel escapes space, tab, newline and backslash only: these two
    stay raw in a recorded line (any user of FUSE can mount on such a
    directory), and must neither end the line nor split a field."""
    mounts = parse_mountinfo(
        b"27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
        b"66 27 0:40 / /tmp/c\rd\x0be rw,relatime - tmpfs odd rw\n"
        b"\n"
        b"67 27 0:41 / /var rw - tmpfs var rw\n"
    )
    assert [(m.mount_point, m.source) for m in mounts] == [
        ("/", "/dev/vda"), ("/tmp/c\rd\x0be", "odd"), ("/var", "var"),
    ]


def test_a_mount_point_is_a_parent_only_of_what_lies_under_it_whatever_its_last_character():
    mounts = parse_mountinfo(
        b"1 0 8:1 / / rw - ext4 /dev/sda1 rw\n"
        b"2 1 8:17 / /srv/mail\\040 rw - ext4 /dev/sdb1 rw\n"
        b"3 1 8:33 / /srv/MAILBOX rw - ext4 /dev/sdc1 rw\n"
    )
    assert holding(mounts, "/srv/mail /queue").source == "/dev/sdb1"
    assert holding(mounts, "/srv/mail/queue").source == "/dev/sda1"
    assert holding(mounts, "/srv/MAILBO/queue").source == "/dev/sda1"


def test_fields_after_the_superblock_options_are_ignored():
    [mount] = parse_mountinfo(b"1 0 8:1 / / rw shared:1 - ext4 /dev/sda1 rw,errors=remount-ro later-field\n")
    assert (mount.fstype, mount.source, mount.options) == ("ext4", "/dev/sda1", frozenset({"rw", "errors=remount-ro"}))
