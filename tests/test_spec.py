"""The model: what a spec may say, and how a bad one is reported."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from conftest import cli
from qmailsetup.errors import BadInput
from qmailsetup.spec import load_spec, parse_spec


def test_built_in_default_is_the_qmail_layout():
    spec = load_spec(None)
    assert [g.name for g in spec.groups] == ["qmail", "nofiles"]
    assert {u.name: (u.group, u.home) for u in spec.users} == {
        "alias": ("nofiles", "/var/qmail/alias"),
        "qmaild": ("nofiles", "/var/qmail"),
        "qmaill": ("nofiles", "/var/qmail"),
        "qmailp": ("nofiles", "/var/qmail"),
        "qmailq": ("qmail", "/var/qmail"),
        "qmailr": ("qmail", "/var/qmail"),
        "qmails": ("qmail", "/var/qmail"),
    }
    assert [(p.path, p.owner, p.group, p.mode) for p in spec.paths] == [
        ("/var/qmail", "root", "qmail", "0755"),
        ("/var/qmail/alias", "alias", "qmail", "02755"),
    ]


USER = 'name = "alias"\ngroup = "nofiles"\nhome = "/var/qmail/alias"\n'

BAD_SPECS = [
    ("[[groups]\nname = 'x'", "invalid TOML"),
    ('[[groups]]\nname = "qmail"\ncolour = "red"\n', "groups[0].colour: unknown field"),
    ('[[groups]]\nname = "qm:ail"\n', "groups[0].name: 'qm:ail' is not a portable account name"),
    ('[[groups]]\nname = "-qmail"\n', "groups[0].name: '-qmail' is not a portable account name"),
    ('[[groups]]\nname = "q\\nmail"\n', "is not a portable account name"),
    (f'[[groups]]\nname = "{"q" * 33}"\n', "at most 32 characters"),
    ('[[groups]]\nname = "Qmail"\n', "is not a portable account name"),
    ('[[groups]]\nname = "qmail"\n[[groups]]\nname = "qmail"\n', "groups: name 'qmail' appears more than once"),
    ('[[groups]]\nname = "a"\ngid = 5\n[[groups]]\nname = "b"\ngid = 5\n', "groups: gid 5 appears more than once"),
    ('[[groups]]\nname = "a"\ngid = -1\n', "groups[0].gid: -1 is out of range"),
    ('[[groups]]\nname = "a"\ngid = 0\n', "groups[0].gid: 0 is out of range"),
    ('[[groups]]\nname = "a"\ngid = 65535\n', "65535 is out of range"),
    ('[[groups]]\nname = "a"\ngid = 4294967296\n', "is out of range"),
    ('[[groups]]\nname = "a"\ngid = "12"\n', "groups[0].gid: '12' is a string; write the number without quotes"),
    (f'[[users]]\n{USER}uid = 7790\n[[users]]\nname = "b"\ngroup = "c"\nhome = "/x"\nuid = 7790\n', "users: uid 7790 appears more than once"),
    ('[[users]]\nname = "alias"\ngroup = "nofiles"\nhome = "var/qmail"\n', "users[0].home: 'var/qmail' is not an absolute path"),
    ('[[users]]\nname = "alias"\ngroup = "nofiles"\nhome = "/var/../etc"\n', "is not a normalised absolute path"),
    (f'[[users]]\n{USER}shell = "nologin"\n', "users[0].shell: 'nologin' is not an absolute path"),
    (f'[[users]]\n{USER}comment = "a:b"\n', "users[0].comment: 'a:b' contains ':'"),
    ('[[users]]\nname = "alias"\nhome = "/var/qmail"\n', "users[0].group: missing; every entry needs it"),
    ('[[paths]]\npath = "/var/qmail"\nowner = "root"\ngroup = "qmail"\nmode = "999"\n', "paths[0].mode: '999' is not an octal mode"),
    ('[[paths]]\npath = "/var/qmail"\nowner = "root"\ngroup = "qmail"\nmode = 755\n', 'paths[0].mode: 755 is a number; write the mode as a quoted octal string ("0755")'),
    ('[[paths]]\npath = "/var/qmail/"\nowner = "root"\ngroup = "qmail"\nmode = "0755"\n', "not a normalised absolute path"),
    ('groups = 3\n', "groups: must be a list of tables, written [[groups]]"),
]


def path_entry(path: str, mode: str = "0755") -> str:
    return f'[[paths]]\npath = "{path}"\nowner = "root"\ngroup = "qmail"\nmode = "{mode}"\n'


def user_with_home(home: str) -> str:
    return f'[[users]]\nname = "alias"\ngroup = "nofiles"\nhome = "{home}"\n'


LONG_NAME = "q" * 256
# paths that name a directory some other way than the one way, or cannot be one
BAD_PATHS = [
    (path_entry("/"), "my.toml: paths[0].path: '/' is the root directory itself; name a directory under it"),
    (path_entry("/var/qmail") + path_entry("/var/qmail/.", "0700"),
     "my.toml: paths[1].path: '/var/qmail/.' is not a normalised absolute path (no '.', '..', '//' or trailing '/')"),
    (path_entry("/var/./qmail"), "my.toml: paths[0].path: '/var/./qmail' is not a normalised absolute path"),
    (path_entry("/var/qmail") + path_entry("/var//qmail"), "my.toml: paths[1].path: '/var//qmail' is not a normalised"),
    (path_entry("//var/qmail"), "my.toml: paths[0].path: '//var/qmail' is not a normalised"),
    (path_entry("/var/qmail/.."), "my.toml: paths[0].path: '/var/qmail/..' is not a normalised"),
    (path_entry("/."), "my.toml: paths[0].path: '/.' is not a normalised"),
    (path_entry(f"/var/{LONG_NAME}"),
     "my.toml: paths[0].path: '/var/qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq'... has a component longer than a file name may be (255 bytes)"),
    # 128 two-byte letters: 128 characters, 256 bytes
    (path_entry("/var/" + "\u00e9" * 128), "my.toml: paths[0].path: '/var/" + "\u00e9" * 35 + "'... has a component longer than a file name may be (255 bytes)"),
    (path_entry("/v" + "/qmail" * 683), "my.toml: paths[0].path: '/v/qmail/qmail/qmail/qmail/qmail/qmail/q'... is 4100 bytes long, "
     "more than a path may be (4095)"),
    (user_with_home("/var/qmail/."), "my.toml: users[0].home: '/var/qmail/.' is not a normalised absolute path"),
    (user_with_home("/var/qmail/./alias"), "my.toml: users[0].home: '/var/qmail/./alias' is not a normalised"),
    (user_with_home(f"/{LONG_NAME}"), "my.toml: users[0].home: '/qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq'... has a component longer"),
    (user_with_home("/var/qmail") + 'shell = "/sbin/./nologin"\n', "my.toml: users[0].shell: '/sbin/./nologin' is not a normalised"),
]


@pytest.mark.parametrize(("text", "message"), BAD_PATHS)
def test_a_path_written_another_way_is_refused_naming_the_field(text, message):
    with pytest.raises(BadInput) as error:
        parse_spec(text, "my.toml")
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


def test_paths_at_the_limits_are_accepted():
    name = "q" * 255
    path = "/v" + f"/{name}" * 15 + "/" + "q" * (4095 - 2 - 15 * 256 - 1)
    assert len(path) == 4095
    spec = parse_spec(path_entry(f"/var/{name}") + path_entry(path) + user_with_home("/"), "my.toml")
    assert [p.path for p in spec.paths] == [f"/var/{name}", path]
    # a home may be / (nobody's often is): useradd -M makes none, apply never touches it
    assert spec.users[0].home == "/"


@pytest.mark.parametrize(("text", "message"), BAD_SPECS)
def test_bad_spec_is_one_line_naming_file_and_field(text, message):
    with pytest.raises(BadInput) as error:
        parse_spec(text, "my.toml")
    assert len(error.value.lines) == 1
    assert str(error.value).startswith("my.toml: ")
    assert message in str(error.value)
    assert "\n" not in str(error.value)
    for leaked in ("Value error", "Input should", "Field required", "Extra inputs"):
        assert leaked not in str(error.value)


SEVERAL_PROBLEMS = """\
[[groups]]
name = "qmail"
gid = "2107"

[[users]]
name = "alias"
group = "qmail"
hom = "/var/qmail/alias"
shell = 5
uid = 7790.0

[[paths]]
path = "/var/qmail"
owner = "root"
group = "qmail"
mode = 2755
colour = "red"
"""


def test_a_spec_with_several_problems_lists_every_one_a_line_each(tmp_path):
    spec = tmp_path / "several.toml"
    spec.write_text(SEVERAL_PROBLEMS)
    before = sorted(p.name for p in tmp_path.iterdir())
    result = subprocess.run([sys.executable, "-m", "qmailsetup", "apply", "--dry-run", "--spec", spec,
                             "--root", tmp_path], capture_output=True, text=True)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [
        f"qmailsetup: {spec}: groups[0].gid: '2107' is a string; write the number without quotes",
        f"qmailsetup: {spec}: users[0].uid: must be a whole number",
        f"qmailsetup: {spec}: users[0].shell: must be a string, in quotes",
        f"qmailsetup: {spec}: users[0].hom: unknown field; did you mean 'home'?",
        f'qmailsetup: {spec}: paths[0].mode: 2755 is a number; write the mode as a quoted octal string ("02755")',
        f"qmailsetup: {spec}: paths[0].colour: unknown field",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize(("text", "message"), [
    ('[[users]]\nname = "a"\ngroup = "b"\nhome = "/x"\nclas = "daemon"\n', "users[0].clas: unknown field; did you mean 'class'?"),
    ('[[group]]\nname = "a"\n', "group: unknown field; did you mean 'groups'?"),
    ('[[paths]]\npath = "/v"\nowner = "r"\ngroup = "q"\nmod = "0755"\n', "paths[0].mod: unknown field; did you mean 'mode'?"),
])
def test_a_misspelt_field_names_the_one_meant(text, message):
    with pytest.raises(BadInput) as error:
        parse_spec(text, "my.toml")
    assert error.value.lines == (f"my.toml: {message}",)


def test_bad_spec_file_exits_2_without_traceback(tmp_path):
    spec = tmp_path / "bad.toml"
    spec.write_text('[[users]]\nname = "alias"\ngroup = "nofiles"\nhome = "relative"\n')
    result = cli("apply", "--dry-run", "--spec", spec, "--root", tmp_path)
    assert result.code == 2
    assert result.err == f"qmailsetup: {spec}: users[0].home: 'relative' is not an absolute path\n"
    assert result.out == ""


def test_missing_spec_file_exits_2(tmp_path):
    result = cli("apply", "--dry-run", "--spec", tmp_path / "nope.toml", "--root", tmp_path)
    assert result.code == 2
    assert "nope.toml: cannot read spec: No such file or directory" in result.err


NAME_RULE = "(lower case letters, digits, '_' and '-', not starting with '-' or a digit, at most 32 characters)"
RANGE_RULE = f"(1..{2**31 - 1}, not 65535)"
# the whole line, word for word: what a user reads and acts on
EXACT_LINES = [
    ('[[groups]]\nname = "Qmail"\n', f"groups[0].name: 'Qmail' is not a portable account name {NAME_RULE}"),
    (f'[[groups]]\nname = "{"q" * 33}"\n', f"groups[0].name: '{'q' * 33}' is not a portable account name {NAME_RULE}"),
    ('[[groups]]\nname = "a"\ngid = 65535\n', f"groups[0].gid: 65535 is out of range {RANGE_RULE}"),
    ('[[groups]]\nname = "a"\ngid = 2147483648\n', f"groups[0].gid: 2147483648 is out of range {RANGE_RULE}"),
    ('[[groups]]\nname = "a"\nrole = "mail"\n', "groups[0].role: 'mail' is not one of 'qmail' or 'nofiles'"),
    ('[[groups]]\nname = "a"\ngid = 2.5\n', "groups[0].gid: must be a whole number"),
    ('groups = [3]\n', "groups[0]: must be a table"),
    ('[[paths]]\npath = "/var/qmail"\nowner = "root"\ngroup = "qmail"\nmode = "999"\n',
     "paths[0].mode: '999' is not an octal mode such as \"0755\" or \"02755\""),
    ('[[paths]]\npath = "/var/qmail"\nowner = "root"\ngroup = "qmail"\nmode = "007555"\n',
     "paths[0].mode: '007555' is not an octal mode such as \"0755\" or \"02755\""),
    ('[[paths]]\npath = "/v"\nowner = "root"\ngroup = "q"\nmode = "0755"\n[[paths]]\npath = "/v"\nowner = "root"\n'
     'group = "q"\nmode = "0700"\n', "paths: path '/v' appears more than once"),
    ('[[groups]]\nname = "a"\n[[groups]]\nname = "b"\n[[groups]]\nname = "a"\n[[groups]]\nname = "b"\n',
     "groups: name 'a' appears more than once"),
    (f'[[users]]\n{USER}comment = "a\\rb"\n', "users[0].comment: 'a\\rb' contains '\\r' (U+000D), a control character, which no account line may hold"),
    (f'[[users]]\n{USER}class = "x\\u0000"\n', "users[0].class: 'x\\x00' contains '\\x00' (U+0000), a control character, which no account line may hold"),
    # not printable: it would reach terminals raw through the exports
    ('[[users]]\nname = "a"\ngroup = "b"\nhome = "/x\\u202e"\n', "users[0].home: '/x\\u202e' contains '\\u202e', which is not printable"),
    (f'[[users]]\n{USER}comment = "a\\u001b[8mb"\n', "users[0].comment: 'a\\x1b[8mb' contains '\\x1b' (U+001B), a control character, which no account line may hold"),
    ('[[users]]\nname = "a"\ngroup = "b"\nhome = "/var/qmail/"\n',
     "users[0].home: '/var/qmail/' is not a normalised absolute path (no '.', '..', '//' or trailing '/')"),
    ('[[users]]\nname = "a"\ngroup = "b"\nhome = "/x"\nshell = "/bin:sh"\n',
     "users[0].shell: '/bin:sh' contains ':', the field separator, which no account line may hold"),
    ('colour = "red"\n', "colour: unknown field"),
    ('Xgroups = 1\n', "Xgroups: unknown field; did you mean 'groups'?"),
    # the value is shown as written, even where it holds pydantic's own words
    (f'[[users]]\n{USER}comment = "a valid one:x"\n',
     "users[0].comment: 'a valid one:x' contains ':', the field separator, which no account line may hold"),
    # TOML's true is no number of a mode (Python counts it an int)
    ('[[paths]]\npath = "/v"\nowner = "root"\ngroup = "q"\nmode = true\n', "paths[0].mode: must be a string, in quotes"),
    ('[[groups]]\nname = "a"\ngid = true\n', "groups[0].gid: must be a whole number"),
    (f'[[users]]\n{USER}groups = ["qcerts", 7]\n', "users[0].groups[1]: must be a string, in quotes"),
    ('[[groups]]\nname = "a"\nrole = 5\n', "groups[0].role: 5 is not one of 'qmail' or 'nofiles'"),
]


@pytest.mark.parametrize(("text", "line"), EXACT_LINES, ids=[re.sub(r"[^A-Za-z0-9]+", "-", line) for _, line in EXACT_LINES])
def test_a_bad_spec_is_named_in_exactly_these_words(text, line):
    with pytest.raises(BadInput) as error:
        parse_spec(text, "my.toml")
    assert error.value.lines == (f"my.toml: {line}",)


def test_ids_and_modes_at_their_limits_are_accepted():
    spec = parse_spec('[[groups]]\nname = "a"\ngid = 1\n[[groups]]\nname = "b"\ngid = 2147483647\n'
                      '[[groups]]\nname = "c"\ngid = 65534\n' + path_entry("/v", "755") + path_entry("/w", "02755")
                      + f'[[users]]\n{USER}class = "daemon"\nrole = "alias"\n', "my.toml")
    assert [g.gid for g in spec.groups] == [1, 2147483647, 65534]
    assert [p.mode_bits for p in spec.paths] == [0o755, 0o2755]
    assert (spec.users[0].login_class, spec.users[0].role) == ("daemon", "alias")
    assert spec.group("b").gid == 2147483647
    assert spec.group("z") is None


@pytest.mark.parametrize(("content", "reason"), [
    pytest.param(None, "a directory, not a regular file", id="directory"),
    pytest.param(b"\xff[[groups]]\n", "'utf-8' codec can't decode byte 0xff in position 0: invalid start byte",
                 id="not-utf-8"),
])
def test_a_spec_that_cannot_be_read_is_named_with_the_reason(tmp_path, content, reason):
    path = tmp_path / "spec.toml"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    with pytest.raises(BadInput) as error:
        load_spec(path)
    assert error.value.lines == (f"{path}: cannot read spec: {reason}",)


def test_a_missing_spec_file_is_named_with_the_system_reason(tmp_path):
    path = tmp_path / "nope.toml"
    with pytest.raises(BadInput) as error:
        load_spec(path)
    assert error.value.lines == (f"{path}: cannot read spec: No such file or directory",)


def test_a_spec_file_is_read_and_its_problems_named_by_its_path(tmp_path):
    good, bad = tmp_path / "good.toml", tmp_path / "bad.toml"
    good.write_text(path_entry("/var/qmail", "0750"))
    bad.write_text(user_with_home("relative"))
    spec = load_spec(good)
    assert [(p.path, p.owner, p.group, p.mode_bits) for p in spec.paths] == [("/var/qmail", "root", "qmail", 0o750)]
    assert (spec.groups, spec.users) == ([], [])
    with pytest.raises(BadInput) as error:
        load_spec(bad)
    assert error.value.lines == (f"{bad}: users[0].home: 'relative' is not an absolute path",)


def test_a_broken_built_in_default_is_named_as_such(tmp_path, monkeypatch):
    # a packaging error: default.toml beside the module is not a valid spec
    import qmailsetup.spec

    (tmp_path / "default.toml").write_text('[[groups]]\nname = "Qmail"\n')
    monkeypatch.setattr(qmailsetup.spec, "__file__", str(tmp_path / "spec.py"))
    with pytest.raises(BadInput) as error:
        load_spec(None)
    assert error.value.lines == (f"built-in default spec: groups[0].name: 'Qmail' is not a portable account name {NAME_RULE}",)


def test_several_problems_are_each_named_once_in_the_order_of_the_file():
    # the same spec as the command-line test above, here in this process
    with pytest.raises(BadInput) as error:
        parse_spec(SEVERAL_PROBLEMS, "several.toml")
    assert error.value.lines == (
        "several.toml: groups[0].gid: '2107' is a string; write the number without quotes",
        "several.toml: users[0].uid: must be a whole number",
        "several.toml: users[0].shell: must be a string, in quotes",
        "several.toml: users[0].hom: unknown field; did you mean 'home'?",
        'several.toml: paths[0].mode: 2755 is a number; write the mode as a quoted octal string ("02755")',
        "several.toml: paths[0].colour: unknown field",
    )


# every character no account line may hold but ':' and '\n' (above): C0
# (TAB too), DEL, C1 (NEL), and the Unicode line and paragraph separators
CONTROL_CHARACTERS = ["\f", "\v", "\a", "\t", "\x1b", "\x7f", "\x85", "\x9f", "\u2028", "\u2029"]
CONTROL_FIELDS = {"comment": "qmail{}alias", "home": "/var/qmail/{}alias", "shell": "/sbin/{}nologin"}


@pytest.mark.parametrize("field", list(CONTROL_FIELDS))
@pytest.mark.parametrize("char", CONTROL_CHARACTERS, ids=[f"U+{ord(c):04X}" for c in CONTROL_CHARACTERS])
def test_a_control_character_in_a_field_is_refused_naming_it(tmp_path, field, char):
    """Exit 2, one line naming the file and the field, before the host is
    looked at: nothing written, whichever backend would have run."""
    value = CONTROL_FIELDS[field].format(char)
    escaped = CONTROL_FIELDS[field].format(f"\\u{ord(char):04x}")  # TOML's escape: the file itself stays plain
    fields = {"name": '"alias"', "group": '"nofiles"', "home": '"/var/qmail/alias"', field: f'"{escaped}"'}
    spec = tmp_path / "spec.toml"
    spec.write_text("[[users]]\n" + "".join(f"{key} = {text}\n" for key, text in fields.items()))
    (tmp_path / "root").mkdir()
    result = cli("apply", "--spec", spec, "--root", tmp_path / "root")
    assert result.code == 2
    kind = "a Unicode line separator" if char in "\u2028\u2029" else "a control character"
    assert result.err == (f"qmailsetup: {spec}: users[0].{field}: {value!r} contains {char!r} (U+{ord(char):04X}), "
                          f"{kind}, which no account line may hold\n")
    assert result.out == ""
