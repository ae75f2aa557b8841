"""Facts in, commands out: FreeBSD pw and OpenBSD useradd over fresh,
partial, drifted and conflicting hosts built from the stock BSD files.

pw and OpenBSD's useradd cannot run here, so the one runner
(tools.run_tool) is mocked and the exact argv is checked, against a golden
per case. The argv comes from the same CommandBackend and profile
templates as the real Linux useradd path (checked here
too, and run for real in test_apply_useradd.py); what the dry run shows is
exactly what apply runs.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from bsd_hosts import STATES, build
from conftest import cli, fake_tools
from golden import check_json, scrub
from qmailsetup.backends import make_backend
from qmailsetup.observe import observe
from qmailsetup.plan import make_plan
from qmailsetup.platforms import load_profile
from qmailsetup.spec import load_spec
from snapshot import snapshot
from trees import bsd_tree, debian_tree, example_tables, spec_toml

# NetBSD's master.passwd has OpenBSD's format; no NetBSD tree is kept
FIXTURE = {"freebsd": "freebsd", "openbsd": "openbsd", "netbsd": "openbsd"}
CASES = [(platform, state, False) for platform in FIXTURE for state in STATES]
CASES += [(platform, "drifted", True) for platform in FIXTURE]



def plan_for(platform: str, root: Path, spec_file: Path | None, fix_drift: bool):
    spec = load_spec(spec_file)
    profile = load_profile(platform)
    host = observe(spec, root, profile)
    if profile.name in ("openbsd", "netbsd"):
        # their tools have no root option: the tree stands for the host's /
        host.root = Path("/")
    plan = make_plan(spec, host, fix_drift)
    return plan, make_backend(profile.backend, host)


@pytest.mark.root("the host's tools are handed only a tree root alone can change")
@pytest.mark.parametrize(
    ("platform", "state", "fix_drift"), CASES, ids=[f"{p}-{s}{'-fix-drift' if f else ''}" for p, s, f in CASES]
)
def test_commands_match_golden_and_are_what_apply_runs(tmp_path, mocker, platform, state, fix_drift):
    root = tmp_path / "root"
    spec_file = build(state, root, FIXTURE[platform])
    plan, backend = plan_for(platform, root, spec_file, fix_drift)
    commands = [argv for change in plan.changes for argv in backend.commands(change)]
    shown = {
        "commands": json.loads(scrub(json.dumps(commands), root)),
        "conflicts": [f"{c.kind} {c.name}: {c.reason}" for c in plan.conflicts],
        "warnings": plan.warnings,
        "refused": plan.refused,
    }
    check_json(f"bsd/commands/{platform}-{state}{'-fix-drift' if fix_drift else ''}.json", shown)

    calls = fake_tools(mocker)
    if plan.refused:
        return
    done = []
    backend.apply([c for c in plan.changes if c.kind != "path"], done.append)
    # what is shown (run_tool finds each tool by its absolute path: test_tools.py)
    assert calls == commands
    assert [c.name for c in done] == [c.name for c in plan.changes if c.kind != "path"]


@pytest.mark.root("the host's tools are handed only a tree root alone can change")
def test_pw_is_told_every_id_and_locks_the_password(tmp_path):
    """pw would allocate from pw.conf's 1000..32000 (people): the plan's
    system-range IDs go on the command line, and `-h -` sets '*'."""
    root = bsd_tree(tmp_path / "root", "freebsd")
    plan, backend = plan_for("freebsd", root, None, False)
    groupadd, *_ = backend.commands(plan.changes[0])
    useradd = backend.commands(next(c for c in plan.changes if c.name == "alias"))[0]
    assert groupadd == ["pw", "-R", str(root), "groupadd", "qmail", "-g", "159"]
    assert useradd == [
        "pw", "-R", str(root), "useradd", "alias", "-g", "nofiles", "-d", "/var/qmail/alias",
        "-s", "/usr/sbin/nologin", "-u", "159", "-h", "-", "-G", "",
    ]


@pytest.mark.root("the host's tools are handed only a tree root alone can change")
def test_linux_useradd_is_told_the_ids_the_plan_chose(tmp_path):
    """The same code path on Linux: shadow-utils -r would allocate as the
    plan did, and is told the ID all the same (-u, -g), so what the plan
    shows is what is made and nothing reads an ID back."""
    root = debian_tree(tmp_path / "root")
    plan, backend = plan_for("linux", root, None, False)
    commands = [argv for change in plan.changes for argv in backend.commands(change)]
    assert commands[0] == ["groupadd", "--prefix", str(root), "-r", "-g", "999", "qmail"]
    assert commands[2] == [
        "useradd", "--prefix", str(root), "-r", "-M", "-u", "999", "-g", "nofiles", "-d", "/var/qmail/alias",
        "-s", "/usr/sbin/nologin", "alias",
    ]


@pytest.mark.root("the host's tools are handed only a tree root alone can change")
def test_a_failing_pw_stops_at_the_first_failure_and_says_what_was_done(tmp_path, mocker):
    from qmailsetup.errors import OperationFailed
    from qmailsetup.tools import ToolResult

    root = bsd_tree(tmp_path / "root", "freebsd")
    plan, backend = plan_for("freebsd", root, None, False)

    def answer(argv):
        code = 67 if len(runs) == 3 else 0
        return ToolResult(tuple(argv), code, "", "pw: group `nofiles' does not exist\n" if code else "")

    runs = fake_tools(mocker, answer=answer)
    done = []
    with pytest.raises(OperationFailed, match=r"exit 67: pw: group `nofiles' does not exist$"):
        backend.apply([c for c in plan.changes if c.kind != "path"], done.append)
    assert [c.name for c in done] == ["qmail", "nofiles"]


def test_openbsd_refuses_another_root_with_one_line(tmp_path, mocker):
    root = bsd_tree(tmp_path / "root", "openbsd")
    calls = fake_tools(mocker)
    before = snapshot(root)
    result = cli("apply", "--dry-run", "--platform", "openbsd", "--backend", "useradd", "--root", root)
    assert result.code == 2
    assert result.err == (
        "qmailsetup: --root: useradd on openbsd has no option to work under another root; "
        "use --backend files (or run on the host itself)\n"
    )
    assert calls == [] and snapshot(root) == before


@pytest.mark.root("the host's tools are handed only a tree root alone can change")
def test_dry_run_json_on_a_freebsd_tree_shows_pw_with_R(tmp_path, mocker):
    root = bsd_tree(tmp_path / "root", "freebsd")
    calls = fake_tools(mocker)
    before = snapshot(root)
    result = cli("apply", "--dry-run", "--platform", "freebsd", "--backend", "pw", "--root", root, "--json")
    assert result.code == 0, result.err
    data = json.loads(scrub(result.out, root))
    check_json("bsd/dry_run_freebsd.json", data)
    pw_commands = [argv for change in data["changes"] for argv in change["commands"]]
    assert len(pw_commands) == 9 and all(argv[:3] == ["pw", "-R", "<root>"] for argv in pw_commands)
    assert calls == [] and snapshot(root) == before


@pytest.mark.root("the host's tools are handed only a tree root alone can change")
def test_apply_on_a_freebsd_tree_runs_pw_as_shown(tmp_path, mocker):
    """The whole pipeline, pw mocked; a spec without paths. A mocked pw
    makes no accounts: the reading after the run says so (exit 5)."""
    root = bsd_tree(tmp_path / "root", "freebsd")
    spec = tmp_path / "accounts.toml"
    spec.write_text(spec_toml({**example_tables("freebsd-ports"), "paths": []}))
    shown = json.loads(cli("apply", "--dry-run", "--json", "--platform", "freebsd", "--backend", "pw", "--root", root, "--spec", spec).out)
    calls = fake_tools(mocker)
    result = cli("apply", "--json", "--platform", "freebsd", "--backend", "pw", "--root", root, "--spec", spec)
    # a mocked pw makes nothing: check finds the accounts missing after the run
    assert result.code == 5, result.err
    assert [f["id"] for f in json.loads(result.out)["check"]] == ["account.exists"]
    assert calls == [argv for change in shown["changes"] for argv in change["commands"]]
    assert calls[0] == ["pw", "-R", str(root), "groupadd", "qnofiles", "-g", "81"]
    assert calls[2] == [
        "pw", "-R", str(root), "useradd", "alias", "-g", "qnofiles", "-d", "/var/qmail/alias",
        "-s", "/nonexistent", "-u", "81", "-c", "QMail user", "-h", "-", "-G", "",
    ]


@pytest.mark.root("the host's tools are handed only a tree root alone can change")
def test_a_login_class_goes_to_pw_and_useradd_as_L(tmp_path):
    spec = tmp_path / "class.toml"
    spec.write_text('[[groups]]\nname = "qmail"\ngid = 2107\n'
                    '[[users]]\nname = "qmailq"\ngroup = "qmail"\nhome = "/var/qmail"\nuid = 7794\nclass = "daemon"\n')
    freebsd = bsd_tree(tmp_path / "freebsd", "freebsd")
    plan, backend = plan_for("freebsd", freebsd, spec, False)
    assert backend.commands(plan.changes[1])[0][-6:] == ["-L", "daemon", "-h", "-", "-G", ""]
    openbsd = bsd_tree(tmp_path / "openbsd", "openbsd")
    plan, backend = plan_for("openbsd", openbsd, spec, False)
    assert backend.commands(plan.changes[1]) == [
        ["useradd", "-u", "7794", "-g", "qmail", "-d", "/var/qmail", "-s", "/sbin/nologin", "-L", "daemon", "-p", "*", "qmailq"]
    ]


@pytest.mark.root("the host's tools are handed only a tree root alone can change")
def test_openbsd_and_netbsd_useradd_are_given_their_locked_password(tmp_path):
    """Without -p both take usermgmt.conf's "password" (user.c
    read_defaults()); OpenBSD writes what it is given, NetBSD keeps a
    DES-length value and writes 13 '*' itself for anything else."""
    expected = {
        "openbsd": ["useradd", "-u", "499", "-g", "nofiles", "-d", "/var/qmail/alias", "-s", "/sbin/nologin",
                    "-p", "*", "alias"],
        "netbsd": ["useradd", "-u", "999", "-g", "nofiles", "-d", "/var/qmail/alias", "-s", "/sbin/nologin",
                   "-p", "*************", "alias"],
    }
    for platform, argv in expected.items():
        plan, backend = plan_for(platform, bsd_tree(tmp_path / platform, "openbsd"), None, False)
        assert backend.commands(next(c for c in plan.changes if c.name == "alias")) == [argv]


@pytest.mark.root("the host's tools are handed only a tree root alone can change")
def test_a_login_class_on_linux_is_a_warning_not_a_lost_field_or_endless_drift(tmp_path):
    spec = tmp_path / "class.toml"
    spec.write_text('[[groups]]\nname = "qmail"\n[[groups]]\nname = "nofiles"\n'
                    '[[users]]\nname = "alias"\ngroup = "nofiles"\nhome = "/var/qmail/alias"\nclass = "daemon"\n')
    root = debian_tree(tmp_path / "root")
    plan, backend = plan_for("linux", root, spec, False)
    assert "class" not in plan.changes[2].fields
    assert "user alias: class 'daemon' ignored; platform linux keeps no login classes" in plan.warnings
    assert "-L" not in backend.commands(plan.changes[2])[0]


@pytest.mark.root("the host's tools are handed only a tree root alone can change")
def test_accounts_the_tool_did_not_make_are_one_line_not_a_traceback(tmp_path, mocker):
    """pw "succeeds" (mocked) but the files have none of the accounts: the
    directories are given the IDs pw was told, and the reading after the
    run finds the accounts missing: exit 5, one line naming them."""
    root = bsd_tree(tmp_path / "root", "freebsd")
    fake_tools(mocker)
    result = cli("apply", "--platform", "freebsd", "--backend", "pw", "--root", root)
    assert result.code == 5
    assert result.err == (f"qmailsetup: {root}/etc/master.passwd: account.exists: not as this run made them: "
                          "group qmail, group nofiles, user alias, user qmaild, user qmaill, user qmailp, user qmailq, "
                          "user qmailr, user qmails\n")
    assert "created user alias (uid 159)" in result.out


@pytest.mark.root("the host's tools are handed only a tree root alone can change")
def test_what_pw_does_beyond_the_accounts_is_said_only_when_pw_runs(tmp_path):
    """pw_user.c touches /var/mail/NAME and mails pw.conf's newmail, with
    no option against either: a warning naming the users pw creates; the
    files backend does neither, so says nothing."""
    root = bsd_tree(tmp_path / "root", "freebsd")
    with_pw = json.loads(cli("apply", "--dry-run", "--json", "--platform", "freebsd", "--backend", "pw", "--root", root).out)
    assert with_pw["warnings"] == [
        "pw useradd also creates an empty /var/mail/NAME owned by each new user (alias, qmaild, qmaill, qmailp, "
        "qmailq, qmailr, qmails), and mails each the file pw.conf's newmail names, if it names one"
    ]
    files = json.loads(cli("apply", "--dry-run", "--json", "--platform", "freebsd", "--backend", "files", "--root", root).out)
    assert files["warnings"] == []


@pytest.mark.root("the host's tools are handed only a tree root alone can change")
def test_on_the_host_itself_no_root_option_is_given(tmp_path):
    """Without --root the commands work on the host's own /: no `--prefix /`
    or `pw -R /` (what the dry run shows is what runs)."""
    for platform, tree in (("linux", debian_tree), ("freebsd", lambda root: bsd_tree(root, "freebsd"))):
        root = tree(tmp_path / platform)
        spec = load_spec(None)
        host = observe(spec, root, load_profile(platform))
        host.root = Path("/")
        plan = make_plan(spec, host, False)
        backend = make_backend(host.profile.backend, host)
        (groupadd,) = backend.commands(plan.changes[0])
        assert groupadd == {"linux": ["groupadd", "-r", "-g", "999", "qmail"],
                            "freebsd": ["pw", "groupadd", "qmail", "-g", "159"]}[platform]


@pytest.mark.root("the host's tools are handed only a tree root alone can change")
def test_a_field_the_tool_has_no_option_for_is_refused_not_lost(tmp_path):
    """The profiles' checks keep every field the planner sets expressible;
    a change naming another one (say a login class for shadow-utils) is
    refused with one line rather than run without it; an ID the planner
    allocated too: the tool is told every ID."""
    from qmailsetup.errors import BadInput
    from qmailsetup.plan import Action, Change, DesiredUser, FieldChange, Kind

    _, backend = plan_for("linux", debian_tree(tmp_path / "root"), None, False)
    desired = DesiredUser("alias", 999, 998, "/var/qmail/alias", "/usr/sbin/nologin", group="nofiles",
                          login_class="daemon")
    shown = {"uid": 999, "group": "nofiles", "home": "/var/qmail/alias", "class": "daemon"}
    fields = {key: FieldChange(None, value) for key, value in shown.items()}
    fields["gid"] = FieldChange(None, 998)  # useradd has no option for a number of the primary group
    change = Change(Kind.USER, "alias", Action.CREATE, fields, desired, frozenset({"uid"}))
    with pytest.raises(BadInput) as refused:
        backend.commands(change)
    assert str(refused.value) == "user alias: useradd on linux cannot set class, gid"
    del fields["class"]
    change = Change(Kind.USER, "alias", Action.CREATE, fields, replace(desired, login_class=None), frozenset({"uid", "gid"}))
    with pytest.raises(BadInput) as refused:
        backend.commands(change)
    assert str(refused.value) == "user alias: useradd on linux cannot set gid"
    del fields["gid"]
    change = Change(Kind.USER, "alias", Action.CREATE, fields, replace(desired, login_class=None), frozenset({"uid"}))
    assert backend.commands(change) == [
        ["useradd", "--prefix", str(backend.host.root), "-r", "-M", "-u", "999", "-g", "nofiles", "-d",
         "/var/qmail/alias", "-s", "/usr/sbin/nologin", "alias"]
    ]


def test_an_unknown_backend_asked_for_by_name_is_one_line():
    """The CLI offers only the known ones; a caller of make_backend is told
    which there are."""
    from qmailsetup.errors import BadInput

    host = type("Host", (), {"profile": load_profile("linux"), "root": Path("/")})()
    with pytest.raises(BadInput) as refused:
        make_backend("rpm", host)
    assert str(refused.value) == "--backend rpm: unknown (choose auto, useradd, pw, files)"


@pytest.mark.root("the host's tools are handed only a tree root alone can change")
def test_a_tool_that_is_missing_or_cannot_run_is_one_line_and_nothing_is_written(tmp_path, mocker):
    """pw does not exist here: the real run says so. Then a pw that cannot
    be started (mocked: run_tool's OSError, as for a program not executable
    by root): its reason."""
    import errno

    root = bsd_tree(tmp_path / "root", "freebsd")
    before = snapshot(root)
    result = cli("apply", "--platform", "freebsd", "--backend", "pw", "--root", root)
    assert (result.code, result.err) == (1, "qmailsetup: pw: command not found; use --backend files; "
                                            "done before the failure: nothing\n")

    def refused(argv):
        raise PermissionError(errno.EACCES, "Permission denied", argv[0])

    fake_tools(mocker, answer=refused)
    result = cli("apply", "--platform", "freebsd", "--backend", "pw", "--root", root)
    assert (result.code, result.err) == (1, "qmailsetup: pw: Permission denied; done before the failure: nothing\n")
    assert snapshot(root) == before
