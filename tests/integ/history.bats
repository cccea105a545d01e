#!/usr/bin/env bats
# Reverse increments: every earlier session of a capback repository
# restores exactly, with rdiff-backup as the oracle.

load ../lib/helpers
load ../lib/history

@test "four sessions: rdiff-backup restores every one exactly" {
	session 0
	for n in 1 2 3; do
		change_tree $n
		session $n
	done
	for n in 0 1 2 3; do
		t=$((1700000000 + 100 * n))
		run rdiff-backup restore --at "$t" "$T/repo" "$T/out$n"
		echo "$output"
		[ "$status" -eq 0 ]
		assert_same_tree "$T/state$n" "$T/out$n"
		run rdiff-backup verify --at "$t" "$T/repo"
		[ "$status" -eq 0 ]
	done
	# A time between sessions rounds down; one before all gives the first.
	run rdiff-backup restore --at 1700000150 "$T/repo" "$T/between"
	[ "$status" -eq 0 ]
	assert_same_tree "$T/state1" "$T/between"
	run rdiff-backup list increments "$T/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"Found 3 increments"* ]]
	# capback restores every session itself, by each kind of time spec.
	for n in 0 1 2 3; do
		run cb restore --at $((1700000000 + 100 * n)) "$T/repo" "$T/cb$n"
		echo "$output"
		[ "$status" -eq 0 ]
		assert_same_tree "$T/state$n" "$T/cb$n"
	done
	run cb restore --at 2B "$T/repo" "$T/cb2B"
	[ "$status" -eq 0 ]
	assert_same_tree "$T/state1" "$T/cb2B"
	run cb restore --at 2023-11-14T22:15:50Z "$T/repo" "$T/cbts"
	[ "$status" -eq 0 ]
	assert_same_tree "$T/state1" "$T/cbts"
	run cb restore --at 2000-01-01 "$T/repo" "$T/cbold"
	[ "$status" -eq 0 ]
	assert_same_tree "$T/state0" "$T/cbold"
	run cb --current-time 1700000400 restore --at 5m "$T/repo" "$T/cbint"
	[ "$status" -eq 0 ]
	assert_same_tree "$T/state1" "$T/cbint"
	run cb restore --at yesterdayish "$T/repo" "$T/bad"
	[ "$status" -eq 1 ]
	[[ "$output" == *"bad time string"* ]]
	# list and verify agree with rdiff-backup, session by session.
	diff <(TZ=UTC rdiff-backup list increments "$T/repo") \
	    <(TZ=UTC cb list increments "$T/repo")
	for n in 0 1 2 3; do
		t=$((1700000000 + 100 * n))
		diff <(rdiff-backup list files --at "$t" "$T/repo" | LC_ALL=C sort) \
		    <(cb list files --at "$t" "$T/repo" | unescape_names | python3 -c \
			"import sys; sys.stdout.write(sys.stdin.buffer.read().decode('utf-8', 'replace'))" |
			LC_ALL=C sort)
		run cb verify --at "$t" "$T/repo"
		echo "$output"
		[ "$status" -eq 0 ]
		[[ "$output" == *"verified successfully"* ]]
	done
	# list files --changed-since agrees too (new, deleted, changed)
	for since in 1700000000 1700000150 1700000300 2B; do
		diff <(rdiff-backup list files --changed-since "$since" "$T/repo") \
		    <(cb list files --changed-since "$since" "$T/repo" | unescape_names)
	done
	[ "$(cb list files --changed-since 1700000000 "$T/repo" | grep -c '^deleted ')" -gt 0 ]
	diff <(rdiff-backup list files --changed-since 1700000000 "$T/repo/dir") \
	    <(cb list files --changed-since 1700000000 "$T/repo/dir" | unescape_names)
	[ "$(ls "$T/repo/rdiff-backup-data" | grep -c '^current_mirror')" -eq 1 ]
}

@test "a small edit in a large file costs a small increment" {
	session 0
	change_tree 1
	session 1
	inc=$(ls "$T"/repo/rdiff-backup-data/increments/big.*.diff.gz)
	[ "$(stat -c %s "$inc")" -lt 65536 ]
	[ "$(stat_value "$T/repo" IncrementFiles)" -gt 5 ]
}

@test "rdiff-backup continues a repository with capback history, and capback after it" {
	session 0
	change_tree 1
	session 1
	change_tree 2
	run rdiff-backup --current-time 1700000200 backup "$T/src" "$T/repo"
	[ "$status" -eq 0 ]
	cp -a "$T/src" "$T/state2"
	change_tree 3
	session 3
	# rdiff-backup's newer API (its lock file, its own layout) next
	echo api201 >"$T/src/api201"
	run rdiff-backup --api-version 201 --current-time 1700000400 backup "$T/src" "$T/repo"
	[ "$status" -eq 0 ]
	cp -a "$T/src" "$T/state4"
	echo after >"$T/src/after"
	session 5
	for n in 0 1 2 3 4 5; do
		run rdiff-backup restore --at $((1700000000 + 100 * n)) "$T/repo" "$T/out$n"
		[ "$status" -eq 0 ]
		assert_same_tree "$T/state$n" "$T/out$n"
		run cb restore --at $((1700000000 + 100 * n)) "$T/repo" "$T/cbout$n"
		[ "$status" -eq 0 ]
		assert_same_tree "$T/state$n" "$T/cbout$n"
	done
}

@test "twelve sessions: metadata diff chain with a snapshot every ninth, all restorable" {
	rm -rf "$T/src" && mkdir "$T/src"
	for n in $(seq 1 12); do
		if [ $((n % 4)) -ne 0 ]; then # every fourth session: no change
			echo "session $n" >"$T/src/f$n"
			echo "$n" >>"$T/src/log"
			touch -d "2023-01-01 00:00:$n" "$T/src/log"
		fi
		touch -d '2022-01-01' "$T/src"
		session "$n"
	done
	d="$T/repo/rdiff-backup-data"
	ls "$d" | grep mirror_metadata
	# rdiff-backup's rule: 1..8 diffs, 9 snapshot, 10..11 diffs, 12 snapshot.
	for n in 1 2 3 4 5 6 7 8 10 11; do
		ls "$d" | grep -q "^mirror_metadata\.$(TZ=UTC date -d @$((1700000000 + 100 * n)) +%Y-%m-%dT%H:%M:%SZ)\.diff"
	done
	for n in 9 12; do
		ls "$d" | grep -q "^mirror_metadata\.$(TZ=UTC date -d @$((1700000000 + 100 * n)) +%Y-%m-%dT%H:%M:%SZ)\.snapshot"
	done
	for n in $(seq 1 12); do
		run rdiff-backup restore --at $((1700000000 + 100 * n)) "$T/repo" "$T/out$n"
		[ "$status" -eq 0 ]
		assert_same_tree "$T/state$n" "$T/out$n"
	done
}

@test "capback restores every session of a repository rdiff-backup wrote" {
	for n in 0 1 2 3; do
		[ "$n" -gt 0 ] && change_tree "$n"
		run rdiff-backup --current-time $((1700000000 + 100 * n)) backup "$T/src" "$T/repo"
		[ "$status" -eq 0 ]
		cp -a "$T/src" "$T/state$n"
	done
	for n in 0 1 2 3; do
		run cb restore --at $((1700000000 + 100 * n)) "$T/repo" "$T/cb$n"
		echo "$output"
		[ "$status" -eq 0 ]
		assert_same_tree "$T/state$n" "$T/cb$n"
	done
}

@test "verify finds a damaged mirror file in the newest and in older sessions" {
	session 0
	change_tree 1
	session 1
	# Same size and mtime, different bytes: only a content check sees it.
	f="$T/repo/random1m"
	m=$(stat -c %Y "$f")
	printf 'Z' | dd of="$f" bs=1 seek=1000 conv=notrunc status=none
	touch -d "@$m" "$f"
	run cb verify "$T/repo"
	echo "$output"
	[ "$status" -eq 2 ]
	[[ "$output" == *"'random1m' does not match"* ]]
	run cb verify --at 1700000000 "$T/repo"
	[ "$status" -eq 2 ]
	run rdiff-backup verify "$T/repo"
	[ "$status" -ne 0 ]
}
