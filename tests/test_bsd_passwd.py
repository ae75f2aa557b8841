"""/etc/passwd from master.passwd, as `pwd_mkdb -p` writes it: the stock
FreeBSD and OpenBSD files in, the V7 passwd out, with no secret in it."""

from __future__ import annotations

import pytest
from golden import check_text
from bsd_hosts import bsd_tree
from trees import FIXTURES

from qmailsetup.userdb.accountfile import AccountFile
from qmailsetup.userdb.pwdmkdb import v7_passwd

BSD_FIXTURES = ["freebsd", "freebsd-current", "openbsd", "openbsd-current"]


@pytest.mark.parametrize("fixture", BSD_FIXTURES)
def test_regenerated_passwd_matches_golden(fixture):
    check_text(f"bsd/passwd/{fixture}.passwd", v7_passwd((FIXTURES / fixture / "master.passwd").read_text()))


@pytest.mark.parametrize("fixture", BSD_FIXTURES)
def test_regenerated_passwd_is_master_passwd_minus_the_secret_fields(fixture):
    master_text = (FIXTURES / fixture / "master.passwd").read_text()
    passwd_text = v7_passwd(master_text)
    master = AccountFile.parse(FIXTURES / fixture / "master.passwd", "master.passwd", master_text.encode())
    passwd = AccountFile.parse(FIXTURES / fixture / "passwd", "passwd", passwd_text.encode())
    assert list(passwd.index) == list(master.index)  # same entries, same order
    for name, m in master.entries():
        assert passwd.get(name) == [m[0], "*", m[2], m[3], m[7], m[8], m[9]]
    # comments and blank lines where they were; every line accounted for
    assert [l for l in passwd.lines if l.startswith("#")] == [l for l in master.lines if l.startswith("#")]
    assert len(passwd.lines) == len(master.lines)


def test_no_secret_survives():
    master = (
        "# header\n"
        "root:$6$salt$hash:0:0:daemon:0:0:Charlie &:/root:/bin/sh\n"
        "toor::0:0::1700000000:1800000000:Bourne-again Superuser:/root:\n"
        "\n"
        "+@staff:::::::::\n"
        "+\n"
        "-baduser:::::::::\n"
    )
    assert v7_passwd(master) == (
        "# header\n"
        "root:*:0:0:Charlie &:/root:/bin/sh\n"
        "toor:*:0:0:Bourne-again Superuser:/root:\n"
        "\n"
        "+@staff:*:::::\n"
        "+:*:::::\n"
        "-baduser:*:::::\n"
    )


def test_a_line_with_too_many_fields_is_not_guessed_at():
    with pytest.raises(ValueError, match="11 fields"):
        v7_passwd("root:*:0:0::0:0:x:/root:/bin/sh:extra\n")


def run(root, mocker, which):
    """run_post_edit for FreeBSD with pwd_mkdb mocked; what it ran, wrote and said."""
    from qmailsetup.platforms import load_profile
    from qmailsetup.userdb.pwdmkdb import run_post_edit

    calls, written, said = [], [], []
    mocker.patch("shutil.which", side_effect=which)
    mocker.patch("sh.Command", side_effect=lambda name: lambda *args: calls.append([name, *args]))
    run_post_edit(load_profile("freebsd"), root, written.append, said.append)
    return calls, written, said


def test_pwd_mkdb_rebuilds_under_the_root_with_exact_argv(tmp_path, mocker):
    root = bsd_tree(tmp_path / "root", "freebsd")
    calls, written, said = run(root, mocker, which=lambda name: f"/usr/sbin/{name}")
    assert calls == [["pwd_mkdb", "-p", "-d", f"{root}/etc", f"{root}/etc/master.passwd"]]
    assert written == [] and said == []


def test_without_pwd_mkdb_passwd_is_regenerated_and_that_is_said(tmp_path, mocker):
    root = bsd_tree(tmp_path / "root", "freebsd")
    calls, written, said = run(root, mocker, which=lambda name: None)
    assert calls == []
    assert written == [v7_passwd((root / "etc/master.passwd").read_text()).encode()]
    assert said == [
        f"pwd_mkdb not found: {root}/etc/passwd regenerated from master.passwd as pwd_mkdb -p would; "
        f"the password databases are not rebuilt: run `pwd_mkdb -p -d {root}/etc {root}/etc/master.passwd` on the host"
    ]


def test_a_failing_pwd_mkdb_is_one_line(tmp_path, mocker):
    import sh

    from qmailsetup.errors import OperationFailed
    from qmailsetup.platforms import load_profile
    from qmailsetup.userdb.pwdmkdb import run_post_edit

    root = bsd_tree(tmp_path / "root", "freebsd")
    mocker.patch("shutil.which", return_value="/usr/sbin/pwd_mkdb")

    def fail(*args):
        raise sh.ErrorReturnCode_1("pwd_mkdb".encode(), b"", b"pwd_mkdb: at line #3\npwd_mkdb: Inappropriate file type or format\n")

    mocker.patch("sh.Command", return_value=fail)
    with pytest.raises(OperationFailed) as error:
        run_post_edit(load_profile("freebsd"), root, None, None)
    assert str(error.value) == (
        f"pwd_mkdb -p -d {root}/etc {root}/etc/master.passwd: exit 1: "
        "pwd_mkdb: at line #3; pwd_mkdb: Inappropriate file type or format"
    )
