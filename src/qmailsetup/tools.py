"""The host's programs: where they are and the one way to run them
(useradd or pw for the command backends, the BSDs' post-edit pwd_mkdb,
nscd after the account files changed, the BSDs' `mount`).

run_tool runs a program through the sh library, by its absolute path,
on pipes (not sh's default pseudo-terminal: a bare chroot or container
may have no pty to give), argv in UTF-8 as the files backend writes it
whatever the locale, with no signal blocked in the child (the files
backend holds SIGINT, SIGTERM and SIGHUP back while it holds its locks,
userdb/lock.py, and the program it runs must stay interruptible),
optionally bounded in time and in output, in another environment or
directory, or as an unprivileged user.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import sh

# Where the account tools live whatever PATH says: cron's PATH
# (/usr/bin:/bin) and `env -i` leave out /usr/sbin, where useradd,
# pwd_mkdb, nscd and the BSDs' mount are.
SYSTEM_DIRS = ("/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/local/bin")


def find_tool(name: str) -> str | None:
    """The absolute path of the program NAME on the running host: PATH's
    absolute directories first (the administrator's choice), then
    SYSTEM_DIRS. With --root too: the host's tools are what runs there
    (useradd --prefix, pw -R)."""
    path = os.environ.get("PATH", os.defpath)
    dirs = [d for d in path.split(os.pathsep) if d.startswith("/")]
    dirs += [d for d in SYSTEM_DIRS if d not in dirs]
    return shutil.which(name, path=os.pathsep.join(dirs))


def stderr_line(stderr: str) -> str:
    """A tool's stderr as one line, so that the error built from it stays a
    single line on any terminal or log."""
    return "; ".join(line.strip() for line in stderr.splitlines() if line.strip())


@dataclass(frozen=True)
class ToolResult:
    argv: tuple[str, ...]  # as asked for, argv[0] not yet a path
    returncode: int  # negative: killed by that signal
    stdout: str  # surrogate escapes for bytes that are not UTF-8 (paths round-trip)
    stderr: str
    cut: bool = False  # it printed more than the output limit: killed, the rest unread

    def failure(self) -> str:
        """'ARGV: exit N: its stderr', one line, for an error message."""
        return f"{' '.join(self.argv)}: exit {self.returncode}: {stderr_line(self.stderr)}"


class Child:
    """The child sh forks, as it tells its own process ID before its exec.
    When the exec fails, sh raises ForkException and forgets the child,
    which has exited: reap() waits for it, so that no zombie is left to
    this process (or to whatever runs it and waits for its own children)."""

    def __init__(self) -> None:
        self.read_end, self.write_end = os.pipe()
        # what the child wrote is there when sh raises, after the child exited
        os.set_blocking(self.read_end, False)

    def setup(self, cwd: str | None, as_user: tuple[int, int] | None):
        """What the child does before the exec: tell its process ID, hold
        no signal back, go to CWD, and, given AS_USER (uid, gid), become
        that user and group alone (no other groups)."""

        def setup() -> None:
            os.write(self.write_end, str(os.getpid()).encode())
            signal.pthread_sigmask(signal.SIG_SETMASK, set())
            if cwd is not None:
                os.chdir(cwd)
            if as_user is not None:
                os.setgroups([])
                os.setgid(as_user[1])
                os.setuid(as_user[0])

        return setup

    def reap(self) -> None:
        try:
            told = os.read(self.read_end, 32)
        except BlockingIOError:  # it failed before it could tell
            return
        os.waitpid(int(told), 0)

    def close(self) -> None:
        os.close(self.read_end)
        os.close(self.write_end)


class BoundedOutput:
    """What a program printed, its first LIMIT bytes of stdout and of
    stderr: at the first byte past them its process group (the program and
    whatever it started) is killed and no more is read, so a program that
    floods its output costs LIMIT bytes of memory, no more."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.stdout, self.stderr = bytearray(), bytearray()
        self.cut = False

    def sink(self, kept: bytearray):
        """An sh callback for one stream, keeping it in KEPT."""

        def take(chunk, stdin, process) -> bool:
            data = chunk.encode("utf-8", "surrogateescape") if isinstance(chunk, str) else chunk
            room = self.limit - len(kept)
            kept.extend(data[:room])
            if len(data) <= room:
                return False
            if not self.cut:
                self.cut = True
                try:
                    # the group the program leads (options: _new_group), by its ID, the
                    # program's: never the group this process is in
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:  # gone already
                    pass
            return True  # sh calls this no more, and keeps nothing itself

        return take

    def options(self) -> dict:
        """sh's options for it: the program in a process group of its own
        (so killing it kills what it started), read in chunks, not lines (a
        line without an end would be buffered whole), its stdin at its end
        at once (sh keeps it open for callbacks that answer, else)."""
        return {
            "_out": self.sink(self.stdout), "_err": self.sink(self.stderr), "_out_bufsize": 1 << 16,
            "_err_bufsize": 1 << 16, "_decode_errors": "surrogateescape", "_new_group": True, "_in": "",
        }


def run_tool(
    argv: Sequence[str], *, timeout: float | None = None, env: Mapping[str, str] | None = None,
    cwd: str | None = None, as_user: tuple[int, int] | None = None, output_limit: int | None = None,
) -> ToolResult:
    """Run the program ARGV[0] (found by find_tool) with ARGV[1:] and wait
    for it: in ENV (this environment when None), in CWD, as AS_USER (uid,
    gid; root can drop to it). Its exit status is in the result, not
    raised. FileNotFoundError when there is no such program; TimeoutError
    when it ran TIMEOUT seconds (it is killed); another OSError when it
    could not be started (sh tells no more than that). Given OUTPUT_LIMIT,
    at most that many bytes of each of its stdout and stderr are kept;
    past them it is killed, and the result says it was cut."""
    try:
        command = sh.Command(find_tool(argv[0]) or argv[0])
    except sh.CommandNotFound:
        raise FileNotFoundError(errno.ENOENT, "command not found", argv[0]) from None
    child = Child()
    options = {"_tty_in": False, "_tty_out": False, "_encoding": "utf-8", "_preexec_fn": child.setup(cwd, as_user)}
    given = {"_timeout": timeout, "_env": None if env is None else dict(env)}
    options.update({key: value for key, value in given.items() if value is not None})
    bounded = None if output_limit is None else BoundedOutput(output_limit)
    if bounded is not None:
        options.update(bounded.options())
    try:
        done = command(*argv[1:], _return_cmd=True, **options)
        code, stdout, stderr = done.exit_code, done.stdout, done.stderr
    except sh.ErrorReturnCode as error:  # a nonzero exit or a signal
        code, stdout, stderr = error.exit_code, error.stdout, error.stderr
    except sh.TimeoutException:
        raise TimeoutError(errno.ETIMEDOUT, f"did not finish in {timeout:g} s", argv[0]) from None
    except sh.ForkException:
        child.reap()
        # no errno: sh reports the exec's error only as the child's traceback
        raise OSError(None, "could not be started (not a program this host runs, or not executable)",
                      argv[0]) from None
    finally:
        child.close()
    if bounded is not None:
        stdout, stderr = bounded.stdout, bounded.stderr
    return ToolResult(tuple(argv), code, stdout.decode("utf-8", "surrogateescape"), stderr.decode("utf-8", "replace"),
                      cut=bounded is not None and bounded.cut)
