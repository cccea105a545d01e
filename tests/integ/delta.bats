#!/usr/bin/env bats
# Changed files as librsync deltas (backup --delta; the default when a side
# is remote): the mirror, the increments and what rdiff-backup reads back
# must be exactly those of a whole-file transfer, while only the changes
# cross the link.

load ../lib/helpers

setup() {
	setup_scratch
	mkdir -p "$T/src/sub"
	head -c 4000000 /dev/urandom >"$T/src/edited"
	head -c 3000000 /dev/urandom >"$T/src/appended"
	head -c 3000000 /dev/urandom >"$T/src/truncated"
	head -c 2000000 /dev/urandom >"$T/src/rewritten"
	head -c 500000 /dev/urandom >"$T/src/shrunk"
	head -c 200000 /dev/urandom >"$T/src/sub/linked"
	ln "$T/src/sub/linked" "$T/src/sub/linked2"
	head -c 20000 /dev/urandom >"$T/src/small"
	truncate -s 50M "$T/src/sparse"
	echo tail >>"$T/src/sparse"
	touch -d @1690000000 "$T/src/"* "$T/src/sub/"*
	cp -a "$T/src" "$T/state0"
}

teardown() {
	teardown_scratch
}

# Change every kind of file a little (or a lot).
mutate() {
	python3 - "$T/src" <<'PY'
import os, sys
d = sys.argv[1]
def poke(name, off, data):
    with open(os.path.join(d, name), "r+b") as f:
        f.seek(off); f.write(data)
poke("edited", 100, b"X" * 50)
poke("edited", 2500000, b"Y" * 5)
with open(os.path.join(d, "appended"), "ab") as f:
    f.write(b"more" * 1000)
os.truncate(os.path.join(d, "truncated"), 1000000)
with open(os.path.join(d, "rewritten"), "wb") as f:
    f.write(os.urandom(2000000))
os.truncate(os.path.join(d, "shrunk"), 3000)
poke("sub/linked", 1000, b"L" * 10)
poke("small", 0, b"S")
poke("sparse", 10 * 1024 * 1024, b"in the hole")
PY
	touch -d @1690000100 "$T/src/"* "$T/src/sub/"*
}

# same_content REPO: every source file's bytes are in the mirror.
same_content() {
	(cd "$T/src" && find . -type f) | while read -r f; do
		cmp "$T/src/$f" "$1/$f" || return 1
	done
}

@test "a delta session gives the same repository as a whole-file one" {
	run cb --current-time 1700000000 backup "$T/src" "$T/whole"
	[ "$status" -eq 0 ]
	cp -a "$T/whole" "$T/delta"
	mutate
	run cb -v 4 --current-time 1700000100 backup --whole-file "$T/src" "$T/whole"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"and 0 by delta"* ]]
	run cb -v 4 --current-time 1700000100 backup --delta "$T/src" "$T/delta"
	echo "$output"
	[ "$status" -eq 0 ]
	# the mirror, the increments and the metadata are byte-identical
	diff -r "$T/whole/rdiff-backup-data/increments" \
	    "$T/delta/rdiff-backup-data/increments"
	for f in "$T"/whole/rdiff-backup-data/*.snapshot.gz "$T"/whole/rdiff-backup-data/*.diff.gz; do
		cmp <(zcat "$f") <(zcat "$T/delta/rdiff-backup-data/${f##*/}")
	done
	same_content "$T/delta"
	run cb restore "$T/delta" "$T/r1"
	[ "$status" -eq 0 ]
	assert_same_tree "$T/src" "$T/r1"
	# the hard link stays a hard link
	[ "$(stat -c %i "$T/delta/sub/linked")" = "$(stat -c %i "$T/delta/sub/linked2")" ]
	# both tools restore both sessions exactly
	run cb restore --at 1700000000 "$T/delta" "$T/r0"
	[ "$status" -eq 0 ]
	assert_same_tree "$T/state0" "$T/r0"
	run rdiff-backup restore --at 1700000000 "$T/delta" "$T/q0"
	echo "$output"
	[ "$status" -eq 0 ]
	assert_same_tree "$T/state0" "$T/q0"
	run rdiff-backup verify "$T/delta"
	[ "$status" -eq 0 ]
}

@test "only the changes cross: a few bytes edited in a big file" {
	run cb --current-time 1700000000 backup --delta "$T/src" "$T/repo"
	[ "$status" -eq 0 ]
	mutate
	run cb -v 4 --current-time 1700000100 backup --delta "$T/src" "$T/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	line=$(grep 'transferred' <<<"$output")
	# "transferred W files whole (B bytes) and D by delta (X bytes for Y; ..."
	read -r whole wbytes dfiles dbytes dsize < <(sed -E \
	    's/.*transferred ([0-9]+) files whole \(([0-9]+) bytes\) and ([0-9]+) by delta \(([0-9]+) bytes for ([0-9]+);.*/\1 \2 \3 \4 \5/' <<<"$line")
	echo "whole=$whole/$wbytes delta=$dfiles/$dbytes of $dsize"
	# every changed file had a mirror copy of 16 KiB or more: all by delta
	[ "$whole" -eq 0 ]
	[ "$dfiles" -eq 8 ]
	# the rewritten file (2 MB of new bytes) dominates; the other five
	# changed files cost little more than their changed bytes
	[ "$dbytes" -lt 2200000 ]
	[ "$dbytes" -gt 2000000 ]
	same_content "$T/repo"
}
