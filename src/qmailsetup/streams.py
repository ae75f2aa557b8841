"""Standard output that cannot end a run: closed (`>&-`), a broken pipe
(`| head -1`), a full device (/dev/full) or a terminal encoding that cannot
show a character; and that nothing read from the host reaches raw.

The report is for the administrator; the host is what matters. A failure to
write it is remembered, told once on stderr (but for a pipe whose reader
stopped, which is no failure), and the run goes on, so the exit status
still says what happened to the host (qmailsetup(8), "EXIT STATUS").

What the report shows comes from the host: other accounts' GECOS in a
diff's context lines, file names under the queue, another process's argv,
paths. A control character there could drive the terminal (ESC[8m hides
all that follows, a warning included; U+202E reverses what a line reads),
so everything written to stdout, every error line (errors.one_line) and
every string in --json (output.json_text) shows such characters escaped, the same
way in each (qmailsetup(8), SAFETY).
"""

from __future__ import annotations

import io
import os
import re
import sys

# the two layout characters the report itself writes, kept where a text has lines
LAYOUT = "\n\t"
NOT_PLAIN_ASCII = re.compile(r"[^ -~]")


def printable(text: str, keep: str = "") -> str:
    """TEXT with each character that is not printable shown as Python
    escapes it (\\x1b, \\x9b, \\u202e), but those in KEEP. Not printable, as
    str.isprintable says: the C0 and C1 controls and DEL, the line and
    paragraph separators, format characters (the bidirectional overrides
    among them), spaces other than ' ', private-use and unassigned code
    points, and the surrogates that stand for bytes that are not UTF-8. A
    backslash stays as it is: the escapes are for reading, not for
    decoding back."""

    def shown(match: re.Match) -> str:
        char = match.group()
        return char if char in keep or char.isprintable() else repr(char)[1:-1]

    return NOT_PLAIN_ASCII.sub(shown, text)


def printable_data(value):
    """VALUE (a JSON document's data) with every string in it printable,
    newlines and tabs kept: the decoded --json says what the text says."""
    if isinstance(value, str):
        return printable(value, LAYOUT)
    if isinstance(value, dict):
        return {printable_data(key): printable_data(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [printable_data(item) for item in value]
    return value


def reopen_closed_descriptors() -> None:
    """Put /dev/null on a standard descriptor the run was started without,
    before any file is opened: else the first account file opened would get
    descriptor 1, and a tool run later would write its output into it. Descriptor
    1 is opened read-only, so that writing the report still fails, and says so."""
    for fd, flags in ((0, os.O_RDONLY), (1, os.O_RDONLY), (2, os.O_WRONLY)):
        try:
            os.fstat(fd)
        except OSError:
            new = os.open(os.devnull, flags)
            if new != fd:
                os.dup2(new, fd)
                os.close(new)
    if sys.stderr is None:  # else print(..., file=sys.stderr) would write to stdout
        sys.stderr = open(2, "w", errors="backslashreplace", closefd=False)  # noqa: SIM115 (open for the whole run)


class GuardedOutput(io.TextIOBase):
    """A text stream that passes everything to STREAM, printable (newlines
    and tabs kept) and flushed at once (so a slow run shows its progress),
    until a write fails; then it keeps the error and takes the rest
    without writing."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.error: OSError | None = None

    def writable(self) -> bool:
        return True

    # typeshed has TextIOBase.encoding a plain attribute; at run time it is a
    # read-only descriptor, which only a property overrides
    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.stream, "encoding", None) or "utf-8"

    def isatty(self) -> bool:
        try:
            return self.stream.isatty()
        except (OSError, ValueError):
            return False

    def fileno(self) -> int:
        return self.stream.fileno()

    def write(self, text: str) -> int:
        if self.error is None:
            try:
                self.stream.write(printable(text, LAYOUT))
                self.stream.flush()
            except OSError as error:
                self.failed(error)
        return len(text)

    def flush(self) -> None:
        if self.error is None:
            try:
                self.stream.flush()
            except OSError as error:
                self.failed(error)

    def failed(self, error: OSError) -> None:
        self.error = error
        # what is still buffered would fail again when Python exits, with a
        # traceback-like "Exception ignored" message: let it go to /dev/null
        try:
            fd = self.stream.fileno()
        except (OSError, ValueError, io.UnsupportedOperation):
            return
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, fd)
        os.close(null)


def guard_stdout() -> GuardedOutput:
    """Replace sys.stdout with a GuardedOutput over it; characters the
    terminal's encoding lacks are written as escapes (\\xe9), never an error."""
    stream = sys.stdout
    if stream is None:  # started with descriptor 1 closed: see reopen_closed_descriptors
        stream = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115 (open for the whole run)
    if hasattr(stream, "reconfigure"):
        stream.reconfigure(errors="backslashreplace")
    guarded = GuardedOutput(stream)
    sys.stdout = guarded
    return guarded


def report_error(guarded: GuardedOutput) -> str | None:
    """The one line that says the report could not be written, if so. A
    pipe whose reader stopped (`| head`) is no error: the reader has what
    it wanted."""
    guarded.flush()
    error = guarded.error
    if error is None or isinstance(error, BrokenPipeError):
        return None
    return f"stdout: cannot write the report: {error.strerror or error}; the run went on, its exit status says what was done"
