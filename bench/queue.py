#!/usr/bin/env python3
"""Benchmark (not a test): check's queue.owner walk on a large queue.

    sudo .venv/bin/python bench/queue.py [--messages 100000] [--runs 3]

Lays out /var/qmail/queue under a temporary root as netqmail 1.06's
make setup check leaves it (conf-split 23), with MESSAGES messages waiting
for remote delivery, each as qmail keeps it: mess/N/INODE (qmailq, 0644),
info/N/INODE and remote/N/INODE (qmails, 0600). The layout is not timed.
Then times, as medians of RUNS: the walk alone (queue_findings), the whole
`qmailsetup check --root`, and GNU find doing the same lstat walk
(find -printf '%U %G %m', numbers only), with the queue as laid out and after qmails is
renumbered (every qmails entry then differs). Needs root (chown).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

IDS = {"qmailq": 7794, "qmails": 7796, "qmailr": 7795, "qmail": 2107}
SPLIT = 23


def accounts(root: Path) -> None:
    etc = root / "etc"
    etc.mkdir(parents=True)
    (etc / "group").write_text("root:x:0:\nqmail:x:2107:\nnofiles:x:2108:\n")
    users = ["alias", "qmaild", "qmaill", "qmailp", "qmailq", "qmailr", "qmails"]
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n" + "".join(
        f"{name}:x:{7790 + n}:{2108 if n < 4 else 2107}::/var/qmail:/bin/true\n" for n, name in enumerate(users)
    ))


def queue(root: Path, messages: int) -> int:
    """The queue with MESSAGES messages; returns the number of entries."""
    base = root / "var/qmail/queue"
    entries = 0

    def make(path: Path, owner: str, mode: int, directory: bool) -> None:
        nonlocal entries
        if directory:
            path.mkdir(parents=True)
        else:
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, mode))
        os.chown(path, IDS[owner], IDS["qmail"])
        os.chmod(path, mode)
        entries += 1

    make(base, "qmailq", 0o750, True)
    for name, owner, mode in (("pid", "qmailq", 0o700), ("intd", "qmailq", 0o700), ("todo", "qmailq", 0o750),
                              ("bounce", "qmails", 0o700), ("lock", "qmailq", 0o750)):
        make(base / name, owner, mode, True)
    split = {"mess": ("qmailq", 0o750, 0o644), "info": ("qmails", 0o700, 0o600),
             "local": ("qmails", 0o700, 0o600), "remote": ("qmails", 0o700, 0o600)}
    for name, (owner, mode, _) in split.items():
        make(base / name, owner, mode, True)
        for n in range(SPLIT):
            make(base / name / str(n), owner, mode, True)
    for number in range(messages):
        inode = 100000 + number
        for name in ("mess", "info", "remote"):
            owner, _, mode = split[name]
            make(base / name / str(inode % SPLIT) / str(inode), owner, mode, False)
    return entries


def median_time(function, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def child_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/queue.py: needs root (the queue is chowned to qmail's users)")

    from qmailsetup.check.queue import queue_findings
    from qmailsetup.observe import observe
    from qmailsetup.platforms import choose_profile
    from qmailsetup.spec import load_spec

    with tempfile.TemporaryDirectory(prefix="qmailsetup-bench-queue-") as work:
        root = Path(work) / "root"
        accounts(root)
        start = time.perf_counter()
        entries = queue(root, options.messages)
        print(f"{options.messages} messages, {entries} entries, laid out in {time.perf_counter() - start:.1f} s")
        spec = load_spec(REPO / "src/qmailsetup/specs/install-ids.toml")
        check = [sys.executable, "-m", "qmailsetup", "check", "--json", "--root", str(root),
                 "--spec", str(REPO / "src/qmailsetup/specs/install-ids.toml"), "--platform", "linux"]
        find = ["find", str(root / "var/qmail/queue"), "-printf", "%U %G %m\n"]
        env = os.environ | {"PYTHONPATH": str(REPO / "src")}
        rows = []
        for label in ("as laid out", "qmails renumbered"):
            if label == "qmails renumbered":
                passwd = root / "etc/passwd"
                passwd.write_text(passwd.read_text().replace("qmails:x:7796:", "qmails:x:7896:"))
            host = observe(spec, root, choose_profile("linux", root))
            [finding] = queue_findings(spec, root, host)
            walk = median_time(lambda host=host: queue_findings(spec, root, host), options.runs)
            whole = median_time(lambda: subprocess.run(check, env=env, stdout=subprocess.DEVNULL, check=False), options.runs)
            rss = child_rss_mib()
            baseline = median_time(lambda: subprocess.run(find, stdout=subprocess.DEVNULL, check=True), options.runs)
            wrong = finding.message.split()[0] if finding.severity == "error" else "0"
            rows.append((f"{label} ({wrong} wrong)", finding.severity, walk, whole, rss, baseline))
        print(f"| queue ({options.messages} messages) | finding | walk | qmailsetup check | peak RSS | find -printf |")
        print("|---|---|---:|---:|---:|---:|")
        for label, severity, walk, whole, rss, baseline in rows:
            print(f"| {label} | {severity} | {walk:.2f} s | {whole:.2f} s | {rss:.0f} MiB | {baseline:.2f} s |")


if __name__ == "__main__":
    main()
