"""Errors that end a run, each tied to the exit code qmailsetup(8) documents."""

from qmailsetup.streams import printable

# qmailsetup(8)'s exit codes; the errors below carry theirs
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_REFUSED, EXIT_CHANGES = 0, 1, 2, 3, 4
EXIT_CHECK_ERRORS = 5
# queue repair: qmail-send (or another repair) holds lock/sendmutex
EXIT_SEND_RUNNING = 6

BAD_INPUT = "bad input: usage, invalid spec, unreadable or malformed account file"

# What each code means, the one table of it: apply's --help and
# qmailsetup(8) show it (tests/test_manpage.py holds the page to it).
EXIT_TABLE = (
    (EXIT_OK, "success: in sync, or every change applied"),
    (EXIT_FAILED, "the operation failed: a backend command failed, I/O error, lock timeout"),
    (EXIT_BAD_INPUT, BAD_INPUT),
    (EXIT_REFUSED, "refused: a conflict, drift that this run may not fix (dry run included), or a platform "
     "that writes another account format than the files found; nothing written"),
    (EXIT_CHANGES, "only with --detailed-exitcode: changes are pending (--dry-run) or were made"),
    (EXIT_CHECK_ERRORS, "apply (not a dry run): check finds an error about what apply set up (the filesystem "
     "under qmail's home, the accounts, the directories): qmail cannot work on this host until it is fixed; "
     "wins over 4"),
)

# The codes of each command and what they mean for it: its --help shows
# them, and so does qmailsetup(8).
COMMAND_EXITS = {
    "apply": EXIT_TABLE,
    "check": (
        (EXIT_OK, "no finding is an error"),
        (EXIT_FAILED, "check could not run: an I/O error"),
        (EXIT_BAD_INPUT, BAD_INPUT),
        (EXIT_REFUSED, "a finding is an error: qmail cannot work on this host as it stands"),
    ),
    "env": (
        (EXIT_OK, "the assignments are printed"),
        (EXIT_FAILED, "an I/O error"),
        (EXIT_BAD_INPUT, BAD_INPUT),
        (EXIT_REFUSED, "accounts of the spec are missing, or hold other IDs than the spec names: nothing printed"),
    ),
    "export": (
        (EXIT_OK, "written"),
        (EXIT_FAILED, "a file could not be written"),
        (EXIT_BAD_INPUT, "bad input: usage, invalid spec, unreadable or malformed account file (toml)"),
        (EXIT_REFUSED, "toml: accounts of the spec are missing, or hold other IDs than the spec names: "
         "nothing written"),
    ),
    "schema": (
        (EXIT_OK, "printed"),
        (EXIT_BAD_INPUT, "usage: neither spec nor json"),
    ),
    "queue": (
        (EXIT_OK, "create: the queue is as the installer makes it; check: no finding is an error; repair: "
         "repaired, or nothing to do (--dry-run: the plan shown, nothing written)"),
        (EXIT_FAILED, "an I/O error; a rerun finishes the job (repair: qmail-send cannot start until then)"),
        (EXIT_BAD_INPUT, BAD_INPUT + "; create, repair: not run as root"),
        (EXIT_REFUSED, "check: a finding is an error; create, repair: refused, nothing written (qmail's accounts "
         "missing, no queue to repair, a path of another type than create makes, a link on the way others than "
         "root may change, an interrupted repair create will not undo)"),
        (EXIT_SEND_RUNNING, "repair: qmail-send (or another repair) holds lock/sendmutex; nothing written"),
    ),
}


class QmailsetupError(Exception):
    """A one-line message for the administrator and the exit code it means;
    or several, a line each, when there is more than one thing to fix (a
    spec with several problems)."""

    exit_code = EXIT_FAILED

    def __init__(self, *lines: str) -> None:
        super().__init__(*lines)
        self.lines = lines

    def __str__(self) -> str:
        return "; ".join(self.lines)


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


def one_line(message: str) -> str:
    """A message as one line, printable: a newline in a file name or a spec
    value must not split it (logs and scripts read errors a line at a
    time), nor an escape sequence drive the terminal (streams.printable)."""
    return printable(message)
