"""The directories above /var/qmail: those apply makes are 0755 whatever the
umask of the run (a `umask 077` mkdir -p would make /var 0700, and qmail's
users could not reach /var/qmail), and `check` reports an existing one that
does not let qmail's users through (path.traverse, with the chmod to run)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import checked_accounts, cli, squeezed
from qmailsetup.spec import load_spec
from scenarios import provisioned
from snapshot import mode_owner
from trees import debian_tree, write

NOFILES_USERS = "alias, qmaild, qmaill, qmailp"
ALL_USERS = f"{NOFILES_USERS}, qmailq, qmailr, qmails"


@pytest.mark.root("apply chowns")
def test_apply_under_umask_077_makes_each_parent_0755(tmp_path):
    root = debian_tree(tmp_path / "root")
    (root / "opt").mkdir(mode=0o700)  # an existing parent: not apply's to change
    os.chmod(root / "opt", 0o700)
    spec = tmp_path / "spec.toml"
    write(spec, "".join(
        f'[[paths]]\npath = "{path}"\nowner = "{owner}"\ngroup = "{owner}"\nmode = "{mode}"\n'
        for path, owner, mode in (
            ("/var/spool/qm/qmail", "root", "0755"), ("/var/spool/qm/qmail/alias", "daemon", "02750"),
            ("/opt/q/z", "daemon", "0700"),
        )
    ))
    argv = [sys.executable, "-m", "qmailsetup", "apply", "--root", str(root), "--platform", "linux", "--spec", str(spec)]
    # the umask of the process that runs apply, as a cron job or a careful shell would have it
    result = subprocess.run(["sh", "-c", 'umask 077 && exec "$@"', "sh", *argv], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    for parent in ("var", "var/spool", "var/spool/qm", "opt/q"):
        assert mode_owner(root / parent) == (0o755, 0, 0), parent
    assert mode_owner(root / "opt") == (0o700, 0, 0)
    assert mode_owner(root / "var/spool/qm/qmail") == (0o755, 0, 0)
    assert mode_owner(root / "var/spool/qm/qmail/alias") == (0o2750, 1, 1)
    assert mode_owner(root / "opt/q/z") == (0o700, 1, 1)
    again = subprocess.run(["sh", "-c", 'umask 077 && exec "$@"', "sh", *argv, "--detailed-exitcode"],
                           capture_output=True, text=True)
    assert again.returncode == 0, again.stdout + again.stderr


def traverse(root):
    return [f for f in checked_accounts(load_spec(None), root) if f.id == "path.traverse"]


@pytest.mark.root("the host is made with qmail's owners (chown)")
def test_a_parent_without_search_permission_is_an_error_with_the_chmod(tmp_path):
    root = tmp_path / "root"
    provisioned(root)
    os.chmod(root / "var", 0o700)
    [finding] = traverse(root)
    assert finding.severity == "error"
    assert finding.path == f"{root}/var"
    assert finding.message == f"/var (owner 0, group 0, mode 0700) does not let {ALL_USERS} through to /var/qmail"
    assert finding.remedy == f"chmod o+x {root}/var"
    os.chmod(root / "var", 0o701)
    assert [(f.severity, f.message) for f in traverse(root)] == [
        ("ok", "qmail's users can pass through every directory above /var/qmail, /var/qmail/alias")
    ]


@pytest.mark.root("the host is made with qmail's owners (chown)")
def test_the_group_and_owner_bits_count_for_those_they_name(tmp_path):
    root = tmp_path / "root"
    provisioned(root)
    qmail_gid = int(next(line for line in (root / "etc/group").read_text().splitlines() if line.startswith("qmail:")).split(":")[2])
    os.chown(root / "var", 0, qmail_gid)
    os.chmod(root / "var", 0o710)  # the qmail group may pass, nofiles' users may not
    [finding] = traverse(root)
    assert finding.message == f"/var (owner 0, group {qmail_gid}, mode 0710) does not let {NOFILES_USERS} through to /var/qmail"
    alias_uid = int(next(line for line in (root / "etc/passwd").read_text().splitlines() if line.startswith("alias:")).split(":")[2])
    os.chown(root / "var", alias_uid, qmail_gid)
    os.chmod(root / "var", 0o070)  # the owner's bits alone count for the owner, even in the group
    [finding] = traverse(root)
    assert finding.message == f"/var (owner {alias_uid}, group {qmail_gid}, mode 0070) does not let {NOFILES_USERS} through to /var/qmail"


@pytest.mark.root("a tree root owns (another user's is warned of)")
def test_the_root_itself_counts_and_users_not_yet_made_by_their_group(tmp_path):
    root = debian_tree(tmp_path / "root")  # no qmail accounts yet
    os.chmod(root, 0o750)
    [finding] = traverse(root)
    assert finding.path == str(root)
    assert finding.message == f"/ (owner 0, group 0, mode 0750) does not let {ALL_USERS} through to /var/qmail"
    assert finding.remedy == f"chmod o+x {root}"


@pytest.mark.root("the host is made with qmail's owners (chown)")
def test_check_exits_3_and_shows_the_remedy(tmp_path):
    root = tmp_path / "root"
    provisioned(root)
    os.chmod(root / "var", 0o700)
    result = cli("check", "--root", root, "--platform", "linux")
    assert result.code == 3
    assert squeezed(f"error   path.traverse: /var (owner 0, group 0, mode 0700) does not let {ALL_USERS} through "
                    f"to /var/qmail\n        remedy: chmod o+x {root}/var\n") in squeezed(result.out)
