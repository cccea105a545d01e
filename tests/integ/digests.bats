#!/usr/bin/env bats
# Digests at the source: in a pull the reader hashes what it sends and
# FILE_END carries the SHA-1 (HELLO_DIGESTS, docs/protocol.md); the
# writer records it and hashes again only a sample (--check-received).
# A digest that does not match what arrived is refused when checked,
# and caught by verify and drills when not: the record is the host's.

load ../lib/helpers

setup() {
	need_root
	setup_scratch
}

teardown() {
	teardown_scratch
}

# evil SCENARIO [WRITER-OPTION...]: a hostile reader against a writer
# backing up into $T/repo
evil() {
	local s=$1
	shift
	timeout 60 python3 "$LIB/evilreader.py" "$s" -- \
	    "$CAPBACK_BUILD/capback-writer" --current-time 1700000000 "$@" \
	    -- backup "$T/repo"
}

sha() {
	printf %s "$1" | sha1sum | cut -d' ' -f1
}

@test "a local backup with digests at the source records the source's SHA-1 of every file, holes included; verify and a drill agree" {
	mkdir -p "$T/src/d"
	head -c 3000000 /dev/urandom >"$T/src/big"
	echo small >"$T/src/d/small"
	: >"$T/src/empty"
	truncate -s 10M "$T/src/sparse"
	printf x | dd of="$T/src/sparse" bs=1 seek=5000000 conv=notrunc status=none
	run cb -v 4 backup --digests-at source --check-received 0 "$T/src" "$T/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"digests from the source: 4 files, 0 of them checked"* ]]
	for f in big d/small empty sparse; do
		record "$T/repo" "$f" |
		    grep -qx "  SHA1Digest $(sha1sum <"$T/src/$f" | cut -d' ' -f1)"
	done
	run cb verify "$T/repo"
	[ "$status" -eq 0 ]
	run cb drill --all "$T/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	# every file checked: the same digests, all of them compared
	run cb -v 4 backup --digests-at source --check-received 1 "$T/src" "$T/r2"
	[[ "$output" == *"digests from the source: 4 files, 4 of them checked"* ]]
	diff <(metadata "$T/repo") <(metadata "$T/r2")
}

@test "--check-received picks files at random, about the share asked" {
	mkdir -p "$T/src"
	for i in $(seq 1 400); do echo "$i" >"$T/src/f$i"; done
	run cb -v 4 backup --digests-at source --check-received 0.25 "$T/src" "$T/repo"
	[ "$status" -eq 0 ]
	n=$(echo "$output" | sed -n 's/.*400 files, \([0-9]*\) of them checked.*/\1/p')
	echo "checked $n of 400"
	# 100 expected; outside 40..160 has a chance below 1e-9
	[ "$n" -ge 40 ] && [ "$n" -le 160 ]
	run cb -v 4 backup --digests-at source --check-received 0.05 "$T/src" "$T/r2"
	n=$(echo "$output" | sed -n 's/.*400 files, \([0-9]*\) of them checked.*/\1/p')
	[ "$n" -ge 1 ] && [ "$n" -le 60 ]
}

@test "a digest that does not match what arrived: refused when checked (the file is left out, the session says so), caught by verify and a drill when not" {
	# every file checked: "a" and "b" lied, "c" did not
	run evil lying-digest --source-digests --check-received 1
	echo "$output"
	[[ "$output" == *"exit 4"* ]] # some files failed
	[[ "$output" == *"'a': what was written does not have the SHA-1 the host read"*"left out of this backup"* ]]
	[[ "$output" == *"'b': what was written does not have the SHA-1"* ]]
	[ ! -e "$T/repo/a" ] && [ ! -e "$T/repo/b" ]
	[ "$(cat "$T/repo/c")" = ijkl ]
	record "$T/repo" c | grep -qx "  SHA1Digest $(sha ijkl)"
	[ -z "$(record "$T/repo" a)" ]
	run cb verify "$T/repo"
	[ "$status" -eq 0 ]
	# none checked: the host's digests are recorded as it sent them,
	# and verify and the drill find the files that do not match
	rm -rf "$T/repo"
	run evil lying-digest --source-digests --check-received 0
	echo "$output"
	[[ "$output" == *"exit 0"* ]]
	record "$T/repo" a | grep -qx "  SHA1Digest $(sha ABCD)"
	run cb verify "$T/repo"
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *a* ]] && [[ "$output" == *b* ]]
	run cb drill --all "$T/repo"
	echo "$output"
	[ "$status" -ne 0 ]
}

@test "a reader that sends digests unasked, leaves one out, or cannot send them" {
	# unasked (the writer did not offer HELLO_DIGESTS): refused
	run evil unasked-digest --source-digests
	echo "$output"
	[[ "$output" == *"protocol: bad FILE_END"* ]] && [[ "$output" == *"exit 1"* ]]
	[ ! -e "$T/repo" ]
	# offered by both, then a file without one
	run evil missing-digest --source-digests
	echo "$output"
	[[ "$output" == *"FILE_END without the file's digest"* ]] && [[ "$output" == *"exit 1"* ]]
	[ ! -e "$T/repo" ]
	# a reader that cannot (an older capback): the writer hashes itself
	run evil old-reader --source-digests --check-received 0
	echo "$output"
	[[ "$output" == *"exit 0"* ]]
	record "$T/repo" a | grep -qx "  SHA1Digest $(sha abcd)"
	# a writer that did not ask gets none, even from a reader that can
	rm -rf "$T/repo"
	run evil missing-digest
	echo "$output"
	[[ "$output" == *"exit 0"* ]]
	record "$T/repo" a | grep -qx "  SHA1Digest $(sha abcd)"
}

@test "the options: where digests are made, and the share checked" {
	mkdir -p "$T/src"
	echo x >"$T/src/f"
	run cb backup --check-received 0.1 "$T/src" "$T/repo"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"--check-received needs digests from the source (--digests-at source"* ]]
	run cb backup --digests-at elsewhere "$T/src" "$T/repo"
	[ "$status" -eq 1 ]
	[[ "$output" == *"--digests-at takes source or server, not 'elsewhere'"* ]]
	for bad in 1.5 -0.1 x 2% nan ""; do
		run cb backup --digests-at source --check-received "$bad" "$T/src" "$T/repo"
		echo "$output"
		[ "$status" -eq 1 ]
		[[ "$output" == *"invalid --check-received"* ]]
	done
	[ ! -e "$T/repo" ]
	run cb -v 4 backup --digests-at server "$T/src" "$T/repo"
	[ "$status" -eq 0 ]
	[[ "$output" != *"digests from the source"* ]]
}

@test "a host cannot drop a kept version by claiming its old digest: 'unchanged' is checked on the server, whatever --check-received says" {
	mkdir -p "$T/src"
	printf abcd >"$T/src/a"
	touch -d @1680000000 "$T/src/a"
	cb --current-time 1690000000 backup "$T/src" "$T/repo" >/dev/null
	# the host, taken over, sends new bytes with the old digest: had the
	# writer believed it, no increment would keep abcd
	run timeout 60 python3 "$LIB/evilreader.py" same-digest -- \
	    "$CAPBACK_BUILD/capback-writer" --current-time 1700000000 \
	    --source-digests --check-received 0 -- backup "$T/repo"
	echo "$output"
	[[ "$output" == *"'a': what was written does not have the SHA-1 the host read"*"the old version is kept"* ]]
	[[ "$output" == *"exit 4"* ]]
	[ "$(cat "$T/repo/a")" = abcd ]
	run cb restore --at 1690000000 "$T/repo/a" "$T/old"
	[ "$status" -eq 0 ]
	[ "$(cat "$T/old")" = abcd ]
	run cb verify "$T/repo"
	[ "$status" -eq 0 ]
}

@test "a false digest does not stop a later session's regress: the session that replaces the copy notes what it holds, and regress rebuilds to that (review)" {
	# session 1: the host lies about a's digest (the sample misses it)
	run timeout 60 python3 "$LIB/evilreader.py" lie-first 1100 -- \
	    "$CAPBACK_BUILD/capback-writer" --current-time 1700000000 \
	    --source-digests --check-received 0 -- backup "$T/repo"
	echo "$output" | tail -3
	[[ "$output" == *"exit 0"* ]]
	record "$T/repo" a | grep -qx "  SHA1Digest $(sha ABCD)"
	# session 2 changes a and dies unfinished (a power cut would do)
	run timeout 60 python3 "$LIB/evilreader.py" change-die 1100 -- \
	    "$CAPBACK_BUILD/capback-writer" --current-time 1710000000 \
	    --source-digests --check-received 0 -- backup "$T/repo"
	echo "$output" | grep -v '^$' | tail -5
	[[ "$output" == *"'a': its mirror copy does not have the SHA-1 recorded for it"* ]]
	[ "$(ls "$T/repo/rdiff-backup-data" | grep -c '^current_mirror\.')" -eq 2 ]
	# regress rebuilds a as session 1's copy was, and says why it is
	# not the recorded digest; without the fixes it stopped for good
	run cb regress "$T/repo"
	echo "$output"
	[ "$status" -ne 1 ]
	[[ "$output" == *"'a': rebuilt as the unfinished session found its copy"* ]]
	[ "$(cat "$T/repo/a")" = abcd ]
	[ -z "$(ls "$T/repo/rdiff-backup-data" | grep digest-fixes)" ]
	# the next backup goes on, corrects session 1's record in its
	# metadata, and every session then verifies
	mkdir -p "$T/src"
	printf zzzz >"$T/src/a"
	run cb -v 3 --current-time 1720000000 backup --digests-at source "$T/src" "$T/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"'a': its mirror copy does not have the SHA-1 recorded"* ]]
	[ -z "$(ls "$T/repo/rdiff-backup-data" | grep digest-fixes)" ]
	run cb verify --all "$T/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	run cb restore --at 1700000000 "$T/repo/a" "$T/a1"
	[ "$(cat "$T/a1")" = abcd ]
}

@test "compare --method hash takes the host's digest only as asked: a DIGEST without HELLO_WANT_DIGEST or for an entry not asked for ends the compare; an answered one decides (the host's answer, as its content would be)" {
	mkdir -p "$T/src"
	printf abcd >"$T/src/a"
	cb --current-time 1700000000 backup "$T/src" "$T/repo"
	# ecmp SCENARIO: the hostile reader against compare-hash, whose
	# report goes to $T/report
	ecmp() {
		timeout 60 python3 "$LIB/evilreader.py" "$1" -- sh -c \
		    'exec "$0" compare-hash "$1" 3>"$2"' \
		    "$CAPBACK_BUILD/capback-writer" "$T/repo" "$T/report"
	}
	run ecmp digest-honest
	echo "$output"
	[[ "$output" == *"exit 8"* ]]
	grep -q "metadata changed, data the same: a" "$T/report"
	run ecmp digest-liar
	echo "$output"
	grep -q "metadata changed, data changed: a" "$T/report"
	for s in digest-unoffered digest-wrong-seq; do
		run ecmp "$s"
		echo "$output"
		[[ "$output" == *"exit 1"* ]]
		[[ "$output" == *"protocol: DIGEST "*" was not asked for now"* ]]
	done
}
