#!/usr/bin/env bats
# capback drill: restores a sample through the real roles into a scratch
# directory, reads every entry back against its record, remembers what
# it proved, and finds damage in the mirror and in the increments.

load ../lib/helpers

setup() {
	need_root
	setup_scratch
	mkdir -p "$T/src/sub" "$T/scratch"
	for i in $(seq 1 120); do echo "file $i" >"$T/src/f$i"; done
	ln -s f1 "$T/src/link"
	mkfifo "$T/src/fifo"
	mknod "$T/src/null" c 1 3
	ln "$T/src/f2" "$T/src/sub/hard"
	setfattr -n user.note -v kept "$T/src/f3"
	setfacl -m u:daemon:r "$T/src/f4"
	chmod 4750 "$T/src/f5"
	chown 1234:4321 "$T/src/f6"
	touch -d '2001-02-03 04:05:06' "$T/src/sub"
	cb --current-time 1700000000 backup "$T/src" "$T/repo"
	for i in 1 2 3; do echo more >>"$T/src/f$i"; done
	rm "$T/src/f9"
	cb --current-time 1700001000 backup "$T/src" "$T/repo"
	ENTRIES_NEW=$(find "$T/src" | wc -l)
	ENTRIES_OLD=$((ENTRIES_NEW + 1))
}

teardown() {
	teardown_scratch
}

drill() {
	run cb drill --scratch "$T/scratch" "$@"
	echo "$output"
}

@test "--all restores every entry of the newest, the oldest session and checks each" {
	drill --all "$T/repo"
	[ "$status" -eq 0 ]
	[[ "$output" == *"session 2023-11-14T22:30:00Z, slot 0 of 1:"*"$ENTRIES_NEW entries restored and checked, 0 failed"* ]]
	[[ "$output" == *"session 2023-11-14T22:13:20Z, slot 0 of 1:"*"$ENTRIES_OLD entries restored and checked, 0 failed"* ]]
	[[ "$output" == *"oldest point in time proven restorable: 2023-11-14T22:13:20Z"* ]]
	[[ "$output" == *"oldest point in time proven whole: 2023-11-14T22:13:20Z"* ]]
	# nothing is left in the scratch directory; the proofs are kept
	[ -z "$(ls -A "$T/scratch")" ]
	[ "$(grep -c '^proof ' "$T/repo/rdiff-backup-data/capback-drill.state")" -eq 2 ]
	# the state file disturbs neither tool
	rdiff-backup --terminal-verbosity 1 verify "$T/repo"
	echo again >>"$T/src/f7"
	cb --current-time 1700002000 backup "$T/src" "$T/repo"
	rdiff-backup --terminal-verbosity 1 --force remove increments --older-than 1700000500 "$T/repo"
	cb restore --at 1700001000 "$T/repo" "$T/out"
	[ "$(cat "$T/out/f1")" = "$(printf 'file 1\nmore')" ]
}

@test "a sample: successive drills move through the slots until a session is whole" {
	drill --sample 0.5 --at now "$T/repo"
	[ "$status" -eq 0 ]
	[[ "$output" == *"slot 0 of 2"* ]]
	[[ "$output" == *"1/2 slots proven"* ]]
	a=$(sed -n 's/^ *\([0-9]*\) entries restored.*/\1/p' <<<"$output")
	drill --sample 0.5 --at now "$T/repo"
	[ "$status" -eq 0 ]
	[[ "$output" == *"slot 1 of 2"* ]]
	[[ "$output" == *"2023-11-14T22:30:00Z  2/2 slots proven"* ]]
	[[ "$output" == *"oldest point in time proven whole: 2023-11-14T22:30:00Z"* ]]
	b=$(sed -n 's/^ *\([0-9]*\) entries restored.*/\1/p' <<<"$output")
	# the two slots cover every entry; only directories are in both
	dirs=$(find "$T/src" -type d | wc -l)
	[ $((a + b - dirs)) -eq "$ENTRIES_NEW" ]
	# a new backup is a new chain: the proofs start again
	echo x >>"$T/src/f10"
	cb --current-time 1700003000 backup "$T/src" "$T/repo"
	drill --sample 0.5 --at now "$T/repo"
	[[ "$output" == *"slot 0 of 2"* ]]
	[[ "$output" == *"2023-11-14T23:03:20Z  1/2 slots proven"* ]]
}

@test "damage in the mirror and in an increment is found and named" {
	# an increment of f1 (needed for the older session only)
	inc=$(ls "$T/repo/rdiff-backup-data/increments/" | grep '^f1\.')
	printf garbage >"$T/repo/rdiff-backup-data/increments/$inc"
	drill --all --at now "$T/repo"
	[ "$status" -eq 0 ]
	drill --all --at 1700000000 "$T/repo"
	[ "$status" -eq 2 ]
	[[ "$output" == *"FAILED  f1: "* ]]
	[[ "$output" == *"1 failed"* ]]
	[[ "$output" == *"2023-11-14T22:13:20Z  0/1 slots proven, FAILED"* ]]
	# a mirror file changed behind the tool's back: the newest fails
	echo tampered >"$T/repo/f50"
	drill --all --at now "$T/repo"
	[ "$status" -eq 2 ]
	[[ "$output" == *"FAILED  f50: "* ]]
	[[ "$output" == *"oldest point in time proven restorable: none yet"* ]]
}

@test "an ordinary user drills the repository it owns; what needs privileges is counted, not failed" {
	new_user
	chown -R "$NEW_USER" "$T/src" "$T/scratch"
	mkdir "$T/urepo" && chown "$NEW_USER" "$T/urepo"
	run run_as "$NEW_USER" "$CAPBACK_BUILD/capback" --current-time 1700000000 backup "$T/src" "$T/urepo/r"
	echo "$output"
	[ "$status" -eq 0 ]
	run run_as "$NEW_USER" "$CAPBACK_BUILD/capback" drill --all --scratch "$T/scratch" "$T/urepo/r"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"entries not checkable without privileges"* ]]
	[[ "$output" == *"0 failed"* ]]
	[[ "$output" == *"oldest point in time proven whole: 2023-11-14T22:13:20Z"* ]]
}

@test "bad input: clear errors" {
	drill --sample 0 "$T/repo"
	[ "$status" -eq 1 ]
	[[ "$output" == *"--sample must be a fraction in (0, 1]"* ]]
	drill --sample 2 "$T/repo"
	[ "$status" -eq 1 ]
	drill "$T/src"
	[ "$status" -eq 1 ]
	[[ "$output" == *"is not a backup repository"* ]]
	drill --at yesterday-ish "$T/repo"
	[ "$status" -eq 1 ]
	[[ "$output" == *"bad time string"* ]]
	drill host::/srv/repo
	[ "$status" -eq 1 ]
	drill --scratch "$T/nope" --all "$T/repo"
	[ "$status" -eq 1 ]
	[[ "$output" == *"cannot make a scratch directory in $T/nope"* ]]
}

@test "--json: the text on stderr, one object on stdout with the drilled sessions, failures and coverage" {
	out=$(cb drill --all --scratch "$T/scratch" --json "$T/repo" 2>"$T/text")
	grep -q '^drill of ' "$T/text"
	python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["ok"] is True and d["failures"] == [] and d["slots"] == 1, d
assert d["sessions"] == 2, d
assert {x["time"] for x in d["drilled"]} == {1700000000, 1700001000}, d
assert all(x["failed"] == 0 and x["checked"] > 100 for x in d["drilled"]), d
assert d["oldest_proven_time"] == 1700000000 and d["oldest_proven"] == "2023-11-14T22:13:20Z", d
assert d["oldest_proven_whole"] == "2023-11-14T22:13:20Z", d
' "$out"
	# damage: the mirror's f7 is not what was recorded
	echo tampered >"$T/repo/f7"
	st=0
	out=$(cb drill --all --scratch "$T/scratch" --at now --json "$T/repo" 2>/dev/null) || st=$?
	[ "$st" -eq 2 ]
	python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["ok"] is False, d
assert {f["path"] for f in d["failures"]} == {"f7"}, d
assert d["drilled"][0]["failed"] == 1, d
' "$out"
}
