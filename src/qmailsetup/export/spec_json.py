"""The json format: the spec as loaded, defaults filled in."""

from __future__ import annotations

import json

from qmailsetup.export import Output, default_shell
from qmailsetup.layout import spec_roles
from qmailsetup.plan import format_mode
from qmailsetup.platforms import Profile
from qmailsetup.spec import Spec


def spec_json(spec: Spec, profile: Profile, source: str) -> list[Output]:
    """The validated spec with the platform's defaults filled in (shells,
    and the qmail role each account plays); it loads back as a spec (JSON
    is TOML's data model)."""
    data = spec.model_dump(mode="json", by_alias=True)
    user_roles, group_roles = spec_roles(spec)
    for group in data["groups"]:
        group["role"] = group_roles.get(group["name"])
    for user in data["users"]:
        user["shell"] = user["shell"] or default_shell(profile)
        user["role"] = user_roles.get(user["name"])
    for path in data["paths"]:
        path["mode"] = format_mode(int(path["mode"], 8))
    return [Output("qmail-spec.json", json.dumps(data, indent=2) + "\n")]
