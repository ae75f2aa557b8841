"""The diff built from edits at the edges difflib handles specially: an
empty file, the first and the last line, edits exactly far enough apart
to print one hunk or two; and every line (context too) goes through the
redaction."""

from __future__ import annotations

import difflib

import pytest

from files_support import applied
from qmailsetup.userdb.diff import Edit, unified_diff

TEN = [f"line{i}\n" for i in range(10)]
TWENTY = [f"line{i}\n" for i in range(20)]


CASES = {
    "a missing file gets its first lines": ([], [Edit(0, 0, ("qmail:x:2107:\n", "nofiles:x:2108:\n"))],
                                            "@@ -0,0 +1,2 @@\n+qmail:x:2107:\n+nofiles:x:2108:\n"),
    "one line appended to a one-line file": (["root:x:0:\n"], [Edit(1, 1, ("qmail:x:2107:\n",))],
                                             "@@ -1 +1,2 @@\n root:x:0:\n+qmail:x:2107:\n"),
    "the first line replaced": (TEN, [Edit(0, 1, ("first\n",))],
                                "@@ -1,4 +1,4 @@\n-line0\n+first\n line1\n line2\n line3\n"),
    "the last line replaced": (TEN, [Edit(9, 10, ("last\n",))],
                               "@@ -7,4 +7,4 @@\n line6\n line7\n line8\n-line9\n+last\n"),
    "a line removed": (TEN, [Edit(5, 6, ())],
                       "@@ -3,7 +3,6 @@\n line2\n line3\n line4\n-line5\n line6\n line7\n line8\n"),
    "six lines apart: one hunk": (TWENTY, [Edit(1, 2, ("a\n",)), Edit(8, 9, ("b\n",))], None),
    "seven lines apart: two hunks": (TWENTY, [Edit(1, 2, ("a\n", "a2\n")), Edit(9, 10, ("b\n",)), Edit(15, 15, ("c\n", "d\n"))],
                                     None),
    "touching edits print as one block": (TEN, [Edit(4, 5, ("x\n",)), Edit(5, 6, ("y\n",))],
                                          "@@ -2,8 +2,8 @@\n line1\n line2\n line3\n-line4\n-line5\n+x\n+y\n"
                                          " line6\n line7\n line8\n"),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_hunks_at_the_edges_are_what_difflib_prints(case):
    old, edits, body = CASES[case]
    expected = "".join(difflib.unified_diff(old, applied(old, edits), "gshadow", "gshadow (new)"))
    assert unified_diff(old, edits, "gshadow", "gshadow (new)") == expected
    if body is not None:
        assert expected == "--- gshadow\n+++ gshadow (new)\n" + body
    assert expected.count("@@ -") == (2 if case.startswith("seven") else 1)


def test_an_edit_that_changes_nothing_prints_nothing():
    assert unified_diff(TEN, [Edit(3, 4, ("line3\n",))], "a", "b") == ""
    assert unified_diff(TEN, [], "a", "b") == ""


def test_every_line_shown_goes_through_the_redaction():
    old = ["root:$6$x:1::::::\n", "bin:*:1::::::\n"]
    shown = unified_diff(old, [Edit(2, 2, ("qmaild:$6$y:1::::::\n",))], "shadow", "shadow (new)",
                         redact=lambda line: line.replace("$6$", "<hidden>"))
    assert shown == ("--- shadow\n+++ shadow (new)\n@@ -1,2 +1,3 @@\n root:<hidden>x:1::::::\n bin:*:1::::::\n"
                     "+qmaild:<hidden>y:1::::::\n")


def test_a_smaller_context_is_kept():
    shown = unified_diff(TEN, [Edit(5, 6, ("five\n",))], "a", "b", context=1)
    assert shown == "--- a\n+++ b\n@@ -5,3 +5,3 @@\n line4\n-line5\n+five\n line6\n"
