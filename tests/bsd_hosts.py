"""BSD hosts for tests: roots built by trees.bsd_tree (etc/master.passwd and
etc/group from the stock FreeBSD and OpenBSD files), in the states the
command tests need (fresh, partial, drifted, conflicting).

Each state builds the tree and returns the spec text it is checked
against (None: the built-in default spec).
"""

from __future__ import annotations

from pathlib import Path

from trees import append, bsd_tree, example_spec, example_tables, master_line, write

PORTS_SPEC = example_spec("freebsd-ports")
NOLOGIN = {"freebsd": "/usr/sbin/nologin", "openbsd": "/sbin/nologin"}


def ports_users() -> list[tuple[str, int, int, str]]:
    """(name, uid, gid, home) of each user of the ports' spec."""
    tables = example_tables("freebsd-ports")
    gids = {group["name"]: group["gid"] for group in tables["groups"]}
    return [(user["name"], user["uid"], gids[user["group"]], user["home"]) for user in tables["users"]]



def fresh(root: Path, fixture: str) -> str | None:
    bsd_tree(root, fixture)
    return None


def partial(root: Path, fixture: str) -> str | None:
    """Both groups made (from the top of the system range), alias too; the rest missing."""
    bsd_tree(root, fixture)
    append(root, "group", ["qmail:*:470:", "nofiles:*:469:"])
    platform = "openbsd" if fixture.startswith("openbsd") else "freebsd"
    append(root, "master.passwd", [master_line("alias", 470, 469, "/var/qmail/alias", NOLOGIN[platform])])
    return None


def drifted(root: Path, fixture: str) -> str:
    """The ports' accounts, but qmaild got a login shell, qmailr another home,
    qmails another comment and alias the wrong login class."""
    bsd_tree(root, fixture)
    append(root, "group", ["qnofiles:*:81:", "qmail:*:82:"])
    lines = []
    for name, uid, gid, home in ports_users():
        shell, gecos, login_class = "/nonexistent", "QMail user", ""
        if name == "qmaild":
            shell = "/bin/sh"
        if name == "qmailr":
            home = "/home/qmailr"
        if name == "qmails":
            gecos = "qmail send"
        if name == "alias":
            login_class = "staff"
        lines.append(master_line(name, uid, gid, home, shell, gecos, login_class))
    append(root, "master.passwd", lines)
    # the spec asks for the default login class for alias
    return PORTS_SPEC.replace('home = "/var/qmail/alias"\n', 'home = "/var/qmail/alias"\nclass = "default"\n', 1)


def conflicting(root: Path, fixture: str) -> str:
    """The ports' fixed IDs against a host where alias already has another
    UID (and, on stock OpenBSD, 81..87 belong to base daemons)."""
    bsd_tree(root, fixture)
    append(root, "group", ["qnofiles:*:81:"] if fixture.startswith("freebsd") else [])
    append(root, "master.passwd", [master_line("alias", 1001, 81 if fixture.startswith("freebsd") else 31, "/var/qmail/alias", "/nonexistent")])
    return PORTS_SPEC


STATES = {f.__name__: f for f in (fresh, partial, drifted, conflicting)}


def build(state: str, root: Path, fixture: str) -> Path | None:
    """Build STATE under ROOT from FIXTURE; the spec file to use, if any."""
    spec_text = STATES[state](root, fixture)
    if spec_text is None:
        return None
    spec = root.parent / f"{state}.toml"
    write(spec, spec_text)
    return spec
