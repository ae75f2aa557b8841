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
from qmailsetup.commands import apply as apply_command
from qmailsetup.errors import OperationFailed, Refused
from qmailsetup.observe import observe
from qmailsetup.output import ApplyReport
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


def remove(root: Path, kind: str, line: str) -> None:
    path = root / "etc" / kind
    path.write_text(path.read_text().replace(line + "\n", ""))


@pytest.mark.parametrize("meanwhile", [
    lambda r: append(r, "group", "qmail:x:4242:"),  # a planned group, made otherwise
    lambda r: append(r, "group", "other:x:999:"),  # a planned GID taken
    lambda r: append(r, "passwd", "someone:x:993:100::/:/bin/sh"),  # a planned UID taken
    lambda r: append(r, "passwd", "bin:x:2:2:bin:/bin:/usr/sbin/nologin"),  # an unrelated line
    lambda r: remove(r, "passwd", "alias:x:990:100::/home/alias:/bin/sh"),  # a user to change, gone
    lambda r: remove(r, "group", "adm:x:4:"),  # a group no change names, gone
    lambda r: (r / "etc/gshadow").unlink(),  # a file gone
], ids=["group-made", "gid-taken", "uid-taken", "unrelated-line", "user-removed", "group-removed", "file-removed"])
def test_without_the_run_s_locks_any_change_since_the_reading_is_refused(tmp_path, meanwhile):
    """The files backend without the run's locks (a command backend's
    writer) takes its own, then writes only if every file is still the
    bytes read: any change, whatever it touches, and nothing is written."""
    root = make_tree(tmp_path, "debian")
    append(root, "passwd", "alias:x:990:100::/home/alias:/bin/sh")
    append(root, "shadow", "alias:*:19000:0:99999:7:::")
    _host, plan, backend = planned(root, fix_drift=True)
    meanwhile(root)
    assert refusal(root, backend, plan) == (
        "the account files changed since they were read; nothing written, run again")
    assert not (root / "etc/passwd-").exists()


@pytest.mark.root("apply chowns /var/qmail and /var/qmail/alias")
def test_a_real_run_reads_the_files_under_the_locks_and_a_dry_run_takes_none(tmp_path, monkeypatch):
    """The files backend's run takes the locks before observe reads the
    files (as sysusers does), so nothing that honours them can change a
    file between the reading and the write; a dry run takes none."""
    from qmailsetup import observe as observe_module

    real_read = observe_module.read_files
    held = []

    def read_files(etc, flavor, **options):
        held.append(sorted(name for name in os.listdir(etc.path) if name.endswith(".lock")))
        return real_read(etc, flavor, **options)

    monkeypatch.setattr(observe_module, "read_files", read_files)
    root = make_tree(tmp_path, "debian")
    for dry_run in (True, False):
        apply_command.run(spec_file=None, root=root, backend_name="files", platform="linux", dry_run=dry_run,
                          fix_drift=False, detailed=False, report=ApplyReport(as_json=True))
    # the dry run; the real run (not its closing check: the files as written, not read)
    assert held == [[], [".pwd.lock", "group.lock", "gshadow.lock", "passwd.lock", "shadow.lock"]]


@pytest.mark.slow
@pytest.mark.root("apply chowns /var/qmail and /var/qmail/alias")
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
    # the closing check's reading, the files as the run wrote them: whole now
    after = observe(load_spec(None), root, load_profile("linux"), host.etc, backend.files_after)
    assert after.users.half_made("alias") is None and after.groups.half_made("nofiles") is None
    assert after.users["alias"].password == "*"


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


def test_the_files_as_written_are_what_a_new_reading_finds(tmp_path):
    """The closing check asks the files as the run wrote them (under its
    locks) instead of reading them again: byte for byte what is on disk,
    and the users and groups in them as a new reading finds them (users
    and groups created, a user rewritten for drift, a shadow line left by a
    crash rewritten, the password the one written to shadow)."""
    root = make_tree(tmp_path, "debian")
    append(root, "passwd", "alias:x:990:100::/home/alias:/bin/sh")
    append(root, "shadow", "alias:*:19000:0:99999:7:::")
    append(root, "shadow", "qmaild:$6$left$over:18000:0:99999:7:::")
    spec = load_spec(None).model_copy(update={"paths": []})
    host, plan, backend = planned(root, fix_drift=True, spec=spec)
    assert {(c.action, c.name) for c in plan.changes} >= {("modify", "alias"), ("create", "qmaild")}
    backend.apply(plan.changes, lambda change: None)
    assert {kind: f.data() for kind, f in backend.files_after.items()} == account_files(root)
    written = observe(spec, root, load_profile("linux"), host.etc, backend.files_after)
    again = observe(spec, root, load_profile("linux"))
    users, groups = [u.name for u in spec.users], [g.name for g in spec.groups]
    assert {name: written.users[name] for name in users} == {name: again.users[name] for name in users}
    assert {name: written.groups[name] for name in groups} == {name: again.groups[name] for name in groups}
    assert written.users["qmaild"].password == "!" and written.users["alias"].shell == "/usr/sbin/nologin"
    # their IDs, found when first asked for, are those of a new reading
    for kind in ("passwd", "group"):
        assert list(backend.files_after[kind].ids) == list(again.files[kind].ids)
        assert backend.files_after[kind].holder(990) == again.files[kind].holder(990)


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
