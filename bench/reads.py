#!/usr/bin/env python3
"""Benchmark (not a test): how often one apply reads the account files.

    sudo .venv/bin/python bench/reads.py [--big 10000] [--src DIR]

Under a temporary root with this machine's account files (and with BIG
people more), `qmailsetup apply` runs under strace, which names the file
behind every descriptor (-y). Two figures:

- files backend: the bytes read from passwd, group, shadow and gshadow
  by the run, over the bytes those files held before it;
- useradd backend: how often qmailsetup itself opens passwd (the tools it
  runs, useradd and groupadd, open it too: counted apart).

--src runs the package in DIR/src instead of this checkout's (an older
checkout, to compare). Needs root (useradd --prefix) and strace.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ACCOUNT_FILES = ("passwd", "group", "shadow", "gshadow")
# "1234 read(5</root/etc/passwd>, ""..., 4096) = 1221" (strace -f -y -s 0)
CALL = re.compile(r"^(?P<pid>\d+) +(?P<call>\w+)\((?P<args>.*)\) += (?P<result>-?\d+)(?:<(?P<opened>[^>]*)>)?")
FD_PATH = re.compile(r"^\d+<(?P<path>[^>]*)>")
READS = ("read", "pread64", "readv", "preadv", "preadv2")


def stock_root(dest: Path, people: int) -> Path:
    etc = dest / "etc"
    etc.mkdir(parents=True)
    for name in (*ACCOUNT_FILES, "login.defs"):
        if Path("/etc", name).exists():
            shutil.copy2(Path("/etc", name), etc / name)
    names = [f"user{n:06d}" for n in range(people)]
    with open(etc / "passwd", "a") as f:
        f.writelines(f"{name}:x:{10000 + n}:{10000 + n}:Person {n},,,:/home/{name}:/bin/bash\n" for n, name in enumerate(names))
    with open(etc / "shadow", "a") as f:
        f.writelines(f"{name}:$6$salt$hash:19000:0:99999:7:::\n" for name in names)
    with open(etc / "group", "a") as f:
        f.writelines(f"{name}:x:{10000 + n}:\n" for n, name in enumerate(names))
    with open(etc / "gshadow", "a") as f:
        f.writelines(f"{name}:!::\n" for name in names)
    return dest


def traced(root: Path, backend: str, src: Path, work: Path, dry_run: bool = False) -> list[re.Match]:
    """The system calls of one apply under ROOT, parsed."""
    log = work / "strace.log"
    env = {**os.environ, "PYTHONPATH": str(src / "src")}
    argv = [sys.executable, "-m", "qmailsetup", "apply", "--platform", "linux", "--root", str(root),
            "--backend", backend, *(["--dry-run"] if dry_run else [])]
    done = subprocess.run(
        ["strace", "-f", "-qq", "-y", "-s", "0", "-e", "signal=none",
         "-e", "trace=open,openat,openat2," + ",".join(READS), "-o", str(log), *argv],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    if done.returncode not in (0, 4):
        raise SystemExit(f"{' '.join(argv)}: exit {done.returncode}: {done.stderr}")
    calls = [m for m in map(CALL.match, log.read_text().splitlines()) if m]
    log.unlink()
    return calls


def bytes_read(calls: list[re.Match], etc: Path) -> int:
    paths = {str(etc / name) for name in ACCOUNT_FILES}
    total = 0
    for call in calls:
        if call["call"] in READS and int(call["result"]) > 0:
            fd = FD_PATH.match(call["args"])
            if fd and fd["path"] in paths:
                total += int(call["result"])
    return total


def opens_of(calls: list[re.Match], path: Path) -> tuple[int, int]:
    """Successful opens of PATH: by the first process traced (qmailsetup
    itself), and by the processes it started."""
    own = calls[0]["pid"] if calls else None
    mine = others = 0
    for call in calls:
        if call["call"].startswith("open") and int(call["result"]) >= 0 and call["opened"] == str(path):
            if call["pid"] == own:
                mine += 1
            else:
                others += 1
    return mine, others


def fresh(template: Path, work: Path) -> Path:
    root = work / "root"
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(template, root)
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big", type=int, default=10_000, help="people in the larger account files")
    parser.add_argument("--src", type=Path, default=REPO, help="the checkout whose src/ runs")
    options = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench/reads.py: needs root (useradd --prefix)")
    if shutil.which("strace") is None:
        raise SystemExit("bench/reads.py: needs strace")
    with tempfile.TemporaryDirectory(prefix="qmailsetup-reads-") as top:
        top_path = Path(top)
        work = top_path / "work"
        work.mkdir()
        trees = [("stock", stock_root(top_path / "stock", 0)),
                 (f"+{options.big:,} people", stock_root(top_path / "big", options.big))]
        print(f"{'tree':>16} | {'files: size':>12} {'read (apply)':>13} {'ratio':>6} {'read (dry run)':>15} {'ratio':>6}"
              f" | {'useradd: passwd opened by qmailsetup':>36} {'by its tools':>12}")
        for label, template in trees:
            size = sum((template / "etc" / name).stat().st_size for name in ACCOUNT_FILES)
            root = fresh(template, work)
            applied = bytes_read(traced(root, "files", options.src, work), root / "etc")
            root = fresh(template, work)
            dry = bytes_read(traced(root, "files", options.src, work, dry_run=True), root / "etc")
            root = fresh(template, work)
            mine, tools = opens_of(traced(root, "useradd", options.src, work), root / "etc" / "passwd")
            print(f"{label:>16} | {size:12,} {applied:13,} {applied / size:5.2f}x {dry:15,} {dry / size:5.2f}x"
                  f" | {mine:36} {tools:12}")


if __name__ == "__main__":
    main()
