"""Account files are read without losing a byte, and bad ones are named."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from qmailsetup.errors import BadInput
from qmailsetup.userdb.accountfile import FORMATS, AccountFile
from trees import FIXTURES

KINDS = {"passwd": "passwd", "passwd.master": "passwd", "group": "group", "group.master": "group",
         "master.passwd": "master.passwd"}
FIXTURE_FILES = sorted(p for p in FIXTURES.glob("*/*") if p.name in KINDS)


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_real_files_round_trip_byte_for_byte(path):
    data = path.read_bytes()
    parsed = AccountFile.parse(path, KINDS[path.name], data)
    assert parsed.data() == data
    assert parsed.edited({}, []) == data.decode()
    assert any(fields[2] == "0" for _, fields in parsed.entries()), "root or wheel parsed"


ODD_BUT_VALID = (
    "# a comment: with colons\n"
    "\n"
    "root:x:0:0:root:/root:/bin/bash\n"
    "caf\xe9:x:1000:1000:Jos\xe9 ,,,:/home/cafe:/bin/sh\n"
    "empty::1001:1001:::\n"
    "   \n"
    "+@netadmins::::::\n"
    "-baduser::::::\n"
    "+::::::\n"
).encode("latin-1")


def test_odd_but_valid_lines_survive_and_new_lines_go_before_nis():
    parsed = AccountFile.parse(Path("passwd"), "passwd", ODD_BUT_VALID)
    assert parsed.data() == ODD_BUT_VALID
    assert set(parsed.names()) == {"root", "caf\udce9", "empty"}
    edited = parsed.edited({"empty": ["empty", "x", "1001", "1001", "", "/", "/bin/false"]},
                           [["alias", "x", "999", "998", "", "/var/qmail/alias", "/usr/sbin/nologin"]])
    lines = edited.encode("utf-8", "surrogateescape").split(b"\n")
    assert lines[4] == b"empty:x:1001:1001::/:/bin/false"
    assert lines[6] == b"alias:x:999:998::/var/qmail/alias:/usr/sbin/nologin"
    assert lines[7] == b"+@netadmins::::::"
    assert lines[3] == "caf\xe9:x:1000:1000:Jos\xe9 ,,,:/home/cafe:/bin/sh".encode("latin-1")


BAD_FILES = [
    (b"root:x:0:0:root:/root\n", "passwd:1: 6 fields, a passwd line has 7"),
    (b"root:x:0:0:root:/root:/bin/sh\nbin:x:one:1::/:/bin/false\n", "passwd:2: uid 'one' of 'bin' is not a number"),
    (b"root:x:0:0:root:/root:/bin/sh\nroot:x:1:1::/:/bin/false\n", "passwd:2: 'root' appears again (first on line 1)"),
    (b"root:x:0:0:root:/root:/bin/sh", "passwd:1: the last line has no newline at its end"),
    (b"root:x:0:0:root:/root:/bin/sh\r\n", "passwd:1: carriage return in line (DOS line ends?)"),
    (b"root:x:0:0:root:/root:/bin/sh\nb\0n:x:1:1::/:/bin/false\n", "passwd:2: contains a NUL byte"),
    (b":x:0:0:root:/root:/bin/sh\n", "passwd:1: empty name"),
    (b"root:x:-1:0:root:/root:/bin/sh\n", "passwd:1: uid '-1' of 'root' is not a number"),
    # a NIS line is never parsed; the numbering goes on past it and past a
    # line that is not first a NUL or CR problem
    (b"root:x:0:0:root:/root:/bin/sh\n+::::::\nbin:x:1:\xc2\xb2::/:/bin/false\n",
     "passwd:3: gid '\xb2' of 'bin' is not a number"),
    (b"root:x:0:0:root:/root:/bin/sh\nbin:x:1:1::/:/bin/false\r\n", "passwd:2: carriage return in line (DOS line ends?)"),
    (b"root:x:0:0:root:/root:/bin/sh\nbin:x:1:1::/:/bin/false", "passwd:2: the last line has no newline at its end"),
    (b"root:x:0:0:root:/root:/bin/sh\r\nbin:x:1:1::/:/bin/false\r\n", "passwd:1: carriage return in line (DOS line ends?)"),
    (b"root:x:0:0:root:/root:/bin/sh\nb\0n:x:1:1::/:/bin/false\nd\0:x:2:2::/:/bin/false\n", "passwd:2: contains a NUL byte"),
    (b"root:x:0:0:root:/root:/bin/sh\nbin:x:$6$salt$hash:1::/:/bin/false\n",
     "passwd:2: uid (12 characters, not shown) of 'bin' is not a number"),
    (b"bin:x:twelve_chars:1::/:/bin/false\n", "passwd:1: uid 'twelve_chars' of 'bin' is not a number"),
    (b"bin:x:thirteen_char:1::/:/bin/false\n", "passwd:1: uid (13 characters, not shown) of 'bin' is not a number"),
]


@pytest.mark.parametrize(("data", "message"), BAD_FILES, ids=[re.sub(r"[^A-Za-z0-9]+", "-", m) for _, m in BAD_FILES])
def test_malformed_files_are_named_with_their_line(data, message):
    with pytest.raises(BadInput) as error:
        AccountFile.parse(Path("passwd"), "passwd", data)
    assert str(error.value) == message


def test_a_missing_file_gets_its_first_line_at_the_top():
    """A missing gshadow, say: never parsed, its new lines start it."""
    missing = AccountFile.missing(Path("gshadow"), "gshadow")
    assert (missing.path, missing.format, missing.exists, missing.content, list(missing.names())) == (
        Path("gshadow"), FORMATS["gshadow"], False, "", [])
    assert missing.insert_position() == 0
    assert missing.edited({}, [["qmail", "!", "", ""], ["nofiles", "!", "", ""]]) == "qmail:!::\nnofiles:!::\n"


def test_lines_never_parsed_still_get_new_lines_before_the_first_nis_line():
    built = AccountFile(Path("group"), FORMATS["group"], "root:x:0:\n+:::\n-bad:::\n")
    assert built.insert_position() == 1
    assert built.edited({}, [["qmail", "x", "2107", ""]]) == "root:x:0:\nqmail:x:2107:\n+:::\n-bad:::\n"
    assert AccountFile(Path("group"), FORMATS["group"], "root:x:0:\n").insert_position() == 1
    assert AccountFile(Path("group"), FORMATS["group"], "root:x:0:\n-bad:::\n").insert_position() == 1


def test_a_hash_in_the_last_column_shown_keeps_the_line_end():
    """A commented-out entry cut short: its hash is hidden and the line
    still ends where it did."""
    assert FORMATS["shadow"].redact("#qmaild:$6$salt$hash\n") == "#qmaild:<hidden>\n"
    assert FORMATS["shadow"].redact("#qmaild:$6$salt$hash") == "#qmaild:<hidden>"
    assert FORMATS["passwd"].redact("qmaild:$1$x:7791:2108::/var/qmail:/sbin/nologin\n") == (
        "qmaild:<hidden>:7791:2108::/var/qmail:/sbin/nologin\n")


def test_ids_answer_as_getpwuid_would_the_first_holder():
    parsed = AccountFile.parse(Path("passwd"), "passwd",
                               b"root:x:0:0::/:/bin/sh\ntoor:x:0:0::/:/bin/sh\nbin:x:2:2::/:/bin/sh\n")
    assert (parsed.holder(0), parsed.holder(2), parsed.holder(1)) == ("root", "bin", None)
    assert parsed.get("toor") == ["toor", "x", "0", "0", "", "/", "/bin/sh"]
    assert parsed.get("nobody") is None


def test_only_bangs_and_stars_hold_no_secret():
    assert FORMATS["shadow"].redact("a:X:1::::::\n") == "a:<hidden>:1::::::\n"
    assert FORMATS["shadow"].redact("a:!*!:1::::::\n") == "a:!*!:1::::::\n"


def test_an_id_held_in_a_file_with_comments_and_nis_lines_names_its_first_holder():
    """Lines that are no entries (a comment, a blank, NIS) do not shift
    which line an ID is found on."""
    parsed = AccountFile.parse(Path("passwd"), "passwd", ODD_BUT_VALID)
    assert (parsed.holder(0), parsed.holder(1000), parsed.holder(1001), parsed.holder(7)) == (
        "root", "caf\udce9", "empty", None)
    assert parsed.used_ids(1, 1000) == {1000}


def test_ids_written_with_leading_zeros_count_as_their_number():
    """getpwuid reads "0993" as 993, so the planner must see it taken."""
    parsed = AccountFile.parse(Path("passwd"), "passwd", b"root:x:0:0::/:/bin/sh\nodd:x:0993:0::/:/bin/sh\n")
    assert parsed.holder(993) == "odd"
    assert parsed.used_ids(100, 999) == {993}


def test_an_id_too_large_for_64_bits_is_kept_as_written():
    huge = 2**70
    parsed = AccountFile.parse(Path("group"), "group", f"root:x:0:\nbig:x:{huge}:\n".encode())
    assert parsed.holder(huge) == "big" and parsed.holder(0) == "root"
    assert parsed.used_ids(0, 10) == {0}


def test_a_name_is_found_only_as_a_whole_entry_name():
    """A comment, a NIS line or a longer name that starts the same is not
    the entry; a name with a ':' or a newline never is one."""
    text = b"#qmaild:x:1:1::/:/bin/sh\n+qmaild::::::\nqmaildx:x:2:2::/:/bin/sh\nqmaild:x:3:3::/:/bin/sh\n"
    parsed = AccountFile.parse(Path("passwd"), "passwd", text)
    assert parsed.number("qmaild") == 3
    assert parsed.get("qmaildx")[2] == "2"
    assert [parsed.get(name) for name in ("qmail", "#qmaild", "+qmaild", "qmaild:x", "qmaild\nqmaildx", "")] == [None] * 6
    assert "qmaild" in parsed and "qmail" not in parsed
    assert list(parsed.names()) == ["qmaildx", "qmaild"]
