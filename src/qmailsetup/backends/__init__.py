"""Backends carry out the account part of a plan; they decide nothing.

A command backend (useradd, pw) runs the host's tools, with argv built
from the platform profile's templates; the files backend edits the account
files as vipw would. Each offers the same three things: the commands it
would run for a change, a preview of the files it would write, apply,
and files_after: the account files as it left them, when it wrote them
itself (None: its tools did, and the closing check reads them anew).

Under --root the files backend is the default: it works through one
descriptor of ROOT/etc and never follows a link there. The host's tools
(useradd --prefix, pw -R, pwd_mkdb -d) open ROOT/etc/FILE-, FILE+,
FILE.<pid> by path and follow links: a tree is handed to them only when
root alone can change its etc and no name they open is a link, an odd file
or a hard link (target.py), else the run is refused.
"""

from __future__ import annotations

from qmailsetup import tools
from qmailsetup.backends.commands import CommandBackend
from qmailsetup.backends.files import FilesBackend
from qmailsetup.choices import BACKENDS
from qmailsetup.errors import BadInput, Refused
from qmailsetup.target import Target


def tool_opens_etc(chosen: str, host) -> str | None:
    """The host's program that will open files in ROOT/etc by path, if any:
    the command backend's tool, or the files backend's post-edit step
    where it is installed (where it is not, passwd is made through the
    descriptor)."""
    if chosen != "files":
        return host.profile.commands["useradd"].parts[0][0] if host.profile.commands else chosen
    post_edit = host.profile.post_edit
    if post_edit and tools.find_tool(post_edit.parts[0][0]) is not None:
        return post_edit.parts[0][0]
    return None


def refuse_untrusted_tree(program: str, host) -> None:
    """Refuse (exit 3, before anything is written) to let PROGRAM open
    files in HOST's ROOT/etc unless root alone can change that directory
    and no name PROGRAM opens there is a hazard."""
    target, flavor = host.target, host.flavor
    if host.etc.fd is None:
        return  # no etc: the account files are missing, named one by one elsewhere
    hazards = []
    untrusted = target.untrusted_directory("/etc")
    if untrusted:
        place, owned = untrusted
        hazards.append(f"{place} may be changed by others than root ({owned})")
    hazards += target.tool_hazards(host.etc.fd, flavor.opened_by_tools(), flavor.files())
    if hazards:
        more = f" (and {len(hazards) - 1} more)" if len(hazards) > 1 else ""
        raise Refused(
            f"--root {target.path}: {hazards[0]}{more}: {program} opens files there by path and follows links, "
            "out of the tree; use --backend files (the default under --root), which never follows them"
        )


def choose_backend(name: str, profile, root) -> str:
    """The backend NAME ('auto': PROFILE's; under --root, files), known
    before the host is read: the files backend reads under its locks."""
    if name == "auto":
        chosen = profile.backend if Target(root).live else "files"
    else:
        chosen = name
    if chosen not in BACKENDS:
        raise BadInput(f"--backend {name}: unknown (choose auto, {', '.join(BACKENDS)})")
    return chosen


def make_backend(name: str, host, locks: list | None = None):
    """The backend NAME (choose_backend) for HOST; LOCKS, the files
    backend's, when the run took them before HOST was read."""
    chosen = choose_backend(name, host.profile, host.root)
    backend: FilesBackend | CommandBackend
    if chosen == "files":
        backend = FilesBackend(host, locks)
    else:
        backend = CommandBackend(chosen, host)
    program = None if host.target.live else tool_opens_etc(chosen, host)
    if program is not None:
        refuse_untrusted_tree(program, host)
    return backend
