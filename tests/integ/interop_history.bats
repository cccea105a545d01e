#!/usr/bin/env bats
# Histories that mix the tools and the time zones, and rdiff-backup's own
# interrupted sessions (docs/rdiff-backup-format.md 13 #10, #11, #13).

load ../lib/helpers

BASE=1700000000

setup() {
	need_root
	command -v rdiff-backup >/dev/null || skip "rdiff-backup not installed"
	setup_scratch
	mkdir -p "$T/src/d"
	for i in $(seq 1 40); do echo "file $i" >"$T/src/d/f$i"; done
	seq 1 100000 >"$T/src/big"
}

teardown() {
	teardown_scratch
}

change() {
	echo "change $1" >>"$T/src/d/f$(($1 % 40 + 1))"
	echo "new $1" >"$T/src/n$1"
	[ "$1" -lt 2 ] || rm -f "$T/src/n$(($1 - 2))"
	echo "$1" >>"$T/src/big"
	touch -d @$((BASE + 100 * $1 - 7)) "$T/src/big" "$T/src/d/f$(($1 % 40 + 1))"
}

# backup_as TOOL TZ N: session N written by TOOL under time zone TZ.
backup_as() {
	local t=$((BASE + 100 * $3))
	if [ "$1" = cb ]; then
		run env TZ="$2" "$CAPBACK_BUILD/capback" --current-time "$t" backup "$T/src" "$T/repo"
	else
		run env TZ="$2" rdiff-backup --current-time "$t" backup "$T/src" "$T/repo"
	fi
	echo "$output"
	[ "$status" -eq 0 ]
	rm -rf "$T/state$3"
	cp -a "$T/src" "$T/state$3"
}

@test "mixed time zones and tools: both agree on sessions and --at" {
	zones=(UTC Europe/Berlin America/St_Johns UTC America/St_Johns Europe/Berlin)
	for n in 0 1 2 3 4 5; do
		[ "$n" -eq 0 ] || change "$n"
		if [ $((n % 2)) -eq 0 ]; then tool=rdiff; else tool=cb; fi
		backup_as "$tool" "${zones[$n]}" "$n"
	done
	ls "$T/repo/rdiff-backup-data"
	for tz in UTC Europe/Berlin America/St_Johns; do
		diff <(TZ=$tz rdiff-backup list increments "$T/repo") \
		    <(TZ=$tz cb list increments "$T/repo")
	done
	for n in 0 1 2 3 4 5; do
		for tz in UTC America/St_Johns; do
			rm -rf "$T/cb" "$T/rb"
			run env TZ=$tz "$CAPBACK_BUILD/capback" restore --at $((BASE + 100 * n)) "$T/repo" "$T/cb"
			[ "$status" -eq 0 ]
			assert_same_tree "$T/state$n" "$T/cb"
			run env TZ=$tz rdiff-backup restore --at $((BASE + 100 * n)) "$T/repo" "$T/rb"
			[ "$status" -eq 0 ]
			assert_same_tree "$T/state$n" "$T/rb"
		done
	done
	# session counts and dates mean the same to both
	for spec in 0B 2B 5B 2023-11-14T22:20:00Z 2023-11-14T23:20:00+01:00; do
		rm -rf "$T/cb" "$T/rb"
		run cb restore --at "$spec" "$T/repo" "$T/cb"
		[ "$status" -eq 0 ]
		run rdiff-backup restore --at "$spec" "$T/repo" "$T/rb"
		[ "$status" -eq 0 ]
		assert_same_tree "$T/rb" "$T/cb"
	done
}

@test "sessions lists: no-change sessions, pruned history, a chain past nine" {
	for n in $(seq 0 11); do
		if [ $((n % 3)) -ne 2 ]; then change "$n"; fi # every third: no change
		backup_as cb UTC "$n"
	done
	run rdiff-backup --force remove increments --older-than $((BASE + 300)) "$T/repo"
	[ "$status" -eq 0 ]
	diff <(TZ=UTC rdiff-backup list increments "$T/repo") <(TZ=UTC cb list increments "$T/repo")
	# sessions 1, 4, 7, 10 were followed by no-change sessions: no marker
	[ "$(cb list increments "$T/repo" | grep -c 'increments\.')" -eq 5 ]
	# nB counts the same sessions on both sides
	for b in 0 1 3 8 9 20; do
		rm -rf "$T/cb" "$T/rb"
		run cb restore --at "${b}B" "$T/repo" "$T/cb"
		[ "$status" -eq 0 ]
		run rdiff-backup restore --at "${b}B" "$T/repo" "$T/rb"
		[ "$status" -eq 0 ]
		assert_same_tree "$T/rb" "$T/cb"
	done
	# everything but the mirror removed: the empty increments tree goes
	run cb --force remove increments --older-than now "$T/repo"
	[ "$status" -eq 0 ]
	diff <(TZ=UTC rdiff-backup list increments "$T/repo") <(TZ=UTC cb list increments "$T/repo")
	[ ! -e "$T/repo/rdiff-backup-data/increments" ]
}

@test "an rdiff-backup session killed midway: capback regresses it as rdiff-backup does" {
	backup_as rdiff UTC 0
	cp -a "$T/repo" "$T/base"
	for i in $(seq 1 60); do echo "more $i" >"$T/src/d/f$i"; done
	change 1
	# kill points inside the session: time a whole one first
	cp -a "$T/base" "$T/timed"
	t0=$(date +%s%N)
	rdiff-backup --current-time $((BASE + 100)) backup "$T/src" "$T/timed" >/dev/null 2>&1
	dur=$((($(date +%s%N) - t0) / 1000000))
	rm -rf "$T/timed"
	regressed=0
	want=${CAPBACK_TEST_KILLS:-8}
	# the kill lands within the first $frac% of the timed session after
	# the marker; a session that got to its end halves it (Python's
	# start-up can take most of the timed run)
	frac=40
	for i in $(seq 1 $((want * 4))); do
		[ "$regressed" -lt "$want" ] || break
		rm -rf "$T/repo" "$T/copy" "$T/out" "$T/rout"
		cp -a "$T/base" "$T/repo"
		setsid rdiff-backup --current-time $((BASE + 100)) backup "$T/src" "$T/repo" >/dev/null 2>&1 &
		pid=$!
		# once the session has begun (its marker is there), a random
		# point within the rest of it (not a fixed delay: under load
		# the start-up alone can take longer than the timed session)
		for _ in $(seq 1 3000); do
			[ "$(ls "$T/repo/rdiff-backup-data" | grep -c '^current_mirror')" -lt 2 ] || break
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.01
		done
		sleep "$(awk -v r=$RANDOM -v d="$dur" -v f="$frac" 'BEGIN { printf "%.3f", d * ((r % f) / 100) / 1000 }')"
		kill -KILL -- "-$pid" 2>/dev/null || true
		wait "$pid" || true
		if [ "$(ls "$T/repo/rdiff-backup-data" | grep -c '^current_mirror')" -ne 2 ]; then
			[ "$frac" -le 1 ] || frac=$((frac / 2))
			continue
		fi
		regressed=$((regressed + 1))
		cp -a "$T/repo" "$T/copy"
		for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
		run cb --force regress "$T/repo"
		echo "$output"
		[ "$status" -eq 2 ]
		run rdiff-backup --force regress "$T/copy"
		[ "$status" -eq 0 ] || [ "$status" -eq 2 ]
		run cb restore "$T/repo" "$T/out"
		[ "$status" -eq 0 ]
		assert_same_tree "$T/state0" "$T/out"
		run cb restore "$T/copy" "$T/rout"
		[ "$status" -eq 0 ]
		assert_same_tree "$T/state0" "$T/rout"
		run rdiff-backup verify "$T/repo"
		[ "$status" -eq 0 ]
		# and both tools go on from there
		run cb --current-time $((BASE + 200)) backup "$T/src" "$T/repo"
		[ "$status" -eq 0 ]
		run rdiff-backup --current-time $((BASE + 200)) backup "$T/src" "$T/copy"
		[ "$status" -eq 0 ]
	done
	echo "# regressed $regressed (wanted $want) in $i kills" >&3
	[ "$regressed" -ge "$want" ]
}
