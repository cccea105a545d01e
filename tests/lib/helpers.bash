# Shared setup for capback's bats tests.  Source from each .bats file.

CAPBACK_BUILD=${CAPBACK_BUILD:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)/build}
CAPBACK_SRC=${CAPBACK_SRC:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}
LIB="$CAPBACK_SRC/tests/lib"
export LC_ALL=C

cb() {
	"$CAPBACK_BUILD/capback" "$@"
}

# A fresh scratch directory per test, readable by test users.
setup_scratch() {
	T=$(mktemp -d "${TMPDIR:-/tmp}/capback-test.XXXXXX")
	chmod 0755 "$T"
	CREATED_USERS=""
	MOUNTS=""
}

teardown_scratch() {
	local u m
	for m in $MOUNTS; do umount -l "$m" 2>/dev/null || true; done
	for u in $CREATED_USERS; do userdel "$u" 2>/dev/null || true; done
	[ -n "${T:-}" ] && rm -rf "$T"
}

need_root() {
	[ "$(id -u)" -eq 0 ] || skip "needs root"
}

# new_user: create a throw-away system user, named in $NEW_USER; it is
# removed in teardown (so never call this in a subshell).
new_user() {
	NEW_USER="cbt$$_${BATS_TEST_NUMBER}_$RANDOM"
	NEW_USER=${NEW_USER:0:31}
	useradd -M -N -g nogroup -s /usr/sbin/nologin "$NEW_USER" >/dev/null
	CREATED_USERS="$CREATED_USERS $NEW_USER"
}

# refute CMD...: fails when CMD succeeds (a bare "! cmd" never fails a
# bats test).
refute() {
	if "$@"; then
		echo "unexpectedly succeeded: $*" >&2
		return 1
	fi
}

run_as() {
	local u=$1
	shift
	setpriv --reuid "$u" --regid nogroup --init-groups -- "$@"
}

# unescape_names <OUTPUT: capback's output with the names as rdiff-backup
# prints them, raw: capback shows a name's control characters, non-UTF-8
# bytes and '\' as \xNN (log_name), so each \xNN is one byte again.
unescape_names() {
	python3 -c 'import re, sys; sys.stdout.buffer.write(re.sub(
	    rb"\\x([0-9a-f]{2})", lambda m: bytes([int(m.group(1), 16)]),
	    sys.stdin.buffer.read()))'
}

treesum() {
	python3 "$LIB/treesum.py" "$@"
}

# assert_same_tree A B [treesum options]: exact manifest equality.
assert_same_tree() {
	local a=$1 b=$2
	shift 2
	treesum "$@" "$a" >"$T/sum.a"
	treesum "$@" "$b" >"$T/sum.b"
	if ! diff -u "$T/sum.a" "$T/sum.b"; then
		echo "trees differ: $a $b" >&2
		return 1
	fi
}

# The current mirror metadata as text.
metadata() {
	zcat -f "$1"/rdiff-backup-data/mirror_metadata.*.snapshot*
}

# Record for one path from the metadata (up to the next "File" line).
record() {
	metadata "$1" | P="File $2" awk '$0 == ENVIRON["P"] { on = 1; print; next }
	    /^File / { on = 0 } on'
}

stat_value() { # stat_value REPO KEY
	grep "^$2 " "$1"/rdiff-backup-data/session_statistics.*.data |
	    tail -1 | awk '{ print $2 }'
}

# assert_backs_up_root_only_as USER CAPBACK: USER, running CAPBACK, backs
# up a 0600 file in a 0700 root-owned directory and gets its content.
assert_backs_up_root_only_as() {
	local u=$1 bin=$2
	mkdir -p "$T/src/private" "$T/repo"
	echo secret >"$T/src/private/key"
	chmod 0700 "$T/src/private"
	chmod 0600 "$T/src/private/key"
	chown "$u" "$T/repo"
	run run_as "$u" "$bin" backup "$T/src" "$T/repo/r"
	echo "$output"
	[ "$status" -eq 0 ] || return 1
	[ "$(cat "$T/repo/r/private/key")" = secret ] || return 1
}

# wait_until SECS CMD...: run CMD until it succeeds, for up to SECS
# seconds (a deadline, not a count of tries: under valgrind or a loaded
# CI a role starts many times slower); says what never held.
wait_until() {
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		if [ "$SECONDS" -ge "$end" ]; then
			echo "wait_until: '$*' did not hold" >&2
			return 1
		fi
		sleep 0.05
	done
}

# blocked_reading PID FD: PID sits in read(2) on FD (/proc/PID/syscall)
blocked_reading() {
	local nr fd rest
	read -r nr fd rest <"/proc/$1/syscall" 2>/dev/null || return 1
	[ "$nr" = 0 ] && [ "$((fd))" -eq "$2" ]
}

# gone PID: PID is no more
gone() {
	! kill -0 "$1" 2>/dev/null
}

# stop_in_session REPO BG PIDCMD [GLOB]: stop the process PIDCMD prints
# (a backup's writer; BG the backup, which must still run) before each
# look at REPO's markers, until it is caught between its marker (with its
# content, "PID N": made empty first, which rdiff-backup takes for no
# session) and its end, and a path matching GLOB exists; it stays stopped,
# its PID in HELD_PID.  Stopping first: a look then a stop once missed a
# short session.  Fails after 120 s, or when BG ended.
stop_in_session() {
	local data=$1/rdiff-backup-data end=$((SECONDS + 120)) p="" newest
	HELD_PID=""
	while [ "$SECONDS" -lt "$end" ] && kill -0 "$2" 2>/dev/null; do
		# (found once: pgrep takes longer than a short session's
		# window between two stops)
		[ -n "$p" ] || p=$($3) || true
		if [ -n "$p" ] && kill -STOP "$p" 2>/dev/null; then
			if [ "$(ls "$data" | grep -c '^current_mirror\.')" -eq 2 ]; then
				newest=$(ls "$data" | grep '^current_mirror\.' | sort | tail -1)
				if [ -s "$data/$newest" ] &&
				    { [ -z "${4:-}" ] || compgen -G "$4" >/dev/null; }; then
					HELD_PID=$p
					return 0
				fi
			fi
			kill -CONT "$p"
		fi
		sleep 0.005
	done
	echo "the session was not caught between its marker and its end" >&2
	return 1
}
