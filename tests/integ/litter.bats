#!/usr/bin/env bats
# What an interrupted session leaves in rdiff-backup-data, and what the
# other tool then sees (issue 22): the root marker of a session killed
# under another time zone, the temporaries of a killed capback session,
# and the directories a removal empties in long_filename_data.

load ../lib/helpers

BASE=1700000000

setup() {
	need_root
	command -v rdiff-backup >/dev/null || skip "rdiff-backup not installed"
	setup_scratch
	mkdir -p "$T/src/d"
}

teardown() {
	teardown_scratch
}

# Root markers increments.<T>.dir of REPO, one epoch a line (duplicates
# kept): rdiff-backup's and capback's spellings of one time are one line.
root_marker_epochs() {
	python3 - "$1/rdiff-backup-data" <<'EOF'
import os, sys
from datetime import datetime
for n in sorted(os.listdir(sys.argv[1])):
    p = n.split('.')
    if len(p) == 3 and p[0] == 'increments' and p[2] == 'dir':
        print(int(datetime.fromisoformat(p[1].replace('Z', '+00:00')).timestamp()))
EOF
}

# The files and directories below rdiff-backup-data's increment trees.
inc_trees() {
	(cd "$1/rdiff-backup-data" && find increments long_filename_data \
	    increments.* 2>/dev/null | sort)
}

# rdiff-backup's restore of every session of REPO equals state<N>.
restore_all_rdiff() {
	local repo=$1 n
	shift
	for n in "$@"; do
		rm -rf "$T/rb"
		run rdiff-backup restore --at $((BASE + 100 * n)) "$repo" "$T/rb"
		echo "$output"
		[ "$status" -eq 0 ]
		assert_same_tree "$T/state$n" "$T/rb"
	done
}

restore_all_cb() {
	local repo=$1 n
	shift
	for n in "$@"; do
		rm -rf "$T/cbr"
		run cb restore --at $((BASE + 100 * n)) "$repo" "$T/cbr"
		echo "$output"
		[ "$status" -eq 0 ]
		assert_same_tree "$T/state$n" "$T/cbr"
	done
}

snap() {
	rm -rf "$T/state$1"
	cp -a "$T/src" "$T/state$1"
}

@test "an rdiff-backup session killed under another zone: capback regress leaves no root marker of it" {
	for i in $(seq 1 1500); do echo "file $i" >"$T/src/d/f$i"; done
	cb --current-time $BASE backup "$T/src" "$T/repo"
	snap 0
	for i in $(seq 1 1500); do echo "more $i" >>"$T/src/d/f$i"; done
	# Killed once it has written its root marker, in its own zone
	# (increments.<session 0 as +01:00>.dir)
	setsid env TZ=Europe/Berlin rdiff-backup --current-time $((BASE + 100)) backup "$T/src" "$T/repo" >/dev/null 2>&1 &
	pid=$!
	for _ in $(seq 1 3000); do
		ls "$T/repo/rdiff-backup-data" | grep -q '^increments\..*+0[12]:00\.dir$' && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.005
	done
	kill -KILL -- "-$pid" 2>/dev/null || true
	wait "$pid" || true
	ls "$T/repo/rdiff-backup-data"
	[ "$(ls "$T/repo/rdiff-backup-data" | grep -c '^current_mirror')" -eq 2 ]
	ls "$T/repo/rdiff-backup-data" | grep -q '^increments\..*+0[12]:00\.dir$'
	run cb --force regress "$T/repo"
	echo "$output"
	[ "$status" -eq 2 ]
	# no root marker of the session it went back to, in any spelling
	[ -z "$(root_marker_epochs "$T/repo")" ]
	restore_all_cb "$T/repo" 0
	echo "next $RANDOM" >>"$T/src/d/f7"
	cb --current-time $((BASE + 200)) backup "$T/src" "$T/repo"
	snap 2
	[ "$(root_marker_epochs "$T/repo")" = "$BASE" ]
	restore_all_rdiff "$T/repo" 0 2
	run rdiff-backup verify --at $BASE "$T/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	echo "again" >>"$T/src/d/f9"
	run env TZ=Europe/Berlin rdiff-backup --current-time $((BASE + 300)) backup "$T/src" "$T/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	snap 3
	restore_all_rdiff "$T/repo" 0 2 3
	restore_all_cb "$T/repo" 0 2 3
}

@test "two root markers of one time (an older capback's regress): the next backup keeps one" {
	for i in $(seq 1 20); do echo "file $i" >"$T/src/d/f$i"; done
	cb --current-time $BASE backup "$T/src" "$T/repo"
	snap 0
	echo one >>"$T/src/d/f1"
	cb --current-time $((BASE + 100)) backup "$T/src" "$T/repo"
	snap 1
	# what capback before this left: the root marker of session 0 once
	# more, as rdiff-backup spells it under Europe/Berlin
	spelled=$(TZ=Europe/Berlin date -d @$BASE +%Y-%m-%dT%H:%M:%S%:z)
	: >"$T/repo/rdiff-backup-data/increments.$spelled.dir"
	[ "$(root_marker_epochs "$T/repo" | sort | uniq -d)" = "$BASE" ]
	echo two >>"$T/src/d/f2"
	cb --current-time $((BASE + 200)) backup "$T/src" "$T/repo"
	snap 2
	root_marker_epochs "$T/repo"
	[ "$(root_marker_epochs "$T/repo" | tr '\n' ' ')" = "$BASE $((BASE + 100)) " ]
	restore_all_rdiff "$T/repo" 0 1 2
	for n in 0 1; do
		run rdiff-backup verify --at $((BASE + 100 * n)) "$T/repo"
		echo "$output"
		[ "$status" -eq 0 ]
	done
	echo three >>"$T/src/d/f3"
	run env TZ=Europe/Berlin rdiff-backup --current-time $((BASE + 300)) backup "$T/src" "$T/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	snap 3
	restore_all_cb "$T/repo" 0 1 2 3
}

# A writer that is killed at its first syncfs: the flush that makes the
# pending increments durable, before it gives them their names.
kill_writer_at_flush() {
	mkdir -p "$T/libexec"
	for r in capback-reader capback-restorer; do ln -sf "$CAPBACK_BUILD/$r" "$T/libexec/$r"; done
	cat >"$T/libexec/capback-writer" <<EOS
#!/bin/sh
export ASAN_OPTIONS="\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}detect_leaks=0"
exec strace -f -qq -o /dev/null -e inject=syncfs:signal=KILL:when=1 -- "$CAPBACK_BUILD/capback-writer" "\$@"
EOS
	chmod 0755 "$T/libexec/capback-writer"
}

@test "a capback session killed with increments pending: either regress leaves no temporary" {
	command -v strace >/dev/null || skip "needs strace"
	long=$(printf 'L%.0s' $(seq 1 230))
	mkdir "$T/src/d/$long" "$T/src/d/rdiff-backup.tmp.i3"
	for i in $(seq 1 30); do echo "file $i" >"$T/src/d/f$i"; done
	# a hostile host names its files as the temporaries are named
	t2=$(date -u -d @$((BASE + 200)) +%Y-%m-%dT%H:%M:%SZ)
	t1=$(date -u -d @$((BASE + 100)) +%Y-%m-%dT%H:%M:%SZ)
	hostile=(rdiff-backup.tmp.i1 rdiff-backup.tmp.i2 "rdiff-backup.tmp.i2.$t2.missing"
	    "rdiff-backup.tmp.i5.$t1.missing" rdiff-backup.tmp.i3/rdiff-backup.tmp.i1)
	for h in "${hostile[@]}"; do echo "hostile 0" >"$T/src/d/$h"; done
	echo "long 0" >"$T/src/d/$long/f"
	echo "long 0" >"$T/src/d/F$long"
	cb --current-time $BASE backup "$T/src" "$T/repo"
	snap 0
	for i in $(seq 1 30); do echo "one $i" >>"$T/src/d/f$i"; done
	for h in "${hostile[@]}"; do echo "hostile 1" >>"$T/src/d/$h"; done
	echo "long 1" >>"$T/src/d/$long/f"
	echo "long 1" >>"$T/src/d/F$long"
	cb --current-time $((BASE + 100)) backup "$T/src" "$T/repo"
	snap 1
	inc_trees "$T/repo" >"$T/trees1"
	rdiff-backup list increments "$T/repo" >"$T/list1"
	# session 2 changes everything and is killed at its flush
	for i in $(seq 1 30); do echo "two $i" >>"$T/src/d/f$i"; done
	for h in "${hostile[@]}"; do echo "hostile 2" >>"$T/src/d/$h"; done
	echo "long 2" >>"$T/src/d/$long/f"
	echo "long 2" >>"$T/src/d/F$long"
	kill_writer_at_flush
	run env CAPBACK_LIBEXEC="$T/libexec" "$CAPBACK_BUILD/capback" --current-time $((BASE + 200)) backup "$T/src" "$T/repo"
	echo "$output"
	[ "$status" -ne 0 ]
	[ "$(ls "$T/repo/rdiff-backup-data" | grep -c '^current_mirror')" -eq 2 ]
	# increments were pending under temporary names
	inc_trees "$T/repo" >"$T/killed"
	comm -13 "$T/trees1" "$T/killed"
	[ -n "$(comm -13 "$T/trees1" "$T/killed")" ]
	cp -a "$T/repo" "$T/copy"
	run rdiff-backup regress "$T/copy"
	echo "$output"
	[ "$status" -eq 0 ] || [ "$status" -eq 2 ]
	run cb regress "$T/repo"
	echo "$output"
	[ "$status" -eq 2 ]
	for r in "$T/repo" "$T/copy"; do
		inc_trees "$r" >"$T/after"
		diff "$T/trees1" "$T/after"
		rdiff-backup list increments "$r" >"$T/list"
		diff "$T/list1" "$T/list"
		restore_all_rdiff "$r" 0 1
		restore_all_cb "$r" 0 1
	done
	# and both go on: a capback and an rdiff-backup session each, then
	# the oldest removed by rdiff-backup
	echo "three" >>"$T/src/d/f3"
	echo "hostile 3" >>"$T/src/d/rdiff-backup.tmp.i1"
	for r in "$T/repo" "$T/copy"; do
		run cb --current-time $((BASE + 300)) backup "$T/src" "$r"
		echo "$output"
		[ "$status" -eq 0 ]
	done
	snap 3
	echo "four" >>"$T/src/d/f4"
	echo "hostile 4" >>"$T/src/d/rdiff-backup.tmp.i2.$t2.missing"
	for r in "$T/repo" "$T/copy"; do
		run rdiff-backup --current-time $((BASE + 400)) backup "$T/src" "$r"
		echo "$output"
		[ "$status" -eq 0 ]
	done
	snap 4
	for r in "$T/repo" "$T/copy"; do
		restore_all_rdiff "$r" 0 1 3 4
		restore_all_cb "$r" 0 1 3 4
		run rdiff-backup --force remove increments --older-than $((BASE + 50)) "$r"
		[ "$status" -eq 0 ]
		restore_all_rdiff "$r" 1 3 4
		# nothing below increments is other than an increment or a
		# directory of the source
		run cb verify --all "$r"
		echo "$output"
		[ "$status" -eq 0 ]
		[[ "$output" != *foreign* ]]
	done
}

@test "an old capback's temporaries are cleaned by the next session; same-named source files keep their history" {
	mkdir "$T/src/d/rdiff-backup.tmp.i4"
	for n in rdiff-backup.tmp.i7 rdiff-backup.tmp.i4/rdiff-backup.tmp.i8 f1; do echo "v0" >"$T/src/d/$n"; done
	cb --current-time $BASE backup "$T/src" "$T/repo"
	snap 0
	for n in rdiff-backup.tmp.i7 rdiff-backup.tmp.i4/rdiff-backup.tmp.i8 f1; do echo "v1" >>"$T/src/d/$n"; done
	cb --current-time $((BASE + 100)) backup "$T/src" "$T/repo"
	snap 1
	inc_trees "$T/repo" >"$T/trees1"
	# what a killed capback before this left, and rdiff-backup's regress
	# kept: increments under their temporary names (in a repository
	# that capback has not yet looked through for them)
	rm "$T/repo/rdiff-backup-data/capback-tmpnames"
	inc=$T/repo/rdiff-backup-data/increments/d
	echo litter >"$inc/rdiff-backup.tmp.i12"
	echo litter >"$inc/rdiff-backup.tmp.i4/rdiff-backup.tmp.i3"
	echo litter >"$T/repo/rdiff-backup-data/long_filename_data/rdiff-backup.tmp.i9" 2>/dev/null ||
	    { mkdir "$T/repo/rdiff-backup-data/long_filename_data" && echo litter >"$T/repo/rdiff-backup-data/long_filename_data/rdiff-backup.tmp.i9"; }
	echo "v2" >>"$T/src/d/f1"
	cb --current-time $((BASE + 200)) backup "$T/src" "$T/repo"
	snap 2
	[ ! -e "$inc/rdiff-backup.tmp.i12" ]
	[ ! -e "$inc/rdiff-backup.tmp.i4/rdiff-backup.tmp.i3" ]
	[ ! -e "$T/repo/rdiff-backup-data/long_filename_data/rdiff-backup.tmp.i9" ]
	[ -f "$T/repo/rdiff-backup-data/capback-tmpnames" ]
	ls "$inc"
	ls "$inc/rdiff-backup.tmp.i4"
	ls "$inc" | grep -q '^rdiff-backup\.tmp\.i7\..*\.gz$'
	ls "$inc/rdiff-backup.tmp.i4" | grep -q '^rdiff-backup\.tmp\.i8\..*\.gz$'
	restore_all_rdiff "$T/repo" 0 1 2
	restore_all_cb "$T/repo" 0 1 2
}

@test "remove increments empties long_filename_data as rdiff-backup's removal does" {
	long=$(printf 'd%.0s' $(seq 1 220))
	mkdir -p "$T/src/$long/sub"
	echo a >"$T/src/$long/f"
	echo a >"$T/src/$long/sub/g"
	echo b >"$T/src/$(printf 'f%.0s' $(seq 1 220))"
	cb --current-time $BASE backup "$T/src" "$T/repo"
	echo x >>"$T/src/$long/f"
	echo x >>"$T/src/$long/sub/g"
	cb --current-time $((BASE + 100)) backup "$T/src" "$T/repo"
	echo y >>"$T/src/$long/sub/g"
	rdiff-backup --current-time $((BASE + 200)) backup "$T/src" "$T/repo" >/dev/null
	echo z >>"$T/src/$long/f"
	cb --current-time $((BASE + 300)) backup "$T/src" "$T/repo"
	snap 3
	find "$T/repo/rdiff-backup-data/long_filename_data"
	[ -n "$(find "$T/repo/rdiff-backup-data/long_filename_data" -mindepth 1 -type d)" ]
	cp -a "$T/repo" "$T/copy"
	run rdiff-backup --force remove increments --older-than $((BASE + 250)) "$T/copy"
	[ "$status" -eq 0 ]
	run cb --force remove increments --older-than $((BASE + 250)) "$T/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	diff <(cd "$T/copy/rdiff-backup-data" && find long_filename_data increments | sort) \
	    <(cd "$T/repo/rdiff-backup-data" && find long_filename_data increments | sort)
	restore_all_rdiff "$T/repo" 3
	restore_all_cb "$T/repo" 3
}

@test "rdiff-backup killed while it probes the file system: its probe directory goes with the next capback backup, once no live one can own it" {
	command -v strace >/dev/null || skip "strace not installed"
	echo a >"$T/src/d/a"
	run cb --current-time $BASE backup "$T/src" "$T/repo"
	[ "$status" -eq 0 ]
	# killed at its fifth removal: inside the probe, before its session
	run strace -f -o /dev/null -e inject=unlink,unlinkat:signal=KILL:when=5 \
	    rdiff-backup --current-time $((BASE + 100)) backup "$T/src" "$T/repo"
	probe=$(find "$T/repo/rdiff-backup-data" -maxdepth 1 -name 'rdiff-backup.tmp.*' -type d)
	[ -n "$probe" ]
	ls "$T/repo/rdiff-backup-data" | grep -c '^current_mirror' | grep -qx 1
	# a fresh one may be a live rdiff-backup's: kept
	run cb --current-time $((BASE + 200)) backup "$T/src" "$T/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -d "$probe" ]
	touch -d '-1 hour' "$probe"
	run cb -v5 --current-time $((BASE + 300)) backup "$T/src" "$T/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	[ ! -e "$probe" ]
	[[ "$output" == *"left by an rdiff-backup that was killed while it probed"* ]]
	run rdiff-backup --current-time $((BASE + 400)) backup "$T/src" "$T/repo"
	[ "$status" -eq 0 ]
	[ -z "$(find "$T/repo/rdiff-backup-data" -maxdepth 1 -name 'rdiff-backup.tmp.*')" ]
}
