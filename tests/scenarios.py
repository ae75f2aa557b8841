"""Host states for golden tests: each builds a root and names its spec.

Shared by the plan goldens (state in -> plan out) and the apply goldens
(files in -> files out), so both speak of the same hosts.
"""

from __future__ import annotations

import os
from pathlib import Path

from qmail_layout import QMAIL_USERS
from trees import alpine_tree, append, debian_tree, example_spec, write

INSTALL_IDS_SPEC = example_spec("install-ids")


def add_qmail_accounts(root: Path, gids: dict[str, int], first_uid: int, shell: str, step: int = -1) -> None:
    append(root, "group", [f"{name}:x:{gid}:" for name, gid in gids.items()])
    append(root, "gshadow", [f"{name}:!::" for name in gids])
    users = [(name, first_uid + step * i, gids[group], home) for i, (name, (group, home)) in enumerate(QMAIL_USERS.items())]
    append(root, "passwd", [f"{n}:x:{uid}:{gid}::{home}:{shell}" for n, uid, gid, home in users])
    append(root, "shadow", [f"{n}:!:19000::::::" for n, *_ in users])


def make_qmail_dirs(root: Path, qmail_gid: int, alias_uid: int, alias_mode: int = 0o2755) -> None:
    (root / "var/qmail/alias").mkdir(parents=True)
    os.chown(root / "var/qmail", 0, qmail_gid)
    os.chown(root / "var/qmail/alias", alias_uid, qmail_gid)
    (root / "var/qmail").chmod(0o755)
    (root / "var/qmail/alias").chmod(alias_mode)


def fresh_debian(root: Path) -> str | None:
    debian_tree(root)
    return None


def fresh_alpine(root: Path) -> str | None:
    alpine_tree(root)
    return None


def partial(root: Path) -> str | None:
    """Groups made, alias made by hand, the rest missing."""
    debian_tree(root)
    append(root, "group", ["qmail:x:999:", "nofiles:x:998:"])
    append(root, "gshadow", ["qmail:!::", "nofiles:!::"])
    append(root, "passwd", ["alias:x:999:998::/var/qmail/alias:/usr/sbin/nologin"])
    append(root, "shadow", ["alias:!:19000::::::"])
    return None


def provisioned(root: Path) -> str | None:
    debian_tree(root)
    add_qmail_accounts(root, {"qmail": 999, "nofiles": 998}, 999, "/usr/sbin/nologin")
    make_qmail_dirs(root, 999, 999)
    return None


def install_ids_as_shipped(root: Path) -> str | None:
    """INSTALL.ids run as qmail ships it on Linux: no -r, no shell."""
    debian_tree(root)
    add_qmail_accounts(root, {"nofiles": 1001, "qmail": 1002}, 1001, "/bin/sh", step=1)
    return None


def nis_compat(root: Path) -> str | None:
    """A host with NIS compat lines, which must stay last."""
    debian_tree(root)
    append(root, "passwd", ["+@admins::::::", "+::::::/usr/sbin/nologin"])
    append(root, "group", ["+:::"])
    return None


def fixed_ids_conflicting(root: Path) -> str | None:
    """INSTALL.ids' fixed IDs, but the host already uses some of them."""
    debian_tree(root)
    append(root, "group", ["qmail:x:2000:", "staff2:x:2108:"])
    append(root, "passwd", ["someone:x:7791:100::/home/someone:/bin/bash", "alias:x:7000:2000::/var/qmail/alias:/bin/true"])
    append(root, "shadow", ["someone:!:19000::::::", "alias:!:19000::::::"])
    return INSTALL_IDS_SPEC


def hostile_paths(root: Path) -> str | None:
    """/var/qmail is a symlink to /etc: it must never be followed."""
    debian_tree(root)
    (root / "var").mkdir()
    (root / "var/qmail").symlink_to("/etc")
    return None


def drifted_dirs(root: Path) -> str | None:
    """Accounts fine, /var/qmail/alias with the wrong owner and mode."""
    provisioned(root)
    os.chown(root / "var/qmail/alias", 0, 0)
    (root / "var/qmail/alias").chmod(0o755)
    return None


SCENARIOS = {
    f.__name__: f
    for f in (
        fresh_debian, fresh_alpine, partial, provisioned, install_ids_as_shipped, nis_compat,
        fixed_ids_conflicting, hostile_paths, drifted_dirs,
    )
}


def build(name: str, root: Path) -> list[str]:
    """Build scenario NAME under ROOT; the --spec arguments it needs."""
    spec_text = SCENARIOS[name](root)
    if spec_text is None:
        return []
    spec = root.parent / f"{name}.toml"
    write(spec, spec_text)
    return ["--spec", str(spec)]
