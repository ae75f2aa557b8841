#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: apply a qmailsetup spec on the target. A thin wrapper:
qmailsetup plans and applies; the module maps check mode to --dry-run, reads
`changed` from the JSON it prints and, in diff mode, shows the plan field by
field and the files backend's file diffs as qmailsetup prints them."""

from __future__ import annotations

DOCUMENTATION = r"""
module: apply
short_description: qmail's groups, system accounts and /var/qmail, from a qmailsetup spec
description:
  - Runs C(qmailsetup apply --json) on the target. Creates the groups, accounts and directories the
    spec names that are missing; never deletes or renumbers an account; refuses (fails, writing
    nothing) on a conflict.
  - Check mode runs C(qmailsetup apply --dry-run), which writes nothing at all.
  - Diff mode shows each object to create or change field by field (current and desired) and, with
    the files backend, the diff of each account file as qmailsetup prints it.
  - The task fails with qmailsetup's one-line error when it exits 1 (failed part-way; RV(applied) says
    what was done), 2 (bad input), 3 (refused, nothing written) or 5 (the accounts are as the spec
    says, but C(qmailsetup check) finds errors that keep qmail from working; they are in RV(check)).
author: qmailsetup contributors
extends_documentation_fragment:
  - qmailsetup.qmail.common
options:
  backend:
    description:
      - How accounts are made. V(useradd) and V(pw) run the platform's tools; V(files) edits the
        account files itself, under the same locks; V(auto) takes the platform's usual one.
    type: str
    choices: [auto, useradd, pw, files]
    default: auto
  fix_drift:
    description:
      - Also change existing accounts whose group, home, shell or comment differ from the spec, and add the supplementary group memberships they lack.
      - Without it such drift is refused.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Runs C(qmailsetup apply --dry-run).
  diff_mode:
    support: full
    description: The plan field by field, and the files backend's file diffs.
seealso:
  - module: qmailsetup.qmail.check
"""

EXAMPLES = r"""
- name: qmail's accounts and /var/qmail, the built-in layout
  qmailsetup.qmail.apply:
  become: true

- name: The IDs of qmail's INSTALL.ids, from a spec kept with the playbook
  qmailsetup.qmail.apply:
    spec_content: "{{ lookup('ansible.builtin.file', 'install-ids.toml') }}"
    executable: /opt/qmailsetup/bin/qmailsetup
  register: qmail_accounts

- name: An image under /mnt/image, with the files backend, fixing drifted accounts
  qmailsetup.qmail.apply:
    root: /mnt/image
    platform: linux
    backend: files
    fix_drift: true
"""

RETURN = r"""
cmd:
  description: The qmailsetup command that ran.
  type: list
  elements: str
  returned: always
  sample: [/opt/qmailsetup/bin/qmailsetup, apply, --json, --root, /, --platform, auto, --backend, auto]
rc:
  description: Its exit code (0 ok, 1 failed, 2 bad input, 3 refused, 5 check finds errors).
  type: int
  returned: always
plan:
  description:
    - The JSON document qmailsetup printed (see qmailsetup(8), JSON OUTPUT), with C(in_sync), C(changes)
      (field by field, with the commands), C(conflicts), C(warnings), C(unchanged), C(diffs),
      C(root), C(platform), C(backend), C(dry_run), and after a real run C(applied) and C(check).
  type: dict
  returned: when qmailsetup printed it (not on bad input)
applied:
  description: What a real run did, one C(kind name) a change, in order.
  type: list
  elements: str
  returned: when not in check mode and qmailsetup printed its plan
  sample: [group qmail, group nofiles, user alias]
check:
  description:
    - The errors of C(qmailsetup check) about what apply set up (each with C(id), C(severity),
      C(path), C(message), C(remedy)). With them the run exits 5 and the task fails.
  type: list
  elements: dict
  returned: when qmailsetup printed its plan
stderr:
  description: qmailsetup's standard error.
  type: str
  returned: on failure
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.qmailsetup.qmail.plugins.module_utils.qmailsetup import (
    COMMON_OPTIONS,
    MUTUALLY_EXCLUSIVE,
    command,
    error_message,
    run_json,
)

ARGUMENT_SPEC = {
    **COMMON_OPTIONS,
    "backend": {"type": "str", "default": "auto", "choices": ["auto", "useradd", "pw", "files"]},
    "fix_drift": {"type": "bool", "default": False},
}


def shown(fields: dict, side: str) -> str:
    return "".join(f"{key}: {value[side]}\n" for key, value in fields.items() if value[side] is not None)


def plan_diff(plan: dict) -> list[dict]:
    """One before/after pair per object, field by field; then the files
    backend's diffs exactly as qmailsetup printed them (it decides what an
    account file's diff may show)."""
    diffs = [
        {
            "before_header": f"{change['kind']} {change['name']}",
            "after_header": f"{change['kind']} {change['name']} ({change['action']})",
            "before": shown(change["fields"], "current"),
            "after": shown(change["fields"], "desired"),
        }
        for change in plan.get("changes", [])
    ]
    diffs += [{"prepared": item["diff"]} for item in plan.get("diffs", [])]
    return diffs


def changed(plan: dict | None, dry_run: bool) -> bool:
    """Something was (or, in check mode, would be) changed: never on a
    refusal, and after a real run only what qmailsetup says it applied."""
    if not plan or plan.get("refused"):
        return False
    return bool(plan.get("changes")) if dry_run else bool(plan.get("applied"))


def apply_command(module: AnsibleModule) -> list[str]:
    argv = command(module, "apply") + ["--backend", module.params["backend"]]
    if module.params["fix_drift"]:
        argv.append("--fix-drift")
    if module.check_mode:
        argv.append("--dry-run")
    return argv


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, mutually_exclusive=MUTUALLY_EXCLUSIVE, supports_check_mode=True)
    argv = apply_command(module)
    rc, plan, err = run_json(module, argv)
    result = {"cmd": argv, "rc": rc, "plan": plan, "changed": changed(plan, module.check_mode)}
    if plan:
        result["check"] = plan.get("check", [])
        if not module.check_mode:
            result["applied"] = plan.get("applied", [])
        if module._diff:
            result["diff"] = plan_diff(plan)
    if rc != 0:
        module.fail_json(msg=error_message(rc, err), stderr=err, **result)
    if plan is None:
        module.fail_json(msg="qmailsetup printed no JSON plan", stderr=err, **result)
    for warning in plan.get("warnings", []):
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
