"""Queues for the queue tests: a tree with qmail's accounts (INSTALL.ids'
numbers), its queue made by `qmailsetup queue create`, messages put in it
as qmail-queue and qmail-send leave them, the queue copied to new inodes
(tar --numeric-owner, as a restore does) and its owners shifted (a host
whose accounts have other numbers), and what a queue holds, message by
message, to compare before and after a repair.

How qmail names its files (docs/queue.md): qmail-queue writes the message
to pid/PID.TIME.SEQ, links it to mess/(I % split)/I, I its inode, unlinks
the pid file, writes the envelope to intd/I and links that to todo/I;
qmail-send turns todo/I into info/S/I, local/S/I and remote/S/I, and
writes bounce/I when it bounces."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from conftest import cli
from scenarios import add_qmail_accounts, make_qmail_dirs
from trees import debian_tree, example_spec, write

IDS = {"qmailq": 7794, "qmailr": 7795, "qmails": 7796, "qmail": 2107, "nofiles": 2108}
ENVELOPES = ("todo", "intd", "info", "local", "remote", "bounce")
SPLIT_KINDS = ("mess", "info", "local", "remote")
# what qmail-send's files hold: an envelope's lines
INFO, LOCAL, REMOTE, BOUNCE = b"Fsender@example.org\0", b"Tlocal@example.org\0", b"Tremote@example.org\0", b"D\0"


def queue_root(tmp_path: Path, split: int = 23, installation: str = "netqmail") -> tuple[Path, Path]:
    """(root, spec): a host tree with qmail's accounts and home, and the
    INSTALL.ids spec with SPLIT and INSTALLATION."""
    root = debian_tree(tmp_path / "root")
    add_qmail_accounts(root, {"qmail": 2107, "nofiles": 2108}, 7790, "/bin/true", step=1)
    make_qmail_dirs(root, 2107, 7790)
    spec = tmp_path / "spec.toml"
    text = example_spec("install-ids").replace('installation = "netqmail"', f'installation = "{installation}"')
    write(spec, text.replace("[qmail]\n", f"[qmail]\nsplit = {split}\n"))
    return root, spec


def queue_cli(command: str, root: Path, spec: Path, *options: str):
    return cli("queue", command, "--root", root, "--spec", spec, "--platform", "linux", *options)


def made_queue(tmp_path: Path, split: int = 23) -> tuple[Path, Path, Path]:
    """(root, spec, queue): the queue as `qmailsetup queue create` makes it."""
    root, spec = queue_root(tmp_path, split)
    result = queue_cli("create", root, spec)
    assert result.code == 0, result.err
    return root, spec, root / "var/qmail/queue"


@pytest.fixture
def made(tmp_path):
    """(root, spec, queue): a made queue holding some_messages (a fixture
    of every test module, through conftest's pytest_plugins)."""
    root, spec, queue = made_queue(tmp_path)
    some_messages(queue)
    return root, spec, queue


def place(queue: Path, path: str, data: bytes, owner: str, mode: int) -> Path:
    target = queue / path
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    os.write(fd, data)
    os.close(fd)
    os.chown(target, IDS[owner], IDS["qmail"])
    os.chmod(target, mode)
    return target


def queue_message(queue: Path, body: bytes, state: str = "todo", split: int = 23) -> int:
    """A message as qmail leaves it; STATE: "todo" (queued, qmail-send has
    not seen it: intd and todo, one file), "unfinished" (qmail-queue died
    before todo), "info" (local and remote deliveries pending), "remote",
    "bounce" (a bounce pending). Returns its number, its file's inode."""
    pid = place(queue, f"pid/{os.getpid()}.1.{len(body)}", body, "qmailq", 0o644)
    number = pid.stat().st_ino
    s = number % split
    os.link(pid, queue / f"mess/{s}/{number}")
    os.unlink(pid)
    envelope = b"u0\0p1\0F" + INFO[1:] + b"T" + REMOTE[1:] + b"\0"
    if state in ("todo", "unfinished"):
        place(queue, f"intd/{number}", envelope, "qmailq", 0o644)
        if state == "todo":
            os.link(queue / f"intd/{number}", queue / f"todo/{number}")
        return number
    place(queue, f"info/{s}/{number}", INFO, "qmails", 0o600)
    place(queue, f"remote/{s}/{number}", REMOTE, "qmails", 0o600)
    if state == "info":
        place(queue, f"local/{s}/{number}", LOCAL, "qmails", 0o600)
    if state == "bounce":
        place(queue, f"bounce/{number}", BOUNCE, "qmails", 0o600)
    return number


def some_messages(queue: Path, count: int = 6, split: int = 23) -> list[int]:
    states = ("todo", "info", "remote", "bounce")
    return [queue_message(queue, b"Subject: %d\n\nmessage %d\n" % (n, n), states[n % len(states)], split)
            for n in range(count)]


def restored(root: Path, target: Path, shift: int = 1000) -> Path:
    """ROOT copied to TARGET with tar --numeric-owner, as a restore makes
    it: every file a new inode under its old name; the queue's owners and
    groups SHIFT up, as a host whose accounts have other numbers sees them."""
    target.mkdir(parents=True)
    subprocess.run(f"tar -C '{root}' --numeric-owner -cf - . | tar -C '{target}' --numeric-owner -xpf -",
                   shell=True, check=True)
    if shift:
        shift_owners(target / "var/qmail/queue", shift)
    return target


def shift_owners(queue: Path, shift: int) -> None:
    seen = set()
    for directory, subdirectories, files in os.walk(queue):
        for path in [directory] + [os.path.join(directory, name) for name in subdirectories + files]:
            info = os.lstat(path)
            if (info.st_dev, info.st_ino) in seen:
                continue  # a second name of one file (intd and todo)
            seen.add((info.st_dev, info.st_ino))
            os.lchown(path, info.st_uid + shift, info.st_gid + shift)


def contents(queue: Path, split: int = 23) -> dict[bytes, dict[str, bytes]]:
    """What the queue holds, message by message: each message's text with
    the entries qmail finds for it, by the name qmail looks them up by
    (its file's inode); asserts that every message file has that name, in
    its split directory, and that no entry is left that no message has."""
    held, numbers = {}, set()
    for mess in sorted((queue / "mess").glob("*/*")):
        number = mess.stat().st_ino
        assert mess.name == str(number) and mess.parent.name == str(number % split), f"{mess} is not its inode"
        numbers.add(number)
        entries = {}
        for kind in ENVELOPES:
            path = queue / (f"{kind}/{number % split}/{number}" if kind in SPLIT_KINDS else f"{kind}/{number}")
            if path.exists():
                entries[kind] = path.read_bytes()
        held[mess.read_bytes()] = entries
    for kind in ENVELOPES:
        for path in (queue / kind).glob("*/*" if kind in SPLIT_KINDS else "*"):
            assert int(path.name) in numbers, f"{path}: no message has it"
    return held


def entries_of(queue: Path) -> list[str]:
    """Every path in the queue, relative, sorted."""
    return sorted(str(p.relative_to(queue)) for p in queue.rglob("*"))
