"""Plan cases: one self-contained file per scenario, host in, plan out.

A case file (tests/cases/plan/NAME.case) is TOML describing the host and
the run, then a line `=== plan`, then the dry run's text exactly as
qmailsetup prints it (the commands as `$ argv` lines, the files backend's
diffs, warnings, the summary, and the refusal, if any):

    # what the scenario is about
    platform = "linux"          # a profile in platforms/
    backend = "auto"            # or "files", ...
    fix_drift = false
    base = "debian"             # account files: debian, alpine, freebsd, openbsd (tests/fixtures)
    spec = "install-ids"        # optional: a shipped spec (src/qmailsetup/specs/); else the built-in default
    spec_text = '''...'''       # optional: the spec itself, for a case of its own
    [append]                    # lines added to the base's files
    group = ["qmail:x:999:"]
    [paths."/var/qmail"]        # how each spec path stands (missing when absent)
    kind = "directory"          # directory, symlink, other, missing
    owner = 0                   # numbers, as lstat gives them
    group = 999
    mode = "0755"
    blocked_by = "/var"         # optional: a symlink or file on the way

The account files are written to a temporary root and observed for real;
the paths are given, not made, so no case needs root (no chown). With
UPDATE_GOLDENS=1 the part after `=== plan` is rewritten; read the diff.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from golden import UPDATE, scrub
from trees import alpine_tree, append, debian_tree, example_spec, installed_tree

CASES = Path(__file__).parent / "cases" / "plan"
MARK = "=== plan\n"
BASES = {
    "debian": debian_tree, "alpine": alpine_tree,
    "freebsd": lambda root: installed_tree(root, "freebsd"), "openbsd": lambda root: installed_tree(root, "openbsd"),
}


def case_names() -> list[str]:
    return sorted(path.stem for path in CASES.glob("*.case"))


def read_case(name: str) -> tuple[str, dict, str]:
    """The header text, its settings, and the expected plan."""
    text = (CASES / f"{name}.case").read_text()
    header, mark, expected = text.partition(MARK)
    assert mark, f"{name}.case has no '{MARK.strip()}' line"
    return header, tomllib.loads(header), expected


def path_states(settings: dict, spec) -> dict:
    from qmailsetup.observe import PathState

    given = settings.get("paths", {})
    states = {}
    for path in spec.paths:
        state = given.get(path.path, {"kind": "missing"})
        mode = state.get("mode")
        states[path.path] = PathState(
            path.path, state["kind"], state.get("owner"), state.get("group"),
            None if mode is None else int(mode, 8), state.get("blocked_by"),
        )
    return states


def run_case(settings: dict, root: Path) -> str:
    """The dry run's text for the case's host under ROOT."""
    from qmailsetup.backends import make_backend
    from qmailsetup.commands.apply import plan_data, refusal
    from qmailsetup.errors import QmailsetupError
    from qmailsetup.observe import observe
    from qmailsetup.output import plan_text
    from qmailsetup.plan import make_plan
    from qmailsetup.platforms import load_profile
    from qmailsetup.spec import load_spec, parse_spec

    BASES[settings.get("base", "debian")](root)
    for kind, lines in settings.get("append", {}).items():
        append(root, kind, lines)
    name = settings.get("spec")
    if "spec_text" in settings:
        spec = parse_spec(settings["spec_text"], "the case's spec")
    else:
        spec = parse_spec(example_spec(name), name) if name else load_spec(None)
    profile = load_profile(settings.get("platform", "linux"))
    host = observe(spec, root, profile)
    host.paths = path_states(settings, spec)
    plan = make_plan(spec, host, settings.get("fix_drift", False))
    try:
        backend = make_backend(settings.get("backend", profile.backend), host)
    except QmailsetupError as error:
        return f"error: {error}\n"
    data = plan_data(plan, backend, backend.preview(plan.changes))
    data.update(root=str(root), platform=profile.name, backend=backend.name, dry_run=True)
    text = plan_text(data)
    if plan.refused:
        text += refusal(plan) + "\n"
    return scrub(text, root)


def check_case(name: str, root: Path) -> None:
    header, settings, expected = read_case(name)
    actual = run_case(settings, root)
    if UPDATE:
        (CASES / f"{name}.case").write_text(header + MARK + actual)
        return
    assert actual == expected, f"the plan differs from tests/cases/plan/{name}.case"
