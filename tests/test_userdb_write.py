"""userdb/write.py on its own, on a real directory: the temporary copy is
private from its first instant, every failure names its step and leaves no
temporary file, the backup keeps the old times, and only the temporary
files of dead runs (or of this one) are ever removed."""

from __future__ import annotations

import errno
import os
import re
import stat
import subprocess

import pytest

from conftest import dead_pid
from qmailsetup.userdb import write
from qmailsetup.userdb.etcdir import EtcDir
from qmailsetup.userdb.write import (
    TEMP_MARK,
    WriteError,
    created_with,
    holds_pid,
    install,
    read_current,
    read_xattrs,
    remove_stale_temps,
    replace_file,
)

OLD_TIME = 1_000_000_000_000_000_000  # 2001, in ns


@pytest.fixture
def etc(tmp_path):
    (tmp_path / "etc").mkdir()
    with EtcDir.open(tmp_path) as directory:
        yield directory


@pytest.fixture
def live_pid():
    """The PID of a process of this test's own that lives until the test
    ends (never another process's, say the parent's: a broken liveness
    probe could signal it)."""
    sleeper = subprocess.Popen(["sleep", "60"])
    yield sleeper.pid
    sleeper.kill()
    sleeper.wait()


def names(etc: EtcDir) -> list[str]:
    return sorted(os.listdir(etc.path))


def shadow(etc: EtcDir, content: bytes = b"root:*:1::::::\n", mode: int = 0o640) -> os.stat_result:
    path = etc.path / "shadow"
    path.write_bytes(content)
    path.chmod(mode)
    os.utime(path, ns=(OLD_TIME, OLD_TIME))
    return path.stat()


def test_the_temporary_copy_is_private_before_its_mode_is_set(etc, monkeypatch):
    """Between its creation and the fchmod, the new shadow may hold hashes:
    it is 0600 from the start, whatever the umask would give."""
    seen = []
    real_fchown = os.fchown

    def fchown(fd, uid, gid):
        seen.append(stat.S_IMODE(os.fstat(fd).st_mode))
        assert not os.get_inheritable(fd)  # a command run meanwhile never gets it
        return real_fchown(fd, uid, gid)

    monkeypatch.setattr(os, "fchown", fchown)
    old_umask = os.umask(0)
    try:
        install(etc.fd, "shadow", b"new\n", created_with(0o640), {})
    finally:
        os.umask(old_umask)
    assert seen == [0o600]
    assert stat.S_IMODE((etc.path / "shadow").stat().st_mode) == 0o640
    assert (etc.path / "shadow").read_bytes() == b"new\n"
    assert names(etc) == ["shadow"]


@pytest.mark.root("chown")
def test_the_new_file_gets_the_owner_mode_and_attributes_it_copies(etc):
    like = shadow(etc, mode=0o640)
    os.chown(etc.path / "shadow", 0, 42)
    os.setxattr(etc.path / "shadow", "user.origin", b"host")
    data, info, xattrs = read_current(etc, "shadow")
    assert (data, xattrs) == (b"root:*:1::::::\n", {"user.origin": b"host"})
    assert (info.st_ino, info.st_gid) == (like.st_ino, 42)

    install(etc.fd, "shadow", b"new\n", info, xattrs)
    after = (etc.path / "shadow").stat()
    assert (after.st_uid, after.st_gid, stat.S_IMODE(after.st_mode)) == (0, 42, 0o640)
    assert after.st_ino != like.st_ino  # renamed over, not rewritten in place
    assert os.getxattr(etc.path / "shadow", "user.origin") == b"host"
    assert after.st_mtime_ns != OLD_TIME  # only the backup keeps the times


def test_the_backup_keeps_the_old_content_and_times_and_wrote_is_told_in_order(etc):
    shadow(etc)
    told = []
    replace_file(etc, "shadow", b"new\n", wrote=told.append)
    assert told == ["shadow-", "shadow"]
    backup = (etc.path / "shadow-").stat()
    assert (etc.path / "shadow-").read_bytes() == b"root:*:1::::::\n"
    assert (backup.st_atime_ns, backup.st_mtime_ns) == (OLD_TIME, OLD_TIME)
    assert stat.S_IMODE(backup.st_mode) == 0o640
    assert (etc.path / "shadow").read_bytes() == b"new\n"
    assert names(etc) == ["shadow", "shadow-"]


def test_a_write_in_many_pieces_writes_everything(etc, monkeypatch):
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, bytes(data[:3])))
    install(etc.fd, "group", b"root:x:0:\nqmail:x:2107:\n", created_with(0o644), {})
    assert (etc.path / "group").read_bytes() == b"root:x:0:\nqmail:x:2107:\n"


def failing(name: str):
    def call(*args, **kwargs):
        raise OSError(errno.EIO, f"injected failure of {name}")
    return call


@pytest.mark.parametrize(("call", "step"), [
    ("open", "creating {temp}"),
    ("fchown", "setting the owner of {temp}"),
    ("fchmod", "setting the mode of {temp}"),
    ("setxattr", "keeping the extended attribute user.origin on {temp}"),
    ("write", "writing {temp}"),
    ("utime", "writing {temp}"),  # the times are part of the copy's content
    ("fsync", "syncing {temp}"),
    ("rename", "renaming {temp} to shadow"),
])
def test_each_failing_step_is_named_and_its_temporary_file_removed(etc, monkeypatch, call, step):
    like = shadow(etc)
    created = []
    real_open = os.open

    def recording_open(path, *args, **kwargs):
        created.append(path)
        return (failing("open") if call == "open" else real_open)(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", recording_open)
    if call != "open":
        monkeypatch.setattr(os, call, failing(call))
    with pytest.raises(WriteError) as failure:
        install(etc.fd, "shadow", b"new\n", like, {"user.origin": b"host"}, keep_times=True)
    temp = created[0]
    assert re.fullmatch(rf"shadow\.qmailsetup-{os.getpid()}-[0-9a-f]{{8}}", temp), temp
    assert failure.value.step == step.format(temp=temp)
    assert (failure.value.errno, failure.value.strerror) == (errno.EIO, f"injected failure of {call}")
    assert names(etc) == ["shadow"]
    assert (etc.path / "shadow").read_bytes() == b"root:*:1::::::\n"


def test_an_interruption_removes_the_temporary_file_and_goes_on(etc, monkeypatch):
    def interrupted(fd, data):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "write", interrupted)
    with pytest.raises(KeyboardInterrupt):
        install(etc.fd, "shadow", b"new\n", created_with(0o600), {})
    assert names(etc) == []


def test_a_directory_that_cannot_be_synced_is_named(etc, monkeypatch):
    shadow(etc)
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: failing("fsync")() if fd == etc.fd else real_fsync(fd))
    with pytest.raises(WriteError) as failure:
        replace_file(etc, "shadow", b"new\n")
    assert failure.value.step == f"syncing the directory {etc.path}"
    assert (etc.path / "shadow").read_bytes() == b"new\n"


@pytest.mark.parametrize("broken", ["open", "read"])
def test_a_file_that_cannot_be_read_is_named(etc, monkeypatch, broken):
    shadow(etc)
    if broken == "open":
        monkeypatch.setattr(etc, "open_regular", failing("open"))
    else:
        monkeypatch.setattr(write, "read_fd", failing("read"))
    with pytest.raises(WriteError) as failure:
        replace_file(etc, "shadow", b"new\n")
    assert failure.value.step == "reading shadow"
    assert names(etc) == ["shadow"]


def test_extended_attributes_the_file_system_lacks_or_loses_meanwhile(etc, monkeypatch):
    shadow(etc)
    fd = os.open(etc.path / "shadow", os.O_RDONLY)
    try:
        for missing in (errno.ENOTSUP, errno.ENOSYS):
            monkeypatch.setattr(os, "listxattr", lambda fd, code=missing: (_ for _ in ()).throw(OSError(code, "no")))
            assert read_xattrs(fd, "shadow") == {}
        monkeypatch.setattr(os, "listxattr", failing("listxattr"))
        with pytest.raises(WriteError) as failure:
            read_xattrs(fd, "shadow")
        assert failure.value.step == "listing the extended attributes of shadow"

        monkeypatch.setattr(os, "listxattr", lambda fd: ["user.gone", "user.kept"])
        real_getxattr = os.getxattr

        def getxattr(fd, attribute):
            if attribute == "user.gone":
                raise OSError(errno.ENODATA, "removed meanwhile")
            return b"value"

        monkeypatch.setattr(os, "getxattr", getxattr)
        assert read_xattrs(fd, "shadow") == {"user.kept": b"value"}
        monkeypatch.setattr(os, "getxattr", failing("getxattr"))
        with pytest.raises(WriteError) as failure:
            read_xattrs(fd, "shadow")
        assert failure.value.step == "reading the extended attribute user.gone of shadow"
        monkeypatch.setattr(os, "getxattr", real_getxattr)
    finally:
        os.close(fd)


def test_created_with_keeps_the_owner_and_sets_the_mode():
    like = created_with(0o640)
    assert (like.st_uid, like.st_gid) == (-1, -1)
    assert like.st_mode == stat.S_IFREG | 0o640


def test_only_the_temporary_files_of_dead_runs_and_of_this_one_are_removed(etc, live_pid):
    dead, alive, me = dead_pid(), live_pid, os.getpid()
    files = {
        f"shadow{TEMP_MARK}{dead}-0a1b": b"",       # a dead run's temporary file
        f"shadow-{TEMP_MARK}{dead}-ff": b"",        # ... of the backup
        f"passwd{TEMP_MARK}{me}-12": b"",           # an earlier failed step of this run
        f"shadow{TEMP_MARK}{alive}-0a1b": b"",      # a live run's: kept
        f"subuid{TEMP_MARK}{dead}-0a1b": b"",       # a file not asked about: kept
        f"shadow{TEMP_MARK}{dead}-xyz": b"",        # not one of ours: kept
        f"shadow.{dead}": f"{dead}\0".encode(),     # a dead lock candidate
        f"passwd.{dead}": b"something else",        # FILE.<pid> that is no lock candidate: kept
        f"group.{dead}": f"{dead}\0more".encode(),  # kept: not exactly "<pid>\0"
        f"shadow.{alive}": f"{alive}\0".encode(),   # a live lock candidate: kept
    }
    for name, content in files.items():
        (etc.path / name).write_bytes(content)
    os.mkfifo(etc.path / f"gshadow.{dead}")  # never opened: it could block
    removed = remove_stale_temps(etc, {"shadow", "passwd", "group", "gshadow"})
    assert sorted(removed) == sorted([
        f"shadow{TEMP_MARK}{dead}-0a1b", f"shadow-{TEMP_MARK}{dead}-ff", f"passwd{TEMP_MARK}{me}-12",
        f"shadow.{dead}",
    ])
    assert names(etc) == sorted(set(files) - set(removed) | {f"gshadow.{dead}"})


@pytest.mark.parametrize("live_first", [True, False], ids=["live-made-first", "dead-made-first"])
def test_a_live_runs_file_met_first_does_not_stop_the_clean_up(tmp_path, live_pid, live_first):
    """Whatever order the directory lists them in, every dead run's file
    goes, each live run's file stays: made in both orders, a scan that
    stopped at the first live one would leave dead files behind."""
    (tmp_path / "etc").mkdir()
    dead = dead_pid()
    live = [f"{kind}{TEMP_MARK}{live_pid}-0{i}" for i, kind in enumerate(("passwd", "group", "shadow", "gshadow"))]
    gone = [f"{kind}{TEMP_MARK}{dead}-1{i}" for i, kind in enumerate(("passwd", "group", "shadow", "gshadow"))]
    for name in (live + gone if live_first else gone + live):
        (tmp_path / "etc" / name).write_bytes(b"")
    with EtcDir.open(tmp_path) as etc:
        assert sorted(remove_stale_temps(etc, {"passwd", "group", "shadow", "gshadow"})) == sorted(gone)
        assert names(etc) == sorted(live)


def test_a_name_with_a_number_no_pid_can_reach_is_no_crash(etc):
    """An administrator's passwd.<date and time> backup (20 digits, beyond
    any pid_t) once stopped the run with a traceback (OverflowError)."""
    stamp = "20240101120000123456"
    (etc.path / f"passwd.{stamp}").write_bytes(b"root:x:0:0::/root:/bin/sh\n")
    (etc.path / f"shadow{TEMP_MARK}{stamp}-0a1b").write_bytes(b"")
    assert remove_stale_temps(etc, {"shadow", "passwd"}) == [f"shadow{TEMP_MARK}{stamp}-0a1b"]
    assert names(etc) == [f"passwd.{stamp}"]


def test_holds_pid_reads_exactly_the_pid_and_a_nul(etc):
    (etc.path / "shadow.77").write_bytes(b"77\0")
    (etc.path / "shadow.78").write_bytes(b"78\n")
    assert holds_pid(etc, "shadow.77", 77)
    assert not holds_pid(etc, "shadow.77", 7)
    assert not holds_pid(etc, "shadow.78", 78)
    assert not holds_pid(etc, "missing.79", 79)


def test_a_failure_without_a_reason_keeps_its_words():
    error = WriteError("writing shadow", OSError("the disk went away"))
    assert (error.step, error.errno, error.strerror) == ("writing shadow", None, "the disk went away")


def test_attributes_that_cannot_be_listed_name_the_file(etc, monkeypatch):
    shadow(etc)
    monkeypatch.setattr(os, "listxattr", failing("listxattr"))
    with pytest.raises(WriteError) as failure:
        replace_file(etc, "shadow", b"new\n")
    assert failure.value.step == "listing the extended attributes of shadow"
    assert names(etc) == ["shadow"]


def test_a_directory_that_cannot_be_listed_or_a_file_already_gone_removes_nothing_else(etc, monkeypatch):
    dead = dead_pid()
    for name in (f"shadow{TEMP_MARK}{dead}-01", f"group{TEMP_MARK}{dead}-02"):
        (etc.path / name).write_bytes(b"")
    real_scandir = os.scandir
    monkeypatch.setattr(os, "scandir", failing("scandir"))
    assert remove_stale_temps(etc, {"shadow", "group"}) == []
    monkeypatch.setattr(os, "scandir", real_scandir)
    real_unlink = os.unlink

    def unlink(name, **kwargs):
        if name.startswith("shadow"):
            raise FileNotFoundError(errno.ENOENT, "removed meanwhile")
        return real_unlink(name, **kwargs)

    monkeypatch.setattr(os, "unlink", unlink)
    assert remove_stale_temps(etc, {"shadow", "group"}) == [f"group{TEMP_MARK}{dead}-02"]


def test_a_link_planted_at_the_temporary_name_is_never_followed(etc, monkeypatch):
    target = etc.path.parent / "elsewhere"
    target.write_bytes(b"not yours\n")
    monkeypatch.setattr(write.secrets, "token_hex", lambda size: "0badcafe")
    temp = f"shadow{TEMP_MARK}{os.getpid()}-0badcafe"
    (etc.path / temp).symlink_to(target)
    with pytest.raises(WriteError) as failure:
        install(etc.fd, "shadow", b"new\n", created_with(0o600), {})
    assert (failure.value.step, failure.value.errno) == (f"creating {temp}", errno.EEXIST)
    assert target.read_bytes() == b"not yours\n"
    assert not (etc.path / "shadow").exists()
