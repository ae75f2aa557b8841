"""queue.owner: the queue's owners, groups and modes against what qmail's
installer and qmail itself leave. The trees are laid out from the listing
of a real netqmail 1.06 `make setup check` plus one real message
(tests/fixtures/queue/netqmail-1.06.txt), then an account is renumbered."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import cli
from namespace import run_in_namespace
from scenarios import add_qmail_accounts
from snapshot import snapshot
from trees import EXAMPLES, FIXTURES, debian_tree

RECORDED = FIXTURES / "queue/netqmail-1.06.txt"
# the install-ids numbers the recording was made with
IDS = {"root": 0, "qmailq": 7794, "qmailr": 7795, "qmails": 7796, "qmail": 2107}
SPEC = EXAMPLES / "install-ids.toml"
REPAIR = "stop qmail-send, then run qmailsetup queue repair"


def recorded() -> list[tuple[str, str, str, int, str]]:
    lines = [line.split() for line in RECORDED.read_text().splitlines() if not line.startswith("#")]
    return [(path, owner, group, int(mode, 8), kind) for path, owner, group, mode, kind in lines]


def lay_out(qmail: Path) -> None:
    """The recorded queue under QMAIL, with the recorded owners and modes."""
    for path, owner, group, mode, kind in recorded():
        target = qmail / path
        if kind == "d":
            target.mkdir(parents=True, exist_ok=True)
        elif kind == "p":
            os.mkfifo(target)
        else:
            target.write_text("")
        os.chown(target, IDS[owner], IDS[group])
        target.chmod(mode)


@pytest.fixture
def root(tmp_path):
    root = debian_tree(tmp_path / "root")
    add_qmail_accounts(root, {"qmail": 2107, "nofiles": 2108}, 7790, "/bin/true", step=1)
    lay_out(root / "var/qmail")
    return root


def queue_finding(root: Path) -> dict:
    result = cli("check", "--json", "--root", root, "--spec", SPEC, "--platform", "linux")
    assert result.err == ""
    found = [f for f in json.loads(result.out)["findings"] if f["id"] == "queue.owner"]
    assert len(found) == 1
    return found[0]


def renumber(root: Path, name: str, old: int, new: int) -> None:
    passwd = root / "etc/passwd"
    passwd.write_text(passwd.read_text().replace(f"\n{name}:x:{old}:", f"\n{name}:x:{new}:"))


@pytest.mark.root("lays out a queue with qmail's owners")
def test_the_queue_as_netqmail_installs_it_is_ok(root):
    assert len(recorded()) == 108
    finding = queue_finding(root)
    assert finding["severity"] == "ok"
    assert finding["message"] == "108 entries, owners, groups and modes as qmail sets them"
    assert finding["path"] == f"{root}/var/qmail/queue"


@pytest.mark.root("lays out a queue with qmail's owners")
def test_a_renumbered_send_user_is_counted_with_examples_and_the_chowns(root):
    renumber(root, "qmails", 7796, 7896)
    before = snapshot(root)
    finding = queue_finding(root)
    assert snapshot(root) == before, "check changed the tree"
    queue = f"{root}/var/qmail/queue"
    assert finding["severity"] == "error"
    # bounce, info, local, remote with 23 subdirectories each, lock/sendmutex, lock/trigger
    assert finding["message"] == (
        f"75 of 108 entries under {queue} differ from what qmail sets: "
        "bounce is 7796:qmail 0700 (wants qmails:qmail 0700), info is 7796:qmail 0700 (wants qmails:qmail 0700), "
        "info/0 is 7796:qmail 0700 (wants qmails:qmail 0700), info/1 is 7796:qmail 0700 (wants qmails:qmail 0700), "
        "info/2 is 7796:qmail 0700 (wants qmails:qmail 0700), ...; "
        "uid 7796 belongs to no account (left from before a renumber or a restore?)"
    )
    assert finding["remedy"] == (
        f"{REPAIR} --root {root} (--dry-run shows what it would do; it refuses while qmail-send runs); "
        "by hand: stop qmail (qmail-send and qmail-smtpd), then: "
        f"chown -R qmails:qmail {queue}/bounce; chown -R qmails:qmail {queue}/info; "
        f"chown -R qmails:qmail {queue}/local; chown -R qmails:qmail {queue}/remote; "
        f"chown qmails:qmail {queue}/lock/sendmutex; chown qmails:qmail {queue}/lock/trigger"
    )


@pytest.mark.root("lays out a queue with qmail's owners")
def test_message_files_keep_any_group_but_not_any_owner_or_mode(root):
    mess = root / "var/qmail/queue/mess/3/302"
    os.chown(mess, IDS["qmailq"], 2108)  # queued through qmail-smtpd: nofiles
    assert queue_finding(root)["severity"] == "ok"
    mess.chmod(0o600)
    (root / "var/qmail/queue/mess/7").chmod(0o755)
    os.chown(root / "var/qmail/queue/info/4", IDS["qmails"], 2108)
    finding = queue_finding(root)
    queue = f"{root}/var/qmail/queue"
    assert finding["message"] == (
        f"3 of 108 entries under {queue} differ from what qmail sets: "
        "mess/7 is qmailq:qmail 0755 (wants qmailq:qmail 0750), info/4 is qmails:nofiles 0700 "
        "(wants qmails:qmail 0700), mess/3/302 is qmailq:nofiles 0600 (wants qmailq:(any group) 0644)"
    )
    assert finding["remedy"].endswith(
        "by hand: stop qmail (qmail-send and qmail-smtpd), then: chown -R qmails:qmail "
        f"{queue}/info; find {queue}/mess -type d ! -perm 0750 -exec chmod 0750 {{}} +; "
        f"find {queue}/mess -type f ! -perm 0644 -exec chmod 0644 {{}} +"
    )


@pytest.mark.root("lays out a queue with qmail's owners")
def test_the_numbers_no_account_holds_are_named_together(root):
    renumber(root, "qmails", 7796, 7896)
    renumber(root, "qmailr", 7795, 7895)
    assert queue_finding(root)["message"].endswith(
        "; uid 7795, uid 7796 belong to no account (left from before a renumber or a restore?)")


@pytest.mark.root("lays out a queue with qmail's owners")
def test_five_wrong_entries_are_all_named_with_no_more_implied(root):
    for n in range(5):
        (root / f"var/qmail/queue/info/{n}").chmod(0o750)
    message = queue_finding(root)["message"]
    assert message == (f"5 of 108 entries under {root}/var/qmail/queue differ from what qmail sets: " + ", ".join(
        f"info/{n} is qmails:qmail 0750 (wants qmails:qmail 0700)" for n in range(5)))
    (root / "var/qmail/queue/info/5").chmod(0o750)
    assert queue_finding(root)["message"] == message.replace("5 of", "6 of", 1) + ", ..."


@pytest.mark.root("lays out a queue with qmail's owners")
def test_a_fifo_or_a_symlink_among_the_messages_is_named_never_opened(root):
    queue = root / "var/qmail/queue"
    os.mkfifo(queue / "mess/1/999")  # opening it would wait for a writer
    os.chown(queue / "mess/1/999", IDS["qmailq"], IDS["qmail"])
    (queue / "info/0/999").symlink_to("/etc/shadow")
    finding = queue_finding(root)
    assert "info/0/999 is root:root 0777 (a symlink) (wants qmails:qmail 0600)" in finding["message"]
    assert "mess/1/999 is qmailq:qmail 0644 (a FIFO) (wants qmailq:(any group) 0644)" in finding["message"]


def test_no_queue_yet_is_info(tmp_path):
    root = debian_tree(tmp_path / "root")
    add_qmail_accounts(root, {"qmail": 2107, "nofiles": 2108}, 7790, "/bin/true", step=1)
    finding = queue_finding(root)
    assert finding["severity"] == "info" and finding["message"].endswith("/var/qmail/queue does not exist yet")


NAMESPACE = """\
$QMAILSETUP apply --spec "$SPEC" >/dev/null
grep -v '^#' "$RECORDED" | while read -r path owner group mode kind; do
    case $kind in d) mkdir -p "/var/qmail/$path" ;; p) mkfifo "/var/qmail/$path" ;; f) : > "/var/qmail/$path" ;; esac
    chown "$owner:$group" "/var/qmail/$path"; chmod "$mode" "/var/qmail/$path"
done
echo "=== laid out"
$QMAILSETUP check --json --spec "$SPEC" || true
sed -i 's/^qmailq:x:7794:/qmailq:x:7894:/' /etc/passwd
echo "=== renumbered"
$QMAILSETUP check --json --spec "$SPEC" || true
"""


def test_in_a_namespace_after_apply_then_a_renumber(tmp_path, privileged):
    script = f'SPEC="{SPEC}"\nRECORDED="{RECORDED}"\n' + NAMESPACE
    result = run_in_namespace(tmp_path, script)
    assert result.returncode == 0, result.stdout + result.stderr
    _, laid_out, renumbered = result.stdout.split("=== ")
    ok = {f["id"]: f for f in json.loads(laid_out.split("\n", 1)[1])["findings"]}["queue.owner"]
    assert ok["severity"] == "ok", ok
    error = {f["id"]: f for f in json.loads(renumbered.split("\n", 1)[1])["findings"]}["queue.owner"]
    assert error["severity"] == "error"
    # queue, pid, intd, todo, lock (5), mess and its 23 (24): qmailq's directories; the 3 message files
    assert error["message"].startswith("32 of 108 entries under /var/qmail/queue differ from what qmail sets: ")
    assert "uid 7794 belongs to no account" in error["message"]
    assert "chown -R qmailq:qmail /var/qmail/queue/mess" in error["remedy"]
