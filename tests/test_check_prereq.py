"""Prerequisites found through a fake PATH of stub executables. Under
--root the PATH directories, /command and /usr/local/bin are those of the
tree; on / they are the host's."""

from __future__ import annotations

from pathlib import Path

from qmailsetup.check.prereq import prereq_findings


def stubs(directory: Path, *names: str, executable: bool = True) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        stub = directory / name
        stub.write_text("#!/bin/sh\nexit 0\n")
        stub.chmod(0o755 if executable else 0o644)
    return directory


def by_id(root: Path, path_variable: str) -> dict:
    return {f.id: f for f in prereq_findings(root, path_variable)}


def test_nothing_installed_gives_warnings_naming_what_is_missing(tmp_path):
    root = tmp_path / "root"
    stubs(root / "usr/bin")
    found = by_id(root, "/usr/bin:/bin")
    assert found["prereq.daemontools"].severity == "warning"
    assert "svscan, supervise, multilog not found" in found["prereq.daemontools"].message
    assert "daemontools" in found["prereq.daemontools"].remedy
    assert found["prereq.ucspi-tcp"].severity == "warning"
    assert "tcpserver, tcprules" in found["prereq.ucspi-tcp"].message
    assert found["prereq.dns-resolver"].severity == "warning"
    assert "dnscache" in found["prereq.dns-resolver"].remedy


def test_everything_on_the_live_path(tmp_path):
    bin_dir = stubs(tmp_path / "bin", "svscan", "supervise", "multilog", "tcpserver", "tcprules", "dnscache")
    found = by_id(Path("/"), f"/nonexistent:{bin_dir}")
    assert {f.severity for f in found.values()} == {"ok"}
    assert found["prereq.daemontools"].path == str(bin_dir)
    assert found["prereq.dns-resolver"].path == str(bin_dir / "dnscache")


def test_a_missing_program_and_a_file_that_is_not_executable(tmp_path):
    root = tmp_path / "root"
    bin_dir = stubs(root / "opt/djb/bin", "svscan", "multilog", "tcpserver")
    stubs(bin_dir, "supervise", "tcprules", executable=False)
    found = by_id(root, "/opt/djb/bin:relative/bin")
    assert found["prereq.daemontools"].severity == "warning"
    assert found["prereq.daemontools"].message.startswith("daemontools: supervise not found")
    assert found["prereq.ucspi-tcp"].message.startswith("ucspi-tcp: tcprules not found")
    stubs(bin_dir, "supervise", "tcprules")
    found = by_id(root, "/opt/djb/bin")
    assert found["prereq.daemontools"].severity == found["prereq.ucspi-tcp"].severity == "ok"
    assert found["prereq.ucspi-tcp"].path == str(bin_dir)


def test_slashpackage_command_and_usr_local_bin_under_the_root(tmp_path):
    root = tmp_path / "root"
    stubs(root / "command", "svscan", "supervise", "multilog")
    stubs(root / "usr/local/bin", "tcpserver", "tcprules")
    found = by_id(root, str(tmp_path / "empty"))
    assert found["prereq.daemontools"].severity == "ok"
    assert found["prereq.daemontools"].path == str(root / "command")
    assert found["prereq.ucspi-tcp"].path == str(root / "usr/local/bin")


def test_resolver_named_in_resolv_conf(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/resolv.conf").write_text("# by hand\nsearch example.org\nnameserver 127.0.0.1\nnameserver ::1\n")
    found = by_id(root, str(tmp_path / "empty"))["prereq.dns-resolver"]
    assert found.severity == "ok"
    assert "names 127.0.0.1, ::1" in found.message and "no local dnscache" in found.message


def test_resolv_conf_without_nameserver_and_no_dnscache(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/resolv.conf").write_text("search example.org\n")
    found = by_id(root, str(tmp_path / "empty"))["prereq.dns-resolver"]
    assert found.severity == "warning" and "names no nameserver" in found.message
