#!/usr/bin/env bats
# Repeated backups (change detection against the previous metadata) and
# the command line.

load ../lib/helpers

setup() {
	need_root
	setup_scratch
	sh "$LIB/fixture.sh" "$T/src"
}

teardown() {
	teardown_scratch
}

inodes() { # inode and mtime of every regular mirror file
	(cd "$1" && find . -path ./rdiff-backup-data -prune -o -type f \
	    -printf '%p %i %T@\n' | sort)
}

@test "an unchanged tree rewrites no file data" {
	cb --current-time 1700000000 backup "$T/src" "$T/repo"
	inodes "$T/repo" >"$T/before"
	run cb --current-time 1700000100 backup "$T/src" "$T/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	inodes "$T/repo" >"$T/after"
	diff -u "$T/before" "$T/after"
	[ "$(stat_value "$T/repo" NewFiles)" = 0 ]
	[ "$(stat_value "$T/repo" ChangedFiles)" = 0 ]
	[ "$(stat_value "$T/repo" DeletedFiles)" = 0 ]
	[ "$(ls "$T/repo/rdiff-backup-data" | grep -c '^current_mirror')" -eq 1 ]
	[ -f "$T/repo/rdiff-backup-data/current_mirror.2023-11-14T22:15:00Z.data" ]
	[ -f "$T/repo/rdiff-backup-data/mirror_metadata.2023-11-14T22:15:00Z.snapshot.gz" ]
	# No change, no increments: not even the root's marker.
	[ -z "$(find "$T/repo/rdiff-backup-data/increments" -type f)" ]
	[ -z "$(ls "$T/repo/rdiff-backup-data" | grep '^increments\.')" ]
}

@test "an unchanged session's metadata snapshot is the previous one's bytes, not compressed again; one change makes a new one; both tools read every session" {
	local d="$T/repo/rdiff-backup-data"
	cb --current-time 1700000000 backup "$T/src" "$T/repo"
	cp "$d/mirror_metadata.2023-11-14T22:13:20Z.snapshot.gz" "$T/snap0"
	cb --current-time 1700000100 backup "$T/src" "$T/repo"
	# the same file under the new name (its old name became the diff)
	cmp "$T/snap0" "$d/mirror_metadata.2023-11-14T22:15:00Z.snapshot.gz"
	[ ! -s "$d/mirror_metadata.2023-11-14T22:13:20Z.diff" ]
	# a file changed: a snapshot of its own, compressed anew
	rm -rf "$T/state1" && cp -a "$T/src" "$T/state1"
	echo changed >>"$T/src/plain"
	cb --current-time 1700000200 backup "$T/src" "$T/repo"
	run cmp -s "$T/snap0" "$d/mirror_metadata.2023-11-14T22:16:40Z.snapshot.gz"
	[ "$status" -ne 0 ]
	cb --current-time 1700000300 backup "$T/src" "$T/repo"
	run cb verify --all "$T/repo"
	[ "$status" -eq 0 ]
	rdiff-backup --terminal-verbosity 1 verify "$T/repo"
	for t in 1700000000 1700000100; do
		rm -rf "$T/r" "$T/rb"
		cb restore --at $t "$T/repo" "$T/r"
		assert_same_tree "$T/state1" "$T/r"
		rdiff-backup --terminal-verbosity 1 restore --at $t "$T/repo" "$T/rb"
		assert_same_tree "$T/state1" "$T/rb"
	done
	for t in 1700000200 1700000300; do
		rm -rf "$T/r"
		cb restore --at $t "$T/repo" "$T/r"
		assert_same_tree "$T/src" "$T/r"
	done
}

@test "every kind of change reaches the mirror and restores exactly" {
	cb --current-time 1700000000 backup "$T/src" "$T/repo"
	s="$T/src"
	echo more >>"$s/plain"                       # append
	printf 'XYZ' | dd of="$s/random1m" bs=1 seek=500000 conv=notrunc status=none
	rm "$s/empty"                                # delete file
	rm -rf "$s/dir/sub"                          # delete tree
	mkdir -p "$s/new/deep" && echo n >"$s/new/deep/n" # new tree
	rm "$s/text3m" && mkdir "$s/text3m"          # file -> dir
	rm -rf "$s/trap/a" && echo f >"$s/trap/a"    # dir -> file
	ln -sfn dir "$s/symlink"                     # retarget
	chmod 0640 "$s/setgid"                       # chmod only
	chown nobody "$s/unknown_owner"              # chown only
	touch -d '2019-09-09' "$s/nobody_file"       # mtime only
	setfattr -n user.text -v changed "$s/xattrs" # xattr only
	setfacl -m u:nobody:r "$s/acl_file"          # ACL only
	ln "$s/plain" "$s/plain-link"                # hard link added
	rm "$s/hl3"                                  # hard link removed
	rm "$s/chardev" && mkfifo "$s/chardev"       # device -> fifo
	run cb --current-time 1700000100 backup "$s" "$T/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(stat_value "$T/repo" DeletedFiles)" -ge 4 ]
	[ "$(stat_value "$T/repo" NewFiles)" -ge 3 ]
	run cb restore "$T/repo" "$T/out"
	[ "$status" -eq 0 ]
	assert_same_tree "$s" "$T/out"
	# rdiff-backup agrees with the new state.
	if command -v rdiff-backup >/dev/null; then
		run rdiff-backup verify "$T/repo"
		[ "$status" -eq 0 ]
		run rdiff-backup restore "$T/repo" "$T/out2"
		[ "$status" -eq 0 ]
		assert_same_tree "$s" "$T/out2"
	fi
}

@test "a day of more changes than one batch of increments, with hard links to changed files, restores exactly (both tools)" {
	command -v rdiff-backup >/dev/null || skip "rdiff-backup not installed"
	rm -rf "$T/src" && mkdir "$T/src"
	for d in $(seq 1 12); do
		mkdir "$T/src/d$d"
		for f in $(seq 1 100); do echo "$d $f" >"$T/src/d$d/f$f"; done
	done
	# Links whose first path comes after the first 1 024 increments,
	# so that its new version still waits when the link is made.
	mkdir "$T/src/y" "$T/src/z"
	for i in $(seq 1 10); do
		echo "linked $i" >"$T/src/y/l$i"
		ln "$T/src/y/l$i" "$T/src/z/h$i"
	done
	cb --current-time 1700000000 backup "$T/src" "$T/repo"
	cp -a "$T/src" "$T/state0"
	# 1 110 files edited (each its own increment; the writer makes
	# them durable 1 024 at a time), 100 deleted with their directory.
	for d in $(seq 1 11); do
		for f in $(seq 1 100); do echo changed >>"$T/src/d$d/f$f"; done
	done
	for i in $(seq 1 10); do echo changed >>"$T/src/y/l$i"; done
	rm -rf "$T/src/d12"
	cp -a "$T/src" "$T/state1"
	run cb --current-time 1700000100 backup "$T/src" "$T/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(stat_value "$T/repo" ChangedFiles)" -ge 1120 ]
	[ "$(stat_value "$T/repo" IncrementFiles)" -ge 1220 ]
	# Nothing left under a temporary name, in the mirror or increments.
	[ -z "$(find "$T/repo" -name 'rdiff-backup.tmp.*')" ]
	# The later links share the new version's file in the mirror.
	for i in $(seq 1 10); do
		[ "$(stat -c %i "$T/repo/y/l$i")" = "$(stat -c %i "$T/repo/z/h$i")" ]
		grep -q changed "$T/repo/z/h$i"
	done
	cb restore --at 1700000000 "$T/repo" "$T/out0"
	assert_same_tree "$T/state0" "$T/out0"
	cb restore "$T/repo" "$T/out1"
	assert_same_tree "$T/state1" "$T/out1"
	run rdiff-backup verify "$T/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	run rdiff-backup restore --at 1700000000 "$T/repo" "$T/rb0"
	[ "$status" -eq 0 ]
	assert_same_tree "$T/state0" "$T/rb0"
}

@test "a change before 1 500 directories: the backup stays within 400 descriptors" {
	rm -rf "$T/src" && mkdir "$T/src"
	echo a >"$T/src/a"
	for i in $(seq 1 1500); do mkdir "$T/src/d$i" && echo "$i" >"$T/src/d$i/f"; done
	cb --current-time 1700000000 backup "$T/src" "$T/repo"
	cp -a "$T/src" "$T/state0"
	# The increment of "a" waits for a flush while the walk leaves 1 500
	# directories; each one's attributes wait behind it.  A hard limit of
	# 400, then a soft one (the writer may raise it).
	for lim in "-n 400" "-S -n 400"; do
		cp -a "$T/repo" "$T/r"
		echo "changed $lim" >>"$T/src/a"
		run bash -c 'ulimit '"$lim"' && exec "$@"' sh \
		    "$CAPBACK_BUILD/capback" --current-time 1700000100 backup \
		    "$T/src" "$T/r"
		echo "$output"
		[ "$status" -eq 0 ]
		cb restore --at 1700000000 "$T/r" "$T/out0"
		assert_same_tree "$T/state0" "$T/out0"
		cb restore "$T/r" "$T/out1"
		assert_same_tree "$T/src" "$T/out1"
		rm -rf "$T/r" "$T/out0" "$T/out1"
	done
}

@test "a big file edited in a few places after another change: updated in place, its received copy never written" {
	command -v mkfs.ext4 >/dev/null || skip "no mkfs.ext4"
	truncate -s 300M "$T/fs.img"
	mkfs.ext4 -q -F "$T/fs.img"
	mkdir "$T/fs"
	mount -o loop "$T/fs.img" "$T/fs"
	MOUNTS="$MOUNTS $T/fs"
	dev=$(basename "$(findmnt -n -o SOURCE "$T/fs")")
	rm -rf "$T/src" && mkdir "$T/src"
	echo a >"$T/src/a"
	head -c 64M /dev/urandom >"$T/src/big"
	cb --current-time 1700000000 backup "$T/src" "$T/fs/repo"
	cp -a "$T/src" "$T/state0"
	# "a" first: its increment waits in the batch when "big" comes.
	echo changed >>"$T/src/a"
	printf 'XYZ' | dd of="$T/src/big" bs=1 seek=1000000 conv=notrunc status=none
	touch -d '2024-01-01' "$T/src/big"
	sync
	w0=$(awk '{ print $7 }' "/sys/block/$dev/stat")
	run cb -v 4 --current-time 1700000100 backup "$T/src" "$T/fs/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"1 large mirror files updated in place"* ]]
	sync
	w1=$(awk '{ print $7 }' "/sys/block/$dev/stat")
	# Sectors written by the session: its increments, metadata and the
	# journal, not the 64 MiB received copy of "big".
	echo "written: $(((w1 - w0) * 512)) bytes"
	[ $(((w1 - w0) * 512)) -lt $((16 * 1024 * 1024)) ]
	cb restore --at 1700000000 "$T/fs/repo" "$T/out0"
	assert_same_tree "$T/state0" "$T/out0"
	cb restore "$T/fs/repo" "$T/out1"
	assert_same_tree "$T/src" "$T/out1"
}

@test "a hard link replaced by a file of the same size and mtime is re-read" {
	echo aaaa >"$T/src/swap"
	touch -d '2020-01-01' "$T/src/swap"
	cb --current-time 1700000000 backup "$T/src" "$T/repo"
	# Hard-linked files compare inodes too.
	echo same >"$T/src/h1" && ln "$T/src/h1" "$T/src/h2"
	cb --current-time 1700000100 backup "$T/src" "$T/repo"
	echo same >"$T/src/h1.new" && ln -f "$T/src/h1.new" "$T/src/h1"
	touch -r "$T/src/h2" "$T/src/h1"
	run cb --current-time 1700000200 backup "$T/src" "$T/repo"
	[ "$status" -eq 0 ]
	run cb restore "$T/repo" "$T/out"
	assert_same_tree "$T/src" "$T/out"
}

@test "deleting everything and backing up an empty tree" {
	cb --current-time 1700000000 backup "$T/src" "$T/repo"
	rm -rf "$T/empty" && mkdir "$T/empty"
	run cb --current-time 1700000100 backup "$T/empty" "$T/repo"
	[ "$status" -eq 0 ]
	[ "$(ls -A "$T/repo")" = rdiff-backup-data ]
	run cb restore "$T/repo" "$T/out"
	[ "$status" -eq 0 ]
	[ -z "$(ls -A "$T/out")" ]
}

@test "cli: help, version, usage errors" {
	run cb --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"backup SOURCE REPOSITORY"* ]]
	run cb backup --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"--no-eas"* ]]
	run cb restore --help
	[ "$status" -eq 0 ]
	run cb --version
	[ "$status" -eq 0 ]
	[[ "$output" == "capback "[0-9]* ]]
	run cb
	[ "$status" -eq 1 ]
	run cb frobnicate
	[ "$status" -eq 1 ]
	[[ "$output" == *"unknown action 'frobnicate'"* ]]
	run cb backup --bogus "$T/src" "$T/repo"
	[ "$status" -eq 1 ]
	run cb backup "$T/src"
	[ "$status" -eq 1 ]
	[[ "$output" == *"backup takes SOURCE REPOSITORY: 1 was given"* ]]
	run cb --current-time yesterday backup "$T/src" "$T/repo"
	[ "$status" -eq 1 ]
	[[ "$output" == *"--current-time"* ]]
	run cb -v 12 backup "$T/src" "$T/repo"
	[ "$status" -eq 1 ]
	[ ! -e "$T/repo" ]
}

@test "cli: global options go before the action, as in rdiff-backup" {
	run cb -v 0 --current-time 1700000000 backup "$T/src" "$T/repo"
	[ "$status" -eq 0 ]
	# Silent (valgrind's own warnings aside, see tools/valgrind-suite.sh).
	[ -z "$(printf '%s\n' "$output" | grep -v '^--[0-9]*--')" ]
	[ -f "$T/repo/rdiff-backup-data/current_mirror.2023-11-14T22:13:20Z.data" ]
	# rdiff-backup's own spelling of the same command works the same way.
	run cb --verbosity 3 --force restore "$T/repo" "$T/out"
	[ "$status" -eq 0 ]
}

@test "--no-eas and --no-acls leave the attributes out" {
	run cb --current-time 1700000000 backup --no-eas --no-acls "$T/src" "$T/repo"
	[ "$status" -eq 0 ]
	[ ! -s "$T/repo/rdiff-backup-data/extended_attributes.2023-11-14T22:13:20Z.snapshot" ]
	[ ! -s "$T/repo/rdiff-backup-data/access_control_lists.2023-11-14T22:13:20Z.snapshot" ]
}

@test "an attribute change of a file after a directory's subtree gives its own directory a .dir increment, not that one: the same increments as rdiff-backup's" {
	command -v rdiff-backup >/dev/null || skip "rdiff-backup not installed"
	rm -rf "$T/src" && mkdir -p "$T/src/a/deep" "$T/src/c"
	echo x >"$T/src/a/deep/x"
	echo b >"$T/src/b"
	echo d >"$T/src/c/d"
	echo e >"$T/src/e"
	touch -d @1600000000 "$T/src/a/deep" "$T/src/a" "$T/src/c" "$T/src"
	cb --current-time 1700000000 backup "$T/src" "$T/repo"
	rdiff-backup --current-time 1700000000 backup "$T/src" "$T/rrepo" >/dev/null
	# attributes only: b comes after a's subtree, c/d after b
	chmod 600 "$T/src/b" "$T/src/c/d"
	touch -d @1600000000 "$T/src/c" "$T/src"
	cb --current-time 1700000100 backup "$T/src" "$T/repo"
	rdiff-backup --current-time 1700000100 backup "$T/src" "$T/rrepo" >/dev/null
	incs() { (cd "$1/rdiff-backup-data" && find increments* -name '*.dir' | sort); }
	diff <(incs "$T/rrepo") <(incs "$T/repo")
	[ ! -e "$T/repo/rdiff-backup-data/increments/a.2023-11-14T22:13:20Z.dir" ]
	[ -e "$T/repo/rdiff-backup-data/increments/c.2023-11-14T22:13:20Z.dir" ]
}
