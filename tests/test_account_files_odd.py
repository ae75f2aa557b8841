"""Odd things where account files, locks and leftovers belong (a FIFO, a
socket, a directory) and files that cannot be replaced (a read-only bind
mount over one file, chattr +i/+a on a file or on etc, too few inodes):
never a hang, one line with the documented exit code, and the whole tree
as it was (README, "Safety rules"). Each run is a subprocess with a
timeout, so a hang fails its test instead of the suite."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import namespace
import pytest
from conftest import dead_pid, require_tools, skip_or_fail
from process import EPOCH, apply_files
from snapshot import snapshot, without_pwd_lock
from trees import debian_tree

HANG = 60  # seconds: far beyond any run here; reaching it means a hang
TESTS = Path(__file__).parent


@pytest.fixture(autouse=True)
def as_root():
    if os.geteuid() != 0:
        skip_or_fail("needs root (chown of the account files)")


def run(root: Path, *extra: str) -> subprocess.CompletedProcess:
    return apply_files(root, *extra, extra_env={"QMAILSETUP_LOCK_TIMEOUT": "2"}, check_codes=None, timeout=HANG)


def fifo(path: Path) -> None:
    os.mkfifo(path)


def unix_socket(path: Path) -> None:
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.close()  # the socket file stays


def directory(path: Path) -> None:
    path.unlink(missing_ok=True)
    path.mkdir()


def replacing(make):
    def put(path: Path) -> None:
        path.unlink(missing_ok=True)
        make(path)
    return put


# name in etc, what is put there, exit code, the error after "qmailsetup: ROOT/etc/NAME: "
NOT_REGULAR = {
    "fifo-at-passwd": ("passwd", replacing(fifo), 2, "a FIFO, not a regular file"),
    "directory-at-shadow": ("shadow", directory, 2, "a directory, not a regular file"),
    "socket-at-group": ("group", replacing(unix_socket), 2, "a socket, not a regular file"),
    "fifo-at-passwd.lock": ("passwd.lock", fifo, 1,
                            "cannot lock: a FIFO, not a regular file; done before the failure: nothing"),
    "fifo-at-.pwd.lock": (".pwd.lock", fifo, 1,
                          "cannot lock: a FIFO, not a regular file; done before the failure: nothing"),
    "socket-at-group.lock": ("group.lock", unix_socket, 1,
                             "cannot lock: a socket, not a regular file; done before the failure: nothing"),
    "directory-at-gshadow.lock": ("gshadow.lock", directory, 1,
                                  "cannot lock: a directory, not a regular file; done before the failure: nothing"),
    "fifo-at-the-backup-shadow-": ("shadow-", fifo, 1,
                                   "a FIFO, not a regular file; cannot keep the backup there; nothing written"),
}


@pytest.mark.parametrize("case", NOT_REGULAR)
def test_no_regular_file_where_one_belongs_is_one_line_and_nothing_written(tmp_path, case):
    name, make, code, why = NOT_REGULAR[case]
    root = debian_tree(tmp_path / "root")
    make(root / "etc" / name)
    before = snapshot(root)

    result = run(root)

    assert result.returncode == code, result.stderr
    assert result.stderr == f"qmailsetup: {root}/etc/{name}: {why}\n"
    assert without_pwd_lock(snapshot(root)) == without_pwd_lock(before)
    # the dry run does not hang either, and says the same of the account files
    dry = run(root, "--dry-run")
    assert dry.returncode == (code if code == 2 else 0), dry.stderr


@pytest.mark.parametrize("pid", [4242, "dead"])
@pytest.mark.parametrize("make", [fifo, unix_socket, directory], ids=["fifo", "socket", "directory"])
def test_a_leftover_that_is_no_regular_file_is_left_alone(tmp_path, pid, make):
    """passwd.<pid> is shadow-utils' lock candidate, removed when it holds
    "<pid>\\0" of a dead process; anything else there is not one: never
    opened so that it could block, never removed, and the run goes on."""
    root = debian_tree(tmp_path / "root")
    leftover = root / "etc" / f"passwd.{dead_pid() if pid == 'dead' else pid}"
    make(leftover)
    kind = os.lstat(leftover).st_mode

    result = run(root)

    assert result.returncode == 0, result.stderr
    assert b"qmaild" in (root / "etc/passwd").read_bytes()
    assert os.lstat(leftover).st_mode == kind
    assert run(root, "--detailed-exitcode").returncode == 0, "in sync"


# --- files that cannot be replaced (private mount namespaces) ------------------

SNAPSHOT = f'{sys.executable} -c "import json, sys; sys.path.insert(0, \'{TESTS}\'); ' \
           'from snapshot import snapshot; print(json.dumps(snapshot(sys.argv[1])))"'
APPLY = f'{sys.executable} -m qmailsetup apply --platform linux --backend files --root "$ROOT"'
SCRIPT = """\
mount -t tmpfs -o mode=0755,nr_inodes=$INODES tmpfs "$ROOT/etc"
cp -a "$TEMPLATE/etc/." "$ROOT/etc/"
eval "$PREPARE"
%(snapshot)s "$ROOT" >"$OUT/before"
%(apply)s >/dev/null 2>"$OUT/stderr"; echo $? >"$OUT/exit"
%(snapshot)s "$ROOT" >"$OUT/after"
eval "$UNDO"
""" % {"snapshot": SNAPSHOT, "apply": APPLY}

# what is done before the run, its undoing, the error after "qmailsetup: "
UNREPLACEABLE = {
    "read-only-bind-mount-over-shadow": (
        'mount --bind "$ROOT/etc/shadow" "$ROOT/etc/shadow" && mount -o remount,bind,ro "$ROOT/etc/shadow"', "",
        "{root}/etc/shadow: on a read-only mount (a bind mount over the file?); nothing written",
    ),
    "writable-bind-mount-over-passwd": (
        'cp -a "$ROOT/etc/passwd" "$TEMPLATE/passwd.mounted" && mount --bind "$TEMPLATE/passwd.mounted" "$ROOT/etc/passwd"',
        "",
        "{root}/etc/passwd: a mount point (a bind mount over the file), which a rename cannot replace; nothing written",
    ),
    "immutable-group": (
        'chattr +i "$ROOT/etc/group"', 'chattr -i "$ROOT/etc/group"',
        "{root}/etc/group: immutable (chattr -i/-a to edit); nothing written",
    ),
    "append-only-passwd": (
        'chattr +a "$ROOT/etc/passwd"', 'chattr -a "$ROOT/etc/passwd"',
        "{root}/etc/passwd: append-only (chattr -i/-a to edit); nothing written",
    ),
    "immutable-backup-gshadow-": (
        'cp -a "$ROOT/etc/gshadow" "$ROOT/etc/gshadow-" && chattr +i "$ROOT/etc/gshadow-"',
        'chattr -i "$ROOT/etc/gshadow-"',
        "{root}/etc/gshadow-: immutable (chattr -i/-a to edit); nothing written",
    ),
    "immutable-etc": (
        'chattr +i "$ROOT/etc"', 'chattr -i "$ROOT/etc"',
        "{root}/etc: the directory is immutable (chattr -i/-a to edit); nothing written",
    ),
    "append-only-etc": (
        'chattr +a "$ROOT/etc"', 'chattr -a "$ROOT/etc"',
        "{root}/etc: the directory is append-only (chattr -i/-a to edit); nothing written",
    ),
}


def in_namespace(tmp_path: Path, prepare: str, undo: str, inodes: int = 1000) -> tuple[Path, Path]:
    template = debian_tree(tmp_path / "template")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    out = tmp_path / "out"
    out.mkdir()
    result = namespace.in_namespace(
        SCRIPT, timeout=HANG, ROOT=str(root), TEMPLATE=str(template), OUT=str(out), PREPARE=prepare, UNDO=undo,
        INODES=str(inodes), SOURCE_DATE_EPOCH=EPOCH, QMAILSETUP_LOCK_TIMEOUT="2",
    )
    assert result.returncode == 0, result.stderr
    return root, out


@pytest.mark.parametrize("case", UNREPLACEABLE)
def test_a_file_that_cannot_be_replaced_is_found_before_the_first_write(tmp_path, privileged, case):
    require_tools("chattr")
    prepare, undo, why = UNREPLACEABLE[case]
    root, out = in_namespace(tmp_path, prepare, undo)

    assert (out / "exit").read_text() == "1\n", (out / "stderr").read_text()
    assert (out / "stderr").read_text() == f"qmailsetup: {why.format(root=root)}\n"
    before, after = json.loads((out / "before").read_text()), json.loads((out / "after").read_text())
    assert after == before


def test_too_few_inodes_is_found_before_the_first_write(tmp_path, privileged):
    """A tmpfs etc with room for the files and their backups in bytes, but
    not in inodes: 2 per account file (backup, lock) and 2 more (the
    temporary copy, lckpwdf's lock) are needed at the peak."""
    # the tree's entries (etc, 4 account files, login.defs...) take the rest
    files = len(list((debian_tree(tmp_path / "count") / "etc").iterdir()))
    root, out = in_namespace(tmp_path, "", "", inodes=files + 1 + 5)

    assert (out / "exit").read_text() == "1\n", (out / "stderr").read_text()
    assert (out / "stderr").read_text() == (
        f"qmailsetup: {root}/etc: no free inodes (5 free, 10 needed to rewrite the account files safely); "
        "nothing written\n"
    )
    assert json.loads((out / "after").read_text()) == json.loads((out / "before").read_text())
