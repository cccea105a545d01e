#!/usr/bin/env bats
# Names from a source or a repository are data (issue 20, item 7): an ACL
# qualifier with '#' (a comment in the ACL file) cannot kill the writer,
# and every place that prints a name for a person escapes control
# characters, so a name cannot write to the admin's terminal or forge a
# line of a report.

load ../lib/helpers

setup() {
	need_root
	setup_scratch
}

teardown() {
	teardown_scratch
}

@test "an ACL naming a user whose name has '#' is backed up by number and restored" {
	local u="cbt#$$_$RANDOM"
	useradd -M -N -g nogroup -s /usr/sbin/nologin --badname "$u" >/dev/null ||
	    skip "useradd cannot make '$u'"
	CREATED_USERS="$CREATED_USERS $u"
	local uid
	uid=$(id -u "$u")
	mkdir -p "$T/src"
	echo x >"$T/src/f"
	setfacl -m "u:$u:r" "$T/src/f"
	run cb backup "$T/src" "$T/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	zcat -f "$T"/repo/rdiff-backup-data/access_control_lists.* >"$T/acls"
	grep -qx "user:$uid:r--" "$T/acls"
	refute grep -q "#.*:r--" "$T/acls"
	run cb restore "$T/repo" "$T/out"
	[ "$status" -eq 0 ]
	getfacl -n "$T/out/f" | grep -qx "user:$uid:r--"
}

# names_tree DIR: names that would write to a terminal or forge a line
names_tree() {
	mkdir -p "$1"
	echo 1 >"$1/$(printf 'a\nb')"
	echo 2 >"$1/$(printf 'e\033[31mred')"
	echo 3 >"$1/$(printf 'back\\x0a')"
	echo 4 >"$1/$(printf 'caf\303\251')"
	echo 5 >"$1/$(printf 'c1\302\233x')"
}

# no_raw_controls: $output holds no byte below 0x20 but newline, no DEL,
# no C1 control in UTF-8
no_raw_controls() {
	refute grep -qP '[\x00-\x09\x0b-\x1f\x7f]' <<<"$output"
	refute grep -qP '\xc2[\x80-\x9f]' <<<"$output"
}

@test "list files, --changed-since, list increments and compare escape control characters in names" {
	names_tree "$T/src"
	cb --current-time 1700000000 backup "$T/src" "$T/repo"
	run cb list files "$T/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	no_raw_controls
	# one line per name: the newline did not make a line "b"
	[ "${#lines[@]}" -eq 6 ]
	refute grep -qx b <<<"$output"
	grep -qxF 'a\x0ab' <<<"$output"
	grep -qxF 'e\x1b[31mred' <<<"$output"
	grep -qxF 'back\x5cx0a' <<<"$output"
	grep -qxF 'c1\xc2\x9bx' <<<"$output"
	grep -qx "$(printf 'caf\303\251')" <<<"$output" # UTF-8 stays readable
	# changes since, and the increments of a path
	rm "$T/src/$(printf 'a\nb')"
	echo changed >"$T/src/$(printf 'e\033[31mred')"
	echo new >"$T/src/$(printf 'n\033]0;title\007')"
	cb --current-time 1700001000 backup "$T/src" "$T/repo"
	run cb list files --changed-since 1700000000 "$T/repo"
	echo "$output"
	no_raw_controls
	grep -qxF 'deleted a\x0ab' <<<"$output"
	grep -qxF 'changed e\x1b[31mred' <<<"$output"
	grep -qxF 'new     n\x1b]0;title\x07' <<<"$output"
	run cb list increments "$T/repo/$(printf 'a\nb')"
	echo "$output"
	no_raw_controls
	[[ "$output" == *'a\x0ab.2023-11-14T22:13:20Z.snapshot'* ]]
	# compare: the source against the newest backup
	echo again >"$T/src/$(printf 'e\033[31mred')"
	touch -d @1690000000 "$T/src/$(printf 'e\033[31mred')"
	echo x >"$T/src/$(printf 'z\nchanged: forged')"
	run cb compare "$T/src" "$T/repo"
	echo "$output"
	[ "$status" -eq 1 ]
	no_raw_controls
	grep -qxF 'changed: e\x1b[31mred' <<<"$output"
	grep -qxF 'new: z\x0achanged: forged' <<<"$output"
	refute grep -qx 'changed: forged' <<<"$output"
}

@test "capback run's report shows a host's log lines with control characters escaped" {
	mkdir -p "$T/src" "$T/state"
	echo x >"$T/src/f"
	cat >"$T/capback.conf" <<CONF
[global]
state-dir = $T/state

[host evil]
source = $T/src
repository = $T/repo
before = printf 'capback: warning\\033[2J\\rhost2 OK\\n'; exit 1
CONF
	run cb run --report "$T/capback.conf"
	echo "$output"
	no_raw_controls
	[[ "$output" == *'warning\x1b[2J\x0dhost2 OK'* ]]
	refute grep -q '^host2 OK' <<<"$output"
}

@test "what a remote role writes to stderr reaches ours with control characters escaped" {
	# a "host" that answers with escape sequences and a forged line on
	# its stderr, then runs the role (here, locally) and fails
	cat >"$T/evilssh" <<'SH'
#!/bin/sh
printf 'capback: \033]0;pwned\007title\033[2J\rcapback: all fine\n' >&2
printf 'no newline at the end \033[5m' >&2
exit 255
SH
	chmod 0755 "$T/evilssh"
	run cb --remote-schema "$T/evilssh {h}" list files "h::$T/repo"
	echo "$output"
	[ "$status" -ne 0 ]
	no_raw_controls
	[[ "$output" == *'capback: \x1b]0;pwned\x07title\x1b[2J\x0dcapback: all fine'* ]]
	[[ "$output" == *'no newline at the end \x1b[5m'* ]]
	refute grep -qx 'capback: all fine' <<<"$output"
	# a real remote role's messages still arrive whole
	cat >"$T/localssh" <<SH
#!/bin/sh
shift
PATH=$CAPBACK_BUILD:\$PATH exec sh -c "\$*"
SH
	chmod 0755 "$T/localssh"
	mkdir -p "$T/src"
	echo x >"$T/src/f"
	cb backup "$T/src" "$T/repo"
	run cb --remote-schema "$T/localssh {h}" list files "h::$T/repo/nothere"
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"nothere"* ]]
	run cb --remote-schema "$T/localssh {h}" list files "h::$T/repo"
	[ "$status" -eq 0 ]
	[ "${lines[1]}" = f ]
}

@test "JSON gives back every name's bytes: a byte that is not UTF-8 as a surrogate escape (\\udcNN), C1 and bidi controls as \\u escapes, a name that is the text \\xff as itself" {
	mkdir -p "$T/src"
	# the byte 0xff; the four characters \xff; U+0085 (C1); U+202E
	# (bidi); a newline; UTF-8 é
	printf 1 >"$T/src/$(printf 'a\377b')"
	printf 2 >"$T/src/$(printf 'a\\x''ffb')"
	printf 3 >"$T/src/$(printf 'c\302\205d')"
	printf 4 >"$T/src/$(printf 'e\342\200\256f')"
	printf 5 >"$T/src/$(printf 'g\nh')"
	printf 6 >"$T/src/$(printf '\303\251t\303\251')"
	cb --current-time 1700000000 backup "$T/src" "$T/repo"
	cb list files --json "$T/repo" >"$T/list.json"
	# parsed back as Python reads file names (surrogateescape), every
	# name is the source's, byte for byte
	python3 - "$T/list.json" "$T/src" <<'PY'
import json, os, sys
got = json.load(open(sys.argv[1]))["paths"]
got = sorted(os.fsencode(p) for p in got if p != ".")
want = sorted(os.fsencode(n) for n in os.listdir(os.fsencode(sys.argv[2])))
assert got == want, (got, want)
PY
	# the escapes as written: a surrogate for the byte, the literal
	# backslash as JSON's, the controls as \u
	grep -qF '"a\udcffb"' "$T/list.json"
	grep -qF '"a\\xffb"' "$T/list.json"
	grep -qF '"c\u0085d"' "$T/list.json"
	grep -qF '"e\u202ef"' "$T/list.json"
	# diff --json and versions --json write names the same way
	printf 77 >"$T/src/$(printf 'a\377b')"
	touch -d @1700000050 "$T/src/$(printf 'a\377b')"
	cb --current-time 1700000100 backup "$T/src" "$T/repo"
	cb diff --json "$T/repo" | grep -qF 'a\udcffb'
	cb versions --json "$T/repo/$(printf 'a\377b')" >/dev/null
}
