"""--root and the host's tools: a tree is handed to a tool that opens files
by path and follows links (useradd --prefix, pw -R, pwd_mkdb -d) only when
root alone can change its etc and no name the tool opens there is a link,
an odd file or a hard link; the files backend, which never follows one, is
the default under --root. A file outside the tree is never changed."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from conftest import cli, fake_tools, require_tools
from trees import bsd_tree, debian_tree

# every name shadow-utils' useradd, groupadd and usermod open in ROOT/etc
# (commonio.c: FILE- backup, FILE+ new file, FILE.lock and FILE.<pid> lock,
# lckpwdf's .pwd.lock), and the subordinate ID files
SHADOW_TOOL_NAMES = [
    f"{kind}{suffix}" for kind in ("passwd", "shadow", "group", "gshadow") for suffix in ("-", "+", ".lock", ".4242")
] + [".pwd.lock", "subuid", "subgid", "nologin"]


def state(path: Path) -> tuple:
    info = os.lstat(path)
    return path.read_bytes(), info.st_ino, stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid


@pytest.fixture
def scratch(tmp_path) -> Path:
    """A file outside the tree, where a planted link points."""
    path = tmp_path / "outside" / "precious"
    path.parent.mkdir()
    path.write_text("the host's own file\n")
    path.chmod(0o640)
    return path


def useradd_available() -> None:
    require_tools("useradd", "groupadd", "usermod")


@pytest.mark.root("useradd --prefix")
@pytest.mark.parametrize("name", SHADOW_TOOL_NAMES)
def test_a_link_where_useradd_writes_refuses_the_useradd_backend(tmp_path, scratch, name):
    useradd_available()
    root = debian_tree(tmp_path / "root")
    (root / "etc" / name).symlink_to(scratch)
    before = state(scratch), sorted(os.listdir(root / "etc")), (root / "etc/passwd").read_bytes()
    for extra in ((), ("--dry-run",)):
        result = cli("apply", "--platform", "linux", "--backend", "useradd", "--root", root, *extra)
        assert result.code == 3, result.err
        assert f"{root}/etc/{name} is a symlink (to {scratch})" in result.err
        assert "--backend files" in result.err and len(result.err.splitlines()) == 1
    assert (state(scratch), sorted(os.listdir(root / "etc")), (root / "etc/passwd").read_bytes()) == before


@pytest.mark.root("apply chowns /var/qmail and /var/qmail/alias")
@pytest.mark.parametrize("name, code", [
    ("shadow-", 0), ("gshadow+", 0), ("passwd.4242", 0),  # replaced, never written through
    ("passwd.lock", 1), (".pwd.lock", 1),  # a lock that cannot be taken: nothing written
])
def test_the_default_backend_under_root_never_follows_a_planted_link(tmp_path, scratch, name, code):
    root = debian_tree(tmp_path / "root")
    (root / "etc" / name).symlink_to(scratch)
    before = state(scratch)
    result = cli("apply", "--platform", "linux", "--root", root)
    assert result.code == code, result.err
    if code == 0:
        assert "backend files" in result.out
    else:  # the locks are taken before the files are read, the plan made
        assert result.err == f"qmailsetup: {root}/etc/{name}: cannot lock: Too many levels of symbolic links; nothing written\n"
    assert state(scratch) == before
    assert (b"qmails:" in (root / "etc/passwd").read_bytes()) == (code == 0)


@pytest.mark.root("useradd --prefix")
def test_a_hard_link_where_useradd_writes_refuses(tmp_path, scratch):
    useradd_available()
    root = debian_tree(tmp_path / "root")
    os.link(scratch, root / "etc/shadow-")
    before = state(scratch)
    result = cli("apply", "--platform", "linux", "--backend", "useradd", "--root", root)
    assert result.code == 3
    assert f"{root}/etc/shadow- has 2 hard links" in result.err
    assert state(scratch) == before


@pytest.mark.root("useradd --prefix")
def test_a_fifo_where_useradd_writes_refuses(tmp_path):
    useradd_available()
    root = debian_tree(tmp_path / "root")
    os.mkfifo(root / "etc/group+")
    result = cli("apply", "--platform", "linux", "--backend", "useradd", "--root", root)
    assert result.code == 3
    assert f"{root}/etc/group+ is not a regular file" in result.err


@pytest.mark.root("useradd --prefix")
@pytest.mark.parametrize("where, owner, mode, refused", [
    ("parent", 0, 0o777, True),  # anyone may rename the tree away and put another in its place
    ("parent", 0, 0o1777, False),  # sticky, as /tmp: what root owns in it stays root's
    ("parent", 1000, 0o755, True),  # another user's directory
    ("root", 1000, 0o755, True),
    ("root", 0, 0o775, False),  # group root may write: root's own
    ("etc", 0, 0o1777, True),  # the last directory: a sticky one lets others plant names
    ("etc", 1000, 0o755, True),
])
def test_a_tree_others_may_change_is_not_handed_to_useradd(tmp_path, where, owner, mode, refused):
    useradd_available()
    parent = tmp_path / "parent"
    root = debian_tree(parent / "root")
    place = {"parent": parent, "root": root, "etc": root / "etc"}[where]
    if mode & 0o020:
        os.chown(place, owner, 0)
    else:
        os.chown(place, owner, -1)
    place.chmod(mode)
    result = cli("apply", "--platform", "linux", "--backend", "useradd", "--root", root)
    if refused:
        assert result.code == 3, result.err
        assert f"--root {root}: {place} may be changed by others than root" in result.err
        assert b"qmails:" not in (root / "etc/passwd").read_bytes()
    else:
        assert result.code == 0, result.err
        assert b"qmails:" in (root / "etc/passwd").read_bytes()


@pytest.mark.root("useradd --prefix")
def test_a_clean_tree_root_owns_works_with_useradd(tmp_path):
    useradd_available()
    root = debian_tree(tmp_path / "root")
    (root / "etc/localtime").symlink_to("/usr/share/zoneinfo/UTC")  # a link by another name is no hazard
    result = cli("apply", "--platform", "linux", "--backend", "useradd", "--root", root)
    assert result.code == 0, result.err
    assert "backend useradd" in result.out
    assert b"qmails:" in (root / "etc/passwd").read_bytes()


@pytest.mark.root("the host's tools are handed only a tree root alone can change")
def test_pw_is_not_handed_a_tree_with_a_link_at_its_databases(tmp_path, scratch, mocker):
    calls = fake_tools(mocker)
    root = bsd_tree(tmp_path / "root", "freebsd")
    (root / "etc/spwd.db.tmp").symlink_to(scratch)
    result = cli("apply", "--platform", "freebsd", "--backend", "pw", "--root", root)
    assert result.code == 3
    assert f"{root}/etc/spwd.db.tmp is a symlink" in result.err and "pw opens files there" in result.err
    assert calls == []


def test_the_files_backend_runs_no_pwd_mkdb_in_a_tree_with_a_link_at_its_names(tmp_path, scratch, mocker):
    calls = fake_tools(mocker)
    mocker.patch("qmailsetup.tools.find_tool", side_effect=lambda name: f"/usr/sbin/{name}")
    root = bsd_tree(tmp_path / "root", "freebsd")
    (root / "etc/pwd.db").symlink_to(scratch)
    before = (root / "etc/master.passwd").read_bytes()
    result = cli("apply", "--platform", "freebsd", "--root", root)
    assert result.code == 3
    assert "pwd_mkdb opens files there" in result.err
    assert calls == [] and (root / "etc/master.passwd").read_bytes() == before
