"""hostio: every read is of a regular file and never blocks."""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import stat
import subprocess

import pytest

from process import exit_code, forked
from qmailsetup import hostio
from qmailsetup.hostio import NotRegular, kind_of, mount_id, open_regular, read_optional, read_regular, unchangeable


def test_a_regular_file_is_read_whole(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x" * (3 << 20) + b"end")
    assert read_regular(path) == b"x" * (3 << 20) + b"end"
    assert read_regular(path, limit=5) == b"xxxxx"


def test_a_fifo_is_refused_at_once(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    # with no writer, a blocking open would wait forever
    with pytest.raises(NotRegular, match="a FIFO, not a regular file") as error:
        read_regular(fifo)
    # no errno: the open worked, the file is of the wrong kind (an EPERM
    # here would read as a permission problem to a caller that checks it)
    assert not error.value.errno


@pytest.mark.parametrize("make, kind", [
    (lambda p: p.mkdir(), "a directory"),
    (lambda p: socket.socket(socket.AF_UNIX).bind(str(p)), "a socket"),
])
def test_other_kinds_are_refused(tmp_path, make, kind):
    path = tmp_path / "thing"
    make(path)
    with pytest.raises(OSError, match=kind if kind != "a directory" else "directory"):
        read_regular(path)


def test_a_device_is_refused():
    with pytest.raises(NotRegular, match="a device"):
        read_regular("/dev/null")


def test_a_symlink_is_followed_only_when_asked(tmp_path):
    (tmp_path / "real").write_text("data")
    (tmp_path / "link").symlink_to("real")
    assert read_regular(tmp_path / "link") == b"data"
    with pytest.raises(OSError):
        read_regular(tmp_path / "link", follow=False)
    # open_regular itself follows too unless told (check/compiled.py opens
    # qmail-showctl so, which a package may install as a link)
    fd, info = open_regular(tmp_path / "link")
    os.close(fd)
    assert stat.S_ISREG(info.st_mode) and info.st_size == 4


def test_relative_to_a_directory_descriptor(tmp_path):
    (tmp_path / "f").write_text("here")
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert read_regular("f", dir_fd=fd) == b"here"
        assert read_optional("missing", dir_fd=fd) is None
    finally:
        os.close(fd)


def test_optional_is_none_only_when_missing(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    assert read_optional(tmp_path / "absent") is None
    with pytest.raises(NotRegular):
        read_optional(tmp_path / "fifo")


def test_the_kind_of_each_file_in_words(tmp_path):
    assert [kind_of(mode) for mode in (stat.S_IFREG, stat.S_IFDIR, stat.S_IFIFO, stat.S_IFSOCK, stat.S_IFCHR,
                                       stat.S_IFBLK, stat.S_IFLNK, 0)] == [
        "a file", "a directory", "a FIFO", "a socket", "a device", "a device", "a symlink", "not a regular file"]


def test_an_open_descriptor_blocks_again_and_is_not_inherited(tmp_path):
    (tmp_path / "f").write_text("x")
    fd, info = open_regular(tmp_path / "f")
    try:
        assert not fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK
        assert not os.get_inheritable(fd)
        assert info.st_size == 1
    finally:
        os.close(fd)


def test_a_terminal_where_a_file_belongs_is_refused_and_never_becomes_the_run_s_terminal():
    """O_NOCTTY, whatever the caller's flags: a run with no controlling
    terminal (a session leader, as under a service manager) that opens a
    terminal where a file is expected refuses it, and does not take it as
    its own, so no hangup of that terminal can reach the run. (Linux never
    takes one opened only to write, as lock files are; one opened to read,
    or to read and write, it does.)"""
    master, terminal = os.openpty()
    name = os.ttyname(terminal)

    def session_leader_opens_it():
        os.setsid()
        for flags in (hostio.READ_FLAGS, os.O_WRONLY | os.O_CREAT, os.O_RDWR | os.O_CREAT):
            with pytest.raises(NotRegular, match="a device, not a regular file"):
                open_regular(name, flags=flags)
        with pytest.raises(OSError) as none:
            os.open("/dev/tty", os.O_RDWR)
        assert none.value.errno == errno.ENXIO

    try:
        with pytest.raises(NotRegular, match="a device, not a regular file"):
            read_regular(name)  # in this process too (which mutation testing sees)
        assert exit_code(forked(session_leader_opens_it)) == 0
    finally:
        os.close(terminal)
        os.close(master)


def test_a_file_created_through_it_is_private(tmp_path):
    old_umask = os.umask(0)
    try:
        fd, info = open_regular(tmp_path / "lock", flags=os.O_WRONLY | os.O_CREAT)
    finally:
        os.umask(old_umask)
    try:
        assert not fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK  # with the caller's flags too
    finally:
        os.close(fd)
    assert info.st_mode & 0o777 == 0o600


def test_the_callers_own_flags_are_kept(tmp_path):
    """Only O_NONBLOCK is cleared once the file is known to be regular:
    a file opened to append is appended to."""
    (tmp_path / "log").write_text("first\n")
    fd, _ = open_regular(tmp_path / "log", flags=os.O_WRONLY | os.O_APPEND)
    try:
        assert fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_APPEND
        os.write(fd, b"second\n")
    finally:
        os.close(fd)
    assert (tmp_path / "log").read_text() == "first\nsecond\n"


def test_a_read_in_small_chunks_stops_at_the_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(hostio, "CHUNK", 4)
    (tmp_path / "f").write_bytes(b"0123456789")
    assert read_regular(tmp_path / "f") == b"0123456789"
    assert read_regular(tmp_path / "f", limit=6) == b"012345"
    assert read_regular(tmp_path / "f", limit=20) == b"0123456789"


def test_a_fifo_with_no_reader_opened_for_writing_is_named(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(NotRegular) as error:
        open_regular(tmp_path / "fifo", flags=os.O_WRONLY)
    assert error.value.strerror == "a FIFO, not a regular file"
    assert error.value.errno == errno.ENXIO  # what open(2) said, kept for the caller


@pytest.mark.root("chattr +i and +a")
def test_immutable_and_append_only_files_are_named(tmp_path):
    directory = os.open(tmp_path, os.O_RDONLY)
    names = {"plain": None, "immutable": "+i", "append-only": "+a"}
    for name, flag in names.items():
        (tmp_path / name).write_text("x")
        if flag:
            subprocess.run(["chattr", flag, tmp_path / name], check=True)
    try:
        for name in names:
            fd = os.open(tmp_path / name, os.O_RDONLY)
            try:
                assert unchangeable(fd) == (None if name == "plain" else name)
                assert mount_id(fd) == mount_id(directory) > 0
            finally:
                os.close(fd)
    finally:
        os.close(directory)
        subprocess.run(["chattr", "-i", "-a", tmp_path / "immutable", tmp_path / "append-only"], check=True)


@pytest.mark.parametrize(("flags", "why"), [
    (stat.SF_IMMUTABLE, "immutable"), (stat.UF_IMMUTABLE, "immutable"),
    (stat.SF_APPEND, "append-only"), (stat.UF_APPEND, "append-only"), (stat.UF_NODUMP, None),
])
def test_bsd_file_flags_are_named(tmp_path, flags, why):
    """chflags schg/uchg, sappnd/uappnd: st_flags exists on the BSDs only,
    so fstat is mocked to carry it, for this one call."""
    import types
    from unittest import mock

    (tmp_path / "f").write_text("x")
    fd = os.open(tmp_path / "f", os.O_RDONLY)
    try:
        with mock.patch.object(hostio.os, "fstat", lambda fd: types.SimpleNamespace(st_flags=flags)):
            seen = unchangeable(fd)
    finally:
        os.close(fd)
    assert seen == why


def test_the_mount_of_a_descriptor_that_is_not_open_is_not_known(tmp_path):
    (tmp_path / "f").write_text("x")
    fd = os.open(tmp_path / "f", os.O_RDONLY)
    os.close(fd)
    assert mount_id(fd) is None


def test_optional_reads_relative_to_a_directory_and_follows_a_symlink_unless_told(tmp_path):
    (tmp_path / "real").write_text("data")
    (tmp_path / "link").symlink_to("real")
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert read_optional("real", dir_fd=fd) == b"data"
        assert read_optional("link", dir_fd=fd) == b"data"
        with pytest.raises(OSError) as error:
            read_optional("link", dir_fd=fd, follow=False)
        assert error.value.errno == errno.ELOOP
    finally:
        os.close(fd)
