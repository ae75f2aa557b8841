"""Supplementary groups (users[].groups): the files backend writes the
member lists exactly as the real shadow-utils useradd -G and usermod -a -G
do (two copies of a tree, compared byte for byte), drift is fixed only with
--fix-drift and never removes a membership, the BSD tools get the argv that
only adds, and a spec that names them wrongly is one line, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import checked_accounts, cli, require_tools
from process import apply_files, qmailsetup
from qmailsetup.backends import make_backend
from qmailsetup.errors import Refused
from qmailsetup.observe import observe
from qmailsetup.plan import make_plan
from qmailsetup.platforms import load_profile
from qmailsetup.spec import parse_spec
from snapshot import account_files, snapshot, without_pwd_lock
from trees import bsd_tree, make_tree

# notqmail's qmail-remote reads its TLS client certificate through qcerts;
# qmaild (qmail-smtpd's STARTTLS) too, as indimail-style setups have it
TLS_SPEC = """
[[groups]]
name = "qmail"
[[groups]]
name = "nofiles"
[[groups]]
name = "qcerts"
[[users]]
name = "qmaild"
group = "nofiles"
home = "/var/qmail"
groups = ["qcerts"]
[[users]]
name = "qmailr"
group = "qmail"
home = "/var/qmail"
groups = ["qcerts", "ssl-cert"]
"""
# qcerts and ssl-cert already there, qmaild and qmailr too, in neither
EXISTING = {
    "group": ["qmail:x:999:", "nofiles:x:998:", "qcerts:x:997:{qcerts}", "ssl-cert:x:996:{ssl}"],
    "gshadow": ["qmail:!::", "nofiles:!::", "qcerts:!::{qcerts}", "ssl-cert:!:root:{ssl}"],
    "passwd": ["qmaild:x:999:998::/var/qmail:/usr/sbin/nologin", "qmailr:x:998:999::/var/qmail:/usr/sbin/nologin"],
    "shadow": ["qmaild:!:19000::::::", "qmailr:!:19000::::::"],
}


def spec_file(tmp_path: Path, text: str = TLS_SPEC) -> Path:
    path = tmp_path / "spec.toml"
    path.write_text(text)
    return path


def existing_tree(root: Path, qcerts: str, ssl: str) -> Path:
    """A Debian tree where the accounts exist and the member lists are as given."""
    make_tree(root, "debian")
    for kind, lines in EXISTING.items():
        with open(root / "etc" / kind, "a") as file:
            file.write("".join(line.format(qcerts=qcerts, ssl=ssl) + "\n" for line in lines))
    return root


def both_ways(tmp_path: Path, make, *args: str) -> tuple[dict, dict]:
    """The same tree made twice, applied with the files backend and with the
    real shadow-utils (--prefix): both snapshots."""
    files_root, tool_root = make(tmp_path / "files"), make(tmp_path / "useradd")
    spec = str(spec_file(tmp_path))
    apply_files(files_root, "--spec", spec, *args)
    qmailsetup("apply", "--root", str(tool_root), "--platform", "linux", "--backend", "useradd", "--spec", spec, *args)
    return account_files(files_root), account_files(tool_root)


def test_new_users_join_their_groups_byte_identical_with_useradd(privileged, tmp_path):
    """useradd -G (ssl-cert is on the host, qcerts is made by the plan)."""
    require_tools("useradd", "groupadd")

    def make(root: Path) -> Path:
        make_tree(root, "debian")
        for kind, line in (("group", "ssl-cert:x:996:www-data"), ("gshadow", "ssl-cert:!::www-data")):
            with open(root / "etc" / kind, "a") as file:
                file.write(line + "\n")
        return root

    made, expected = both_ways(tmp_path, make)
    assert made == expected
    assert b"\nqcerts:x:993:qmaild,qmailr\n" in made["group"]
    assert b"\nssl-cert:x:996:www-data,qmailr\n" in made["group"]
    assert b"\nqcerts:!::qmaild,qmailr\n" in made["gshadow"]


# member lists as found: empty, one name, and the odd ones whose handling
# is shadow-utils' (it splits at each ',' and drops only a last empty name)
LISTS = ["", "www-data", "www-data,,nobody,", ",", "a, b"]


@pytest.mark.slow
@pytest.mark.parametrize("members", LISTS)
def test_fix_drift_adds_the_membership_byte_identical_with_usermod(privileged, tmp_path, members):
    """usermod --prefix -a -G, one group at a time, against the files backend."""
    require_tools("usermod")
    made, expected = both_ways(tmp_path, lambda root: existing_tree(root, members, members), "--fix-drift")
    assert made == expected
    listed = [line for line in made["group"].decode().splitlines() if line.startswith(("qcerts:", "ssl-cert:"))]
    assert all(line.endswith(",qmailr") or line.endswith(":qmailr") for line in listed)


def test_odd_member_lists_and_a_group_without_gshadow_line_in_process(tmp_path):
    """What usermod does above (in a process of its own there), pinned in
    this one: a list with empty names keeps them and drops only a last
    empty one; a group with no gshadow line gets none (as shadow-utils)."""
    root = existing_tree(tmp_path / "root", "www-data,,nobody,", ",")
    gshadow = root / "etc/gshadow"
    gshadow.write_text(gshadow.read_text().replace("ssl-cert:!:root:,\n", ""))
    result = cli("apply", "--root", root, "--platform", "linux", "--backend", "files",
                 "--spec", spec_file(tmp_path), "--fix-drift")
    assert result.code == 0, result.err
    group = (root / "etc/group").read_text().splitlines()
    assert group[-2:] == ["qcerts:x:997:www-data,,nobody,qmaild,qmailr", "ssl-cert:x:996:,qmailr"]
    assert gshadow.read_text().splitlines()[-1] == "qcerts:!::www-data,,nobody,qmaild,qmailr"
    assert "ssl-cert" not in gshadow.read_text()


def test_a_supplementary_group_removed_since_observe_is_refused(tmp_path):
    """ssl-cert is on the host (not planned) when observed, gone under the lock."""
    root = make_tree(tmp_path / "root", "debian")
    for kind, line in (("group", "ssl-cert:x:996:\n"), ("gshadow", "ssl-cert:!::\n")):
        with open(root / "etc" / kind, "a") as file:
            file.write(line)
    spec = parse_spec(TLS_SPEC, "spec")
    host = observe(spec, root, load_profile("linux"))
    plan = make_plan(spec, host)
    for kind, line in (("group", "ssl-cert:x:996:\n"), ("gshadow", "ssl-cert:!::\n")):
        (root / "etc" / kind).write_text((root / "etc" / kind).read_text().replace(line, ""))
    before = snapshot(root)
    with pytest.raises(Refused) as refused:
        make_backend("files", host).apply(plan.changes, lambda change: None)
    assert str(refused.value) == "the account files changed since they were read; nothing written, run again"
    assert without_pwd_lock(snapshot(root)) == without_pwd_lock(before)


def test_missing_membership_is_drift_refused_without_fix_drift(tmp_path):
    root = existing_tree(tmp_path / "root", "www-data", "")
    before = snapshot(root)
    result = apply_files(root, "--spec", str(spec_file(tmp_path)), check_codes=(3,))
    assert "    groups: qcerts (missing) -> qcerts\n" in result.stdout
    assert "    groups: qcerts (missing), ssl-cert (missing) -> qcerts, ssl-cert\n" in result.stdout
    assert result.stderr.splitlines()[-1] == (
        "qmailsetup: refused, nothing written: user qmaild differs from the spec (groups) (and 1 more); "
        "to change the accounts rerun with --fix-drift, or to keep them make the spec accept what the host has"
    )
    assert without_pwd_lock(snapshot(root)) == without_pwd_lock(before)  # the lock, taken before the reading, is made


def test_a_user_in_more_groups_than_the_spec_says_is_in_sync(tmp_path):
    """Memberships the spec does not name are never removed, nor drift."""
    root = existing_tree(tmp_path / "root", "qmaild,qmailr", "qmailr")
    with open(root / "etc/group", "a") as file:
        file.write("adm2:x:995:qmailr\n")
    before = snapshot(root)
    result = apply_files(root, "--spec", str(spec_file(tmp_path)), "--fix-drift")
    assert "0 to create, 0 to modify, 5 in sync." in result.stdout
    assert without_pwd_lock(snapshot(root)) == without_pwd_lock(before)
    assert b"adm2:x:995:qmailr\n" in (root / "etc/group").read_bytes()


def test_fix_drift_then_in_sync(tmp_path):
    root = existing_tree(tmp_path / "root", "www-data", "")
    apply_files(root, "--spec", str(spec_file(tmp_path)), "--fix-drift")
    result = apply_files(root, "--spec", str(spec_file(tmp_path)))
    assert "0 to create, 0 to modify, 5 in sync." in result.stdout
    group = (root / "etc/group").read_text()
    assert "\nqcerts:x:997:www-data,qmaild,qmailr\n" in group
    assert "\nssl-cert:x:996:qmailr\n" in group


BSD_SPEC = TLS_SPEC.replace(', "ssl-cert"', "")


def bsd_plan(tmp_path: Path, platform: str, fixture: str):
    """A BSD tree where qcerts exists and qmailr is not in it; qmaild is new."""
    root = bsd_tree(tmp_path / "root", fixture)
    with open(root / "etc/group", "a") as file:
        file.write("qmail:*:482:\nnofiles:*:481:\nqcerts:*:483:\n")
    with open(root / "etc/master.passwd", "a") as file:
        file.write("qmailr:*:482:482::0:0::/var/qmail:/sbin/nologin\n")
    spec = parse_spec(BSD_SPEC, "spec")
    host = observe(spec, root, load_profile(platform))
    if platform != "freebsd":  # their tools have no root option: the tree stands for /
        host.root = Path("/")
    plan = make_plan(spec, host, fix_drift=True)
    backend = make_backend(host.profile.backend, host)
    return root, {change.name: backend.commands(change) for change in plan.changes}


@pytest.mark.root("the host's tools are handed only a tree root alone can change")
@pytest.mark.parametrize(
    ("platform", "fixture", "useradd_tail", "join"),
    [
        # -G "" keeps pw.conf's extragroups off; the second -G adds to that list
        ("freebsd", "freebsd", ["-h", "-", "-G", "", "-G", "qcerts"], ["pw", "-R", "{root}", "groupmod", "qcerts", "-m", "qmailr"]),
        # usermod -G appends there (-S would set the list)
        ("openbsd", "openbsd", ["-G", "qcerts", "-p", "*", "qmaild"], ["usermod", "-G", "qcerts", "qmailr"]),
        ("netbsd", "openbsd", ["-G", "qcerts", "-p", "*************", "qmaild"], ["usermod", "-G", "qcerts", "qmailr"]),
    ],
)
def test_bsd_tools_only_ever_add(tmp_path, platform, fixture, useradd_tail, join):
    root, commands = bsd_plan(tmp_path, platform, fixture)
    (useradd,) = commands["qmaild"]
    assert useradd[-len(useradd_tail):] == useradd_tail
    assert commands["qmailr"] == [[str(root) if part == "{root}" else part for part in join]]
    # never a usermod -G / -S that would set the whole list
    assert not any(argv[:1] == ["pw"] and "usermod" in argv for argv in commands["qmailr"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('groups = "qcerts"', 'users[0].groups: must be a list of group names, such as ["qcerts"]'),
        ('groups = ["qcerts", "qcerts"]', "users[0]: groups: 'qcerts' appears more than once"),
        ('groups = ["nofiles"]', "users[0]: groups: 'nofiles' is the user's primary group already (group = ...)"),
        ('groups = ["Qcerts"]', "users[0].groups[0]: 'Qcerts' is not a portable account name"),
    ],
)
def test_a_wrong_groups_list_is_one_line_exit_2_nothing_written(tmp_path, text, message):
    root = make_tree(tmp_path / "root", "debian")
    before = snapshot(root)
    spec = spec_file(tmp_path, f'[[users]]\nname = "qmaild"\ngroup = "nofiles"\nhome = "/var/qmail"\n{text}\n')
    result = cli("apply", "--root", root, "--platform", "linux", "--backend", "files", "--spec", spec)
    assert result.code == 2
    (line,) = result.err.splitlines()
    assert line.startswith(f"qmailsetup: {spec}: {message}")
    assert snapshot(root) == before


def test_sh_export_under_dash_adds_the_memberships_and_refuses_a_missing_one(tmp_path, privileged):
    """The sh export in a mount namespace (a copy of /etc over /etc): new
    users join with useradd -G; a second run is in sync; an existing user
    missing from a group is drift, refused (exit 3) with nothing written;
    a membership the spec does not name is left alone."""
    from namespace import run_in_namespace

    require_tools("dash", "useradd", "groupadd")
    result = cli("export", "--format", "sh", "--platform", "linux", "--spec", spec_file(tmp_path, BSD_SPEC))
    assert result.code == 0, result.err
    script = tmp_path / "qmail-accounts.sh"
    script.write_text(result.out)
    result = run_in_namespace(tmp_path, f"""\
set +e
dash {script} > /dev/null; echo "first=$?"
echo "qcerts=$(getent group qcerts | cut -d: -f4)"
echo "gshadow=$(grep '^qcerts:' /etc/gshadow)"
echo "id=$(id -nG qmailr)"
dash {script} | tail -n 1
sed -i 's/^\\(qcerts:[^:]*:[^:]*:\\).*/\\1qmaild/' /etc/group
sum_before=$(cat /etc/group /etc/gshadow /etc/passwd | md5sum)
dash {script}; echo "drift=$?"
[ "$(cat /etc/group /etc/gshadow /etc/passwd | md5sum)" = "$sum_before" ] && echo "nothing written"
sed -i 's/^\\(qcerts:[^:]*:[^:]*:\\).*/\\1qmaild,qmailr/; s/^\\(mail:[^:]*:[^:]*:\\)$/\\1qmailr/' /etc/group
dash {script} | tail -n 1
""")
    lines = result.stdout.splitlines()
    assert "first=0" in lines, result.stdout + result.stderr
    assert "qcerts=qmaild,qmailr" in lines
    assert "gshadow=qcerts:!::qmaild,qmailr" in lines
    assert next(line for line in lines if line.startswith("id=")).split("=")[1].split() == ["qmail", "qcerts"]
    assert lines.count("In sync: nothing to do.") == 2, result.stdout
    assert "drift=3" in lines and "nothing written" in lines
    assert "! user qmailr differs from the spec in: groups; fix it by hand or with qmailsetup apply --fix-drift" in (
        result.stderr.splitlines()
    )


@pytest.mark.parametrize(
    ("fmt", "golden"),
    [("sysusers", "sysusers-tls-groups.conf"), ("json", "spec-tls-groups.json"), ("sh", "qmail-accounts-tls-groups.sh")],
)
def test_exports_carry_the_groups(tmp_path, fmt, golden):
    """sysusers: an m line per membership; json: the list (empty where the
    spec has none); sh: checked per user, added with useradd -G."""
    from golden import check_text, scrub, scrub_version

    result = cli("export", "--format", fmt, "--platform", "linux", "--spec", spec_file(tmp_path))
    assert result.code == 0, result.err
    check_text(f"tools/{golden}", scrub_version(scrub(result.out, tmp_path, "<tmp>")))


def test_check_reports_a_missing_membership_as_drift(tmp_path):

    root = existing_tree(tmp_path / "root", "www-data", "qmailr")
    findings = checked_accounts(parse_spec(TLS_SPEC, "spec"), root)
    drift = [(f.severity, f.path, f.message, f.remedy) for f in findings if f.id == "account.drift"]
    assert drift == [
        ("warning", f"{root}/etc/group", "user qmaild differs from the spec: groups qcerts (missing) (wants qcerts)",
         "qmailsetup apply --fix-drift"),
        ("warning", f"{root}/etc/group",
         "user qmailr differs from the spec: groups qcerts (missing), ssl-cert (wants qcerts, ssl-cert)",
         "qmailsetup apply --fix-drift"),
    ]


def test_env_adds_nothing_but_a_spec_group_has_its_gid(tmp_path):
    """qmailsetup(8): env prints no supplementary groups (a build compiles only the
    primary IDs); the certificate group of the spec has QMAIL_GID_<GROUP>."""
    root = existing_tree(tmp_path / "root", "qmaild,qmailr", "qmailr")
    result = cli("env", "--root", root, "--platform", "linux", "--spec", spec_file(tmp_path))
    assert result.code == 0, result.err
    assert result.out.splitlines()[-3:] == ["QMAIL_GID_QMAIL='999'", "QMAIL_GID_NOFILES='998'", "QMAIL_GID_QCERTS='997'"]
    assert "GROUPS" not in result.out and "SSL" not in result.out


def test_a_membership_that_changed_since_the_plan_is_refused_under_the_lock(tmp_path):
    """The files backend, without the run's locks (a command backend's
    writer), compares the files with what was read once it holds its own:
    a member list edited between the plan and the write stops the run,
    nothing written."""
    from qmailsetup.backends.files import FilesBackend
    from qmailsetup.errors import Refused

    root = existing_tree(tmp_path / "root", "www-data", "")
    spec = parse_spec(TLS_SPEC, "spec")
    host = observe(spec, root, load_profile("linux"))
    plan = make_plan(spec, host, fix_drift=True)
    group = (root / "etc/group").read_text().replace("qcerts:x:997:www-data", "qcerts:x:997:www-data,qmaild")
    (root / "etc/group").write_text(group)
    before = without_pwd_lock(snapshot(root))  # the lock file is made, as useradd makes it
    with pytest.raises(Refused, match=r"the account files changed since they were read; nothing written"):
        FilesBackend(host).apply([c for c in plan.changes if c.kind != "path"], lambda change: None)
    assert without_pwd_lock(snapshot(root)) == before
    assert not [p.name for p in (root / "etc").iterdir() if p.name.endswith("-")], "no backup: nothing replaced"


@pytest.mark.root("the host's tools are handed only a tree root alone can change")
def test_a_usermod_that_could_take_the_groups_is_never_given_them(tmp_path):
    """A profile may give usermod a {groups} part (it may name any field),
    but usermod -G sets the whole list: a missing membership still goes
    through addtogroup, which only adds, and usermod carries the rest."""
    from qmailsetup.platforms import parse_profile, profiles_dir

    text = (profiles_dir() / "linux.toml").read_text()
    assert '["-c", "{comment}"], ["{name}"],\n]' in text
    profile = parse_profile("linux", text.replace('["-c", "{comment}"], ["{name}"],\n]',
                                                  '["-c", "{comment}"], ["-G", "{groups}"], ["{name}"],\n]'), "linux.toml")
    assert "groups" in profile.commands["usermod"].fields
    root = existing_tree(tmp_path / "root", qcerts="qmaild", ssl="qmailr")
    spec = parse_spec(TLS_SPEC.replace('name = "qmailr"\n', 'name = "qmailr"\ncomment = "remote"\n'), "spec")
    host = observe(spec, root, profile)
    plan = make_plan(spec, host, fix_drift=True)
    (qmailr,) = [change for change in plan.changes if change.name == "qmailr"]
    assert make_backend("useradd", host).commands(qmailr) == [
        ["usermod", "--prefix", str(root), "-c", "remote", "qmailr"],
        ["usermod", "--prefix", str(root), "-a", "-G", "qcerts", "qmailr"],
    ]
