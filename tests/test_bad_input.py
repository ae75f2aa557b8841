"""Bad input through the real command line: specs, account files and
command lines. Each case must give the documented exit code (2 bad input,
3 refused), exactly one line on stderr naming what and where, no
traceback, and leave every file under the root as it was.

test_spec.py, test_accountfile.py and test_cli.py hold more cases at the
unit level; these run the whole pipeline, end to end.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import cli
from snapshot import snapshot, without_pwd_lock
from trees import debian_tree

NOBODY = 65534
USER = 'name = "alias"\ngroup = "nofiles"\nhome = "/var/qmail/alias"\n'
PATH = '[[paths]]\npath = "/var/qmail"\nowner = "root"\ngroup = "root"\nmode = "0755"\n'
GROUPS = '[[groups]]\nname = "qmail"\n[[groups]]\nname = "nofiles"\n'


@dataclass
class Host:
    """The root under test and the spec file beside it (outside the root)."""

    root: Path
    spec: Path

    def add(self, kind: str, data: bytes) -> int:
        """Append DATA to etc/KIND; the line number it starts on."""
        path = self.root / "etc" / kind
        line = path.read_bytes().count(b"\n") + 1
        with open(path, "ab") as f:
            f.write(data)
        return line

    def with_spec(self, text: str | bytes) -> list[str]:
        if isinstance(text, str):
            text = text.encode()
        self.spec.write_bytes(text)
        return ["--spec", str(self.spec)]


@dataclass
class Case:
    id: str
    # builds the bad input; returns extra arguments and values for MESSAGE
    setup: Callable[[Host], tuple[list[str], dict]]
    code: int
    # what stderr must say; {root}, {spec} and the setup's values are filled in
    message: str
    args: tuple[str, ...] = ("apply", "--platform", "linux")
    # whether the command takes --root (export does not)
    rooted: bool = True


def spec_case(id: str, text: str | bytes, code: int, message: str) -> Case:
    return Case(id, lambda host: (host.with_spec(text), {}), code, "{spec}: " + message if code == 2 else message)


def added_line(kind: str, data: bytes) -> Callable[[Host], tuple[list[str], dict]]:
    return lambda host: ([], {"line": host.add(kind, data)})


def replaced(kind: str, data: bytes) -> Callable[[Host], tuple[list[str], dict]]:
    def setup(host: Host) -> tuple[list[str], dict]:
        (host.root / "etc" / kind).write_bytes(data)
        return [], {}

    return setup


def as_directory(kind: str) -> Callable[[Host], tuple[list[str], dict]]:
    def setup(host: Host) -> tuple[list[str], dict]:
        path = host.root / "etc" / kind
        path.unlink()
        path.mkdir()
        return [], {}

    return setup


def as_fifo(host: Host) -> tuple[list[str], dict]:
    (host.root / "etc/passwd").unlink()
    os.mkfifo(host.root / "etc/passwd")
    return [], {}


def removed(kind: str) -> Callable[[Host], tuple[list[str], dict]]:
    def setup(host: Host) -> tuple[list[str], dict]:
        (host.root / "etc" / kind).unlink()
        return [], {}

    return setup


def arguments(*args: str) -> Callable[[Host], tuple[list[str], dict]]:
    return lambda host: ([a.format(root=host.root, spec=host.spec) for a in args], {})


SPEC_CASES = [
    spec_case("toml-syntax", "[[users]\nname = 'x'\n", 2, "invalid TOML"),
    spec_case("unknown-top-level-field", 'colour = "red"\n', 2, "colour: unknown field"),
    spec_case("unknown-user-field", f"[[users]]\n{USER}home_dir = \"/x\"\n", 2, "users[0].home_dir: unknown field"),
    spec_case("unknown-field-with-newline", '"col\\nour" = 1\n', 2, "col\\nour: unknown field"),
    spec_case("user-name-with-colon", '[[users]]\nname = "al:ias"\ngroup = "nofiles"\nhome = "/x"\n', 2,
              "users[0].name: 'al:ias' is not a portable account name"),
    spec_case("user-name-with-newline", '[[users]]\nname = "al\\nias"\ngroup = "nofiles"\nhome = "/x"\n', 2,
              "users[0].name: 'al\\nias' is not a portable account name"),
    spec_case("user-name-leading-dash", '[[users]]\nname = "-alias"\ngroup = "nofiles"\nhome = "/x"\n', 2,
              "users[0].name: '-alias' is not a portable account name"),
    spec_case("user-name-too-long", f'[[users]]\nname = "{"a" * 33}"\ngroup = "nofiles"\nhome = "/x"\n', 2,
              "users[0].name: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' is not a portable account name"),
    spec_case("group-of-user-bad-name", '[[users]]\nname = "alias"\ngroup = "No Files"\nhome = "/x"\n', 2,
              "users[0].group: 'No Files' is not a portable account name"),
    spec_case("duplicate-user-names", f"[[users]]\n{USER}[[users]]\n{USER}", 2, "users: name 'alias' appears more than once"),
    spec_case("uid-negative", f"[[users]]\n{USER}uid = -5\n", 2, "users[0].uid: -5 is out of range"),
    spec_case("uid-too-big", f"[[users]]\n{USER}uid = 2147483648\n", 2, "users[0].uid: 2147483648 is out of range"),
    spec_case("uid-float", f"[[users]]\n{USER}uid = 7790.0\n", 2, "users[0].uid: must be a whole number"),
    spec_case("relative-shell", f"[[users]]\n{USER}shell = \"bin/true\"\n", 2, "users[0].shell: 'bin/true' is not an absolute path"),
    spec_case("comment-with-newline", f"[[users]]\n{USER}comment = \"a\\nb\"\n", 2, "users[0].comment: 'a\\nb' contains '\\n'"),
    spec_case("relative-path", '[[paths]]\npath = "var/qmail"\nowner = "root"\ngroup = "root"\nmode = "0755"\n', 2,
              "paths[0].path: 'var/qmail' is not an absolute path"),
    spec_case("mode-999", '[[paths]]\npath = "/var/qmail"\nowner = "root"\ngroup = "root"\nmode = "999"\n', 2,
              "paths[0].mode: '999' is not an octal mode"),
    spec_case("not-utf8", b'[[groups]]\nname = "caf\xe9"\n', 2, "cannot read spec: 'utf-8' codec can't decode byte 0xe9"),
    spec_case("group-nowhere", f"{GROUPS}[[users]]\nname = \"alias\"\ngroup = \"nogroupx\"\nhome = \"/var/qmail/alias\"\n", 3,
              "refused, nothing written: user alias: its group nogroupx is neither in the spec nor on the host"),
    spec_case("path-owner-nowhere", '[[paths]]\npath = "/var/qmail"\nowner = "qmailx"\ngroup = "root"\nmode = "0755"\n', 3,
              "refused, nothing written: path /var/qmail: its owner qmailx is neither in the spec nor on the host"),
    spec_case("uid-held-by-another", f"{GROUPS}[[users]]\n{USER}uid = 1\n", 3,
              "refused, nothing written: user alias: uid 1 is already held by user daemon"),
    spec_case("gid-held-by-another", '[[groups]]\nname = "qmail"\ngid = 2\n', 3,
              "refused, nothing written: group qmail: gid 2 is already held by group bin"),
    spec_case("existing-user-other-uid", '[[users]]\nname = "bin"\ngroup = "bin"\nhome = "/bin"\nuid = 7790\n', 3,
              "refused, nothing written: user bin: uid is 2 on the host, the spec says 7790"),
    spec_case("path-is-the-root", '[[paths]]\npath = "/"\nowner = "root"\ngroup = "root"\nmode = "0700"\n', 2,
              "paths[0].path: '/' is the root directory itself; name a directory under it"),
    spec_case("path-with-dot-second-mode", PATH + PATH.replace('"/var/qmail"', '"/var/qmail/."').replace("0755", "0700"), 2,
              "paths[1].path: '/var/qmail/.' is not a normalised absolute path (no '.', '..', '//' or trailing '/')"),
    spec_case("path-twice-with-double-slash", PATH + PATH.replace("/var/qmail", "/var//qmail"), 2,
              "paths[1].path: '/var//qmail' is not a normalised absolute path"),
    spec_case("path-component-too-long", PATH.replace("/var/qmail", "/var/" + "q" * 256), 2,
              "paths[0].path: '/var/qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq'... has a component longer than a file name may be (255 bytes)"),
    spec_case("path-too-long", PATH.replace("/var/qmail", "/var" + "/qmail" * 700), 2,
              "paths[0].path: '/var/qmail/qmail/qmail/qmail/qmail/qmail'... is 4204 bytes long, more than a path may be (4095)"),
    spec_case("home-with-dot", f"{GROUPS}[[users]]\n{USER.replace('/var/qmail/alias', '/var/qmail/./alias')}", 2,
              "users[0].home: '/var/qmail/./alias' is not a normalised absolute path"),
    Case("spec-is-a-directory", arguments("--spec", "{root}/etc"), 2, "{root}/etc: cannot read spec: a directory, not a regular file"),
    Case("spec-missing", arguments("--spec", "{root}/no.toml"), 2, "{root}/no.toml: cannot read spec: No such file or directory"),
]

ACCOUNT_FILE_CASES = [
    Case("passwd-8-fields", added_line("passwd", b"x:x:1:1::/:/bin/sh:extra\n"), 2,
         "{root}/etc/passwd:{line}: 8 fields, a passwd line has 7"),
    Case("group-3-fields", added_line("group", b"staff2:x:50\n"), 2, "{root}/etc/group:{line}: 3 fields, a group line has 4"),
    Case("shadow-8-fields", added_line("shadow", b"root2:*:19000:0:99999:7::\n"), 2,
         "{root}/etc/shadow:{line}: 8 fields, a shadow line has 9"),
    Case("gshadow-5-fields", added_line("gshadow", b"staff2:*:::\n"), 2,
         "{root}/etc/gshadow:{line}: 5 fields, a gshadow line has 4"),
    Case("passwd-gid-not-a-number", added_line("passwd", b"svc:x:500:users::/:/bin/sh\n"), 2,
         "{root}/etc/passwd:{line}: gid 'users' of 'svc' is not a number"),
    Case("group-gid-not-a-number", added_line("group", b"svc:x:five:\n"), 2,
         "{root}/etc/group:{line}: gid 'five' of 'svc' is not a number"),
    Case("passwd-uid-unicode-digit", added_line("passwd", "svc:x:\u00b2:1::/:/bin/sh\n".encode()), 2,
         "{root}/etc/passwd:{line}: uid '\u00b2' of 'svc' is not a number"),
    Case("passwd-uid-empty", added_line("passwd", b"svc:x::1::/:/bin/sh\n"), 2,
         "{root}/etc/passwd:{line}: uid '' of 'svc' is not a number"),
    Case("group-duplicate-name", added_line("group", b"daemon:x:77:\n"), 2,
         "{root}/etc/group:{line}: 'daemon' appears again (first on line 2)"),
    Case("shadow-duplicate-name", added_line("shadow", b"bin:*:19000:0:99999:7:::\n"), 2,
         "{root}/etc/shadow:{line}: 'bin' appears again (first on line 3)"),
    Case("passwd-duplicate-latin1-name", added_line("passwd", b"caf\xe9:x:1:1::/:/bin/sh\ncaf\xe9:x:2:2::/:/bin/sh\n"), 2,
         "'caf\\udce9' appears again (first on line {line})"),
    Case("group-empty-name", added_line("group", b":x:77:\n"), 2, "{root}/etc/group:{line}: empty name"),
    Case("group-no-final-newline", added_line("group", b"staff2:x:50:"), 2,
         "{root}/etc/group:{line}: the last line has no newline at its end"),
    Case("gshadow-no-final-newline", added_line("gshadow", b"staff2:*::"), 2,
         "{root}/etc/gshadow:{line}: the last line has no newline at its end"),
    Case("shadow-crlf", added_line("shadow", b"svc:*:19000:0:99999:7:::\r\n"), 2,
         "{root}/etc/shadow:{line}: carriage return in line (DOS line ends?)"),
    Case("gshadow-nul", added_line("gshadow", b"sv\0c:*::\n"), 2, "{root}/etc/gshadow:{line}: contains a NUL byte"),
    Case("passwd-empty", replaced("passwd", b""), 2, "{root}/etc/passwd: empty; a real passwd file has at least root in it"),
    Case("group-empty", replaced("group", b""), 2, "{root}/etc/group: empty; a real group file has at least root in it"),
    Case("passwd-missing", removed("passwd"), 2, "{root}/etc/passwd: missing; a passwd file is needed here"),
    Case("passwd-is-a-directory", as_directory("passwd"), 2, "{root}/etc/passwd: a directory, not a regular file"),
    Case("shadow-is-a-directory", as_directory("shadow"), 2, "{root}/etc/shadow: a directory, not a regular file"),
    Case("passwd-is-a-fifo", as_fifo, 2, "{root}/etc/passwd: a FIFO, not a regular file"),
]

COMMAND_LINE_CASES = [
    Case("root-empty", arguments("--root", ""), 2, "--root: empty; name a directory (/ for this host)"),
    Case("root-is-a-file", arguments("--root", "{root}/etc/passwd"), 2, "--root {root}/etc/passwd: not a directory"),
    Case("extra-argument", arguments("--dry-run", "now"), 2,
         "Got unexpected extra argument(s) (now) (see 'qmailsetup apply --help')"),
    Case("option-without-value", arguments("--root", "{root}", "--spec"), 2, "Option '--spec' requires an argument."),
    Case("platform-path-traversal", arguments("--platform", "../pyproject"), 2, "--platform ../pyproject: no such platform"),
    Case("platform-without-the-backend", arguments("--platform", "alpine", "--backend", "useradd"), 2,
         "--backend useradd: platform alpine has no useradd commands"),
    Case("detailed-exitcode-bad-spec", lambda host: (host.with_spec("[[groups]]\nname = 3\n") + ["--detailed-exitcode"], {}),
         2, "{spec}: groups[0].name: must be a string, in quotes"),
    Case("env-root-empty", arguments("--root", ""), 2, "--root: empty; name a directory (/ for this host)",
         args=("env", "--platform", "linux")),
    Case("check-root-is-a-file", arguments("--root", "{root}/etc/passwd"), 2, "--root {root}/etc/passwd: not a directory",
         args=("check", "--platform", "linux")),
    Case("env-spec-is-a-directory", arguments("--spec", "{root}/etc"), 2, "{root}/etc: cannot read spec: a directory, not a regular file",
         args=("env", "--platform", "linux")),
    Case("export-unknown-format", arguments("--format", "rpm"), 2, "Invalid value for '--format'",
         args=("export", "--platform", "linux"), rooted=False),
    Case("export-many-files-to-stdout", arguments("--format", "qmail-conf"), 2,
         "--format qmail-conf writes 4 files; give --output DIR", args=("export", "--platform", "linux"), rooted=False),
    Case("export-output-is-a-file", arguments("--format", "sysusers", "--output", "{root}/etc/passwd"), 2,
         "--output {root}/etc/passwd: not a directory", args=("export", "--platform", "linux"), rooted=False),
    Case("json-bad-spec", lambda host: (host.with_spec("users = 1\n") + ["--json"], {}),
         2, "{spec}: users: must be a list of tables, written [[users]]"),
]

CASES = SPEC_CASES + ACCOUNT_FILE_CASES + COMMAND_LINE_CASES


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 40
    assert len({case.id for case in CASES}) == len(CASES)


def run_case(case: Case, host: Host):
    extra, values = case.setup(host)
    root_given = "--root" in extra or not case.rooted
    args = [*case.args, *extra] + ([] if root_given else ["--root", str(host.root)])
    before = snapshot(host.root)
    result = cli(*args)
    # lckpwdf's empty lock file may be made: a real run locks before it reads
    assert without_pwd_lock(snapshot(host.root)) == without_pwd_lock(before), "a file under the root changed"
    expected = case.message.format(root=host.root, spec=host.spec, **values)
    return result, expected


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_is_one_line_and_changes_nothing(tmp_path, case):
    host = Host(debian_tree(tmp_path / "root"), tmp_path / "spec.toml")
    result, expected = run_case(case, host)
    assert result.code == case.code, result.err
    assert "Traceback" not in result.err
    assert result.err.count("\n") == 1 and result.err.endswith("\n"), result.err
    assert result.err.startswith("qmailsetup: ")
    assert expected in result.err
    if case.code == 2:
        assert result.out == "", "bad input is reported before anything is planned"


@contextlib.contextmanager
def as_nobody():
    """Root cannot be refused a read; nobody can. Drops only the effective
    IDs, so the test process gets root back afterwards."""
    os.setegid(NOBODY)
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


# shadow, root's alone, is unknown to a dry run as another user: tests/test_not_root.py
@pytest.mark.root("switches to nobody")
@pytest.mark.parametrize("kind", ["group", "passwd"])
def test_an_unreadable_account_file_exits_2(kind):
    # outside pytest's private (0700) temporary directory, so nobody can walk in
    with tempfile.TemporaryDirectory() as top:
        os.chmod(top, 0o755)
        root = debian_tree(Path(top) / "root")
        for name in ("passwd", "group", "shadow", "gshadow"):
            (root / "etc" / name).chmod(0o644)
        (root / "etc" / kind).chmod(0o600)
        before = snapshot(root)
        with as_nobody():
            result = cli("apply", "--dry-run", "--platform", "linux", "--root", root)
        assert result.code == 2, result.err
        assert result.err == f"qmailsetup: {root}/etc/{kind}: permission denied; run as root\n"
        assert snapshot(root) == before
