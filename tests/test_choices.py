"""The backends and export formats are listed once (choices.py): the
command line offers those (and the profiles name those: test_platforms.py),
and each format has its code."""

from __future__ import annotations

from qmailsetup.choices import BACKENDS, EXPORT_FORMATS
from qmailsetup.cli import BackendChoice, ExportFormat
from qmailsetup.commands.export import READS_HOST, SPEC_ONLY


def test_the_command_line_offers_what_the_code_knows():
    assert [choice.value for choice in BackendChoice] == ["auto", *BACKENDS]
    assert [choice.value for choice in ExportFormat] == list(EXPORT_FORMATS)
    assert [*SPEC_ONLY, *READS_HOST] == list(EXPORT_FORMATS)

