#!/usr/bin/env bats
# The increments tree is named by the source (issue 20, item 2): a source
# directory "victim.<T>.missing" was mirrored as a directory of that name
# under rdiff-backup-data/increments, next to the real increments of
# "victim", and taken for one.  Two defences, each tested here:
# - capback never makes such a directory: what is below it gets an
#   AlternateIncrementName (long_filename_data), so rdiff-backup reads
#   capback's repositories right too (POISONER=capback);
# - in a repository that has one (made by rdiff-backup 2.2.2 or an older
#   capback: POISONER=rdiff backs up the session where it appears), only
#   regular files with a valid name and the time of a session are
#   increments: such entries change no restore, retention or regress.
# And regress proves what it rebuilds against the recorded SHA-1 before it
# replaces or removes anything.

load ../lib/helpers

setup() {
	need_root
	command -v rdiff-backup >/dev/null || skip "rdiff-backup not installed"
	setup_scratch
	mkdir -p "$T/src/docs"
	P=docs/victim.2099-01-01T00:00:00Z.missing
	POISONER=capback
}

teardown() {
	teardown_scratch
}

at() { echo $((1700000000 + 100 * $1)); }
ts() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }

# sess N [rdiff]: back up at session N's time (with rdiff-backup when
# asked), keep a copy of the source.
sess() {
	if [ "${2:-}" = rdiff ]; then
		run rdiff-backup --current-time "$(at "$1")" backup "$T/src" "$T/repo"
	else
		run cb --current-time "$(at "$1")" backup "$T/src" "$T/repo"
	fi
	echo "$output"
	[ "$status" -eq 0 ]
	rm -rf "$T/state$1"
	cp -a "$T/src" "$T/state$1"
}

# poison_sess N: session N, backed up by $POISONER.
poison_sess() {
	if [ "$POISONER" = rdiff ]; then sess "$1" rdiff; else sess "$1"; fi
}

# edit FILE N: another content and a time of its own.
edit() {
	echo "version $2 of $(basename "$1")" >>"$1"
	touch -d "@$((1600000000 + $2))" "$1"
}

# gone PATH: nothing there, not even a dangling symlink.
gone() {
	[ ! -e "$1" ] && [ ! -L "$1" ]
}

# The directories of the increments tree named like an increment.
named_dirs() {
	find "$T/repo/rdiff-backup-data/increments" -mindepth 1 -type d |
	    grep -E '\.[0-9]{4}-[0-9]{2}-[0-9]{2}T[^/]*\.(missing|snapshot|diff|dir|data)(\.gz)?$' || true
}

# exact N...: each session N restores exactly (the whole tree and each
# regular file of docs/ alone), and verify --all passes (its output is
# left in $output).  A repository capback made alone has no directory
# named like an increment, and rdiff-backup restores it exactly too.
exact() {
	local i f
	for i in "$@"; do
		rm -rf "$T/out"
		run cb restore --at "$(at "$i")" "$T/repo" "$T/out"
		echo "$output"
		[ "$status" -eq 0 ]
		assert_same_tree "$T/state$i" "$T/out"
		for f in "$T/state$i"/docs/*; do
			[ -f "$f" ] || continue
			rm -rf "$T/one"
			cb restore --at "$(at "$i")" "$T/repo/docs/${f##*/}" "$T/one"
			cmp "$f" "$T/one"
		done
		if [ "$POISONER" = capback ]; then
			rm -rf "$T/rout"
			run rdiff-backup restore --at "$(at "$i")" "$T/repo" "$T/rout"
			echo "$output"
			[ "$status" -eq 0 ]
			assert_same_tree "$T/state$i" "$T/rout"
		fi
	done
	if [ "$POISONER" = capback ]; then
		[ -z "$(named_dirs)" ]
		run rdiff-backup verify "$T/repo"
		echo "$output"
		[ "$status" -eq 0 ]
	fi
	run cb verify --all "$T/repo"
	echo "$output"
	[ "$status" -eq 0 ]
}

# cut_session N LIMIT: back up at session N's time from a source that
# drops the connection after LIMIT bytes of its stream; the session is
# left unfinished (two current_mirror markers).
cut_session() {
	run env PATH="$CAPBACK_BUILD:$PATH" "$CAPBACK_BUILD/capback" \
	    --current-time "$(at "$1")" \
	    --remote-schema "python3 $LIB/cutpeer.py $2 {h}" \
	    backup "x@h::$T/src" "$T/repo"
	echo "$output"
	[ "$status" -ne 0 ]
	[ "$(ls "$T/repo/rdiff-backup-data" | grep -c '^current_mirror')" -eq 2 ]
}

# poison_case POISONER: a directory named as a later increment of its
# sibling appears in session 1.
poison_case() {
	POISONER=$1
	v="$T/src/docs/victim"
	echo v0 >"$v"
	sess 0
	mkdir "$T/src/$P"
	echo c1 >"$T/src/$P/child"
	edit "$v" 1
	poison_sess 1
	edit "$v" 2
	sess 2
	edit "$v" 3
	edit "$T/src/$P/child" 3
	sess 3
	exact 0 1 2 3
	if [ "$POISONER" = rdiff ]; then
		# the source's directory is in the increments tree, by that name
		[ -d "$T/repo/rdiff-backup-data/increments/$P" ]
		[[ "$output" == *"foreign"*"$P"* ]]
	else
		gone "$T/repo/rdiff-backup-data/increments/$P"
		[[ "$output" != *"foreign"* ]]
	fi
	run cb list increments "$T/repo/docs/victim"
	echo "$output"
	[[ "$output" == *"Found 3 increments"* ]]
}

@test "poison: a directory named as a later increment of its sibling is never made in the increments tree (both tools restore every version)" {
	poison_case capback
}

@test "poison: in a repository that has one (rdiff-backup made it), it changes none of its sibling's versions" {
	poison_case rdiff
}

# retention_case POISONER: a directory named as an increment of 2020.
retention_case() {
	POISONER=$1
	z="$T/src/z.2020-02-02T02:02:02Z.missing"
	mkdir "$z"
	echo a0 >"$z/a"
	echo b0 >"$z/b"
	echo z0 >"$T/src/z"
	poison_sess 0
	edit "$z/a" 1
	sess 1
	edit "$z/b" 2
	edit "$T/src/z" 2
	sess 2
	edit "$z/a" 3
	sess 3
	run cb remove increments --older-than "$(($(at 0) + 50))" "$T/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	if [ "$POISONER" = rdiff ]; then
		[ -d "$T/repo/rdiff-backup-data/increments/${z##*/}" ]
		[ -n "$(ls "$T/repo/rdiff-backup-data/increments/${z##*/}")" ]
	fi
	exact 1 2 3
	run cb remove increments --force --older-than "$(at 2)" "$T/repo"
	[ "$status" -eq 0 ]
	exact 2 3
}

@test "retention: remove increments keeps the history below a directory named as an old increment" {
	retention_case capback
}

@test "retention: ... also where the increments tree has that directory (rdiff-backup made it)" {
	retention_case rdiff
}

# destroy POISONER MODE CHANGED RECOVER: after a poison, a session changes
# victim (MODE inplace: 8 MiB edited in one place, updated in place;
# whole: rewritten) and CHANGED files after it (1 100: one flush of the
# batch of increments happens after victim's change), then the source
# drops the connection in a large new file.  The regress that follows
# (RECOVER: "regress" or the next "backup") must keep every version.
destroy() {
	local mode=$2 changed=$3 recover=$4 v="$T/src/docs/victim" i
	POISONER=$1
	mkdir -p "$T/src/more"
	if [ "$mode" = inplace ]; then
		head -c 8M /dev/urandom >"$v"
	else
		head -c 300K /dev/urandom >"$v"
	fi
	for i in $(seq 1 "$changed"); do echo "$i" >"$T/src/more/f$i"; done
	sess 0
	mkdir "$T/src/$P"
	echo c1 >"$T/src/$P/child"
	for i in 1 2 3; do
		if [ "$mode" = inplace ]; then
			printf 'edit%d' "$i" | dd of="$v" bs=1 seek=$((1000000 * i)) conv=notrunc status=none
		else
			head -c 300K /dev/urandom >"$v"
		fi
		touch -d "@$((1600000000 + i))" "$v"
		[ "$i" -eq 3 ] && break
		if [ "$i" -eq 1 ]; then poison_sess 1; else sess "$i"; fi
	done
	for i in $(seq 1 "$changed"); do echo "changed" >>"$T/src/more/f$i"; done
	head -c 24M /dev/urandom >"$T/src/zzbig"
	cut_session 3 12000000
	# the session got as far as changing victim's mirror file
	refute cmp -s "$T/repo/docs/victim" "$T/state2/docs/victim"
	if [ "$recover" = regress ]; then
		run cb regress "$T/repo"
		echo "$output"
		[ "$status" -eq 2 ]
		cmp "$T/repo/docs/victim" "$T/state2/docs/victim"
		exact 0 1 2
	else
		# regressed first (rdiff-backup's warning bit), then backed up
		run cb --current-time "$(at 4)" backup "$T/src" "$T/repo"
		echo "$output"
		[ "$status" -eq 2 ]
		[[ "$output" == *"regressing"* ]]
		cp -a "$T/src" "$T/state4"
		exact 0 1 2 4
	fi
	[ -z "$(find "$T/repo" -name 'rdiff-backup.tmp.*')" ]
}

@test "destroy: an unfinished in-place update after a poison is regressed without losing history" {
	destroy rdiff inplace 0 regress
}

@test "destroy: an unfinished whole-file rewrite after a poison, flushed, is undone by the next backup" {
	destroy rdiff whole 1100 backup
}

@test "destroy: an unfinished in-place update followed by a flush of the batch is regressed exactly" {
	destroy rdiff inplace 1100 regress
}

@test "destroy: the same in a repository capback made alone (both tools restore every version)" {
	destroy capback inplace 1100 regress
}

@test "regress checks the recorded SHA-1 before it replaces a mirror file: a wrong rebuild stops it, nothing more changed" {
	v="$T/src/docs/victim"
	head -c 8M /dev/urandom >"$v"
	echo other >"$T/src/docs/other"
	sess 0
	printf 'edit' | dd of="$v" bs=1 seek=3000000 conv=notrunc status=none
	touch -d "@1600000001" "$v"
	head -c 24M /dev/urandom >"$T/src/zzbig"
	cut_session 1 12000000
	d="$T/repo/rdiff-backup-data/increments/docs"
	inc=$(ls "$d" | grep "^victim\.$(ts "$(at 0)")\.")
	# the increment that would rebuild victim now gives other content
	rm "$d/$inc"
	echo "not victim" | gzip >"$d/victim.$(ts "$(at 0)").snapshot.gz"
	cp -a "$T/repo" "$T/before"
	run cb regress "$T/repo"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"docs/victim"*"SHA-1"* ]]
	# nothing more changed: the mirror file, the increment, both markers
	cmp "$T/before/docs/victim" "$T/repo/docs/victim"
	[ -f "$d/victim.$(ts "$(at 0)").snapshot.gz" ]
	[ "$(ls "$T/repo/rdiff-backup-data" | grep -c '^current_mirror')" -eq 2 ]
	diff <(cd "$T/before" && find . | sort) <(cd "$T/repo" && find . | sort)
}

@test "regress checks a later hard link against its group's recorded SHA-1 (the record of the first link holds it)" {
	echo "linked content" >"$T/src/docs/h1"
	ln "$T/src/docs/h1" "$T/src/docs/h2"
	sess 0
	record "$T/repo" docs/h2 | grep -q NumHardLinks
	[ -z "$(record "$T/repo" docs/h2 | grep SHA1Digest)" ]
	head -c 24M /dev/urandom >"$T/src/zzbig"
	cut_session 1 12000000
	# h2 alone in the mirror now holds other content, so regress rebuilds
	# it (from the mirror: it has no increment)
	rm "$T/repo/docs/h2"
	echo "other content!" >"$T/repo/docs/h2"
	touch -d @1500000000 "$T/repo/docs/h2"
	cp -a "$T/repo" "$T/before"
	run cb regress "$T/repo"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"docs/h2"*"SHA-1"* ]]
	cmp "$T/before/docs/h2" "$T/repo/docs/h2"
	[ "$(ls "$T/repo/rdiff-backup-data" | grep -c '^current_mirror')" -eq 2 ]
}

# variants POISONER: files and directories named with every increment
# suffix and times before, between, equal to and after sessions appear in
# session 1 next to vf and vd.
variants() {
	local t s f i n=0
	POISONER=$1
	echo vf0 >"$T/src/docs/vf"
	echo vd0 >"$T/src/docs/vd"
	sess 0
	for t in 2000-01-01T00:00:00Z "$(ts 1700000050)" "$(ts "$(at 1)")" \
	    "$(ts "$(at 2)")" 2099-01-01T00:00:00Z; do
		for s in missing snapshot snapshot.gz diff diff.gz dir; do
			# Where rdiff-backup makes the directory, it takes the
			# name of one of vd's own later increments: that session
			# fails ("Is a directory"), a denial of the session, not
			# of its history (left for later).
			if [ "$POISONER" = rdiff ]; then
				case "$t.$s" in "$(ts "$(at 1)").diff.gz" | "$(ts "$(at 2)").diff.gz") continue ;; esac
			fi
			echo "file $t $s" >"$T/src/docs/vf.$t.$s"
			mkdir "$T/src/docs/vd.$t.$s"
			echo "child $t $s" >"$T/src/docs/vd.$t.$s/c"
			n=$((n + 1))
		done
	done
	edit "$T/src/docs/vf" 1
	edit "$T/src/docs/vd" 1
	poison_sess 1
	for i in 2 3; do
		for f in "$T/src/docs/"v?.*; do
			[ -f "$f" ] && edit "$f" "$i"
			[ -d "$f" ] && edit "$f/c" "$i"
		done
		edit "$T/src/docs/vf" "$i"
		edit "$T/src/docs/vd" "$i"
		sess "$i"
	done
	exact 0 1 2 3
	# every directory named as an increment is named as foreign
	if [ "$POISONER" = rdiff ]; then
		[ "$(printf '%s\n' "$output" | grep -c 'foreign.*docs/vd\.')" -eq "$n" ]
	fi
	# an unfinished session changing both is regressed exactly
	edit "$T/src/docs/vf" 4
	edit "$T/src/docs/vd" 4
	head -c 24M /dev/urandom >"$T/src/zzbig"
	cut_session 4 12000000
	run cb regress "$T/repo"
	echo "$output"
	[ "$status" -eq 2 ]
	exact 0 1 2 3
	# retention keeps what the kept sessions need
	run cb remove increments --force --older-than "$(at 2)" "$T/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	if [ "$POISONER" = rdiff ]; then
		for t in 2000-01-01T00:00:00Z 2099-01-01T00:00:00Z; do
			[ -d "$T/repo/rdiff-backup-data/increments/docs/vd.$t.missing" ]
		done
	fi
	exact 2 3
}

@test "variants: files and directories named with every increment suffix and time change no restore, retention or regress" {
	variants capback
}

@test "variants: ... also where rdiff-backup made those directories in the increments tree" {
	variants rdiff
}

@test "special files kept as themselves (symlink, fifo, socket snapshots) are increments: regress and removal take them" {
	d="$T/repo/rdiff-backup-data/increments/docs"
	s="$T/src/docs"
	ln -s a "$s/ln"
	mkfifo "$s/fifo"
	python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$s/sock"
	sess 0
	ln -sfn b "$s/ln"
	rm "$s/fifo" "$s/sock"
	echo was-fifo >"$s/fifo"
	mkfifo "$s/sock"
	sess 1
	t0=$(ts "$(at 0)")
	t1=$(ts "$(at 1)")
	[ -L "$d/ln.$t0.snapshot" ]
	[ -p "$d/fifo.$t0.snapshot" ]
	[ -S "$d/sock.$t0.snapshot" ]
	exact 0 1
	# an unfinished session keeps them as of session 1; regress takes them
	ln -sfn c "$s/ln"
	rm "$s/sock"
	head -c 24M /dev/urandom >"$T/src/zzbig"
	cut_session 2 12000000
	[ -L "$d/ln.$t1.snapshot" ]
	[ -p "$d/sock.$t1.snapshot" ]
	run cb regress "$T/repo"
	echo "$output"
	[ "$status" -eq 2 ]
	gone "$d/ln.$t1.snapshot"
	gone "$d/sock.$t1.snapshot"
	rm "$T/src/zzbig"
	exact 0 1
	run cb verify --all "$T/repo"
	[[ "$output" != *"foreign"* ]]
	run cb remove increments --older-than "$(($(at 0) + 50))" "$T/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	gone "$d/ln.$t0.snapshot"
	gone "$d/fifo.$t0.snapshot"
	gone "$d/sock.$t0.snapshot"
	exact 1
}
