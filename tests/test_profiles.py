"""The forks' and distributions' profiles among the shipped specs (s/qmail,
Void's s/qmail with '_' names, Debian's netqmail): each validates with its
source's numbers, applies (files backend and real useradd --prefix under a
temporary root, and in a mount namespace), and round-trips through `env`
and the qmail-conf export (goldens). Renamed accounts are known by role."""

from __future__ import annotations

import pytest

from conftest import cli, require_tools
from golden import check_text
from namespace import run_in_namespace
from qmailsetup.errors import BadInput
from qmailsetup.layout import qmail_layout, standard_names
from qmailsetup.spec import load_spec, parse_spec
from trees import EXAMPLES, debian_tree

# profile -> ({group: gid}, {user: uid}, the source its header names)
PROFILES = {
    "s-qmail": (
        {"nofiles": 2108, "sqmail": 2109},
        {"alias": 7790, "qmaild": 7791, "qmaill": 7792, "qmailp": 7793, "qmailq": 7794, "qmailr": 7795,
         "qmails": 7796, "sqmtls": 7797},
        "fehcom.de/sqmail",
    ),
    "void-sqmail": (
        {"_nofiles": 798, "_sqmail": 799},
        {"_alias": 790, "_qmaild": 791, "_qmaill": 792, "_qmailp": 793, "_qmailq": 794, "_qmailr": 795,
         "_qmails": 796, "_sqmtls": 797},
        "srcpkgs/sqmail/files/README.voidlinux",
    ),
    "debian-netqmail": (
        {"qmail": 64010, "nofiles": None},
        {"alias": 64010, "qmaild": 64011, "qmaill": 64015, "qmailp": 64016, "qmailq": 64014, "qmailr": 64013,
         "qmails": 64012},
        "debian/qmail-uids-gids.postinst",
    ),
}
STANDARD_USERS = ("alias", "qmaild", "qmaill", "qmailp", "qmailq", "qmailr", "qmails")


@pytest.mark.parametrize("profile", PROFILES)
def test_profile_validates_with_its_sources_numbers(profile):
    groups, users, source = PROFILES[profile]
    spec = load_spec(EXAMPLES / f"{profile}.toml")
    assert {g.name: g.gid for g in spec.groups} == groups
    assert {u.name: u.uid for u in spec.users} == users
    assert source in (EXAMPLES / f"{profile}.toml").read_text().split("\n\n")[0]


@pytest.mark.parametrize("profile", PROFILES)
def test_every_account_is_known_by_its_role(profile):
    spec = load_spec(EXAMPLES / f"{profile}.toml")
    layout = qmail_layout(spec, profile)
    prefix = "_" if profile == "void-sqmail" else ""
    assert {role: user.name for role, user in layout.users.items() if role in STANDARD_USERS} == {
        role: prefix + role for role in STANDARD_USERS
    }
    qmail_group = {"s-qmail": "sqmail", "void-sqmail": "_sqmail", "debian-netqmail": "qmail"}[profile]
    assert layout.groups == {"qmail": qmail_group, "nofiles": prefix + "nofiles"}
    assert ("sqmtls" in layout.users) == (profile != "debian-netqmail")


def test_a_role_field_names_an_account_qmail_does_not_know_by_name():
    text = (EXAMPLES / "install-ids.toml").read_text().replace('name = "qmaild"', 'name = "smtpd"\nrole = "daemon"')
    spec = parse_spec(text, "renamed.toml")
    assert qmail_layout(spec, "renamed.toml").users["qmaild"].name == "smtpd"
    assert standard_names(spec)[0]["smtpd"] == "qmaild"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('name = "qmaill"', 'name = "qmaill"\nrole = "daemon"'),
         "renamed.toml: users qmaild and qmaill both play the daemon user role"),
        (('name = "qmaild"', 'name = "smtpd"\nrole = "log"'),
         "renamed.toml: users smtpd and qmaill both play the log user role"),
        (('name = "qmaild"', 'name = "smtpd"\nrole = "tls"'),
         "renamed.toml: no user plays qmail's daemon user role (role = ...)"),
    ],
)
def test_roles_that_clash_or_are_missing_are_refused(change, message):
    text = (EXAMPLES / "install-ids.toml").read_text().replace(*change)
    with pytest.raises(BadInput) as error:
        qmail_layout(parse_spec(text, "renamed.toml"), "renamed.toml")
    assert str(error.value) == message


def test_a_role_that_is_not_one_is_bad_input(tmp_path):
    spec = tmp_path / "bad.toml"
    spec.write_text((EXAMPLES / "install-ids.toml").read_text().replace('name = "qmaild"', 'name = "qmaild"\nrole = "smtp"'))
    result = cli("apply", "--dry-run", "--spec", spec)
    assert result.code == 2
    assert result.err.startswith(f"qmailsetup: {spec}: users[1].role: 'smtp' is not one of 'alias', 'daemon', ")


@pytest.mark.parametrize("profile", PROFILES)
def test_qmail_conf_export_golden(tmp_path, profile):
    out = tmp_path / "src"
    out.mkdir()
    result = cli("export", "--format", "qmail-conf", "--output", out, "--spec", profile)
    assert result.code == 0, result.err
    names = sorted(p.name for p in out.iterdir())
    sqmail = profile != "debian-netqmail"
    expected = (["conf-groups", "conf-home", "conf-ids", "conf-split", "conf-users"] if sqmail
                else ["conf-groups", "conf-qmail", "conf-split", "conf-users"])
    assert names == expected
    from qmailsetup import __version__

    for name in names:
        text = (out / name).read_text().replace(f"qmailsetup {__version__}", "qmailsetup <version>")
        check_text(f"tools/qmail-conf-{profile}/{name}", text)


def test_void_conf_ids_are_the_lines_void_ships():
    """The export of void-sqmail.toml gives back, line for line, the
    conf-ids lines README.voidlinux shows (quoted in the profile's header)."""
    header = (EXAMPLES / "void-sqmail.toml").read_text().split("\n\n")[0]
    shipped = [line.removeprefix("#").strip() for line in header.splitlines() if line.startswith("#     7")]
    from qmailsetup.export.qmailconf import qmail_conf
    from qmailsetup.platforms import load_profile

    outputs = {o.name: o.text for o in qmail_conf(load_spec(EXAMPLES / "void-sqmail.toml"), load_profile("linux"), "x")}
    assert len(shipped) == 10
    assert [line for line in outputs["conf-ids"].splitlines() if not line.startswith("#")] == shipped


def test_conf_ids_needs_every_number(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text((EXAMPLES / "s-qmail.toml").read_text().replace("uid = 7797\n", ""))
    result = cli("export", "--format", "qmail-conf", "--output", tmp_path, "--spec", spec)
    assert result.code == 2
    assert result.err == f"qmailsetup: {spec}: s/qmail's conf-ids needs every account's number: user sqmtls has no uid\n"
    assert not (tmp_path / "conf-ids").exists()


def env_of(root, profile) -> dict[str, str]:
    result = cli("env", "--platform", "linux", "--root", root, "--spec", EXAMPLES / f"{profile}.toml")
    assert result.code == 0, result.err
    return dict(line.split("=", 1) for line in result.out.splitlines())


def expected_env(profile, nofiles_gid: str) -> dict[str, str]:
    groups, users, _ = PROFILES[profile]
    values = {"QMAIL_HOME": "'/var/lib/qmail'" if profile == "debian-netqmail" else "'/var/qmail'"}
    values |= {f"QMAIL_UID_{name.lstrip('_').upper()}": f"'{uid}'" for name, uid in users.items()}
    values["QMAIL_GID_QMAIL"] = f"'{groups.get('qmail') or groups.get('sqmail') or groups.get('_sqmail')}'"
    values["QMAIL_GID_NOFILES"] = f"'{nofiles_gid}'"
    return values


@pytest.fixture
def real_tools():
    require_tools("useradd", "groupadd")


@pytest.mark.root("applies with chown and useradd --prefix")
@pytest.mark.parametrize("backend", ["files", "useradd"])
@pytest.mark.parametrize("profile", PROFILES)
def test_applies_under_a_root_then_in_sync_and_env_round_trips(tmp_path, real_tools, profile, backend):
    root = debian_tree(tmp_path / "root")
    spec = EXAMPLES / f"{profile}.toml"
    first = cli("apply", "--platform", "linux", "--backend", backend, "--root", root, "--spec", spec)
    assert first.code == 0, first.err
    again = cli("apply", "--platform", "linux", "--backend", backend, "--root", root, "--spec", spec, "--detailed-exitcode")
    assert again.code == 0, again.out
    nofiles = PROFILES[profile][0].get("nofiles") or PROFILES[profile][0].get("_nofiles")
    if nofiles is None:  # Debian's: any system GID, allocated as groupadd -r would
        nofiles = next(line.split(":")[2] for line in (root / "etc/group").read_text().splitlines()
                       if line.startswith("nofiles:"))
    assert env_of(root, profile) == expected_env(profile, str(nofiles))


NAMESPACE = """\
$QMAILSETUP apply --spec "$SPEC" > /dev/null
$QMAILSETUP apply --spec "$SPEC" --detailed-exitcode > /dev/null && echo "=== in sync"
for name in $NAMES; do getent passwd "$name" | cut -d: -f1,3,6; done
eval "$($QMAILSETUP env --spec "$SPEC")"
echo "=== env $QMAIL_UID_QMAILD $QMAIL_UID_QMAILQ $QMAIL_GID_QMAIL"
"""


@pytest.mark.slow
@pytest.mark.parametrize("profile", PROFILES)
def test_applies_in_a_namespace_with_the_hosts_own_tools(tmp_path, privileged, profile):
    _, users, _ = PROFILES[profile]
    spec = EXAMPLES / f"{profile}.toml"
    script = f'SPEC="{spec}"\nNAMES="{" ".join(users)}"\n' + NAMESPACE
    result = run_in_namespace(tmp_path, script)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "=== in sync" in result.stdout
    home = "/var/lib/qmail" if profile == "debian-netqmail" else "/var/qmail"
    for name, uid in users.items():
        assert f"{name}:{uid}:" in result.stdout
    assert f"{home}/alias" in result.stdout
    groups = PROFILES[profile][0]
    qmail_gid = groups.get("qmail") or groups.get("sqmail") or groups.get("_sqmail")
    daemon = users.get("qmaild") or users["_qmaild"]
    queue = users.get("qmailq") or users["_qmailq"]
    assert f"=== env {daemon} {queue} {qmail_gid}" in result.stdout
