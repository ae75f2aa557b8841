"""Saved plans: `apply --dry-run --plan-out FILE` writes the plan, and
`apply --plan FILE` applies exactly its changes, or refuses.

The file is versioned JSON (VERSION): the changes as planned (every field,
the IDs allocated, the commands), the root, platform and backend, the spec
itself with its digest, and a fingerprint of all the host state the plan
rests on: each account file's bytes (the entries read, hence the IDs found
free), the system ID range (login.defs), the nologin shell chosen, the
shells the platform accepts, each spec path as lstat saw it, and what NSS
answered. A digest of the whole tells a damaged or edited file (it is no
signature: whoever may write the file may write a new digest, so a plan
others may write is refused).

Applying re-observes the host; the files backend reads it under its
locks, held to its last write, so the account files checked against the
fingerprint are the ones it writes over. Anything moved: refused, exit 3,
naming it. Nothing is planned again: the changes applied are the file's
(commands/apply.py saved).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import asdict, fields
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from qmailsetup.errors import BadInput, OperationFailed, Refused
from qmailsetup.hostio import read_consulted
from qmailsetup.observe import shown
from qmailsetup.plan import (
    Action,
    Change,
    Desired,
    DesiredDirectory,
    DesiredFile,
    DesiredGroup,
    DesiredLink,
    DesiredUser,
    FieldChange,
    Kind,
    Plan,
    make_plan,
)
from qmailsetup.spec import AbsolutePath, DirectoryPath, FieldText, Id, Name, Spec, check_mode
from qmailsetup.userdb.filekinds import ID_COLUMNS

VERSION = 1
# a plan of the whole qmail layout is a few kilobytes; diffs are not kept
MAX_PLAN = 4 * 1024 * 1024


# -- the file ---------------------------------------------------------------


class Exact(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class SavedField(Exact):
    current: str | int | None
    desired: str | int | None


class SavedDesired(Exact):
    """A change's object as planned: each value held to the spec's rules,
    so that nothing a spec could not ask for reaches an account line."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)

    name: Name | None = None
    path: AbsolutePath | None = None
    uid: Id | None = None
    gid: Id | None = None
    group: Name | None = None
    home: AbsolutePath | None = None
    shell: AbsolutePath | None = None
    comment: FieldText | None = None
    login_class: FieldText | None = None
    groups: list[Name] | None = None
    owner: Name | None = None
    mode: Annotated[str, AfterValidator(check_mode)] | None = None
    link: DirectoryPath | None = None


class SavedChange(Exact):
    # strict takes only Kind and Action themselves: the file has their values
    kind: Annotated[Kind, Field(strict=False)]
    name: str
    action: Annotated[Action, Field(strict=False)]
    drift: bool
    fields: dict[str, SavedField]
    desired: SavedDesired
    allocated: list[str]
    field_notes: dict[str, str]
    joining: list[Name]
    # as the dry run showed them; the backend builds them again from desired
    commands: list[list[str]]


class SavedPlan(Exact):
    version: int
    root: str
    platform: str
    backend: str
    spec: dict[str, Any]
    spec_digest: str
    changes: list[SavedChange]
    fingerprint: dict[str, Any]


def digest(data) -> str:
    return "sha256:" + hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=True).encode()).hexdigest()


def spec_data(spec: Spec) -> dict:
    return spec.model_dump(mode="json", by_alias=True)


def fingerprint(host) -> dict:
    """What the plan rests on, of HOST as observed (observe.HostState)."""
    return {
        "files": {
            shown: hashlib.sha256(f.data()).hexdigest() if f.exists else None
            for shown, f in ((host.etc.shown(kind), f) for kind, f in sorted(host.files.items()))
        },
        "id_range": asdict(host.id_range),
        "nologin": host.nologin,
        "accepted_shells": None if host.accepted_shells is None else sorted(host.accepted_shells),
        "stale_passwd": host.stale_passwd,
        "paths": {path: asdict(state) for path, state in sorted(host.paths.items())},
        "nss": {
            "users": host.nss_users, "groups": host.nss_groups,
            "uids": {str(k): v for k, v in host.nss_uids.items()},
            "gids": {str(k): v for k, v in host.nss_gids.items()},
        },
    }


def change_data(change: Change, commands: list[list[str]]) -> dict:
    desired = {("login_class" if key == "class" else key): list(value) if isinstance(value, tuple) else value
               for key, value in change.desired.values().items()}
    return {
        "kind": change.kind.value, "name": change.name, "action": change.action.value, "drift": change.drift,
        "fields": {key: {"current": f.current, "desired": f.desired} for key, f in change.fields.items()},
        "desired": desired, "allocated": sorted(change.allocated), "field_notes": dict(change.field_notes),
        "joining": list(change.joining),
        "commands": commands,
    }


def plan_document(plan: Plan, spec: Spec, host, backend, root: Path) -> dict:
    body = {
        "version": VERSION,
        "root": str(root),
        "platform": host.profile.name,
        "backend": backend.name,
        "spec": spec_data(spec),
        "spec_digest": digest(spec_data(spec)),
        "changes": [change_data(change, backend.commands(change)) for change in plan.changes],
        "fingerprint": fingerprint(host),
    }
    return {**body, "digest": digest(body)}


def write_plan(path: Path, document: dict) -> None:
    """DOCUMENT into PATH, whole or not at all, readable by its owner alone
    (it names the host's accounts and directories)."""
    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, text.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except OSError as error:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise OperationFailed(f"--plan-out {path}: cannot write: {error.strerror}") from None


def read_plan(path: Path) -> SavedPlan:
    """The plan in PATH, refused (exit 2) unless it is whole, of this
    version, unchanged since it was written, and writable by its owner alone."""
    where = f"--plan {path}"
    try:
        data = read_consulted(path, limit=MAX_PLAN)
        mode = os.stat(path).st_mode
    except OSError as error:
        raise BadInput(f"{where}: cannot read: {error.strerror}") from None
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise BadInput(f"{where}: others than its owner may write it (mode {stat.S_IMODE(mode):04o}); "
                       "a plan is applied as root: chmod go-w it, after checking it")
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise BadInput(f"{where}: not a plan (damaged or truncated JSON: {error})") from None
    if not isinstance(document, dict) or "version" not in document:
        raise BadInput(f"{where}: not a qmailsetup plan")
    if document["version"] != VERSION:
        raise BadInput(f"{where}: a plan of version {document['version']!r}; this qmailsetup applies version {VERSION}")
    body = {key: value for key, value in document.items() if key != "digest"}
    if document.get("digest") != digest(body):
        raise BadInput(f"{where}: damaged or edited since it was written (its digest does not match); make it again")
    try:
        saved = SavedPlan.model_validate(body)
    except ValidationError as error:
        first = error.errors()[0]
        place = ".".join(str(part) for part in first["loc"])
        raise BadInput(f"{where}: {place}: {first['msg']}") from None
    if saved.spec_digest != digest(saved.spec):
        raise BadInput(f"{where}: its spec does not match its spec digest")
    return saved


def saved_spec(saved: SavedPlan, where: str) -> Spec:
    try:
        return Spec.model_validate(saved.spec)
    except ValidationError as error:
        raise BadInput(f"{where}: its spec is not valid: {error.errors()[0]['msg']}") from None


# the type of each kind's desired object; a file's keys are its fields' names
DESIRED_TYPES: dict[Kind, type[Desired]] = {
    Kind.GROUP: DesiredGroup, Kind.USER: DesiredUser, Kind.PATH: DesiredDirectory, Kind.LINK: DesiredLink,
    Kind.FILE: DesiredFile,
}


def saved_desired(entry: SavedChange, where: str) -> Desired:
    """ENTRY's desired object; refused (exit 2) when a value its kind needs
    is missing or one it has no place for is there."""
    values = entry.desired.model_dump(exclude_none=True)
    if "groups" in values:
        values["groups"] = tuple(values["groups"])
    try:
        return DESIRED_TYPES[entry.kind](**values)
    except TypeError:
        wanted = ", ".join(field.name for field in fields(DESIRED_TYPES[entry.kind]))
        raise BadInput(f"{where}: {entry.kind.value} {entry.name}: its desired values ({', '.join(sorted(values))}) "
                       f"are not those of a {entry.kind.value} ({wanted})") from None


def saved_changes(saved: SavedPlan, where: str) -> list[Change]:
    changes = []
    for entry in saved.changes:
        field_changes = {key: FieldChange(f.current, f.desired) for key, f in entry.fields.items()}
        changes.append(Change(entry.kind, entry.name, entry.action, field_changes, saved_desired(entry, where),
                              frozenset(entry.allocated), entry.drift, tuple(entry.joining), dict(entry.field_notes)))
    return changes


# -- has the host moved? --------------------------------------------------


def moved(saved: SavedPlan, host) -> list[str]:
    """What the plan rests on that is no longer as it was, in words."""
    then, now = saved.fingerprint, fingerprint(host)
    what = []
    for name, was in then.get("files", {}).items():
        if now["files"].get(name) != was:
            what.append(f"{name} changed{taken_ids(saved, host, name)}")
    if then.get("id_range") != now["id_range"]:
        was, is_now = then.get("id_range") or {}, now["id_range"]
        what.append(f"the system ID range (login.defs) is now uid {is_now['uid_min']}..{is_now['uid_max']}, "
                    f"gid {is_now['gid_min']}..{is_now['gid_max']}; it was uid {was.get('uid_min')}..{was.get('uid_max')}, "
                    f"gid {was.get('gid_min')}..{was.get('gid_max')}")
    for key, label in (("nologin", "the nologin shell"), ("accepted_shells", "the shells the platform accepts"),
                       ("stale_passwd", "passwd as pwd_mkdb makes it"), ("nss", "what NSS knows of the spec's accounts")):
        if then.get(key) != now[key]:
            what.append(f"{label} changed")
    for path, was in then.get("paths", {}).items():
        state = now["paths"].get(path)
        if json.loads(json.dumps(state)) != was:
            what.append(f"{shown(host.root, path)} changed "
                        f"({describe_path(was)} -> {describe_path(state)})")
    return what


def describe_path(state: dict | None) -> str:
    if state is None or state["kind"] == "missing":
        return "missing"
    mode = "" if state.get("mode") is None else f" {state['mode']:04o}"
    return f"{state['kind']} {state.get('uid')}:{state.get('gid')}{mode}"


def taken_ids(saved: SavedPlan, host, name: str) -> str:
    """Of the file NAME: a planned ID that is now held, as a reason."""
    for change in saved.changes:
        if change.action != Action.CREATE or change.kind not in (Kind.USER, Kind.GROUP):
            continue
        label = ID_COLUMNS[change.kind]
        if host.etc.shown(host.flavor.file_of(change.kind)) != name:
            continue
        number = getattr(change.desired, label)
        holder = (host.uid_holder if label == "uid" else host.gid_holder)(number)
        if holder is not None and holder != change.name:
            return f": {label} {number}, planned for {change.kind.value} {change.name}, is now {holder}'s"
    return ""


def already_applied(saved: SavedPlan, spec: Spec, host) -> bool:
    """Whether the host is what applying the plan makes: in sync with its
    spec, each account it creates there with the ID planned."""
    if not make_plan(spec, host, fix_drift=any(c.drift for c in saved.changes)).in_sync:
        return False
    for change in saved.changes:
        if change.action == Action.CREATE and change.kind in (Kind.USER, Kind.GROUP):
            records = host.users if change.kind == Kind.USER else host.groups
            record = records.get(change.name)
            label = ID_COLUMNS[change.kind]
            if record is None or getattr(record, label) != getattr(change.desired, label):
                return False
    return True


def check_still_holds(saved: SavedPlan, spec: Spec, host, where: str) -> bool:
    """True when the fingerprint holds; False when the plan was applied
    already (in sync); else refused, exit 3, naming what moved."""
    what = moved(saved, host)
    if not what:
        return True
    if already_applied(saved, spec, host):
        return False
    more = f" (and {len(what) - 1} more)" if len(what) > 1 else ""
    raise Refused(f"{where}: the host moved since the plan was made: {what[0]}{more}; nothing written, "
                  "make the plan again")


def check_origin(saved: SavedPlan, root: Path, platform: str, backend: str, where: str) -> None:
    if saved.root != str(root):
        raise BadInput(f"{where}: a plan for the root {saved.root}, not {root}")
    if platform not in ("auto", saved.platform):
        raise BadInput(f"{where}: a plan for the platform {saved.platform}, not {platform}")
    if backend not in ("auto", saved.backend):
        raise BadInput(f"{where}: a plan for the backend {saved.backend}, not {backend}")
