"""A spec cannot ask for what check forbids: a login shell, judged by the
one rule (platforms.is_login_shell) check applies, known without a host."""

from __future__ import annotations

import re

import pytest

from conftest import cli
from qmailsetup.check.accounts import shell_findings
from qmailsetup.errors import BadInput
from qmailsetup.observe import observe
from qmailsetup.platforms import NON_LOGIN_SHELLS, all_profiles, load_profile, parse_profile, profiles_dir
from qmailsetup.spec import parse_spec
from snapshot import snapshot
from trees import append, debian_tree

ONE_USER = '[[groups]]\nname = "qmail"\n[[users]]\nname = "qmaild"\ngroup = "qmail"\nhome = "/var/qmail"\n'
LIST = ", ".join(sorted(NON_LOGIN_SHELLS))
# login shells as hosts have them, a nologin in a place no platform puts
# it, and the shells that never give a login
SHELLS = ["/bin/sh", "/bin/bash", "/usr/bin/zsh", "/usr/local/sbin/nologin", "/bin/nologin", *sorted(NON_LOGIN_SHELLS)]


def spec_accepts(shell: str) -> bool:
    try:
        parse_spec(ONE_USER + f'shell = "{shell}"\n', "t.toml")
    except BadInput:
        return False
    return True


@pytest.mark.parametrize("platform", ["linux", "alpine", "generic"])
def test_the_spec_refuses_exactly_the_shells_check_calls_a_login(tmp_path, platform):
    """One rule: for each shell, the spec is refused it exactly when check,
    finding it on a qmail account of the host, reports account.login-shell."""
    root = debian_tree(tmp_path / "root")
    append(root, "group", ["qmail:x:2107:"])
    append(root, "gshadow", ["qmail:!::"])
    spec = parse_spec(ONE_USER, "t.toml")
    for shell in SHELLS:
        (root / "etc/passwd").write_text((root / "etc/passwd").read_text().split("qmaild:")[0]
                                         + f"qmaild:x:7791:2107::/var/qmail:{shell}\n")
        [finding] = shell_findings(spec, observe(spec, root, load_profile(platform)))
        assert spec_accepts(shell) == (finding.severity == "ok"), (shell, finding)
    assert not spec_accepts("/bin/sh") and spec_accepts("/usr/sbin/nologin")


@pytest.mark.parametrize("shell", ["/bin/sh", "/bin/bash", "/usr/local/sbin/nologin"])
def test_a_login_shell_in_the_spec_is_refused_before_anything_is_written(tmp_path, shell):
    """It used to be applied, then exit 5 after every run: --fix-drift, the
    remedy, set the same shell again."""
    root = debian_tree(tmp_path / "root")
    spec = tmp_path / "spec.toml"
    spec.write_text(ONE_USER + f'shell = "{shell}"\n')
    before = snapshot(root)
    for extra in ([], ["--fix-drift"], ["--dry-run"]):
        result = cli("apply", "--platform", "linux", "--root", root, "--spec", spec, *extra)
        assert (result.code, result.out) == (2, "")
        assert result.err == (
            f"qmailsetup: {spec}: users[0].shell: '{shell}' (user qmaild) gives a login, which no qmail account "
            f"may have; name a shell that never does ({LIST}), or none for the platform's nologin\n"
        )
        assert snapshot(root) == before
    assert cli("check", "--platform", "linux", "--root", root, "--spec", spec).code == 2
    # one that never gives a login is applied, and check finds no error in it
    spec.write_text(ONE_USER + 'shell = "/bin/false"\n')
    assert cli("apply", "--platform", "linux", "--root", root, "--spec", spec).code == 0
    assert "qmaild:x:999:999::/var/qmail:/bin/false\n" in (root / "etc/passwd").read_text()
    result = cli("check", "--json", "--platform", "linux", "--root", root, "--spec", spec)
    assert '"id": "account.login-shell",\n      "severity": "ok"' in result.out


def test_the_man_page_lists_the_shells_that_never_give_a_login():
    from pathlib import Path

    page = (Path(__file__).resolve().parents[1] / "man/qmailsetup.8").read_text().replace("\\-", "-")
    sentence = page.split("A login shell is any shell but ", 1)[1].split(", whatever", 1)[0]
    assert set(re.findall(r"/[\w/]+", sentence)) == NON_LOGIN_SHELLS


def test_a_profile_whose_nologin_shell_would_be_a_login_is_broken():
    """check would call the shell the profile gives every account a login:
    the profile is refused, naming the shell."""
    text = (profiles_dir() / "linux.toml").read_text()
    broken = text.replace('nologin = ["/usr/sbin/nologin", "/sbin/nologin"]', 'nologin = ["/usr/local/sbin/nologin"]')
    assert broken != text
    with pytest.raises(BadInput) as error:
        parse_profile("mine", broken, "mine.toml")
    assert str(error.value) == (
        "mine.toml: broken platform profile: accounts: nologin shell '/usr/local/sbin/nologin' is not one of "
        f"the shells that never give a login ({LIST})"
    )
    for profile in all_profiles():
        assert set(profile.nologin) <= NON_LOGIN_SHELLS, profile.name
