#!/usr/bin/env bats
# remove increments --older-than: rdiff-backup's semantics, checked against
# rdiff-backup itself on copies of the same repository.

load ../lib/helpers

BASE=1700000000

setup() {
	need_root
	command -v rdiff-backup >/dev/null || skip "rdiff-backup not installed"
	setup_scratch
	mkdir -p "$T/src/keep" "$T/src/gone/deep"
	echo keep >"$T/src/keep/k"
	echo deep >"$T/src/gone/deep/d"
	seq 1 20000 >"$T/src/grows"
}

teardown() {
	teardown_scratch
}

# session TOOL N: back up with TOOL at BASE + N days, keep a copy of the
# source as state N.
session() {
	local t=$((BASE + 86400 * $2))
	if [ "$1" = cb ]; then
		run cb --current-time "$t" backup "$T/src" "$T/repo"
	else
		run rdiff-backup --current-time "$t" backup "$T/src" "$T/repo"
	fi
	echo "$output"
	[ "$status" -eq 0 ]
	cp -a "$T/src" "$T/state$2"
}

change() {
	echo "edit $1" >>"$T/src/grows"
	echo "new $1" >"$T/src/keep/n$1"
	[ "$1" -ne 2 ] || rm -rf "$T/src/gone"
	[ "$1" -ne 3 ] || { mkdir -p "$T/src/gone" && echo back >"$T/src/gone/b"; }
	touch -d "@$((BASE + 86400 * $1 - 50))" "$T/src/grows" "$T/src/keep" "$T/src"
}

# five sessions 0..4 written by TOOL
five_sessions() {
	session "$1" 0
	for n in 1 2 3 4; do
		change $n
		session "$1" $n
	done
}

# The repository's files, without the tools' own logs.
repo_files() {
	# without the tools' own files: rdiff-backup's logs, capback's lock
	(cd "$1" && find . -path ./rdiff-backup-data/backup.log -prune -o \
	    -path ./rdiff-backup-data/remove.log -prune -o \
	    -path ./rdiff-backup-data/capback.lock -prune -o -print | sort)
}

@test "refuses to remove several sessions without --force, as rdiff-backup" {
	five_sessions cb
	cp -a "$T/repo" "$T/rrepo"
	before=$(repo_files "$T/repo")
	run cb remove increments --older-than $((BASE + 86400 * 3)) "$T/repo"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"found 3 increments"*"--force"* ]]
	[[ "$output" == *"2023-11-14T22:13:20Z"* ]]
	[ "$(repo_files "$T/repo")" = "$before" ]
	run rdiff-backup remove increments --older-than $((BASE + 86400 * 3)) "$T/rrepo"
	[ "$status" -eq 1 ]
}

@test "removes what rdiff-backup removes; the rest restores exactly" {
	five_sessions cb
	cp -a "$T/repo" "$T/rrepo"
	run cb --force remove increments --older-than $((BASE + 86400 * 2)) "$T/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	run rdiff-backup --force remove increments --older-than $((BASE + 86400 * 2)) "$T/rrepo"
	[ "$status" -eq 0 ]
	diff <(repo_files "$T/rrepo") <(repo_files "$T/repo")
	# sessions 0 and 1 are gone, 2 (the one at the cut) stays
	[ -z "$(find "$T/repo/rdiff-backup-data" -name "*2023-11-1[45]T*")" ]
	[ -n "$(find "$T/repo/rdiff-backup-data" -name "*2023-11-16T*")" ]
	diff <(TZ=UTC rdiff-backup list increments "$T/repo") \
	    <(TZ=UTC cb list increments "$T/repo")
	[ "$(TZ=UTC cb list increments "$T/repo" | grep -c increments\\.)" -eq 2 ]
	for n in 2 3 4; do
		t=$((BASE + 86400 * n))
		run cb restore --at "$t" "$T/repo" "$T/cb$n"
		[ "$status" -eq 0 ]
		assert_same_tree "$T/state$n" "$T/cb$n"
		run rdiff-backup restore --at "$t" "$T/repo" "$T/rb$n"
		[ "$status" -eq 0 ]
		assert_same_tree "$T/state$n" "$T/rb$n"
		run rdiff-backup verify --at "$t" "$T/repo"
		[ "$status" -eq 0 ]
	done
	# the oldest kept session is now what a time before it rounds to
	run cb restore --at $BASE "$T/repo" "$T/early"
	[ "$status" -eq 0 ]
	assert_same_tree "$T/state2" "$T/early"
	# and backups go on on top of the pruned repository
	change 5
	session cb 5
	run rdiff-backup verify --at $((BASE + 86400 * 4)) "$T/repo"
	[ "$status" -eq 0 ]
}

@test "nothing older: exit 2 and the repository is untouched" {
	five_sessions cb
	before=$(repo_files "$T/repo")
	run cb remove increments --older-than $BASE "$T/repo"
	echo "$output"
	[ "$status" -eq 2 ]
	[[ "$output" == *"no increments older than"* ]]
	[ "$(repo_files "$T/repo")" = "$before" ]
	run cb remove increments --older-than 2000-01-01 "$T/repo"
	[ "$status" -eq 2 ]
	# the time it stood for, as people read it (the input beside it)
	[[ "$output" == *"no increments older than 2000-01-01T00:00:00Z (2000-01-01) found"* ]] ||
	    [[ "$output" == *"no increments older than 2000-01-01T"*" (2000-01-01) found"* ]]
}

@test "never removes the newest backup; an empty increments tree goes" {
	five_sessions cb
	cp -a "$T/repo" "$T/rrepo"
	run cb --force --current-time $((BASE + 86400 * 30)) remove increments --older-than now "$T/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	run rdiff-backup --force --current-time $((BASE + 86400 * 30)) remove increments --older-than now "$T/rrepo"
	[ "$status" -eq 0 ]
	diff <(repo_files "$T/rrepo") <(repo_files "$T/repo")
	[ ! -e "$T/repo/rdiff-backup-data/increments" ]
	run cb restore "$T/repo" "$T/out"
	[ "$status" -eq 0 ]
	assert_same_tree "$T/state4" "$T/out"
	run rdiff-backup list increments "$T/repo"
	[ "$status" -eq 0 ]
	[[ "$output" == *"Found 0 increments"* ]]
}

@test "session counts (nB) mean what they mean to rdiff-backup" {
	five_sessions cb
	cp -a "$T/repo" "$T/rrepo"
	run cb --force remove increments --older-than 2B "$T/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	run rdiff-backup --force remove increments --older-than 2B "$T/rrepo"
	[ "$status" -eq 0 ]
	diff <(repo_files "$T/rrepo") <(repo_files "$T/repo")
	[ "$(TZ=UTC cb list increments "$T/repo" | grep -c increments\\.)" -eq 2 ]
}

@test "prunes a repository rdiff-backup wrote, which rdiff-backup then uses" {
	five_sessions rdiff
	cp -a "$T/repo" "$T/rrepo"
	run cb --force remove increments --older-than 3D "$T/repo" --current-time 1
	[ "$status" -eq 1 ] # global options go before the action
	run cb --force --current-time $((BASE + 86400 * 6)) remove increments --older-than 3D "$T/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	run rdiff-backup --force --current-time $((BASE + 86400 * 6)) remove increments --older-than 3D "$T/rrepo"
	[ "$status" -eq 0 ]
	diff <(repo_files "$T/rrepo") <(repo_files "$T/repo")
	for n in 3 4; do
		run rdiff-backup restore --at $((BASE + 86400 * n)) "$T/repo" "$T/rb$n"
		[ "$status" -eq 0 ]
		assert_same_tree "$T/state$n" "$T/rb$n"
	done
	change 5
	run rdiff-backup --current-time $((BASE + 86400 * 5)) backup "$T/src" "$T/repo"
	[ "$status" -eq 0 ]
	run cb restore --at $((BASE + 86400 * 3)) "$T/repo" "$T/cb3"
	[ "$status" -eq 0 ]
	assert_same_tree "$T/state3" "$T/cb3"
}

@test "bad arguments are refused with a reason" {
	five_sessions cb
	run cb remove increments "$T/repo"
	[ "$status" -eq 1 ]
	[[ "$output" == *"--older-than"* ]]
	run cb remove increments --older-than soonish "$T/repo"
	[ "$status" -eq 1 ]
	[[ "$output" == *"bad time string"* ]]
	run cb remove files --older-than 1D "$T/repo"
	[ "$status" -eq 1 ]
	run cb remove increments --older-than 1D "$T/nothere"
	[ "$status" -eq 1 ]
	run cb remove increments --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"never removed"* ]]
}
