"""`export --format toml`: the spec with every ID pinned as the host (or
the tree under --root) has it, to commit and apply elsewhere.

The one export that reads the host: each group's and user's ID comes from
the account files under the root (observe.py), the rest of the spec is
written as given. Applied on another host it makes the accounts with the
same numbers, or refuses (exit 3, nothing written) naming the account
that holds one of them there. Missing accounts, or fixed IDs the host does
not have, are refused as `env` refuses them (exit 3): a pinned spec with
half the numbers would pin nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

from qmailsetup.commands.env import require_accounts
from qmailsetup.export import Output
from qmailsetup.observe import observe
from qmailsetup.platforms import Profile
from qmailsetup.spec import Spec

SECTIONS = ("groups", "users", "paths")


def toml_value(value) -> str:
    """A string, integer or list of strings in TOML: JSON's quoting of a
    string (\\", \\\\, \\uXXXX) is TOML's basic string."""
    return json.dumps(value, ensure_ascii=False)


def table_lines(header: str, table: dict) -> list[str]:
    lines = [header]
    lines += [f"{key} = {toml_value(value)}" for key, value in table.items() if value is not None and value != []]
    return lines


def spec_text(data: dict) -> str:
    """DATA (a spec as Spec.model_dump gives it, by alias) as TOML."""
    lines = []
    for section in SECTIONS:
        for entry in data[section]:
            lines += ["", *table_lines(f"[[{section}]]", entry)]
    lines += ["", *table_lines("[qmail]", data["qmail"])]
    return "\n".join(lines) + "\n"


def pinned(entry: dict, key: str, records) -> dict:
    """ENTRY with KEY, its ID, as the host has it, just after its name,
    where a reader looks for it."""
    number = records[entry["name"]].own_id
    return {"name": entry["name"], key: number, **{k: v for k, v in entry.items() if k not in ("name", key)}}


def pinned_spec(spec: Spec, profile: Profile, source: str, root: Path) -> list[Output]:
    host = observe(spec, root, profile)
    require_accounts(spec, host)
    data = spec.model_dump(mode="json", by_alias=True)
    data["groups"] = [pinned(group, "gid", host.groups) for group in data["groups"]]
    data["users"] = [pinned(user, "uid", host.users) for user in data["users"]]
    # a TOML comment holds no control character
    shown = "".join(c if c.isprintable() else "?" for c in source)
    header = (
        f"# qmailsetup export --format toml: {shown}, with every ID as the host it was exported from has it.\n"
        "# Applied elsewhere (qmailsetup apply --spec FILE) it gives the same IDs, or is refused.\n"
    )
    return [Output("qmail-spec.toml", header + spec_text(data))]
