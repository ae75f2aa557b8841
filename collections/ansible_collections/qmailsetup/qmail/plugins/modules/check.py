#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: qmailsetup check's findings about the target, as facts.
Reads only; qmailsetup does the looking."""

from __future__ import annotations

DOCUMENTATION = r"""
module: check
short_description: Is the host fit for qmail? qmailsetup check's findings, as facts
description:
  - Runs C(qmailsetup check --json) on the target and sets the fact C(qmailsetup_check) to what it
    finds about the filesystem under /var/qmail (nosuid, noexec, network, synchronous metadata, a
    partition of its own), the prerequisites (daemontools, ucspi-tcp, a resolver) and the accounts.
  - Never writes anything; runs the same in check mode.
  - Findings that are errors do not fail the task unless O(fail_on_error) says so; qmailsetup's own
    failures (bad input, an unreadable account file) always do, with its one-line error.
author: qmailsetup contributors
extends_documentation_fragment:
  - qmailsetup.qmail.common
options:
  fail_on_error:
    description:
      - Fail the task when any finding is an error (the host cannot run qmail as it stands).
    type: bool
    default: false
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
- name: What qmailsetup check finds
  qmailsetup.qmail.check:
    executable: /opt/qmailsetup/bin/qmailsetup

- name: Hosts where qmail cannot work
  ansible.builtin.debug:
    msg: "{{ qmailsetup_check.errors | map(attribute='message') }}"
  when: not qmailsetup_check.fit

- name: Stop on hosts that are not fit for qmail
  qmailsetup.qmail.check:
    fail_on_error: true
"""

RETURN = r"""
cmd:
  description: The qmailsetup command that ran.
  type: list
  elements: str
  returned: always
rc:
  description:
    - qmailsetup check's exit code when the task fails (1 or 2, check could not run; 3 with
      O(fail_on_error), some finding is an error). Not returned otherwise, since Ansible takes any
      C(rc) other than 0 as a failure.
  type: int
  returned: on failure
ansible_facts:
  description: Facts set on the host.
  type: complex
  returned: when check ran
  contains:
    qmailsetup_check:
      description: What qmailsetup check found.
      type: complex
      contains:
        fit:
          description: True when no finding is an error.
          type: bool
        findings:
          description: Every finding, each with C(id), C(severity) (error, warning or ok), C(path),
            C(message) and C(remedy), as C(qmailsetup check --json) prints them.
          type: list
          elements: dict
          sample: [{id: fs.nosuid, severity: error, path: /var/qmail/bin, message: "...", remedy: "..."}]
        errors:
          description: The findings that are errors.
          type: list
          elements: dict
        warnings:
          description: The findings that are warnings.
          type: list
          elements: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.qmailsetup.qmail.plugins.module_utils.qmailsetup import (
    COMMON_OPTIONS,
    MUTUALLY_EXCLUSIVE,
    command,
    error_message,
    run_json,
)

ARGUMENT_SPEC = {**COMMON_OPTIONS, "fail_on_error": {"type": "bool", "default": False}}
EXIT_FINDS_ERRORS = 3  # qmailsetup check: some finding is an error


def facts(findings: list[dict]) -> dict:
    def of(severity: str) -> list[dict]:
        return [f for f in findings if f.get("severity") == severity]

    return {"fit": not of("error"), "findings": findings, "errors": of("error"), "warnings": of("warning")}


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, mutually_exclusive=MUTUALLY_EXCLUSIVE, supports_check_mode=True)
    argv = command(module, "check")
    rc, data, err = run_json(module, argv)
    result = {"cmd": argv, "changed": False}
    if rc not in (0, EXIT_FINDS_ERRORS) or data is None:
        module.fail_json(msg=error_message(rc, err) if rc else "qmailsetup check printed no JSON", rc=rc, stderr=err, **result)
    found = facts(data.get("findings", []))
    result["ansible_facts"] = {"qmailsetup_check": found}
    if module.params["fail_on_error"] and not found["fit"]:
        lines = [f"{f['id']}: {f.get('path') or ''}: {f['message']}" for f in found["errors"]]
        module.fail_json(msg="qmailsetup check finds errors: " + "; ".join(lines), rc=rc, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
