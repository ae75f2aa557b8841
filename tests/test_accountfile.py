"""Account files are read without losing a byte, and bad ones are named."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from qmailsetup.errors import BadInput
from qmailsetup.userdb.accountfile import AccountFile, entry_pattern, id_near_end, is_nis
from qmailsetup.userdb.filekinds import FILE_KINDS
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
    missing = AccountFile.missing("gshadow")
    assert (missing.file_kind, missing.exists, missing.content, list(missing.names())) == (
        FILE_KINDS["gshadow"], False, "", [])
    assert missing.insert_position() == 0
    assert missing.edited({}, [["qmail", "!", "", ""], ["nofiles", "!", "", ""]]) == "qmail:!::\nnofiles:!::\n"


def test_lines_never_parsed_still_get_new_lines_before_the_first_nis_line():
    built = AccountFile(FILE_KINDS["group"], "root:x:0:\n+:::\n-bad:::\n")
    assert built.insert_position() == 1
    assert built.edited({}, [["qmail", "x", "2107", ""]]) == "root:x:0:\nqmail:x:2107:\n+:::\n-bad:::\n"
    assert AccountFile(FILE_KINDS["group"], "root:x:0:\n").insert_position() == 1
    assert AccountFile(FILE_KINDS["group"], "root:x:0:\n-bad:::\n").insert_position() == 1


def test_a_hash_in_the_last_column_shown_keeps_the_line_end():
    """A commented-out entry cut short: its hash is hidden and the line
    still ends where it did."""
    assert FILE_KINDS["shadow"].redact("#qmaild:$6$salt$hash\n") == "#qmaild:<hidden>\n"
    assert FILE_KINDS["shadow"].redact("#qmaild:$6$salt$hash") == "#qmaild:<hidden>"
    assert FILE_KINDS["passwd"].redact("qmaild:$1$x:7791:2108::/var/qmail:/sbin/nologin\n") == (
        "qmaild:<hidden>:7791:2108::/var/qmail:/sbin/nologin\n")


def test_ids_answer_as_getpwuid_would_the_first_holder():
    parsed = AccountFile.parse(Path("passwd"), "passwd",
                               b"root:x:0:0::/:/bin/sh\ntoor:x:0:0::/:/bin/sh\nbin:x:2:2::/:/bin/sh\n")
    assert (parsed.holder(0), parsed.holder(2), parsed.holder(1)) == ("root", "bin", None)
    assert parsed.get("toor") == ["toor", "x", "0", "0", "", "/", "/bin/sh"]
    assert parsed.get("nobody") is None


def test_only_bangs_and_stars_hold_no_secret():
    assert FILE_KINDS["shadow"].redact("a:X:1::::::\n") == "a:<hidden>:1::::::\n"
    assert FILE_KINDS["shadow"].redact("a:!*!:1::::::\n") == "a:!*!:1::::::\n"


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
    # a newline in a name never joins a blank line to the entry after it
    assert AccountFile.parse(Path("passwd"), "passwd", ODD_BUT_VALID).get("\nroot") is None
    assert list(parsed.names()) == ["qmaildx", "qmaild"]


def test_an_entry_after_a_nis_line_is_rewritten_where_it_is_and_new_lines_still_go_before_the_nis_line():
    """Lines after the first NIS line stay after it; a new one goes before it."""
    text = b"root:x:0:0::/root:/bin/sh\n+@admins::::::\nlate:x:5:5::/:/bin/sh\n"
    parsed = AccountFile.parse(Path("passwd"), "passwd", text)
    assert parsed.nis_start() == text.index(b"+") and parsed.insert_position() == 1
    assert parsed.edited({"late": ["late", "x", "5", "5", "", "/", "/bin/false"]},
                         [["qmaild", "x", "998", "998", "", "/var/qmail", "/bin/false"]]) == (
        "root:x:0:0::/root:/bin/sh\nqmaild:x:998:998::/var/qmail:/bin/false\n+@admins::::::\n"
        "late:x:5:5::/:/bin/false\n")


@pytest.mark.parametrize(("text", "start"), [
    ("+::::::\nroot:x:0:0::/:/bin/sh\n", 0),  # a NIS line first
    ("\n-bad::::::\n", 1),  # after a blank first line
    ("root:x:0:0::/:/bin/sh\n-bad::::::\n+::::::\n", 22),  # the first of a '-' and a '+'
    ("root:x:0:0::/:/bin/sh\n+::::::\n-bad::::::\n", 22),
    ("root:x:0:0::/:/bin/sh\n", 22),  # none: the end
    ("-bad::::::\nroot:x:0:0::/:/bin/sh\n", 0),  # a '-' line first
    ("root:x:0:0::/:/bin/sh\n-bad::::::\n-worse::::::\n", 22),  # the first of two '-' lines
], ids=["nis-first", "after-blank", "minus-first", "plus-first", "none", "minus-line-first", "two-minus"])
def test_new_lines_go_before_the_first_nis_line_wherever_it_is(text, start):
    parsed = AccountFile.parse(Path("passwd"), "passwd", text.encode())
    assert parsed.nis_start() == start
    edited = parsed.edited({}, [["qmaild", "x", "998", "998", "", "/", "/bin/false"]])
    assert edited == text[:start] + "qmaild:x:998:998::/:/bin/false\n" + text[start:]


def test_a_line_that_starts_with_a_blank_but_holds_text_is_an_entry_and_checked():
    with pytest.raises(BadInput) as error:
        AccountFile.parse(Path("passwd"), "passwd", b"root:x:0:0::/:/bin/sh\n  stray text\n")
    assert str(error.value) == "passwd:2: 1 fields, a passwd line has 7"
    parsed = AccountFile.parse(Path("passwd"), "passwd", b" \t\nroot:x:0:0::/:/bin/sh\n")
    assert list(parsed.names()) == ["root"] and parsed.holder(0) == "root"


def test_an_error_names_the_file_as_shown():
    """The path as the user named it (under --root, say), not as opened."""
    with pytest.raises(BadInput) as error:
        AccountFile.parse(Path("/proc/self/fd/3/passwd"), "passwd", b"root:x\n", shown="/srv/root/etc/passwd")
    assert str(error.value) == "/srv/root/etc/passwd:1: 2 fields, a passwd line has 7"


def test_the_lines_of_a_file_are_found_from_either_end():
    """The diff asks for lines by number and by slice, near the start and
    near the end of a file."""
    text = "".join("\n" if i in (1, 5) else f"u{i}:x:{i}:{i}::/:/bin/sh\n" for i in range(7))  # blanks in each half
    lines = AccountFile.parse(Path("passwd"), "passwd", text.encode()).lines
    expected = text.splitlines(keepends=True)
    assert len(lines) == 7 and list(lines) == expected
    assert [lines.start(i) for i in range(8)] == [len("".join(expected[:i])) for i in range(8)]
    assert [lines[i] for i in range(7)] == expected
    assert [lines[i] for i in range(-7, 0)] == expected
    assert [lines[a:b] for a in range(8) for b in range(8)] == [expected[a:b] for a in range(8) for b in range(8)]
    for outside in (7, -8):
        with pytest.raises(IndexError) as error:
            lines[outside]
        assert error.value.args == (outside,)
    with pytest.raises(ValueError) as error:
        lines[::2]
    assert str(error.value) == "only contiguous slices"


def test_the_id_a_tool_just_appended_is_read_from_the_end():
    """What useradd wrote last, read back without a parse: the last line of
    that name, in the format's ID column; None when it is not a number."""
    data = b"root:x:0:0::/:/bin/sh\nqmail:x:7:7::/:/bin/sh\nqmaild:x:991:998::/var/qmail:/bin/false"
    assert id_near_end(data, "passwd", "qmaild") == 991  # the last line, no newline after it
    assert id_near_end(data, "passwd", "qmail") == 7  # not qmaild's, though it begins so
    assert id_near_end(data, "passwd", "root") == 0  # the first line
    assert id_near_end(data, "passwd", "oot") is None
    assert id_near_end(data + b"\nqmail:x:8:8::/:/bin/sh\n", "passwd", "qmail") == 8  # the line appended last
    assert id_near_end(b"\nqmaild:x:991:998::/:/bin/sh\n", "passwd", "qmaild") == 991  # after a blank first line
    # a line cut short: its own fields, never the next line's
    assert id_near_end(b"cut:x\nnext:1:2:3::/:/bin/sh\n", "passwd", "cut") is None
    assert id_near_end(b"root:x:0:0::/:/bin/sh\ncut:x:12", "passwd", "cut") == 12
    assert id_near_end(b"qmail:x:2107:\n", "group", "qmail") == 2107
    assert id_near_end(b"qmail:*:2107:2107::0:0::/:/bin/sh\n", "master.passwd", "qmail") == 2107
    assert [id_near_end(line, "passwd", "cut") for line in (b"cut:x\n", b"cut:x:12a:1::/:/bin/sh\n", b"cu:x:1:1\n")] == [
        None, None, None]


NOT_ENTRIES = {  # per format: lines no plain entry pattern may take for an entry
    "passwd": ["+nis::::::", "-bad::::::", "#c:x:1:1:::", " sp:x:1:1:::", ":x:1:1:::", "short:x:1:1::",
               "long:x:1:1::::", "word:x:one:1:::", "gidword:x:1:one:::", "minus:x:-1:1:::"],
    "group": ["+:::", "#c:x:1:", "short:x:1", "long:x:1::", "word:x:one:"],
    "shadow": ["+::::::::", "short:!:1:::::", "long:!:1:::::::"],
    "gshadow": ["-bad:::", "short:!:", "long:!:::"],
    "master.passwd": ["+:::::::::", "short:*:1:1::0:0::", "word:*:1:x::0:0:::/bin/sh"],
}
ENTRIES = {  # per format: well-formed entries, and what the pattern captures of each
    "passwd": (["root:x:0:0:root:/root:/bin/sh", "qmaild:x:7791:2108::/var/qmail:/sbin/nologin"],
               [("root", "0"), ("qmaild", "7791")]),
    "group": (["qmail:x:2107:", "wheel:x:0:root,alias"], [("qmail", "2107"), ("wheel", "0")]),
    "shadow": (["qmaild:!:19675::::::", "root:$6$s$h:19000:0:99999:7:::"], ["qmaild", "root"]),
    "gshadow": (["qmail:!::", "wheel:*:root:alias"], ["qmail", "wheel"]),
    "master.passwd": (["alias:*:7790:2108:daemon:0:0::/var/qmail/alias:/usr/sbin/nologin"], [("alias", "7790")]),
}


@pytest.mark.parametrize("kind", sorted(FILE_KINDS))
def test_the_pattern_of_a_format_takes_only_whole_well_formed_entries_and_their_own_id(kind):
    """Every line of the text is tried (each a line of its own), and only
    an entry with the right fields and numbers is taken; the ID captured
    is the entry's own (the UID of a user, not its GID)."""
    lines, captured = ENTRIES[kind]
    text = "".join(f"{line}\n" for line in [NOT_ENTRIES[kind][0], *lines, *NOT_ENTRIES[kind][1:]])
    assert entry_pattern(FILE_KINDS[kind]).findall(text) == captured
    assert entry_pattern(FILE_KINDS[kind]).findall("\n".join(NOT_ENTRIES[kind])) == []


def test_a_user_s_number_is_its_uid_and_a_group_s_its_gid():
    users = AccountFile.parse(Path("passwd"), "passwd", b"qmaild:x:7791:2108::/var/qmail:/sbin/nologin\n")
    groups = AccountFile.parse(Path("group"), "group", b"qmail:x:2107:\n")
    assert (users.number("qmaild"), groups.number("qmail"), users.number("qmail")) == (7791, 2107, None)


def test_nis_lines_are_those_that_start_with_plus_or_minus():
    assert [is_nis(line) for line in ("+::::::", "-bad::::::", "+@netgroup", "root:x:0:0:+:/:-", "#+")] == [
        True, True, True, False, False]


def test_line_numbers_count_a_blank_first_line():
    """The diff's line numbers: of an entry rewritten, and of the line new
    entries go before."""
    parsed = AccountFile.parse(Path("group"), "group", b"\nroot:x:0:\nqmail:x:2107:\n+:::\n")
    assert (parsed.line_number("root"), parsed.line_number("qmail"), parsed.insert_position()) == (1, 2, 3)


def test_a_plain_file_is_read_in_one_pass_and_an_odd_one_line_by_line():
    """Every line an entry: no line numbers kept (a large host's files
    are read in one pass); a comment or NIS line: each entry's line kept."""
    plain = AccountFile.parse(Path("passwd"), "passwd", b"root:x:0:0::/:/bin/sh\nbin:x:2:2::/:/bin/sh\n")
    assert plain.entry_lines is None and list(plain.ids) == [0, 2]
    shadow = AccountFile.parse(Path("shadow"), "shadow", b"root:*:19000::::::\n")
    assert shadow.entry_lines is None and list(shadow.ids) == []
    odd = AccountFile.parse(Path("passwd"), "passwd", ODD_BUT_VALID)
    assert odd.entry_lines == [2, 3, 4] and list(odd.ids) == [0, 1000, 1001]


def test_names_looked_up_together_are_found_as_one_at_a_time():
    """look_up finds a batch in one pass: the first line, a name another
    starts with, names absent or no names at all, each as offset() alone
    would."""
    text = b"qmaild:x:1:1::/:/bin/sh\n#alias:x:2:2::/:/bin/sh\nqmaildx:x:3:3::/:/bin/sh\nqmail:x:4:4::/:/bin/sh\n"
    names = ["qmaild", "qmaildx", "qmail", "alias", "#alias", "a:b", "", "qmails"]
    alone = AccountFile.parse(Path("passwd"), "passwd", text)
    together = AccountFile.parse(Path("passwd"), "passwd", text)
    together.look_up(names)
    assert together.offsets == {name: alone.offset(name) for name in names}
    assert [together.offset(name) for name in names] == [0, 48, 73, None, None, None, None, None]
