"""Warnings: what the plan does not refuse but an administrator should
know (a usable password, places others may write to, hard-linked account
files, account files this user may not read)."""

from __future__ import annotations

from qmailsetup.observe import PathState, shown
from qmailsetup.plan.model import ACCOUNT_KINDS
from qmailsetup.plan.planning import Planning
from qmailsetup.spec import User
from qmailsetup.userdb.filekinds import is_locked

# what a run as another user than root says of what only root may read
RUN_AS_ROOT = "run as root to check passwords"


def user_warnings(p: Planning, user: User, existing) -> None:
    """A usable password."""
    if not is_locked(existing.password):
        p.warn(f"user {user.name} has a usable password; lock it ({p.host.flavor.how_to_lock(user.name)})")


def account_file_warnings(p: Planning) -> None:
    """The root and its etc when others than root may write there (they
    could swap the account files for their own); and, when accounts
    change, a file with more than one name: the rewrite replaces it by a
    new file, and its other names keep the old content."""
    host = p.host
    for name in host.unread():
        p.warn(f"{name} is not readable by this user: the passwords in it, and any account half-made without "
               f"its line there, are unknown; {RUN_AS_ROOT}")
    for place, owned in host.unsafe_etc:
        p.warned_parents.add(place)
        p.warn(f"{shown(host.root, place)} ({owned}) is writable by others than root: whoever can write there "
               "can replace the account files; make it root-owned and not group- or world-writable")
    if any(c.kind in ACCOUNT_KINDS for c in p.plan.changes):
        for kind, account_file in host.files.items():
            if account_file.exists and account_file.links > 1:
                p.warn(f"{shown(host.root, '/etc/' + kind)} has {account_file.links} hard links: it is "
                       "replaced by a new file, and its other names keep the old content")


def parent_warnings(p: Planning, path: str, state: PathState) -> None:
    """Warn, once each, of directories above PATH that others may write
    to; a parent that is itself in the spec gets its owner from the plan."""
    in_spec = {spec_path.path for spec_path in p.spec.paths}
    for parent, owned in state.unsafe_parents:
        if parent in in_spec or parent in p.warned_parents:
            continue
        p.warned_parents.add(parent)
        p.warn(f"{shown(p.host.root, parent)} ({owned}) is writable by others than root: whoever can write there can "
               f"replace {path}; make it root-owned and not group- or world-writable")
