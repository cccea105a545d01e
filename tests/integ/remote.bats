#!/usr/bin/env bats
# Pull backups over a real OpenSSH server on 127.0.0.1: the target's agent
# account runs capback-reader as a forced command holding only
# CAP_DAC_READ_SEARCH (file capability +p on a binary only its group may
# run); the backup server's writer is an ordinary user.

load ../lib/helpers

setup() {
	need_root
	[ -x /usr/sbin/sshd ] || skip "openssh-server not installed"
	command -v setcap >/dev/null || skip "setcap not installed"
	setup_scratch
	chmod 0755 "$T"
	new_user && AGENT=$NEW_USER
	usermod -s /bin/sh "$AGENT"
	new_user && SERVER=$NEW_USER
	usermod -s /bin/sh "$SERVER"
	# restores onto the target go through another key and forced command
	new_user && RESTORER=$NEW_USER
	usermod -s /bin/sh "$RESTORER"
	mkdir -p "$T/restore"
	chown "$RESTORER" "$T/restore"
	GROUP="cbg$$_${BATS_TEST_NUMBER}"
	groupadd "$GROUP"
	CREATED_GROUPS="$GROUP"
	usermod -a -G "$GROUP" "$AGENT"
	# the agent binary: group-only, capability +p
	mkdir -p "$T/agent"
	cp "$CAPBACK_BUILD/capback-reader" "$T/agent/"
	chgrp "$GROUP" "$T/agent/capback-reader"
	chmod 0750 "$T/agent/capback-reader"
	setcap cap_dac_read_search+p "$T/agent/capback-reader"
	mkdir -p "$T/agent/plain" # no file capability: started as root
	cp "$CAPBACK_BUILD/capback-reader" "$T/agent/plain/"
	# what the target holds, much of it root-only
	mkdir -p "$T/target/data/private" "$T/target/other"
	echo public >"$T/target/data/public"
	echo secret >"$T/target/data/private/secret"
	chmod 0700 "$T/target/data/private"
	chmod 0600 "$T/target/data/private/secret"
	echo 'root:$y$hash:19000:0:99999:7:::' >"$T/target/data/shadow"
	chmod 0640 "$T/target/data/shadow"
	chgrp shadow "$T/target/data/shadow"
	echo outside >"$T/target/other/file"
	ln -s ../other "$T/target/data/escape"
	touch -d @1690000000 "$T/target/data"/* "$T/target/data"
	# the backup server's side
	mkdir -p "$T/server"
	chown "$SERVER" "$T/server"
	PORT=$((20000 + RANDOM % 20000))
	# pam_cap grants the agent account CAP_DAC_READ_SEARCH as inheritable
	# (used with a "+i" binary; a "+p" binary does not need it)
	SSHD_CAPS="cap_dac_read_search $AGENT" \
	    sh "$LIB/sshd-loopback.sh" start "$T/sshd" "$PORT" \
	    "$AGENT=$T/agent/capback-reader --serve --restrict-path $T/target" \
	    "$SERVER" \
	    "root=$T/agent/plain/capback-reader --serve --user $AGENT --restrict-path $T/target" \
	    "$RESTORER=$CAPBACK_BUILD/capback-restorer --serve --restrict-path $T/restore"
	chown "$SERVER" "$T/sshd/client_key"
	SSHCMD=$(sh "$LIB/sshd-loopback.sh" sshcmd "$T/sshd" "$AGENT")
	RSTCMD=$(sh "$LIB/sshd-loopback.sh" sshcmd "$T/sshd" "$RESTORER")
	# the backup server's account, reached by root for remote restores
	SRVCMD="$(sh "$LIB/sshd-loopback.sh" sshcmd "$T/sshd" "$SERVER") {h} env PATH=$CAPBACK_BUILD:/usr/bin:/bin"
}

teardown() {
	[ -n "${T:-}" ] && sh "$LIB/sshd-loopback.sh" stop "$T/sshd" || true
	pkill -u "$AGENT" 2>/dev/null || true
	for g in ${CREATED_GROUPS:-}; do groupdel "$g" 2>/dev/null || true; done
	teardown_scratch
}

# agent_status SCHEMA: pull a backup through SCHEMA and catch the running
# agent's /proc/<pid>/status in $status_text (the source holds a big file,
# so the agent is still streaming when it is read).
agent_status() {
	as_server --remote-schema "$1" backup \
	    "x@127.0.0.1::$T/target/data" "$T/server/repo" &
	job=$!
	pid=""
	# (up to 30 s: under valgrind the local roles start slowly)
	for _ in $(seq 1 1500); do
		pid=$(pgrep -u "$AGENT" -x capback-reader | head -1)
		[ -n "$pid" ] && break
		sleep 0.02
	done
	[ -n "$pid" ]
	# past its start-up: once it holds the big file open (a fixed 0.3 s
	# could be before its sandbox, or after its end)
	wait_until 120 holds_big "$pid" || true
	kill -STOP "$pid" 2>/dev/null || true
	status_text=$(cat "/proc/$pid/status")
	kill -CONT "$pid" 2>/dev/null || true
	wait "$job"
}

# holds_big PID: PID has the source's big file open, or has ended
holds_big() {
	[ -d "/proc/$1" ] || return 0
	ls -l "/proc/$1/fd" 2>/dev/null | grep -q -- "-> $T/target/data/big\$"
}

as_server() {
	run_as "$SERVER" env HOME="$T/server" "$CAPBACK_BUILD/capback" "$@"
}

@test "pull: a non-root server backs up root-only files through the agent key" {
	run as_server --remote-schema "$SSHCMD {h}" --current-time 1700000000 \
	    backup "x@127.0.0.1::$T/target/data" "$T/server/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	# the server holds the data as an ordinary user's files
	[ "$(stat -c %U "$T/server/repo/private/secret")" = "$SERVER" ]
	record "$T/server/repo" private/secret | grep -qx '  Uid 0'
	# root restores it exactly, and rdiff-backup agrees
	run cb restore "$T/server/repo" "$T/out"
	[ "$status" -eq 0 ]
	assert_same_tree "$T/target/data" "$T/out"
	run rdiff-backup verify "$T/server/repo"
	[ "$status" -eq 0 ]
	# an incremental over the same link
	echo more >>"$T/target/data/private/secret"
	touch -d @1690000100 "$T/target/data/private/secret"
	run as_server --remote-schema "$SSHCMD {h}" --current-time 1700000100 \
	    backup "x@127.0.0.1::$T/target/data" "$T/server/repo"
	[ "$status" -eq 0 ]
	rm -rf "$T/out"
	run cb restore "$T/server/repo" "$T/out"
	assert_same_tree "$T/target/data" "$T/out"
}

@test "the running agent holds CAP_DAC_READ_SEARCH only, with no_new_privs" {
	head -c 300000000 /dev/urandom >"$T/target/data/big" 2>/dev/null ||
		head -c 100000000 /dev/zero >"$T/target/data/big"
	agent_status "$SSHCMD {h}"
	echo "$status_text" | grep -E 'Cap|NoNewPrivs|Uid'
	echo "$status_text" | grep -qx 'CapEff:	0000000000000004'
	echo "$status_text" | grep -qx 'CapPrm:	0000000000000004'
	echo "$status_text" | grep -qx 'CapAmb:	0000000000000000'
	echo "$status_text" | grep -qx 'NoNewPrivs:	1'
	echo "$status_text" | grep -q "^Uid:	$(id -u "$AGENT")	"
	# confined: a seccomp filter (skipped by builds without the sandbox)
	grep -q 'no sandbox in this build' < <("$CAPBACK_BUILD/capback-reader" \
	    --sandbox-test /nonexistent:1 -- / 2>&1) ||
		echo "$status_text" | grep -qx 'Seccomp:	2'
}

@test "a hostile client gets nothing outside the restrict path, and no shell" {
	ssh_agent() {
		run_as "$SERVER" $SSHCMD 127.0.0.1 "$@" </dev/null
	}
	run ssh_agent "cat /etc/shadow"
	[ "$status" -ne 0 ]
	[[ "$output" == *"not a capback-reader command"* ]]
	run ssh_agent "capback-reader -- /etc"
	[ "$status" -ne 0 ]
	[[ "$output" == *"outside the restrict path"* ]]
	run ssh_agent "capback-reader -- $T/target/data/../other"
	[[ "$output" == *"'..' are not allowed"* ]]
	run ssh_agent "capback-reader -- $T/target/data/escape"
	[ "$status" -ne 0 ]
	[[ "$output" == *"symlink"* ]]
	run ssh_agent "capback-reader -- '$T/target/data'; id"
	[[ "$output" == *"outside quotes"* ]]
	run ssh_agent "capback-reader -- \$(id)"
	[[ "$output" == *"outside quotes"* ]]
	run ssh_agent "capback-reader --restrict-path / -- /etc"
	[[ "$output" == *"option not allowed"* ]]
	run ssh_agent "capback-reader --select include-filelist=/etc/shadow -- $T/target"
	[[ "$output" == *"filelists are read on the client side"* ]]
	# and the agent key gets no terminal, no forwarding
	run run_as "$SERVER" $SSHCMD -tt 127.0.0.1 </dev/null
	[ "$status" -ne 0 ]
	# the symlink inside the tree is backed up as a symlink, not followed
	run as_server --remote-schema "$SSHCMD {h}" backup "x@127.0.0.1::$T/target/data" "$T/server/repo"
	[ "$status" -eq 0 ]
	[ -L "$T/server/repo/escape" ]
	[ ! -e "$T/server/repo/escape/file" ] || [ -L "$T/server/repo/escape" ]
}

@test "errors name the problem: unreachable host, refused key, remote syntax" {
	run as_server --remote-schema "ssh -o BatchMode=yes -o ConnectTimeout=3 -p 1 {h}" \
	    backup "x@127.0.0.1::$T/target/data" "$T/server/repo"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"Connection refused"* ]]
	[ ! -e "$T/server/repo" ]
	run as_server --remote-schema "ssh -F none -p $PORT -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null {h}" \
	    backup "nobody@127.0.0.1::$T/target/data" "$T/server/repo"
	[ "$status" -eq 1 ]
	[[ "$output" == *"Permission denied"* ]]
	run cb backup "::$T/target/data" "$T/repo"
	[ "$status" -eq 1 ]
	[[ "$output" == *"[user@]host::/path"* ]]
	run cb --remote-schema "ssh" backup "h::$T/target/data" "$T/repo"
	[ "$status" -eq 1 ]
	[[ "$output" == *"{h}"* ]]
	# an account that cannot run commands, or a host without capback
	usermod -s /usr/sbin/nologin "$SERVER"
	run cb --remote-schema "$SRVCMD" list increments "s@127.0.0.1::$T/server"
	echo "$output"
	[[ "$output" == *"sent text, not capback's HELLO"*"not available"* ]] ||
	[[ "$output" == *"not available"* ]]
	usermod -s /bin/sh "$SERVER"
	run cb --remote-schema "${SRVCMD% env *}" restore "s@127.0.0.1::$T/server/repo" "$T/o"
	[ "$status" -eq 1 ]
	[[ "$output" == *"capback-writer: not found"* ]]
	[ ! -e "$T/o" ]
	# an agent of an older capback: its HELLO names it
	cat >"$T/oldagent.py" <<'PY'
import struct, sys, time
sw = b"capback-reader 0.0.1"
p = struct.pack(">IHBI", 0x43424B31, 1, 1, 0) + struct.pack(">I", len(sw)) + sw
sys.stdout.buffer.write(struct.pack(">IB", len(p), 1) + p)
sys.stdout.flush()
time.sleep(2)
PY
	run cb --remote-schema "python3 $T/oldagent.py {h}" backup "x@h::$T/target/data" "$T/repo-old"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"the reader speaks protocol 1, this program 3 (capback-reader 0.0.1)"* ]]
	[[ "$output" == *"install the same capback version on both sides"* ]]
	[ ! -e "$T/repo-old" ]
}

@test "restore, list and verify a repository that lives on another host" {
	run as_server --remote-schema "$SSHCMD {h}" --current-time 1700000000 \
	    backup "x@127.0.0.1::$T/target/data" "$T/server/repo"
	[ "$status" -eq 0 ]
	echo changed >"$T/target/data/public"
	run as_server --remote-schema "$SSHCMD {h}" --current-time 1700000100 \
	    backup "x@127.0.0.1::$T/target/data" "$T/server/repo"
	[ "$status" -eq 0 ]
	run cb --remote-schema "$SRVCMD" restore "s@127.0.0.1::$T/server/repo" "$T/out"
	echo "$output"
	[ "$status" -eq 0 ]
	assert_same_tree "$T/target/data" "$T/out"
	run cb --remote-schema "$SRVCMD" restore --at 1B "s@127.0.0.1::$T/server/repo/public" "$T/old-public"
	[ "$status" -eq 0 ]
	[ "$(cat "$T/old-public")" = public ]
	run cb --remote-schema "$SRVCMD" restore "s@127.0.0.1::$T/server/repo/private" "$T/priv"
	[ "$status" -eq 0 ]
	[ "$(cat "$T/priv/secret")" = secret ]
	[ "$(stat -c %U:%a "$T/priv/secret")" = root:600 ]
	diff <(cb --remote-schema "$SRVCMD" list increments "s@127.0.0.1::$T/server/repo") \
	    <(cb list increments "$T/server/repo")
	diff <(cb --remote-schema "$SRVCMD" list files --at 1B "s@127.0.0.1::$T/server/repo/private") \
	    <(cb list files --at 1B "$T/server/repo/private")
	run cb --remote-schema "$SRVCMD" verify "s@127.0.0.1::$T/server/repo"
	[ "$status" -eq 0 ]
	[[ "$output" == *"verified successfully"* ]]
	# a selection reaches the remote writer, a filelist inline
	printf '%s\n' "$T/sel/private/secret" >"$T/list"
	run cb --remote-schema "$SRVCMD" restore --include-filelist "$T/list" --exclude '**' \
	    "s@127.0.0.1::$T/server/repo" "$T/sel"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(cd "$T/sel" && find . -mindepth 1 | LC_ALL=C sort | tr '\n' ' ')" = "./private ./private/secret " ]
}

@test "pam_cap: an inheritable capability and a +i binary read root-only files" {
	setcap cap_dac_read_search+i "$T/agent/capback-reader"
	run as_server --remote-schema "$SSHCMD {h}" backup "x@127.0.0.1::$T/target/data" "$T/server/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	run cb restore "$T/server/repo" "$T/out"
	assert_same_tree "$T/target/data" "$T/out"
	# without the capability line the same binary reads only what the
	# account may: the private files are reported and skipped (exit 4)
	sed -i "/^cap_dac_read_search/d" "$T/sshd/capability.conf"
	run as_server --remote-schema "$SSHCMD {h}" backup "x@127.0.0.1::$T/target/data" "$T/server/repo2"
	echo "$output"
	[ "$status" -eq 4 ]
	[[ "$output" == *"running without CAP_DAC_READ_SEARCH"* ]]
	[[ "$output" == *"private"*"Permission denied"* ]]
}

@test "started as root, the agent drops to the backup user and one capability" {
	ROOTCMD=$(sh "$LIB/sshd-loopback.sh" sshcmd "$T/sshd" root)
	head -c 200000000 /dev/zero >"$T/target/data/big"
	agent_status "$ROOTCMD {h}"
	echo "$status_text" | grep -E 'Cap|NoNewPrivs|Uid|Gid|Groups'
	echo "$status_text" | grep -q "^Uid:	$(id -u "$AGENT")	$(id -u "$AGENT")	$(id -u "$AGENT")	$(id -u "$AGENT")"
	echo "$status_text" | grep -qx 'CapEff:	0000000000000004'
	echo "$status_text" | grep -qx 'CapPrm:	0000000000000004'
	echo "$status_text" | grep -qx 'CapBnd:	0000000000000000'
	echo "$status_text" | grep -qx 'NoNewPrivs:	1'
	run cb restore "$T/server/repo" "$T/out"
	assert_same_tree "$T/target/data" "$T/out"
	# a client cannot ask for another user
	run run_as "$SERVER" $ROOTCMD 127.0.0.1 "capback-reader --user root -- $T/target" </dev/null
	[[ "$output" == *"option not allowed"* ]]
}

@test "push: a local tree backed up into a repository on another host" {
	run cb --remote-schema "$SRVCMD" --current-time 1700000000 backup "$T/target/data" "s@127.0.0.1::$T/server/pushed"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(stat -c %U "$T/server/pushed")" = "$SERVER" ]
	echo again >>"$T/target/data/public"
	touch -d @1690000200 "$T/target/data/public"
	run cb --remote-schema "$SRVCMD" --current-time 1700000100 backup "$T/target/data" "s@127.0.0.1::$T/server/pushed"
	[ "$status" -eq 0 ]
	run cb restore "$T/server/pushed" "$T/out"
	[ "$status" -eq 0 ]
	assert_same_tree "$T/target/data" "$T/out"
	run rdiff-backup verify --at 1700000000 "$T/server/pushed"
	[ "$status" -eq 0 ]
}

@test "pull: a changed big file crosses as a delta; a hostile server gets nothing more" {
	head -c 3000000 /dev/urandom >"$T/target/data/big"
	touch -d @1690000000 "$T/target/data/big"
	run as_server --remote-schema "$SSHCMD {h}" --current-time 1700000000 \
	    backup "x@127.0.0.1::$T/target/data" "$T/server/repo"
	[ "$status" -eq 0 ]
	printf 'changed' | dd of="$T/target/data/big" bs=1 seek=1500000 conv=notrunc 2>/dev/null
	touch -d @1690000100 "$T/target/data/big"
	run as_server -v 4 --remote-schema "$SSHCMD {h}" --current-time 1700000100 \
	    backup "x@127.0.0.1::$T/target/data" "$T/server/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"transferred 0 files whole (0 bytes) and 1 by delta"* ]]
	dbytes=$(sed -nE 's/.* by delta \(([0-9]+) bytes for 3000000;.*/\1/p' <<<"$output")
	[ "$dbytes" -lt 20000 ]
	cmp "$T/target/data/big" "$T/server/repo/big"
	# the forced command's reader, attacked by a malicious server
	evil() {
		run_as "$SERVER" timeout 60 python3 "$LIB/evilpeer.py" "$@" -- \
		    $SSHCMD 127.0.0.1 "capback-reader -- $T/target/data"
	}
	run evil want escape
	echo "$output"
	[[ "$output" == *"which is not a pending file"* ]]
	[[ "$output" == *"data 0"* ]]
	run evil sig-bad big
	echo "$output"
	[[ "$output" == *"bad signature for 'big'"* ]]
	[[ "$output" == *"data 0"* ]]
	run evil frame-huge
	[[ "$output" == *"length exceeds limit"* ]]
}

@test "restore onto the host through the restorer's own key, only beneath its path" {
	run as_server --remote-schema "$SSHCMD {h}" --current-time 1700000000 \
	    backup "x@127.0.0.1::$T/target/data" "$T/server/repo"
	[ "$status" -eq 0 ]
	run as_server --remote-schema "$RSTCMD {h}" restore "$T/server/repo" "r@127.0.0.1::$T/restore/out"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(cat "$T/restore/out/private/secret")" = secret ]
	[ "$(cat "$T/restore/out/public")" = public ]
	[ -L "$T/restore/out/escape" ]
	[ "$(stat -c %U "$T/restore/out/public")" = "$RESTORER" ] # no CAP_CHOWN
	# a single file, and --force over the earlier restore
	run as_server --remote-schema "$RSTCMD {h}" restore "$T/server/repo/public" "r@127.0.0.1::$T/restore/pub"
	[ "$status" -eq 0 ]
	[ "$(cat "$T/restore/pub")" = public ]
	run as_server --remote-schema "$RSTCMD {h}" restore "$T/server/repo" "r@127.0.0.1::$T/restore/out"
	[ "$status" -eq 1 ]
	[[ "$output" == *"not empty"* ]]
	echo extra >"$T/restore/out/extra"
	chown "$RESTORER" "$T/restore/out/extra"
	run as_server --remote-schema "$RSTCMD {h}" restore --force "$T/server/repo" "r@127.0.0.1::$T/restore/out"
	echo "$output"
	[ "$status" -eq 2 ] # a warning: it held something
	[[ "$output" == *"was not empty: --force made it the session"* ]]
	[[ "$output" == *"removed 1 name in out that the backup does not hold"* ]]
	[ ! -e "$T/restore/out/extra" ]
	# nothing outside the restrict path, not through "..", not through a symlink
	run as_server --remote-schema "$RSTCMD {h}" restore "$T/server/repo" "r@127.0.0.1::$T/target/new"
	[ "$status" -eq 1 ]
	[[ "$output" == *"outside the restrict path"* ]]
	run as_server --remote-schema "$RSTCMD {h}" restore "$T/server/repo" "r@127.0.0.1::$T/restore/../target/new"
	[[ "$output" == *"'..' are not allowed"* ]]
	ln -s "$T/target" "$T/restore/link"
	run as_server --remote-schema "$RSTCMD {h}" restore "$T/server/repo" "r@127.0.0.1::$T/restore/link/new"
	[ "$status" -eq 1 ]
	[[ "$output" == *"through a symlink"* ]]
	[ ! -e "$T/target/new" ]
	# each key does its own job only
	run run_as "$SERVER" $RSTCMD 127.0.0.1 "capback-reader -- $T/restore" </dev/null
	[[ "$output" == *"not a capback-restorer command"* ]]
	run run_as "$SERVER" $RSTCMD 127.0.0.1 "capback-restorer --serve --restrict-path / -- /etc/x" </dev/null
	[[ "$output" == *"option not allowed"* ]]
	run run_as "$SERVER" $SSHCMD 127.0.0.1 "capback-restorer -- $T/target/x" </dev/null
	[[ "$output" == *"not a capback-reader command"* ]]
	[ ! -e "$T/target/x" ]
}

@test "compare a remote source with the server's repository, every method" {
	run as_server --remote-schema "$SSHCMD {h}" --current-time 1700000000 \
	    backup "x@127.0.0.1::$T/target/data" "$T/server/repo"
	[ "$status" -eq 0 ]
	for m in meta hash full; do
		run as_server --remote-schema "$SSHCMD {h}" compare --method $m \
		    "x@127.0.0.1::$T/target/data" "$T/server/repo"
		echo "$m: $output"
		[ "$status" -eq 0 ]
	done
	# a root-only file changed in place, same size and time: only the
	# content methods see it
	touch -r "$T/target/data/private/secret" "$T/mtime-ref"
	printf 'SECRET\n' >"$T/target/data/private/secret"
	touch -r "$T/mtime-ref" "$T/target/data/private/secret"
	run as_server --remote-schema "$SSHCMD {h}" compare --method meta \
	    "x@127.0.0.1::$T/target/data" "$T/server/repo"
	[ "$status" -eq 0 ]
	for m in hash full; do
		run as_server --remote-schema "$SSHCMD {h}" compare --method $m \
		    "x@127.0.0.1::$T/target/data" "$T/server/repo"
		echo "$m: $output"
		[ "$status" -eq 1 ]
		[[ "$output" == *"changed: private/secret"* ]]
	done
	run as_server --remote-schema "$SSHCMD {h}" compare \
	    "$T/target/data" "x@127.0.0.1::$T/server/repo"
	[ "$status" -eq 1 ]
	[[ "$output" == *"run it on the repository's host"* ]]
}

@test "compare --method hash over ssh: the host hashes its files and only digests travel; full sends the content" {
	head -c 20000000 /dev/urandom >"$T/target/data/big"
	touch -d @1690000000 "$T/target/data/big" "$T/target/data"
	run as_server --remote-schema "$SSHCMD {h}" --current-time 1700000000 \
	    backup "x@127.0.0.1::$T/target/data" "$T/server/repo"
	[ "$status" -eq 0 ]
	# bytes on the link, counted around ssh
	local count="python3 $BATS_TEST_DIRNAME/../../bench/countpipe.py"
	run as_server --remote-schema "$count $T/server/hash.n $SSHCMD {h}" \
	    compare --method hash "x@127.0.0.1::$T/target/data" "$T/server/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	run as_server --remote-schema "$count $T/server/full.n $SSHCMD {h}" \
	    compare --method full "x@127.0.0.1::$T/target/data" "$T/server/repo"
	[ "$status" -eq 0 ]
	cat "$T/server/hash.n" "$T/server/full.n"
	[ "$(awk '{print $4}' "$T/server/hash.n")" -lt 100000 ]
	[ "$(awk '{print $4}' "$T/server/full.n")" -gt 20000000 ]
	# a byte changed in place, same size and time: the host's digest
	# differs from the recorded one
	printf 'X' | dd of="$T/target/data/big" bs=1 seek=12345678 \
	    conv=notrunc status=none
	touch -d @1690000000 "$T/target/data/big"
	run as_server --remote-schema "$SSHCMD {h}" compare --method hash \
	    "x@127.0.0.1::$T/target/data" "$T/server/repo"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"changed: big"* ]]
}

@test "filelists for a remote source are read here and sent in the request" {
	mkdir -p "$T/target/data/keep" "$T/target/data/drop"
	echo a >"$T/target/data/keep/a"
	echo b >"$T/target/data/drop/b"
	printf '%s\n' "$T/target/data/keep" "- **" >"$T/server/list"
	chown "$SERVER" "$T/server/list"
	run as_server --remote-schema "$SSHCMD {h}" backup \
	    --include-globbing-filelist "$T/server/list" \
	    "x@127.0.0.1::$T/target/data" "$T/server/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -f "$T/server/repo/keep/a" ]
	[ ! -e "$T/server/repo/drop" ]
	[ ! -e "$T/server/repo/public" ]
	# the same selection from stdin, NUL-separated, as a plain filelist
	run run_as "$SERVER" env HOME="$T/server" sh -c \
	    "printf '%s\0' '$T/target/data/drop/b' | '$CAPBACK_BUILD/capback' \
	    --remote-schema '$SSHCMD {h}' backup --null-separator \
	    --include-filelist-stdin --exclude '**' \
	    x@127.0.0.1::$T/target/data $T/server/repo2"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -f "$T/server/repo2/drop/b" ]
	[ ! -e "$T/server/repo2/keep" ]
	# too big for a request: said so, nothing started
	head -c 60000 /dev/zero | tr '\0' 'x' >"$T/server/big"
	chmod 0644 "$T/server/big"
	run as_server --remote-schema "$SSHCMD {h}" backup \
	    --include-filelist "$T/server/big" \
	    "x@127.0.0.1::$T/target/data" "$T/server/repo3"
	[ "$status" -eq 1 ]
	[[ "$output" == *"may hold 48 KiB in all"* ]]
	[ ! -e "$T/server/repo3" ]
	# a client cannot smuggle anything else through the inline form
	run run_as "$SERVER" $SSHCMD 127.0.0.1 "capback-reader --select-inline include=2f -- $T/target/data" </dev/null
	[[ "$output" == *"--select-inline is for filelists"* ]]
	run run_as "$SERVER" $SSHCMD 127.0.0.1 "capback-reader --select-inline include-filelist=zz -- $T/target/data" </dev/null
	[[ "$output" == *"bad inline filelist"* ]]
}

@test "a taken-over host's symlink to another host's repository leads nowhere, over ssh both ways" {
	# another host's repository beside this one, with a secret
	mkdir -p "$T/h2"
	echo "HOST2 SECRET" >"$T/h2/secret"
	chown -R "$SERVER" "$T/h2"
	run as_server --current-time 1700000000 backup "$T/h2" "$T/server/host2"
	[ "$status" -eq 0 ]
	mkdir -p "$T/target/data/srv"
	echo "host1 own" >"$T/target/data/srv/file"
	run as_server --remote-schema "$SSHCMD {h}" --current-time 1700000000 \
	    backup "x@127.0.0.1::$T/target/data" "$T/server/repo"
	[ "$status" -eq 0 ]
	# the host is taken over: srv now leads to host2's repository from
	# inside this host's mirror
	rm -rf "$T/target/data/srv"
	ln -s ../host2 "$T/target/data/srv"
	run as_server --remote-schema "$SSHCMD {h}" --current-time 1700000100 \
	    backup "x@127.0.0.1::$T/target/data" "$T/server/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -e "$T/server/repo/srv/secret" ]
	# the admin restores the old srv onto the host over ssh
	run as_server --remote-schema "$RSTCMD {h}" restore --at 1700000000 \
	    "$T/server/repo/srv" "r@127.0.0.1::$T/restore/srv"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(cat "$T/restore/srv/file")" = "host1 own" ]
	[ ! -e "$T/restore/srv/secret" ]
	[ ! -e "$T/restore/srv/rdiff-backup-data" ]
	# ... and from another machine, through the server's account
	# (--find-repo: the remote writer finds the repository)
	run cb --remote-schema "$SRVCMD" restore --at 1700000000 \
	    "s@127.0.0.1::$T/server/repo/srv" "$T/out"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(cat "$T/out/file")" = "host1 own" ]
	[ ! -e "$T/out/secret" ]
	run cb --remote-schema "$SRVCMD" restore "s@127.0.0.1::$T/server/repo/srv/secret" "$T/leak"
	[ "$status" -ne 0 ]
	[ ! -e "$T/leak" ]
	run cb --remote-schema "$SRVCMD" list files "s@127.0.0.1::$T/server/repo/srv"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" != *secret* ]]
	run cb --remote-schema "$SRVCMD" verify --all "s@127.0.0.1::$T/server/repo/srv"
	[ "$status" -eq 0 ]
	[[ "$output" != *HOST2* ]]
}

@test "pull: the host's reader sends each file's SHA-1 (digests at the source); the server records it and checks the share asked" {
	head -c 2000000 /dev/urandom >"$T/target/data/big"
	run as_server -v 4 --remote-schema "$SSHCMD {h}" --current-time 1700000000 \
	    backup --check-received 1 "x@127.0.0.1::$T/target/data" "$T/server/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"digests from the source: 4 files, 4 of them checked"* ]]
	for f in big private/secret; do
		record "$T/server/repo" "$f" |
		    grep -qx "  SHA1Digest $(sha1sum <"$T/target/data/$f" | cut -d' ' -f1)"
	done
	# none checked: the recorded digests are still the host's
	echo more >>"$T/target/data/big"
	run as_server -v 4 --remote-schema "$SSHCMD {h}" --current-time 1700000100 \
	    backup --check-received 0 --whole-file "x@127.0.0.1::$T/target/data" "$T/server/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"digests from the source: 1 file, 0 of them checked"* ]]
	record "$T/server/repo" big |
	    grep -qx "  SHA1Digest $(sha1sum <"$T/target/data/big" | cut -d' ' -f1)"
	run cb verify "$T/server/repo"
	[ "$status" -eq 0 ]
	# asked to hash on the server, it does
	run as_server -v 4 --remote-schema "$SSHCMD {h}" --current-time 1700000200 \
	    backup --digests-at server "x@127.0.0.1::$T/target/data" "$T/server/repo"
	[ "$status" -eq 0 ]
	[[ "$output" != *"digests from the source"* ]]
}
