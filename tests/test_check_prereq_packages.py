"""daemontools and ucspi-tcp where Debian's packages put them (/usr/bin,
/etc/service), from the packages' real file lists
(tests/fixtures/debian-packages), from the real packages extracted with
dpkg -x (nothing installed on the machine), and a real svscan running."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import require_tools, skip_or_fail
from qmailsetup.check.prereq import prereq_findings, running_svscans
from trees import FIXTURES

LISTS = FIXTURES / "debian-packages"
DEBIAN = "a distribution's package, as Debian's daemontools and ucspi-tcp install them"


def lay_out(root: Path, *packages: str) -> Path:
    """The packages' files under ROOT: directories, and for each file an
    empty one with the package's permissions (x where it has x)."""
    for package in packages:
        for line in (LISTS / f"{package}.list").read_text().splitlines():
            permissions, path = line.split()
            target = root / path.lstrip("/")
            if permissions.startswith("d"):
                target.mkdir(parents=True, exist_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text("")
                target.chmod(0o755 if permissions[3] == "x" else 0o644)
    return root


def by_id(root: Path) -> dict:
    return {f.id: f for f in prereq_findings(root, "/nonexistent")}


def test_debians_packages_are_found_in_usr_bin_and_say_so(tmp_path):
    root = lay_out(tmp_path / "root", "daemontools", "ucspi-tcp", "daemontools-run")
    found = by_id(root)
    daemontools, ucspi = found["prereq.daemontools"], found["prereq.ucspi-tcp"]
    assert (daemontools.severity, daemontools.path) == ("ok", f"{root}/usr/bin")
    assert daemontools.message == (
        f"daemontools: svscan, supervise, multilog found in {root}/usr/bin ({DEBIAN}); "
        "running processes not looked at under --root; /etc/service exists"
    )
    assert ucspi.message == f"ucspi-tcp: tcpserver, tcprules found in {root}/usr/bin ({DEBIAN})"


def test_without_daemontools_run_there_is_no_service_directory(tmp_path):
    root = lay_out(tmp_path / "root", "daemontools")
    message = by_id(root)["prereq.daemontools"].message
    assert message.endswith("; no /service or /etc/service")
    assert by_id(root)["prereq.ucspi-tcp"].severity == "warning"
    assert "not found on PATH, /command, /usr/local/bin or /usr/bin" in by_id(root)["prereq.ucspi-tcp"].message


def test_slashpackage_and_both_service_directories(tmp_path):
    root = tmp_path / "root"
    for name in ("svscan", "supervise", "multilog"):
        program = root / "command" / name
        program.parent.mkdir(parents=True, exist_ok=True)
        program.write_text("")
        program.chmod(0o755)
    (root / "service").mkdir()
    (root / "etc/service").mkdir(parents=True)
    message = by_id(root)["prereq.daemontools"].message
    assert f"found in {root}/command (slashpackage: /package, linked into /command)" in message
    assert message.endswith("; /service and /etc/service exist")


def test_svscans_read_from_proc(tmp_path):
    proc = tmp_path / "proc"
    for pid, argv in ((12, b"/usr/bin/svscan\0/etc/service/\0"), (7, b"svscan\0"), (30, b"sshd\0-D\0"), (31, b"")):
        (proc / str(pid)).mkdir(parents=True)
        (proc / str(pid) / "cmdline").write_bytes(argv)
    (proc / "7" / "cwd").symlink_to("/service")
    (proc / "self").mkdir()
    assert running_svscans(proc) == ["/service (pid 7)", "/etc/service/ (pid 12)"]


@pytest.mark.root("runs svscan as nobody")
def test_the_real_packages_extracted_and_a_real_svscan_running(tmp_path):
    """apt-get download + dpkg -x into a temporary root; the package's own
    svscan then runs (as nobody, on an empty directory) and is named."""
    require_tools("apt-get", "dpkg")
    debs = tmp_path / "debs"
    debs.mkdir()
    download = subprocess.run(["apt-get", "download", "daemontools", "ucspi-tcp", "daemontools-run"],
                              cwd=debs, capture_output=True, text=True, timeout=120)
    if download.returncode != 0:
        skip_or_fail(f"apt-get download failed: {download.stderr.strip()[-200:]}")
    root = tmp_path / "root"
    for deb in sorted(debs.glob("*.deb")):
        subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True)
    recorded = {line.split()[1].rstrip("/") for name in ("daemontools", "ucspi-tcp") for line in
                (LISTS / f"{name}.list").read_text().splitlines() if line.startswith("-")}
    extracted = {f"/{p.relative_to(root)}" for p in root.rglob("*") if p.is_file()}
    assert recorded and recorded <= extracted
    assert by_id(root)["prereq.daemontools"].message.endswith("running processes not looked at under --root; /etc/service exists")

    world = Path(tempfile.mkdtemp(prefix="qmailsetup-svscan-"))  # nobody cannot reach pytest's 0700 tmp_path
    world.chmod(0o755)
    services = world / "service"
    services.mkdir()
    program = shutil.copy2(root / "usr/bin/svscan", world / "svscan")
    svscan = subprocess.Popen([str(program), str(services)], user=65534, group=65534,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while f"{services} (pid {svscan.pid})" not in running_svscans(Path("/proc")) and time.monotonic() < deadline:
            time.sleep(0.05)
        found = {f.id: f for f in prereq_findings(Path("/"), str(root / "usr/bin"))}["prereq.daemontools"]
        assert "svscan is running on " in found.message and f"{services} (pid {svscan.pid})" in found.message
    finally:
        svscan.kill()
        svscan.wait()
        shutil.rmtree(world)


@pytest.mark.parametrize("package", ["daemontools", "ucspi-tcp", "daemontools-run"])
def test_recorded_lists_are_dpkg_c_output(package):
    lines = (LISTS / f"{package}.list").read_text().splitlines()
    assert lines[0] == "drwxr-xr-x /"
    assert all(line.split()[0][0] in "d-" and line.split()[1].startswith("/") for line in lines)
