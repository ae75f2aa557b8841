"""Links an administrator made: /var/qmail -> /srv/qmail, a queue on another
disk. A link is followed when it and every directory on the way to where
it leads are root's alone (the safe-path rule; a sticky directory is safe
for what root owns in it), and the plan says so; the spec may declare a
link, which apply makes and check verifies; any other link is a conflict
that says what to do. Under --root a link resolves inside the root."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import cli
from trees import debian_tree, write

LINKED_QUEUE = """\
[[groups]]
name = "qmail"
[[groups]]
name = "nofiles"
[[users]]
name = "alias"
group = "nofiles"
home = "/var/qmail/alias"
[[users]]
name = "qmailq"
group = "qmail"
home = "/var/qmail"
[[paths]]
path = "/var/qmail"
owner = "root"
group = "qmail"
mode = "0755"
[[paths]]
path = "/var/qmail/queue"
link = "/var/spool/qmail"
owner = "qmailq"
group = "qmail"
mode = "0750"
"""


def apply(root: Path, *args):
    return cli("apply", "--platform", "linux", "--root", root, *args)


def plan(root: Path, *args) -> dict:
    result = apply(root, "--dry-run", "--json", *args)
    return json.loads(result.out) | {"code": result.code}


@pytest.fixture
def linked(tmp_path) -> Path:
    """A tree whose /var/qmail is root's link to /srv/qmail (absolute: taken
    from the root, never the host's /srv)."""
    root = debian_tree(tmp_path / "root")
    (root / "srv/qmail").mkdir(parents=True)
    (root / "var").mkdir()
    (root / "var/qmail").symlink_to("/srv/qmail")
    return root


@pytest.mark.root("links are trusted only where root alone could have made them")
def test_a_link_root_alone_made_is_followed_and_said(linked):
    shown = plan(linked)
    assert shown["code"] == 0 and not shown["conflicts"]
    assert "path /var/qmail: links on the way lead to /srv/qmail, and root alone could have made them: followed" \
        in shown["notes"]
    result = apply(linked)
    assert result.code == 0, result.err
    alias = os.lstat(linked / "srv/qmail/alias")
    assert oct(alias.st_mode & 0o7777) == "0o2755"
    assert os.path.islink(linked / "var/qmail")
    again = plan(linked)
    assert (again["code"], again["conflicts"], again["in_sync"]) == (0, [], True)
    assert not Path("/srv/qmail/alias").exists()


@pytest.mark.root("links are trusted only where root alone could have made them")
def test_what_apply_made_under_a_followed_link_is_in_sync_for_check(linked):
    # alias's home, alias's own under the link, is what is managed, not a
    # directory on the way: a second look finds it in sync, no conflict
    assert apply(linked).code == 0
    assert os.lstat(linked / "srv/qmail/alias").st_uid != 0
    check = json.loads(cli("check", "--platform", "linux", "--root", linked, "--json").out)
    assert not [f["message"] for f in check["findings"] if f["id"] == "account.conflict"]
    paths = next(f for f in check["findings"] if f["id"] == "path.owner-mode")
    assert paths["severity"] == "ok"


@pytest.mark.root("links are trusted only where root alone could have made them")
@pytest.mark.parametrize("how", ["sticky", "sticky-others-link"])
def test_a_sticky_directory_on_the_way_is_safe_for_what_root_owns(linked, how):
    (linked / "srv").chmod(0o1777)
    if how == "sticky-others-link":
        # another user's link in a sticky directory: theirs to change
        (linked / "srv/mine").symlink_to("/srv/qmail")
        os.lchown(linked / "srv/mine", 1000, 1000)
        (linked / "var/qmail").unlink()
        (linked / "var/qmail").symlink_to("/srv/mine")
    shown = plan(linked)
    assert (shown["code"], bool(shown["conflicts"])) == ((0, False) if how == "sticky" else (3, True))


@pytest.mark.root("links are trusted only where root alone could have made them")
@pytest.mark.parametrize("how", ["owned-by-another", "leads-to-anothers", "writable-directory", "link-not-roots"])
def test_a_link_others_could_change_is_a_conflict_that_says_what_to_do(linked, how):
    if how == "owned-by-another":
        os.chown(linked / "srv", 1000, 1000)
        why = f"{linked}/srv may be changed by others than root (owner 1000"
    elif how == "leads-to-anothers":
        os.chown(linked / "srv/qmail", 1000, 1000)
        why = f"path /var/qmail: /var/qmail is a symlink to /srv/qmail that is not followed: {linked}/srv/qmail " \
            "may be changed by others than root (owner 1000"
    elif how == "writable-directory":
        (linked / "srv").chmod(0o777)
        why = f"{linked}/srv may be changed by others than root (owner 0, group 0, mode 0777)"
    else:
        os.lchown(linked / "var/qmail", 1000, 1000)
        why = f"the link {linked}/var/qmail is owned by uid 1000, not root"
    before = sorted(p.name for p in (linked / "srv/qmail").iterdir())
    result = apply(linked)
    assert result.code == 3
    assert why in result.err
    assert 'declare it in the spec ([[paths]] path = "/var/qmail", link = "/srv/qmail")' in result.err
    assert sorted(p.name for p in (linked / "srv/qmail").iterdir()) == before
    assert b"qmails" not in (linked / "etc/passwd").read_bytes()


@pytest.mark.root("apply chowns /var/qmail and /var/qmail/alias")
def test_a_declared_link_is_made_with_its_directory_and_then_in_sync(tmp_path):
    root = debian_tree(tmp_path / "root")
    spec = tmp_path / "spec.toml"
    write(spec, LINKED_QUEUE)
    result = apply(root, "--spec", spec)
    assert result.code == 0, result.err
    assert os.readlink(root / "var/qmail/queue") == "/var/spool/qmail"
    queue = os.lstat(root / "var/spool/qmail")
    assert oct(queue.st_mode & 0o7777) == "0o750"
    again = plan(root, "--spec", spec)
    assert again["in_sync"] and {"kind": "link", "name": "/var/qmail/queue"} in again["unchanged"]
    check = json.loads(cli("check", "--platform", "linux", "--root", root, "--spec", spec, "--json").out)
    paths = next(f for f in check["findings"] if f["id"] == "path.owner-mode")
    assert paths["severity"] == "ok"


@pytest.mark.parametrize("there, reason", [
    ("directory", "is a directory; the spec wants a link to /var/spool/qmail: move what it holds there"),
    ("other-link", "is a link to /srv/elsewhere; the spec wants one to /var/spool/qmail: remove it"),
])
def test_what_stands_where_a_declared_link_belongs_is_a_conflict(tmp_path, there, reason):
    root = debian_tree(tmp_path / "root")
    (root / "var/qmail").mkdir(parents=True)
    if there == "directory":
        (root / "var/qmail/queue").mkdir()
    else:
        (root / "var/qmail/queue").symlink_to("/srv/elsewhere")
    spec = tmp_path / "spec.toml"
    write(spec, LINKED_QUEUE)
    result = apply(root, "--spec", spec)
    assert result.code == 3
    assert f"link /var/qmail/queue: {reason}" in result.err
    assert not (root / "var/spool/qmail").exists()
    check = json.loads(cli("check", "--platform", "linux", "--root", root, "--spec", spec, "--json").out)
    assert any(f["id"] == "account.conflict" and "/var/qmail/queue" in f["message"] for f in check["findings"])


def test_a_link_cannot_lead_to_the_path_itself(tmp_path):
    spec = tmp_path / "spec.toml"
    write(spec, LINKED_QUEUE.replace('link = "/var/spool/qmail"', 'link = "/var/qmail/queue/x"'))
    result = cli("apply", "--dry-run", "--spec", spec)
    assert result.code == 2
    assert "paths[1]: link: '/var/qmail/queue/x' is '/var/qmail/queue' itself, in it, or above it" in result.err
