#!/usr/bin/env bats
# capback setup: prints an idempotent script; --apply runs it; the result
# passes capback doctor and backs up root-only files as the new account.

load ../lib/helpers

setup() {
	need_root
	command -v setcap >/dev/null || skip "setcap not installed"
	setup_scratch
	U="cbs$$_${BATS_TEST_NUMBER}"
	G="cbsg$$_${BATS_TEST_NUMBER}"
	mkdir -p "$T/bin"
	cp "$CAPBACK_BUILD/capback" "$CAPBACK_BUILD/capback-reader" \
	    "$CAPBACK_BUILD/capback-writer" "$CAPBACK_BUILD/capback-restorer" "$T/bin/"
	chmod 0755 "$T/bin"
	export CAPBACK_LIBEXEC="$T/bin"
	KEY="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGtlc3Qta2V5LWZvci1jYXBiYWNr server@backup"
}

teardown() {
	userdel "$U" 2>/dev/null || true
	groupdel "$G" 2>/dev/null || true
	groupdel "$U" 2>/dev/null || true
	teardown_scratch
}

@test "reader: the printed script changes nothing; --apply sets up a host that doctor passes" {
	run "$T/bin/capback" setup --role reader --user "$U" --group "$G" \
	    --home "$T/home" --restrict-path /srv --from 10.0.0.5 --key "$KEY"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"setcap cap_dac_read_search+p $T/bin/capback-reader"* ]]
	[[ "$output" == *"restrict,from=\"10.0.0.5\",command=\"$T/bin/capback-reader --serve --restrict-path /srv\" $KEY"* ]]
	refute id "$U" 2>/dev/null
	[ -z "$(getcap "$T/bin/capback-reader")" ]
	run "$T/bin/capback" setup --role reader --user "$U" --group "$G" \
	    --home "$T/home" --restrict-path /srv --from 10.0.0.5 --key "$KEY" --apply
	echo "$output"
	[ "$status" -eq 0 ]
	id "$U"
	[ "$(stat -c %U:%G:%a "$T/bin/capback-reader")" = "root:$G:750" ]
	[[ "$(getcap "$T/bin/capback-reader")" == *"cap_dac_read_search=p"* ]]
	[ "$(stat -c %U:%a "$T/home/.ssh" "$T/home/.ssh/authorized_keys" | tr '\n' ' ')" = "root:755 root:644 " ]
	grep -qxF "restrict,from=\"10.0.0.5\",command=\"$T/bin/capback-reader --serve --restrict-path /srv\" $KEY" \
	    "$T/home/.ssh/authorized_keys"
	# again: nothing new, still fine
	sum=$(md5sum "$T/home/.ssh/authorized_keys")
	run "$T/bin/capback" setup --role reader --user "$U" --group "$G" \
	    --home "$T/home" --restrict-path /srv --from 10.0.0.5 --key "$KEY" --apply
	[ "$status" -eq 0 ]
	[ "$(md5sum "$T/home/.ssh/authorized_keys")" = "$sum" ]
	[ "$(getent passwd "$U" | wc -l)" -eq 1 ]
	run "$T/bin/capback" doctor --role reader --user "$U"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"reading /etc/shadow: ok"* ]]
	# the account backs up a root-only file through the reader
	assert_backs_up_root_only_as "$U" "$T/bin/capback"
}

@test "writer: an account, a repository directory, a key and hardened units" {
	run "$T/bin/capback" setup --role writer --user "$U" --home "$T/home" \
	    --repo-dir "$T/repos" --source "agent@host::/" --name host1
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"ExecStart=$T/bin/capback backup agent@host::/ $T/repos/host1"* ]]
	for want in "User=$U" "NoNewPrivileges=yes" "CapabilityBoundingSet=" \
	    "AmbientCapabilities=" "ProtectSystem=strict" "ReadWritePaths=$T/repos $T/home/.ssh" \
	    "OnCalendar=daily" "MemoryMax=256M" "TasksMax=32"; do
		grep -qx "$want" <<<"$output"
	done
	# the account, its key and the repository directory (units need
	# systemd, which this machine may not run: only the files are made)
	script=$(sed "s#/etc/systemd/system#$T#g" <<<"$output")
	sh -c "$script"
	[ "$(stat -c %U:%a "$T/repos")" = "$U:700" ]
	[ -f "$T/home/.ssh/id_ed25519" ]
	[ "$(stat -c %U "$T/home/.ssh/id_ed25519")" = "$U" ]
	grep -qx 'NoNewPrivileges=yes' "$T/capback-host1.service"
	# and again, unchanged
	key=$(md5sum "$T/home/.ssh/id_ed25519")
	sh -c "$script"
	[ "$(md5sum "$T/home/.ssh/id_ed25519")" = "$key" ]
}

@test "the shipped run unit bounds memory and tasks" {
	unit="$CAPBACK_SRC/contrib/systemd/capback-run.service"
	grep -qx 'MemoryMax=1G' "$unit"
	grep -qx 'TasksMax=256' "$unit"
	if command -v systemd-analyze >/dev/null; then
		systemd-analyze verify "$unit" 2>&1 | grep -i 'memorymax\|tasksmax' && false
	fi
	true
}

@test "bad input is refused before anything runs" {
	run "$T/bin/capback" setup --role reader --user 'a;reboot'
	[ "$status" -eq 1 ]
	[[ "$output" == *"may hold only letters"* ]]
	run "$T/bin/capback" setup --role reader --user "$U" --key "ssh-ed25519 AAAA\" x"
	[ "$status" -eq 1 ]
	[[ "$output" == *"one public key line"* ]]
	run "$T/bin/capback" setup --role mystery --user "$U"
	[ "$status" -eq 1 ]
	run run_as nobody "$T/bin/capback" setup --role reader --user "$U" --apply
	[ "$status" -eq 1 ]
	[[ "$output" == *"run it as root"* ]]
	refute id "$U" 2>/dev/null
}
