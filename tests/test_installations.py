"""installations/: every path qmail's installer makes, per fork and version,
held to what a real `make setup check` made (tests/fixtures/installed), to
the facts of docs/qmail.md, and resolved for a home, a queue and a split."""

from __future__ import annotations

from pathlib import Path

import pytest

from qmailsetup import installation
from qmailsetup.errors import BadInput
from qmailsetup.installation import (
    QmailInstall,
    account_names,
    known_names,
    load_installation,
    qmail_install,
)
from qmailsetup.layout import qmail_layout
from qmailsetup.spec import load_spec, parse_spec
from trees import EXAMPLES, FIXTURES

DOCS = Path(__file__).parent.parent / "docs" / "installations.md"
# the recorded install -> the installation table that must describe it
RECORDED = {
    "qmail-1.03": "netqmail",
    "netqmail-1.06": "netqmail",
    "notqmail-1.08": "notqmail-1.08",
    "notqmail-1.09": "notqmail-1.09",
}
TYPES = {"d": "dir", "f": "file", "p": "fifo"}


def test_the_tables_are_the_ones_documented():
    assert known_names() == ["netqmail", "notqmail-1.08", "notqmail-1.09", "sqmail-4.0"]
    docs = DOCS.read_text()
    for name in known_names():
        table = load_installation(name)
        assert f"`{name}`" in docs and table.source in docs, name


def recorded(version: str) -> dict[str, tuple]:
    """fixtures/installed/VERSION.txt: path -> (type, owner, group, mode, size)."""
    found = {}
    for line in (FIXTURES / "installed" / f"{version}.txt").read_text().splitlines():
        if not line.startswith("#"):
            path, owner, group, mode, kind, *size = line.split()
            where = "/var/qmail" if path == "." else f"/var/qmail/{path}"
            found[where] = (TYPES[kind], owner, group, int(mode, 8), int(size[0]) if size else None)
    return found


@pytest.mark.parametrize("version", RECORDED)
def test_a_real_make_setup_check_made_exactly_the_tables_paths(version):
    install = QmailInstall(RECORDED[version], load_installation(RECORDED[version]), "/var/qmail", "/var/qmail/queue", 23)
    found = recorded(version)
    # the build's accounts carry qmail's standard names: each role is its name
    expected = {p.path: (p.type, p.owner, p.group, p.mode, p.size) for p in install.places}
    assert found.keys() == expected.keys()
    sized = {path: (*found[path][:4], found[path][4] if expected[path][4] is not None else None) for path in found}
    assert sized == expected


def test_notqmail_1_09_dropped_what_1_08_still_installed():
    paths = {name: {p.path for p in load_installation(name).home} for name in ("netqmail", "notqmail-1.08", "notqmail-1.09")}
    assert paths["netqmail"] - paths["notqmail-1.08"] == {"doc/SENDMAIL", "doc/INSTALL"}
    assert paths["notqmail-1.08"] - paths["notqmail-1.09"] >= {"bin/qsmhook", "bin/maildirwatch", "bin/qail", "doc/FAQ"}
    assert paths["notqmail-1.09"] - paths["notqmail-1.08"] >= {"doc/FAQ.md", "doc/INSTALL.ids.md"}


def entry(name: str, anchor: str, path: str) -> tuple:
    table = load_installation(name)
    (found,) = [e for e in getattr(table, anchor) if e.path == path]
    return found.type, found.owner, found.group, found.mode, found.size, found.split


@pytest.mark.parametrize("name", ["netqmail", "notqmail-1.08", "notqmail-1.09", "sqmail-4.0"])
def test_every_table_holds_the_facts_of_docs_qmail_md(name):
    assert entry(name, "home", ".") == ("dir", "root", "qmail", "0755", None, False)
    assert entry(name, "home", "alias") == ("dir", "alias", "qmail", "02755", None, False)
    assert entry(name, "home", "bin") == ("dir", "root", "qmail", "0755", None, False)
    assert entry(name, "home", "bin/qmail-queue") == ("file", "qmailq", "qmail", "04711", None, False)
    assert entry(name, "queue", ".") == ("dir", "qmailq", "qmail", "0750", None, False)
    for path, owner, mode in [("mess", "qmailq", "0750"), ("info", "qmails", "0700"), ("local", "qmails", "0700"),
                              ("remote", "qmails", "0700")]:
        assert entry(name, "queue", path) == ("dir", owner, "qmail", mode, None, True)
    for path, owner, mode in [("pid", "qmailq", "0700"), ("intd", "qmailq", "0700"), ("todo", "qmailq", "0750"),
                              ("bounce", "qmails", "0700"), ("lock", "qmailq", "0750")]:
        assert entry(name, "queue", path)[:4] == ("dir", owner, "qmail", mode)
    assert entry(name, "queue", "lock/tcpto") == ("file", "qmailr", "qmail", "0644", 1024, False)
    assert entry(name, "queue", "lock/sendmutex") == ("file", "qmails", "qmail", "0600", 0, False)
    assert entry(name, "queue", "lock/trigger") == ("fifo", "qmails", "qmail", "0622", None, False)
    # only s/qmail splits todo and intd (big-todo built in) and has a TLS user's ssl
    big_todo = name.startswith("sqmail")
    assert (entry(name, "queue", "todo")[5], entry(name, "queue", "intd")[5]) == (big_todo, big_todo)
    assert any(e.owner == "sqmtls" for e in load_installation(name).home) == big_todo


def test_s_qmail_keeps_its_ssl_directory_for_the_tls_user_in_the_nofiles_group():
    assert entry("sqmail-4.0", "home", "ssl") == ("dir", "sqmtls", "nofiles", "0700", None, False)
    assert entry("sqmail-4.0", "home", "bin/qmail-authuser")[1:4] == ("root", "qmail", "06711")


def test_notqmails_formatted_man_pages_are_optional_as_its_installer_makes_them():
    for name in ("notqmail-1.08", "notqmail-1.09"):
        optional = {e.path for e in load_installation(name).home if e.optional}
        assert optional and all(p.startswith("man/cat") and p.endswith(".0") for p in optional)
        assert {e.path for e in load_installation(name).home if e.path.startswith("man/cat")} - optional == {
            "man/cat1", "man/cat5", "man/cat7", "man/cat8",
        }
    assert not any(e.optional for e in load_installation("netqmail").home)


def test_the_built_in_installation_resolves_to_var_qmail_with_23_subdirectories():
    install = qmail_install(load_spec(None))
    assert (install.name, install.home, install.bin, install.queue, install.split) == (
        "notqmail-1.09", "/var/qmail", "/var/qmail/bin", "/var/qmail/queue", 23,
    )
    places = [p.path for p in install.places]
    assert len(places) == len(set(places)) == 188 + 13 + 4 * 23
    assert places[:2] == ["/var/qmail", "/var/qmail/control"]
    mess = places.index("/var/qmail/queue/mess")
    assert places[mess + 1 : mess + 25] == [f"/var/qmail/queue/mess/{i}" for i in range(23)] + ["/var/qmail/queue/info"]
    assert install.place("/var/qmail/queue/mess/22") == installation.Place(
        "/var/qmail/queue/mess/22", "dir", "qmailq", "qmail", 0o750,
    )
    assert install.place("/var/qmail/queue/mess/23") is None
    assert install.place("/var/qmail/queue/lock/tcpto").size == 1024


def test_a_queue_put_elsewhere_takes_every_queue_path_along():
    spec = parse_spec('[qmail]\nhome = "/opt/sqmail"\nqueue = "/var/spool/sqmail"\ninstallation = "sqmail-4.0"\nsplit = 5\n', "t")
    install = qmail_install(spec)
    assert (install.home, install.bin, install.queue, install.split) == ("/opt/sqmail", "/opt/sqmail/bin", "/var/spool/sqmail", 5)
    paths = [p.path for p in install.places]
    assert not any(p.startswith(("/opt/sqmail/queue", "/var/qmail")) for p in paths)
    queue = [p for p in paths if p.startswith("/var/spool/sqmail")]
    assert len(queue) == 13 + 6 * 5 and "/var/spool/sqmail/todo/4" in queue and "/var/spool/sqmail/todo/5" not in queue
    assert install.place("/var/spool/sqmail").owner == "qmailq"
    assert install.place("/opt/sqmail/ssl").owner == "sqmtls"


def test_a_split_of_one_makes_one_subdirectory_each():
    install = qmail_install(parse_spec("[qmail]\nsplit = 1\n", "t"))
    assert [p.path for p in install.places if p.path.startswith("/var/qmail/queue/mess")] == [
        "/var/qmail/queue/mess", "/var/qmail/queue/mess/0",
    ]


@pytest.mark.parametrize(("example", "users", "group"), [
    ("s-qmail", {"root": "root", "sqmtls": "sqmtls", "qmailq": "qmailq"}, "sqmail"),
    ("void-sqmail", {"root": "root", "sqmtls": "_sqmtls", "qmailq": "_qmailq"}, "_sqmail"),
])
def test_each_role_is_the_spec_account_that_plays_it(example, users, group):
    spec = load_spec(EXAMPLES / f"{example}.toml")
    install = qmail_install(spec)
    names, groups = account_names(install, qmail_layout(spec, example), example)
    assert {role: names[role] for role in users} == users
    assert groups["qmail"] == group


def test_an_installation_whose_owner_no_account_plays_is_refused():
    text = EXAMPLES.joinpath("install-ids.toml").read_text().replace('installation = "netqmail"', 'installation = "sqmail-4.0"')
    spec = parse_spec(text, "t")
    with pytest.raises(BadInput) as error:
        account_names(qmail_install(spec), qmail_layout(spec, "my.toml"), "my.toml")
    assert error.value.lines == (
        "my.toml: installation sqmail-4.0 has paths owned by qmail's tls user, but no user of the spec plays that role",
    )


def test_an_unknown_installation_is_named_with_the_known_ones():
    with pytest.raises(BadInput) as error:
        load_installation("qmail-2.0")
    assert error.value.lines == (
        "installation 'qmail-2.0': no such installation (known: netqmail, notqmail-1.08, notqmail-1.09, sqmail-4.0)",
    )
    with pytest.raises(BadInput):
        load_installation("../platforms/linux")


GOOD = '''description = "t"
source = "s"
home = [{ path = ".", type = "dir", owner = "root", group = "qmail", mode = "0755" }, HOME]
queue = [{ path = ".", type = "dir", owner = "qmailq", group = "qmail", mode = "0750" }, QUEUE]
'''
LOCK = '{ path = "lock", type = "dir", owner = "qmailq", group = "qmail", mode = "0750" }'
BIN = '{ path = "bin", type = "dir", owner = "root", group = "qmail", mode = "0755" }'


def table(home: str = BIN, queue: str = LOCK) -> str:
    return GOOD.replace("HOME", home).replace("QUEUE", queue)


BROKEN = [
    (table(home='{ path = "bin", type = "dri", owner = "root", group = "qmail", mode = "0755" }'),
     "home[1].type: 'dri' is not one of 'dir', 'file' or 'fifo'"),
    (table(home='{ path = "bin", type = "dir", owner = "qmaild", group = "users", mode = "0755" }'),
     "home[1].group: 'users' is not one of 'qmail' or 'nofiles'"),
    (table(home='{ path = "bin", type = "dir", owner = "nobody", group = "qmail", mode = "0755" }'),
     "home[1].owner: 'nobody' is not one of 'root', 'alias', 'qmaild', 'qmaill', 'qmailp', 'qmailq', 'qmailr', 'qmails' or 'sqmtls'"),
    (table(home='{ path = "bin", type = "dir", owner = "root", group = "qmail", mode = "755", colour = 1 }'),
     "home[1].colour: unknown field"),
    (table(home='{ path = "/bin", type = "dir", owner = "root", group = "qmail", mode = "0755" }'),
     "home[1].path: '/bin' is not a relative path written one way"),
    (table(home='{ path = "bin/../etc", type = "dir", owner = "root", group = "qmail", mode = "0755" }'),
     "home[1].path: 'bin/../etc' is not a relative path written one way"),
    (table(home='{ path = "bin", type = "dir", owner = "root", group = "qmail", mode = "0755", size = 3 }'),
     "home[1]: bin: a dir has no size"),
    (table(queue='{ path = "lock", type = "fifo", owner = "qmails", group = "qmail", mode = "0622", split = true }'),
     "queue[1]: lock: only a directory is split"),
    (table(home='{ path = "bin/x", type = "file", owner = "root", group = "qmail", mode = "0755" }'),
     "home: 'bin/x' comes before its directory 'bin', or that is no directory"),
    (table(home=BIN + ", " + BIN), "home: 'bin' is listed more than once"),
    (table(home='{ path = "queue", type = "dir", owner = "qmailq", group = "qmail", mode = "0750" }'),
     "home: 'queue' belongs to the queue's entries (paths relative to the queue)"),
    (table().replace('{ path = ".", type = "dir", owner = "qmailq", group = "qmail", mode = "0750" }, ', ""),
     'queue: the first entry must be the queue itself, path ".", an unsplit directory'),
    (table(queue='{ path = "lock/tcpto", type = "file", owner = "qmailr", group = "qmail", mode = "0644", size = -1 }'),
     "queue[1].size: greater than or equal to 0"),
    ('description = "t"\n', "source: missing; every entry needs it"),
    ("home = [", "invalid TOML"),
]


@pytest.mark.parametrize(("text", "message"), BROKEN)
def test_a_broken_table_is_named_by_its_file_and_field(tmp_path, monkeypatch, text, message):
    (tmp_path / "broken.toml").write_text(text)
    monkeypatch.setattr(installation, "installations_dir", lambda: tmp_path)
    load_installation.cache_clear()
    try:
        with pytest.raises(BadInput) as error:
            load_installation("broken")
    finally:
        load_installation.cache_clear()
    assert error.value.lines[0].startswith(f"{tmp_path}/broken.toml: broken installation table: {message}")


def test_a_good_table_loads(tmp_path, monkeypatch):
    (tmp_path / "good.toml").write_text(table())
    monkeypatch.setattr(installation, "installations_dir", lambda: tmp_path)
    load_installation.cache_clear()
    try:
        assert [e.path for e in load_installation("good").queue] == [".", "lock"]
    finally:
        load_installation.cache_clear()
