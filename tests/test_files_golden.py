"""Golden cases of the files backend: an input tree and a spec give exactly
the files (and the dry-run diff) stored under tests/golden/files/<case>/.
UPDATE_GOLDENS=1 rewrites them (then read the diff!)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from files_support import assert_consistent
from golden import check_files, check_text, scrub
from process import EPOCH
from qmailsetup.backends import make_backend
from qmailsetup.observe import observe
from qmailsetup.plan import make_plan
from qmailsetup.platforms import IdRange, Profile, load_profile
from qmailsetup.spec import load_spec, parse_spec
from snapshot import account_files
from trees import bsd_tree, example_tables, make_tree, spec_toml

BSD = Profile(
    name="bsd-test", description="master.passwd and group", backend="files", flavor="bsd",
    nologin=("/usr/sbin/nologin",), system_ids=IdRange(100, 999, 100, 999),
)


def ports_cut_down() -> str:
    """The ports' spec cut to two users: alias with its fixed ID and a login
    class, qmails with none of the ports' choices (ID allocated, default shell)."""
    tables = example_tables("freebsd-ports")
    alias, qmails = tables["users"][0], tables["users"][-1]
    alias["class"] = "daemon"
    qmails = {key: qmails[key] for key in ("name", "group", "home")}
    return spec_toml({"groups": tables["groups"], "users": [alias, qmails]})


PORTS_SPEC = ports_cut_down()
# existing accounts that differ from the default spec, a NIS line that must
# stay last, and bytes that are not UTF-8 in someone else's comment
DRIFT_PASSWD = "alias:x:990:999:old alias:/home/alias:/bin/sh\nluc:x:1000:1000:Lu\xe7:/home/luc:/bin/bash\n+::::::\n"
DRIFT_SHADOW = "alias:*:19000:0:99999:7:::\nluc:*:19000:0:99999:7:::\n+::::::::\n"
DRIFT_GROUP = "qmail:x:999:\nluc:x:1000:\n+:::\n"
DRIFT_GSHADOW = "qmail:!::\nluc:!::\n+:::\n"


def tree_debian(root: Path) -> None:
    make_tree(root, "debian")


def tree_alpine(root: Path) -> None:
    make_tree(root, "alpine")


def tree_alpine_plain(root: Path) -> None:
    make_tree(root, "alpine")
    (root / "etc/shadow").unlink()


def tree_freebsd(root: Path) -> None:
    bsd_tree(root, "freebsd")


def tree_drift(root: Path) -> None:
    make_tree(root, "debian")
    for kind, extra in (("passwd", DRIFT_PASSWD), ("shadow", DRIFT_SHADOW),
                        ("group", DRIFT_GROUP), ("gshadow", DRIFT_GSHADOW)):
        with open(root / "etc" / kind, "ab") as file:
            file.write(extra.encode("latin-1"))


CASES = {
    "debian": (tree_debian, lambda: load_profile("linux"), None, False),
    "alpine": (tree_alpine, lambda: load_profile("linux"), None, False),
    "alpine-plain": (tree_alpine_plain, lambda: load_profile("generic"), None, False),
    # Alpine as installed (busybox, no shadow-utils): IDs counting up from
    # 100 and shadow lines as adduser -S writes them (platforms/alpine.toml)
    "alpine-busybox": (tree_alpine, lambda: load_profile("alpine"), None, False),
    "freebsd-ports": (tree_freebsd, lambda: BSD, PORTS_SPEC, False),
    "drift": (tree_drift, lambda: load_profile("linux"), None, True),
}


def run_case(root: Path, case: str) -> str:
    build, profile, spec_text, fix_drift = CASES[case]
    build(root)
    spec = load_spec(None) if spec_text is None else parse_spec(spec_text, case)
    spec = spec.model_copy(update={"paths": []})
    host = observe(spec, root, profile())
    plan = make_plan(spec, host, fix_drift)
    assert not plan.refused, plan.conflicts
    backend = make_backend("files", host)
    preview = "".join(f"=== {path}\n{diff}" for path, diff in backend.preview(plan.changes))
    done = []
    backend.apply(plan.changes, done.append)
    assert [(c.kind, c.name) for c in done] == [(c.kind, c.name) for c in plan.changes]
    return scrub(preview, root)


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(tmp_path, case):
    preview = run_case(tmp_path, case)
    check_files(f"files/{case}/etc", account_files(tmp_path))
    check_text(f"files/{case}/preview.diff", preview, errors="surrogateescape")
    assert_consistent(tmp_path)


@pytest.mark.parametrize("case", sorted(CASES))
def test_only_owned_lines_change(tmp_path, case):
    """Every line of the input is still there, in order, except the ones of
    accounts in the spec (rewritten in place, drift only)."""
    build = CASES[case][0]
    build(tmp_path / "before")
    before = account_files(tmp_path / "before")
    run_case(tmp_path / "after", case)
    after = account_files(tmp_path / "after")
    owned = (b"alias:", b"qmail", b"qnofiles:", b"nofiles:")
    for kind, old in before.items():
        new_lines = after[kind].splitlines(keepends=True)
        kept = [line for line in old.splitlines(keepends=True) if not line.startswith(owned)]
        assert [line for line in new_lines if line in kept] == kept, kind
        assert after[kind].startswith(old) or case == "drift" or old.splitlines()[-1].startswith((b"+", b"-"))


def test_backups_keep_the_previous_content_mode_and_owner(tmp_path):
    root = make_tree(tmp_path, "debian")
    before = account_files(root)
    old_mode = {kind: os.stat(root / "etc" / kind) for kind in before}
    run_case(tmp_path / "x", "debian")  # the same case elsewhere: what the files become
    spec = load_spec(None).model_copy(update={"paths": []})
    host = observe(spec, root, load_profile("linux"))
    make_backend("files", host).apply(make_plan(spec, host).changes, lambda change: None)
    for kind, data in before.items():
        backup = root / "etc" / f"{kind}-"
        assert backup.read_bytes() == data
        for path in (root / "etc" / kind, backup):
            info = os.stat(path)
            assert (info.st_mode, info.st_uid, info.st_gid) == (
                old_mode[kind].st_mode, old_mode[kind].st_uid, old_mode[kind].st_gid), path
    assert sorted(p.name for p in (root / "etc").iterdir()) == sorted(
        [".pwd.lock", "login.defs"] + [k for k in before] + [f"{k}-" for k in before])
