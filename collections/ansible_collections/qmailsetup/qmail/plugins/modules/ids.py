#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: the target's qmail IDs by role, as facts, from
`qmailsetup env`, so a play can compare them across a fleet. Reads only."""

from __future__ import annotations

DOCUMENTATION = r"""
module: ids
short_description: The target's qmail IDs, by role, as facts
description:
  - Runs C(qmailsetup env) on the target and sets the fact C(qmailsetup_ids) to the UID of each qmail
    user and the GID of each group, by qmail role (C(alias), C(qmaild), ..., C(qmails); C(qmail),
    C(nofiles)), as the target's account files have them.
  - A fleet whose hosts share a queue, a backup or a qmail build needs the same IDs on every host;
    the role C(qmailsetup.qmail.qmailsetup) compares them (its variable C(qmailsetup_same_ids)).
  - Accounts that are not there yet (before the first apply, or in check mode) do not fail the task;
    C(qmailsetup_ids.missing) says which.
  - Never writes anything; runs the same in check mode.
author: qmailsetup contributors
extends_documentation_fragment:
  - qmailsetup.qmail.common
attributes:
  check_mode:
    support: full
    description: Reads only; the same as a normal run.
  diff_mode:
    support: none
  facts:
    support: full
seealso:
  - module: qmailsetup.qmail.apply
"""

EXAMPLES = r"""
- name: qmail's IDs on each host
  qmailsetup.qmail.ids:
    executable: /opt/qmailsetup/bin/qmailsetup

- name: Hosts whose qmail IDs are not those of the first
  ansible.builtin.debug:
    msg: "{{ qmailsetup_ids.line }}"
  when: qmailsetup_ids.line != hostvars[ansible_play_hosts[0]].qmailsetup_ids.line
"""

RETURN = r"""
cmd:
  description: The qmailsetup command that ran.
  type: list
  elements: str
  returned: always
ansible_facts:
  description: Facts set on the host.
  type: complex
  returned: when qmailsetup env ran
  contains:
    qmailsetup_ids:
      description: The host's qmail IDs.
      type: complex
      contains:
        users:
          description: Each user's UID, by qmail role (an account that plays none, by its name).
          type: dict
          sample: {alias: 999, qmaild: 998, qmaill: 997, qmailp: 996, qmailq: 995, qmailr: 994, qmails: 993}
        groups:
          description: Each group's GID, by qmail role.
          type: dict
          sample: {qmail: 999, nofiles: 998}
        line:
          description: The same in one line, users then groups, to compare and to show.
          type: str
          sample: "alias 999, qmaild 998, qmaill 997, qmailp 996, qmailq 995, qmailr 994, qmails 993, group qmail 999, group nofiles 998"
        missing:
          description: qmailsetup's words for the accounts that are not there yet; empty when all are.
          type: str
"""

import re

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.qmailsetup.qmail.plugins.module_utils.qmailsetup import (
    COMMON_OPTIONS,
    MUTUALLY_EXCLUSIVE,
    command,
    error_message,
)

ARGUMENT_SPEC = dict(COMMON_OPTIONS)
EXIT_NOT_THERE_YET = 3  # qmailsetup env: accounts missing, run apply first
ASSIGNMENT = re.compile(r"^QMAIL_(UID|GID)_([A-Z0-9_]+)='([0-9]+)'$")


def parse_env(text: str) -> dict:
    """{users, groups, line} from `qmailsetup env`'s assignments."""
    found = {"UID": {}, "GID": {}}
    for line in text.splitlines():
        match = ASSIGNMENT.match(line)
        if match:
            kind, name, number = match.groups()
            found[kind][name.lower()] = int(number)
    users, groups = found["UID"], found["GID"]
    shown = [f"{name} {number}" for name, number in users.items()]
    shown += [f"group {name} {number}" for name, number in groups.items()]
    return {"users": users, "groups": groups, "line": ", ".join(shown), "missing": ""}


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, mutually_exclusive=MUTUALLY_EXCLUSIVE, supports_check_mode=True)
    argv = command(module, "env", as_json=False)
    rc, out, err = module.run_command(argv)
    result = {"cmd": argv, "changed": False}
    if rc == EXIT_NOT_THERE_YET:
        ids = {"users": {}, "groups": {}, "line": "", "missing": err.strip()}
    elif rc != 0:
        module.fail_json(msg=error_message(rc, err), rc=rc, stderr=err, **result)
    else:
        ids = parse_env(out)
    module.exit_json(ansible_facts={"qmailsetup_ids": ids}, **result)


if __name__ == "__main__":
    main()
