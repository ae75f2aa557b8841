"""State in -> plan out, without root: each case file in tests/cases/plan
holds a host, a run, and the plan qmailsetup must print (plan_cases.py)."""

from __future__ import annotations

import pytest

from plan_cases import case_names, check_case
from process import EPOCH


@pytest.mark.parametrize("name", case_names())
def test_plan_matches_its_case(tmp_path, monkeypatch, name):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    check_case(name, tmp_path / "root")
