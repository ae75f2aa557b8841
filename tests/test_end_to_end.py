"""End to end on the live paths, inside a mount namespace: `qmailsetup
apply` with no --root, then getent and stat see what qmail needs."""

from __future__ import annotations

from namespace import copy_etc, parse_report, run_in_namespace
from qmail_layout import QMAIL_USERS
from snapshot import snapshot

SCRIPT = f"""\
$QMAILSETUP apply --detailed-exitcode >/dev/null && first=0 || first=$?
echo "first=$first"
getent group qmail nofiles | sed 's/^/group /'
getent passwd {" ".join(QMAIL_USERS)} | sed 's/^/passwd /'
stat -c 'stat %n %U %G %a' /var/qmail /var/qmail/alias
$QMAILSETUP apply --detailed-exitcode >/dev/null && second=0 || second=$?
echo "second=$second"
"""


def parse(output: str) -> dict:
    return parse_report(output, int)


def test_apply_on_the_live_paths_is_seen_by_getent(tmp_path, privileged):
    result = run_in_namespace(tmp_path, SCRIPT)
    assert result.returncode == 0, result.stderr
    seen = parse(result.stdout)
    assert seen["first"] == 4 and seen["second"] == 0, result.stdout + result.stderr
    gids = {name: fields[2] for name, fields in seen["group"].items()}
    assert set(gids) == {"qmail", "nofiles"}
    names_by_gid = {gid: name for name, gid in gids.items()}
    assert set(seen["passwd"]) == set(QMAIL_USERS)
    for name, (group, home) in QMAIL_USERS.items():
        _, _password, uid, gid, _, user_home, shell = seen["passwd"][name]
        assert names_by_gid[gid] == group
        assert user_home == home
        assert shell in ("/usr/sbin/nologin", "/sbin/nologin")
        assert int(uid) < 1000
    assert seen["stat"]["/var/qmail"] == ["root", "qmail", "755"]
    assert seen["stat"]["/var/qmail/alias"] == ["alias", "qmail", "2755"]


def test_dry_run_on_the_live_paths_writes_nothing(tmp_path, privileged):
    etc = copy_etc(tmp_path)
    before = snapshot(etc)
    script = "$QMAILSETUP apply --dry-run >/dev/null; ls -A /var; find /var | wc -l\n"
    result = run_in_namespace(tmp_path, script, etc)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1"], "/var stayed empty"
    assert snapshot(etc) == before
