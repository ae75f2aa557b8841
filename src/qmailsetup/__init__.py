"""qmailsetup: prepare a UNIX host for qmail, idempotently and safely."""

__version__ = "0.1.0"
