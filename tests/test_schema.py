"""`qmailsetup schema spec|json`: made from the models, shipped as files
held to them, accepting every example spec and every JSON the tool prints,
and rejecting what the tool rejects wherever a JSON Schema can say it."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from pydantic import ValidationError

from conftest import cli
from qmailsetup.platforms import NON_LOGIN_SHELLS
from qmailsetup.schema import KINDS, json_schema, schema_text, shipped, spec_schema
from qmailsetup.spec import Spec
from scenarios import build
from trees import EXAMPLES, debian_tree

DEFAULT_SPEC = Path(__file__).parent.parent / "src" / "qmailsetup" / "default.toml"
SPEC_VALIDATOR = jsonschema.Draft202012Validator(spec_schema())


@pytest.mark.parametrize("kind", KINDS)
def test_the_shipped_copies_are_what_the_models_make(kind):
    assert shipped(kind).read_text() == schema_text(kind), "rerun: qmailsetup schema KIND > src/qmailsetup/schemas/KIND.schema.json"


@pytest.mark.parametrize("kind", KINDS)
def test_the_command_prints_the_schema(kind):
    result = cli("schema", kind)
    assert (result.code, result.err) == (0, "")
    assert json.loads(result.out) == json.loads(schema_text(kind))
    jsonschema.Draft202012Validator.check_schema(json.loads(result.out))


@pytest.mark.parametrize("path", [DEFAULT_SPEC, *sorted(EXAMPLES.glob("*.toml"))], ids=lambda p: p.name)
def test_every_example_spec_is_valid(path):
    SPEC_VALIDATOR.validate(tomllib.loads(path.read_text()))


def printed(*args) -> dict:
    result = cli(*args, "--json")
    assert result.out, result.err
    return json.loads(result.out)


@pytest.mark.root("apply chowns /var/qmail and /var/qmail/alias")
def test_the_json_of_each_command_and_outcome_is_valid(tmp_path):
    """The main outcomes, each validated by the schema (conftest.cli does it
    for every --json run of the tests; here, on purpose)."""
    validator = jsonschema.Draft202012Validator(json_schema())
    root = debian_tree(tmp_path / "root")
    args = ("--root", root, "--platform", "linux", "--backend", "files")
    outputs = [
        printed("apply", "--dry-run", *args),
        printed("apply", *args),
        printed("apply", *args),  # in sync
        printed("check", "--root", root),
    ]
    assert outputs[1]["applied"] and outputs[2]["in_sync"] and outputs[3]["findings"]
    refused = tmp_path / "refused"
    build("install_ids_as_shipped", refused)
    outputs.append(printed("apply", "--dry-run", "--root", refused, "--spec", EXAMPLES / "freebsd-ports.toml"))
    assert outputs[-1]["refused"]
    for output in outputs:
        validator.validate(output)


def test_the_json_schema_rejects_what_the_tool_never_prints():
    validator = jsonschema.Draft202012Validator(json_schema())
    assert not validator.is_valid({"findings": [{"id": "fs.bogus", "severity": "error", "path": None, "message": ""}]})
    assert not validator.is_valid({"findings": [], "extra": 1})


# -- the spec schema against the spec's own validation, on generated specs --

NAMES = st.one_of(st.sampled_from(["qmail", "alias", "_q", "q-1", "a" * 32]),
                  st.text(alphabet="abZ_-0.:\n é", min_size=0, max_size=34))
IDS = st.one_of(st.sampled_from([0, 1, 65535, 65534, 2**31 - 1, 2**31, -1]), st.integers(-5, 2**32))
MODES = st.one_of(st.sampled_from(["0755", "02755", "755", "0888", "7", "07555", "1777", "0755\n"]),
                  st.text(alphabet="0137x \n", max_size=6), st.integers(0, 800))
COMPONENTS = st.sampled_from(["var", "qmail", ".", "..", "", ".q", "..q", "a:b", "é", "x\n", "t\tb", "\u00a0"])
PATHS = st.builds(lambda absolute, parts: ("/" if absolute else "") + "/".join(parts),
                  st.booleans(), st.lists(COMPONENTS, max_size=4))
SHELLS = st.sampled_from([*sorted(NON_LOGIN_SHELLS), "/bin/sh", "bin/true", "/bin/true\n", ""])
TEXTS = st.text(alphabet="az :\t\x1bé\u2028\u00a0\x85", max_size=6)


def optional(**fields):
    """A table with each of FIELDS present or not."""
    return st.fixed_dictionaries({}, optional=fields)


GROUPS = st.builds(lambda must, more: {**must, **more}, st.fixed_dictionaries({"name": NAMES}),
                   optional(gid=IDS, role=st.sampled_from(["qmail", "nofiles", "queue"])))
USERS = st.builds(lambda must, more: {**must, **more},
                  st.fixed_dictionaries({"name": NAMES, "group": NAMES, "home": PATHS}),
                  optional(uid=IDS, shell=SHELLS, comment=TEXTS, **{"class": TEXTS},
                           role=st.sampled_from(["alias", "send", "root"]), groups=st.lists(NAMES, max_size=2),
                           homme=st.just("/var/qmail")))
PATH_TABLES = st.builds(lambda must, more: {**must, **more},
                        st.fixed_dictionaries({"path": PATHS, "owner": NAMES, "group": NAMES, "mode": MODES}),
                        optional(link=PATHS))
QMAIL = optional(home=PATHS, queue=PATHS, split=st.integers(-1, 1002),
                 installation=st.sampled_from(["notqmail-1.09", "netqmail-1.06", "bogus"]))
SPECS = optional(groups=st.lists(GROUPS, max_size=2), users=st.lists(USERS, max_size=2),
                 paths=st.lists(PATH_TABLES, max_size=2), qmail=QMAIL)


def within_one_field(data: dict) -> bool:
    """No rule across fields is broken (those a JSON Schema cannot say: the
    schema's description lists them): what is left is each field's own."""
    def unique(values):
        return len(values) == len(set(values))

    groups, users, paths = data.get("groups", []), data.get("users", []), data.get("paths", [])
    places = [p["path"] for p in paths] + [p["link"] for p in paths if "link" in p]
    links_apart = all(p["link"] != p["path"] and not p["link"].startswith(p["path"] + "/")
                      and not p["path"].startswith(p["link"] + "/") for p in paths if "link" in p)
    qmail = data.get("qmail", {})
    return (unique([g["name"] for g in groups]) and unique([g["gid"] for g in groups if "gid" in g])
            and unique([u["name"] for u in users]) and unique([u["uid"] for u in users if "uid" in u])
            and unique(places) and links_apart
            and all(u["group"] not in u.get("groups", []) for u in users)
            and ("queue" not in qmail or qmail["queue"] != qmail.get("home", "/var/qmail")))


def tool_accepts(data: dict) -> bool:
    try:
        Spec.model_validate(data)
    except ValidationError:
        return False
    return True


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SPECS)
def test_the_spec_schema_accepts_exactly_what_the_tool_accepts(data):
    if not within_one_field(data):
        return
    assert SPEC_VALIDATOR.is_valid(data) == tool_accepts(data), (
        data, [e.message for e in SPEC_VALIDATOR.iter_errors(data)][:3])


@pytest.mark.parametrize("data", [
    {"users": [{"name": "alias", "group": "qmail", "home": "/var/qmail/alias", "shell": "/bin/sh"}]},
    {"groups": [{"name": "qmail", "gid": 65535}]},
    {"paths": [{"path": "/var/qmail/", "owner": "root", "group": "qmail", "mode": "0755"}]},
    {"paths": [{"path": "/var/qmail", "owner": "root", "group": "qmail", "mode": 755}]},
    {"qmail": {"installation": "bogus"}},
    {"users": [{"name": "alias", "group": "qmail", "home": "/var/qmail/alias", "groups": ["a", "a"]}]},
])
def test_the_spec_schema_rejects_what_the_tool_rejects(data):
    assert not tool_accepts(data)
    assert not SPEC_VALIDATOR.is_valid(data)
