#!/usr/bin/python
"""Ansible module: prepare a host for qmail with the qmailsetup command on
the target. A thin wrapper: qmailsetup plans and applies; the module maps
check mode to --dry-run, reads `changed` from the JSON plan and, in diff
mode, shows the plan field by field."""

from __future__ import annotations

import json

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: qmailsetup
short_description: qmail's groups, system accounts and /var/qmail, from a spec
description:
  - Runs C(qmailsetup apply --json) on the target. Creates what the spec says
    is missing; never deletes or renumbers an account; refuses (fails, writing
    nothing) on a conflict.
  - Check mode runs C(--dry-run), which writes nothing at all. Diff mode shows
    each object's fields, current and desired, and the files backend's file diffs.
options:
  spec:
    description: A spec file on the target. Default, the built-in qmail layout.
    type: path
  root:
    description: Work on ROOT/etc and ROOT/var/qmail (an image, a chroot).
    type: path
    default: /
  backend:
    description: How accounts are made.
    type: str
    choices: [auto, useradd, pw, files]
    default: auto
  platform:
    description: A platform profile (linux, freebsd, openbsd, generic, ...), or auto.
    type: str
    default: auto
  fix_drift:
    description: Also change existing accounts whose group, home, shell or comment differ.
    type: bool
    default: false
  executable:
    description: The qmailsetup command on the target. Default, qmailsetup on the PATH.
    type: path
"""

EXAMPLES = r"""
- name: qmail's accounts and /var/qmail
  qmailsetup:
    spec: /etc/qmailsetup/install-ids.toml
  register: qmail_accounts
"""

RETURN = r"""
plan:
  description: qmailsetup's JSON (in_sync, changes, conflicts, warnings, applied).
  type: dict
  returned: when qmailsetup printed it
"""


def shown(fields: dict, side: str) -> str:
    return "".join(f"{key}: {value[side]}\n" for key, value in fields.items() if value[side] is not None)


def plan_diff(plan: dict) -> list[dict]:
    """One before/after pair per object, field by field; the files backend's
    own unified diffs as they are."""
    diffs = [
        {
            "before_header": f"{change['kind']} {change['name']}",
            "after_header": f"{change['kind']} {change['name']} ({change['action']})",
            "before": shown(change["fields"], "current"),
            "after": shown(change["fields"], "desired"),
        }
        for change in plan.get("changes", [])
    ]
    diffs += [{"prepared": f"--- {item['path']}\n{item['diff']}"} for item in plan.get("diffs", [])]
    return diffs


def command(module: AnsibleModule) -> list[str]:
    params = module.params
    executable = params["executable"] or module.get_bin_path("qmailsetup", required=True)
    argv = [executable, "apply", "--json", "--root", params["root"], "--backend", params["backend"],
            "--platform", params["platform"]]
    if params["spec"]:
        argv += ["--spec", params["spec"]]
    if params["fix_drift"]:
        argv.append("--fix-drift")
    if module.check_mode:
        argv.append("--dry-run")
    return argv


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "spec": {"type": "path"},
            "root": {"type": "path", "default": "/"},
            "backend": {"type": "str", "default": "auto", "choices": ["auto", "useradd", "pw", "files"]},
            "platform": {"type": "str", "default": "auto"},
            "fix_drift": {"type": "bool", "default": False},
            "executable": {"type": "path"},
        },
        supports_check_mode=True,
    )
    argv = command(module)
    rc, out, err = module.run_command(argv)
    try:
        plan = json.loads(out) if out.strip() else None
    except ValueError:
        plan = None
    result = {"cmd": argv, "rc": rc, "plan": plan}
    if module._diff and plan:
        result["diff"] = plan_diff(plan)
    if rc != 0:
        # 3: refused (nothing written), 2: bad input, 1: failed part-way
        module.fail_json(msg=err.strip() or f"qmailsetup exited {rc}", stderr=err, **result)
    for warning in plan.get("warnings", []) if plan else []:
        module.warn(warning)
    result["changed"] = bool(plan and plan["changes"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
