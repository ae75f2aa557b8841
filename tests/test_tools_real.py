"""The exports fed to the real tools: systemd-sysusers makes what `apply`
makes; the sh script, run with dash on a copy of /etc in a mount
namespace, makes what the spec says and then has nothing left to do."""

from __future__ import annotations

import json
import subprocess

import pytest

from conftest import cli, require_tools
from namespace import copy_etc, parse_report as parse, run_in_namespace
from qmailsetup.spec import load_spec
from scenarios import INSTALL_IDS_SPEC
from trees import append, debian_tree, write

ACCOUNT_FILES = ("passwd", "group", "shadow", "gshadow")


def accounts(root, spec) -> tuple[dict, dict]:
    """The spec's users and groups as the root's files have them: users by
    name with group name, home, shell, GECOS (and the UID where the spec
    fixes it), groups by name (with the GID where fixed)."""
    groups = {}
    for line in (root / "etc/group").read_text().splitlines():
        name, _, gid, _ = line.split(":")
        groups[name] = int(gid)
    group_names = {gid: name for name, gid in reversed(groups.items())}
    users = {}
    for line in (root / "etc/passwd").read_text().splitlines():
        name, _, uid, gid, gecos, home, shell = line.split(":")
        users[name] = (int(uid), group_names[int(gid)], home, shell, gecos)
    wanted_users = {
        u.name: (users[u.name][0] if u.uid else None, *users[u.name][1:])
        for u in spec.users if u.name in users
    }
    wanted_groups = {g.name: groups[g.name] if g.gid else None for g in spec.groups if g.name in groups}
    return wanted_users, wanted_groups


@pytest.mark.parametrize("spec_text", [None, INSTALL_IDS_SPEC], ids=["default", "install-ids"])
def test_sysusers_export_makes_what_apply_makes(tmp_path, privileged, spec_text):
    require_tools("systemd-sysusers", "useradd", "groupadd")
    spec_args = []
    if spec_text:
        write(tmp_path / "spec.toml", spec_text)
        spec_args = ["--spec", tmp_path / "spec.toml"]
    spec = load_spec(tmp_path / "spec.toml" if spec_text else None)
    by_sysusers = debian_tree(tmp_path / "sysusers")
    by_apply = debian_tree(tmp_path / "apply")

    exported = cli("export", "--format", "sysusers", "--platform", "linux", *spec_args)
    assert exported.code == 0, exported.err
    write(tmp_path / "qmail.conf", exported.out)
    made = subprocess.run(
        ["systemd-sysusers", "--root", str(by_sysusers), str(tmp_path / "qmail.conf")], capture_output=True, text=True
    )
    assert made.returncode == 0, made.stderr
    applied = cli("apply", "--platform", "linux", "--root", by_apply, *spec_args)
    assert applied.code == 0, applied.err

    users, groups = accounts(by_sysusers, spec)
    assert set(users) == {u.name for u in spec.users} and set(groups) == {g.name for g in spec.groups}
    assert (users, groups) == accounts(by_apply, spec)
    if spec_text:
        assert users["alias"] == (7790, "nofiles", "/var/qmail/alias", "/bin/true", "")
        assert groups == {"qmail": 2107, "nofiles": 2108}
    else:
        assert users["alias"] == (None, "nofiles", "/var/qmail/alias", "/usr/sbin/nologin", "")


def test_sysusers_quoting_survives_systemd_sysusers(tmp_path, privileged):
    require_tools("systemd-sysusers")
    comment = 'The "odd" 100% \\ user, it\'s'
    write(tmp_path / "odd.toml", '[[groups]]\nname = "q-x"\n[[users]]\nname = "q-odd"\ngroup = "q-x"\n'
                                 f'home = "/var/q dir/a%b"\ncomment = {json.dumps(comment)}\n')
    exported = cli("export", "--format", "sysusers", "--platform", "linux", "--spec", tmp_path / "odd.toml")
    write(tmp_path / "odd.conf", exported.out)
    root = debian_tree(tmp_path / "root")
    made = subprocess.run(["systemd-sysusers", "--root", str(root), str(tmp_path / "odd.conf")], capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    line = (root / "etc/passwd").read_text().splitlines()[-1].split(":")
    assert (line[0], line[4], line[5], line[6]) == ("q-odd", comment, "/var/q dir/a%b", "/usr/sbin/nologin")


SCRIPT_RUNS = """\
sums() { md5sum /etc/passwd /etc/group /etc/shadow /etc/gshadow; stat -c '%n %U %G %a' /var/qmail /var/qmail/alias 2>&1 || true; }
before=$(sums)
dash "$SCRIPT" --dry-run > /dev/null && echo "dry=$?" || echo "dry=$?"
[ "$(sums)" = "$before" ] && echo "dry_wrote=no" || echo "dry_wrote=yes"
dash "$SCRIPT" > /dev/null && echo "first=0" || echo "first=$?"
after_first=$(sums)
echo "$after_first" | sed -n 's/^\\(\\/var[^ ]*\\) /stat \\1 /p'
$QMAILSETUP apply --dry-run --json > "$OUT/plan.json" && echo "plan=0" || echo "plan=$?"
dash "$SCRIPT" > "$OUT/second.txt" && echo "second=0" || echo "second=$?"
[ "$(sums)" = "$after_first" ] && echo "second_wrote=no" || echo "second_wrote=yes"
getent passwd alias qmaild qmaill qmailp qmailq qmailr qmails | sed 's/^/passwd /'
getent group qmail nofiles | sed 's/^/group /'
"""


def namespace_run(tmp_path, script_text: str, commands: str, etc=None):
    write(tmp_path / "qmail-accounts.sh", script_text)
    out = tmp_path / "out"
    out.mkdir()
    prefix = f'SCRIPT={tmp_path / "qmail-accounts.sh"}; OUT={out}\n'
    return run_in_namespace(tmp_path, prefix + commands, etc=etc), out


def test_sh_export_creates_the_accounts_and_a_second_run_does_nothing(tmp_path, privileged):
    require_tools("dash", "useradd", "groupadd", "getent", "find")
    script = cli("export", "--format", "sh", "--platform", "linux")
    result, out = namespace_run(tmp_path, script.out, SCRIPT_RUNS)
    assert result.returncode == 0, result.stderr
    seen = parse(result.stdout)
    assert (seen["dry"], seen["dry_wrote"]) == ("0", "no")
    assert seen["first"] == "0", result.stdout + result.stderr
    assert seen["plan"] == "0"
    plan = json.loads((out / "plan.json").read_text())
    assert plan["in_sync"] is True and plan["changes"] == [], plan
    assert (seen["second"], seen["second_wrote"]) == ("0", "no")
    assert (out / "second.txt").read_text().splitlines()[-1] == "In sync: nothing to do."
    gids = {name: fields[2] for name, fields in seen["group"].items()}
    assert set(gids) == {"qmail", "nofiles"}
    for user in load_spec(None).users:
        fields = seen["passwd"][user.name]
        assert (fields[3], fields[5], fields[6]) == (gids[user.group], user.home, "/usr/sbin/nologin")
    assert seen["stat"] == {"/var/qmail": ["root", "qmail", "755"], "/var/qmail/alias": ["alias", "qmail", "2755"]}


REFUSED_RUN = """\
before=$(md5sum /etc/passwd /etc/group /etc/shadow /etc/gshadow)
dash "$SCRIPT" > "$OUT/out.txt" 2> "$OUT/err.txt" && echo "code=0" || echo "code=$?"
[ "$(md5sum /etc/passwd /etc/group /etc/shadow /etc/gshadow)" = "$before" ] && echo "wrote=no" || echo "wrote=yes"
[ -e /var/qmail ] && echo "var_qmail=yes" || echo "var_qmail=no"
"""


def test_sh_export_refuses_conflicts_and_writes_nothing(tmp_path, privileged):
    require_tools("dash")
    write(tmp_path / "ids.toml", INSTALL_IDS_SPEC)
    script = cli("export", "--format", "sh", "--platform", "linux", "--spec", tmp_path / "ids.toml")
    etc = copy_etc(tmp_path)
    # gid 2108 taken by another group; qmaild there with a login shell
    append(etc.parent, "group", ["staff2:x:2108:"])
    append(etc.parent, "passwd", ["qmaild:x:7791:2108::/var/qmail:/bin/sh"])
    result, out = namespace_run(tmp_path, script.out, REFUSED_RUN, etc=etc)
    assert result.returncode == 0, result.stderr
    seen = parse(result.stdout)
    assert (seen["code"], seen["wrote"], seen["var_qmail"]) == ("3", "no", "no")
    assert (out / "err.txt").read_text().splitlines() == [
        "! group nofiles: gid 2108 is already held by group staff2",
        "! user qmaild differs from the spec in: group shell; fix it by hand or with qmailsetup apply --fix-drift",
        "refused, nothing written: 2 conflict(s)",
    ]


ODD_RUNS = """\
dash "$SCRIPT" > "$OUT/first.txt" 2>&1 && echo "first=0" || echo "first=$?"
dash "$SCRIPT" > "$OUT/second.txt" 2>&1 && echo "second=0" || echo "second=$?"
getent passwd q-odd > "$OUT/passwd"
stat -c '%U %G %a' "/var/q dir" > "$OUT/stat"
"""


def test_sh_export_quotes_what_sh_would_expand(tmp_path, privileged):
    require_tools("dash", "useradd", "groupadd", "getent")
    comment = "it's \"odd\" $(echo injected) `echo x` 100% \\"
    write(tmp_path / "odd.toml", '[[groups]]\nname = "q-x"\n'
          f'[[users]]\nname = "q-odd"\ngroup = "q-x"\nhome = "/var/q dir"\ncomment = {json.dumps(comment)}\n'
          '[[paths]]\npath = "/var/q dir"\nowner = "q-odd"\ngroup = "q-x"\nmode = "0750"\n')
    script = cli("export", "--format", "sh", "--platform", "linux", "--spec", tmp_path / "odd.toml")
    result, out = namespace_run(tmp_path, script.out, ODD_RUNS)
    assert result.returncode == 0, result.stderr
    seen = parse(result.stdout)
    assert seen["first"] == "0", (out / "first.txt").read_text()
    assert seen["second"] == "0" and (out / "second.txt").read_text().splitlines()[-1] == "In sync: nothing to do."
    fields = (out / "passwd").read_text().rstrip("\n").split(":")
    assert (fields[0], fields[4], fields[5]) == ("q-odd", comment, "/var/q dir")
    assert (out / "stat").read_text().split() == ["q-odd", "q-x", "750"]
