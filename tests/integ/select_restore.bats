#!/usr/bin/env bats
# Selection on restore and compare.  restore: rdiff-backup's options, the
# globs matching TARGET/path as written, applied by the writer to the
# session's records; rdiff-backup's restore of the same repository with the
# same options is the oracle.  compare: the selection leaves a path out on
# both sides.

load ../lib/helpers

setup() {
	command -v rdiff-backup >/dev/null || skip "rdiff-backup not installed"
	setup_scratch
	cd "$T"
	mkdir -p src/a/b/deep src/f/g src/empty
	echo c >src/a/b/c.py
	echo d >src/a/b/d.txt
	echo deep >src/a/b/deep/z.py
	echo e >src/a/e.py
	echo h >src/f/g/h.txt
	head -c 5000 /dev/urandom >src/big
	printf 'tiny' >src/tiny
	echo linked >src/hl1
	ln src/hl1 src/hl2
	ln -s a src/link_to_a
	mkfifo src/fifo
	cb --current-time 1700000000 backup src repo
	echo e2 >src/a/e.py
	rm src/tiny
	cb --current-time 1700000100 backup src repo
}

teardown() {
	cd /
	teardown_scratch
}

# tree DIR: its paths and, for files, their content digest, sorted
tree() {
	(cd "$1" && find . -mindepth 1 -printf '%P %y\n' | LC_ALL=C sort &&
		find . -type f -exec sha1sum {} + | LC_ALL=C sort -k2)
}

# same_restore OPTIONS...: both tools restore repo to out (in rb/ and cb/)
# with OPTIONS; the trees must be identical and differ from a whole restore
n=0
same_restore() {
	n=$((n + 1))
	mkdir "rb$n" "cb$n"
	(cd "rb$n" && rdiff-backup restore "$@" ../repo out) >/dev/null
	(cd "cb$n" && "$CAPBACK_BUILD/capback" restore "$@" ../repo out)
	tree "rb$n/out" >"rb$n.tree"
	tree "cb$n/out" >"cb$n.tree"
	diff -u "rb$n.tree" "cb$n.tree"
	[ -d all ] || cb restore repo all
	! diff -q <(tree all) "cb$n.tree" >/dev/null || false
}

@test "restore: what rdiff-backup's restore selects with the same globs, regexps, types and sizes" {
	same_restore --exclude out/a
	same_restore --include out/a/b --exclude '**'
	same_restore --exclude '**/*.py'
	same_restore --exclude 'out/a/b/*'
	same_restore --exclude-regexp '\.txt$'
	same_restore --exclude-fifos --exclude-symbolic-links
	same_restore --exclude-special-files
	same_restore --max-file-size 100
	same_restore --min-file-size 10
	same_restore --exclude 'ignorecase:OUT/A/B/DEEP'
}

@test "restore: filelists from a file, from standard input, NUL-separated" {
	printf '%s\n' out/a/b/c.py '- out/f' out/big >list
	same_restore --include-filelist ../list --exclude '**'
	printf '%s\0' out/f/g/h.txt out/a/e.py | (mkdir in && cd in &&
		"$CAPBACK_BUILD/capback" restore --null-separator --include-filelist-stdin \
		    --exclude '**' ../repo out)
	tree in/out | grep -v sha1 >got
	[ "$(cut -d' ' -f1 got | grep -v '^[0-9a-f]\{40\}$' | tr '\n' ' ')" = "a a/e.py f f/g f/g/h.txt " ]
	[ "$(cat in/out/a/e.py)" = e2 ]
}

@test "--null-separator also where rdiff-backup takes it, before the action: the same restore as rdiff-backup's" {
	printf '%s\0' out/f/g/h.txt out/a/e.py >list0
	mkdir rb cb
	(cd rb && rdiff-backup --null-separator restore --include-filelist ../list0 \
	    --exclude '**' ../repo out) >/dev/null
	(cd cb && "$CAPBACK_BUILD/capback" --null-separator restore \
	    --include-filelist ../list0 --exclude '**' ../repo out)
	diff -u <(tree rb/out) <(tree cb/out)
	[ "$(cat cb/out/a/e.py)" = e2 ]
	[ ! -e cb/out/a/b ]
	capback_help=$("$CAPBACK_BUILD/capback" --help)
	[[ "$capback_help" == *"--null-separator"* ]]
}

@test "restore: a directory an include glob could match below is kept only if something inside is" {
	# rdiff-backup 2.2.2 fails on these ("Unexpected select value 2");
	# capback backs up the same paths with the same rules at the source
	cb restore --include '**/h.txt' --exclude '**' repo out1
	[ "$(cd out1 && find . -mindepth 1 | LC_ALL=C sort | tr '\n' ' ')" = "./f ./f/g ./f/g/h.txt " ]
	cb --current-time 1700000200 backup --include 'src/**/h.txt' --exclude '**' src repo2
	[ "$(cb list files repo2 | tr '\n' ' ')" = ". f f/g f/g/h.txt " ]
	cb restore --include '**/*.py' --exclude '**' repo out2
	[ "$(cd out2 && find . -mindepth 1 | LC_ALL=C sort | tr '\n' ' ')" = "./a ./a/b ./a/b/c.py ./a/b/deep ./a/b/deep/z.py ./a/e.py " ]
	[ ! -e out2/empty ] && [ ! -e out2/f ]
}

@test "restore: a hard link whose first name is left out still gets the content" {
	cb restore --exclude out/hl1 repo out
	[ ! -e out/hl1 ]
	[ "$(cat out/hl2)" = linked ]
	cb restore --exclude out2/hl2 repo out2
	[ "$(cat out2/hl1)" = linked ]
	[ ! -e out2/hl2 ]
}

@test "restore: a sub-tree and an older session, the globs against TARGET/path below it" {
	cb restore --exclude out/b repo/a out
	[ "$(cd out && find . -mindepth 1 | tr '\n' ' ')" = "./e.py " ]
	[ "$(cat out/e.py)" = e2 ]
	cb restore --at 1700000000 --include old/tiny --exclude '**' repo old
	[ "$(cd old && find . -mindepth 1 | tr '\n' ' ')" = "./tiny " ]
	[ "$(cat old/tiny)" = tiny ]
}

@test "restore: options that need the source's file system, and rules that cannot match TARGET, are refused before anything is written" {
	for o in "--exclude-if-present x" "--include-if-present x" --exclude-other-filesystems; do
		# shellcheck disable=SC2086
		run cb restore $o repo out
		[ "$status" -eq 1 ]
		[[ "$output" == *"needs the source's file system"* ]]
		[ ! -e out ]
	done
	run cb restore --include /elsewhere/x --exclude '**' repo out
	[ "$status" -eq 1 ]
	[[ "$output" == *"/elsewhere/x"* ]]
	[ ! -e out ]
	run cb restore --include-filelist /nonexistent repo out
	[ "$status" -eq 1 ]
	[[ "$output" == *"/nonexistent"* ]]
	[ ! -e out ]
	# the writer takes filelists on its command line: bounded, and said
	seq -f 'out/file%06g' 1 6000 >biglist
	run cb restore --include-filelist biglist repo out
	[ "$status" -eq 1 ]
	[[ "$output" == *"may hold 48 KiB in all"* ]]
	[ ! -e out ]
}

@test "restore: the writer refuses a selection for anything but restore and compare" {
	run "$CAPBACK_BUILD/capback-writer" --select-base x --select exclude=x/a -- list-files "$T/repo"
	[ "$status" -eq 1 ]
	[[ "$output" == *"--select goes with --select-base"* ]]
	# a filelist must come inline: the writer opens no file it is named
	run "$CAPBACK_BUILD/capback-writer" --select-base x --select exclude-filelist=/etc/passwd -- restore-source "$T/repo" </dev/null
	[ "$status" -eq 1 ]
	[[ "$output" == *"filelist must come inline"* ]]
}

@test "compare: a path left out is neither new nor deleted (rdiff-backup calls the backup's deleted)" {
	echo new >src/f/g/new
	echo changed >src/a/b/d.txt
	run cb compare src repo
	[ "$status" -eq 1 ]
	[[ "$output" == *"new: f/g/new"* ]]
	run cb compare --exclude src/f --exclude src/a/b/d.txt src repo
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" != *"deleted"* ]]
	# rdiff-backup applies it to SOURCE only
	run rdiff-backup compare --exclude src/f --exclude src/a/b/d.txt src repo
	[[ "$output" == *"deleted: f"* ]]
	# scanned directories on both sides
	run cb compare --include '**/*.py' --exclude '**' src repo
	echo "$output"
	[ "$status" -eq 0 ]
	echo c2 >src/a/b/c.py
	run cb compare --include '**/*.py' --exclude '**' src repo
	[ "$status" -eq 1 ]
	[[ "$output" == *"changed: a/b/c.py"* ]]
	[[ "$output" != *"f/g"* ]]
}

@test "restore --force with a selection into a live tree: what the selection leaves out stays (review: it was removed)" {
	cp -a src live
	echo precious >live/f/precious
	echo damaged >live/a/b/c.py
	echo mine >live/keep
	# (into what holds something: a warning, exit 2, as rdiff-backup)
	run cb restore --force --include live/a/b/c.py --exclude '**' repo live
	[ "$status" -eq 2 ]
	[[ "$output" == *"--force wrote what was selected over what it held"* ]]
	[ "$(cat live/a/b/c.py)" = c ]
	[ "$(cat live/f/precious)" = precious ]
	[ "$(cat live/keep)" = mine ]
	[ "$(cat live/f/g/h.txt)" = h ]
	# the excluded directory is not touched
	echo newer >live/f/g/h.txt
	run cb restore --force --exclude live/f repo live
	[ "$status" -eq 2 ]
	[ "$(cat live/f/g/h.txt)" = newer ]
	[ "$(cat live/a/e.py)" = e2 ]
	# without a selection --force still makes TARGET the session, and
	# says what that removed
	run cb restore --force repo live
	[ "$status" -eq 2 ]
	[[ "$output" == *"removed 2 names in live that the backup does not hold"* ]]
	[ ! -e live/keep ] && [ ! -e live/f/precious ]
	[ "$(cat live/f/g/h.txt)" = h ]
}

@test "a hard link whose group's first record is left out keeps the group's digest: damage is caught (review)" {
	mkdir -p hl/a hl/z
	echo data >hl/a/first
	ln hl/a/first hl/z/second
	cb --current-time 1700000000 backup hl hrepo
	printf 'EVIL\n' >hrepo/z/second  # the same size
	# the whole restore names the damage; so must one without a/
	run cb restore hrepo r1
	[ "$status" -eq 4 ]
	run cb restore --exclude r2/a hrepo r2
	echo "$output"
	[ "$status" -eq 4 ]
	[[ "$output" == *"SHA-1"* ]]
	# a sub-tree restore of z alone too (the first record lies before it)
	run cb restore hrepo/z r3
	[ "$status" -eq 4 ]
	# compare --method hash: the source changed in place (both names),
	# found with a/ left out (without the digest it said "no changes")
	printf 'DATA\n' >hl/z/second
	run cb compare --method hash --exclude hl/a hl hrepo
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"z/second"* ]]
}

@test "compare reads each filelist once: a list from a pipe reaches both sides (review)" {
	echo c2 >src/a/b/c.py
	run cb compare --include-filelist <(echo src/a/b/c.py) --exclude '**' src repo
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"changed: a/b/c.py"* ]]
	[[ "$output" != *"deleted"* ]]
	for o in "--exclude-if-present x" "--include-if-present x" --exclude-other-filesystems; do
		# shellcheck disable=SC2086
		run cb compare $o src repo
		[ "$status" -eq 1 ]
		[[ "$output" == *"needs the source's file system"* ]]
	done
}

@test "a hostile repository: scanned directories whose records hold too much are refused, not held (review)" {
	# 1200 nested directories, then the session's extended attributes
	# rewritten with 60 KB for each: 72 MB a selection would hold
	mkdir -p "deep/$(printf 'd/%.0s' $(seq 1200))"
	cb --current-time 1700000000 backup deep drepo
	python3 - drepo/rdiff-backup-data <<'PYEOF'
import base64, glob, gzip, os, sys
for f in glob.glob(sys.argv[1] + "/extended_attributes.*"):
    os.unlink(f)
v = base64.b64encode(b"x" * 60000).decode()
with gzip.open(sys.argv[1] + "/extended_attributes.2023-11-14T22:13:20Z.snapshot.gz", "wt") as out:
    for i in range(1, 1201):
        out.write("# file: " + "/".join(["d"] * i) + "\nuser.big=0s" + v + "\n")
PYEOF
	run cb restore --include '**/nomatch' --exclude '**' drepo dout
	echo "${output:0:400}"
	[ "$status" -eq 1 ]
	[[ "$output" == *"more than 64 MiB"* ]]
	[ ! -e dout/d ]
	# selected by path nothing is held, and the restorer's own bound on
	# the attributes of the directories it has open ends it instead
	run cb restore --include dout2/d/d --exclude '**' drepo dout2
	[ "$status" -eq 1 ]
	[[ "$output" == *"hold more than 16777216 bytes of extended attributes"* ]]
}

@test "restore: a selection that matches nothing below the top warns (exit 2) instead of restoring an empty directory in silence; an empty directory selected whole does not" {
	run cb restore --include 'out/no-such-*' --exclude '**' repo out
	echo "$output"
	[ "$status" -eq 2 ]
	[[ "$output" == *"the selection matched nothing beneath the top"*"16 entries left out"* ]]
	[ -d out ] && [ -z "$(ls -A out)" ]
	# a sub-tree the same
	run cb restore --exclude 'out2/*.txt' --exclude 'out2/deep' repo/a/b out2
	[ "$status" -eq 0 ]
	[ -f out2/c.py ]
	run cb restore --exclude '**.py' --exclude 'out3/deep' --exclude 'out3/d.txt' repo/a/b out3
	echo "$output"
	[ "$status" -eq 2 ]
	[[ "$output" == *"matched nothing beneath 'a/b'"*"4 entries left out"* ]]
	# an empty directory is no mistake of the selection
	run cb restore --exclude '**.py' repo/empty out4
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" != *"matched nothing"* ]]
	# and rdiff-backup's restore with the first selection: nothing either
	rdiff-backup --api-version 201 restore --include 'rb/no-such-*' \
	    --exclude '**' repo rb >/dev/null 2>&1
	[ ! -e rb ] || [ -z "$(ls -A rb)" ]
}
