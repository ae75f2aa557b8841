"""qmailsetup(8) and qmailsetup.toml(5) hold the reference, and the code
holds them: every command and option, each command's exit codes, the
finding ids, the spec's fields with their kinds and defaults, the shipped
specs, the keys of --json. Each page is what man/generate.py writes, and
renders without a warning."""

from __future__ import annotations

import json
import re
import runpy
import shutil
import subprocess
from pathlib import Path

import pytest
import typer

from conftest import cli, require_tools
from qmailsetup.check import FINDING_IDS, Finding
from qmailsetup.cli import SchemaKind, app
from qmailsetup.errors import COMMAND_EXITS
from qmailsetup.spec import Group, PathSpec, QmailTable, User
from qmailsetup.specs import names as spec_names
from trees import debian_tree

CHECKOUT = Path(__file__).resolve().parents[1]
MAN = CHECKOUT / "man"


def generator() -> dict:
    return runpy.run_path(str(MAN / "generate.py"))


def page(name: str) -> str:
    """A page's roff with its option dashes plain."""
    return (MAN / name).read_text().replace("\\-", "-")


def section(text: str, title: str) -> str:
    return text.split(f"\n.SH {title}\n", 1)[1].split("\n.SH ", 1)[0]


def command_line() -> dict[str, list[str]]:
    """{command: its options}; "" for the options before the command."""
    group = typer.main.get_command(app)
    options = {"": [o for p in group.params for o in p.opts]}
    for name, command in group.commands.items():
        options[name] = [o for p in command.params if p.param_type_name == "option" for o in p.opts]
    return options


@pytest.mark.parametrize("name", ["qmailsetup.8", "qmailsetup.toml.5"])
def test_each_page_is_what_generate_writes(name):
    assert (MAN / name).read_text() == generator()["pages"]()[name], "run: .venv/bin/python man/generate.py"


def test_every_command_and_option_is_in_qmailsetup_8():
    text = page("qmailsetup.8")
    commands = ("\n" + section(text, "COMMANDS")).split("\n.SS ")
    for command, options in command_line().items():
        if command:
            [where] = [s for s in commands if s.startswith(f"{command}\n")]
            assert re.search(rf"^\\fB{command}\\fR ", section(text, "SYNOPSIS"), re.MULTILINE), command
        else:
            where = section(text, "OPTIONS")
        for option in options:
            assert f"\\fB{option}\\fR" in where, f"{command} {option} not in the man page"


def test_the_synopsis_sets_in_bold_only_what_is_typed_as_it_stands():
    """Commands, options and the values of an argument (schema's spec or
    json); never an argument's name ("schema kind spec|json")."""
    values = [kind.value for kind in SchemaKind]
    typed = {*command_line(), *(option for options in command_line().values() for option in options), *values, "--help"} - {""}
    assert set(re.findall(r"\\fB(.+?)\\fR", section(page("qmailsetup.8"), "SYNOPSIS"))) == typed


def test_each_command_s_exit_codes_are_errors_py_s():
    text = page("qmailsetup.8")
    status = section(text, "EXIT STATUS").split(".SS ")[1:]
    assert [part.split("\n", 1)[0] for part in status] == list(command_line())[1:] == list(COMMAND_EXITS)
    for part, table in zip(status, COMMAND_EXITS.values(), strict=True):
        codes = re.findall(r"^\.TP\n\\fB(\d)\\fR\n(.*)$", part, re.MULTILINE)
        assert [(int(code), meaning) for code, meaning in codes] == [(code, m.replace("\\-", "-")) for code, m in table]


def test_every_finding_id_is_listed_and_no_other_can_be_made():
    listed = re.findall(r"^\.TP\n\\fB([a-z.-]+)\\fR$", section(page("qmailsetup.8"), "FINDINGS"), re.MULTILINE)
    assert listed == list(FINDING_IDS)
    with pytest.raises(ValueError, match=r"unknown finding id 'fs\.nosync'"):
        Finding("fs.nosync", "error", None, "a typo of a check")


@pytest.mark.parametrize(("title", "model"), [("GROUPS", Group), ("USERS", User), ("PATHS", PathSpec),
                                              ("QMAIL", QmailTable)])
def test_every_spec_field_is_in_qmailsetup_toml_5_as_the_model_has_it(title, model):
    fields = re.findall(r"^\.TP\n\\fB([a-z]+)\\fR \(([^;]+); ([^)]+)\)$", section(page("qmailsetup.toml.5"), title),
                        re.MULTILINE)
    assert [name for name, _, _ in fields] == [info.alias or name for name, info in model.model_fields.items()]
    for (name, kind, need), info in zip(fields, model.model_fields.values(), strict=True):
        if info.is_required():
            assert need == "required", name
        else:
            assert need == ("optional" if info.default is None else f"default {info.default}"), name
        if name == "role":
            assert kind.startswith("one of "), kind


def test_generate_refuses_a_field_without_its_text_and_a_spec_not_described(monkeypatch):
    """A new spec field or shipped spec stops generate.py until the page
    says what it is."""
    namespace = generator()
    del namespace["FIELD_TEXT"]["users.comment"]
    with pytest.raises(SystemExit, match=r"users\.comment"):
        namespace["fields"]("users")
    del namespace["SHIPPED_SPECS"]["gentoo"]
    with pytest.raises(SystemExit, match="gentoo"):
        namespace["shipped_specs"]()


def test_the_shipped_specs_are_each_described():
    described = re.findall(r"^\.TP\n\\fB([a-z-]+)\\fR$", section(page("qmailsetup.8"), "THE SPEC"), re.MULTILINE)
    assert sorted(described) == spec_names()


def test_the_json_example_has_the_keys_apply_prints(tmp_path):
    """The keys of the example in JSON OUTPUT are those of a real dry run's
    document (the after-run keys, applied and error, named below it)."""
    text = section(page("qmailsetup.8"), "JSON OUTPUT")
    example = text.split(".nf\n", 1)[1].split("\n.fi", 1)[0].replace("\\e", "\\")
    root = debian_tree(tmp_path / "root")
    result = cli("apply", "--dry-run", "--json", "--root", root, "--platform", "linux")
    printed = json.loads(result.out)
    shown = json.loads(example)
    assert set(shown) == set(printed)
    assert set(shown["changes"][0]) == set(printed["changes"][0])
    for key in ("applied", "error", "check"):
        assert f"\\fB{key}\\fR" in text


def test_drift_is_said_plainly():
    """Drift refuses the whole run, a dry run too (exit 3: an Ansible check
    run fails), and there are two ways on."""
    drift = " ".join(section(page("qmailsetup.8"), "DRIFT").split())
    assert "refuses the whole run" in drift and "the exit status is 3" in drift and "dry run" in drift
    assert "Ansible play in check mode therefore fails" in drift
    assert "\\fB--fix-drift\\fR" in drift and "a spec that accepts what the host has" in drift


def test_the_pages_have_the_sections_of_a_man_page():
    sections = {name: re.findall(r"^\.SH (.+)$", (MAN / name).read_text(), re.MULTILINE)
                for name in ("qmailsetup.8", "qmailsetup.toml.5")}
    assert sections["qmailsetup.8"] == ["NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "OPTIONS", "THE SPEC",
                                        "DRIFT", "THE SAME IDS EVERYWHERE", "PLATFORMS", "FINDINGS", "SAVED PLANS", "SCHEMAS", "SAFETY",
                                        "JSON OUTPUT", "EXIT STATUS", "ENVIRONMENT", "FILES", "EXAMPLES", "SEE ALSO"]
    assert sections["qmailsetup.toml.5"] == ["NAME", "SYNOPSIS", "DESCRIPTION", "GROUPS", "USERS", "PATHS",
                                             "QMAIL", "ROLES", "VALUES", "FILES", "EXAMPLES", "SEE ALSO"]
    for variable in ("QMAILSETUP_LOCK_TIMEOUT", "SOURCE_DATE_EPOCH"):
        assert f".TP\n.B {variable}\n" in (MAN / "qmailsetup.8").read_text()


@pytest.mark.parametrize("name", ["qmailsetup.8", "qmailsetup.toml.5"])
@pytest.mark.parametrize("renderer", ["groff", "man"])
def test_the_pages_render_without_warnings(renderer, name):
    path = MAN / name
    if renderer == "groff":
        require_tools("groff")
        argv = ["groff", "-man", "-Tutf8", "-ww", "-z", str(path)]
    else:
        require_tools("man")
        argv = ["man", "--warnings", "-l", str(path)]
    result = subprocess.run(argv, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "MANWIDTH": "80"})
    assert (result.returncode, result.stderr) == (0, "")
    if renderer == "man":
        assert "qmailsetup" in result.stdout.split("\n\n", 2)[1]  # NAME
        assert not shutil.which("col") or "\\-" not in result.stdout  # no escape shown as is
        assert "@" not in result.stdout.replace("user@", "")  # every placeholder filled
