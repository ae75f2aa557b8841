"""The sh export's directories, run for real under dash in a mount namespace
(a copy of /etc, a tmpfs over /var): parents it makes are 0755 whatever the
umask, and a symlink planted where a directory belongs, before the checks,
after them or in the instant between a check and the cd that follows it,
stops the script; nothing outside /var changes."""

from __future__ import annotations

import os
import stat

from conftest import cli, require_tools
from namespace import run_in_namespace
from trees import write

# owned by daemon, so a chown sent through a link would show on the victim
SPEC = "".join(
    f'[[paths]]\npath = "{path}"\nowner = "daemon"\ngroup = "daemon"\nmode = "{mode}"\n'
    for path, mode in (("/var/spool/qm/qmail", "0755"), ("/var/spool/qm/qmail/alias", "02750"))
)
CREATED = ["/var/spool", "/var/spool/qm", "/var/spool/qm/qmail", "/var/spool/qm/qmail/alias"]


def script_for(tmp_path, edit=lambda text: text):
    write(tmp_path / "spec.toml", SPEC)
    result = cli("export", "--format", "sh", "--platform", "linux", "--spec", tmp_path / "spec.toml")
    assert result.code == 0, result.err
    write(tmp_path / "qmail-accounts.sh", edit(result.out))
    return tmp_path / "qmail-accounts.sh"


def victim(tmp_path):
    """A directory outside the namespace's /var that a link will point at."""
    path = tmp_path / "victim"
    path.mkdir()
    (path / "secret").write_text("keep\n")
    os.chmod(path, 0o700)
    return path


def state(path):
    info = os.lstat(path)
    return info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode), sorted(os.listdir(path))


def run(tmp_path, script, commands: str):
    return run_in_namespace(tmp_path, f"export SCRIPT={script} VICTIM={tmp_path / 'victim'}\nset +e\n{commands}")


def test_parents_are_0755_under_umask_077_and_a_dry_run_makes_none(tmp_path, privileged):
    require_tools("dash")
    script = script_for(tmp_path)
    result = run(tmp_path, script, f"""\
umask 077
dash "$SCRIPT" --dry-run; echo "dry=$?"
echo "after_dry=$(find /var | wc -l)"
dash "$SCRIPT" > "$SCRIPT.out"; echo "first=$?"
sed 's/^/real /' "$SCRIPT.out"
stat -c 'stat %n %a %U %G' {' '.join(CREATED)}
dash "$SCRIPT"; echo "second=$?"
""")
    lines = result.stdout.splitlines()
    assert result.stderr == ""
    # the dry run walks each path from / and shows each mkdir the real run
    # runs, once (the second path's parents are made by then)
    made = ["+ mkdir -m 0755 /var/spool", "+ mkdir -m 0755 /var/spool/qm", "+ mkdir -m 0700 /var/spool/qm/qmail",
            "+ mkdir -m 0700 /var/spool/qm/qmail/alias"]
    assert [line for line in lines if line.startswith("+ mkdir")] == made
    assert [line for line in lines if line.startswith("real + mkdir")] == ["real " + line for line in made]
    assert "dry=0" in lines and "after_dry=1" in lines, "the dry run made nothing under /var"
    assert "first=0" in lines and "second=0" in lines, result.stdout
    assert [line for line in lines if line.startswith("stat ")] == [
        "stat /var/spool 755 root root",
        "stat /var/spool/qm 755 root root",
        "stat /var/spool/qm/qmail 755 daemon daemon",
        "stat /var/spool/qm/qmail/alias 2750 daemon daemon",
    ]
    assert "In sync: nothing to do." in lines


def test_a_link_planted_before_the_checks_is_refused(tmp_path, privileged):
    require_tools("dash")
    script = script_for(tmp_path)
    before = state(victim(tmp_path))
    result = run(tmp_path, script, 'ln -s "$VICTIM" /var/spool\ndash "$SCRIPT" > /dev/null; echo "code=$?"')
    assert result.stdout == "code=3\n"
    assert "! path /var/spool/qm/qmail: /var/spool is a symlink; refusing to follow it" in result.stderr
    assert state(tmp_path / "victim") == before


def test_a_link_planted_after_the_checks_stops_the_script(tmp_path, privileged):
    require_tools("dash")
    # the attacker acts between the checks and the first directory step
    plant = 'mkdir -p /var/spool/qm && ln -s "$VICTIM" /var/spool/qm/qmail\n'
    script = script_for(tmp_path, lambda text: text.replace("\nensure_dir /", "\n" + plant + "ensure_dir /", 1))
    before = state(victim(tmp_path))
    result = run(tmp_path, script, 'dash "$SCRIPT" > /dev/null; echo "code=$?"')
    assert result.stdout == "code=1\n"
    assert result.stderr == (
        f"{script}: /var/spool/qm/qmail is a symlink; refusing to follow it; "
        "stopped (what was done before stays; run again to finish)\n"
    )
    assert state(tmp_path / "victim") == before


def test_a_link_planted_between_the_check_and_the_cd_stops_the_script(tmp_path, privileged):
    require_tools("dash")
    script = script_for(tmp_path)
    before = state(victim(tmp_path))
    # cd as a function runs just after enter's [ -L ] check: the directory it
    # is about to enter is swapped for a link there, as a racing attacker would
    hook = r"""
cd() {
	if [ "$1" = ./alias ] && [ "$(pwd -P)" = /var/spool/qm/qmail ]; then
		rmdir alias && ln -s "$VICTIM" alias
	fi
	command cd "$@"
}
"""
    result = run(tmp_path, script, f"dash -c '{hook}. \"$SCRIPT\"' > /dev/null; echo \"code=$?\"")
    assert result.stdout == "code=1\n", result.stderr
    assert result.stderr == (
        "dash: /var/spool/qm/qmail/alias is not the directory it was checked to be "
        "(a symlink or a file put there since?); stopped (what was done before stays; run again to finish)\n"
    )
    assert state(tmp_path / "victim") == before
