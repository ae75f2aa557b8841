"""The audit trail of a real run: the ID each account got, and the syslog
lines the files backend writes when it edits the live root's account files
(in shadow-utils' words, auth facility). syslog is the one thing replaced
here: the messages are recorded instead of sent, and compared exactly."""

from __future__ import annotations

import json
import sys

from conftest import require_tools
from namespace import run_in_namespace
from qmailsetup.observe import observe
from qmailsetup.plan import make_plan
from qmailsetup.platforms import load_profile
from qmailsetup.spec import load_spec
from trees import append, debian_tree

# qmailsetup with syslog.openlog and syslog.syslog recording into $SYSLOG_RECORD
DRIVER = """\
import json, os, sys, syslog
record = open(os.environ["SYSLOG_RECORD"], "a")
syslog.openlog = lambda *args: record.write(json.dumps(["openlog", *args]) + "\\n")
syslog.syslog = lambda *args: record.write(json.dumps(["syslog", *args]) + "\\n")
from qmailsetup.cli import main
main(sys.argv[1:])
"""


def test_the_id_told_is_the_plan_s_and_nothing_is_read_back(tmp_path):
    """Every backend writes the planned ID or tells its tool (-u, -g): the
    progress line says the plan's ID, whatever the file says by then."""
    root = debian_tree(tmp_path / "root")
    host = observe(load_spec(None), root, load_profile("linux"))
    plan = make_plan(load_spec(None), host)
    alias = next(c for c in plan.changes if c.name == "alias")
    assert alias.desired.values()["uid"] == 999 and "uid" in alias.allocated
    append(root, "passwd", ["alias:x:989:998::/var/qmail/alias:/usr/sbin/nologin"])
    assert alias.created_id() == 999


SCRIPT = """\
run() {{ SYSLOG_RECORD="$WORK/syslog.log" {python} {driver} "$@" >/dev/null; echo "=== exit $?"; }}
run apply --backend files
usermod -s /bin/sh qmaild
run apply --backend files --fix-drift
run apply --backend files
mkdir -p "$WORK/image" && cp -a /etc "$WORK/image/"
sed -i '/^qmail[a-z]*:/d; /^alias:/d' "$WORK/image/etc/passwd" "$WORK/image/etc/shadow"
run apply --backend files --root "$WORK/image"
grep -c '^qmaild:' "$WORK/image/etc/passwd"
cat "$WORK/syslog.log"
echo "=== ids"
getent group qmail nofiles | cut -d: -f1,3
getent passwd alias qmaild qmaill qmailp qmailq qmailr qmails | cut -d: -f1,3,4
"""


def test_the_files_backend_logs_to_syslog_on_the_live_root_only(tmp_path, privileged):
    require_tools("usermod", "getent")
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    script = f'WORK="{tmp_path}"\n' + SCRIPT.format(python=sys.executable, driver=driver)
    result = run_in_namespace(tmp_path, script)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert out.startswith("=== exit 0\n" * 4 + "1\n"), out  # the --root run made qmaild in the image
    records = [json.loads(line) for line in out.split("=== ids\n")[0].splitlines() if line.startswith("[")]
    ids = dict(line.split(":", 1) for line in out.split("=== ids\n")[1].splitlines())
    gid = {name: int(ids[name]) for name in ("qmail", "nofiles")}
    users = {name: tuple(map(int, ids[name].split(":"))) for name in
             ("alias", "qmaild", "qmaill", "qmailp", "qmailq", "qmailr", "qmails")}
    homes = {"alias": "/var/qmail/alias"}
    expected = [["openlog", "qmailsetup", 1, 32]]  # LOG_PID, LOG_AUTH
    expected += [["syslog", 6, f"new group: name={name}, GID={gid[name]}"] for name in ("qmail", "nofiles")]
    expected += [
        ["syslog", 6, f"new user: name={name}, UID={uid}, GID={group}, home={homes.get(name, '/var/qmail')}, "
                      "shell=/usr/sbin/nologin, from=none"]
        for name, (uid, group) in users.items()
    ]
    # the --fix-drift run: only what changed; then the in-sync, --root and useradd runs log nothing
    expected += [
        ["openlog", "qmailsetup", 1, 32],
        ["syslog", 6, "change user 'qmaild' shell from '/bin/sh' to '/usr/sbin/nologin'"],
    ]
    assert records == expected


def test_a_repair_is_told_and_logged_by_the_line_it_added(tmp_path):
    """No shadow-utils tool repairs one account, so no wording to borrow:
    the progress line and the syslog line name the account and the file."""
    from qmailsetup.audit import syslog_lines
    from qmailsetup.output import progress_line

    root = debian_tree(tmp_path / "root")
    append(root, "group", ["qmail:x:999:"])
    append(root, "passwd", ["qmailq:x:990:999::/var/qmail:/usr/sbin/nologin"])
    spec = load_spec(None)
    host = observe(spec, root, load_profile("linux"))
    repairs = [c for c in make_plan(spec, host).changes if c.action == "repair"]
    assert [progress_line(c, c.created_id()) for c in repairs] == [
        "repaired group qmail (added its gshadow line)", "repaired user qmailq (added its shadow line)"]
    assert [syslog_lines(c, host) for c in repairs] == [
        ["add missing gshadow entry of group 'qmail'"], ["add missing shadow entry of user 'qmailq'"]]


def test_on_the_live_root_a_command_backend_s_repairs_are_logged_not_its_tools_work(monkeypatch):
    """useradd logs what it makes itself; a repair is the files backend's
    writer's, which logs it as it would under --backend files."""
    import syslog
    from pathlib import Path
    from types import SimpleNamespace

    from qmailsetup.audit import Progress
    from qmailsetup.plan import Action, Change, FieldChange, Kind

    logged = []
    monkeypatch.setattr(syslog, "openlog", lambda *args: logged.append(("openlog", *args)))
    monkeypatch.setattr(syslog, "syslog", lambda *args: logged.append(args))
    repair = Change(Kind.USER, "qmailr", Action.REPAIR, {"shadow": FieldChange("missing", "present")},
                    {"name": "qmailr", "uid": 994, "gid": 999})
    create = Change(Kind.GROUP, "qmail", Action.CREATE, {"gid": FieldChange(None, 999)}, {"name": "qmail", "gid": 999})
    for root, expected in ((Path("/"), [("openlog", "qmailsetup", syslog.LOG_PID, syslog.LOG_AUTH),
                                        (syslog.LOG_INFO, "add missing shadow entry of user 'qmailr'")]),
                           (Path("/mnt/image"), [])):
        logged.clear()
        host = SimpleNamespace(root=root)
        progress = Progress(host, SimpleNamespace(name="useradd"), tell=lambda change, number: None)
        progress(create)
        progress(repair)
        assert logged == expected
