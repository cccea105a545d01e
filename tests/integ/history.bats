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

@test "a backup that fails midway (disk full) is undone by rdiff-backup regress" {
	mkdir "$T/small" "$T/s"
	mount -t tmpfs -o size=4m tmpfs "$T/small"
	MOUNTS="$T/small"
	for i in 1 2 3 4 5; do echo "file $i" >"$T/s/f$i"; done
	head -c 1000000 /dev/urandom >"$T/s/a-big"
	cb --current-time 1700000000 backup "$T/s" "$T/small/repo"
	cp -a "$T/s" "$T/state0"
	# Changes early in record order succeed, then a large new file fails.
	echo changed >"$T/s/f1"
	rm "$T/s/f2"
	head -c 6000000 /dev/urandom >"$T/s/f3"
	run cb --current-time 1700000100 backup "$T/s" "$T/small/repo"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"No space left on device"* ]]
	[[ "$output" == *"capback regress"* ]]
	[ "$(ls "$T/small/repo/rdiff-backup-data" | grep -c '^current_mirror')" -eq 2 ]
	# A restore refuses an unfinished session...
	run cb restore "$T/small/repo" "$T/out"
	[ "$status" -eq 1 ]
	[[ "$output" == *"unfinished"* ]]
	# ...and the increments written first let both tools undo it.
	cp -a "$T/small/repo" "$T/copy"
	run rdiff-backup regress "$T/copy"
	echo "$output"
	[ "$status" -eq 0 ] || [ "$status" -eq 2 ] # 2: "warnings" bit
	run cb regress "$T/small/repo"
	echo "$output"
	[ "$status" -eq 2 ] # rdiff-backup's warning bit: a session was undone
	for r in "$T/small/repo" "$T/copy"; do
		[ "$(ls "$r/rdiff-backup-data" | grep -c '^current_mirror')" -eq 1 ]
		rm -rf "$T/out"
		run cb restore "$r" "$T/out"
		[ "$status" -eq 0 ]
		assert_same_tree "$T/state0" "$T/out"
	done
	run rdiff-backup verify "$T/small/repo"
	[ "$status" -eq 0 ]
	# Both regressed repositories hold the same files and metadata.
	diff <(cd "$T/small/repo" && find . -path ./rdiff-backup-data -prune -o -print | sort) \
	    <(cd "$T/copy" && find . -path ./rdiff-backup-data -prune -o -print | sort)
	diff <(zcat "$T"/small/repo/rdiff-backup-data/mirror_metadata.*.snapshot.gz) \
	    <(zcat "$T"/copy/rdiff-backup-data/mirror_metadata.*.snapshot.gz)
}

# The repository's files and their sizes (mirror and data), without the
# tools' logs and without directories (rdiff-backup's regress leaves
# emptied increment directories behind).
repo_files() {
	(cd "$1" && find . -name '*.log' -prune -o -type f -printf '%p %s\n' \
	    -o ! -type d -printf '%p\n' | LC_ALL=C sort)
}

@test "SIGKILL at random points of a backup: regress (or the next backup) recovers exactly" {
	rm -rf "$T/src" && mkdir "$T/src"
	for d in 1 2 3 4 5 6 7 8; do
		mkdir "$T/src/d$d"
		for f in $(seq 1 150); do echo "$d $f" >"$T/src/d$d/f$f"; done
	done
	python3 -c "import random,sys; r=random.Random(5); sys.stdout.buffer.write(r.randbytes(4194304))" >"$T/src/d5/big"
	# Two sessions before the one killed: rdiff-backup takes a
	# repository whose increments/ is still empty for a new one and
	# would not regress it (a window its own second session has too).
	echo earlier >"$T/src/d1/earlier"
	cb --current-time 1699999900 backup "$T/src" "$T/base"
	rm "$T/src/d1/earlier"
	cb --current-time 1700000000 backup "$T/src" "$T/base"
	cp -a "$T/src" "$T/state0"
	# The change: edits, deletions, new files, a new directory.
	for d in 2 4 6; do
		for f in $(seq 1 150 | shuf --random-source=<(yes)); do echo changed >>"$T/src/d$d/f$f"; done
	done
	rm -rf "$T/src/d7" "$T/src/d3/f1"*
	mkdir "$T/src/d9" && echo new >"$T/src/d9/n"
	printf 'X' | dd of="$T/src/d5/big" bs=1 seek=2000000 conv=notrunc status=none
	touch -d '2024-01-01' "$T/src/d5/big"
	cp -a "$T/src" "$T/state1"
	seed=${CAPBACK_SEED:-$RANDOM}
	echo "seed $seed"
	RANDOM=$seed
	# Kill points spread over the whole session: time one whole run.
	cp -a "$T/base" "$T/timed"
	t0=$(date +%s%N)
	cb --current-time 1700000100 backup "$T/src" "$T/timed"
	dur=$((($(date +%s%N) - t0) / 1000000))
	rm -rf "$T/timed"
	echo "a whole session takes $dur ms"
	for i in $(seq 1 "${CAPBACK_TEST_KILLS:-12}"); do
		rm -rf "$T/repo" "$T/out"
		cp -a "$T/base" "$T/repo"
		setsid "$CAPBACK_BUILD/capback" --current-time 1700000100 backup \
		    "$T/src" "$T/repo" >/dev/null 2>&1 &
		pid=$!
		sleep "$(awk -v r=$RANDOM -v d="$dur" 'BEGIN { printf "%.3f", (r % (d + 50)) / 1000 }')"
		kill -KILL -- "-$pid" 2>/dev/null || true
		wait "$pid" || true
		markers=$(ls "$T/repo/rdiff-backup-data" | grep -c '^current_mirror')
		if [ "$markers" -eq 2 ]; then
			rm -rf "$T/rcopy" "$T/rout"
			cp -a "$T/repo" "$T/rcopy"
			run cb regress "$T/repo"
			echo "$output"
			[ "$status" -eq 2 ]
			want=state0
			regressed=$((${regressed:-0} + 1))
			# rdiff-backup's regress of the same copy: the same
			# repository as before the session, and it goes on.
			# (It takes a zombie for a running backup: wait until
			# the killed writer is reaped.)
			wpid=$(sed -n 's/^PID //p' "$T/rcopy"/rdiff-backup-data/current_mirror.2023-11-14T22:15:00Z.data)
			for _ in $(seq 1 200); do
				[ -e "/proc/$wpid" ] || break
				sleep 0.05
			done
			run rdiff-backup regress "$T/rcopy"
			echo "$output"
			[ "$status" -eq 0 ] || [ "$status" -eq 2 ]
			diff <(repo_files "$T/base") <(repo_files "$T/rcopy")
			diff <(repo_files "$T/base") <(repo_files "$T/repo")
			run cb restore "$T/rcopy" "$T/rout"
			[ "$status" -eq 0 ]
			assert_same_tree "$T/state0" "$T/rout"
			run rdiff-backup --current-time 1700000200 backup "$T/src" "$T/rcopy"
			[ "$status" -eq 0 ]
		elif ls "$T/repo/rdiff-backup-data" | grep -q 'current_mirror.2023-11-14T22:15:00Z'; then
			want=state1
		else
			want=state0
		fi
		run cb restore "$T/repo" "$T/out"
		echo "$output"
		[ "$status" -eq 0 ]
		assert_same_tree "$T/$want" "$T/out"
		# And the next backup completes on top of it.
		run cb --current-time 1700000200 backup "$T/src" "$T/repo"
		[ "$status" -eq 0 ]
		run rdiff-backup verify "$T/repo"
		[ "$status" -eq 0 ]
	done
	echo "regressed after ${regressed:-0} of ${CAPBACK_TEST_KILLS:-12} kills"
}

@test "stopped while the old snapshot became a diff: both tools regress it" {
	session 0
	cp -a "$T/repo" "$T/before"
	change_tree 1
	run cb --current-time 1700000100 backup "$T/src" "$T/repo"
	[ "$status" -eq 0 ]
	d="$T/repo/rdiff-backup-data"
	# Put back what was there before the last steps of the session: the
	# old snapshot and marker, next to a diff cut short.
	cp "$T/before/rdiff-backup-data"/mirror_metadata.2023-11-14T22:13:20Z.snapshot* "$d/"
	cp "$T/before/rdiff-backup-data"/current_mirror.* "$d/"
	f=$(ls "$d"/mirror_metadata.2023-11-14T22:13:20Z.diff*)
	head -c 200 "$f" >"$f.cut" && mv "$f.cut" "$f"
	cp -a "$T/repo" "$T/rcopy"
	run cb regress "$T/repo"
	echo "$output"
	[ "$status" -eq 2 ]
	run rdiff-backup regress "$T/rcopy"
	[ "$status" -eq 0 ] || [ "$status" -eq 2 ]
	for r in "$T/repo" "$T/rcopy"; do
		[ -z "$(ls "$r/rdiff-backup-data" | grep 'mirror_metadata.2023-11-14T22:13:20Z.diff')" ]
		run cb restore "$r" "$T/out"
		[ "$status" -eq 0 ]
		assert_same_tree "$T/state0" "$T/out"
		rm -rf "$T/out"
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
