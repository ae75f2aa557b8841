"""The kinds of account file are one table (userdb/filekinds.py): what
knows a column, a companion, the write order or an ID column takes it
from there, and no other module spells it again."""

from __future__ import annotations

import re
from pathlib import Path

from qmailsetup.export.script import PRELUDE, field_numbers
from qmailsetup.userdb import filekinds
from qmailsetup.userdb.filekinds import FILE_KINDS, ID_COLUMNS, WRITE_ORDER, FileKind
from qmailsetup.userdb.flavor import ALL_FILES

SOURCE = Path(filekinds.__file__).parents[1]


def sources_but(*own: str) -> dict[str, str]:
    """Every module of the package but OWN (paths under it), by path."""
    return {
        str(path.relative_to(SOURCE)): path.read_text()
        for path in sorted(SOURCE.rglob("*.py"))
        if str(path.relative_to(SOURCE)) not in own
    }


def test_every_file_a_flavor_keeps_is_a_kind_and_every_kind_is_kept():
    assert set(FILE_KINDS) == ALL_FILES
    for kind in FILE_KINDS.values():
        assert kind.companion is None or FILE_KINDS[kind.companion].account == kind.account
        assert kind.members is None or kind.account == "group"
        assert kind.password in kind.columns and kind.columns[0] == "name"


def test_groups_are_written_before_users_and_a_companion_before_its_file():
    assert WRITE_ORDER == ("gshadow", "group", "shadow", "passwd", "master.passwd")
    place = {name: at for at, name in enumerate(WRITE_ORDER)}
    for kind in FILE_KINDS.values():
        if kind.companion:
            assert place[kind.companion] < place[kind.name]
        if kind.account == "group":
            assert all(place[kind.name] < place[other.name] for other in FILE_KINDS.values() if other.account == "user")


def test_the_numbers_and_the_own_id_follow_the_columns():
    assert [(kind.name, kind.numeric, kind.id_label, kind.id_column) for kind in FILE_KINDS.values()] == [
        ("passwd", (2, 3), "uid", 2),
        ("shadow", (), None, None),
        ("group", (2,), "gid", 2),
        ("gshadow", (), None, None),
        ("master.passwd", (2, 3), "uid", 2),
    ]
    # a kind laid out otherwise gets its own numbers, ID and redaction
    odd = FileKind("odd", "group", ("name", "members", "gid", "password"), "group", members="members")
    assert (odd.numeric, odd.id_column, odd.fields) == ((2,), 2, 4)
    assert odd.redact("a:b,c:7:$6$s$h\n") == "a:b,c:7:<hidden>\n"


def test_the_sh_export_takes_the_group_columns_from_the_table(monkeypatch):
    """The script's awk columns of the group file are the table's; the
    shared part of the script spells no column of its own."""
    columns = re.findall(r'"\$GROUP_FILE" "[^"]*" ([^\s)]+)', PRELUDE)
    assert len(columns) == 9 and set(columns) == {'"$G_GID"', '"$G_MEMBERS"'}
    numbers = field_numbers("shadow")
    assert (numbers["G_GID"], numbers["G_MEMBERS"], numbers["U_UID"], numbers["U_CLASS"]) == ("3", "4", "3", "")
    assert (field_numbers("bsd")["U_SHELL"], field_numbers("bsd")["U_CLASS"]) == ("10", "5")
    other = FileKind("group", "group", ("name", "members", "password", "gid"), "group", members="members")
    monkeypatch.setitem(FILE_KINDS, "group", other)
    assert (field_numbers("shadow")["G_GID"], field_numbers("shadow")["G_MEMBERS"]) == ("4", "2")


def test_only_the_table_spells_the_columns_of_a_file():
    """A line's columns in order ("name", "password", ...) are written in
    filekinds.py alone."""
    spelled = {path for path, text in sources_but("userdb/filekinds.py").items()
               if re.search(r'"name",\s*"password"', text)}
    assert spelled == set()


def test_only_the_table_maps_an_account_kind_to_its_id_column():
    """user -> uid and group -> gid: filekinds.ID_COLUMNS, and nothing else
    says it again (a dict of the two, or a choice between them)."""
    assert ID_COLUMNS == {"user": "uid", "group": "gid"}
    mapping = re.compile(r'(\.|")(uid|gid)"? if [^\n]*(kind|KIND)[^\n]* else [^\n]*(\.|")(uid|gid)\b'
                         r'|(GROUP|USER|"group"|"user")\s*:\s*"(uid|gid)"')
    found = {path: mapping.search(text).group(0) for path, text in sources_but("userdb/filekinds.py").items()
             if mapping.search(text)}
    assert found == {}
