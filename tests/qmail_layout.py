"""qmail's groups and users as INSTALL.ids and conf-users name them, in
conf-users' order: the one list the tests check accounts against.
(test_spec.py keeps its own literal: it tests the built-in default.)"""

QMAIL_GROUPS = ("qmail", "nofiles")
QMAIL_USERS = {  # name: (group, home)
    "alias": ("nofiles", "/var/qmail/alias"),
    "qmaild": ("nofiles", "/var/qmail"),
    "qmaill": ("nofiles", "/var/qmail"),
    "qmailp": ("nofiles", "/var/qmail"),
    "qmailq": ("qmail", "/var/qmail"),
    "qmailr": ("qmail", "/var/qmail"),
    "qmails": ("qmail", "/var/qmail"),
}
QMAIL_NAMES = (*QMAIL_GROUPS, *QMAIL_USERS)
