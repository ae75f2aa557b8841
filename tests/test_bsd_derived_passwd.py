"""BSD's passwd, the file pwd_mkdb -p makes from master.passwd, counts as a
file the run writes: a symlinked, dangling or odd one is refused before
master.passwd is touched, and one that no longer matches master.passwd (a
run that died before pwd_mkdb) is shown in the plan and made again."""

from __future__ import annotations

import json
import os

import pytest

from conftest import cli, fake_tools
from qmailsetup.userdb.pwdmkdb import v7_passwd
from snapshot import snapshot
from trees import installed_tree


def apply(root, *extra, backend="files"):
    return cli("apply", "--platform", "freebsd", "--backend", backend, "--root", root, *extra)


@pytest.fixture
def no_pwd_mkdb(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no pwd_mkdb, wherever this runs


@pytest.mark.parametrize("target", ["decoy", "dangling"])
def test_a_symlinked_passwd_is_refused_before_master_passwd_is_touched(tmp_path, no_pwd_mkdb, target):
    root = installed_tree(tmp_path / "root", "freebsd")
    decoy = tmp_path / "decoy-passwd"
    if target == "decoy":
        decoy.write_text("root:*:0:0::/root:/bin/sh\n")
    (root / "etc/passwd").unlink()
    (root / "etc/passwd").symlink_to(decoy)
    before = snapshot(tmp_path)

    for extra in ((), ("--dry-run",)):
        result = apply(root, *extra)
        assert result.code == 3
        assert result.err == (
            f"qmailsetup: {root}/etc/passwd: is a symlink; refusing to edit an account file through a link\n"
        )
    assert snapshot(tmp_path) == before


def test_a_fifo_at_passwd_is_bad_input_and_nothing_written(tmp_path, no_pwd_mkdb):
    root = installed_tree(tmp_path / "root", "freebsd")
    (root / "etc/passwd").unlink()
    os.mkfifo(root / "etc/passwd")
    before = snapshot(root)

    result = apply(root)

    assert result.code == 2
    assert result.err == f"qmailsetup: {root}/etc/passwd: a FIFO, not a regular file\n"
    assert snapshot(root) == before


def stale_tree(tmp_path):
    """master.passwd with qmail's users, passwd still without them: a run
    that wrote master.passwd and died before pwd_mkdb."""
    root = installed_tree(tmp_path / "root", "freebsd")
    stale = (root / "etc/passwd").read_bytes()
    assert apply(root).code == 0
    (root / "etc/passwd").write_bytes(stale)
    return root


@pytest.mark.root("apply chowns /var/qmail and /var/qmail/alias")
def test_a_stale_passwd_is_shown_and_made_again(tmp_path, no_pwd_mkdb):
    root = stale_tree(tmp_path)
    master = (root / "etc/master.passwd").read_bytes()

    planned = apply(root, "--dry-run", "--detailed-exitcode")
    assert planned.code == 4
    assert "~ file /etc/passwd: modify\n    content: differs from master.passwd -> as pwd_mkdb -p makes it\n" in planned.out
    assert json.loads(apply(root, "--dry-run", "--json").out)["changes"][0]["kind"] == "file"

    result = apply(root)

    assert result.code == 0, result.err
    assert "Applied 1 change." in result.out
    assert (root / "etc/passwd").read_text() == v7_passwd(master.decode())
    assert (root / "etc/master.passwd").read_bytes() == master
    assert (root / "etc/passwd-").exists(), "the stale one kept as the backup"
    assert apply(root, "--detailed-exitcode").code == 0, "in sync"


@pytest.mark.root("apply chowns /var/qmail and /var/qmail/alias")
def test_a_stale_passwd_goes_to_pwd_mkdb_where_there_is_one(tmp_path, mocker, no_pwd_mkdb):
    root = stale_tree(tmp_path)
    before = snapshot(root)
    ran = fake_tools(mocker, {"pwd_mkdb"})
    result = apply(root)

    assert result.code == 0, result.err
    assert ran == [["pwd_mkdb", "-N", "-p", "-d", f"{root}/etc", f"{root}/etc/master.passwd"]]
    assert snapshot(root) == before, "pwd_mkdb's to write"


@pytest.mark.root("apply chowns /var/qmail and /var/qmail/alias")
def test_the_pw_backend_shows_pwd_mkdb_for_a_stale_passwd(tmp_path, no_pwd_mkdb):
    root = stale_tree(tmp_path)
    planned = json.loads(apply(root, "--dry-run", "--json", backend="pw").out)
    assert planned["changes"][0]["commands"] == [["pwd_mkdb", "-N", "-p", "-d", f"{root}/etc", f"{root}/etc/master.passwd"]]


@pytest.mark.root("apply chowns /var/qmail and /var/qmail/alias")
def test_a_master_passwd_line_pwd_mkdb_would_refuse_leaves_passwd_alone(tmp_path, no_pwd_mkdb):
    """A NIS line of more fields than master.passwd has: which passwd
    pwd_mkdb -p would make of it is not for this run to guess, so passwd
    is not called stale, and the run is in sync."""
    root = installed_tree(tmp_path / "root", "freebsd")
    assert apply(root).code == 0
    with open(root / "etc/master.passwd", "a") as master:
        master.write("+nis:::::::::::\n")
    before = snapshot(root)
    planned = apply(root, "--dry-run", "--detailed-exitcode")
    assert (planned.code, planned.err) == (0, "")
    assert snapshot(root) == before


@pytest.mark.root("apply chowns /var/qmail and /var/qmail/alias")
def test_a_tree_without_passwd_in_sync_is_left_so(tmp_path, no_pwd_mkdb):
    """No passwd at all is no stale one: the next edit makes it."""
    root = installed_tree(tmp_path / "root", "freebsd")
    assert apply(root).code == 0
    (root / "etc/passwd").unlink()
    planned = apply(root, "--dry-run", "--detailed-exitcode")
    assert (planned.code, planned.err) == (0, "")
