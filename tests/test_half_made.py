"""Half-made accounts, for real: a passwd line without its shadow line, a
group line without its gshadow line, as an interrupted useradd or groupadd
leaves them (shadow-utils writes passwd before shadow, group before
gshadow). check reports them, the next apply repairs them with either
backend (no tool repairs one account alone: the files backend's writer
does it for the useradd backend too), after which pwck and grpck, run on
the tree (-R), are clean and a further run is in sync. And a real useradd
that fails between the two files: the failure says which account it left
half-made."""

from __future__ import annotations

import json
import subprocess

import pytest

from conftest import cli, require_tools
from process import EPOCH
from qmail_layout import QMAIL_NAMES
from snapshot import snapshot
from trees import make_tree

BACKENDS = ["files", "useradd"]


pytestmark = pytest.mark.root("useradd --prefix and pwck -R")


@pytest.fixture(autouse=True)
def real_tools(monkeypatch):
    require_tools("useradd", "groupadd", "pwck", "grpck")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)  # the day both backends write: 19675


def apply(root, backend, *extra):
    return cli("apply", "--platform", "linux", "--backend", backend, "--root", root, *extra)


def drop_line(root, kind: str, name: str) -> None:
    path = root / "etc" / kind
    lines = path.read_text().splitlines(keepends=True)
    kept = [line for line in lines if not line.startswith(f"{name}:")]
    assert len(kept) == len(lines) - 1, f"no line of {name} in {kind}"
    path.write_text("".join(kept))


def pairing_complaints(root) -> list[str]:
    """What pwck -r and grpck -r, chrooted into ROOT, say beyond homes and
    shells missing from the tree (a tree has neither): the pairing of
    passwd with shadow and group with gshadow, among the rest."""
    said = []
    for tool in ("pwck", "grpck"):
        result = subprocess.run([tool, "-r", "-R", str(root)], capture_output=True, text=True)
        said += [line for line in (result.stdout + result.stderr).splitlines()
                 if not line.endswith("does not exist") and line != f"{tool}: no changes"]
    return said


def incomplete(root) -> list[str]:
    findings = json.loads(cli("check", "--platform", "linux", "--root", root, "--json").out)["findings"]
    return [f["message"].split(" is half-made")[0] for f in findings if f["id"] == "account.incomplete"]


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_half_made_user_and_group_are_repaired_then_in_sync(tmp_path, backend):
    root = make_tree(tmp_path / "root", "debian")
    assert apply(root, backend).code == 0
    assert pairing_complaints(root) == []
    drop_line(root, "shadow", "qmailr")
    drop_line(root, "gshadow", "nofiles")
    assert incomplete(root) == ["group nofiles", "user qmailr"]
    assert "add user 'qmailr' in /etc/shadow? No" in pairing_complaints(root)
    assert "add group 'nofiles' in /etc/gshadow? No" in pairing_complaints(root)

    dry = json.loads(apply(root, backend, "--dry-run", "--json").out)
    assert [(c["kind"], c["name"], c["action"], c["fields"], c["commands"]) for c in dry["changes"]] == [
        ("group", "nofiles", "repair", {"gshadow": {"current": "missing", "desired": "present"}}, []),
        ("user", "qmailr", "repair", {"shadow": {"current": "missing", "desired": "present"}}, []),
    ]
    assert [d["path"] for d in dry["diffs"]] == [str(root / "etc/gshadow"), str(root / "etc/shadow")]

    repaired = apply(root, backend, "--detailed-exitcode")
    assert repaired.code == 4, repaired.err
    assert "repaired group nofiles (added its gshadow line)\nrepaired user qmailr (added its shadow line)\n" in repaired.out
    assert pairing_complaints(root) == []
    assert incomplete(root) == []
    assert "qmailr:!:19675::::::\n" in (root / "etc/shadow").read_text()  # SOURCE_DATE_EPOCH's day
    assert "nofiles:!::\n" in (root / "etc/gshadow").read_text()

    before = snapshot(root)
    again = apply(root, backend, "--detailed-exitcode")
    assert again.code == 0, again.out + again.err
    assert "0 to create, 0 to modify, 11 in sync." in again.out
    assert snapshot(root) == before


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_password_left_in_passwd_and_group_moves_to_the_companion_line(tmp_path, backend):
    """INSTALL.ids' vipw lines ('*' in passwd and group) on a host that keeps
    shadow and gshadow: pwck and grpck want the '*' in shadow and gshadow
    and 'x' in its place, as pwconv and grpconv would leave it."""
    root = make_tree(tmp_path / "root", "debian")
    with open(root / "etc/group", "a") as group, open(root / "etc/passwd", "a") as passwd:
        group.write("qmail:*:2107:\nnofiles:*:2108:\n")
        passwd.write("alias:*:7790:2108::/var/qmail/alias:/usr/sbin/nologin\n")
    assert len(incomplete(root)) == 3
    result = apply(root, backend)
    assert result.code == 0, result.err
    assert pairing_complaints(root) == []
    assert "alias:x:7790:2108::" in (root / "etc/passwd").read_text()
    assert "alias:*:19675::::::\n" in (root / "etc/shadow").read_text()
    assert "qmail:*::\nnofiles:*::\n" in (root / "etc/gshadow").read_text()
    assert incomplete(root) == []


@pytest.mark.slow
@pytest.mark.parametrize(("companion", "account", "done"), [
    ("gshadow", "group qmail", "nothing"),
    ("shadow", "user alias", "group qmail, group nofiles"),
])
def test_a_tool_that_fails_between_the_two_files_is_reported_half_made(tmp_path, monkeypatch, companion, account,
                                                                      done):
    """shadow-utils commits passwd (group), then shadow (gshadow), each
    through FILE+; a directory there makes the second commit fail after the
    first: a real groupadd or useradd leaving its account half-made. (Such
    a tree is refused for useradd under --root, tests/test_root_tools.py;
    here the refusal is let pass, to make the tool fail half-way.)"""
    monkeypatch.setattr("qmailsetup.backends.refuse_untrusted_tree", lambda program, host: None)
    root = make_tree(tmp_path / "root", "debian")
    (root / "etc" / f"{companion}+").mkdir()
    result = apply(root, "useradd")
    assert result.code == 1
    kind, _name = account.split()
    main = "group" if kind == "group" else "passwd"
    assert result.err.count("\n") == 1
    assert result.err.endswith(
        f"; {account} is half-made: in {root}/etc/{main}, not in {root}/etc/{companion}; the next qmailsetup "
        f"apply adds the missing line; done before the failure: {done}\n"
    ), result.err
    assert incomplete(root) == [account]

    (root / "etc" / f"{companion}+").rmdir()
    finished = apply(root, "useradd")
    assert finished.code == 0, finished.err
    assert f"repaired {account} (added its {companion} line)\n" in finished.out
    assert pairing_complaints(root) == []
    assert incomplete(root) == []
    names = {line.split(":")[0] for kind in ("passwd", "group") for line in (root / "etc" / kind).read_text().splitlines()}
    assert set(QMAIL_NAMES) <= names
    assert apply(root, "useradd").out.endswith("0 to create, 0 to modify, 11 in sync.\n")
