#!/usr/bin/env bats
# capback compare: the same report lines and exit status as rdiff-backup's
# compare on the same repository, for every method, at any session, on
# repositories written by either tool; and compare never writes.

load ../lib/helpers

BASE=1700000000

setup() {
	CMP_GLOBAL=()
	need_root
	command -v rdiff-backup >/dev/null || skip "rdiff-backup not installed"
	setup_scratch
	sh "$LIB/fixture.sh" "$T/src"
}

teardown() {
	teardown_scratch
}

# session TOOL N: TOOL (cb or rdiff-backup) backs up src at BASE + 100*N.
session() {
	run "$1" --current-time $((BASE + 100 * $2)) backup "$T/src" "$T/repo"
	echo "$output"
	[ "$status" -eq 0 ]
}

# both_compare ARGS...: rdiff-backup's and capback's compare with the same
# arguments (global options in the array CMP_GLOBAL); their stdout sorted
# in $T/rb.out and $T/cb.out, as printed in $T/rb.raw and $T/cb.raw, the
# exit statuses in RB_ST and CB_ST.
both_compare() {
	RB_ST=0
	rdiff-backup "${CMP_GLOBAL[@]}" compare "$@" >"$T/rb.raw" \
	    2>"$T/rb.err" || RB_ST=$?
	CB_ST=0
	cb "${CMP_GLOBAL[@]}" compare "$@" >"$T/cb.raw" 2>"$T/cb.err" ||
	    CB_ST=$?
	sort "$T/rb.raw" >"$T/rb.out"
	# names as rdiff-backup prints them, raw (capback escapes them)
	unescape_names <"$T/cb.raw" | sort >"$T/cb.out"
	echo "== compare $*: rdiff-backup $RB_ST, capback $CB_ST"
	cat "$T/cb.raw" "$T/cb.err"
	roles_sane <"$T/cb.err"
}

# roles_sane <TEXT: no role died, nor tripped a sanitizer or valgrind
# (status 1 alone would pass for "differences found").
roles_sane() {
	refute grep -E "ended abnormally|Sanitizer|runtime error"
}

# like_rdiff ARGS...: both_compare, then the same lines and status.
like_rdiff() {
	both_compare "$@"
	diff -u "$T/rb.out" "$T/cb.out"
	[ "$RB_ST" -eq "$CB_ST" ]
}

# has LINE: capback printed LINE.
has() {
	grep -qxF -- "$1" "$T/cb.raw" || {
		echo "missing: $1" >&2
		return 1
	}
}

# same_size_edit FILE OFFSET: one new byte, same size and mtime (only hash
# and full can see it).
same_size_edit() {
	local m
	m=$(stat -c %Y "$1")
	printf 'Z' | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
	touch -d "@$m" "$1"
}

# The changes every method must report like rdiff-backup.
change_tree() {
	local s="$T/src"
	same_size_edit "$s/random1m" 1000
	chmod 0640 "$s/plain"
	chown 12345 "$s/nobody_file"
	setfattr -n user.text -v changed "$s/xattrs"
	setfacl -m u:nobody:r "$s/acl_file"
	echo more >>"$s/text3m"
	touch -d '2022-03-04 05:06:07' "$s/text3m"
	echo new >"$s/newfile"
	mkdir -p "$s/newdir/deep" && echo n >"$s/newdir/deep/n"
	rm -rf "$s/dir/sub" "$s/hl3"
	rm "$s/empty" && mkdir "$s/empty" && : >"$s/empty/inside"
	rm -rf "$s/trap" && echo was-a-dir >"$s/trap"
	ln -sfn elsewhere "$s/symlink"
}

@test "an unchanged tree: no differences and status 0, as rdiff-backup, every method" {
	session cb 0
	for m in meta hash full; do
		like_rdiff --method "$m" "$T/src" "$T/repo"
		[ "$CB_ST" -eq 0 ]
		diff "$T/rb.raw" "$T/cb.raw"
		has "NOTE: No changes found. Directory matches archive data."
	done
	# the default method is meta; -v2 prints nothing at all
	run cb -v 2 compare "$T/src" "$T/repo"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "content, mode, owner, xattr, ACL, type, new and deleted paths: as rdiff-backup, every method" {
	session cb 0
	change_tree
	like_rdiff "$T/src" "$T/repo"
	[ "$CB_ST" -eq 1 ]
	# meta cannot see content with the same size and mtime
	refute grep -q random1m "$T/cb.raw"
	for l in "changed: plain" "changed: nobody_file" "changed: xattrs" \
	    "changed: acl_file" "changed: text3m" "changed: symlink" \
	    "changed: empty" "new: empty/inside" "changed: trap" \
	    "deleted: trap/a/b" "new: newfile" "new: newdir/deep/n" \
	    "deleted: dir/sub" "deleted: dir/sub/deeper/file" "deleted: hl3"; do
		has "$l"
	done
	# dir/hl1 lost its other links: still equal (rdiff-backup's rule)
	refute grep -q "hl1" "$T/cb.raw"
	for m in hash full; do
		like_rdiff --method "$m" "$T/src" "$T/repo"
		[ "$CB_ST" -eq 1 ]
		has "metadata the same, data changed: random1m"
		has "metadata changed, data the same: plain"
		has "metadata changed, data the same: xattrs"
		has "metadata changed, data changed: text3m"
		has "changed: symlink"
		has "deleted: dir/sub/hl2"
	done
	# the report is in record order, like rdiff-backup's
	diff "$T/rb.raw" "$T/cb.raw"
}

@test "--at older sessions (content rebuilt from increments): as rdiff-backup" {
	# ab, and a name too long for its increments' names (those go to
	# long_filename_data)
	long=names/$(printf '%0255d' 0 | tr 0 n)
	cp "$T/src/$long" "$T/long0"
	echo AAAA >"$T/src/ab"
	touch -d @$BASE "$T/src/ab"
	session cb 0
	# session 1: other bytes, same size, a new mtime (the backup sees it)
	echo BBBB >"$T/src/ab"
	tr n m <"$T/long0" >"$T/src/$long"
	touch -d @$((BASE + 50)) "$T/src/ab" "$T/src/$long"
	chmod 0600 "$T/src/plain"
	session cb 1
	echo CCCCCC >"$T/src/ab"
	tr n o <"$T/long0" >"$T/src/$long"
	touch -d @$((BASE + 150)) "$T/src/ab" "$T/src/$long"
	rm "$T/src/setuid"
	session cb 2
	ls "$T/repo/rdiff-backup-data/long_filename_data" | grep -q diff
	# now: the bytes of session 0 with the mtime of session 1
	echo AAAA >"$T/src/ab"
	cp "$T/long0" "$T/src/$long"
	touch -d @$((BASE + 50)) "$T/src/ab" "$T/src/$long"
	touch -d '2022-03-04 05:06:07' "$T/src/names"
	for at in $BASE $((BASE + 100)) $((BASE + 200)) $((BASE + 150)) \
	    1600000000 1B 2B now 2023-11-14T22:15:00Z; do
		for m in meta hash full; do
			like_rdiff --method "$m" --at "$at" "$T/src" "$T/repo"
			[ "$CB_ST" -eq 1 ]
		done
	done
	# each session is the one asked for
	for m in hash full; do
		like_rdiff --method "$m" --at $BASE "$T/src" "$T/repo"
		has "metadata changed, data the same: ab"
		has "metadata changed, data the same: $long"
		has "metadata changed, data the same: plain"
		has "deleted: setuid"
		like_rdiff --method "$m" --at $((BASE + 100)) "$T/src" "$T/repo"
		has "metadata the same, data changed: ab"
		has "metadata the same, data changed: $long"
		refute grep -q plain "$T/cb.raw"
		has "deleted: setuid"
		like_rdiff --method "$m" --at $((BASE + 200)) "$T/src" "$T/repo"
		has "metadata changed, data changed: ab"
		refute grep -q setuid "$T/cb.raw"
	done
	# meta cannot see the bytes of session 1
	like_rdiff --at $((BASE + 100)) "$T/src" "$T/repo"
	refute grep -q ab "$T/cb.raw"
	# relative times count from --current-time, as in rdiff-backup
	CMP_GLOBAL=(--current-time $((BASE + 250)))
	like_rdiff --method full --at 100s "$T/src" "$T/repo"
	has "metadata the same, data changed: ab"
}

@test "a repository written by rdiff-backup, now and at an older session" {
	session rdiff-backup 0
	echo again >>"$T/src/plain"
	session rdiff-backup 1
	like_rdiff --method meta "$T/src" "$T/repo"
	[ "$CB_ST" -eq 0 ]
	change_tree
	for at in now $BASE; do
		for m in meta hash full; do
			like_rdiff --method "$m" --at "$at" "$T/src" "$T/repo"
			[ "$CB_ST" -eq 1 ]
		done
	done
	has "metadata changed, data changed: plain"
	has "metadata the same, data changed: random1m"
}

@test "full sees a damaged mirror file that hash trusts the digest for, as rdiff-backup" {
	session cb 0
	same_size_edit "$T/repo/dir/sub/deeper/file" 1
	like_rdiff --method hash "$T/src" "$T/repo"
	[ "$CB_ST" -eq 0 ]
	like_rdiff --method full "$T/src" "$T/repo"
	[ "$CB_ST" -eq 1 ]
	has "metadata the same, data changed: dir/sub/deeper/file"
	[ "$(wc -l <"$T/cb.raw")" -eq 1 ]
}

@test "a directory inside the repository, as rdiff-backup" {
	session cb 0
	change_tree
	for m in meta hash full; do
		like_rdiff --method "$m" "$T/src/dir" "$T/repo/dir"
		[ "$CB_ST" -eq 1 ]
		has "deleted: sub/deeper/file"
	done
	like_rdiff "$T/src/names" "$T/repo/names"
	[ "$CB_ST" -eq 0 ]
	# a path the backup does not have: everything is new
	like_rdiff "$T/src/names" "$T/repo/nothere"
	has "new: ."
}

@test "read-only: a user who may only read the repository compares, nothing in it changes" {
	rm -rf "$T/src" && mkdir -p "$T/src/d"
	echo one >"$T/src/a" && echo two >"$T/src/d/b"
	touch -d @$BASE "$T/src/a"
	session cb 0
	echo uno >"$T/src/a"
	touch -d @$((BASE + 50)) "$T/src/a"
	session cb 1
	echo three >"$T/src/d/c"
	chmod -R a+rX "$T/repo" "$T/src"
	new_user
	snap() {
		(cd "$T/repo" && find . -printf '%p %y %s %m %T@\n' | sort &&
			find . -type f -exec sha1sum {} + | sort)
	}
	snap >"$T/before"
	for m in meta hash full; do
		run run_as "$NEW_USER" "$CAPBACK_BUILD/capback" compare \
		    --method "$m" --at $BASE "$T/src" "$T/repo"
		echo "$output"
		[ "$status" -eq 1 ]
		roles_sane <<<"$output"
		[[ "$output" == *"new: d/c"* ]]
	done
	# session 0's bytes, rebuilt from the increments by that user
	[[ "$output" == *"metadata changed, data changed: a"* ]]
	# root, who could write, does not either
	for m in meta hash full; do
		run cb compare --method "$m" --at $BASE "$T/src" "$T/repo"
		[ "$status" -eq 1 ]
		roles_sane <<<"$output"
	done
	snap | diff "$T/before" -
	# and on a read-only mount, as root
	mkdir "$T/ro"
	mount --bind "$T/repo" "$T/ro"
	MOUNTS="$T/ro"
	mount -o remount,bind,ro "$T/ro"
	run cb compare --method full "$T/src" "$T/ro"
	echo "$output"
	[ "$status" -eq 1 ]
	roles_sane <<<"$output"
	[ "$(echo "$output" | grep -c '^new: d/c$')" -eq 1 ]
	snap | diff "$T/before" -
}

@test "files the reader cannot read: named, counted as changed data or not compared" {
	rm -rf "$T/src" && mkdir -p "$T/src/d"
	echo open >"$T/src/a" && echo secret >"$T/src/d/s"
	chmod 0600 "$T/src/d/s"
	chmod -R a+rX "$T/src"
	chmod 0600 "$T/src/d/s"
	session cb 0
	chmod -R a+rX "$T/repo"
	new_user
	run run_as "$NEW_USER" "$CAPBACK_BUILD/capback" compare "$T/src" "$T/repo"
	[ "$status" -eq 0 ]
	run run_as "$NEW_USER" "$CAPBACK_BUILD/capback" compare --method hash "$T/src" "$T/repo"
	echo "$output"
	[ "$status" -eq 1 ]
	roles_sane <<<"$output"
	[[ "$output" == *"cannot read 'd/s'"* ]]
	[[ "$output" == *"metadata the same, data changed: d/s"* ]]
	chmod 0700 "$T/src/d"
	run run_as "$NEW_USER" "$CAPBACK_BUILD/capback" compare "$T/src" "$T/repo"
	echo "$output"
	[ "$status" -eq 4 ]
	[[ "$output" == *"cannot read 'd'"* ]]
	[[ "$output" != *"deleted:"* ]]
}

@test "many files: content requests, long deletions and the reader's credit do not stall" {
	rm -rf "$T/src" && mkdir -p "$T/src/a" "$T/src/b" "$T/src/c"
	python3 - "$T/src" <<'EOF'
import os, sys
for d in "abc":
    for i in range(6000):
        with open(os.path.join(sys.argv[1], d, "f%05d" % i), "w") as f:
            f.write("%s%d\n" % (d, i))
EOF
	touch -d @$BASE "$T/src"/*/* "$T/src"/* "$T/src"
	session cb 0
	# every third file of a/ and c/: new bytes, same size and mtime;
	# all of b/ (between them in record order) deleted
	python3 - "$T/src" <<'EOF'
import os, sys
for d in "ac":
    for i in range(0, 6000, 3):
        p = os.path.join(sys.argv[1], d, "f%05d" % i)
        st = os.stat(p)
        with open(p, "r+") as f:
            f.write("Z")
        os.utime(p, (st.st_atime, st.st_mtime))
EOF
	rm -rf "$T/src/b"
	touch -d @$BASE "$T/src"
	for m in hash full meta; do
		RB_ST=0
		rdiff-backup compare --method "$m" "$T/src" "$T/repo" >"$T/rb.raw" 2>/dev/null || RB_ST=$?
		CB_ST=0
		timeout 300 "$CAPBACK_BUILD/capback" compare --method "$m" "$T/src" \
		    "$T/repo" >"$T/cb.raw" 2>"$T/cb.err" || CB_ST=$?
		roles_sane <"$T/cb.err"
		diff "$T/rb.raw" "$T/cb.raw"
		[ "$RB_ST" -eq "$CB_ST" ]
		[ "$CB_ST" -eq 1 ]
		[ "$(grep -c '^deleted: b/' "$T/cb.raw")" -eq 6000 ]
		cp "$T/cb.raw" "$T/cb.$m"
	done
	for m in hash full; do
		[ "$(grep -c '^metadata the same, data changed: [ac]/' "$T/cb.$m")" -eq 4000 ]
	done
}

@test "usage errors: method, time, source, repository" {
	session cb 0
	run cb compare --method sha "$T/src" "$T/repo"
	[ "$status" -eq 1 ]
	[[ "$output" == *"--method must be meta, hash or full"* ]]
	run cb compare --at yesterdayish "$T/src" "$T/repo"
	[ "$status" -eq 1 ]
	[[ "$output" == *"bad time string"* ]]
	run cb compare "$T/nosuch" "$T/repo"
	[ "$status" -eq 1 ]
	[[ "$output" == *"cannot compare '$T/nosuch': No such file"* ]]
	run cb compare "$T/src/plain" "$T/repo"
	[ "$status" -eq 1 ]
	[[ "$output" == *"not a directory"* ]]
	run cb compare "$T/src" "$T/nosuch"
	[ "$status" -eq 1 ]
	[[ "$output" == *"cannot open repository"* ]]
	run cb compare "$T/src" "$T/src"
	[ "$status" -eq 1 ]
	[[ "$output" == *"not a backup repository"* ]]
	run cb compare "$T/src"
	[ "$status" -eq 1 ]
	run cb compare --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"--method"* ]]
	# the writer refuses to run without its report stream
	run "$CAPBACK_BUILD/capback-writer" -- compare-meta "$T/repo" 3>&-
	[ "$status" -eq 1 ]
	[[ "$output" == *"fd 3"* ]]
}

@test "a role that dies is reported, not taken for differences" {
	session cb 0
	mkdir "$T/libexec"
	ln -s "$CAPBACK_BUILD/capback-reader" "$T/libexec/capback-reader"
	# a writer that compares, then fails as valgrind or a crash would
	cat >"$T/libexec/capback-writer" <<EOS
#!/bin/sh
"$CAPBACK_BUILD/capback-writer" "\$@"
exit 99
EOS
	chmod 0755 "$T/libexec/capback-writer"
	run env CAPBACK_LIBEXEC="$T/libexec" "$CAPBACK_BUILD/capback" compare "$T/src" "$T/repo"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"the writer ended abnormally (status 99)"* ]]
	refute roles_sane <<<"$output"
}
