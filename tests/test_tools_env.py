"""`qmailsetup env`: sh assignments with the numbers in the root's own files."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import cli
from qmail_layout import QMAIL_USERS
from scenarios import INSTALL_IDS_SPEC, build
from trees import append, debian_tree, write

QMAILSETUP = [sys.executable, "-m", "qmailsetup"]


pytestmark = pytest.mark.root("the scenarios chown directories")


def file_ids(root, name: str) -> dict[str, int]:
    """NAME -> the number in field 3 of DIR/etc/NAME, read plainly."""
    ids = {}
    for line in (root / "etc" / name).read_text().splitlines():
        fields = line.split(":")
        if len(fields) > 2 and fields[2].isdigit():
            ids[fields[0]] = int(fields[2])
    return ids


def eval_in_sh(root, *extra) -> dict[str, str]:
    """What sh holds after eval "$(qmailsetup env --root ROOT ...)"."""
    script = 'set -a; eval "$("$@")" && env'
    command = [*QMAILSETUP, "env", "--platform", "linux", "--root", root, *extra]
    result = subprocess.run(["sh", "-c", script, "sh", *map(str, command)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    pairs = (line.partition("=") for line in result.stdout.splitlines())
    return {key: value for key, _, value in pairs if key.startswith("QMAIL_")}


def test_eval_gives_the_numbers_in_the_root_files(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    build("provisioned", root)
    values = eval_in_sh(root)
    uids, gids = file_ids(root, "passwd"), file_ids(root, "group")
    expected = {f"QMAIL_UID_{name.upper()}": str(uids[name]) for name in QMAIL_USERS}
    expected |= {"QMAIL_GID_QMAIL": str(gids["qmail"]), "QMAIL_GID_NOFILES": str(gids["nofiles"])}
    expected["QMAIL_HOME"] = "/var/qmail"
    assert values == expected


def test_fixed_ids_as_the_spec_says(tmp_path):
    root = debian_tree(tmp_path / "root")
    spec = tmp_path / "ids.toml"
    write(spec, INSTALL_IDS_SPEC)
    append(root, "group", ["qmail:x:2107:", "nofiles:x:2108:"])
    append(root, "passwd", [
        f"{name}:x:{uid}:{2108 if uid < 7794 else 2107}::/var/qmail:/bin/true"
        for name, uid in zip(QMAIL_USERS, range(7790, 7797), strict=True)
    ])
    result = cli("env", "--platform", "linux", "--root", root, "--spec", spec)
    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        "QMAIL_HOME='/var/qmail'",
        *[f"QMAIL_UID_{n.upper()}='{uid}'" for n, uid in zip(QMAIL_USERS, range(7790, 7797), strict=True)],
        "QMAIL_GID_QMAIL='2107'",
        "QMAIL_GID_NOFILES='2108'",
    ]


def test_names_and_values_are_made_safe_for_sh(tmp_path):
    root = debian_tree(tmp_path / "root")
    append(root, "group", ["q-mail:x:900:"])
    append(root, "passwd", ["q-user:x:901:900::/srv/it's $(echo injected) q:/usr/sbin/nologin"])
    spec = tmp_path / "odd.toml"
    write(spec, '[[groups]]\nname = "q-mail"\n[[users]]\nname = "q-user"\ngroup = "q-mail"\n'
                'home = "/srv/it\'s $(echo injected) q"\n[qmail]\nhome = "/srv/it\'s $(echo injected) q"\n')
    values = eval_in_sh(root, "--spec", spec)
    assert values["QMAIL_HOME"] == "/srv/it's $(echo injected) q"
    assert values["QMAIL_UID_Q_USER"] == "901"
    assert values["QMAIL_GID_Q_MAIL"] == "900"


def test_missing_accounts_exit_3_naming_them(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    build("partial", root)  # groups and alias only
    result = cli("env", "--platform", "linux", "--root", root)
    assert result.code == 3
    assert result.out == ""
    assert result.err == (
        "qmailsetup: not on the host yet: user qmaild, user qmaill, user qmailp, user qmailq, "
        "user qmailr, user qmails; run qmailsetup apply first\n"
    )


def test_ids_other_than_the_spec_exit_3(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    build("provisioned", root)  # qmail 999, nofiles 998
    spec = tmp_path / "ids.toml"
    write(spec, INSTALL_IDS_SPEC)
    result = cli("env", "--platform", "linux", "--root", root, "--spec", spec)
    assert result.code == 3
    assert "group qmail has gid 999, the spec says 2107" in result.err
    assert "user alias has uid 999, the spec says 7790" in result.err
