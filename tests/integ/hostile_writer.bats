#!/usr/bin/env bats
# A malicious writer (tests/lib/evilpeer.py speaks the protocol) attacks a
# real capback-reader.  The reader's protocol names files only by the
# sequence number of an entry it sent itself, so a path with "..", an
# absolute path or a name outside the tree cannot even be expressed; what
# is left is asking for entries that are not regular files, racing the
# tree, lying in length fields and sending verbs the reader must not obey.
# Every attack must end the reader with an error and no file content sent.

load ../lib/helpers

setup() {
	need_root
	setup_scratch
	mkdir -p "$T/d"
	echo 'root:$y$secret:19000:0:99999:7:::' >"$T/outside"
	chmod 0600 "$T/outside"
	echo data >"$T/d/file"
	ln -s "$T/outside" "$T/d/link"
	ln -s /proc/self/environ "$T/d/proclink"
	mkfifo "$T/d/fifo"
	mknod "$T/d/null" c 1 3
	mknod "$T/d/sda" b 8 0
	head -c 100000 /dev/urandom >"$T/d/big"
}

teardown() {
	teardown_scratch
}

evil() {
	timeout 60 python3 "$LIB/evilpeer.py" "$@" -- \
	    "$CAPBACK_BUILD/capback-reader" -- "$T/d"
}

@test "asking for a symlink, fifo, device or /proc link sends nothing" {
	for name in link proclink fifo null sda .; do
		run evil want "$name"
		echo "$name: $output"
		[[ "$output" == *"which is not a pending file"* ]]
		[[ "$output" == *"data 0"* ]]
		[[ "$output" == *"exit 1"* ]]
		refute grep -q 'secret' <<<"$output"
	done
}

@test "a regular file is sent once, and only once" {
	run evil want file
	echo "$output"
	[[ "$output" == *"file_end 0"* ]]
	[[ "$output" == *"data 5"* ]]
	[[ "$output" == *"exit 0"* ]]
	run evil want-twice file
	[[ "$output" == *"which is not a pending file"* ]]
	[[ "$output" == *"exit 1"* ]]
	run evil want-beyond
	[[ "$output" == *"which is not a pending file"* ]]
	run evil want-zero file
	echo "$output"
	grep -qx served <<<"$output"
	[[ "$output" == *"WANT for 0, which is not a pending file"* ]]
	[[ "$output" == *"exit 1"* ]]
}

@test "a file swapped for a symlink to a root-only file after the walk: nothing read" {
	run evil want-race file "$T/d/file" "$T/outside"
	echo "$output"
	# the reader answers with an error for that file (ELOOP), not content
	[[ "$output" == *"file_end 40"* ]]
	[[ "$output" == *"data 0"* ]]
	refute grep -q 'secret' <<<"$output"
}

@test "lying length fields are refused before anything is allocated" {
	run evil frame-huge
	echo "$output"
	[[ "$output" == *"length exceeds limit"* ]]
	[[ "$output" == *"exit 1"* ]]
	run evil sig-huge big
	echo "$output"
	[[ "$output" == *"WANT_DELTA with a signature of 1099511627776 bytes"* ]]
	[[ "$output" == *"exit 1"* ]]
	run evil sig-overrun big
	[[ "$output" == *"outside a signature"* ]]
	[[ "$output" == *"exit 1"* ]]
}

@test "a forged signature, stray data and out-of-order credit are refused" {
	run evil sig-bad big
	echo "$output"
	[[ "$output" == *"bad signature for 'big'"* ]]
	[[ "$output" == *"data 0"* ]]
	[[ "$output" == *"exit 1"* ]]
	run evil data-stray
	[[ "$output" == *"outside a signature"* ]]
	run evil progress-back
	[[ "$output" == *"bad PROGRESS"* ]]
}

@test "write verbs, unknown types and a wrong version end the reader" {
	for s in write-verb entry-verb unknown-type; do
		run evil "$s"
		echo "$s: $output"
		[[ "$output" == *"protocol violation from writer"* ]]
		[[ "$output" == *"exit 1"* ]]
	done
	run evil hello-version
	[[ "$output" == *"speaks protocol 1"* ]]
	[[ "$output" == *"exit 1"* ]]
	# nothing was written into the tree by any of it
	[ "$(cat "$T/d/file")" = data ]
	[ "$(find "$T/d" -newer "$T/d/big" | wc -l)" -eq 0 ]
}
