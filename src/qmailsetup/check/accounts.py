"""The qmail accounts and directories, read as the planner reads them.

observe() reads the account files and plan.make_plan() says what apply
would do; this module only turns that into findings. No qmail account may
have a login shell or a usable password (docs/qmail.md, "Accounts"): INSTALL.ids
as shipped on Linux gives all seven /bin/sh.
"""

from __future__ import annotations

import stat

from qmailsetup.check import Finding
from qmailsetup.observe import HostState, Parent, shown
from qmailsetup.plan import Conflict, Plan
from qmailsetup.plan.warnings import RUN_AS_ROOT
from qmailsetup.platforms import is_login_shell
from qmailsetup.spec import Spec
from qmailsetup.userdb.filekinds import FILE_KINDS, ID_COLUMNS, is_locked

APPLY = "run qmailsetup apply (qmailsetup apply --dry-run shows what it would do)"
# the tool that leaves an account of each kind half-made, and the one that finds it
HALF_MADE_BY = {"user": ("useradd", "pwck"), "group": ("groupadd", "grpck")}


def account_file(host: HostState, password: bool = False) -> str:
    """Where the users' entries (or their passwords: in its companion,
    shadow, where the host keeps one) are kept."""
    kind = host.flavor.users
    companion = FILE_KINDS[kind].companion
    if password and companion in host.files and host.files[companion].exists:
        kind = companion
    return shown(host.root, f"/etc/{kind}")


def shell_findings(spec: Spec, host: HostState) -> list[Finding]:
    where = account_file(host)
    users = [host.users[u.name] for u in spec.users if u.name in host.users]
    bad = [u for u in users if is_login_shell(u.shell)]
    findings = [
        Finding(
            "account.login-shell", "error", where,
            f"user {user.name} has the login shell {user.shell or '(empty: /bin/sh)'}; a qmail account must not give a login",
            f"qmailsetup apply --fix-drift (sets it to {host.nologin}), or usermod -s {host.nologin} {user.name}",
        )
        for user in bad
    ]
    if users and not bad:
        findings.append(Finding("account.login-shell", "ok", where, f"no login shell: {', '.join(u.name for u in users)}"))
    return findings


def password_findings(spec: Spec, host: HostState) -> list[Finding]:
    where = account_file(host, password=True)
    users = [host.users[u.name] for u in spec.users if u.name in host.users]
    if users and where in host.unread():
        return [Finding(
            "account.password", "info", where,
            f"unknown: {where} is not readable by this user, so the passwords of {', '.join(u.name for u in users)} "
            "(and whether one lacks its line there) are not known",
            RUN_AS_ROOT,
        )]
    bad = [u for u in users if not is_locked(u.password)]
    findings = [
        Finding(
            "account.password", "error", where,
            f"user {user.name} has a usable password ({'empty' if not user.password else 'set'}); "
            "a qmail account must have none",
            f"lock it: {host.flavor.how_to_lock(user.name)}",
        )
        for user in bad
    ]
    if users and not bad:
        findings.append(Finding("account.password", "ok", where, f"no usable password: {', '.join(u.name for u in users)}"))
    return findings


def plan_findings(spec: Spec, plan: Plan, host: HostState) -> list[Finding]:
    """What apply would still create or change, and what stops it."""
    findings = []
    missing = [f"{c.kind} {c.name}" for c in plan.changes if c.kind != "path" and c.action == "create"]
    if missing:
        findings.append(Finding("account.exists", "error", account_file(host), "missing: " + ", ".join(missing), APPLY))
    elif not plan.conflicts:
        findings.append(Finding("account.exists", "ok", account_file(host), "every group and user of the spec exists"))
    for conflict in plan.conflicts:
        findings.append(
            Finding(
                "account.conflict", "error", None, f"{conflict.kind} {conflict.name}: {conflict.reason}",
                "resolve the conflict by hand; qmailsetup apply explains it and writes nothing until then",
            )
        )
    groups_kept = shown(host.root, f"/etc/{FILE_KINDS['group'].companion}")
    if groups_kept in host.unread():
        findings.append(Finding(
            "account.incomplete", "info", groups_kept,
            f"unknown: {groups_kept} is not readable by this user, so whether a group lacks its line there is not known",
            "run as root to check it",
        ))
    for change in plan.changes:
        if change.action == "repair":
            main = host.flavor.file_of(change.kind)
            for companion in change.fields:
                tool, checker = HALF_MADE_BY[change.kind]
                findings.append(Finding(
                    "account.incomplete", "error", shown(host.root, f"/etc/{companion}"),
                    f"{change.kind} {change.name} is half-made: in /etc/{main}, not in /etc/{companion} "
                    f"(an interrupted {tool}?); {checker} fails until the line is added",
                    APPLY,
                ))
            continue
        other = [key for key in change.fields if key != "shell"]  # a shell is account.login-shell's
        if change.kind == "user" and change.action == "modify" and other:
            # a missing membership is in the group file, not the users'
            where = shown(host.root, "/etc/group") if other == ["groups"] else account_file(host)
            findings.append(
                Finding(
                    "account.drift", "warning", where,
                    f"user {change.name} differs from the spec: " + differences(change, other),
                    "qmailsetup apply --fix-drift",
                )
            )
    paths = [c for c in plan.changes if c.kind in ("path", "link")]
    for change in paths:
        state = "is missing" if change.action == "create" else "differs: " + differences(change, list(change.fields))
        findings.append(Finding("path.owner-mode", "error", shown(host.root, change.name), f"{change.name} {state}", APPLY))
    in_sync = unblocked(spec, plan.conflicts)
    if not paths and in_sync:
        findings.append(Finding("path.owner-mode", "ok", None,
                                f"owner, group and mode as the spec says: {', '.join(in_sync)}"))
    return findings


def unblocked(spec: Spec, conflicts: list[Conflict]) -> list[str]:
    """The spec's paths that no conflict stops (a file where a directory
    belongs on the way, a link not followed): only those can be said ok."""
    blocked = {c.name for c in conflicts if c.kind in ("path", "link")}
    return [p.path for p in spec.paths if p.path not in blocked]


def can_pass(parent: Parent, uid: int | None, gid: int | None) -> bool:
    """Whether a user with UID and primary group GID may pass through PARENT
    (search permission): the owner's bits when the owner, else the group's
    when its group, else the others'. None: not known yet (not created)."""
    if uid is not None and uid == parent.uid:
        return bool(parent.mode & stat.S_IXUSR)
    if gid is not None and gid == parent.gid:
        return bool(parent.mode & stat.S_IXGRP)
    return bool(parent.mode & stat.S_IXOTH)


def traverse_findings(spec: Spec, host: HostState, conflicts: list[Conflict]) -> list[Finding]:
    """Every existing directory above a spec path (not one itself: those have
    the spec's modes) must let qmail's users through, or qmail cannot reach
    /var/qmail: a `umask 077` mkdir -p makes /var 0700. Users not yet
    created count by their group alone, if it exists."""
    if not spec.users or not spec.paths:
        return []
    accounts = []
    for user in spec.users:
        record = host.users.get(user.name)
        group = host.groups.get(user.group)
        accounts.append((user.name, record.uid if record else None, record.gid if record else group.gid if group else None))
    managed = {p.path for p in spec.paths}
    seen: set[str] = set()
    findings = []
    for spec_path in spec.paths:
        for parent in host.paths[spec_path.path].parents:
            if parent.path in managed or parent.path in seen:
                continue
            seen.add(parent.path)
            stopped = [name for name, uid, gid in accounts if not can_pass(parent, uid, gid)]
            if stopped:
                where = shown(host.root, parent.path)
                findings.append(Finding(
                    "path.traverse", "error", where,
                    f"{parent.path} (owner {parent.uid}, group {parent.gid}, mode {parent.mode:04o}) does not let "
                    f"{', '.join(stopped)} through to {spec_path.path}",
                    f"chmod o+x {where}",
                ))
    reached = unblocked(spec, conflicts)
    if not findings and reached:
        findings.append(Finding("path.traverse", "ok", None,
                                f"qmail's users can pass through every directory above {', '.join(reached)}"))
    return findings


def differences(change, keys: list[str]) -> str:
    return ", ".join(f"{key} {change.fields[key].current} (wants {change.fields[key].desired})" for key in keys)


def account_findings(spec: Spec, host: HostState, plan: Plan) -> list[Finding]:
    """The accounts and directories of SPEC on HOST, and PLAN, what apply
    would do there."""
    return (
        shell_findings(spec, host) + password_findings(spec, host) + plan_findings(spec, plan, host)
        + traverse_findings(spec, host, plan.conflicts)
    )


def made_findings(plan: Plan, host: HostState) -> list[Finding]:
    """After a real run, each account PLAN created, as HOST (read after the
    run) has it: one missing, or made with another ID than the plan gave
    it (a tool that said it made it and did not), is an error."""
    wrong = []
    for change in plan.changes:
        number = change.created_id()
        if number is None:
            continue
        label = ID_COLUMNS[change.kind]
        record = (host.users if change.kind == "user" else host.groups).get(change.name)
        if record is None:
            wrong.append(f"{change.kind} {change.name}")
        elif record.own_id != number:
            wrong.append(f"{change.kind} {change.name} ({label} {record.own_id}, the plan gave it {number})")
    if not wrong:
        return []
    return [Finding("account.exists", "error", account_file(host), "not as this run made them: " + ", ".join(wrong),
                    "see what the tool said; " + APPLY)]
