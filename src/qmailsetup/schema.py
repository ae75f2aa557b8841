"""`qmailsetup schema spec|json`: JSON Schemas made from the models, never
written by hand: of the spec as TOML parses it (spec.py), and of what
--json prints (outputs.py). Copies are shipped in schemas/ beside this file,
for editors that point at a file (a TOML file's `#:schema` line); a test
holds them to what this module makes."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import TypeAdapter

from qmailsetup.outputs import Output
from qmailsetup.spec import Spec

DRAFT = "https://json-schema.org/draft/2020-12/schema"
KINDS = ("spec", "json")


def spec_schema() -> dict:
    schema = Spec.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": DRAFT,
        "title": "qmailsetup spec",
        "description": "A qmailsetup spec file (TOML), as it parses. The rules across fields (a name, an ID or a "
                       "path given twice, a user's primary group among its groups, where a link leads, a queue "
                       "that is its home) and the length of a path's components are the tool's to check.",
        **schema,
    }


def json_schema() -> dict:
    schema = TypeAdapter(Output).json_schema(mode="validation")
    return {
        "$schema": DRAFT,
        "title": "qmailsetup --json output",
        "description": "What `qmailsetup apply --json`, `qmailsetup check --json` and the queue commands' "
                       "--json print.",
        **schema,
    }


def schema_text(kind: str) -> str:
    schema = spec_schema() if kind == "spec" else json_schema()
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def shipped(kind: str) -> Path:
    """The copy of the schema KIND in the package (schemas/)."""
    return Path(__file__).with_name("schemas") / f"{kind}.schema.json"
