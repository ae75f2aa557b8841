"""Property tests: random valid account files (NIS lines, comments, blank
lines, odd but legal bytes in the free-text fields) and random valid specs.
Applying never changes a line the spec does not own, never writes an entry
twice, and a second run is in sync.

Applying is the files backend's, on a temporary root: --fix-drift, so
that every kind of edit comes up. A line of the spec's that would keep a
control character of the host's is refused by the backend
(userdb/fieldtext.py): then nothing is written.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, example, given, settings, strategies as st

from qmailsetup.backends import make_backend
from qmailsetup.errors import Refused
from qmailsetup.observe import observe, read_files
from qmailsetup.plan import make_plan
from qmailsetup.platforms import load_profile
from qmailsetup.spec import Spec
from qmailsetup.userdb.accountfile import AccountFile, is_inert, is_nis
from qmailsetup.userdb.etcdir import EtcDir

LINUX = load_profile("linux")
SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Host names go beyond the spec's portable ones (upper case, '.', '$' of
# Samba machine accounts); '+', '-' and '#' would start NIS or comment lines.
HOST_NAME = st.from_regex(r"[A-Za-z0-9_.][A-Za-z0-9_.$-]{0,11}", fullmatch=True)
# Free text may hold anything but ':' and the newline; the other characters
# Python's str.splitlines() breaks lines at are legal here and must not be.
FREE_TEXT = st.text(
    st.one_of(
        st.characters(blacklist_characters=":\n\r\0", blacklist_categories=("Cs",)),
        st.sampled_from(["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029", " ", ",", "\t"]),
    ),
    max_size=12,
)
NUMBER = st.integers(0, 70000).flatmap(lambda n: st.sampled_from([str(n), f"0{n}"]))
PASSWORD = st.sampled_from(["x", "*", "!", "!*", "", "$6$salt$hash"])
JUNK = st.one_of(
    FREE_TEXT.map(lambda text: "#" + text),
    st.sampled_from(["", "   ", "\t", "  # indented comment: with colons"]),
)


def nis_lines(fields: int) -> st.SearchStrategy[str]:
    empty = ":" * (fields - 1)
    return st.sampled_from(["+", "+" + empty, "+@admins" + empty, "-baduser" + empty])


def account_lines(entry: st.SearchStrategy[str], fields: int) -> st.SearchStrategy[list[str]]:
    """Entries with comments and blank lines among them and, sometimes, NIS
    compat lines (with more entries after them) at the end."""
    body = st.lists(st.one_of(entry, entry, JUNK), max_size=12)
    tail = st.lists(st.one_of(nis_lines(fields), entry), max_size=3)
    return st.tuples(body, tail).map(lambda parts: parts[0] + parts[1])


def passwd_entry(names: list[str]) -> st.SearchStrategy[str]:
    return st.builds(
        lambda name, password, uid, gid, gecos, home, shell: ":".join([name, password, uid, gid, gecos, home, shell]),
        st.sampled_from(names), PASSWORD, NUMBER, NUMBER, FREE_TEXT, FREE_TEXT, FREE_TEXT,
    )


def group_entry(names: list[str]) -> st.SearchStrategy[str]:
    members = st.lists(HOST_NAME, max_size=3).map(",".join)
    return st.builds(
        lambda name, password, gid, who: ":".join([name, password, gid, who]),
        st.sampled_from(names), PASSWORD, NUMBER, members,
    )


def unique_entries(lines: list[str]) -> list[str]:
    """Keep the first entry of each name: a valid file names each once."""
    seen, kept = set(), []
    for line in lines:
        if not (is_inert(line) or is_nis(line)):
            name = line.split(":")[0]
            if name in seen:
                continue
            seen.add(name)
        kept.append(line)
    return kept


SPEC_GROUPS = ["qmail", "nofiles", "daemon", "mail"]
SPEC_USERS = ["alias", "qmaild", "qmails", "mail", "bin"]


@st.composite
def hosts(draw) -> dict[str, str]:
    """passwd, shadow, group and gshadow of one host; root and the spec's
    names are among the candidates, so existing accounts come up too."""
    user_names = ["root"] + SPEC_USERS + draw(st.lists(HOST_NAME, max_size=4))
    group_names = ["root"] + SPEC_GROUPS + draw(st.lists(HOST_NAME, max_size=4))
    passwd = unique_entries(["root:x:0:0:root:/root:/bin/bash"] + draw(account_lines(passwd_entry(user_names), 7)))
    group = unique_entries(["root:x:0:"] + draw(account_lines(group_entry(group_names), 4)))

    def names(lines):
        return [line.split(":")[0] for line in lines if not (is_inert(line) or is_nis(line))]

    shadow = [f"{name}:!:19000:0:99999:7:::" for name in names(passwd)]
    gshadow = [f"{name}:!::" for name in names(group)]
    return {kind: "".join(f"{line}\n" for line in lines)
            for kind, lines in (("passwd", passwd), ("group", group), ("shadow", shadow), ("gshadow", gshadow))}


@st.composite
def specs(draw) -> Spec:
    # fixed IDs now and then: mostly they are allocated, as in the default spec
    some_id = st.one_of(st.none(), st.none(), st.none(), st.integers(100, 1100))
    groups = draw(st.lists(st.sampled_from(SPEC_GROUPS), unique=True, min_size=1, max_size=3))
    gids = draw(st.lists(some_id, min_size=len(groups), max_size=len(groups)))
    users = draw(st.lists(st.sampled_from(SPEC_USERS), unique=True, min_size=1, max_size=4))
    uids = draw(st.lists(some_id, min_size=len(users), max_size=len(users)))
    # what a spec field may hold: no ':', nothing that is not printable (spec.check_field_text)
    spec_text = st.text(st.characters(blacklist_characters=":", blacklist_categories=("Cs",)).filter(str.isprintable),
                        max_size=8)
    user_entries = []
    for name, uid in zip(users, uids, strict=True):
        entry = {
            "name": name,
            "group": draw(st.sampled_from(groups + ["root", "daemon"])),
            "home": draw(st.sampled_from(["/var/qmail", "/var/qmail/alias", "/nonexistent"])),
            "uid": uid,
            "shell": draw(st.sampled_from([None, "/bin/true", "/usr/sbin/nologin"])),
            "comment": draw(st.one_of(st.none(), spec_text)),
        }
        user_entries.append({key: value for key, value in entry.items() if value is not None})
    group_entries = [{"name": name, **({"gid": gid} if gid else {})} for name, gid in zip(groups, gids, strict=True)]
    return Spec.model_validate(
        {"groups": unique_ids(group_entries, "gid"), "users": unique_ids(user_entries, "uid")}
    )


def unique_ids(entries: list[dict], key: str) -> list[dict]:
    """A valid spec fixes each ID once: drop repeats."""
    seen = set()
    for entry in entries:
        if key in entry and entry[key] in seen:
            del entry[key]
        seen.add(entry.get(key))
    return entries


def write_host(root: Path, files: dict[str, str]) -> None:
    (root / "etc").mkdir(parents=True)
    for kind, text in files.items():
        (root / "etc" / kind).write_bytes(text.encode("utf-8", "surrogateescape"))


def name_of(line: str) -> str | None:
    body = line.rstrip("\n")
    return None if is_inert(body) or is_nis(body) else body.split(":")[0]


def not_owned(lines: list[str], owned: set[str]) -> list[str]:
    return [line for line in lines if name_of(line) not in owned]


def apply_with_files_backend(spec: Spec, root: Path) -> tuple:
    """What `apply --backend files --fix-drift` does to the account files:
    the host as read before, the plan, and whether the plan or the backend
    refused it."""
    host = observe(spec, root, LINUX)
    plan = make_plan(spec, host, fix_drift=True)
    event("refused" if plan.refused else "changes" if plan.changes else "in sync already")
    if plan.refused:
        return host, plan, True
    try:
        make_backend("files", host).apply(plan.changes, lambda change: None)
    except Refused:
        event("refused by the backend")
        return host, plan, True
    return host, plan, False


@pytest.mark.slow
@SETTINGS
@given(files=hosts(), spec=specs())
def test_apply_touches_only_its_own_lines_never_duplicates_and_converges(files, spec):
    with tempfile.TemporaryDirectory() as top:
        root = Path(top)
        write_host(root, files)
        before, _plan, refused = apply_with_files_backend(spec, root)
        after = read_files(EtcDir.open(root), "shadow")
        owned = {"passwd": {u.name for u in spec.users}, "group": {g.name for g in spec.groups}}
        owned["shadow"], owned["gshadow"] = owned["passwd"], owned["group"]
        for kind, old in before.files.items():
            new = after[kind]  # parsed strictly: no name twice
            if refused:
                assert new.data() == old.data()
                continue
            assert not_owned(new.lines, owned[kind]) == not_owned(old.lines, owned[kind])
            assert set(old.names()) <= set(new.names()) <= set(old.names()) | owned[kind]

        if not refused:
            again = make_plan(spec, observe(spec, root, LINUX), fix_drift=True)
            assert not again.conflicts
            assert again.changes == [], "a second run is in sync"


@SETTINGS
@given(files=hosts())
@example(files={  # splitlines() once cut these lines in two
    "passwd": "root:x:0:0:root\x1c\x0c\x85\u2028:/root:/bin/bash\n", "group": "root:x:0:\n#\x1e\n",
    "shadow": "root:!:19000:0:99999:7:::\n", "gshadow": "root:!::\n",
})
def test_account_files_round_trip_byte_for_byte(files):
    for kind, text in files.items():
        data = text.encode("utf-8", "surrogateescape")
        parsed = AccountFile.parse(Path(kind), kind, data)
        assert parsed.data() == data
        assert parsed.edited({}, []) == text
