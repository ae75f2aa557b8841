"""The files backend on BSD trees, end to end: master.passwd and group
edited as vipw would, then the post-edit step, pwd_mkdb -p. Where pwd_mkdb
is missing (here, on Linux) passwd is regenerated from master.passwd as
pwd_mkdb -p would and a note says so; where it is there, its exact argv.

Goldens on the stock FreeBSD and OpenBSD files: only new lines differ, and
the regenerated passwd is master.passwd minus the secret fields."""

from __future__ import annotations

import difflib
import os
import stat

import pytest

from conftest import cli, fake_tools
from golden import check_text
from qmail_layout import QMAIL_USERS
from qmailsetup.tools import ToolResult
from qmailsetup.userdb.pwdmkdb import v7_passwd
from trees import bsd_tree, installed_tree

FIXTURES = ["freebsd", "openbsd"]
# pwd_mkdb's argv under a root (tests/test_bsd_pwd_mkdb.py has every platform, on / too)
PWD_MKDB = {
    "freebsd": lambda root: ["pwd_mkdb", "-N", "-p", "-d", f"{root}/etc", f"{root}/etc/master.passwd"],
    "openbsd": lambda root: ["pwd_mkdb", "-p", "-d", f"{root}/etc", f"{root}/etc/master.passwd"],
}
FILES = ("master.passwd", "group", "passwd")


def added_only(old: str, new: str) -> list[str]:
    """The lines NEW adds to OLD; fails if any line was changed or removed."""
    diff = list(difflib.ndiff(old.splitlines(keepends=True), new.splitlines(keepends=True)))
    assert not [line for line in diff if line.startswith("- ")], "a line was changed or removed"
    return [line[2:] for line in diff if line.startswith("+ ")]


@pytest.mark.root("apply chowns /var/qmail and /var/qmail/alias")
@pytest.mark.parametrize("fixture", FIXTURES)
def test_without_pwd_mkdb_only_new_lines_differ_and_passwd_is_regenerated(tmp_path, monkeypatch, fixture):
    root = installed_tree(tmp_path / "root", fixture)
    before = {name: (root / "etc" / name).read_text() for name in FILES}
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no pwd_mkdb, wherever this runs
    result = cli("apply", "--platform", fixture, "--backend", "files", "--root", root)
    assert result.code == 0, result.err
    assert (
        f"qmailsetup: note: pwd_mkdb not found: {root}/etc/passwd regenerated from master.passwd as pwd_mkdb -p "
        f"would; the password databases are not rebuilt: run `{' '.join(PWD_MKDB[fixture](root))}` on the host\n"
    ) in result.err
    after = {name: (root / "etc" / name).read_text() for name in FILES}
    for name in FILES:
        check_text(f"bsd/files/{fixture}/{name}", after[name])
    assert len(added_only(before["group"], after["group"])) == 2
    new_users = added_only(before["master.passwd"], after["master.passwd"])
    assert [line.split(":")[0] for line in new_users] == list(QMAIL_USERS)
    assert all(line.split(":")[1] == "*" for line in new_users)
    assert after["passwd"] == v7_passwd(after["master.passwd"])
    assert added_only(before["passwd"], after["passwd"]) == [v7_passwd(line) for line in new_users]
    assert stat.S_IMODE((root / "etc/master.passwd").stat().st_mode) == 0o600
    assert stat.S_IMODE((root / "etc/passwd").stat().st_mode) == 0o644

    again = cli("apply", "--platform", fixture, "--backend", "files", "--root", root)
    assert again.code == 0 and "0 to create, 0 to modify" in again.out
    assert {name: (root / "etc" / name).read_text() for name in FILES} == after


@pytest.mark.root("apply chowns /var/qmail and /var/qmail/alias")
def test_a_tree_without_passwd_gets_one(tmp_path, monkeypatch):
    root = bsd_tree(tmp_path / "root", "freebsd")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    old_umask = os.umask(0o077)  # not what decides the mode
    try:
        assert cli("apply", "--platform", "freebsd", "--backend", "files", "--root", root).code == 0
    finally:
        os.umask(old_umask)
    assert (root / "etc/passwd").read_text() == v7_passwd((root / "etc/master.passwd").read_text())
    assert stat.S_IMODE((root / "etc/passwd").stat().st_mode) == 0o644


def test_a_link_put_where_passwd_is_made_is_not_followed(tmp_path, monkeypatch):
    """A link that appears at etc/passwd after the check that there is none
    (a race with something that ignores the locks): passwd is not made
    through it; one line, exit 1, and the link and its target as they were."""
    from qmailsetup.userdb.etcdir import EtcDir

    root = bsd_tree(tmp_path / "root", "freebsd")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    real_exists = EtcDir.exists

    def link_after_check(etc, name):
        found = real_exists(etc, name)
        if name == "passwd" and not found:
            (root / "etc/passwd").symlink_to(tmp_path / "target")
        return found

    monkeypatch.setattr(EtcDir, "exists", link_after_check)
    result = cli("apply", "--platform", "freebsd", "--backend", "files", "--root", root)
    assert result.code == 1
    (line,) = result.err.splitlines()
    assert line == (f"qmailsetup: {root}/etc/passwd: creating it: File exists; done before the failure: nothing "
                    f"(files replaced in {root}/etc: group-, group, master.passwd-, master.passwd)")
    assert os.readlink(root / "etc/passwd") == str(tmp_path / "target")
    assert not (tmp_path / "target").exists()


@pytest.mark.root("apply chowns /var/qmail and /var/qmail/alias")
@pytest.mark.parametrize("fixture", FIXTURES)
def test_with_pwd_mkdb_it_runs_with_the_exact_argv_and_passwd_is_left_to_it(tmp_path, mocker, fixture):
    root = installed_tree(tmp_path / "root", fixture)
    passwd_before = (root / "etc/passwd").read_text()
    ran = fake_tools(mocker, {"pwd_mkdb"})
    result = cli("apply", "--platform", fixture, "--backend", "files", "--root", root)
    assert result.code == 0, result.err
    assert ran == [PWD_MKDB[fixture](root)]
    assert "pwd_mkdb not found" not in result.err
    assert (root / "etc/passwd").read_text() == passwd_before  # pwd_mkdb's to write


def test_a_failing_pwd_mkdb_is_one_line_exit_1(tmp_path, mocker):
    root = installed_tree(tmp_path / "root", "freebsd")
    fake_tools(mocker, {"pwd_mkdb"}, lambda argv: ToolResult(
        tuple(argv), 1, "", "pwd_mkdb: at line #30\npwd_mkdb: Inappropriate file type or format\n"))
    result = cli("apply", "--platform", "freebsd", "--backend", "files", "--root", root)
    assert result.code == 1
    assert result.err.count("\n") == 1
    assert (
        f"pwd_mkdb -N -p -d {root}/etc {root}/etc/master.passwd: exit 1: pwd_mkdb: at line #30; "
        "pwd_mkdb: Inappropriate file type or format; group, master.passwd written but the databases not rebuilt: "
        "run that command again once it can succeed"
    ) in result.err
