"""The same IDs everywhere: `export --format toml` pins the IDs a host has,
and `apply --ids-from DIR` takes them from an existing qmail home (a tree
laid out as qmail's installer lays it, with numbers the test chooses, and
on the live root a stand-in qmail-showctl that prints them)."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

import pytest

from conftest import cli
from namespace import PRELUDE, copy_etc, in_namespace
from qmail_tree import INSTALL_IDS_GIDS, INSTALL_IDS_UIDS, lay_out, showctl_output, stand_in_showctl
from qmailsetup.spec import load_spec, parse_spec
from snapshot import snapshot, without_pwd_lock
from trees import append, debian_tree, write

QMAIL_USERS = ("alias", "qmaild", "qmaill", "qmailp", "qmailq", "qmailr", "qmails")


def ids(root: Path) -> dict[str, int]:
    """The qmail accounts' IDs in ROOT's files: users by name, groups as 'group NAME'."""
    found = {}
    for kind, prefix in (("passwd", ""), ("group", "group ")):
        for line in (root / "etc" / kind).read_text().splitlines():
            name, _, number, *_ = line.split(":")
            if name in QMAIL_USERS or name in ("qmail", "nofiles"):
                found[prefix + name] = int(number)
    return found


def other_system_accounts(root: Path) -> Path:
    """A Debian root with a system account that a fresh one lacks, at 990:
    plain allocation (useradd -r's, just below the lowest system ID in
    use) gives the qmail accounts 989 and down there, 999 and down on a
    fresh root."""
    debian_tree(root)
    append(root, "group", ["sysa:x:990:"])
    append(root, "gshadow", ["sysa:!::"])
    append(root, "passwd", ["sysa:x:990:990::/nonexistent:/usr/sbin/nologin"])
    append(root, "shadow", ["sysa:!:19000::::::"])
    return root


def apply(root: Path, *args) -> object:
    return cli("apply", "--root", root, "--platform", "linux", *args)


def planned_ids(root: Path, *args) -> dict[str, int]:
    result = apply(root, "--dry-run", "--json", *args)
    assert result.code == 0, result.err
    changes = json.loads(result.out)["changes"]
    return {("group " if c["kind"] == "group" else "") + c["name"]: c["fields"][{"group": "gid", "user": "uid"}[c["kind"]]]["desired"]
            for c in changes if c["kind"] in ("group", "user")}


# --- export --format toml -------------------------------------------------------


@pytest.mark.root("apply chowns /var/qmail and /var/qmail/alias")
def test_two_roots_whose_accounts_differ_end_with_the_same_ids_after_export_and_apply(tmp_path):
    first, second = debian_tree(tmp_path / "first"), other_system_accounts(tmp_path / "second")
    assert apply(first).code == 0
    wanted = ids(first)
    assert planned_ids(second) != wanted, "plain allocation would give the second root other numbers"

    exported = cli("export", "--format", "toml", "--root", first, "--platform", "linux")
    assert exported.code == 0, exported.err
    pinned = write_spec(tmp_path / "pinned.toml", exported.out)
    result = apply(second, "--spec", pinned)
    assert result.code == 0, result.err
    assert ids(second) == wanted
    again = cli("export", "--format", "toml", "--root", second, "--platform", "linux", "--spec", pinned)
    assert (again.code, again.out) == (0, exported.out.replace("the built-in default spec", str(pinned)))
    assert apply(second, "--spec", pinned, "--detailed-exitcode").code == 0  # in sync
    env = cli("env", "--root", second, "--platform", "linux", "--spec", pinned)
    assert env.code == 0 and f"QMAIL_UID_QMAILQ='{wanted['qmailq']}'" in env.out


def write_spec(path: Path, text: str) -> Path:
    write(path, text)
    return path


@pytest.mark.root("apply chowns /var/qmail and /var/qmail/alias")
def test_a_pinned_number_another_account_holds_is_refused_and_nothing_written(tmp_path):
    first = debian_tree(tmp_path / "first")
    assert apply(first).code == 0
    pinned = write_spec(tmp_path / "pinned.toml", cli("export", "--format", "toml", "--root", first).out)
    other = debian_tree(tmp_path / "other")
    append(other, "passwd", [f"mailer:x:{ids(first)['qmailq']}:100::/nonexistent:/usr/sbin/nologin"])
    before = snapshot(other)
    result = apply(other, "--spec", pinned)
    assert result.code == 3
    assert f"user qmailq: uid {ids(first)['qmailq']} is already held by user mailer" in result.err
    assert without_pwd_lock(snapshot(other)) == without_pwd_lock(before)  # the locks come before the reading


@pytest.mark.root("apply chowns /var/qmail and /var/qmail/alias")
def test_the_exported_spec_is_the_spec_as_given_with_every_id_as_the_host_has_it(tmp_path):
    """Every field survives (quotes, a backslash, non-ASCII, class, role,
    supplementary groups, [qmail]), and it parses back as that spec."""
    text = (tmp_path / "given.toml")
    write(text, """
[[groups]]
name = "qmail"
[[groups]]
name = "nofiles"
gid = 2108
[[groups]]
name = "qcerts"
[[users]]
name = "_alias"
role = "alias"
group = "nofiles"
home = "/srv/q/alias"
comment = 'say "hi" \\ Grüße'
[[users]]
name = "qmaild"
group = "nofiles"
home = "/srv/q"
class = "daemon"
shell = "/bin/true"
[[users]]
name = "qmaill"
group = "nofiles"
home = "/srv/q"
[[users]]
name = "qmailp"
group = "nofiles"
home = "/srv/q"
[[users]]
name = "qmailq"
group = "qmail"
home = "/srv/q"
uid = 7794
[[users]]
name = "qmailr"
group = "qmail"
home = "/srv/q"
groups = ["qcerts"]
[[users]]
name = "qmails"
group = "qmail"
home = "/srv/q"
[[paths]]
path = "/srv/q"
owner = "root"
group = "qmail"
mode = "0755"
[qmail]
home = "/srv/q"
installation = "netqmail"
split = 7
""")
    root = debian_tree(tmp_path / "root")
    assert apply(root, "--spec", text).code == 0
    result = cli("export", "--format", "toml", "--root", root, "--spec", text, "--platform", "linux")
    assert result.code == 0, result.err
    given = load_spec(text)
    exported = parse_spec(result.out, "exported")
    host = ids(root)
    host |= {"_alias": int(next(line for line in (root / "etc/passwd").read_text().splitlines() if line.startswith("_alias:")).split(":")[2]),
             "group qcerts": int(next(line for line in (root / "etc/group").read_text().splitlines() if line.startswith("qcerts:")).split(":")[2])}
    assert exported == given.model_copy(update={
        "groups": [g.model_copy(update={"gid": host[f"group {g.name}"]}) for g in given.groups],
        "users": [u.model_copy(update={"uid": host[u.name]}) for u in given.users],
    })
    assert tomllib.loads(result.out)["users"][0] == {
        "name": "_alias", "uid": host["_alias"], "group": "nofiles", "home": "/srv/q/alias",
        "comment": 'say "hi" \\ Grüße', "role": "alias"}


@pytest.mark.parametrize(("args", "code", "message"), [
    ([], 3, "not on the host yet: group qmail, group nofiles, user alias"),
    pytest.param(["--spec", "SPEC"], 3, "the host does not have the spec's IDs: group qmail has gid 999, the spec says 2107",
                 marks=pytest.mark.root("apply chowns /var/qmail and /var/qmail/alias")),
])
def test_export_toml_refuses_what_it_cannot_pin(tmp_path, args, code, message):
    root = debian_tree(tmp_path / "root")
    if args:
        assert apply(root).code == 0
        spec = write_spec(tmp_path / "spec.toml", '[[groups]]\nname = "qmail"\ngid = 2107\n')
        args = ["--spec", spec]
    result = cli("export", "--format", "toml", "--root", root, "--platform", "linux", *args)
    assert (result.code, result.out) == (code, "")
    assert message in result.err and result.err.count("\n") == 1


def test_root_is_refused_by_the_exports_that_read_no_host(tmp_path):
    result = cli("export", "--format", "sysusers", "--root", tmp_path)
    assert result.code == 2
    assert result.err == "qmailsetup: --root: --format sysusers is the spec alone and reads no host; only --format toml reads one\n"


# --- apply --ids-from, under --root -------------------------------------------------


def installed_root(tmp_path: Path, uids=INSTALL_IDS_UIDS, gids=INSTALL_IDS_GIDS) -> Path:
    """A fresh Debian root whose /var/qmail is a netqmail tree owned by UIDS and GIDS."""
    root = debian_tree(tmp_path / "root")
    lay_out(root, netqmail_spec(tmp_path), uids, gids)
    return root


def netqmail_spec(tmp_path: Path):
    path = tmp_path / "netqmail.toml"
    if not path.exists():
        write(path, Path(__file__).parents[1].joinpath("src/qmailsetup/default.toml").read_text()
              + '\n[qmail]\ninstallation = "netqmail"\n')
    return load_spec(path)


@pytest.mark.root("chowns a qmail tree to chosen numbers")
def test_a_tree_laid_out_by_the_installer_gives_its_numbers(tmp_path):
    root = installed_root(tmp_path)
    spec = tmp_path / "netqmail.toml"
    dry = apply(root, "--spec", spec, "--ids-from", "/var/qmail", "--dry-run")
    assert dry.code == 0, dry.err
    qmail = f"{root}/var/qmail"
    assert f"    uid: 7794 (from the owner of bin/qmail-queue, queue, queue/pid and 5 more in {qmail})\n" in dry.out
    assert f"    uid: 7795 (from the owner of queue/lock/tcpto in {qmail})\n" in dry.out
    assert f"    uid: 7790 (from the owner of alias in {qmail})\n" in dry.out
    assert f"    gid: 2107 (from the group of alias, bin/qmail-queue, queue and 16 more in {qmail})\n" in dry.out
    assert f"    uid: 999 (allocated from the system range; no evidence in {qmail})\n" in dry.out  # qmaild
    assert f"note: the IDs compiled into qmail are not known: {qmail}/bin/qmail-showctl is not run under --root\n" in dry.out

    result = apply(root, "--spec", spec, "--ids-from", "/var/qmail", "--json")
    assert result.code == 0, result.err
    qmailq = next(c for c in json.loads(result.out)["changes"] if c["name"] == "qmailq")
    assert qmailq["field_notes"] == {"uid": f"from the owner of bin/qmail-queue, queue, queue/pid and 5 more in {qmail}"}
    found = ids(root)
    assert {name: found[name] for name in ("alias", "qmailq", "qmailr", "qmails", "group qmail")} == {
        "alias": 7790, "qmailq": 7794, "qmailr": 7795, "qmails": 7796, "group qmail": 2107}
    assert found["qmaild"] < 1000 and found["group nofiles"] < 1000  # nothing showed them: allocated
    check = cli("check", "--root", root, "--spec", spec, "--json", "--platform", "linux")
    findings = {f["id"]: f for f in json.loads(check.out)["findings"]}
    assert findings["queue.owner"]["severity"] == "ok", findings["queue.owner"]
    assert not [f for f in findings.values() if f["severity"] == "error"]
    assert cli("env", "--root", root, "--spec", spec).code == 0
    again = apply(root, "--spec", spec, "--ids-from", "/var/qmail", "--detailed-exitcode")
    assert again.code == 0, again.out  # in sync, each account's evidence in a note
    assert "note: user qmailq: uid 7794, from the owner of bin/qmail-queue" in again.out


def chown_all(root: Path, relative: str, uid: int) -> None:
    for path in [root / relative, *(root / relative).rglob("*")]:
        os.lchown(path, uid, -1)


@pytest.mark.root("chowns a qmail tree to chosen numbers")
@pytest.mark.parametrize(("spoil", "message"), [
    (lambda root: os.chown(root / "var/qmail/queue/mess/3", 7800, 2107),
     "the queue user qmailq: uids 7794 (owner of bin/qmail-queue, queue, queue/pid and 5 more in QMAIL); "
     "7800 (owner of queue/mess/N in QMAIL)"),
    (lambda root: [chown_all(root, f"var/qmail/queue/{d}", 7794) for d in ("info", "local", "remote", "bounce", "lock/sendmutex", "lock/trigger")],
     "uid 7794 for both the queue user qmailq and the send user qmails"),
    (lambda root: os.chown(root / "var/qmail/queue/lock/tcpto", 0, 2107),
     "the remote user qmailr: uid 0: 0 is out of range"),
    (lambda root: os.chown(root / "var/qmail/alias", 7790, 2108),
     "the qmail group qmail: gids 2107 (group of bin/qmail-queue, queue, queue/pid and 15 more in QMAIL); "
     "2108 (group of alias in QMAIL)"),
])
def test_a_contradictory_tree_is_refused_and_nothing_written(tmp_path, spoil, message):
    root = installed_root(tmp_path)
    spoil(root)
    before = snapshot(root)
    result = apply(root, "--spec", tmp_path / "netqmail.toml", "--ids-from", "/var/qmail")
    assert result.code == 3, result.out + result.err
    assert result.out == ""
    assert result.err.startswith(f"qmailsetup: refused, nothing written: --ids-from {root}/var/qmail: the evidence disagrees: ")
    assert message.replace("QMAIL", f"{root}/var/qmail") in result.err and result.err.count("\n") == 1
    assert snapshot(root) == before


@pytest.mark.root("chowns a qmail tree to chosen numbers")
def test_an_id_the_spec_fixes_that_the_tree_contradicts_is_refused(tmp_path):
    root = installed_root(tmp_path)
    spec = write_spec(tmp_path / "fixed.toml", (tmp_path / "netqmail.toml").read_text().replace(
        'name = "qmailq"\n', 'name = "qmailq"\nuid = 7000\n'))
    before = snapshot(root)
    result = apply(root, "--spec", spec, "--ids-from", "/var/qmail")
    assert result.code == 3
    assert f"the queue user qmailq: the spec fixes uid 7000, {root}/var/qmail shows 7794 (from the owner of" in result.err
    assert snapshot(root) == before


@pytest.mark.root("chowns a qmail tree to chosen numbers")
def test_accounts_that_exist_with_other_numbers_are_refused(tmp_path):
    """The tree says 7794; the host's qmailq has another: never renumbered."""
    root = installed_root(tmp_path)
    assert apply(root, "--spec", tmp_path / "netqmail.toml").code == 0  # plain allocation: 99x
    before = snapshot(root)
    result = apply(root, "--spec", tmp_path / "netqmail.toml", "--ids-from", "/var/qmail")
    assert result.code == 3
    assert "qmailsetup: refused, nothing written: group qmail: gid is 999 on the host, the spec says 2107" in result.err
    assert snapshot(root) == before


@pytest.mark.parametrize(("value", "message"), [
    ("/var/empty", "--ids-from ROOT/var/empty: no qmail there: none of the paths its installer gives qmail's users, "
                   "and no IDs from qmail-showctl (ROOT/var/empty/bin/qmail-showctl is not run under --root)"),
    ("/var/none", "--ids-from ROOT/var/none: not a directory"),
    ("/var/file", "--ids-from ROOT/var/file: not a directory"),
    ("var/qmail", "--ids-from var/qmail: not an absolute path (under --root, a path inside the root)"),
    ("", "--ids-from: empty; name an existing qmail home (the directory that holds its bin and queue)"),
])
def test_ids_from_what_is_no_qmail_home_is_bad_input(tmp_path, value, message):
    root = debian_tree(tmp_path / "root")
    (root / "var/empty").mkdir(parents=True)
    (root / "var/file").write_text("")
    before = snapshot(root)
    result = apply(root, "--ids-from", value)
    assert (result.code, result.out) == (2, "")
    assert result.err == f"qmailsetup: {message.replace('ROOT', str(root))}\n"
    assert snapshot(root) == before


@pytest.mark.root("chowns a qmail tree to chosen numbers")
def test_ids_from_follows_a_link_inside_the_root(tmp_path):
    """Under --root, DIR is a path of the tree: an absolute link in it is
    taken from the root, never the host's."""
    root = installed_root(tmp_path)
    (root / "srv").mkdir()
    (root / "var/qmail").rename(root / "srv/qmail-restored")
    (root / "var/restored").symlink_to("/srv/qmail-restored")
    result = apply(root, "--spec", tmp_path / "netqmail.toml", "--ids-from", "/var/restored", "--dry-run")
    assert result.code == 0, result.err
    assert f"    uid: 7794 (from the owner of bin/qmail-queue, queue, queue/pid and 5 more in {root}/var/restored)\n" in result.out


# --- apply --ids-from on the live root: the IDs compiled in ----------------------------


SCRIPT = PRELUDE + """\
mkdir /var/qmail
mount --bind "$TREE" /var/qmail
set +e
$QMAILSETUP apply --spec "$SPEC" --ids-from /var/qmail; echo "apply=$?"
getent passwd alias qmaild qmaill qmailp qmailq qmailr qmails | cut -d: -f1,3 | sed 's/^/id /'
getent group qmail nofiles | cut -d: -f1,3 | sed 's/^/id group /'
$QMAILSETUP check --spec "$SPEC" --json > "$OUT/check.json"; echo "check=$?"
"""


def live(tmp_path: Path, tree: Path, spec: Path) -> tuple[dict, dict, str]:
    """apply --ids-from /var/qmail on the live root of a namespace (a copy of
    /etc, TREE bound at /var/qmail), then check: ({name: id}, check's
    findings by id, the output)."""
    out = tmp_path / "out"
    out.mkdir()
    run = in_namespace(SCRIPT, ETC_COPY=str(copy_etc(tmp_path)), TREE=str(tree), SPEC=str(spec), OUT=str(out))
    found = {}
    for line in run.stdout.splitlines():
        if line.startswith("id "):
            name, number = line[3:].split(":")
            found[name] = int(number)
    checked = json.loads((out / "check.json").read_text() or "{}") if (out / "check.json").exists() else {}
    return found, {f["id"]: f for f in checked.get("findings", [])}, run.stdout + run.stderr


def test_on_the_live_root_the_ids_compiled_in_fill_the_rest(tmp_path, privileged):
    """Every role from the tree or from qmail-showctl, nothing allocated;
    env and check clean after."""
    qmail = tmp_path / "tree"
    lay_out(qmail.parent / "tree-root", netqmail_spec(tmp_path))
    (qmail.parent / "tree-root/var/qmail").rename(qmail)
    stand_in_showctl(qmail, showctl_output())
    found, findings, output = live(tmp_path, qmail, tmp_path / "netqmail.toml")
    assert "apply=0" in output, output
    assert "    uid: 7791 (from qmail-showctl's user ids)\n" in output, output
    assert "    gid: 2108 (from qmail-showctl's group ids)\n" in output
    assert "    uid: 7794 (from the owner of bin/qmail-queue, queue, queue/pid and 5 more in /var/qmail; " \
           "qmail-showctl's user ids)\n" in output
    assert found == {**{u: INSTALL_IDS_UIDS[u] for u in QMAIL_USERS}, **{f"group {g}": n for g, n in INSTALL_IDS_GIDS.items()}}
    assert findings["qmail.compiled-ids"]["severity"] == "ok", findings["qmail.compiled-ids"]
    assert findings["queue.owner"]["severity"] == "ok", findings["queue.owner"]


def test_on_the_live_root_a_tree_the_binaries_contradict_is_refused(tmp_path, privileged):
    qmail = tmp_path / "tree"
    lay_out(qmail.parent / "tree-root", netqmail_spec(tmp_path))
    (qmail.parent / "tree-root/var/qmail").rename(qmail)
    stand_in_showctl(qmail, showctl_output({**INSTALL_IDS_UIDS, "qmailq": 7894}))
    found, _, output = live(tmp_path, qmail, tmp_path / "netqmail.toml")
    assert "apply=3" in output, output
    assert ("the queue user qmailq: uid 7794 (owner of bin/qmail-queue, queue, queue/pid and 5 more in /var/qmail), "
            "but qmail-showctl's user ids say 7894") in output
    assert found == {}, "nothing written"
