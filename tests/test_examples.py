"""The shipped specs (src/qmailsetup/specs/): the well-known fixed-ID specs
validate, carry the IDs of their sources, and meet an account with another ID as a conflict naming both
numbers: exit 3, nothing written, nothing run, never a renumbering."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import cli
from qmail_layout import QMAIL_USERS
from qmailsetup.spec import load_spec
from snapshot import snapshot, without_pwd_lock
from trees import EXAMPLES, append, bsd_tree, debian_tree, master_line

# example -> (groups with GIDs, first UID, shell, the platform and tree to try it on)
EXPECTED = {
    "install-ids.toml": ({"qmail": 2107, "nofiles": 2108}, 7790, "/bin/true", "linux"),
    "freebsd-ports.toml": ({"qnofiles": 81, "qmail": 82}, 81, "/nonexistent", "freebsd"),
    "gentoo.toml": ({"nofiles": 200, "qmail": 201}, 200, None, "linux"),
}


def test_every_example_is_covered():
    from test_profiles import PROFILES  # the forks' and distributions' profiles

    assert sorted(p.name for p in EXAMPLES.glob("*.toml")) == sorted([*EXPECTED, *(f"{p}.toml" for p in PROFILES)])


@pytest.mark.parametrize("example", EXPECTED)
def test_example_validates_with_its_sources_ids(example):
    groups, first_uid, shell, _ = EXPECTED[example]
    spec = load_spec(EXAMPLES / example)
    assert {g.name: g.gid for g in spec.groups} == groups
    assert [(u.name, u.uid) for u in spec.users] == [(name, first_uid + i) for i, name in enumerate(QMAIL_USERS)]
    assert {u.shell for u in spec.users} == {shell}
    assert all(u.group in groups for u in spec.users)
    # nofiles for the four daemons that must own nothing, qmail for the rest
    assert [u.group == "qmail" for u in spec.users] == [False] * 4 + [True] * 3
    assert {(p.path, p.owner, p.group, p.mode) for p in spec.paths} == {
        ("/var/qmail", "root", "qmail", "0755"), ("/var/qmail/alias", "alias", "qmail", "02755"),
    }
    text = (EXAMPLES / example).read_text()
    assert text.startswith("# ") and ("INSTALL.ids" in text or "ports/UIDs" in text or "acct-user" in text)


def host_with_alias_renumbered(root: Path, platform: str, uid: int) -> None:
    if platform == "freebsd":
        bsd_tree(root, "freebsd")
        append(root, "master.passwd", [master_line("alias", uid, 65533, "/var/qmail/alias", "/nonexistent")])
    else:
        debian_tree(root)
        append(root, "passwd", [f"alias:x:{uid}:65534::/var/qmail/alias:/usr/sbin/nologin"])
        append(root, "shadow", ["alias:!:19000::::::"])


@pytest.mark.parametrize("example", EXPECTED)
def test_an_account_with_another_id_is_a_conflict_naming_both_numbers(tmp_path, mocker, example):
    _groups, first_uid, _, platform = EXPECTED[example]
    root = tmp_path / "root"
    host_with_alias_renumbered(root, platform, 4321)
    run = mocker.patch("qmailsetup.tools.run_tool")
    before = snapshot(root)
    result = cli("apply", "--platform", platform, "--root", root, "--spec", EXAMPLES / example)
    assert result.code == 3
    assert result.err == (
        f"qmailsetup: refused, nothing written: user alias: uid is 4321 on the host, the spec says {first_uid}; "
        "qmail compiles UIDs in, so an account is never renumbered\n"
    )
    assert without_pwd_lock(snapshot(root)) == without_pwd_lock(before)
    run.assert_not_called()


def test_a_group_with_another_gid_is_a_conflict_naming_both_numbers(tmp_path, mocker):
    root = bsd_tree(tmp_path / "root", "freebsd")
    append(root, "group", ["qmail:*:1002:"])
    run = mocker.patch("qmailsetup.tools.run_tool")
    before = snapshot(root)
    result = cli("apply", "--json", "--platform", "freebsd", "--root", root, "--spec", EXAMPLES / "freebsd-ports.toml")
    assert result.code == 3
    assert "group qmail: gid is 1002 on the host, the spec says 82" in result.err
    assert snapshot(root) == before
    run.assert_not_called()


def test_spec_names_a_shipped_spec_and_a_path_still_works(tmp_path):
    """--spec install-ids is the shipped spec, whatever the current
    directory holds; a value with a '/' or ending in .toml is a file."""
    root = debian_tree(tmp_path / "root")
    args = ("apply", "--dry-run", "--platform", "linux", "--backend", "files", "--root", root)
    by_name = cli(*args, "--spec", "install-ids")
    by_path = cli(*args, "--spec", EXAMPLES / "install-ids.toml")
    assert by_name.code == 0, by_name.err
    assert by_name.out == by_path.out and "    uid: 7790\n" in by_name.out
    own = tmp_path / "install-ids"
    own.write_text('[[groups]]\nname = "mine"\n')
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)
        assert cli(*args, "--spec", "install-ids").out == by_name.out
        assert "+ group mine: create" in cli(*args, "--spec", "./install-ids").out
    finally:
        os.chdir(cwd)


@pytest.mark.parametrize("command", [["apply", "--dry-run"], ["check"], ["env"], ["export", "--format", "json"]])
def test_a_spec_name_that_is_not_shipped_is_one_line_naming_those_that_are(tmp_path, command):
    result = cli(*command, "--spec", "install-id")
    assert (result.code, result.out) == (2, "")
    assert result.err == (
        "qmailsetup: --spec install-id: no such shipped spec (debian-netqmail, freebsd-ports, gentoo, install-ids, "
        "s-qmail, void-sqmail); a file is named with a '/' or '.toml' (./install-id)\n"
    )
