#!/usr/bin/env bats
# Restoring and listing parts of a repository (REPOSITORY/sub/path), and
# restoring over an existing target with --force, against rdiff-backup.

load ../lib/helpers

BASE=1700000000

setup() {
	need_root
	command -v rdiff-backup >/dev/null || skip "rdiff-backup not installed"
	setup_scratch
	sh "$LIB/fixture.sh" "$T/src"
	seq 1 50000 >"$T/src/dir/sub/log"
	session 0
	# session 1: edits, a deletion, a new file
	echo "line" >>"$T/src/dir/sub/log"
	rm "$T/src/dir/sub/deeper/file"
	echo new >"$T/src/dir/new"
	setfattr -n user.note -v one "$T/src/dir/sub"
	touch -d @$((BASE + 50)) "$T/src/dir/sub/log" "$T/src/dir/sub" "$T/src/dir" "$T/src/dir/sub/deeper"
	session 1
	# session 2: the log again
	echo "line2" >>"$T/src/dir/sub/log"
	touch -d @$((BASE + 150)) "$T/src/dir/sub/log"
	session 2
}

teardown() {
	teardown_scratch
}

session() {
	run cb --current-time $((BASE + 100 * $1)) backup "$T/src" "$T/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	rm -rf "$T/state$1"
	cp -a "$T/src" "$T/state$1"
}

@test "a sub-tree restores exactly, now and at older times, as with rdiff-backup" {
	for n in 0 1 2; do
		run cb restore --at $((BASE + 100 * n)) "$T/repo/dir" "$T/cb$n"
		echo "$output"
		[ "$status" -eq 0 ]
		assert_same_tree "$T/state$n/dir" "$T/cb$n"
		run rdiff-backup restore --at $((BASE + 100 * n)) "$T/repo/dir" "$T/rb$n"
		[ "$status" -eq 0 ]
		assert_same_tree "$T/rb$n" "$T/cb$n"
	done
	# deeper, and with redundant slashes and dots
	run cb restore --at $BASE "$T/repo//dir/./sub/" "$T/deep"
	[ "$status" -eq 0 ]
	run rdiff-backup restore --at $BASE "$T/repo/dir/sub" "$T/rdeep"
	assert_same_tree "$T/rdeep" "$T/deep"
	[ -e "$T/deep/deeper/file" ]
	# the hard links of the group that lie inside the sub-tree stay linked
	[ "$(stat -c %i "$T/cb2/hl1")" = "$(stat -c %i "$T/cb2/sub/hl2")" ]
}

@test "single files restore, including one deleted since" {
	run cb restore "$T/repo/dir/sub/log" "$T/log.now"
	[ "$status" -eq 0 ]
	cmp "$T/state2/dir/sub/log" "$T/log.now"
	run cb restore --at $BASE "$T/repo/dir/sub/log" "$T/log.0"
	[ "$status" -eq 0 ]
	cmp "$T/state0/dir/sub/log" "$T/log.0"
	[ "$(stat -c %Y "$T/log.0")" = "$(stat -c %Y "$T/state0/dir/sub/log")" ]
	run cb restore --at $BASE "$T/repo/dir/sub/deeper/file" "$T/gone"
	[ "$status" -eq 0 ]
	cmp "$T/state0/dir/sub/deeper/file" "$T/gone"
	run cb restore "$T/repo/symlink" "$T/sl"
	[ "$status" -eq 0 ]
	[ "$(readlink "$T/sl")" = plain ]
	run cb restore "$T/repo/xattrs" "$T/xa"
	[ "$status" -eq 0 ]
	[ "$(getfattr --only-values -n user.text "$T/xa")" = hello ]
	# an existing target is kept unless --force; one error line (the
	# repository side adds nothing once the restorer said why)
	run cb restore --at $BASE "$T/repo/dir/sub/log" "$T/log.now"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"exists"*"--force"* ]]
	[[ "$output" != *"did not finish"* ]]
	[ "$(printf '%s\n' "$output" | wc -l)" -eq 1 ]
	cmp "$T/state2/dir/sub/log" "$T/log.now"
	run cb --force restore --at $BASE "$T/repo/dir/sub/log" "$T/log.now"
	[ "$status" -eq 0 ]
	cmp "$T/state0/dir/sub/log" "$T/log.now"
	# an empty directory takes a file, as it takes a tree (and as
	# rdiff-backup's restore does)
	mkdir "$T/emptydir" "$T/rb-emptydir"
	run cb restore "$T/repo/plain" "$T/emptydir"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -f "$T/emptydir" ]
	cmp "$T/state2/plain" "$T/emptydir"
	rdiff-backup restore "$T/repo/plain" "$T/rb-emptydir"
	[ -f "$T/rb-emptydir" ]
}

@test "a path the session does not have: exit 1, nothing created" {
	run cb restore "$T/repo/dir/sub/deeper/file" "$T/out"
	echo "$output status=$status"
	[ "$status" -eq 1 ]
	[[ "$output" == *"is not in the session of"* ]]
	[ ! -e "$T/out" ]
	run cb restore "$T/repo/no/such/thing" "$T/out"
	[ "$status" -eq 1 ]
	[ ! -e "$T/out" ]
	run cb restore "$T/repo/dir/sub/../../../plain" "$T/out"
	[ "$status" -eq 1 ]
	[[ "$output" == *"'..' would leave the repository"* ]]
	run cb restore "$T/repo/rdiff-backup-data" "$T/out"
	[ "$status" -eq 1 ]
	[ ! -e "$T/out" ]
}

@test "--force makes an existing target exactly the backup, as rdiff-backup does" {
	for d in cb rb; do
		mkdir -p "$T/$d/dir/sub/extra_dir/x" "$T/$d/text3m"
		echo extra >"$T/$d/extra_file"
		echo old >"$T/$d/dir/sub/log"
		echo x >"$T/$d/dir/sub/extra_dir/x/y"
		ln -s /etc "$T/$d/dir/escape"
		echo in >"$T/$d/text3m/inside"
	done
	run cb restore --at $((BASE + 100)) "$T/repo" "$T/cb"
	[ "$status" -eq 1 ]
	[[ "$output" == *"not empty"*"--force"* ]]
	[ -e "$T/cb/extra_file" ]
	# forced over what it held: a warning and exit status 2, as
	# rdiff-backup's
	run cb --force restore --at $((BASE + 100)) "$T/repo" "$T/cb"
	echo "$output"
	[ "$status" -eq 2 ]
	[[ "$output" == *"was not empty: --force made it the session"* ]]
	assert_same_tree "$T/state1" "$T/cb"
	[ -e /etc/passwd ]
	run rdiff-backup --force restore --at $((BASE + 100)) "$T/repo" "$T/rb"
	[ "$status" -eq 2 ]
	assert_same_tree "$T/rb" "$T/cb"
	# a file where the backup has a directory is replaced with --force
	echo f >"$T/file"
	run cb restore "$T/repo/dir" "$T/file"
	[ "$status" -eq 1 ]
	run cb --force restore "$T/repo/dir" "$T/file"
	[ "$status" -eq 0 ]
	assert_same_tree "$T/state2/dir" "$T/file"
	# and a file over a directory that holds something: said, exit 2
	mkdir -p "$T/full/sub" "$T/rbfull/sub"
	echo p >"$T/full/sub/p"
	echo p >"$T/rbfull/sub/p"
	run cb --force restore "$T/repo/plain" "$T/full"
	echo "$output"
	[ "$status" -eq 2 ]
	[[ "$output" == *"'$T/full' was not empty"* ]]
	cmp "$T/state2/plain" "$T/full"
	run rdiff-backup --force restore "$T/repo/plain" "$T/rbfull"
	[ "$status" -eq 2 ]
}

@test "list increments and list files of a path agree with rdiff-backup" {
	for p in dir/sub/log dir/sub dir/sub/deeper/file dir/new plain no/such; do
		diff <(TZ=UTC rdiff-backup list increments "$T/repo/$p") \
		    <(TZ=UTC cb list increments "$T/repo/$p")
	done
	[ "$(cb list increments "$T/repo/dir/sub/log" | grep -c 'log\.')" -eq 2 ]
	for n in 0 2; do
		diff <(rdiff-backup list files --at $((BASE + 100 * n)) "$T/repo/dir") \
		    <(cb list files --at $((BASE + 100 * n)) "$T/repo/dir")
	done
	diff <(rdiff-backup list files "$T/repo/plain") <(cb list files "$T/repo/plain")
	run cb verify --at $BASE "$T/repo/dir"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"verified successfully"* ]]
	echo 'corrupt' >"$T/repo/dir/sub/log"
	run cb verify --at $BASE "$T/repo/dir/sub/log"
	[ "$status" -eq 2 ]
	run cb verify --at $BASE "$T/repo/dir/new"
	[ "$status" -eq 1 ]
	[[ "$output" == *"is not in the session of"* ]]
	run cb list files --at $BASE "$T/repo/dir/new"
	[ "$status" -eq 1 ]
}

@test "remove increments takes the whole repository only" {
	run cb --force remove increments --older-than now "$T/repo/dir"
	[ "$status" -eq 1 ]
	[[ "$output" == *"whole repository"* ]]
	[ "$(TZ=UTC cb list increments "$T/repo" | grep -c increments\\.)" -eq 2 ]
}

@test "a damaged file restored on its own is named by its target, not '.' (new-user review)" {
	printf 'X' | dd of="$T/repo/dir/sub/log" bs=1 seek=100 conv=notrunc status=none
	run cb restore "$T/repo/dir/sub/log" "$T/one"
	echo "$output"
	[ "$status" -eq 4 ]
	[[ "$output" == *"does not match the recorded SHA-1 of '$T/one'"* ]]
	[[ "$output" != *"of '.'"* ]]
}

@test "REPOSITORY and TARGET the wrong way round: said so (new-user review)" {
	run cb restore "$T/src" "$T/repo"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"'$T/src' is no backup repository and '$T/repo' is one: restore takes REPOSITORY[/PATH] TARGET"* ]]
	# a real target inside a repository is still refused as such
	run cb restore "$T/repo/dir" "$T/repo/dir/x"
	[ "$status" -eq 1 ]
	[[ "$output" == *"is inside the repository"* ]]
}
