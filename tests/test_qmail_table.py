"""The spec's [qmail] table: which installation, its home, queue and split;
its defaults (never the users' homes), each example's, and bad values
refused with one line naming the field."""

from __future__ import annotations

import pytest

from conftest import cli
from qmailsetup.errors import BadInput
from qmailsetup.spec import load_spec, parse_spec
from snapshot import snapshot
from trees import EXAMPLES

USERS_AT_VAR_LIB = "".join(
    f'[[users]]\nname = "{name}"\ngroup = "g"\nhome = "/var/lib/qmail"\n' for name in ("qmaild", "qmaill", "qmailp")
)


def table(spec) -> tuple:
    return spec.qmail.installation, spec.qmail.home, spec.qmail.queue_path, spec.qmail.split


def test_the_built_in_default_is_notqmail_1_09_in_var_qmail():
    spec = load_spec(None)
    assert table(spec) == ("notqmail-1.09", "/var/qmail", "/var/qmail/queue", 23)
    assert spec.qmail.queue is None


def test_the_home_is_never_taken_from_the_users_homes():
    assert table(parse_spec(USERS_AT_VAR_LIB, "t")) == ("notqmail-1.09", "/var/qmail", "/var/qmail/queue", 23)


def test_the_queue_follows_the_home_unless_named():
    assert table(parse_spec('[qmail]\nhome = "/opt/qmail"\n', "t"))[1:3] == ("/opt/qmail", "/opt/qmail/queue")
    spec = parse_spec('[qmail]\nhome = "/opt/qmail"\nqueue = "/var/spool/qmail"\n', "t")
    assert table(spec)[1:3] == ("/opt/qmail", "/var/spool/qmail")


EXAMPLE_TABLES = {
    "install-ids": ("netqmail", "/var/qmail", "/var/qmail/queue", 23),
    "freebsd-ports": ("netqmail", "/var/qmail", "/var/qmail/queue", 23),
    "gentoo": ("notqmail-1.09", "/var/qmail", "/var/qmail/queue", 23),
    "debian-netqmail": ("netqmail", "/var/lib/qmail", "/var/lib/qmail/queue", 23),
    "s-qmail": ("sqmail-4.0", "/var/qmail", "/var/qmail/queue", 23),
    "void-sqmail": ("sqmail-4.0", "/var/qmail", "/var/qmail/queue", 23),
}


def test_every_example_names_its_installation():
    assert sorted(p.stem for p in EXAMPLES.glob("*.toml")) == sorted(EXAMPLE_TABLES)


@pytest.mark.parametrize("example", EXAMPLE_TABLES)
def test_each_example_says_which_qmail_and_where(example):
    path = EXAMPLES / f"{example}.toml"
    assert "\n[qmail]\n" in path.read_text()
    assert table(load_spec(path)) == EXAMPLE_TABLES[example]


def test_gentoos_home_is_var_qmail_though_its_users_live_at_dev_null():
    spec = load_spec(EXAMPLES / "gentoo.toml")
    assert {u.home for u in spec.users} == {"/var/qmail/alias", "/dev/null"}
    assert spec.qmail.home == "/var/qmail"


def test_values_at_their_limits_are_accepted():
    assert parse_spec("[qmail]\nsplit = 1\n", "t").qmail.split == 1
    assert parse_spec("[qmail]\nsplit = 1000\n", "t").qmail.split == 1000
    for name in ("netqmail", "notqmail-1.08", "notqmail-1.09", "sqmail-4.0"):
        assert parse_spec(f'[qmail]\ninstallation = "{name}"\n', "t").qmail.installation == name


KNOWN = "(netqmail, notqmail-1.08, notqmail-1.09, sqmail-4.0)"
BAD = [
    ('[qmail]\ninstallation = "notqmail"\n', f"qmail.installation: 'notqmail' is not a known installation {KNOWN}"),
    ('[qmail]\ninstallation = "../platforms/linux"\n', "qmail.installation: '../platforms/linux' is not a known installation"),
    ("[qmail]\ninstallation = 1\n", "qmail.installation: must be a string, in quotes"),
    ('[qmail]\nhome = "var/qmail"\n', "qmail.home: 'var/qmail' is not an absolute path"),
    ('[qmail]\nhome = "/var/qmail/"\n', "qmail.home: '/var/qmail/' is not a normalised absolute path (no '.', '..', '//' or trailing '/')"),
    ('[qmail]\nhome = "/"\n', "qmail.home: '/' is the root directory itself; name a directory under it"),
    ('[qmail]\nqueue = "/var/qmail/../spool"\n', "qmail.queue: '/var/qmail/../spool' is not a normalised absolute path"),
    ('[qmail]\nqueue = "/var/qmail"\n', "qmail: queue: '/var/qmail' is the home itself; the queue is a directory of its own"),
    ("[qmail]\nsplit = 0\n", "qmail.split: 0 is out of range (1..1000; qmail's default is 23)"),
    ("[qmail]\nsplit = 1001\n", "qmail.split: 1001 is out of range (1..1000; qmail's default is 23)"),
    ("[qmail]\nsplit = -23\n", "qmail.split: -23 is out of range (1..1000; qmail's default is 23)"),
    ('[qmail]\nsplit = "23"\n', "qmail.split: '23' is a string; write the number without quotes"),
    ("[qmail]\nsplit = 23.5\n", "qmail.split: must be a whole number"),
    ("[qmail]\nsplit = true\n", "qmail.split: must be a whole number"),
    ('[qmail]\nhom = "/var/qmail"\n', "qmail.hom: unknown field; did you mean 'home'?"),
    ('[qmail]\nbin = "/usr/bin"\n', "qmail.bin: unknown field"),
    ("qmail = 3\n", "qmail: must be a table"),
    ('[[qmail]]\nhome = "/var/qmail"\n', "qmail: must be a table"),
]


@pytest.mark.parametrize(("text", "line"), BAD, ids=[line.split(":")[0] + "-" + str(n) for n, (_, line) in enumerate(BAD)])
def test_a_bad_qmail_table_is_one_line_naming_the_field(text, line):
    with pytest.raises(BadInput) as error:
        parse_spec(text, "my.toml")
    assert len(error.value.lines) == 1
    assert error.value.lines[0].startswith(f"my.toml: {line}")


@pytest.mark.parametrize("command", [["apply", "--dry-run"], ["apply"], ["check"], ["env"]])
def test_a_bad_qmail_table_exits_2_and_writes_nothing(tmp_path, command):
    spec = tmp_path / "bad.toml"
    # install-ids.toml ends with its [qmail] table
    spec.write_text(EXAMPLES.joinpath("install-ids.toml").read_text() + "split = 0\n")
    root = tmp_path / "root"
    root.mkdir()
    before = snapshot(root)
    result = cli(*command, "--spec", spec, "--root", root)
    assert (result.code, result.out) == (2, "")
    assert result.err == f"qmailsetup: {spec}: qmail.split: 0 is out of range (1..1000; qmail's default is 23)\n"
    assert snapshot(root) == before
