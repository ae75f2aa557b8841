"""observe on its own: what it reads of a host and what it makes of it.

What is real: trees of account files under a temporary root, read for
real. What is stubbed: NSS (pwd and grp) on the live root, where the
machine's own NSS knows none of the spec's accounts; the stand-ins answer
for the local accounts too, as NSS does (files come first).
"""

from __future__ import annotations

import grp
import os
import pwd
from pathlib import Path

import pytest

from conftest import cli
from qmailsetup.observe import Parent, PathState, observe, observe_path
from qmailsetup.platforms import load_profile
from qmailsetup.spec import parse_spec
from snapshot import snapshot, without_pwd_lock
from trees import debian_tree, installed_tree, write

LINUX = load_profile("linux")
FREEBSD = load_profile("freebsd")
NETBSD = load_profile("netbsd")

# on the live root: local (this machine's /etc has daemon, 1, and bin, 2), and
# what only NSS (LDAP, say) knows: a user qmaild, a group qmail, and the
# holders of 7790 and 2108
NSS_USERS = [("daemon", 1), ("bin", 2), ("qmaild", 5001), ("ldapuser", 7790)]
NSS_GROUPS = [("daemon", 1), ("bin", 2), ("qmail", 5000), ("ldapgroup", 2108)]

LIVE_SPEC = """\
[[groups]]
name = "daemon"
[[groups]]
name = "qmail"
[[groups]]
name = "nofiles"
gid = 2108
[[groups]]
name = "qcerts"
gid = 2
[[users]]
name = "daemon"
group = "daemon"
home = "/usr/sbin"
[[users]]
name = "qmaild"
group = "nofiles"
home = "/var/qmail"
[[users]]
name = "alias"
group = "nofiles"
home = "/var/qmail/alias"
uid = 7790
[[users]]
name = "qmailq"
group = "qmail"
home = "/var/qmail"
uid = 2
"""


def stand_in(mocker, target: str, entries, key: int, make):
    """pwd.getpwnam (KEY 0) or getpwuid (KEY 1), and grp's, answering from ENTRIES."""
    def lookup(wanted):
        for name, number in entries:
            if (name, number)[key] == wanted:
                return make(name, number)
        raise KeyError(wanted)

    return mocker.patch(target, side_effect=lookup)


@pytest.mark.root("reads this host's own shadow")
def test_on_the_live_root_nss_is_asked_what_the_local_files_do_not_know(mocker):
    """A name is asked for when the local files lack it, a fixed ID when no
    local entry holds it; what NSS answers is kept by name (its ID) and by
    ID (its holder's name), and what the local files know is never asked."""
    user = lambda name, number: pwd.struct_passwd((name, "x", number, number, "", "/", "/bin/sh"))  # noqa: E731
    group = lambda name, number: grp.struct_group((name, "x", number, []))  # noqa: E731
    getpwnam = stand_in(mocker, "pwd.getpwnam", NSS_USERS, 0, user)
    getpwuid = stand_in(mocker, "pwd.getpwuid", NSS_USERS, 1, user)
    getgrnam = stand_in(mocker, "grp.getgrnam", NSS_GROUPS, 0, group)
    getgrgid = stand_in(mocker, "grp.getgrgid", NSS_GROUPS, 1, group)
    spec = parse_spec(LIVE_SPEC, "t.toml")
    host = observe(spec, Path("/"), LINUX)
    assert (host.nss_users, host.nss_uids) == ({"qmaild": 5001}, {7790: "ldapuser"})
    assert (host.nss_groups, host.nss_gids) == ({"qmail": 5000}, {2108: "ldapgroup"})
    assert [c.args for c in getpwnam.call_args_list] == [("qmaild",), ("alias",), ("qmailq",)]
    assert [c.args for c in getpwuid.call_args_list] == [(7790,)]
    assert [c.args for c in getgrnam.call_args_list] == [("qmail",), ("nofiles",), ("qcerts",)]
    assert [c.args for c in getgrgid.call_args_list] == [(2108,)]
    assert (host.uid_holder(7790), host.uid_holder(2), host.uid_holder(7791)) == ("ldapuser", "bin", None)
    assert (host.gid_holder(2108), host.gid_holder(1), host.gid_holder(2109)) == ("ldapgroup", "daemon", None)


def test_a_master_passwd_line_pwd_mkdb_would_refuse_leaves_passwd_alone(tmp_path):
    """pwd_mkdb would stop at a NIS line with a UID that is no number:
    what it would make of the rest is not for this run to guess, so passwd
    is not called stale, however it differs."""
    root = installed_tree(tmp_path / "root", "freebsd")
    with open(root / "etc/master.passwd", "a") as master:
        master.write("+odd:*:four:4000::0:0:::\n")
    spec = parse_spec('[[groups]]\nname = "qmail"\n', "t.toml")
    assert observe(spec, root, FREEBSD).stale_passwd is False
    with open(root / "etc/master.passwd", "a") as master:
        master.write("qmaild:*:4001:4001::0:0::/var/qmail:/usr/sbin/nologin\n")
    assert observe(spec, root, FREEBSD).stale_passwd is False


def test_a_passwd_in_sync_with_a_master_passwd_not_in_utf8_is_not_stale(tmp_path):
    """A comment field in Latin-1 (not UTF-8) is compared byte for byte."""
    root = installed_tree(tmp_path / "root", "freebsd")
    line = b"jose:*:1001:1001::0:0:Jos\xe9:/home/jose:/bin/sh\n"
    with open(root / "etc/master.passwd", "ab") as master:
        master.write(line)
    with open(root / "etc/passwd", "ab") as passwd:
        passwd.write(b"jose:*:1001:1001:Jos\xe9:/home/jose:/bin/sh\n")
    spec = parse_spec('[[groups]]\nname = "qmail"\n', "t.toml")
    assert observe(spec, root, FREEBSD).stale_passwd is False
    with open(root / "etc/passwd", "ab") as passwd:
        passwd.write(b"gone:*:1002:1002::/:/bin/sh\n")
    assert observe(spec, root, FREEBSD).stale_passwd is True


def netbsd_root(tmp_path: Path, shells: bytes | None) -> Path:
    root = installed_tree(tmp_path / "root", "openbsd")  # NetBSD's master.passwd has OpenBSD's format
    if shells is not None:
        (root / "etc/shells").write_bytes(shells)
    return root


ONE_USER = '[[groups]]\nname = "qmail"\n[[users]]\nname = "qmaild"\ngroup = "qmail"\nhome = "/var/qmail"\nshell = "/bin/false"\n'


def test_etc_shells_not_in_utf8_still_lists_its_shells(tmp_path):
    """getusershell() reads bytes: a Latin-1 comment in etc/shells does
    not hide the shells listed after it."""
    root = netbsd_root(tmp_path, b"# shells de l'h\xf4te\n/bin/sh\n/bin/ksh  # Korn\nbin/csh\n")
    host = observe(parse_spec(ONE_USER, "t.toml"), root, NETBSD)
    assert host.accepted_shells == {"/bin/sh", "/bin/ksh", "/sbin/nologin"}


def test_etc_shells_that_cannot_be_read_is_bad_input_naming_it(tmp_path):
    root = netbsd_root(tmp_path, None)
    (root / "etc/shells").mkdir()
    spec = tmp_path / "spec.toml"
    write(spec, ONE_USER)
    before = snapshot(root)
    result = cli("apply", "--platform", "netbsd", "--backend", "files", "--root", root, "--spec", spec)
    assert result.code == 2
    assert result.err == f"qmailsetup: {root}/etc/shells: cannot read: a directory, not a regular file\n"
    assert snapshot(root) == before


def directory(root: Path, path: str, mode: int, uid: int = 0, gid: int = 0) -> Path:
    made = root / path.lstrip("/")
    made.mkdir()
    os.chown(made, uid, gid)
    made.chmod(mode)
    return made


def test_each_spec_path_as_lstat_sees_it_with_the_parents_others_may_write_to(tmp_path, privileged):
    """Every existing directory above a path, the root first; of those,
    the ones not only root may write to (another owner, world-writable,
    group-writable by a group other than root's), said how they are owned."""
    root = tmp_path / "root"
    root.mkdir()
    root.chmod(0o755)
    directory(root, "/srv", 0o775)  # group-writable, but root's group: safe
    directory(root, "/srv/a", 0o775, gid=50)
    directory(root, "/srv/a/b", 0o1777)
    directory(root, "/srv/a/b/c", 0o755, uid=1000)
    directory(root, "/srv/a/b/c/qmail", 0o2755, uid=7, gid=8)
    (root / "srv/file").write_text("")
    (root / "srv/file").chmod(0o644)
    (root / "srv/link").symlink_to("a")
    unsafe = (("/srv/a", "owner 0, group 50, mode 0775"), ("/srv/a/b", "owner 0, group 0, mode 1777"),
              ("/srv/a/b/c", "owner 1000, group 0, mode 0755"))
    parents = (Parent("/", 0, 0, 0o755), Parent("/srv", 0, 0, 0o775), Parent("/srv/a", 0, 50, 0o775),
               Parent("/srv/a/b", 0, 0, 0o1777), Parent("/srv/a/b/c", 1000, 0, 0o755))
    qmail = "/srv/a/b/c/qmail"
    assert observe_path(root, qmail) == PathState(qmail, "directory", 7, 8, 0o2755, None, unsafe, parents)
    assert observe_path(root, qmail + "/alias/x") == PathState(
        qmail + "/alias/x", "missing", unsafe_parents=(*unsafe, (qmail, "owner 7, group 8, mode 2755")),
        parents=(*parents, Parent(qmail, 7, 8, 0o2755)))
    assert observe_path(root, "/srv/file") == PathState("/srv/file", "other", 0, 0, 0o644, None, (), parents[:2])
    # a link that leads where others may write is seen, not followed, and says why
    distrust = "/srv/a may be changed by others than root (owner 0, group 50, mode 0775)".replace("/srv", f"{root}/srv")
    assert observe_path(root, "/srv/link") == PathState(
        "/srv/link", "symlink", parents=parents[:2], leads_to="/srv/a", distrust=distrust)
    assert observe_path(root, "/srv/file/x") == PathState("/srv/file/x", "missing", blocked_by="/srv/file",
                                                          parents=parents[:2])
    assert observe_path(root, "/srv/link/b/c") == PathState(
        "/srv/link/b/c", "missing", blocked_by="/srv/link", parents=parents[:2], leads_to="/srv/a", distrust=distrust)
    directory(root, "/opt", 0o755, gid=50)  # another group, but without its write permission: safe
    directory(root, "/XX", 0o700)
    assert observe_path(root, "/opt/qmail").unsafe_parents == ()
    assert observe_path(root, "/XX/qmail").parents[-1] == Parent("/XX", 0, 0, 0o700)
    root.chmod(0o757)
    assert observe_path(root, "/srv/x").unsafe_parents == (("/", "owner 0, group 0, mode 0757"),)


def test_a_directory_on_the_way_made_a_file_meanwhile_is_what_blocks_the_path(tmp_path, mocker):
    """/srv/a seen as a directory, then replaced by a file before /srv/a/b
    is looked at: /srv/a is named as what is in the way, not /srv/a/b. (The
    swap comes at the walk's look at /srv/a: the second, after the one that
    resolved the path's links.)"""
    root = tmp_path / "root"
    (root / "srv/a").mkdir(parents=True)
    real = os.lstat
    looks = []

    def lstat(path, *args, **kwargs):
        info = real(path, *args, **kwargs)
        looks.append(Path(path))
        if Path(path) == root / "srv/a" and looks.count(root / "srv/a") == 2:
            (root / "srv/a").rmdir()
            (root / "srv/a").write_text("")
        return info

    mocker.patch("os.lstat", side_effect=lstat)
    state = observe_path(root, "/srv/a/b/qmail")
    assert (state.path, state.kind, state.blocked_by) == ("/srv/a/b/qmail", "missing", "/srv/a")
    assert [parent.path for parent in state.parents] == ["/", "/srv", "/srv/a"]


def test_the_nologin_shell_is_the_first_of_the_platform_s_the_tree_has(tmp_path):
    """generic lists /usr/sbin/nologin, /sbin/nologin, /bin/false, /bin/true:
    the first that exists under the root, else the first of them."""
    root = debian_tree(tmp_path / "root")
    generic = load_profile("generic")
    spec = parse_spec('[[groups]]\nname = "qmail"\n', "t.toml")
    assert observe(spec, root, generic).nologin == "/usr/sbin/nologin"
    for shell in ("/bin/true", "/bin/false", "/sbin/nologin"):
        write(root / shell.lstrip("/"), "")
        assert observe(spec, root, generic).nologin == shell


def test_an_account_file_made_a_symlink_after_it_was_looked_at_is_refused(tmp_path, mocker):
    """group was a file when lstat saw it, and is a symlink when it is
    opened: the open does not follow it, and the run refuses, exit 3."""
    from qmailsetup.userdb.etcdir import EtcDir

    root = debian_tree(tmp_path / "root")
    as_seen = os.lstat(root / "etc/group")
    (root / "etc/group").rename(tmp_path / "group")
    (root / "etc/group").symlink_to(tmp_path / "group")
    real = EtcDir.lstat
    mocker.patch.object(EtcDir, "lstat", lambda etc, name: as_seen if name == "group" else real(etc, name))
    before = snapshot(tmp_path)
    result = cli("apply", "--platform", "linux", "--root", root)
    assert result.code == 3
    assert result.err == f"qmailsetup: {root}/etc/group: is a symlink; refusing to edit an account file through a link\n"
    assert without_pwd_lock(snapshot(tmp_path)) == without_pwd_lock(before)


def test_an_empty_gshadow_is_read_as_one_without_entries(tmp_path):
    """gshadow is not required: empty, it holds no entry, and is no error."""
    root = debian_tree(tmp_path / "root")
    (root / "etc/gshadow").write_bytes(b"")
    spec = parse_spec('[[groups]]\nname = "qmail"\n', "t.toml")
    gshadow = observe(spec, root, LINUX).files["gshadow"]
    assert gshadow.exists and gshadow.get("root") is None


def test_a_missing_account_file_is_read_as_missing_and_the_others_as_there(tmp_path):
    root = debian_tree(tmp_path / "root")
    (root / "etc/gshadow").unlink()
    spec = parse_spec('[[groups]]\nname = "qmail"\n', "t.toml")
    files = observe(spec, root, LINUX).files
    assert {kind: files[kind].exists for kind in files} == {
        "passwd": True, "group": True, "shadow": True, "gshadow": False}
