#!/usr/bin/env bats
# Names too long for an increment suffix (docs/rdiff-backup-format.md 7.3):
# their increments live in long_filename_data under a number recorded as
# AlternateIncrementName, exactly as rdiff-backup does it.

load ../lib/helpers

setup() {
	need_root
	command -v rdiff-backup >/dev/null || skip "rdiff-backup not installed"
	setup_scratch
	L205=$(printf 'a%.0s' $(seq 1 205))
	L206=$(printf 'b%.0s' $(seq 1 206))
	L250=$(printf 'c%.0s' $(seq 1 250))
	D210=$(printf 'd%.0s' $(seq 1 210))
	mkdir -p "$T/src/$D210"
	echo five >"$T/src/$L205"
	seq 1 3000 >"$T/src/$L206"
	ln -s target "$T/src/$L250"
	echo inner >"$T/src/$D210/f"
	touch -h -d @1690000000 "$T/src"/* "$T/src/$D210/f"
}

teardown() {
	teardown_scratch
}

session() { # session TOOL N
	local t=$((1700000000 + 100 * $2))
	if [ "$1" = cb ]; then
		run cb --current-time "$t" backup "$T/src" "$T/repo"
	else
		run rdiff-backup --current-time "$t" backup "$T/src" "$T/repo"
	fi
	echo "$output"
	[ "$status" -eq 0 ] || [ "$status" -eq 2 ]
	rm -rf "$T/state$2"
	cp -a "$T/src" "$T/state$2"
}

change() {
	echo "more $1" >>"$T/src/$L206"
	echo "more $1" >>"$T/src/$L205"
	echo "in $1" >>"$T/src/$D210/f"
	touch -d @$((1690000000 + $1)) "$T/src/$L206" "$T/src/$L205" "$T/src/$D210/f"
}

# The AlternateIncrementName of each long record, as "path-length N".
alt_names() {
	zcat -f "$1"/rdiff-backup-data/mirror_metadata.*.snapshot* |
	    awk '/^File /{ p = length($0) - 5 } /AlternateIncrementName/{ print p, $2 }'
}

@test "the same numbers as rdiff-backup, and increments in long_filename_data" {
	session cb 0
	rdiff-backup --current-time 1700000000 backup "$T/src" "$T/rrepo"
	diff <(alt_names "$T/rrepo") <(alt_names "$T/repo")
	[ "$(alt_names "$T/repo" | wc -l)" -eq 3 ] # 206, 250 and the 210 dir
	[ "$(cat "$T/repo/rdiff-backup-data/long_filename_data/next_free")" = 4 ]
	change 1
	rm "$T/src/$L250"
	session cb 1
	ls "$T/repo/rdiff-backup-data/long_filename_data"
	ls "$T/repo/rdiff-backup-data/long_filename_data" | grep -q '\.2023-11-14T22:13:20Z\.diff\.gz$'
	ls "$T/repo/rdiff-backup-data/long_filename_data" | grep -q '\.2023-11-14T22:13:20Z\.snapshot$'
	[ -z "$(find "$T/repo/rdiff-backup-data/increments" -name "$L206*")" ]
	# the 205-byte name keeps its increment in the normal place
	[ -n "$(find "$T/repo/rdiff-backup-data/increments" -name "$L205.*")" ]
	for n in 0 1; do
		run rdiff-backup restore --at $((1700000000 + 100 * n)) "$T/repo" "$T/rb$n"
		[ "$status" -eq 0 ]
		assert_same_tree "$T/state$n" "$T/rb$n"
		run cb restore --at $((1700000000 + 100 * n)) "$T/repo" "$T/cb$n"
		[ "$status" -eq 0 ]
		assert_same_tree "$T/state$n" "$T/cb$n"
		run rdiff-backup verify --at $((1700000000 + 100 * n)) "$T/repo"
		[ "$status" -eq 0 ]
	done
}

@test "each tool continues the other's long-name history" {
	session rdiff 0
	change 1
	session cb 1
	change 2
	session rdiff 2
	change 3
	session cb 3
	[ "$(cat "$T/repo/rdiff-backup-data/long_filename_data/next_free")" = 4 ]
	for n in 0 1 2 3; do
		run cb restore --at $((1700000000 + 100 * n)) "$T/repo" "$T/cb$n"
		[ "$status" -eq 0 ]
		assert_same_tree "$T/state$n" "$T/cb$n"
		run rdiff-backup restore --at $((1700000000 + 100 * n)) "$T/repo" "$T/rb$n"
		[ "$status" -eq 0 ]
		assert_same_tree "$T/state$n" "$T/rb$n"
	done
	# pruning takes long_filename_data along
	run cb --force remove increments --older-than 1700000200 "$T/repo"
	[ "$status" -eq 0 ]
	[ -z "$(ls "$T/repo/rdiff-backup-data/long_filename_data" | grep -E '2023-11-14T22:1[35]:')" ]
	run rdiff-backup restore --at 1700000200 "$T/repo" "$T/after"
	[ "$status" -eq 0 ]
	assert_same_tree "$T/state2" "$T/after"
}

@test "a session that failed after long-name increments regresses on both tools" {
	run_failed_session_test
}

run_failed_session_test() {
	mkdir "$T/small"
	mount -t tmpfs -o size=3m tmpfs "$T/small"
	MOUNTS="$T/small"
	run cb --current-time 1700000000 backup "$T/src" "$T/small/repo"
	[ "$status" -eq 0 ]
	cp -a "$T/src" "$T/state0"
	change 1
	# rdiff-backup 2.2.2's own regress does not undo changes below a
	# directory with an AlternateIncrementName (it fails so on its own
	# repositories too), so that file only changes when capback alone
	# regresses it (LONGDIR_TOO=1).
	[ -n "${LONGDIR_TOO:-}" ] || cp -a "$T/state0/$D210/f" "$T/src/$D210/f"
	echo new >"$T/src/$(printf 'e%.0s' $(seq 1 220))"
	head -c 4000000 /dev/urandom >"$T/src/zz_big" # applied last, fills the disk
	run cb --current-time 1700000100 backup "$T/src" "$T/small/repo"
	echo "$output"
	[ "$status" -eq 1 ]
	ls "$T/small/repo/rdiff-backup-data/long_filename_data" | grep -q '2023-11-14T22:13:20Z'
	cp -a "$T/small/repo" "$T/copy"
	if [ -n "${LONGDIR_TOO:-}" ]; then
		rm -rf "$T/copy"
	else
		run rdiff-backup regress "$T/copy"
		[ "$status" -eq 0 ] || [ "$status" -eq 2 ]
	fi
	run cb regress "$T/small/repo"
	[ "$status" -eq 2 ]
	# capback removes the failed session's long-name increments too
	# (rdiff-backup 2.2.2 leaves them: unreferenced, harmless).
	[ -z "$(ls "$T/small/repo/rdiff-backup-data/long_filename_data" | grep '2023-11-14T22:13:20Z')" ]
	for r in "$T/small/repo" "$T/copy"; do
		[ -e "$r" ] || continue
		run cb restore "$r" "$T/out"
		echo "$output"
		[ "$status" -eq 0 ]
		assert_same_tree "$T/state0" "$T/out"
		rm -rf "$T/out"
	done
}

@test "capback regresses changes below a long-named directory" {
	LONGDIR_TOO=1
	run_failed_session_test
}

# rdiff-backup 2.2.2's regress looks for the increments of the children of
# a directory with an AlternateIncrementName in long_filename_data, where
# they are not: it leaves their mirror files as the failed session wrote
# them and the increments named with the good session's time behind.
# This builds that state: a session that ended just before removing the
# previous current_mirror marker (the last step of its write order), then
# rdiff-backup's regress.
rdiff_incomplete_regress() {
	D230=$(printf 'd%.0s' $(seq 1 230))
	mkdir "$T/src/$D230"
	echo "version zero" >"$T/src/$D230/grows"
	echo "same-0" >"$T/src/$D230/same"
	echo "kept" >"$T/src/$D230/kept"
	mkdir "$T/src/$D230/sub"
	echo "x" >"$T/src/$D230/sub/x"
	session rdiff 0
	echo "version one, longer" >"$T/src/$D230/grows"
	echo "same-1" >"$T/src/$D230/same"
	touch -d @1690000100 "$T/src/$D230/grows" "$T/src/$D230/same"
	session rdiff 1
	cp "$T/repo"/rdiff-backup-data/current_mirror.* "$T/"
	echo "version two, longer still" >"$T/src/$D230/grows"
	echo "same-2" >"$T/src/$D230/same"
	touch -d @1690000200 "$T/src/$D230/grows" "$T/src/$D230/same"
	# new paths leave .missing increments, a changed directory a .dir
	echo "new" >"$T/src/$D230/sub/new"
	echo "new2" >"$T/src/$D230/new2"
	session rdiff 2
	cp "$T"/current_mirror.* "$T/repo/rdiff-backup-data/"
	run rdiff-backup --force regress "$T/repo"
	echo "$output"
	[ "$(ls "$T/repo/rdiff-backup-data" | grep -c '^current_mirror')" -eq 1 ]
	# the state: mirror files of session 2, metadata and increments of 1
	[ "$(cat "$T/repo/$D230/grows")" = "version two, longer still" ]
	[ "$(cat "$T/repo/$D230/same")" = "same-2" ]
	[ -n "$(find "$T/repo/rdiff-backup-data/increments" -name 'same.2023-11-14T22:15:00Z.*')" ]
}

@test "a mirror that rdiff-backup's regress left half done: verify names it, regress repairs it" {
	rdiff_incomplete_regress
	# what a restore of the newest session gives is wrong
	run rdiff-backup verify "$T/repo"
	[ "$status" -ne 0 ]
	run cb verify "$T/repo"
	echo "$output"
	[ "$status" -eq 2 ]
	[[ "$output" == *"'$D230/same'"* ]]
	[[ "$output" == *"'$D230/grows'"* ]]
	[[ "$output" == *"restore of the newest session would write wrong data"* ]]
	[[ "$output" == *"capback regress"* ]]
	run cb verify --all "$T/repo"
	echo "$output"
	[ "$status" -eq 2 ]
	[[ "$output" == *"$D230/same"* ]]
	[[ "$output" == *"rdiff-backup restore"* ]]
	[[ "$output" == *"capback regress"* ]]
	cp -a "$T/repo" "$T/before"
	run cb regress "$T/repo"
	echo "$output"
	[ "$status" -eq 2 ]
	[[ "$output" == *"'$D230/same'"* ]]
	[[ "$output" == *"'$D230/grows'"* ]]
	[[ "$output" == *"'$D230/new2': not in the newest session"* ]]
	# the increments that held the data are gone, the others are kept
	[ -z "$(find "$T/repo/rdiff-backup-data/increments" -name '*.2023-11-14T22:15:00Z.*')" ]
	[ -n "$(find "$T/repo/rdiff-backup-data/increments" -name 'same.2023-11-14T22:13:20Z.*')" ]
	run cb verify "$T/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	run cb verify --all "$T/repo"
	[ "$status" -eq 0 ]
	run rdiff-backup verify "$T/repo"
	[ "$status" -eq 0 ]
	for n in 0 1; do
		run cb restore --at $((1700000000 + 100 * n)) "$T/repo" "$T/cb$n"
		[ "$status" -eq 0 ]
		assert_same_tree "$T/state$n" "$T/cb$n"
		run rdiff-backup restore --at $((1700000000 + 100 * n)) "$T/repo" "$T/rb$n"
		[ "$status" -eq 0 ]
		assert_same_tree "$T/state$n" "$T/rb$n"
	done
	# a second regress finds nothing to do
	run cb regress "$T/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"nothing to regress"* ]]
	# and both tools go on from there (rdiff-backup stopped at the
	# increment name taken before)
	cp -a "$T/repo" "$T/rrepo"
	echo "version three" >"$T/src/$D230/same"
	session cb 3
	run rdiff-backup --current-time 1700000300 backup "$T/src" "$T/rrepo"
	[ "$status" -eq 0 ]
	for r in repo rrepo; do
		run rdiff-backup restore --at 1700000100 "$T/$r" "$T/again$r"
		[ "$status" -eq 0 ]
		assert_same_tree "$T/state1" "$T/again$r"
	done
}

@test "regress does not replace a mirror file by a rebuild the metadata does not prove" {
	rdiff_incomplete_regress
	inc=$(find "$T/repo/rdiff-backup-data/increments" -name 'same.2023-11-14T22:15:00Z.*')
	rm "$inc"
	echo "not what was backed up" | gzip >"${inc%%.diff.gz}.snapshot.gz"
	cp -a "$T/repo" "$T/before"
	run cb regress "$T/repo"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"'$D230/same'"* ]]
	# the file it could not prove is as it was, with its increment
	[ "$(cat "$T/repo/$D230/same")" = "same-2" ]
	[ -f "${inc%%.diff.gz}.snapshot.gz" ]
	# the one it could is repaired
	[ "$(cat "$T/repo/$D230/grows")" = "version one, longer" ]
	run cb verify "$T/repo"
	echo "$output"
	[ "$status" -eq 2 ]
	[[ "$output" == *"'$D230/same'"* ]]
	[[ "$output" != *"'$D230/grows'"* ]]
}

@test "a backup never renames its increment over one an unfinished regress left: it stops, regress repairs, the history is kept" {
	rdiff_incomplete_regress
	cp -a "$T/src" "$T/state2"
	echo "same-3" >"$T/src/$D230/same"
	touch -d @1690000300 "$T/src/$D230/same"
	run cb --current-time 1700000300 backup "$T/src" "$T/repo"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"is already there (a regress that did not finish left it)"* ]]
	[[ "$output" == *"capback regress"* ]]
	# the only copy of session 1's 'same' is still there
	[ -n "$(find "$T/repo/rdiff-backup-data/increments" -name 'same.2023-11-14T22:15:00Z.*')" ]
	run cb regress "$T/repo"
	echo "$output"
	[ "$status" -le 2 ]
	run cb --current-time 1700000300 backup "$T/src" "$T/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	for n in 0 1; do
		rm -rf "$T/r$n"
		cb restore --at $((1700000000 + 100 * n)) "$T/repo" "$T/r$n"
	done
	[ "$(cat "$T/r0/$D230/same")" = "same-0" ]
	[ "$(cat "$T/r1/$D230/same")" = "same-1" ]
	run cb verify --all "$T/repo"
	echo "$output"
	[ "$status" -eq 0 ]
}
