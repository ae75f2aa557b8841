"""qmail.compiled-ids: what the installed qmail-showctl says it was built
with, against the account database.

The outputs are those real netqmail 1.06 and notqmail 1.09 builds printed
(tests/fixtures/qmail-showctl/README says how they were recorded); the
stand-in executables print them back byte for byte. They run for real: as
nobody, no stdin, bounded in time."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from namespace import run_in_namespace
from qmailsetup.check import compiled
from qmailsetup.check.compiled import RUNTIME_LOOKUP, compiled_findings, parse_showctl
from qmailsetup.observe import observe
from qmailsetup.platforms import choose_profile
from qmailsetup.spec import parse_spec
from scenarios import add_qmail_accounts
from trees import FIXTURES, debian_tree, example_tables, spec_toml

SHOWCTL = FIXTURES / "qmail-showctl"
INSTALL_IDS_USERS = {"alias": 7790, "qmaild": 7791, "qmaill": 7792, "root": 0, "qmailp": 7793,
                     "qmailq": 7794, "qmailr": 7795, "qmails": 7796}


def test_netqmail_output_parsed():
    users, groups = parse_showctl((SHOWCTL / "netqmail-1.06.out").read_text())
    assert users == INSTALL_IDS_USERS
    assert groups == {"nofiles": 2108, "qmail": 2107}


def test_notqmail_prints_the_same_lines_and_follows_the_accounts():
    assert parse_showctl((SHOWCTL / "notqmail-1.09.out").read_text()) == parse_showctl(
        (SHOWCTL / "netqmail-1.06.out").read_text()
    )
    users, _ = parse_showctl((SHOWCTL / "notqmail-1.09-qmailq-renumbered.out").read_text())
    assert users == INSTALL_IDS_USERS | {"qmailq": 7894}


@pytest.mark.parametrize(
    "text",
    [
        "",  # notqmail with qmailr missing: stdout empty, exit 111
        "user ids: 7790, 7791, 7792, 0, 7793, 7794, 7795.\ngroup ids: 2108, 2107.\n",  # seven
        "user ids: 7790, 7791, 7792, 0, 7793, 7794, 7795, 7796\ngroup ids: 2108, 2107.\n",  # no full stop
        "user ids: 7790, x, 7792, 0, 7793, 7794, 7795, 7796.\ngroup ids: 2108, 2107.\n",
        "user ids: 7790, 7791, 7792, 0, 7793, 7794, 7795, 7796.\n",  # no group line
    ],
)
def test_anything_else_is_not_parsed(text):
    assert parse_showctl(text) is None


@pytest.fixture
def world_dir():
    """A directory nobody can reach (pytest's own are 0700)."""
    path = Path(tempfile.mkdtemp(prefix="qmailsetup-showctl-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def stand_in(home: Path, output: str, exit_code: int = 0, extra: str = "") -> Path:
    """HOME/bin/qmail-showctl: prints OUTPUT as the real one did, and writes
    the uid it ran as (and whether stdin was open) to HOME/ran-as."""
    program = home / "bin/qmail-showctl"
    program.parent.mkdir(parents=True, exist_ok=True)
    program.write_text(
        f"#!/bin/sh\n{extra}\n"
        f'id -u > "{home}/ran-as"; read line && echo stdin-open >> "{home}/ran-as"\n'
        f"cat <<'OUTPUT'\n{output}OUTPUT\nexit {exit_code}\n"
    )
    program.chmod(0o755)
    (home / "ran-as").touch(mode=0o666)
    (home / "ran-as").chmod(0o666)
    return program


def host_and_spec(tmp_path: Path, home: Path, qmailq_uid: int = 7794):
    """A root with INSTALL.ids' accounts (qmailq's uid as given), and the
    install-ids spec with its homes moved to HOME."""
    root = debian_tree(tmp_path / "root")
    add_qmail_accounts(root, {"qmail": 2107, "nofiles": 2108}, 7790, "/bin/true", step=1)
    if qmailq_uid != 7794:
        passwd = root / "etc/passwd"
        passwd.write_text(passwd.read_text().replace("qmailq:x:7794:", f"qmailq:x:{qmailq_uid}:"))
    tables = example_tables("install-ids")
    for user in tables["users"]:
        user["home"] = str(home) + user["home"].removeprefix("/var/qmail")
    tables["paths"] = []
    tables["qmail"] = {**tables.get("qmail", {}), "home": str(home)}
    spec = parse_spec(spec_toml(tables), "test spec")
    return spec, observe(spec, root, choose_profile("linux", root))


def only(findings):
    assert len(findings) == 1, findings
    return findings[0]


@pytest.mark.root("runs qmail-showctl as nobody")
def test_built_with_the_accounts_ids_is_ok_and_ran_as_nobody_without_stdin(tmp_path, world_dir):
    stand_in(world_dir, (SHOWCTL / "netqmail-1.06.out").read_text())
    spec, host = host_and_spec(tmp_path, world_dir)
    finding = only(compiled_findings(spec, Path("/"), host))
    assert (finding.id, finding.severity) == ("qmail.compiled-ids", "ok")
    assert finding.path == f"{world_dir}/bin/qmail-showctl"
    assert (world_dir / "ran-as").read_text() == "65534\n"  # nobody, and read found no stdin


@pytest.mark.root("runs qmail-showctl as nobody")
def test_a_renumbered_account_is_an_error_naming_role_numbers_and_remedy(tmp_path, world_dir):
    stand_in(world_dir, (SHOWCTL / "netqmail-1.06.out").read_text())
    spec, host = host_and_spec(tmp_path, world_dir, qmailq_uid=7894)
    finding = only(compiled_findings(spec, Path("/"), host))
    assert finding.severity == "error"
    assert finding.message == (
        "qmail was built with other IDs than the accounts have: "
        "the queue user qmailq: built with 7794, the account database says 7894"
    )
    assert finding.remedy.startswith("rebuild qmail") and "never renumber the accounts" in finding.remedy


@pytest.mark.root("runs qmail-showctl as nobody")
def test_a_build_that_looks_names_up_is_reported_and_not_run(tmp_path, world_dir):
    # notqmail's qmail-showctl holds uid.c's message; this stand-in holds it too
    stand_in(world_dir, (SHOWCTL / "notqmail-1.09.out").read_text(), extra=f"# {RUNTIME_LOOKUP.decode()}")
    spec, host = host_and_spec(tmp_path, world_dir, qmailq_uid=7894)
    finding = only(compiled_findings(spec, Path("/"), host))
    assert finding.severity == "info" and "looks the accounts up by name when it runs" in finding.message
    assert (world_dir / "ran-as").read_text() == ""


def test_never_run_under_root(tmp_path, world_dir):
    stand_in(world_dir, (SHOWCTL / "netqmail-1.06.out").read_text())
    spec, host = host_and_spec(tmp_path, world_dir)
    finding = only(compiled_findings(spec, tmp_path / "root", host))
    assert finding.severity == "info" and finding.message.startswith(f"not run under --root {tmp_path / 'root'}")
    assert (world_dir / "ran-as").read_text() == ""


def test_not_installed_is_info(tmp_path, world_dir):
    spec, host = host_and_spec(tmp_path, world_dir)
    finding = only(compiled_findings(spec, Path("/"), host))
    assert finding.severity == "info" and finding.message.startswith("qmail is not installed yet")


@pytest.mark.root("runs qmail-showctl as nobody")
def test_a_hanging_qmail_showctl_is_stopped(tmp_path, world_dir, monkeypatch):
    monkeypatch.setattr(compiled, "TIMEOUT", 1)
    stand_in(world_dir, "", extra="exec sleep 60")
    spec, host = host_and_spec(tmp_path, world_dir)
    finding = only(compiled_findings(spec, Path("/"), host))
    assert finding.severity == "warning" and "did not finish in 1 s" in finding.message


@pytest.mark.root("runs qmail-showctl as nobody")
def test_output_without_the_id_lines_is_a_warning(tmp_path, world_dir):
    # the first lines only, as if it had died before the IDs
    head = "".join((SHOWCTL / "netqmail-1.06.out").read_text().splitlines(keepends=True)[:5])
    stand_in(world_dir, head, exit_code=111)
    spec, host = host_and_spec(tmp_path, world_dir)
    finding = only(compiled_findings(spec, Path("/"), host))
    assert finding.severity == "warning"
    assert finding.message.endswith("(exit 111) printed no 'user ids:' and 'group ids:' lines")


NAMESPACE_CHECK = """\
$QMAILSETUP apply --spec "$SPEC" >/dev/null
mkdir -p /var/qmail/bin
cp "$STAND_IN" /var/qmail/bin/qmail-showctl
chmod 0755 /var/qmail/bin/qmail-showctl
: > /var/ran-as && chmod 0666 /var/ran-as
echo "=== as built"
$QMAILSETUP check --json --spec "$SPEC" || true
sed -i 's/^qmails:x:7796:/qmails:x:7896:/' /etc/passwd
sed -i 's/^nofiles:x:2108:/nofiles:x:2208:/' /etc/group
echo "=== renumbered"
$QMAILSETUP check --json --spec "$SPEC" || true
echo "=== ran as $(cat /var/ran-as | tr '\\n' ' ')"
"""


def test_real_run_in_a_namespace_after_apply_and_a_renumber(tmp_path, privileged):
    import json

    program = tmp_path / "qmail-showctl"
    program.write_text(
        "#!/bin/sh\nid -u >> /var/ran-as\n"
        f"cat <<'OUTPUT'\n{(SHOWCTL / 'netqmail-1.06.out').read_text()}OUTPUT\n"
    )
    tmp_path.chmod(0o755)
    script = f'SPEC="{Path(__file__).parent.parent / "src/qmailsetup/specs/install-ids.toml"}"\nSTAND_IN="{program}"\n'
    result = run_in_namespace(tmp_path, script + NAMESPACE_CHECK)
    assert result.returncode == 0, result.stdout + result.stderr
    _, built, renumbered = result.stdout.split("=== ")[0:3]
    built_findings = {f["id"]: f for f in json.loads(built.split("\n", 1)[1])["findings"]}
    assert built_findings["qmail.compiled-ids"]["severity"] == "ok"
    found = {f["id"]: f for f in json.loads(renumbered.split("\n", 1)[1])["findings"]}["qmail.compiled-ids"]
    assert found["severity"] == "error"
    assert found["message"] == (
        "qmail was built with other IDs than the accounts have: "
        "the send user qmails: built with 7796, the account database says 7896; "
        "the nofiles group nofiles: built with 2108, the account database says 2208"
    )
    assert "=== ran as 65534 65534 " in result.stdout


@pytest.mark.root("runs qmail-showctl as nobody")
def test_a_qmail_showctl_that_is_not_roots_alone_is_not_run(tmp_path, world_dir):
    program = stand_in(world_dir, (SHOWCTL / "netqmail-1.06.out").read_text())
    spec, host = host_and_spec(tmp_path, world_dir)
    for owner, mode in ((7794, 0o755), (0, 0o4755), (0, 0o775)):
        os.chown(program, owner, 0)
        program.chmod(mode)
        finding = only(compiled_findings(spec, Path("/"), host))
        assert finding.severity == "warning"
        assert f"is uid {owner}, mode {mode:04o}, not root's alone" in finding.message
    assert (world_dir / "ran-as").read_text() == ""
