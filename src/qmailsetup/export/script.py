"""A standalone POSIX sh script that does what `qmailsetup apply` does, for
hosts where Python cannot be installed.

The script first checks everything against the host's files (and NSS,
through getent where there is one) and writes nothing when any check
fails (exit 3): an ID held by another account, an account only in NSS, an
account that differs from the spec. Then it creates what is missing with
the host's own tools, the argv rendered from the platform profile's
templates as the command backend renders them, and gives the directories
their owner and mode. What exists and matches is left alone, so a second run does
nothing. Values only the host knows at run time (the nologin shell that
exists there, a group's GID) are shell expressions in the generated argv.
"""

from __future__ import annotations

from shlex import quote as sh_quote

from qmailsetup import __version__
from qmailsetup.backends.commands import TEMPLATES
from qmailsetup.errors import BadInput
from qmailsetup.export import Output
from qmailsetup.platforms import NON_LOGIN_SHELLS, Profile
from qmailsetup.spec import Spec
from qmailsetup.template import Template
from qmailsetup.userdb.filekinds import FILE_KINDS, FileKind
from qmailsetup.userdb.flavor import FLAVORS

# marks a value the script computes when it runs: MARK name MARK
MARK = "\0"

# The functions every script shares; the per-spec part calls them.
PRELUDE = r"""
set -u
umask 022
PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
export PATH

dry_run=no
case "${1-}" in
--dry-run) dry_run=yes ;;
"") ;;
*) echo "usage: $0 [--dry-run]" >&2; exit 2 ;;
esac
if [ "$dry_run" = no ] && [ "$(id -u)" != 0 ]; then
	echo "$0: run as root (or with --dry-run)" >&2
	exit 2
fi
for file in "$USERS_FILE" "$GROUP_FILE"; do
	[ -r "$file" ] || { echo "$0: cannot read $file" >&2; exit 2; }
done

conflicts=0
commands=0
nl='
'
dry_made=$nl
refuse() {
	echo "! $*" >&2
	conflicts=$((conflicts + 1))
}
fail() {
	echo "$0: $*; stopped (what was done before stays; run again to finish)" >&2
	exit 1
}
# run ARGV...: show it; unless this is a dry run, run it
run() {
	shown_run "$*" "$@"
}
# shown_run TEXT ARGV...: show TEXT; unless this is a dry run, run ARGV
shown_run() {
	echo "+ $1"
	shift
	[ "$dry_run" = yes ] && return 0
	"$@" || fail "$1 failed (exit $?)"
	commands=$((commands + 1))
}
# entry FILE NAME N: field N of NAME's line in FILE; fails when there is none
entry() {
	awk -F: -v name="$2" -v n="$3" \
		'$1 == name { print $n; found = 1; exit } END { exit !found }' "$1"
}
# holder FILE ID N: the first name whose field N is ID (NIS lines skipped)
holder() {
	awk -F: -v id="$2" -v n="$3" '$1 !~ /^[#+-]/ && $n == id { print $1; exit }' "$1"
}
# nss DATABASE KEY: the key is known to NSS (LDAP, NIS, ...), if getent is here
nss() {
	command -v getent >/dev/null 2>&1 && getent "$1" "$2" >/dev/null 2>&1
}
nss_name() {
	getent "$1" "$2" 2>/dev/null | cut -d: -f1
}
listed() {
	case " $1 " in *" $2 "*) return 0 ;; esac
	return 1
}

# check_group NAME GID: GID empty when the system range chooses
check_group() {
	if g_gid=$(entry "$GROUP_FILE" "$1" "$G_GID"); then
		if [ -n "$2" ] && [ "$g_gid" != "$2" ]; then
			refuse "group $1: gid is $g_gid on the host, the spec says $2; a GID is never changed (files are owned by number)"
		else
			echo "= group $1: exists (gid $g_gid)"
		fi
	elif nss group "$1"; then
		refuse "group $1: exists only in NSS, not in $GROUP_FILE"
	elif [ -n "$2" ]; then
		g_other=$(holder "$GROUP_FILE" "$2" "$G_GID")
		if [ -n "$g_other" ]; then
			refuse "group $1: gid $2 is already held by group $g_other"
		elif nss group "$2"; then
			refuse "group $1: gid $2 is already held by group $(nss_name group "$2") in NSS"
		fi
	fi
}

# member GROUP USER: USER is in GROUP's member list
member() {
	entry "$GROUP_FILE" "$1" "$G_MEMBERS" | tr ',' '\n' | grep -Fqx -- "$2"
}

# check_user NAME UID GROUP HOME SHELL =COMMENT =CLASS GROUPS: UID and SHELL
# empty when not fixed; COMMENT and CLASS empty when not set, else after a
# '='; GROUPS the supplementary groups, blank-separated
check_user() {
	u_name=$1 u_uid=$2 u_group=$3 u_home=$4 u_shell=$5 u_comment=$6 u_class=$7 u_groups=$8
	for u_sup in $u_groups; do
		if ! entry "$GROUP_FILE" "$u_sup" "$G_GID" >/dev/null && ! listed "$SPEC_GROUPS" "$u_sup"; then
			refuse "user $u_name: its supplementary group $u_sup is neither in the spec nor on the host"
			return
		fi
	done
	if ! u_current=$(entry "$USERS_FILE" "$u_name" "$U_UID"); then
		if nss passwd "$u_name"; then
			refuse "user $u_name: exists only in NSS, not in $USERS_FILE"
			return
		fi
		if [ -n "$u_uid" ]; then
			u_other=$(holder "$USERS_FILE" "$u_uid" "$U_UID")
			if [ -n "$u_other" ]; then
				refuse "user $u_name: uid $u_uid is already held by user $u_other"
			elif nss passwd "$u_uid"; then
				refuse "user $u_name: uid $u_uid is already held by user $(nss_name passwd "$u_uid") in NSS"
			fi
		fi
		if ! entry "$GROUP_FILE" "$u_group" "$G_GID" >/dev/null && ! listed "$SPEC_GROUPS" "$u_group"; then
			refuse "user $u_name: its group $u_group is neither in the spec nor on the host"
		fi
		return
	fi
	if [ -n "$u_uid" ] && [ "$u_current" != "$u_uid" ]; then
		refuse "user $u_name: uid is $u_current on the host, the spec says $u_uid; qmail compiles UIDs in, so an account is never renumbered"
		return
	fi
	u_differs=
	u_gid=$(entry "$GROUP_FILE" "$u_group" "$G_GID") || u_gid=none
	[ "$(entry "$USERS_FILE" "$u_name" "$U_GID")" = "$u_gid" ] || u_differs="$u_differs group"
	[ "$(entry "$USERS_FILE" "$u_name" "$U_HOME")" = "$u_home" ] || u_differs="$u_differs home"
	u_now=$(entry "$USERS_FILE" "$u_name" "$U_SHELL")
	if [ -n "$u_shell" ]; then
		[ "$u_now" = "$u_shell" ] || u_differs="$u_differs shell"
	else
		non_login "$u_now" || u_differs="$u_differs shell"
	fi
	case $u_comment in
	=*) [ "$(entry "$USERS_FILE" "$u_name" "$U_GECOS")" = "${u_comment#=}" ] || u_differs="$u_differs comment" ;;
	esac
	case $u_class in
	=*) [ -n "$U_CLASS" ] && { [ "$(entry "$USERS_FILE" "$u_name" "$U_CLASS")" = "${u_class#=}" ] || u_differs="$u_differs class"; } ;;
	esac
	# only the spec's groups count: other memberships are never removed
	for u_sup in $u_groups; do
		member "$u_sup" "$u_name" || { u_differs="$u_differs groups"; break; }
	done
	if [ -n "$u_differs" ]; then
		refuse "user $u_name differs from the spec in:$u_differs; fix it by hand or with qmailsetup apply --fix-drift"
	else
		echo "= user $u_name: exists (uid $u_current)"
	fi
}

# check_path PATH OWNER GROUP: no symlink and nothing but directories on the way
check_path() {
	p_at=
	p_rest=${1#/}
	while [ -n "$p_rest" ]; do
		p_at=$p_at/${p_rest%%/*}
		case $p_rest in */*) p_rest=${p_rest#*/} ;; *) p_rest= ;; esac
		if [ -L "$p_at" ]; then
			refuse "path $1: $p_at is a symlink; refusing to follow it"
			return
		elif [ -e "$p_at" ] && [ ! -d "$p_at" ]; then
			refuse "path $1: $p_at is not a directory"
			return
		fi
	done
	if ! entry "$USERS_FILE" "$2" "$U_UID" >/dev/null && ! listed "$SPEC_USERS" "$2"; then
		refuse "path $1: its owner $2 is neither in the spec nor on the host"
	fi
	if ! entry "$GROUP_FILE" "$3" "$G_GID" >/dev/null && ! listed "$SPEC_GROUPS" "$3"; then
		refuse "path $1: its group $3 is neither in the spec nor on the host"
	fi
}

missing_group() {
	! entry "$GROUP_FILE" "$1" "$G_GID" >/dev/null
}
missing_user() {
	! entry "$USERS_FILE" "$1" "$U_UID" >/dev/null
}
group_gid() {
	entry "$GROUP_FILE" "$1" "$G_GID"
}
# in_place PATH OWNER GROUP MODE: PATH is a directory with that owner and mode
in_place() {
	[ -d "$1" ] && [ ! -L "$1" ] && [ -n "$(find "$1" -prune -user "$2" -group "$3" -perm "$4" 2>/dev/null)" ]
}
# enter PATH: change into PATH one component at a time from /, making each
# one that is missing (0755 above PATH whatever the umask, PATH itself 0700
# until it has its owner and mode). Each step is relative to the directory
# entered last, and after each cd pwd -P must be the path walked so far: a
# symlink planted on the way, even after it was checked, stops the run
# instead of redirecting it. A dry run shows the mkdirs and enters nothing
# that is missing; it remembers what it showed (dry_made), since the real
# run finds those made.
enter() {
	e_at=
	e_rest=${1#/}
	e_missing=no
	cd / || fail "cannot change to /"
	while [ -n "$e_rest" ]; do
		e_name=${e_rest%%/*}
		case $e_rest in
		*/*) e_rest=${e_rest#*/} e_mode=0755 ;;
		*) e_rest= e_mode=0700 ;;
		esac
		e_at=$e_at/$e_name
		[ "$e_missing" = no ] && [ -L "./$e_name" ] && fail "$e_at is a symlink; refusing to follow it"
		if [ "$e_missing" = yes ] || [ ! -e "./$e_name" ]; then
			case $dry_made in
			*"$nl$e_at$nl"*) ;;
			*) shown_run "mkdir -m $e_mode $e_at" mkdir -m "$e_mode" "./$e_name" ;;
			esac
			[ "$dry_run" = yes ] && { e_missing=yes dry_made=$dry_made$e_at$nl; continue; }
		fi
		cd "./$e_name" 2>/dev/null && [ "$(pwd -P)" = "$e_at" ] ||
			fail "$e_at is not the directory it was checked to be (a symlink or a file put there since?)"
	done
}
# ensure_dir PATH OWNER GROUP MODE: made private, then given owner and mode
# (chown before chmod: chown clears the setgid bit), both done on '.' from
# inside PATH, so neither can be sent elsewhere by a link
ensure_dir() {
	if in_place "$@"; then
		echo "= path $1: in place ($2:$3 $4)"
		return
	fi
	enter "$1"
	shown_run "chown -h $2:$3 $1" chown -h "$2:$3" .
	shown_run "chmod $4 $1" chmod "$4" .
	cd /
	[ "$dry_run" = yes ] || in_place "$@" || fail "$1: owner or mode did not stick"
}
"""

CHECKS_FAILED = r"""
if [ "$conflicts" -gt 0 ]; then
	echo "refused, nothing written: $conflicts conflict(s)" >&2
	exit 3
fi
"""

DONE = r"""
if [ "$dry_run" = yes ]; then
	echo "Dry run: nothing was written."
elif [ "$commands" -eq 0 ]; then
	echo "In sync: nothing to do."
else
	echo "Done: $commands command(s) run."
fi
"""


def runtime(name: str) -> str:
    return f"{MARK}{name}{MARK}"


def sh_word(arg: str, expressions: dict[str, str]) -> str:
    """ARG quoted for sh, with each runtime mark replaced by its expression."""
    words = []
    for position, piece in enumerate(arg.split(MARK)):
        if position % 2:
            words.append(expressions[piece])
        elif piece:
            words.append(sh_quote(piece))
    return "".join(words) or "''"


def command_line(template: Template, values: dict, expressions: dict[str, str]) -> str:
    return " ".join(sh_word(arg, expressions) for arg in template.render(values))


def field_numbers(flavor: str) -> dict[str, str]:
    """Where each value is in the users file of FLAVOR and in the group
    file, counted from 1 as awk does."""
    users, group = FILE_KINDS[FLAVORS[flavor].users], FILE_KINDS["group"]

    def number(kind: FileKind, label: str | None) -> str:
        return str(kind.column(label) + 1) if label in kind.columns else ""

    return {
        "USERS_FILE": f"/etc/{users.name}", "GROUP_FILE": f"/etc/{group.name}",
        **{f"U_{label.upper()}": number(users, label) for label in ("uid", "gid", "gecos", "home", "shell", "class")},
        "G_GID": number(group, "gid"), "G_MEMBERS": number(group, group.members),
    }


def optional(value: str | None) -> str:
    """COMMENT and CLASS for check_user: '' when unset, else '=' and the value."""
    return "''" if value is None else sh_quote(f"={value}")


def settings(spec: Spec, profile: Profile) -> list[str]:
    lines = [f"{key}={sh_quote(value)}" for key, value in field_numbers(profile.flavor).items()]
    lines.append(f"SPEC_GROUPS={sh_quote(' '.join(g.name for g in spec.groups))}")
    lines.append(f"SPEC_USERS={sh_quote(' '.join(u.name for u in spec.users))}")
    shells = " ".join(sh_quote(shell) for shell in profile.nologin)
    lines += [
        "# the first of the platform's nologin shells that this host has",
        "nologin=",
        f"for shell in {shells}; do",
        '\tif [ -e "$shell" ]; then nologin=$shell; break; fi',
        "done",
        f'[ -n "$nologin" ] || nologin={sh_quote(profile.nologin[0])}',
        "# shells that give no login: an existing account with one of these is fine",
        "non_login() {",
        '\tcase $1 in',
        f"\t{'|'.join(sh_quote(s) for s in sorted(NON_LOGIN_SHELLS | set(profile.nologin)))}) return 0 ;;",
        "\tesac",
        "\treturn 1",
        "}",
    ]
    return lines


def checks(spec: Spec) -> list[str]:
    lines = [f"check_group {sh_quote(g.name)} {sh_quote(str(g.gid or ''))}" for g in spec.groups]
    for user in spec.users:
        args = [user.name, str(user.uid or ""), user.group, user.home, user.shell or ""]
        lines.append(
            "check_user " + " ".join(sh_quote(a) for a in args)
            + f" {optional(user.comment)} {optional(user.login_class)} {sh_quote(' '.join(user.groups))}"
        )
    lines += [f"check_path {sh_quote(p.path)} {sh_quote(p.owner)} {sh_quote(p.group)}" for p in spec.paths]
    return lines


def creations(spec: Spec, profile: Profile) -> list[str]:
    templates = {kind: profile.commands[name] for kind, name in TEMPLATES.items() if kind[1] == "create"}
    lines = []
    for group in spec.groups:
        values: dict[str, object] = {"name": group.name, "gid": group.gid, "root": None}
        command = command_line(templates[("group", "create")], values, {})
        lines.append(f"missing_group {sh_quote(group.name)} && run {command}")
    for user in spec.users:
        values = {
            "name": user.name, "uid": user.uid, "group": user.group, "gid": runtime("gid"),
            "home": user.home, "shell": user.shell or runtime("shell"), "comment": user.comment,
            "class": user.login_class, "groups": user.groups or None, "root": None,
        }
        expressions = {"shell": '"$nologin"', "gid": f'"$(group_gid {sh_quote(user.group)})"'}
        command = command_line(templates[("user", "create")], values, expressions)
        lines.append(f"missing_user {sh_quote(user.name)} && run {command}")
    for path in spec.paths:
        mode = f"0{path.mode_bits:04o}"  # five digits: only so does GNU chmod clear a directory's setgid
        lines.append("ensure_dir " + " ".join(sh_quote(v) for v in (path.path, path.owner, path.group, mode)))
    return lines


def shell_script(spec: Spec, profile: Profile, source: str) -> list[Output]:
    if not profile.commands or not all(name in profile.commands for name in ("groupadd", "useradd")):
        raise BadInput(
            f"--platform {profile.name}: has no account commands ({profile.backend} backend); "
            "the sh export needs a platform whose own tools make accounts"
        )
    header = [
        "#!/bin/sh",
        f"# qmail's groups, users and directories for {profile.name} ({profile.description}),",
        f"# as {source} says, made with the host's own tools.",
        f"# Written by qmailsetup {__version__}: export --format sh --platform {profile.name}",
        "#",
        "# Idempotent: it creates what is missing and changes nothing that exists.",
        "# It checks everything first; on any conflict (an ID held by another",
        "# account, an account that differs from the spec) it writes nothing and",
        "# exits 3. Exit 1: a command failed (run again to finish); 2: bad usage.",
        "#",
        "# Directories are made one at a time from /, each entered with cd and",
        "# checked with pwd -P before anything is made in it, and owner and mode",
        "# are set on '.' from inside: a symlink planted on the way stops the",
        "# script (exit 1) instead of redirecting it. What it cannot guarantee:",
        "# that a directory stays where it was checked. sh has no O_NOFOLLOW nor",
        "# descriptors to hold, so anyone who may write to a parent of qmail's home",
        "# can rename a directory away after its check and put their own in its",
        "# place (qmailsetup apply warns of such parents; this script does not).",
        "#",
        "# Usage (as root): sh qmail-accounts.sh [--dry-run]",
        "",
    ]
    body = (
        header + settings(spec, profile) + [PRELUDE.strip("\n"), "", "# 1. check; write nothing yet"]
        + checks(spec) + [CHECKS_FAILED.strip("\n"), "", "# 2. create what is missing"]
        + creations(spec, profile) + [DONE.strip("\n")]
    )
    return [Output("qmail-accounts.sh", "\n".join(body) + "\n", 0o755)]
