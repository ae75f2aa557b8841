"""Directories are made and chowned without following symlinks, even one
planted between planning and applying."""

from __future__ import annotations

import os
import stat

import pytest
from conftest import skip_or_fail
from qmailsetup.errors import OperationFailed
from qmailsetup.paths import ensure_directory


@pytest.fixture(autouse=True)
def as_root():
    if os.geteuid() != 0:
        skip_or_fail("chown needs root")


def mode_owner(path):
    info = os.lstat(path)
    return stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid


def test_creates_missing_directories_with_owner_and_setgid_mode(tmp_path):
    ensure_directory(tmp_path, "/var/qmail", 0, 2107, 0o755)
    ensure_directory(tmp_path, "/var/qmail/alias", 7790, 2107, 0o2755)
    assert mode_owner(tmp_path / "var") == (0o755, 0, 0)
    assert mode_owner(tmp_path / "var/qmail") == (0o755, 0, 2107)
    assert mode_owner(tmp_path / "var/qmail/alias") == (0o2755, 7790, 2107)


def test_fixes_owner_and_mode_of_an_existing_directory_keeping_setgid(tmp_path):
    (tmp_path / "var/qmail/alias").mkdir(parents=True)
    (tmp_path / "var/qmail/alias/.qmail-root").write_text("postmaster\n")
    ensure_directory(tmp_path, "/var/qmail/alias", 7790, 2107, 0o2755)
    assert mode_owner(tmp_path / "var/qmail/alias") == (0o2755, 7790, 2107)
    assert (tmp_path / "var/qmail/alias/.qmail-root").read_text() == "postmaster\n"


@pytest.mark.parametrize("link", ["/var/qmail", "/var"])
def test_a_symlink_planted_on_the_way_is_never_followed(tmp_path, link):
    target = tmp_path / "elsewhere"
    target.mkdir()
    (tmp_path / "root/var").mkdir(parents=True)
    if link == "/var":
        (tmp_path / "root/var").rmdir()
    (tmp_path / "root" / link.lstrip("/")).symlink_to(target)
    before = mode_owner(target)
    with pytest.raises(OperationFailed, match="a symlink or not a directory on the way"):
        ensure_directory(tmp_path / "root", "/var/qmail/alias", 7790, 2107, 0o2755)
    assert mode_owner(target) == before
    assert list(target.iterdir()) == []
