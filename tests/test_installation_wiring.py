"""Every part asks the one model of the installation (installation.py, the
spec's [qmail] table): check's filesystem and queue findings, env, the
qmail-conf and sysusers exports, the directories apply makes; no module
spells /var/qmail but the model's default."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from conftest import cli
from scenarios import add_qmail_accounts
from trees import debian_tree, example_spec, write

SRC = Path(__file__).resolve().parents[1] / "src" / "qmailsetup"
# (example, the home its [qmail] table names)
EXAMPLES = [("debian-netqmail", "/var/lib/qmail"), ("gentoo", "/var/qmail")]


def strings_outside_docstrings(tree: ast.AST) -> list[tuple[int, str]]:
    docstrings = {
        id(node.body[0].value) for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body
        and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value) for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def test_no_module_spells_var_qmail_but_the_models_default():
    spelled = [
        f"{path.relative_to(SRC)}:{line}"
        for path in sorted(SRC.rglob("*.py"))
        for line, text in strings_outside_docstrings(ast.parse(path.read_text()))
        if "/var/qmail" in text
    ]
    assert spelled == ["spec.py:" + str(next(
        n for n, line in enumerate((SRC / "spec.py").read_text().splitlines(), 1) if line.startswith("DEFAULT_HOME ="))
    )]


@pytest.fixture(params=EXAMPLES, ids=[name for name, _ in EXAMPLES])
def example(request, tmp_path):
    name, home = request.param
    spec = tmp_path / f"{name}.toml"
    write(spec, example_spec(name))
    return spec, home


@pytest.mark.root("apply chowns /var/qmail and /var/qmail/alias")
def test_env_names_the_tables_home_never_a_users(tmp_path, example):
    spec, home = example
    root = debian_tree(tmp_path / "root")
    assert cli("apply", "--platform", "linux", "--root", root, "--spec", spec).code == 0
    result = cli("env", "--platform", "linux", "--root", root, "--spec", spec)
    assert result.code == 0, result.err
    assert f"QMAIL_HOME='{home}'" in result.out.splitlines()


def test_the_qmail_conf_export_names_the_tables_home_and_split(tmp_path, example):
    spec, home = example
    out = tmp_path / "conf"
    out.mkdir()
    assert cli("export", "--format", "qmail-conf", "--spec", spec, "--output", out).code == 0
    assert (out / "conf-qmail").read_text().splitlines()[0] == home
    assert (out / "conf-split").read_text().splitlines()[0] == "23"
    sysusers = cli("export", "--format", "sysusers", "--spec", spec)
    assert f"# Directories ({home} and below)" in sysusers.out


def test_check_judges_the_tables_bin_and_queue(tmp_path, example):
    spec, home = example
    root = debian_tree(tmp_path / "root")
    add_qmail_accounts(root, {"qmail": 999, "nofiles": 998}, 999, "/usr/sbin/nologin")
    result = cli("check", "--platform", "linux", "--root", root, "--spec", spec, "--json")
    found = {f["id"]: f for f in json.loads(result.out)["findings"]}
    assert found["fs.nosuid"]["path"] == f"{root}{home}/bin"
    assert found["fs.sync-metadata"]["path"] == f"{root}{home}/queue"
    assert found["queue.owner"]["path"] == f"{root}{home}/queue"


@pytest.mark.root("apply chowns /var/qmail and /var/qmail/alias")
def test_the_split_and_queue_of_the_table_are_checked(tmp_path):
    spec = tmp_path / "spec.toml"
    write(spec, example_spec("install-ids").replace("[qmail]\n", '[qmail]\nqueue = "/var/spool/qmail"\n'))
    root = debian_tree(tmp_path / "root")
    assert cli("apply", "--platform", "linux", "--root", root, "--spec", spec).code == 0
    result = cli("check", "--platform", "linux", "--root", root, "--spec", spec, "--json")
    queue = next(f for f in json.loads(result.out)["findings"] if f["id"] == "queue.owner")
    assert queue["path"] == f"{root}/var/spool/qmail"


def test_the_default_specs_directories_come_from_the_installation():
    exported = json.loads(cli("export", "--format", "json").out)
    assert exported["paths"] == [
        {"path": "/var/qmail", "owner": "root", "group": "qmail", "mode": "0755", "link": None},
        {"path": "/var/qmail/alias", "owner": "alias", "group": "qmail", "mode": "02755", "link": None},
    ]
