"""The well-known specs shipped with qmailsetup, one TOML file each beside
this module (qmail's INSTALL.ids, the FreeBSD ports, Gentoo, s/qmail,
Void's s/qmail, Debian's netqmail), and how --spec names one."""

from __future__ import annotations

from pathlib import Path

from qmailsetup.errors import BadInput

SHIPPED = Path(__file__).parent


def names() -> list[str]:
    return sorted(path.stem for path in SHIPPED.glob("*.toml"))


def spec_path(value: str | None) -> Path | None:
    """The spec file --spec VALUE names: a value with a '/' or ending in
    .toml is a file; any other is the name of a shipped spec, whatever the
    current directory holds (./NAME names a file of that name)."""
    if value is None:
        return None
    if "/" in value or value.endswith(".toml"):
        return Path(value)
    if value not in names():
        raise BadInput(f"--spec {value}: no such shipped spec ({', '.join(names())}); "
                       f"a file is named with a '/' or '.toml' (./{value})")
    return SHIPPED / f"{value}.toml"
