#!/usr/bin/env python3
"""Benchmark (not a test): qmailsetup's queue walks on a large queue.

    sudo .venv/bin/python bench/queue_walks.py [--messages 100000] [--runs 3] [--only check|repair]

Lays out /var/qmail/queue under a temporary root as netqmail 1.06's
make setup check leaves it (conf-split 23), with MESSAGES messages waiting
for remote delivery, each as qmail keeps it: mess/N/INODE (qmailq, 0644),
made as qmail-queue makes it (a file, linked under its inode number),
info/N/INODE and remote/N/INODE (qmails, 0600). The layout is not timed.
Then times, as medians of RUNS:

- check's queue findings: the walk alone (queue_findings), the whole
  `qmailsetup check --root`, and GNU find doing the same lstat walk
  (find -printf '%U %G %m', numbers only), with the queue as laid out and
  after qmails is renumbered (every qmails entry then differs);
- `qmailsetup queue check` against `find -printf '%U %G %m %p'`;
- `qmailsetup queue repair` of the queue copied with tar to new inodes
  (every message then has another's name) and its owners shifted by 1000,
  against mv(1) moving the same files (mv -t, a directory at a time);
  each run on a fresh copy (not timed).

Needs root (chown).
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
    for _ in range(messages):
        # as qmail-queue names a message: by the inode of its file
        pid = base / "pid/1.1.1"
        make(pid, "qmailq", 0o644, False)
        inode = pid.stat().st_ino
        os.rename(pid, base / "mess" / str(inode % SPLIT) / str(inode))
        for name in ("info", "remote"):
            owner, _, mode = split[name]
            make(base / name / str(inode % SPLIT) / str(inode), owner, mode, False)
    make(base / "lock/tcpto", "qmailr", 0o644, False)
    make(base / "lock/sendmutex", "qmails", 0o600, False)
    os.mkfifo(base / "lock/trigger")
    os.chown(base / "lock/trigger", IDS["qmails"], IDS["qmail"])
    os.chmod(base / "lock/trigger", 0o622)
    return entries + 1


def median_time(function, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def child_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def timed(argv: list[str], env: dict | None = None) -> tuple[float, float, float]:
    """Wall time, CPU time (user and system) and peak RSS (MiB) of ARGV,
    run once."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode not in (0, 3):
        sys.exit(f"bench/queue_walks.py: {argv[0]} exited {process.returncode}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def copy_shifted(source: Path, target: Path, shift: int = 1000) -> None:
    """SOURCE's queue copied to TARGET as tar --numeric-owner copies it (new
    inodes), each owner and group SHIFT up, as a host with other IDs has them."""
    target.mkdir(parents=True)
    subprocess.run(f"tar -C {source} --numeric-owner -cf - . | tar -C {target} --numeric-owner -xpf -",
                   shell=True, check=True)
    for directory, subdirectories, files in os.walk(target / "var/qmail/queue") if shift else ():
        for name in [*subdirectories, *files, ""]:
            path = os.path.join(directory, name) if name else directory
            info = os.lstat(path)
            os.lchown(path, info.st_uid + shift, info.st_gid + shift)


def mv_all(queue: Path) -> None:
    """mv moving every file of the queue's message directories, a
    directory at a time, into a new directory beside it."""
    for directory, _, files in list(os.walk(queue)):
        if files and "/lock" not in directory:
            moved = directory + ".mv"
            os.mkdir(moved)
            subprocess.run(["find", directory, "-maxdepth", "1", "-type", "f", "-exec", "mv", "-t", moved, "{}", "+"],
                           check=True)


def check_table(root: Path, options, env: dict) -> None:
    from qmailsetup.check.queue import queue_findings
    from qmailsetup.observe import observe
    from qmailsetup.platforms import choose_profile
    from qmailsetup.spec import load_spec

    spec = load_spec(REPO / "src/qmailsetup/specs/install-ids.toml")
    check = [sys.executable, "-m", "qmailsetup", "check", "--json", "--root", str(root),
             "--spec", str(REPO / "src/qmailsetup/specs/install-ids.toml"), "--platform", "linux"]
    queue_check = [sys.executable, "-m", "qmailsetup", "queue", "check", "--json", "--root", str(root),
                   "--spec", str(REPO / "src/qmailsetup/specs/install-ids.toml"), "--platform", "linux"]
    find = ["find", str(root / "var/qmail/queue"), "-printf", "%U %G %m\n"]
    find_paths = ["find", str(root / "var/qmail/queue"), "-printf", "%U %G %m %p\n"]
    rows, queue_rows = [], []
    for label in ("as laid out", "qmails renumbered"):
        if label == "qmails renumbered":
            passwd = root / "etc/passwd"
            passwd.write_text(passwd.read_text().replace("qmails:x:7796:", "qmails:x:7896:"))
        host = observe(spec, root, choose_profile("linux", root))
        finding = next(f for f in queue_findings(spec, root, host) if f.id == "queue.owner")
        walk = median_time(lambda host=host: queue_findings(spec, root, host), options.runs)
        whole = median_time(lambda: subprocess.run(check, env=env, stdout=subprocess.DEVNULL, check=False), options.runs)
        rss = child_rss_mib()
        baseline = median_time(lambda: subprocess.run(find, stdout=subprocess.DEVNULL, check=True), options.runs)
        wrong = finding.message.split()[0] if finding.severity == "error" else "0"
        rows.append((f"{label} ({wrong} wrong)", finding.severity, walk, whole, rss, baseline))
        ours, theirs = [], []
        for _ in range(options.runs):  # in turn, so that both run under the same load
            ours.append(timed(queue_check, env))
            theirs.append(timed(find_paths))
        queue_rows.append((label, *(statistics.median(t[i] for t in ours) for i in (0, 1)), max(t[2] for t in ours),
                           *(statistics.median(t[i] for t in theirs) for i in (0, 1))))
    print(f"| queue ({options.messages} messages) | queue.owner | walk | qmailsetup check | peak RSS | find -printf |")
    print("|---|---|---:|---:|---:|---:|")
    for label, severity, walk, whole, rss, baseline in rows:
        print(f"| {label} | {severity} | {walk:.2f} s | {whole:.2f} s | {rss:.0f} MiB | {baseline:.2f} s |")
    print()
    print("| queue | qmailsetup queue check: wall, CPU | peak RSS | find -printf '%U %G %m %p': wall, CPU | ratio: wall, CPU |")
    print("|---|---:|---:|---:|---:|")
    for label, wall, cpu, peak, find_wall, find_cpu in queue_rows:
        print(f"| {label} | {wall:.2f} s, {cpu:.2f} s | {peak:.0f} MiB | {find_wall:.2f} s, {find_cpu:.2f} s | "
              f"{wall / find_wall:.2f}, {cpu / find_cpu:.2f} |")


def repair_table(root: Path, options, env: dict) -> None:
    work = root.parent
    passwd = root / "etc/passwd"  # the accounts the queue was laid out for (check_table renumbers qmails)
    passwd.write_text(passwd.read_text().replace("qmails:x:7896:", "qmails:x:7796:"))
    print()
    print("| queue copied to new inodes | qmailsetup queue repair: wall, CPU | peak RSS "
          "| mv of the same files: wall, CPU | ratio: wall, CPU |")
    print("|---|---:|---:|---:|---:|")
    for shift, label in ((0, "names only"), (1000, "names, and owners 1000 up")):
        repair, mv = [], []
        for run in range(options.runs):
            copy = work / f"copy{run}"
            copy_shifted(root, copy, shift)
            argv = [sys.executable, "-m", "qmailsetup", "queue", "repair", "--json", "--root", str(copy),
                    "--spec", str(REPO / "src/qmailsetup/specs/install-ids.toml"), "--platform", "linux"]
            repair.append(timed(argv, env))
            check = subprocess.run([*argv[:4], "check", *argv[5:]], env=env, capture_output=True, text=True)
            if check.returncode != 0:
                sys.exit(f"bench/queue_walks.py: the repaired queue fails queue check:\n{check.stdout}")
            subprocess.run(["rm", "-rf", str(copy)], check=True)
            copy_shifted(root, copy, shift)
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            mv_all(copy / "var/qmail/queue")
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            mv.append((time.perf_counter() - start,
                       after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime))
            subprocess.run(["rm", "-rf", str(copy)], check=True)
        wall, cpu = (statistics.median(t[i] for t in repair) for i in (0, 1))
        mv_wall, mv_cpu = (statistics.median(t[i] for t in mv) for i in (0, 1))
        print(f"| {options.messages} messages, {label} | {wall:.2f} s, {cpu:.2f} s | "
              f"{max(t[2] for t in repair):.0f} MiB | {mv_wall:.2f} s, {mv_cpu:.2f} s | "
              f"{wall / mv_wall:.2f}, {cpu / mv_cpu:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", choices=("check", "repair"))
    parser.add_argument("--dir", help="lay the queue out under DIR (default: a temporary directory)")
    options = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/queue_walks.py: needs root (the queue is chowned to qmail's users)")
    with tempfile.TemporaryDirectory(prefix="qmailsetup-bench-queue-", dir=options.dir) as work:
        root = Path(work) / "root"
        accounts(root)
        start = time.perf_counter()
        entries = queue(root, options.messages)
        print(f"{options.messages} messages, {entries} entries, laid out in {time.perf_counter() - start:.1f} s")
        env = os.environ | {"PYTHONPATH": str(REPO / "src")}
        if options.only != "repair":
            check_table(root, options, env)
        if options.only != "check":
            repair_table(root, options, env)


if __name__ == "__main__":
    main()
