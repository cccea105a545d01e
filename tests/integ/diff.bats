#!/usr/bin/env bats
# capback diff: what changed between two sessions and how, from the
# metadata alone; text and JSON (parsed), checked against what the test
# changed between the sessions.

load ../lib/helpers

setup() {
	need_root
	setup_scratch
	mkdir -p "$T/src/d"
	echo a >"$T/src/a"
	echo b >"$T/src/d/b"
	echo same >"$T/src/same"
	echo t >"$T/src/touched"
	ln -s a "$T/src/l"
	echo gone >"$T/src/gone"
	touch -d @1690000000 "$T/src"/* "$T/src/d/b"
	cb --current-time 1700000000 backup "$T/src" "$T/repo"
	echo more >>"$T/src/a"
	chmod 0600 "$T/src/d/b"
	chown nobody "$T/src/d/b"
	touch -d @1690000100 "$T/src/touched"
	rm "$T/src/l" "$T/src/gone"
	ln -s d "$T/src/l"
	echo n >"$T/src/new"
	setfattr -n user.k -v v "$T/src/same" 2>/dev/null || true
	cb --current-time 1700086400 backup "$T/src" "$T/repo"
	rm "$T/src/new"
	cb --current-time 1700172800 backup "$T/src" "$T/repo"
}

teardown() {
	teardown_scratch
}

@test "the two sessions named: each path with what changed, in record order" {
	run cb diff --at 1700000000 --at 1700086400 "$T/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	grep -qx 'changed: a (content,size,mtime)' <<<"$output"
	grep -qx 'changed: d/b (mode,owner)' <<<"$output"
	grep -qx 'deleted: gone' <<<"$output"
	grep -qx 'changed: l (target)' <<<"$output"
	grep -qx 'new: new' <<<"$output"
	grep -qx 'changed: touched (mtime)' <<<"$output"
	if getfattr -n user.k "$T/src/same" >/dev/null 2>&1; then
		grep -qx 'changed: same (xattrs)' <<<"$output"
	fi
	# the unchanged ones are not named
	! grep -q ' same$\| \.$' <<<"$output" || [ -n "$(getfattr -d "$T/src/same" 2>/dev/null)" ]
}

@test "defaults: the newest against the one before; one --at against the newest; a path in the repository" {
	run cb diff "$T/repo"
	[ "$status" -eq 0 ]
	[ "$output" = "deleted: new" ]
	run cb diff --at 1700000000 "$T/repo"
	grep -qx 'deleted: gone' <<<"$output"
	! grep -q 'new: new' <<<"$output" || false
	run cb diff --at 1700000000 --at 1700086400 "$T/repo/d"
	[ "$output" = "changed: d/b (mode,owner)" ]
}

@test "--json parses, with the sessions' times and counts" {
	run cb diff --at 2023-11-14 --at 2023-11-15T22:13:20Z --json "$T/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["from_time"] == 1700000000 and d["to_time"] == 1700086400, d
assert d["from"] == "2023-11-14T22:13:20Z" and d["to"] == "2023-11-15T22:13:20Z", d
c = {x["path"]: x for x in d["changes"]}
assert c["a"]["change"] == "changed" and set(c["a"]["what"]) >= {"content", "size"}, c
assert c["gone"] == {"path": "gone", "change": "deleted"}, c
assert c["new"] == {"path": "new", "change": "new"}, c
assert d["new"] == 1 and d["deleted"] == 1 and d["changed"] == len(d["changes"]) - 2, d
' "$output"
}

@test "no file is rebuilt: diff answers with increments gone" {
	find "$T/repo/rdiff-backup-data/increments" -type f -name '*.diff.gz' -delete
	run cb diff --at 1700000000 --at 1700086400 "$T/repo"
	[ "$status" -eq 0 ]
	grep -qx 'changed: a (content,size,mtime)' <<<"$output"
}

@test "versions: each session in which a path changed, with its size and digest; --json parses" {
	run cb versions "$T/repo/a"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(wc -l <<<"$output")" -eq 2 ]
	grep -q "^2023-11-14T22:13:20Z  new      regular  2 bytes  sha1 $(printf 'a\n' | sha1sum | cut -d' ' -f1)$" <<<"$output"
	grep -q "^2023-11-15T22:13:20Z  changed  regular  7 bytes  sha1 $(printf 'a\nmore\n' | sha1sum | cut -d' ' -f1)  (content,size,mtime)$" <<<"$output"
	run cb versions "$T/repo/new"
	[ "$(sed -n 1p <<<"$output" | cut -c1-29)" = "2023-11-15T22:13:20Z  new    " ]
	[ "$(sed -n 2p <<<"$output")" = "2023-11-16T22:13:20Z  deleted" ]
	run cb versions --json "$T/repo/d/b"
	python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["path"] == "d/b", d
v = d["versions"]
assert [x["change"] for x in v] == ["new", "changed"], v
assert v[1]["what"] == ["mode", "owner"] and v[1]["time"] == 1700086400, v
assert v[0]["size"] == 2 and len(v[0]["sha1"]) == 40, v
' "$output"
	run cb versions "$T/repo/nothing"
	[ "$status" -eq 1 ]
	[[ "$output" == *"'nothing' is in no session of"* ]]
	run cb versions "$T/repo"
	[ "$status" -eq 1 ]
	[[ "$output" == *"versions needs REPOSITORY/PATH"* ]]
}

# 11 sessions a day apart in $T/long/repo: sessions 1-8 leave diffs whose
# chain ends at the snapshot kept at 9, 10 a diff, 11 the newest snapshot.
# a: changed in 2, an xattr only in 6 (XATTR=1 when the file system took
# it); back: deleted in 3, back in 10; old: deleted in 3; zz/last, the last
# path in record order: changed in 11.
long_history() {
	local s=$T/long/src k
	mkdir -p "$s/zz"
	echo a >"$s/a"
	echo back >"$s/back"
	echo old >"$s/old"
	echo z >"$s/zz/last"
	touch -d @1690000000 "$s/a" "$s/back" "$s/old" "$s/zz/last"
	XATTR=0
	for k in $(seq 1 11); do
		case $k in
		2) echo more >>"$s/a" && touch -d @1690000200 "$s/a" ;;
		3) rm "$s/back" "$s/old" ;;
		6) if setfattr -n user.k -v v "$s/a" 2>/dev/null; then XATTR=1; fi ;;
		10) echo back-again >"$s/back" && touch -d @1690001000 "$s/back" ;;
		11) echo zz >>"$s/zz/last" && touch -d @1690001100 "$s/zz/last" ;;
		esac
		cb --current-time $((1700000000 + (k - 1) * 86400)) backup "$s" "$T/long/repo"
	done
	[ "$(cd "$T/long/repo/rdiff-backup-data" && ls mirror_metadata.*.snapshot*)" = \
	    "$(printf 'mirror_metadata.2023-11-22T22:13:20Z.snapshot.gz\nmirror_metadata.2023-11-24T22:13:20Z.snapshot.gz')" ]
}

sha() {
	printf "$1" | sha1sum | cut -d' ' -f1
}

@test "versions over 11 sessions (a snapshot kept between): changes, an xattr only, deleted and back, gone, the last path" {
	long_history
	local r=$T/long/repo
	run cb versions "$r/a"
	echo "$output"
	[ "$status" -eq 0 ]
	want="2023-11-14T22:13:20Z  new      regular  2 bytes  sha1 $(sha 'a\n')
2023-11-15T22:13:20Z  changed  regular  7 bytes  sha1 $(sha 'a\nmore\n')  (content,size,mtime)"
	if [ "$XATTR" = 1 ]; then
		want="$want
2023-11-19T22:13:20Z  changed  regular  7 bytes  sha1 $(sha 'a\nmore\n')  (xattrs)"
	fi
	[ "$output" = "$want" ]
	run cb versions "$r/back"
	echo "$output"
	[ "$output" = "2023-11-14T22:13:20Z  new      regular  5 bytes  sha1 $(sha 'back\n')
2023-11-16T22:13:20Z  deleted
2023-11-23T22:13:20Z  new      regular  11 bytes  sha1 $(sha 'back-again\n')" ]
	run cb versions "$r/old"
	[ "$output" = "2023-11-14T22:13:20Z  new      regular  4 bytes  sha1 $(sha 'old\n')
2023-11-16T22:13:20Z  deleted" ]
	run cb versions "$r/zz/last"
	echo "$output"
	[ "$output" = "2023-11-14T22:13:20Z  new      regular  2 bytes  sha1 $(sha 'z\n')
2023-11-24T22:13:20Z  changed  regular  5 bytes  sha1 $(sha 'z\nzz\n')  (content,size,mtime)" ]
	run cb versions "$r/zz"
	[ "$output" = "2023-11-14T22:13:20Z  new      directory" ]
	# between two paths, and past the last: in no session
	for p in b zz/m zzz; do
		run cb versions "$r/$p"
		[ "$status" -eq 1 ]
		[[ "$output" == *"'$p' is in no session of"* ]]
	done
	run cb versions --json "$r/back"
	echo "$output"
	[ "$status" -eq 0 ]
	python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["path"] == "back", d
v = d["versions"]
assert [(x["time"], x["change"]) for x in v] == [(1700000000, "new"), (1700172800, "deleted"), (1700777600, "new")], v
assert v[1] == {"time": 1700172800, "at": "2023-11-16T22:13:20Z", "change": "deleted"}, v
assert v[2]["type"] == "regular" and v[2]["size"] == 11 and v[2]["sha1"] == sys.argv[2], v
assert "what" not in v[2], v
' "$output" "$(sha 'back-again\n')"
	if [ "$XATTR" = 1 ]; then
		run cb versions --json "$r/a"
		python3 -c '
import json, sys
v = json.loads(sys.argv[1])["versions"]
assert v[-1]["time"] == 1700432000 and v[-1]["what"] == ["xattrs"], v
' "$output"
	fi
}

# Rewrite the metadata file $1 of $T/long/repo through sed expression $2.
edit_md() {
	local f=$T/long/repo/rdiff-backup-data/$1
	zcat -f "$f" | sed "$2" >"$f.new"
	if [ "${f%.gz}" != "$f" ]; then gzip -c "$f.new" >"$f"; else cat "$f.new" >"$f"; fi
	rm "$f.new"
}

@test "versions in a damaged history: the path's own record, records out of order, an EA record of a path not there" {
	long_history
	local d=$T/long/repo/rdiff-backup-data
	cp -a "$d" "$T/long/saved"
	# the path's own record in the kept snapshot: refused, with what came before
	edit_md mirror_metadata.2023-11-22T22:13:20Z.snapshot.gz '/^File zz\/last$/,$s/^  Size .*/  Size x/'
	run cb versions "$T/long/repo/zz/last"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"reading metadata: corrupt data"* ]]
	# records out of order on the way to the path, in the newest snapshot
	rm -rf "$d" && cp -a "$T/long/saved" "$d"
	edit_md mirror_metadata.2023-11-24T22:13:20Z.snapshot.gz 's/^File a$/File c/'
	run cb versions "$T/long/repo/zz/last"
	echo "$output"
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 2 ]
	grep -qx "2023-11-14T22:13:20Z  new      regular  2 bytes  sha1 $(sha 'z\n')" <<<"$output"
	[[ "$output" == *"reading metadata: corrupt data"* ]]
	# an EA record for "old" in a session that has no "old"
	rm -rf "$d" && cp -a "$T/long/saved" "$d"
	rm "$d"/extended_attributes.2023-11-17T22:13:20Z.snapshot*
	printf '# file: old\nuser.k=0sdg==\n' >"$d/extended_attributes.2023-11-17T22:13:20Z.snapshot"
	run cb versions "$T/long/repo/old"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"reading metadata: corrupt data"* ]]
	# ... but it is no concern of "a"'s history
	run cb versions "$T/long/repo/a"
	[ "$status" -eq 0 ]
}

@test "list increments --json and verify --json parse, and name what is damaged" {
	run cb list increments --json "$T/repo"
	[ "$status" -eq 0 ]
	python3 -c '
import json, sys
d = json.loads(sys.argv[1])["sessions"]
assert [s["time"] for s in d] == [1700000000, 1700086400, 1700172800], d
assert [s["current"] for s in d] == [False, False, True], d
assert d[0]["at"] == "2023-11-14T22:13:20Z", d
assert [s["increments"] for s in d] == [True, True, False], d
' "$output"
	# a session in which nothing changed has no increments: the text
	# leaves it out (as rdiff-backup's), the JSON lists it (a new-user
	# walk-through: a script looping over it missed restorable sessions)
	cb --current-time 1700259200 backup "$T/src" "$T/repo"
	cb --current-time 1700345600 backup "$T/src" "$T/repo"
	run cb list increments "$T/repo"
	echo "$output"
	[[ "$output" == *"Found 2 increments"* ]]
	run cb list increments --json "$T/repo"
	echo "$output"
	python3 -c '
import json, sys
d = json.loads(sys.argv[1])["sessions"]
assert [s["time"] for s in d] == [1700000000, 1700086400, 1700172800,
                                  1700259200, 1700345600], d
assert [s["increments"] for s in d] == [True, True, False, False, False], d
assert [s["current"] for s in d] == [False] * 4 + [True], d
' "$output"
	for s in 1700172800 1700259200; do
		cb restore --at $s "$T/repo" "$T/r$s"
	done
	run cb verify --json "$T/repo"
	[ "$status" -eq 0 ]
	python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["ok"] is True and d["failed"] == 0 and d["verified"] >= 4 and d["damage"] == [], d
assert d["time"] == 1700345600, d
' "$output"
	# a mirror file changed behind the repository's back
	echo tampered >"$T/repo/a"
	st=0
	out=$(cb verify --json "$T/repo" 2>"$T/err") || st=$?
	echo "$out"
	[ "$st" -eq 2 ]
	grep -q '1 of 4 files failed verification' "$T/err"
	python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["ok"] is False and d["failed"] == 1, d
assert [x["path"] for x in d["damage"]] == ["a"], d
assert "SHA-1" in d["damage"][0]["why"], d
' "$out"
	run cb verify --all --json "$T/repo"
	[ "$status" -eq 1 ]
}

@test "list files --json: the paths of the session, as list files prints them; with --changed-since, diff's object" {
	run cb list files --json --at 1700086400 "$T/repo"
	[ "$status" -eq 0 ]
	python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["time"] == 1700086400 and d["at"] == "2023-11-15T22:13:20Z", d
assert d["paths"] == sys.argv[2].split("\n"), (d["paths"], sys.argv[2])
assert d["count"] == len(d["paths"]) and "new" in d["paths"], d
' "$output" "$(cb list files --at 1700086400 "$T/repo")"
	run cb list files --json "$T/repo/d"
	[ "$status" -eq 0 ]
	python3 -c '
import json, sys
assert json.loads(sys.argv[1])["paths"] == ["d", "d/b"], sys.argv[1]
' "$output"
	run cb list files --json --changed-since 1700000000 "$T/repo"
	[ "$status" -eq 0 ]
	python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["from_time"] == 1700000000 and d["to_time"] == 1700172800, d
c = {x["path"]: x["change"] for x in d["changes"]}
assert c["gone"] == "deleted" and c["a"] == "changed" and "new" not in c, c
' "$output"
	run cb list files --json --size "$T/repo"
	[ "$status" -eq 1 ]
	# a path not in the session: an error and no half object (review)
	st=0
	out=$("$CAPBACK_BUILD/capback" list files --json "$T/repo/nonexist" 2>/dev/null) || st=$?
	[ "$st" -eq 1 ]
	[ -z "$out" ]
	python3 -c 'import json, sys; assert json.loads(sys.argv[1])["complete"] is True' \
	    "$(cb list files --json "$T/repo")"
}
