#!/usr/bin/env python3
"""Benchmark (not a test): a run's peak memory when a file it only consults
is a sparse gigabyte.

    .venv/bin/python bench/sparse.py [--size-mib 1024] [--src DIR]

A sparse file costs no disk, so anyone who can write one of them under a
tree (an image, a container's root) can make it any size. Under a
temporary root with this machine's account files, each of login.defs,
os-release and resolv.conf in turn, and the spec, is made such a file,
and the run that reads it (a dry run; check for resolv.conf) is measured:
exit status, peak resident memory (GNU time's, of the whole process tree)
and wall time, beside the same run without it. --src runs the package in
DIR/src instead of this checkout's (an older checkout, to compare).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ACCOUNT_FILES = ("passwd", "group", "shadow", "gshadow")


def stock_root(dest: Path) -> Path:
    (dest / "etc").mkdir(parents=True)
    for name in ACCOUNT_FILES:
        if Path("/etc", name).exists():
            shutil.copy2(Path("/etc", name), dest / "etc" / name)
    return dest


def sparse(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        f.truncate(size)


def run(argv: list[str], env: dict, work: Path) -> tuple[int, str, int, float]:
    """ARGV's exit status, first line of stderr, peak KiB and seconds."""
    report = work / "time.out"
    start = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(report), *argv], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    first = (done.stderr.splitlines() or [""])[0]
    return done.returncode, first, int(report.read_text().split()[-1]), elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="size of the sparse file")
    parser.add_argument("--src", type=Path, default=REPO, help="the checkout whose src/ runs")
    options = parser.parse_args()
    size = options.size_mib << 20
    env = {**os.environ, "PYTHONPATH": str(options.src / "src")}
    qmailsetup = [sys.executable, "-m", "qmailsetup"]
    with tempfile.TemporaryDirectory(prefix="qmailsetup-sparse-") as top:
        top_path = Path(top)
        cases = [
            ("login.defs", "etc/login.defs", ["apply", "--dry-run", "--platform", "linux", "--backend", "files"]),
            ("os-release", "etc/os-release", ["apply", "--dry-run", "--backend", "files"]),
            ("resolv.conf", "etc/resolv.conf", ["check", "--platform", "linux"]),
            ("the spec", "spec.toml", ["apply", "--dry-run", "--platform", "linux", "--backend", "files",
                                       "--spec", "{root}/spec.toml"]),
        ]
        print(f"{'sparse file':<12} {'run':<8} {'exit':>4} {'peak RSS':>10} {'time':>8}  stderr")
        for label, relative, args in cases:
            for state in ("without", "sparse"):
                root = top_path / "root"
                if root.exists():
                    shutil.rmtree(root)
                stock_root(root)
                if relative == "spec.toml":
                    shutil.copy(REPO / "src/qmailsetup/default.toml", root / relative)
                if state == "sparse":
                    sparse(root / relative, size)
                argv = qmailsetup + [arg.format(root=root) for arg in args] + ["--root", str(root)]
                code, first, peak, elapsed = run(argv, env, top_path)
                print(f"{label:<12} {state:<8} {code:>4} {peak / 1024:>6.1f} MiB {elapsed:>6.2f} s  {first[:90]}")


if __name__ == "__main__":
    main()
