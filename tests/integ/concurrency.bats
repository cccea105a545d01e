#!/usr/bin/env bats
# Two operations on one repository at the same time: the repository lock
# (src/writer/lock.c) and the check of a live rdiff-backup session.  A
# backup is held in the middle of its session (its new current_mirror
# marker written) by stopping its writer with SIGSTOP; the second
# operation runs; the backup is let go and must finish; then every
# session verifies and restores bit-exact.

load ../lib/helpers

BASE=1700000000

setup() {
	need_root
	setup_scratch
	mkdir -p "$T/src/d"
	for i in 1 2 3 4 5 6; do
		head -c 300000 /dev/urandom >"$T/src/d/f$i"
	done
	cb --current-time $BASE backup "$T/src" "$T/repo" >/dev/null
	rm -rf "$T/state0" && cp -a "$T/src" "$T/state0"
	# the session to hold writes some 9 MB: long enough to be caught
	# between its marker and its end (300 KB files sometimes finished
	# within one poll)
	for i in 1 2 3; do
		head -c 3000000 /dev/urandom >"$T/src/d/f$i"
	done
	echo new >"$T/src/new"
	touch -d @$((BASE + 50)) "$T/src/d"/* "$T/src/new"
	BG=""
	WPID=""
}

teardown() {
	[ -n "$WPID" ] && kill -CONT "$WPID" 2>/dev/null || true
	[ -n "$BG" ] && kill "$BG" 2>/dev/null || true
	teardown_scratch
}

markers() {
	ls "$T/repo/rdiff-backup-data" | grep -c '^current_mirror\.'
}

# wait_text FILE TEXT: until FILE says TEXT (a process waiting for the
# lock says so once it has tried it; under CI's parallel tests a start
# took longer than a fixed half second)
wait_text() {
	for _ in $(seq 1 600); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "$1 never said '$2':" >&2
	cat "$1" >&2
	return 1
}

# hold_in_session CMD: the backup BG's process CMD prints held in the
# middle of its session, as WPID
hold_in_session() {
	if ! stop_in_session "$T/repo" "$BG" "$1"; then
		cat "$T/bg.out" >&2
		return 1
	fi
	WPID=$HELD_PID
}

bg_writer() {
	pgrep -P "$BG" capback-writer
}

vault_writer() {
	pgrep -f "capback-writer.*--replica.*backup $T/vault"
}

bg_itself() {
	echo "$BG"
}

# held_capback: a capback backup of session 1 held mid-session
held_capback() {
	"$CAPBACK_BUILD/capback" --current-time $((BASE + 100)) backup \
	    "$T/src" "$T/repo" >"$T/bg.out" 2>&1 &
	BG=$!
	hold_in_session bg_writer
}

# held_rdiff: an rdiff-backup backup held mid-session
held_rdiff() {
	command -v rdiff-backup >/dev/null || skip "rdiff-backup not installed"
	rdiff-backup --current-time $((BASE + 100)) backup "$T/src" "$T/repo" \
	    >"$T/bg.out" 2>&1 &
	BG=$!
	hold_in_session bg_itself
}

# release [next]: let the held backup go on; it must finish well (and,
# unless a waiting backup takes the lock next, leave one marker)
release() {
	kill -CONT "$WPID"
	WPID=""
	wait "$BG"
	local st=$?
	BG=""
	cat "$T/bg.out"
	[ "$st" -eq 0 ]
	[ "${1:-}" = next ] || [ "$(markers)" -eq 1 ]
}

# intact: both sessions verify and restore bit-exact
intact() {
	run cb verify --all "$T/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	rm -rf "$T/r0" "$T/r1"
	cb restore --at $BASE "$T/repo" "$T/r0"
	assert_same_tree "$T/state0" "$T/r0"
	cb restore "$T/repo" "$T/r1"
	assert_same_tree "$T/src" "$T/r1"
}

@test "regress while a capback backup runs is refused, naming it; the backup finishes and nothing is lost" {
	held_capback
	run cb regress "$T/repo"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"is in use: capback backup PID $WPID on "* ]]
	[[ "$output" != *regressing* ]]
	[ "$(markers)" -eq 2 ]
	release
	intact
}

@test "another backup and remove increments are refused during a backup, or wait with --wait" {
	held_capback
	run cb --current-time $((BASE + 200)) backup "$T/src" "$T/repo"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"is in use: capback backup PID $WPID"*"--wait"* ]]
	run cb --force remove increments --older-than now "$T/repo"
	[ "$status" -eq 1 ]
	[[ "$output" == *"is in use"* ]]
	run cb --wait=1 regress "$T/repo"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"still in use after 1 s"* ]]
	# a waiting backup goes on once the first one is done (it reads the
	# source after the wait: the change is in the third session)
	echo more >"$T/src/more"
	"$CAPBACK_BUILD/capback" --wait --current-time $((BASE + 200)) \
	    backup "$T/src" "$T/repo" >"$T/second.out" 2>&1 &
	local second=$!
	wait_text "$T/second.out" "waiting for it to end"
	kill -0 $second
	# (not release: the waiting backup may have its own marker already)
	kill -CONT "$WPID"
	WPID=""
	wait "$BG"
	BG=""
	wait $second
	cat "$T/second.out"
	grep -q "waiting for it to end" "$T/second.out"
	run cb list increments "$T/repo"
	echo "$output"
	[[ "$output" == *"Found 2 increments"* ]]
	run cb verify --all "$T/repo"
	[ "$status" -eq 0 ]
}

@test "reads (list, verify, compare, drill, restore) during a backup wait for it, say so, then answer from the finished session" {
	held_capback
	for q in "list increments" "list files" "verify"; do
		"$CAPBACK_BUILD/capback" $q "$T/repo" >"$T/q.out" 2>&1 &
		echo "$!" >>"$T/q.pids"
	done
	"$CAPBACK_BUILD/capback" compare "$T/src" "$T/repo" >"$T/c.out" 2>&1 &
	echo "$!" >>"$T/q.pids"
	"$CAPBACK_BUILD/capback" drill --all "$T/repo" >"$T/d.out" 2>&1 &
	echo "$!" >>"$T/q.pids"
	"$CAPBACK_BUILD/capback" restore "$T/repo" "$T/during" >"$T/r.out" 2>&1 &
	local rp=$!
	for f in r c d; do
		wait_text "$T/$f.out" "waiting for it to end"
	done
	# all still waiting, none told the user to regress
	while read -r p; do kill -0 "$p"; done <"$T/q.pids"
	kill -0 $rp
	release
	while read -r p; do wait "$p"; done <"$T/q.pids"
	wait $rp
	# compare waited and then found the source as backed up
	cat "$T/c.out"
	grep -q "No changes found" "$T/c.out"
	cat "$T/d.out"
	cat "$T/r.out"
	grep -q "waiting for it to end" "$T/r.out"
	refute grep -q "regress" "$T/r.out" "$T/q.out"
	assert_same_tree "$T/src" "$T/during"
	intact
}

@test "rdiff-backup refuses to regress or back up while capback's session is live" {
	command -v rdiff-backup >/dev/null || skip "rdiff-backup not installed"
	held_capback
	run rdiff-backup regress "$T/repo"
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"process"*"$WPID"*"still running"* ]]
	run rdiff-backup --current-time $((BASE + 200)) backup "$T/src" "$T/repo"
	[ "$status" -ne 0 ]
	[ "$(markers)" -eq 2 ]
	release
	intact
}

@test "capback refuses to regress, back up or read while rdiff-backup's session is live; never says 'run regress'" {
	held_rdiff
	run cb regress "$T/repo"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"started by PID $WPID, which is still running"* ]]
	run cb --current-time $((BASE + 200)) backup "$T/src" "$T/repo"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"PID $WPID, which is still running"* ]]
	for q in "list increments" "list files" "verify" "compare $T/src" \
	    "restore" "--force remove increments --older-than now"; do
		local extra=""
		[ "$q" = restore ] && extra="$T/out"
		run cb $q "$T/repo" $extra
		echo "$q: $output"
		[ "$status" -eq 1 ]
		[[ "$output" == *"is being backed up by PID $WPID"* ]]
		[[ "$output" != *"run 'capback regress"* ]]
	done
	[ ! -e "$T/out" ]
	run cb drill --all "$T/repo"
	echo "drill: $output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"is being backed up by PID $WPID"* ]]
	[ "$(markers)" -eq 2 ]
	release
	intact
}

@test "capback run during a backup by hand waits for it, then backs up" {
	mkdir -p "$T/state"
	printf '[global]\nstate-dir = %s\nmail = never\n[host here]\nsource = %s\nrepository = %s\ndrill = none\ntimeout = 2m\n' \
	    "$T/state" "$T/src" "$T/repo" >"$T/run.conf"
	held_capback
	"$CAPBACK_BUILD/capback" --current-time $((BASE + 300)) run --report "$T/run.conf" \
	    >"$T/run.out" 2>&1 &
	local rp=$!
	sleep 1
	kill -0 $rp
	# the run's backup may write its marker as soon as the lock is free
	release next
	wait $rp
	cat "$T/run.out"
	grep -q "here             OK" "$T/run.out"
	run cb list increments "$T/repo"
	echo "$output"
	[[ "$output" == *"Current mirror: Tue Nov 14 22:18:20 2023"* ]]
}

@test "a backup killed with its writer: reads say to regress, the next backup undoes it" {
	held_capback
	kill -KILL "$WPID"
	WPID=""
	local st=0
	wait "$BG" || st=$?
	BG=""
	[ "$(markers)" -eq 2 ]
	# the CLI names the role that could not say why it ended
	cat "$T/bg.out"
	[ "$st" -eq 1 ]
	grep -q "capback-writer was killed by signal 9" "$T/bg.out"
	run cb list increments "$T/repo"
	[ "$status" -eq 1 ]
	[[ "$output" == *"whose process has ended: run 'capback regress"* ]]
	run cb --current-time $((BASE + 100)) backup "$T/src" "$T/repo"
	echo "$output"
	[ "$status" -eq 2 ]
	intact
}

@test "a CLI that dies takes its writer with it; the next backup undoes the session" {
	held_capback
	kill -KILL "$BG"
	wait "$BG" || true
	BG=""
	kill -CONT "$WPID"
	for _ in $(seq 1 100); do
		kill -0 "$WPID" 2>/dev/null || break
		sleep 0.05
	done
	refute kill -0 "$WPID" 2>/dev/null
	WPID=""
	[ "$(markers)" -eq 2 ]
	run cb --current-time $((BASE + 100)) backup "$T/src" "$T/repo"
	echo "$output"
	[ "$status" -eq 2 ]
	[[ "$output" == *regressing* ]]
	intact
}

@test "root on an account's repository works as that account; the account goes on; another account is told whose it is" {
	new_user && OWNER=$NEW_USER
	new_user && OTHER=$NEW_USER
	chmod -R a+rX "$T/src"
	mkdir "$T/acct"
	chown "$OWNER" "$T/acct"
	run run_as "$OWNER" "$CAPBACK_BUILD/capback" --current-time $BASE backup "$T/src" "$T/acct/repo"
	[ "$status" -eq 0 ]
	echo more >"$T/src/root-was-here"
	chmod a+r "$T/src/root-was-here"
	# root: backup, remove increments, a restore, a regress after a kill
	run cb -v 4 --current-time $((BASE + 100)) backup "$T/src" "$T/acct/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"working as $OWNER"* ]]
	cb restore "$T/acct/repo" "$T/byroot"
	run cb drill --all "$T/acct/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$(find "$T/acct" ! -user "$OWNER")" ]
	run run_as "$OWNER" "$CAPBACK_BUILD/capback" drill --all "$T/acct/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	# the account goes on where root left off
	echo again >"$T/src/again"
	chmod a+r "$T/src/again"
	run run_as "$OWNER" "$CAPBACK_BUILD/capback" --current-time $((BASE + 200)) backup "$T/src" "$T/acct/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	run run_as "$OWNER" "$CAPBACK_BUILD/capback" verify --all "$T/acct/repo"
	[ "$status" -eq 0 ]
	run cb --force remove increments --older-than $((BASE + 150)) "$T/acct/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$(find "$T/acct" ! -user "$OWNER")" ]
	run run_as "$OWNER" "$CAPBACK_BUILD/capback" --current-time $((BASE + 300)) backup "$T/src" "$T/acct/repo"
	[ "$status" -eq 0 ]
	# another account gets the owner's name, for a change and a read
	for a in "--current-time $((BASE + 400)) backup $T/src" "regress" "list increments"; do
		run run_as "$OTHER" "$CAPBACK_BUILD/capback" $a "$T/acct/repo"
		echo "$output"
		[ "$status" -eq 1 ]
		[[ "$output" == *"'$T/acct/repo' belongs to $OWNER (uid $(id -u "$OWNER")): run this as that account, or as root"* ]]
	done
}

@test "one drill of a repository at a time: a second is refused while the first runs" {
	# a drill holds rdiff-backup-data (flock) while it runs
	# (held until the test lets go: a fixed 0.3 s to take it and 3 s to
	# keep it raced a loaded machine)
	flock "$T/repo/rdiff-backup-data" sh -c ": >'$T/held'; while [ ! -e '$T/go' ]; do sleep 0.1; done" &
	local holder=$!
	wait_until 120 test -e "$T/held"
	run cb drill --all "$T/repo"
	echo "$output"
	touch "$T/go"
	[ "$status" -eq 1 ]
	[[ "$output" == *"another drill of '$T/repo' is running"* ]]
	wait $holder
	run cb drill --all "$T/repo"
	[ "$status" -eq 0 ]
}

@test "during a regress: backup, regress, remove increments are refused naming it; reads wait; the regress completes" {
	command -v strace >/dev/null || skip "strace not installed"
	held_capback
	kill -KILL "$WPID" "$BG"
	WPID=""
	wait "$BG" || true
	BG=""
	[ "$(markers)" -eq 2 ]
	# a regress held in its middle: its first rename or unlink waits 4 s
	# (strace)
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
	    strace -f -qq -o /dev/null \
	    -e inject=rename,renameat,renameat2,unlink,unlinkat:delay_enter=4000000:when=1 \
	    "$CAPBACK_BUILD/capback-writer" regress "$T/repo" >"$T/reg.out" 2>&1 &
	local rg=$! w
	wait_until 120 grep -q "capback regress PID" "$T/repo/rdiff-backup-data/capback.lock"
	# and stopped there, however slow the machine (the 4 s alone were
	# all the calls below had)
	wait_until 60 pgrep -P "$rg"
	w=$(pgrep -P "$rg")
	kill -STOP "$w"
	for a in "--current-time $((BASE + 200)) backup $T/src" "regress" \
	    "--force remove increments --older-than now"; do
		run cb $a "$T/repo"
		echo "$a: $output"
		[ "$status" -eq 1 ]
		[[ "$output" == *"is in use: capback regress PID"* ]]
	done
	cb list increments "$T/repo" >"$T/list.out" 2>&1 &
	local ls=$!
	wait_text "$T/list.out" "waiting for it to end"
	kill -CONT "$w"
	wait $ls
	cat "$T/list.out"
	wait $rg || true
	cat "$T/reg.out"
	[ "$(markers)" -eq 1 ]
	run cb verify --all "$T/repo"
	[ "$status" -eq 0 ]
	rm -rf "$T/r0"
	cb restore "$T/repo" "$T/r0"
	assert_same_tree "$T/state0" "$T/r0"
}

@test "what the lock file says of its holder reaches the terminal escaped" {
	held_capback
	printf 'capback backup PID 1 \033]2;owned\007 on x\n' >"$T/repo/rdiff-backup-data/capback.lock"
	run cb regress "$T/repo"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *'is in use: capback backup PID 1 \x1b]2;owned\x07 on x'* ]]
	[[ "$output" != *$'\033'* ]]
	release
	intact
}

# vault_markers: current_mirror markers in $T/vault
vault_markers() {
	ls "$T/vault/rdiff-backup-data" 2>/dev/null | grep -c '^current_mirror\.'
}

@test "replicate from a primary in the middle of a backup waits for it, then copies the finished session; a second replicate into a vault in use waits, then finds it up to date" {
	cb replicate "$T/repo" "$T/vault" >/dev/null 2>&1
	held_capback
	"$CAPBACK_BUILD/capback" replicate "$T/repo" "$T/vault" >"$T/rep.out" 2>&1 &
	local rep=$!
	wait_text "$T/rep.out" "waiting for it to end"
	kill -0 $rep # waiting for the backup
	[ "$(vault_markers)" -eq 1 ]
	release
	wait $rep
	cat "$T/rep.out"
	grep -q "waiting for it to end" "$T/rep.out"
	grep -q "copied (1 of 1)" "$T/rep.out"
	diff <(cb list increments "$T/repo") <(cb list increments "$T/vault")
	# the next session, held in the vault's writer mid-way
	for i in 4 5 6; do
		head -c 3000000 /dev/urandom >"$T/src/d/f$i"
	done
	cb --current-time $((BASE + 200)) backup "$T/src" "$T/repo" >/dev/null
	"$CAPBACK_BUILD/capback" replicate "$T/repo" "$T/vault" >"$T/rep1.out" 2>&1 &
	rep=$!
	stop_in_session "$T/vault" "$rep" vault_writer || {
		cat "$T/rep1.out" >&2
		return 1
	}
	WPID=$HELD_PID
	"$CAPBACK_BUILD/capback" replicate "$T/repo" "$T/vault" >"$T/rep2.out" 2>&1 &
	local rep2=$!
	wait_text "$T/rep2.out" "waiting for it to end"
	kill -0 $rep2 # waiting for the first
	kill -CONT "$WPID"
	WPID=""
	wait $rep
	wait $rep2
	cat "$T/rep1.out" "$T/rep2.out"
	grep -q "copied (1 of 1)" "$T/rep1.out"
	grep -q "holds all 3 sessions" "$T/rep2.out"
	diff <(cb list increments "$T/repo") <(cb list increments "$T/vault")
	for t in $BASE $((BASE + 100)) $((BASE + 200)); do
		rm -rf "$T/a" "$T/b"
		cb restore --at $t "$T/repo" "$T/a"
		cb restore --at $t "$T/vault" "$T/b"
		assert_same_tree "$T/a" "$T/b"
	done
}

@test "a backup into an empty directory that is written before its peer says hello refuses, leaving what appeared and making no repository (review)" {
	mkdir "$T/empty"
	mkfifo "$T/fifo"
	"$CAPBACK_BUILD/capback-writer" --current-time $BASE -- backup "$T/empty" \
	    <"$T/fifo" >/dev/null 2>"$T/w.err" &
	local w=$! st=0
	exec 7>"$T/fifo"
	# the writer has looked (empty) once it waits for its peer's hello
	wait_until 120 blocked_reading "$w" 0
	mkdir "$T/empty/h1" && echo precious >"$T/empty/h1/f"
	python3 -c 'import sys; sys.path.insert(0, sys.argv[1])
from cbwire import HELLO, ROLE_READER, frame, hello
sys.stdout.buffer.write(frame(HELLO, hello(ROLE_READER)))' "$LIB" >&7
	exec 7>&-
	wait $w || st=$?
	cat "$T/w.err"
	[ "$st" -eq 1 ]
	grep -q "was empty and is not any more" "$T/w.err"
	[ "$(cat "$T/empty/h1/f")" = precious ]
	[ ! -e "$T/empty/rdiff-backup-data" ]
}

# release_failed: let the held backup go on; it must fail (exit 1 or
# more), its output in bg.out
release_failed() {
	kill -CONT "$WPID"
	WPID=""
	local st=0
	wait "$BG" || st=$?
	BG=""
	cat "$T/bg.out"
	[ "$st" -ne 0 ]
}

# consistent_at_base: the repository is its first session again, whole,
# for capback and rdiff-backup, and takes the next backup
consistent_at_base() {
	[ "$(markers)" -eq 1 ]
	[ -e "$T/repo/rdiff-backup-data/current_mirror.$(date -u -d @$BASE +%Y-%m-%dT%H:%M:%SZ).data" ]
	run cb verify --all "$T/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	rdiff-backup --terminal-verbosity 1 verify "$T/repo"
	rm -rf "$T/r0"
	cb restore "$T/repo" "$T/r0"
	assert_same_tree "$T/state0" "$T/r0"
	cb --current-time $((BASE + 300)) backup "$T/src" "$T/repo" >/dev/null
	run cb verify --all "$T/repo"
	[ "$status" -eq 0 ]
}

@test "a session another program undid under it (rdiff-backup --force ignores the lock) fails instead of completing over it: the previous backup stays the current one" {
	command -v rdiff-backup >/dev/null || skip "rdiff-backup not installed"
	# the real rdiff-backup's forced regress while the session is held:
	# the session stops, the repository is the first session, whole
	held_capback
	rdiff-backup --force regress "$T/repo" || [ $? -eq 2 ] # (2: it warns)
	release_failed
	grep -q "another program changed the repository during this session" "$T/bg.out"
	consistent_at_base
	# its marker alone removed (a forced regress under way): found
	# before the next mirror change, or at the end, and the previous
	# marker stays
	rm -rf "$T/repo"
	cb --current-time $BASE backup "$T/state0" "$T/repo" >/dev/null
	held_capback
	rm "$T/repo/rdiff-backup-data/current_mirror.$(date -u -d @$((BASE + 100)) +%Y-%m-%dT%H:%M:%SZ).data"
	release_failed
	grep -q "is gone: another program changed the repository during this session" "$T/bg.out"
	[ "$(markers)" -eq 1 ]
	[ -e "$T/repo/rdiff-backup-data/current_mirror.$(date -u -d @$BASE +%Y-%m-%dT%H:%M:%SZ).data" ]
	# and the real rdiff-backup --force backup over a held session:
	# capback never reports a session it did not complete
	rm -rf "$T/repo"
	cb --current-time $BASE backup "$T/state0" "$T/repo" >/dev/null
	held_capback
	rdiff-backup --force --current-time $((BASE + 200)) backup "$T/src" "$T/repo" >/dev/null 2>&1 || true
	release_failed
}
