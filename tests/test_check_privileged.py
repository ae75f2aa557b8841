"""`qmailsetup check` on real filesystems, as root, in a private mount
namespace (tests/namespace.py: a copy of /etc over /etc, a tmpfs over
/var): a nosuid tmpfs, ext4 and ext2 in small loop files, chattr +S.
The machine's own /etc and /var are never touched; loop devices are
detached before the namespace ends."""

from __future__ import annotations

import json
import subprocess

from conftest import require_tools, squeezed
from namespace import run_in_namespace

# Each `check` prints its JSON after a marker line and its exit code after.
CHECK = """\
echo "=== $1"
$QMAILSETUP check --json && code=0 || code=$?
echo "=== exit $code"
"""
LOOP = """\
cleanup() { cd /; umount /var 2>/dev/null || true; }
trap cleanup EXIT
truncate -s 16M "$IMAGE"
"""


def script(body: str) -> str:
    return f"check() {{\n{CHECK}}}\n{body}"


def runs(output: str) -> dict[str, tuple[int, dict]]:
    """{label: (exit code, {finding id: finding})} from the script's output."""
    result, label, lines = {}, None, []
    for line in output.splitlines():
        if line.startswith("=== exit "):
            findings = {f["id"]: f for f in json.loads("\n".join(lines))["findings"]}
            result[label] = (int(line.split()[-1]), findings)
        elif line.startswith("=== "):
            label, lines = line[4:], []
        else:
            lines.append(line)
    return result


def run(tmp_path, body: str, image: str | None = None) -> dict:
    env_line = f'IMAGE="{tmp_path / image}"\n' if image else ""
    result = run_in_namespace(tmp_path, env_line + script(body))
    assert result.returncode == 0, result.stdout + result.stderr
    if image:
        attached = subprocess.run(["losetup", "-j", str(tmp_path / image)], capture_output=True, text=True)
        assert attached.stdout == "", f"loop device left behind: {attached.stdout}"
    return runs(result.stdout)


def test_nosuid_tmpfs_over_var_is_an_error_and_exit_3(tmp_path, privileged):
    body = """\
$QMAILSETUP apply >/dev/null
check suid
mount -o remount,nosuid /var
$QMAILSETUP apply --dry-run > /tmp/dry-run.txt
grep -c 'fs.nosuid' /tmp/dry-run.txt | sed 's/^/=== dry-run notes /'
check nosuid
"""
    result = run_in_namespace(tmp_path, script(body))
    assert result.returncode == 0, result.stdout + result.stderr
    seen = runs(result.stdout)
    code, findings = seen["suid"]
    assert findings["fs.nosuid"]["severity"] == "ok", findings["fs.nosuid"]
    # a tmpfs loses the queue at reboot, but qmail works there: a warning
    assert code == 0 and [f for f in findings if findings[f]["severity"] == "error"] == []
    assert findings["fs.sync-metadata"]["severity"] == "warning"
    code, findings = seen["nosuid"]
    assert code == 3
    assert findings["fs.nosuid"]["severity"] == "error"
    assert "tmpfs" in findings["fs.nosuid"]["message"] and "remount,suid /var" in findings["fs.nosuid"]["remedy"]
    assert findings["fs.noexec"]["severity"] == "ok"
    assert "=== dry-run notes 1" in result.stdout, "apply --dry-run notes the nosuid /var"


NOSUID_LINE = (
    "qmailsetup: /var/qmail/bin: fs.nosuid: /var/qmail/bin does not exist yet; its nearest existing parent "
    "/var/qmail is on tmpfs tmpfs at /var, mounted nosuid: qmail-queue is setuid qmailq and cannot work here "
    '("qq trouble creating files in queue (#4.3.0)")'
)


def test_apply_on_a_nosuid_var_exits_5_with_the_errors_on_stderr(tmp_path, privileged):
    """qmailsetup(8), EXIT STATUS: 5 after a real run and after an in-sync one,
    over --detailed-exitcode's 4; a dry run keeps its 0 or 4 and its note."""
    body = """\
mount -o remount,nosuid /var
echo "=== dry run"
$QMAILSETUP apply --dry-run --detailed-exitcode 2>&1 >/dev/null && code=0 || code=$?
echo "=== exit $code"
echo "=== apply"
$QMAILSETUP apply --detailed-exitcode 2>&1 >/tmp/apply.txt && code=0 || code=$?
echo "=== exit $code"
echo "=== in sync"
$QMAILSETUP apply --json 2>&1 >/tmp/apply.json && code=0 || code=$?
echo "=== exit $code"
python3 -c 'import json; print("json check", [f["id"] for f in json.load(open("/tmp/apply.json"))["check"]])'
cat /tmp/apply.txt
"""
    result = run_in_namespace(tmp_path, body)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "=== dry run\n=== exit 4\n" in out, "a dry run keeps 4: its stderr is empty"
    assert f"=== apply\n{NOSUID_LINE}\n=== exit 5\n" in out
    assert f"=== in sync\n{NOSUID_LINE}\n=== exit 5\n" in out
    assert "json check ['fs.nosuid']" in out
    after = out.split("Applied 11 changes.", 1)[1]
    assert after.startswith("\nqmailsetup check: errors that remain:\n  error   fs.nosuid: /var/qmail/bin does not exist yet;")
    assert squeezed("its nearest existing parent /var/qmail is on tmpfs tmpfs at /var, mounted nosuid") in squeezed(after)
    # wrapped at 100 columns, the remedy's command whole on its line
    assert max(len(line) for line in after.splitlines()) <= 100
    assert "\n                  (mount -o remount,suid /var),\n" in after


def test_ext4_loop_at_var_sync_mount_and_chattr(tmp_path, privileged):
    require_tools("mkfs.ext4", "losetup", "chattr")
    body = LOOP + """\
mkfs.ext4 -q -F "$IMAGE"
mount -o loop "$IMAGE" /var
check plain
mount -o remount,sync /var
check sync
mount -o remount,async /var
mkdir -p /var/qmail/queue/mess/0 /var/qmail/queue/todo
chattr +S /var/qmail/queue /var/qmail/queue/mess /var/qmail/queue/todo
check chattr-partial
chattr -R +S /var/qmail/queue
check chattr
"""
    seen = run(tmp_path, body, image="var-ext4.img")
    plain = seen["plain"][1]["fs.sync-metadata"]
    assert plain["severity"] == "warning" and "ext4" in plain["message"]
    assert seen["sync"][1]["fs.sync-metadata"]["severity"] == "ok"
    assert "mounted sync" in seen["sync"][1]["fs.sync-metadata"]["message"]
    partial = seen["chattr-partial"][1]["fs.sync-metadata"]
    assert partial["severity"] == "warning" and "/var/qmail/queue/mess/0 has no chattr +S" in partial["message"]
    chattr = seen["chattr"][1]["fs.sync-metadata"]
    assert chattr["severity"] == "ok" and "chattr +S" in chattr["message"]
    for _, findings in seen.values():
        assert findings["fs.nosuid"]["severity"] == "ok"
        assert findings["fs.separate-partition"]["severity"] == "info"  # /var, not /var/qmail


def test_ext2_loop_names_ext2(tmp_path, privileged):
    require_tools("mkfs.ext2", "losetup")
    body = LOOP + """\
mkfs.ext2 -q -F "$IMAGE"
mkdir /var/qmail
mount -o loop,noatime "$IMAGE" /var/qmail
check ext2
"""
    seen = run(tmp_path, body, image="qmail-ext2.img")
    sync = seen["ext2"][1]["fs.sync-metadata"]
    assert sync["severity"] == "warning"
    assert "ext2 writes metadata asynchronously" in sync["message"]
    assert sync["remedy"].endswith("once the queue is made, find /var/qmail/queue -type d -exec chattr +S {} +")
    separate = seen["ext2"][1]["fs.separate-partition"]
    assert separate["severity"] == "ok" and "noatime is set" in separate["message"]


def test_the_printed_chattr_command_works_on_a_queue_with_fifos(tmp_path, privileged):
    """check's remedy, run as printed, on ext4 with an installed queue's
    FIFOs (lock/trigger), where `chattr -R +S` fails."""
    require_tools("mkfs.ext4", "losetup", "chattr", "mkfifo", "find")
    body = LOOP + """\
mkfs.ext4 -q -F "$IMAGE"
mount -o loop "$IMAGE" /var
mkdir -p /var/qmail/queue/mess/0 /var/qmail/queue/lock /var/qmail/queue/todo
mkfifo /var/qmail/queue/lock/trigger
touch /var/qmail/queue/lock/sendmutex
check before
chattr -R +S /var/qmail/queue 2>/dev/null && echo "=== chattr -R: exit 0" || echo "=== chattr -R: failed"
chattr -R -S /var/qmail/queue 2>/dev/null || true
python3 -c 'import json, sys; print(json.load(sys.stdin)["remedy"].rsplit("on ext2/3/4, ", 1)[1])' \
    < /tmp/remedy.json > /tmp/remedy.sh
echo "=== remedy: $(cat /tmp/remedy.sh)"
sh /tmp/remedy.sh && echo "=== remedy: exit 0"
check after
"""
    body = body.replace("check before\n", "check before\n"
                        "$QMAILSETUP check --json | python3 -c 'import json, sys; "
                        "print(json.dumps([f for f in json.load(sys.stdin)[\"findings\"] "
                        "if f[\"id\"] == \"fs.sync-metadata\"][0]))' > /tmp/remedy.json\n")
    result = run_in_namespace(tmp_path, f'IMAGE="{tmp_path / "queue.img"}"\n' + script(body))
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "=== chattr -R: failed" in out, "the old remedy fails on a FIFO"
    assert "=== remedy: find /var/qmail/queue -type d -exec chattr +S {} +\n=== remedy: exit 0\n" in out
    seen = runs("\n".join(line for line in out.splitlines() if not line.startswith(("=== chattr", "=== remedy"))))
    assert seen["before"][1]["fs.sync-metadata"]["severity"] == "warning"
    after = seen["after"][1]["fs.sync-metadata"]
    assert after["severity"] == "ok" and "has the synchronous attribute" in after["message"]


def test_a_queue_in_memory_is_a_warning_tmpfs_and_overlay_on_tmpfs(tmp_path, privileged):
    body = """\
check tmpfs
mkdir -p /var/upper/u /var/upper/w /var/lower /var/qmail
mount -t overlay overlay -o lowerdir=/var/lower,upperdir=/var/upper/u,workdir=/var/upper/w /var/qmail
check overlay
"""
    seen = run(tmp_path, body)
    tmpfs = seen["tmpfs"][1]["fs.sync-metadata"]
    assert tmpfs["severity"] == "warning"
    assert tmpfs["message"] == (
        "/var/qmail/queue does not exist yet; its nearest existing parent /var is on tmpfs tmpfs at /var: "
        "tmpfs lives in memory, so the queue and every message in it are lost at each reboot"
    )
    assert tmpfs["remedy"] == "put /var/qmail (at least /var/qmail/queue) on a filesystem on a disk"
    overlay = seen["overlay"][1]["fs.sync-metadata"]
    assert overlay["severity"] == "warning"
    assert "overlay whose upper layer /var/upper/u is on tmpfs lives in memory" in overlay["message"]
    separate = seen["tmpfs"][1]["fs.separate-partition"]
    assert separate["message"].endswith("at /var: it shares its filesystem with /var")
