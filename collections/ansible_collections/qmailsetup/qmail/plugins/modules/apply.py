#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: apply a qmailsetup spec on the target. A thin wrapper:
qmailsetup plans and applies; the module maps check mode to --dry-run, reads
`changed` from the JSON it prints and, in diff mode, shows the plan field by
field and the files backend's file diffs as qmailsetup prints them. A plan
saved by a dry run (plan_out) is applied as it is (plan): qmailsetup checks
it against the host and refuses it when the host moved."""

from __future__ import annotations

DOCUMENTATION = r"""
module: apply
short_description: qmail's groups, system accounts and /var/qmail, from a qmailsetup spec
description:
  - Runs C(qmailsetup apply --json) on the target. Creates the groups, accounts and directories the
    spec names that are missing; never deletes or renumbers an account; refuses (fails, writing
    nothing) on a conflict.
  - Check mode runs C(qmailsetup apply --dry-run), which writes nothing at all (except, with
    O(plan_out), the plan file).
  - To review a change before it is made, save each host's plan in check mode (O(plan_out)), fetch
    the plans to the controller (M(ansible.builtin.fetch)), review them, copy the approved ones back
    (M(ansible.builtin.copy)) if they left the hosts, and apply exactly them (O(plan)). A plan
    names every change with its IDs; qmailsetup applies it only if nothing it rests on has moved
    (see qmailsetup(8), SAVED PLANS).
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
  plan_out:
    description:
      - In check mode, save the plan in this file on the target (C(qmailsetup apply --dry-run --plan-out);
        mode 0600, written whole or not at all), to be reviewed and applied with O(plan).
      - Only in check mode; in a normal run the task fails, running nothing.
    type: path
  plan:
    description:
      - Apply exactly the plan saved in this file on the target by O(plan_out) (C(qmailsetup apply --plan)),
        nothing else, with the spec it holds.
      - The task fails with qmailsetup's one-line error, nothing written, when anything the plan rests on
        moved since it was made (an account file edited, a planned ID taken meanwhile, a changed login.defs,
        a directory made or changed; exit 3), or when the file is damaged, edited, of another version,
        writable by others than its owner, or for another O(root), O(platform) or O(backend) (exit 2).
      - A plan whose changes are all made already is in sync (not changed).
      - The plan holds its spec and its changes; not with O(spec), O(spec_content), O(plan_out), nor O(fix_drift).
      - In check mode the task is skipped, since qmailsetup has no dry run of a saved plan.
    type: path
attributes:
  check_mode:
    support: partial
    description:
      - Runs C(qmailsetup apply --dry-run), which with O(plan_out) saves the plan.
      - Skipped with O(plan) (qmailsetup has no dry run of a saved plan).
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

# Review, then apply exactly what was approved: ansible-playbook --check saves
# each host's plan; a normal run applies it.
- name: Save the plan (check mode)
  qmailsetup.qmail.apply:
    plan_out: /root/qmailsetup.plan
  when: ansible_check_mode

- name: The plan to the controller, for review
  ansible.builtin.fetch:
    src: /root/qmailsetup.plan
    dest: "plans/{{ inventory_hostname }}.plan"
    flat: true
  check_mode: false  # fetch skips itself in check mode
  when: ansible_check_mode

- name: The approved plan back on the host (unchanged if it never left)
  ansible.builtin.copy:
    src: "plans/{{ inventory_hostname }}.plan"
    dest: /root/qmailsetup.plan
    mode: "0600"
  when: not ansible_check_mode

- name: Exactly the approved plan, or fail if the host moved since
  qmailsetup.qmail.apply:
    plan: /root/qmailsetup.plan
  when: not ansible_check_mode
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
  description: What a real run did, a change each (C(kind), C(name), C(action), and a created account's C(uid) or C(gid)), in order.
  type: list
  elements: dict
  returned: when not in check mode and qmailsetup printed its plan
  sample: [{kind: group, name: qmail, action: create, gid: 999}, {kind: user, name: alias, action: create, uid: 999}]
planned:
  description:
    - The plan in short, a change each as RV(applied) has them (C(kind), C(name), C(action), and the C(uid) or
      C(gid) planned for an account to create), in order. After a real run with no failure, RV(applied)
      is the same.
  type: list
  elements: dict
  returned: when qmailsetup printed its plan
  sample: [{kind: group, name: qmail, action: create, gid: 999}, {kind: user, name: alias, action: create, uid: 999}]
plan_out:
  description: The file on the target the plan was saved in.
  type: path
  returned: when a plan was saved (check mode with O(plan_out))
  sample: /root/qmailsetup.plan
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
    "plan_out": {"type": "path"},
    "plan": {"type": "path"},
}
# the plan holds its spec and its changes (fix_drift with a plan: qmailsetup refuses it)
PLAN_EXCLUSIVE = [["plan", "spec"], ["plan", "spec_content"], ["plan", "plan_out"]]
ID_OF = {"user": "uid", "group": "gid"}


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


def planned(plan: dict) -> list[dict]:
    """Each change as `applied` lists what was done: a created account
    with the ID planned for it."""
    summary = []
    for change in plan.get("changes", []):
        entry = {key: change[key] for key in ("kind", "name", "action")}
        column = ID_OF.get(change["kind"], "")
        if column in change["fields"] and change["action"] == "create":
            entry[column] = change["fields"][column]["desired"]
        summary.append(entry)
    return summary


def apply_command(module: AnsibleModule) -> list[str]:
    params = module.params
    argv = command(module, "apply") + ["--backend", params["backend"]]
    if params["fix_drift"]:
        argv.append("--fix-drift")
    if params["plan"]:
        argv += ["--plan", params["plan"]]
    elif module.check_mode:
        argv.append("--dry-run")
    if params["plan_out"]:
        argv += ["--plan-out", params["plan_out"]]
    return argv


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, mutually_exclusive=MUTUALLY_EXCLUSIVE + PLAN_EXCLUSIVE,
                           supports_check_mode=True)
    if module.params["plan"] and module.check_mode:
        module.exit_json(changed=False, skipped=True,
                         msg="skipped in check mode: qmailsetup has no dry run of a saved plan; "
                             "a normal run checks it against the host and applies it")
    if module.params["plan_out"] and not module.check_mode:
        module.fail_json(msg="plan_out: only in check mode (ansible-playbook --check); "
                             "a normal run applies a saved plan with plan", changed=False)
    argv = apply_command(module)
    rc, plan, err = run_json(module, argv)
    result = {"cmd": argv, "rc": rc, "plan": plan, "changed": changed(plan, module.check_mode)}
    if plan:
        result["check"] = plan.get("check", [])
        result["planned"] = planned(plan)
        if plan.get("plan_out"):
            result["plan_out"] = plan["plan_out"]
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
