#!/usr/bin/env bats
# A compromised host names its own mirror: symlinks and planted
# repositories in it must not steer any action to another repository
# (or to forged history).  Each action gets REPO/PATH through the
# symlink, at several depths; the repository is always the outermost
# directory holding rdiff-backup-data, found without following anything
# inside a mirror (src/common/repoloc.c).

load ../lib/helpers

BASE=1700000000

setup() {
	need_root
	setup_scratch
	mkdir -p "$T/backups" "$T/h1/srv/data" "$T/h1/a/b/c" "$T/h2/etc"
	echo "host1 data" >"$T/h1/srv/data/file"
	echo "host1 deep" >"$T/h1/a/b/c/file"
	echo "HOST2 SECRET" >"$T/h2/etc/secret"
	chmod 0600 "$T/h2/etc/secret"
	cb --current-time $BASE backup "$T/h2" "$T/backups/host2" >/dev/null
	cb --current-time $BASE backup "$T/h1" "$T/backups/host1" >/dev/null
	# host1 is taken over: its directories become symlinks that lead,
	# from inside its mirror, to host2's repository
	rm -rf "$T/h1/srv/data" "$T/h1/a/b/c"
	ln -s ../../host2 "$T/h1/srv/data"
	ln -s ../../../host2 "$T/h1/a/b/c"
	ln -s ../host2 "$T/h1/srv2"
	cb --current-time $((BASE + 100)) backup "$T/h1" "$T/backups/host1" >/dev/null
	# the mirror now holds the symlinks, and they do lead to host2
	[ -L "$T/backups/host1/srv/data" ]
	[ -e "$T/backups/host1/srv/data/rdiff-backup-data" ]
	[ -e "$T/backups/host1/a/b/c/etc/secret" ]
}

teardown() {
	teardown_scratch
}

# no_host2 TEXT...: nothing of host2's repository shows in TEXT
no_host2() {
	if printf '%s\n' "$@" | grep -q 'HOST2\|etc/secret\|host2'; then
		echo "host2 leaked: $*" >&2
		return 1
	fi
}

@test "restore through a symlink in the mirror restores host1's own history, never host2" {
	for p in srv/data a/b/c; do
		rm -rf "$T/out"
		run cb restore --at $BASE "$T/backups/host1/$p" "$T/out"
		echo "$output"
		[ "$status" -eq 0 ]
		[ -f "$T/out/file" ]
		grep -q "^host1" "$T/out/file"
		[ ! -e "$T/out/etc" ]
		[ ! -e "$T/out/rdiff-backup-data" ]
		# the newest state of that path is the symlink itself
		rm -rf "$T/new"
		run cb restore "$T/backups/host1/$p" "$T/new"
		echo "$output"
		[ "$status" -eq 0 ]
		[ -L "$T/new" ]
	done
	# a path below the symlink is not in host1's newest session
	run cb restore "$T/backups/host1/srv/data/etc/secret" "$T/leak"
	echo "$output"
	[ "$status" -ne 0 ]
	[ ! -e "$T/leak" ]
	run cb restore "$T/backups/host1/srv2/etc" "$T/leak2"
	[ "$status" -ne 0 ]
	[ ! -e "$T/leak2" ]
}

@test "list, verify, compare and list increments through the symlink stay in host1" {
	run cb list files --at $BASE "$T/backups/host1/srv/data"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"srv/data/file"* ]]
	no_host2 "$output"
	run cb list files "$T/backups/host1/a/b/c"
	echo "$output"
	[ "$status" -eq 0 ]
	no_host2 "$output"
	run cb list increments "$T/backups/host1/srv/data"
	echo "$output"
	[ "$status" -eq 0 ]
	no_host2 "$output"
	run cb verify --at $BASE "$T/backups/host1/srv/data"
	echo "$output"
	[ "$status" -eq 0 ]
	no_host2 "$output"
	run cb verify --all "$T/backups/host1/a/b/c"
	echo "$output"
	[ "$status" -eq 0 ]
	# compare host2's own tree against "host1/srv/data": host1's record
	# there is a symlink, so everything of host2 is new, nothing equal
	run cb compare "$T/h2" "$T/backups/host1/srv/data"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" != *"No changes found"* ]]
}

@test "repository commands need the repository itself, not a path inside one" {
	run cb drill "$T/backups/host1/srv/data"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"is inside the repository '$T/backups/host1'"* ]]
	[ ! -e "$T/backups/host2/rdiff-backup-data/capback-drill.state" ]
	run cb regress "$T/backups/host1/srv/data"
	[ "$status" -eq 1 ]
	[[ "$output" == *"is inside the repository"* ]]
	run cb remove increments --older-than now "$T/backups/host1/a/b/c"
	[ "$status" -eq 1 ]
	# a backup into a path inside a repository is refused (the symlink
	# and a real directory of the mirror alike); nothing is written
	before=$(cb list increments "$T/backups/host2")
	for p in srv/data a/b/c srv/data/new srv; do
		run cb --current-time $((BASE + 200)) backup "$T/h1" "$T/backups/host1/$p"
		echo "$output"
		[ "$status" -eq 1 ]
		[[ "$output" == *"inside the repository '$T/backups/host1'"* ]]
	done
	[ "$before" = "$(cb list increments "$T/backups/host2")" ]
	[ ! -e "$T/backups/host1/srv/new" ]
}

@test "the admin's own symlinks on the way to a repository still work" {
	ln -s "$T/backups" "$T/link"
	ln -s host1 "$T/backups/alias"
	run cb restore --at $BASE "$T/link/alias/srv/data" "$T/out"
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q "^host1" "$T/out/file"
	# relative locations, from a directory inside the mirror too
	cd "$T/backups/host1/srv"
	run cb restore --at $BASE data "$T/out2"
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q "^host1" "$T/out2/file"
	cd "$T/backups"
	run cb list files ./host1/a/b/c
	[ "$status" -eq 0 ]
	no_host2 "$output"
	# ".." inside a repository takes back a component of the path in its
	# records (as the shell does); leaving the repository is refused
	run cb list files ./host1/a/../a/b/c
	[ "$status" -eq 0 ]
	[[ "$output" == *"a/b/c"* ]]
	no_host2 "$output"
	run cb list files ./host1/../host1/a/b/c
	[ "$status" -eq 1 ]
	[[ "$output" == *"'..' would leave the repository"* ]]
	# a symlink of the admin's that points into a mirror is followed up to
	# the repository, and the rest is looked up in host1's records
	ln -s "$T/backups/host1/srv/data" "$T/into"
	run cb restore --at $BASE "$T/into" "$T/out3"
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q "^host1" "$T/out3/file"
	run cb list files "$T/into"
	no_host2 "$output"
}

# plant DIR: make DIR (a directory of a compromised host's source) a
# self-consistent repository made by capback itself, whose mirror is DIR
# as it is and whose older session holds forged content
plant() {
	rm -rf "$T/forge" "$T/forged"
	cp -a "$1" "$T/forge"
	echo "FORGED" >"$T/forge/file"
	cb --current-time $((BASE - 50)) backup "$T/forge" "$T/forged" >/dev/null
	cp -a "$1/file" "$T/forge/file"
	cb --current-time $((BASE + 50)) backup "$T/forge" "$T/forged" >/dev/null
	cp -a "$T/forged/rdiff-backup-data" "$1/"
}

@test "a repository planted in the source is data, not history (depth 1 and 3)" {
	for sub in sub x/y/sub; do
		rm -rf "$T/src" "$T/repo"
		mkdir -p "$T/src/$sub"
		echo "real v1" >"$T/src/$sub/file"
		cb --current-time $BASE backup "$T/src" "$T/repo" >/dev/null
		echo "real v2" >"$T/src/$sub/file"
		touch -d @$((BASE + 90)) "$T/src/$sub/file"
		plant "$T/src/$sub"
		cb --current-time $((BASE + 100)) backup "$T/src" "$T/repo" >/dev/null
		[ -d "$T/repo/$sub/rdiff-backup-data" ]
		# the old state of the sub-tree is the real one
		rm -rf "$T/out"
		run cb restore --at $BASE "$T/repo/$sub" "$T/out"
		echo "$output"
		[ "$status" -eq 0 ]
		[ "$(cat "$T/out/file")" = "real v1" ]
		[ ! -e "$T/out/rdiff-backup-data" ]
		# the newest state holds the planted directory as plain data
		rm -rf "$T/now"
		run cb restore "$T/repo/$sub" "$T/now"
		[ "$status" -eq 0 ]
		[ "$(cat "$T/now/file")" = "real v2" ]
		[ -d "$T/now/rdiff-backup-data" ]
		# list increments and list files speak of the real repository
		run cb list increments "$T/repo/$sub"
		echo "$output"
		[ "$status" -eq 0 ]
		[[ "$output" != *"$((BASE - 50))"* ]]
		rm -rf "$T/older"
		run cb restore --at $((BASE - 50)) "$T/repo/$sub" "$T/older"
		echo "$output"
		[ "$status" -ne 0 ] || [ "$(cat "$T/older/file")" = "real v1" ]
		run cb verify --at $BASE "$T/repo/$sub"
		[ "$status" -eq 0 ]
	done
}

@test "cd through the host's symlink, then a relative location: still host1's records" {
	cd "$T/backups/host1/srv/data"
	# the shell's PWD says host1; the directory itself is host2's top
	[ "$PWD" = "$T/backups/host1/srv/data" ]
	run cb list files .
	echo "$output"
	[ "$status" -eq 0 ]
	no_host2 "$output"
	run cb restore --at $BASE etc/secret "$T/leak"
	echo "$output"
	[ "$status" -ne 0 ]
	[ ! -e "$T/leak" ]
	run cb restore --at $BASE . "$T/out"
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q "^host1" "$T/out/file"
	# a PWD that is not the current directory is not believed
	cd "$T/backups/host1"
	PWD="$T/backups/host2" run cb list files --at $BASE srv/data
	[ "$status" -eq 0 ]
	[[ "$output" == *"srv/data/file"* ]]
	no_host2 "$output"
}

@test "an entry rdiff-backup-data that is no directory stops the walk: refused, not walked past" {
	mkdir -p "$T/h3/srv"
	echo x >"$T/h3/srv/f"
	cb --current-time $BASE backup "$T/h3" "$T/backups/host3" >/dev/null
	ln -s ../../host2 "$T/h3/srv/data"
	cb --current-time $((BASE + 10)) backup "$T/h3" "$T/backups/host3" >/dev/null
	# the admin moved the metadata away and left a symlink
	mv "$T/backups/host3/rdiff-backup-data" "$T/moved"
	ln -s "$T/moved" "$T/backups/host3/rdiff-backup-data"
	for action in "list files" "list increments" "verify"; do
		run cb $action "$T/backups/host3/srv/data"
		echo "$output"
		[ "$status" -eq 1 ]
		[[ "$output" == *"rdiff-backup-data' is a symlink, not a directory: refused"* ]]
		no_host2 "${output//host3/}"
	done
	run cb --current-time $((BASE + 20)) backup "$T/h3" "$T/backups/host3"
	[ "$status" -eq 1 ]
	[ "$(readlink "$T/backups/host3/rdiff-backup-data")" = "$T/moved" ]
}

@test "a restore target or drill scratch inside a repository is refused" {
	mkdir "$T/victim"
	ln -s "$T/victim" "$T/h1/evil"
	cb --current-time $((BASE + 200)) backup "$T/h1" "$T/backups/host1" >/dev/null
	for dest in "$T/backups/host1/evil/restored" "$T/backups/host1/new" "$T/backups/host2/x"; do
		run cb restore --at $BASE "$T/backups/host1/srv/data" "$dest"
		echo "$output"
		[ "$status" -eq 1 ]
		[[ "$output" == *"the restore target '$dest' is inside the repository"* ]]
	done
	[ -z "$(ls -A "$T/victim")" ]
	[ ! -e "$T/backups/host1/new" ]
	run cb drill --scratch "$T/backups/host1/evil" "$T/backups/host1"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"the scratch directory"*"is inside the repository"* ]]
	[ -z "$(ls -A "$T/victim")" ]
}

@test "another user's symlink in a sticky directory, and /proc's magic links, are not followed" {
	new_user
	mkdir -m 1777 "$T/sticky"
	run_as "$NEW_USER" ln -s "$T/backups/host2" "$T/sticky/repo"
	run cb list increments "$T/sticky/repo"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"a symlink of another user"*"is not followed"* ]]
	# a new repository is not made where such a link points
	run_as "$NEW_USER" ln -s "$T/victim2" "$T/sticky/newrepo"
	run cb --current-time $BASE backup "$T/h2" "$T/sticky/newrepo"
	[ "$status" -eq 1 ]
	[ ! -e "$T/victim2" ]
	# the admin's own link there is followed
	ln -s "$T/backups/host2" "$T/sticky/mine"
	run cb list increments "$T/sticky/mine"
	[ "$status" -eq 0 ]
	run cb list increments "/proc/self/cwd/$T/backups/host2"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"symlinks in /proc are not followed"* ]]
}

@test "a reader's made-up digest is not recorded: the writer digests what it receives (review)" {
	# "b", a later link of "a"'s group, is linked, not sent: it carried
	# a digest the host made up, which the record took as sent
	run timeout 60 python3 "$LIB/evilreader.py" forged-digest -- \
	    "$CAPBACK_BUILD/capback-writer" --current-time 1700000000 -- backup "$T/fd"
	echo "$output"
	[[ "$output" == *"exit 0"* ]]
	record "$T/fd" a | grep -qx "  SHA1Digest $(printf abcd | sha1sum | cut -d' ' -f1)"
	! record "$T/fd" b | grep -q SHA1Digest || false
	! metadata "$T/fd" | grep -q 000102030405060708090a0b0c0d0e0f10111213 || false
	run "$CAPBACK_BUILD/capback" verify "$T/fd"
	[ "$status" -eq 0 ]
}
