"""Errors that end a run, each tied to the exit code README.md documents."""

# README.md's exit codes; the errors below carry theirs
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_REFUSED, EXIT_CHANGES = 0, 1, 2, 3, 4


class QmailsetupError(Exception):
    """A one-line message for the administrator and the exit code it means."""

    exit_code = EXIT_FAILED


class OperationFailed(QmailsetupError):
    """A backend command failed, an I/O error, a lock timeout."""

    exit_code = EXIT_FAILED


class BadInput(QmailsetupError):
    """Usage, an invalid spec, an unreadable or malformed account file."""

    exit_code = EXIT_BAD_INPUT


class Refused(QmailsetupError):
    """A conflict, or drift this run may not fix; nothing was written."""

    exit_code = EXIT_REFUSED


def first_of(reasons: list[str]) -> str:
    """The first of several REASONS, and how many more there are: one line
    however many went wrong."""
    more = f" (and {len(reasons) - 1} more)" if len(reasons) > 1 else ""
    return reasons[0] + more
