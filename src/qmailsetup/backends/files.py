"""The files backend: edit the account files as vipw would, where no tool
is trusted or none exists (--backend files; the generic platform).

One transaction, as systemd-sysusers and shadow-utils' commonio make it:
the run takes the locks the host's tools honour before it reads the
files (transaction(), commands/apply.py), reads them once, plans, replaces each file
atomically (userdb.write) in an order that keeps the database consistent
at every instant, its FILE- backup made from the bytes read, and lets the
locks go. Nothing that honours the locks can change a file between the
reading and the write, so nothing is compared or read again. Without the
run's locks (a command backend's writer, for the repairs no tool makes)
apply takes them itself and writes only if every file is still the bytes
read, else refuses. Lines are only appended (before NIS '+'/'-' lines) or,
for drift, rewritten in place; every other byte is kept. New entries are
written as the flavor says (userdb/flavor.py new_lines: shadow-utils'
useradd -r / groupadd -r on Debian 12), so this backend and --backend
useradd are interchangeable.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from qmailsetup import output, tools
from qmailsetup.errors import BadInput, OperationFailed, Refused
from qmailsetup.hostio import kind_of
from qmailsetup.observe import identity, read_bytes
from qmailsetup.plan import ACCOUNT_KINDS, Change
from qmailsetup.platforms import NEW_LINE_FIELDS
from qmailsetup.template import Template
from qmailsetup.userdb import lock
from qmailsetup.userdb.accountfile import AccountFile, companion_of
from qmailsetup.userdb.diff import Edit, unified_diff
from qmailsetup.userdb.fieldtext import unwritable
from qmailsetup.userdb.filekinds import FILE_KINDS, WRITE_ORDER
from qmailsetup.userdb.flavor import FLAVORS
from qmailsetup.userdb.pwdmkdb import post_edit_argv, run_post_edit, run_waiting
from qmailsetup.userdb.write import WriteError, remove_stale_temps, replace_file

# which field of the file a plan value goes to
FILE_LABELS = {"gid": "gid", "comment": "gecos", "home": "home", "shell": "shell", "class": "class"}
# the files that list a group's members
MEMBER_LISTS = tuple(name for name, kind in FILE_KINDS.items() if kind.members)


def last_change_day() -> str:
    """Today in days since 1970, as useradd computes it (SOURCE_DATE_EPOCH
    is honoured when it is valid and not in the future); day 0 would force
    a password change, so useradd leaves the field empty then."""
    now = int(time.time())
    raw = os.environ.get("SOURCE_DATE_EPOCH")
    if raw is not None:
        try:
            epoch = int(raw)
        except ValueError:
            epoch = -1
        if 0 <= epoch <= now:
            now = epoch
    day = now // 86400
    return str(day) if day > 0 else ""


@dataclass
class FileEdits:
    """The lines one run replaces and appends, per file kind."""

    files: dict[str, AccountFile]
    replace: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    append: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def has(self, kind: str) -> bool:
        file = self.files.get(kind)
        return file is not None and file.exists

    def put(self, kind: str, name: str, fields: list[str]) -> None:
        """Append NAME's line, or rewrite it where one is left over."""
        if not self.has(kind):
            return
        if self.files[kind].get(name) is not None:
            self.replace.setdefault(kind, {})[name] = fields
        else:
            self.append.setdefault(kind, {})[name] = fields

    def pending(self, kind: str, name: str) -> list[str] | None:
        """NAME's fields as this run leaves them so far (rewritten or
        appended), None when it does not touch NAME."""
        if name in self.replace.get(kind, {}):
            return self.replace[kind][name]
        return self.append.get(kind, {}).get(name)

    def current(self, kind: str, name: str) -> list[str]:
        """NAME's fields as this run leaves them so far, else as read: two
        changes of one entry (a repair and a drift) each build on the other."""
        fields = self.pending(kind, name)
        if fields is None:
            fields = self.files[kind].get(name)
        if fields is None:  # a change to an entry is planned from the file that has it
            raise LookupError(f"{kind}: no entry {name}")
        return fields

    def add_member(self, kind: str, group: str, user: str) -> None:
        """USER added to GROUP's member list as useradd -G and usermod -a -G
        add it: last, after a ','; nothing when it is listed already or the
        file has no line for GROUP (shadow-utils skips a group without a
        gshadow line too)."""
        if not self.has(kind):
            return
        file_kind = self.files[kind].file_kind
        assert file_kind.members is not None  # MEMBER_LISTS are the kinds that list members
        column = file_kind.column(file_kind.members)
        fields = self.pending(kind, group)
        if fields is None:
            fields = self.files[kind].get(group)
            if fields is None or len(fields) <= column:
                return
            self.replace.setdefault(kind, {})[group] = fields
        # shadow-utils splits the field at each ',' and drops only a last
        # empty name (a trailing ','): "a,,b," becomes "a,,b,USER"
        members = fields[column].split(",")
        if members[-1] == "":
            members.pop()
        if user not in members:
            fields[column] = ",".join((*members, user))

    def kinds(self) -> list[str]:
        return [kind for kind in WRITE_ORDER if kind in self.replace or kind in self.append]

    def text(self, kind: str) -> str:
        return self.files[kind].edited(self.replace.get(kind, {}), list(self.append.get(kind, {}).values()))

    def new_fields(self, kind: str) -> dict[str, list[str]]:
        """The entries of KIND this run writes: name -> its fields."""
        return {**self.replace.get(kind, {}), **self.append.get(kind, {})}

    def diff_edits(self, kind: str) -> list[Edit]:
        file = self.files[kind]
        edits = []
        for name, fields in self.replace.get(kind, {}).items():
            line = file.line_number(name)
            edits.append(Edit(line, line + 1, (":".join(fields) + "\n",)))
        if kind in self.append:
            at = file.insert_position()
            edits.append(Edit(at, at, tuple(":".join(fields) + "\n" for fields in self.append[kind].values())))
        return edits


# why a lock file cannot be made where nothing can be written at all: a
# read-only mount, an immutable directory, no room, not root
UNWRITABLE = frozenset({errno.EROFS, errno.EPERM, errno.ENOSPC, errno.EDQUOT, errno.EACCES})


@contextmanager
def transaction(etc, profile):
    """The locks of PROFILE's files in ETC (its flavor's and its also_locks),
    held for a real run from before observe reads the files to after the
    last write (commands/apply.py), as a list.
    None, and nothing taken, where a file the flavor needs is missing
    (observe names it, exit 2) or ETC cannot be written at all (read-only,
    immutable or append-only, full): then no tool can change the files
    while they are read, and apply's preflight says why nothing can be
    written, if the plan would write."""
    with ExitStack() as stack:
        locks = None
        required = FLAVORS[profile.flavor].required
        if etc.fd is not None and all(map(etc.exists, required)) and etc.unreplaceable(etc.fd) is None:
            try:
                locks = stack.enter_context(lock.locked(etc, profile.flavor, also=profile.also_locks))
            except lock.CannotLock as error:
                if error.errno not in UNWRITABLE:
                    raise OperationFailed(f"{error}; nothing written") from None
            except OperationFailed as error:  # busy past the timeout, interrupted
                raise OperationFailed(f"{error}; nothing written") from None
        yield locks


def unchanged_since_read(etc, files: dict[str, AccountFile]) -> bool:
    """Whether each of FILES is still the bytes it was read from (a file
    that was missing still missing): a read and a compare, no parse."""
    for kind, account_file in files.items():
        if read_bytes(etc, kind) != (account_file.data() if account_file.exists else None):
            return False
    return True


def unmoved_since_read(etc, files: dict[str, AccountFile], kinds: list[str]) -> None:
    """Each of KINDS, about to be written, is still the file that was read,
    as its status says (lstat: nothing is opened): a program that takes no
    lock may have replaced or edited one since. Else nothing is written."""
    for kind in kinds:
        try:
            now = etc.lstat(kind)
        except FileNotFoundError:
            now = None
        if now is not None and not stat.S_ISREG(now.st_mode) and not stat.S_ISLNK(now.st_mode):
            raise BadInput(f"{etc.shown(kind)}: {kind_of(now.st_mode)}, not a regular file")
        if now is None or stat.S_ISLNK(now.st_mode) or identity(now) != files[kind].read_as:
            raise Refused(f"{etc.shown(kind)}: changed since it was read, by a program that takes no lock; "
                          "nothing written, run again")


def flush_name_caches(written: list[str]) -> None:
    """Tell a running nscd that passwd/group changed, as shadow-utils does,
    so that a name just created is not answered 'unknown' from its cache
    (qmail's own build looks the accounts up). Best effort."""
    if tools.find_tool("nscd") is None:
        return
    tables = {FILE_KINDS[kind].nscd_table for kind in written}
    for table in sorted(tables):
        try:  # the lock timeout bounds every wait, a hung nscd's too
            tools.run_tool(["nscd", "-i", table], timeout=lock.lock_timeout())
        except OSError:  # gone since, or hung (TimeoutError)
            return


class FilesBackend:
    name = "files"

    def __init__(self, host, locks: list | None = None) -> None:
        self.host = host
        # the run's locks, held since before observe read HOST's files
        # (transaction()); None: apply takes them itself
        self.locks = locks
        # the account files as this run leaves them (as read, until it
        # writes): the closing check's reading (commands/apply.py)
        self.files_after: dict[str, AccountFile] = host.files
        self.flavor = host.flavor
        # the flavor's lines, parsed as the profile's own are when it loads
        defaults = {kind: Template.parse_line(line, NEW_LINE_FIELDS) for kind, line in self.flavor.new_lines.items()}
        self.templates = {**defaults, **host.profile.new_lines}
        self.main_user_file = self.flavor.users
        # a change counts as done once this file of its kind is written
        self.done_after = {"group": "group", self.main_user_file: "user"}
        # the names in etc replaced so far (backups included): a failure
        # says exactly what was written before it
        self.written: list[str] = []

    def commands(self, change: Change) -> list[list[str]]:
        return []

    def warnings(self, changes: list[Change]) -> list[str]:
        return []

    def shown(self, kind: str) -> str:
        return self.host.etc.shown(kind)

    # -- what the edits are ------------------------------------------------

    def new_line(self, kind: str, change: Change, files: dict[str, AccountFile]) -> list[str]:
        values = {key: "" for key in ("comment", "class")}
        values.update({key: str(value) for key, value in change.settings().items()})
        # shadowed where the host keeps the users file's companion (shadow)
        companion = companion_of(files, self.main_user_file)
        values["hidden"] = "x" if companion is not None and companion.exists else "!"
        values["lastchg"] = last_change_day()
        return self.templates[kind].render_line(values).split(":")

    def modified_line(self, change: Change, kind: str, edits: FileEdits) -> list[str]:
        settings = change.settings()
        values = {label: str(settings[key]) for key, label in FILE_LABELS.items() if key in settings}
        return edits.files[kind].with_values(edits.current(kind, change.name), values)

    def complete(self, change: Change, edits: FileEdits) -> None:
        """The missing shadow (gshadow) line of a half-made account, as
        pwck and pwconv (grpck, grpconv) make it for one entry, and only
        for it: a password in the passwd (group) line moves there, and 'x'
        takes its place; else it is locked as a new one. A gshadow line
        lists the group's members, as group does."""
        main = self.flavor.file_of(change.kind)
        main_kind = FILE_KINDS[main]
        assert main_kind.companion is not None  # a half-made account lacks the line of its file's companion
        companion_kind = FILE_KINDS[main_kind.companion]
        fields = edits.current(main, change.name)
        line = self.new_line(companion_kind.name, change, edits.files)
        password = main_kind.value(fields, main_kind.password)
        if password != "x":
            line[companion_kind.column(companion_kind.password)] = password
            fields[main_kind.column(main_kind.password)] = "x"
            edits.put(main, change.name, fields)
        if companion_kind.members and main_kind.members:
            line[companion_kind.column(companion_kind.members)] = main_kind.value(fields, main_kind.members)
        edits.put(companion_kind.name, change.name, line)

    def edits(self, changes: list[Change], files: dict[str, AccountFile]) -> FileEdits:
        edits = FileEdits(files)
        for change in changes:
            if change.kind not in ACCOUNT_KINDS:
                continue
            main = self.flavor.file_of(change.kind)
            if change.kind == "user":
                for group in change.joining:
                    for kind in MEMBER_LISTS:
                        edits.add_member(kind, group, change.name)
            if change.action == "repair":
                self.complete(change, edits)
                continue
            if change.action == "modify":
                if set(change.fields) - {"groups"}:
                    edits.put(main, change.name, self.modified_line(change, main, edits))
                continue
            edits.put(main, change.name, self.new_line(main, change, files))
            companion = FILE_KINDS[main].companion
            if companion is not None and companion in self.templates:
                edits.put(companion, change.name, self.new_line(companion, change, files))
        self.refuse_unwritable(edits)
        return edits

    def refuse_unwritable(self, edits: FileEdits) -> None:
        """Refuse a line to write that holds what no account line may
        (userdb/fieldtext.py), whatever its source: the spec's values are
        checked already, but a line rewritten for drift keeps the host's
        other fields, and a form feed kept in a comment would end the line
        for whatever splits lines at it."""
        for kind in edits.kinds():
            file_kind = edits.files[kind].file_kind
            for name, fields in edits.new_fields(kind).items():
                if len(fields) != file_kind.fields:
                    raise Refused(f"{self.shown(kind)}: the line of {name} would have {len(fields)} fields, "
                                  f"a {kind} line has {file_kind.fields}; nothing written")
                for label, value in zip(file_kind.columns, fields, strict=True):
                    bad = unwritable(value)
                    if bad:
                        raise Refused(
                            f"{self.shown(kind)}: the line of {name} would hold {bad}, in its {label} field; "
                            "no account line is written with one (give the field a value in the spec and rerun "
                            "with --fix-drift, or mend the line by hand); nothing written"
                        )

    def preview(self, changes: list[Change]) -> list[tuple[str, str]]:
        edits = self.edits(changes, self.host.files)
        diffs = []
        for kind in edits.kinds():
            path = self.shown(kind)
            file = edits.files[kind]
            if not file.readable:  # a dry run as another user: its lines are not known
                diffs.append((path, f"(not shown: {path} is not readable by this user; run as root to see its diff)\n"))
                continue
            text = unified_diff(file.lines, edits.diff_edits(kind), path, path, redact=file.file_kind.redact)
            # bytes that are not UTF-8 are shown, not printed raw
            diffs.append((path, text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")))
        return diffs

    # -- doing it -----------------------------------------------------------

    def apply(self, changes: list[Change], done) -> None:
        etc = self.host.etc
        if self.locks is not None:
            try:
                written = self.write_all(changes, done, self.locks)
            finally:  # the run's, let go once the files are written: the directories need none
                lock.release_all(self.locks)
        else:
            with lock.locked(etc, self.flavor.name, also=self.host.profile.also_locks) as locks:
                # read without the locks: whatever changed the files since
                # may have changed what the plan was made from
                if not unchanged_since_read(etc, self.host.files):
                    raise Refused("the account files changed since they were read; nothing written, run again")
                written = self.write_all(changes, done, locks)
        if written and self.host.root == Path("/"):
            flush_name_caches(written)

    def write_all(self, changes: list[Change], done, locks: list) -> list[str]:
        """Write CHANGES to the files as read, under LOCKS; the kinds written."""
        files = self.host.files
        edits = self.edits(changes, files)  # may refuse: before anything is written
        unmoved_since_read(self.host.etc, files, edits.kinds())
        remove_stale_temps(self.host.etc, set(files))
        wanted = [c for c in changes if c.kind in ACCOUNT_KINDS]
        # BSD's passwd, stale: what the post-edit step (pwd_mkdb -p) makes
        repairs = [c for c in changes if c.kind == "file"]
        # with a post-edit step (pwd_mkdb) nothing is usable before it ran
        finished: list[Change] = []
        written = []
        after = dict(files)
        for kind in WRITE_ORDER:
            lock.check_interrupted()
            if kind in edits.kinds():
                text = edits.text(kind)
                data = text.encode("utf-8", "surrogateescape")
                self.write(kind, data, files[kind].data())
                lock.written(locks, kind, data)
                written.append(kind)
                after[kind] = AccountFile.written(kind, text)
            if kind in self.done_after and kind in files:
                finished += [c for c in wanted if c.kind == self.done_after[kind]]
                if not self.host.profile.post_edit:
                    for change in finished:
                        done(change)
                    finished = []
        # pwd_mkdb rebuilds from master.passwd: with only group written
        # it has nothing to do (and FreeBSD's would wait for our flock);
        # a stale passwd (repairs) is its to remake
        if self.main_user_file in written or repairs:
            self.post_edit(written, locks)
        for change in finished + repairs:
            done(change)
        self.files_after = after
        return written

    def write(self, kind: str, data: bytes, previous: bytes | None) -> None:
        """KIND replaced by DATA, PREVIOUS (its bytes as read; None: not
        read) kept as its backup."""
        try:
            replace_file(self.host.etc, kind, data, previous, wrote=self.written.append)
        except WriteError as error:
            raise OperationFailed(f"{self.shown(kind)}: {error.step}: {error.strerror}") from None

    def post_edit(self, written: list[str], locks: list) -> None:
        """After master.passwd was written: the profile's post-edit command
        (BSD: pwd_mkdb rebuilds passwd and the databases from it), still
        under the locks but none it asks for (lock.let_go_of); its parts are
        built as the commands' are, {etcdir} the root's etc and {root} the
        root (none on /), and a busy flock is waited for, boundedly."""
        if not self.host.profile.post_edit:
            return
        root = self.host.root
        argv = post_edit_argv(self.host.profile, root)
        lock.let_go_of(locks, self.host.etc, self.main_user_file)

        def run(argv: list[str]) -> None:
            run_waiting(argv, self.host.etc, lock.lock_timeout(), written)

        def write_passwd(data: bytes) -> None:
            etc = self.host.etc
            if not etc.exists("passwd"):  # a tree that never had one: made as pwd_mkdb makes it, 0644
                try:  # O_EXCL: whatever appeared there since (a link too) is never followed
                    fd = os.open("passwd", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644,
                                 dir_fd=etc.fd)
                except OSError as error:
                    raise OperationFailed(f"{etc.shown('passwd')}: creating it: {error.strerror}") from None
                os.fchmod(fd, 0o644)  # whatever the umask
                os.close(fd)
            self.write("passwd", data, None)  # passwd, made from master.passwd, was not read
            written.append("passwd")

        run_post_edit(
            self.host.profile.name, argv, self.host.etc, run, write_passwd,
            say=output.note,
        )
