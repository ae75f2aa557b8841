#!/bin/sh
# Prepare this host for a qmail build: show the plan, apply it, then read
# the numeric IDs that qmail (1.03, netqmail) compiles in.
#
#   sh bootstrap.sh                 # the built-in qmail layout on /
#   QMAILSETUP_SPEC=install-ids sh bootstrap.sh  # a shipped spec, or a file
#   QMAIL_SRC=$HOME/src/netqmail-1.06 sh bootstrap.sh   # also write conf-*
#
# Settings (environment):
#   QMAILSETUP           the command (default: qmailsetup)
#   QMAILSETUP_ROOT      work on this root instead of / (an image, a chroot)
#   QMAILSETUP_SPEC      a spec file or a shipped spec's name (default: the
#                        built-in qmail layout)
#   QMAILSETUP_PLATFORM  a platform profile (default: auto)
#   QMAIL_SRC            a qmail source tree: write conf-users, conf-groups,
#                        conf-qmail there, to match the accounts
#
# Exit status: qmailsetup's own (2 bad input, 3 refused: nothing written,
# 1 failed, 5 the accounts are made but check finds errors, such as a
# nosuid /var), so a provisioning run stops where the problem is.
set -eu

# left unquoted where used, so that QMAILSETUP may be "python3 -m qmailsetup"
qmailsetup=${QMAILSETUP:-qmailsetup}
set -- --root "${QMAILSETUP_ROOT:-/}" --platform "${QMAILSETUP_PLATFORM:-auto}"
if [ -n "${QMAILSETUP_SPEC:-}" ]; then
	set -- "$@" --spec "$QMAILSETUP_SPEC"
fi

# 1. The plan, field by field; writes nothing. 0: in sync, 4: changes to
# make, 3: a conflict (an ID held by another account, drift): stop here.
echo "== plan"
status=0
$qmailsetup apply --dry-run --detailed-exitcode "$@" || status=$?
case $status in
0) echo "== in sync: nothing to apply" ;;
4)
	echo "== apply"
	$qmailsetup apply "$@"
	;;
*) exit "$status" ;;
esac

# 2. The IDs, as the host's files have them now. Not eval "$(...)": that
# would go on with no IDs when env fails (exit 3: accounts missing).
vars=$($qmailsetup env "$@") || exit
eval "$vars"

echo "== qmail will be built with"
value=
for name in $(printf '%s\n' "$vars" | sed 's/=.*//'); do
	eval "value=\$$name"
	printf '  %-20s %s\n' "$name" "$value"
done

# 3. Optionally, the conf files of a qmail source tree, to match.
if [ -n "${QMAIL_SRC:-}" ]; then
	if [ -n "${QMAILSETUP_SPEC:-}" ]; then
		$qmailsetup export --format qmail-conf --output "$QMAIL_SRC" --spec "$QMAILSETUP_SPEC"
	else
		$qmailsetup export --format qmail-conf --output "$QMAIL_SRC"
	fi
	echo "== next: cd $QMAIL_SRC && make setup check"
fi
