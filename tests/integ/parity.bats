#!/usr/bin/env bats
# What rdiff-backup users script with: --api-version, info, and (checked
# against rdiff-backup 2.2.2 itself) the same output where it has one.

load ../lib/helpers

setup() {
	setup_scratch
}

teardown() {
	teardown_scratch
}

@test "--api-version is taken as rdiff-backup takes it: 200 and 201, else its message" {
	mkdir -p "$T/src"
	echo x >"$T/src/f"
	run cb --api-version 201 backup "$T/src" "$T/repo"
	[ "$status" -eq 0 ]
	run cb --api-version 200 list increments "$T/repo"
	[ "$status" -eq 0 ]
	for v in 199 202 x ""; do
		run cb --api-version "$v" info
		[ "$status" -eq 1 ]
		[[ "$output" == *"API version $v must be between 200 and 201"* ]]
		run rdiff-backup --api-version "$v" info
		[ "$status" -ne 0 ]
	done
	rdiff-backup --api-version 199 info 2>&1 | grep -q "API version 199 must be between 200 and 201"
}

@test "info: YAML in rdiff-backup's shape, with the roles and the kernel's features" {
	run cb --api-version 200 info
	echo "$output"
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" >"$T/info.yaml"
	cat >"$T/check.py" <<'EOF'
import sys, yaml
d = yaml.safe_load(open(sys.argv[2]))
build = sys.argv[1]
assert d["exec"]["api_version"] == {"actual": 200, "default": 200, "max": 201, "min": 200}, d["exec"]
assert d["exec"]["version"]
for r in ("reader", "writer", "restorer"):
    assert d["exec"]["roles"][r]["path"] == build + "/capback-" + r, d["exec"]["roles"][r]
    assert d["exec"]["roles"][r]["runnable"] is True
assert isinstance(d["features"]["landlock_abi"], int) or d["features"]["landlock_abi"] is None
assert d["system"]["fs_encoding"] == "utf-8"
# the whole command line, as rdiff-backup's info shows it
assert d["exec"]["argv"][1:] == ["--api-version", "200", "info"], d["exec"]["argv"]
assert d["exec"]["argv"][0].endswith("capback"), d["exec"]["argv"]
EOF
	python3 "$T/check.py" "$CAPBACK_BUILD" "$T/info.yaml"
	# rdiff-backup's own has the same top-level shape
	rdiff-backup info | python3 -c 'import sys, yaml; d = yaml.safe_load(sys.stdin); assert "api_version" in d["exec"] and "system" in d'
}

# three sessions of a tree with directories, a big file, a deletion and a
# change, written by TOOL (capback or rdiff-backup)
three_sessions() {
	local tool=$1
	mkdir -p "$T/src/d/e"
	echo a >"$T/src/a"
	head -c 200000 /dev/urandom >"$T/src/d/big"
	echo gone >"$T/src/d/e/gone"
	ln -s a "$T/src/link"
	"$tool" --current-time 1700000000 backup "$T/src" "$T/repo" >/dev/null
	echo changed >>"$T/src/a"
	rm "$T/src/d/e/gone"
	head -c 5000 /dev/urandom >>"$T/src/d/big"
	"$tool" --current-time 1700086400 backup "$T/src" "$T/repo" >/dev/null
	mkdir "$T/src/new"
	echo n >"$T/src/new/n"
	"$tool" --current-time 1700172800 backup "$T/src" "$T/repo" >/dev/null
}

# same_as_rdiff ARGS...: capback and rdiff-backup print the same
same_as_rdiff() {
	rdiff-backup "$@" 2>/dev/null >"$T/rb.out"
	cb "$@" >"$T/cb.out"
	diff "$T/rb.out" "$T/cb.out"
}

@test "list increments --size and --parsable-output print what rdiff-backup 2.2 prints (a capback repository)" {
	three_sessions "$CAPBACK_BUILD/capback"
	same_as_rdiff list increments --size "$T/repo"
	same_as_rdiff --parsable-output list increments --size "$T/repo"
	same_as_rdiff --parsable-output list increments "$T/repo"
	same_as_rdiff list increments "$T/repo"
	cb list increments --size "$T/repo" | grep -q '  (current mirror)$'
	# the YAML parses, with the figures rdiff-backup gives
	cb --parsable-output list increments --size "$T/repo" |
	    python3 -c 'import sys, yaml; d = yaml.safe_load(sys.stdin); assert [x["time"] for x in d] == [1700000000, 1700086400, 1700172800], d; assert d[0]["total_size"] >= d[1]["total_size"] >= d[2]["total_size"] > 200000, d'
	cb --api-version 201 --parsable-output list increments "$T/repo" |
	    python3 -c 'import sys, yaml; d = yaml.safe_load(sys.stdin); assert [x["type"] for x in d] == ["directory"] * 3 and d[-1]["base"] == "repo", d'
}

@test "list increments --size and --parsable-output on a repository rdiff-backup wrote" {
	three_sessions rdiff-backup
	same_as_rdiff list increments --size "$T/repo"
	same_as_rdiff --parsable-output list increments --size "$T/repo"
	same_as_rdiff --parsable-output list increments "$T/repo"
}

@test "an option the action does not take is refused, named; --parsable-output elsewhere changes nothing; options may follow the locations" {
	three_sessions "$CAPBACK_BUILD/capback"
	# an option another action takes is not in this one's table
	run cb list files --size "$T/repo"
	[ "$status" -eq 1 ]
	[[ "$output" == *"unrecognized option '--size'"* ]]
	[[ "$output" == *"usage: capback [GLOBAL OPTIONS] list files "* ]]
	run cb list increments --at now "$T/repo"
	[ "$status" -eq 1 ]
	[[ "$output" == *"unrecognized option '--at'"* ]]
	# --parsable-output changes list increments only: with the others
	# (as with rdiff-backup's) they print what they print without it
	diff <(cb --parsable-output verify "$T/repo" 2>&1) <(cb verify "$T/repo" 2>&1)
	diff <(cb --parsable-output list files "$T/repo") <(rdiff-backup --parsable-output list files "$T/repo")
	# options after the locations, as rdiff-backup takes them
	diff <(cb list files "$T/repo" --at 1B) <(cb list files --at 1B "$T/repo")
	run cb list files "$T/repo" "$T/repo"
	[ "$status" -eq 1 ]
	[[ "$output" == *"list files takes REPOSITORY[/PATH]: 2 were given"* ]]
}

@test "list increments of a path in rdiff-backup's machine forms and with --size (walk-through)" {
	three_sessions rdiff-backup
	for p in d d/big a new d/e d/e/gone; do
		diff <(cb --parsable-output list increments "$T/repo/$p") \
		    <(rdiff-backup --parsable-output list increments "$T/repo/$p")
		diff <(cb --api-version 201 --parsable-output list increments "$T/repo/$p") \
		    <(rdiff-backup --api-version 201 --parsable-output list increments "$T/repo/$p" 2>/dev/null | grep -v '^NOTE\|^         ')
		# (rdiff-backup fails on --size of a deleted path; capback
		# says it is not in the mirror)
		[ "$p" = d/e/gone ] && continue
		diff <(cb list increments --size "$T/repo/$p") \
		    <(rdiff-backup list increments --size "$T/repo/$p")
	done
	run cb list increments --size "$T/repo/d/e/gone"
	[ "$status" -eq 1 ]
	[[ "$output" == *"is not in the mirror"* ]]
	python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["path"] == "d" and d["increments"][-1]["current"] is True, d
' "$(cb list increments --json "$T/repo/d")"
}

@test "backup --print-statistics prints rdiff-backup's session statistics block" {
	mkdir -p "$T/src/d"
	echo a >"$T/src/a"
	echo b >"$T/src/d/b"
	cp -a "$T/src" "$T/src2"
	run cb --current-time 1700000000 backup --print-statistics "$T/src" "$T/repo"
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" >"$T/cb.out"
	rdiff-backup --current-time 1700000000 backup --print-statistics "$T/src2" "$T/rrepo" | grep -v '^NOTE' >"$T/rb.out"
	cat "$T/cb.out" "$T/rb.out"
	# the same frame and the same keys, in the same order and form
	sed -E 's/ [0-9.]+( \(.*\))?$/ N\1/; s/\(([0-9]+ bytes|[0-9.]+ [KMGT]B)\)/(B)/; s/\((Mon|Tue|Wed|Thu|Fri|Sat|Sun) [^)]*\)/(T)/; s/\(([0-9]+ hours? )?([0-9]+ minutes? )?[0-9.]+ seconds?\)/(S)/' "$T/cb.out" >"$T/cb.shape"
	sed -E 's/ [0-9.]+( \(.*\))?$/ N\1/; s/\(([0-9]+ bytes|[0-9.]+ [KMGT]B)\)/(B)/; s/\((Mon|Tue|Wed|Thu|Fri|Sat|Sun) [^)]*\)/(T)/; s/\(([0-9]+ hours? )?([0-9]+ minutes? )?[0-9.]+ seconds?\)/(S)/' "$T/rb.out" >"$T/rb.shape"
	diff "$T/rb.shape" "$T/cb.shape"
	# the figures are the session's own statistics file
	sed '1d;$d' "$T/cb.out" | diff - "$T"/repo/rdiff-backup-data/session_statistics.*.data
	grep -qx 'StartTime 1700000000.00 (Tue Nov 14 22:13:20 2023)' "$T/cb.out"
	grep -qx 'SourceFiles 4' "$T/cb.out"
	grep -qx 'Errors 0' "$T/cb.out"
	# each byte figure's summary is the one rdiff-backup makes of that
	# figure (its own function: "4933 (4.82 KB)", not "(4933 bytes)")
	python3 - "$T/cb.out" <<'PYEOF'
import re, sys
sys.path.insert(0, "/usr/lib/python3/dist-packages")
from rdiff_backup.statistics import StatsObj
so = StatsObj()
n = 0
for line in open(sys.argv[1]):
    m = re.fullmatch(r"(\w+Size\w*|TotalDestinationSizeChange) (-?\d+) \((.*)\)\n", line)
    if m:
        n += 1
        assert m.group(3) == so.get_byte_summary_string(int(m.group(2))), line
assert n >= 8, n
PYEOF
	# rdiff-backup reads the statistics capback writes
	rdiff-backup --api-version 201 list increments "$T/repo" >/dev/null
}

@test "the session statistics' figures are rdiff-backup's on the same history: directories that took part count as changed, the root of a first backup too" {
	mkdir -p "$T/src/a/b/c" "$T/src/d" "$T/src/e/sub" "$T/src/z"
	echo 1 >"$T/src/a/b/c/f"
	echo 22 >"$T/src/d/g"
	echo 333 >"$T/src/top"
	echo 4444 >"$T/src/e/h"
	echo 55555 >"$T/src/e/sub/x"
	figures() { # the figures of a --print-statistics block, no times
		grep -E '^(Source|Mirror|New|Deleted|Changed|Errors|IncrementFiles)' |
		    sed -E 's/ \(.*\)$//'
	}
	both() { # both tools back up the same source at time $1
		find "$T/src" -exec touch -h -d @1600000000 {} +
		cb --current-time "$1" backup --print-statistics "$T/src" "$T/repo" >"$T/cbfull.$1"
		figures <"$T/cbfull.$1" >"$T/cb.$1"
		# the total as rdiff-backup sums it, increments included
		# (IncrementFileSize itself differs: capback's compress better)
		python3 -c 'import re, sys
f = dict(re.findall(r"^(\w+) (-?\d+)", open(sys.argv[1]).read(), re.M))
g = lambda k: int(f[k])
want = (g("NewFileSize") + g("ChangedSourceSize") + g("IncrementFileSize")
        - g("DeletedFileSize") - g("ChangedMirrorSize"))
assert g("TotalDestinationSizeChange") == want, (f, want)' "$T/cbfull.$1"
		rdiff-backup --current-time "$1" backup --print-statistics \
		    "$T/src" "$T/rrepo" | figures >"$T/rb.$1"
		echo "== $1"
		paste "$T/rb.$1" "$T/cb.$1"
		diff "$T/rb.$1" "$T/cb.$1"
	}
	both 1700000000
	# a change deep down; a deletion; a new file; a directory's mode;
	# an empty directory removed
	echo 1111111 >"$T/src/a/b/c/f"
	rm "$T/src/d/g"
	echo new >"$T/src/e/new"
	chmod 700 "$T/src/e/sub"
	rmdir "$T/src/z"
	both 1700000100
	# a whole tree deleted, a new tree made, a file at the top changed
	rm -rf "$T/src/e"
	mkdir -p "$T/src/d/deep/new" "$T/src/a/sub/deeper"
	echo deep >"$T/src/d/deep/new/file"
	echo 3 >"$T/src/top"
	echo x >"$T/src/a/sub/deeper/y"
	both 1700000200
	# a directory become a file, another a symlink (a review found both
	# counted as deleted and new)
	rm -rf "$T/src/a/sub" "$T/src/d/deep"
	echo now-a-file >"$T/src/a/sub"
	ln -s top "$T/src/d/deep"
	both 1700000300
	grep -qx 'MirrorFiles 1' "$T/cb.1700000000"
}

@test "times in messages are for people: ISO 8601 with the zone, not epoch seconds" {
	mkdir -p "$T/src"
	echo a >"$T/src/a"
	cb --current-time 1700000000 backup "$T/src" "$T/repo"
	run cb --current-time 1690000000 backup "$T/src" "$T/repo"
	[ "$status" -eq 1 ]
	[[ "$output" == *"the session time 2023-07-22T04:26:40Z is not later than the current mirror's, 2023-11-14T22:13:20Z"* ]]
	[[ "$output" != *1690000000* ]]
}

@test "-v 4: a line a new, changed or deleted file; -v 5: what runs and every file; -v 3: quiet" {
	mkdir -p "$T/src/d"
	echo a >"$T/src/a"
	echo b >"$T/src/d/b"
	# the directories' times fixed: only a, c and d/b change
	touch -d @1690000000 "$T/src" "$T/src/d"
	run cb --current-time 1700000000 backup "$T/src" "$T/repo"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	echo more >>"$T/src/a"
	rm "$T/src/d/b"
	echo c >"$T/src/c"
	touch -d @1690000000 "$T/src" "$T/src/d"
	run cb -v 4 --current-time 1700000100 backup "$T/src" "$T/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	grep -qx 'capback: changed: a' <<<"$output"
	grep -qx 'capback: deleted: d/b' <<<"$output"
	grep -qx 'capback: new: c' <<<"$output"
	grep -q 'capback: 4 files, 1 new, 1 changed, 1 deleted, 0 errors' <<<"$output"
	! grep -q 'unchanged' <<<"$output" || false
	run cb -v 5 --current-time 1700000200 backup "$T/src" "$T/repo"
	echo "$output"
	grep -q '^capback: running capback-reader -v 5 ' <<<"$output"
	grep -q '^capback: running capback-writer -v 5 ' <<<"$output"
	grep -qx 'capback: unchanged: c' <<<"$output"
}

@test "restore: -v 4 names each path, an older session by its ISO time; a path in no session is one error line (new-user walk-through)" {
	mkdir -p "$T/src/d"
	echo a >"$T/src/a"
	echo b >"$T/src/d/b"
	cb --current-time 1700000000 backup "$T/src" "$T/repo"
	echo c >"$T/src/c"
	cb --current-time 1700000100 backup "$T/src" "$T/repo"
	run cb -v 4 restore --at 1700000000 "$T/repo" "$T/out"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"restoring the session of 2023-11-14T22:13:20Z"* ]]
	[[ "$output" != *1700000000* ]]
	for p in . a d d/b; do
		grep -qx "capback: restoring: $p" <<<"$output"
	done
	refute grep -q "restoring: c" <<<"$output"
	run cb restore "$T/repo" "$T/out2"
	[ -z "$output" ]
	run cb restore --at 1700000000 "$T/repo/c" "$T/out3"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"'c' is not in the session of 2023-11-14T22:13:20Z"* ]]
	[[ "$output" != *"end of stream"* ]]
	[ "$(printf '%s\n' "$output" | wc -l)" -eq 1 ]
}

@test "one of a thing is singular: file, byte, error (new-user walk-through)" {
	mkdir -p "$T/empty" "$T/src"
	run cb -v 4 --current-time 1700000000 backup "$T/empty" "$T/repo0"
	grep -qx 'capback: 1 file, 1 new, 0 changed, 0 deleted, 0 errors' <<<"$output"
	printf x >"$T/src/x"
	run cb -v 4 --current-time 1700000000 backup "$T/src" "$T/repo"
	echo "$output"
	[[ "$output" == *"transferred 1 file whole (1 byte) and"* ]]
	run cb verify "$T/repo"
	[ "$output" = "All 1 file verified successfully" ]
	run cb versions "$T/repo/x"
	echo "$output"
	[[ "$output" == *"  1 byte  sha1 "* ]]
}

@test "calculate prints what rdiff-backup's calculate prints, for either tool's statistics" {
	three_sessions "$CAPBACK_BUILD/capback"
	mv "$T/repo" "$T/cbrepo"
	rm -rf "$T/src"
	three_sessions rdiff-backup
	for r in "$T/cbrepo" "$T/repo"; do
		rdiff-backup calculate "$r"/rdiff-backup-data/session_statistics.* >"$T/rb.out"
		cb calculate "$r"/rdiff-backup-data/session_statistics.* >"$T/cb.out"
		diff "$T/rb.out" "$T/cb.out"
		rdiff-backup calculate --method average "$r"/rdiff-backup-data/session_statistics.*.data >"$T/rb.out"
		cb calculate --method average "$r"/rdiff-backup-data/session_statistics.*.data >"$T/cb.out"
		diff "$T/rb.out" "$T/cb.out"
	done
	grep -q '^--------------\[ Average of 3 stat files \]--------------$' "$T/cb.out"
	run cb calculate "$T/nothing"
	[ "$status" -eq 1 ]
	[[ "$output" == *"cannot read $T/nothing"* ]]
	# a hostile statistics file: refused by line, never a crash
	for bad in 'SourceFiles inf' 'SourceFileSize 1e999' 'Errors 1e30' 'Errors 0x10' 'ElapsedTime nan'; do
		printf '%s\n' "$bad" >"$T/bad.data"
		run cb calculate "$T/bad.data"
		echo "$output"
		[ "$status" -eq 1 ]
		[[ "$output" == *"$T/bad.data, line 1: "* ]]
	done
	head -c 10000 /dev/zero | tr '\0' 7 | sed 's/^/SourceFiles /' >"$T/bad.data"
	run cb calculate "$T/bad.data"
	[ "$status" -eq 1 ]
	# what rdiff-backup refuses too (with a traceback): a line that is
	# not a key and a value, a key it does not know; an empty average
	# printed as if all were well was the walk-through's finding
	for bad in 'junk' 'Foo 1' 'SourceFiles'; do
		printf 'SourceFiles 3\n%s\n' "$bad" >"$T/bad.data"
		run rdiff-backup calculate "$T/bad.data"
		[ "$status" -ne 0 ]
		run cb calculate "$T/bad.data"
		echo "$output"
		[ "$status" -eq 1 ]
		[[ "$output" == *"$T/bad.data, line 2: "* ]]
	done
	seq 1 300 | sed 's/^/SourceFiles /' >"$T/bad.data"
	run cb calculate "$T/bad.data"
	[ "$status" -eq 1 ]
	[[ "$output" == *"more than 256 lines"* ]]
	# not a file: refused, never read as an empty one (review)
	mkfifo "$T/fifo"
	for bad in "$T" /dev/zero "$T/fifo"; do
		run timeout 10 "$CAPBACK_BUILD/capback" calculate "$bad"
		echo "$output"
		[ "$status" -eq 1 ]
		[[ "$output" == *"$bad is not a regular file"* ]]
	done
}

@test "--create-full-path makes the missing directories above a repository or a restore target, never through a symlink" {
	mkdir -p "$T/src"
	echo a >"$T/src/a"
	run cb backup "$T/src" "$T/x/y/repo"
	[ "$status" -eq 1 ]
	[[ "$output" == *"its parent directory does not exist (on this machine, backup --create-full-path makes it)"* ]]
	cb backup --create-full-path "$T/src" "$T/x/y/repo"
	[ "$(stat -c %a "$T/x/y")" = 700 ]
	cb restore --create-full-path "$T/x/y/repo" "$T/r/s/t"
	[ "$(cat "$T/r/s/t/a")" = a ]
	# rdiff-backup takes the same option on the same command lines
	rdiff-backup backup --create-full-path "$T/src" "$T/rb/x/repo" >/dev/null
	mkdir "$T/victim"
	ln -s "$T/victim" "$T/link"
	run cb restore --create-full-path "$T/x/y/repo" "$T/link/new/t"
	[ "$status" -eq 1 ]
	[[ "$output" == *"link in $T/link/new/t: not a directory (a symlink is not followed)"* ]]
	[ -z "$(ls "$T/victim")" ]
}

@test "the session statistics count changed files' sizes, at every verbosity (-v 4 lines once moved them)" {
	mkdir -p "$T/src"
	printf '1234567890' >"$T/src/a"
	printf 'xy' >"$T/src/same"
	touch -d @1690000000 "$T/src" "$T/src/same"
	cb --current-time 1700000000 backup "$T/src" "$T/repo"
	printf '123456789012345' >"$T/src/a"
	touch -d @1690000000 "$T/src"
	for v in 3 5; do
		cb -v $v --current-time $((1700000100 + v)) backup "$T/src" "$T/repo" 2>/dev/null
		printf '%s' "$v" >>"$T/src/a"
		touch -d @1690000000 "$T/src"
	done
	for f in "$T"/repo/rdiff-backup-data/session_statistics.*; do
		case $f in *2023-11-14T22:13:20Z*) continue ;; esac
		cat "$f"
		grep -qx 'ChangedFiles 2' "$f" # a, and the root as it holds a
		grep -Eqx 'ChangedSourceSize 1[56] \(1[56] bytes\)' "$f"
		grep -Eqx 'ChangedMirrorSize 1[05] \(1[05] bytes\)' "$f"
	done
}

@test "--create-full-path goes through no directory another account owns or others may write (it could be swapped)" {
	need_root
	mkdir -p "$T/src"
	echo a >"$T/src/a"
	cb backup "$T/src" "$T/repo"
	new_user
	mkdir "$T/theirs"
	chown "$NEW_USER" "$T/theirs"
	run cb restore --create-full-path "$T/repo" "$T/theirs/x/t"
	[ "$status" -eq 1 ]
	[[ "$output" == *"theirs in $T/theirs/x/t belongs to another account or others may write it"* ]]
	[ ! -e "$T/theirs/x" ]
	mkdir -m 0777 "$T/open"
	chmod 0777 "$T/open"
	run cb restore --create-full-path "$T/repo" "$T/open/x/t"
	[ "$status" -eq 1 ]
	# a sticky one (like /tmp) is fine: what we make there is ours
	chmod 1777 "$T/open"
	cb restore --create-full-path "$T/repo" "$T/open/x/t"
	[ "$(cat "$T/open/x/t/a")" = a ]
}

@test "the YAML forms read back as written for any repository name" {
	mkdir -p "$T/src"
	echo a >"$T/src/a"
	for name in 'r: x' null '#c' 123 'yes'; do
		cb backup "$T/src" "$T/$name"
		cb --api-version 201 --parsable-output list increments "$T/$name" |
		    python3 -c 'import sys, yaml; d = yaml.safe_load(sys.stdin); assert d[-1]["base"] == sys.argv[1], d' "$name"
	done
}

@test "list increments --size on a mirror deeper than the soft open-file limit" {
	mkdir -p "$T/src"
	python3 -c '
import os, sys
os.chdir(sys.argv[1])
for i in range(600):
    os.mkdir("a"); os.chdir("a")
open("f", "w").write("x")
' "$T/src"
	cb backup "$T/src" "$T/repo"
	run bash -c "ulimit -Sn 256; '$CAPBACK_BUILD/capback' list increments --size '$T/repo'"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"(current mirror)"* ]]
}
