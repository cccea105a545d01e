#!/bin/sh
# Build the Debian packages from this tree and check them with lintian:
#   tools/packages.sh [OUTDIR]      (default ./packages)
# The build runs in a copy of the tracked files, so the tree stays clean.
# Fails on any lintian error or warning that debian/*.lintian-overrides
# does not explain.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top/packages}
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d /tmp/capback-pkg.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir "$work/capback"
(cd "$top" && git ls-files -z --cached --others --exclude-standard |
    xargs -0 cp --parents -t "$work/capback")
(cd "$work/capback" && dpkg-buildpackage -b -us -uc >"$work/build.log" 2>&1) || {
	tail -40 "$work/build.log"
	echo "packages.sh: dpkg-buildpackage failed" >&2
	exit 1
}
# (lintian's "running with root privileges is not recommended" only
# says that it runs as root here: it reads the packages, nothing more)
lrc=0
lintian --fail-on error,warning --pedantic "$work"/capback_*.changes \
    >"$work/lintian.log" 2>&1 || lrc=$?
grep -v 'running with root privileges is not recommended' "$work/lintian.log" || true
[ "$lrc" -eq 0 ] || { echo "packages.sh: lintian found problems (above)" >&2; exit 1; }
mv "$work"/*.deb "$out/"
ls "$out"/*.deb
