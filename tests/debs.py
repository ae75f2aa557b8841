"""Debian packages unpacked for tests, to run the real program where the
machine has none installed: `apt-get download NAME` into tests/.debs/
(gitignored; a package downloaded once is kept, so later runs need no
network), then `dpkg -x` beside it. Nothing is installed. A package that
cannot be had is a skip with the reason, a failure in CI
(conftest.skip_or_fail)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from conftest import skip_or_fail

CACHE = Path(__file__).parent / ".debs"
DONE = ".unpacked"  # written last: a tree without it is a half-made one


def apt_get(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(["apt-get", *arguments], cwd=CACHE, capture_output=True, text=True, timeout=300)


def downloaded(package: str) -> Path:
    """The package's .deb in the cache, downloaded now if it is not there
    (after an apt-get update, where the package lists do not know it)."""
    found = sorted(CACHE.glob(f"{package}_*.deb"))
    if not found:
        if shutil.which("apt-get") is None:
            skip_or_fail(f"needs {package}: no apt-get to download it")
        done = apt_get("download", package)
        if done.returncode != 0:
            apt_get("update")
            done = apt_get("download", package)
        found = sorted(CACHE.glob(f"{package}_*.deb"))
        if done.returncode != 0 or not found:
            last = (done.stderr.strip().splitlines() or ["no .deb"])[-1]
            skip_or_fail(f"needs {package}: apt-get download {package} failed: {last}")
    return found[-1]


def unpacked(package: str) -> Path:
    """The root of PACKAGE's files, unpacked (dpkg -x) under tests/.debs/."""
    CACHE.mkdir(exist_ok=True)
    tree = CACHE / package
    if (tree / DONE).exists():
        return tree
    if shutil.which("dpkg") is None:
        skip_or_fail(f"needs {package}: no dpkg to unpack it")
    deb = downloaded(package)
    shutil.rmtree(tree, ignore_errors=True)
    building = Path(tempfile.mkdtemp(dir=CACHE, prefix=f"{package}."))
    subprocess.run(["dpkg", "-x", str(deb), str(building)], check=True, timeout=120)
    (building / DONE).write_text(f"{deb.name}\n")
    building.rename(tree)
    return tree
