"""The host's account format, whatever PATH says.

Run from cron (PATH=/usr/bin:/bin) or `env -i`, useradd in /usr/sbin must
still be found, so that a Debian host gets its shadow entries and never
INSTALL.ids' '*' lines in passwd and group. The tools are looked for in the
system directories too and run by their absolute path; --platform auto
picks a profile that writes the format of the account files under the
root; and a run that would write another format is refused, exit 3."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import cli, require_tools, skip_or_fail
from namespace import copy_etc, run_in_namespace
from process import EPOCH
from qmail_layout import QMAIL_USERS
from qmailsetup import platforms
from qmailsetup.errors import EXIT_REFUSED
from qmailsetup.platforms import account_format, find_tool
from snapshot import snapshot
from trees import bsd_tree, debian_tree, write

CRON_PATH = "/usr/bin:/bin"
DAY = "19675"  # EPOCH's
KINDS = ("passwd", "shadow", "group", "gshadow")


def read(root: Path) -> dict[str, str]:
    return {kind: (root / "etc" / kind).read_text() for kind in KINDS}


def added(before: dict[str, str], after: dict[str, str]) -> dict[str, list[str]]:
    """The lines each file gained; fails when any other line changed."""
    for kind in KINDS:
        assert after[kind].startswith(before[kind]), f"{kind}: a line was changed or removed"
    return {kind: after[kind][len(before[kind]):].splitlines() for kind in KINDS}


def assert_useradd_lines(new: dict[str, list[str]], nologin: str) -> None:
    """Byte for byte what groupadd -r and useradd -r -M write on a host
    with shadow and gshadow, each ID as its own line says."""
    gids = {}
    for line in new["group"]:
        name, gid = re.fullmatch(r"([a-z]+):x:(\d+):", line).groups()
        gids[name] = gid
    assert list(gids) == ["qmail", "nofiles"]
    assert new["gshadow"] == [f"{name}:!::" for name in gids]
    uids = [line.split(":")[2] for line in new["passwd"]]
    assert new["passwd"] == [
        f"{name}:x:{uid}:{gids[group]}::{home}:{nologin}" for uid, (name, (group, home)) in zip(uids, QMAIL_USERS.items(), strict=True)
    ]
    assert all(uid.isdigit() for uid in uids)
    assert new["shadow"] == [f"{name}:!:{DAY}::::::" for name in QMAIL_USERS]


def cron_run(*args) -> subprocess.CompletedProcess:
    """qmailsetup as cron would run it: `env -i`, PATH=/usr/bin:/bin."""
    return subprocess.run(
        ["env", "-i", f"PATH={CRON_PATH}", f"SOURCE_DATE_EPOCH={EPOCH}", sys.executable, "-m", "qmailsetup", *map(str, args)],
        capture_output=True, text=True, timeout=120,
    )


@pytest.fixture
def real_tools():
    require_tools("useradd", "groupadd", "usermod")


# -- finding the tools -------------------------------------------------------


def test_tools_are_found_outside_path(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", CRON_PATH)
    sbin = next((d for d in ("/usr/sbin", "/sbin") if Path(d, "useradd").exists()), None)
    if sbin is None:
        skip_or_fail("needs useradd in /usr/sbin or /sbin")
    assert find_tool("useradd") == f"{sbin}/useradd"
    monkeypatch.delenv("PATH")
    assert find_tool("useradd") == f"{sbin}/useradd"


def test_path_comes_first_and_relative_entries_are_ignored(monkeypatch, tmp_path):
    mine = tmp_path / "bin"
    mine.mkdir()
    write(mine / "useradd", "#!/bin/sh\n")
    (mine / "useradd").chmod(0o755)
    monkeypatch.setenv("PATH", f"{mine}:{CRON_PATH}")
    assert find_tool("useradd") == f"{mine}/useradd"
    monkeypatch.chdir(mine)
    monkeypatch.setenv("PATH", f".::{CRON_PATH}")
    assert find_tool("useradd") != "./useradd" and find_tool("no-such-tool-here") is None


# -- the format the files say -------------------------------------------------


def test_the_account_files_say_the_format(tmp_path):
    assert account_format(debian_tree(tmp_path / "debian")) == ("shadow", ["shadow", "gshadow"])
    alpine = debian_tree(tmp_path / "alpine")
    (alpine / "etc/gshadow").unlink()
    assert account_format(alpine) == ("shadow", ["shadow"])
    plain = debian_tree(tmp_path / "plain")
    (plain / "etc/shadow").unlink()
    (plain / "etc/gshadow").unlink()
    assert account_format(plain) == ("plain", ["passwd"])
    assert account_format(bsd_tree(tmp_path / "bsd", "freebsd")) == ("bsd", ["master.passwd"])
    (tmp_path / "empty/etc").mkdir(parents=True)
    assert account_format(tmp_path / "empty") == (None, [])


def no_tools(monkeypatch) -> None:
    """A Linux host without shadow-utils anywhere, and no os-release."""
    monkeypatch.setattr(platforms, "find_tool", lambda tool: None)
    monkeypatch.setattr("os.uname", lambda: type("uname", (), {"sysname": "Linux"})())


def test_auto_picks_a_profile_that_writes_the_format_found(tmp_path, monkeypatch):
    no_tools(monkeypatch)
    plain = debian_tree(tmp_path / "plain")
    (plain / "etc/shadow").unlink()
    (plain / "etc/gshadow").unlink()
    assert platforms.choose_profile("auto", plain).name == "generic"
    write(plain / "etc/os-release", "ID=alpine\n")
    assert platforms.choose_profile("auto", plain).name == "alpine"


def test_auto_refuses_when_no_profile_of_this_host_writes_the_format(tmp_path, monkeypatch):
    """Only generic matches, and it would write '*' entries without shadow
    lines: refused, naming the files and the platforms that would fit."""
    no_tools(monkeypatch)
    root = debian_tree(tmp_path / "root")
    before = snapshot(root)
    result = cli("apply", "--root", root)
    assert (result.code, result.out, result.err) == (EXIT_REFUSED, "", (
        f"qmailsetup: {root}/etc/shadow, {root}/etc/gshadow: the shadow format, but platform generic writes "
        "the plain format; nothing written; choose a platform that fits: --platform alpine, linux\n"
    ))
    assert snapshot(root) == before


REFUSALS = {
    # the case: '*' in passwd and group on a host with shadow and gshadow
    "generic on shadow": (debian_tree, "generic", "{root}/etc/shadow, {root}/etc/gshadow: the shadow format, "
                          "but platform generic writes the plain format", "alpine, linux"),
    "linux on master.passwd": (lambda root: bsd_tree(root, "freebsd"), "linux", "{root}/etc/master.passwd: the bsd "
                               "format, but platform linux writes the shadow format", "freebsd, netbsd, openbsd"),
    "freebsd on shadow": (debian_tree, "freebsd", "{root}/etc/shadow, {root}/etc/gshadow: the shadow format, "
                          "but platform freebsd writes the bsd format", "alpine, linux"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
@pytest.mark.parametrize("dry_run", [True, False])
def test_a_platform_of_another_format_is_refused(tmp_path, case, dry_run):
    build, platform, why, fitting = REFUSALS[case]
    root = build(tmp_path / "root")
    before = snapshot(root)
    result = cli("apply", *(["--dry-run"] if dry_run else []), "--platform", platform, "--backend", "files", "--root", root)
    assert (result.code, result.out, result.err) == (EXIT_REFUSED, "", (
        f"qmailsetup: {why.format(root=root)}; nothing written; choose a platform that fits: --platform {fitting}\n"
    ))
    assert snapshot(root) == before


@pytest.mark.root("apply chowns /var/qmail and /var/qmail/alias")
def test_a_shadow_platform_on_plain_files_writes_them_plainly(tmp_path):
    """useradd writes the password into passwd where there is no shadow
    file: the linux profile fits a plain tree, and keeps it plain."""
    root = debian_tree(tmp_path / "root")
    (root / "etc/shadow").unlink()
    (root / "etc/gshadow").unlink()
    result = cli("apply", "--platform", "linux", "--backend", "files", "--root", root)
    assert result.code == 0, result.err
    assert not (root / "etc/shadow").exists() and not (root / "etc/gshadow").exists()
    assert "alias:!:999:998::/var/qmail/alias:/usr/sbin/nologin\n" in (root / "etc/passwd").read_text()


# -- cron's PATH, for real ------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["useradd", "files"])
@pytest.mark.root("useradd --prefix and chown")
def test_cron_path_on_a_debian_tree_writes_the_shadow_format(tmp_path, real_tools, backend):
    root = debian_tree(tmp_path / "root")
    before = read(root)
    result = cron_run("apply", "--root", root, "--backend", backend)
    assert result.returncode == 0, result.stderr
    shown = backend
    assert result.stdout.startswith(f"qmailsetup apply: {root} (platform linux, backend {shown})\n")
    assert_useradd_lines(added(before, read(root)), "/usr/sbin/nologin")
    assert "0 to create, 0 to modify" in cron_run("apply", "--root", root, "--backend", backend).stdout


@pytest.mark.slow
def test_cron_path_on_the_live_root_writes_the_shadow_format(tmp_path, privileged):
    """The live root in a mount namespace (a copy of /etc over /etc, a tmpfs
    over /var), with `env -i PATH=/usr/bin:/bin`: platform linux, the real
    useradd by its absolute path, shadow and gshadow entries."""
    etc = copy_etc(tmp_path)
    if {line.split(":")[0] for line in (etc / "passwd").read_text().splitlines()} & set(QMAIL_USERS):
        skip_or_fail("this machine already has qmail accounts")
    before = read(tmp_path)
    done = run_in_namespace(tmp_path, f"""
        env -i PATH={CRON_PATH} SOURCE_DATE_EPOCH={EPOCH} $QMAILSETUP apply
    """, etc)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("qmailsetup apply: / (platform linux, backend useradd)\n")
    nologin = next(shell for shell in ("/usr/sbin/nologin", "/sbin/nologin") if Path(shell).exists())
    assert_useradd_lines(added(before, read(tmp_path)), nologin)
