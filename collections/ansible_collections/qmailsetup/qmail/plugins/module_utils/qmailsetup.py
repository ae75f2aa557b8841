# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the qmailsetup modules share: the common options, the command line
and reading qmailsetup's JSON. qmailsetup itself does the work; these
modules only run it on the target and report what it printed."""

from __future__ import annotations

import errno
import json
import os

# the options of doc_fragments/common.py
COMMON_OPTIONS = {
    "spec": {"type": "path"},
    "spec_content": {"type": "str"},
    "root": {"type": "path", "default": "/"},
    "platform": {"type": "str", "default": "auto"},
    "executable": {"type": "path"},
}
MUTUALLY_EXCLUSIVE = [["spec", "spec_content"]]


def spec_path(module) -> str | None:
    """The spec file to name on the command line: spec, or spec_content
    written to a file in the module's own temporary directory (removed with
    it when the module ends)."""
    params = module.params
    if params["spec_content"] is None:
        return params["spec"]
    path = os.path.join(module.tmpdir, "spec_content.toml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(params["spec_content"])
    return path


def command(module, name: str, as_json: bool = True) -> list[str]:
    """qmailsetup NAME --json (unless not AS_JSON) with the common options."""
    params = module.params
    executable = params["executable"] or module.get_bin_path("qmailsetup", required=True)
    argv = [executable, name, *(["--json"] if as_json else []), "--root", params["root"], "--platform", params["platform"]]
    spec = spec_path(module)
    if spec:
        argv += ["--spec", spec]
    return argv


def cannot_run(executable: str, error: OSError) -> str:
    """Why EXECUTABLE did not start, in one line. A script whose
    interpreter is gone (a virtual environment whose Python was removed or
    upgraded) fails as if the script itself were missing: say which."""
    if error.errno == errno.ENOENT and os.path.isfile(executable):
        with open(executable, "rb") as script:
            first = script.readline(4096)
        if first.startswith(b"#!"):
            interpreter = first[2:].decode("utf-8", "replace").split()[0]
            return (f"cannot run {executable}: its interpreter {interpreter} is missing "
                    "(make its virtual environment again)")
    return f"cannot run {executable}: {error.strerror or error}"


def run_json(module, argv: list[str]) -> tuple[int, dict | None, str]:
    """(exit code, the JSON document qmailsetup printed or None, stderr).
    qmailsetup prints its JSON also when it refuses or fails part-way, so a
    failed result still shows what was planned and done. A qmailsetup that
    cannot start fails the task with why."""
    try:
        rc, out, err = module.run_command(argv, handle_exceptions=False)
    except OSError as error:
        module.fail_json(msg=cannot_run(argv[0], error), cmd=argv)
    try:
        data = json.loads(out) if out.strip() else None
    except ValueError:
        data = None
        # not qmailsetup's output (a wrapper, a Python too old for it): its
        # own words are the error
        err = err or out
    return rc, data, err


def error_message(rc: int, err: str) -> str:
    """The error as the command printed it on stderr: qmailsetup's own is
    one line (or one line per check error with exit 5); a Python that
    cannot run qmailsetup prints a traceback, whose last line says why."""
    lines = err.strip().splitlines()
    if not lines:
        return f"qmailsetup exited {rc} without a message"
    if lines[0].startswith("Traceback "):
        return lines[-1]
    return "\n".join(lines)
