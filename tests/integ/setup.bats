#!/usr/bin/env bats
# capback setup: prints an idempotent script; --apply runs it.  A host's
# key lands in a root-owned file that an sshd drop-in names (checked with
# sshd -t and sshd -T); the server gets its account, key, directories,
# capback.conf and hosts; only installed roles are configured.

load ../lib/helpers

setup() {
	need_root
	command -v setcap >/dev/null || skip "setcap not installed"
	[ -x /usr/sbin/sshd ] || skip "openssh-server not installed"
	setup_scratch
	U="cbs$$_${BATS_TEST_NUMBER}"
	G="cbsg$$_${BATS_TEST_NUMBER}"
	mkdir -p "$T/bin"
	cp "$CAPBACK_BUILD/capback" "$CAPBACK_BUILD/capback-reader" \
	    "$CAPBACK_BUILD/capback-writer" "$CAPBACK_BUILD/capback-restorer" "$T/bin/"
	chmod 0755 "$T/bin"
	export CAPBACK_LIBEXEC="$T/bin"
	KEY="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGtlc3Qta2V5LWZvci1jYXBiYWNr server@backup"
	DROPIN=/etc/ssh/sshd_config.d/capback-$U.conf
}

teardown() {
	userdel "$U" 2>/dev/null || true
	groupdel "$G" 2>/dev/null || true
	groupdel "$U" 2>/dev/null || true
	rm -f "$DROPIN" /etc/capback/ssh/"$U".* /etc/ssh/sshd_config.d/00-cbtest-$$.conf
	rmdir /etc/capback/ssh /etc/capback 2>/dev/null || true
	teardown_scratch
}

@test "reader: the printed script changes nothing; --apply puts the key where the account cannot change it" {
	run "$T/bin/capback" setup --role reader --user "$U" --group "$G" \
	    --restrict-path /srv --from 10.0.0.5 --key "$KEY"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"setcap cap_dac_read_search+p $T/bin/capback-reader"* ]]
	[[ "$output" == *"restrict,from=\"10.0.0.5\",command=\"$T/bin/capback-reader --serve --restrict-path /srv\" $KEY"* ]]
	refute id "$U" 2>/dev/null
	[ ! -e "$DROPIN" ]
	[ -z "$(getcap "$T/bin/capback-reader")" ]
	run "$T/bin/capback" setup --role reader --user "$U" --group "$G" \
	    --restrict-path /srv --from 10.0.0.5 --key "$KEY" --apply
	echo "$output"
	[ "$status" -eq 0 ]
	id "$U"
	id -nG "$U" | grep -qw "$G"
	[ "$(getent passwd "$U" | cut -d: -f7)" = /bin/sh ]
	[ "$(stat -c %U:%G:%a "$T/bin/capback-reader")" = "root:$G:750" ]
	[[ "$(getcap "$T/bin/capback-reader")" == *"cap_dac_read_search=p"* ]]
	[ "$(stat -c %U:%a "/etc/capback/ssh/$U.reader")" = "root:644" ]
	grep -qxF "restrict,from=\"10.0.0.5\",command=\"$T/bin/capback-reader --serve --restrict-path /srv\" $KEY" \
	    "/etc/capback/ssh/$U.reader"
	# sshd reads this account's keys from root's files, nothing else
	/usr/sbin/sshd -T -C "user=$U,host=x,addr=10.0.0.5" | grep -qx \
	    "authorizedkeysfile /etc/capback/ssh/$U.reader /etc/capback/ssh/$U.restorer"
	/usr/sbin/sshd -T -C "user=root,host=x,addr=10.0.0.5" | grep -q "authorizedkeysfile .ssh/authorized_keys"
	run run_as "$U" sh -c "echo x >>/etc/capback/ssh/$U.reader"
	[ "$status" -ne 0 ]
	# again: nothing new, still fine
	sum=$(md5sum "/etc/capback/ssh/$U.reader" "$DROPIN")
	run "$T/bin/capback" setup --role reader --user "$U" --group "$G" \
	    --restrict-path /srv --from 10.0.0.5 --key "$KEY" --apply
	[ "$status" -eq 0 ]
	[ "$(md5sum "/etc/capback/ssh/$U.reader" "$DROPIN")" = "$sum" ]
	[ "$(getent passwd "$U" | wc -l)" -eq 1 ]
	run "$T/bin/capback" doctor --role reader --user "$U"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"reading /etc/shadow: ok"* ]]
	[[ "$output" == *"forced command /etc/capback/ssh/$U.reader: $T/bin/capback-reader, the reader"* ]]
	# the account backs up a root-only file through the reader
	assert_backs_up_root_only_as "$U" "$T/bin/capback"
}

@test "an earlier sshd setting that would win over the drop-in fails setup, naming it" {
	printf 'Match all\n\tAuthorizedKeysFile /nowhere/%%u\n' >/etc/ssh/sshd_config.d/00-cbtest-$$.conf
	run "$T/bin/capback" setup --role reader --user "$U" --group "$G" \
	    --from 10.0.0.5 --key "$KEY" --apply
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"sshd reads $U's keys from '/nowhere/%u': an earlier setting wins over $DROPIN"* ]]
	[ ! -e "/etc/capback/ssh/$U.restorer" ]
}

@test "only installed roles are configured: not a build directory, not a directory others may write" {
	unset CAPBACK_LIBEXEC
	run "$CAPBACK_BUILD/capback" setup --role reader --from 10.0.0.5
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"install capback first"* ]]
	[ -z "$(getcap "$CAPBACK_BUILD/capback-reader")" ]
	chmod 0777 "$T/bin"
	run env CAPBACK_LIBEXEC="$T/bin" "$T/bin/capback" setup --role reader --from 10.0.0.5
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"$T/bin/capback-reader is not an installed program: $T/bin is writable by others than root"* ]]
}

# apply_server ARGS...: setup --role server's script, run with the unit's
# drop-in (which goes to /etc/systemd) rewritten to stay in $T/systemd
apply_server() {
	local script
	script=$("$T/bin/capback" setup --role "$@") || return 1
	script=$(sed "s#/etc/systemd/system#$T/systemd#g" <<<"$script")
	sh -ec "$script"
}

@test "server: account, key in its home, directories, capback.conf, hosts added once" {
	args=(--user "$U" --home "$T/state" --repo-dir "$T/repos" --config "$T/etc/capback.conf")
	run "$T/bin/capback" setup --role server "${args[@]}"
	[ "$status" -eq 0 ]
	refute id "$U" 2>/dev/null
	[[ "$output" == *"systemctl enable --now capback-run.timer"* ]]
	apply_server server "${args[@]}"
	id "$U"
	[ "$(stat -c %U:%a "$T/repos")" = "$U:700" ]
	[ "$(stat -c %U:%a "$T/state")" = "$U:750" ]
	[ "$(stat -c %U:%G:%a "$T/etc/capback.conf")" = "root:$U:640" ]
	home=$(getent passwd "$U" | cut -d: -f6)
	[ "$home" = "$T/state" ]
	[ "$(stat -c %U "$home/.ssh/id_ed25519")" = "$U" ]
	grep -qx "state-dir = $T/state" "$T/etc/capback.conf"
	grep -qx "User=$U" "$T/systemd/capback-run.service.d/setup.conf"
	grep -qx "ReadWritePaths=$T/repos $T/state" "$T/systemd/capback-run.service.d/setup.conf"
	# "writer" is another word for server; a host is added once
	run apply_server writer "${args[@]}" --host web1 \
	    --source capback@web1.example.org::/
	echo "$output"
	[ "$status" -eq 0 ]
	grep -qx "source = capback@web1.example.org::/" "$T/etc/capback.conf"
	grep -qx "repository = $T/repos/web1" "$T/etc/capback.conf"
	key=$(md5sum "$home/.ssh/id_ed25519" "$T/etc/capback.conf")
	run apply_server server "${args[@]}" --host web1 \
	    --source capback@web1.example.org::/
	[ "$status" -eq 0 ]
	[[ "$output" == *"[host web1] is in $T/etc/capback.conf already"* ]]
	run apply_server server "${args[@]}" --host web1 \
	    --source capback@other::/
	[ "$status" -eq 1 ]
	[[ "$output" == *"[host web1] is in $T/etc/capback.conf already, with another source: change it there"* ]]
	[ "$(md5sum "$home/.ssh/id_ed25519" "$T/etc/capback.conf")" = "$key" ]
	# an existing account keeps its home: the key goes where ssh looks
	[ "$(grep -c '^\[host ' "$T/etc/capback.conf")" -eq 1 ]
	# the configuration it wrote is one capback check reads
	run run_as "$U" "$T/bin/capback" check "$T/etc/capback.conf"
	[[ "$output" == "web1: "* ]]
}

@test "restorer: a separate key, beneath a directory set aside, never /" {
	run "$T/bin/capback" setup --role restorer --user "$U" --from 10.0.0.5 --key "$KEY"
	[ "$status" -eq 1 ]
	[[ "$output" == *"needs --restrict-path DIR"* ]]
	run "$T/bin/capback" setup --role restorer --user "$U" --from 10.0.0.5 \
	    --restrict-path / --key "$KEY"
	[ "$status" -eq 1 ]
	run "$T/bin/capback" setup --role restorer --user "$U" --from 10.0.0.5 \
	    --restrict-path "$T/restore" --key "$KEY" --apply
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(stat -c %U:%a "$T/restore")" = "$U:700" ]
	grep -qxF "restrict,from=\"10.0.0.5\",command=\"$T/bin/capback-restorer --serve --restrict-path $T/restore\" $KEY" \
	    "/etc/capback/ssh/$U.restorer"
	[ ! -e "/etc/capback/ssh/$U.reader" ]
	# one key for both roles would reach only one of them
	run "$T/bin/capback" setup --role reader --user "$U" --group "$G" \
	    --from 10.0.0.5 --key "$KEY" --apply
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"this key is the restorer's already: the reader needs a key of its own"* ]]
	[ ! -e "/etc/capback/ssh/$U.reader" ]
}

@test "the run unit bounds memory and tasks and runs the installed CLI" {
	unit="$CAPBACK_BUILD/capback-run.service"
	grep -qx 'MemoryMax=1G' "$unit"
	grep -qx 'TasksMax=256' "$unit"
	grep -qx 'User=capback' "$unit"
	grep -q '^ExecStart=/.*/capback run /.*/capback/capback.conf$' "$unit"
	if command -v systemd-analyze >/dev/null; then
		systemd-analyze verify "$unit" 2>&1 | grep -i 'memorymax\|tasksmax' && false
	fi
	true
}

@test "bad input is refused before anything runs" {
	run "$T/bin/capback" setup --role reader --user 'a;reboot' --from 10.0.0.5
	[ "$status" -eq 1 ]
	[[ "$output" == *"may hold only letters"* ]]
	run "$T/bin/capback" setup --role reader --user "$U" --from 10.0.0.5 --key "ssh-ed25519 AAAA\" x"
	[ "$status" -eq 1 ]
	[[ "$output" == *"one public key line"* ]]
	run "$T/bin/capback" setup --role reader --user "$U"
	[ "$status" -eq 1 ]
	[[ "$output" == *"needs --from ADDR"* ]]
	run "$T/bin/capback" setup --role server --host 'x;y' --source a::/
	[ "$status" -eq 1 ]
	run "$T/bin/capback" setup --role server --host web1
	[ "$status" -eq 1 ]
	[[ "$output" == *"go together"* ]]
	run "$T/bin/capback" setup --role mystery --user "$U"
	[ "$status" -eq 1 ]
	run run_as nobody "$T/bin/capback" setup --role reader --user "$U" --from 10.0.0.5 --apply
	[ "$status" -eq 1 ]
	[[ "$output" == *"run it as root"* ]]
	refute id "$U" 2>/dev/null
}

@test "a careless admin: root, a person's account, the server's own account, relative paths, a symlinked libexec" {
	run "$T/bin/capback" setup --role reader --user root --from 10.0.0.5
	[ "$status" -eq 1 ]
	[[ "$output" == *"--user root is root"* ]]
	# a person's account (it has a password) is not taken over
	useradd -M -s /bin/bash "$U"
	echo "$U:pw-$$-x" | chpasswd
	run "$T/bin/capback" setup --role reader --user "$U" --group "$G" \
	    --from 10.0.0.5 --key "$KEY" --apply
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"$U has a password: it is a person's account"* ]]
	! id -nG "$U" | grep -qw "$G" || false
	[ ! -e "$DROPIN" ]
	userdel "$U"
	# the backup server's own account may not also read every file
	if [ ! -e /etc/capback/capback.conf ]; then
		useradd --system -M -s /bin/sh "$U"
		mkdir -p /etc/capback
		install -m 0640 -g "$U" /dev/null /etc/capback/capback.conf
		run "$T/bin/capback" setup --role reader --user "$U" --group "$G" \
		    --from 10.0.0.5 --key "$KEY" --apply
		rm -f /etc/capback/capback.conf
		echo "$output"
		[ "$status" -eq 1 ]
		[[ "$output" == *"$U is the backup server's account here"* ]]
		! id -nG "$U" | grep -qw "$G" || false
	fi
	# paths: absolute and normal only (install -d would re-own ".")
	run "$T/bin/capback" setup --role server --config capback.conf
	[ "$status" -eq 1 ]
	[[ "$output" == *"'capback.conf' must be an absolute path"* ]]
	run "$T/bin/capback" setup --role server --repo-dir /srv/../tmp
	[ "$status" -eq 1 ]
	# an existing directory keeps its owner and mode
	mkdir -p "$T/conf"
	chmod 1777 "$T/conf"
	run "$T/bin/capback" setup --role server --user "$U" --home "$T/state" \
	    --repo-dir "$T/repos" --config "$T/conf/capback.conf"
	script=$(sed "s#/etc/systemd/system#$T/systemd#g" <<<"$output")
	sh -ec "$script"
	[ "$(stat -c %a "$T/conf")" = 1777 ]
	# a libexec directory reached through a symlink is judged by where
	# it really is: here beneath a directory another user owns
	mkdir -p "$T/user/in"
	cp -a "$T/bin" "$T/user/in/"
	chmod 0755 "$T/user/in/bin"
	chown nobody "$T/user"
	ln -s "$T/user/in" "$T/link"
	run env CAPBACK_LIBEXEC="$T/link/bin" "$T/bin/capback" setup --role reader --from 10.0.0.5
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"$T/link/bin/capback-reader is not an installed program: $T/user is not owned by root"* ]]
}

@test "sshd -t failing for another reason leaves the drop-in as it was" {
	run "$T/bin/capback" setup --role reader --user "$U" --group "$G" \
	    --from 10.0.0.5 --key "$KEY" --apply
	[ "$status" -eq 0 ]
	sum=$(md5sum "$DROPIN")
	echo "NoSuchKeyword yes" >/etc/ssh/sshd_config.d/00-cbtest-$$.conf
	run "$T/bin/capback" setup --role reader --user "$U" --group "$G" \
	    --from 10.0.0.5 --key "$KEY" --apply
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"sshd -t fails (not because of $DROPIN)"* ]]
	[ "$(md5sum "$DROPIN")" = "$sum" ]
}

@test "vault: a key that may only add sessions beneath the vault's directory, taken by a real push" {
	run "$T/bin/capback" setup --role vault --user "$U" --from 10.0.0.5 --key "$KEY"
	[ "$status" -eq 1 ]
	[[ "$output" == *"--role vault needs --restrict-path DIR"* ]]
	run "$T/bin/capback" setup --role vault --user "$U" --from 10.0.0.5 \
	    --restrict-path "$T/vault" --key "$KEY" --quota 5Gb
	[ "$status" -eq 1 ]
	[[ "$output" == *"--quota is a number and B, K, M, G or T"* ]]
	run "$T/bin/capback" setup --role reader --user "$U" --from 10.0.0.5 --quota 5G
	[ "$status" -eq 1 ]
	run "$T/bin/capback" setup --role vault --user "$U" --from 10.0.0.5 \
	    --restrict-path "$T/vault" --key "$KEY" --max-skew 2h --quota 5G --apply
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(stat -c %U:%a "$T/vault")" = "$U:700" ]
	line="restrict,from=\"10.0.0.5\",command=\"$T/bin/capback-writer --serve --append-only --restrict-path $T/vault --max-skew 2h --quota 5G\" $KEY"
	grep -qxF "$line" "/etc/capback/ssh/$U.vault"
	[ "$(stat -c %U:%a "/etc/capback/ssh/$U.vault")" = "root:644" ]
	/usr/sbin/sshd -T -C "user=$U,host=x,addr=10.0.0.5" | grep -qx \
	    "authorizedkeysfile /etc/capback/ssh/$U.vault"
	# again: nothing changes
	run "$T/bin/capback" setup --role vault --user "$U" --from 10.0.0.5 \
	    --restrict-path "$T/vault" --key "$KEY" --max-skew 2h --quota 5G --apply
	[ "$status" -eq 0 ]
	[ "$(grep -c . "/etc/capback/ssh/$U.vault")" -eq 1 ]
	# the forced command as written, run as sshd would run it: a push
	# goes in, a removal does not
	fc=$(sed -n 's/.*command="\([^"]*\)".*/\1/p' "/etc/capback/ssh/$U.vault")
	cat >"$T/fc.sh" <<EOF
#!/bin/sh
exec runuser -u $U -- env SSH_ORIGINAL_COMMAND="\$2" $fc
EOF
	mkdir -p "$T/src" && echo hello >"$T/src/f"
	cb --current-time 1700000000 backup "$T/src" "$T/prim"
	run cb --remote-schema "sh $T/fc.sh {h}" replicate "$T/prim" "v@x::$T/vault/web1"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(stat -c %U "$T/vault/web1/rdiff-backup-data")" = "$U" ]
	run sh "$T/fc.sh" x "capback-writer --at 1B -- remove-older-than $T/vault/web1"
	[ "$status" -ne 0 ]
	[[ "$output" == *"this key only adds sessions"* ]]
	# the vault's own run, by the same account (new-user review): the
	# home the vault's setup made is root's, so the state goes elsewhere,
	# and a state directory it cannot write is named at setup
	mkdir -p "$T/rootowned"
	run apply_server server --user "$U" --home "$T/rootowned" --repo-dir "$T/vault" --config "$T/v.conf"
	[ "$status" -eq 1 ]
	[[ "$output" == *"$T/rootowned exists and $U cannot write it"* ]]
	run apply_server server --user "$U" --home "$T/vstate" --repo-dir "$T/vault" --config "$T/v.conf"
	echo "$output"
	[ "$status" -eq 0 ]
	printf '[host web1]\nreplicate-from = %s\nrepository = %s\nkeep = 1B\n' "$T/prim" "$T/vault/web2" >>"$T/v.conf"
	chown -R "$U" "$T/prim"
	run run_as "$U" "$T/bin/capback" run --report "$T/v.conf"
	echo "$output"
	[ "$status" -eq 0 ]
	# and the vault's setup may run again for the server's account
	run "$T/bin/capback" setup --role vault --user "$U" --from 10.0.0.5 \
	    --restrict-path "$T/vault" --key "$KEY" --max-skew 2h --quota 5G --apply
	[ "$status" -eq 0 ]
}
