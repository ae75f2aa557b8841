"""The planner on small hand-made hosts: the rules of "Reconciling, safely"."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest

from qmailsetup.observe import observe
from qmailsetup.plan import DesiredFile, DesiredGroup, DesiredUser, allocate, make_plan, nobody_else
from qmailsetup.platforms import load_profile
from qmailsetup.spec import load_spec, parse_spec
from trees import append, debian_tree, installed_tree

LINUX = load_profile("linux")


@pytest.mark.parametrize(
    ("used", "expected"),
    [
        (set(), 999),                      # nothing in range: the top
        ({999, 998}, 997),                 # just below the lowest in range
        ({998, 500}, 499),
        ({101, 999}, 998),                 # the lowest in use is the bottom: wrap to the top
        ({101, 102, 999, 998}, 997),
        ({0, 65534, 1000}, 999),           # IDs outside the range do not count
        (set(range(101, 1000)), None),     # full
    ],
)
def test_allocate_picks_what_useradd_r_would(used, expected):
    assert allocate(used, 101, 999) == expected


@pytest.mark.parametrize(
    ("used", "expected"),
    [
        (set(), 100),                      # nothing in range: the bottom
        ({100, 101, 999}, 102),            # the first free one counting up
        ({100, 102}, 101),                 # a gap is taken
        ({0, 99, 1000}, 100),              # IDs outside the range do not count
        (set(range(100, 1000)), None),     # full: "no uids left"
    ],
)
def test_allocate_upward_picks_what_busybox_adduser_s_would(used, expected):
    """loginutils/adduser.c passwd_study(): pw_uid = CONFIG_FIRST_SYSTEM_ID,
    then pw_uid++ while getpwuid() finds it, up to CONFIG_LAST_SYSTEM_ID."""
    assert allocate(used, 100, 999, upward=True) == expected


def below(limit):
    """NSS holds every ID below LIMIT (an LDAP directory, say)."""
    return lambda candidate: candidate < limit


@pytest.mark.parametrize(
    ("used", "held", "expected"),
    [
        pytest.param({102}, None, 101, id="the-bottom-just-below-the-lowest"),
        pytest.param(set(range(102, 1000)), None, 101, id="only-the-bottom-free"),
        pytest.param(set(range(101, 999)), None, 999, id="only-the-top-free"),
        pytest.param({101, 500}, None, 999, id="the-bottom-in-use-wraps-to-the-top"),
        pytest.param({500}, {499}.__contains__, 498, id="past-one-held-counting-down"),
        pytest.param({500}, below(500), 999, id="all-below-held-wraps-to-the-top"),
        pytest.param({500, 999}, below(500), 998, id="wraps-then-counts-down-from-the-top"),
        pytest.param({500} | set(range(501, 1000)), below(500), None, id="wrapped-and-full"),
    ],
)
def test_allocate_at_the_edges_of_the_system_range(used, held, expected):
    """useradd -r's find_new_uid: below the lowest in use, down to the
    bottom; then from the top down to where it started."""
    assert allocate(used, 101, 999, held=held or nobody_else) == expected


@pytest.mark.parametrize(
    ("used", "low", "high", "upward", "expected"),
    [
        pytest.param(set(), 101, 101, False, 101, id="a-range-of-one"),
        pytest.param({101}, 101, 101, False, None, id="a-range-of-one-taken"),
        pytest.param(set(), 101, 101, True, 101, id="a-range-of-one-upward"),
        pytest.param(set(range(100, 999)), 100, 999, True, 999, id="upward-only-the-top-free"),
        pytest.param({65534}, 65534, 65536, True, 65536, id="upward-over-65535"),
        pytest.param(set(), 65534, 65536, False, 65536, id="down-from-the-top-of-an-odd-range"),
        pytest.param({65536, 65534}, 65534, 65536, False, None, id="an-odd-range-full-but-65535"),
    ],
)
def test_allocate_in_small_and_odd_ranges(used, low, high, upward, expected):
    assert allocate(used, low, high, upward=upward) == expected


def host_with(tmp_path, passwd=(), group=(), shadow=()):
    """A Debian tree with these lines added; each group with its gshadow
    line, as groupadd leaves it (without one it would be half-made)."""
    root = debian_tree(tmp_path / "root")
    append(root, "passwd", list(passwd))
    append(root, "group", list(group))
    append(root, "gshadow", [line.split(":")[0] + ":!::" for line in group])
    append(root, "shadow", list(shadow))
    return root


def plan_for(root, spec_text=None, fix_drift=False, nss=None):
    spec = parse_spec(spec_text, "t.toml") if spec_text else __import__("qmailsetup.spec").spec.load_spec(None)
    host = observe(spec, root, LINUX)
    for key, value in (nss or {}).items():
        getattr(host, key).update(value)
    return make_plan(spec, host, fix_drift)


def reasons(plan):
    return {(c.kind, c.name): c.reason for c in plan.conflicts}


def test_a_name_known_only_to_nss_is_a_conflict_not_a_second_account(tmp_path):
    plan = plan_for(host_with(tmp_path), nss={"nss_users": {"qmaild": 5001}, "nss_groups": {"qmail": 5000}})
    assert reasons(plan)[("user", "qmaild")] == "exists only in NSS (uid 5001), not in the local files"
    assert reasons(plan)[("group", "qmail")] == "exists only in NSS (gid 5000), not in the local group file"
    assert plan.refused


def test_an_id_held_in_nss_is_a_conflict(tmp_path):
    spec = '[[groups]]\nname = "qmail"\ngid = 2107\n'
    plan = plan_for(host_with(tmp_path), spec, nss={"nss_gids": {2107: "ldapgroup"}})
    assert reasons(plan) == {("group", "qmail"): "gid 2107 is already held by group ldapgroup"}


def test_a_user_whose_group_exists_nowhere_is_a_conflict(tmp_path):
    spec = '[[users]]\nname = "alias"\ngroup = "nofiles"\nhome = "/var/qmail/alias"\n'
    plan = plan_for(host_with(tmp_path), spec)
    assert reasons(plan) == {("user", "alias"): "its group nofiles is neither in the spec nor on the host"}


def test_a_user_whose_group_is_only_on_the_host_is_fine(tmp_path):
    spec = '[[users]]\nname = "alias"\ngroup = "mail"\nhome = "/var/qmail/alias"\n'
    plan = plan_for(host_with(tmp_path), spec)
    assert not plan.conflicts
    assert plan.changes[0].desired.gid == 8


@pytest.mark.root("a tree root owns (another user's is warned of)")
def test_any_non_login_shell_is_in_sync_when_the_spec_names_none(tmp_path):
    spec = '[[groups]]\nname = "nofiles"\n[[users]]\nname = "alias"\ngroup = "nofiles"\nhome = "/var/qmail/alias"\n'
    root = host_with(tmp_path, ["alias:x:7790:2108::/var/qmail/alias:/bin/true"], ["nofiles:x:2108:"], ["alias:*:19000::::::"])
    plan = plan_for(root, spec)
    assert plan.in_sync, plan
    assert plan.warnings == []


def test_a_named_shell_is_drift_even_if_it_gives_no_login(tmp_path):
    spec = ('[[groups]]\nname = "nofiles"\n[[users]]\nname = "alias"\ngroup = "nofiles"\n'
            'home = "/var/qmail/alias"\nshell = "/sbin/nologin"\ncomment = "qmail alias"\n')
    root = host_with(tmp_path, ["alias:x:7790:2108::/var/qmail:/bin/true"], ["nofiles:x:2108:"], ["alias:*:19000::::::"])
    plan = plan_for(root, spec)
    (change,) = plan.changes
    assert {k: (f.current, f.desired) for k, f in change.fields.items()} == {
        "home": ("/var/qmail", "/var/qmail/alias"),
        "shell": ("/bin/true", "/sbin/nologin"),
        "comment": ("", "qmail alias"),
    }
    assert change.drift and plan.refused
    assert not plan_for(root, spec, fix_drift=True).refused


@pytest.mark.root("a tree root owns (another user's is warned of)")
def test_a_usable_password_is_warned_about(tmp_path):
    spec = '[[groups]]\nname = "nofiles"\n[[users]]\nname = "alias"\ngroup = "nofiles"\nhome = "/var/qmail/alias"\n'
    root = host_with(tmp_path, ["alias:x:7790:2108::/var/qmail/alias:/bin/true"], ["nofiles:x:2108:"],
                     ["alias:$6$salt$hash:19000::::::"])
    plan = plan_for(root, spec)
    assert plan.warnings == ["user alias has a usable password; lock it (usermod -L alias)"]


def test_an_owner_that_exists_nowhere_is_a_conflict(tmp_path):
    spec = '[[paths]]\npath = "/var/qmail"\nowner = "qmailx"\ngroup = "root"\nmode = "0755"\n'
    plan = plan_for(host_with(tmp_path), spec)
    assert reasons(plan) == {("path", "/var/qmail"): "its owner qmailx is neither in the spec nor on the host"}


def test_a_file_where_a_directory_belongs_is_a_conflict(tmp_path):
    root = host_with(tmp_path)
    (root / "var").mkdir()
    (root / "var/qmail").write_text("")
    plan = plan_for(root)
    assert reasons(plan)[("path", "/var/qmail")] == "exists and is not a directory"
    assert reasons(plan)[("path", "/var/qmail/alias")].startswith("/var/qmail is a symlink or not a directory")


@pytest.mark.root("a tree root owns (another user's is warned of)")
def test_a_passwd_entry_without_its_shadow_entry_is_repaired_not_drift(tmp_path):
    """A half-made account is a repair: not in sync, not refused without
    --fix-drift, the account as the host has it (the spec's other shell
    is drift of its own, a change of its own)."""
    spec = '[[groups]]\nname = "nofiles"\n[[users]]\nname = "alias"\ngroup = "nofiles"\nhome = "/var/qmail/alias"\n'
    root = host_with(tmp_path, ["alias:x:999:2108:made:/var/qmail/alias:/usr/sbin/nologin"], ["nofiles:x:2108:"])
    plan = plan_for(root, spec)
    [repair] = plan.changes
    assert (repair.kind, repair.name, repair.action, repair.drift) == ("user", "alias", "repair", False)
    assert {key: (f.current, f.desired) for key, f in repair.fields.items()} == {"shadow": ("missing", "present")}
    assert repair.settings() == {"name": "alias", "uid": 999, "gid": 2108, "comment": "made",
                                 "home": "/var/qmail/alias", "shell": "/usr/sbin/nologin"}
    assert not plan.in_sync and not plan.refused and plan.warnings == []
    assert plan.unchanged == [("group", "nofiles")]
    spec += 'shell = "/bin/false"\n'
    assert [(c.action, list(c.fields)) for c in plan_for(root, spec).changes] == [("repair", ["shadow"]),
                                                                               ("modify", ["shell"])]


def test_a_group_entry_without_its_gshadow_entry_is_repaired(tmp_path):
    spec = '[[groups]]\nname = "nofiles"\ngid = 2108\n'
    root = host_with(tmp_path, group=["nofiles:x:2108:"])
    (root / "etc/gshadow").write_text((root / "etc/gshadow").read_text().replace("nofiles:!::\n", ""))
    [repair] = plan_for(root, spec).changes
    assert (repair.kind, repair.name, repair.action, repair.desired) == ("group", "nofiles", "repair",
                                                                         DesiredGroup("nofiles", 2108))
    assert list(repair.fields) == ["gshadow"]


@pytest.mark.parametrize(("missing", "repaired"), [("shadow", ("group", "nofiles")), ("gshadow", ("user", "alias"))])
def test_a_companion_file_the_host_does_not_keep_is_not_missed(tmp_path, missing, repaired):
    """Without a shadow (gshadow) file no line of it can be missing; the
    other file's missing line still is."""
    spec = '[[groups]]\nname = "nofiles"\n[[users]]\nname = "alias"\ngroup = "nofiles"\nhome = "/var/qmail/alias"\n'
    root = host_with(tmp_path, ["alias:x:999:2108::/var/qmail/alias:/usr/sbin/nologin"], ["nofiles:x:2108:"])
    (root / "etc/gshadow").write_text((root / "etc/gshadow").read_text().replace("nofiles:!::\n", ""))
    (root / "etc" / missing).unlink()
    assert [(c.kind, c.name, c.action) for c in plan_for(root, spec).changes] == [(*repaired, "repair")]


def test_a_follow_on_conflict_points_at_the_first_never_contradicts_it(tmp_path):
    """The owner and group of a path, and a user's group, that the spec
    names but that cannot be made: "see its conflict", the same words for
    all; only what is nowhere is "neither in the spec nor on the host"."""
    spec = """\
[[groups]]
name = "qmail"
gid = 2107
[[users]]
name = "alias"
group = "qmail"
home = "/var/qmail/alias"
uid = 7790
[[paths]]
path = "/var/qmail/alias"
owner = "alias"
group = "nofiles"
mode = "02755"
[[paths]]
path = "/var/qmail"
owner = "qmaild"
group = "qmail"
mode = "0755"
"""
    root = host_with(tmp_path, passwd=["squatter:x:7790:7790::/:/bin/sh"], group=["squatters:x:2107:"])
    assert reasons(plan_for(root, spec)) == {
        ("group", "qmail"): "gid 2107 is already held by group squatters",
        ("user", "alias"): "uid 7790 is already held by user squatter",
        ("path", "/var/qmail/alias"): "its owner alias cannot be made (see its conflict)",
        ("path", "/var/qmail"): "its owner qmaild is neither in the spec nor on the host",
    }


SUPPLEMENTARY = """\
[[groups]]
name = "nofiles"
[[groups]]
name = "qcerts"
[[groups]]
name = "qmail"
[[users]]
name = "alias"
group = "nofiles"
home = "/var/qmail/alias"
groups = ["qcerts"]
[[users]]
name = "qmaild"
group = "nofiles"
home = "/var/qmail"
groups = ["qcerts", "qmail"]
"""


@pytest.mark.root("a tree root owns (another user's is warned of)")
def test_what_a_backend_sets_for_a_new_user_and_for_one_that_drifted(tmp_path):
    """settings(): all of a new account; of one that exists, its name, the
    fields that differ (its group with the GID) and the groups to join."""
    root = host_with(tmp_path, ["alias:x:7790:4444::/var/qmail:/bin/bash"],
                     ["nofiles:x:2108:", "qcerts:x:2109:", "qmail:x:2107:"], ["alias:!:19000::::::"])
    plan = plan_for(root, SUPPLEMENTARY, fix_drift=True)
    assert not plan.conflicts and plan.warnings == []
    modify, create = plan.changes
    assert (modify.name, modify.action, modify.drift, modify.allocated) == ("alias", "modify", True, frozenset())
    assert {key: (f.current, f.desired) for key, f in modify.fields.items()} == {
        "group": ("4444", "nofiles"),
        "home": ("/var/qmail", "/var/qmail/alias"),
        "shell": ("/bin/bash", "/usr/sbin/nologin"),
        "groups": ("qcerts (missing)", "qcerts"),
    }
    assert modify.desired == DesiredUser("alias", 7790, 2108, "/var/qmail/alias", "/usr/sbin/nologin", group="nofiles",
                                         groups=("qcerts",))
    assert modify.settings() == {"name": "alias", "group": "nofiles", "gid": 2108, "home": "/var/qmail/alias",
                                 "shell": "/usr/sbin/nologin", "groups": ("qcerts",)}
    assert (create.name, create.action, create.drift, create.allocated) == ("qmaild", "create", False, frozenset({"uid"}))
    assert {key: (f.current, f.desired) for key, f in create.fields.items()} == {
        "uid": (None, 999), "group": (None, "nofiles"), "home": (None, "/var/qmail"), "shell": (None, "/usr/sbin/nologin"),
        "groups": (None, "qcerts, qmail"),
    }
    assert create.settings() == create.desired.values() == {
        "name": "qmaild", "uid": 999, "group": "nofiles", "gid": 2108, "home": "/var/qmail",
        "shell": "/usr/sbin/nologin", "groups": ("qcerts", "qmail"),
    }


def test_a_user_only_missing_a_group_is_given_just_that(tmp_path):
    root = host_with(tmp_path, ["alias:x:7790:2108::/var/qmail/alias:/usr/sbin/nologin"],
                     ["nofiles:x:2108:", "qcerts:x:2109:", "qmail:x:2107:alias"], ["alias:!:19000::::::"])
    spec = SUPPLEMENTARY[:SUPPLEMENTARY.index('[[users]]\nname = "qmaild"')].replace('["qcerts"]', '["qmail", "qcerts"]')
    (change,) = plan_for(root, spec, fix_drift=True).changes
    assert {key: (f.current, f.desired) for key, f in change.fields.items()} == {
        "groups": ("qmail, qcerts (missing)", "qmail, qcerts")}
    assert change.settings() == {"name": "alias", "groups": ("qcerts",)}
    assert change.joining == ("qcerts",)


def test_a_drifted_shell_netbsd_would_refuse_is_a_conflict_naming_it(tmp_path):
    root = installed_tree(tmp_path / "root", "openbsd")  # NetBSD's master.passwd has OpenBSD's format
    (root / "etc/shells").write_text("/bin/sh\n")
    append(root, "group", ["qmail:*:2107:"])
    append(root, "master.passwd", ["qmaild:*:7791:2107::0:0::/var/qmail:/bin/sh"])
    append(root, "passwd", ["qmaild:*:7791:2107::/var/qmail:/bin/sh"])
    spec = parse_spec('[[groups]]\nname = "qmail"\n[[users]]\nname = "qmaild"\ngroup = "qmail"\n'
                      'home = "/var/qmail"\nshell = "/bin/false"\n', "t.toml")
    plan = make_plan(spec, observe(spec, root, load_profile("netbsd")), fix_drift=True)
    assert reasons(plan) == {("user", "qmaild"): (
        f"shell /bin/false: netbsd's useradd and usermod accept only /sbin/nologin, a shell listed in "
        f"{root}/etc/shells or an executable file; name one of those in the spec (shell = ...)")}
    assert plan.changes == []


def test_ids_the_spec_fixes_or_nss_names_in_the_range_are_not_allocated(tmp_path):
    """The spec's own fixed IDs and those NSS named count as in use: the
    allocated ones go below them, never onto them."""
    spec = """\
[[groups]]
name = "qmail"
[[groups]]
name = "nofiles"
gid = 999
[[users]]
name = "qmaild"
group = "nofiles"
home = "/var/qmail"
[[users]]
name = "alias"
group = "nofiles"
home = "/var/qmail/alias"
uid = 999
"""
    plan = plan_for(host_with(tmp_path), spec, nss={"nss_gids": {998: "ldapgroup"}, "nss_uids": {996: "ldapuser"}})
    assert not plan.conflicts
    assert {c.name: c.desired.own_id for c in plan.changes} == {
        "qmail": 997, "nofiles": 999, "qmaild": 995, "alias": 999,
    }


def test_an_id_the_spec_fixes_at_the_top_of_the_range_is_not_allocated_again(tmp_path):
    spec = '[[groups]]\nname = "qmail"\n[[groups]]\nname = "nofiles"\ngid = 999\n'
    plan = plan_for(host_with(tmp_path), spec)
    assert {c.name: c.desired.gid for c in plan.changes} == {"qmail": 998, "nofiles": 999}


def test_settings_carry_the_groups_to_join_never_the_whole_list():
    """What a backend sets: a new user joins its groups; a user that exists
    is given only the groups it is not yet in, never its whole list (usermod
    -G alone would replace it), nothing of them when it joins none."""
    from qmailsetup.plan import Action, Change, FieldChange, Kind

    desired = DesiredUser("qmaild", 999, 2108, "/var/qmail", "/bin/true", group="nofiles")
    values = {"name": "qmaild", "uid": 999, "group": "nofiles", "gid": 2108, "home": "/var/qmail", "shell": "/bin/true"}
    new = Change(Kind.USER, "qmaild", Action.CREATE, {}, desired, joining=("qcerts",))
    assert new.settings() == {**values, "groups": ("qcerts",)}
    assert Change(Kind.USER, "qmaild", Action.CREATE, {}, desired).settings() == values
    groups = FieldChange("qmail, qcerts (missing)", "qmail, qcerts")
    existing = replace(desired, groups=("qmail", "qcerts"))
    joining = Change(Kind.USER, "qmaild", Action.MODIFY, {"groups": groups}, existing, joining=("qcerts",))
    assert joining.settings() == {"name": "qmaild", "groups": ("qcerts",)}
    none_to_join = Change(Kind.USER, "qmaild", Action.MODIFY, {"groups": groups}, existing)
    assert none_to_join.settings() == {"name": "qmaild"}


def test_a_path_whose_group_is_not_to_be_had_is_a_conflict_saying_why(tmp_path):
    spec = """\
[[groups]]
name = "nofiles"
gid = 2108
[[paths]]
path = "/var/qmail"
owner = "root"
group = "nofiles"
mode = "0755"
[[paths]]
path = "/var/qmail/alias"
owner = "root"
group = "certs"
mode = "02755"
"""
    plan = plan_for(host_with(tmp_path, group=["staff2:x:2108:"]), spec)
    assert [(c.kind, c.name, c.reason) for c in plan.conflicts] == [
        ("group", "nofiles", "gid 2108 is already held by group staff2"),
        ("path", "/var/qmail", "its group nofiles cannot be made (see its conflict)"),
        ("path", "/var/qmail/alias", "its group certs is neither in the spec nor on the host"),
    ]
    assert plan.changes == []


def test_each_directory_others_may_write_to_is_warned_of_once_past_those_already_warned_of(tmp_path, privileged):
    """The root, writable by others, is warned of for the account files;
    /var below it, for /var/qmail; /var/qmail/alias, below both, adds none."""
    root = host_with(tmp_path)
    root.chmod(0o757)
    (root / "var").mkdir()
    os.chown(root / "var", 0, 50)
    (root / "var").chmod(0o775)
    advice = "make it root-owned and not group- or world-writable"
    assert plan_for(root).warnings == [
        f"{root} (owner 0, group 0, mode 0757) is writable by others than root: whoever can write there can "
        f"replace the account files; {advice}",
        f"{root}/var (owner 0, group 50, mode 0775) is writable by others than root: whoever can write there can "
        f"replace /var/qmail; {advice}",
    ]


def test_nss_is_asked_about_uids_for_users_and_gids_for_groups(tmp_path):
    """NSS holds GID 999 and UID 998, not the other way round: the groups
    start below 999, the users skip 998."""
    spec = load_spec(None).model_copy(update={"paths": []})
    host = observe(spec, host_with(tmp_path), LINUX)
    host.nss_holds_gid = lambda number: number == 999
    host.nss_holds_uid = lambda number: number == 998
    ids = {c.name: c.desired.own_id for c in make_plan(spec, host).changes}
    assert ids == {"qmail": 998, "nofiles": 997, "alias": 999, "qmaild": 997, "qmaill": 996, "qmailp": 995,
                   "qmailq": 994, "qmailr": 993, "qmails": 992}


def test_a_login_class_is_set_where_the_host_keeps_one(tmp_path):
    """FreeBSD's master.passwd has a class field: a new user gets the
    spec's, one that exists with another is drift, shown current -> desired."""
    root = installed_tree(tmp_path / "root", "freebsd")
    append(root, "group", ["qmail:*:2107:"])
    append(root, "master.passwd", ["qmaild:*:7791:2107::0:0::/var/qmail:/usr/sbin/nologin"])
    append(root, "passwd", ["qmaild:*:7791:2107::/var/qmail:/usr/sbin/nologin"])
    users = "".join(f'[[users]]\nname = "{name}"\ngroup = "qmail"\nhome = "/var/qmail"\nclass = "daemon"\n'
                    for name in ("qmaild", "qmailq"))
    spec = parse_spec('[[groups]]\nname = "qmail"\n' + users, "t.toml")
    modify, create = make_plan(spec, observe(spec, root, load_profile("freebsd")), fix_drift=True).changes
    assert {key: (f.current, f.desired) for key, f in modify.fields.items()} == {"class": ("", "daemon")}
    assert modify.settings() == {"name": "qmaild", "class": "daemon"}
    assert create.desired.login_class == create.fields["class"].desired == "daemon"


def test_a_user_that_exists_with_the_uid_the_spec_fixes_is_in_sync_not_its_own_holder(tmp_path):
    spec = ('[[groups]]\nname = "nofiles"\ngid = 2108\n[[users]]\nname = "alias"\ngroup = "nofiles"\n'
            'home = "/var/qmail/alias"\nuid = 7790\n')
    root = host_with(tmp_path, ["alias:x:7790:2108::/var/qmail/alias:/usr/sbin/nologin"], ["nofiles:x:2108:"],
                     ["alias:*:19000::::::"])
    plan = plan_for(root, spec)
    assert plan.in_sync and plan.conflicts == [] and plan.unchanged == [("group", "nofiles"), ("user", "alias")]


def test_drift_is_refused_unless_fixing_it_is_asked_for(tmp_path):
    spec = '[[groups]]\nname = "nofiles"\n[[users]]\nname = "alias"\ngroup = "nofiles"\nhome = "/var/qmail/alias"\n'
    root = host_with(tmp_path, ["alias:x:7790:2108::/var/qmail:/usr/sbin/nologin"], ["nofiles:x:2108:"],
                     ["alias:*:19000::::::"])
    spec = parse_spec(spec, "t.toml")
    plan = make_plan(spec, observe(spec, root, LINUX))
    assert plan.refused and [c.name for c in plan.blocked_drift] == ["alias"]


def test_a_stale_bsd_passwd_alone_is_one_change_rebuilding_it(tmp_path):
    """master.passwd in sync, passwd not what pwd_mkdb -p makes of it."""
    from qmailsetup.plan import Action, Change, FieldChange, Kind

    root = installed_tree(tmp_path / "root", "freebsd")
    append(root, "group", ["qmail:*:2107:"])
    append(root, "master.passwd", ["qmaild:*:7791:2107::0:0::/var/qmail:/usr/sbin/nologin"])
    spec = parse_spec('[[groups]]\nname = "qmail"\n[[users]]\nname = "qmaild"\ngroup = "qmail"\nhome = "/var/qmail"\n',
                      "t.toml")
    plan = make_plan(spec, observe(spec, root, load_profile("freebsd")))
    assert plan.changes == [Change(
        Kind.FILE, "/etc/passwd", Action.MODIFY,
        {"content": FieldChange("differs from master.passwd", "as pwd_mkdb -p makes it")}, DesiredFile("/etc/passwd"),
    )]
