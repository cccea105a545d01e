#!/usr/bin/env bats
# Allow-lists for peers (issue 20, items 4 and 5): what a forced command
# does for the other host is only what the host's admin put on its
# command line.  The restorer makes no device nodes, set-id bits, file
# capabilities or trusted.*/security.* xattrs unless allowed there, and
# its destination lies strictly beneath the restrict path; a reader's
# client names a presence file by one name, never a path beyond the tree.
# tests/lib/evilrepo.py plays the repository side of a restore and
# tests/lib/evilpeer.py the backup server, locally (SSH_ORIGINAL_COMMAND)
# and through a real sshd on 127.0.0.1.

load ../lib/helpers

setup() {
	need_root
	setup_scratch
	mkdir -p "$T/restore" "$T/outside"
	echo victim >"$T/outside/victim"
}

teardown() {
	[ -n "${T:-}" ] && [ -d "$T/sshd" ] &&
	    sh "$LIB/sshd-loopback.sh" stop "$T/sshd" || true
	teardown_scratch
}

# forced SCENARIO [RESTORER OPTIONS...]: evilrepo.py against the forced
# restorer (restrict path $T/restore) asked to restore into $T/restore/d.
forced() {
	local scen=$1
	shift
	rm -rf "$T/restore/d"
	timeout 60 python3 "$LIB/evilrepo.py" "$scen" "$T/outside" -- \
	    env SSH_ORIGINAL_COMMAND="${REQUEST:-capback-restorer -- $T/restore/d}" \
	    "$CAPBACK_BUILD/capback-restorer" --serve "$@" --restrict-path "$T/restore"
}

@test "forced restorer: no device nodes unless --allow-devices (skipped, named, exit 4); fifos and sockets are made" {
	run forced specials
	echo "$output"
	[[ "$output" == *"not restoring the block device 'blk' (7, 0)"* ]]
	[[ "$output" == *"not restoring the character device 'chr' (1, 1)"* ]]
	[[ "$output" == *"exit 4"* ]]
	[ ! -e "$T/restore/d/blk" ] && [ ! -L "$T/restore/d/blk" ]
	[ ! -e "$T/restore/d/chr" ] && [ ! -L "$T/restore/d/chr" ]
	# harmless beneath the destination, and restored
	[ -p "$T/restore/d/fifo" ]
	[ -S "$T/restore/d/sock" ]
	[ "$(stat -c %a "$T/restore/d/fifo")" = 666 ]
	# the client cannot allow them itself
	REQUEST="capback-restorer --allow-devices -- $T/restore/d" run forced specials
	echo "$output"
	[[ "$output" == *"option not allowed"* ]]
	[ ! -e "$T/restore/d/blk" ]
	# the host's admin may, on the forced command
	run forced specials --allow-devices
	echo "$output"
	[[ "$output" == *"exit 0"* ]]
	[ -b "$T/restore/d/blk" ]
	[ -c "$T/restore/d/chr" ]
	[ "$(stat -c '%t:%T' "$T/restore/d/chr")" = 1:1 ]
	# a local restore (the admin's own) makes them, as rdiff-backup does
	rm -rf "$T/restore/d"
	run timeout 60 python3 "$LIB/evilrepo.py" specials "$T/outside" -- \
	    "$CAPBACK_BUILD/capback-restorer" "$T/restore/d"
	[[ "$output" == *"exit 0"* ]]
	[ -b "$T/restore/d/blk" ]
}

@test "forced restorer: no trusted.* or security.* xattrs from another host; user.* kept" {
	run forced xattrs
	echo "$output"
	[[ "$output" == *"exit 0"* ]]
	[[ "$output" == *"extended attributes are not restored through a forced command (security.evil on 'f')"* ]]
	# skipped by the allow-list, not tried (and refused by the kernel)
	[[ "$output" != *"Operation not permitted"* ]]
	[ "$(getfattr --only-values -n user.ok "$T/restore/d/f")" = 1 ]
	refute getfattr -n trusted.evil "$T/restore/d/f"
	refute getfattr -n security.evil "$T/restore/d/f"
	refute getfattr -h -n trusted.evil "$T/restore/d/link"
	# the client cannot change that
	REQUEST="capback-restorer --allow-setid -- $T/restore/d" run forced xattrs
	[[ "$output" == *"option not allowed"* ]]
}

@test "forced restorer: the destination is strictly beneath the restrict path, never the path itself" {
	echo keep >"$T/restore/keep"
	for dest in "$T/restore" "$T/restore/" "$T/restore//"; do
		REQUEST="capback-restorer --force -- $dest" run forced specials
		echo "$output"
		[[ "$output" == *"must lie beneath the restrict path"* ]]
		[[ "$output" == *"exit 1"* ]]
		[ "$(cat "$T/restore/keep")" = keep ]
	done
	# beneath it, --force is the client's to give
	echo old >"$T/restore/d2"
	REQUEST="capback-restorer --force -- $T/restore/d2" run forced specials
	[[ "$output" == *"exit 4"* ]]
	[ -p "$T/restore/d2/fifo" ]
	[ "$(cat "$T/restore/keep")" = keep ]
}

# sshd_start: a private sshd on 127.0.0.1 with root's key forced to the
# restorer (restrict path $T/restore) and $READER's to the reader
# (restrict path $T/target).
sshd_start() {
	local allow=""
	# a build without the sandbox refuses root unless the tests allow it
	[ -n "${CAPBACK_ALLOW_UNSANDBOXED_ROOT:-}" ] &&
	    allow="env CAPBACK_ALLOW_UNSANDBOXED_ROOT=1 "
	new_user && READER=$NEW_USER
	usermod -s /bin/sh "$READER"
	PORT=$((20000 + RANDOM % 20000))
	sh "$LIB/sshd-loopback.sh" start "$T/sshd" "$PORT" \
	    "root=${allow}$CAPBACK_BUILD/capback-restorer --serve --restrict-path $T/restore" \
	    "$READER=$CAPBACK_BUILD/capback-reader --serve --restrict-path $T/target"
	ROOTSSH=$(sh "$LIB/sshd-loopback.sh" sshcmd "$T/sshd" root)
	READSSH=$(sh "$LIB/sshd-loopback.sh" sshcmd "$T/sshd" "$READER")
}

@test "over ssh: a hostile repository side's devices are not made by the forced restorer, nor is DEST the restrict path" {
	[ -x /usr/sbin/sshd ] || skip "openssh-server not installed"
	sshd_start
	run timeout 60 python3 "$LIB/evilrepo.py" specials "$T/outside" -- \
	    $ROOTSSH 127.0.0.1 "capback-restorer -- $T/restore/d"
	echo "$output"
	[[ "$output" == *"not restoring the block device 'blk'"* ]]
	[[ "$output" == *"exit 4"* ]]
	[ ! -e "$T/restore/d/blk" ] && [ ! -e "$T/restore/d/chr" ]
	[ -p "$T/restore/d/fifo" ] && [ -S "$T/restore/d/sock" ]
	# the real pipeline: a backup holding a device, restored onto the host
	mkdir -p "$T/src/sub"
	echo a >"$T/src/sub/a"
	mknod "$T/src/sub/mem" c 1 1
	mkfifo "$T/src/sub/fifo"
	cb backup "$T/src" "$T/repo"
	run cb --remote-schema "$ROOTSSH {h}" restore "$T/repo" "r@127.0.0.1::$T/restore/real"
	echo "$output"
	[ "$status" -eq 4 ]
	[[ "$output" == *"not restoring the character device 'sub/mem' (1, 1)"* ]]
	[ ! -e "$T/restore/real/sub/mem" ]
	[ -p "$T/restore/real/sub/fifo" ]
	[ "$(cat "$T/restore/real/sub/a")" = a ]
	# a real restore onto R itself, with --force, is refused
	echo keep >"$T/restore/keep"
	run cb --remote-schema "$ROOTSSH {h}" restore --force "$T/repo" \
	    "r@127.0.0.1::$T/restore"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"must lie beneath the restrict path"* ]]
	[ "$(cat "$T/restore/keep")" = keep ]
	[ -e "$T/restore/d/fifo" ]
}

@test "over ssh: exclude-if-present takes one name, so the listing is no oracle for files beyond the tree" {
	[ -x /usr/sbin/sshd ] || skip "openssh-server not installed"
	mkdir -p "$T/target/data/d" "$T/outside/private"
	echo x >"$T/target/data/d/f"
	touch "$T/outside/private/x"
	chmod 0755 "$T/target" "$T/outside" "$T/outside/private"
	sshd_start
	# from data/d, ../../../outside is $T/outside: beyond the restrict path
	for name in ../../../outside/private/x ../../../outside/private/nothing \
	    "$T/outside/private/x" .. . "d/" ""; do
		run timeout 60 python3 "$LIB/evilpeer.py" list -- $READSSH 127.0.0.1 \
		    "capback-reader --select 'exclude-if-present=$name' -- $T/target/data"
		echo "$name: $output"
		[[ "$output" == *"needs one file name"* ]]
		[[ "$output" != *"entry d"* ]]
		[[ "$output" == *"exit 1"* ]]
	done
	# one name still works, over ssh and from the command line
	touch "$T/target/data/d/CACHEDIR.TAG"
	run timeout 60 python3 "$LIB/evilpeer.py" list -- $READSSH 127.0.0.1 \
	    "capback-reader --select exclude-if-present=CACHEDIR.TAG -- $T/target/data"
	echo "$output"
	[[ "$output" == *"exit 0"* ]]
	[[ "$output" != *"entry d"* ]]
	run cb backup --exclude-if-present ../outside/private/x "$T/target/data" "$T/repo"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"needs one file name"* ]]
	[ ! -e "$T/repo" ]
}
