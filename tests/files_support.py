"""Checks for the files-backend tests: every account file parses, the
database is consistent, no lock or temporary file is left over.
(Trees are built in trees.py, compared in snapshot.py, and the CLI run in
process.py.)"""

from __future__ import annotations

from pathlib import Path

from qmailsetup.userdb.accountfile import AccountFile
from trees import KINDS


def parse_all(root: Path) -> dict[str, AccountFile]:
    """Every account file under ROOT, parsed (raises on a broken one)."""
    files = {}
    for kind in KINDS:
        path = root / "etc" / kind
        if path.exists():
            files[kind] = AccountFile.parse(path, kind, path.read_bytes())
    return files


def applied(old: list[str], edits) -> list[str]:
    """What EDITS (userdb.diff.Edit) make of the lines OLD: the reference the
    diff and the writer are checked against."""
    new, position = [], 0
    for edit in sorted(edits, key=lambda e: e.start):
        new += old[position:edit.start] + list(edit.new)
        position = edit.end
    return new + old[position:]


def assert_consistent(root: Path) -> None:
    """What the write order guarantees at every instant: each file parses;
    every user's group exists; every passwd line has its shadow line and
    every group line its gshadow line (a companion line may exist alone)."""
    files = parse_all(root)
    gids = {int(fields[2]) for _, fields in files["group"].entries()}
    users = files.get("passwd") or files["master.passwd"]
    for name, fields in users.entries():
        assert int(fields[3]) in gids, f"user {name}: group {fields[3]} missing"
    for main, companion in (("passwd", "shadow"), ("group", "gshadow")):
        if main in files and companion in files:
            missing = [name for name, _ in files[main].entries() if files[companion].get(name) is None]
            assert not missing, f"{main} lines without {companion}: {missing}"


def leftovers(root: Path) -> list[str]:
    """Lock and temporary files left in ROOT/etc."""
    return sorted(
        entry.name for entry in (root / "etc").iterdir()
        if (entry.name.endswith(".lock") and entry.name != ".pwd.lock") or ".qmailsetup-" in entry.name or entry.name.split(".")[-1].isdigit()
    )


def mask_clock(text: bytes) -> bytes:
    """shadow lines with the last-change day blanked: the one clock field."""
    lines = []
    for line in text.split(b"\n"):
        fields = line.split(b":")
        if len(fields) == 9:
            fields[2] = b"<day>"
        lines.append(b":".join(fields))
    return b"\n".join(lines)
