#!/usr/bin/env bats
# backup's progress line: on a terminal (a pseudo-terminal made by
# script), redrawn in place and cleared at the end; never in a pipe or a
# file unless asked; --no-progress silences it.

load ../lib/helpers

setup() {
	command -v script >/dev/null || skip "script (util-linux) not installed"
	setup_scratch
	mkdir -p "$T/src"
	for i in $(seq 100); do echo "$i" >"$T/src/f$i"; done
	cb --current-time 1700000000 backup "$T/src" "$T/repo"
	for i in $(seq 100); do echo "x$i" >"$T/src/f$i"; done
}

teardown() {
	teardown_scratch
}

@test "on a terminal: files, new or changed bytes, rate, an ETA from the last session, the path; cleared at the end" {
	script -qec "$CAPBACK_BUILD/capback --current-time 1700000100 backup $T/src $T/repo" /dev/null >"$T/out"
	cat -v "$T/out"
	grep -q $'\r\033\\[K[0-9]* files, [0-9.]* [KMGT]*i*B new or changed ([0-9.]* [KMGT]*i*B/s)' "$T/out"
	grep -q 'ETA [0-9]* s' "$T/out"
	# the last thing written clears the line
	[ "$(tail -c 4 "$T/out" | od -An -c | tr -d ' ')" = '\r033[K' ]
}

@test "not a terminal: no progress unless --progress; --no-progress on a terminal: none" {
	run cb --current-time 1700000100 backup "$T/src" "$T/repo"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	for i in $(seq 100); do echo "y$i" >"$T/src/f$i"; done
	cb --current-time 1700000200 backup --progress "$T/src" "$T/repo" 2>"$T/err"
	grep -q ' files, ' "$T/err"
	for i in $(seq 100); do echo "z$i" >"$T/src/f$i"; done
	script -qec "$CAPBACK_BUILD/capback --current-time 1700000300 backup --no-progress $T/src $T/repo" /dev/null >"$T/out"
	[ ! -s "$T/out" ]
}

@test "restore and verify: a progress line on a terminal, none in a pipe, none with --no-progress" {
	script -qec "$CAPBACK_BUILD/capback restore $T/repo $T/r1" /dev/null >"$T/out"
	grep -q $'\r\033\\[K[0-9]* files, [0-9.]* [KMGT]*i*B restored (' "$T/out"
	# the ETA from the session's own count of entries
	grep -q 'restored ([^)]*/s), ETA [0-9]* s' "$T/out"
	[ "$(cat "$T/r1/f7")" = 7 ]
	script -qec "$CAPBACK_BUILD/capback verify $T/repo" /dev/null >"$T/out"
	grep -q $'\r\033\\[K[0-9]* files, [0-9.]* [KMGT]*i*B checked (' "$T/out"
	grep -q 'checked ([^)]*/s), ETA [0-9]* s' "$T/out"
	grep -q 'All 100 files verified successfully' "$T/out"
	run cb restore "$T/repo" "$T/r2"
	[ -z "$output" ]
	run cb verify "$T/repo"
	[ "$output" = "All 100 files verified successfully" ]
	script -qec "$CAPBACK_BUILD/capback restore --no-progress $T/repo $T/r3" /dev/null >"$T/out"
	[ ! -s "$T/out" ]
	script -qec "$CAPBACK_BUILD/capback verify --no-progress $T/repo" /dev/null >"$T/out"
	! grep -q $'\033' "$T/out" || false
}

@test "drill: restore's progress line for each session on a terminal; none in a pipe, with --no-progress or --json" {
	cb --current-time 1700000100 backup "$T/src" "$T/repo"
	script -qec "$CAPBACK_BUILD/capback drill --all $T/repo" /dev/null >"$T/out"
	cat -v "$T/out"
	grep -q $'\r\033\\[K[0-9]* files, [0-9.]* [KMGT]*i*B restored (' "$T/out"
	grep -q 'restored ([^)]*/s), ETA [0-9]* s' "$T/out"
	grep -q 'proven' "$T/out"
	run cb drill --all "$T/repo"
	[ "$status" -eq 0 ]
	[[ "$output" != *$'\033'* ]]
	cb drill --all --progress "$T/repo" 2>"$T/err" >/dev/null
	grep -q ' restored (' "$T/err"
	script -qec "$CAPBACK_BUILD/capback drill --all --no-progress $T/repo" /dev/null >"$T/out"
	! grep -q $'\033' "$T/out" || false
	script -qec "$CAPBACK_BUILD/capback drill --all --json $T/repo" /dev/null >"$T/out"
	! grep -q $'\033' "$T/out" || false
}
