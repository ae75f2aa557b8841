#!/bin/bash
# `qmailsetup queue` against the real notqmail, built from its repository.
# Run by hand, as root, on Linux (unshare, mount, tmpfs); not part of the
# test suite: it needs notqmail's source and a C compiler, and takes about
# two minutes. What it showed last is in docs/queue.md.
#
#   sudo NOTQMAIL=~/src/notqmail bash tests/real/queue-notqmail.sh > out.txt 2>&1
#
# NOTQMAIL: a clone of github.com/notqmail/notqmail (its HEAD is built);
# PY: the python that runs qmailsetup (default: the checkout's .venv);
# WORK: scratch space, removed and remade (default /tmp/queue-notqmail).
#
# In a private mount namespace (a copy of /etc over /etc, a tmpfs over
# /var; nothing of the machine's own /etc or /var is touched):
#  1. "old host": qmailsetup apply, notqmail's make setup check; messages
#     queued while local and remote delivery defer (info/, local/, remote/
#     entries), then more while qmail-send is down (todo/, intd/ entries);
#  2. the queue copied with tar --numeric-owner onto a NEW tmpfs (new inode
#     numbers, old names): on a throwaway copy, new injections meet "qq
#     trouble"; then its owners shifted by 1000, as a host with other IDs
#     has them;
#  3. qmailsetup queue check, repair --dry-run (writes nothing), repair,
#     check;
#  4. qmail-send started with a Maildir and an SMTP sink (smtp_sink.py)
#     up, 60 new messages: every message delivered exactly once, to its
#     recipient, with its own body; the deferred ones retried as an
#     administrator does (qmail-tcpok, then SIGALRM: qmail-send(9)
#     "reschedule every message in the queue for immediate delivery"), until
#     all are delivered or 180 s have passed; with qmail-send running, queue
#     repair refuses (exit 6) and writes nothing;
#  5. a fresh queue by `qmailsetup queue create`: notqmail's own instcheck
#     (queue-only, and whole) is silent, and the tree is exactly what
#     notqmail's installer (instpackage, instchown queue-only) makes.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
PY=${PY:-$HERE/../../.venv/bin/python}
WORK=${WORK:-/tmp/queue-notqmail}
QS="$PY -m qmailsetup"
SRC=$WORK/notqmail
OUT=$WORK/out
SINK=$HERE/smtp_sink.py
if [ "${1:-}" != inner ]; then
    [ "$(id -u)" = 0 ] || { echo "$0: run as root (mount namespaces)"; exit 2; }
    [ -n "${NOTQMAIL:-}" ] || { echo "$0: set NOTQMAIL to a clone of notqmail"; exit 2; }
    rm -rf "$WORK"; mkdir -p "$OUT" "$SRC"
    cp -a /etc "$WORK/etc"
    git -C "$NOTQMAIL" archive HEAD | tar -x -C "$SRC" || exit 1
    echo "notqmail $(git -C "$NOTQMAIL" rev-parse HEAD), $(head -1 "$SRC/VERSION.md")"
    exec unshare -m bash "$0" inner
fi

mount --make-rprivate / || exit 1
set -e
mount --bind "$WORK/etc" /etc
mount -t tmpfs -o mode=0755 tmpfs /var
set +e
step() { echo; echo "===== $*"; }
Q=/var/qmail/queue
MAILDIR=/var/home/testuser/Maildir
SUNK=$WORK/sink
snap() { find "$Q" -printf '%p %i %U %G %m %s %y %T@\n' | sort; }
inject() {  # inject FIRST LAST TAG: one message each, odd to the remote sink, even to testuser
    for i in $(seq "$1" "$2"); do
        if [ $((i % 2)) = 0 ]; then to=testuser@localhost; else to=someone@remote.example; fi
        printf 'Subject: %s %s\n\nmessage %s\n' "$3" "$i" "$i" | /var/qmail/bin/qmail-inject "$to" 2>&1 || echo "inject $i failed"
    done
}
start_send() {
    env - PATH="/var/qmail/bin:/usr/bin:/bin" /var/qmail/bin/qmail-start ./Maildir/ cat >>"$OUT/qlog" 2>&1 &
    SEND=$!
    sleep 2
}
stop_send() { kill -TERM "$SEND"; wait "$SEND"; echo "qmail-send exit=$?"; sleep 1; }
delivered() { echo $(( $(ls "$MAILDIR/new" | wc -l) + $(ls "$SUNK" | wc -l) )); }
queued() { find $Q/mess $Q/todo -type f | wc -l; }
# every message injected, by its Subject: "TAG N"
WANT_LOCAL=0 WANT_REMOTE=0
want() { for i in $(seq "$1" "$2"); do [ $((i % 2)) = 0 ] && WANT_LOCAL=$((WANT_LOCAL + 1)) || WANT_REMOTE=$((WANT_REMOTE + 1)); done; }

step "old host: qmailsetup apply; notqmail make setup check"
$QS apply >/dev/null; echo "apply rc=$?"
getent passwd qmailq qmailr qmails; getent group qmail
cd "$SRC" || exit 1
make setup check >"$OUT/make.log" 2>&1; echo "make rc=$?"
echo "instcheck warnings: $(grep -c 'instcheck: warning' "$OUT/make.log")"
echo localhost > /var/qmail/control/me
echo localdomain > /var/qmail/control/defaultdomain
printf 'localhost\nlocalhost.localdomain\n' > /var/qmail/control/locals
echo "remote.example:127.0.0.1:2525" > /var/qmail/control/smtproutes
mkdir -p /var/home
useradd -m -d /var/home/testuser -s /bin/sh testuser   # no Maildir yet: local delivery defers

step "old host: 40 messages while local and remote delivery defer (no Maildir, no SMTP server)"
start_send
inject 1 40 deferred; want 1 40
sleep 8
stop_send
grep -c 'deferral' "$OUT/qlog" | sed 's/^/deferrals logged: /'
step "old host: 30 messages while qmail-send is down"
inject 41 70 queued; want 41 70
/var/qmail/bin/qmail-qstat
for d in mess todo intd info local remote bounce pid; do printf '%s:%s ' $d "$(find $Q/$d -type f | wc -l)"; done; echo

step "restore: tar --numeric-owner onto a new tmpfs at $Q"
tar -C $Q --numeric-owner -cf "$WORK/queue.tar" .
mv $Q /var/qmail/queue.old && mkdir $Q && mount -t tmpfs -o mode=0750 tmpfs $Q
tar -C $Q --numeric-owner --warning=no-timestamp -xpf "$WORK/queue.tar"
find $Q/mess -type f -printf 'mess/%P inode %i\n' | head -3

step "before any repair, on a throwaway copy with the owners still right: new injections"
mkdir -p "$WORK/demo" && mount -t tmpfs tmpfs "$WORK/demo"
tar -C "$WORK/demo" --numeric-owner --warning=no-timestamp -xpf "$WORK/queue.tar"
mount --bind "$WORK/demo" $Q
inject 1001 1060 demo > "$OUT/demo.log" 2>&1
echo "pid/ files qmail-queue left: $(ls $Q/pid | wc -l)"
umount $Q; umount "$WORK/demo"
# qmail-queue exits 64 when link() finds the name taken; qmail-inject says "qq trouble creating files in queue"
echo "of 60 injections: $(grep -c 'qq trouble' "$OUT/demo.log") failed:"
sort "$OUT/demo.log" | uniq -c

step "the restored queue's owners shifted by 1000 (the old host's IDs)"
$PY - "$Q" <<'EOF'
import os, sys
seen = set()
for d, ds, fs in os.walk(sys.argv[1]):
    for p in [d] + [os.path.join(d, n) for n in ds + fs]:
        s = os.lstat(p)
        if (s.st_dev, s.st_ino) not in seen:
            seen.add((s.st_dev, s.st_ino)); os.lchown(p, s.st_uid + 1000, s.st_gid + 1000)
EOF
ls -ln $Q | head -5

step "qmailsetup queue check (before)"
$QS queue check; echo "check rc=$?"
step "qmailsetup queue repair --dry-run"
snap > "$OUT/before"
$QS queue repair --dry-run; echo "dry run rc=$?"
snap > "$OUT/after-dry"
cmp -s "$OUT/before" "$OUT/after-dry" && echo "dry run: the queue is unchanged" || echo "DRY RUN WROTE"
step "qmailsetup queue repair"
$QS queue repair; echo "repair rc=$?"
step "qmailsetup queue check (after)"
$QS queue check; echo "check rc=$?"
$QS check 2>&1 | grep queue

step "start qmail-send with a Maildir and the SMTP sink up; 60 new messages (as many as on the throwaway copy)"
su testuser -s /bin/sh -c "/var/qmail/bin/maildirmake $MAILDIR"
mkdir -p "$SUNK"
$PY "$SINK" "$SUNK" 2525 & SINKPID=$!
/var/qmail/bin/qmail-tcpok
start_send
kill -ALRM "$SEND"
inject 2001 2060 new > "$OUT/new.log" 2>&1; want 2001 2060
echo "new injections: $(grep -c . "$OUT/new.log") error lines; qq trouble: $(grep -c 'qq trouble' "$OUT/new.log")"
# the deferred messages wait for their next retry (the mtimes of their
# local/ and remote/ entries, which tar kept): retry them now, as an
# administrator does, until all are delivered or 180 s have passed
waited=0
while [ "$(delivered)" -lt $((WANT_LOCAL + WANT_REMOTE)) ] || [ "$(queued)" != 0 ]; do
    if [ "$waited" -ge 180 ]; then echo "NOT ALL DELIVERED after $waited s"; break; fi
    if [ $((waited % 15)) = 14 ]; then /var/qmail/bin/qmail-tcpok; kill -ALRM "$SEND"; fi
    sleep 1; waited=$((waited + 1))
done
sleep 2   # anything delivered twice would show now
echo "waited ${waited} s"
/var/qmail/bin/qmail-qstat
echo "delivered locally: $(ls "$MAILDIR/new" | wc -l) (want $WANT_LOCAL); to the sink: $(ls "$SUNK" | wc -l) (want $WANT_REMOTE)"
$PY - "$MAILDIR/new" "$SUNK" deferred:1:40 queued:41:70 new:2001:2060 <<'EOF'
"""Each message delivered once, to its recipient (even N to testuser,
odd N to the sink), its body its own ("message N"); argv: the two
places, then each TAG:FIRST:LAST injected."""
import collections, os, re, sys
tags = [arg.split(":") for arg in sys.argv[3:]]
want = [(tag, n) for tag, first, last in tags for n in range(int(first), int(last) + 1)]
got, wrong = collections.Counter(), []
for place, odd in ((sys.argv[1], 0), (sys.argv[2], 1)):
    for name in os.listdir(place):
        text = open(os.path.join(place, name), errors="replace").read()
        subject = re.search(r"^Subject: (\w+) (\d+)$", text, re.M)
        body = re.search(r"^message (\d+)$", text, re.M)
        if not subject or not body or body.group(1) != subject.group(2) or int(subject.group(2)) % 2 != odd:
            wrong.append(f"{place}/{name}")
            continue
        got[(subject.group(1), int(subject.group(2)))] += 1
for tag, _, _ in tags:
    print(f"{tag}: {sum(1 for t, n in want if t == tag and got[(t, n)])} of {sum(1 for t, _ in want if t == tag)} delivered")
missing = [f"{t} {n}" for t, n in want if not got[(t, n)]]
twice = [f"{t} {n}" for (t, n), c in got.items() if c > 1]
print(f"missing: {len(missing)} {missing[:10]}; delivered twice: {len(twice)} {twice[:10]}; "
      f"wrong recipient or body: {len(wrong)} {wrong[:5]}")
EOF
grep -c 'delivery [0-9]*: success' "$OUT/qlog" | sed 's/^/successful deliveries logged: /'
grep -E 'trouble|warning|alert' "$OUT/qlog" | sort | uniq -c | head

step "with qmail-send running: queue repair refuses and writes nothing"
snap > "$OUT/before-lock"
$QS queue repair; echo "repair rc=$?"
$QS queue repair --dry-run; echo "dry run rc=$?"
snap > "$OUT/after-lock"
cmp -s "$OUT/before-lock" "$OUT/after-lock" && echo "the queue is unchanged" || echo "REPAIR WROTE WHILE QMAIL-SEND RAN"
stop_send
kill "$SINKPID"

step "a fresh queue by qmailsetup queue create; notqmail's instcheck"
umount $Q && rm -rf $Q
$QS queue create; echo "create rc=$?"
$QS queue create; echo "create (again) rc=$?"
cd "$SRC"
echo "--- instcheck queue-only:"; ./instcheck queue-only; echo "--- rc=$?"
echo "--- instcheck (whole):"; ./instcheck; echo "--- rc=$?"
find $Q -printf '%P %u %g %m %y %s\n' | sort > "$OUT/ours"
rm -rf $Q && ./instpackage queue-only && ./instchown queue-only; echo "notqmail's own installer (queue-only) rc=$?"
find $Q -printf '%P %u %g %m %y %s\n' | sort > "$OUT/theirs"
diff "$OUT/ours" "$OUT/theirs" && echo "queue create makes exactly what notqmail's installer makes ($(wc -l < "$OUT/ours") paths)"
