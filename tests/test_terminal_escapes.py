"""Nothing from the host reaches a terminal raw: a control character in
another account's GECOS (a diff's context line), a path, another process's
argv or a queue file's name is shown escaped (\\x1b, \\u202e), in the text,
in --json (the decoded value has the same escapes; a newline in it is
JSON's own \\n) and on stderr.
ESC[8m would hide all that follows it, warnings included; U+202E would
show a line backwards."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest

from conftest import cli, squeezed
from qmailsetup.output import json_text
from qmailsetup.streams import GuardedOutput, printable
from scenarios import add_qmail_accounts
from test_check_queue import SPEC, lay_out
from trees import append, debian_tree

HIDE = "\x1b[8m"  # SGR 8: what follows is invisible
RAW = ("\x1b", "\u202e", "\x9b", "\x07")


def assert_no_raw(text: str) -> None:
    assert not [c for c in RAW if c in text], repr(text)


@pytest.mark.parametrize(("raw", "shown"), [
    ("\x1b[8m", "\\x1b[8m"),  # C0
    ("\x7f", "\\x7f"),  # DEL
    ("\x9b8m", "\\x9b8m"),  # C1: the one-byte CSI
    ("a\u202eb", "a\\u202eb"),  # right-to-left override
    ("\u2028\u2029", "\\u2028\\u2029"),  # line and paragraph separators
    ("\udc9b", "\\udc9b"),  # a byte that is not UTF-8, in a file name
    ("\r\0\b", "\\r\\x00\\x08"),
    ("José \\x1b", "José \\x1b"),  # printable: as it is
])
def test_printable(raw, shown):
    assert printable(raw) == shown


def test_newlines_and_tabs_are_kept_only_where_asked():
    assert printable("a\tb\nc") == "a\\tb\\nc"
    assert printable("a\tb\nc\x1b", "\n\t") == "a\tb\nc\\x1b"


def test_json_strings_read_as_the_text_does():
    data = {"k\x1b": ["a\x1b[8mb\n", {"x": "\u202e"}], "n": 1, "t": None}
    text = json_text(data)
    assert text.isascii() and "\\u001b" not in text
    assert json.loads(text) == {"k\\x1b": ["a\\x1b[8mb\n", {"x": "\\u202e"}], "n": 1, "t": None}


def test_stdout_is_written_printable():
    stream = io.StringIO()
    GuardedOutput(stream).write(f"line {HIDE}hidden\n\tnext\n")
    assert stream.getvalue() == "line \\x1b[8mhidden\n\tnext\n"


def test_another_accounts_gecos_in_a_diff_context_line(tmp_path):
    root = debian_tree(tmp_path / "root")
    append(root, "passwd", [f"mallory:x:1000:1000:{HIDE}Mallory,,,:/home/mallory:/bin/bash"])
    append(root, "shadow", ["mallory:*:19000:0:99999:7:::"])
    args = ("apply", "--dry-run", "--root", root, "--platform", "linux", "--backend", "files")
    text = cli(*args)
    assert text.code == 0, text.err
    assert_no_raw(text.out)
    assert " mallory:x:1000:1000:\\x1b[8mMallory,,,:/home/mallory:/bin/bash\n+alias:" in text.out
    as_json = cli(*args, "--json")
    assert as_json.code == 0, as_json.err
    assert_no_raw(as_json.out)
    diff = next(d["diff"] for d in json.loads(as_json.out)["diffs"] if d["path"].endswith("/passwd"))
    assert " mallory:x:1000:1000:\\x1b[8mMallory,,,:/home/mallory:/bin/bash\n" in diff


def test_a_root_whose_path_holds_control_characters(tmp_path):
    root = debian_tree(tmp_path / f"r{HIDE}\u202eoot")
    shown = str(root).replace(HIDE, "\\x1b[8m").replace("\u202e", "\\u202e")
    args = ("apply", "--dry-run", "--root", root, "--platform", "linux", "--backend", "files")
    text = cli(*args)
    assert text.code == 0, text.err
    assert_no_raw(text.out)
    assert f"qmailsetup dry run: {shown} (platform linux, backend files)" in text.out
    assert f"--- diff of {shown}/etc/passwd" in text.out
    as_json = cli(*args, "--json")
    assert_no_raw(as_json.out)
    assert json.loads(as_json.out)["root"] == shown
    (root / "etc/login.defs").unlink()
    (root / "etc/login.defs").mkdir()
    error = cli(*args)
    assert error.code == 2
    assert error.err == f"qmailsetup: {shown}/etc/login.defs: a directory, not a regular file\n"


@pytest.fixture
def daemontools(tmp_path, monkeypatch) -> None:
    """svscan, supervise and multilog on PATH (empty programs), so check
    looks for a running svscan."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("svscan", "supervise", "multilog"):
        (bin_dir / name).write_text("#!/bin/sh\n")
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")


@pytest.mark.root("check --root / reads this host's own shadow")
def test_the_argv_of_a_process_named_svscan(tmp_path, daemontools):
    # a process whose argv[0] is svscan and argv[1] a directory with an
    # escape in its name: python, running that file
    service = tmp_path / f"service{HIDE}"
    service.write_text("import time\ntime.sleep(60)\n")
    svscan = subprocess.Popen(["svscan", str(service)], executable=sys.executable)
    try:
        shown = f"{tmp_path}/service\\x1b[8m (pid {svscan.pid})"
        text = cli("check", "--root", "/", "--platform", "linux")
        assert_no_raw(text.out + text.err)
        assert squeezed(shown) in squeezed(text.out.split("prereq.daemontools: ", 1)[1])
        as_json = cli("check", "--root", "/", "--platform", "linux", "--json")
        assert_no_raw(as_json.out)
        found = {f["id"]: f for f in json.loads(as_json.out)["findings"]}["prereq.daemontools"]
        assert shown in found["message"]
    finally:
        svscan.kill()
        svscan.wait()


@pytest.mark.root("lays out a queue with qmail's owners")
def test_a_queue_file_name(tmp_path):
    root = debian_tree(tmp_path / "root")
    add_qmail_accounts(root, {"qmail": 2107, "nofiles": 2108}, 7790, "/bin/true", step=1)
    lay_out(root / "var/qmail")
    (root / f"var/qmail/queue/mess/0/1234{HIDE}\nok      queue.owner: fine").write_text("")
    args = ("check", "--root", root, "--spec", SPEC, "--platform", "linux")
    text = cli(*args)
    assert_no_raw(text.out)
    assert squeezed("mess/0/1234\\x1b[8m\\nok      queue.owner: fine is root:root 0644") in squeezed(text.out)
    assert "\nok      queue.owner" not in text.out  # the newline in the name makes no line of its own
    as_json = cli(*args, "--json")
    assert_no_raw(as_json.out)
    found = {f["id"]: f for f in json.loads(as_json.out)["findings"]}["queue.owner"]
    assert "mess/0/1234\\x1b[8m\nok      queue.owner: fine is root:root 0644" in found["message"]
