"""A run's memory is bounded whatever the host holds: a file the tool only
consults (login.defs, os-release, shells, resolv.conf, a platform profile,
the spec) larger than hostio.CONSULTED_LIMIT is one line, exit 2, refused
before it is read (a sparse file of a gigabyte costs no disk); check reads
at most compiled.OUTPUT_LIMIT of qmail-showctl's output, then kills it.

Each run is a process of its own, its peak resident memory taken from
wait4: a bound, not a timing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from process import env
from qmailsetup.check.compiled import OUTPUT_LIMIT
from qmailsetup.hostio import CONSULTED_LIMIT, TooLarge, read_consulted, read_optional
from test_bsd_shells import netbsd_tree
from test_check_compiled import SHOWCTL, host_and_spec, stand_in, world_dir  # noqa: F401 (a fixture)
from trees import debian_tree

GIB = 1 << 30
# a run of qmailsetup needs some 40 MB; reading a sparse gigabyte took 2 GB
PEAK_BOUND_KB = 200 * 1024


def sparse(path: Path, size: int = GIB) -> Path:
    """PATH, SIZE bytes of zeros that take no disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.truncate(size)
    return path


def measured(args: list[str], hook: str = "") -> tuple[int, str, str, int]:
    """qmailsetup ARGS in a process of its own (HOOK: Python run first):
    its exit code, stdout, stderr and peak resident memory in KiB."""
    start = ["-c", f"{hook}\nfrom qmailsetup.cli import main\nmain()"] if hook else ["-m", "qmailsetup"]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        child = subprocess.Popen([sys.executable, *start, *map(str, args)], stdout=out, stderr=err, env=env())
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return child.returncode, out.read().decode(), err.read().decode(), usage.ru_maxrss


def refused_in_one_line(args: list[str], what: str, hook: str = "") -> None:
    """qmailsetup ARGS stops at once: exit 2, one line naming WHAT (the
    file, and how the message calls it), its size and the limit."""
    code, out, err, peak = measured(args, hook)
    assert code == 2, (out, err)
    assert err == (f"qmailsetup: {what}: {GIB} bytes, larger than the {CONSULTED_LIMIT} bytes "
                   "qmailsetup reads of a file it only consults\n")
    assert peak < PEAK_BOUND_KB, f"peak {peak} KiB"


def dry_run(root: Path, *more: str) -> list[str]:
    return ["apply", "--dry-run", "--root", root, *more]


def test_a_sparse_login_defs(tmp_path):
    root = debian_tree(tmp_path / "root")
    path = sparse(root / "etc/login.defs")
    refused_in_one_line(dry_run(root, "--platform", "linux", "--backend", "files"), path)


def test_a_sparse_os_release(tmp_path):
    root = debian_tree(tmp_path / "root")
    path = sparse(root / "etc/os-release")
    refused_in_one_line(dry_run(root), path)


def test_a_sparse_shells(tmp_path):
    root = netbsd_tree(tmp_path / "root")
    path = sparse(root / "etc/shells")
    refused_in_one_line(dry_run(root, "--platform", "netbsd", "--backend", "files"), f"{path}: cannot read")


def test_a_sparse_resolv_conf(tmp_path):
    root = debian_tree(tmp_path / "root")
    path = sparse(root / "etc/resolv.conf")
    refused_in_one_line(["check", "--root", root, "--platform", "linux"], path)


def test_a_sparse_spec(tmp_path):
    root = debian_tree(tmp_path / "root")
    path = sparse(tmp_path / "spec.toml")
    refused_in_one_line(dry_run(root, "--platform", "linux", "--spec", path), f"{path}: cannot read spec")


def test_a_sparse_platform_profile(tmp_path):
    root = debian_tree(tmp_path / "root")
    profiles = tmp_path / "platforms"
    path = sparse(profiles / "linux.toml")
    hook = f"import qmailsetup.platforms as p, pathlib\np.profiles_dir = lambda: pathlib.Path({str(profiles)!r})"
    refused_in_one_line(dry_run(root, "--platform", "linux"), f"{path}: cannot read platform profile", hook)


def test_an_account_file_is_read_as_it_is_and_held_once(tmp_path):
    """No limit on an account file: it is what the host has. But it is in
    memory once, not also as the pieces it was read in (twice its size)."""
    root = debian_tree(tmp_path / "root")
    size = 256 << 20
    with open(root / "etc/passwd", "ab") as f:
        f.truncate(size)
    code, _, err, peak = measured(dry_run(root, "--platform", "linux", "--backend", "files"))
    assert (code, err) == (2, f"qmailsetup: {root}/etc/passwd:19: contains a NUL byte\n")
    assert peak < (size + size // 4 + (64 << 20)) >> 10, f"peak {peak} KiB"


def test_the_limit_is_a_size_not_a_read(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x" * CONSULTED_LIMIT)
    assert read_consulted(path) == b"x" * CONSULTED_LIMIT
    assert read_optional(tmp_path / "absent") is None
    path.write_bytes(b"x" * (CONSULTED_LIMIT + 1))
    with pytest.raises(TooLarge) as error:
        read_optional(path)
    assert error.value.strerror.startswith(f"{CONSULTED_LIMIT + 1} bytes, larger than")


def test_a_file_whose_size_says_nothing_is_cut_by_what_it_holds():
    # /proc's files say 0 bytes; this one holds more than 100
    with pytest.raises(TooLarge) as error:
        read_consulted("/proc/self/maps", limit=100)
    assert error.value.strerror.startswith("more than 100 bytes, larger than the 100 bytes")


FLOOD_RUN = """
import json, os, sys
sys.path.insert(0, {tests!r})
from pathlib import Path
from qmailsetup.check import compiled
from test_check_compiled import host_and_spec, stand_in

compiled.TIMEOUT = 5  # the old code read the flood until then
stand_in(Path({home!r}), "", extra={extra!r})
spec, host = host_and_spec(Path({tmp!r}), Path({home!r}))
[finding] = compiled.compiled_findings(spec, Path("/"), host)
try:
    os.waitpid(-1, os.WNOHANG)
    children = "a child left"
except ChildProcessError:
    children = "none"
print(json.dumps([finding.severity, finding.message, children]))
"""


def live_in_group(pgid: int) -> list[str]:
    """The processes of the process group PGID that are not zombies."""
    live = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            live.append(stat.parent.name)
    return live


@pytest.mark.root("runs qmail-showctl as nobody")
@pytest.mark.parametrize("flood", [
    "exec yes",  # lines
    "exec cat /dev/zero",  # no line ends at all
    "yes qmail | cat",  # by a program it started: the whole group is killed
    "exec yes >&2",  # stderr
])
def test_a_qmail_showctl_that_floods_is_cut_at_the_limit_and_reaped(tmp_path, world_dir, flood):  # noqa: F811 (the fixture imported)
    pgid = world_dir / "pgid"  # the stand-in, as nobody, says its process group
    pgid.touch()
    pgid.chmod(0o666)
    extra = f'echo $$ > "{pgid}"\n{flood}'
    script = FLOOD_RUN.format(tests=str(Path(__file__).parent), home=str(world_dir), tmp=str(tmp_path), extra=extra)
    with tempfile.TemporaryFile() as out:
        child = subprocess.Popen([sys.executable, "-c", script], stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
        out.seek(0)
        printed = out.read().decode()
    assert os.waitstatus_to_exitcode(status) == 0, printed
    severity, message, children = json.loads(printed.splitlines()[-1])
    assert severity == "warning"
    assert f"(was stopped after {OUTPUT_LIMIT} bytes of output) printed no 'user ids:'" in message
    assert children == "none"
    assert usage.ru_maxrss < PEAK_BOUND_KB, f"peak {usage.ru_maxrss} KiB"
    assert live_in_group(int(pgid.read_text())) == []


@pytest.mark.root("runs qmail-showctl as nobody")
def test_the_id_lines_before_a_flood_are_read(tmp_path, world_dir):  # noqa: F811 (the fixture imported)
    """qmail-showctl prints the IDs first, then every control file: a host
    whose control files print more than the limit is still compared."""
    from qmailsetup.check.compiled import compiled_findings

    ids = (SHOWCTL / "netqmail-1.06.out").read_text()
    stand_in(world_dir, ids, extra=f"cat <<'OUTPUT'\n{ids}OUTPUT\nexec yes 'rcpthosts: example.org'")
    spec, host = host_and_spec(tmp_path, world_dir)
    [finding] = compiled_findings(spec, Path("/"), host)
    assert (finding.severity, finding.message) == ("ok", "qmail was built with the IDs the accounts have")
