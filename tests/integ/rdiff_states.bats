#!/usr/bin/env bats
# What capback reads of the states rdiff-backup leaves (its error log, written
# with --null-separator too) and verify --all's bounds: attacks that found a
# fault in review (issue 22).

load ../lib/helpers

BASE=1700000000

setup() {
	need_root
	command -v rdiff-backup >/dev/null || skip "rdiff-backup not installed"
	setup_scratch
	mkdir "$T/src"
	echo group >"$T/src/a"
	ln "$T/src/a" "$T/src/b"
	chown nobody:nogroup "$T/src/a"
	echo plain >"$T/src/p"
}

teardown() {
	teardown_scratch
}

cbk() { # cbk N [options]: capback session N
	local n=$1
	shift
	run cb --current-time $((BASE + 100 * n)) backup "$@" "$T/src" "$T/repo"
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "an error log rdiff-backup wrote with --null-separator names what its session left out" {
	cbk 1
	rm "$T/src/b"
	ln "$T/src/a" "$T/src/c"
	run rdiff-backup --null-separator --current-time $((BASE + 200)) backup "$T/src" "$T/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	zcat -f "$T"/repo/rdiff-backup-data/error_log.*T22:16:40Z.data* | tr '\0' '\n' | grep -F "UpdateError: 'c'"
	[ ! -e "$T/repo/c" ]
	cbk 3
	[[ "$output" == *"rdiff-backup's session of 2023-11-14T22:16:40Z left out 1 file"* ]]
	[[ "$output" == *"'c': taken again by this session"* ]]
}

@test "with --null-separator a newline in a left-out name neither splits it nor fakes an entry" {
	echo victim >"$T/src/victim"
	cbk 1
	rm "$T/src/b"
	ln "$T/src/a" "$T/src/z"$'\n'"UpdateError: 'victim"
	run rdiff-backup --null-separator --current-time $((BASE + 200)) backup "$T/src" "$T/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	cbk 3
	[[ "$output" != *"capback: 'victim'"* ]]
	[[ "$output" == *"left out 1 file"* ]]
	[[ "$output" == *"'z\\x0aUpdateError: 'victim': taken again by this session"* ]]
}

@test "verify --all over thousands of deleted long names is not quadratic, and names only those last in their directory" {
	local long i
	long=$(printf 'z%.0s' $(seq 1 220))
	for i in $(seq 1 5000); do
		mkdir "$T/src/d$i"
		: >"$T/src/d$i/$long"
	done
	mkdir "$T/src/many" "$T/src/k"
	(cd "$T/src/many" && seq 1 50000 | xargs touch)
	# not last in k/: a later sibling; a long-named directory whose
	# child is last in it
	: >"$T/src/k/${long}a"
	: >"$T/src/k/zzz~"
	mkdir "$T/src/k/y$long"
	: >"$T/src/k/y$long/$long"
	cbk 1
	for i in $(seq 1 5000); do rm "$T/src/d$i/$long"; done
	rm -r "$T/src/k/${long}a" "$T/src/k/y$long"
	cbk 2
	run timeout 30 "$CAPBACK_BUILD/capback" verify --all "$T/repo"
	echo "$output" | tail -5
	[ "$status" -eq 0 ]
	[[ "$output" == *"'d1/$long' as of 2023-11-14T22:15:00Z: a deleted name over 205 bytes that sorts last"* ]]
	[[ "$output" != *"'k/${long}a' as of"* ]]
	[[ "$output" == *"5001 file versions restore right only with capback"* ]]
}
