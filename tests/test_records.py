"""Records: the accounts of the account files as the rest of the program
sees them, made when asked for, with what a run wrote since."""

from __future__ import annotations

from pathlib import Path

import pytest

from qmailsetup.userdb.accountfile import AccountFile
from qmailsetup.userdb.records import GroupRecord, UserRecord, users_and_groups

PASSWD = b"root:x:0:0:root:/root:/bin/sh\nqmaild:x:998:999::/var/qmail:/sbin/nologin\n"
SHADOW = b"root:$6$salt$hash:19000:0:99999:7:::\nqmaild:!:19000::::::\n"
GROUP = b"root:x:0:\nnofiles:x:999:qmaild,alias\n"
MASTER = b"root:$2b$hash:0:0:daemon:0:0:root:/root:/bin/sh\nqmaild:*:998:999:qmail:0:0::/var/qmail:/sbin/nologin\n"


def files(users_kind: str = "passwd", users: bytes = PASSWD, shadow: bytes | None = SHADOW) -> dict:
    made = {users_kind: AccountFile.parse(Path(users_kind), users_kind, users),
            "group": AccountFile.parse(Path("group"), "group", GROUP)}
    if users_kind == "passwd":
        made["shadow"] = (AccountFile.parse(Path("shadow"), "shadow", shadow) if shadow is not None
                          else AccountFile.missing("shadow"))
    return made


def test_a_user_is_made_from_its_line_with_the_password_from_shadow():
    users, groups = users_and_groups(files(), "passwd")
    assert users["qmaild"] == UserRecord("qmaild", 998, 999, "", "/var/qmail", "/sbin/nologin", "!", None)
    assert users["root"].password == "$6$salt$hash"
    assert groups["nofiles"] == GroupRecord("nofiles", 999, ("qmaild", "alias"))
    assert list(users) == ["root", "qmaild"] and len(groups) == 2


def test_without_shadow_the_password_is_the_one_in_passwd():
    users, _ = users_and_groups(files(shadow=None), "passwd")
    assert users["qmaild"].password == "x"


def test_master_passwd_keeps_the_login_class():
    users, _ = users_and_groups(files("master.passwd", MASTER), "master.passwd")
    assert (users["qmaild"].login_class, users["root"].login_class) == ("qmail", "daemon")
    assert users["qmaild"].password == "*"


def test_a_name_not_there_is_a_key_error_naming_it():
    users, groups = users_and_groups(files(), "passwd")
    with pytest.raises(KeyError) as missing:
        users["alias"]
    assert missing.value.args == ("alias",)
    assert users.get("alias") is None and "alias" not in users and "qmail" not in groups


def test_an_entry_without_its_companion_line_is_half_made():
    made = files(shadow=b"root:!:19000::::::\n")
    made["gshadow"] = AccountFile.parse(Path("gshadow"), "gshadow", b"root:*::\n")
    users, groups = users_and_groups(made, "passwd")
    assert (users.half_made("qmaild"), users.half_made("root"), users.half_made("alias")) == ("shadow", None, None)
    assert (groups.half_made("nofiles"), groups.half_made("root")) == ("gshadow", None)


def test_without_a_companion_file_nothing_is_half_made():
    """No shadow or gshadow file (a plain host), or none for the kind (the
    BSDs' master.passwd keeps its passwords itself)."""
    for users_kind, users_text in (("passwd", PASSWD), ("master.passwd", MASTER)):
        made = files(users_kind, users_text, shadow=None)
        made["gshadow"] = AccountFile.missing("gshadow")
        users, groups = users_and_groups(made, users_kind)
        assert users.half_made("qmaild") is None and groups.half_made("nofiles") is None
