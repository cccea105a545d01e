#!/usr/bin/env bats
# capback replicate PRIMARY VAULT: the vault holds the primary's sessions
# with the same times and records; every session restores the same from
# it, by capback and by rdiff-backup; only changed files are sent, each
# checked against the primary's recorded SHA-1; a vault that is not the
# primary's copy is refused; damage and a kill leave the vault's sessions
# as they were.

load ../lib/helpers

setup() {
	need_root
	command -v rdiff-backup >/dev/null || skip "rdiff-backup not installed"
	setup_scratch
	sh "$LIB/fixture.sh" "$T/src"
}

teardown() {
	ssh_teardown
	teardown_scratch
}

# change N: the changes before session N (renames, deletes, type
# changes, hard links, xattrs, ACLs, long names, content that keeps its
# size and time)
change() {
	s="$T/src"
	case $1 in
	1) echo more >>"$s/plain"; mv "$s/dir/sub" "$s/dir/moved" ;;
	2) rm "$s/empty" && mkdir "$s/empty" && echo in >"$s/empty/f"
	   ln "$s/plain" "$s/plain-link" ;;
	3) setfattr -n user.text -v changed "$s/xattrs"
	   setfacl -m u:nobody:r "$s/plain" ;;
	4) rm -rf "$s/dir/moved" && ln -s plain "$s/dir/moved"
	   printf '%0200d' 0 | tr 0 L >"$s/dir/$(printf '%0200d' 0 | tr 0 x)" ;;
	5) rm "$s/plain-link"; chown nobody "$s/unknown_owner" ;;
	6) printf 'ABC' | dd of="$s/random1m" bs=1 seek=100 conv=notrunc status=none
	   touch -d '2022-03-04 05:06:07' "$s/random1m" ;;
	# (not names/: rdiff-backup 2.2.2 hangs restoring a session older
	# than one that deleted a name over 205 bytes, and names/ has one)
	7) rm "$s/chardev" && mkfifo "$s/chardev"; mv "$s/trap" "$s/renamed" ;;
	8) rm -rf "$s/empty" && echo file-again >"$s/empty" ;;
	9) setfattr -x user.text "$s/xattrs"; setfacl -b "$s/acl_file" ;;
	esac
	touch -d "2023-01-0$1" "$s" "$s/plain" 2>/dev/null || true
}

# sessions A B: sessions A..B of the primary (each after its change)
sessions() {
	for i in $(seq "$1" "$2"); do
		[ "$i" -eq 0 ] || change "$i"
		# session 6 changed a file in place keeping size and time:
		# read it anyway, as the primary's admin would have to
		cb --current-time $((1700000000 + 100 * i)) backup --check-unchanged \
		    "$T/src" "$T/prim" >/dev/null 2>&1 ||
		    [ $? -eq 4 ] || return 1
	done
}

# same_sessions: every session of the primary restores the same from
# the vault, by capback and by rdiff-backup, with the same records
same_sessions() {
	local v=${VDEST:-$T/vault} # (a push test's, without the link)
	diff <(cb list increments "$T/prim") <(cb list increments "$v")
	ts=$(cb --parsable-output list increments "$T/prim" | cut -d' ' -f1)
	for t in $ts; do
		rm -rf "$T/a" "$T/b"
		cb restore --at "$t" "$T/prim" "$T/a"
		cb restore --at "$t" "$v" "$T/b"
		assert_same_tree "$T/a" "$T/b"
		diff <(cb list files --at "$t" "$T/prim") <(cb list files --at "$t" "$v")
	done
	# rdiff-backup (slower) on the oldest, a middle and the newest
	for t in $(sed -n '1p;5p;$p' <<<"$ts" | sort -u); do
		rm -rf "$T/ra" "$T/rb"
		rdiff-backup --force restore --at "$t" "$T/prim" "$T/ra" >/dev/null 2>&1
		rdiff-backup --force restore --at "$t" "$v" "$T/rb" >/dev/null 2>&1
		assert_same_tree "$T/ra" "$T/rb"
	done
	diff <(metadata "$T/prim") <(metadata "$v")
}

@test "a 10-session history: every session restores the same from the vault, by capback and rdiff-backup; the same records and statistics" {
	sessions 0 9
	run cb replicate "$T/prim" "$T/vault"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"(10 of 10)"* ]]
	same_sessions
	run cb verify --all "$T/vault"
	[ "$status" -eq 0 ]
	# what each session changed is what the primary's changed: only
	# changed files were sent (their sizes as the primary counted them)
	for k in NewFiles DeletedFiles ChangedFiles ChangedSourceSize SourceFiles; do
		diff <(grep -h "^$k " "$T/prim"/rdiff-backup-data/session_statistics.*) \
		    <(grep -h "^$k " "$T/vault"/rdiff-backup-data/session_statistics.*)
	done
}

@test "later runs copy only the sessions the vault lacks; an up-to-date vault is left alone" {
	sessions 0 4
	cb replicate "$T/prim" "$T/vault"
	sessions 5 9
	run cb replicate --dry-run "$T/prim" "$T/vault"
	[ "$status" -eq 0 ]
	[ "$(grep -c 'would copy the session' <<<"$output")" -eq 5 ]
	[ "$(cb --parsable-output list increments "$T/vault" | wc -l)" -eq 5 ]
	run cb replicate "$T/prim" "$T/vault"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"(5 of 5)"* ]]
	same_sessions
	run cb replicate "$T/prim" "$T/vault"
	[ "$status" -eq 0 ]
	[[ "$output" == *"holds all 10 sessions"* ]]
}

@test "a vault that is not the primary's copy is refused, nothing written" {
	sessions 0 2
	cb --current-time 1700000050 backup "$T/src" "$T/other"
	run cb replicate "$T/prim" "$T/other"
	[ "$status" -eq 1 ]
	[[ "$output" == *"not a copy of it"* ]]
	[ "$(cb --parsable-output list increments "$T/other" | wc -l)" -eq 1 ]
	# a vault ahead of its primary
	cb replicate "$T/prim" "$T/vault"
	cb --current-time 1700009999 backup "$T/src" "$T/vault"
	run cb replicate "$T/prim" "$T/vault"
	[ "$status" -eq 1 ]
	[[ "$output" == *"does not have (yet)"* ]]
	run cb replicate "$T/prim" "$T/src"
	[ "$status" -eq 1 ]
	[[ "$output" == *"is not a backup repository"* ]]
}

@test "damage on the primary is not copied: the session fails, the vault's sessions stay as they were, and the next run completes" {
	sessions 0 1
	cb replicate "$T/prim" "$T/vault"
	for t in 1700000000 1700000100; do
		rm -rf "$T/b"
		cb restore --at "$t" "$T/vault" "$T/b"
		treesum "$T/b" >"$T/before.$t"
	done
	sessions 2 2
	# the primary's mirror copy of what session 2 changed, damaged in
	# place (same size): its record still has the true SHA-1
	printf 'X' | dd of="$T/prim/plain" bs=1 seek=0 conv=notrunc status=none
	run cb replicate "$T/prim" "$T/vault"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"does not have the SHA-1 the primary's metadata records"* ]]
	[[ "$output" == *"was not copied (0 of the 1 to copy were)"* ]]
	# the vault's finished sessions restore as before
	for t in 1700000000 1700000100; do
		rm -rf "$T/b"
		cb restore --at "$t" "$T/vault" "$T/b"
		treesum "$T/b" | diff "$T/before.$t" -
	done
	# repaired, the next run undoes the unfinished session and copies it
	printf 'h' | dd of="$T/prim/plain" bs=1 seek=0 conv=notrunc status=none
	run cb replicate "$T/prim" "$T/vault"
	echo "$output"
	[ "$status" -eq 0 ]
	same_sessions
}

@test "killed mid-way, the next run resumes at the session it reached" {
	CAPBACK_TEST_BIG=1 sessions 0 9
	cb replicate "$T/prim" "$T/vault" &
	pid=$!
	for _ in $(seq 400); do
		[ "$(cb --parsable-output list increments "$T/vault" 2>/dev/null | wc -l)" -ge 3 ] && break
		sleep 0.02
	done
	pkill -KILL -P "$pid" || true
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" || true
	n=$(cb --parsable-output list increments "$T/vault" 2>/dev/null | wc -l || true)
	echo "killed with $n sessions"
	run cb replicate "$T/prim" "$T/vault"
	echo "$output"
	[ "$status" -eq 0 ]
	same_sessions
}

# ssh_setup pull|push [FORCED-OPTION...]: the primary's account PRIM owns
# $T/prim, the vault's account VLT $T/vault.  pull: PRIM's key serves
# $T/prim through the read-only forced command (SSHCMD; VLT pulls).
# push: VLT's key takes sessions into $T/vault through the append-only
# one (VSSH; PRIM pushes).
ssh_setup() {
	local mode=$1 server client
	shift
	[ -x /usr/sbin/sshd ] || skip "openssh-server not installed"
	chmod 0755 "$T"
	new_user && PRIM=$NEW_USER
	new_user && VLT=$NEW_USER
	chown -R "$PRIM" "$T/prim"
	if [ "$mode" = pull ]; then
		mkdir -p "$T/vault" && chown "$VLT" "$T/vault"
		server=$PRIM client=$VLT
		set -- "$PRIM=$CAPBACK_BUILD/capback-writer --serve --read-only --restrict-path $T/prim"
	else
		# the vault's directory; its repository $VDEST is made in it
		# by the first push ($T/vault leads there, for the checks)
		mkdir -p "$T/vroot" && chown "$VLT" "$T/vroot"
		VDEST=$T/vroot/vault
		ln -s vroot/vault "$T/vault"
		server=$VLT client=$PRIM
		set -- "$VLT=$CAPBACK_BUILD/capback-writer --serve --append-only --restrict-path $T/vroot $*"
	fi
	usermod -s /bin/sh "$server"
	PORT=$((20000 + RANDOM % 20000))
	sh "$LIB/sshd-loopback.sh" start "$T/sshd" "$PORT" "$@"
	chown "$client" "$T/sshd/client_key"
	SSHCMD=$(sh "$LIB/sshd-loopback.sh" sshcmd "$T/sshd" "$server")
	VSSH=$SSHCMD
}

pull_setup() { ssh_setup pull; }
push_setup() { ssh_setup push "$@"; }

ssh_teardown() {
	[ -n "${T:-}" ] && [ -d "$T/sshd" ] && sh "$LIB/sshd-loopback.sh" stop "$T/sshd" || true
	[ -n "${PRIM:-}" ] && pkill -u "$PRIM" 2>/dev/null || true
	[ -n "${VLT:-}" ] && pkill -u "$VLT" 2>/dev/null || true
}


# over_ssh ACCOUNT SCHEMA PRIMARY VAULT: as ACCOUNT through SCHEMA, the
# primary's first 5 sessions, then the 5 more of its 10-session history
# (their changed files as deltas), each time every session the same in
# the vault
over_ssh() {
	for round in 1 2; do
		if [ "$round" = 2 ]; then
			chown -R root "$T/prim"
			sessions 5 9
			chown -R "$PRIM" "$T/prim"
		fi
		run run_as "$1" "$CAPBACK_BUILD/capback" --remote-schema "$2 {h}" \
		    replicate "$3" "$4"
		echo "$output"
		[ "$status" -eq 0 ]
		[[ "$output" == *"(5 of 5)"* ]]
		same_sessions
		[ "$(stat -c %U "$T/vault/rdiff-backup-data")" = "$VLT" ]
	done
}

@test "a vault pulls a 10-session history over ssh through a read-only forced command: the same sessions, only what changed sent" {
	sessions 0 4
	pull_setup
	over_ssh "$VLT" "$SSHCMD" "p@127.0.0.1::$T/prim" "$T/vault"
	ssh_teardown
}

@test "the pull key only reads: no other verb, no path outside its repository, no shell" {
	sessions 0 1
	pull_setup
	treesum "$T/prim" >"$T/before"
	for req in "capback-writer -- regress $T/prim" \
	    "capback-writer -- remove-older-than $T/prim" \
	    "capback-writer --force -- backup $T/prim" \
	    "capback-writer -- restore-source $T/prim" \
	    "capback-writer -- replica-source /etc" \
	    "capback-writer -- list-sessions $T/prim/../prim" \
	    "capback-writer --at 1B -- replica-source $T/prim/dir" \
	    "/bin/sh -c id" "capback-writer -- list-sessions $T/prim; id"; do
		run run_as "$VLT" sh "$LIB/sshd-loopback.sh" ssh "$T/sshd" "$PRIM" "$req" </dev/null
		echo "$req: $output"
		[ "$status" -ne 0 ]
		[[ "$output" != *"uid="* ]]
	done
	treesum "$T/prim" | diff "$T/before" -
	# what it may do, it does
	run run_as "$VLT" sh "$LIB/sshd-loopback.sh" ssh "$T/sshd" "$PRIM" "capback-writer -- list-sessions $T/prim" </dev/null
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | grep -cx '[0-9]*')" -eq 2 ]
	ssh_teardown
}

@test "a file the primary cannot send fails the session: it is not made, and never reported copied (review)" {
	sessions 0 2
	cb replicate "$T/prim" "$T/vault"
	sessions 3 3
	# the session-2 version of a file rebuilt from a damaged increment
	cp -a "$T/prim" "$T/prim.good"
	inc=$(ls "$T"/prim/rdiff-backup-data/increments/plain.*.diff.gz | head -1)
	printf 'garbage' | dd of="$inc" bs=1 seek=20 conv=notrunc status=none
	rm -rf "$T/vault" && mkdir "$T/vault"
	run cb replicate "$T/prim" "$T/vault"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"could not send"*"the session is not made"* ]]
	n=$(cb --parsable-output list increments "$T/vault" 2>/dev/null | wc -l || true)
	run cb replicate "$T/prim" "$T/vault"
	[ "$status" -eq 1 ]
	[ "$(cb --parsable-output list increments "$T/vault" 2>/dev/null | wc -l || true)" -eq "$n" ]
	# every session the vault holds is whole
	rm -rf "$T/prim" && mv "$T/prim.good" "$T/prim"
	run cb replicate "$T/prim" "$T/vault"
	[ "$status" -eq 0 ]
	same_sessions
}

@test "the primary removed old sessions: the vault keeps them and goes on (review)" {
	sessions 0 3
	cb replicate "$T/prim" "$T/vault"
	cb --force remove increments --older-than 1700000250 "$T/prim" 2>/dev/null
	sessions 4 5
	run cb replicate "$T/prim" "$T/vault"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"(2 of 2)"* ]]
	[ "$(cb --parsable-output list increments "$T/vault" | wc -l)" -eq 6 ]
	for t in 1700000300 1700000400 1700000500; do
		rm -rf "$T/a" "$T/b"
		cb restore --at "$t" "$T/prim" "$T/a"
		cb restore --at "$t" "$T/vault" "$T/b"
		assert_same_tree "$T/a" "$T/b"
	done
}

@test "the same session times in another repository are not a copy: the records decide (review)" {
	sessions 0 1
	mkdir -p "$T/elsewhere"
	echo secret >"$T/elsewhere/secret"
	cb --current-time 1700000000 backup "$T/elsewhere" "$T/other"
	run cb replicate "$T/prim" "$T/other"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"does not hold the records of"* ]]
	[ "$(cb --parsable-output list increments "$T/other" | wc -l)" -eq 1 ]
}

@test "an rdiff-backup primary whose hard link became another file of the same size and time: the vault gets the new content (review)" {
	mkdir -p "$T/rs"
	printf XXXXXXXXXX >"$T/rs/a"
	ln "$T/rs/a" "$T/rs/b"
	touch -d 2022-01-01 "$T/rs/a"
	rdiff-backup --current-time 1700000000 backup "$T/rs" "$T/prim" >/dev/null
	rm "$T/rs/b"
	printf YYYYYYYYYY >"$T/rs/b"
	touch -d 2022-01-01 "$T/rs/b" "$T/rs"
	rdiff-backup --current-time 1700000100 backup "$T/rs" "$T/prim" >/dev/null
	run cb replicate "$T/prim" "$T/vault"
	[ "$status" -eq 0 ]
	cb restore "$T/vault" "$T/out"
	[ "$(cat "$T/out/b")" = YYYYYYYYYY ]
	same_sessions
}

@test "a vault stopped in its first session starts over (review)" {
	sessions 0 0
	cb replicate "$T/prim" "$T/vault" &
	pid=$!
	for _ in $(seq 2000); do
		[ -e "$T/vault/rdiff-backup-data/capback-first-session" ] && break
		sleep 0.005
	done
	pkill -KILL -P "$pid" || true
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" || true
	run cb replicate "$T/prim" "$T/vault"
	echo "$output"
	[ "$status" -eq 0 ]
	same_sessions
}

@test "--check compares every common session and names one the primary changed after it was copied" {
	sessions 0 2
	cb replicate "$T/prim" "$T/vault"
	run cb replicate --check "$T/prim" "$T/vault"
	[ "$status" -eq 0 ]
	[[ "$output" == *"3 sessions in common checked, 0 differ"* ]]
	# the primary's newest record of plain, damaged after the copy
	snap=$(ls "$T"/prim/rdiff-backup-data/mirror_metadata.*.snapshot.gz)
	zcat "$snap" | awk '/^File plain$/ { p = 1 } p && /^  Permissions / { $0 = "  Permissions 511"; p = 0 } { print }' |
	    gzip >"$snap.new"
	mv "$snap.new" "$snap"
	run cb replicate --check "$T/prim" "$T/vault"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"the session 2023-11-14T22:16:40Z differs"* ]]
	[[ "$output" == *"3 sessions in common checked, "[1-3]" differ"* ]]
	# and it copies nothing: the vault is as it was
	[ "$(cb --parsable-output list increments "$T/vault" | wc -l)" -eq 3 ]
	run cb replicate --check "$T/prim" "$T/vault" --dry-run
	[ "$status" -eq 1 ]
}

# session_sums REPO: a manifest of every session of REPO as restored
session_sums() {
	for t in $(cb --parsable-output list increments "$1" | cut -d' ' -f1); do
		rm -rf "$T/ss"
		cb restore --at "$t" "$1" "$T/ss" >/dev/null 2>&1
		echo "== $t"
		treesum "$T/ss"
	done
}

# raw_push REPO AT REQUEST: what a taken-over primary can do with the
# vault's key: session AT of its own REPO streamed to REQUEST
raw_push() {
	coproc VPEER { sh "$LIB/sshd-loopback.sh" ssh "$T/sshd" "$VLT" "$3" 2>"$T/peer.err"; }
	peer=$VPEER_PID
	"$CAPBACK_BUILD/capback-writer" --at "$2" -- replica-source "$1" \
	    <&"${VPEER[0]}" >&"${VPEER[1]}" 2>/dev/null || true
	wait "$peer" || true
	grep -v 'chdir to home' "$T/peer.err"
}

@test "a primary pushes a 10-session history to an append-only vault over ssh: the same sessions, only what changed sent" {
	sessions 0 4
	push_setup
	over_ssh "$PRIM" "$VSSH" "$T/prim" "v@127.0.0.1::$VDEST"
	# checked both ways, from the push side too
	run run_as "$PRIM" "$CAPBACK_BUILD/capback" --remote-schema "$VSSH {h}" \
	    replicate --check "$T/prim" "v@127.0.0.1::$VDEST"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"10 sessions in common checked, 0 differ; 0 not copied yet"* ]]
	ssh_teardown
}

@test "a taken-over primary cannot remove, rewrite, go back, jump ahead or overfill through the append-only key: the vault's sessions hash the same" {
	sessions 0 2
	push_setup --max-skew 1h --quota 100M
	run run_as "$PRIM" "$CAPBACK_BUILD/capback" --remote-schema "$VSSH {h}" \
	    replicate "$T/prim" "v@127.0.0.1::$VDEST"
	echo "$output"
	[ "$status" -eq 0 ]
	session_sums "$T/vault" >"$T/before"
	[ "$(grep -c '^== ' "$T/before")" -eq 3 ]
	# (an empty directory the vault's account made: not a repository)
	mkdir "$T/vroot/empty" && chown "$VLT" "$T/vroot/empty"
	# verbs and options that change what is there
	for req in "capback-writer -- remove-older-than $VDEST" \
	    "capback-writer --at 1B -- remove-older-than $VDEST" \
	    "capback-writer -- regress $VDEST" \
	    "capback-writer --force --replica --current-time 1800000000 -- backup $VDEST" \
	    "capback-writer --current-time 1800000000 -- backup $VDEST" \
	    "capback-writer --replica -- backup $VDEST" \
	    "capback-writer -- restore-source $VDEST" \
	    "capback-writer -- replica-source $VDEST" \
	    "capback-writer --replica --current-time 1800000000 -- backup $VDEST/dir" \
	    "capback-writer --replica --current-time 1800000000 -- backup $T/vroot" \
	    "capback-writer --replica --current-time 1800000000 -- backup $T/vroot/empty" \
	    "capback-writer --replica --current-time 1800000000 -- backup /etc/vault" \
	    "capback-writer -- list-sessions $VDEST/../vault" \
	    "/bin/sh -c id" "capback-writer -- list-sessions $VDEST; id"; do
		run sh "$LIB/sshd-loopback.sh" ssh "$T/sshd" "$VLT" "$req" </dev/null
		echo "$req: $output"
		[ "$status" -ne 0 ]
		[[ "$output" == *"refusing"* || "$output" == *"inside the repository"* ]]
		[[ "$output" != *"uid="* ]]
	done
	# the taken-over primary's own repository, with the sessions it
	# would forge: the vault's newest again, an older one, one two days
	# ahead of the vault's clock, and one over the quota
	future=$(($(date +%s) + 2 * 86400))
	for t in 1700000200 1700000150 "$future"; do
		cb --current-time "$t" backup "$T/src" "$T/evil$t" >/dev/null
	done
	run raw_push "$T/evil1700000200" 1700000200 \
	    "capback-writer --replica --current-time 1700000200 -- backup $VDEST"
	echo "$output"
	[[ "$output" == *"is not later than the current mirror's"* ]]
	run raw_push "$T/evil1700000150" 1700000150 \
	    "capback-writer --replica --current-time 1700000150 -- backup $VDEST"
	echo "$output"
	[[ "$output" == *"is not later than the current mirror's"* ]]
	run raw_push "$T/evil$future" "$future" \
	    "capback-writer --replica --current-time $future -- backup $VDEST"
	echo "$output"
	[[ "$output" == *"later than this vault accepts"* ]]
	# a file of holes costs the vault nothing now, but its increment
	# writes them out: its size counts
	truncate -s 200M "$T/src/big"
	cb --current-time 1700000900 backup "$T/src" "$T/evil1700000900" >/dev/null
	run raw_push "$T/evil1700000900" 1700000900 \
	    "capback-writer --replica --current-time 1700000900 -- backup $VDEST"
	echo "$output"
	[[ "$output" == *"passes this vault's quota of 100.0 MiB a session at 'big'"* ]]
	# what the refused session left, the key may undo (and only that)
	run sh "$LIB/sshd-loopback.sh" ssh "$T/sshd" "$VLT" "capback-writer -- regress $VDEST" </dev/null
	echo "$output"
	[ "$status" -eq 2 ]
	session_sums "$T/vault" | diff "$T/before" -
	[ "$(cb --parsable-output list increments "$T/vault" | wc -l)" -eq 3 ]
	# a session that deletes everything is a new session: accepted, and
	# every earlier one still restores as it did
	rm -rf "$T/empty" && mkdir "$T/empty"
	cb --current-time 1700000950 backup "$T/empty" "$T/evil-empty" >/dev/null
	run raw_push "$T/evil-empty" 1700000950 \
	    "capback-writer --replica --current-time 1700000950 -- backup $VDEST"
	echo "$output"
	[ "$(cb --parsable-output list increments "$T/vault" | wc -l)" -eq 4 ]
	session_sums "$T/vault" | head -n "$(wc -l <"$T/before")" | diff "$T/before" -
	ssh_teardown
}

@test "a push cut off on either side (the vault's writer, the primary's run) resumes at the session it reached" {
	CAPBACK_TEST_BIG=1 sessions 0 9
	push_setup
	# kill_at N WHO: push through a remote schema that, once the vault's
	# writer of session N is caught in it (stopped before each look at
	# the vault's markers: a look then a kill could come after a short
	# session's end), kills it (vault) or the primary's run and its
	# roles (primary) with SIGKILL
	kill_at() {
		cat >"$T/cut.sh" <<EOF
#!/bin/bash
case "\$2" in *"'--current-time' '$((1700000000 + 100 * $1))'"*)
	$VSSH "\$1" "\$2" &
	end=\$((SECONDS + 120)) w=""
	while [ \$SECONDS -lt \$end ]; do
		[ -n "\$w" ] || w=\$(pgrep -u "$VLT" -x capback-writer) || true
		if [ -n "\$w" ] && kill -STOP \$w 2>/dev/null; then
			[ "\$(ls "$VDEST/rdiff-backup-data" | grep -c '^current_mirror\\.')" -eq 2 ] && break
			kill -CONT \$w
		fi
		sleep 0.005
	done
	if [ $2 = vault ]; then
		kill -KILL \$w
	else
		pkill -KILL -f "remote-schema bash $T/cut.sh"
		pkill -KILL -f "replica-source $T/prim"
		kill -CONT \$w
	fi
	wait
	exit 1 ;;
esac
exec $VSSH "\$1" "\$2"
EOF
		run "$CAPBACK_BUILD/capback" --remote-schema "bash $T/cut.sh {h}" \
		    replicate "$T/prim" "v@127.0.0.1::$VDEST"
		echo "$output"
	}
	kill_at 3 vault
	kill_at 6 primary
	n=$(cb --parsable-output list increments "$T/vault" 2>/dev/null | wc -l || true)
	echo "cut off with $n sessions"
	[ "$n" -eq 6 ]
	run run_as "$PRIM" "$CAPBACK_BUILD/capback" --remote-schema "$VSSH {h}" \
	    replicate "$T/prim" "v@127.0.0.1::$VDEST"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"of $((10 - n)))"* ]]
	same_sessions
	ssh_teardown
}

@test "capback run: the primary's run pushes after each backup (vault =), the vault's run pulls (replicate-from =) with its own retention and drill; report, status and metrics show the vault" {
	mkdir -p "$T/prim" "$T/web"
	echo one >"$T/web/a"
	push_setup
	chown -R "$PRIM" "$T/web"
	mkdir -p "$T/state" "$T/m"
	chown "$PRIM" "$T/state" "$T/m"
	cat >"$T/prim.conf" <<EOF
[global]
state-dir = $T/state
remote-schema = $VSSH {h}
metrics = $T/m/capback.prom
[host web1]
source = $T/web
repository = $T/prim
vault = v@127.0.0.1::$VDEST
EOF
	run run_as "$PRIM" "$CAPBACK_BUILD/capback" --current-time 1700000000 run --report "$T/prim.conf"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"vault: every session copied"* ]]
	echo two >"$T/web/b"
	run run_as "$PRIM" "$CAPBACK_BUILD/capback" --current-time 1700000100 run "$T/prim.conf"
	[ "$status" -eq 0 ]
	diff <(cb list increments "$T/prim") <(cb list increments "$T/vault")
	run run_as "$PRIM" "$CAPBACK_BUILD/capback" status "$T/prim.conf"
	echo "$output"
	[ "$status" -eq 1 ] # --current-time in the past: overdue
	[[ "$output" == *"vault v@127.0.0.1::$VDEST: ok, last complete copy 0m ago"* ]]
	run run_as "$PRIM" "$CAPBACK_BUILD/capback" status --json "$T/prim.conf"
	python3 -c 'import json,sys; d=json.load(sys.stdin); v=d["hosts"][0]["vault"]; assert v["last"]=="ok" and v["last_complete"]>0, v' <<<"$output"
	grep -q '^capback_host_vault_last_success_timestamp_seconds{host="web1"} ' "$T/m/capback.prom"
	if command -v promtool >/dev/null; then
		promtool check metrics <"$T/m/capback.prom"
	fi
	okt=$(grep -h '^capback_host_vault_last_success' "$T/m/capback.prom")
	# check asks the vault through the key, changing nothing
	run run_as "$PRIM" "$CAPBACK_BUILD/capback" check "$T/prim.conf"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"the vault answers (0 sessions to copy)"* ]]
	# the vault unreachable: the backup stands, the copy is a warning,
	# and status names it until a copy completes again
	sh "$LIB/sshd-loopback.sh" stop "$T/sshd"
	# check names the cause, not "see above" (new-user review)
	run run_as "$PRIM" "$CAPBACK_BUILD/capback" check "$T/prim.conf"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"PROBLEM: replicate $T/prim -> v@127.0.0.1::$VDEST: ssh: connect to host 127.0.0.1"*"Connection refused"* ]]
	echo three >"$T/web/c"
	run run_as "$PRIM" "$CAPBACK_BUILD/capback" --current-time 1700000200 run --report "$T/prim.conf"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"web1             OK"* ]]
	[[ "$output" == *"vault: COPY FAILED (the last complete copy: 20"* ]]
	[[ "$output" == *"the copy to the vault v@127.0.0.1::$VDEST failed"* ]]
	run run_as "$PRIM" "$CAPBACK_BUILD/capback" status "$T/prim.conf"
	[[ "$output" == *"vault v@127.0.0.1::$VDEST: failed, last complete copy"* ]]
	[ "$(grep -h '^capback_host_vault_last_success' "$T/m/capback.prom")" = "$okt" ]
	[ "$(cb --parsable-output list increments "$T/vault" | wc -l)" -eq 2 ]
	# the vault's own run: pulls (here from the primary's directory),
	# keeps its own retention, drills its copy
	mkdir -p "$T/vstate"
	cat >"$T/vault.conf" <<EOF
[global]
state-dir = $T/vstate
[host web1]
replicate-from = $T/prim
repository = $T/vault2
keep = 1B
drill = all
EOF
	run cb run --report "$T/vault.conf"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"oldest point proven restorable: 2023-11-14T22:15:00Z"* ]]
	[[ "$output" == *"retention: "* ]]
	[ "$(cb --parsable-output list increments "$T/vault2" | wc -l)" -eq 2 ]
	# a vault's host with backup options is refused before anything runs
	printf 'exclude = **/x\n' >>"$T/vault.conf"
	run cb run "$T/vault.conf"
	[ "$status" -eq 1 ]
	[[ "$output" == *"a vault's copy takes no backup option (--exclude)"* ]]
	ssh_teardown
}

@test "a hostile primary serving a pulling vault (floods, a huge hole, a forged digest, a deletion behind an unanswered file, lies in its session list) fails the copy; the vault's sessions hash the same, and the next honest run completes" {
	sessions 0 2
	cb replicate "$T/prim" "$T/vault" >/dev/null
	sessions 3 3
	session_sums "$T/vault" >"$T/before"
	# the primary's host answers its listings honestly and streams
	# SCENARIO instead of the session
	cat >"$T/evil.sh" <<EOF
#!/bin/sh
# remote schema: evil.sh SCENARIO N HOST COMMAND
case "\$4" in
*replica-source*) exec python3 $LIB/evilreader.py --stdio "\$1" "\$2" ;;
*) PATH=$CAPBACK_BUILD:\$PATH exec sh -c "\$4" ;;
esac
EOF
	for attack in "flood 20000|beyond the credit window" \
	    "hole-huge 0|more than a file holds" \
	    "forged-digest 0|does not have the SHA-1 the primary's metadata records" \
	    "delete-all 0|ended the session early" \
	    "xattr-entry 0|length exceeds limit"; do
		run timeout 300 "$CAPBACK_BUILD/capback" --remote-schema "sh $T/evil.sh ${attack%%|*} {h}" \
		    replicate "p@h::$T/prim" "$T/vault"
		echo "$attack: $output"
		[ "$status" -eq 1 ]
		[[ "$output" == *"${attack#*|}"* ]]
		[[ "$output" == *"was not copied (0 of the 1 to copy were)"* ]]
		session_sums "$T/vault" | diff "$T/before" -
	done
	# a session list that lies: out of order, not a time, a session the
	# vault has left out
	for lie in "printf '1700000100\n1700000000\n'" "printf 'x\n'" \
	    "printf '1700000000\n1700000200\n1700000300\n'"; do
		cat >"$T/liar.sh" <<EOF
#!/bin/sh
case "\$2" in
*list-sessions*$T/prim*) $lie ;;
*) PATH=$CAPBACK_BUILD:\$PATH exec sh -c "\$2" ;;
esac
EOF
		run "$CAPBACK_BUILD/capback" --remote-schema "sh $T/liar.sh {h}" \
		    replicate "p@h::$T/prim" "$T/vault"
		echo "$lie: $output"
		[ "$status" -eq 1 ]
		[[ "$output" == *"out of order"* || "$output" == *"as a session"* || "$output" == *"not a copy of it"* ]]
		session_sums "$T/vault" | diff "$T/before" -
	done
	run cb replicate "$T/prim" "$T/vault"
	[ "$status" -eq 0 ]
	same_sessions
}

@test "the vault's own retention, a copy stopped by SIGTERM, a primary with nothing in common, one repository twice, and --check of a vault behind (new-user review)" {
	sessions 0 3
	cb replicate "$T/prim" "$T/vault" >/dev/null
	# the vault keeps fewer sessions than the primary: copies go on
	cb --force remove increments --older-than 1B "$T/vault" >/dev/null
	[ "$(cb --parsable-output list increments "$T/vault" | wc -l)" -eq 2 ]
	sessions 4 5
	run cb replicate --check "$T/prim" "$T/vault"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"2 sessions in common checked, 0 differ; 2 not copied yet"* ]]
	run cb replicate "$T/prim" "$T/vault"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"(2 of 2)"* ]]
	[ "$(cb --parsable-output list increments "$T/vault" | wc -l)" -eq 4 ]
	# a copy stopped as run's timeout stops it: the next one undoes it.
	# The vault's writer is stopped before each look at its markers, so
	# a session seen unfinished stays so; a copy that ended between two
	# looks (CI saw a 20 MB session end in one) is tried again with the
	# primary's next session.
	caught=0
	for n in 6 7 8; do
		head -c 20000000 /dev/urandom >"$T/src/big$n"
		sessions "$n" "$n"
		"$CAPBACK_BUILD/capback" replicate "$T/prim" "$T/vault" >"$T/rep.out" 2>&1 &
		pid=$!
		end=$(($(date +%s) + 60))
		while [ "$(date +%s)" -lt "$end" ] && kill -0 "$pid" 2>/dev/null; do
			if pkill -STOP -f "capback-writer.*backup $T/vault"; then
				if [ "$(ls "$T/vault/rdiff-backup-data" | grep -c '^current_mirror\.')" -eq 2 ]; then
					caught=1
					break
				fi
				pkill -CONT -f "capback-writer.*backup $T/vault" || true
			fi
			sleep 0.01
		done
		[ "$caught" -eq 1 ] && break
		wait "$pid" || true
		echo "session $n: the copy was not caught in its session:" >&2
		cat "$T/rep.out" >&2
	done
	[ "$caught" -eq 1 ]
	kill -TERM "$pid"
	pkill -KILL -f "capback-writer.*backup $T/vault" || true
	wait "$pid" || true
	[ "$(ls "$T/vault/rdiff-backup-data" | grep -c '^current_mirror\.')" -eq 2 ]
	run cb replicate "$T/prim" "$T/vault"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"undoing the unfinished one"* ]]
	run cb replicate --check "$T/prim" "$T/vault"
	[[ "$output" == *"differ; 0 not copied yet"* ]]
	[ "$status" -eq 0 ]
	nv=$(cb --parsable-output list increments "$T/vault" | wc -l)
	[ "$nv" -eq $((n - 1)) ]
	# another host's repository, whose sessions are all newer than the
	# vault's: nothing proves it is the same history
	cb --current-time 1800000000 backup "$T/src" "$T/other" >/dev/null
	run cb replicate "$T/other" "$T/vault"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"have no session in common"*"--force copies anyway"* ]]
	[ "$(cb --parsable-output list increments "$T/vault" | wc -l)" -eq "$nv" ]
	run cb replicate "$T/prim" "$T/prim"
	[ "$status" -eq 1 ]
	[[ "$output" == *"are one repository"* ]]
	run cb replicate --check --dry-run "$T/prim" "$T/vault"
	[ "$status" -ne 0 ]
}

@test "a peer that never says hello holds the repository's lock no longer than --hello-timeout, on the append-only key and on the read-only one" {
	sessions 0 1
	push_setup --hello-timeout 8s
	run run_as "$PRIM" "$CAPBACK_BUILD/capback" --remote-schema "$VSSH {h}" \
	    replicate "$T/prim" "v@127.0.0.1::$VDEST"
	[ "$status" -eq 0 ]
	# a taken-over primary opens a session on its repository and is
	# silent: the writer holds the lock, then gives up (and its ssh
	# session ends long before the silence does)
	sleep 120 | sh "$LIB/sshd-loopback.sh" ssh "$T/sshd" "$VLT" \
	    "capback-writer --replica --current-time $(date +%s) -- backup $VDEST" >/dev/null 2>&1 &
	silent=$!
	wait_until 60 pgrep -u "$VLT" -x capback-writer
	wait_until 60 blocked_reading "$(pgrep -u "$VLT" -x capback-writer)" 0
	run cb --wait=0 --force remove increments --older-than 1B "$T/vault"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"in use"* ]]
	wait_until 60 gone "$silent"
	! pgrep -u "$VLT" -x capback-writer || false
	run cb --wait=0 list increments "$T/vault"
	[ "$status" -eq 0 ]
	[ "$(cb --parsable-output list increments "$T/vault" | wc -l)" -eq 2 ]
	kill "$silent" 2>/dev/null || true
	ssh_teardown
	# the same on the primary's read-only key: a silent vault does not
	# keep the primary's backups out
	rm -rf "$T/sshd"
	chown -R root "$T/prim"
	sh "$LIB/sshd-loopback.sh" start "$T/sshd" "$PORT" \
	    "$PRIM=$CAPBACK_BUILD/capback-writer --serve --read-only --restrict-path $T/prim --hello-timeout 2s"
	chown -R "$PRIM" "$T/prim"
	sleep 120 | sh "$LIB/sshd-loopback.sh" ssh "$T/sshd" "$PRIM" \
	    "capback-writer --at 1700000000 -- replica-source $T/prim" >/dev/null 2>&1 &
	silent=$!
	wait_until 60 gone "$silent"
	! pgrep -u "$PRIM" -x capback-writer || false
	chown -R root "$T/prim"
	run cb --wait=0 --current-time 1700000500 backup "$T/src" "$T/prim"
	echo "$output"
	[ "$status" -eq 0 ]
	kill "$silent" 2>/dev/null || true
}
