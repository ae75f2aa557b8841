#!/usr/bin/env python3
"""Benchmark (not a test): qmailsetup against the same work done by the nine
shadow-utils commands of qmail's INSTALL.ids and by systemd-sysusers.

    sudo .venv/bin/python bench/run.py [--runs 5] [--big 100000]
    sudo .venv/bin/python bench/run.py --startup    # the start-up budget alone

Each run starts from a fresh copy of the account files under a temporary
root (the copy is not timed); every tool works there with --prefix/--root,
never on this machine's /etc. Wall time is the median of the runs; peak
memory is the largest resident set of the process tree (wait4's rusage).
Ratios are to the shadow-utils sequence. Needs root (useradd --prefix).

Start-up has a budget: a dry run of the built-in spec under a root that
holds a copy of this machine's account files (python's start, every
import, the run) takes at most STARTUP_BUDGET seconds, median; over it, the
bench says so and exits 1. A budget, not a test: a timing on a shared
machine is no pass or fail of the code.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STARTUP_BUDGET = 0.5  # seconds, median
ACCOUNT_FILES = ("passwd", "group", "shadow", "gshadow", "login.defs")
QMAIL_USERS = [
    ("alias", "nofiles", "/var/qmail/alias"), ("qmaild", "nofiles", "/var/qmail"),
    ("qmaill", "nofiles", "/var/qmail"), ("qmailp", "nofiles", "/var/qmail"),
    ("qmailq", "qmail", "/var/qmail"), ("qmailr", "qmail", "/var/qmail"), ("qmails", "qmail", "/var/qmail"),
]


def install_ids(root: Path) -> list[str]:
    """INSTALL.ids for Linux, as qmail ships it: nine commands, run by sh."""
    prefix = f"--prefix {root}"
    commands = [f"groupadd {prefix} nofiles"]
    commands += [f"useradd {prefix} -g {g} -d {h} {u}" for u, g, h in QMAIL_USERS if g == "nofiles"]
    commands += [f"groupadd {prefix} qmail"]
    commands += [f"useradd {prefix} -g {g} -d {h} {u}" for u, g, h in QMAIL_USERS if g == "qmail"]
    return ["sh", "-ec", " && ".join(commands)]


SYSUSERS_CONF = "g qmail -\ng nofiles -\n" + "".join(
    f"u {user} -:{group} - {home}\n" for user, group, home in QMAIL_USERS
)


def qmailsetup(*args: str) -> Callable[[Path], list[str]]:
    return lambda root: [sys.executable, "-m", "qmailsetup", "apply", "--platform", "linux", "--root", str(root), *args]


def sysusers(conf: Path) -> Callable[[Path], list[str]]:
    return lambda root: ["systemd-sysusers", "--root", str(root), str(conf)]


def stock_tree(dest: Path) -> Path:
    (dest / "etc").mkdir(parents=True)
    for name in ACCOUNT_FILES:
        if Path("/etc", name).exists():
            shutil.copy2(Path("/etc", name), dest / "etc" / name)
    return dest


def big_tree(dest: Path, stock: Path, users: int) -> Path:
    """The stock files and USERS people, each with a private group, as
    useradd with USERGROUPS_ENAB leaves them."""
    shutil.copytree(stock, dest)
    etc = dest / "etc"
    names = [f"user{n:06d}" for n in range(users)]
    with open(etc / "passwd", "a") as f:
        f.writelines(f"{name}:x:{10000 + n}:{10000 + n}:Person {n},,,:/home/{name}:/bin/bash\n" for n, name in enumerate(names))
    with open(etc / "shadow", "a") as f:
        f.writelines(f"{name}:$6$salt$hash:19000:0:99999:7:::\n" for name in names)
    with open(etc / "group", "a") as f:
        f.writelines(f"{name}:x:{10000 + n}:\n" for n, name in enumerate(names))
    with open(etc / "gshadow", "a") as f:
        f.writelines(f"{name}:!::\n" for name in names)
    return dest


def run_once(argv: list[str], env: dict, work: Path) -> tuple[float, int]:
    """Wall seconds and peak resident KiB of ARGV and everything it runs.
    GNU time reads the peak: a child forked from this Python process would
    count this process's own pages in its high-water mark."""
    report = work / "time.out"
    start = time.perf_counter()
    result = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(report), *argv], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if result.returncode not in (0, 4):
        raise SystemExit(f"{' '.join(argv)}: exit {result.returncode}: {result.stderr.decode()}")
    return elapsed, int(report.read_text().split()[-1])


def fresh_root(template: Path, work: Path) -> Path:
    root = work / "root"
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(template, root)
    return root


def measure(commands: list, template: Path, runs: int, work: Path, env: dict) -> list[tuple[float, int]]:
    """(median seconds, peak KiB) for each command. The commands take turns
    run after run, so a change in the machine's load touches them alike."""
    samples = [([], []) for _ in commands]
    for _ in range(runs):
        for command, (times, peaks) in zip(commands, samples, strict=True):
            elapsed, peak = run_once(command(fresh_root(template, work)), env, work)
            times.append(elapsed)
            peaks.append(peak)
    return [(statistics.median(times), max(peaks)) for times, peaks in samples]


LIVE = """\
import statistics, subprocess, sys, time
times = []
for _ in range(int(sys.argv[1])):
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "qmailsetup", "apply", "--dry-run"], stdout=subprocess.DEVNULL, check=True)
    times.append(time.perf_counter() - start)
print(statistics.median(times))
"""


def live_dry_run(runs: int, env: dict) -> float:
    """The dry run an administrator types: no --root, NSS asked, check run.
    In a private mount namespace with /etc and /var read-only, to be sure."""
    script = (
        "set -e; mount --make-rprivate /\n"
        "for d in /etc /var; do mount --bind $d $d; mount -o remount,bind,ro $d; done\n"
        f'exec "{sys.executable}" -c "$LIVE" {runs}\n'
    )
    done = subprocess.run(["unshare", "-m", "sh", "-c", script], env={**env, "LIVE": LIVE},
                          capture_output=True, text=True, check=True)
    return float(done.stdout)


def startup(stock: Path, work: Path, runs: int, env: dict) -> float:
    """Median seconds of a dry run of the built-in spec under a copy of
    STOCK (it writes nothing: one copy serves every run)."""
    argv = qmailsetup("--dry-run")(fresh_root(stock, work))
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def within_budget(seconds: float) -> bool:
    verdict = "within it" if seconds <= STARTUP_BUDGET else "OVER BUDGET"
    print(f"Start-up: a dry run of the built-in spec under --root, {seconds * 1000:.0f} ms median "
          f"(budget {STARTUP_BUDGET * 1000:.0f} ms): {verdict}.")
    return seconds <= STARTUP_BUDGET


def floor(runs: int, env: dict) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import typer; from pydantic import BaseModel"], env=env, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def users_in(tree: Path) -> int:
    return sum(1 for _ in open(tree / "etc/passwd"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per figure on the stock files (the median is shown)")
    parser.add_argument("--big", type=int, default=100_000, help="people in the large account files")
    parser.add_argument("--growth", default="10000,50000,100000", help="sizes for the growth table")
    parser.add_argument("--startup", action="store_true", help="measure the start-up alone, against its budget")
    options = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench/run.py: needs root (useradd --prefix, chown)")
    # with the bytecode an installed package has: PYTHONDONTWRITEBYTECODE
    # would have every run compile qmailsetup's modules from source again
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(REPO / "src")
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "src")], env=env, check=True)

    with tempfile.TemporaryDirectory(prefix="qmailsetup-bench-") as top:
        top_path = Path(top)
        stock = stock_tree(top_path / "stock")
        work = top_path / "work"
        work.mkdir()
        fast_enough = within_budget(startup(stock, work, options.runs * 3, env))
        if options.startup:
            raise SystemExit(0 if fast_enough else 1)
        conf = top_path / "qmail.conf"
        conf.write_text(SYSUSERS_CONF)
        big = big_tree(top_path / "big", stock, options.big)

        methods: list[tuple[str, Callable[[Path], list[str]]]] = [
            ("qmailsetup apply --dry-run", qmailsetup("--dry-run")),
            ("qmailsetup apply (files)", qmailsetup("--backend", "files")),
            ("qmailsetup apply (useradd)", qmailsetup("--backend", "useradd")),
            ("shadow-utils: INSTALL.ids, 9 commands", install_ids),
            ("systemd-sysusers --root", sysusers(conf)),
        ]
        trees = [(f"stock ({users_in(stock)} users)", stock, options.runs),
                 (f"{users_in(big):,} users", big, max(3, options.runs // 2))]
        results = {}
        for label, tree, runs in trees:
            figures = measure([command for _, command in methods], tree, runs, work, env)
            results.update({(label, name): figure for (name, _), figure in zip(methods, figures, strict=True)})

        print_table(methods, trees, results)

        dry_stock = results[trees[0][0], methods[0][0]][0]
        print(f"\nDry run on a stock host: {dry_stock * 1000:.0f} ms median under --root, "
              f"{live_dry_run(options.runs * 3, env) * 1000:.0f} ms on this host's own / (target < 250 ms);")
        print(f"python importing typer and pydantic's BaseModel alone: {floor(options.runs * 3, env) * 1000:.0f} ms.")

        print_growth(options, stock, top_path, work, env, methods[:2])
    if not fast_enough:
        raise SystemExit(1)


def print_table(methods, trees, results) -> None:
    shadow = "shadow-utils: INSTALL.ids, 9 commands"
    width = max(len(name) for name, _ in methods)
    head = f"{'':{width}}"
    for label, _, runs in trees:
        head += f" | {label + f', median of {runs}':^36}"
    print(head)
    sub = f"{'':{width}}" + " | {:>8} {:>7} {:>9} {:>7}".format("ms", "ratio", "peak MiB", "ratio") * len(trees)
    print(sub)
    print("-" * len(sub))
    for name, _ in methods:
        row = f"{name:{width}}"
        for label, _, _ in trees:
            seconds, peak = results[label, name]
            base_seconds, base_peak = results[label, shadow]
            row += f" | {seconds * 1000:8.0f} {seconds / base_seconds:6.2f}x {peak / 1024:9.1f} {peak / base_peak:6.2f}x"
        print(row)


def print_growth(options, stock: Path, top: Path, work: Path, env: dict, methods) -> None:
    """Time against size; 'per 10k' is the time above the stock files'
    divided by the tens of thousands of users added: flat means linear."""
    sizes = [int(size) for size in options.growth.split(",")]
    print("\nGrowth with the size of the account files (median of 3):")
    print(f"{'users':>8} | " + " | ".join(f"{name:>28} {'per 10k':>8}" for name, _ in methods))
    commands = [command for _, command in methods]
    base = [seconds for seconds, _ in measure(commands, stock, 3, work, env)]
    for size in sizes:
        tree = big_tree(top / f"growth-{size}", stock, size)
        cells = [
            f"{seconds * 1000:25.0f} ms {(seconds - start) * 1000 / (size / 10000):5.0f} ms"
            for (seconds, _), start in zip(measure(commands, tree, 3, work, env), base, strict=True)
        ]
        print(f"{size:8,} | " + " | ".join(cells))
        shutil.rmtree(tree)


if __name__ == "__main__":
    main()
