"""Hostile hosts: symlinks where directories or account files belong,
directories others may write to, leftovers of an earlier crash, a
read-only root and a full file system. Nothing outside the intended paths
is touched, the account files stay intact, and the message says what is
wrong. Each runs with every backend that can work under --root.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import subprocess
from pathlib import Path
from unittest import mock

import pytest

import qmailsetup.apply as qmailsetup_apply
from conftest import cli, dead_pid, require_tools
from namespace import copy_etc, in_namespace, private_mounts, run_in_namespace
from qmail_layout import QMAIL_NAMES, QMAIL_USERS
from qmailsetup.userdb.accountfile import AccountFile
from snapshot import snapshot, without_pwd_lock
from trees import debian_tree

ACCOUNT_FILES = ("passwd", "group", "shadow", "gshadow")
STRANGER = 1234  # owns directories that are not ours

BACKENDS = ["useradd", "files"]


pytestmark = pytest.mark.root("hostile hosts: chown, useradd --prefix")


@pytest.fixture(autouse=True)
def real_tools():
    require_tools("useradd", "groupadd", "usermod")


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


OUT_OF = {"inodes": "qmailsetup: {var}: no free inodes (0 free, 2 needed to make the directories missing); nothing written\n",
          "bytes": "qmailsetup: {var}: file system full (0 KiB free, 8 KiB needed to make the directories missing); nothing written\n"}


def apply(root: Path, backend: str, *extra):
    return cli("apply", "--platform", "linux", "--backend", backend, "--root", root, *extra)


def stat_of(path: Path) -> tuple:
    info = os.lstat(path)
    return info.st_mode, info.st_uid, info.st_gid


def one_line(err: str) -> str:
    assert "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith("qmailsetup: "), err
    return err


def entries(root: Path, kind: str) -> dict[str, list[str]]:
    """The entries of an account file, parsed strictly: a damaged file fails."""
    path = root / "etc" / kind
    return dict(AccountFile.parse(path, kind, path.read_bytes()).entries())


def assert_consistent(root: Path) -> None:
    """Every file parses; every user's primary group exists; passwd and
    shadow, group and gshadow name the same accounts."""
    passwd, group = entries(root, "passwd"), entries(root, "group")
    assert set(entries(root, "shadow")) == set(passwd)
    assert set(entries(root, "gshadow")) == set(group)
    gids = {int(fields[2]) for fields in group.values()}
    assert all(int(fields[3]) in gids for fields in passwd.values())


def assert_provisioned(root: Path) -> None:
    assert_consistent(root)
    passwd = entries(root, "passwd")
    assert set(QMAIL_USERS) <= set(passwd)
    assert {"qmail", "nofiles"} <= set(entries(root, "group"))
    lines = (root / "etc/passwd").read_text().splitlines()
    assert len(lines) == len(set(lines)), "no entry twice"


# --- symlinks where a directory belongs ---------------------------------


def other_owned_dir(tmp_path: Path) -> Path:
    target = tmp_path / "strangers"
    target.mkdir()
    (target / "their-file").write_text("theirs\n")
    os.chown(target, STRANGER, STRANGER)
    target.chmod(0o700)
    return target


@pytest.mark.parametrize("link", ["/var", "/var/qmail", "/var/qmail/alias"])
@pytest.mark.parametrize("points_to", ["etc", "strangers"])
def test_a_symlinked_directory_is_refused_and_nothing_is_written(tmp_path, backend, link, points_to):
    """A link on the way to qmail's directories that leads to the tree's own
    etc (a system directory), or into a directory another user owns, is
    not followed (an absolute link is taken from the root: /etc is the
    tree's, never the host's)."""
    root = debian_tree(tmp_path / "root")
    if points_to == "etc":
        target, text = root / "etc", "/etc"
    else:
        (root / "srv").mkdir()
        target, text = other_owned_dir(root / "srv"), "/srv/strangers"
    place = root / link.lstrip("/")
    place.parent.mkdir(parents=True, exist_ok=True)
    place.symlink_to(text)
    before, target_before = snapshot(root), (stat_of(target), snapshot(target))

    result = apply(root, backend)

    assert result.code == 3, result.out + result.err
    err = one_line(result.err)
    assert "refused, nothing written: path /var/qmail" in err
    why = "a system directory, never qmail's" if points_to == "etc" else "may be changed by others than root"
    assert f"{link} is a symlink to {text} that is not followed" in err and why in err
    assert without_pwd_lock(snapshot(root)) == without_pwd_lock(before)
    assert (stat_of(target), without_pwd_lock(snapshot(target))) == (target_before[0], without_pwd_lock(target_before[1]))


def test_a_var_qmail_linked_to_the_hosts_own_etc_is_never_followed(tmp_path, privileged, backend):
    """/var/qmail -> /etc, absolute: followed, it would chown the running
    host's /etc. Here that /etc is a copy, bind-mounted in a namespace."""
    etc = copy_etc(tmp_path)
    root = debian_tree(tmp_path / "root")
    (root / "var").mkdir()
    (root / "var/qmail").symlink_to("/etc")
    before, etc_before = snapshot(root), (stat_of(etc), snapshot(etc))
    # run_in_namespace's script stops at the first failure (set -e)
    script = f'{APPLY} >/dev/null && status=0 || status=$?; echo "exit=$status" >&2\n'
    result = run_in_namespace(tmp_path, f"ROOT={root}; BACKEND={backend}\n" + script, etc)

    error, status = result.stderr.splitlines()
    assert status == "exit=3", result.stderr
    assert "refused, nothing written: path /var/qmail: /var/qmail is a symlink to /etc that is not followed: " \
        f"it leads to {root}/etc, a system directory, never qmail's; remove the link" in error
    assert without_pwd_lock(snapshot(root)) == without_pwd_lock(before)
    assert (stat_of(etc), snapshot(etc)) == etc_before


# --- symlinks where account files belong ---------------------------------


@pytest.mark.parametrize("kind", ["passwd", "shadow", "group"])
def test_a_symlinked_account_file_is_refused(tmp_path, backend, kind):
    root = debian_tree(tmp_path / "root")
    real = tmp_path / f"real-{kind}"
    (root / "etc" / kind).rename(real)
    (root / "etc" / kind).symlink_to(real)
    before, real_before = snapshot(root), real.read_bytes()

    result = apply(root, backend)

    assert result.code == 3
    assert one_line(result.err) == (
        f"qmailsetup: {root}/etc/{kind}: is a symlink; refusing to edit an account file through a link\n"
    )
    assert without_pwd_lock(snapshot(root)) == without_pwd_lock(before)
    assert real.read_bytes() == real_before


def test_a_symlinked_etc_under_the_root_is_refused(tmp_path, backend):
    """Through root/etc -> /etc, useradd --prefix would edit this host's own
    accounts; the link here points at a copy, so a failure harms nothing."""
    decoy = debian_tree(tmp_path / "decoy")
    root = tmp_path / "root"
    root.mkdir()
    (root / "etc").symlink_to(decoy / "etc")
    before = snapshot(decoy)

    result = apply(root, backend)

    assert result.code == 3
    assert one_line(result.err) == (
        f"qmailsetup: {root}/etc: is a symlink (to {decoy}/etc); refusing to edit account files through a link\n"
    )
    assert snapshot(decoy) == before


# --- a parent others may write to -----------------------------------------


@pytest.mark.parametrize(
    ("owner", "mode", "described"),
    [(STRANGER, 0o755, "owner 1234, group 0, mode 0755"), (0, 0o777, "owner 0, group 0, mode 0777"),
     (0, 0o1777, "owner 0, group 0, mode 1777")],
    ids=["owned-by-a-user", "world-writable", "sticky-world-writable"],
)
def test_a_parent_others_may_write_is_warned_of_loudly(tmp_path, backend, owner, mode, described):
    """Whoever can write to /var can rename /var/qmail away and put their own
    in its place. qmailsetup does not own /var, so it warns (in the plan,
    the dry run and the JSON) instead of refusing or changing it."""
    root = debian_tree(tmp_path / "root")
    (root / "var").mkdir()
    os.chown(root / "var", owner, 0)
    (root / "var").chmod(mode)
    warning = (
        f"{root}/var ({described}) is writable by others than root: whoever can write there can replace "
        "/var/qmail; make it root-owned and not group- or world-writable"
    )

    planned = json.loads(apply(root, backend, "--dry-run", "--json").out)
    assert planned["warnings"] == [warning], "once, though two paths lie below it"
    result = apply(root, backend)

    assert result.code == 0, result.err
    assert f"warning: {warning}\n" in result.out
    assert stat_of(root / "var") == (stat.S_IFDIR | mode, owner, 0), "not ours to change"
    assert_provisioned(root)


def test_a_safe_parent_gives_no_warning(tmp_path):
    root = debian_tree(tmp_path / "root")
    (root / "var").mkdir(mode=0o755)
    planned = json.loads(apply(root, "useradd", "--dry-run", "--json").out)
    assert not [w for w in planned["warnings"] if "writable by others" in w]


# --- leftovers of an earlier crash ----------------------------------------


LEFTOVERS = {
    "backup passwd-": ("passwd-", lambda: "old:x:5000:5000::/:/bin/sh\n"),
    "temporary passwd+": ("passwd+", lambda: "half-written:x:5000"),
    "temporary group+": ("group+", lambda: "garbage\0\n"),
    "lckpwdf's .pwd.lock": (".pwd.lock", lambda: ""),
    "passwd.lock of a dead process": ("passwd.lock", lambda: f"{dead_pid()}"),
    "group.lock of a dead process": ("group.lock", lambda: f"{dead_pid()}"),
}


@pytest.mark.slow
@pytest.mark.parametrize("leftover", LEFTOVERS)
def test_a_leftover_of_an_earlier_crash_does_not_stop_or_leak_into_the_run(tmp_path, backend, leftover):
    root = debian_tree(tmp_path / "root")
    name, content = LEFTOVERS[leftover]
    (root / "etc" / name).write_text(content())
    original = {kind: entries(root, kind) for kind in ACCOUNT_FILES}

    result = apply(root, backend)

    assert result.code == 0, result.err
    assert_provisioned(root)
    for kind, before in original.items():
        after = entries(root, kind)
        assert {name: after[name] for name in before} == before, f"{kind}: entries not ours unchanged"
        assert set(after) - set(before) <= set(QMAIL_NAMES)
    assert apply(root, backend, "--detailed-exitcode").code == 0, "in sync"


# --- read-only and full file systems (private mount namespaces) -----------


APPLY = '$QMAILSETUP apply --platform linux --backend "$BACKEND" --root "$ROOT"'


@pytest.mark.parametrize("read_only", ["/", "/var"])
def test_a_read_only_root_fails_before_writing_anything(tmp_path, privileged, backend, read_only):
    """Run in this process (what mutation testing sees), in a mount
    namespace of this thread's own."""
    root = debian_tree(tmp_path / "root")
    (root / "var").mkdir()
    before = snapshot(root)
    place = root / read_only.lstrip("/")
    with private_mounts():
        subprocess.run(["mount", "--bind", place, place], check=True)
        subprocess.run(["mount", "-o", "remount,bind,ro", place], check=True)
        result = apply(root, backend)

    expected = f"{root}/etc" if read_only == "/" else f"{root}/var"
    assert (result.code, result.err) == (1, f"qmailsetup: {expected}: read-only file system; nothing written\n")
    assert without_pwd_lock(snapshot(root)) == without_pwd_lock(before)


def mount_tmpfs(place: Path, size: str, inodes: int) -> None:
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},nr_inodes={inodes},mode=0755", "tmpfs", place],
                   check=True)


def fill_bytes(directory: Path) -> None:
    """One file in DIRECTORY grown until its file system has no byte left."""
    filler = os.open(directory / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    with contextlib.suppress(OSError):
        while True:
            os.write(filler, bytes(4096))
    os.close(filler)


def fill_inodes(directory: Path, most: int = 1024) -> list[Path]:
    """Empty files made in DIRECTORY until its file system (a tmpfs with
    nr_inodes, at most MOST) has no inode left; the files made."""
    made = []
    with contextlib.suppress(OSError):
        for number in range(most):
            (directory / f"filler{number}").touch()
            made.append(directory / f"filler{number}")
    return made


def test_a_mode_is_fixed_on_a_var_with_no_free_inode_nor_byte(tmp_path, privileged):
    """A chmod takes neither inode nor block: with /var out of both, a run
    that has only a directory's mode to fix is not refused (the room check
    is the account files'), and fixes it."""
    root = debian_tree(tmp_path / "root")
    var = root / "var"
    var.mkdir()
    alias = var / "qmail/alias"
    with private_mounts():
        mount_tmpfs(var, "256k", 64)
        assert apply(root, "files").code == 0
        wanted = stat_of(alias)
        alias.chmod(0o700)
        fill_bytes(var)
        fill_inodes(var)
        space = os.statvfs(var)
        assert (space.f_favail, space.f_bavail) == (0, 0)
        result = apply(root, "files", "--detailed-exitcode")
        assert (result.code, result.err) == (4, "")
        assert stat_of(alias) == wanted


@pytest.mark.parametrize("out_of", ["inodes", "bytes"])
def test_directories_without_the_room_to_make_them_are_found_before_the_first_write(tmp_path, privileged, out_of):
    """mkdir takes an inode and a block: a /var out of either is found
    before the accounts are written, not after them (the directories
    counted once each, parents included)."""
    root = debian_tree(tmp_path / "root")
    var = root / "var"
    var.mkdir()
    with private_mounts():
        mount_tmpfs(var, "256k", 64)
        if out_of == "bytes":
            fill_bytes(var)
        else:
            fill_inodes(var)
        before = snapshot(root)
        result = apply(root, "files")
        assert (result.code, one_line(result.err)) == (1, OUT_OF[out_of].format(var=var))
        assert without_pwd_lock(snapshot(root)) == without_pwd_lock(before)


def test_directories_on_two_file_systems_are_counted_against_their_own(tmp_path, privileged):
    """One free inode on each of two file systems is room enough for one
    directory on each: the count is per file system, not of all."""
    root = debian_tree(tmp_path / "root")
    spec = tmp_path / "two.toml"
    spec.write_text("".join(f'[[paths]]\npath = "{path}"\nowner = "root"\ngroup = "root"\nmode = "0755"\n\n'
                            for path in ("/var/qmail", "/srv/qmail")))
    with private_mounts():
        for mount in ("var", "srv"):
            (root / mount).mkdir()
            mount_tmpfs(root / mount, "64k", 8)
            fill_inodes(root / mount)[-1].unlink()
            assert os.statvfs(root / mount).f_favail == 1
        result = apply(root, "files", "--spec", spec)
        assert (result.code, result.err) == (0, "")
        assert (root / "var/qmail").is_dir() and (root / "srv/qmail").is_dir()


FILL_SCRIPT = f"""\
for free in $LEVELS; do
  out="$OUT/$free"; mkdir -p "$out"
  mount -t tmpfs -o size=96k,mode=0755 tmpfs "$ROOT/etc"
  cp -a "$TEMPLATE/etc/." "$ROOT/etc/"
  # fill the file system, then give back FREE KiB
  dd if=/dev/zero of="$ROOT/etc/filler" bs=1k 2>/dev/null
  truncate -s "-${{free}}k" "$ROOT/etc/filler" 2>/dev/null || rm -f "$ROOT/etc/filler"
  {APPLY} >/dev/null 2>"$out/stderr"; echo $? >"$out/exit"
  rm -f "$ROOT/etc/filler"
  mkdir -p "$out/after/etc"; cp -a "$ROOT/etc/." "$out/after/etc/"
  {APPLY} >/dev/null 2>"$out/stderr2"; echo $? >"$out/exit2"
  mkdir -p "$out/rerun/etc"; cp -a "$ROOT/etc/." "$out/rerun/etc/"
  umount "$ROOT/etc"
done
"""


@pytest.mark.slow
def test_a_full_file_system_under_etc_leaves_the_account_files_intact(tmp_path, privileged, backend):
    """A 96 KiB tmpfs as the root's etc, filled to leave 0 to 60 KiB: at
    each level the run either finishes or fails with one line (before the
    first write, when the room for backups and temporary copies is not
    there), the account files are never damaged, and with the space back a
    rerun finishes."""
    template = debian_tree(tmp_path / "template")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    out = tmp_path / "out"
    levels = [0, 16, 32, 48, 60]
    result = in_namespace(
        FILL_SCRIPT, ROOT=str(root), TEMPLATE=str(template), OUT=str(out), BACKEND=backend,
        LEVELS=" ".join(map(str, levels)),
    )
    assert result.returncode == 0, result.stderr
    outcomes = set()
    for free in levels:
        seen = out / str(free)
        code, err = int((seen / "exit").read_text()), (seen / "stderr").read_text()
        outcomes.add(code)
        assert code in (0, 1), f"{free} KiB free: {err}"
        if code == 1:
            one_line(err)
        assert_consistent(seen / "after")
        assert int((seen / "exit2").read_text()) == 0, (seen / "stderr2").read_text()
        assert_provisioned(seen / "rerun")
    assert outcomes == {0, 1}, "the levels span failing and finishing"


def test_a_var_that_fails_mid_apply_says_what_was_done_and_the_rerun_finishes(tmp_path, privileged, backend):
    """The accounts are written, then /var/qmail cannot be made: /var made
    immutable meanwhile, after the preflight looked (an immutable /var
    before it is refused with nothing written: test_account_files_odd).
    The run fails after the accounts, says so, and the next run finishes."""
    root = debian_tree(tmp_path / "root")
    (root / "var").mkdir()
    looked = qmailsetup_apply.preflight

    def then_made_immutable(*args, **kwargs):
        looked(*args, **kwargs)
        subprocess.run(["chattr", "+i", root / "var"], check=True)

    require_tools("chattr")
    with private_mounts():
        mount_tmpfs(root / "var", "64k", 64)
        with mock.patch.object(qmailsetup_apply, "preflight", side_effect=then_made_immutable):
            first = apply(root, backend)
        subprocess.run(["chattr", "-i", root / "var"], check=True)
        second = apply(root, backend)
        var_qmail, alias = os.lstat(root / "var/qmail"), os.lstat(root / "var/qmail/alias")

    assert (first.code, second.code) == (1, 0), (first.err, second.err)
    # named where it is, under the root
    error = first.err.removesuffix("\n")
    assert error.startswith(f"qmailsetup: {root}/var/qmail: Operation not permitted; done before the failure: group qmail")
    # the files backend also names each file it replaced, backups included
    replaced = f"{root}/etc: gshadow-, gshadow, group-, group, shadow-, shadow, passwd-, passwd"
    assert error.endswith(f"user qmails (files replaced in {replaced})" if backend == "files" else "user qmails")
    assert_provisioned(root)
    assert (stat.S_IMODE(var_qmail.st_mode), stat.S_IMODE(alias.st_mode)) == (0o755, 0o2755)
