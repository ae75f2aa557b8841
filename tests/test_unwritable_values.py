"""Values no account line may hold, and IDs no file can be given, met on
the host rather than in the spec (tests/test_spec.py has the spec's):
refused in one line before anything is written, never a traceback after.

A control character kept from an existing line (a drifted comment with a
form feed) is refused by the files backend, whatever the spec says; a
qmail account or a directory's owner whose ID chown cannot give
((uid_t)-1, or more than 32 bits) is a conflict. pwd_mkdb cannot run
here: it is either missing (passwd made as pwd_mkdb -p would) or stood in
for (conftest.fake_tools), as in tests/test_bsd_files.py."""

from __future__ import annotations

import pytest

from conftest import cli, fake_tools
from qmailsetup.userdb.pwdmkdb import v7_passwd
from snapshot import snapshot, without_pwd_lock
from trees import append, debian_tree, installed_tree, master_line

FREEBSD = ("--platform", "freebsd", "--backend", "files")


@pytest.fixture
def no_pwd_mkdb(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no pwd_mkdb, wherever this runs


def freebsd_with_alias(tmp_path, gecos: str, shell: str = "/bin/sh"):
    """A FreeBSD tree with qmail's groups and alias, its comment GECOS and
    a login shell (drift)."""
    root = installed_tree(tmp_path / "root", "freebsd")
    append(root, "group", ["qmail:*:82:", "nofiles:*:81:"])
    append(root, "master.passwd", [master_line("alias", 81, 81, "/var/qmail/alias", shell, gecos)])
    return root


@pytest.mark.parametrize("pwd_mkdb", ["missing", "present"])
@pytest.mark.parametrize("dry_run", [False, True], ids=["apply", "dry-run"])
def test_a_form_feed_kept_from_the_host_is_refused_before_master_passwd_is_touched(
        tmp_path, monkeypatch, mocker, pwd_mkdb, dry_run):
    """--fix-drift rewrites alias's line for its shell and would keep its
    comment, form feed and all (the spec names no comment): refused, exit
    3, one line; nothing under the root written, pwd_mkdb never run. (It
    was a traceback after master.passwd was replaced, and a rerun said "in
    sync".)"""
    root = freebsd_with_alias(tmp_path, "qmail\falias")
    if pwd_mkdb == "missing":
        monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    ran = fake_tools(mocker, {"pwd_mkdb"})
    before = snapshot(tmp_path)

    result = cli("apply", *FREEBSD, "--root", root, "--fix-drift", *(["--dry-run"] if dry_run else []))

    assert result.code == 3, result.err
    assert result.err == (
        f"qmailsetup: {root}/etc/master.passwd: the line of alias would hold '\\x0c' (U+000C), a control character, "
        "in its gecos field; no account line is written with one (give the field a value in the spec and rerun "
        "with --fix-drift, or mend the line by hand); nothing written\n"
    )
    assert snapshot(tmp_path) == before
    assert ran == []


def test_a_comment_from_the_spec_replaces_the_form_feed(tmp_path, no_pwd_mkdb):
    """What the refusal advises: the spec names the comment, --fix-drift
    writes it over the form feed, and passwd follows."""
    root = freebsd_with_alias(tmp_path, "qmail\falias")
    spec = tmp_path / "spec.toml"
    spec.write_text('[[groups]]\nname = "nofiles"\n[[users]]\nname = "alias"\ngroup = "nofiles"\n'
                    'home = "/var/qmail/alias"\ncomment = "qmail alias"\n')

    result = cli("apply", *FREEBSD, "--root", root, "--spec", spec, "--fix-drift")

    assert result.code == 0, result.err
    master = (root / "etc/master.passwd").read_text()
    assert "\f" not in master
    assert master.endswith(master_line("alias", 81, 81, "/var/qmail/alias", "/usr/sbin/nologin", "qmail alias") + "\n")
    assert (root / "etc/passwd").read_text() == v7_passwd(master)


@pytest.mark.root("apply chowns /var/qmail and /var/qmail/alias")
def test_a_form_feed_in_a_line_of_another_account_is_kept_as_it_is(tmp_path, no_pwd_mkdb):
    """A line outside the spec is never touched, odd bytes and all, and
    passwd is made from it as pwd_mkdb -p makes it, a line per '\\n' (a
    form feed ended the line before: a traceback after master.passwd was
    written, then "in sync" for ever)."""
    root = installed_tree(tmp_path / "root", "freebsd")
    odd = master_line("odd", 2000, 2000, "/home/odd", "/bin/sh", "form\ffeed, NEL\x85 and\u2028more")
    append(root, "master.passwd", [odd])

    result = cli("apply", *FREEBSD, "--root", root)

    assert result.code == 0, result.err
    master = (root / "etc/master.passwd").read_text()
    assert f"\n{odd}\n" in master
    passwd = (root / "etc/passwd").read_text()
    assert "\nodd:*:2000:2000:form\ffeed, NEL\x85 and\u2028more:/home/odd:/bin/sh\n" in passwd
    assert passwd == v7_passwd(master)
    again = cli("apply", *FREEBSD, "--root", root, "--dry-run")
    assert again.code == 0 and "0 to create, 0 to modify" in again.out


def test_a_bell_kept_in_a_group_s_member_list_is_refused(tmp_path):
    """Joining a group rewrites its line: a BEL in the member list, kept
    from the host, is refused as a comment's form feed is."""
    root = debian_tree(tmp_path / "root")
    append(root, "group", ["qcerts:x:1500:bob\a"])
    append(root, "gshadow", ["qcerts:!::bob"])
    spec = tmp_path / "spec.toml"
    spec.write_text('[[groups]]\nname = "nofiles"\n[[users]]\nname = "alias"\ngroup = "nofiles"\n'
                    'home = "/var/qmail/alias"\ngroups = ["qcerts"]\n')
    before = snapshot(tmp_path)

    result = cli("apply", "--platform", "linux", "--backend", "files", "--root", root, "--spec", spec)

    assert result.code == 3
    assert result.err.startswith(f"qmailsetup: {root}/etc/group: the line of qcerts would hold '\\x07' (U+0007), "
                                 "a control character, in its members field;")
    assert without_pwd_lock(snapshot(tmp_path)) == without_pwd_lock(before)


# --- IDs no file can be given --------------------------------------------

NO_CHANGE = 2**32 - 1  # (uid_t)-1: chown's "leave it unchanged"
LINUX = ("--platform", "linux")


def debian_with_qmail_groups(tmp_path):
    root = debian_tree(tmp_path / "root")
    append(root, "group", ["nofiles:x:990:", "qmail:x:991:"])
    append(root, "gshadow", ["nofiles:!::", "qmail:!::"])
    return root


def with_alias(root, uid: int):
    append(root, "passwd", [f"alias:x:{uid}:990::/var/qmail/alias:/usr/sbin/nologin"])
    append(root, "shadow", ["alias:!:19000::::::"])
    return root


@pytest.mark.parametrize("dry_run", [False, True], ids=["apply", "dry-run"])
@pytest.mark.parametrize("backend", [
    "files", pytest.param("useradd", marks=pytest.mark.root("the host's tools are handed only a tree root alone can change")),
])
@pytest.mark.parametrize("uid", [NO_CHANGE, NO_CHANGE + 1, 2**64])
def test_a_qmail_account_with_an_id_chown_cannot_give_is_refused(tmp_path, uid, backend, dry_run):
    """alias with UID 4294967295 made the run say it created
    /var/qmail/alias while fchown left it root's, and never converge; 2**32
    was a traceback after the account files were written. Now: exit 3,
    one line naming the file, the account and the ID; nothing written."""
    root = with_alias(debian_with_qmail_groups(tmp_path), uid)
    before = snapshot(tmp_path)

    result = cli("apply", *LINUX, "--backend", backend, "--root", root, *(["--dry-run"] if dry_run else []))

    assert result.code == 3, result.err
    why = "is (uid_t)-1, which chown reads as 'leave it unchanged'" if uid == NO_CHANGE \
        else "is more than a uid_t holds (32 bits)"
    assert result.err == (f"qmailsetup: refused, nothing written: user alias: uid {uid} in {root}/etc/passwd {why}: "
                          "no file can be given that uid; renumber the account by hand\n")
    assert without_pwd_lock(snapshot(tmp_path)) == without_pwd_lock(before)


def test_a_qmail_group_with_gid_minus_one_is_refused(tmp_path):
    root = debian_tree(tmp_path / "root")
    append(root, "group", [f"nofiles:x:{NO_CHANGE}:", "qmail:x:991:"])
    append(root, "gshadow", ["nofiles:!::", "qmail:!::"])
    before = snapshot(tmp_path)

    result = cli("apply", *LINUX, "--backend", "files", "--root", root)

    assert result.code == 3
    assert result.err.startswith(f"qmailsetup: refused, nothing written: group nofiles: gid {NO_CHANGE} in "
                                 f"{root}/etc/group is (gid_t)-1, which chown reads as 'leave it unchanged': ")
    assert without_pwd_lock(snapshot(tmp_path)) == without_pwd_lock(before)


def test_an_owner_from_the_host_with_such_an_id_is_a_conflict_of_the_path(tmp_path):
    """The owner of a directory of the spec, an account of the host only,
    has no conflict of its own: the path has it."""
    root = debian_with_qmail_groups(tmp_path)
    append(root, "passwd", [f"mailer:x:{NO_CHANGE + 1}:990::/home/mailer:/usr/sbin/nologin"])
    spec = tmp_path / "spec.toml"
    spec.write_text('[[paths]]\npath = "/var/spool/qm"\nowner = "mailer"\ngroup = "qmail"\nmode = "0750"\n')
    before = snapshot(tmp_path)

    result = cli("apply", *LINUX, "--backend", "files", "--root", root, "--spec", spec, "--json")

    assert result.code == 3
    assert result.err == (f"qmailsetup: refused, nothing written: path /var/spool/qm: its owner mailer: uid "
                          f"{NO_CHANGE + 1} in {root}/etc/passwd is more than a uid_t holds (32 bits): no file can "
                          "be given that uid; renumber the account by hand\n")
    assert without_pwd_lock(snapshot(tmp_path)) == without_pwd_lock(before)


@pytest.mark.root("apply chowns /var/qmail and /var/qmail/alias")
def test_another_account_with_such_an_id_does_not_block_the_run(tmp_path):
    """An entry outside the spec is never touched, and its ID reaches no
    chown and no line written: the run goes on around it."""
    root = debian_with_qmail_groups(tmp_path)
    append(root, "passwd", [f"odd:x:{NO_CHANGE}:{NO_CHANGE + 1}::/home/odd:/bin/sh"])

    result = cli("apply", *LINUX, "--backend", "files", "--root", root)

    assert result.code == 0, result.err
    assert cli("apply", *LINUX, "--backend", "files", "--root", root).out.count("0 to create, 0 to modify") == 1


@pytest.mark.parametrize(("spec_text", "refused"), [
    ('[[users]]\nname = "alias"\ngroup = "mailers"\nhome = "/var/qmail/alias"\n', "user alias: its group mailers"),
    ('[[paths]]\npath = "/var/spool/qm"\nowner = "root"\ngroup = "mailers"\nmode = "0750"\n',
     "path /var/spool/qm: its group mailers"),
], ids=["primary group", "directory's group"])
def test_a_group_from_the_host_with_gid_minus_one_is_a_conflict_of_who_relies_on_it(tmp_path, spec_text, refused):
    root = debian_tree(tmp_path / "root")
    append(root, "group", [f"mailers:x:{NO_CHANGE}:"])
    append(root, "gshadow", ["mailers:!::"])
    spec = tmp_path / "spec.toml"
    spec.write_text(spec_text)
    before = snapshot(tmp_path)

    result = cli("apply", *LINUX, "--backend", "files", "--root", root, "--spec", spec)

    assert result.code == 3
    assert result.err == (f"qmailsetup: refused, nothing written: {refused}: gid {NO_CHANGE} in {root}/etc/group is "
                          "(gid_t)-1, which chown reads as 'leave it unchanged': no file can be given that gid; "
                          "renumber the account by hand\n")
    assert without_pwd_lock(snapshot(tmp_path)) == without_pwd_lock(before)
