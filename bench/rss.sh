#!/bin/sh
# Peak RSS and time of capback backup (initial, unchanged) and restore on
# generated trees: bench/rss.sh [N ...]   (default 10000 100000)
# BENCH_DIR: where (default /tmp/capback-bench); BENCH_MAXBYTES: largest
# file (default 8192); BENCH_CAPBACK: the capback binary to measure.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cb=${BENCH_CAPBACK:-$top/build/capback}
work=${BENCH_DIR:-/tmp/capback-bench}
mkdir -p "$work"
peak="$work/peakrss"
cc -O2 -o "$peak" "$top/bench/peakrss.c"
measure() { "$peak" "$@"; }
for n in ${*:-10000 100000}; do
	src="$work/src-$n"
	[ -d "$src" ] || python3 "$top/bench/mktree.py" "$src" "$n" "${BENCH_MAXBYTES:-8192}"
	rm -rf "$work/repo-$n" "$work/out-$n"
	sync
	printf '%7d files, initial backup:   ' "$n"
	measure "$cb" --current-time 1700000000 backup "$src" "$work/repo-$n"
	printf '%7d files, unchanged backup: ' "$n"
	measure "$cb" --current-time 1700000100 backup "$src" "$work/repo-$n"
	# 100 files edited (appended), as in a day of small changes.
	find "$src" -type f -name 'f*7.txt' | head -100 |
	    while read -r f; do echo "edit" >>"$f"; done
	printf '%7d files, 100 changed:      ' "$n"
	measure "$cb" --current-time 1700000200 backup "$src" "$work/repo-$n"
	printf '%7d files, restore newest:   ' "$n"
	measure "$cb" restore "$work/repo-$n" "$work/out-$n"
	rm -rf "$work/out-$n"
	printf '%7d files, restore 1 back:   ' "$n"
	measure "$cb" restore --at 1B "$work/repo-$n" "$work/out-$n"
	printf '%7d files, find floor:       ' "$n"
	measure sh -c "find '$src' -printf '%s %T@ %m %U %G\n' >/dev/null"
	printf '%7d files, cp -a:            ' "$n"
	rm -rf "$work/cp-$n"
	measure cp -a "$src" "$work/cp-$n"
	rm -rf "$work/cp-$n" "$work/out-$n"
done
