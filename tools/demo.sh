#!/bin/sh
# A real backup and restore of a small sample tree, checked with diff.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cb="$top/build/capback"
work=$(mktemp -d /tmp/capback-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
src="$work/src"
mkdir -p "$src/etc/app" "$src/home/alice"
printf 'port = 8080\n' >"$src/etc/app/app.conf"
head -c 3000000 /dev/urandom >"$src/home/alice/photo.raw"
printf 'secret\n' >"$src/home/alice/notes.txt"
chmod 0600 "$src/home/alice/notes.txt"
ln -s ../../etc/app/app.conf "$src/home/alice/conf-link"
ln "$src/home/alice/notes.txt" "$src/home/alice/notes-hardlink"
setfattr -n user.origin -v demo "$src/etc/app/app.conf" 2>/dev/null || true
setfacl -m u:nobody:r "$src/etc/app/app.conf" 2>/dev/null || true
echo "== capback backup $src $work/repo"
"$cb" backup "$src" "$work/repo"
echo "== second backup (nothing changed, nothing rewritten)"
"$cb" --current-time $(( $(date +%s) + 60 )) backup "$src" "$work/repo"
grep -E '^(SourceFiles|NewFiles|ChangedFiles) ' \
    "$work"/repo/rdiff-backup-data/session_statistics.*.data | tail -3
echo "== capback restore $work/repo $work/restored"
"$cb" restore "$work/repo" "$work/restored"
diff -r --no-dereference "$src" "$work/restored"
echo "== restored tree equals the source; rdiff-backup verifies the repository:"
if command -v rdiff-backup >/dev/null; then
	rdiff-backup verify "$work/repo"
fi
echo "demo: OK"
