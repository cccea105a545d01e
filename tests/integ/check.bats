#!/usr/bin/env bats
# capback check against a real sshd on 127.0.0.1: one line per host, each
# problem named with its fix, exit 1 when any; never accepts a host key.

load ../lib/helpers

setup() {
	need_root
	[ -x /usr/sbin/sshd ] || skip "openssh-server not installed"
	setup_scratch
	new_user && AGENT=$NEW_USER
	usermod -s /bin/sh "$AGENT"
	new_user && BARE=$NEW_USER
	usermod -s /bin/sh "$BARE"
	new_user && SERVER=$NEW_USER
	GROUP="cbk$$_${BATS_TEST_NUMBER}"
	groupadd "$GROUP"
	usermod -a -G "$GROUP" "$AGENT"
	mkdir -p "$T/agent" "$T/src/etc" "$T/srv"
	cp "$CAPBACK_BUILD/capback-reader" "$T/agent/"
	chgrp "$GROUP" "$T/agent/capback-reader"
	chmod 0750 "$T/agent/capback-reader"
	setcap cap_dac_read_search+p "$T/agent/capback-reader"
	chown "$SERVER" "$T/srv"
	PORT=$((20000 + RANDOM % 20000))
	sh "$LIB/sshd-loopback.sh" start "$T/sshd" "$PORT" \
	    "$AGENT=$T/agent/capback-reader --serve --restrict-path /" \
	    "$BARE=$CAPBACK_BUILD/capback-reader --serve --restrict-path /etc"
	chown "$SERVER" "$T/sshd/client_key" "$T/sshd/known_hosts"
}

teardown() {
	[ -n "${T:-}" ] && sh "$LIB/sshd-loopback.sh" stop "$T/sshd" || true
	pkill -u "$AGENT" 2>/dev/null || true
	pkill -u "$BARE" 2>/dev/null || true
	groupdel "$GROUP" 2>/dev/null || true
	teardown_scratch
}

# conf HOST-SECTIONS...: a configuration reaching the loopback sshd
conf() {
	{
		echo "[global]"
		echo "state-dir = $T/state"
		echo "remote-schema = ssh -F none -p $PORT -i $T/sshd/client_key -o BatchMode=yes -o IdentitiesOnly=yes -o UserKnownHostsFile=$T/sshd/known_hosts -o StrictHostKeyChecking=yes -o LogLevel=ERROR {h}"
		printf '%s\n' "$@"
	} >"$T/capback.conf"
	chmod 0644 "$T/capback.conf"
}

as_server() {
	run_as "$SERVER" "$CAPBACK_BUILD/capback" "$@"
}

@test "a host set up right: one line, ok, exit 0" {
	conf "[host web1]" "source = $AGENT@127.0.0.1::/etc" "repository = $T/srv/web1"
	run as_server check "$T/capback.conf"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == "web1: ok (reachable, host key known, reader capback "*", restrict-path /, cap_dac_read_search in effect, root-only /etc/shadow readable, $T/srv/web1 to be made by the first run)" ]]
}

@test "each problem with its fix: no capability, restrict path, repository, misspelt forced command" {
	sed -i "s#^\(.*\) \(ssh-ed25519.*\)#\1 \2#" "$T/sshd/keys/$AGENT"
	# a forced command naming a program that is not there
	echo "restrict,command=\"/usr/lib/capback/capback-raeder --serve --restrict-path /\" $(cat "$T/sshd/client_key.pub")" >"$T/sshd/keys/$AGENT"
	mkdir "$T/srv/taken"
	conf "[host a]" "source = $AGENT@127.0.0.1::/etc" "repository = $T/srv/a" \
	    "[host b]" "source = $BARE@127.0.0.1::/srv" "repository = $T/srv/taken"
	run as_server check "$T/capback.conf"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"a: 1 problem"* ]]
	[[ "$output" == *"PROBLEM: the forced command does not answer as a capback reader"*"capback-raeder"* ]]
	[[ "$output" == *"fix: on the host: capback doctor --role reader"* ]]
	[[ "$output" == *"b: 4 problems"* ]]
	[[ "$output" == *"PROBLEM: the reader cannot open /etc/shadow: Permission denied"* ]]
	[[ "$output" == *"PROBLEM: the source /srv is not beneath the key's restrict path /etc"* ]]
	[[ "$output" == *"PROBLEM: the reader runs without CAP_DAC_READ_SEARCH"* ]]
	[[ "$output" == *"PROBLEM: repository $T/srv/taken is not a directory this account owns"* ]]
	# the lines come in the configuration's order
	[ "$(grep -n '^a: ' <<<"$output" | cut -d: -f1)" -lt "$(grep -n '^b: ' <<<"$output" | cut -d: -f1)" ]
}

@test "an unknown host key is shown to review, never accepted" {
	: >"$T/sshd/known_hosts"
	conf "[host web1]" "source = $AGENT@127.0.0.1::/etc" "repository = $T/srv/web1"
	run as_server check "$T/capback.conf"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"PROBLEM: its host key is not known (never accepted silently)"* ]]
	[[ "$output" == *"ssh-keyscan -p $PORT 127.0.0.1"* ]]
	grep -qF "[127.0.0.1]:$PORT $(cut -d' ' -f1,2 "$T/sshd/host_key.pub")" <<<"$output"
	# with the fingerprint the admin compares with the host's own
	grep -qF "$(ssh-keygen -lf "$T/sshd/host_key.pub" | cut -d' ' -f2)" <<<"$output"
	[ ! -s "$T/sshd/known_hosts" ]
}

@test "an unreachable host and a refused key are named; root is sent to the account" {
	conf "[host gone]" "source = $AGENT@127.0.0.1::/etc" "repository = $T/srv/gone" \
	    "remote-schema = ssh -F none -p 1 -o BatchMode=yes {h}" \
	    "[host nokey]" "source = nobody@127.0.0.1::/etc" "repository = $T/srv/nokey"
	run as_server check "$T/capback.conf"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"gone: 1 problem"*"PROBLEM: not reachable: "*"refused"* ]]
	[[ "$output" == *"nokey: 1 problem"*"PROBLEM: the host refuses this account's key"* ]]
	[[ "$output" == *"capback setup --role reader --user nobody --restrict-path DIR"*"not from a permitted host"* ]]
	# a local source that is not there, and scp's one-colon form
	conf "[host a]" "source = $T/nothing" "repository = $T/srv/a" \
	    "[host b]" "source = capback@db1:/etc" "repository = $T/srv/b"
	run as_server check "$T/capback.conf"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"PROBLEM: source $T/nothing: No such file or directory"* ]]
	[[ "$output" == *"PROBLEM: source capback@db1:/etc looks like scp's USER@HOST:PATH"* ]]
	run cb check "$T/capback.conf"
	[ "$status" -eq 1 ]
	[[ "$output" == *"runuser -u capback -- capback check"* ]]
}

@test "capback.conf errors name the line, the key and what it allows; selection keys reach the backup" {
	conf "[host web1]" "source = $T/src" "repository = $T/srv/web1" "exclude-if-present = .nobackup" \
	    "exclude-device-files = yes" "max-file-size = 10" "check-unchanged = yes"
	run as_server check "$T/capback.conf"
	echo "$output"
	[ "$status" -eq 0 ]
	conf "[host web1]" "source = $T/src" "repository = $T/srv/web1" "exlude = /proc"
	run as_server check "$T/capback.conf"
	[ "$status" -eq 1 ]
	[[ "$output" == *"capback.conf, line 7: no key 'exlude' in [host web1] (it takes source, repository,"* ]]
	conf "[host web1]" "source = $T/src" "repository = $T/srv/web1" "exclude-fifos = maybe"
	run as_server check "$T/capback.conf"
	[[ "$output" == *"line 7: exclude-fifos = maybe: yes or no"* ]]
	conf "[global]" "parallel = 0"
	run as_server check "$T/capback.conf"
	[[ "$output" == *"line 5: parallel = 0: a number from 1 to 64"* ]]
	# values that used to pass: a keep with no unit kept everything, a
	# drill of 2% ran and reported damage, a repeated section replaced
	# the first, two hosts shared a repository
	conf "[host web1]" "source = $T/src" "repository = $T/srv/web1" "keep = 30"
	run as_server check "$T/capback.conf"
	[ "$status" -eq 1 ]
	[[ "$output" == *"line 7: keep = 30: a time span with its unit"* ]]
	conf "[host web1]" "source = $T/src" "repository = $T/srv/web1" "drill = 2%"
	run as_server check "$T/capback.conf"
	[[ "$output" == *"line 7: drill = 2%: a fraction of the entries"* ]]
	conf "[host web1]" "source = $T/src" "repository = $T/srv/web1" "drill = 1.5"
	run as_server check "$T/capback.conf"
	[[ "$output" == *"line 7: drill = 1.5: a fraction"* ]]
	conf "[host web1]" "source = $T/src" "repository = $T/srv/web1" "check-received = 2%"
	run as_server check "$T/capback.conf"
	[ "$status" -eq 1 ]
	[[ "$output" == *"line 7: check-received = 2%: a share from 0 to 1 (default 0.02)"* ]]
	conf "[global]" "check-received = 1.01"
	run as_server check "$T/capback.conf"
	[[ "$output" == *"line 5: check-received = 1.01: a share"* ]]
	conf "[global]" "overdue = 36"
	run as_server check "$T/capback.conf"
	[[ "$output" == *"line 5: overdue = 36: a time span"* ]]
	conf "[host web1]" "source = $T/src" "repository = $T/srv/web1" \
	    "[host db1]" "source = $T/src" "repository = $T/srv/db1" \
	    "[host web1]" "source = $T/other"
	run as_server check "$T/capback.conf"
	[ "$status" -eq 1 ]
	[[ "$output" == *"line 11: [host web1] appears twice"* ]]
	conf "[host web1]" "source = $T/src" "repository = $T/srv/web1" \
	    "[host db1]" "source = $T/src" "repository = $T/srv//web1/"
	run as_server check "$T/capback.conf"
	[ "$status" -eq 1 ]
	[[ "$output" == *"[host web1] and [host db1] have the same repository"* ]]
	# the selection keys reach the backup that run starts
	mkdir -p "$T/src/skip" "$T/src/keep"
	touch "$T/src/skip/.nobackup" "$T/src/skip/a" "$T/src/keep/b"
	head -c 100 /dev/zero >"$T/src/keep/big"
	chown -R "$SERVER" "$T/src"
	install -d -o "$SERVER" "$T/state"
	conf "[host web1]" "source = $T/src" "repository = $T/srv/web1" "exclude-if-present = .nobackup" \
	    "max-file-size = 10" "drill = none"
	sed -i 's/^\[global\]$/[global]\nmail = never/' "$T/capback.conf"
	run as_server run --report "$T/capback.conf"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *$'\n1 host, 0 failed'* ]]
	[ -f "$T/srv/web1/keep/b" ]
	[ ! -e "$T/srv/web1/skip" ]
	[ ! -e "$T/srv/web1/keep/big" ]
}

@test "a hostile host's probe answer reaches the terminal escaped and forges no line" {
	cat >"$T/evil.sh" <<'EOS'
#!/bin/sh
printf 'reader capback 9.9)\033[2K\r\033[1A\033[2K\rweb1: ok (all fine\nweb1: ok (forged on its own line\nprotocol 3\033]0;pwned\007\nrestrict-path /\033[31m\ncapeff 0000000000000004\nprobe /etc/shadow ok\n'
printf 'Host key verification failed.\n' >&2
EOS
	chmod 0755 "$T/evil.sh"
	conf "[host web1]" "source = $AGENT@127.0.0.1::/etc" "repository = $T/srv/web1" \
	    "remote-schema = ssh -F none -p 1 -o BatchMode=yes {h}" \
	    "[host web2]" "source = x@evil::/" "repository = $T/srv/web2" \
	    "remote-schema = $T/evil.sh {h}"
	run as_server check "$T/capback.conf"
	echo "$output"
	[ "$status" -eq 1 ]
	! grep -q $'[\x01-\x08\x0b-\x1f\x7f]' <<<"$output" || false
	[ "$(grep -c '^web1: ' <<<"$output")" -eq 1 ]
	[[ "$output" == *"web1: 1 problem"* ]]
	[[ "$output" == *"web2: 2 problems"*"its reader speaks protocol 3\x1b]0;pwned\x07, this capback"* ]]
	# what the host prints on stderr does not steer the diagnosis
	conf "[host web2]" "source = x@evil::/" "repository = $T/srv/web2" "remote-schema = $T/evil.sh {h}"
	sed -i 's/^protocol 3.033]0;pwned.007/protocol 3/' "$T/evil.sh"
	sed -i 's/capback 9.9).*rweb1: ok (all fine/capback 9.9/' "$T/evil.sh"
	run as_server check "$T/capback.conf"
	echo "$output"
	[[ "$output" != *"host key is not known"* ]]
}
