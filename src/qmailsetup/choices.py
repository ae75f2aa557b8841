"""The names the command line offers and the code dispatches on, each
list kept here once: the backends (--backend, a profile's `backend`) and
the export formats (--format). Names alone, so that cli.py can build its
options from them without importing what they name.
"""

from __future__ import annotations

# the backends that run the host's own tools (backends/commands.py)
COMMAND_BACKENDS = ("useradd", "pw")
# and the one that edits the account files itself (backends/files.py)
BACKENDS = (*COMMAND_BACKENDS, "files")

# export/: each format's name, and what it writes (for --help)
EXPORT_FORMATS = {
    "sysusers": "sysusers.d",
    "json": "the spec, defaults filled in",
    "qmail-conf": "conf-users, conf-groups, conf-qmail",
    "sh": "a standalone script",
    "toml": "the spec with every ID as the host has it, to apply elsewhere",
}
