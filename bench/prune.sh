#!/bin/sh
# Cost of "remove increments": a repository of N files and S sessions that
# each change 1% of the files; time removing the oldest session with
# capback and with rdiff-backup (on a copy).   bench/prune.sh [N] [S]
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cb="$top/build/capback"
work=${BENCH_DIR:-/tmp/capback-bench}
n=${1:-20000}
s=${2:-10}
mkdir -p "$work"
src="$work/prune-src-$n"
repo="$work/prune-repo-$n"
rm -rf "$src" "$repo" "$repo.rdiff"
python3 "$top/bench/mktree.py" "$src" "$n"
t=1700000000
"$cb" --current-time $t backup "$src" "$repo"
i=1
while [ $i -lt "$s" ]; do
	find "$src" -type f | awk -v i=$i 'NR % 100 == i' |
	    while read -r f; do echo "session $i" >>"$f"; done
	t=$((t + 100))
	"$cb" --current-time $t backup "$src" "$repo"
	i=$((i + 1))
done
cp -a "$repo" "$repo.rdiff"
echo "$n files, $s sessions; increments: $(find "$repo/rdiff-backup-data/increments" | wc -l) entries"
sync
printf 'capback remove oldest session:      '
/usr/bin/time -f '%e s, %M KiB' "$cb" remove increments --older-than 1700000050 "$repo"
printf 'rdiff-backup remove oldest session: '
/usr/bin/time -f '%e s, %M KiB' rdiff-backup remove increments --older-than 1700000050 "$repo.rdiff" >/dev/null
printf 'capback remove all but newest:      '
/usr/bin/time -f '%e s, %M KiB' "$cb" --force remove increments --older-than now "$repo"
printf 'rdiff-backup remove all but newest: '
/usr/bin/time -f '%e s, %M KiB' rdiff-backup --force remove increments --older-than now "$repo.rdiff" >/dev/null
