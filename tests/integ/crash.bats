#!/usr/bin/env bats
# Crash safety: backups that fail or are killed at any point are undone
# exactly, by capback and by rdiff-backup (split from history.bats so the
# two run side by side).

load ../lib/helpers
load ../lib/history

@test "a backup that fails midway (disk full) is undone by rdiff-backup regress" {
	mkdir "$T/small" "$T/s"
	mount -t tmpfs -o size=4m tmpfs "$T/small"
	MOUNTS="$T/small"
	for i in 1 2 3 4 5; do echo "file $i" >"$T/s/f$i"; done
	head -c 1000000 /dev/urandom >"$T/s/a-big"
	cb --current-time 1700000000 backup "$T/s" "$T/small/repo"
	cp -a "$T/s" "$T/state0"
	# Changes early in record order succeed, then a large new file fails.
	echo changed >"$T/s/f1"
	rm "$T/s/f2"
	head -c 6000000 /dev/urandom >"$T/s/f3"
	run cb --current-time 1700000100 backup "$T/s" "$T/small/repo"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"No space left on device"* ]]
	[[ "$output" == *"capback regress"* ]]
	[ "$(ls "$T/small/repo/rdiff-backup-data" | grep -c '^current_mirror')" -eq 2 ]
	# A restore refuses an unfinished session...
	run cb restore "$T/small/repo" "$T/out"
	[ "$status" -eq 1 ]
	[[ "$output" == *"unfinished"* ]]
	# ...and the increments written first let both tools undo it.
	cp -a "$T/small/repo" "$T/copy"
	run rdiff-backup regress "$T/copy"
	echo "$output"
	[ "$status" -eq 0 ] || [ "$status" -eq 2 ] # 2: "warnings" bit
	run cb regress "$T/small/repo"
	echo "$output"
	[ "$status" -eq 2 ] # rdiff-backup's warning bit: a session was undone
	for r in "$T/small/repo" "$T/copy"; do
		[ "$(ls "$r/rdiff-backup-data" | grep -c '^current_mirror')" -eq 1 ]
		rm -rf "$T/out"
		run cb restore "$r" "$T/out"
		[ "$status" -eq 0 ]
		assert_same_tree "$T/state0" "$T/out"
	done
	run rdiff-backup verify "$T/small/repo"
	[ "$status" -eq 0 ]
	# Both regressed repositories hold the same files and metadata.
	diff <(cd "$T/small/repo" && find . -path ./rdiff-backup-data -prune -o -print | sort) \
	    <(cd "$T/copy" && find . -path ./rdiff-backup-data -prune -o -print | sort)
	diff <(zcat "$T"/small/repo/rdiff-backup-data/mirror_metadata.*.snapshot.gz) \
	    <(zcat "$T"/copy/rdiff-backup-data/mirror_metadata.*.snapshot.gz)
}

# The repository's files and their sizes (mirror and data), without the
# tools' logs and capback's lock, and without directories (rdiff-backup's regress leaves
# emptied increment directories behind).
repo_files() {
	# gzip files by their content: rdiff-backup's regress may write a
	# metadata snapshot again, compressed differently
	python3 - "$1" <<'PY'
import gzip, hashlib, os, sys
root = sys.argv[1]
out = []
for d, dirs, files in os.walk(root):
    for n in files + [x for x in dirs if os.path.islink(os.path.join(d, x))]:
        p = os.path.join(d, n)
        rel = "." + p[len(root):]
        if n.endswith(".log"):
            continue
        # the repository lock names its last holder (a PID)
        if rel == "./rdiff-backup-data/capback.lock":
            continue
        if os.path.islink(p) or not os.path.isfile(p):
            out.append(rel)
        elif n.endswith(".gz"):
            with gzip.open(p, "rb") as f:
                out.append("%s gz:%s" % (rel, hashlib.md5(f.read()).hexdigest()))
        else:
            out.append("%s %d" % (rel, os.path.getsize(p)))
print("\n".join(sorted(out, key=lambda s: s.encode())))
PY
}

@test "SIGKILL at random points of a backup: regress (or the next backup) recovers exactly" {
	rm -rf "$T/src" && mkdir "$T/src"
	for d in 1 2 3 4 5 6 7 8; do
		mkdir "$T/src/d$d"
		for f in $(seq 1 150); do echo "$d $f" >"$T/src/d$d/f$f"; done
	done
	python3 -c "import random,sys; r=random.Random(5); sys.stdout.buffer.write(r.randbytes(4194304))" >"$T/src/d5/big"
	# Two sessions before the one killed: rdiff-backup takes a
	# repository whose increments/ is still empty for a new one and
	# would not regress it (a window its own second session has too).
	echo earlier >"$T/src/d1/earlier"
	cb --current-time 1699999900 backup "$T/src" "$T/base"
	rm "$T/src/d1/earlier"
	cb --current-time 1700000000 backup "$T/src" "$T/base"
	cp -a "$T/src" "$T/state0"
	# The change: edits, deletions, new files, a new directory.
	for d in 2 4 6; do
		for f in $(seq 1 150 | shuf --random-source=<(yes)); do echo changed >>"$T/src/d$d/f$f"; done
	done
	rm -rf "$T/src/d7" "$T/src/d3/f1"*
	mkdir "$T/src/d9" && echo new >"$T/src/d9/n"
	printf 'X' | dd of="$T/src/d5/big" bs=1 seek=2000000 conv=notrunc status=none
	touch -d '2024-01-01' "$T/src/d5/big"
	cp -a "$T/src" "$T/state1"
	seed=${CAPBACK_SEED:-$RANDOM}
	echo "seed $seed"
	RANDOM=$seed
	# Kill points spread over the whole session: time one whole run.
	cp -a "$T/base" "$T/timed"
	t0=$(date +%s%N)
	cb --current-time 1700000100 backup "$T/src" "$T/timed"
	dur=$((($(date +%s%N) - t0) / 1000000))
	rm -rf "$T/timed"
	echo "a whole session takes $dur ms"
	for i in $(seq 1 "${CAPBACK_TEST_KILLS:-5}"); do
		rm -rf "$T/repo" "$T/out"
		cp -a "$T/base" "$T/repo"
		setsid "$CAPBACK_BUILD/capback" --current-time 1700000100 backup \
		    "$T/src" "$T/repo" >/dev/null 2>&1 &
		pid=$!
		sleep "$(awk -v r=$RANDOM -v d="$dur" 'BEGIN { printf "%.3f", (r % (d + 50)) / 1000 }')"
		kill -KILL -- "-$pid" 2>/dev/null || true
		wait "$pid" || true
		markers=$(ls "$T/repo/rdiff-backup-data" | grep -c '^current_mirror')
		if [ "$markers" -eq 2 ]; then
			rm -rf "$T/rcopy" "$T/rout"
			cp -a "$T/repo" "$T/rcopy"
			run cb regress "$T/repo"
			echo "$output"
			[ "$status" -eq 2 ]
			want=state0
			regressed=$((${regressed:-0} + 1))
			# rdiff-backup's regress of the same copy: the same
			# repository as before the session, and it goes on.
			# (It takes a zombie for a running backup: wait until
			# the killed writer is reaped.)
			wpid=$(sed -n 's/^PID //p' "$T/rcopy"/rdiff-backup-data/current_mirror.2023-11-14T22:15:00Z.data)
			for _ in $(seq 1 200); do
				[ -e "/proc/$wpid" ] || break
				sleep 0.05
			done
			run rdiff-backup regress "$T/rcopy"
			echo "$output"
			[ "$status" -eq 0 ] || [ "$status" -eq 2 ]
			diff <(repo_files "$T/base") <(repo_files "$T/rcopy")
			diff <(repo_files "$T/base") <(repo_files "$T/repo")
			run cb restore "$T/rcopy" "$T/rout"
			[ "$status" -eq 0 ]
			assert_same_tree "$T/state0" "$T/rout"
			run rdiff-backup --current-time 1700000200 backup "$T/src" "$T/rcopy"
			[ "$status" -eq 0 ]
		elif ls "$T/repo/rdiff-backup-data" | grep -q 'current_mirror.2023-11-14T22:15:00Z'; then
			want=state1
		else
			want=state0
		fi
		run cb restore "$T/repo" "$T/out"
		echo "$output"
		[ "$status" -eq 0 ]
		assert_same_tree "$T/$want" "$T/out"
		# And the next backup completes on top of it.
		run cb --current-time 1700000200 backup "$T/src" "$T/repo"
		[ "$status" -eq 0 ]
		run rdiff-backup verify "$T/repo"
		[ "$status" -eq 0 ]
	done
	echo "regressed after ${regressed:-0} of ${CAPBACK_TEST_KILLS:-5} kills"
}

@test "stopped while the old snapshot became a diff: both tools regress it" {
	session 0
	cp -a "$T/repo" "$T/before"
	change_tree 1
	run cb --current-time 1700000100 backup "$T/src" "$T/repo"
	[ "$status" -eq 0 ]
	d="$T/repo/rdiff-backup-data"
	# Put back what was there before the last steps of the session: the
	# old snapshot and marker, next to a diff cut short.
	cp "$T/before/rdiff-backup-data"/mirror_metadata.2023-11-14T22:13:20Z.snapshot* "$d/"
	cp "$T/before/rdiff-backup-data"/current_mirror.* "$d/"
	f=$(ls "$d"/mirror_metadata.2023-11-14T22:13:20Z.diff*)
	head -c 200 "$f" >"$f.cut" && mv "$f.cut" "$f"
	cp -a "$T/repo" "$T/rcopy"
	run cb regress "$T/repo"
	echo "$output"
	[ "$status" -eq 2 ]
	run rdiff-backup regress "$T/rcopy"
	[ "$status" -eq 0 ] || [ "$status" -eq 2 ]
	for r in "$T/repo" "$T/rcopy"; do
		[ -z "$(ls "$r/rdiff-backup-data" | grep 'mirror_metadata.2023-11-14T22:13:20Z.diff')" ]
		run cb restore "$r" "$T/out"
		[ "$status" -eq 0 ]
		assert_same_tree "$T/state0" "$T/out"
		rm -rf "$T/out"
	done
}

# unlinkat_index DIR NAME CMD...: the position of the writer's unlinkat of
# NAME among the unlinkat calls CMD makes (run on DIR's copy, under strace)
unlinkat_index() {
	local dir=$1 name=$2
	shift 2
	rm -rf "$T/dry" && cp -a "$dir" "$T/dry"
	strace -f -qq -e trace=unlinkat -o "$T/ul" "${@/$dir/$T/dry}" >/dev/null 2>&1 || true
	grep 'unlinkat(' "$T/ul" | grep -n "\"$name\"" | cut -d: -f1
}

# rdiff_takes_over REPO: an unfinished session in REPO whose increments
# directory is not empty, which rdiff-backup regresses and then backs up
# into (on a copy)
rdiff_takes_over() {
	local d="$1/rdiff-backup-data"
	[ "$(ls "$d" | grep -c '^current_mirror')" -eq 2 ]
	[ -n "$(ls -A "$d/increments")" ]
	rm -rf "$T/copy" && cp -a "$1" "$T/copy"
	run rdiff-backup regress "$T/copy"
	echo "$output"
	[[ "$output" == *"Previous backup seems to have failed, regressing"* ]]
	rdiff-backup --current-time 1700000200 backup "$T/src" "$T/copy" >/dev/null
}

@test "the increments directory stays held while two markers stand: a session killed as it removes the old marker, a regress killed as it removes the failed one; rdiff-backup regresses and backs up after each (review)" {
	command -v strace >/dev/null || skip "strace not installed"
	command -v rdiff-backup >/dev/null || skip "rdiff-backup not installed"
	local B="$CAPBACK_BUILD/capback" r="$T/repo" d="$T/repo/rdiff-backup-data" i
	mkdir -p "$T/src"
	echo a >"$T/src/a"
	cb --current-time 1700000000 backup "$T/src" "$r"
	rm -rf "$T/state0" && cp -a "$T/src" "$T/state0"
	# a session that changes nothing, killed as it removes the old marker
	i=$(unlinkat_index "$r" current_mirror.2023-11-14T22:13:20Z.data \
	    "$B" --current-time 1700000100 backup "$T/src" "$r")
	[ -n "$i" ]
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
	    strace -f -qq -o /dev/null -e trace=unlinkat \
	    -e inject=unlinkat:signal=KILL:when="$i" \
	    "$B" --current-time 1700000100 backup "$T/src" "$r" || true
	rdiff_takes_over "$r"
	# capback's regress killed as it removes the failed marker
	i=$(unlinkat_index "$r" current_mirror.2023-11-14T22:15:00Z.data "$B" regress "$r")
	[ -n "$i" ]
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
	    strace -f -qq -o /dev/null -e trace=unlinkat \
	    -e inject=unlinkat:signal=KILL:when="$i" "$B" regress "$r" || true
	rdiff_takes_over "$r"
	# then capback finishes it; nothing of the holds is left, and a hold
	# a crash left with the newest session's time goes at the next tidy
	run cb regress "$r"
	[ "$status" -eq 2 ]
	[ -z "$(find "$r" -name 'rdiff-backup.tmp.*')" ]
	: >"$d/increments/rdiff-backup.tmp.i123.2023-11-14T22:13:20Z.missing"
	echo b >"$T/src/b"
	cb --current-time 1700000300 backup "$T/src" "$r"
	[ -z "$(find "$r" -name 'rdiff-backup.tmp.*')" ]
	run cb verify --all "$r"
	[ "$status" -eq 0 ]
	rm -rf "$T/out" && cb restore --at 1700000000 "$r" "$T/out"
	assert_same_tree "$T/state0" "$T/out"
}
