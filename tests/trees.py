"""Host trees and specs for tests: a root directory with etc/ files made the
way an installed system has them (from tests/fixtures, the golden input
trees, or this machine's own files), and the text of the specs shipped in
src/qmailsetup/specs/.

The base trees, built here only; scenarios.py and bsd_hosts.py put them in
the states the tests need, and what a tree holds is snapshot.py's."""

from __future__ import annotations

import json
import os
import shutil
import tomllib
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
EXAMPLES = Path(__file__).parent.parent / "src/qmailsetup/specs"  # the shipped specs
TREES = FIXTURES / "pwconv"  # what pwconv makes of the fixtures: rebuilt by its make_trees.sh
KINDS = ("passwd", "group", "shadow", "gshadow", "master.passwd")  # the account files under etc/
LAST_CHANGE = "19000"  # a fixed day for shadow entries the tests create
SHADOW_GID = 42  # the shadow group of Debian's base-passwd


def example_spec(name: str) -> str:
    """The text of the shipped spec NAME: the well-known fixed-ID specs
    (install-ids, freebsd-ports) are written there and nowhere else."""
    return (EXAMPLES / f"{name}.toml").read_text()


def example_tables(name: str) -> dict[str, list[dict]]:
    """The shipped spec NAME as tables, for a test that needs a variant of it."""
    return tomllib.loads(example_spec(name))


def spec_toml(tables: dict[str, list[dict] | dict]) -> str:
    """Spec TOML from tables such as example_tables() gives (string and
    integer values: JSON's string quoting is TOML's): a list is [[entries]],
    a table such as [qmail] one [table]."""
    lines = []
    for table, entries in tables.items():
        for entry in [entries] if isinstance(entries, dict) else entries:
            lines.append(f"[{table}]" if isinstance(entries, dict) else f"[[{table}]]")
            lines += [f"{key} = {json.dumps(value)}" for key, value in entry.items()]
    return "".join(f"{line}\n" for line in lines)


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def shadowed(passwd_lines: list[str]) -> tuple[str, str]:
    """passwd with 'x' and the matching shadow, as shadowconfig leaves them."""
    passwd, shadow = [], []
    for line in passwd_lines:
        fields = line.split(":")
        password, fields[1] = fields[1], "x"
        passwd.append(":".join(fields))
        locked = password if password not in ("", "x") else "*"
        shadow.append(f"{fields[0]}:{locked}:{LAST_CHANGE}:0:99999:7:::")
    return "".join(f"{line}\n" for line in passwd), "".join(f"{line}\n" for line in shadow)


def gshadowed(group_lines: list[str]) -> tuple[str, str]:
    group, gshadow = [], []
    for line in group_lines:
        fields = line.split(":")
        fields[1] = "x"
        group.append(":".join(fields))
        gshadow.append(f"{fields[0]}:*::{fields[3]}")
    return "".join(f"{line}\n" for line in group), "".join(f"{line}\n" for line in gshadow)


def shadow_tree(root: Path, passwd_text: str, group_text: str, login_defs: bool = True) -> Path:
    """A Linux root with passwd, shadow, group, gshadow (and login.defs)."""
    passwd, shadow = shadowed(passwd_text.splitlines())
    group, gshadow = gshadowed(group_text.splitlines())
    for name, text in (("passwd", passwd), ("shadow", shadow), ("group", group), ("gshadow", gshadow)):
        write(root / "etc" / name, text)
    (root / "etc/shadow").chmod(0o640)
    (root / "etc/gshadow").chmod(0o640)
    if login_defs:
        shutil.copy(FIXTURES / "debian/login.defs", root / "etc/login.defs")
    return root


def debian_tree(root: Path) -> Path:
    """A fresh Debian host: base-passwd's master files, shadowed."""
    return shadow_tree(
        root, (FIXTURES / "debian/passwd.master").read_text(), (FIXTURES / "debian/group.master").read_text()
    )


def alpine_tree(root: Path) -> Path:
    return shadow_tree(root, (FIXTURES / "alpine/passwd").read_text(), (FIXTURES / "alpine/group").read_text())


def host_tree(root: Path) -> Path:
    """ROOT/etc with copies of this machine's own account files, with their
    modes and owners; / 0755, as make_tree."""
    (root / "etc").mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    for name in ("passwd", "group", "shadow", "gshadow", "login.defs"):
        if Path("/etc", name).exists():
            shutil.copy2(Path("/etc", name), root / "etc" / name)
            info = os.stat(Path("/etc", name))
            os.chown(root / "etc" / name, info.st_uid, info.st_gid)
    return root


def make_tree(root: Path, name: str) -> Path:
    """ROOT/etc as the golden input tree NAME (debian, alpine), with the
    modes an installed system gives (shadow 0640, / 0755: qmail's users pass
    through it, which check asks) and, made by root, its owners (root:shadow);
    another user's tree is that user's own."""
    shutil.copytree(TREES / name / "etc", root / "etc", dirs_exist_ok=True)
    root.chmod(0o755)
    for kind in ("shadow", "gshadow"):
        path = root / "etc" / kind
        if path.exists():
            if os.geteuid() == 0:
                os.chown(path, 0, SHADOW_GID)
            path.chmod(0o640)
    return root


def bsd_tree(root: Path, fixture: str) -> Path:
    """A BSD root as installed: master.passwd (0600) and group."""
    (root / "etc").mkdir(parents=True, exist_ok=True)
    shutil.copy(FIXTURES / fixture / "master.passwd", root / "etc/master.passwd")
    shutil.copy(FIXTURES / fixture / "group", root / "etc/group")
    (root / "etc/master.passwd").chmod(0o600)
    (root / "etc/group").chmod(0o644)
    return root


def installed_tree(root: Path, fixture: str) -> Path:
    """A BSD root as installed: master.passwd, group, and the passwd that
    pwd_mkdb -p made from master.passwd."""
    from qmailsetup.userdb.pwdmkdb import v7_passwd

    bsd_tree(root, fixture)
    (root / "etc/passwd").write_text(v7_passwd((root / "etc/master.passwd").read_text()))
    (root / "etc/passwd").chmod(0o644)
    return root


def master_line(name: str, uid: int, gid: int, home: str, shell: str, gecos: str = "", login_class: str = "") -> str:
    return f"{name}:*:{uid}:{gid}:{login_class}:0:0:{gecos}:{home}:{shell}"


def append(root: Path, name: str, lines: list[str]) -> None:
    with open(root / "etc" / name, "a") as f:
        f.writelines(f"{line}\n" for line in lines)
