"""Account findings on fixture trees (tests/scenarios.py), read through
observe and plan as apply reads them; goldens in tests/golden/check/accounts/."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import checked_accounts
from golden import check_json, scrub
from qmailsetup.spec import load_spec
from scenarios import build, provisioned
from trees import write

SCENARIOS = ["install_ids_as_shipped", "provisioned", "partial", "drifted_dirs", "fixed_ids_conflicting", "fresh_debian"]


def findings_for(name, tmp_path):
    root = tmp_path / "root"
    args = build(name, root)
    spec = load_spec(Path(args[1]) if args else None)
    return root, checked_accounts(spec, root)


@pytest.mark.root("the host is made with qmail's owners (chown)")
@pytest.mark.parametrize("name", SCENARIOS)
def test_account_findings_match_golden(name, tmp_path):
    root, findings = findings_for(name, tmp_path)
    check_json(f"check/accounts/{name}.json", [{k: scrub(v, root) if v else v for k, v in f.data().items()} for f in findings])


def ids(findings, severity):
    return sorted(f.id for f in findings if f.severity == severity)


def test_install_ids_as_shipped_gives_seven_login_shell_errors(tmp_path):
    root, findings = findings_for("install_ids_as_shipped", tmp_path)
    shells = [f for f in findings if f.id == "account.login-shell"]
    assert [f.severity for f in shells] == ["error"] * 7
    assert all("/bin/sh" in f.message and "--fix-drift" in f.remedy for f in shells)
    assert {f.path for f in shells} == {str(root / "etc/passwd")}
    # useradd without -p leaves '!' in shadow: locked, no password error
    assert [f.severity for f in findings if f.id == "account.password"] == ["ok"]
    assert ids(findings, "error").count("path.owner-mode") == 2


@pytest.mark.root("the host is made with qmail's owners (chown)")
def test_provisioned_host_is_all_ok(tmp_path):
    _, findings = findings_for("provisioned", tmp_path)
    assert ids(findings, "ok") == ["account.exists", "account.login-shell", "account.password", "path.owner-mode", "path.traverse"]
    assert ids(findings, "error") == ids(findings, "warning") == []


def test_missing_accounts_and_directories_point_at_apply(tmp_path):
    _, findings = findings_for("partial", tmp_path)
    [missing] = [f for f in findings if f.id == "account.exists"]
    assert missing.severity == "error"
    assert "user qmaild" in missing.message and "group qmail" not in missing.message  # the groups exist
    assert "qmailsetup apply" in missing.remedy


@pytest.mark.root("the host is made with qmail's owners (chown)")
def test_wrong_owner_and_mode_of_alias(tmp_path):
    _, findings = findings_for("drifted_dirs", tmp_path)
    [alias] = [f for f in findings if f.id == "path.owner-mode"]
    assert alias.severity == "error" and alias.path.endswith("/var/qmail/alias")
    assert "owner root (wants alias)" in alias.message and "mode 0755 (wants 02755)" in alias.message


@pytest.mark.root("the host is made with qmail's owners (chown)")
def test_usable_passwords_are_errors(tmp_path):
    root = tmp_path / "root"
    provisioned(root)
    shadow = (root / "etc/shadow").read_text()
    shadow = shadow.replace("qmaild:!:", "qmaild:$6$salt$hash:").replace("qmailr:!:", "qmailr::")
    write(root / "etc/shadow", shadow)
    findings = checked_accounts(load_spec(None), root)
    errors = [f for f in findings if f.id == "account.password"]
    assert [(f.severity, f.message.split()[1]) for f in errors] == [("error", "qmaild"), ("error", "qmailr")]
    assert "(empty)" in errors[1].message and errors[0].remedy == "lock it: usermod -L qmaild"
    assert errors[0].path == str(root / "etc/shadow")


@pytest.mark.root("the host is made with qmail's owners (chown)")
def test_drift_other_than_the_shell_is_a_warning(tmp_path):
    root = tmp_path / "root"
    provisioned(root)
    passwd = (root / "etc/passwd").read_text().replace("qmails:x:993:999::/var/qmail:", "qmails:x:993:999::/home/qmails:")
    write(root / "etc/passwd", passwd)
    findings = checked_accounts(load_spec(None), root)
    [drift] = [f for f in findings if f.id == "account.drift"]
    assert drift.severity == "warning" and "home /home/qmails (wants /var/qmail)" in drift.message


@pytest.mark.root("the host is made with qmail's owners (chown)")
def test_a_half_made_account_is_an_error_pointing_at_apply(tmp_path):
    """A passwd line without its shadow line, a group line without its
    gshadow line: what an interrupted useradd or groupadd leaves, and what
    pwck and grpck fail on; not reported as anything else."""
    root = tmp_path / "root"
    provisioned(root)
    for kind, line in (("shadow", "qmailr:!:19000::::::\n"), ("gshadow", "qmail:!::\n")):
        write(root / "etc" / kind, (root / "etc" / kind).read_text().replace(line, ""))
    findings = checked_accounts(load_spec(None), root)
    incomplete = [f for f in findings if f.id == "account.incomplete"]
    assert [(f.severity, f.path, f.message) for f in incomplete] == [
        ("error", str(root / "etc/gshadow"), "group qmail is half-made: in /etc/group, not in /etc/gshadow "
         "(an interrupted groupadd?); grpck fails until the line is added"),
        ("error", str(root / "etc/shadow"), "user qmailr is half-made: in /etc/passwd, not in /etc/shadow "
         "(an interrupted useradd?); pwck fails until the line is added"),
    ]
    assert all(f.remedy.startswith("run qmailsetup apply") for f in incomplete)
    assert ids(findings, "error") == ["account.incomplete"] * 2



def test_a_path_a_conflict_blocks_is_never_said_to_be_ok(tmp_path):
    """/var a file: the conflict is the finding; neither path.owner-mode nor
    path.traverse says the directories under it are as the spec wants (both
    did: "ok path.owner-mode: ... /var/qmail, /var/qmail/alias")."""
    root = tmp_path / "root"
    build("fresh_debian", root)
    (root / "var").write_text("")
    findings = checked_accounts(load_spec(None), root)
    conflicts = [f.message for f in findings if f.id == "account.conflict"]
    assert len(conflicts) == 2 and all("/var is a symlink or not a directory" in m for m in conflicts)
    assert not [f for f in findings if f.id in ("path.owner-mode", "path.traverse")]
