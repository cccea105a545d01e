#!/usr/bin/env bats
# Files that grow, shrink, vanish or are replaced while the reader reads
# them: the backup says so, and the mirror holds exactly what was read
# (its recorded size and SHA-1 match: verify passes, restores are whole).
# The reader runs under strace, which slows each of its reads (pread64,
# and sendfile for pieces of 64 KiB or more), so that the change lands in
# the middle of the file's read.

load ../lib/helpers

setup() {
	need_root
	command -v strace >/dev/null || skip "needs strace"
	setup_scratch
	mkdir -p "$T/src" "$T/libexec"
	for r in capback-writer capback-restorer; do ln -s "$CAPBACK_BUILD/$r" "$T/libexec/$r"; done
	cat >"$T/libexec/capback-reader" <<EOS
#!/bin/sh
# LeakSanitizer cannot run under ptrace (sanitizer builds)
export ASAN_OPTIONS="\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}detect_leaks=0"
exec strace -f -qq -o /dev/null -e inject=pread64,sendfile:delay_enter=40000 -- "$CAPBACK_BUILD/capback-reader" "\$@"
EOS
	chmod 0755 "$T/libexec/capback-reader"
	echo small >"$T/src/other"
	python3 -c "import random,sys; sys.stdout.buffer.write(random.Random(1).randbytes(8 << 20))" >"$T/src/big"
}

next_backup() {
	cb --current-time 1700000200 backup "$T/src" "$T/repo"
}

teardown() {
	teardown_scratch
}

# reading_big: the reader holds $T/src/big open (or the backup is over)
reading_big() {
	local p
	[ -e "$T/backup.over" ] && return 0
	for p in $(pgrep -f "capback-reader.*$T/src"); do
		ls -l "/proc/$p/fd" 2>/dev/null | grep -q -- "-> $T/src/big\$" &&
		    return 0
	done
	return 1
}

# backup_while CMD: a backup through the slow reader, CMD run once the
# reader has opened big (a fixed delay lost the race on a loaded CI).
# Its session time is fixed, and the backup after it (next_backup) is
# later: a backup that ends within the same second would otherwise find
# its session time taken.
backup_while() {
	rm -f "$T/backup.over"
	(wait_until 120 reading_big && eval "$1") &
	run env CAPBACK_LIBEXEC="$T/libexec" "$CAPBACK_BUILD/capback" --current-time 1700000100 backup --whole-file "$T/src" "$T/repo"
	touch "$T/backup.over"
	wait
	echo "$output"
}

consistent() {
	run cb verify "$T/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	rdiff-backup --terminal-verbosity 1 verify "$T/repo"
	rm -rf "$T/out"
	cb restore "$T/repo" "$T/out"
	[ "$(cat "$T/out/other")" = small ]
}

@test "a file that grows during the read" {
	backup_while 'head -c 3000000 /dev/zero >>"$T/src/big"'
	[ "$status" -eq 0 ]
	[[ "$output" == *"'big' changed while it was being read"* ]]
	consistent
	# what was read is the file as it was when the read began
	[ "$(stat -c %s "$T/out/big")" -eq $((8 << 20)) ]
	# and the next backup takes the whole file
	next_backup
	cmp "$T/src/big" "$T/repo/big"
}

# A shrink usually lands while sendfile moves a piece whose frame was
# announced: the frame is filled up with zeros and the file is not taken
# (nothing half-true in the mirror).  Landing between two pieces, it ends
# the content where the file now ends, as a read does.
@test "a file that shrinks during the read" {
	backup_while 'truncate -s 1000000 "$T/src/big"'
	[ "$status" -eq 0 ]
	if [[ "$output" == *"'big' shrank while it was being read: it is left out of this backup"* ]]; then
		[ ! -e "$T/repo/big" ]
		consistent
		[ ! -e "$T/out/big" ]
	else
		[[ "$output" == *"'big' changed while it was being read"* ]]
		consistent
		[ "$(stat -c %s "$T/out/big")" -le $((8 << 20)) ]
	fi
	next_backup
	cmp "$T/src/big" "$T/repo/big"
	consistent
}

@test "a file that shrinks during the read keeps its previous version" {
	cb --current-time 1700000000 backup "$T/src" "$T/repo"
	cp "$T/src/big" "$T/big.1"
	printf 'new' | dd of="$T/src/big" bs=1 seek=4096 conv=notrunc 2>/dev/null
	touch -d @1700000100 "$T/src/big"
	backup_while 'truncate -s 1000000 "$T/src/big"'
	[ "$status" -eq 0 ]
	if [[ "$output" == *"'big' shrank while it was being read: its previous version is kept"* ]]; then
		cmp "$T/big.1" "$T/repo/big"
		consistent
		cmp "$T/big.1" "$T/out/big"
	else
		[[ "$output" == *"'big' changed while it was being read"* ]]
		consistent
	fi
	next_backup
	cmp "$T/src/big" "$T/repo/big"
	consistent
}

@test "a file removed during the read" {
	backup_while 'rm "$T/src/big"'
	[ "$status" -eq 0 ]
	[[ "$output" == *"'big' changed while it was being read"* ]]
	consistent
	next_backup
	[ ! -e "$T/repo/big" ]
	consistent
}

@test "a file replaced by a rename during the read" {
	echo replacement >"$T/new"
	backup_while 'mv "$T/new" "$T/src/big"'
	[ "$status" -eq 0 ]
	[[ "$output" == *"'big' changed while it was being read"* ]]
	consistent
	next_backup
	[ "$(cat "$T/repo/big")" = replacement ]
	consistent
}
