"""Platform profiles: detection from sample uname/os-release data, checked
loading (a broken profile is one clear line), and profiles found from an
installed wheel as well as from the checkout."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import cli
from qmailsetup import choices, platforms
from qmailsetup.errors import BadInput
from qmailsetup.platforms import (
    all_profiles,
    choose_profile,
    detect_profile,
    known_names,
    load_profile,
    parse_os_release,
    read_os_release,
)
from qmailsetup.userdb import lock
from qmailsetup.userdb.flavor import FLAVORS, LOCK_KIND_NAMES
from trees import debian_tree

CHECKOUT = Path(__file__).parent.parent
SHADOW_UTILS = {"useradd", "groupadd", "usermod"}

# (uname -s, /etc/os-release, tools on PATH) -> the profile chosen
SAMPLES = {
    "debian 12": ("Linux", 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n', SHADOW_UTILS, "linux"),
    "fedora": ("Linux", "NAME=\"Fedora Linux\"\nID=fedora\n", SHADOW_UTILS, "linux"),
    "ubuntu": ("Linux", "ID=ubuntu\nID_LIKE=debian\n", SHADOW_UTILS, "linux"),
    "alpine, busybox only": ("Linux", 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.20.0\n', {"adduser"}, "alpine"),
    "alpine with shadow": ("Linux", "ID=alpine\n", SHADOW_UTILS, "linux"),
    "postmarketos (ID_LIKE alpine)": ("Linux", "ID=postmarketos\nID_LIKE=alpine\n", set(), "alpine"),
    "linux without tools or os-release": ("Linux", "", set(), "generic"),
    "freebsd 14": ("FreeBSD", 'NAME=FreeBSD\nVERSION="14.1-RELEASE"\nID=freebsd\n', {"pw"}, "freebsd"),
    "freebsd 12 (no os-release)": ("FreeBSD", "", {"pw"}, "freebsd"),
    "openbsd": ("OpenBSD", "", {"useradd", "groupadd", "usermod"}, "openbsd"),
    "netbsd": ("NetBSD", "", {"useradd", "groupadd", "usermod"}, "netbsd"),
    "solaris": ("SunOS", "", {"useradd", "groupadd", "usermod"}, "generic"),
}


@pytest.mark.parametrize("sample", SAMPLES)
def test_detection_from_sample_host_data(sample):
    system, os_release, tools, expected = SAMPLES[sample]
    chosen = detect_profile(system, parse_os_release(os_release), has_tool=lambda tool: tool in tools)
    assert chosen.name == expected


def test_every_profile_is_detected_by_some_sample():
    assert {expected for *_, expected in SAMPLES.values()} == set(known_names())


def test_os_release_is_read_from_the_root(tmp_path):
    (tmp_path / "usr/lib").mkdir(parents=True)
    (tmp_path / "usr/lib/os-release").write_text("# comment\nID='alpine'\nID_LIKE=\"\"\n")
    assert read_os_release(tmp_path) == {"ID": "alpine", "ID_LIKE": ""}
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/os-release").write_text("ID=debian\n")
    assert read_os_release(tmp_path)["ID"] == "debian"


def test_auto_uses_uname_and_the_roots_os_release(tmp_path, monkeypatch):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/os-release").write_text("ID=alpine\n")
    monkeypatch.setattr(platforms, "find_tool", lambda tool: None)
    monkeypatch.setattr("os.uname", lambda: type("uname", (), {"sysname": "Linux"})())
    assert choose_profile("auto", tmp_path).name == "alpine"
    assert choose_profile("freebsd", tmp_path).name == "freebsd"


def test_profiles_agree_with_the_code():
    """Every backend and flavor a profile may name exists in the code, and
    every backend is some platform's."""
    for flavor in FLAVORS.values():
        assert flavor.users in flavor.required and "group" in flavor.required
        assert set(flavor.new_lines) <= set(flavor.files())
    profiles = {p.name: p for p in all_profiles()}
    assert {p.flavor for p in profiles.values()} == set(FLAVORS)
    assert {p.backend for p in profiles.values()} == set(choices.BACKENDS)
    assert {"linux", "alpine", "generic", "freebsd", "openbsd", "netbsd"} <= set(profiles)
    assert profiles["freebsd"].post_edit.parts == (("pwd_mkdb", "-N", "-p", "-d", "{etcdir}", "{etcdir}/master.passwd"),)
    assert set(LOCK_KIND_NAMES) == set(lock.LOCK_KINDS)
    for profile in profiles.values():
        ids = profile.system_ids
        assert 0 < ids.uid_min <= ids.uid_max < 1000, profile.name  # below every people range


VALID = (CHECKOUT / "platforms/openbsd.toml").read_text()
# a line of [accounts] the cases below add after
ANCHOR = "system_ids = { uid_min = 300, uid_max = 499, gid_min = 300, gid_max = 499 }"
BROKEN = {
    "invalid TOML": ("description = \n", "invalid TOML: Invalid value (at line 1, column 15)"),
    "unknown backend": (VALID.replace('backend = "useradd"', 'backend = "adduser"'),
                        "accounts: backend 'adduser' is not one of useradd, pw, files"),
    "unknown flavor": (VALID.replace('flavor = "bsd"', 'flavor = "aix"'),
                       "accounts: flavor 'aix' is not one of shadow, bsd, plain"),
    "missing key": (VALID.replace('flavor = "bsd"\n', ""), "accounts.flavor: Field required"),
    "unknown key (a typo)": (VALID.replace("[detect]", "[detect]\nsytem = 'x'"), "detect.sytem: unknown key"),
    "wrong type": (VALID.replace("priority = 10", 'priority = "high"'), "detect.priority: Input should be a valid integer"),
    "range upside down": (VALID.replace("uid_min = 300", "uid_min = 600"),
                          "accounts.system_ids: a minimum is above its maximum"),
    "relative nologin": (VALID.replace('nologin = ["/sbin/nologin"]', 'nologin = ["nologin"]'),
                         "accounts: nologin shell 'nologin' is not an absolute path"),
    "placeholder typo": (VALID.replace('["-u", "{uid}"]', '["-u", "{uidd}"]'),
                         "commands.useradd: unknown placeholder {uidd} (known: class, comment, gid, group, groups, home, "
                         "name, root, shell, uid)"),
    "unknown allocation": (VALID.replace(ANCHOR, ANCHOR + '\nid_allocation = "random"'),
                           "accounts: id_allocation 'random' is not one of down, up"),
    "new line for an unknown file": (VALID.replace(ANCHOR, ANCHOR + '\nnew_lines = { shadows = "x" }'),
                                     "accounts: new_lines.shadows: unknown file (known: group, gshadow, master.passwd, passwd, shadow)"),
    "new line placeholder typo": (VALID.replace(ANCHOR, ANCHOR + '\nnew_lines = { shadow = "{nam}:!:::" }'),
                                  "accounts: new_lines.shadow: unknown placeholder {nam} (known: class, comment, gid, hidden, home, lastchg, name, shell, uid)"),
    "post_edit placeholder typo": (VALID.replace('"{etcdir}/master.passwd"', '"{etc}/master.passwd"'),
                                   "accounts: post_edit: unknown placeholder {etc} (known: etcdir, root)"),
    "a brace outside a placeholder": (VALID.replace('["{name}"],\n]', '["{name"],\n]', 1),
                                      "commands.useradd: '{name' has a brace that is not part of a {field}"),
    "useradd_also placeholder typo": (VALID.replace(ANCHOR, ANCHOR + '\nuseradd_also = "mail for {users}"'),
                                      "accounts: useradd_also: unknown placeholder {users} (known: names)"),
    "unknown kind of lock": (VALID.replace(ANCHOR, ANCHOR + '\nalso_locks = { lockf = ["passwd"] }'),
                             "accounts: also_locks.lockf: unknown kind of lock (known: fcntl, pidfile, flock, exclusive, busybox)"),
    "a lock that is no file name": (VALID.replace(ANCHOR, ANCHOR + '\nalso_locks = { busybox = ["../passwd"] }'),
                                    "accounts: also_locks.busybox: '../passwd' is not a file name in etc"),
    "a command missing": (VALID[: VALID.index("usermod = [")], "backend useradd needs commands.usermod"),
    "a field that could not be set": (VALID.replace('["-L", "{class}"], ["-G", "{groups}"], ["-p", "*"]', '["-G", "{groups}"], ["-p", "*"]', 1),
                                      "commands.useradd: no {class}; that field could not be set"),
}


@pytest.mark.parametrize("case", BROKEN)
def test_a_broken_profile_is_one_clear_line(tmp_path, monkeypatch, case):
    text, reason = BROKEN[case]
    (tmp_path / "broken.toml").write_text(text)
    monkeypatch.setattr(platforms, "profiles_dir", lambda: tmp_path)
    with pytest.raises(BadInput) as error:
        load_profile("broken")
    assert str(error.value) == f"{tmp_path / 'broken.toml'}: broken platform profile: {reason}"


def test_cli_names_the_broken_profile_and_exits_2(tmp_path, monkeypatch):
    profiles = tmp_path / "platforms"
    profiles.mkdir()
    (profiles / "broken.toml").write_text(VALID.replace("priority = 10", 'priority = "high"'))
    monkeypatch.setattr(platforms, "profiles_dir", lambda: profiles)
    root = debian_tree(tmp_path / "root")
    result = cli("apply", "--dry-run", "--root", root, "--platform", "broken")
    assert result.code == 2
    assert result.err.count("\n") == 1 and "Traceback" not in result.err
    assert result.err.startswith(f"qmailsetup: {profiles / 'broken.toml'}: broken platform profile: detect.priority")


@pytest.mark.parametrize("name", ["solaris", "../platforms/linux", "Linux"])
def test_an_unknown_platform_lists_the_known_ones(tmp_path, name):
    result = cli("apply", "--dry-run", "--root", debian_tree(tmp_path), "--platform", name)
    assert result.code == 2
    assert result.err == (
        f"qmailsetup: --platform {name}: no such platform (known: alpine, freebsd, generic, linux, netbsd, openbsd)\n"
    )


@pytest.mark.slow
def test_the_wheel_ships_the_profiles_and_finds_them_installed(tmp_path):
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp_path / "dist", CHECKOUT],
        capture_output=True, text=True,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = (tmp_path / "dist").glob("qmailsetup-*.whl")
    shipped = sorted(n for n in zipfile.ZipFile(wheel).namelist() if n.startswith("qmailsetup/platforms/"))
    assert shipped == [f"qmailsetup/platforms/{p.name}" for p in sorted((CHECKOUT / "platforms").glob("*.toml"))]
    tables = sorted(n for n in zipfile.ZipFile(wheel).namelist() if n.startswith("qmailsetup/installations/"))
    assert tables == [f"qmailsetup/installations/{p.name}" for p in sorted((CHECKOUT / "installations").glob("*.toml"))]

    # installed: unpacked into site-packages fashion, away from the checkout
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = (
        "import qmailsetup, qmailsetup.platforms as p; "
        "print(qmailsetup.__file__); print(p.profiles_dir()); print(' '.join(x.name for x in p.all_profiles())); "
        "import qmailsetup.installation as i; print(i.installations_dir()); print(i.load_installation('netqmail').description)"
    )
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env={"PYTHONPATH": str(site)}, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    module, directory, names, installations, netqmail = run.stdout.splitlines()
    assert module.startswith(str(site)) and directory == str(site / "qmailsetup/platforms")
    assert names.split() == known_names()
    assert (installations, netqmail) == (str(site / "qmailsetup/installations"), "qmail 1.03 and netqmail 1.06")


def test_the_checkout_finds_its_top_level_platforms():
    """In an editable install the package has no platforms/ of its own."""
    assert platforms.profiles_dir().resolve() == (CHECKOUT / "platforms").resolve()


def test_netbsd_speaks_the_openbsd_dialect():
    """Both ship Alistair Crooks' user(8): the same templates, other data."""
    netbsd, openbsd = load_profile("netbsd"), load_profile("openbsd")
    # but for the locked password each passes (user.c: NetBSD's is 13 '*')
    parts = {name: template.parts for name, template in netbsd.commands.items()}
    parts["useradd"] = tuple(("-p", "*") if part == ("-p", "*************") else part for part in parts["useradd"])
    assert parts == {name: template.parts for name, template in openbsd.commands.items()}
    assert ("-p", "*************") in netbsd.commands["useradd"].parts and ("-p", "*") in openbsd.commands["useradd"].parts
    assert (netbsd.backend, netbsd.flavor, netbsd.nologin) == ("useradd", "bsd", ("/sbin/nologin",))
