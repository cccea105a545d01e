#!/usr/bin/env bats
# The writer's native-ownership mode (backup --native-owners): the mirror
# keeps true owners and modes, as rdiff-backup run as root does, while
# the writer, holding CAP_CHOWN, CAP_FOWNER and CAP_DAC_OVERRIDE, still
# cannot change anything outside the repository.

load ../lib/helpers

setup() {
	need_root
	setup_scratch
	mkdir -p "$T/src/dir" "$T/src/locked"
	echo a >"$T/src/dir/file"
	echo s >"$T/src/suid"
	chown 1234:2345 "$T/src/dir/file"
	chmod 0640 "$T/src/dir/file"
	chown 0:0 "$T/src/suid"
	chmod 4755 "$T/src/suid"
	chown 3456:3456 "$T/src/dir"
	chmod 0750 "$T/src/dir"
	echo x >"$T/src/locked/f"
	chmod 0000 "$T/src/locked"
	touch -d @1690000000 "$T/src/"* "$T/src/dir/file"
}

teardown() {
	teardown_scratch
}

@test "the mirror has the true owners and modes; both tools restore it" {
	run cb --current-time 1700000000 backup --native-owners "$T/src" "$T/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(stat -c %u:%g:%a "$T/repo/dir/file")" = 1234:2345:640 ]
	[ "$(stat -c %u:%g:%a "$T/repo/dir")" = 3456:3456:750 ]
	[ "$(stat -c %a "$T/repo/suid")" = 4755 ]
	[ "$(stat -c %a "$T/repo/locked")" = 0 ]
	# a second session changes an owner and a mode: the mirror follows
	chown 4321 "$T/src/dir/file"
	chmod 0604 "$T/src/dir/file"
	echo more >>"$T/src/suid"
	chmod 4755 "$T/src/suid"
	touch -d @1690000100 "$T/src/suid"
	run cb --current-time 1700000100 backup --native-owners "$T/src" "$T/repo"
	[ "$status" -eq 0 ]
	[ "$(stat -c %u:%a "$T/repo/dir/file")" = 4321:604 ]
	[ "$(stat -c %a "$T/repo/suid")" = 4755 ]
	run cb restore "$T/repo" "$T/out"
	[ "$status" -eq 0 ]
	assert_same_tree "$T/src" "$T/out"
	run rdiff-backup restore --at 1700000000 "$T/repo" "$T/old"
	[ "$status" -eq 0 ]
	[ "$(stat -c %u:%a "$T/old/dir/file")" = 1234:640 ]
	run rdiff-backup verify "$T/repo"
	[ "$status" -eq 0 ]
}

@test "the native writer is still held to the repository" {
	run cb --current-time 1700000000 backup --native-owners "$T/src" "$T/repo"
	[ "$status" -eq 0 ]
	mkdir "$T/outside"
	echo victim >"$T/outside/victim"
	sleep 600 &
	victim=$!
	run "$CAPBACK_BUILD/capback-writer" --native-owners --sandbox-test "$T/outside:$victim" backup "$T/repo"
	kill "$victim"
	echo "$output"
	if [[ "$output" == *"no sandbox in this build"* ]]; then
		skip "this build has no sandbox"
	fi
	[ "$status" -eq 0 ]
	for a in "chmod beyond" "chown beyond" "utimensat beyond" "setxattr beyond" \
	    "O_PATH + chmod via /proc/self/fd" "open for write beyond the tree"; do
		grep -q "^$a *denied" <<<"$output"
	done
	[ "$(stat -c %u:%a "$T/outside/victim")" = 0:644 ]
}

@test "without CAP_CHOWN native owners are refused, and nothing is made" {
	new_user && u=$NEW_USER
	mkdir "$T/home" && chown "$u" "$T/home"
	chmod 0755 "$T/src/locked"
	run run_as "$u" "$CAPBACK_BUILD/capback" backup --native-owners "$T/src" "$T/home/repo"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"--native-owners needs CAP_CHOWN"* ]]
	[ ! -e "$T/home/repo" ]
}

@test "a native repository says so: regress and later backups keep true owners without the flag; others are refused" {
	run cb --current-time 1700000000 backup --native-owners "$T/src" "$T/repo"
	[ "$status" -eq 0 ]
	[ -f "$T/repo/rdiff-backup-data/capback-native-owners" ]
	# a later backup without the flag keeps the mirror native
	chown 4321 "$T/src/dir/file"
	echo b >>"$T/src/dir/file"
	touch -d @1690000100 "$T/src/dir/file"
	run cb -v 4 --current-time 1700000100 backup "$T/src" "$T/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"keeps native owners"* ]]
	[ "$(stat -c %u:%a "$T/repo/dir/file")" = 4321:640 ]
	[ "$(stat -c %a "$T/repo/suid")" = 4755 ]
	# an unfinished session undone without the flag: owners as before
	cp -a "$T/repo" "$T/before"
	chown 5555 "$T/src/dir/file"
	touch -d @1690000200 "$T/src/dir/file"
	head -c 50000000 /dev/zero >"$T/src/big"
	"$CAPBACK_BUILD/capback" --current-time 1700000200 backup "$T/src" "$T/repo" >/dev/null 2>&1 &
	bg=$!
	# stopped before each look, so never past its session's end
	stop_in_session "$T/repo" "$bg" "pgrep -P $bg capback-writer"
	w=$HELD_PID
	kill -KILL $bg $w $(pgrep -P $bg) 2>/dev/null || true
	wait $bg || true
	# the lock goes with the writer
	wait_until 60 gone "$w"
	[ "$(ls "$T/repo/rdiff-backup-data" | grep -c '^current_mirror')" -eq 2 ]
	run cb regress "$T/repo"
	echo "$output"
	[ "$status" -eq 2 ]
	[ "$(stat -c %u:%a "$T/repo/dir/file")" = 4321:640 ]
	[ "$(stat -c %a "$T/repo/suid")" = 4755 ]
	run cb verify --all "$T/repo"
	[ "$status" -eq 0 ]
	# an ordinary user may read it but not change it
	new_user
	run run_as "$NEW_USER" "$CAPBACK_BUILD/capback" regress "$T/repo"
	echo "$output"
	[ "$status" -eq 1 ]
}
