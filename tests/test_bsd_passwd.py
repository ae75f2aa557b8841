"""/etc/passwd from master.passwd, as `pwd_mkdb -p` writes it: the stock
FreeBSD and OpenBSD files in, the V7 passwd out, with no secret in it."""

from __future__ import annotations

import pytest

from golden import check_text
from qmailsetup.userdb.accountfile import AccountFile
from qmailsetup.userdb.pwdmkdb import v7_passwd
from trees import FIXTURES, bsd_tree

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
    assert list(passwd.names()) == list(master.names())  # same entries, same order
    for name, m in master.entries():
        assert passwd.get(name) == [m[0], "*", m[2], m[3], m[7], m[8], m[9]]
    # comments and blank lines where they were; every line accounted for
    assert [line for line in passwd.lines if line.startswith("#")] == [line for line in master.lines if line.startswith("#")]
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



def post_edit(root, run):
    """run_post_edit for FreeBSD with RUN for the commands; what it wrote and said."""
    from qmailsetup.platforms import load_profile
    from qmailsetup.userdb.etcdir import EtcDir
    from qmailsetup.userdb.pwdmkdb import post_edit_argv, run_post_edit

    written, said = [], []
    profile = load_profile("freebsd")
    with EtcDir.open(root) as etc:
        run_post_edit(profile.name, post_edit_argv(profile, root), etc, run, written.append, said.append)
    return written, said


def test_pwd_mkdb_rebuilds_under_the_root_with_exact_argv(tmp_path):
    root = bsd_tree(tmp_path / "root", "freebsd")
    calls = []
    written, said = post_edit(root, calls.append)
    assert calls == [["pwd_mkdb", "-N", "-p", "-d", f"{root}/etc", f"{root}/etc/master.passwd"]]
    assert written == [] and said == []


def test_without_pwd_mkdb_passwd_is_regenerated_and_that_is_said(tmp_path):
    root = bsd_tree(tmp_path / "root", "freebsd")

    def missing(argv):
        raise FileNotFoundError(2, "No such file or directory", argv[0])

    written, said = post_edit(root, missing)
    assert written == [v7_passwd((root / "etc/master.passwd").read_text()).encode()]
    assert said == [
        f"pwd_mkdb not found: {root}/etc/passwd regenerated from master.passwd as pwd_mkdb -p would; "
        f"the password databases are not rebuilt: run `pwd_mkdb -N -p -d {root}/etc {root}/etc/master.passwd` on the host"
    ]


def test_a_failing_pwd_mkdb_is_not_papered_over(tmp_path):
    from qmailsetup.errors import OperationFailed

    root = bsd_tree(tmp_path / "root", "freebsd")

    def fails(argv):
        raise OperationFailed("pwd_mkdb: exit 1")

    with pytest.raises(OperationFailed, match="pwd_mkdb: exit 1"):
        post_edit(root, fails)


def test_a_missing_post_edit_command_other_than_pwd_mkdb_is_a_failure(tmp_path):
    """Only pwd_mkdb can be stood in for (passwd made as it would); another
    platform's missing command is named, and nothing is written."""
    from qmailsetup.errors import OperationFailed
    from qmailsetup.userdb.etcdir import EtcDir
    from qmailsetup.userdb.pwdmkdb import run_post_edit

    root = bsd_tree(tmp_path / "root", "freebsd")
    written, said = [], []

    def missing(argv):
        raise FileNotFoundError(2, "No such file or directory", argv[0])

    with EtcDir.open(root) as etc, pytest.raises(OperationFailed) as failed:
        run_post_edit("someos", ["mkpwdb", "-p", f"{root}/etc/master.passwd"], etc, missing, written.append, said.append)
    assert str(failed.value) == "mkpwdb: command not found (the post-edit step of someos)"
    assert written == [] and said == []


def test_passwd_regenerated_without_pwd_mkdb_keeps_bytes_that_are_not_utf8(tmp_path):
    root = bsd_tree(tmp_path / "root", "freebsd")
    master = root / "etc/master.passwd"
    master.write_bytes(master.read_bytes() + b"jorg:*:1001:1001::0:0:J\xf6rg M\xfcller:/home/jorg:/bin/sh\n")

    def missing(argv):
        raise FileNotFoundError(2, "No such file or directory", argv[0])

    written, _ = post_edit(root, missing)
    assert written[0].endswith(b"jorg:*:1001:1001:J\xf6rg M\xfcller:/home/jorg:/bin/sh\n")


def test_each_field_of_a_passwd_line_comes_from_its_place_in_master_passwd():
    assert v7_passwd("name:secret:1:2:class:3:4:gecos:/home:/bin/sh\n") == "name:*:1:2:gecos:/home:/bin/sh\n"
    assert v7_passwd("name:secret:007:010:class:3:4:gecos:/home:/bin/sh") == "name:*:7:10:gecos:/home:/bin/sh\n"
    assert v7_passwd("+short:::\n") == "+short:*:::::\n"
    with pytest.raises(ValueError) as eleven:
        v7_passwd("root:*:0:0::0:0:x:/root:/bin/sh:extra\n")
    assert str(eleven.value) == "11 fields, a master.passwd line has 10: root"
