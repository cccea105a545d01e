#!/usr/bin/env bats
# capback mount: every session as a read-only FUSE file system, mounted
# by an ordinary account through fusermount3, compared with restore --at.

load ../lib/helpers
load ../lib/history

setup() {
	need_root
	command -v fusermount3 >/dev/null || skip "fuse3 not installed"
	[ -c /dev/fuse ] || skip "no /dev/fuse"
	setup_scratch
	# Debian's udev makes it 0666; a bare container may not
	chmod 0666 /dev/fuse
	new_user
	U=$NEW_USER
	mkdir -p "$T/home" "$T/mnt"
	chown "$U" "$T/home" "$T/mnt"
	sh "$LIB/fixture.sh" "$T/src"
	python3 -c "import random,sys; r=random.Random(3); sys.stdout.buffer.write(r.randbytes(int(sys.argv[1])))" "${CAPBACK_TEST_BIG:-8388608}" >"$T/src/big"
	touch -d '2022-03-04 05:06:07' "$T/src/big" "$T/src"
}

teardown() {
	[ -n "${WPID:-}" ] && kill -KILL $WPID 2>/dev/null || true
	fusermount3 -u -z "$T/mnt" 2>/dev/null || true
	pkill -u "$U" capback-mount 2>/dev/null || true
	teardown_scratch
}

as_user() {
	run_as "$U" env HOME="$T/home" CAPBACK_LIBEXEC="${CAPBACK_LIBEXEC:-}" \
	    "$@"
}

# mnt [OPTIONS] [REPO[/PATH]]: mount as the ordinary account.
mnt() {
	as_user "$CAPBACK_BUILD/capback" mount "$@" "$T/mnt"
}

umnt() {
	as_user "$CAPBACK_BUILD/capback" umount "$T/mnt"
}

# The session directory of time $1.
sdir() {
	echo "$T/mnt/$(TZ=UTC date -d "@$1" +%Y-%m-%dT%H:%M:%SZ)"
}

# musum DIR: the tree manifest as the account sees it.
musum() {
	as_user /usr/bin/python3 "$LIB/treesum.py" "$1"
}

# wait_for FILE: until it exists (at most 120 s)
wait_for() {
	wait_until 120 test -e "$1"
}

build_history() {
	session 0
	for n in 1 2 3; do
		change_tree $n
		session $n
	done
	chown -R "$U" "$T/repo"
}

# mounted: the mount is there and answers
mounted() {
	grep -q " $T/mnt fuse.capback " /proc/mounts && as_user ls "$T/mnt" >/dev/null
}

mount_log() {
	cat "$T"/home/.cache/capback/mount/*/mount.log 2>/dev/null || true
}

@test "every session through the mount is what restore --at writes, as an ordinary account" {
	build_history
	mnt "$T/repo"
	run as_user ls "$T/mnt"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 5 ] # four sessions and latest
	[ "$(as_user readlink "$T/mnt/latest")" = "$(basename "$(sdir 1700000300)")" ]
	# ls -l of the root (getattr and the ACL of each session) indexes
	# no session: that waits for a session's first listing
	as_user ls -l "$T/mnt" >/dev/null
	[ "$(find "$T/home/.cache" -name '*.idx' | wc -l)" -eq 0 ]
	for n in 0 1 2 3; do
		t=$((1700000000 + 100 * n))
		cb restore --at "$t" "$T/repo" "$T/out$n" >/dev/null
		musum "$(sdir $t)" >"$T/m.sum"
		treesum "$T/out$n" >"$T/r.sum"
		diff -u "$T/r.sum" "$T/m.sum"
		# and what the source was then
		assert_same_tree "$T/state$n" "$T/out$n"
	done
	# the process holds no capability and is confined
	# the file system's process (its parent only waits to unmount)
	pid=$(pgrep -u "$U" -n capback-mount)
	grep -q '^CapEff:	0000000000000000' /proc/$pid/status
	if ! "$CAPBACK_BUILD/capback-reader" --sandbox-test "$T:1" -- "$T/src" 2>&1 |
	    grep -q 'no sandbox in this build'; then
		grep -q '^NoNewPrivs:	1' /proc/$pid/status
		grep -q '^Seccomp:	2' /proc/$pid/status
	fi
	umnt
	refute mounted
}

@test "xattrs and ACLs through getfattr and getfacl, hard links as one inode" {
	build_history
	mnt "$T/repo"
	cb restore "$T/repo" "$T/out" >/dev/null
	for f in xattrs acl_file default_acl_dir default_acl_dir/inherit capbin; do
		(cd "$T/out" && getfattr -h -d -m - -e hex "$f") >"$T/r.xa"
		as_user sh -c 'cd "$1" && getfattr -h -d -m - -e hex "$2"' _ \
		    "$T/mnt/latest" "$f" >"$T/m.xa"
		diff -u "$T/r.xa" "$T/m.xa"
		(cd "$T/out" && getfacl -n "$f") >"$T/r.acl"
		as_user sh -c 'cd "$1" && getfacl -n "$2"' _ "$T/mnt/latest" \
		    "$f" >"$T/m.acl"
		diff -u "$T/r.acl" "$T/m.acl"
	done
	as_user getfacl -n "$T/mnt/latest/acl_file" | grep -q '^user:65534:rw-$'
	s=$(sdir 1700000000)
	[ "$(as_user stat -c %i "$s/dir/hl1")" = "$(as_user stat -c %i "$s/hl3")" ]
	[ "$(as_user stat -c %h "$s/hl3")" = 3 ]
	[ "$(as_user stat -c %h "$(sdir 1700000200)/plain")" = 2 ]
	[ "$(as_user stat -c %h "$(sdir 1700000300)/plain")" = 1 ]
	[ "$(as_user stat -c '%t:%T' "$s/chardev")" = "1:3" ]
	[ "$(as_user readlink "$s/dangling")" = /nonexistent/target ]
}

@test "every changing call fails with EROFS; the repository is unchanged" {
	build_history
	before=$(cd "$T/repo" && find . -path ./rdiff-backup-data/capback.lock -prune -o -printf '%p %s %T@\n' | sort | md5sum)
	mnt "$T/repo"
	L=$T/mnt/latest
	for cmd in "touch $L/new" "mkdir $L/d" "rm $L/plain" "chmod 600 $L/plain" \
	    "setfattr -n user.x -v 1 $L/plain" "ln -s x $L/s" "mv $L/plain $L/p2" \
	    "truncate -s 0 $L/plain" "touch $T/mnt/x"; do
		run as_user sh -c "$cmd"
		echo "$cmd: $output"
		[ "$status" -ne 0 ]
		[[ "$output" == *"Read-only file system"* ]]
	done
	run as_user sh -c "echo x >>$L/plain"
	[ "$status" -ne 0 ]
	[[ "$output" == *"Read-only file system"* ]]
	umnt
	after=$(cd "$T/repo" && find . -path ./rdiff-backup-data/capback.lock -prune -o -printf '%p %s %T@\n' | sort | md5sum)
	[ "$before" = "$after" ]
}

@test "reads at random offsets of a file with a long delta chain match the restored copy" {
	mkdir -p "$T/s2"
	python3 -c "import random,sys; r=random.Random(5); sys.stdout.buffer.write(r.randbytes(4194304))" >"$T/s2/f"
	for n in $(seq 0 11); do
		python3 - "$T/s2/f" "$n" <<'EOF'
import os, random, sys
r = random.Random(int(sys.argv[2]) + 100)
with open(sys.argv[1], "r+b") as f:
    for _ in range(6):
        f.seek(r.randrange(0, 4194304 - 5000))
        f.write(r.randbytes(r.randrange(1, 5000)))
    if int(sys.argv[2]) % 4 == 3:
        f.seek(0, 2)
        f.write(r.randbytes(7777))  # it grows now and then
EOF
		touch -d "2023-01-01 00:00:$n" "$T/s2/f"
		cb --current-time $((1700000000 + 100 * n)) backup "$T/s2" "$T/repo" >/dev/null
	done
	chown -R "$U" "$T/repo"
	mnt "$T/repo"
	for n in 0 5; do
		t=$((1700000000 + 100 * n))
		cb restore --at $t "$T/repo/f" "$T/f$n" >/dev/null
		as_user /usr/bin/python3 - "$(sdir $t)/f" "$T/f$n" <<'EOF'
import os, random, sys
m, r = open(sys.argv[1], "rb"), open(sys.argv[2], "rb")
size = os.fstat(r.fileno()).st_size
assert os.stat(sys.argv[1]).st_size == size
rnd = random.Random(9)
for _ in range(300):
    off = rnd.randrange(0, size + 100)
    n = rnd.choice([1, 17, 4096, 65536, 200000])
    m.seek(off); r.seek(off)
    a, b = m.read(n), r.read(n)
    assert a == b, (off, n, len(a), len(b))
m.seek(0); r.seek(0)
assert m.read() == r.read()
print("ok")
EOF
	done
	# the versions are not rebuilt whole: the literal store holds the
	# changed bytes, far less than the file
	[ "$(find "$T/home/.cache" -name '*.idx' | wc -l)" -ge 2 ]
}

@test "a backup, a remove and a regress while files are open and directories listed" {
	build_history
	mnt "$T/repo"
	old=$(sdir 1700000000)
	# hold files of the oldest and the newest session open
	as_user /usr/bin/python3 - "$old/big" "$T/mnt/latest/big" "$T/home/go" "$T/home/ready" "$T/home/sums" <<'EOF' &
import hashlib, os, sys, time
a, b = open(sys.argv[1], "rb"), open(sys.argv[2], "rb")
a.read(10); b.read(10)
open(sys.argv[4], "w").close()
while not os.path.exists(sys.argv[3]):
    time.sleep(0.05)
a.seek(0); b.seek(0)
with open(sys.argv[5], "w") as out:
    out.write(hashlib.sha1(a.read()).hexdigest() + "\n")
    out.write(hashlib.sha1(b.read()).hexdigest() + "\n")
EOF
	HOLD=$!
	wait_for "$T/home/ready"
	# a backup that rewrites big (a new mirror file, renamed over the
	# old one: an update in place is the next test's), then a removal
	# of the oldest session
	head -c "$(stat -c %s "$T/src/big")" /dev/urandom >"$T/big.new"
	cp "$T/big.new" "$T/src/big"
	touch -d '2023-06-01' "$T/src/big"
	cb --current-time 1700000400 backup "$T/src" "$T/repo" >/dev/null
	chown -R "$U" "$T/repo"
	cb remove increments --older-than 1700000050 "$T/repo" >/dev/null
	touch "$T/home/go"
	wait $HOLD
	# what the open files read is what they were when opened
	sha1sum <"$T/state0/big" | cut -d' ' -f1 >"$T/want"
	sha1sum <"$T/state3/big" | cut -d' ' -f1 >>"$T/want"
	diff "$T/want" "$T/home/sums"
	# the new session appears, the removed one is gone
	sleep 1.2
	run as_user ls "$T/mnt"
	echo "$output"
	[[ "$output" == *"$(basename "$(sdir 1700000400)")"* ]]
	[[ "$output" != *"$(basename "$old")"* ]]
	[ "$(as_user readlink "$T/mnt/latest")" = "$(basename "$(sdir 1700000400)")" ]
	as_user cmp "$(sdir 1700000400)/big" "$T/src/big"
	as_user cmp "$(sdir 1700000300)/big" "$T/state3/big"
}

@test "a session being written is not shown; a file opened during a held backup reads right" {
	build_history
	mnt "$T/repo"
	as_user ls "$(sdir 1700000300)" "$(sdir 1700000100)" >/dev/null
	printf 'HELD' | dd of="$T/src/big" bs=1 seek=777 conv=notrunc status=none
	touch -d '2023-07-01' "$T/src/big"
	# a large new file keeps the session open long enough to hold it
	head -c 300M /dev/urandom >"$T/src/huge"
	chown -R "$U" "$T/src"
	# the backup runs as the account and is held in the middle of its
	# session once it is past big (receiving huge, which comes after it):
	# stopped in the middle of big's update in place, big is EAGAIN by
	# design, and the test failed once so
	hold_backup 1700000400 "$T/repo/huge"
	sleep 1.2
	run as_user ls "$T/mnt"
	echo "$output"
	[[ "$output" != *"$(basename "$(sdir 1700000400)")"* ]]
	[ "$(as_user readlink "$T/mnt/latest")" = "$(basename "$(sdir 1700000300)")" ]
	as_user cmp "$(sdir 1700000300)/big" "$T/state3/big"
	as_user cmp "$(sdir 1700000100)/big" "$T/state1/big"
	# a session never listed is not indexed while the writer holds the
	# repository (its metadata may be changing): try again later
	run as_user ls "$(sdir 1700000200)"
	[ "$status" -ne 0 ]
	[[ "$output" == *"Resource temporarily unavailable"* ]]
	# the backup dies there; its regress runs while a file is open
	as_user /usr/bin/python3 - "$(sdir 1700000300)/big" "$T/home/go" "$T/home/ready" "$T/home/sum" <<'EOF' &
import hashlib, os, sys, time
f = open(sys.argv[1], "rb")
f.read(1)
open(sys.argv[3], "w").close()
while not os.path.exists(sys.argv[2]):
    time.sleep(0.05)
f.seek(0)
open(sys.argv[4], "w").write(hashlib.sha1(f.read()).hexdigest() + "\n")
EOF
	HOLD=$!
	wait_for "$T/home/ready"
	[ -n "$WPID" ]
	kill -KILL $WPID
	wait $BG || true
	run run_as "$U" "$CAPBACK_BUILD/capback" regress "$T/repo"
	echo "$output"
	[ "$status" -eq 2 ] # a session was undone
	touch "$T/home/go"
	wait $HOLD
	[ "$(cat "$T/home/sum")" = "$(sha1sum <"$T/state3/big" | cut -d' ' -f1)" ]
	sleep 1.2
	[ "$(as_user readlink "$T/mnt/latest")" = "$(basename "$(sdir 1700000300)")" ]
	as_user cmp "$(sdir 1700000300)/big" "$T/state3/big"
	as_user cmp "$(sdir 1700000200)/big" "$T/state2/big"
}

# hold_backup TIME [GLOB]: a backup of session TIME as the account, held
# in the middle of its session (its marker written, and a file matching
# GLOB in the repository) by stopping its writer; BG the capback process,
# WPID the writer
hold_backup() {
	run_as "$U" "$CAPBACK_BUILD/capback" --current-time "$1" backup "$T/src" "$T/repo" >"$T/bg.out" 2>&1 &
	BG=$!
	stop_in_session "$T/repo" "$BG" account_writer "${2:-}" || {
		cat "$T/bg.out" >&2
		return 1
	}
	WPID=$HELD_PID
}

account_writer() {
	pgrep -u "$U" capback-writer
}

@test "a session that ended just before the next backup started is shown during it, latest at it" {
	build_history
	mnt "$T/repo"
	as_user ls "$(sdir 1700000300)" >/dev/null
	echo four >"$T/src/four"
	chown -R "$U" "$T/src"
	# A ends, and B starts before the mount looks again
	run_as "$U" "$CAPBACK_BUILD/capback" --current-time 1700000400 backup "$T/src" "$T/repo"
	cp -a "$T/src" "$T/state4"
	printf 'BEE' | dd of="$T/src/big" bs=1 seek=4444 conv=notrunc status=none
	touch -d '2023-08-01' "$T/src/big"
	head -c 100M /dev/urandom >"$T/src/huge"
	chown -R "$U" "$T/src"
	# held once it is past big (receiving huge): an update in place has
	# written big's increment (named with A's time) by then; a rewrite
	# (a small big: the sanitizer pass) waits in the batch, unseen
	hold_backup 1700000500 "$T/repo/huge"
	local inc_seen=0
	compgen -G "$T/repo/rdiff-backup-data/increments/big.$(basename "$(sdir 1700000400)" | sed 's/Z$//')*" >/dev/null &&
	    inc_seen=1
	sleep 1.2
	run as_user ls "$T/mnt"
	echo "$output"
	[[ "$output" == *"$(basename "$(sdir 1700000400)")"* ]]
	[[ "$output" != *"$(basename "$(sdir 1700000500)")"* ]]
	[ "$(as_user readlink "$T/mnt/latest")" = "$(basename "$(sdir 1700000400)")" ]
	# never indexed: its metadata is not read while the writer works
	run as_user ls "$(sdir 1700000400)"
	[ "$status" -ne 0 ]
	[[ "$output" == *"Resource temporarily unavailable"* ]]
	as_user cmp "$(sdir 1700000300)/plain" "$T/state3/plain"
	# which of big's increments apply depends on A's record of it, not
	# to be read now: never guessed (with its increment not yet seen,
	# the mirror file is still A's and the chain is the one before)
	if [ "$inc_seen" = 1 ]; then
		run as_user cat "$(sdir 1700000300)/big"
		[ "$status" -ne 0 ]
		[[ "$output" == *"Resource temporarily unavailable"* ]]
	else
		as_user cmp "$(sdir 1700000300)/big" "$T/state3/big"
	fi
	kill -CONT $WPID
	WPID=""
	wait $BG
	sleep 1.2
	run as_user ls "$T/mnt"
	echo "$output"
	[[ "$output" == *"$(basename "$(sdir 1700000500)")"* ]]
	[ "$(as_user readlink "$T/mnt/latest")" = "$(basename "$(sdir 1700000500)")" ]
	as_user cmp "$(sdir 1700000400)/four" "$T/src/four"
	as_user cmp "$(sdir 1700000400)/big" "$T/state4/big"
	as_user cmp "$(sdir 1700000300)/big" "$T/state3/big"
	as_user cmp "$T/mnt/latest/huge" "$T/src/huge"
}

@test "a mount made while a backup runs comes up at once with the finished sessions (it waited for the whole backup); the new one appears when it ends" {
	build_history
	# one mount first, so that session 3's index is in the cache
	mnt "$T/repo"
	as_user ls "$(sdir 1700000300)" >/dev/null
	umnt
	head -c 100M /dev/urandom >"$T/src/huge"
	chown -R "$U" "$T/src"
	hold_backup 1700000400 "$T/repo/huge"
	run as_user timeout 60 "$CAPBACK_BUILD/capback" mount "$T/repo" "$T/mnt"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"is being backed up (capback backup PID $WPID"*"its new one appears when it ends"* ]]
	run as_user ls "$T/mnt"
	echo "$output"
	[[ "$output" == *"$(basename "$(sdir 1700000300)")"* ]]
	[[ "$output" != *"$(basename "$(sdir 1700000400)")"* ]]
	[ "$(as_user readlink "$T/mnt/latest")" = "$(basename "$(sdir 1700000300)")" ]
	as_user cmp "$(sdir 1700000300)/plain" "$T/state3/plain"
	kill -CONT $WPID
	WPID=""
	wait $BG
	sleep 1.2
	[ "$(as_user readlink "$T/mnt/latest")" = "$(basename "$(sdir 1700000400)")" ]
	as_user cmp "$T/mnt/latest/huge" "$T/src/huge"
	umnt
	# a regress holds the mount back, as every reader
	head -c 100M /dev/urandom >"$T/src/huge3"
	chown "$U" "$T/src/huge3"
	hold_backup 1700000500 "$T/repo/huge3"
	kill -KILL $WPID
	WPID=""
	wait $BG || true
	run_as "$U" env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
	    strace -f -qq -o /dev/null -e inject=unlinkat:delay_enter=3000000 \
	    "$CAPBACK_BUILD/capback" regress "$T/repo" >/dev/null 2>&1 &
	local rg=$!
	wait_until 60 grep -q "capback regress" "$T/repo/rdiff-backup-data/capback.lock"
	run as_user timeout 60 "$CAPBACK_BUILD/capback" mount "$T/repo" "$T/mnt"
	echo "$output"
	[[ "$output" == *"is in use: capback regress"*"waiting for it to end"* ]]
	wait $rg || true
	umnt
	# and a backup that undoes a killed session first (its lock says
	# backup): waited for until its own session has begun (review)
	head -c 100M /dev/urandom >"$T/src/huge3"
	chown "$U" "$T/src/huge3"
	hold_backup 1700000500 "$T/repo/huge3"
	local killed=$WPID
	kill -KILL $WPID
	WPID=""
	wait $BG || true
	run_as "$U" env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
	    strace -f -qq -o /dev/null -e inject=unlinkat:delay_enter=3000000:when=1 \
	    "$CAPBACK_BUILD/capback" --current-time 1700000600 backup "$T/src" "$T/repo" >/dev/null 2>&1 &
	rg=$!
	# the new backup's line (the killed one's is there until then)
	wait_until 60 grep -q "capback backup PID [0-9]" "$T/repo/rdiff-backup-data/capback.lock"
	wait_until 60 sh -c "! grep -q 'capback backup PID $killed ' '$T/repo/rdiff-backup-data/capback.lock'"
	run as_user timeout 60 "$CAPBACK_BUILD/capback" mount "$T/repo" "$T/mnt"
	echo "$output"
	[[ "$output" == *"is in use: capback backup"*"waiting for it to end"* ]]
	# and on once that backup's own session began
	[[ "$output" == *"is in use: capback backup"*"is being backed up"* ]]
	wait $rg || [ $? -eq 2 ] # (2: it undid a session first)
	run as_user ls "$T/mnt"
	[[ "$output" != *"$(basename "$(sdir 1700000500)")"* ]]
	umnt
}

@test "a hostile repository: a delta bomb, a size lie and a mirror symlink fail their files with EIO, never the mount" {
	build_history
	echo secret >"$T/outside"
	chown "$U" "$T/outside"
	# a delta for the oldest 'plain' that makes far more than recorded
	inc=$(ls "$T"/repo/rdiff-backup-data/increments/plain.*.diff.gz | head -1)
	python3 - "$inc" <<'EOF'
import gzip, struct, sys
# librsync delta: magic, then LITERAL of 8 MiB (op 0x43: 4-byte length)
body = struct.pack(">I", 0x72730236) + bytes([0x43]) + struct.pack(">I", 8 << 20) + b"A" * (8 << 20) + b"\0"
open(sys.argv[1], "wb").write(gzip.compress(body))
EOF
	# the mirror's 'empty' swapped for a symlink to a file outside
	rm -f "$T/repo/empty"
	ln -s "$T/outside" "$T/repo/empty"
	chown -R "$U" "$T/repo"
	mnt "$T/repo"
	s=$(sdir 1700000000)
	run as_user cat "$s/plain"
	[ "$status" -ne 0 ]
	[[ "$output" == *"Input/output error"* ]]
	run as_user cat "$(sdir 1700000300)/empty"
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" != *secret* ]]
	# everything else still reads, the mount is up
	as_user cmp "$s/big" "$T/state0/big"
	as_user cmp "$(sdir 1700000300)/plain" "$T/state3/plain"
	mounted
	run mount_log
	echo "$output"
	[[ "$output" == *"plain"* ]]
}

@test "a hostile index in the cache and damaged metadata: EIO for that session, rebuilt when stale" {
	build_history
	mnt "$T/repo"
	as_user ls "$(sdir 1700000100)" >/dev/null
	umnt
	idx=$(ls "$T"/home/.cache/capback/mount/*/1700000100.idx)
	# garbage past the head: the index is refused and built again
	python3 -c "
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
for i in range(100, len(b), 7): b[i] ^= 0x5a
open(p, 'wb').write(b)" "$idx"
	mnt "$T/repo"
	run musum "$(sdir 1700000100)"
	[ "$status" -eq 0 ] || [[ "$output" == *"Input/output"* ]]
	umnt
	rm -f "$idx"
	mnt "$T/repo"
	musum "$(sdir 1700000100)" >"$T/m.sum"
	cb restore --at 1700000100 "$T/repo" "$T/out" >/dev/null
	treesum "$T/out" >"$T/r.sum"
	diff -u "$T/r.sum" "$T/m.sum"
	umnt
	# metadata with a path through '..' fails that session only
	md=$(ls "$T"/repo/rdiff-backup-data/mirror_metadata.*.snapshot.gz)
	zcat "$md" | sed 's|^File plain$|File ../../plain|' | gzip >"$md.new"
	mv "$md.new" "$md"
	chown "$U" "$md"
	# an index already built stays while the session's statistics file
	# is unchanged: a new cache sees the damage
	rm -rf "$T/home/.cache"
	mnt "$T/repo"
	run as_user ls "$T/mnt/latest/"
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"Input/output error"* ]]
	# every session reads that snapshot: each fails alone, logged, and
	# the mount stays up
	run as_user ls "$(sdir 1700000100)"
	[ "$status" -ne 0 ]
	mounted
	mount_log | grep -q "cannot index session"
}

@test "a repository written by rdiff-backup mounts, its sessions as rdiff-backup restores them" {
	rdiff-backup --current-time 1700000000 backup "$T/src" "$T/repo" >/dev/null
	cp -a "$T/src" "$T/state0"
	change_tree 1
	rdiff-backup --current-time 1700000100 backup "$T/src" "$T/repo" >/dev/null
	change_tree 2
	rdiff-backup --current-time 1700000200 backup "$T/src" "$T/repo" >/dev/null
	chown -R "$U" "$T/repo"
	mnt "$T/repo"
	for t in 1700000000 1700000100 1700000200; do
		rdiff-backup restore --at $t "$T/repo" "$T/out$t" >/dev/null
		musum "$(sdir $t)" >"$T/m.sum"
		treesum "$T/out$t" >"$T/r.sum"
		diff -u "$T/r.sum" "$T/m.sum"
	done
}

@test "REPOSITORY/PATH mounts a sub-tree; bad uses are refused with what to do" {
	build_history
	mnt "$T/repo/dir"
	run as_user ls "$(sdir 1700000000)"
	echo "$output"
	[ "$output" = "$(printf 'hl1\nsub')" ]
	umnt
	# only the sessions that have the path are shown, latest the newest
	# of them: "new" is in sessions 1 and 2
	run mnt "$T/repo/new"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"2 sessions of"* ]]
	run as_user ls "$T/mnt"
	echo "$output"
	[ "$output" = "$(basename "$(sdir 1700000100)")
$(basename "$(sdir 1700000200)")
latest" ]
	[ "$(as_user readlink "$T/mnt/latest")" = "$(basename "$(sdir 1700000200)")" ]
	run as_user ls -A "$(sdir 1700000000)"
	[ "$status" -ne 0 ]
	run as_user stat "$(sdir 1700000300)"
	[ "$status" -ne 0 ]
	as_user cat "$(sdir 1700000100)/deep/n"
	as_user cat "$T/mnt/latest/deep/n"
	# a session without it that ends while mounted is not shown; one with
	# it is, and latest goes there
	cb --current-time 1700000400 backup "$T/src" "$T/repo" >/dev/null
	mkdir -p "$T/src/new" && echo five >"$T/src/new/five"
	cb --current-time 1700000500 backup "$T/src" "$T/repo" >/dev/null
	chown -R "$U" "$T/repo"
	sleep 1.2
	run as_user ls "$T/mnt"
	echo "$output"
	[ "$output" = "$(basename "$(sdir 1700000100)")
$(basename "$(sdir 1700000200)")
$(basename "$(sdir 1700000500)")
latest" ]
	[ "$(as_user cat "$T/mnt/latest/five")" = five ]
	umnt
	run as_user "$CAPBACK_BUILD/capback" mount "host::$T/repo" "$T/mnt"
	[ "$status" -ne 0 ]
	[[ "$output" == *"local repository"* ]]
	run as_user "$CAPBACK_BUILD/capback" mount "$T/src" "$T/mnt"
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"not a backup repository"* ]] || [[ "$output" == *"rdiff-backup-data"* ]]
	run as_user "$CAPBACK_BUILD/capback" mount "$T/repo"
	[ "$status" -ne 0 ]
	# a path in no session, the repository's own data
	run mnt "$T/repo/nope"
	[ "$status" -eq 1 ]
	[[ "$output" == *"'nope' is in no session of"* ]]
	run mnt "$T/repo/rdiff-backup-data"
	[ "$status" -eq 1 ]
	[[ "$output" == *"the repository's own data"* ]]
	# mount points: missing, not empty, inside the repository, taken
	run as_user "$CAPBACK_BUILD/capback" mount "$T/repo" "$T/nomp"
	[ "$status" -eq 1 ]
	[[ "$output" == *"the mount point '$T/nomp': No such file or directory"* ]]
	mkdir "$T/full" && touch "$T/full/x" && chown -R "$U" "$T/full"
	run as_user "$CAPBACK_BUILD/capback" mount "$T/repo" "$T/full"
	[ "$status" -eq 1 ]
	[[ "$output" == *"is not empty"* ]]
	mkdir "$T/repo/mp" && chown "$U" "$T/repo/mp"
	run as_user "$CAPBACK_BUILD/capback" mount "$T/repo" "$T/repo/mp"
	[ "$status" -eq 1 ]
	[[ "$output" == *"is inside the repository"* ]]
	rmdir "$T/repo/mp"
	run as_user "$CAPBACK_BUILD/capback" mount --cache "$T/repo/cc" "$T/repo" "$T/mnt"
	[ "$status" -eq 1 ]
	[[ "$output" == *"is inside the repository"* ]]
	[ ! -e "$T/repo/cc" ]
	mnt "$T/repo"
	run mnt "$T/repo"
	[ "$status" -eq 1 ]
	[[ "$output" == *"is a mount point already (capback umount $T/mnt, or"* ]]
	# umount is advised only for a mount of capback mount
	run as_user "$CAPBACK_BUILD/capback" mount "$T/repo" /proc
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"'/proc' is a mount point already"* ]]
	[[ "$output" != *"umount"* ]]
	# another account: neither mounts this account's repository (root
	# is not offered: it mounts only root's) nor unmounts its mount
	new_user
	V=$NEW_USER
	mkdir "$T/mntv" && chown "$V" "$T/mntv"
	run run_as "$V" env HOME="$T/mntv" "$CAPBACK_BUILD/capback" mount "$T/repo" "$T/mntv"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"belongs to $U"*"mount it as that account"* ]]
	[[ "$output" != *"root"* ]]
	run run_as "$V" "$CAPBACK_BUILD/capback" umount "$T/mnt"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"'$T/mnt' is mounted by $U (uid "*"): only that account or root can unmount it"* ]]
	[[ "$output" != *"mtab"* ]]
	mounted
	# through a symlink to the mount point, as mount takes one
	ln -s "$T/mnt" "$T/mntlink"
	as_user "$CAPBACK_BUILD/capback" umount "$T/mntlink"
	refute grep -q " $T/mnt fuse.capback " /proc/mounts
	run umnt
	[ "$status" -eq 1 ]
	[[ "$output" == *"is not a mount of capback mount"* ]]
	run as_user "$CAPBACK_BUILD/capback" umount "$T/no-such"
	[ "$status" -eq 1 ]
	[[ "$output" == *"'$T/no-such': No such file or directory"* ]]
	# root mounting another account's repository is told whose it is
	run "$CAPBACK_BUILD/capback" mount "$T/repo" "$T/mnt"
	[ "$status" -eq 1 ]
	[[ "$output" == *"belongs to $U"*"mount it as that account"* ]]
	# a cache another user may write is refused
	mkdir -m 0777 "$T/opencache"
	chown "$U" "$T/opencache"
	run as_user "$CAPBACK_BUILD/capback" mount --cache "$T/opencache" "$T/repo" "$T/mnt"
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"mode 0700"* ]]
}

@test "--allow-other: each user sees what the recorded modes and ACLs allow" {
	build_history
	cp /etc/fuse.conf "$T/fuse.conf.saved" 2>/dev/null || : >"$T/fuse.conf.saved"
	grep -q '^user_allow_other' /etc/fuse.conf || echo user_allow_other >>/etc/fuse.conf
	new_user
	V=$NEW_USER
	run mnt --allow-other "$T/repo"
	cp "$T/fuse.conf.saved" /etc/fuse.conf
	[ "$status" -eq 0 ]
	L=$T/mnt/latest
	run_as "$V" cat "$L/plain" >/dev/null
	run run_as "$V" cat "$L/private/secret"
	[ "$status" -ne 0 ]
	[[ "$output" == *"Permission denied"* ]]
	# nobody's entry in acl_file's ACL gives nobody rw
	run run_as nobody cat "$L/acl_file"
	[ "$status" -eq 0 ]
	cat "$L/private/secret" >/dev/null # root may
}

@test "a file of the newest session looked at, then a backup changes it: its old version still reads through the same mount" {
	build_history
	mnt "$T/repo"
	as_user cat "$T/mnt/latest/big" >/dev/null
	as_user stat "$T/mnt/latest/plain" >/dev/null
	old=$(sdir 1700000300)
	for n in 4 5; do
		printf "N$n" | dd of="$T/src/big" bs=1 seek=$((9000 + n)) conv=notrunc status=none
		echo "more $n" >>"$T/src/plain"
		touch -d "2023-0$n-05" "$T/src/big" "$T/src/plain"
		cb --current-time $((1700000000 + 100 * n)) backup "$T/src" "$T/repo" >/dev/null
		chown -R "$U" "$T/repo"
		sleep 1.2
		# the newest before this backup, and every one before it
		as_user cmp "$old/big" "$T/state3/big"
		as_user cmp "$old/plain" "$T/state3/plain"
		as_user cmp "$(sdir 1700000100)/big" "$T/state1/big"
		as_user cmp "$T/mnt/latest/big" "$T/src/big"
		cp -a "$T/src" "$T/state$n"
	done
	as_user cmp "$(sdir 1700000400)/big" "$T/state4/big"
	as_user cmp "$(sdir 1700000400)/plain" "$T/state4/plain"
}

@test "the mount goes when its process ends: SIGTERM, SIGKILL of the file system, the whole group" {
	build_history
	for how in TERM KILL group; do
		run mnt "$T/repo"
		echo "$output"
		[ "$status" -eq 0 ]
		[[ "$output" == *"messages go to $T/home/.cache/capback/mount/"*"/mount.log"* ]]
		mounted
		fs=$(pgrep -u "$U" -n capback-mount)
		case $how in
		group) pkill -u "$U" capback-mount ;;
		*) kill -$how "$fs" ;;
		esac
		for i in $(seq 1 100); do
			grep -q " $T/mnt fuse.capback " /proc/mounts || break
			sleep 0.05
		done
		refute grep -q " $T/mnt fuse.capback " /proc/mounts
	done
	mount_log | grep -q 'ended by signal 9; unmounted'
}

@test "long names (increments in long_filename_data), type changes and hard links across sessions, by both tools in turn" {
	L206=$(printf 'b%.0s' $(seq 1 206))
	L250=$(printf 'c%.0s' $(seq 1 250))
	D210=$(printf 'd%.0s' $(seq 1 210))
	s=$T/src
	mkdir -p "$s/$D210"
	seq 1 3000 >"$s/$L206"
	ln -s target "$s/$L250"
	echo inner >"$s/$D210/f"
	for n in 0 1 2 3 4 5; do
		case $n in
		1) echo "more 1" >>"$s/$L206"; ln "$s/plain" "$s/$D210/link" ;;
		2) rm "$s/$L250"; mkdir "$s/$L250"; echo x >"$s/$L250/in"
		   echo "more 2" >>"$s/$D210/f" ;;
		3) rm -rf "$s/$L250"; echo now-a-file >"$s/$L250"; rm "$s/plain" ;;
		4) echo "more 4" >>"$s/$L206"; ln "$s/$L206" "$s/$D210/l2" ;;
		5) rm "$s/$D210/link"; rm -rf "$s/dir" && ln -s plain "$s/dir" ;;
		esac
		touch -d "2023-01-0$((n + 1))" "$s/$L206" "$s/$D210/f" "$s"
		if [ $((n % 2)) -eq 0 ]; then
			cb --current-time $((1700000000 + 100 * n)) backup "$s" "$T/repo" >/dev/null
		else
			rdiff-backup --current-time $((1700000000 + 100 * n)) backup "$s" "$T/repo" >/dev/null
		fi
	done
	ls "$T/repo/rdiff-backup-data/long_filename_data" | grep -q '^[0-9]'
	chown -R "$U" "$T/repo"
	mnt "$T/repo"
	for n in 0 1 2 3 4 5; do
		t=$((1700000000 + 100 * n))
		cb restore --at $t "$T/repo" "$T/out$n" >/dev/null
		musum "$(sdir $t)" >"$T/m.sum"
		treesum "$T/out$n" >"$T/r.sum"
		diff -u "$T/r.sum" "$T/m.sum"
	done
}

@test "a mirror file updated in place by a backup: files open on it read their version, never the new bytes" {
	build_history
	# at least 4 MiB with a small change: the writer updates it in place
	python3 -c "import random,sys; r=random.Random(8); sys.stdout.buffer.write(r.randbytes(8388608))" >"$T/src/inplace"
	touch -d '2023-05-01' "$T/src/inplace"
	cb --current-time 1700000400 backup "$T/src" "$T/repo" >/dev/null
	cp "$T/src/inplace" "$T/inplace.1"
	printf 'ONE' | dd of="$T/src/inplace" bs=1 seek=6291456 conv=notrunc status=none
	touch -d '2023-05-02' "$T/src/inplace"
	cb --current-time 1700000500 backup "$T/src" "$T/repo" >/dev/null
	cp "$T/src/inplace" "$T/inplace.2"
	chown -R "$U" "$T/repo"
	mnt "$T/repo"
	# both versions open, a few bytes read, then a backup writes the
	# mirror file in place; then they read on
	as_user /usr/bin/python3 - "$(sdir 1700000500)/inplace" "$(sdir 1700000400)/inplace" "$T/home/go" "$T/home/ready" "$T/home/out" <<'EOF' &
import hashlib, os, sys, time
fs = [open(sys.argv[1], "rb"), open(sys.argv[2], "rb")]
for f in fs:
    f.read(10)
open(sys.argv[4], "w").close()
while not os.path.exists(sys.argv[3]):
    time.sleep(0.05)
with open(sys.argv[5], "w") as out:
    for f in fs:
        f.seek(0)
        try:
            out.write(hashlib.sha1(f.read()).hexdigest() + "\n")
        except OSError as e:
            out.write("error %d\n" % e.errno)
EOF
	HOLD=$!
	wait_for "$T/home/ready"
	printf 'TWO' | dd of="$T/src/inplace" bs=1 seek=6291456 conv=notrunc status=none
	touch -d '2023-05-03' "$T/src/inplace"
	run cb --current-time 1700000600 backup "$T/src" "$T/repo"
	echo "$output"
	[[ "$output" == *"in place"* ]] || stat_value "$T/repo" InPlaceFiles
	chown -R "$U" "$T/repo"
	touch "$T/home/go"
	wait $HOLD
	cat "$T/home/out"
	# each reads the version it opened: the change to the mirror file is
	# seen, and once the backup has ended the view is made again from
	# the repository as it is now (the new increment)
	n=0
	for want in "$T/inplace.2" "$T/inplace.1"; do
		n=$((n + 1))
		got=$(sed -n "${n}p" "$T/home/out")
		[ "$got" = "$(sha1sum <"$want" | cut -d' ' -f1)" ]
	done
	# opened again, both are right
	sleep 1.2
	as_user cmp "$(sdir 1700000500)/inplace" "$T/inplace.2"
	as_user cmp "$(sdir 1700000400)/inplace" "$T/inplace.1"
}

@test "a bomb in the middle of a delta chain: EIO, refused at that step" {
	build_history
	# the increment of 'big' two sessions back becomes a delta that makes
	# 300 MiB (one literal of zeros: a 300 KB gzip)
	inc=$(ls "$T"/repo/rdiff-backup-data/increments/big.*.diff.gz | sort | tail -1)
	python3 - "$inc" <<'EOF'
import gzip, struct, sys, zlib
n = 300 << 20
c = zlib.compressobj(6, zlib.DEFLATED, 31)
out = [c.compress(struct.pack(">I", 0x72730236) + bytes([0x44]) + struct.pack(">Q", n))]
z = bytes(1 << 20)
for _ in range(n >> 20):
    out.append(c.compress(z))
out.append(c.compress(b"\0"))
out.append(c.flush())
open(sys.argv[1], "wb").write(b"".join(out))
EOF
	chown -R "$U" "$T/repo"
	mnt "$T/repo"
	run as_user cat "$(sdir 1700000000)/big"
	[ "$status" -ne 0 ]
	[[ "$output" == *"Input/output error"* ]]
	# refused at the step that would make it, before it was written out
	mount_log | grep -q "'big' at .*: length exceeds limit"
	mounted
	as_user cmp "$(sdir 1700000300)/big" "$T/state3/big"
	as_user cmp "$(sdir 1700000300)/plain" "$T/state3/plain"
}

@test "an old mount's end never unmounts a new mount on the same directory" {
	build_history
	mnt "$T/repo"
	old=$(pgrep -u "$U" -n capback-mount)
	# the old file system is slow to end (held), while it is unmounted
	# and the directory mounted again
	kill -STOP "$old"
	umnt
	mnt "$T/repo"
	kill -CONT "$old"
	for i in $(seq 1 100); do
		kill -0 "$old" 2>/dev/null || break
		sleep 0.05
	done
	sleep 0.5
	mounted
	as_user cmp "$T/mnt/latest/plain" "$T/state3/plain"
	umnt
	# and nothing ended by a signal (under ASan: a leak at exit would)
	refute grep -q "ended by signal" "$T"/home/.cache/capback/mount/*/mount.log
}

@test "the cache: mount.log is appended to and kept under 1 MiB; the indexes of removed sessions go" {
	build_history
	mnt "$T/repo"
	as_user ls "$(sdir 1700000000)" "$(sdir 1700000100)" "$(sdir 1700000300)" >/dev/null
	umnt
	c=$(echo "$T"/home/.cache/capback/mount/*)
	[ -f "$c/1700000000.idx" ] && [ -f "$c/1700000100.idx" ]
	cb remove increments --force --older-than 1700000150 "$T/repo" >/dev/null
	chown -R "$U" "$T/repo"
	# only regular files named as indexes go, never through a symlink
	echo victim >"$T/victim"
	ln -s "$T/victim" "$c/1600000000.idx"
	as_user sh -c "echo keep >'$c/notes' && echo tmp >'$c/1700000000.idx.tmp.1'"
	# a log over 1 MiB is kept as mount.log.1, a new one begun
	as_user sh -c "head -c 1100000 /dev/zero | tr '\\0' x >'$c/mount.log'"
	mnt "$T/repo"
	[ ! -e "$c/1700000000.idx" ] && [ ! -e "$c/1700000100.idx" ]
	[ -f "$c/1700000300.idx" ]
	[ -L "$c/1600000000.idx" ] && [ "$(cat "$T/victim")" = victim ]
	[ -f "$c/notes" ] && [ -f "$c/1700000000.idx.tmp.1" ]
	[ "$(stat -c %s "$c/mount.log.1")" -eq 1100000 ]
	[ "$(stat -c %s "$c/mount.log")" -lt 1000 ]
	# each mount's messages are added to the log
	for i in 1 2; do
		kill -KILL "$(pgrep -u "$U" -n capback-mount)"
		for j in $(seq 1 100); do
			grep -q " $T/mnt fuse.capback " /proc/mounts || break
			sleep 0.05
		done
		[ "$i" = 2 ] || mnt "$T/repo"
	done
	[ "$(grep -c 'ended by signal 9' "$c/mount.log")" -eq 2 ]
}
