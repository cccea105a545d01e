#!/usr/bin/env bats
# Bad input and bad conditions: clear errors, non-zero exit, nothing
# half-written left visible.

load ../lib/helpers

setup() {
	need_root
	setup_scratch
	mkdir -p "$T/src/d"
	echo a >"$T/src/a"
	echo b >"$T/src/d/b"
}

teardown() {
	teardown_scratch
}

@test "missing source: exit 1, names the path, creates no repository" {
	run cb backup "$T/nope" "$T/repo"
	[ "$status" -eq 1 ]
	[[ "$output" == "capback: "*"$T/nope"*"No such file or directory"* ]]
	[ ! -e "$T/repo" ]
}

@test "source that is a file: exit 1" {
	run cb backup "$T/src/a" "$T/repo"
	[ "$status" -eq 1 ]
	[[ "$output" == *"not a directory"* ]]
	[ ! -e "$T/repo" ]
}

@test "repository path that is a regular file: exit 1, file untouched" {
	echo precious >"$T/file"
	run cb backup "$T/src" "$T/file"
	[ "$status" -eq 1 ]
	[[ "$output" == *"not a directory"* ]]
	[ "$(cat "$T/file")" = precious ]
}

@test "unrelated non-empty directory: refused, nothing added; --force accepts it" {
	mkdir "$T/other" && echo mine >"$T/other/mine"
	run cb backup "$T/src" "$T/other"
	[ "$status" -eq 1 ]
	[[ "$output" == *"not a backup repository"* ]]
	[ "$(ls -A "$T/other")" = mine ]
	run cb --force --current-time 1700000000 backup "$T/src" "$T/other"
	[ "$status" -eq 0 ]
	[ -d "$T/other/rdiff-backup-data" ]
	[ "$(cat "$T/other/mine")" = mine ]
}

@test "missing parent of the repository: exit 1" {
	run cb backup "$T/src" "$T/no/such/repo"
	[ "$status" -eq 1 ]
	[[ "$output" == *"does not exist"* ]]
}

@test "unreadable files are named, counted, and the backup goes on (exit 4)" {
	new_user && u=$NEW_USER
	echo secret >"$T/src/secret" && chmod 0600 "$T/src/secret"
	mkdir "$T/src/closed" && echo c >"$T/src/closed/c" && chmod 0700 "$T/src/closed"
	mkdir "$T/home" && chown "$u" "$T/home"
	run run_as "$u" "$CAPBACK_BUILD/capback" --current-time 1700000000 \
	    backup "$T/src" "$T/home/repo"
	echo "$output"
	[ "$status" -eq 4 ]
	[[ "$output" == *"cannot read 'secret': Permission denied"* ]]
	[[ "$output" == *"cannot read 'closed': Permission denied"* ]]
	[ "$(stat_value "$T/home/repo" Errors)" = 2 ]
	zcat "$T"/home/repo/rdiff-backup-data/error_log.*.data.gz | grep -q "'secret'"
	# The rest is there and restorable.
	run cb restore "$T/home/repo" "$T/out"
	[ "$status" -eq 0 ]
	cmp "$T/src/a" "$T/out/a"
	cmp "$T/src/d/b" "$T/out/d/b"
	[ ! -e "$T/out/secret" ]
	# Once readable, the next backup picks it up.
	chmod 0644 "$T/src/secret"
	run run_as "$u" "$CAPBACK_BUILD/capback" --current-time 1700000100 \
	    backup "$T/src" "$T/home/repo"
	[ "$status" -eq 4 ] # closed/ still unreadable
	record "$T/home/repo" secret | grep -q "Type reg"
}

@test "a file that became unreadable keeps its previous version" {
	new_user && u=$NEW_USER
	echo v1 >"$T/src/later"
	mkdir "$T/home" && chown "$u" "$T/home"
	run_as "$u" "$CAPBACK_BUILD/capback" --current-time 1700000000 \
	    backup "$T/src" "$T/home/repo"
	echo v2 >"$T/src/later" && chmod 0600 "$T/src/later"
	touch -d '2020-01-01' "$T/src/later"
	run run_as "$u" "$CAPBACK_BUILD/capback" --current-time 1700000100 \
	    backup "$T/src" "$T/home/repo"
	[ "$status" -eq 4 ]
	[ "$(cat "$T/home/repo/later")" = v1 ]
	record "$T/home/repo" later | grep -q "Size 3"
	run cb restore "$T/home/repo" "$T/out"
	[ "$status" -eq 0 ]
	[ "$(cat "$T/out/later")" = v1 ]
}

@test "full disk: clear error, no repository left behind" {
	mkdir "$T/small"
	mount -t tmpfs -o size=1m tmpfs "$T/small"
	MOUNTS="$T/small"
	head -c 3000000 /dev/urandom >"$T/src/big"
	run cb backup "$T/src" "$T/small/repo"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"No space left on device"* ]]
	[ ! -e "$T/small/repo" ]
	# Into an existing empty directory: emptied again.
	mkdir "$T/small/repo2"
	run cb backup "$T/src" "$T/small/repo2"
	[ "$status" -eq 1 ]
	[ -z "$(ls -A "$T/small/repo2")" ]
}

@test "full disk on a later backup: clear error, no temp files, session marked unfinished" {
	mkdir "$T/small"
	mount -t tmpfs -o size=2m tmpfs "$T/small"
	MOUNTS="$T/small"
	cb --current-time 1700000000 backup "$T/src" "$T/small/repo"
	head -c 3000000 /dev/urandom >"$T/src/big"
	run cb --current-time 1700000100 backup "$T/src" "$T/small/repo"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"No space left on device"* ]]
	[[ "$output" == *"unfinished session"* ]]
	# none but the one that keeps the increments directory from being
	# empty (the first session had none), for rdiff-backup's regress
	[ -z "$(find "$T/small/repo" -path '*/rdiff-backup-data/increments' -prune -o -name 'rdiff-backup.tmp.*' -print)" ]
	[ "$(ls -A "$T/small/repo/rdiff-backup-data/increments" | wc -l)" -eq 1 ]
	# The new marker was written first, the old one stays: a regress
	# (history.bats) returns the repository to the previous backup.
	[ "$(ls "$T/small/repo/rdiff-backup-data" | grep -c current_mirror)" -eq 2 ]
	[ ! -e "$T/small/repo/big" ]
	# The next backup undoes it first and says so with the warning bit.
	rm "$T/src/big"
	echo "after the failure" >"$T/src/later" # a change, whatever the clock
	run cb --current-time 1700000200 backup "$T/src" "$T/small/repo"
	echo "$output"
	[ "$status" -eq 2 ]
	[ -z "$(find "$T/small/repo" -name 'rdiff-backup.tmp.*')" ]
	run cb restore "$T/small/repo" "$T/out"
	[ "$status" -eq 0 ]
	assert_same_tree "$T/src" "$T/out"
	[ "$(cb list increments "$T/small/repo" | grep -c 'increments\.')" -eq 1 ]
}

@test "full disk while the metadata snapshot is written (by its compression thread): the session fails, regress undoes it, the next backup goes on" {
	mkdir "$T/small"
	mount -t tmpfs -o size=64m tmpfs "$T/small"
	MOUNTS="$T/small"
	# 20000 empty files with random 120-character names: no data, a
	# metadata snapshot of about 1.5 MB that gzip cannot shrink much
	mkdir "$T/src/many"
	python3 -c 'import os, secrets, sys
for _ in range(20000):
    open(os.path.join(sys.argv[1], secrets.token_hex(60)), "w").close()' "$T/src/many"
	cb --current-time 1700000000 backup "$T/src" "$T/small/repo"
	rm -rf "$T/state0" && cp -a "$T/src" "$T/state0"
	# one change; the next snapshot needs as much again, 500 KB are left
	echo changed >"$T/src/a"
	local used
	used=$(df -k --output=used "$T/small" | tail -1)
	mount -o remount,size=$((used + 500))k "$T/small"
	run cb --current-time 1700000100 backup "$T/src" "$T/small/repo"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"writing metadata: No space left on device"* ]]
	[[ "$output" == *"unfinished session"* ]]
	[ "$(ls "$T/small/repo/rdiff-backup-data" | grep -c current_mirror)" -eq 2 ]
	# what waited for a flush leaves no temporary (a full disk gets its
	# space back at once); the empty increments directory holds one
	# empty temporary of the session: rdiff-backup takes an empty one for
	# a new repository, and would neither regress nor back up
	find "$T/small/repo" -name 'rdiff-backup.tmp.*' >&2
	[ -z "$(find "$T/small/repo" -path '*/rdiff-backup-data/increments' -prune -o -name 'rdiff-backup.tmp.*' -print)" ]
	run ls -A "$T/small/repo/rdiff-backup-data/increments"
	[[ "$output" == "rdiff-backup.tmp.i"*".2023-11-14T22:15:00Z.missing" ]]
	# rdiff-backup undoes it on a copy, capback in place: both the first
	# session again, bit for bit, with no temporary left
	cp -a "$T/small/repo" "$T/copy"
	run rdiff-backup regress "$T/copy"
	echo "$output"
	[ "$status" -eq 0 ] || [ "$status" -eq 2 ]
	[[ "$output" == *"Previous backup seems to have failed, regressing"* ]]
	run cb regress "$T/small/repo"
	echo "$output"
	[ "$status" -eq 2 ]
	for r in "$T/small/repo" "$T/copy"; do
		[ "$(ls "$r/rdiff-backup-data" | grep -c current_mirror)" -eq 1 ]
		[ -z "$(find "$r" -name 'rdiff-backup.tmp.*')" ]
		run cb verify --all "$r"
		[ "$status" -eq 0 ]
		rm -rf "$T/out"
		cb restore "$r" "$T/out"
		assert_same_tree "$T/state0" "$T/out"
	done
	# with room again the next backup takes the change
	mount -o remount,size=64m "$T/small"
	cb --current-time 1700000200 backup "$T/src" "$T/small/repo"
	run cb verify --all "$T/small/repo"
	[ "$status" -eq 0 ]
	rm -rf "$T/out"
	cb restore "$T/small/repo" "$T/out"
	assert_same_tree "$T/src" "$T/out"
}

@test "a session time not after the current mirror is refused" {
	cb --current-time 1700000100 backup "$T/src" "$T/repo"
	run cb --current-time 1700000100 backup "$T/src" "$T/repo"
	[ "$status" -eq 1 ]
	[[ "$output" == *"not in the past"* ]]
	run cb --current-time 1700000000 backup "$T/src" "$T/repo"
	[ "$status" -eq 1 ]
	[ "$(ls "$T/repo/rdiff-backup-data" | grep -c current_mirror)" -eq 1 ]
}

@test "restore of something that is not a repository: exit 1" {
	run cb restore "$T/src" "$T/out"
	[ "$status" -eq 1 ]
	[[ "$output" == *"not a backup repository"* ]]
	[ ! -e "$T/out" ]
}

@test "environment: TZ names a zone or nothing; a TZ file path and an open TMPDIR are ignored with a warning" {
	cb --current-time 1700000000 backup "$T/src" "$T/repo"
	# a zone name is honoured (times are shown in local time)
	[[ "$(TZ=Asia/Kolkata cb list increments "$T/repo")" == *"Current mirror: Wed Nov 15 03:43:20 2023"* ]]
	# a path is not read as a zone file (a privileged role would parse
	# whatever file the caller names); the system zone is used
	echo more >>"$T/src/a"
	TZ=/etc/shadow run cb --current-time 1700000100 backup "$T/src" "$T/repo"
	[ "$status" -eq 0 ]
	[[ "$output" == *"ignoring TZ: '/etc/shadow' is not a time zone name"* ]]
	TZ=:/etc/shadow run cb list increments "$T/repo"
	[[ "$output" == *"ignoring TZ"* ]]
	[[ "$output" == *"Current mirror: $(date -d @1700000100 '+%a %b %e %H:%M:%S %Y' | tr -s ' ')"* ]]
	TZ=../../tmp/x run cb --current-time 1700000200 backup "$T/src" "$T/repo"
	[[ "$output" == *"ignoring TZ"* ]]
	# a scratch directory others may write into (not sticky) is refused
	mkdir "$T/open" && chmod 0777 "$T/open"
	TMPDIR=$T/open run cb --current-time 1700000300 backup "$T/src" "$T/repo"
	[ "$status" -eq 0 ]
	[[ "$output" == *"ignoring TMPDIR: '$T/open' is not an absolute directory owned by this user or root"* ]]
	# a private one is accepted silently
	mkdir "$T/priv" && chmod 0700 "$T/priv"
	TMPDIR=$T/priv run cb --current-time 1700000400 backup "$T/src" "$T/repo"
	[ "$status" -eq 0 ]
	refute grep -q "ignoring" <<<"$output"
	rdiff-backup --terminal-verbosity 1 verify "$T/repo"
}

@test "a first backup killed midway: regress explains, the next backup removes what it left and starts over" {
	mkdir -p "$T/big" "$T/small"
	for i in $(seq 1 30); do head -c 1000000 /dev/urandom >"$T/big/f$i"; done
	echo small >"$T/small/only"
	"$CAPBACK_BUILD/capback" --current-time 1700000000 backup "$T/big" "$T/repo" >/dev/null 2>&1 &
	bg=$!
	for _ in $(seq 1 400); do
		[ "$(ls "$T/repo" 2>/dev/null | wc -l)" -ge 4 ] && break
		sleep 0.01
	done
	w=$(pgrep -P $bg capback-writer || true)
	kill -KILL $bg $w $(pgrep -P $bg) 2>/dev/null || true
	wait $bg || true
	# a killed process lets go of the repository lock when it is gone
	for _ in $(seq 1 100); do
		[ -n "$w" ] && kill -0 "$w" 2>/dev/null || break
		sleep 0.05
	done
	[ -e "$T/repo/rdiff-backup-data/capback-first-session" ] || skip "the backup finished before it was killed"
	[ "$(ls "$T/repo" | wc -l)" -ge 2 ]
	run cb regress "$T/repo"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"its first backup did not finish (the next backup removes what it left and starts over)"* ]]
	run cb --current-time 1700000100 backup "$T/small" "$T/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"first backup did not finish; what it left is removed"* ]]
	[ "$(ls "$T/repo")" = "$(printf 'only\nrdiff-backup-data')" ]
	[ ! -e "$T/repo/rdiff-backup-data/capback-first-session" ]
	rm -rf "$T/out"
	cb restore "$T/repo" "$T/out"
	assert_same_tree "$T/small" "$T/out"
	run rdiff-backup verify "$T/repo"
	[ "$status" -eq 0 ]
}
