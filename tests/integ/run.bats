#!/usr/bin/env bats
# capback run: the backup server's job over three hosts, each its own
# OpenSSH server on 127.0.0.1 (alpha: an agent holding
# CAP_DAC_READ_SEARCH; beta: an agent without it, so a root-only file is
# unreadable; gamma: down), run by an ordinary account.  The report goes
# through Debian's exim4 into a real mailbox; the after hook runs once the
# mail is handed over.

load ../lib/helpers

setup() {
	need_root
	[ -x /usr/sbin/sshd ] || skip "openssh-server not installed"
	[ -x /usr/sbin/sendmail ] || skip "no MTA (exim4) installed"
	setup_scratch
	new_user && AGENT=$NEW_USER
	usermod -s /bin/sh "$AGENT"
	new_user && SERVER=$NEW_USER
	usermod -s /bin/sh "$SERVER"
	# the mailbox owner needs a home for exim's local delivery
	MAILUSER="cbm$$_${BATS_TEST_NUMBER}"
	useradd -m -N -s /usr/sbin/nologin "$MAILUSER"
	# a mailbox the server's hook may read (exim keeps its mode)
	install -m 0644 -o "$MAILUSER" -g mail /dev/null "/var/mail/$MAILUSER"
	mkdir -p "$T/agent/caps" "$T/agent/plain"
	cp "$CAPBACK_BUILD/capback-reader" "$T/agent/caps/"
	cp "$CAPBACK_BUILD/capback-reader" "$T/agent/plain/"
	setcap cap_dac_read_search+p "$T/agent/caps/capback-reader"
	for h in alpha beta; do
		mkdir -p "$T/$h/private"
		echo "public of $h" >"$T/$h/public"
		echo "secret of $h" >"$T/$h/private/key"
		chmod 0700 "$T/$h/private"
		chmod 0600 "$T/$h/private/key"
	done
	P1=$((20000 + RANDOM % 20000))
	P2=$((P1 + 1))
	sh "$LIB/sshd-loopback.sh" start "$T/sshd1" "$P1" \
	    "$AGENT=$T/agent/caps/capback-reader --serve --restrict-path $T/alpha"
	sh "$LIB/sshd-loopback.sh" start "$T/sshd2" "$P2" \
	    "$AGENT=$T/agent/plain/capback-reader --serve --restrict-path $T/beta"
	chown "$SERVER" "$T/sshd1/client_key" "$T/sshd2/client_key"
	mkdir -p "$T/server"
	chown "$SERVER" "$T/server"
	write_config
}

teardown() {
	for d in sshd1 sshd2; do sh "$LIB/sshd-loopback.sh" stop "$T/$d" 2>/dev/null || true; done
	pkill -u "$AGENT" 2>/dev/null || true
	userdel -r "$MAILUSER" 2>/dev/null || true
	rm -f "/var/mail/$MAILUSER"
	teardown_scratch
}

# write_config: the server's configuration and its after hook
write_config() {
	cat >"$T/server/capback.conf" <<EOF
[global]
parallel = 2
state-dir = $T/server/state
mail-to = $MAILUSER@localhost
mail-from = capback@localhost
after = $T/server/hook

[host alpha]
source = x@127.0.0.1::$T/alpha
repository = $T/server/alpha
remote-schema = $(sh "$LIB/sshd-loopback.sh" sshcmd "$T/sshd1" "$AGENT") {h}
keep = 30D
drill = all

[host beta]
source = x@127.0.0.1::$T/beta
repository = $T/server/beta
remote-schema = $(sh "$LIB/sshd-loopback.sh" sshcmd "$T/sshd2" "$AGENT") {h}

[host gamma]
source = x@127.0.0.1::/srv
repository = $T/server/gamma
remote-schema = ssh -F none -p 1 -o BatchMode=yes -o ConnectTimeout=3 {h}
EOF
	# the hook: was the report already in the mailbox when it started?
	# (if it ran first, the run would wait for it and no mail could come)
	cat >"$T/server/hook" <<EOF
#!/bin/sh
n=0
for i in \$(seq 1 40); do
	n=\$(grep -c '^Subject: capback' /var/mail/$MAILUSER 2>/dev/null) && [ "\$n" -gt 0 ] && break
	sleep 0.25
done
echo "mails \$n" >"$T/server/hook-ran"
EOF
	chmod 0755 "$T/server/hook"
	chown -R "$SERVER" "$T/server"
}

cbrun() {
	run run_as "$SERVER" env HOME="$T/server" "$CAPBACK_BUILD/capback" "$@"
	echo "$output"
}

mailbox() {
	for _ in $(seq 1 480); do
		[ -s "/var/mail/$MAILUSER" ] && break
		sleep 0.25
	done
	cat "/var/mail/$MAILUSER"
}

@test "a run: two hosts backed up, the down one and the unreadable file reported, the mail delivered, then the hook" {
	cbrun run --report "$T/server/capback.conf"
	[ "$status" -eq 1 ]
	[[ "$output" == *"host gamma: the backup failed"* ]]
	# alpha read the root-only file through its agent's capability
	[ "$(cat "$T/server/alpha/private/key")" = "secret of alpha" ]
	[ "$(cat "$T/server/beta/public")" = "public of beta" ]
	[ ! -e "$T/server/beta/private/key" ]
	# the report: per host status, counts, the warnings, the drill
	[[ "$output" == *"alpha            OK in"* ]]
	[[ "$output" == *"beta             OK in"* ]]
	# a duration to a tenth of a second when it is short
	grep -E '^alpha +OK in [0-9]+\.[0-9] s$' <<<"$output"
	# the first backup: every file is new, none changed
	[[ "$output" == *"files ("*"): "*" new, 0 changed, 0 deleted; increment"* ]]
	[[ "$output" == *"gamma            FAILED in"* ]]
	[[ "$output" == *"oldest point proven restorable: 2"* ]]
	[[ "$output" == *"warnings:"*"private"* ]]
	[[ "$output" == *"3 hosts, 1 failed"* ]]
	m=$(mailbox)
	echo "$m"
	[[ "$m" == *"Subject: capback on "*": 3 hosts, 1 failed"* ]]
	[[ "$m" == *"From: capback@localhost"* ]]
	[[ "$m" == *"gamma            FAILED"* ]]
	[[ "$m" == *"Connection refused"* ]]
	# the failure is told once, not again as a warning
	[ "$(grep -c 'Connection refused' <<<"$m")" -eq 1 ]
	[[ "$m" == *"beta             OK"* ]]
	# the hook ran after the report was handed to sendmail
	[ "$(cat "$T/server/hook-ran")" = "mails 1" ]
	[ -s "$T/server/state/last-report.txt" ]
}

@test "status: ages and results, --json for monitoring, non-zero while a host fails or is overdue" {
	cbrun run "$T/server/capback.conf"
	[ "$status" -eq 1 ]
	cbrun status "$T/server/capback.conf"
	[ "$status" -eq 1 ]
	[[ "$output" == *"alpha            ok       0m"* ]]
	[[ "$output" == *"gamma            failed   never    never    -  OVERDUE"* ]]
	# a failed host says why
	grep -A1 '^gamma ' <<<"$output" | grep -q '^    .'
	# a host whose backup left a file out says so (new-user review:
	# status said ok and nothing more)
	grep -A1 '^beta ' <<<"$output" | grep -qE '^    [0-9]+ warnings? in the last run \(.*/logs/beta\.log names them\)'
	[ "$(grep -A1 '^alpha ' <<<"$output" | grep -c 'in the last run')" -eq 0 ]
	cbrun status --json "$T/server/capback.conf"
	[ "$status" -eq 1 ]
	python3 -c '
import json, sys
d = {h["host"]: h for h in json.loads(sys.argv[1])["hosts"]}
assert d["alpha"]["last"] == "ok" and not d["alpha"]["overdue"], d
assert d["alpha"]["last_drill"] > 0 and d["alpha"]["oldest_proven"], d
# the time alone (ISO 8601, UTC), as seconds, and how it was proven apart
import re
assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", d["alpha"]["oldest_proven"]), d
assert isinstance(d["alpha"]["oldest_proven_time"], int) and d["alpha"]["oldest_proven_time"] > 1700000000, d
assert d["alpha"]["oldest_proven_by"] in ("sampled", "all"), d
assert d["gamma"]["oldest_proven"] is None and d["gamma"]["oldest_proven_time"] is None, d
assert d["gamma"]["last"] == "failed" and d["gamma"]["overdue"], d
# never is null, not 0 or -1; and the verdict beside the hosts
assert d["gamma"]["newest_backup"] is None and d["gamma"]["backup_age_s"] is None, d
assert d["gamma"]["last_drill"] is None and d["alpha"]["backup_age_s"] >= 0, d
assert json.loads(sys.argv[1])["ok"] is False
# the unreadable file of beta, none for alpha
assert d["beta"]["warnings"] >= 1 and d["alpha"]["warnings"] == 0, d
assert d["gamma"]["warnings"] == 0, d
' "$output"
	# without the down host all is well...
	sed -i '/^\[host gamma\]/,$d' "$T/server/capback.conf"
	cbrun status "$T/server/capback.conf"
	[ "$status" -eq 0 ]
	# ...until the newest backup is older than "overdue"
	sed -i 's/^\[global\]$/[global]\noverdue = 1s/' "$T/server/capback.conf"
	sleep 2
	cbrun status "$T/server/capback.conf"
	[ "$status" -eq 1 ]
	[[ "$output" == *"OVERDUE"* ]]
}

@test "status by an account that cannot read the state directory: exit 2 naming it, no false OVERDUE" {
	sed -i '/^\[host gamma\]/,$d' "$T/server/capback.conf"
	cbrun run "$T/server/capback.conf"
	[ "$status" -eq 0 ]
	chmod 0700 "$T/server/state"
	chmod 0644 "$T/server/capback.conf"
	new_user
	run run_as "$NEW_USER" "$CAPBACK_BUILD/capback" status "$T/server/capback.conf"
	echo "$output"
	[ "$status" -eq 2 ]
	[[ "$output" == *"cannot read the state directory $T/server/state/hosts: Permission denied"* ]]
	[[ "$output" != *OVERDUE* ]]
	# --json says so on stdout, where a monitor looks
	json_error "cannot read the state directory" state_dir /state/hosts
	# and a configuration it may not read (stdout was empty)
	chmod 0600 "$T/server/capback.conf"
	json_error "cannot read the configuration" config /capback.conf
}

# json_error ERROR KEY END: status --json by $NEW_USER exits 2 with
# {"error": ERROR, KEY: ...END, "reason": "Permission denied"}
json_error() {
	local out st=0
	out=$(run_as "$NEW_USER" "$CAPBACK_BUILD/capback" status --json "$T/server/capback.conf" 2>/dev/null) || st=$?
	[ "$st" -eq 2 ]
	python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["error"] == sys.argv[2], d
assert d[sys.argv[3]].endswith(sys.argv[4]) and d["reason"] == "Permission denied", d
' "$out" "$1" "$2" "$3"
}

@test "a host whose backup still runs is skipped; the others go on; the next run takes it" {
	sed -i '/^\[host gamma\]/,$d' "$T/server/capback.conf"
	mkdir -p "$T/server/state/locks"
	chown -R "$SERVER" "$T/server/state"
	# (a sleep no other test uses: it holds the lock, not flock)
	run_as "$SERVER" flock "$T/server/state/locks/alpha.lock" \
	    sh -c ": >'$T/server/state/held'; exec sleep 31.7" &
	holder=$!
	wait_until 120 test -e "$T/server/state/held"
	cbrun run --report "$T/server/capback.conf"
	pkill -f "^sleep 31.7" || true
	wait "$holder" || true
	# skipped is no failure: another run is on it
	[ "$status" -eq 0 ]
	[[ "$output" == *"alpha            SKIPPED"* ]]
	[[ "$output" == *"another run is still on this host (running in PID"* ]]
	[[ "$output" == *"beta             OK"* ]]
	[[ "$output" == *"2 hosts, 0 failed"* ]]
	[ ! -e "$T/server/alpha" ]
	sleep 1 # a session per second at most, as with rdiff-backup
	cbrun run --report "$T/server/capback.conf"
	[ "$status" -eq 0 ]
	[[ "$output" == *"alpha            OK"* ]]
}

@test "retention removes what is older than keep; mail on-failure stays quiet when all is well" {
	sed -i '/^\[host gamma\]/,$d' "$T/server/capback.conf"
	sed -i 's/^mail-to = .*/&\nmail = on-failure/' "$T/server/capback.conf"
	# beta too, whose unreadable file is a warning of its backup
	sed -i 's/^\[host beta\]$/&\nkeep = 30D/' "$T/server/capback.conf"
	schema="$(sh "$LIB/sshd-loopback.sh" sshcmd "$T/sshd1" "$AGENT") {h}"
	# two old sessions of alpha (2023), then the run (keep = 30D)
	cbrun --remote-schema "$schema" --current-time 1700000000 backup "x@127.0.0.1::$T/alpha" "$T/server/alpha"
	echo more >>"$T/alpha/public"
	cbrun --remote-schema "$schema" --current-time 1700001000 backup "x@127.0.0.1::$T/alpha" "$T/server/alpha"
	echo again >>"$T/alpha/public"
	cbrun run --report "$T/server/capback.conf"
	[ "$status" -eq 0 ]
	# it says what it removed, and what is kept
	[[ "$output" == *"retention: 2 sessions older than 30D removed, 1 kept (the oldest from 20"* ]]
	# the first backup counts new files as new
	[[ "$output" == *" new, "*" changed, "*" deleted; increment "* ]]
	# "N warnings:" is followed by N lines: not by retention's routine
	# "no increments older than" (new-user review)
	python3 -c '
import re, sys
lines = sys.argv[1].splitlines()
seen = 0
for i, l in enumerate(lines):
    m = re.fullmatch(r"    (\d+) warnings?:", l)
    if m:
        seen += 1
        n = int(m.group(1))
        shown = 0
        while i + 1 + shown < len(lines) and lines[i + 1 + shown].startswith("      "):
            shown += 1
        assert shown == n, (n, lines[i:i + 1 + shown])
assert seen > 0, "beta has a warning"
' "$output"
	[[ "$output" != *"warning"*"no increments older than"* ]]
	cbrun list increments "$T/server/alpha"
	[[ "$output" == *"Found 0 increments"* ]]
	# every host OK: no mail, and the hook still runs
	sleep 1
	[ ! -s "/var/mail/$MAILUSER" ]
	[ -e "$T/server/hook-ran" ]
}

# refused TEXT MESSAGE: run refuses the configuration TEXT (printf's
# escapes) with MESSAGE, exit 1
refused() {
	printf "$1" >"$T/bad.conf"
	run "$CAPBACK_BUILD/capback" run "$T/bad.conf"
	echo "$output"
	[ "$status" -eq 1 ] && [[ "$output" == *"$2"* ]]
}

@test "a bad configuration: the line is named, nothing runs" {
	printf '[global]\nparalel = 2\n[host a]\nsource = /x\nrepository = /y\n' >"$T/bad.conf"
	run "$CAPBACK_BUILD/capback" run "$T/bad.conf"
	[ "$status" -eq 1 ]
	[[ "$output" == *"bad.conf, line 2: no key 'paralel' in [global] (it takes parallel, shard, jitter, state-dir,"* ]]
	printf '[host a]\nsource = /x\n' >"$T/bad.conf"
	run "$CAPBACK_BUILD/capback" run "$T/bad.conf"
	[[ "$output" == *"[host a] needs source (a backup) or replicate-from (a vault's copy), one of them, and repository"* ]]
	# the line of a broken header, not of a key after it; a host with no
	# key; a section name misspelt, at its own line (new-user review)
	refused '[global]\nparallel = 2\n\n# c\n[host x\n\nsource = /a\nrepository = /b\n' \
	    "bad.conf, line 5: '[host x' has no ']'"
	refused '[host a]\nsource = /x\nrepository = /y\n[host b]\n\n' \
	    "bad.conf, line 4: [host b] holds no key: a host needs source (or replicate-from) and repository"
	refused '[global]\nparallel = 2\n[hots x]\nsource = /a\n' \
	    "bad.conf, line 3: section [hots x]: there are [global] and [host NAME] only"
	refused '[host a]\nsource = /x\nrepository = /y\njust words\n' \
	    "bad.conf, line 4: 'just words' is no [section] and no 'key = value'"
	# a byte-order mark (an editor's) is taken, as inih takes it
	printf '\357\273\277[global]\nstate-dir = %s\n[host a]\nsource = /x\nrepository = /y\n' "$T/st" >"$T/bom.conf"
	run "$CAPBACK_BUILD/capback" status "$T/bom.conf"
	[[ "$output" == *"a                none"* ]]
	# a vault's copy is the primary's sessions whole; keep = 10B is a count
	printf '[host a]\nsource = /x\nreplicate-from = /p\nrepository = /y\n' >"$T/bad.conf"
	run "$CAPBACK_BUILD/capback" run "$T/bad.conf"
	[ "$status" -eq 1 ]
	[[ "$output" == *"needs source (a backup) or replicate-from"* ]]
	printf '[host a]\nreplicate-from = x@h:/p\nrepository = /y\n' >"$T/bad.conf"
	run "$CAPBACK_BUILD/capback" run "$T/bad.conf"
	[[ "$output" == *"line 2: replicate-from = x@h:/p: a repository, /path or [user@]host::/path"* ]]
	printf '[host a]\nsource = /x\nrepository = /y\nvault = /y/\n' >"$T/bad.conf"
	run "$CAPBACK_BUILD/capback" run "$T/bad.conf"
	[[ "$output" == *"vault = /y/ is its repository"* ]]
	printf '[global]\nstate-dir = %s\n[host a]\nsource = /x\nrepository = /y\nkeep = 10B\n' "$T/st" >"$T/bad.conf"
	run "$CAPBACK_BUILD/capback" status "$T/bad.conf"
	[[ "$output" != *"keep = 10B"* ]]
	printf '[host a]\nsource = /x\nrepository = /y\nkeep = thirty days\n' >"$T/bad.conf"
	run "$CAPBACK_BUILD/capback" run "$T/bad.conf"
	[[ "$output" == *"line 4: keep = thirty days: a time span with its unit"* ]]
	# a timeout needs a unit (a bare number would be a point in time)
	printf '[global]\ntimeout = 6h\n[host a]\nsource = /x\nrepository = /y\ntimeout = 10\n' >"$T/bad.conf"
	run "$CAPBACK_BUILD/capback" run "$T/bad.conf"
	[ "$status" -eq 1 ]
	[[ "$output" == *"bad.conf, line 6: timeout = 10: a time span (6h, 90m)"* ]]
	printf '[host ../evil]\nsource = /x\nrepository = /y\n' >"$T/bad.conf"
	run "$CAPBACK_BUILD/capback" run "$T/bad.conf"
	[ "$status" -eq 1 ]
	[[ "$output" == *"line 2: [host ../evil]: a host's name has 1 to 64 letters"* ]]
	# a selection value backup would refuse is refused at load, not
	# when the host's backup starts (the example once had 10G)
	printf '[host a]\nsource = /x\nrepository = /y\nmax-file-size = 10G\n' >"$T/bad.conf"
	run "$CAPBACK_BUILD/capback" status "$T/bad.conf"
	[ "$status" -eq 1 ]
	[[ "$output" == *"line 4: max-file-size = 10G: --max-file-size needs a positive number of bytes"* ]]
	printf '[host a]\nsource = /x\nrepository = /y\nexclude-regexp = (\n' >"$T/bad.conf"
	run "$CAPBACK_BUILD/capback" run "$T/bad.conf"
	[ "$status" -eq 1 ]
	[[ "$output" == *"line 4: exclude-regexp = (: bad expression"* ]]
	run "$CAPBACK_BUILD/capback" run "$T/none.conf"
	[[ "$output" == *"cannot read the configuration"* ]]
	[ ! -e /x ] && [ ! -e /y ]
}

@test "what ships: the systemd units verify, the example configuration parses, every action has its man page entry" {
	sed "s|^ExecStart=[^ ]*/capback |ExecStart=$CAPBACK_BUILD/capback |" "$CAPBACK_BUILD/capback-run.service" >"$T/capback-run.service"
	cp "$CAPBACK_SRC/contrib/systemd/capback-run.timer" "$T/"
	if command -v systemd-analyze >/dev/null; then
		run systemd-analyze verify --man=no "$T/capback-run.service" "$T/capback-run.timer"
		echo "$output"
		[ "$status" -eq 0 ]
	fi
	run "$CAPBACK_BUILD/capback" status "$CAPBACK_SRC/contrib/examples/capback.conf"
	echo "$output"
	[[ "$output" == *"web1"*"OVERDUE"*"db1"* ]]
	refute grep -q "line [0-9]" <<<"$output"
	for m in "$CAPBACK_SRC"/man/*.[158]; do
		run groff -z -man -ww "$m"
		[ -z "$output" ]
	done
	for a in backup restore regress "list increments" "list files" verify compare \
	    "remove increments" drill run status check info diff versions calculate doctor setup replicate; do
		grep -q "^\.B $a" "$CAPBACK_SRC/man/capback.1" || { echo "no entry for $a"; false; }
	done
}

@test "on a terminal: progress and the report; under cron: quiet unless a host fails" {
	sed -i '/^\[host gamma\]/,$d' "$T/server/capback.conf"
	run run_as "$SERVER" env HOME="$T/server" script -qec "$CAPBACK_BUILD/capback run $T/server/capback.conf" /dev/null
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"backups 0/2 hosts, drills 0, 0 files, 0 B new or changed, 0 B/s"* ]]
	[[ "$output" == *"backups 2/2 hosts, drills "* ]]
	[[ "$output" == *" (drill)"* ]]
	[[ "$output" == *"alpha            OK in"* ]]
	# no terminal: nothing on stdout or stderr when all is well
	sleep 1
	run_as "$SERVER" env HOME="$T/server" "$CAPBACK_BUILD/capback" run "$T/server/capback.conf" >"$T/out" 2>"$T/err"
	[ ! -s "$T/out" ] && [ ! -s "$T/err" ]
}

@test "a host that accepts the connection and never answers: its timeout ends it, the others are backed up, the mail names it" {
	sed -i '/^\[host gamma\]/,$d' "$T/server/capback.conf"
	PS=$((P1 + 7))
	# a listener that accepts and then says nothing, ever
	python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8)
conns = []
while True:
    c, _ = s.accept(); conns.append(c)
' "$PS" &
	silent=$!
	printf '\n[host delta]\nsource = x@127.0.0.1::/srv\nrepository = %s\nremote-schema = ssh -F none -p %s -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null {h}\ntimeout = 10s\n' \
	    "$T/server/delta" "$PS" >>"$T/server/capback.conf"
	SECONDS=0
	cbrun run --report "$T/server/capback.conf"
	took=$SECONDS
	kill "$silent" || true
	[ "$status" -eq 1 ]
	[ "$took" -lt 60 ]
	[[ "$output" == *"delta            TIMED OUT"* ]]
	[[ "$output" == *"the backup ended after 10 s (timeout = 10s)"* ]]
	[[ "$output" == *"alpha            OK"* ]]
	[[ "$output" == *"beta             OK"* ]]
	# nothing of it is left running, the mail went out, the hook ran
	refute pgrep -f -- "-p $PS "
	for _ in $(seq 1 480); do grep -q "TIMED OUT" "/var/mail/$MAILUSER" && break; sleep 0.25; done
	grep -q "delta            TIMED OUT" "/var/mail/$MAILUSER"
	[ -e "$T/server/hook-ran" ]
}

@test "root by mistake: run refuses a state directory that is the account's, naming the account, and writes nothing there (new-user review)" {
	mkdir -p "$T/server/state"
	chown "$SERVER" "$T/server/state"
	run "$CAPBACK_BUILD/capback" run "$T/server/capback.conf"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"the state directory '$T/server/state' is $SERVER's: run it as that account (runuser -u $SERVER -- capback run)"* ]]
	[ -z "$(find "$T/server/state" -user root)" ]
	[ ! -e "$T/server/alpha" ]
}

@test "two runs at once: the second skips the hosts the first is on, naming it, and fails none" {
	sed -i '/^\[host gamma\]/,$d' "$T/server/capback.conf"
	# alpha's before command keeps the first run on alpha until the
	# second run is over (a fixed sleep raced a loaded machine)
	cat >"$T/server/hold.sh" <<EOS
touch $T/server/in-alpha
i=0
while [ ! -e $T/server/go ] && [ \$i -lt 1200 ]; do sleep 0.1; i=\$((i + 1)); done
EOS
	sed -i "s|^\[host alpha\]\$|&\nbefore = sh $T/server/hold.sh|" \
	    "$T/server/capback.conf"
	run_as "$SERVER" env HOME="$T/server" "$CAPBACK_BUILD/capback" run --report "$T/server/capback.conf" \
	    >"$T/first.out" 2>&1 &
	first=$!
	wait_until 120 test -e "$T/server/in-alpha"
	holder=$(cat "$T/server/state/locks/alpha.lock")
	cbrun run --report "$T/server/capback.conf"
	[ "$status" -eq 0 ]
	[[ "$output" == *"alpha            SKIPPED"* ]]
	[[ "$output" == *"another run is still on this host (running in PID $holder)"* ]]
	kill -0 "$holder"
	touch "$T/server/go"
	wait "$first"
	cat "$T/first.out"
	# the second run left the first's results alone
	grep -q "alpha            OK" "$T/first.out"
	cbrun status "$T/server/capback.conf"
	[[ "$output" == *"alpha            ok"* ]]
}

@test "run honours --current-time for its backups and retention" {
	sed -i '/^\[host gamma\]/,$d' "$T/server/capback.conf"
	cbrun --current-time 1700000000 run "$T/server/capback.conf"
	[ "$status" -eq 0 ]
	cbrun list increments "$T/server/alpha"
	[[ "$output" == *"Current mirror: Tue Nov 14 22:13:20 2023"* ]]
}
