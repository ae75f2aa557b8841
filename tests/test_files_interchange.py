"""--backend files and --backend useradd (the real shadow-utils, --prefix)
leave the same account files: same spec, two copies of a tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import require_tools
from files_support import mask_clock
from namespace import with_etc
from process import apply_files, qmailsetup
from qmail_layout import QMAIL_NAMES
from snapshot import account_files
from trees import example_tables, host_tree, make_tree, spec_toml


def install_ids_mixed(keep_nofiles_gid: bool = True) -> str:
    """INSTALL.ids' spec cut to three users that mix fixed and allocated:
    alias with its fixed ID and a comment, qmaild with an allocated ID,
    qmailq with the default shell."""
    tables = example_tables("install-ids")
    users = {user["name"]: user for user in tables["users"]}
    users["alias"]["comment"] = "qmail alias"
    del users["qmaild"]["uid"]
    del users["qmailq"]["shell"]
    if not keep_nofiles_gid:
        nofiles = next(group for group in tables["groups"] if group["name"] == "nofiles")
        del nofiles["gid"]
    return spec_toml({"groups": tables["groups"], "users": [users["alias"], users["qmaild"], users["qmailq"]]})


TREES = ["debian", "alpine", "alpine-noshadow", "host", "debian-crowded"]
# system IDs already scattered over the range, some at its bottom: where
# useradd -r and groupadd -r look next is the planner's allocate()
CROWDED = {
    "passwd": ["svc999:x:999:100::/:/usr/sbin/nologin", "svc103:x:103:100::/:/usr/sbin/nologin",
               "svc101:x:101:100::/:/usr/sbin/nologin", "svc102:x:102:100::/:/usr/sbin/nologin"],
    "shadow": ["svc999:!:19000::::::", "svc103:!:19000::::::", "svc101:!:19000::::::", "svc102:!:19000::::::"],
    "group": ["grp101:x:101:", "grp998:x:998:", "grp500:x:500:"],
    "gshadow": ["grp101:!::", "grp998:!::", "grp500:!::"],
}


def build(root: Path, name: str) -> Path:
    if name == "host":
        return host_tree(root)
    make_tree(root, name.removesuffix("-noshadow").removesuffix("-crowded"))
    if name.endswith("-crowded"):
        for kind, lines in CROWDED.items():
            with open(root / "etc" / kind, "a") as file:
                file.write("".join(line + "\n" for line in lines))
    if name.endswith("-noshadow"):  # useradd then writes '!' in passwd itself
        (root / "etc/shadow").unlink()
    return root


def both(tmp_path: Path, tree: str, *spec_args: str, env: dict | None = None) -> tuple[Path, Path]:
    files_root, tool_root = tmp_path / "files", tmp_path / "useradd"
    build(files_root, tree)
    build(tool_root, tree)
    apply_files(files_root, *spec_args, extra_env=env)
    qmailsetup("apply", "--root", str(tool_root), "--platform", "linux", "--backend", "useradd", *spec_args,
               extra_env=env)
    return files_root, tool_root


@pytest.mark.slow
@pytest.mark.parametrize("tree", TREES)
def test_byte_identical_with_useradd(privileged, tmp_path, tree):
    require_tools("useradd", "groupadd")
    files_root, tool_root = both(tmp_path, tree)
    made, expected = account_files(files_root), account_files(tool_root)
    assert made.keys() == expected.keys()
    for kind in made:  # shadow too: both honour SOURCE_DATE_EPOCH
        assert made[kind] == expected[kind], kind
    assert b"qmails:" in made["passwd"]


@pytest.mark.slow
@pytest.mark.parametrize("tree", ["debian", "alpine"])
def test_fixed_ids_and_comment_identical(privileged, tmp_path, tree):
    require_tools("useradd", "groupadd")
    spec = tmp_path / "spec.toml"
    # Alpine already has nofiles (gid 200): keep it, fix the other IDs
    spec.write_text(install_ids_mixed(keep_nofiles_gid=tree != "alpine"))
    files_root, tool_root = both(tmp_path, tree, "--spec", str(spec))
    assert account_files(files_root) == account_files(tool_root)
    nofiles = b"200" if tree == "alpine" else b"2108"
    assert b"alias:x:7790:" + nofiles + b":qmail alias:/var/qmail/alias:/bin/true\n" in account_files(files_root)["passwd"]


@pytest.mark.slow
def test_equal_up_to_the_clock_without_source_date_epoch(privileged, tmp_path):
    require_tools("useradd", "groupadd")
    files_root, tool_root = both(tmp_path, "debian", env={"SOURCE_DATE_EPOCH": ""})
    made, expected = account_files(files_root), account_files(tool_root)
    for kind in ("passwd", "group", "gshadow"):
        assert made[kind] == expected[kind], kind
    assert mask_clock(made["shadow"]) == mask_clock(expected["shadow"])


def complaints(root: Path, names) -> list[str]:
    """What pwck -r and grpck -r say about NAMES, run inside a namespace
    where ROOT/etc is /etc (their NSS look-ups then see the tree)."""
    lines = []
    for argv in (["pwck", "-r"], ["grpck", "-r"]):
        result = with_etc(root, argv)
        lines += [line for line in (result.stdout + result.stderr).splitlines()
                  if any(f"'{name}'" in line or f" {name} " in line or f"{name}:" in line for name in names)]
    return lines


@pytest.mark.parametrize("tree", ["debian", "alpine", "host"])
def test_pwck_and_grpck_say_nothing_about_new_entries(privileged, tmp_path, tree):
    require_tools("pwck", "grpck")
    root = build(tmp_path, tree)
    apply_files(root)
    assert complaints(root, QMAIL_NAMES) == []
    # and they would have: a passwd line with no shadow line and no group
    with open(root / "etc/passwd", "a") as passwd:
        passwd.write("qmailx:x:990:12345::/var/qmail:/bin/true\n")
    assert len(complaints(root, ["qmailx"])) >= 2


@pytest.mark.root("apply chowns /var/qmail and /var/qmail/alias")
def test_a_second_run_is_in_sync_and_writes_nothing(tmp_path):
    root = make_tree(tmp_path, "debian")
    apply_files(root)
    before = {p.name: p.stat().st_mtime_ns for p in (root / "etc").iterdir()}
    result = apply_files(root, "--detailed-exitcode")
    assert "0 to create, 0 to modify" in result.stdout
    assert {p.name: p.stat().st_mtime_ns for p in (root / "etc").iterdir()} == before
