"""qmailsetup: prepare a UNIX host for qmail, idempotently and safely."""

import os

__version__ = "0.1.0"

# No pydantic plugins (pydantic's documented switch), set before any model
# is built: a tool that edits the account files as root runs no
# third-party code it was not asked to, and pydantic would otherwise read
# the metadata of every installed package looking for them (bench/README.md).
# Set to an empty value, it loads them again.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
