#!/usr/bin/env bats
# Each role, confined exactly as it confines itself for its job, attacked
# from inside (capback-ROLE --sandbox-test forks one child per attack; the
# child enters the role's Landlock domain and seccomp filter, then tries).
# The roles run as root with every capability they keep, the strongest
# case: Landlock and seccomp must stop what permissions would allow.

load ../lib/helpers

setup() {
	need_root
	setup_scratch
	mkdir -p "$T/tree/sub" "$T/outside"
	echo inside >"$T/tree/sub/file"
	echo victim >"$T/outside/victim"
	sleep 600 &
	VICTIM=$!
	if "$CAPBACK_BUILD/capback-reader" --sandbox-test "$T/outside:$VICTIM" -- "$T/tree" |
		grep -q 'no sandbox in this build'; then
		kill "$VICTIM"
		skip "this build has no sandbox (sanitizer build)"
	fi
}

teardown() {
	kill "${VICTIM:-}" 2>/dev/null || true
	teardown_scratch
}

# the outside world is as it was
untouched() {
	[ "$(cat "$T/outside/victim")" = victim ]
	[ "$(stat -c %a:%U "$T/outside/victim")" = 644:root ]
	[ "$(ls "$T/outside")" = victim ]
	kill -0 "$VICTIM"
}

@test "reader: read-only beneath its tree, nothing else" {
	run "$CAPBACK_BUILD/capback-reader" --sandbox-test "$T/outside:$VICTIM" -- "$T/tree"
	echo "$output"
	[ "$status" -eq 0 ]
	# started as root: one capability, locked securebits, no bounding set
	[[ "$output" == *'state: uid 0, capabilities "cap_dac_read_search=ep", bounding set 0, securebits 0xef'* ]]
	[ "$(grep -c ' denied (' <<<"$output")" -eq 23 ]
	[[ "$output" == *"open for write inside the tree     denied"* ]]
	# CAP_DAC_READ_SEARCH's other power: a handle opens any file of the
	# mount.  Unconfined it does; confined seccomp says EPERM (Landlock
	# alone would say EACCES, and name_to_handle_at would work)
	refute grep -q "the handle does not open" <<<"$output"
	grep -qx "name_to_handle_at beyond  *denied (Operation not permitted)" <<<"$output"
	grep -qx "open_by_handle_at beyond  *denied (Operation not permitted)" <<<"$output"
	[[ "$output" == *"execve /bin/true                   denied (killed by signal 31, SIGSYS)"* ]]
	[[ "$output" == *"ptrace a same-uid process          denied (killed by signal 31, SIGSYS)"* ]]
	untouched
}

@test "reader started as root with --user: that user, one capability, locked, and it still reads root-only files" {
	run "$CAPBACK_BUILD/capback-reader" --user nobody --sandbox-test "$T/outside:$VICTIM" -- "$T/tree"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"state: uid $(id -u nobody), capabilities \"cap_dac_read_search=ep\", bounding set 0, securebits 0xef"* ]]
	# as that user, with only the capability, a handle of root's file
	# opens unconfined, and confined the filter refuses it
	refute grep -q "the handle does not open" <<<"$output"
	grep -qx "open_by_handle_at beyond  *denied (Operation not permitted)" <<<"$output"
	refute grep -q "ALLOWED" <<<"$output"
	run "$CAPBACK_BUILD/capback-reader" --user nobody --check /etc/shadow
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"uid $(id -u nobody)"*ok* ]]
	untouched
}

@test "writer: changes beneath the repository only; no path-based metadata calls" {
	run cb --current-time 1700000000 backup "$T/tree" "$T/repo"
	[ "$status" -eq 0 ]
	run "$CAPBACK_BUILD/capback-writer" --sandbox-test "$T/outside:$VICTIM" backup "$T/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *'state: uid 0, capabilities "cap_dac_override,cap_dac_read_search,cap_fowner=ep", bounding set 0, securebits 0xef'* ]]
	[ "$(grep -c ' denied (' <<<"$output")" -eq 22 ]
	[[ "$output" == *"open for write inside the tree     allowed (the role's job)"* ]]
	for a in "chmod beyond" "chown beyond" "utimensat beyond" "setxattr beyond" \
	    "O_PATH + chmod via /proc/self/fd" "read beyond the tree" "rename beyond"; do
		grep -q "^$a *denied" <<<"$output"
	done
	untouched
}

@test "restorer: writes beside and beneath its destination only, and is rooted there" {
	# its first rule is the directory that will hold the destination;
	# at its root entry the destination becomes its root directory
	mkdir "$T/tree/dest"
	run "$CAPBACK_BUILD/capback-restorer" --sandbox-test "$T/outside:$VICTIM" "$T/tree/dest"
	echo "$output"
	[ "$status" -eq 0 ]
	for a in "read beyond the tree" "open for write beyond the tree" "mkdir beyond" \
	    "unlink beyond" "rename beyond" "chmod beyond" "chown beyond" "utimensat beyond" \
	    "setxattr beyond" "O_PATH + chmod via /proc/self/fd" "chmod beyond through ../.." \
	    "chroot escape (chroot, then ..)" "execve /bin/true" "socket + connect 127.0.0.1:22" \
	    "kill a same-uid process" "ptrace a same-uid process" "mmap PROT_EXEC" \
	    "sendfile to another descriptor" "fork (clone without CLONE_THREAD)" \
	    "ioctl TIOCSTI (type into a terminal)" "name_to_handle_at beyond"; do
		grep -q "^$a *denied" <<<"$output"
	done
	grep -q "open_by_handle_at beyond *denied" <<<"$output"
	grep -q '^state: uid 0, capabilities "cap_chown,cap_dac_override,cap_fowner,cap_fsetid,cap_sys_chroot,cap_mknod,cap_setfcap=ep", bounding set 0, securebits 0xef$' <<<"$output"
	grep -q "^open for write inside the tree *allowed (the role's job)" <<<"$output"
	refute grep -q "ALLOWED\|cannot chroot" <<<"$output"
	untouched
}

@test "restorer run by an ordinary user: not rooted, its calls by name reach only the user's own files" {
	new_user
	mkdir "$T/tree/dest"
	chown -R "$NEW_USER" "$T/tree"
	# a file of the user's own beyond the tree, and root's victim
	echo mine >"$T/outside/mine"
	chown "$NEW_USER" "$T/outside/mine" "$T/outside"
	kill "$VICTIM"
	VICTIM=$(run_as "$NEW_USER" sh -c 'sleep 600 >/dev/null 2>&1 & echo $!')
	run run_as "$NEW_USER" "$CAPBACK_BUILD/capback-restorer" --sandbox-test "$T/outside:$VICTIM" "$T/tree/dest"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"not rooted at the destination: no CAP_SYS_CHROOT"* ]]
	# on root's file (the attacks' victim) permissions still say no
	for a in "chmod beyond" "chown beyond" "utimensat beyond" "setxattr beyond" \
	    "O_PATH + chmod via /proc/self/fd" "chmod beyond through ../.."; do
		grep -q "^$a *denied" <<<"$output"
	done
	for a in "open for write beyond the tree" "mkdir beyond" "unlink beyond" "rename beyond" \
	    "chroot escape (chroot, then ..)" "execve /bin/true" "socket + connect 127.0.0.1:22"; do
		grep -q "^$a *denied" <<<"$output"
	done
	refute grep -q "ALLOWED" <<<"$output"
	[ "$(stat -c %a:%U "$T/outside/victim")" = 644:root ]
}

@test "the running roles are confined: Seccomp 2 and NoNewPrivs 1 in /proc, in every thread" {
	# random data: zeros would cross as holes, too fast to catch; 200 MB:
	# a restore of 50 MB over the pipes ended between two looks, five
	# times in a row, in one run
	head -c 200000000 /dev/urandom >"$T/tree/big"
	run cb --current-time 1700000000 backup "$T/tree" "$T/repo"
	[ "$status" -eq 0 ]
	# a restore that streams a big file: catch both roles while they
	# run (on a loaded machine one restore may end between two looks:
	# up to five are made)
	seen=""
	for n in 1 2 3 4 5; do
		cb restore "$T/repo" "$T/out$n" &
		job=$!
		for _ in $(seq 1 300); do
			for role in capback-writer capback-restorer; do
				pid=$(pgrep -n -f "$role .*$T/(repo|out$n)") || continue
				st=$(cat "/proc/$pid/status" 2>/dev/null) || continue
				grep -qx 'Seccomp:	2' <<<"$st" && grep -qx 'NoNewPrivs:	1' <<<"$st" &&
					grep -qx 'CapBnd:	0000000000000000' <<<"$st" &&
					[[ "$seen" != *"$role"* ]] && seen="$seen $role"
				# the restorer's second thread (it hashes what was
				# written) holds exactly what the first one holds
				if [ "$role" = capback-restorer ] && [[ "$seen" != *thread* ]]; then
					tasks=$(ls "/proc/$pid/task" 2>/dev/null | wc -l)
					main=$(grep -E '^(Seccomp|Seccomp_filters|NoNewPrivs|Cap[A-Za-z]+):' "/proc/$pid/task/$pid/status" 2>/dev/null) || continue
					same=1
					for t in /proc/$pid/task/*; do
						[ "$(grep -E '^(Seccomp|Seccomp_filters|NoNewPrivs|Cap[A-Za-z]+):' "$t/status" 2>/dev/null)" = "$main" ] || same=0
					done
					[ "$tasks" -ge 2 ] && [ "$same" = 1 ] && grep -qx 'Seccomp:	2' <<<"$main" && seen="$seen thread"
				fi
			done
			[[ "$seen" == *writer* && "$seen" == *restorer* && "$seen" == *thread* ]] && break
			kill -0 "$job" 2>/dev/null || break
			sleep 0.01
		done
		wait "$job"
		[[ "$seen" == *writer* && "$seen" == *restorer* && "$seen" == *thread* ]] && break
	done
	echo "seen confined:$seen"
	[[ "$seen" == *capback-writer* ]]
	[[ "$seen" == *capback-restorer* ]]
	[[ "$seen" == *thread* ]]
}

@test "under a file capability the loader's secure mode holds: LD_PRELOAD is ignored" {
	command -v cc >/dev/null || skip "no C compiler"
	new_user && U=$NEW_USER
	mkdir -p "$T/cap" "$T/plain" "$T/marks"
	chmod 0777 "$T/marks"
	cat >"$T/evil.c" <<'C'
#include <stdio.h>
#include <unistd.h>
__attribute__((constructor)) static void evil(void)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/loaded-%d", MARKS, (int)getpid());
	FILE *f = fopen(p, "w");
	if (f) fclose(f);
}
C
	cc -shared -fPIC -DMARKS="\"$T/marks\"" -o "$T/evil.so" "$T/evil.c"
	chmod 0755 "$T/evil.so" "$T/cap" "$T/plain"
	cp "$CAPBACK_BUILD/capback-reader" "$T/cap/"
	cp "$CAPBACK_BUILD/capback-reader" "$T/plain/"
	setcap cap_dac_read_search+p "$T/cap/capback-reader"
	# control: without the capability the library is loaded
	run run_as "$U" env LD_PRELOAD="$T/evil.so" "$T/plain/capback-reader" --check /etc/hostname
	[ "$(ls "$T/marks" | wc -l)" -eq 1 ]
	rm -f "$T/marks"/*
	# with it, the loader ignores LD_PRELOAD, and the root-only read works
	run run_as "$U" env LD_PRELOAD="$T/evil.so" TMPDIR=/nonexistent TZ=/etc/shadow \
	    LANG=xx_XX.bogus HOME=/root "$T/cap/capback-reader" --check /etc/shadow
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"reading /etc/shadow: ok"* ]]
	[ "$(ls "$T/marks" | wc -l)" -eq 0 ]
}
