"""Platform profiles: the data that tells one UNIX from another.

Each platform is one TOML file in platforms/ (shipped inside the wheel as
qmailsetup/platforms, read from the checkout's top level otherwise). Code
here only loads and chooses them; what differs between systems is data.
"""

from __future__ import annotations

import shutil
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from qmailsetup.errors import BadInput

# Shells that never give a login, whatever the platform; the profile's own
# nologin shells count too.
NON_LOGIN_SHELLS = frozenset(
    {
        "/usr/sbin/nologin", "/sbin/nologin", "/usr/bin/nologin",
        "/bin/false", "/usr/bin/false", "/bin/true", "/usr/bin/true",
        "/nonexistent", "/dev/null",
    }
)


@dataclass(frozen=True)
class IdRange:
    uid_min: int
    uid_max: int
    gid_min: int
    gid_max: int


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    backend: str
    flavor: str
    nologin: tuple[str, ...]
    system_ids: IdRange
    login_defs: str | None = None
    post_edit: tuple[tuple[str, ...], ...] = ()
    commands: dict[str, list[list[str]]] = field(default_factory=dict)
    detect: dict = field(default_factory=dict)

    def is_non_login(self, shell: str) -> bool:
        return shell in NON_LOGIN_SHELLS or shell in self.nologin


def profiles_dir() -> Path:
    shipped = Path(__file__).with_name("platforms")  # in the wheel
    if shipped.is_dir():
        return shipped
    return Path(__file__).resolve().parents[2] / "platforms"


def load_profile(name: str) -> Profile:
    path = profiles_dir() / f"{name}.toml"
    # a plain name: "../x" must not reach a TOML file outside platforms/
    if not name.replace("-", "").isalnum() or not name.isascii() or not path.is_file():
        known = ", ".join(sorted(p.stem for p in profiles_dir().glob("*.toml")))
        raise BadInput(f"--platform {name}: no such platform (known: {known})")
    try:
        data = tomllib.loads(path.read_text())
        accounts = data["accounts"]
        return Profile(
            name=name,
            description=data.get("description", name),
            backend=accounts["backend"],
            flavor=accounts["flavor"],
            nologin=tuple(accounts["nologin"]),
            system_ids=IdRange(**accounts["system_ids"]),
            login_defs=accounts.get("login_defs"),
            post_edit=tuple(tuple(argv) for argv in accounts.get("post_edit", [])),
            commands=data.get("commands", {}),
            detect=data.get("detect", {}),
        )
    except (KeyError, TypeError, tomllib.TOMLDecodeError) as error:
        raise BadInput(f"{path}: broken platform profile: {error}") from None


def all_profiles() -> list[Profile]:
    return [load_profile(path.stem) for path in sorted(profiles_dir().glob("*.toml"))]


def read_os_release(root: Path) -> dict[str, str]:
    for candidate in ("etc/os-release", "usr/lib/os-release"):
        try:
            text = (root / candidate).read_text()
        except OSError:
            continue
        values = {}
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if sep and not line.startswith("#"):
                values[key.strip()] = value.strip().strip("'\"")
        return values
    return {}


def matches(profile: Profile, system: str, os_release: dict[str, str], has_tool) -> bool:
    detect = profile.detect
    if "system" in detect and detect["system"] != system:
        return False
    wanted_ids = set(detect.get("os_release_ids", []))
    if wanted_ids:
        seen = {os_release.get("ID", "")} | set(os_release.get("ID_LIKE", "").split())
        if not wanted_ids & seen:
            return False
    return all(has_tool(tool) for tool in detect.get("tools", []))


def detect_profile(system: str, os_release: dict[str, str], has_tool=shutil.which) -> Profile:
    """The most specific profile whose conditions hold on this host."""
    candidates = [p for p in all_profiles() if matches(p, system, os_release, has_tool)]
    if not candidates:
        raise BadInput(f"no platform profile matches this host ({system}); use --platform")
    return max(candidates, key=lambda p: p.detect.get("priority", 0))


def choose_profile(name: str, root: Path) -> Profile:
    if name != "auto":
        return load_profile(name)
    import os

    return detect_profile(os.uname().sysname, read_os_release(root))
