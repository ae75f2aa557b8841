"""Allocation asks NSS about each candidate ID on the live root, as
useradd (and busybox adduser) do with getpwuid/getgrgid, so that an ID
that NSS serves from elsewhere (LDAP, sssd: not listed by getpwent, not in
/etc/passwd) is never handed out a second time.

What is real: the privileged test runs qmailsetup's dry run on the live
root inside a mount namespace whose /etc copy holds a user and a group
that only NSS knows: systemd 252's nss-systemd serves them from
/etc/userdb drop-in records (nsswitch.conf "files systemd"), as sssd or
LDAP would, while /etc/passwd and /etc/group have no such line. What is
stubbed: the unit tests give HostState a plain function, or mock
pwd.getpwuid, in place of NSS.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from conftest import skip_or_fail
from namespace import PRELUDE, copy_etc, in_namespace, run_in_namespace
from qmailsetup.observe import observe
from qmailsetup.plan import allocate, make_plan
from qmailsetup.platforms import load_profile
from qmailsetup.spec import load_spec
from trees import debian_tree

LINUX = load_profile("linux")


def created_ids(plan) -> dict[str, int]:
    return {c.name: c.desired.own_id for c in plan.changes if c.action == "create"}


def test_allocate_skips_candidates_nss_holds_both_ways():
    held = {999, 998, 100}.__contains__
    assert allocate(set(), 101, 999, held=held) == 997
    assert allocate(set(), 100, 999, upward=True, held=held) == 101
    assert allocate(set(), 998, 999, held=held) is None


def test_the_planner_asks_hoststate_for_each_candidate(tmp_path):
    spec = load_spec(None).model_copy(update={"paths": []})
    host = observe(spec, debian_tree(tmp_path / "root"), LINUX)
    assert host.nss_holds_uid is None and host.nss_holds_gid is None  # not the live root: no NSS of its own
    plain = created_ids(make_plan(spec, host))
    asked = []

    def holds(number):
        asked.append(number)
        return number in (plain["alias"], plain["qmail"])

    host.nss_holds_uid = host.nss_holds_gid = holds
    again = created_ids(make_plan(spec, host))
    assert plain["alias"] in asked and plain["qmail"] in asked
    assert again["alias"] == plain["alias"] - 1 and again["qmail"] == plain["qmail"] - 1
    assert plain["alias"] not in again.values()


@pytest.mark.root("reads this host's own shadow")
def test_observe_on_the_live_root_asks_getpwuid_and_getgrgid(mocker):
    """Only the live root has NSS of its own; pwd/grp mocked here."""
    def only_4242(uid):
        if uid != 4242:
            raise KeyError(uid)
        return object()

    getpwuid = mocker.patch("pwd.getpwuid", side_effect=only_4242)
    mocker.patch("grp.getgrgid", side_effect=KeyError)
    spec = load_spec(None).model_copy(update={"paths": []})
    host = observe(spec, Path("/"), LINUX)
    assert host.nss_holds_uid(4242) and not host.nss_holds_uid(4243) and not host.nss_holds_gid(4242)
    assert getpwuid.call_args_list[-2:] == [mocker.call(4242), mocker.call(4243)]


NSSWITCH = "passwd: files systemd\ngroup: files systemd\nshadow: files\ngshadow: files\n"


def dry_run(tmp_path: Path, etc: Path, name: str) -> dict:
    out = tmp_path / f"{name}.json"
    result = run_in_namespace(
        tmp_path, f'$QMAILSETUP apply --dry-run --json --platform linux --backend files > {out}\n'
        f'getent passwd > {tmp_path}/{name}.getent\n', etc,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(out.read_text())


def allocated(plan: dict) -> dict[str, int]:
    ids = {}
    for change in plan["changes"]:
        if change["action"] == "create" and change["kind"] in ("user", "group"):
            key = "uid" if change["kind"] == "user" else "gid"
            ids[change["name"]] = change["fields"][key]["desired"]
    return ids


def test_an_id_only_nss_knows_is_never_allocated_on_the_live_root(tmp_path, privileged):
    libdirs = ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/lib64")
    if not any(Path(d, "libnss_systemd.so.2").exists() for d in libdirs) or shutil.which("getent") is None:
        skip_or_fail("needs nss-systemd (systemd's libnss_systemd.so.2) and getent")
    etc = copy_etc(tmp_path)
    (etc / "nsswitch.conf").write_text(NSSWITCH)
    first = allocated(dry_run(tmp_path, etc, "before"))
    uid, gid = first["alias"], first["qmail"]

    userdb = etc / "userdb"
    userdb.mkdir(exist_ok=True)
    (userdb / "ldapuser.user").write_text(json.dumps({"userName": "ldapuser", "uid": uid, "gid": gid, "disposition": "system"}))
    (userdb / f"{uid}.user").symlink_to("ldapuser.user")
    (userdb / "ldapgroup.group").write_text(json.dumps({"groupName": "ldapgroup", "gid": gid, "disposition": "system"}))
    (userdb / f"{gid}.group").symlink_to("ldapgroup.group")
    second = allocated(dry_run(tmp_path, etc, "after"))

    getent = (tmp_path / "after.getent").read_text()
    assert f"ldapuser:x:{uid}:{gid}:" in getent  # NSS serves it...
    assert "ldapuser" not in (etc / "passwd").read_text() and "ldapgroup" not in (etc / "group").read_text()  # ...not the files
    assert uid not in second.values() and second["alias"] < uid
    assert gid not in [second[name] for name in ("qmail", "nofiles") if name in second]


# run inside the namespace: another run applies between this one's reading
# of the local files and its questions to NSS, a real race made certain
# (the other one gives up on a lock after a second)
RACE = """
import os, subprocess, sys
import qmailsetup.observe as observe
from qmailsetup.cli import main

asked = observe.ask_nss

def another_run_first(spec, state):
    observe.ask_nss = asked  # once: not again for the reading after the run
    other = subprocess.run([sys.executable, "-m", "qmailsetup", "apply", "--platform", "linux", "--backend", "files"],
                           capture_output=True, text=True, env={**os.environ, "QMAILSETUP_LOCK_TIMEOUT": "1"})
    print(f"other={other.returncode}", file=sys.stderr)
    asked(spec, state)

observe.ask_nss = another_run_first
main(["apply", "--platform", "linux", "--backend", "files", *sys.argv[1:]])
"""


def test_an_account_another_run_made_meanwhile_is_said_so_not_called_nss_only(tmp_path, privileged):
    """A dry run on the live root, and another run that makes the accounts
    after the dry run read /etc/passwd and /etc/group, so NSS (the files)
    finds them where its reading had none. Not "exists only in NSS", which
    would send the administrator looking in LDAP: made meanwhile, run
    again. And the run after is in sync."""
    script = (f'code=0; {sys.executable} -c "$RACE" --dry-run || code=$?; echo "exit=$code" >&2\n'
              '$QMAILSETUP apply --dry-run --platform linux --backend files\n')
    etc = copy_etc(tmp_path)
    result = in_namespace(PRELUDE + script, ETC_COPY=str(etc), RACE=RACE)

    other, refusal, code = result.stderr.splitlines()[:3]
    assert other in ("other=0", "other=5"), result.stderr  # made them (5: check's errors about this machine)
    assert code == "exit=3", result.stderr
    assert refusal == ("qmailsetup: refused, nothing written: group qmail: made meanwhile by another run: in "
                       "/etc/group now, not when this run read it; run again (and 10 more)")
    assert "exists only in NSS" not in result.stdout
    assert "0 to create, 0 to modify" in result.stdout.rsplit("qmailsetup dry run", 1)[1]


def test_a_real_run_holds_the_locks_while_it_reads_and_asks_nss(tmp_path, privileged):
    """The same race against a real run of the files backend: it holds the
    locks from before its reading to its last write, so the other run
    cannot make the accounts meanwhile (it gives up on the locks, exit 1),
    and this one makes them all."""
    script = (f'code=0; {sys.executable} -c "$RACE" || code=$?; echo "exit=$code" >&2\n'
              '$QMAILSETUP apply --dry-run --platform linux --backend files\n')
    result = in_namespace(PRELUDE + script, ETC_COPY=str(copy_etc(tmp_path)), RACE=RACE)

    other, code = result.stderr.splitlines()[:2]
    assert (other, code) in (("other=1", "exit=0"), ("other=1", "exit=5")), result.stderr  # 5: check's errors about this machine
    assert "Applied 11 changes." in result.stdout
    assert "0 to create, 0 to modify" in result.stdout.rsplit("qmailsetup dry run", 1)[1]
