"""Stand-ins for BSD tools that cannot run here, behaving as the real ones
where it matters to qmailsetup, and recording every call (argv, one JSON
list a line, in $STAND_IN_LOG).

- pwd_mkdb: takes the flock FreeBSD's pwd_mkdb.c takes on the file it is
  given (`flock(fileno(fp), LOCK_EX|nblock)`, nblock = LOCK_NB with -N):
  with -N it fails at once when the lock is busy ("pwd_mkdb: flock:
  Resource temporarily unavailable", exit 1); without, it waits, as the
  real one does forever, here at most 20 s (then exit 99, so that a test
  that would hang fails instead). Before locking it waits for the file
  $STAND_IN_WAIT_FOR, when set, to exist (a test's holder has the lock).
  Its database writing is not imitated; $STAND_IN_FAIL makes it fail
  (exit 1) with that message, as on a malformed master.passwd.
- useradd (NetBSD user.c): checks -s as valid_shell() does, against
  $STAND_IN_ROOT/etc/shells (getusershell()), "/sbin/nologin" (NOLOGIN),
  or an executable $STAND_IN_ROOT/SHELL; else exits 1 with
  "useradd: Can't add user `NAME': Cannot access shell `SHELL'". It writes
  no account.
- groupadd: records its argv only.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

PWD_MKDB = r'''
import fcntl, json, os, sys, time
with open(os.environ["STAND_IN_LOG"], "a") as log:
    log.write(json.dumps(["pwd_mkdb", *sys.argv[1:]]) + "\n")
if os.environ.get("STAND_IN_FAIL"):
    print(f"pwd_mkdb: {os.environ['STAND_IN_FAIL']}", file=sys.stderr)
    sys.exit(1)
wait_for = os.environ.get("STAND_IN_WAIT_FOR")
for _ in range(200):
    if not wait_for or os.path.exists(wait_for):
        break
    time.sleep(0.1)
fd = os.open(sys.argv[-1], os.O_RDONLY)
for _ in range(200):
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        break
    except BlockingIOError:
        if "-N" in sys.argv[1:]:
            print("pwd_mkdb: flock: Resource temporarily unavailable", file=sys.stderr)
            open(os.environ["STAND_IN_LOG"] + ".busy", "a").close()
            sys.exit(1)
        time.sleep(0.1)
else:
    print("pwd_mkdb stand-in: waited 20 s for the flock (the real one waits forever)", file=sys.stderr)
    sys.exit(99)
'''

USERADD = r'''
import json, os, sys
with open(os.environ["STAND_IN_LOG"], "a") as log:
    log.write(json.dumps([os.path.basename(sys.argv[0]), *sys.argv[1:]]) + "\n")
args = sys.argv[1:]
if os.path.basename(sys.argv[0]) == "useradd" and "-s" in args:
    shell, name = args[args.index("-s") + 1], args[-1]
    root = os.environ["STAND_IN_ROOT"]
    shells = os.path.join(root, "etc/shells")
    valid = True
    if os.access(shells, os.R_OK) and shell != "/sbin/nologin":
        with open(shells) as listed:
            known = [line.split()[0] for line in listed if line.startswith("/")]
        valid = shell in known or os.access(os.path.join(root, shell.lstrip("/")), os.X_OK)
    if not valid:
        print(f"useradd: Can't add user `{name}': Cannot access shell `{shell}'", file=sys.stderr)
        sys.exit(1)
'''


def install(directory: Path, tools: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, body in tools.items():
        path = directory / name
        path.write_text(f"#!{sys.executable}\n{body}")
        path.chmod(0o755)
    return directory


def pwd_mkdb(directory: Path) -> Path:
    return install(directory, {"pwd_mkdb": PWD_MKDB})


def netbsd_user_tools(directory: Path) -> Path:
    return install(directory, {"useradd": USERADD, "groupadd": USERADD, "usermod": USERADD})


def calls(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
