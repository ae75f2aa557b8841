"""ROOT/etc opened once (userdb/etcdir.py): every name is looked up in the
directory that was opened, whatever ROOT/etc is later; what is no etc
directory is bad input or refused; a swap of ROOT/etc for a link
between the check and the write never redirects a write; warnings for a
root or etc others may write to and for hard-linked account files; a
replaced file and its backup keep the file's extended attributes."""

from __future__ import annotations

import errno
import gc
import json
import os
import shutil
import stat
import struct
import tempfile
from pathlib import Path

import pytest

from conftest import cli, effective_uid, skip_or_fail
from files_support import assert_consistent, leftovers
from process import EPOCH
from qmail_layout import QMAIL_NAMES
from qmailsetup import apply as apply_module, observe as observe_module
from qmailsetup.backends import files as files_backend
from qmailsetup.errors import BadInput, Refused
from qmailsetup.userdb.accountfile import AccountFile
from qmailsetup.userdb.etcdir import EtcDir
from snapshot import snapshot
from trees import debian_tree

STRANGER = 1234


pytestmark = pytest.mark.root("chown, security.* attributes")


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)


def apply(root: Path, *extra):
    return cli("apply", "--platform", "linux", "--backend", "files", "--root", root, *extra)


def names_in(etc: Path, kind: str) -> set[str]:
    path = etc / kind
    return set(AccountFile.parse(path, kind, path.read_bytes()).names())


# --- the directory itself ------------------------------------------------------


def is_closed(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError as error:
        return error.errno == errno.EBADF
    return False


def test_every_name_is_looked_up_in_the_directory_that_was_opened(tmp_path):
    root = debian_tree(tmp_path / "root")
    etc = EtcDir.open(root)
    opened = os.stat(root / "etc")
    (root / "etc/passwd.link").symlink_to("passwd")
    os.rename(root / "etc", root / "etc.moved")  # the name ROOT/etc now leads nowhere
    assert (etc.root, etc.path) == (root, root / "etc")
    assert etc.key() == (opened.st_dev, opened.st_ino) == (etc.info().st_dev, etc.info().st_ino)
    assert etc.exists("passwd") and not etc.exists("nothing")
    assert etc.lstat("passwd").st_ino == os.stat(root / "etc.moved/passwd").st_ino
    assert stat.S_ISLNK(etc.lstat("passwd.link").st_mode), "a link's own status"
    fd, info = etc.open_regular("passwd")
    try:
        assert os.read(fd, 5) == b"root:" and info.st_ino == os.fstat(fd).st_ino
    finally:
        os.close(fd)
    with pytest.raises(OSError) as through_link:
        etc.open_regular("passwd.link")
    assert through_link.value.errno == errno.ELOOP
    assert etc.shown("passwd") == f"{root}/etc/passwd"
    fd = etc.fd
    etc.close()
    assert etc.fd is None and is_closed(fd)
    etc.close()  # a second close is harmless


def test_the_directory_is_closed_when_left_or_dropped(tmp_path):
    root = debian_tree(tmp_path / "root")
    with EtcDir.open(root) as etc:
        fd = etc.fd
        assert not is_closed(fd)
    assert etc.fd is None and is_closed(fd)
    dropped = EtcDir.open(root)
    fd = dropped.fd
    del dropped
    gc.collect()
    assert is_closed(fd)


@pytest.mark.parametrize("root", ["/", "/mnt/image"], ids=["slash", "image"])
def test_a_missing_etc_has_every_file_missing_named_where_it_would_be(tmp_path, root):
    etc = EtcDir.open(tmp_path) if root != "/" else EtcDir(Path("/"), None)
    shown = f"{tmp_path}/etc/passwd" if root != "/" else "/etc/passwd"
    assert etc.fd is None and etc.shown("passwd") == shown
    assert not etc.exists("passwd")
    for look in (etc.lstat, etc.open_regular):
        with pytest.raises(FileNotFoundError) as missing:
            look("passwd")
        assert (missing.value.errno, missing.value.strerror, missing.value.filename) == (
            errno.ENOENT, "No such file or directory", shown)
    etc.close()


def test_etc_as_a_link_is_followed_on_the_host_itself(tmp_path):
    """On / the host's own /etc is what its tools use, link or not (useradd
    follows it too); only under another root is a link refused."""
    root = tmp_path / "image"
    debian_tree(root / "real")
    (root / "etc").symlink_to("real/etc")
    with pytest.raises(Refused):
        EtcDir.open(root)
    child = os.fork()
    if child == 0:  # the link as /etc: chrooted into ROOT, in a child
        try:
            os.chroot(root)
            with EtcDir.open(Path("/")) as etc:
                os._exit(0 if etc.exists("passwd") and etc.shown("passwd") == "/etc/passwd" else 1)
        finally:
            os._exit(2)
    assert os.waitpid(child, 0)[1] == 0


def no_etc(root: Path, what: str) -> Path:
    """ROOT with WHAT where its etc directory belongs; the root given to EtcDir."""
    root.mkdir()
    etc = root / "etc"
    if what == "file":
        etc.write_text("")
    elif what == "link":
        etc.symlink_to("../elsewhere")
    elif what == "unreadable":
        etc.mkdir(mode=0o700)
    elif what == "root-is-a-file":
        root.rmdir()
        root.write_text("")
    elif what == "no-root":
        root.rmdir()
    return root


@pytest.mark.parametrize(("what", "kind", "message"), [
    ("no-root", BadInput, "--root {root}: cannot open: No such file or directory"),
    ("root-is-a-file", BadInput, "--root {root}: cannot open: Not a directory"),
    ("file", BadInput, "{root}/etc: not a directory"),
    ("link", Refused, "{root}/etc: is a symlink (to ../elsewhere); refusing to edit account files through a link"),
    ("unreadable", BadInput, "{root}/etc: cannot open: Permission denied"),
], ids=["no-root", "root-is-a-file", "etc-is-a-file", "etc-is-a-dangling-link", "etc-unreadable"])
def test_what_is_no_etc_directory_is_bad_input_or_refused(tmp_path, what, kind, message):
    if what == "unreadable":  # a root another user may enter (pytest's own directories are root's alone)
        tmp_path = Path(tempfile.mkdtemp())
        tmp_path.chmod(0o755)
    try:
        root = no_etc(tmp_path / "root", what)
        with effective_uid(1234 if what == "unreadable" else 0), pytest.raises(kind) as failed:
            EtcDir.open(root)
    finally:
        if what == "unreadable":
            shutil.rmtree(tmp_path)
    assert str(failed.value) == message.format(root=root)


# --- a swap of ROOT/etc between the check and the write --------------------


def swap_etc(root: Path, decoy: Path) -> None:
    """ROOT/etc renamed to etc.checked, and a symlink to the decoy put in its place."""
    os.rename(root / "etc", root / "etc.checked")
    os.symlink(decoy / "etc", root / "etc")


def swap_before(monkeypatch, module, name: str, root: Path, decoy: Path) -> None:
    """Swap ROOT/etc right before the first call of MODULE.NAME."""
    real = getattr(module, name)

    def swapping(*args, **kwargs):
        if not (root / "etc").is_symlink():
            swap_etc(root, decoy)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, swapping)


SWAP_POINTS = {
    "after observe, before the preflight": (apply_module, "preflight"),
    "after the locks, before the files are read": (observe_module, "read_files"),
    "between the backup and the files": (files_backend, "replace_file"),
}


@pytest.mark.parametrize("point", SWAP_POINTS)
def test_a_swapped_etc_never_redirects_a_write(tmp_path, monkeypatch, point):
    """The decoy stands for the host's own /etc: not a byte of it changes,
    and every write lands in the directory that was checked."""
    root = debian_tree(tmp_path / "root")
    decoy = debian_tree(tmp_path / "decoy")
    decoy_before = snapshot(decoy)
    checked_before = snapshot(root / "etc")
    swap_before(monkeypatch, *SWAP_POINTS[point], root, decoy)

    result = apply(root)

    assert result.code == 0, result.err
    assert (root / "etc").is_symlink(), "the swap happened"
    assert snapshot(decoy) == decoy_before
    checked = root / "etc.checked"
    users = set(QMAIL_NAMES) - {"qmail", "nofiles"}
    assert users <= names_in(checked, "passwd") & names_in(checked, "shadow")
    assert {"qmail", "nofiles"} <= names_in(checked, "group") & names_in(checked, "gshadow")
    assert snapshot(checked) != checked_before
    # the checked tree, seen as a root of its own: whole and without leftovers
    os.rename(root / "etc", root / "etc.link")
    os.rename(checked, root / "etc")
    assert_consistent(root)
    assert leftovers(root) == []


def test_a_symlinked_etc_is_refused_before_any_lock(tmp_path):
    root = debian_tree(tmp_path / "root")
    decoy = debian_tree(tmp_path / "decoy")
    swap_etc(root, decoy)
    before = snapshot(tmp_path)

    result = apply(root)

    assert result.code == 3
    assert result.err == (
        f"qmailsetup: {root}/etc: is a symlink (to {decoy}/etc); refusing to edit account files through a link\n"
    )
    assert snapshot(tmp_path) == before


# --- a root or etc others may write to ---------------------------------------


@pytest.mark.parametrize(
    ("where", "owner", "group", "mode", "described"),
    [
        ("root", STRANGER, 0, 0o755, "owner 1234, group 0, mode 0755"),
        ("root", 0, 0, 0o777, "owner 0, group 0, mode 0777"),
        ("etc", 0, STRANGER, 0o775, "owner 0, group 1234, mode 0775"),
        ("etc", STRANGER, 0, 0o755, "owner 1234, group 0, mode 0755"),
    ],
    ids=["root-owned-by-a-user", "root-world-writable", "etc-group-writable", "etc-owned-by-a-user"],
)
def test_a_root_or_etc_others_may_write_is_warned_of(tmp_path, where, owner, group, mode, described):
    root = debian_tree(tmp_path / "root")
    place = root if where == "root" else root / "etc"
    os.chown(place, owner, group)
    place.chmod(mode)
    warning = (
        f"{place} ({described}) is writable by others than root: whoever can write there can replace the "
        "account files; make it root-owned and not group- or world-writable"
    )

    planned = json.loads(apply(root, "--dry-run", "--json").out)

    assert planned["warnings"] == [warning], "once, not again for the paths below it"
    result = apply(root)
    assert result.code == 0, result.err
    assert f"warning: {warning}\n" in result.out


def test_a_root_only_root_may_write_gives_no_warning(tmp_path):
    root = debian_tree(tmp_path / "root")
    root.chmod(0o755)
    (root / "etc").chmod(0o755)
    planned = json.loads(apply(root, "--dry-run", "--json").out)
    assert planned["warnings"] == []


# --- hard links ------------------------------------------------------------------


def test_a_hard_linked_account_file_is_warned_of(tmp_path):
    root = debian_tree(tmp_path / "root")
    other_name = tmp_path / "root" / "passwd.other-name"
    os.link(root / "etc/passwd", other_name)
    old = other_name.read_bytes()
    warning = (
        f"{root}/etc/passwd has 2 hard links: it is replaced by a new file, and its other names keep the old content"
    )

    planned = json.loads(apply(root, "--dry-run", "--json").out)
    assert planned["warnings"] == [warning]
    result = apply(root)

    assert result.code == 0, result.err
    assert f"warning: {warning}\n" in result.out
    assert other_name.read_bytes() == old, "what the warning said"
    assert b"qmaild" in (root / "etc/passwd").read_bytes()
    # in sync: nothing to write, nothing to warn of
    assert json.loads(apply(root, "--dry-run", "--json").out)["warnings"] == []


# --- extended attributes -----------------------------------------------------------

# a POSIX ACL as the kernel stores it: user::rw-, user:1234:r--, group::r--,
# mask::r--, other::---
ACL_USER_OBJ, ACL_USER, ACL_GROUP_OBJ, ACL_MASK, ACL_OTHER = 0x01, 0x02, 0x04, 0x10, 0x20
ACL = struct.pack("<I", 2) + b"".join(
    struct.pack("<HHI", tag, perm, ident)
    for tag, perm, ident in [
        (ACL_USER_OBJ, 6, 0xFFFFFFFF), (ACL_USER, 4, STRANGER), (ACL_GROUP_OBJ, 4, 0xFFFFFFFF),
        (ACL_MASK, 4, 0xFFFFFFFF), (ACL_OTHER, 0, 0xFFFFFFFF),
    ]
)
ATTRIBUTES = {
    "system.posix_acl_access": ACL,
    "user.backup-policy": b"keep",
    "security.selinux": b"system_u:object_r:shadow_t:s0\0",
}


def xattrs(path: Path) -> dict[str, bytes]:
    return {name: os.getxattr(path, name, follow_symlinks=False) for name in os.listxattr(path, follow_symlinks=False)}


def test_a_replaced_file_and_its_backup_keep_the_extended_attributes(tmp_path):
    root = debian_tree(tmp_path / "root")
    shadow = root / "etc/shadow"
    try:
        for name, value in ATTRIBUTES.items():
            os.setxattr(shadow, name, value)
    except OSError as error:
        skip_or_fail(f"the file system of {tmp_path} keeps no {name}: {error.strerror}")
    before = xattrs(shadow)
    assert set(before) >= set(ATTRIBUTES)
    mode = os.stat(shadow).st_mode
    old = shadow.read_bytes()

    result = apply(root)

    assert result.code == 0, result.err
    assert b"qmaild" in shadow.read_bytes()
    assert (root / "etc/shadow-").read_bytes() == old
    for path in (shadow, root / "etc/shadow-"):
        assert xattrs(path) == before, path
        assert os.stat(path).st_mode == mode, path
    # a file that had none gets none
    assert xattrs(root / "etc/passwd") == {} == xattrs(root / "etc/passwd-")


def test_an_attribute_the_file_system_refuses_fails_the_step_and_writes_nothing(tmp_path, monkeypatch):
    """A label that cannot be kept never vanishes silently: the first file
    fails before it is replaced, so nothing at all is written."""
    root = debian_tree(tmp_path / "root")
    for kind in ("gshadow", "shadow"):
        os.setxattr(root / "etc" / kind, "security.selinux", b"system_u:object_r:shadow_t:s0\0")
    before = snapshot(root)
    real = os.setxattr

    def refusing(target, name, *args, **kwargs):
        if name == "security.selinux":
            raise OSError(95, "Operation not supported")
        return real(target, name, *args, **kwargs)

    monkeypatch.setattr(os, "setxattr", refusing)
    result = apply(root)

    assert result.code == 1
    assert result.err.startswith(
        f"qmailsetup: {root}/etc/gshadow: keeping the extended attribute security.selinux on gshadow-.qmailsetup-"
    )
    assert result.err.endswith(": Operation not supported; done before the failure: nothing\n")
    after = snapshot(root)
    after.pop("etc/.pwd.lock")  # lckpwdf's lock file stays, as glibc leaves it
    assert after == before


# --- what a failure says was written -------------------------------------------------


@pytest.mark.parametrize(
    ("failing", "replaced", "done"),
    [
        ("gshadow-", [], "nothing"),
        ("group", ["gshadow-", "gshadow", "group-"], "nothing"),
        ("passwd", ["gshadow-", "gshadow", "group-", "group", "shadow-", "shadow", "passwd-"],
         "group qmail, group nofiles"),
    ],
)
def test_a_failure_names_exactly_the_files_replaced_before_it(tmp_path, monkeypatch, failing, replaced, done):
    root = debian_tree(tmp_path / "root")
    before = snapshot(root)
    real = os.rename

    def rename(source, target, *args, **kwargs):
        if target == failing:
            raise OSError(5, "Input/output error")
        return real(source, target, *args, **kwargs)

    monkeypatch.setattr(os, "rename", rename)
    result = apply(root)

    assert result.code == 1
    named = f" (files replaced in {root}/etc: {', '.join(replaced)})" if replaced else ""
    assert result.err.count("\n") == 1
    assert result.err.startswith(f"qmailsetup: {root}/etc/{failing.rstrip('-')}: renaming {failing.rstrip('-')}")
    assert result.err.endswith(f": Input/output error; done before the failure: {done}{named}\n")
    # what it names is what changed (the backups keep the old content, so
    # only their times and the main files' content show): nothing else did
    after = snapshot(root)
    changed = {path for path in set(before) | set(after) if before.get(path) != after.get(path)}
    expected = {f"etc/{name}" for name in replaced} | {"etc/.pwd.lock"}
    assert changed <= expected and {f"etc/{name}" for name in replaced if not name.endswith("-")} <= changed
