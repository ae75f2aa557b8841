"""The input trees in tests/fixtures/pwconv are what an installed system has:
rebuilding them with the real pwconv/grpconv (make_trees.sh) gives the
committed bytes."""

from __future__ import annotations

import subprocess

from conftest import require_tools
from trees import TREES


def test_the_committed_trees_are_what_pwconv_makes(privileged, tmp_path):
    require_tools("pwconv", "grpconv")
    subprocess.run([str(TREES / "make_trees.sh"), str(tmp_path)], check=True, capture_output=True)
    for tree in ("debian", "alpine"):
        made = {p.name: p.read_bytes() for p in (tmp_path / tree / "etc").iterdir()}
        committed = {p.name: p.read_bytes() for p in (TREES / tree / "etc").iterdir()}
        assert made == committed, tree
