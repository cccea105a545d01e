#!/usr/bin/env bats
# --help and capback(1) say the same: for every action, each option its
# --help names is in its section of the man page and the other way round
# (global options apart: they are checked against GLOBAL OPTIONS).

load ../lib/helpers

setup() {
	command -v man >/dev/null || skip "man not installed"
	setup_scratch
	MANWIDTH=250 man -l "$CAPBACK_SRC/man/capback.1" 2>/dev/null >"$T/man.txt"
	[ -s "$T/man.txt" ]
	GLOBALS="--current-time --remote-schema --verbosity --force --wait --version --api-version --parsable-output --help"
}

teardown() {
	teardown_scratch
}

# opts: the --options in standard input, one a line, globals left out
opts() {
	{ grep -o -- '--[a-z][a-z0-9-]*' || true; } | sort -u |
	    { grep -vxF -f <(tr ' ' '\n' <<<"$GLOBALS") || true; }
}

@test "every action: the options of --help and of its man page section are the same" {
	sed -n '/^ACTIONS/,/^SELECTION/p' "$T/man.txt" >"$T/actions.txt"
	# the selection options: --help's Selection block, man's SELECTION
	cb backup --help | sed -n '/^Selection/,/^$/p' | opts >"$T/sel"
	[ "$(wc -l <"$T/sel")" -ge 20 ]
	bad=0
	for a in backup restore regress "list increments" "list files" diff versions verify compare \
	    "remove increments" drill run status check info calculate doctor setup replicate; do
		awk -v a="$a" '
		    /^       [a-z]/ { insec = (index($0, "       " a " ") == 1 || $0 == "       " a) }
		    insec { print }' "$T/actions.txt" >"$T/sec"
		opts <"$T/sec" >"$T/m"
		[ -s "$T/m" ] || grep -q "^       $a" "$T/actions.txt" || { echo "no man entry: $a"; bad=1; }
		# shellcheck disable=SC2086
		cb $a --help >"$T/help" 2>&1
		if grep -q '^Selection' "$T/help"; then
			# the block is the one of backup, and the man page's
			# section points to SELECTION
			sed -n '/^Selection/,/^$/p' "$T/help" | opts | diff - "$T/sel" ||
			    { echo "$a: another selection block"; bad=1; }
			grep -q SELECTION "$T/sec" || { echo "$a: man section does not name SELECTION"; bad=1; }
			sed '/^Selection/,/^$/d' "$T/help" >"$T/h0"
			mv "$T/h0" "$T/help"
		fi
		opts <"$T/help" >"$T/h"
		if ! diff -q "$T/h" "$T/m" >/dev/null; then
			echo "$a: only in --help: $(comm -23 "$T/h" "$T/m" | tr '\n' ' ')| only in the man page: $(comm -13 "$T/h" "$T/m" | tr '\n' ' ')"
			bad=1
		fi
	done
	[ "$bad" -eq 0 ]
}

@test "the selection options: --help's block and the man page's SELECTION name the same" {
	cb backup --help | sed -n '/^Selection/,/^$/p' | opts >"$T/h"
	# (--null-separator is each action's own, named there)
	sed -n '/^SELECTION/,/^RDIFF/p' "$T/man.txt" | opts | grep -vx -- --null-separator >"$T/m"
	diff "$T/h" "$T/m"
}

@test "every option --help names is accepted, and one it does not name is refused" {
	# the getopt table and --help come from one table: each option's
	# usage error must not be "unrecognized"
	for a in backup restore compare verify drill diff versions status run; do
		cb $a --help | grep -o -- '^  --[a-z][a-z0-9-]*' | sed 's/^  //' >"$T/o"
		[ -s "$T/o" ]
		while read -r o; do
			run cb $a "$o" </dev/null
			if [[ "$output" == *"unrecognized option"* ]]; then
				echo "$a $o: $output"
				return 1
			fi
		done <"$T/o"
		run cb $a --no-such-option
		[ "$status" -eq 1 ]
		[[ "$output" == *"unrecognized option"* ]]
		[[ "$output" == *"usage: capback [GLOBAL OPTIONS] $a"* ]]
	done
}

@test "the global options: capback --help and GLOBAL OPTIONS name the same" {
	cb --help | sed -n '/^Global options/,$p' | grep -o -- '--[a-z][a-z0-9-]*' | sort -u >"$T/h"
	sed -n '/^GLOBAL OPTIONS/,/^ACTIONS/p' "$T/man.txt" | grep -E '^       -' |
	    grep -o -- '--[a-z][a-z0-9-]*' | sort -u >"$T/m"
	diff "$T/h" "$T/m"
}

@test "each action's usage line names its locations as the man page does" {
	cb restore --help | head -2 | grep -q 'REPOSITORY\[/PATH\] TARGET'
	grep -q '^       restore .*REPOSITORY\[/PATH\] TARGET' "$T/man.txt"
	cb verify --help | head -1 | grep -q '^usage: capback \[GLOBAL OPTIONS\] verify '
	cb list files --help | head -1 | grep -q 'list files'
	! cb verify --help | grep -q 'list files' || false
}

@test "the man pages render without warnings, and no alternating-font macro swallows a sentence" {
	local f
	for f in "$CAPBACK_SRC"/man/*.[158]; do
		# (the warnings on stderr, the page itself thrown away)
		run sh -c 'LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$1" 2>&1 >/dev/null' _ "$f"
		echo "$f: $output"
		[ "$status" -eq 0 ]
		[ -z "$output" ]
	done
	# '.BR word (5)).  Next sentence' alternates fonts word by word and
	# drops the spaces: capback.conf(5)).Quietunlessonaterminal
	run grep -nE '^\.(BR|RB|BI|IB|IR|RI) .*[.!?)]  +[A-Za-z]' "$CAPBACK_SRC"/man/*.[158]
	echo "$output"
	[ "$status" -eq 1 ]
}

@test "a mistake on the command line: the error, the usage line and where the help is, not the whole help (walk-through)" {
	run "$CAPBACK_BUILD/capback" backup --nope a b
	echo "$output"
	[ "$status" -eq 1 ]
	[ "${lines[0]}" = "capback: unrecognized option '--nope'" ]
	[[ "${lines[1]}" == "usage: capback [GLOBAL OPTIONS] backup "* ]]
	[ "${lines[-1]}" = "(capback backup --help lists its options)" ]
	[ "${#lines[@]}" -le 4 ]
	run "$CAPBACK_BUILD/capback" --nope backup
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 3 ]
	[[ "$output" == *"capback --help lists the actions"* ]]
	# backup's --force (its man page section names it) is the global
	# one, which also regresses a live session: after the action it is
	# refused with why, never taken quietly (a review made it global)
	mkdir -p "$T/s" "$T/full"
	echo x >"$T/s/x"
	echo other >"$T/full/other"
	run "$CAPBACK_BUILD/capback" backup --force "$T/s" "$T/full"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"'capback --force backup ...' backs up into a non-empty directory and also undoes an unfinished session whose process still runs"* ]]
	[ ! -e "$T/full/x" ]
	run "$CAPBACK_BUILD/capback" --force backup "$T/s" "$T/full"
	[ "$status" -eq 0 ]
	[ "$(cat "$T/full/x")" = x ]
}

@test "doctor: a role it does not check is refused before a page of capabilities (walk-through)" {
	run "$CAPBACK_BUILD/capback" doctor --role vault
	echo "$output"
	[ "$status" -eq 1 ]
	[ "$output" = "capback: --role must be reader, writer or restorer, not 'vault'" ]
}
