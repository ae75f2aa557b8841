"""The backends and export formats are listed once (choices.py): the
command line offers those (and the profiles name those: test_platforms.py),
and each format has its code."""

from __future__ import annotations

from qmailsetup.choices import BACKENDS, EXPORT_FORMATS
from qmailsetup.cli import BackendChoice, ExportFormat
from qmailsetup.export import READS_HOST, exporters


def test_the_command_line_offers_what_the_code_knows():
    assert [choice.value for choice in BackendChoice] == ["auto", *BACKENDS]
    assert [choice.value for choice in ExportFormat] == list(EXPORT_FORMATS)
    assert [*exporters(), *READS_HOST] == list(EXPORT_FORMATS)

