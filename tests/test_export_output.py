"""`export --output DIR` writes as the account files are written: a link
planted in DIR, at the final name or at any temporary name, is replaced or
refused, never written through; the file ends up regular, with its mode."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from conftest import cli

# the name write_outputs wrote through before, fixed and so plantable
OLD_TEMP = ".{name}.qmailsetup-tmp"
VICTIM_TEXT = b"root:x:0:0:root:/root:/bin/bash\n"


def victim_file(tmp_path: Path) -> Path:
    victim = tmp_path / "victim"
    victim.write_bytes(VICTIM_TEXT)
    victim.chmod(0o600)
    return victim


def state(path: Path) -> tuple:
    info = path.lstat()
    return info.st_mode, info.st_uid, info.st_gid, info.st_nlink, path.read_bytes()


@pytest.mark.parametrize("planted_at", ["final", "old-temp", "both"])
@pytest.mark.parametrize(("fmt", "name", "mode"), [("sh", "qmail-accounts.sh", 0o755), ("sysusers", "qmail.conf", 0o644)])
def test_a_link_planted_in_the_output_directory_is_never_written_through(tmp_path, planted_at, fmt, name, mode):
    out = tmp_path / "out"
    out.mkdir()
    victim = victim_file(tmp_path)
    before = state(victim)
    if planted_at in ("final", "both"):
        (out / name).symlink_to(victim)
    if planted_at in ("old-temp", "both"):
        (out / OLD_TEMP.format(name=name)).symlink_to(victim)
    result = cli("export", "--format", fmt, "--platform", "linux", "--output", out)
    assert result.code == 0, result.err
    assert result.out == f"wrote {out}/{name}\n"
    assert state(victim) == before, "the file the link points at changed"
    info = (out / name).lstat()
    assert stat.S_ISREG(info.st_mode)
    assert stat.S_IMODE(info.st_mode) == mode
    assert (out / name).read_text() == cli("export", "--format", fmt, "--platform", "linux").out
    # no temporary file left behind; a planted one is left alone
    leftovers = sorted(p.name for p in out.iterdir())
    assert leftovers == sorted([name] + ([OLD_TEMP.format(name=name)] if planted_at != "final" else []))


def test_an_existing_file_is_replaced_whole_with_the_mode_of_the_format(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "qmail-accounts.sh").write_text("old\n")
    os.chmod(out / "qmail-accounts.sh", 0o600)
    inode = (out / "qmail-accounts.sh").stat().st_ino
    assert cli("export", "--format", "sh", "--platform", "linux", "--output", out).code == 0
    info = (out / "qmail-accounts.sh").stat()
    assert info.st_ino != inode, "a new file renamed over the old one"
    assert stat.S_IMODE(info.st_mode) == 0o755


def test_umask_does_not_change_the_mode(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    old = os.umask(0o077)
    try:
        assert cli("export", "--format", "sysusers", "--platform", "linux", "--output", out).code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((out / "qmail.conf").stat().st_mode) == 0o644


def test_an_output_directory_named_through_a_link_is_followed_once(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    result = cli("export", "--format", "sysusers", "--platform", "linux", "--output", tmp_path / "link")
    assert result.code == 0, result.err
    assert stat.S_ISREG((real / "qmail.conf").lstat().st_mode)


def test_a_write_that_fails_is_one_line_exit_1_and_leaves_no_temporary_file(tmp_path):
    out = tmp_path / "out"
    (out / "conf-groups" / "x").mkdir(parents=True)  # a non-empty directory where the second file goes
    spec = Path(__file__).parent.parent / "src/qmailsetup/specs/freebsd-ports.toml"
    result = cli("export", "--format", "qmail-conf", "--spec", spec, "--output", out)
    assert result.code == 1
    assert result.err.startswith(f"qmailsetup: --output {out}: renaming conf-groups.qmailsetup-")
    assert result.err.endswith(" to conf-groups: Is a directory (written before: conf-users)\n")
    assert result.err.count("\n") == 1
    assert sorted(p.name for p in out.iterdir()) == ["conf-groups", "conf-users"]
