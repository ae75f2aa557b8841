"""Odd things where account files, locks and leftovers belong (a FIFO, a
socket, a directory) and files that cannot be replaced (a read-only bind
mount over one file, chattr +i/+a on a file or on etc, too few inodes):
never a hang, one line with the documented exit code, and the whole tree
as it was (qmailsetup(8), SAFETY). Each run is in this process, under a
deadline, so a hang fails its test instead of the suite; those that need
mounts in a mount namespace this thread enters for the run."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import stat
import subprocess
from pathlib import Path
from unittest import mock

import pytest

import namespace
from conftest import Result, cli, dead_pid, require_tools
from process import EPOCH
from snapshot import account_files, snapshot, without_pwd_lock
from trees import bsd_tree, debian_tree

HANG = 60  # seconds: far beyond any run here; reaching it means a hang


pytestmark = pytest.mark.root("chown of the account files")


class Hang(Exception):
    pass


@contextlib.contextmanager
def deadline(seconds: int):
    """SIGALRM after SECONDS interrupts a blocking call (an open of a FIFO)
    of this process's main thread with Hang: the test fails, not the suite."""
    def expired(signum, frame):
        raise Hang(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def run(root: Path, *extra: str, platform: str = "linux") -> Result:
    """apply --backend files, in this process (what mutation testing sees),
    with a fixed clock, a short lock timeout and a deadline."""
    with deadline(HANG), mock.patch.dict(os.environ, {"SOURCE_DATE_EPOCH": EPOCH, "QMAILSETUP_LOCK_TIMEOUT": "2"}):
        return cli("apply", "--platform", platform, "--backend", "files", "--root", root, *extra)


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
                            "cannot lock: a FIFO, not a regular file; nothing written"),
    "fifo-at-.pwd.lock": (".pwd.lock", fifo, 1,
                          "cannot lock: a FIFO, not a regular file; nothing written"),
    "socket-at-group.lock": ("group.lock", unix_socket, 1,
                             "cannot lock: a socket, not a regular file; nothing written"),
    "directory-at-gshadow.lock": ("gshadow.lock", directory, 1,
                                  "cannot lock: a directory, not a regular file; nothing written"),
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

    assert (result.code, result.err) == (code, f"qmailsetup: {root}/etc/{name}: {why}\n")
    assert without_pwd_lock(snapshot(root)) == without_pwd_lock(before)
    # the dry run does not hang either, and says the same of the account files
    dry = run(root, "--dry-run")
    assert dry.code == (code if code == 2 else 0), dry.err


def test_a_fifo_where_pwd_mkdb_writes_passwd_is_bad_input(tmp_path):
    """The BSDs' passwd is made by the post-edit step, not read as an
    account file: the check before the first write finds it."""
    root = bsd_tree(tmp_path / "root", "freebsd")
    os.mkfifo(root / "etc/passwd")
    before = snapshot(root)
    result = run(root, platform="freebsd")
    assert (result.code, result.err) == (2, f"qmailsetup: {root}/etc/passwd: a FIFO, not a regular file\n")
    assert without_pwd_lock(snapshot(root)) == without_pwd_lock(before)


def test_an_account_file_made_a_fifo_after_it_was_read_is_found_before_the_first_write(tmp_path, monkeypatch):
    """Another program puts a FIFO where group was, after the run read it:
    the check before the first write still opens nothing that could
    block, and says so."""
    from qmailsetup import apply as apply_module

    root = debian_tree(tmp_path / "root")
    real = apply_module.preflight

    def meanwhile(*args):
        (root / "etc/group").unlink()
        os.mkfifo(root / "etc/group")
        return real(*args)

    monkeypatch.setattr(apply_module, "preflight", meanwhile)
    result = run(root)
    assert (result.code, result.err) == (2, f"qmailsetup: {root}/etc/group: a FIFO, not a regular file\n")
    assert stat.S_ISFIFO(os.lstat(root / "etc/group").st_mode)
    # lckpwdf's lock file stays, as glibc leaves it
    assert sorted(os.listdir(root / "etc")) == [".pwd.lock", "group", "gshadow", "login.defs", "passwd", "shadow"]


def test_a_symlink_where_a_backup_goes_is_replaced_never_followed(tmp_path):
    """A symlink at passwd- is no reason to stop (the backup replaces it,
    the file it names is never written), nor to skip checking the files
    after it: a FIFO at shadow- is still found before the first write."""
    root = debian_tree(tmp_path / "root")
    outside = tmp_path / "outside"
    outside.write_text("not an account file\n")
    (root / "etc/passwd-").symlink_to(outside)
    os.mkfifo(root / "etc/shadow-")
    before = snapshot(root)
    result = run(root)
    assert (result.code, result.err) == (
        1, f"qmailsetup: {root}/etc/shadow-: a FIFO, not a regular file; cannot keep the backup there; nothing written\n"
    )
    assert without_pwd_lock(snapshot(root)) == without_pwd_lock(before)
    (root / "etc/shadow-").unlink()
    assert run(root).code == 0
    assert not (root / "etc/passwd-").is_symlink() and b"root:x:0:0" in (root / "etc/passwd-").read_bytes()
    assert outside.read_text() == "not an account file\n"


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

    assert result.code == 0, result.err
    assert b"qmaild" in (root / "etc/passwd").read_bytes()
    assert os.lstat(leftover).st_mode == kind
    assert run(root, "--detailed-exitcode").code == 0, "in sync"


# --- files that cannot be replaced (private mount namespaces) ------------------

SCRIPT = """\
mount -t tmpfs -o mode=0755,size=$SIZE,nr_inodes=$INODES tmpfs "$ROOT/etc"
cp -a "$TEMPLATE/etc/." "$ROOT/etc/"
"""

# what is done before the run (in ROOT/etc, a tmpfs of its own), the error after "qmailsetup: "
UNREPLACEABLE = {
    "read-only-bind-mount-over-shadow": (
        'mount --bind "$ROOT/etc/shadow" "$ROOT/etc/shadow" && mount -o remount,bind,ro "$ROOT/etc/shadow"',
        "{root}/etc/shadow: on a read-only mount (a bind mount over the file?); nothing written",
    ),
    "writable-bind-mount-over-passwd": (
        'cp -a "$ROOT/etc/passwd" "$TEMPLATE/passwd.mounted" && mount --bind "$TEMPLATE/passwd.mounted" "$ROOT/etc/passwd"',
        "{root}/etc/passwd: a mount point (a bind mount over the file), which a rename cannot replace; nothing written",
    ),
    "immutable-group": (
        'chattr +i "$ROOT/etc/group"',
        "{root}/etc/group: immutable (chattr -i/-a to edit); nothing written",
    ),
    "append-only-passwd": (
        'chattr +a "$ROOT/etc/passwd"',
        "{root}/etc/passwd: append-only (chattr -i/-a to edit); nothing written",
    ),
    "immutable-backup-gshadow-": (
        'cp -a "$ROOT/etc/gshadow" "$ROOT/etc/gshadow-" && chattr +i "$ROOT/etc/gshadow-"',
        "{root}/etc/gshadow-: immutable (chattr -i/-a to edit); nothing written",
    ),
    "immutable-etc": (
        'chattr +i "$ROOT/etc"',
        "{root}/etc: the directory is immutable (chattr -i/-a to edit); nothing written",
    ),
    "append-only-etc": (
        'chattr +a "$ROOT/etc"',
        "{root}/etc: the directory is append-only (chattr -i/-a to edit); nothing written",
    ),
}


def in_namespace(tmp_path: Path, prepare: str = "", inodes: int = 1000,
                 size: str = "1m") -> tuple[Path, Result, bool, dict[str, bytes]]:
    """The run in this process (what mutation testing sees), in a private
    mount namespace where ROOT/etc is a tmpfs of SIZE bytes and INODES inodes
    holding the Debian tree, after the shell commands PREPARE: the root, the
    run's result, whether a snapshot of the tree before it equals one after,
    and the account files after it."""
    template = debian_tree(tmp_path / "template")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    env = {"ROOT": str(root), "TEMPLATE": str(template), "SIZE": size, "INODES": str(inodes), "PATH": namespace.PATH}
    with namespace.private_mounts():
        subprocess.run(["sh", "-euc", SCRIPT + prepare], env=env, check=True)
        before = snapshot(root)
        result = run(root)
        unchanged = without_pwd_lock(snapshot(root)) == without_pwd_lock(before)
        after = account_files(root)
    return root, result, unchanged, after


@pytest.mark.parametrize("case", UNREPLACEABLE)
def test_a_file_that_cannot_be_replaced_is_found_before_the_first_write(tmp_path, privileged, case):
    require_tools("chattr")
    prepare, why = UNREPLACEABLE[case]
    root, result, unchanged, _ = in_namespace(tmp_path, prepare)

    assert (result.code, result.err) == (1, f"qmailsetup: {why.format(root=root)}\n")
    assert unchanged


# qmail's directories on a tmpfs /var of their own, then PREPARE; the error
VAR = 'mkdir "$ROOT/var" && mount -t tmpfs -o mode=0755 tmpfs "$ROOT/var" && '
UNCHANGEABLE_DIRECTORIES = {
    # mkdir var/qmail fails in an immutable var
    "immutable-var": ('chattr +i "$ROOT/var"', "{root}/var: the directory is immutable"),
    # var/qmail is there, but neither its owner and mode nor a new alias/ can be made
    "immutable-home": ('mkdir -m 0700 "$ROOT/var/qmail" && chattr +i "$ROOT/var/qmail"',
                       "{root}/var/qmail: the directory is immutable"),
    # an entry can be made in an append-only directory, but it cannot be chowned or chmodded
    "append-only-home-to-chown": ('mkdir -m 0700 "$ROOT/var/qmail" && chattr +a "$ROOT/var/qmail"',
                                  "{root}/var/qmail: the directory is append-only"),
}


@pytest.mark.parametrize("case", UNCHANGEABLE_DIRECTORIES)
def test_a_directory_that_cannot_be_changed_is_found_before_the_accounts_are_written(tmp_path, privileged, case):
    """Before, the accounts were made and the run failed at the directory
    ("Operation not permitted; done before the failure: ...")."""
    require_tools("chattr")
    prepare, why = UNCHANGEABLE_DIRECTORIES[case]
    root, result, unchanged, after = in_namespace(tmp_path, VAR + prepare)

    assert (result.code, result.err) == (
        1, f"qmailsetup: {why.format(root=root)} (chattr -i/-a to edit); nothing written\n"
    )
    assert unchanged
    assert b"qmaild" not in after["passwd"]


def test_an_append_only_directory_still_takes_new_directories(tmp_path, privileged):
    """chattr +a lets an entry be made in a directory: the run is not refused."""
    require_tools("chattr")
    _, result, _, after = in_namespace(tmp_path, VAR + 'chattr +a "$ROOT/var"')

    assert result.code == 0, result.err
    assert b"qmaild" in after["passwd"]


def test_too_few_inodes_is_found_before_the_first_write(tmp_path, privileged):
    """A tmpfs etc with room for the files and their backups in bytes, but
    not in inodes: 2 per account file (backup, lock) and 2 more (the
    temporary copy, lckpwdf's lock) are needed at the peak. The locks
    cannot all be made (tmpfs counts a lock's second link too): the run
    reads without them, as nothing can write there, and says why."""
    # the tree's entries (etc, 4 account files, login.defs...) take the rest
    files = len(list((debian_tree(tmp_path / "count") / "etc").iterdir()))
    root, result, unchanged, _ = in_namespace(tmp_path, inodes=files + 1 + 5)

    # lckpwdf's lock file was made, and stays
    assert (result.code, result.err) == (1, (
        f"qmailsetup: {root}/etc: no free inodes (4 free, 10 needed to rewrite the account files safely); "
        "nothing written\n"
    ))
    assert unchanged


def test_too_little_room_is_found_before_the_first_write(tmp_path, privileged):
    """A tmpfs etc of 16 pages, 8 taken (the 4 account files, 1 page each,
    login.defs 4), 4 more by the locks the run holds (a page each; lckpwdf's
    is empty): a safe rewrite needs 5 pages more at its peak (a backup of
    each file, a temporary copy of the largest)."""
    root, result, unchanged, _ = in_namespace(tmp_path, size="64k")

    assert (result.code, result.err) == (1, (
        f"qmailsetup: {root}/etc: file system full (16 KiB free, 20 KiB needed to rewrite the account files "
        "safely); nothing written\n"
    ))
    assert unchanged


@pytest.mark.parametrize("room", ["bytes", "inodes"])
def test_exactly_the_room_a_rewrite_needs_is_enough(tmp_path, privileged, room):
    """The budget above, to the page and to the inode, is all a run takes."""
    files = len(list((debian_tree(tmp_path / "count") / "etc").iterdir()))
    if room == "bytes":
        _, result, _, after = in_namespace(tmp_path, size="68k")
    else:
        _, result, _, after = in_namespace(tmp_path, inodes=files + 1 + 10)

    assert (result.code, result.err) == (0, "")
    assert b"\nqmaild:" in after["passwd"] and b"\nqmaild:" in after["shadow"]


def test_the_room_a_rewrite_needs_counts_whole_pages_and_the_largest_file_twice(tmp_path):
    """passwd of 4097 bytes takes 2 pages, group of 4096 one, an empty
    shadow one all the same, and the missing gshadow none: 4 pages of
    backups, 2 for the temporary copy of the largest (passwd), 3 locks and
    lckpwdf's; in inodes, a backup and a lock each and 2 more."""
    from qmailsetup.apply import room_to_rewrite
    from qmailsetup.observe import observe
    from qmailsetup.platforms import load_profile
    from qmailsetup.spec import load_spec

    root = debian_tree(tmp_path / "root")
    etc = root / "etc"

    def padded(name: str, size: int, line: str) -> None:
        text = (etc / name).read_text()
        (etc / name).write_text(text + line.format("x" * (size - len(text) - len(line.format("")))))

    padded("passwd", 4097, "padding:x:4000:4000:{}:/nonexistent:/usr/sbin/nologin\n")
    padded("group", 4096, "padding{}:x:4000:\n")
    (etc / "shadow").write_text("")
    (etc / "gshadow").unlink()
    assert [os.path.getsize(etc / name) for name in ("passwd", "group", "shadow")] == [4097, 4096, 0]

    host = observe(load_spec(None), root, load_profile("linux"))
    assert room_to_rewrite(host, locked=False) == ((4 + 2 + 3 + 1) * 4096, 2 * 3 + 2)
    # the locks held already: the backups and the temporary copy alone
    assert room_to_rewrite(host, locked=True) == ((4 + 2) * 4096, 3 + 1)
