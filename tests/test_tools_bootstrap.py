"""examples/bootstrap.sh, run for real: on the live paths in a mount
namespace (a copy of /etc, a tmpfs /var), and on a --root tree."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import require_tools
from namespace import run_in_namespace
from qmail_layout import QMAIL_USERS
from scenarios import INSTALL_IDS_SPEC
from trees import debian_tree, write

BOOTSTRAP = Path(__file__).resolve().parents[1] / "examples/bootstrap.sh"


def printed_ids(output: str) -> dict[str, str]:
    """The '  NAME  VALUE' lines after '== qmail will be built with'."""
    table = output.split("== qmail will be built with\n", 1)[1]
    return dict(line.split() for line in table.splitlines() if line.startswith("  QMAIL_"))


RUNS = f"""\
mkdir "$OUT/src"
QMAIL_SRC="$OUT/src" sh "$BOOTSTRAP" > "$OUT/first.txt"
sh "$BOOTSTRAP" > "$OUT/second.txt"
getent passwd {" ".join(QMAIL_USERS)} > "$OUT/passwd"
getent group qmail nofiles > "$OUT/group"
"""


def test_bootstrap_on_the_live_paths(tmp_path, privileged):
    require_tools("useradd", "groupadd", "getent")
    out = tmp_path / "out"
    out.mkdir()
    result = run_in_namespace(tmp_path, f"BOOTSTRAP={BOOTSTRAP}; OUT={out}\n" + RUNS)
    assert result.returncode == 0, result.stderr
    first, second = (out / "first.txt").read_text(), (out / "second.txt").read_text()
    assert "== apply\n" in first and "Applied 11 changes." in first
    assert "== in sync: nothing to apply\n" in second and "== apply" not in second
    uids = {line.split(":")[0]: line.split(":")[2] for line in (out / "passwd").read_text().splitlines()}
    gids = {line.split(":")[0]: line.split(":")[2] for line in (out / "group").read_text().splitlines()}
    expected = {"QMAIL_HOME": "/var/qmail"}
    expected |= {f"QMAIL_UID_{name.upper()}": uids[name] for name in QMAIL_USERS}
    expected |= {"QMAIL_GID_QMAIL": gids["qmail"], "QMAIL_GID_NOFILES": gids["nofiles"]}
    assert printed_ids(first) == expected == printed_ids(second)
    assert (out / "src/conf-users").read_text().startswith("alias\nqmaild\nqmaill\nroot\nqmailp\n")
    assert "== next: cd " in first


def test_bootstrap_on_a_root_with_fixed_ids(tmp_path, privileged):
    require_tools("useradd", "groupadd")
    root = debian_tree(tmp_path / "root")
    write(tmp_path / "ids.toml", INSTALL_IDS_SPEC)
    env = dict(
        os.environ, QMAILSETUP=f"{sys.executable} -m qmailsetup", QMAILSETUP_ROOT=str(root),
        QMAILSETUP_PLATFORM="linux", QMAILSETUP_SPEC=str(tmp_path / "ids.toml"),
    )
    result = subprocess.run(["sh", str(BOOTSTRAP)], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    ids = printed_ids(result.stdout)
    assert [ids[f"QMAIL_UID_{name.upper()}"] for name in QMAIL_USERS] == [str(uid) for uid in range(7790, 7797)]
    assert (ids["QMAIL_GID_QMAIL"], ids["QMAIL_GID_NOFILES"]) == ("2107", "2108")


def test_bootstrap_stops_on_a_conflict_before_writing(tmp_path, privileged):
    root = debian_tree(tmp_path / "root")
    with open(root / "etc/group", "a") as group:
        group.write("staff2:x:2108:\n")
    before = {name: (root / "etc" / name).read_bytes() for name in ("passwd", "group", "shadow", "gshadow")}
    write(tmp_path / "ids.toml", INSTALL_IDS_SPEC)
    env = dict(
        os.environ, QMAILSETUP=f"{sys.executable} -m qmailsetup", QMAILSETUP_ROOT=str(root),
        QMAILSETUP_PLATFORM="linux", QMAILSETUP_SPEC=str(tmp_path / "ids.toml"),
    )
    result = subprocess.run(["sh", str(BOOTSTRAP)], env=env, capture_output=True, text=True)
    assert result.returncode == 3
    assert "gid 2108 is already held by group staff2" in result.stderr + result.stdout
    assert "== apply" not in result.stdout
    assert before == {name: (root / "etc" / name).read_bytes() for name in before}
