#!/usr/bin/env bats
# capback doctor: finds what a role lacks on this host, prints commands
# that fix it, and the fixed setup passes (the doctor's own read of a
# root-only file as the backup account succeeds).

load ../lib/helpers

setup() {
	need_root
	command -v setcap >/dev/null || skip "setcap not installed"
	setup_scratch
	new_user && U=$NEW_USER
	mkdir -p "$T/bin"
	cp "$CAPBACK_BUILD/capback" "$CAPBACK_BUILD/capback-reader" \
	    "$CAPBACK_BUILD/capback-writer" "$CAPBACK_BUILD/capback-restorer" "$T/bin/"
	chmod 0755 "$T/bin"
	export CAPBACK_LIBEXEC="$T/bin"
	getent group capback-reader >/dev/null && HAD_GROUP=1 || HAD_GROUP=0
}

teardown() {
	[ "${HAD_GROUP:-1}" = 0 ] && groupdel capback-reader 2>/dev/null || true
	teardown_scratch
}

@test "no file capability: the problem, the fix, and after the fix a clean bill" {
	run "$T/bin/capback" doctor --role reader --user "$U"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"CapEff       0x000001"* ]] # root's own, decoded
	[[ "$output" == *"cap_dac_read_search"* ]]
	[[ "$output" == *"has no file capability"* ]]
	[[ "$output" == *"as $U: "*"reading /etc/shadow: Permission denied"* ]]
	fix=$(sed -n 's/^    fix: //p' <<<"$output" | head -1)
	[[ "$fix" == *"setcap cap_dac_read_search+p $T/bin/capback-reader"* ]]
	# apply exactly what it printed
	sh -c "$fix"
	run "$T/bin/capback" doctor --role reader --user "$U"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"file caps    cap_dac_read_search=p"* ]]
	[[ "$output" == *"as $U: uid $(id -u "$U"), capabilities \"cap_dac_read_search=ep\": reading /etc/shadow: ok"* ]]
	[[ "$output" == *"no problems found"* ]]
	# the reader's own confinement was tried, attack by attack
	[[ "$output" == *"execve /bin/true                   denied (killed by signal 31, SIGSYS)"* ]] ||
		[[ "$output" == *"build without the sandbox"* ]]
	refute grep -q ALLOWED <<<"$output"
	# and that account, through the fixed binary, backs up a root-only file
	assert_backs_up_root_only_as "$U" "$T/bin/capback"
}

@test "a +p binary every user may run is a problem; +i without pam_cap config is one" {
	setcap cap_dac_read_search+p "$T/bin/capback-reader"
	run "$T/bin/capback" doctor --role reader --user "$U"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"every user may run $T/bin/capback-reader"* ]]
	[[ "$output" == *"chmod 0750 $T/bin/capback-reader"* ]]
	setcap cap_dac_read_search+i "$T/bin/capback-reader"
	run "$T/bin/capback" doctor --role reader --user "$U"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"file capability +i with pam_cap"* ]]
	[[ "$output" == *"capability.conf does not give $U cap_dac_read_search"* ]]
	[[ "$output" == *"sed -i '1i cap_dac_read_search $U' /etc/security/capability.conf"* ]]
}

@test "the writer run as root is told it needs nothing; as a user it is clean" {
	run "$T/bin/capback" doctor --role writer
	[ "$status" -eq 1 ]
	[[ "$output" == *"more than it needs"* ]]
	run run_as "$U" "$T/bin/capback" doctor --role writer
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"CapEff       0x0000000000000000"* ]]
	run "$T/bin/capback" doctor --role nonsense
	[ "$status" -eq 1 ]
	[[ "$output" == *"--role must be reader, writer or restorer"* ]]
}

@test "the key's forced command: a misspelt program, another binary, a file the account owns, a key with none" {
	[ -x /usr/sbin/sshd ] || skip "openssh-server not installed"
	usermod -d "$T/home" "$U"
	mkdir -p "$T/home/.ssh"
	key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGtlc3Qta2V5LWZvci1jYXBiYWNr server@backup"
	{
		echo "restrict,command=\"/usr/lib/capback/capback-raeder --serve --restrict-path /\" $key"
		echo "restrict,command=\"$CAPBACK_BUILD/capback-reader --serve --restrict-path /\" $key"
		echo "restrict $key"
		echo "restrict,command=\"$T/bin/capback-reader --serve --restrict-path /srv\" $key"
	} >"$T/home/.ssh/authorized_keys"
	chown -R "$U" "$T/home"
	run "$T/bin/capback" doctor --role reader --user "$U"
	echo "$output"
	[ "$status" -eq 1 ]
	f="$T/home/.ssh/authorized_keys"
	[[ "$output" == *"PROBLEM: $f: the account $U may change $f, so its key and its forced command"* ]]
	[[ "$output" == *"PROBLEM: $f: the forced command names /usr/lib/capback/capback-raeder: No such file or directory"* ]]
	[[ "$output" == *"PROBLEM: $f: the forced command names $CAPBACK_BUILD/capback-reader, not this capback's reader $T/bin/capback-reader"* ]]
	[[ "$output" == *"PROBLEM: $f: a key without a forced command: it gets a shell"* ]]
	[[ "$output" == *"forced command $f: $T/bin/capback-reader, the reader"* ]]
}

@test "key files the account controls: a FIFO does not hang doctor, a symlink is not followed, command= in a comment is no forced command" {
	[ -x /usr/sbin/sshd ] || skip "openssh-server not installed"
	usermod -d "$T/home" "$U"
	mkdir -p "$T/home/.ssh" "$T/secret"
	key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGtlc3Qta2V5LWZvci1jYXBiYWNr"
	chown -R "$U" "$T/home"
	# the account's own directory holds a root-owned file whose only
	# "command=" is the key's comment
	echo "$key x command=\"$T/bin/capback-reader --serve --restrict-path /\"" >"$T/home/.ssh/authorized_keys"
	chown root:root "$T/home/.ssh/authorized_keys"
	echo "restrict,command=\"$T/bin/capback-reader --serve --restrict-path /\" $key" >"$T/home/.ssh/authorized_keys2"
	chown root:root "$T/home/.ssh/authorized_keys2"
	run "$T/bin/capback" doctor --role reader --user "$U"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"PROBLEM: $T/home/.ssh/authorized_keys: the account $U may change $T/home/.ssh, so its key and its forced command"* ]]
	[[ "$output" == *"PROBLEM: $T/home/.ssh/authorized_keys: a key without a forced command"* ]]
	[[ "$output" == *"(the reader's key works from any address"* ]]
	# a FIFO: doctor does not wait on it
	rm "$T/home/.ssh/authorized_keys"
	mkfifo "$T/home/.ssh/authorized_keys"
	chown "$U" "$T/home/.ssh/authorized_keys"
	run timeout 20 "$T/bin/capback" doctor --role reader --user "$U"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"PROBLEM: $T/home/.ssh/authorized_keys: not a regular file"* ]]
	# a symlink to a root-only file: not opened
	rm "$T/home/.ssh/authorized_keys"
	echo "command=\"/opt/SECRET-TOKEN\" $key" >"$T/secret/keys"
	chmod 0600 "$T/secret/keys"
	chmod 0700 "$T/secret"
	ln -s "$T/secret/keys" "$T/home/.ssh/authorized_keys"
	run "$T/bin/capback" doctor --role reader --user "$U"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" != *"SECRET-TOKEN"* ]]
	[[ "$output" == *"PROBLEM: $T/home/.ssh/authorized_keys: not a regular file"* ]]
}

@test "a user name with shell characters reaches sshd as one word, never a shell" {
	[ -x /usr/sbin/sshd ] || skip "openssh-server not installed"
	bad='cbd;touch${IFS}/tmp/cbd-pwned;'
	useradd -M -N -g nogroup -s /usr/sbin/nologin "$bad" || skip "useradd refuses such a name here"
	run "$T/bin/capback" doctor --role reader --user "$bad"
	userdel "$bad"
	echo "$output"
	[ ! -e /tmp/cbd-pwned ]
}
