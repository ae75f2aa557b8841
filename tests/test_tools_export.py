"""`qmailsetup export`: goldens for each format, and the formats fed to the
real tools (systemd-sysusers, dash) against what `qmailsetup apply` makes."""

from __future__ import annotations

import json
import subprocess

import pytest

from conftest import cli, require_tools
from golden import check_text, scrub, scrub_version
from qmail_layout import QMAIL_USERS
from qmailsetup.spec import Spec, load_spec
from scenarios import INSTALL_IDS_SPEC
from trees import example_spec, example_tables, spec_toml, write

FREEBSD_SPEC = example_spec("freebsd-ports")


def ports_spec_with(users: dict[int, dict]) -> str:
    """The ports' spec with some users' fields changed: {index: {field: value}}."""
    tables = example_tables("freebsd-ports")
    for index, fields in users.items():
        tables["users"][index].update(fields)
    return spec_toml(tables)


# OpenBSD-style names, listed in no particular order
UNDERSCORE_SPEC = '[[groups]]\nname = "_qmail"\n[[groups]]\nname = "_qnofiles"\n' + "".join(
    f'[[users]]\nname = "_{name}"\ngroup = "{"_qmail" if name in ("qmailq", "qmailr", "qmails") else "_qnofiles"}"\n'
    f'home = "/var/qmail"\n'
    for name in sorted(QMAIL_USERS, reverse=True)
)


def scrubbed(text: str, tmp_path) -> str:
    """Goldens hold neither the temporary directory nor the version."""
    return scrub_version(scrub(text, tmp_path, "<tmp>"))


def spec_file(tmp_path, text: str, name: str = "spec.toml"):
    path = tmp_path / name
    write(path, text)
    return path


@pytest.mark.parametrize(
    ("fmt", "spec_name", "golden"),
    [
        ("sysusers", None, "sysusers-default.conf"),
        ("sysusers", "install-ids", "sysusers-install-ids.conf"),
        ("json", None, "spec-default.json"),
        ("sh", None, "qmail-accounts-linux.sh"),
        ("sh", "install-ids", "qmail-accounts-install-ids.sh"),
    ],
)
def test_export_matches_golden(tmp_path, fmt, spec_name, golden):
    args = ["export", "--format", fmt, "--platform", "linux"]
    if spec_name:
        args += ["--spec", spec_file(tmp_path, INSTALL_IDS_SPEC, f"{spec_name}.toml")]
    result = cli(*args)
    assert result.code == 0, result.err
    check_text(f"tools/{golden}", scrubbed(result.out, tmp_path))


def test_json_loads_back_as_the_same_spec_with_shells_filled_in(tmp_path):
    result = cli("export", "--format", "json", "--platform", "linux")
    exported = Spec.model_validate(json.loads(result.out))
    default = load_spec(None)
    assert [u.shell for u in exported.users] == ["/usr/sbin/nologin"] * 7
    assert [u.role for u in exported.users] == ["alias", "daemon", "log", "passwd", "queue", "remote", "send"]
    assert [g.role for g in exported.groups] == ["qmail", "nofiles"]
    users = [u.model_copy(update={"shell": None, "role": None}) for u in exported.users]
    groups = [g.model_copy(update={"role": None}) for g in exported.groups]
    assert exported.model_copy(update={"users": users, "groups": groups}) == default


@pytest.mark.parametrize(
    ("spec_text", "users", "groups"),
    [
        (None, "alias qmaild qmaill root qmailp qmailq qmailr qmails", "qmail nofiles"),
        (FREEBSD_SPEC, "alias qmaild qmaill root qmailp qmailq qmailr qmails", "qmail qnofiles"),
        (UNDERSCORE_SPEC, "_alias _qmaild _qmaill root _qmailp _qmailq _qmailr _qmails", "_qmail _qnofiles"),
    ],
)
def test_qmail_conf_names_each_role(tmp_path, spec_text, users, groups):
    out = tmp_path / "netqmail-1.06"
    out.mkdir()
    args = ["--spec", spec_file(tmp_path, spec_text)] if spec_text else []
    result = cli("export", "--format", "qmail-conf", "--platform", "linux", "--output", out, *args)
    assert result.code == 0, result.err
    assert result.out.splitlines() == [f"wrote {out}/{name}" for name in ("conf-users", "conf-groups", "conf-qmail", "conf-split")]
    conf_users = (out / "conf-users").read_text()
    # qmail's Makefile: head -1 conf-users, head -2 conf-users | tail -1, ...
    assert conf_users.split("\n\n")[0].split() == users.split()
    assert conf_users.splitlines()[8] == ""
    assert (out / "conf-groups").read_text().split("\n\n")[0].split() == groups.split()
    assert (out / "conf-qmail").read_text().splitlines()[:2] == ["/var/qmail", ""]


def test_qmail_conf_golden(tmp_path):
    out = tmp_path / "src"
    out.mkdir()
    assert cli("export", "--format", "qmail-conf", "--output", out, "--spec", spec_file(tmp_path, FREEBSD_SPEC)).code == 0
    for name in ("conf-users", "conf-groups", "conf-qmail", "conf-split"):
        check_text(f"tools/qmail-conf-freebsd/{name}", scrubbed((out / name).read_text(), tmp_path))


@pytest.mark.parametrize(
    ("spec_text", "message"),
    [
        # qmaild listed first: conf-users would make the alias user the daemon
        (ports_spec_with({0: {"name": "qmailx"}, 1: {"name": "alias"}}),
         "users[1] is alias, but conf-users' order puts the qmaild user there"),
        ('[[users]]\nname = "alias"\ngroup = "nofiles"\nhome = "/var/qmail"\n',
         "qmail needs 7 users, in conf-users' order"),
        (ports_spec_with({3: {"group": "qmail"}}),
         "qmail's alias, qmaild, qmaill, qmailp users must share one group"),
    ],
)
def test_qmail_conf_refuses_a_spec_qmail_cannot_be_built_for(tmp_path, spec_text, message):
    result = cli("export", "--format", "qmail-conf", "--output", tmp_path, "--spec", spec_file(tmp_path, spec_text))
    assert result.code == 2
    assert message in result.err
    assert not (tmp_path / "conf-users").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "qmail-conf"], "--format qmail-conf writes 4 files; give --output DIR"),
        (["--format", "sysusers", "--output", "/nonexistent/dir"], "--output /nonexistent/dir: not a directory"),
        (["--format", "sh", "--platform", "generic"], "--platform generic: has no account commands"),
        (["--format", "yaml"], "Invalid value"),
    ],
)
def test_export_usage_errors_exit_2(args, message):
    result = cli("export", *args)
    assert result.code == 2
    assert message in result.err
    assert result.out == ""


def test_output_dir_gets_the_file(tmp_path):
    result = cli("export", "--format", "sh", "--platform", "linux", "--output", tmp_path)
    assert result.code == 0
    script = tmp_path / "qmail-accounts.sh"
    assert script.stat().st_mode & 0o777 == 0o755
    assert script.read_text().startswith("#!/bin/sh\n")


def test_sh_export_parses_with_dash_and_sh(tmp_path):
    require_tools("dash")
    for spec_text in (None, INSTALL_IDS_SPEC, FREEBSD_SPEC):
        args = ["--spec", spec_file(tmp_path, spec_text)] if spec_text else []
        script = cli("export", "--format", "sh", "--platform", "linux", *args).out
        for shell in ("dash", "sh"):
            result = subprocess.run([shell, "-n"], input=script, capture_output=True, text=True)
            assert result.returncode == 0, result.stderr


def test_sh_export_reads_master_passwd_fields_on_a_bsd_flavor():
    """Dialects differ in data: a pw-style profile (made up here, as the
    BSD profiles are data too) gives master.passwd's field numbers and its
    own argv, with the nologin shell and class filled in when it runs."""
    from qmailsetup.commands.export import export as export_spec
    from qmailsetup.platforms import TEMPLATE_FIELDS, IdRange, Profile
    from qmailsetup.template import Template

    profile = Profile(
        name="bsdish", description="a BSD", backend="pw", flavor="bsd", nologin=("/usr/sbin/nologin",),
        system_ids=IdRange(100, 999, 100, 999),
        commands={
            "groupadd": Template.parse([["pw"], ["-R", "{root}"], ["groupadd", "{name}"], ["-g", "{gid}"]], TEMPLATE_FIELDS),
            "useradd": Template.parse([["pw"], ["-R", "{root}"], ["useradd", "{name}"], ["-u", "{uid}"], ["-g", "{gid}"],
                                       ["-d", "{home}"], ["-s", "{shell}"], ["-L", "{class}"]], TEMPLATE_FIELDS),
        },
    )
    spec = Spec.model_validate({
        "groups": [{"name": "qnofiles", "gid": 81}],
        "users": [{"name": "alias", "group": "qnofiles", "home": "/var/qmail/alias", "class": "daemon"}],
    })
    text = export_spec("sh", spec, profile, "test")[0].text
    assert "USERS_FILE=/etc/master.passwd\n" in text
    assert "U_UID=3\nU_GID=4\nU_GECOS=8\nU_HOME=9\nU_SHELL=10\nU_CLASS=5\n" in text
    assert "missing_group qnofiles && run pw groupadd qnofiles -g 81\n" in text
    assert ("missing_user alias && run pw useradd alias -g \"$(group_gid qnofiles)\" -d /var/qmail/alias "
            '-s "$nologin" -L daemon\n') in text
    assert "check_user alias '' qnofiles /var/qmail/alias '' '' =daemon ''\n" in text
