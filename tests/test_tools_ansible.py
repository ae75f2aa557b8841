"""The Ansible collection qmailsetup.qmail, as an administrator uses it:
built with ansible-galaxy, installed, documented by ansible-doc, and run
with the real ansible-playbook against a fleet of local hosts, each with its
own --root tree and its own virtual environment, which the role fills from
wheels built from this checkout (pip --no-index on the targets).

The fleet: four hosts (two with useradd --prefix, two with the files
backend) and one whose spec conflicts, all five at once (5 forks), through
--check --diff, a real run and a second run. Ansible is slow: each phase is
one playbook run over all five hosts, each host a virtual environment of
its own to fill."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from conftest import require_tools, skip_or_fail
from qmailsetup import __version__
from snapshot import snapshot, without_pwd_lock
from trees import append, debian_tree, write

CHECKOUT = Path(__file__).resolve().parents[1]
SOURCE = CHECKOUT / "collections/ansible_collections/qmailsetup/qmail"
BIN = Path(sys.executable).parent
FLEET = [f"mx{n}" for n in range(1, 5)]
CONFLICT = "mx-conflict"
APPLY_TASK = "qmailsetup.qmail.qmailsetup : qmail's groups, accounts and /var/qmail"
REFUSAL = "qmailsetup: refused, nothing written: group nofiles: gid 2108 is already held by group staff2"
QMAIL_USERS = ("alias", "qmaild", "qmaill", "qmailp", "qmailq", "qmailr", "qmails")


def ansible_env(home: Path, collections: Path) -> dict[str, str]:
    return {
        "PATH": f"{BIN}:{os.environ['PATH']}", "HOME": str(home), "LC_ALL": "C.UTF-8",
        "ANSIBLE_NOCOLOR": "1", "ANSIBLE_LOCAL_TEMP": str(home / "ansible-local"),
        "ANSIBLE_REMOTE_TEMP": str(home / "ansible-remote"), "ANSIBLE_CONFIG": str(home / "none.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": str(collections), "ANSIBLE_PIPELINING": "1",
    }


def ansible(tool: str, *args: str, env: dict, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / tool), *args], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, dict]:
    """The collection built from SOURCE and installed as ansible-galaxy
    installs it: (the collections directory, an environment that uses it)."""
    if not (BIN / "ansible-galaxy").exists():
        skip_or_fail("needs ansible-core (the test extra)")
    base = tmp_path_factory.mktemp("collection")
    env = ansible_env(base, base / "collections")
    built = ansible("ansible-galaxy", "collection", "build", str(SOURCE), "--output-path", str(base / "dist"), env=env)
    assert built.returncode == 0, built.stdout + built.stderr
    tarball = next((base / "dist").glob("qmailsetup-qmail-*.tar.gz"))
    install = ansible("ansible-galaxy", "collection", "install", str(tarball), "-p", str(base / "collections"), env=env)
    assert install.returncode == 0, install.stdout + install.stderr
    return base / "collections/ansible_collections/qmailsetup/qmail", env


@pytest.mark.slow
def test_the_collection_installs_its_modules_role_and_playbook(installed):
    collection, _ = installed
    manifest = json.loads((collection / "MANIFEST.json").read_text())["collection_info"]
    assert (manifest["namespace"], manifest["name"]) == ("qmailsetup", "qmail")
    assert manifest["version"] == __version__  # released together
    for part in ("plugins/modules/apply.py", "plugins/modules/check.py", "plugins/modules/ids.py",
                 "plugins/module_utils/qmailsetup.py",
                 "plugins/doc_fragments/common.py", "roles/qmailsetup/tasks/main.yml", "playbooks/fleet.yml"):
        assert (collection / part).read_bytes() == (SOURCE / part).read_bytes(), part
    readme = (CHECKOUT / "README.md").read_text()  # the commands it tells, on the folder this test builds
    assert f"    ansible-galaxy collection build {SOURCE.relative_to(CHECKOUT)} --output-path dist\n" in readme
    assert f"    ansible-galaxy collection install dist/qmailsetup-qmail-{manifest['version']}.tar.gz\n" in readme


@pytest.mark.slow
@pytest.mark.parametrize("name", ["qmailsetup.qmail.apply", "qmailsetup.qmail.check", "qmailsetup.qmail.ids"])
def test_ansible_doc_renders_options_examples_and_return_values(installed, name):
    _, env = installed
    shown = ansible("ansible-doc", name, env=env)
    assert shown.returncode == 0, shown.stderr
    for heading in ("OPTIONS", "EXAMPLES:", "RETURN VALUES:", "ATTRIBUTES:"):
        assert heading in shown.stdout, heading
    assert "root    Work on ROOT/etc and ROOT/var/qmail" in shown.stdout  # from the shared fragment
    assert "[WARNING]" not in shown.stderr.replace("is not part of the configured Ansible collections paths", "")


@pytest.mark.slow
def test_ansible_doc_renders_the_role(installed):
    _, env = installed
    shown = ansible("ansible-doc", "-t", "role", "qmailsetup.qmail.qmailsetup", env=env)
    assert shown.returncode == 0, shown.stderr
    assert "main* - Install qmailsetup from wheels into a virtual environment" in shown.stdout
    assert "qmailsetup_wheelhouse" in shown.stdout and "qmailsetup_pip_index" in shown.stdout


def source_module(name: str):
    """A module of the collection imported from the checkout, as Ansible
    imports it: ansible_collections.qmailsetup.qmail.plugins.modules.NAME."""
    sys.path.insert(0, str(CHECKOUT / "collections"))
    try:
        return importlib.import_module(f"ansible_collections.qmailsetup.qmail.plugins.modules.{name}")
    finally:
        sys.path.remove(str(CHECKOUT / "collections"))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["apply", "check", "ids"])
def test_documentation_matches_argument_spec(installed, name):
    """Every option ansible-doc shows (the shared fragment included) is one
    the module takes, with the same type, default and choices."""
    _, env = installed
    shown = ansible("ansible-doc", "--json", f"qmailsetup.qmail.{name}", env=env)
    assert shown.returncode == 0, shown.stderr
    documented = json.loads(shown.stdout)[f"qmailsetup.qmail.{name}"]["doc"]["options"]
    module = source_module(name)
    taken = module.ARGUMENT_SPEC
    assert sorted(documented) == sorted(taken)
    for task in yaml.safe_load(module.EXAMPLES):  # every example a task with options the module takes
        options = task.get(f"qmailsetup.qmail.{name}")
        assert options is None or set(options) <= set(taken), task
    for option, spec in taken.items():
        doc = documented[option]
        assert doc["type"] == spec["type"], option
        assert doc.get("default") == spec.get("default"), option
        assert doc.get("choices") == spec.get("choices"), option


def test_role_arguments_match_its_defaults():
    """argument_specs.yml (what ansible-doc shows and the role validates)
    and defaults/main.yml name the same variables with the same defaults."""
    specs = yaml.safe_load((SOURCE / "roles/qmailsetup/meta/argument_specs.yml").read_text())
    options = specs["argument_specs"]["main"]["options"]
    defaults = yaml.safe_load((SOURCE / "roles/qmailsetup/defaults/main.yml").read_text())
    assert {k: v["default"] for k, v in options.items() if "default" in v} == defaults


def test_diff_of_a_drifted_account_shows_current_and_desired_fields():
    """The module's diff for a modify: before = current values, after =
    desired; a file diff as qmailsetup printed it."""
    plan = {
        "changes": [{
            "kind": "user", "name": "qmaild", "action": "modify",
            "fields": {"shell": {"current": "/bin/sh", "desired": "/usr/sbin/nologin"},
                       "home": {"current": "/home/qmaild", "desired": "/var/qmail"}},
        }],
        "diffs": [{"path": "/etc/passwd", "diff": "--- /etc/passwd\n+++ /etc/passwd\n@@ -1 +1 @@\n-a\n+b\n"}],
    }
    assert source_module("apply").plan_diff(plan) == [
        {"before_header": "user qmaild", "after_header": "user qmaild (modify)",
         "before": "shell: /bin/sh\nhome: /home/qmaild\n", "after": "shell: /usr/sbin/nologin\nhome: /var/qmail\n"},
        {"prepared": "--- /etc/passwd\n+++ /etc/passwd\n@@ -1 +1 @@\n-a\n+b\n"},
    ]


@pytest.mark.parametrize(("plan", "dry_run", "changed"), [
    ({"changes": [{"kind": "user"}], "refused": False}, True, True),
    ({"changes": [{"kind": "user"}], "refused": True}, True, False),
    ({"changes": [], "refused": False}, True, False),
    ({"changes": [{"kind": "user"}], "refused": False, "applied": ["user alias"]}, False, True),
    ({"changes": [{"kind": "user"}], "refused": False, "applied": []}, False, False),  # failed before the first
    ({"changes": [], "refused": False}, False, False),
    (None, False, False),
])
def test_changed_only_when_something_was_or_would_be_changed(plan, dry_run, changed):
    assert source_module("apply").changed(plan, dry_run) is changed


# --- the fleet ---------------------------------------------------------------


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory) -> Path:
    """qmailsetup's wheel built from this checkout and its dependencies'
    wheels: what an administrator copies to hosts without a package index.
    (Making it is the one step that uses pip's index, as building the wheel
    in test_tools_packaging does.)"""
    house = tmp_path_factory.mktemp("wheelhouse")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--wheel-dir", str(house), str(CHECKOUT)],
                           capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    return house


def results(output: str, task: str) -> dict[str, str]:
    """{host: ok | changed | failed | skipped} for TASK in ansible-playbook's output."""
    section = output.split(f"TASK [{task}]", 1)[1].split("\nTASK [", 1)[0].split("\nPLAY RECAP", 1)[0]
    found = re.findall(r"^(ok|changed|fatal|skipping): \[([^\]]+)\]", section, re.MULTILINE)
    return {host: {"fatal": "failed", "skipping": "skipped"}.get(status, status) for status, host in found}


def recap(output: str) -> dict[str, dict[str, int]]:
    lines = re.findall(r"^(\S+)\s+:\s+(ok=.*)$", output.split("PLAY RECAP", 1)[1], re.MULTILINE)
    return {host: {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", counts)} for host, counts in lines}


def failure_message(output: str, host: str) -> str:
    line = next(line for line in output.splitlines() if line.startswith(f"fatal: [{host}]: FAILED! => "))
    return json.loads(line.split(" => ", 1)[1])["msg"]


def user_ids(root: Path) -> dict[str, str]:
    entries = (line.split(":") for line in (root / "etc/passwd").read_text().splitlines())
    return {fields[0]: fields[2] for fields in entries if fields[0] in QMAIL_USERS}


@pytest.mark.slow
@pytest.mark.root("useradd --prefix")
def test_a_fleet_check_diff_then_apply_then_unchanged(tmp_path, installed, wheelhouse):
    """Five hosts at once: the four are changed, changed, then unchanged;
    the fifth's spec conflicts, so it fails every time with qmailsetup's one
    line and nothing written, and the four do not notice."""
    require_tools("useradd", "groupadd")
    _, env = installed
    roots = {host: debian_tree(tmp_path / host / "root") for host in [*FLEET, CONFLICT]}
    append(roots[CONFLICT], "group", ["staff2:x:2108:"])
    write(tmp_path / "conflict.toml", '[[groups]]\nname = "nofiles"\ngid = 2108\n')  # held by staff2 there
    lines = ["[qmail_hosts]"]
    for n, host in enumerate(FLEET):
        backend = "useradd" if n < len(FLEET) // 2 else "files"
        lines.append(f"{host} qmailsetup_root={roots[host]} qmailsetup_venv={tmp_path / host / 'venv'} qmailsetup_backend={backend}")
    lines.append(f"{CONFLICT} qmailsetup_root={roots[CONFLICT]} qmailsetup_venv={tmp_path / CONFLICT / 'venv'} "
                 f"qmailsetup_spec_file={tmp_path / 'conflict.toml'}")
    lines += ["", "[qmail_hosts:vars]", "ansible_connection=local", f"ansible_python_interpreter={sys.executable}",
              f"qmailsetup_wheelhouse={wheelhouse}", "qmailsetup_platform=linux"]
    write(tmp_path / "inventory.ini", "\n".join(lines) + "\n")

    def play(*extra: str) -> str:
        run = ansible("ansible-playbook", "-i", str(tmp_path / "inventory.ini"), "--forks", str(len(FLEET) + 1),
                      "qmailsetup.qmail.fleet", *extra, env=env)
        output = run.stdout + run.stderr
        assert run.returncode == 2, output  # 2: some host failed (the conflict)
        assert failure_message(output, CONFLICT) == REFUSAL, output
        counts = recap(output)
        assert sorted(counts) == sorted([*FLEET, CONFLICT]), output
        assert [host for host, c in counts.items() if c["failed"]] == [CONFLICT], output
        return output

    before = {host: snapshot(root) for host, root in roots.items()}
    output = play("--check", "--diff")
    assert results(output, APPLY_TASK) == {**{host: "changed" for host in FLEET}, CONFLICT: "failed"}, output
    assert {host: snapshot(root) for host, root in roots.items()} == before, "check mode wrote under a root"
    assert "+++ after: user alias (create)" in output and "+home: /var/qmail/alias\n+shell: /usr/sbin/nologin" in output
    assert "+++ after: path /var/qmail/alias (create)" in output and "+mode: 02755" in output
    assert f"+++ {roots[FLEET[-1]]}/etc/passwd\n" in output  # the files backend's diff, as qmailsetup prints it
    assert "\n+alias:x:999:998::/var/qmail/alias:/usr/sbin/nologin\n" in output
    for host in [*FLEET, CONFLICT]:  # installed even in check mode: the dry run needs it
        assert (tmp_path / host / "venv/bin/qmailsetup").exists()

    output = play()
    assert results(output, APPLY_TASK) == {**{host: "changed" for host in FLEET}, CONFLICT: "failed"}, output
    assert results(output, "qmailsetup.qmail.qmailsetup : What qmailsetup check finds") == {host: "ok" for host in FLEET}
    ids = {host: user_ids(roots[host]) for host in FLEET}
    assert ids["mx1"] == {"alias": "999", "qmaild": "998", "qmaill": "997", "qmailp": "996",
                          "qmailq": "995", "qmailr": "994", "qmails": "993"}
    assert all(found == ids["mx1"] for found in ids.values()), ids  # useradd and the files backend agree
    # refused: nothing written but lckpwdf's empty lock file (the locks come before the reading)
    assert without_pwd_lock(snapshot(roots[CONFLICT])) == without_pwd_lock(before[CONFLICT])
    after = {host: snapshot(root) for host, root in roots.items()}

    output = play()
    assert results(output, APPLY_TASK) == {**{host: "ok" for host in FLEET}, CONFLICT: "failed"}, output
    assert all(recap(output)[host]["changed"] == 0 for host in FLEET), output  # nor the installation
    assert {host: snapshot(root) for host, root in roots.items()} == after


IDS_TASK = "qmailsetup.qmail.qmailsetup : The same qmail IDs on every host"


@pytest.mark.slow
@pytest.mark.root("the account files of the hosts' trees are root's")
def test_hosts_whose_ids_differ_are_reported_and_a_fleet_pinned_to_one_exported_spec_is_not(tmp_path, installed):
    """Two hosts where plain allocation gives other numbers (one has a
    system account at 999): the role fails the play, listing each host's
    roles and numbers. Then the IDs of one, exported (export --format
    toml), applied to it and two fresh hosts: the same IDs everywhere.
    The role finds this checkout's qmailsetup installed (the test's own
    environment as qmailsetup_venv, a wheelhouse naming its version) and
    installs nothing: the fleet test above covers the installation."""
    _, env = installed
    hosts = ("mx-a", "mx-b", "mx-c", "mx-d")
    roots = {host: debian_tree(tmp_path / host / "root") for host in hosts}
    append(roots["mx-b"], "passwd", ["sysa:x:999:999::/nonexistent:/usr/sbin/nologin"])
    append(roots["mx-b"], "group", ["sysa:x:999:"])
    wheelhouse = tmp_path / "wheelhouse"
    write(wheelhouse / f"qmailsetup-{__version__}-py3-none-any.whl", "")

    def play(names: tuple[str, ...], *variables: str) -> subprocess.CompletedProcess:
        lines = ["[qmail_hosts]", *(f"{host} qmailsetup_root={roots[host]}" for host in names), "",
                 "[qmail_hosts:vars]", "ansible_connection=local", f"ansible_python_interpreter={sys.executable}",
                 f"qmailsetup_wheelhouse={wheelhouse}", f"qmailsetup_venv={BIN.parent}", "qmailsetup_platform=linux",
                 "qmailsetup_backend=files", *variables]
        write(tmp_path / "inventory.ini", "\n".join(lines) + "\n")
        return ansible("ansible-playbook", "-i", str(tmp_path / "inventory.ini"), "qmailsetup.qmail.fleet", env=env)

    run = play(("mx-a", "mx-b"))
    output = run.stdout + run.stderr
    assert run.returncode == 2, output
    assert results(output, APPLY_TASK) == {"mx-a": "changed", "mx-b": "changed"}, output
    a, b = user_ids(roots["mx-a"]), user_ids(roots["mx-b"])
    assert a != b
    groups = {host: {fields[0]: fields[2] for fields in (line.split(":") for line in (roots[host] / "etc/group").read_text().splitlines())}
              for host in ("mx-a", "mx-b")}
    listed = "; ".join(
        f"{host}: " + ", ".join(f"{user} {ids[user]}" for user in QMAIL_USERS)
        + f", group qmail {groups[host]['qmail']}, group nofiles {groups[host]['nofiles']}"
        for host, ids in (("mx-a", a), ("mx-b", b)))
    # run once, for the play: the first host fails with every host's IDs
    assert failure_message(output, "mx-a") == (
        "qmail's IDs differ between hosts (pin them: qmailsetup export --format toml on one host, that spec as "
        f"qmailsetup_spec_file for all): {listed}")
    assert results(output, IDS_TASK) == {"mx-a": "failed"}, output

    exported = subprocess.run([str(BIN / "qmailsetup"), "export", "--format", "toml", "--root", str(roots["mx-b"]),
                               "--platform", "linux"], capture_output=True, text=True)
    assert exported.returncode == 0, exported.stderr
    write(tmp_path / "pinned.toml", exported.stdout)
    run = play(("mx-b", "mx-c", "mx-d"), f"qmailsetup_spec_file={tmp_path / 'pinned.toml'}")
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert results(output, APPLY_TASK) == {"mx-b": "ok", "mx-c": "changed", "mx-d": "changed"}, output
    assert results(output, IDS_TASK) == {"mx-b": "ok"}, output  # run once, for all
    assert user_ids(roots["mx-c"]) == user_ids(roots["mx-d"]) == b


# --- the modules alone (ad hoc, on localhost) ----------------------------------


def adhoc(env: dict, module: str, args: dict) -> tuple[str, dict]:
    """`ansible localhost -m MODULE -a ARGS`: (SUCCESS | CHANGED | FAILED, the result)."""
    run = ansible("ansible", "all", "-i", "localhost,", "-c", "local", "-e", f"ansible_python_interpreter={sys.executable}",
                  "-m", module, "-a", json.dumps(args), env=env, timeout=120)
    status, _, result = run.stdout.partition(" => ")
    assert result, run.stdout + run.stderr
    return status.split(" | ")[1].removesuffix("!"), json.loads(result)


@pytest.mark.slow
def test_apply_fails_with_qmailsetup_s_one_line_on_bad_input(tmp_path, installed):
    _, env = installed
    status, result = adhoc(env, "qmailsetup.qmail.apply", {"root": str(tmp_path / "missing"), "executable": str(BIN / "qmailsetup")})
    assert status == "FAILED"
    assert result["rc"] == 2 and result["changed"] is False
    assert result["msg"] == f"qmailsetup: --root {tmp_path / 'missing'}: not a directory"
    assert not (tmp_path / "missing").exists()


@pytest.mark.slow
def test_check_sets_its_findings_as_facts(tmp_path, installed):
    """The facts are the findings `qmailsetup check --json` prints, split by
    severity; fail_on_error fails a host that is not fit."""
    _, env = installed
    root = debian_tree(tmp_path / "root")
    args = {"root": str(root), "platform": "linux", "executable": str(BIN / "qmailsetup")}
    before = snapshot(root)
    status, result = adhoc(env, "qmailsetup.qmail.check", args)
    cli = subprocess.run([str(BIN / "qmailsetup"), "check", "--json", "--root", str(root), "--platform", "linux"],
                         capture_output=True, text=True)
    assert cli.returncode == 3  # the accounts are missing
    findings = json.loads(cli.stdout)["findings"]
    assert status == "SUCCESS" and result["changed"] is False
    facts = result["ansible_facts"]["qmailsetup_check"]
    assert facts["findings"] == findings
    assert facts["errors"] == [f for f in findings if f["severity"] == "error"] != []
    assert facts["warnings"] == [f for f in findings if f["severity"] == "warning"]
    assert facts["fit"] is False

    status, result = adhoc(env, "qmailsetup.qmail.check", {**args, "fail_on_error": True})
    assert status == "FAILED" and result["rc"] == 3
    assert result["msg"].startswith(f"qmailsetup check finds errors: account.exists: {root}/etc/passwd: missing: group qmail")
    assert snapshot(root) == before


@pytest.mark.slow
def test_apply_fails_on_exit_5_with_check_s_errors(tmp_path, installed):
    """Exit 5: the accounts are as the spec says, but check finds errors. A
    stand-in qmailsetup prints what the real one prints then (qmailsetup(8),
    EXIT STATUS and JSON OUTPUT): the task fails with its lines, `changed`
    still tells what was applied, and the errors are in `check`."""
    _, env = installed
    error = {"id": "fs.nosuid", "severity": "error", "path": "/var/qmail/bin",
             "message": "/var/qmail/bin is on a filesystem mounted nosuid", "remedy": "mount /var without nosuid"}
    plan = {"in_sync": False, "refused": False, "changes": [{"kind": "group", "name": "qmail", "action": "create",
            "fields": {"gid": {"current": None, "desired": 999}}}], "conflicts": [], "warnings": [], "unchanged": [],
            "diffs": [], "applied": ["group qmail"], "check": [error]}
    stderr = "qmailsetup: check finds 1 error about what apply set up\nqmailsetup: fs.nosuid: /var/qmail/bin is on a filesystem mounted nosuid"
    fake = tmp_path / "qmailsetup"
    write(fake, f"#!/bin/sh\ncat <<'EOF'\n{json.dumps(plan)}\nEOF\nprintf '%s\\n' '{stderr}' >&2\nexit 5\n")
    fake.chmod(0o755)
    status, result = adhoc(env, "qmailsetup.qmail.apply", {"executable": str(fake)})
    assert status == "FAILED"
    assert (result["rc"], result["msg"], result["check"], result["applied"]) == (5, stderr, [error], ["group qmail"])
    assert result["changed"] is True


# --- a target that cannot run what the role needs -------------------------------


@pytest.mark.slow
def test_a_target_whose_python_cannot_run_modules_fails_with_its_own_error(tmp_path, installed):
    """An unusable Python on the target: the role's first command on it
    fails with what that Python said, not with an error about the result
    it could not make ("object of type 'dict' has no attribute 'stdout'"),
    and the role then says which Python and what to set."""
    _, env = installed
    python = tmp_path / "python3"
    write(python, "#!/bin/sh\necho 'python3: too old to run this module' >&2\nexit 1\n")
    python.chmod(0o755)
    wheelhouse = tmp_path / "wheelhouse"
    write(wheelhouse / f"qmailsetup-{__version__}-py3-none-any.whl", "")  # never installed: the run stops before
    write(tmp_path / "inventory.ini", f"[qmail_hosts]\nmx qmailsetup_venv={tmp_path / 'venv'} qmailsetup_root={tmp_path}\n"
          f"[qmail_hosts:vars]\nansible_connection=local\nansible_python_interpreter={python}\n"
          f"qmailsetup_wheelhouse={wheelhouse}\n")
    run = ansible("ansible-playbook", "-i", str(tmp_path / "inventory.ini"), "qmailsetup.qmail.fleet", env=env)
    output = run.stdout + run.stderr
    assert run.returncode == 2, output
    assert "has no attribute" not in output
    failed = json.loads(next(line for line in output.splitlines() if line.startswith("fatal: [mx]: ")).split(" => ", 1)[1])
    assert failed["module_stderr"] == "python3: too old to run this module\n", output
    assert results(output, "qmailsetup.qmail.qmailsetup : The qmailsetup installed on the target") == {"mx": "failed"}
    said = failure_message(output.split("TASK [qmailsetup.qmail.qmailsetup : The target's Python cannot run", 1)[1], "mx")
    assert said.startswith(f"Ansible cannot run its modules on mx with the Python {python}: "), said
    assert said.endswith(": python3: too old to run this module; set ansible_python_interpreter to a Python 3 there "
                         "that Ansible supports"), said
    assert not (tmp_path / "venv").exists()


@pytest.mark.slow
def test_a_python_without_ensurepip_is_named_and_the_next_run_makes_the_environment_again(tmp_path, installed,
                                                                                            wheelhouse):
    """Debian's python3 without python3-venv makes the environment's
    bin/python, then fails for want of ensurepip. The task says so; the next
    run, with a Python that has it, makes the environment again rather than
    taking the half-made one ("No module named pip")."""
    _, env = installed
    no_ensurepip = tmp_path / "python3"
    write(no_ensurepip, f"""#!/bin/sh
if [ "$1 $2" = "-m venv" ]; then
    {sys.executable} -m venv --without-pip "$3" || exit
    echo "The virtual environment was not created successfully because ensurepip is not available."
    echo "On Debian/Ubuntu systems, you need to install the python3-venv package"
    exit 1
fi
exec {sys.executable} "$@"
""")
    no_ensurepip.chmod(0o755)
    root = debian_tree(tmp_path / "root")
    venv_task = "qmailsetup.qmail.qmailsetup : A virtual environment for qmailsetup"

    def play(python: Path) -> str:
        write(tmp_path / "inventory.ini", f"[qmail_hosts]\nmx qmailsetup_venv={tmp_path / 'venv'} qmailsetup_root={root} "
              f"qmailsetup_python={python}\n[qmail_hosts:vars]\nansible_connection=local\n"
              f"ansible_python_interpreter={sys.executable}\nqmailsetup_wheelhouse={wheelhouse}\n"
              "qmailsetup_platform=linux\nqmailsetup_backend=files\nqmailsetup_run_check=false\nqmailsetup_same_ids=false\n")
        run = ansible("ansible-playbook", "-i", str(tmp_path / "inventory.ini"), "qmailsetup.qmail.fleet", "--check",
                      env=env)
        return run.stdout + run.stderr

    output = play(no_ensurepip)
    assert results(output, venv_task) == {"mx": "failed"}, output
    assert "you need to install the python3-venv package" in output
    assert (tmp_path / "venv/bin/python").exists() and not (tmp_path / "venv/bin/pip").exists()

    output = play(Path(sys.executable))
    assert results(output, venv_task) == {"mx": "changed"}, output
    assert results(output, APPLY_TASK) == {"mx": "changed"}, output  # the dry run, with the qmailsetup installed
    assert recap(output)["mx"]["failed"] == 0, output


@pytest.mark.slow
@pytest.mark.parametrize("how", ["interpreter-gone", "traceback"])
def test_a_qmailsetup_that_cannot_start_fails_the_task_saying_why(tmp_path, installed, how):
    """qmailsetup in a virtual environment whose Python was removed, or
    one too old for it: the task fails with one line that says so."""
    _, env = installed
    fake = tmp_path / "qmailsetup"
    if how == "interpreter-gone":
        write(fake, f"#!{tmp_path}/gone/bin/python3\n")
        expected = f"cannot run {fake}: its interpreter {tmp_path}/gone/bin/python3 is missing (make its virtual environment again)"
    else:
        write(fake, "#!/bin/sh\nprintf 'Traceback (most recent call last):\\n  File \"x\", line 1\\n"
                    "SyntaxError: invalid syntax\\n' >&2\nexit 1\n")
        expected = "SyntaxError: invalid syntax"
    fake.chmod(0o755)
    for module in ("qmailsetup.qmail.apply", "qmailsetup.qmail.check"):
        status, result = adhoc(env, module, {"executable": str(fake), "root": str(tmp_path)})
        assert (status, result["msg"]) == ("FAILED", expected), result


# --- saved plans: review, then apply exactly that --------------------------------

PLAN_ON_HOST = "/root/qmailsetup.plan"  # the path the module's EXAMPLES use


def planned_ids(plan: Path) -> dict[str, int]:
    """What the plan saved in PLAN creates: 'kind name' -> the ID planned."""
    changes = json.loads(plan.read_text())["changes"]
    return {f"{c['kind']} {c['name']}": c["desired"]["uid" if c["kind"] == "user" else "gid"]
            for c in changes if c["kind"] in ("user", "group") and c["action"] == "create"}


def account_ids(root: Path) -> dict[str, int]:
    """ROOT's qmail accounts: 'kind name' -> ID."""
    ids = {}
    for kind, file, names in (("user", "passwd", QMAIL_USERS), ("group", "group", ("qmail", "nofiles"))):
        for fields in (line.split(":") for line in (root / "etc" / file).read_text().splitlines()):
            if fields[0] in names:
                ids[f"{kind} {fields[0]}"] = int(fields[2])
    return ids


def task_results(output: str, task: str) -> dict[str, dict]:
    """{host: its result} for TASK in the output of ansible-playbook -v
    with one-line results (ANSIBLE_CALLBACK_FORMAT_PRETTY=0)."""
    section = output.split(f"TASK [{task}]", 1)[1].split("\nTASK [", 1)[0].split("\nPLAY RECAP", 1)[0]
    found = re.findall(r"^(?:ok|changed|fatal|skipping): \[([^\]]+)\](?:: FAILED!)? => (\{.*\})$", section, re.MULTILINE)
    return {host: json.loads(result) for host, result in found}


@pytest.mark.parametrize(("check_mode", "options", "tail"), [
    (True, {"plan_out": "/root/q.plan"}, ["--dry-run", "--plan-out", "/root/q.plan"]),
    (False, {"plan": "/root/q.plan"}, ["--plan", "/root/q.plan"]),
])
def test_the_command_that_saves_or_applies_a_plan(check_mode, options, tail):
    params = {"spec": None, "spec_content": None, "root": "/", "platform": "auto", "executable": "/opt/q/bin/qmailsetup",
              "backend": "auto", "fix_drift": False, "plan_out": None, "plan": None, **options}
    module = SimpleNamespace(check_mode=check_mode, params=params)
    assert source_module("apply").apply_command(module) == [
        "/opt/q/bin/qmailsetup", "apply", "--json", "--root", "/", "--platform", "auto", "--backend", "auto", *tail]


@pytest.mark.slow
def test_a_plan_in_check_mode_is_skipped_and_plan_out_in_a_normal_run_fails_running_nothing(tmp_path, installed):
    """qmailsetup has no dry run of a saved plan, and a plan is saved only
    by a dry run: neither runs qmailsetup at all. What a plan excludes is
    refused before anything is read."""
    _, env = installed
    ran = tmp_path / "ran"
    fake = tmp_path / "qmailsetup"
    write(fake, f"#!/bin/sh\ntouch {ran}\nexit 1\n")
    fake.chmod(0o755)
    plan = str(tmp_path / "q.plan")
    run = ansible("ansible", "all", "-i", "localhost,", "-c", "local", "-e", f"ansible_python_interpreter={sys.executable}",
                  "-m", "qmailsetup.qmail.apply", "-a", json.dumps({"executable": str(fake), "plan": plan}), "--check",
                  env=env, timeout=120)
    assert run.returncode == 0 and run.stdout.startswith("localhost | SKIPPED"), run.stdout + run.stderr
    status, result = adhoc(env, "qmailsetup.qmail.apply", {"executable": str(fake), "plan_out": plan})
    assert (status, result["msg"], result["changed"]) == (
        "FAILED", "plan_out: only in check mode (ansible-playbook --check); a normal run applies a saved plan with plan", False)
    status, result = adhoc(env, "qmailsetup.qmail.apply", {"executable": str(fake), "plan": plan, "spec": str(tmp_path / "s.toml")})
    assert (status, result["msg"]) == ("FAILED", "parameters are mutually exclusive: plan|spec")
    assert not ran.exists()
    status, result = adhoc(env, "qmailsetup.qmail.apply", {"executable": str(BIN / "qmailsetup"), "plan": plan, "fix_drift": True})
    assert (status, result["rc"], result["msg"]) == (
        "FAILED", 2, "qmailsetup: --plan: not with --fix-drift (the plan holds its spec and its changes)")


@pytest.mark.slow
@pytest.mark.root("a real apply chowns qmail's directories")
def test_the_examples_save_a_plan_in_check_mode_fetch_it_copy_it_back_and_apply_exactly_it(tmp_path, installed):
    """The module's EXAMPLES, from saving the plan on: with --check the plan
    is saved on the host and fetched, nothing else written; the approved
    copy goes back to the host (it had left it) and a normal run makes
    exactly the planned IDs; a second run is in sync."""
    _, env = installed
    env = {**env, "ANSIBLE_CALLBACK_FORMAT_PRETTY": "0"}
    root = debian_tree(tmp_path / "root")
    on_host = tmp_path / "host/qmailsetup.plan"
    on_host.parent.mkdir()
    tasks = yaml.safe_load(source_module("apply").EXAMPLES.replace(PLAN_ON_HOST, str(on_host)))
    review = tasks[[task["name"] for task in tasks].index("Save the plan (check mode)"):]
    for task in review:
        if "qmailsetup.qmail.apply" in task:
            task["qmailsetup.qmail.apply"].update(executable=str(BIN / "qmailsetup"), root=str(root), platform="linux")
    write(tmp_path / "review.yml", yaml.safe_dump([{"hosts": "all", "gather_facts": False, "tasks": review}]))
    save, fetch, copy, apply = (task["name"] for task in review)

    def play(*extra: str) -> str:
        run = ansible("ansible-playbook", "-v", "-i", "localhost,", "-c", "local",
                      "-e", f"ansible_python_interpreter={sys.executable}", str(tmp_path / "review.yml"), *extra, env=env)
        assert run.returncode == 0, run.stdout + run.stderr
        return run.stdout

    before = snapshot(root)
    output = play("--check")
    assert [results(output, task) for task in (save, fetch, copy, apply)] == [
        {"localhost": "changed"}, {"localhost": "changed"}, {"localhost": "skipped"}, {"localhost": "skipped"}], output
    assert snapshot(root) == before
    fetched = tmp_path / "plans/localhost.plan"
    assert fetched.read_bytes() == on_host.read_bytes()
    assert os.stat(on_host).st_mode & 0o777 == 0o600
    saved = task_results(output, save)["localhost"]
    assert saved["plan_out"] == str(on_host)
    planned = saved["planned"]
    ids = planned_ids(fetched)
    assert {f"{p['kind']} {p['name']}": p.get("uid", p.get("gid")) for p in planned if p["kind"] != "path"} == ids
    assert len(ids) == 9

    on_host.unlink()  # the plan left the host; the reviewed copy comes back
    output = play()
    assert [results(output, task) for task in (save, fetch, copy, apply)] == [
        {"localhost": "skipped"}, {"localhost": "skipped"}, {"localhost": "changed"}, {"localhost": "changed"}], output
    assert on_host.read_bytes() == fetched.read_bytes()
    assert task_results(output, apply)["localhost"]["applied"] == planned
    assert account_ids(root) == ids

    output = play()
    assert [results(output, task) for task in (copy, apply)] == [{"localhost": "ok"}, {"localhost": "ok"}], output


@pytest.mark.slow
@pytest.mark.root("useradd --prefix")
def test_the_role_saves_each_host_s_plan_in_check_mode_and_applies_it_or_fails_where_the_host_moved(tmp_path, installed):
    """Two hosts (useradd, the files backend): --check with
    qmailsetup_plan_out saves each one's plan and writes nothing else. Then
    a group takes, on one host, a GID planned there; the run with
    qmailsetup_plan fails that host with qmailsetup's line, nothing
    written, and gives the other exactly its planned IDs. The inventory is
    the same for both runs, with a spec file and qmailsetup_fix_drift: with
    a plan the apply task takes neither (the plan holds them). As in the
    test of differing IDs, the role finds qmailsetup installed."""
    require_tools("useradd", "groupadd")
    _, env = installed
    roots = {host: debian_tree(tmp_path / host / "root") for host in ("mx-a", "mx-b")}
    plans = {host: tmp_path / host / "qmail.plan" for host in roots}
    plan_path = f"{tmp_path}/{{{{ inventory_hostname }}}}/qmail.plan"
    wheelhouse = tmp_path / "wheelhouse"
    write(wheelhouse / f"qmailsetup-{__version__}-py3-none-any.whl", "")
    write(tmp_path / "inventory.ini", "\n".join([
        "[qmail_hosts]", f"mx-a qmailsetup_root={roots['mx-a']} qmailsetup_backend=useradd",
        f"mx-b qmailsetup_root={roots['mx-b']} qmailsetup_backend=files", "", "[qmail_hosts:vars]",
        "ansible_connection=local", f"ansible_python_interpreter={sys.executable}", f"qmailsetup_wheelhouse={wheelhouse}",
        f"qmailsetup_venv={BIN.parent}", "qmailsetup_platform=linux", "qmailsetup_fix_drift=true",
        f"qmailsetup_spec_file={CHECKOUT / 'src/qmailsetup/default.toml'}"]) + "\n")

    def play(*extra: str) -> subprocess.CompletedProcess:
        return ansible("ansible-playbook", "-i", str(tmp_path / "inventory.ini"), "qmailsetup.qmail.fleet", *extra, env=env)

    before = {host: snapshot(root) for host, root in roots.items()}
    run = play("--check", "-e", f"qmailsetup_plan_out={plan_path}")
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert results(output, APPLY_TASK) == {"mx-a": "changed", "mx-b": "changed"}, output
    assert {host: snapshot(root) for host, root in roots.items()} == before
    gid = planned_ids(plans["mx-b"])["group nofiles"]
    append(roots["mx-b"], "group", [f"staff9:x:{gid}:"])
    moved = snapshot(roots["mx-b"])

    run = play("-e", f"qmailsetup_plan={plan_path}")
    output = run.stdout + run.stderr
    assert run.returncode == 2, output
    assert results(output, APPLY_TASK) == {"mx-a": "changed", "mx-b": "failed"}, output
    assert failure_message(output, "mx-b") == (
        f"qmailsetup: --plan {plans['mx-b']}: the host moved since the plan was made: {roots['mx-b']}/etc/group changed: "
        f"gid {gid}, planned for group nofiles, is now staff9's; nothing written, make the plan again")
    assert without_pwd_lock(snapshot(roots["mx-b"])) == without_pwd_lock(moved)
    assert account_ids(roots["mx-a"]) == planned_ids(plans["mx-a"])
    assert len(planned_ids(plans["mx-a"])) == 9
