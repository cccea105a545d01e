#!/usr/bin/env bats
# A malicious repository against the restorer: tests/lib/evilrepo.py
# plays the repository side and streams crafted entries; a local racer
# swaps directories of the destination for symlinks while a real restore
# runs.  Nothing may land outside the destination.

load ../lib/helpers

setup() {
	need_root
	setup_scratch
	mkdir -p "$T/outside"
	echo victim >"$T/outside/victim"
}

teardown() {
	kill "${RACER:-}" 2>/dev/null || true
	teardown_scratch
}

outside_untouched() {
	[ "$(ls -A "$T/outside")" = victim ]
	[ "$(cat "$T/outside/victim")" = victim ]
	[ "$(stat -c %h "$T/outside/victim")" -eq 1 ] # no hard link made to it
}

evil() {
	rm -rf "$T/dest"
	timeout 60 python3 "$LIB/evilrepo.py" "$1" "$T/outside" -- \
	    "$CAPBACK_BUILD/capback-restorer" "$T/dest"
}

@test "names with .., absolute paths and NUL are refused" {
	for s in dotdot absolute inner-dotdot nul; do
		run evil "$s"
		echo "$s: $output"
		[[ "$output" == *"bad ENTRY"* ]]
		[[ "$output" == *"exit 1"* ]]
		outside_untouched
	done
}

@test "a symlink, then a child through it; a child with no parent directory" {
	for s in symlink-then-child child-without-parent; do
		run evil "$s"
		echo "$s: $output"
		[[ "$output" == *"out of order or outside any directory"* ]]
		[[ "$output" == *"exit 1"* ]]
		outside_untouched
	done
	# the symlink itself was restored as a symlink, nothing behind it
	[ ! -e "$T/outside/planted" ]
}

@test "hard links to outside, directly or through a symlink, are not made" {
	run evil hardlink-out
	echo "$output"
	[[ "$output" == *"bad ENTRY"* ]]
	outside_untouched
	run evil hardlink-through-symlink
	echo "$output"
	[[ "$output" == *"cannot hard-link 'z'"* ]]
	[ ! -e "$T/dest/z" ]
	outside_untouched
}

@test "more content than announced, and entries out of order, are refused" {
	run evil oversize
	echo "$output"
	[[ "$output" == *"length exceeds limit"* ]]
	[ "$(stat -c %s "$T/dest/f" 2>/dev/null || echo 0)" -le 4 ]
	run evil out-of-order
	[[ "$output" == *"exit 1"* ]]
	outside_untouched
}

@test "directories swapped for symlinks during a restore: 0 files land outside" {
	mkdir -p "$T/src"
	for i in $(seq 1 150); do
		mkdir -p "$T/src/d$i/sub"
		echo "$i" >"$T/src/d$i/f"
		echo "$i" >"$T/src/d$i/sub/g"
	done
	run cb --current-time 1700000000 backup "$T/src" "$T/repo"
	[ "$status" -eq 0 ]
	# the racer: any directory that appears in the destination is moved
	# aside and replaced by a symlink to the outside
	(
		while :; do
			for d in "$T"/dest*/d*; do
				[ -d "$d" ] && [ ! -L "$d" ] || continue
				mv "$d" "$d.moved" 2>/dev/null && ln -s "$T/outside" "$d" 2>/dev/null
			done
		done
	) &
	RACER=$!
	for round in 1 2 3 4 5; do
		"$CAPBACK_BUILD/capback" restore "$T/repo" "$T/dest$round" >/dev/null 2>&1 || true
	done
	kill "$RACER"
	wait "$RACER" 2>/dev/null || true
	RACER=""
	ls -A "$T/outside"
	outside_untouched
	# and the racer did get in the way (the test is not vacuous)
	[ -n "$(find "$T"/dest* -maxdepth 1 -name '*.moved' -print -quit)" ]
}

@test "a set-id file from another host's repository is restored without the bit unless allowed" {
	run timeout 60 python3 "$LIB/evilrepo.py" setuid "$T/outside" -- \
	    env SSH_ORIGINAL_COMMAND="capback-restorer -- $T/dest" \
	    "$CAPBACK_BUILD/capback-restorer" --serve --restrict-path "$T"
	echo "$output"
	[[ "$output" == *"exit 0"* ]]
	[[ "$output" == *"set-id bits and file capabilities are not restored"* ]]
	[ "$(stat -c %a "$T/dest/rootshell")" = 755 ]
	# the host's admin may allow them on the forced command
	rm -rf "$T/dest"
	run timeout 60 python3 "$LIB/evilrepo.py" setuid "$T/outside" -- \
	    env SSH_ORIGINAL_COMMAND="capback-restorer -- $T/dest" \
	    "$CAPBACK_BUILD/capback-restorer" --serve --allow-setid --restrict-path "$T"
	[[ "$output" == *"exit 0"* ]]
	[ "$(stat -c %a "$T/dest/rootshell")" = 4755 ]
	# the client cannot allow them itself
	rm -rf "$T/dest"
	run timeout 60 python3 "$LIB/evilrepo.py" setuid "$T/outside" -- \
	    env SSH_ORIGINAL_COMMAND="capback-restorer --allow-setid -- $T/dest" \
	    "$CAPBACK_BUILD/capback-restorer" --serve --restrict-path "$T"
	[[ "$output" == *"option not allowed"* ]]
	[ ! -e "$T/dest/rootshell" ]
	# a local restore keeps them, as rdiff-backup does
	run evil setuid
	[ "$(stat -c %a "$T/dest/rootshell")" = 4755 ]
}

@test "content that does not match the recorded SHA-1 is reported, for large files checked late as for small ones" {
	mkdir -p "$T/src/a" "$T/src/b"
	for i in 1 2 3 4 5; do
		head -c $((i * 1500000)) /dev/urandom >"$T/src/a/big$i"
	done
	echo small >"$T/src/b/small"
	head -c 3000000 /dev/urandom >"$T/src/b/last"
	cb backup "$T/src" "$T/repo"
	# same size, same time: only the content says
	for f in a/big2 a/big4 b/small b/last; do
		touch -r "$T/repo/$f" "$T/stamp"
		printf 'X' | dd of="$T/repo/$f" bs=1 seek=5 conv=notrunc 2>/dev/null
		touch -r "$T/stamp" "$T/repo/$f"
	done
	run cb restore "$T/repo" "$T/out"
	echo "$output"
	[ "$status" -eq 4 ]
	for f in a/big2 a/big4 b/small b/last; do
		[[ "$output" == *"content does not match the recorded SHA-1 of '$f'"* ]]
	done
	[ "$(grep -c 'does not match the recorded SHA-1' <<<"$output")" -eq 4 ]
	for f in a/big1 a/big3 a/big5; do
		cmp "$T/src/$f" "$T/out/$f"
	done
}

@test "a repository side that ends with no word of why: the CLI says so, never a silent exit 1 (review)" {
	mkdir -p "$T/src" "$T/libexec"
	echo a >"$T/src/a"
	cb --current-time 1700000000 backup "$T/src" "$T/repo"
	ln -s "$CAPBACK_BUILD/capback-reader" "$T/libexec/capback-reader"
	ln -s "$CAPBACK_BUILD/capback-restorer" "$T/libexec/capback-restorer"
	# says hello, then ends well without a word
	cat >"$T/libexec/capback-writer" <<EOS
#!/bin/sh
exec python3 -c 'import sys; sys.path.insert(0, sys.argv[1])
from cbwire import HELLO, ROLE_REPO_SOURCE, frame, hello
sys.stdout.buffer.write(frame(HELLO, hello(ROLE_REPO_SOURCE)))' "$LIB"
EOS
	chmod 0755 "$T/libexec/capback-writer"
	run env CAPBACK_LIBEXEC="$T/libexec" "$CAPBACK_BUILD/capback" restore "$T/repo" "$T/out"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"the repository side ended without sending the session, and without saying why"* ]]
	# killed by a signal (here SIGTERM, from outside): named
	cat >"$T/libexec/capback-writer" <<EOS
#!/bin/sh
kill -TERM \$\$
EOS
	run env CAPBACK_LIBEXEC="$T/libexec" "$CAPBACK_BUILD/capback" restore "$T/repo" "$T/out2"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"capback-writer was killed by signal 15"* ]]
}
