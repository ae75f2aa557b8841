"""Host cases, one stem each in tests/cases/, in the spirit of systemd's
test/test-sysusers: NAME.case says the host and the run; beside it, each
thing qmailsetup must make of it in a file of its own:

    NAME.case      TOML: the host (account files, how each spec path stands), the run
    NAME.plan      the dry run as printed: its stdout, its stderr a line each
                   ("stderr: ..."), and "exit: N"
    NAME.json      the dry run's --json document with its exit status and stderr
                   (README.md, "JSON"); for the cases that show that contract
    NAME.passwd, NAME.group, NAME.shadow, NAME.gshadow, NAME.master.passwd
                   the account files after a real apply

A case file:

    # what the case is about
    platform = "linux"          # a profile in platforms/
    backend = "files"           # the default: the platform's (useradd on linux)
    fix_drift = false
    base = "debian"             # the account files: debian, alpine (tests/fixtures,
                                # shadowed here), debian-pwconv, alpine-pwconv
                                # (tests/fixtures/pwconv), freebsd, openbsd
    remove = ["shadow"]         # files of the base left out
    encoding = "latin-1"        # how [append]'s lines are written (UTF-8)
    spec = "install-ids"        # examples/NAME.toml; else the built-in default
    spec_text = '''...'''       # or the spec itself
    accounts_only = true        # the built-in spec's accounts, no directory
    [append]                    # lines added to the base's files
    group = ["qmail:x:999:"]
    [paths."/var/qmail"]        # how each spec path stands (missing when absent)
    kind = "directory"          # directory, symlink, other, missing
    owner = 0                   # numbers, as lstat gives them
    group = 999
    mode = "0755"
    to = "/etc"                 # where a symlink leads
    blocked_by = "/var/qmail"   # a symlink or file on the way

Each case is run three ways (test_cases.py), all to the same files:
described, as any user, the host described rather than made: the account
files are real, the spec paths stand as the case says and the tree counts as
root's own, as a host's / and /etc are (cases whose paths are directories or
missing: where a link leads is the tool's to find); made, as root, the host
made for real (each path made, chowned, linked) and nothing given, which must
print the same and write nothing; and, where account files are stored, a
real apply, whose second run is in sync. UPDATE_GOLDENS=1 rewrites the
outputs (read the diff)."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

from conftest import Result, cli
from golden import UPDATE, scrub
from trees import KINDS, alpine_tree, debian_tree, example_spec, installed_tree, make_tree, write

CASES = Path(__file__).parent / "cases"
BASES = {
    "debian": debian_tree, "alpine": alpine_tree,
    "debian-pwconv": lambda root: make_tree(root, "debian"), "alpine-pwconv": lambda root: make_tree(root, "alpine"),
    "freebsd": lambda root: installed_tree(root, "freebsd"), "openbsd": lambda root: installed_tree(root, "openbsd"),
}
COMMAND_BACKENDS = ("useradd", "pw")


def case_names() -> list[str]:
    return sorted(path.stem for path in CASES.glob("*.case"))


def settings(name: str) -> dict:
    return tomllib.loads((CASES / f"{name}.case").read_text())


def backend(case: dict) -> str:
    from qmailsetup.platforms import load_profile

    return case.get("backend") or load_profile(case.get("platform", "linux")).backend


def describable(case: dict) -> bool:
    return all(state["kind"] in ("directory", "missing") and "blocked_by" not in state
               for state in case.get("paths", {}).values())


def applied_files(name: str) -> list[str]:
    return [kind for kind in KINDS if (CASES / f"{name}.{kind}").exists()]


def makes_directories(case: dict) -> bool:
    """Whether the case's spec has directories (the built-in one: qmail's)."""
    text = spec_text(case)
    return text is None or "paths" in tomllib.loads(text)


def why_apply_needs_root(case: dict) -> str | None:
    if backend(case) in COMMAND_BACKENDS:
        return f"{backend(case)} is handed only a tree root alone can change"
    if makes_directories(case):
        return "apply chowns the spec's directories"
    return None


def spec_text(case: dict) -> str | None:
    if "spec_text" in case:
        return case["spec_text"]
    if "spec" in case:
        return example_spec(case["spec"])
    if case.get("accounts_only"):
        import qmailsetup

        # the built-in spec's own text: its directories come from the installation only when it is built in
        return (Path(qmailsetup.__file__).parent / "default.toml").read_text()
    return None


def build(case: dict, root: Path) -> list[str]:
    """The case's account files under ROOT; the arguments of its run."""
    BASES[case.get("base", "debian")](root)
    for kind in case.get("remove", []):
        (root / "etc" / kind).unlink()
    for kind, lines in case.get("append", {}).items():
        with open(root / "etc" / kind, "ab") as file:
            file.write("".join(f"{line}\n" for line in lines).encode(case.get("encoding", "utf-8")))
    args = ["--platform", case.get("platform", "linux"), "--backend", backend(case)]
    text = spec_text(case)
    if text is not None:
        write(root.parent / "spec.toml", text)
        args += ["--spec", str(root.parent / "spec.toml")]
    return args + (["--fix-drift"] if case.get("fix_drift") else [])


def make_paths(case: dict, root: Path) -> None:
    """Each spec path made as the case says it stands (root: chown)."""
    for path, state in sorted(case.get("paths", {}).items()):
        where = root / path.lstrip("/")
        if state["kind"] == "directory":
            where.mkdir(parents=True)
            os.chown(where, state["owner"], state["group"])
            where.chmod(int(state["mode"], 8))
        elif state["kind"] == "symlink":
            where.parent.mkdir(parents=True, exist_ok=True)
            where.symlink_to(state["to"])
        elif state["kind"] == "other":
            where.parent.mkdir(parents=True, exist_ok=True)
            where.write_text("")


def describe(case: dict, monkeypatch) -> None:
    """The host as the case says it stands, not as the temporary tree is:
    each spec path's state given (at observe_path, which every reading of
    the paths goes through), the tree root's own (it is the running user's,
    whom the tool rightly distrusts)."""
    from qmailsetup import observe, target

    monkeypatch.setattr(observe, "observe_path", lambda root, path: given_path(case, path))
    monkeypatch.setattr(observe, "unsafe_etc", lambda etc: ())
    monkeypatch.setattr(target.Target, "untrusted_directory", lambda self, absolute, holding_roots=False: None)


def given_path(case: dict, path: str):
    from qmailsetup.observe import PathState

    state = case.get("paths", {}).get(path, {"kind": "missing"})
    mode = state.get("mode")
    return PathState(path, state["kind"], state.get("owner"), state.get("group"),
                     None if mode is None else int(mode, 8), state.get("blocked_by"))


def shown(result: Result, root: Path) -> str:
    """A run as NAME.plan holds it."""
    err = "".join(f"stderr: {line}\n" for line in result.err.splitlines())
    return scrub(scrub(result.out + err, root), root.parent, "<tmp>") + f"exit: {result.code}\n"


def document(result: Result, root: Path) -> dict:
    """A --json run as NAME.json holds it."""
    return {"exit": result.code, "stderr": scrub(scrub(result.err, root), root.parent, "<tmp>"),
            "plan": json.loads(scrub(scrub(result.out, root), root.parent, "<tmp>"))}


def dry_runs(name: str, args: list[str], root: Path) -> None:
    """The dry run, and its --json document where the case keeps one, are
    as stored."""
    compare(name, "plan", shown(cli("apply", "--dry-run", "--root", root, *args), root))
    if (CASES / f"{name}.json").exists() or (UPDATE and name in JSON_CASES):
        data = document(cli("apply", "--dry-run", "--json", "--root", root, *args), root)
        compare(name, "json", json.dumps(data, indent=2, sort_keys=True) + "\n")


# the cases whose JSON document is kept: a plan with changes, a refused one
JSON_CASES = ("partial", "fixed_ids_conflicting")


def compare(name: str, part: str, actual: str) -> None:
    path = CASES / f"{name}.{part}"
    if UPDATE:
        path.write_text(actual, errors="surrogateescape")
    assert path.exists(), f"no {path}; run with UPDATE_GOLDENS=1 and review it"
    assert actual == path.read_text(errors="surrogateescape"), f"differs from {path}"
