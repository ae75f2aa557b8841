"""Under --root every path the tool reads or names resolves inside the root
(an absolute link taken from the root, `..` stopping at it), and a remedy
never names a path outside it; a queue of any depth, or a link at it
pointing at /, is judged without a traceback."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from conftest import cli
from qmailsetup.platforms import read_os_release
from qmailsetup.target import MAX_LINKS, Target
from scenarios import build


def findings(root: Path) -> list[dict]:
    result = cli("check", "--platform", "linux", "--root", root, "--json")
    assert result.code in (0, 3), result.err
    assert "Traceback" not in result.err
    return json.loads(result.out)["findings"]


def absolute_paths(text: str) -> list[str]:
    return re.findall(r"(?:^|(?<=[\s(]))/[\w./+-]*", text)


@pytest.fixture
def image(tmp_path) -> Path:
    root = tmp_path / "image"
    root.mkdir()
    build("provisioned", root)
    return root


def test_links_resolve_inside_the_root(tmp_path):
    root = tmp_path / "root"
    (root / "var/qmail").mkdir(parents=True)
    (root / "srv/queue").mkdir(parents=True)
    target = Target(root)
    (root / "var/qmail/queue").symlink_to("/srv/queue")
    assert target.resolve("/var/qmail/queue") == "/srv/queue"
    (root / "var/qmail/up").symlink_to("../../../../../../srv")
    assert target.resolve("/var/qmail/up/queue/mess") == "/srv/queue/mess"
    (root / "var/qmail/host").symlink_to("/")
    assert target.resolve("/var/qmail/host/etc") == "/etc"
    assert target.real_path("/var/qmail/host/etc") == root / "etc"
    assert target.resolve("/var/qmail/missing/../queue") == "/var/qmail/queue"


def test_a_loop_of_links_is_an_error_not_a_hang(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "a").symlink_to("/b")
    (root / "b").symlink_to("/a")
    with pytest.raises(OSError) as error:
        Target(root).resolve("/a/x")
    assert str(MAX_LINKS) in str(error.value)


@pytest.mark.root("the image is made with qmail's owners (chown)")
def test_an_absolute_link_at_the_queue_is_the_images_never_the_hosts(image):
    # the host's /usr/local exists and is root's; the image has none
    (image / "var/qmail/queue").symlink_to("/usr/local")
    found = findings(image)
    queue = next(f for f in found if f["id"] == "queue.owner")
    assert queue["severity"] == "info" and "does not exist yet" in queue["message"]
    for finding in found:
        for path in absolute_paths(finding["remedy"] or ""):
            assert path.startswith(str(image)) or path == "/etc/fstab", (finding, path)
        if finding["id"].startswith(("fs.", "queue.")):
            assert "/usr/local" not in finding["message"].replace(str(image), "")


@pytest.mark.root("the image is made with qmail's owners (chown)")
def test_the_remedy_for_a_linked_queue_names_where_it_really_is(image):
    queue = image / "srv/queue"
    (queue / "mess").mkdir(parents=True)
    os.chown(queue, 999, 999)
    (image / "var/qmail/queue").symlink_to("/srv/queue")
    (queue / "mess").chmod(0o700)
    found = next(f for f in findings(image) if f["id"] == "queue.owner")
    assert found["severity"] == "error"
    assert f"chown qmailq:qmail {queue};" in found["remedy"]
    assert f"chmod 0750 {queue}/mess" in found["remedy"]
    assert "/var/qmail/queue" not in found["remedy"]


@pytest.mark.root("the image is made with qmail's owners (chown)")
@pytest.mark.parametrize("link", ["/", "..", "/var"])
def test_a_link_at_the_queue_to_slash_or_above_is_no_queue(image, link):
    (image / "var/qmail/queue").symlink_to(link)
    found = next(f for f in findings(image) if f["id"] == "queue.owner")
    assert found["severity"] == "error"
    assert "which holds qmail's home: not a queue" in found["message"]
    assert found["remedy"].startswith(f"remove the link {image}/var/qmail/queue;")


DEPTH = 1500


def chain(top: Path, remove: bool = False) -> None:
    """DEPTH directories d/d/d/... in TOP, made (or removed) through
    descriptors: no path grows past PATH_MAX, and no recursion (shutil.rmtree
    and pytest's clean-up of old temporary directories would meet their
    limit)."""
    fds = [os.open(top, os.O_RDONLY | os.O_DIRECTORY)]
    try:
        for _ in range(DEPTH):
            if not remove:
                os.mkdir("d", dir_fd=fds[-1])
            fds.append(os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fds[-1]))
        if remove:
            for parent in reversed(fds[:-1]):
                os.rmdir("d", dir_fd=parent)
    finally:
        for fd in fds:
            os.close(fd)


@pytest.mark.root("the image is made with qmail's owners (chown)")
def test_a_queue_deeper_than_the_recursion_limit(image):
    deep = image / "var/qmail/queue/mess/0"
    deep.mkdir(parents=True)
    chain(deep)
    try:
        found = findings(image)
    finally:
        chain(deep, remove=True)
    queue_finding = next(f for f in found if f["id"] == "queue.owner")
    assert queue_finding["severity"] == "error"
    assert "mess/0/d is" in queue_finding["message"] and "(a directory)" in queue_finding["message"]


def test_login_defs_through_an_absolute_link_is_the_trees_own(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    build("fresh_debian", root)
    (root / "srv").mkdir()
    (root / "srv/defs").write_text("SYS_UID_MIN 600\nSYS_UID_MAX 699\nSYS_GID_MIN 600\nSYS_GID_MAX 699\n")
    (root / "etc/login.defs").unlink()
    (root / "etc/login.defs").symlink_to("/srv/defs")  # on this host: no /srv/defs, or another one
    result = cli("apply", "--dry-run", "--json", "--platform", "linux", "--root", root)
    assert result.code == 0, result.err
    uids = [c["fields"]["uid"]["desired"] for c in json.loads(result.out)["changes"] if c["kind"] == "user"]
    assert uids and all(600 <= uid <= 699 for uid in uids)


def test_os_release_through_an_absolute_link_is_the_trees_own(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    build("fresh_alpine", root)
    (root / "usr/lib").mkdir(parents=True)
    (root / "usr/lib/os-release.alpine").write_text("ID=alpine\n")
    (root / "etc/os-release").unlink(missing_ok=True)
    (root / "etc/os-release").symlink_to("/usr/lib/os-release.alpine")
    assert read_os_release(root)["ID"] == "alpine"
