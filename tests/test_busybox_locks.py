"""busybox's account tools (adduser, addgroup, passwd, chpasswd, deluser)
lock a file FILE by creating FILE+ and take no other lock
(libbb/update_passwd.c). On the alpine platform the files backend takes
FILE+ too, as a hard link of FILE, which it brings up to date and puts
back over FILE as it lets go: busybox rewrites the file it opened before
it waited. The real busybox is Debian's busybox-static (tests/debs.py):
its passwd applet, the same update_passwd as adduser's (Debian builds no
adduser into it)."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import cli
from debs import unpacked
from files_support import assert_consistent, leftovers, parse_all
from namespace import PATH, PRIVATE
from process import env
from qmailsetup.errors import OperationFailed
from qmailsetup.platforms import load_profile
from qmailsetup.userdb import lock
from qmailsetup.userdb.etcdir import EtcDir
from qmailsetup.userdb.write import replace_file
from snapshot import account_files
from test_files_locks import in_locking_loop
from trees import append, make_tree

ALPINE_LOCKS = (("busybox", "passwd"), ("busybox", "shadow"), ("busybox", "group"), ("busybox", "gshadow"))
HASH = "$6$salt$" + "h" * 86  # a password busybox passwd -l can lock ('!' before it)
OURS = b"ours:!:19000:0:99999:7:::\n"


def busybox() -> Path:
    return unpacked("busybox-static") / "bin/busybox"


def alpine_with_busybox_accounts(root: Path, count: int) -> Path:
    """The alpine tree and COUNT accounts bbN with a password to lock."""
    make_tree(root, "alpine")
    append(root, "passwd", [f"bb{i}:x:{5000 + i}:100::/home/bb{i}:/bin/sh" for i in range(count)])
    append(root, "shadow", [f"bb{i}:{HASH}:19000:0:99999:7:::" for i in range(count)])
    return root


# busybox works on /etc: the tree's etc is bound there, and its syslog goes nowhere
ON_THE_TREE = PRIVATE + """\
mount --bind "$ETC" /etc || exit 1
if [ -e /dev/log ]; then mount --bind /dev/null /dev/log || exit 1; fi
"""


def in_tree(root: Path, script: str, **variables: str) -> subprocess.Popen:
    """SCRIPT in a mount namespace where ROOT/etc is /etc; $BUSYBOX is busybox."""
    return subprocess.Popen(["unshare", "-m", "sh", "-c", ON_THE_TREE + script],
                            env={"PATH": PATH, "ETC": str(root / "etc"), "BUSYBOX": str(busybox()), **variables})


def plus_files(root: Path) -> list[str]:
    return sorted(entry.name for entry in (root / "etc").iterdir() if entry.name.endswith("+"))


# --- the real busybox beside qmailsetup ----------------------------------------

BUSYBOX_ACCOUNTS = 2000
SPECS = 12
# applies one after another, beside busybox: several at once can still lose
# an edit to a busybox tool that opened the file between one run's replace
# and its release (docs/design.md, "Locks": what remains)
AT_ONCE = 1
# longer than busybox's poll for FILE+ (0.1 s): a busybox tool that waited
# behind one apply takes FILE+ before the next apply can
BETWEEN_APPLIES = 0.3
LOCKING_LOOP = """\
i=0
while [ "$i" -lt "$COUNT" ] && [ ! -e "$STOP" ]; do
    "$BUSYBOX" passwd -l "bb$i" >/dev/null 2>&1 || echo "bb$i" >>"$FAILED"
    i=$((i + 1))
done
echo "$i" >"$LOCKED"
"""


def spec_of(number: int) -> str:
    """A spec of accounts (names and IDs) no other spec has."""
    group, first_uid = f"qg{number}", 1200 + 2 * number
    users = "".join(
        f'[[users]]\nname = "qu{number}{suffix}"\ngroup = "{group}"\nhome = "/var/empty"\nuid = {uid}\n'
        for suffix, uid in (("a", first_uid), ("b", first_uid + 1))
    )
    return f'[[groups]]\nname = "{group}"\ngid = {1100 + number}\n{users}'


@pytest.mark.slow
def test_busybox_passwd_and_applies_side_by_side_lose_nothing_of_either(privileged, tmp_path):
    """busybox passwd -l of one account after another, while applies of
    specs of their own run, one after another: every account of the specs
    ends in passwd, shadow and group, and every lock busybox made stays.
    (Before qmailsetup took FILE+, several accounts of every such run were
    lost, and with FILE+ alone, without keeping the replaced file up to date,
    busybox wrote away every shadow line.)"""
    root = alpine_with_busybox_accounts(tmp_path / "root", BUSYBOX_ACCOUNTS)
    stop, failed, locked = tmp_path / "stop", tmp_path / "failed", tmp_path / "locked"
    loop = in_tree(root, LOCKING_LOOP, COUNT=str(BUSYBOX_ACCOUNTS), STOP=str(stop), FAILED=str(failed),
                   LOCKED=str(locked))
    codes = []
    try:
        for first in range(0, SPECS, AT_ONCE):
            runs = []
            for number in range(first, first + AT_ONCE):
                spec = tmp_path / f"spec{number}.toml"
                spec.write_text(spec_of(number))
                runs.append(subprocess.Popen(
                    [sys.executable, "-m", "qmailsetup", "apply", "--root", str(root), "--platform", "alpine",
                     "--spec", str(spec)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                    env=env(QMAILSETUP_LOCK_TIMEOUT="60")))
            codes += [(run.wait(timeout=120), run.stderr.read()) for run in runs]
            time.sleep(BETWEEN_APPLIES)
    finally:
        stop.touch()
        assert loop.wait(timeout=300) == 0
    assert [code for code, _ in codes] == [0] * SPECS, codes
    # busybox gives up after 3 s of waiting for FILE+ (update_passwd's 30
    # tries), which an apply on a loaded machine can hold that long: such an
    # attempt wrote nothing, and its account must still be unlocked
    gave_up = set(failed.read_text().split()) if failed.exists() else set()
    done = int(locked.read_text())
    assert done > len(gave_up), "busybox locked nothing while the applies ran"

    files = parse_all(root)
    users = {f"qu{number}{suffix}" for number in range(SPECS) for suffix in "ab"}
    groups = {f"qg{number}" for number in range(SPECS)}
    for kind, names in (("passwd", users), ("shadow", users), ("group", groups)):
        present = {name for name, _ in files[kind].entries()}
        assert names <= present, f"{kind} lost {sorted(names - present)}"
    shadow = dict(files["shadow"].entries())
    undone = [f"bb{i}" for i in range(done) if f"bb{i}" not in gave_up and shadow[f"bb{i}"][1] != "!" + HASH]
    assert not undone, f"busybox's passwd -l undone for {undone}"
    assert all(shadow[name][1] == HASH for name in gave_up)
    assert all(shadow[f"bb{i}"][1] == HASH for i in range(done, BUSYBOX_ACCOUNTS))
    assert_consistent(root)
    assert plus_files(root) == []


def opened_for_writing(pid: int, path: Path) -> bool:
    """Whether process PID has the file now at PATH open read-write (as
    busybox opens a file it will rewrite)."""
    target = os.stat(path)
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            info = os.stat(f"/proc/{pid}/fd/{fd}")
            flags = Path(f"/proc/{pid}/fdinfo/{fd}").read_text().split("flags:")[1].split()[0]
        except (OSError, IndexError):
            continue
        if (info.st_dev, info.st_ino) == (target.st_dev, target.st_ino) and int(flags, 8) & os.O_ACCMODE == os.O_RDWR:
            return True
    return False


def test_busybox_that_waited_for_our_lock_keeps_what_we_wrote_meanwhile(privileged, tmp_path):
    """The interleaving that lost accounts, made to happen: busybox passwd
    opens shadow, finds shadow+ taken and waits; we replace shadow and let
    go; busybox then rewrites the file it opened, which must be ours."""
    root = alpine_with_busybox_accounts(tmp_path, 1)
    etc = EtcDir.open(root)
    with lock.locked(etc, "shadow", timeout=5, also=load_profile("alpine").also_locks):
        waiting = in_tree(root, 'exec "$BUSYBOX" passwd -l bb0')
        deadline = time.monotonic() + 30
        while not opened_for_writing(waiting.pid, root / "etc/shadow"):
            assert waiting.poll() is None and time.monotonic() < deadline, "busybox never opened shadow"
            time.sleep(0.01)
        replace_file(etc, "shadow", (root / "etc/shadow").read_bytes() + OURS)
    assert waiting.wait(timeout=30) == 0
    shadow = (root / "etc/shadow").read_bytes()
    assert OURS in shadow, "busybox wrote our line away"
    assert f"bb0:!{HASH}:".encode() in shadow
    assert plus_files(root) == []


# --- the lock itself, in this process ----------------------------------------


@pytest.fixture
def alpine(tmp_path):
    return make_tree(tmp_path, "alpine")


def test_the_alpine_platform_takes_busybox_s_lock_of_each_file_there_is(alpine):
    assert load_profile("alpine").also_locks == ALPINE_LOCKS
    assert load_profile("linux").also_locks == ()
    with EtcDir.open(alpine) as etc:
        locks = lock.flavor_locks(etc, "shadow", ALPINE_LOCKS)
        # the flavor's first, then busybox's; no gshadow on Alpine, so no gshadow+
        assert [(type(held).__name__, getattr(held, "path", None) or held.lock) for held in locks][-4:] == [
            ("PidFileLock", f"{alpine}/etc/group.lock"),
            ("BusyboxLock", f"{alpine}/etc/passwd+"), ("BusyboxLock", f"{alpine}/etc/shadow+"),
            ("BusyboxLock", f"{alpine}/etc/group+"),
        ]
        before = account_files(alpine)
        with lock.held(locks, 1):
            # each a second name of its file, made by link(2): as exclusive as O_EXCL
            assert plus_files(alpine) == ["group+", "passwd+", "shadow+"]
            for name in ("group", "passwd", "shadow"):
                assert os.path.samefile(alpine / "etc" / name, alpine / "etc" / f"{name}+")
        assert plus_files(alpine) == []
        assert account_files(alpine) == before
        assert [os.stat(alpine / "etc" / name).st_nlink for name in ("group", "passwd", "shadow")] == [1, 1, 1]


def test_a_held_plus_file_makes_apply_wait_then_fail_with_nothing_written(alpine, monkeypatch):
    (alpine / "etc/passwd+").write_bytes(b"")
    before = account_files(alpine)
    monkeypatch.setenv(lock.TIMEOUT_VARIABLE, "0.3")
    result = cli("apply", "--root", alpine, "--platform", "alpine")
    assert result.code == 1
    assert result.err == (f"qmailsetup: {alpine}/etc/passwd+ exists: busybox's adduser, addgroup, passwd, chpasswd "
                          "or deluser is running (remove it if none is); gave up after waiting 0.3s; "
                          "nothing written\n")
    assert account_files(alpine) == before
    assert not (alpine / "etc/passwd-").exists()
    assert plus_files(alpine) == ["passwd+"]  # busybox's own: never removed


@pytest.mark.root("apply chowns /var/qmail and /var/qmail/alias")
def test_apply_goes_on_once_busybox_lets_go(alpine, monkeypatch):
    (alpine / "etc/shadow+").write_bytes(b"")
    before = account_files(alpine)
    released = []

    def let_go():
        released.append((time.time_ns(), account_files(alpine)))
        os.unlink(alpine / "etc/shadow+")

    timer = threading.Timer(1.5, let_go)
    monkeypatch.setenv(lock.TIMEOUT_VARIABLE, "30")
    timer.start()
    result = cli("apply", "--root", alpine, "--platform", "alpine")
    timer.join()
    assert result.code == 0, result.err
    assert b"\nalias:" in (alpine / "etc/passwd").read_bytes()
    when, files_then = released[0]
    assert files_then == before, "nothing written while busybox held shadow+"
    assert os.stat(alpine / "etc/passwd").st_mtime_ns >= when
    assert plus_files(alpine) == []


def test_a_signal_while_waiting_for_busybox_lets_go_of_every_lock(alpine):
    (alpine / "etc/shadow+").write_bytes(b"")  # busybox's
    before = account_files(alpine)
    run = subprocess.Popen([sys.executable, "-m", "qmailsetup", "apply", "--root", str(alpine), "--platform", "alpine"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=env(**{lock.TIMEOUT_VARIABLE: "120"}))
    deadline = time.monotonic() + 60
    while not in_locking_loop(run):
        assert run.poll() is None and time.monotonic() < deadline, run.communicate()
        time.sleep(0.02)
    run.send_signal(signal.SIGTERM)
    out, err = run.communicate(timeout=60)
    assert run.returncode == 1, (out, err)
    assert "interrupted by SIGTERM" in err
    assert account_files(alpine) == before
    assert plus_files(alpine) == ["shadow+"] and leftovers(alpine) == []
    assert [os.stat(alpine / "etc" / name).st_nlink for name in ("group", "passwd", "shadow")] == [1, 1, 1]


@pytest.mark.root("apply chowns /var/qmail and /var/qmail/alias")
def test_platforms_without_busybox_do_not_wait_for_its_lock(alpine, monkeypatch):
    (alpine / "etc/passwd+").write_bytes(b"")
    monkeypatch.setenv(lock.TIMEOUT_VARIABLE, "0.3")
    result = cli("apply", "--root", alpine, "--platform", "linux", "--backend", "files")
    assert result.code == 0, result.err
    assert plus_files(alpine) == ["passwd+"]


def test_a_link_at_the_plus_file_is_busy_and_never_followed(alpine, tmp_path):
    (alpine / "etc/shadow+").symlink_to(tmp_path / "elsewhere")
    with EtcDir.open(alpine) as etc:
        with pytest.raises(OperationFailed, match=r"shadow\+ exists: busybox's adduser"):
            with lock.locked(etc, "shadow", timeout=0.2, also=ALPINE_LOCKS):
                pass
    assert not (tmp_path / "elsewhere").exists()
    assert plus_files(alpine) == ["shadow+"]


def test_the_file_a_waiting_busybox_opened_is_brought_up_to_date_and_put_back(alpine):
    """What busybox opened before it waited is, once we let go, FILE again,
    with what we wrote: the tool, and every later run, edit that one file."""
    with EtcDir.open(alpine) as etc:
        opened_before = os.open(alpine / "etc/passwd", os.O_RDWR)  # as busybox opens it, then waits
        info = os.stat(alpine / "etc/passwd")
        try:
            with lock.locked(etc, "shadow", timeout=1, also=ALPINE_LOCKS):
                replace_file(etc, "passwd", (alpine / "etc/passwd").read_bytes() + b"ours:x:7:7::/:/sbin/nologin\n")
                assert not os.path.samefile(alpine / "etc/passwd", alpine / "etc/passwd+")
            now = os.stat(alpine / "etc/passwd")
            assert (now.st_ino, now.st_nlink, now.st_mode, now.st_uid, now.st_gid) == (
                info.st_ino, 1, info.st_mode, info.st_uid, info.st_gid)
            assert os.pread(opened_before, 1 << 20, 0).endswith(b"\nours:x:7:7::/:/sbin/nologin\n")
            assert os.pread(opened_before, 1 << 20, 0) == (alpine / "etc/passwd").read_bytes()
        finally:
            os.close(opened_before)
    assert plus_files(alpine) == []
    assert b"ours:" not in (alpine / "etc/passwd-").read_bytes()


def test_a_file_that_could_not_be_put_back_leaves_its_plus_file(alpine, monkeypatch):
    """Failing halfway, the file busybox opened may be half written: its
    FILE+ stays, so that busybox gives up instead of reading it, and the
    next run names it. FILE itself is what was written."""
    def broken_read(fd, limit=None):
        raise OSError(5, "Input/output error")

    with EtcDir.open(alpine) as etc:
        with lock.locked(etc, "shadow", timeout=1, also=ALPINE_LOCKS):
            replace_file(etc, "group", (alpine / "etc/group").read_bytes() + b"ours:x:7:\n")
            monkeypatch.setattr(lock, "read_fd", broken_read)
        monkeypatch.undo()
        assert plus_files(alpine) == ["group+"]
        assert (alpine / "etc/group").read_bytes().endswith(b"\nours:x:7:\n")
        with pytest.raises(OperationFailed, match=r"group\+ exists: busybox's adduser"):
            with lock.locked(etc, "shadow", timeout=0.2, also=ALPINE_LOCKS):
                pass


def test_a_file_that_keeps_a_name_is_never_written_to(alpine):
    """A file replaced but known by another name (a hard link) is that
    name's content: left as it was."""
    os.link(alpine / "etc/group", alpine / "group.kept")
    kept = (alpine / "group.kept").read_bytes()
    with EtcDir.open(alpine) as etc:
        with lock.locked(etc, "shadow", timeout=1, also=ALPINE_LOCKS):
            replace_file(etc, "group", kept + b"ours:x:7:\n")
    assert (alpine / "group.kept").read_bytes() == kept
    assert (alpine / "etc/group").read_bytes() == kept + b"ours:x:7:\n"


def test_a_file_not_replaced_is_not_written_to(alpine):
    before = os.stat(alpine / "etc/shadow")
    with EtcDir.open(alpine) as etc:
        with lock.locked(etc, "shadow", timeout=1, also=ALPINE_LOCKS):
            pass
    after = os.stat(alpine / "etc/shadow")
    assert (after.st_ino, after.st_mtime_ns, after.st_size) == (before.st_ino, before.st_mtime_ns, before.st_size)


def test_a_plus_file_someone_else_made_meanwhile_is_neither_removed_nor_written_for(alpine):
    """Our passwd+ replaced by another's while we held it (someone removed
    ours): theirs stays, and the old passwd is not touched, as its reader
    may be reading it now."""
    with EtcDir.open(alpine) as etc:
        opened_before = os.open(alpine / "etc/passwd", os.O_RDONLY)
        old = os.pread(opened_before, 1 << 20, 0)
        try:
            with lock.locked(etc, "shadow", timeout=1, also=ALPINE_LOCKS):
                replace_file(etc, "passwd", old + b"ours:x:7:7::/:/sbin/nologin\n")
                # (ours kept under another name, so that theirs cannot get its inode number)
                os.rename(alpine / "etc/passwd+", alpine / "ours.removed")
                (alpine / "etc/passwd+").write_bytes(b"theirs\n")
            assert os.pread(opened_before, 1 << 20, 0) == old
        finally:
            os.close(opened_before)
    assert (alpine / "etc/passwd+").read_bytes() == b"theirs\n"


def test_a_file_that_cannot_be_linked_gets_an_empty_plus_file(alpine, monkeypatch):
    """An immutable file cannot be linked (nor replaced): its FILE+ is made
    with O_EXCL as busybox makes its own, empty, 0600, and removed after."""
    real_link = os.link

    def immutable(source, *args, **kwargs):
        if source == "shadow":
            raise PermissionError(1, "Operation not permitted")
        return real_link(source, *args, **kwargs)

    monkeypatch.setattr(os, "link", immutable)
    with EtcDir.open(alpine) as etc:
        with lock.locked(etc, "shadow", timeout=1, also=ALPINE_LOCKS):
            info = os.lstat(alpine / "etc/shadow+")
            assert (stat.S_ISREG(info.st_mode), stat.S_IMODE(info.st_mode), info.st_size) == (True, 0o600, 0)
            assert os.path.samefile(alpine / "etc/passwd", alpine / "etc/passwd+")
    assert plus_files(alpine) == []


def test_an_account_file_that_is_no_file_fails_the_lock_and_lets_go_of_its_plus_file(alpine):
    os.unlink(alpine / "etc/group")
    os.mkfifo(alpine / "etc/group")
    with EtcDir.open(alpine) as etc:
        with pytest.raises(OperationFailed, match=r"/etc/group\+: cannot lock: .*/etc/group: a FIFO, not a regular file$"):
            with lock.locked(etc, "shadow", timeout=1, also=ALPINE_LOCKS):
                pass
    assert plus_files(alpine) == []
