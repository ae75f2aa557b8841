"""What the djb way assumes around qmail (docs/qmail.md, "Prerequisites
named by the djb way"): daemontools, ucspi-tcp and a resolver. Warnings
only: qmail builds and runs without them, the djb way of running it does not."""

from __future__ import annotations

import os
from pathlib import Path

from qmailsetup.check import Finding
from qmailsetup.errors import BadInput
from qmailsetup.hostio import NotRegular, TooLarge, read_consulted, read_regular
from qmailsetup.target import Target

# where djb's packages install besides PATH, and how they got there: Debian's
# daemontools and ucspi-tcp packages put the programs in /usr/bin (their file
# lists: tests/fixtures/debian-packages)
INSTALLS = {
    "/command": "slashpackage: /package, linked into /command",
    "/usr/local/bin": "djb's make setup check",
    "/usr/bin": "a distribution's package, as Debian's daemontools and ucspi-tcp install them",
}
EXTRA_DIRS = tuple(INSTALLS)
# svscan's directory: /service (djb's svscanboot), /etc/service (Debian's daemontools-run)
SERVICE_DIRS = ("/service", "/etc/service")
# (finding id, package, its programs, remedy)
PACKAGES: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    (
        "prereq.daemontools", "daemontools", ("svscan", "supervise", "multilog"),
        "install daemontools (https://cr.yp.to/daemontools.html, or the daemontools package) "
        "to run qmail's services under supervise with multilog",
    ),
    (
        "prereq.ucspi-tcp", "ucspi-tcp", ("tcpserver", "tcprules"),
        "install ucspi-tcp (https://cr.yp.to/ucspi-tcp.html, or the ucspi-tcp package) "
        "to run qmail-smtpd under tcpserver with tcprules access control",
    ),
)


def search_dirs(root: Path, path_variable: str) -> list[Path]:
    """Where programs are looked for under ROOT: PATH's directories, then
    EXTRA_DIRS, each a path on this host, its links resolved inside ROOT."""
    dirs = [d for d in path_variable.split(os.pathsep) if d.startswith("/")]
    dirs += [d for d in EXTRA_DIRS if d not in dirs]
    target = Target(root)
    found = []
    for directory in dirs:
        try:
            found.append(target.real_path(directory))
        except OSError:  # a loop of links: nothing to find there
            continue
    return found


def find_program(name: str, dirs: list[Path], root: Path = Path("/")) -> Path | None:
    target = Target(root)
    for directory in dirs:
        try:
            candidate = target.real_path(f"/{directory.relative_to(root)}/{name}")
        except OSError:
            continue
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return directory / name
    return None


def running_svscans(proc: Path) -> list[str]:
    """'/etc/service (pid 812)' for each svscan running, from PROC's
    cmdlines (svscan's one argument is its directory; else its cwd)."""
    found = []
    for entry in sorted(proc.glob("[0-9]*"), key=lambda p: int(p.name)):
        try:
            argv = read_regular(entry / "cmdline", limit=4096).split(b"\0")
            if os.path.basename(argv[0]) != b"svscan":
                continue
            directory = argv[1].decode(errors="replace") if len(argv) > 1 and argv[1] else os.readlink(entry / "cwd")
        except OSError:  # gone, or not ours to read
            continue
        found.append(f"{directory} (pid {entry.name})")
    return found


def is_directory(target: Target, path: str) -> bool:
    try:
        return target.real_path(path).is_dir()
    except OSError:
        return False


def supervision(root: Path, proc: Path) -> str:
    """Whether svscan runs (the live root only) and which service directories exist."""
    if root == Path("/"):
        running = running_svscans(proc)
        said = f"svscan is running on {', '.join(running)}" if running else "svscan is not running"
    else:
        said = "running processes not looked at under --root"
    dirs = [d for d in SERVICE_DIRS if is_directory(Target(root), d)]
    said += f"; {' and '.join(dirs)} {'exists' if len(dirs) == 1 else 'exist'}" if dirs else "; no /service or /etc/service"
    return said


def check_package(
    finding_id: str, package: str, programs: tuple[str, ...], remedy: str, dirs: list[Path],
    root: Path = Path("/"), proc: Path = Path("/proc"),
) -> Finding:
    found = {name: find_program(name, dirs, root) for name in programs}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        return Finding(
            finding_id, "warning", None,
            f"{package}: {', '.join(missing)} not found on PATH, {', '.join(EXTRA_DIRS[:-1])} or {EXTRA_DIRS[-1]}",
            remedy,
        )
    places = sorted({str(path.parent) for path in found.values() if path is not None})
    hows = [INSTALLS[p] for p in (str(Path("/") / Path(place).relative_to(root)) for place in places) if p in INSTALLS]
    message = f"{package}: {', '.join(programs)} found in {', '.join(places)}"
    message += f" ({'; '.join(hows)})" if hows else ""
    if package == "daemontools":
        message += "; " + supervision(root, proc)
    return Finding(finding_id, "ok", places[0], message)


def nameservers(resolv_conf: Path) -> list[str]:
    """The nameservers resolv.conf names; none when it cannot be read.
    Something there that is not a file (a FIFO would hang the run), or one
    larger than hostio.CONSULTED_LIMIT, is bad input; a symlink is followed
    (systemd-resolved makes one)."""
    try:
        text = read_consulted(resolv_conf).decode(errors="replace")
    except (NotRegular, TooLarge) as error:
        raise BadInput(f"{resolv_conf}: {error.strerror}") from None
    except OSError:
        return []
    servers = []
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver":
            servers.append(words[1])
    return servers


def check_resolver(root: Path, dirs: list[Path]) -> Finding:
    target = Target(root)
    try:
        # a link is followed inside the root (systemd-resolved makes one)
        servers = nameservers(target.real_path("/etc/resolv.conf"))
    except OSError:
        servers = []
    resolv_conf = target.shown("/etc/resolv.conf")
    dnscache = find_program("dnscache", dirs, root)
    named = f"{resolv_conf} names {', '.join(servers)}" if servers else f"{resolv_conf} names no nameserver"
    if dnscache:
        return Finding("prereq.dns-resolver", "ok", str(dnscache), f"a local dnscache ({dnscache}); {named}")
    if servers:
        return Finding(
            "prereq.dns-resolver", "ok", str(resolv_conf),
            f"{named}; qmail-remote will ask it (no local dnscache found)",
        )
    return Finding(
        "prereq.dns-resolver", "warning", str(resolv_conf),
        f"no local dnscache and {named}: qmail-remote cannot look up MX records",
        f"run djbdns' dnscache on 127.0.0.1 and name it in {resolv_conf} (nameserver 127.0.0.1), "
        "or name a resolver there",
    )


def prereq_findings(root: Path, path_variable: str | None = None) -> list[Finding]:
    if path_variable is None:
        path_variable = os.environ.get("PATH", os.defpath)
    dirs = search_dirs(root, path_variable)
    findings = [check_package(*package, dirs, root) for package in PACKAGES]
    findings.append(check_resolver(root, dirs))
    return findings
