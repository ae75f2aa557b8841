"""How often one apply reads the account files, counted in this process:
every file the run opens (os.open) is named by its descriptor, and every
byte read from one (os.read, and io.FileIO, through which hostio reads a
file whole) is counted against it. Nothing is faked: the counters only
count, and the run is a real one. bench/reads.py measures the same with
strace, from outside."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from conftest import cli, require_tools
from process import EPOCH
from trees import append, debian_tree, make_tree

ACCOUNT_FILES = ("passwd", "group", "shadow", "gshadow")


class Counter:
    """Opens and bytes read, by the path of the file behind the descriptor."""

    def __init__(self, monkeypatch) -> None:
        self.paths: dict[int, str] = {}
        self.opened: dict[str, int] = {}
        self.read: dict[str, int] = {}
        real_open, real_read = os.open, os.read
        counter = self

        def counting_open(*args, **kwargs):
            fd = real_open(*args, **kwargs)
            path = os.readlink(f"/proc/self/fd/{fd}")
            counter.paths[fd] = path
            counter.opened[path] = counter.opened.get(path, 0) + 1
            return fd

        def counting_read(fd, size):
            data = real_read(fd, size)
            counter.count(fd, len(data))
            return data

        class CountingFileIO(io.FileIO):
            def readall(self):
                data = super().readall()
                counter.count(self.fileno(), len(data))
                return data

            def read(self, size=-1):
                data = super().read(size)
                counter.count(self.fileno(), len(data or b""))
                return data

            def readinto(self, buffer):
                size = super().readinto(buffer)
                counter.count(self.fileno(), size or 0)
                return size

        monkeypatch.setattr(os, "open", counting_open)
        monkeypatch.setattr(os, "read", counting_read)
        monkeypatch.setattr(io, "FileIO", CountingFileIO)

    def count(self, fd: int, size: int) -> None:
        path = self.paths.get(fd)
        if path is not None:
            self.read[path] = self.read.get(path, 0) + size

    def bytes_read(self, etc: Path) -> int:
        return sum(self.read.get(str(etc / name), 0) for name in ACCOUNT_FILES)


def account_bytes(etc: Path) -> int:
    return sum((etc / name).stat().st_size for name in ACCOUNT_FILES if (etc / name).exists())


def with_people(root: Path, count: int) -> Path:
    """ROOT, a Debian tree, with COUNT people more: the files' size is theirs."""
    names = [f"user{n:05d}" for n in range(count)]
    append(root, "passwd", [f"{name}:x:{10000 + n}:{10000 + n}:Person {n}:/home/{name}:/bin/bash"
                            for n, name in enumerate(names)])
    append(root, "shadow", [f"{name}:$6$salt$hash:19000:0:99999:7:::" for name in names])
    append(root, "group", [f"{name}:x:{10000 + n}:" for n, name in enumerate(names)])
    append(root, "gshadow", [f"{name}:!::" for name in names])
    return root


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)


@pytest.mark.root("apply chowns /var/qmail and /var/qmail/alias")
@pytest.mark.parametrize("people", [0, 2000])
def test_a_files_backend_apply_reads_the_account_files_once(tmp_path, monkeypatch, people):
    """The run takes the locks, reads each file once, writes (each FILE-
    backup from the bytes read) and lets go; the closing check asks the
    files as written. At most 1.5 times their bytes (once, in fact); a dry
    run reads them once too."""
    root = with_people(debian_tree(tmp_path / "root"), people)
    etc = root / "etc"
    size = account_bytes(etc)
    dry = Counter(monkeypatch)
    result = cli("apply", "--platform", "linux", "--backend", "files", "--root", root, "--dry-run")
    assert result.code == 0, result.err
    assert dry.bytes_read(etc) == size

    monkeypatch.undo()
    run = Counter(monkeypatch)
    result = cli("apply", "--platform", "linux", "--backend", "files", "--root", root)
    assert result.code == 0, result.err
    assert "Applied 11 changes." in result.out
    assert run.bytes_read(etc) <= 1.5 * size, (run.bytes_read(etc), size)
    assert run.bytes_read(etc) == size  # each file once: the plan's reading is the backups' and the check's


@pytest.mark.root("apply chowns /var/qmail and /var/qmail/alias")
def test_an_alpine_apply_reads_once_too(tmp_path, monkeypatch):
    """On Alpine the run also holds busybox's FILE+ of each file, and as it
    lets go brings the file busybox may have open up to date: from the
    bytes it wrote, not from a new reading."""
    root = make_tree(tmp_path / "root", "alpine")
    etc = root / "etc"
    size = account_bytes(etc)
    run = Counter(monkeypatch)
    result = cli("apply", "--platform", "alpine", "--root", root)
    assert result.code == 0, result.err
    assert "Applied 10 changes." in result.out  # the tree has group nofiles
    assert run.bytes_read(etc) == size


@pytest.mark.root("useradd --prefix is handed only a tree root alone can change")
def test_a_useradd_apply_opens_passwd_twice_at_most(tmp_path, monkeypatch):
    """The plan's reading and the closing check's: the tools are told the
    IDs the plan chose, so nothing reads one back. (useradd and groupadd
    open passwd themselves, in processes of their own: not counted.)"""
    require_tools("useradd", "groupadd")
    root = debian_tree(tmp_path / "root")
    counter = Counter(monkeypatch)
    result = cli("apply", "--platform", "linux", "--backend", "useradd", "--root", root)
    assert result.code == 0, result.err
    assert "Applied 11 changes." in result.out
    assert counter.opened.get(str(root / "etc/passwd"), 0) <= 2, counter.opened
