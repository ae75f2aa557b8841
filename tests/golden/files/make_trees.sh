#!/bin/sh
# Rebuilds the input trees of the files-backend goldens from tests/fixtures,
# as installed systems have them (run as root; test_files_trees.py checks
# that the committed trees are what this makes).
#   debian: base-passwd's passwd.master/group.master, Debian 12's login.defs,
#           then the real pwconv and grpconv (shadow-utils) on them, run in a
#           private mount namespace with the tree bind-mounted over /etc.
#   alpine: alpine-baselayout's passwd/group and the shadow its APKBUILD
#           generates (root '*', everyone else '!', last change 0); no
#           gshadow, no login.defs (shadow-utils' built-in defaults).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
fixtures=$here/../../fixtures
out=${1:-$here/trees}
export SOURCE_DATE_EPOCH=1641600000   # day 19000
rm -rf "$out/debian" "$out/alpine"
mkdir -p "$out/debian/etc" "$out/alpine/etc"
cp "$fixtures/debian/passwd.master" "$out/debian/etc/passwd"
cp "$fixtures/debian/group.master" "$out/debian/etc/group"
cp "$here/debian-login.defs" "$out/debian/etc/login.defs"
unshare -m sh -c "mount --make-rprivate / && mount --bind '$out/debian/etc' /etc && pwconv && grpconv"
rm -f "$out/debian/etc/passwd-" "$out/debian/etc/group-" "$out/debian/etc/.pwd.lock"
cp "$fixtures/alpine/passwd" "$fixtures/alpine/group" "$out/alpine/etc/"
awk -F: '{ print $1 ($1 == "root" ? ":*:" : ":!:") ":0:::::" }' "$fixtures/alpine/passwd" > "$out/alpine/etc/shadow"
