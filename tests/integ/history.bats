#!/usr/bin/env bats
# Reverse increments: every earlier session of a capback repository
# restores exactly, with rdiff-backup as the oracle.

load ../lib/helpers

setup() {
	need_root
	command -v rdiff-backup >/dev/null || skip "rdiff-backup not installed"
	setup_scratch
	sh "$LIB/fixture.sh" "$T/src"
	python3 -c "import random,sys; r=random.Random(3); sys.stdout.buffer.write(r.randbytes(int(sys.argv[1])))" "${CAPBACK_TEST_BIG:-8388608}" >"$T/src/big"
	touch -d '2022-03-04 05:06:07' "$T/src/big" "$T/src"
}

teardown() {
	teardown_scratch
}

# session N: back up at 1700000000 + 100*N and keep a copy of the source.
session() {
	run cb --current-time $((1700000000 + 100 * $1)) backup "$T/src" "$T/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	cp -a "$T/src" "$T/state$1"
}

change_tree() {
	s="$T/src"
	case $1 in
	1)
		echo more >>"$s/plain"
		printf 'XYZ' | dd of="$s/big" bs=1 seek=1500000 conv=notrunc status=none
		rm "$s/empty"
		rm -rf "$s/dir/sub"
		mkdir -p "$s/new/deep" && echo n >"$s/new/deep/n"
		chmod 0640 "$s/setgid"
		ln -sfn dir "$s/symlink"
		;;
	2)
		rm "$s/text3m" && mkdir "$s/text3m" && echo inside >"$s/text3m/f"
		rm -rf "$s/trap/a" && echo f >"$s/trap/a"
		ln "$s/plain" "$s/plain-link"
		setfattr -n user.text -v changed "$s/xattrs"
		chown nobody "$s/unknown_owner"
		rm "$s/chardev" && mkfifo "$s/chardev"
		;;
	3)
		rm -rf "$s/new"
		echo back >"$s/empty"
		rm "$s/plain-link"
		printf 'ABC' | dd of="$s/big" bs=1 seek=100 conv=notrunc status=none
		;;
	esac
	# Same size, same second as the last backup would look unchanged
	# (as in rdiff-backup): give modified files their own times.
	touch -d "2023-0$1-02" "$s/big" "$s/xattrs"
	touch -d "2023-0$1-01" "$s"
}

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
		    <(cb list files --at "$t" "$T/repo" | python3 -c \
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
		    <(cb list files --changed-since "$since" "$T/repo")
	done
	[ "$(cb list files --changed-since 1700000000 "$T/repo" | grep -c '^deleted ')" -gt 0 ]
	diff <(rdiff-backup list files --changed-since 1700000000 "$T/repo/dir") \
	    <(cb list files --changed-since 1700000000 "$T/repo/dir")
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
