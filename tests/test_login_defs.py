"""login.defs as it may be found: a range with IDs that are none (negative,
past 2**31-1, 65535 at an edge), a range with no ID in it, a key that is not
a number, a FIFO. A range is kept to valid IDs, so the allocator never
writes -1 or (uid_t)-1; what cannot be made valid is one line, exit 2,
naming login.defs and the key, and nothing written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import cli
from qmailsetup.logindefs import read_login_defs
from qmailsetup.plan import allocate
from qmailsetup.platforms import IdRange, load_profile
from qmailsetup.spec import MAX_ID, RESERVED_IDS
from snapshot import snapshot, without_pwd_lock
from trees import debian_tree

LINUX = load_profile("linux")


def with_login_defs(tmp_path: Path, text: str) -> Path:
    root = debian_tree(tmp_path / "root")
    (root / "etc/login.defs").write_text(text)
    return root


CLAMPED = [
    ("SYS_UID_MIN -100\nSYS_GID_MIN -1\n", IdRange(1, 999, 1, 999)),
    ("SYS_UID_MAX 4294967295\nSYS_GID_MAX 4294967296\n", IdRange(101, MAX_ID, 101, MAX_ID)),
    ("SYS_UID_MAX 99999999999999999999999\nSYS_GID_MIN 0\n", IdRange(101, MAX_ID, 1, 999)),
    # 65535 at an edge moves inwards, 0 too
    ("SYS_UID_MIN 60000\nSYS_UID_MAX 65535\nSYS_GID_MIN 65535\nSYS_GID_MAX 70000\n", IdRange(60000, 65534, 65536, 70000)),
    # numbers as strtol reads them: hex, octal; the last definition counts
    ("SYS_UID_MIN 0x10\nSYS_UID_MAX 0777\nSYS_GID_MAX 100\nSYS_GID_MAX 200\n", IdRange(16, 511, 101, 200)),
    # SYS_UID_MAX is UID_MIN - 1 when not set, as in useradd
    ("UID_MIN 500\nGID_MIN 0x200\n", IdRange(101, 499, 101, 511)),
    ("# SYS_UID_MIN -5\nSYS_UID_MIN\n", IdRange(101, 999, 101, 999)),
    # strtol's other spellings: an upper-case 0X, a plus sign
    ("SYS_GID_MIN 0X20\nSYS_GID_MAX +300\n", IdRange(101, 999, 32, 300)),
    # a range of one ID is a range
    ("SYS_UID_MIN 500\nSYS_UID_MAX 500\n", IdRange(500, 500, 101, 999)),
]


@pytest.mark.parametrize(("text", "expected"), CLAMPED)
def test_a_range_is_kept_to_valid_ids(tmp_path, text, expected):
    root = with_login_defs(tmp_path, text)
    assert read_login_defs(root, LINUX) == expected


@pytest.mark.parametrize("text", [CLAMPED[0][0], CLAMPED[1][0], CLAMPED[2][0], CLAMPED[3][0]])
def test_a_clamped_range_allocates_valid_ids(tmp_path, text):
    root = with_login_defs(tmp_path, text)
    before = snapshot(root)
    result = cli("apply", "--dry-run", "--json", "--platform", "linux", "--root", root)
    assert result.code == 0, result.err
    changes = json.loads(result.out)["changes"]
    allocated = [c["fields"][c["allocated"][0]]["desired"] for c in changes if c["allocated"]]
    assert len(allocated) == 9, "two groups and seven users, each given an ID"
    assert all(0 < i <= MAX_ID and i not in RESERVED_IDS for i in allocated), allocated
    assert snapshot(root) == before


def test_the_allocator_steps_over_65535_inside_a_range():
    # 65536 in use: the next one down would be 65535, which is (uid_t)-1 in 16 bits
    assert allocate({65536}, 60000, 70000) == 65534
    assert allocate({65534, 65536}, 65530, 65536) == 65533
    assert allocate(set(), 65535, 65535) is None


BAD = [
    ("SYS_UID_MIN 65535\nSYS_UID_MAX 65535\n",
     "no valid system UID from SYS_UID_MIN 65535 to SYS_UID_MAX 65535 (IDs are 1..2147483647, not 65535)"),
    ("SYS_GID_MIN 900\nSYS_GID_MAX 800\n", "no valid system GID from SYS_GID_MIN 900 to SYS_GID_MAX 800 (IDs are 1..2147483647, not 65535)"),
    ("SYS_UID_MIN -100\nSYS_UID_MAX -1\n", "no valid system UID from SYS_UID_MIN -100 to SYS_UID_MAX -1 (IDs are 1..2147483647, not 65535)"),
    ("SYS_UID_MIN 4294967295\n",
     "no valid system UID from SYS_UID_MIN 4294967295 to SYS_UID_MAX 999 (the default) (IDs are 1..2147483647, not 65535)"),
    ("UID_MIN 5\n", "no valid system UID from SYS_UID_MIN 101 (the default) to UID_MIN - 1 = 4 (IDs are 1..2147483647, not 65535)"),
    ("SYS_UID_MIN 1O\n", "SYS_UID_MIN '1O' is not a number"),
    ("SYS_GID_MAX 999x\n", "SYS_GID_MAX '999x' is not a number"),
    ("SYS_UID_MAX 0x\n", "SYS_UID_MAX '0x' is not a number"),
    ("SYS_GID_MIN 08\n", "SYS_GID_MIN '08' is not a number"),
    ("GID_MIN many\n", "GID_MIN 'many' is not a number"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_a_range_that_cannot_be_valid_is_bad_input(tmp_path, text, message):
    root = with_login_defs(tmp_path, text)
    before = snapshot(root)
    result = cli("apply", "--platform", "linux", "--backend", "files", "--root", root)
    assert result.code == 2
    assert result.err == f"qmailsetup: {root}/etc/login.defs: {message}\n"
    assert result.out == ""
    assert without_pwd_lock(snapshot(root)) == without_pwd_lock(before)


def test_a_garbage_fallback_that_is_not_used_is_not_read(tmp_path):
    # UID_MIN only counts when SYS_UID_MAX is not set, as in useradd
    root = with_login_defs(tmp_path, "UID_MIN many\nSYS_UID_MAX 900\nGID_MIN 1000\n")
    assert read_login_defs(root, LINUX) == IdRange(101, 900, 101, 999)


@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_login_defs_that_is_no_file_fails_at_once_even_in_a_dry_run(tmp_path, kind):
    root = debian_tree(tmp_path / "root")
    (root / "etc/login.defs").unlink()
    if kind == "fifo":
        os.mkfifo(root / "etc/login.defs")
    else:
        (root / "etc/login.defs").mkdir()
    before = snapshot(root)
    # its own process, so a run that blocks on the FIFO is ended by the timeout
    result = subprocess.run(
        [sys.executable, "-m", "qmailsetup", "apply", "--dry-run", "--platform", "linux", "--root", str(root)],
        capture_output=True, text=True, timeout=60,
    )
    what = "a FIFO" if kind == "fifo" else "a directory"
    assert result.returncode == 2
    assert result.stderr == f"qmailsetup: {root}/etc/login.defs: {what}, not a regular file\n"
    assert result.stdout == ""
    assert snapshot(root) == before


def test_login_defs_that_cannot_be_read_names_why(tmp_path, monkeypatch):
    import errno

    from qmailsetup import hostio
    from qmailsetup.errors import BadInput, OperationFailed

    root = debian_tree(tmp_path / "root")
    for number, failure, text in ((errno.EIO, OperationFailed, "Input/output error"), (errno.EACCES, BadInput, "Permission denied")):
        def refuse(*args, number=number, **kwargs):
            raise OSError(number, os.strerror(number))

        monkeypatch.setattr(hostio, "read_consulted", refuse)
        with pytest.raises(failure) as error:
            read_login_defs(root, LINUX)
        assert str(error.value) == f"{root}/etc/login.defs: cannot read: {text}"


def test_login_defs_that_is_a_directory_is_bad_input_naming_it(tmp_path):
    # in this process as well (the FIFO case above needs its own)
    from qmailsetup.errors import BadInput

    root = debian_tree(tmp_path / "root")
    (root / "etc/login.defs").unlink()
    (root / "etc/login.defs").mkdir()
    with pytest.raises(BadInput) as error:
        read_login_defs(root, LINUX)
    assert str(error.value) == f"{root}/etc/login.defs: a directory, not a regular file"


def test_bytes_that_are_not_utf_8_do_not_stop_the_reading(tmp_path):
    root = debian_tree(tmp_path / "root")
    (root / "etc/login.defs").write_bytes("# r\u00e9serv\u00e9 \u00e0 qmail\nSYS_UID_MIN 300\n".encode("latin-1"))
    assert read_login_defs(root, LINUX) == IdRange(300, 999, 101, 999)
