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
	sed -n '/^ACTIONS/,/^RDIFF/p' "$T/man.txt" >"$T/actions.txt"
	bad=0
	for a in backup restore regress "list increments" "list files" diff versions verify compare \
	    "remove increments" drill run status check info calculate doctor setup; do
		awk -v a="$a" '
		    /^       [a-z]/ { insec = (index($0, "       " a " ") == 1 || $0 == "       " a) }
		    insec { print }' "$T/actions.txt" | opts >"$T/m"
		[ -s "$T/m" ] || grep -q "^       $a" "$T/actions.txt" || { echo "no man entry: $a"; bad=1; }
		# shellcheck disable=SC2086
		cb $a --help 2>&1 | opts >"$T/h"
		if ! diff -q "$T/h" "$T/m" >/dev/null; then
			echo "$a: only in --help: $(comm -23 "$T/h" "$T/m" | tr '\n' ' ')| only in the man page: $(comm -13 "$T/h" "$T/m" | tr '\n' ' ')"
			bad=1
		fi
	done
	[ "$bad" -eq 0 ]
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
	! cb verify --help | grep -q 'list files'
}
