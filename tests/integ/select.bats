#!/usr/bin/env bats
# Include/exclude selection: for each set of options, capback must back up
# exactly the paths rdiff-backup backs up from the same tree.

load ../lib/helpers

setup() {
	need_root
	command -v rdiff-backup >/dev/null || skip "rdiff-backup not installed"
	setup_scratch
	cd "$T"
	mkdir -p src/a/b/deep src/f/g src/f/cache src/empty_dir src/x.py.d
	echo c >src/a/b/c.py
	echo d >src/a/b/d.txt
	echo deep >src/a/b/deep/z.py
	echo e >src/a/e.py
	echo E >src/a/UP.PY
	echo h >src/f/g/h.txt
	echo tag >src/f/cache/CACHEDIR.TAG
	echo cached >src/f/cache/data
	echo hidden >src/.hidden
	echo y >src/x.py.d/inner
	head -c 5000 /dev/zero >src/big
	printf 'tiny' >src/tiny
	printf '' >src/zero
	echo 'sp ace' >"src/sp ace.txt"
	echo br >"src/br[1].txt"
	ln -s a src/link_to_a
	ln -s /nowhere src/dangling
	mkfifo src/fifo
	mknod src/null c 1 3
	python3 -c "import socket; socket.socket(socket.AF_UNIX).bind('src/sock')"
	mkdir src/mnt
	mount -t tmpfs tmpfs src/mnt
	MOUNTS="$T/src/mnt"
	echo m >src/mnt/onmount
	printf '%s\n' src/a/b/c.py '- src/f/cache' src/f/g/h.txt src/f other/outside >list1
	printf '%s\n' src/a/b src/f/cache/data >list2
	printf '%s\n' '+ src/**/*.py' '- src/a' 'src/f/g' '- **' >glist
}

teardown() {
	cd /
	teardown_scratch
}

# same_selection OPTIONS...: both tools back up src with OPTIONS; the
# paths kept must be identical (and something must differ from "all").
n=0
same_selection() {
	n=$((n + 1))
	run rdiff-backup --current-time 1700000000 backup "$@" src "r$n"
	echo "rdiff-backup $*: $output"
	[ "$status" -eq 0 ]
	run cb --current-time 1700000000 backup "$@" src "c$n"
	echo "capback $*: $output"
	[ "$status" -eq 0 ]
	rdiff-backup list files "r$n" | LC_ALL=C sort >"r$n.list"
	cb list files "c$n" | LC_ALL=C sort >"c$n.list"
	diff -u "r$n.list" "c$n.list"
	# and the same content in the regular files
	(cd "r$n" && find . -path ./rdiff-backup-data -prune -o -type f -print0 |
	    xargs -0r sha1sum | LC_ALL=C sort) >"r$n.sums"
	(cd "c$n" && while IFS= read -r p; do
		[ -f "$T/r$n/$p" ] && [ ! -L "$T/r$n/$p" ] && sha1sum "./$p"
	done <"$T/c$n.list" | LC_ALL=C sort) >"c$n.sums"
	diff -u "r$n.sums" "c$n.sums"
}

@test "globs: plain paths, *, **, ?, [..], ignorecase, trailing parts" {
	same_selection --exclude src/a
	same_selection --exclude /src/a/b/ --exclude src//f
	same_selection --exclude 'src/**.py'
	same_selection --exclude '**.py'
	same_selection --include 'src/**.py' --exclude '**'
	same_selection --include 'src/a/*' --exclude 'src/a' --exclude 'src/f'
	same_selection --exclude 'ignorecase:src/**.py'
	same_selection --include 'src/a/[bU]*' --exclude '**'
	same_selection --include 'src/a/?.py' --exclude '**'
	same_selection --exclude 'src/br\[1\].txt' --exclude 'src/sp ace.txt'
	same_selection --exclude 'src/*/b'
	same_selection --include src/a/b/c.py --exclude '**'
	same_selection --include '**/deep' --exclude '**'
}

@test "order decides: the first matching option wins" {
	same_selection --include src/f/g --exclude src/f
	same_selection --exclude src/f --include src/f/g --exclude src/a
	same_selection --include 'src/**/g' --exclude 'src/f/**' --include src/f/cache --exclude '**'
	same_selection --exclude 'src/a/b/*.txt' --include 'src/a/b' --exclude 'src/a'
}

@test "regexps, presence files, other filesystems, special files, sizes" {
	same_selection --exclude-regexp '\.txt$'
	same_selection --include-regexp 'a/b' --exclude '**'
	same_selection --exclude-regexp '^src/f'
	same_selection --exclude-if-present CACHEDIR.TAG
	# one name, not a path (rdiff-backup also follows a path from each
	# directory, which from a forced command reaches beyond the tree)
	run cb backup --exclude-if-present b/deep src "$T/refused"
	[ "$status" -eq 1 ]
	[[ "$output" == *"needs one file name"* ]]
	same_selection --exclude-other-filesystems
	same_selection --exclude-special-files
	same_selection --exclude-device-files --exclude-fifos --exclude-sockets
	same_selection --exclude-symbolic-links
	same_selection --include-symbolic-links --exclude '**'
	same_selection --include-special-files --exclude '**'
	same_selection --max-file-size 1000
	same_selection --min-file-size 5
}

@test "filelists: plain, globbing, from standard input, NUL separated" {
	same_selection --include-filelist list1 --exclude '**'
	same_selection --exclude-filelist list2
	same_selection --include-globbing-filelist glist
	same_selection --exclude-globbing-filelist list2
	n=$((n + 1))
	rdiff-backup --current-time 1700000000 backup --include-filelist-stdin --exclude '**' src "r$n" <list1
	cb --current-time 1700000000 backup --include-filelist-stdin --exclude '**' src "c$n" <list1
	diff <(rdiff-backup list files "r$n") <(cb list files "c$n")
	tr '\n' '\0' <list2 >list0
	n=$((n + 1))
	rdiff-backup --null-separator --current-time 1700000000 backup --exclude-filelist list0 src "r$n"
	cb --current-time 1700000000 backup --null-separator --exclude-filelist list0 src "c$n"
	diff <(rdiff-backup list files "r$n") <(cb list files "c$n")
}

@test "an absolute source path and globs written against it" {
	run rdiff-backup --current-time 1700000000 backup --exclude "$T/src/a" --exclude '**/cache' "$T/src" rabs
	[ "$status" -eq 0 ]
	run cb --current-time 1700000000 backup --exclude "$T/src/a" --exclude '**/cache' "$T/src" cabs
	[ "$status" -eq 0 ]
	diff <(rdiff-backup list files rabs) <(cb list files cabs)
	[ "$(cb list files cabs | grep -c '^a')" -eq 0 ]
}

@test "selection mistakes are refused before anything is written" {
	for opts in "--include src/a" "--exclude nothere/x" "--exclude ../src/a" \
	    "--max-file-size -3" "--min-file-size 0" \
	    "--include-filelist missing.list" "--exclude-regexp (" \
	    "--include src/a --include src/f"; do
		# shellcheck disable=SC2086
		run cb backup $opts src bad
		echo "$opts: $output"
		[ "$status" -eq 1 ]
		[ ! -e bad ]
		# shellcheck disable=SC2086
		run rdiff-backup backup $opts src rbad
		[ "$status" -ne 0 ]
	done
}

@test "excluded files are never read: an unreadable excluded file is no error" {
	chmod 000 src/a/b/c.py
	new_user && u=$NEW_USER
	chown -R "$u" "$T"
	chown root src/a/b/c.py
	chmod 0777 "$T"
	run run_as "$u" "$CAPBACK_BUILD/capback" backup --exclude src/a/b/c.py src cu
	echo "$output"
	[ "$status" -eq 0 ]
	run run_as "$u" "$CAPBACK_BUILD/capback" backup src cu2
	[ "$status" -eq 4 ]
}

@test "later backups follow the selection: newly excluded paths become increments" {
	cb --current-time 1700000000 backup src c
	cb --current-time 1700000100 backup --exclude src/f src c
	[ -z "$(cb list files c | grep -E '^f(/|$)')" ]
	cb list files --at 1700000000 c | grep -qx f/g/h.txt
	run cb restore --at 1700000000 c old
	[ "$status" -eq 0 ]
	[ "$(cat old/f/g/h.txt)" = h ]
	rdiff-backup verify --at 1700000000 c
}
