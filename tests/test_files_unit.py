"""The files backend's pieces: the diff built from edits, the re-check under
the lock, leftovers of a crash, the BSD post-edit hook, the dry run."""

from __future__ import annotations

import difflib
import errno
import json
import os
import traceback
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from conftest import fake_tools
from files_support import applied
from process import EPOCH, apply_files
from qmailsetup.backends import make_backend
from qmailsetup.backends.files import last_change_day, unchanged_since_read
from qmailsetup.errors import OperationFailed, Refused
from qmailsetup.observe import observe
from qmailsetup.plan import make_plan
from qmailsetup.platforms import POST_EDIT_FIELDS, IdRange, Profile, load_profile
from qmailsetup.spec import load_spec
from qmailsetup.template import Template
from qmailsetup.tools import ToolResult
from qmailsetup.userdb.diff import Edit, unified_diff
from qmailsetup.userdb.lock import lock_timeout
from snapshot import account_files
from trees import make_tree


@st.composite
def edited_files(draw):
    size = draw(st.integers(0, 40))
    old = [f"line{i}\n" for i in range(size)]
    positions = sorted(draw(st.sets(st.integers(0, size), max_size=6)))
    edits, counter = [], 0
    for position in positions:
        replace = position < size and draw(st.booleans())
        new = tuple(f"new{counter + k}\n" for k in range(draw(st.integers(1 if not replace else 0, 3))))
        counter += len(new)
        edits.append(Edit(position, position + 1 if replace else position, new))
    # an insertion and a replacement at one position: keep the replacement
    chosen = {}
    for edit in edits:
        chosen[edit.start] = edit
    return old, list(chosen.values())


@settings(max_examples=300, deadline=None)
@given(edited_files())
def test_the_diff_is_what_difflib_prints(case):
    old, edits = case
    new = applied(old, edits)
    assert unified_diff(old, edits, "a", "b") == "".join(difflib.unified_diff(old, new, "a", "b"))


def planned(root: Path, profile=None, fix_drift=False, spec=None):
    spec = spec or load_spec(None).model_copy(update={"paths": []})
    host = observe(spec, root, profile or load_profile("linux"))
    plan = make_plan(spec, host, fix_drift)
    return host, plan, make_backend("files", host)


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)


def append(root: Path, kind: str, line: str) -> None:
    with open(root / "etc" / kind, "a") as file:
        file.write(line + "\n")


@pytest.mark.parametrize("meanwhile, reason", [
    (lambda r: append(r, "group", "qmail:x:4242:"), "group qmail was created meanwhile, differently"),
    (lambda r: append(r, "group", "other:x:999:"), "gid 999 was taken meanwhile by group other"),
    (lambda r: append(r, "passwd", "someone:x:993:100::/:/bin/sh"), "uid 993 was taken meanwhile by user someone"),
])
def test_a_change_since_observe_is_refused_and_nothing_written(tmp_path, meanwhile, reason):
    root = make_tree(tmp_path, "debian")
    _host, plan, backend = planned(root)
    meanwhile(root)
    before = account_files(root)
    with pytest.raises(Refused, match=reason):
        backend.apply(plan.changes, lambda change: None)
    assert account_files(root) == before
    assert not (root / "etc/passwd-").exists()


def test_drift_changed_since_observe_is_refused(tmp_path):
    root = make_tree(tmp_path, "debian")
    append(root, "passwd", "alias:x:990:100::/home/alias:/bin/sh")
    append(root, "shadow", "alias:*:19000:0:99999:7:::")
    _host, plan, backend = planned(root, fix_drift=True)
    text = (root / "etc/passwd").read_text().replace("/home/alias:/bin/sh", "/home/alias:/bin/bash")
    (root / "etc/passwd").write_text(text)
    with pytest.raises(Refused, match=r"user alias changed meanwhile \(shell\)"):
        backend.apply(plan.changes, lambda change: None)
    (root / "etc/passwd").write_text(text.replace("/home/alias:/bin/bash", "/home/else:/bin/bash"))
    assert refusal(root, backend, plan) == (
        "the account files changed since they were read: user alias changed meanwhile (home, shell); "
        "nothing written, run again")


def test_entries_made_meanwhile_exactly_as_planned_count_as_done(tmp_path):
    root = make_tree(tmp_path, "debian")
    _host, plan, backend = planned(root)
    other = make_tree(tmp_path / "other", "debian")
    apply_files(other)  # another run, same plan: the same lines
    for kind in ("passwd", "shadow", "group", "gshadow"):
        (root / "etc" / kind).write_bytes((other / "etc" / kind).read_bytes())
    done = []
    backend.apply(plan.changes, done.append)
    assert len(done) == len(plan.changes)
    assert account_files(root) == account_files(other)
    assert not (root / "etc/passwd-").exists()  # nothing was rewritten


def test_a_shadow_line_left_by_a_crash_is_rewritten_in_place(tmp_path):
    """A crash between shadow and passwd leaves shadow lines alone; the
    next run rewrites them where they are, as useradd does."""
    root = make_tree(tmp_path, "debian")
    append(root, "shadow", "qmaild:$6$left$over:18000:0:99999:7:::")
    append(root, "gshadow", "nofiles:*::someone")
    apply_files(root)
    shadow = (root / "etc/shadow").read_text().splitlines()
    assert [line for line in shadow if line.startswith("qmaild:")] == ["qmaild:!:19675::::::"]
    assert shadow.index("qmaild:!:19675::::::") < shadow.index("alias:!:19675::::::")
    assert "nofiles:!::" in (root / "etc/gshadow").read_text().splitlines()


def half_made(tmp_path: Path, shell: str = "/usr/sbin/nologin") -> Path:
    """A Debian tree whose alias has a passwd line with its password in it
    and SHELL, and no shadow line; group nofiles no gshadow line."""
    root = make_tree(tmp_path, "debian")
    append(root, "group", "nofiles:x:998:")
    append(root, "passwd", f"alias:*:990:998::/var/qmail/alias:{shell}")
    return root


def test_a_repair_and_a_drift_of_one_account_each_build_on_the_other(tmp_path):
    """The password moved to shadow ('x' in its place) and the login shell
    fixed: one passwd line with both, whichever change is made first."""
    root = half_made(tmp_path, shell="/bin/sh")
    host, plan, backend = planned(root, fix_drift=True)
    alias = [(c.action, list(c.fields)) for c in plan.changes if c.name == "alias"]
    assert alias == [("repair", ["shadow"]), ("modify", ["shell"])]
    for changes in (plan.changes, plan.changes[::-1]):
        edits = backend.edits(changes, host.files)
        assert edits.pending("passwd", "alias") == ["alias", "x", "990", "998", "", "/var/qmail/alias", "/usr/sbin/nologin"]
        assert edits.pending("shadow", "alias") == ["alias", "*", "19675", "", "", "", "", "", ""]
        assert edits.pending("gshadow", "nofiles") == ["nofiles", "!", "", ""]
    backend.apply(plan.changes, lambda change: None)
    assert "alias:x:990:998::/var/qmail/alias:/usr/sbin/nologin\n" in (root / "etc/passwd").read_text()
    # the closing check asks the host state the run left: whole now
    assert host.users.half_made("alias") is None and host.groups.half_made("nofiles") is None
    assert host.users["alias"].password == "*"


def test_a_repair_made_meanwhile_counts_as_done_and_one_removed_is_refused(tmp_path):
    root = half_made(tmp_path)
    _host, plan, backend = planned(root)
    append(root, "shadow", "alias:*:19000::::::")  # another run (or pwconv) was first
    done = []
    backend.apply(plan.changes, done.append)
    assert [(c.kind, c.name) for c in done if c.action == "repair"] == [("group", "nofiles"), ("user", "alias")]
    assert (root / "etc/shadow").read_text().count("alias:") == 1
    assert "alias:*:990:" in (root / "etc/passwd").read_text()  # its line left as the other run left it

    root = half_made(tmp_path / "again")
    _host, plan, backend = planned(root)
    (root / "etc/passwd").write_text((root / "etc/passwd").read_text().replace("alias:*:990:998::/var/qmail/alias:/usr/sbin/nologin\n", ""))
    assert refusal(root, backend, plan) == (
        "the account files changed since they were read: user alias was removed meanwhile; nothing written, run again")


def test_the_dry_run_writes_nothing_at_all(tmp_path):
    root = make_tree(tmp_path, "debian")
    before = sorted((p.name, p.stat().st_mtime_ns) for p in (root / "etc").iterdir())
    result = apply_files(root, "--dry-run")
    assert "+qmails:x:993:999::/var/qmail:/usr/sbin/nologin" in result.stdout
    assert sorted((p.name, p.stat().st_mtime_ns) for p in (root / "etc").iterdir()) == before
    assert not (root / "var").exists()


def test_the_last_change_day_follows_useradd(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "86400")
    assert last_change_day() == "1"
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    assert last_change_day() == ""  # day 0 would force a change: left empty
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "99999999999")  # future: ignored
    assert last_change_day() == str(int(__import__("time").time()) // 86400)


def bsd_profile(post_edit: list[str]) -> Profile:
    """A BSD profile whose post-edit command is POST_EDIT."""
    return Profile(
        name="bsd-test", description="", backend="files", flavor="bsd", nologin=("/sbin/nologin",),
        system_ids=IdRange(100, 999, 100, 999), post_edit=Template.parse([post_edit], POST_EDIT_FIELDS),
    )


def bsd_etc(root: Path) -> Path:
    """ROOT/etc with a master.passwd and a group of root's alone."""
    etc = root / "etc"
    etc.mkdir()
    (etc / "master.passwd").write_text("root:*:0:0::0:0:Charlie &:/root:/bin/sh\n")
    (etc / "group").write_text("wheel:*:0:root\n")
    return etc


def test_bsd_post_edit_runs_under_the_lock_with_the_root(tmp_path, mocker):
    etc = bsd_etc(tmp_path)
    profile = bsd_profile(["pwd_mkdb", "-p", "-d", "{etcdir}", "{etcdir}/master.passwd"])
    _host, plan, backend = planned(tmp_path, profile)
    locked = []

    def answer(argv):
        locked.append((etc / "ptmp").exists())
        return ToolResult(tuple(argv), 0, "", "")

    seen = fake_tools(mocker, answer=answer)
    done = []
    backend.apply(plan.changes, done.append)
    assert seen == [["pwd_mkdb", "-p", "-d", str(etc), f"{etc}/master.passwd"]] and locked == [True]
    # every change, the groups' too, is done once pwd_mkdb ran
    assert {c.kind for c in plan.changes} == {"group", "user"} and done == plan.changes
    assert "qmails:*:" in (etc / "master.passwd").read_text()
    fake_tools(mocker, answer=lambda argv: ToolResult(tuple(argv), 1, "", "broken db"))
    _host, plan, backend = planned(tmp_path, profile)
    assert plan.in_sync
    (etc / "master.passwd").write_text("root:*:0:0::0:0:Charlie &:/root:/bin/sh\n")
    _host, plan, backend = planned(tmp_path, profile)
    done = []
    with pytest.raises(OperationFailed, match=r"pwd_mkdb -p -d .*: exit 1: broken db; master\.passwd written but the databases not rebuilt"):
        backend.apply(plan.changes, done.append)
    assert done == []  # nothing is usable before pwd_mkdb ran
    assert not (etc / "ptmp").exists()
    assert os.listdir(etc)  # the tree is still there


def test_nscd_is_told_when_the_real_root_changes(mocker):
    from qmailsetup.backends import files

    calls = []
    mocker.patch("qmailsetup.tools.find_tool", lambda name: "/usr/sbin/nscd" if name == "nscd" else None)
    mocker.patch("qmailsetup.tools.run_tool", lambda argv, **options: calls.append((argv, options)))
    files.flush_name_caches(["gshadow", "group", "shadow", "passwd"])
    bound = {"timeout": lock_timeout()}  # a hung nscd is given up on
    assert calls == [(["nscd", "-i", "group"], bound), (["nscd", "-i", "passwd"], bound)]
    # each file to its table: only the one that changed is flushed
    for written, table in ((["gshadow"], "group"), (["group"], "group"), (["shadow"], "passwd"),
                           (["master.passwd"], "passwd")):
        calls.clear()
        files.flush_name_caches(written)
        assert calls == [(["nscd", "-i", table], bound)], written
    calls.clear()

    def hung(argv, **options):
        calls.append(argv)
        raise TimeoutError(errno.ETIMEDOUT, "did not finish in 0.1 s", argv[0])

    mocker.patch("qmailsetup.tools.run_tool", hung)
    files.flush_name_caches(["group", "passwd"])  # the first one hung: the second is not tried
    assert calls == [["nscd", "-i", "group"]]
    calls.clear()
    mocker.patch("qmailsetup.tools.find_tool", lambda name: None)
    files.flush_name_caches(["passwd"])
    assert calls == []


def refusal(root: Path, backend, plan) -> str:
    """The one line an apply refused with, the files as they were."""
    before = account_files(root)
    with pytest.raises(Refused) as error:
        backend.apply(plan.changes, lambda change: None)
    assert account_files(root) == before
    return str(error.value)


def test_every_change_since_observe_is_counted_and_the_first_named(tmp_path):
    root = make_tree(tmp_path, "debian")
    _host, plan, backend = planned(root)
    append(root, "group", "other:x:999:")
    append(root, "passwd", "someone:x:993:100::/:/bin/sh")
    assert refusal(root, backend, plan) == (
        "the account files changed since they were read: gid 999 was taken meanwhile by group other "
        "(and 1 more); nothing written, run again")


def test_a_group_removed_since_observe_is_refused(tmp_path):
    """The users' groups are there, not planned: one goes away meanwhile."""
    root = make_tree(tmp_path, "debian")
    append(root, "group", "qmail:x:2107:")
    append(root, "gshadow", "qmail:!::")
    _host, plan, backend = planned(root)
    assert "qmail" not in {c.name for c in plan.changes if c.kind == "group"}
    for kind in ("group", "gshadow"):
        text = (root / "etc" / kind).read_text()
        (root / "etc" / kind).write_text(text.replace("qmail:x:2107:\n", "").replace("qmail:!::\n", ""))
    assert refusal(root, backend, plan) == (
        "the account files changed since they were read: group qmail of user qmailq is gone "
        "(and 2 more); nothing written, run again")


def test_a_user_removed_since_observe_is_refused(tmp_path):
    root = make_tree(tmp_path, "debian")
    append(root, "passwd", "alias:x:990:100::/home/alias:/bin/sh")
    append(root, "shadow", "alias:*:19000:0:99999:7:::")
    append(root, "passwd", "qmaild:x:991:100::/home/qmaild:/bin/sh")
    append(root, "shadow", "qmaild:*:19000:0:99999:7:::")
    _host, plan, backend = planned(root, fix_drift=True)
    text = (root / "etc/passwd").read_text()
    (root / "etc/passwd").write_text(text.replace("alias:x:990:100::/home/alias:/bin/sh\n", ""))
    assert refusal(root, backend, plan) == (
        "the account files changed since they were read: user alias was removed meanwhile; "
        "nothing written, run again")
    # each one gone is counted, not only the first
    (root / "etc/passwd").write_text(text.replace("alias:x:990:100::/home/alias:/bin/sh\n", "").replace(
        "qmaild:x:991:100::/home/qmaild:/bin/sh\n", ""))
    assert refusal(root, backend, plan) == (
        "the account files changed since they were read: user alias was removed meanwhile (and 1 more); "
        "nothing written, run again")


def test_a_last_change_day_that_is_no_number_is_ignored(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "soon")
    today = int(__import__("time").time()) // 86400
    assert last_change_day() == str(today)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "-86400")
    assert last_change_day() == str(today)


def test_the_files_count_as_unchanged_only_while_every_byte_is_the_same(tmp_path):
    """Under the lock the files are read again only when they changed since
    observe: a missing file still missing is unchanged; one byte more, a
    file made or a file gone is a change."""
    root = make_tree(tmp_path, "alpine")  # no gshadow
    host, _plan, _backend = planned(root)
    assert not host.files["gshadow"].exists and host.files["group"].exists
    assert unchanged_since_read(host.etc, host.files)
    (root / "etc/gshadow").write_text("")
    assert not unchanged_since_read(host.etc, host.files)
    (root / "etc/gshadow").unlink()
    group = (root / "etc/group").read_bytes()
    (root / "etc/group").write_bytes(group + b"\n")
    assert not unchanged_since_read(host.etc, host.files)
    (root / "etc/group").unlink()
    assert not unchanged_since_read(host.etc, host.files)
    (root / "etc/group").write_bytes(group)
    assert unchanged_since_read(host.etc, host.files)


def test_a_group_made_meanwhile_as_planned_is_left_and_the_rest_written(tmp_path):
    """Another run made the first group of the plan, exactly as planned:
    that one counts as done, every change after it is still made."""
    other = make_tree(tmp_path / "other", "debian")
    _, other_plan, other_backend = planned(other)
    other_backend.apply(other_plan.changes, lambda change: None)
    root = make_tree(tmp_path / "root", "debian")
    _host, plan, backend = planned(root)
    first = plan.changes[0]
    assert (first.kind, first.name) == ("group", "qmail")
    for kind in ("group", "gshadow"):
        (line,) = [line for line in (other / "etc" / kind).read_text().splitlines() if line.startswith("qmail:")]
        append(root, kind, line)
    done = []
    backend.apply(plan.changes, done.append)
    assert done == plan.changes
    assert account_files(root) == account_files(other)


def test_the_host_state_after_apply_is_what_a_new_reading_finds(tmp_path):
    """The closing check asks the host state the run wrote into instead of
    reading the files a third time: users and groups created, a user
    rewritten (drift), a shadow line left by a crash rewritten, each as a
    new reading finds it (the password the one written to shadow)."""
    root = make_tree(tmp_path, "debian")
    append(root, "passwd", "alias:x:990:100::/home/alias:/bin/sh")
    append(root, "shadow", "alias:*:19000:0:99999:7:::")
    append(root, "shadow", "qmaild:$6$left$over:18000:0:99999:7:::")
    spec = load_spec(None).model_copy(update={"paths": []})
    host, plan, backend = planned(root, fix_drift=True, spec=spec)
    assert {(c.action, c.name) for c in plan.changes} >= {("modify", "alias"), ("create", "qmaild")}
    backend.apply(plan.changes, lambda change: None)
    again = observe(spec, root, load_profile("linux"))
    users, groups = [u.name for u in spec.users], [g.name for g in spec.groups]
    assert {name: host.users[name] for name in users} == {name: again.users[name] for name in users}
    assert {name: host.groups[name] for name in groups} == {name: again.groups[name] for name in groups}
    assert host.users["qmaild"].password == "!" and host.users["alias"].shell == "/usr/sbin/nologin"


def test_a_missing_post_edit_command_is_named_with_its_profile(tmp_path):
    """A profile's post-edit command that is not installed (only pwd_mkdb
    is stood in for): the one line names it and the profile; nothing is
    done, master.passwd is written."""
    etc = bsd_etc(tmp_path)
    profile = bsd_profile(["qmailsetup-no-such-mkdb", "{etcdir}"])
    _host, plan, backend = planned(tmp_path, profile)
    done = []
    with pytest.raises(OperationFailed) as failed:
        backend.apply(plan.changes, done.append)
    assert str(failed.value) == "qmailsetup-no-such-mkdb: command not found (the post-edit step of bsd-test)"
    assert done == [] and "qmails:*:" in (etc / "master.passwd").read_text()


def test_nscd_is_told_after_a_run_on_the_real_root_only(tmp_path, mocker, privileged):
    """A run under --root (an image) leaves the host's nscd alone; the same
    run on / (the tree chrooted into, in a child) flushes the tables it
    wrote. nscd is not installed here: find_tool and run_tool stand in."""
    calls = []
    mocker.patch("qmailsetup.tools.find_tool", lambda name: "/usr/sbin/nscd" if name == "nscd" else None)
    mocker.patch("qmailsetup.tools.run_tool", lambda argv, **options: calls.append(argv))
    spec, profile = load_spec(None).model_copy(update={"paths": []}), load_profile("linux")
    _host, plan, backend = planned(make_tree(tmp_path / "image", "debian"), profile, spec=spec)
    backend.apply(plan.changes, lambda change: None)
    assert calls == []
    root = make_tree(tmp_path / "host", "debian")
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # what the run imports is imported already (the run above), but NSS's, asked on /
        try:
            import grp  # noqa: F401
            import pwd  # noqa: F401

            os.close(read)
            os.chroot(root)
            os.chdir("/")
            _host, plan, backend = planned(Path("/"), profile, spec=spec)
            backend.apply(plan.changes, lambda change: None)
            os.write(write, json.dumps(calls).encode())
        except BaseException:  # the failure, for the assertion below
            os.write(write, traceback.format_exc().encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        told = pipe.read()
    os.waitpid(child, 0)
    assert told.startswith("["), told
    assert json.loads(told) == [["nscd", "-i", "group"], ["nscd", "-i", "passwd"]], told
    assert account_files(root) == account_files(tmp_path / "image")  # the run on / was the same run
