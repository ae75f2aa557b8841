"""The Target (target.py) on its own: where a path of a tree under --root
resolves (inside the root, as RESOLVE_IN_ROOT), how it is named, and which
ways through links root alone could have made (the safe-path rule), so
that a link in someone else's tree never leads the tool out of it or onto
a directory others may change."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from conftest import cli
from qmailsetup.target import MAX_LINKS, Target
from trees import debian_tree


def directory(root: Path, path: str, mode: int = 0o755, uid: int = 0) -> None:
    made = root / path.lstrip("/")
    made.mkdir(parents=True, exist_ok=True)
    os.chown(made, uid, 0)
    made.chmod(mode)


def link(root: Path, path: str, to: str) -> None:
    (root / path.lstrip("/")).symlink_to(to)


@pytest.fixture
def root(tmp_path) -> Path:
    made = tmp_path / "root"
    made.mkdir()
    made.chmod(0o755)
    return made


# where a path resolves, as any user sees it


def test_a_missing_directory_keeps_every_name_written_after_it(root):
    (root / "var/qmail").mkdir(parents=True)
    target = Target(root)
    assert target.resolve("/var/qmail/alias/.qmail/x") == "/var/qmail/alias/.qmail/x"
    assert target.real_path("/var/qmail/alias/x") == root / "var/qmail/alias/x"


def test_a_name_under_a_file_is_kept_as_written(root):
    (root / "etc").mkdir()
    (root / "etc/passwd").write_text("")
    assert Target(root).resolve("/etc/passwd/x/y") == "/etc/passwd/x/y"


def test_dot_in_a_link_is_no_name(root):
    (root / "srv/queue").mkdir(parents=True)
    link(root, "/q", "./srv/./queue")
    link(root, "/e", "/./etc/")
    target = Target(root)
    assert target.resolve("/q") == "/srv/queue"
    assert target.resolve("/e") == "/etc"
    assert target.resolve("/./srv/.") == "/srv"


@pytest.mark.parametrize("name", [" ", "X", "XX", "-", "queue"])
def test_a_relative_link_to_any_name_leads_to_it(root, name):
    (root / "srv" / name).mkdir(parents=True)
    link(root, "/srv/qmail", name)
    link(root, "/slash", "/")
    target = Target(root)
    assert target.resolve("/srv/qmail/mess") == f"/srv/{name}/mess"
    assert target.resolve("/slash/srv/qmail") == f"/srv/{name}"


def test_dot_dot_never_climbs_above_the_root(root):
    (root / "srv").mkdir()
    link(root, "/srv/up", "../../..")
    assert Target(root).resolve("/srv/up/etc") == "/etc"
    assert Target(root).resolve("/../../srv") == "/srv"


@pytest.mark.parametrize("count, resolves", [(MAX_LINKS, True), (MAX_LINKS + 1, False)])
def test_a_chain_of_links_resolves_up_to_the_kernels_limit(root, count, resolves):
    (root / "end").mkdir()
    for number in range(count):
        link(root, f"/l{number}", f"/l{number + 1}" if number + 1 < count else "/end")
    followed: list[str] = []
    if resolves:
        assert Target(root).resolve("/l0/x", followed) == "/end/x"
        assert followed == [f"/l{number}" for number in range(count)]
    else:
        with pytest.raises(OSError) as error:
            Target(root).resolve("/l0/x")
        assert error.value.errno == errno.ELOOP
        assert str(error.value) == f"[Errno {errno.ELOOP}] more than {MAX_LINKS} symlinks on the way: '{root}/l0/x'"


def test_a_tree_path_is_named_with_the_root_in_front(root):
    target = Target(root)
    for path in ("/XX", "/X/qmail", "/var/qmail"):
        assert target.shown(path) == f"{root}{path}"
        assert target.host_path(path) == root / path[1:]
    assert not target.live
    assert Target(Path("/")).live and Target(Path("/")).shown("/var/qmail") == "/var/qmail"


# which ways root alone could have made: root's tree (chown)

root_tree = pytest.mark.root("the tree is made root's, and others' (chown)")


def distrust(root: Path, path: str) -> str | None:
    target = Target(root)
    followed: list[str] = []
    real = target.resolve(path, followed)
    assert followed, "the path goes through no link"
    return target.distrust(followed, real)


def others_may_change(root: Path, path: str, mode: int, uid: int = 0) -> str:
    return f"{root}{path} may be changed by others than root (owner {uid}, group 0, mode {mode:04o})"


@root_tree
def test_links_root_made_in_a_sticky_directory_are_followed(root):
    """A sticky directory (as /tmp) keeps the link root owns in it root's;
    a name others could make beside the way (/XX) does not matter."""
    directory(root, "/tmp", 0o1777)
    directory(root, "/srv/q")
    directory(root, "/XX", 0o777)
    link(root, "/tmp/qmail", "/srv/q")
    link(root, "/qmail", "/q")
    directory(root, "/q")
    assert distrust(root, "/tmp/qmail") is None
    assert distrust(root, "/tmp/qmail/alias/x") is None
    assert distrust(root, "/qmail") is None


@root_tree
def test_a_link_in_a_directory_others_may_write_is_not_followed(root):
    directory(root, "/srv", 0o777)
    directory(root, "/opt/q")
    link(root, "/srv/qmail", "/opt/q")
    assert distrust(root, "/srv/qmail") == others_may_change(root, "/srv", 0o777)
    assert distrust(root, "/srv/qmail/alias") == others_may_change(root, "/srv", 0o777)


@root_tree
def test_a_link_to_a_sticky_directory_is_not_followed(root):
    """Where a link leads is the directory qmail's would be: anyone may
    plant a name in a sticky one."""
    directory(root, "/var")
    directory(root, "/pub", 0o1777)
    link(root, "/var/qmail", "/pub")
    assert distrust(root, "/var/qmail") == others_may_change(root, "/pub", 0o1777)


@root_tree
@pytest.mark.parametrize("mode", [0o777, 0o1777])
def test_a_link_whose_way_on_beneath_it_others_may_change_is_not_followed(root, mode):
    """The link is root's, and where it leads too: the directory beneath,
    which would hold the path, is not (a sticky one holds no name root has
    not made there yet safely)."""
    directory(root, "/var")
    directory(root, "/srv/q")
    directory(root, "/srv/q/alias", mode)
    link(root, "/var/qmail", "/srv/q")
    assert distrust(root, "/var/qmail/alias/x") == others_may_change(root, "/srv/q/alias", mode)
    assert distrust(root, "/var/qmail/alias/sub/x") == others_may_change(root, "/srv/q/alias", mode)


@root_tree
@pytest.mark.parametrize("owner, trusted", [(0, True), (1000, False)])
def test_what_root_owns_in_a_sticky_directory_beneath_a_link_is_root_s(root, owner, trusted):
    directory(root, "/var")
    directory(root, "/srv/q")
    directory(root, "/srv/q/alias", 0o1777)
    directory(root, "/srv/q/alias/x", uid=owner)
    link(root, "/var/qmail", "/srv/q")
    found = distrust(root, "/var/qmail/alias/x")
    assert found is None if trusted else found == others_may_change(root, "/srv/q/alias", 0o1777)


@root_tree
def test_a_link_to_a_system_directory_written_with_dots_is_named(root):
    directory(root, "/var")
    link(root, "/var/qmail", "/./etc/.")
    assert distrust(root, "/var/qmail") == f"it leads to {root}/etc, a system directory, never qmail's"


@root_tree
def test_the_directory_a_missing_path_would_be_made_in_must_be_root_s_alone(root):
    target = Target(root)
    directory(root, "/etc", 0o777)
    directory(root, "/pub", 0o1777)
    directory(root, "/opt")
    assert target.untrusted_directory("/etc/missing/more") == (f"{root}/etc", "owner 0, group 0, mode 0777")
    assert target.untrusted_directory("/etc") == (f"{root}/etc", "owner 0, group 0, mode 0777")
    assert target.untrusted_directory("/opt/missing") is None
    # holding an entry root owns: a sticky directory keeps it, a merely writable one does not
    assert target.untrusted_directory("/pub", holding_roots=True) is None
    assert target.untrusted_directory("/pub") == (f"{root}/pub", "owner 0, group 0, mode 1777")
    assert target.untrusted_directory("/etc", holding_roots=True) == (f"{root}/etc", "owner 0, group 0, mode 0777")


# a way through a regular file (a link to a file, and names beneath it)


@root_tree
def test_a_way_through_a_regular_file_is_judged_not_an_error(root):
    """/var a link to a file: what the spec wants beneath it can never be
    made, which the walk after says (blocked by the file); judging the way
    must not fail on the file first."""
    directory(root, "/srv")
    (root / "srv/file").write_text("")
    link(root, "/var", "/srv/file")
    target = Target(root)
    assert target.untrusted_directory("/srv/file/qmail/alias") is None
    assert distrust(root, "/var/qmail/alias") is None
    (root / "srv/file").chmod(0o666)
    assert target.untrusted_directory("/srv/file/qmail") == (f"{root}/srv/file", "owner 0, group 0, mode 0666")


@root_tree
def test_qmail_s_directories_through_a_link_to_a_file_are_a_conflict(tmp_path):
    root = debian_tree(tmp_path / "root")
    root.chmod(0o755)
    (root / "srv").mkdir()
    (root / "srv/file").write_text("")
    link(root, "/var", "/srv/file")
    result = cli("apply", "--dry-run", "--platform", "linux", "--root", root)
    assert result.code == 3, result.err
    assert "path /var/qmail/alias: conflict: /srv/file is a symlink or not a directory" in result.out
    assert "Errno" not in result.err
