"""Nothing the tool reads besides the account files can make it wait: a
FIFO (or a device, a socket, a directory) at os-release, resolv.conf, the
mount table, the spec or a platform profile is one line on stderr naming
the path, exit 2, and nothing written. Every run is a process of its own
with a timeout, so a hang fails the test instead of hanging the suite."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

import process
from namespace import run_in_namespace
from qmailsetup.errors import EXIT_BAD_INPUT
from qmailsetup.platforms import profiles_dir
from snapshot import snapshot
from trees import debian_tree, write

TIMEOUT = 60  # seconds; a run takes well under one, a blocked one forever


def qmailsetup(*args, hook: str = "") -> subprocess.CompletedProcess:
    """The CLI in a process of its own; HOOK is Python run before it."""
    return process.qmailsetup(*args, hook=hook, check_codes=None, timeout=TIMEOUT)


def make(kind: str, path: Path) -> str:
    """Put a KIND at PATH; how the tool names it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
        return "a FIFO"
    if kind == "directory":
        path.mkdir()
        return "a directory"
    if kind == "socket":
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(path))
        sock.close()
        return "a socket"
    os.mknod(path, 0o644 | 0o020000, os.makedev(1, 3))  # a character device, as /dev/null
    return "a device"


def assert_refused(result: subprocess.CompletedProcess, path, kind: str) -> None:
    assert (result.returncode, result.stdout, result.stderr) == (
        EXIT_BAD_INPUT, "", f"qmailsetup: {path}: {kind}, not a regular file\n",
    )


pytestmark = pytest.mark.root("device nodes and a real apply under --root")


KINDS = ["fifo", "directory", "socket", "device"]


# a FIFO everywhere, the other kinds once each
OS_RELEASE_CASES = [("fifo", where, dry_run) for where in ("etc/os-release", "usr/lib/os-release")
                    for dry_run in (True, False)]
OS_RELEASE_CASES += [(kind, "etc/os-release", True) for kind in KINDS[1:]]


@pytest.mark.slow
@pytest.mark.parametrize("kind, where, dry_run", OS_RELEASE_CASES)
def test_os_release_that_is_no_file(tmp_path, kind, where, dry_run):
    root = debian_tree(tmp_path / "root")
    shown = make(kind, root / where)
    before = snapshot(root)
    result = qmailsetup("apply", *(["--dry-run"] if dry_run else []), "--root", root)
    assert_refused(result, root / where, shown)
    assert snapshot(root) == before


def test_os_release_through_a_symlink(tmp_path):
    """etc/os-release is usually a link to ../usr/lib/os-release: followed
    to a file, it is read; followed to a FIFO, it is refused by its name."""
    root = debian_tree(tmp_path / "root")
    (root / "etc/os-release").symlink_to("../usr/lib/os-release")
    write(root / "usr/lib/os-release", 'ID=alpine\nNAME="Alpine Linux"\n')
    result = qmailsetup("apply", "--dry-run", "--root", root, hook="import shutil; shutil.which = lambda *args, **kwargs: None")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"qmailsetup dry run: {root} (platform alpine, backend files)\n")
    (root / "usr/lib/os-release").unlink()
    os.mkfifo(root / "usr/lib/os-release")
    assert_refused(qmailsetup("apply", "--dry-run", "--root", root), root / "etc/os-release", "a FIFO")


@pytest.mark.parametrize("kind", KINDS)
def test_resolv_conf_that_is_no_file(tmp_path, kind):
    root = debian_tree(tmp_path / "root")
    shown = make(kind, root / "etc/resolv.conf")
    before = snapshot(root)
    assert_refused(qmailsetup("check", "--root", root, "--platform", "linux"), root / "etc/resolv.conf", shown)
    assert snapshot(root) == before


SPEC_COMMANDS = [["apply"], ["apply", "--dry-run"], ["check"], ["env"], ["export", "--format", "json"]]
SPEC_CASES = [("fifo", command) for command in SPEC_COMMANDS] + [(kind, ["apply", "--dry-run"]) for kind in KINDS[1:]]


@pytest.mark.slow
@pytest.mark.parametrize("kind, command", SPEC_CASES)
def test_spec_that_is_no_file(tmp_path, kind, command):
    root = debian_tree(tmp_path / "root")
    spec = tmp_path / "spec.toml"
    shown = make(kind, spec)
    before = snapshot(root)
    where = [] if command[0] == "export" else ["--root", root]
    result = qmailsetup(*command, "--spec", spec, *where, "--platform", "linux")
    assert (result.returncode, result.stdout, result.stderr) == (
        EXIT_BAD_INPUT, "", f"qmailsetup: {spec}: cannot read spec: {shown}, not a regular file\n",
    )
    assert snapshot(root) == before


@pytest.mark.parametrize("platform", ["auto", "linux"])
def test_platform_profile_that_is_no_file(tmp_path, platform):
    """A FIFO among the profiles (the test hook points the tool at a copy
    of platforms/): --platform auto reads every profile, so it meets it too."""
    profiles = tmp_path / "platforms"
    profiles.mkdir()
    for source in profiles_dir().glob("*.toml"):
        if source.name != "linux.toml":
            (profiles / source.name).write_bytes(source.read_bytes())
    os.mkfifo(profiles / "linux.toml")
    root = debian_tree(tmp_path / "root")
    before = snapshot(root)
    hook = f"import qmailsetup.platforms as p; from pathlib import Path; p.profiles_dir = lambda: Path({str(profiles)!r})"
    result = qmailsetup("apply", "--dry-run", "--root", root, "--platform", platform, hook=hook)
    assert (result.returncode, result.stdout, result.stderr) == (
        EXIT_BAD_INPUT, "",
        f"qmailsetup: {profiles}/linux.toml: cannot read platform profile: a FIFO, not a regular file\n",
    )
    assert snapshot(root) == before


def test_mount_table_that_is_no_file(tmp_path, privileged):
    """In a mount namespace of its own, /proc is a tmpfs whose
    self/mountinfo is a FIFO: check names it and ends at once."""
    root = debian_tree(tmp_path / "root")
    before = snapshot(root)
    done = run_in_namespace(tmp_path, f"""
        mount -t tmpfs tmpfs /proc
        mkdir /proc/self
        mkfifo /proc/self/mountinfo
        cd {Path(__file__).parent.parent}
        timeout {TIMEOUT} $QMAILSETUP check --root {root} --platform linux
    """)
    assert (done.returncode, done.stdout, done.stderr) == (
        EXIT_BAD_INPUT, "", "qmailsetup: /proc/self/mountinfo: a FIFO, not a regular file\n",
    )
    assert snapshot(root) == before
