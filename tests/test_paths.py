"""Directories are made and chowned without following symlinks, even one
planted between planning and applying."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from qmailsetup.errors import OperationFailed
from qmailsetup.paths import ensure_directory
from snapshot import mode_owner

pytestmark = pytest.mark.root("chown")


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
    with pytest.raises(OperationFailed) as error:
        ensure_directory(tmp_path / "root", "/var/qmail/alias", 7790, 2107, 0o2755)
    # named under the root, where it is (it was "/var/qmail/alias")
    assert str(error.value) == f"{tmp_path}/root/var/qmail/alias: a symlink or not a directory on the way"
    assert mode_owner(target) == before
    assert list(target.iterdir()) == []


def test_a_new_directory_is_private_until_it_has_its_owner_and_mode(tmp_path, monkeypatch):
    """Between mkdir and fchown, a directory qmail's users will own is
    nobody else's to enter: 0700, whatever the umask would give."""
    seen = []
    real_fchown = os.fchown

    def fchown(fd, uid, gid):
        seen.append(stat.S_IMODE(os.fstat(fd).st_mode))
        return real_fchown(fd, uid, gid)

    monkeypatch.setattr(os, "fchown", fchown)
    old_umask = os.umask(0)
    try:
        ensure_directory(tmp_path, "/alias", 7790, 2107, 0o2755)
    finally:
        os.umask(old_umask)
    assert seen == [0o700]
    assert mode_owner(tmp_path / "alias") == (0o2755, 7790, 2107)


def test_an_owner_already_right_is_not_set_again(tmp_path, monkeypatch):
    (tmp_path / "qmail").mkdir()
    os.chown(tmp_path / "qmail", 0, 2107)
    monkeypatch.setattr(os, "fchown", lambda *args: pytest.fail("fchown called"))
    ensure_directory(tmp_path, "/qmail", 0, 2107, 0o750)
    assert mode_owner(tmp_path / "qmail") == (0o750, 0, 2107)


@pytest.mark.parametrize("step", ["fchmod", "fsync"])
def test_a_failing_step_is_named_by_the_path_and_its_reason(tmp_path, monkeypatch, step):
    def failing(*args):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, step, failing)
    with pytest.raises(OperationFailed) as error:
        ensure_directory(tmp_path, "/var/qmail", 0, 0, 0o755)
    assert str(error.value) == f"{tmp_path}/var/qmail: Input/output error"


def test_a_parent_is_never_writable_by_others_even_before_its_chmod(tmp_path, monkeypatch):
    """mkdir's own mode already says 0755: under umask 0 the new /var is
    not world-writable for an instant."""
    seen = []
    real_fchmod = os.fchmod

    def fchmod(fd, mode):
        seen.append(stat.S_IMODE(os.fstat(fd).st_mode))
        return real_fchmod(fd, mode)

    monkeypatch.setattr(os, "fchmod", fchmod)
    old_umask = os.umask(0)
    try:
        ensure_directory(tmp_path, "/var/qmail", 0, 0, 0o755)
    finally:
        os.umask(old_umask)
    assert seen == [0o755, 0o700]  # /var before its fchmod, then /var/qmail before its own


def test_on_the_live_root_a_path_is_named_as_it_is(monkeypatch):
    """Under / the path is the spec's own: no root to put before it."""
    def failing(*args, **kwargs):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "open", failing)
    with pytest.raises(OperationFailed) as error:
        ensure_directory(Path("/"), "/var/qmail", 0, 0, 0o755)
    assert str(error.value) == "/var/qmail: Input/output error"
