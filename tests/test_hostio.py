"""hostio: every read is of a regular file and never blocks."""

from __future__ import annotations

import os
import socket

import pytest

from qmailsetup.hostio import NotRegular, read_optional, read_regular


def test_a_regular_file_is_read_whole(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x" * (3 << 20) + b"end")
    assert read_regular(path) == b"x" * (3 << 20) + b"end"
    assert read_regular(path, limit=5) == b"xxxxx"


def test_a_fifo_is_refused_at_once(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    # with no writer, a blocking open would wait forever
    with pytest.raises(NotRegular, match="a FIFO, not a regular file"):
        read_regular(fifo)


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
