#!/usr/bin/env bats
# The real rdiff-backup (Debian 2.2.2) as the oracle, both directions.

load ../lib/helpers

setup() {
	need_root
	command -v rdiff-backup >/dev/null || skip "rdiff-backup not installed"
	setup_scratch
	sh "$LIB/fixture.sh" "$T/src"
}

teardown() {
	teardown_scratch
}

capback_then_rdiff() {
	run cb --current-time 1700000000 backup "$T/src" "$T/repo"
	[ "$status" -eq 0 ]
	run rdiff-backup verify "$T/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"verified successfully"* ]]
	run rdiff-backup restore "$T/repo" "$T/out"
	echo "$output"
	[ "$status" -eq 0 ]
	assert_same_tree "$T/src" "$T/out"
}

@test "rdiff-backup verifies and restores a capback repository exactly (TZ=UTC)" {
	TZ=UTC capback_then_rdiff
}

@test "rdiff-backup verifies and restores a capback repository exactly (TZ=Europe/Berlin)" {
	export TZ=Europe/Berlin
	capback_then_rdiff
	ls "$T/repo/rdiff-backup-data" | grep -q "current_mirror.2023-11-14T22:13:20Z.data"
}

@test "rdiff-backup list files shows exactly the source paths in its order" {
	cb --current-time 1700000000 backup "$T/src" "$T/repo"
	run rdiff-backup list files "$T/repo"
	[ "$status" -eq 0 ]
	# Same set of paths as find (names with newlines span two lines in
	# both; rdiff-backup shows invalid UTF-8 as U+FFFD).
	(cd "$T/src" && find . | sed 's|^\./||' | python3 -c \
	    "import sys; sys.stdout.write(sys.stdin.buffer.read().decode('utf-8', 'replace'))" |
	    LC_ALL=C sort) >"$T/want"
	printf '%s\n' "$output" | LC_ALL=C sort >"$T/got"
	diff -u "$T/want" "$T/got"
	# And the order trap comes out in record order.
	printf '%s\n' "$output" | grep '^trap' >"$T/trap"
	printf 'trap\ntrap/A\ntrap/a\ntrap/a/b\ntrap/a-b\ntrap/a.b\ntrap/a0\n' |
	    diff -u - "$T/trap"
}

@test "capback restores the newest state of a repository rdiff-backup wrote" {
	run rdiff-backup --current-time 1700000000 backup "$T/src" "$T/repo"
	[ "$status" -eq 0 ]
	run cb restore "$T/repo" "$T/out"
	echo "$output"
	[ "$status" -eq 0 ]
	assert_same_tree "$T/src" "$T/out"
}

@test "capback restores an rdiff-backup --api-version 201 repository" {
	run rdiff-backup --api-version 201 --current-time 1700000000 backup \
	    "$T/src" "$T/repo"
	[ "$status" -eq 0 ]
	run cb restore "$T/repo" "$T/out"
	echo "$output"
	[ "$status" -eq 0 ]
	assert_same_tree "$T/src" "$T/out"
}

@test "rdiff-backup continues a capback repository and both restore the result" {
	cb --current-time 1700000000 backup "$T/src" "$T/repo"
	echo changed >>"$T/src/plain"
	rm -rf "$T/src/dir/sub"
	mkdir "$T/src/newdir" && echo n >"$T/src/newdir/n"
	touch -d '2022-03-04 05:06:07' "$T/src/newdir" "$T/src/dir" "$T/src"
	run rdiff-backup --current-time 1700000100 backup "$T/src" "$T/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	run rdiff-backup verify "$T/repo"
	[ "$status" -eq 0 ]
	run cb restore "$T/repo" "$T/out"
	echo "$output"
	[ "$status" -eq 0 ]
	assert_same_tree "$T/src" "$T/out"
}

@test "xattr names with a space and '=', empty and binary values (13 #12)" {
	mkdir -p "$T/ea"
	echo x >"$T/ea/f"
	setfattr -n "user.sp ace" -v 0x00ff3d0a "$T/ea/f"
	setfattr -n user.empty "$T/ea/f"
	setfattr -n "user.eq=ual" -v "a=b" "$T/ea/f"
	cb backup "$T/ea" "$T/crepo"
	rdiff-backup backup "$T/ea" "$T/rrepo"
	# the same EA records as rdiff-backup writes (order of names aside)
	diff <(zcat -f "$T"/crepo/rdiff-backup-data/extended_attributes.* | sort) \
	    <(zcat -f "$T"/rrepo/rdiff-backup-data/extended_attributes.* | sort)
	# capback restores the real names from either repository.  (rdiff-
	# backup 2.2.2 restores the escaped names, "user.sp\040ace".)
	for r in crepo rrepo; do
		cb restore "$T/$r" "$T/out-$r"
		[ "$(getfattr --only-values -n 'user.sp ace' "$T/out-$r/f" | od -An -tx1 | tr -d ' \n')" = 00ff3d0a ]
		[ "$(getfattr --only-values -n 'user.eq=ual' "$T/out-$r/f")" = "a=b" ]
		getfattr -n user.empty "$T/out-$r/f" >/dev/null
	done
	run rdiff-backup verify "$T/crepo"
	[ "$status" -eq 0 ]
}
