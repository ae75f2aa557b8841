"""Standard output that cannot end a run: closed (`>&-`), a broken pipe
(`| head -1`), a full device (/dev/full) or a terminal encoding that cannot
show a character.

The report is for the administrator; the host is what matters. A failure to
write it is remembered, told once on stderr, and the run goes on, so the
exit status still says what happened to the host (README.md, "Exit codes").
"""

from __future__ import annotations

import io
import os
import sys


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
        sys.stderr = open(2, "w", errors="backslashreplace", closefd=False)


class GuardedOutput(io.TextIOBase):
    """A text stream that passes everything to STREAM, flushed at once (so
    a slow run shows its progress), until a write fails; then it keeps the
    error and takes the rest without writing."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.error: OSError | None = None

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:
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
                self.stream.write(text)
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
        stream = open(1, "w", encoding="utf-8", closefd=False)
    if hasattr(stream, "reconfigure"):
        stream.reconfigure(errors="backslashreplace")
    guarded = GuardedOutput(stream)
    sys.stdout = guarded
    return guarded


def report_error(guarded: GuardedOutput) -> str | None:
    """The one line that says the report could not be written, if so."""
    guarded.flush()
    error = guarded.error
    if error is None:
        return None
    return f"stdout: cannot write the report: {error.strerror or error}; the run went on, its exit status says what was done"
