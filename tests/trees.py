"""Account trees for tests: a root directory with etc/ files made the way an
installed system has them, from the fixtures in tests/fixtures."""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
EXAMPLES = Path(__file__).parent.parent / "examples"
LAST_CHANGE = "19000"  # a fixed day for shadow entries the tests create


def example_spec(name: str) -> str:
    """The text of examples/NAME.toml: the well-known fixed-ID specs
    (install-ids, freebsd-ports) are written there and nowhere else."""
    return (EXAMPLES / f"{name}.toml").read_text()


def example_tables(name: str) -> dict[str, list[dict]]:
    """examples/NAME.toml as tables, for a test that needs a variant of it."""
    return tomllib.loads(example_spec(name))


def spec_toml(tables: dict[str, list[dict]]) -> str:
    """Spec TOML from tables such as example_tables() gives (string and
    integer values: JSON's string quoting is TOML's)."""
    lines = []
    for table, entries in tables.items():
        for entry in entries:
            lines.append(f"[[{table}]]")
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
    return "".join(f"{l}\n" for l in passwd), "".join(f"{l}\n" for l in shadow)


def gshadowed(group_lines: list[str]) -> tuple[str, str]:
    group, gshadow = [], []
    for line in group_lines:
        fields = line.split(":")
        fields[1] = "x"
        group.append(":".join(fields))
        gshadow.append(f"{fields[0]}:*::{fields[3]}")
    return "".join(f"{l}\n" for l in group), "".join(f"{l}\n" for l in gshadow)


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
    """A copy of this machine's own account files."""
    (root / "etc").mkdir(parents=True, exist_ok=True)
    for name in ("passwd", "group", "shadow", "gshadow", "login.defs"):
        if Path("/etc", name).exists():
            shutil.copy2(Path("/etc", name), root / "etc" / name)
    return root


def append(root: Path, name: str, lines: list[str]) -> None:
    with open(root / "etc" / name, "a") as f:
        f.writelines(f"{line}\n" for line in lines)


def snapshot(root: Path) -> dict[str, tuple]:
    """Every path under ROOT with its type, mode, owner and content: two
    equal snapshots mean nothing under the root was written."""
    import hashlib
    import os

    result = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            info = path.lstat()
            digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() and not path.is_symlink() else None
            result[str(path.relative_to(root))] = (info.st_mode, info.st_uid, info.st_gid, info.st_size, digest)
    return result
