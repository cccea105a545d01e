#!/usr/bin/env bats
# The Debian packages: built from the tree, lintian-clean, installed on
# this machine; then README.md's "Set up a backup server" walk-through,
# extracted from the README and run as written against two loopback sshd
# hosts; then purged, and nothing the packages made is left.

load ../lib/helpers

setup_file() {
	[ "$(id -u)" -eq 0 ] || return 0
	[ -z "${CAPBACK_ALLOW_UNSANDBOXED_ROOT:-}" ] || return 0
	command -v dpkg-buildpackage >/dev/null || return 0
	sh "$CAPBACK_SRC/tools/packages.sh" "$BATS_FILE_TMPDIR/debs" \
	    >"$BATS_FILE_TMPDIR/build.log" 2>&1 || {
		cat "$BATS_FILE_TMPDIR/build.log" >&3
		return 1
	}
}

setup() {
	need_root
	[ -z "${CAPBACK_ALLOW_UNSANDBOXED_ROOT:-}" ] ||
	    skip "packages are built and installed once, in the normal pass"
	command -v dpkg-buildpackage >/dev/null || skip "dpkg-dev not installed"
	[ -x /usr/sbin/sshd ] || skip "openssh-server not installed"
	if dpkg -s capback >/dev/null 2>&1 || id capback >/dev/null 2>&1 ||
	    id capback-host >/dev/null 2>&1 ||
	    [ -e /etc/capback ] || [ -e /srv/backup ] || [ -e /var/lib/capback ] ||
	    [ -e /var/restore ]; then
		skip "capback is installed or set up on this machine already"
	fi
	OWN=1 # from here on, what is installed and set up is this test's
	setup_scratch
	D="$BATS_FILE_TMPDIR/debs"
	V=$(dpkg-parsechangelog -l "$CAPBACK_SRC/debian/changelog" -S Version)
}

teardown() {
	# a skipped test touched nothing: an installed capback stays
	[ -n "${OWN:-}" ] || return 0
	for s in web1 db1; do
		[ -n "${T:-}" ] && sh "$LIB/sshd-loopback.sh" stop "$T/sshd-$s" 2>/dev/null || true
	done
	pkill -u capback 2>/dev/null || true
	pkill -u capback-host 2>/dev/null || true
	dpkg --purge capback-agent capback >/dev/null 2>&1 || true
	userdel capback 2>/dev/null || true
	userdel capback-host 2>/dev/null || true
	groupdel capback 2>/dev/null || true
	groupdel capback-host 2>/dev/null || true
	groupdel capback-reader 2>/dev/null || true
	dpkg-statoverride --remove /usr/libexec/capback/capback-reader 2>/dev/null || true
	groupdel "cbovr$$" 2>/dev/null || true
	rm -rf /var/lib/capback /var/lib/capback-host /srv/backup /etc/capback /var/restore \
	    /etc/ssh/sshd_config.d/capback-capback-host.conf
	teardown_scratch
}

# walkthrough NAME: the commands of README.md's block marked NAME
walkthrough() {
	awk -v m="<!-- walkthrough: $1 -->" '
	    $0 == m { want = 1; next }
	    want && /^```sh$/ { inblock = 1; next }
	    inblock && /^```$/ { exit }
	    inblock { print }' "$CAPBACK_SRC/README.md"
}

@test "two packages, roles in /usr/libexec/capback, lintian clean" {
	[ -f "$D/capback_${V}_amd64.deb" ]
	[ -f "$D/capback-agent_${V}_amd64.deb" ]
	dpkg -c "$D/capback_${V}_amd64.deb" | awk '{print $6}' >"$T/server"
	dpkg -c "$D/capback-agent_${V}_amd64.deb" | awk '{print $6}' >"$T/agent"
	for f in ./usr/bin/capback ./usr/libexec/capback/capback-writer \
	    ./usr/libexec/capback/capback-restorer ./lib/systemd/system/capback-run.service \
	    ./lib/systemd/system/capback-run.timer ./usr/share/man/man1/capback.1.gz \
	    ./usr/share/man/man5/capback.conf.5.gz ./usr/share/bash-completion/completions/capback \
	    ./usr/share/doc/capback/examples/capback.conf; do
		grep -qx "$f" "$T/server"
	done
	grep -qx ./usr/libexec/capback/capback-reader "$T/agent"
	! grep -q capback-reader "$T/server" || false
	! grep -q '^./usr/bin/capback-' "$T/server" "$T/agent" || false
	# the unit runs the installed CLI as the account setup makes
	dpkg --fsys-tarfile "$D/capback_${V}_amd64.deb" |
	    tar -xO ./lib/systemd/system/capback-run.service >"$T/unit"
	grep -qx 'ExecStart=/usr/bin/capback run /etc/capback/capback.conf' "$T/unit"
	grep -qx 'User=capback' "$T/unit"
	grep -qx 'ReadWritePaths=/srv/backup' "$T/unit"
}

@test "install, the README's walk-through with two hosts, upgrade, purge leaves nothing" {
	dpkg -i "$D/capback_${V}_amd64.deb" "$D/capback-agent_${V}_amd64.deb"
	R=/usr/libexec/capback/capback-reader
	[ "$(stat -c %U:%G:%a $R)" = "root:capback-reader:750" ]
	[[ "$(getcap $R)" == *"cap_dac_read_search=p"* ]]
	dpkg-statoverride --list $R
	# an upgrade (the same version again) unpacks a binary without the
	# capability: the postinst gives it back
	dpkg -i "$D/capback-agent_${V}_amd64.deb"
	[[ "$(getcap $R)" == *"cap_dac_read_search=p"* ]]
	[ "$(stat -c %U:%G:%a $R)" = "root:capback-reader:750" ]
	# an override the admin made is kept; one that lets every user run
	# the reader gets no capability (and says so)
	groupadd "cbovr$$"
	dpkg-statoverride --remove $R
	dpkg-statoverride --update --add root "cbovr$$" 0755 $R
	run dpkg -i "$D/capback-agent_${V}_amd64.deb"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"may be run by every user; not giving it cap_dac_read_search"* ]]
	[ "$(stat -c %U:%G:%a $R)" = "root:cbovr$$:755" ]
	[ -z "$(getcap $R)" ]
	dpkg-statoverride --remove $R
	dpkg-statoverride --update --add root capback-reader 0750 $R
	groupdel "cbovr$$"
	dpkg -i "$D/capback-agent_${V}_amd64.deb"
	[[ "$(getcap $R)" == *"cap_dac_read_search=p"* ]]
	# the installed CLI finds its roles in /usr/libexec/capback only
	mkdir -p "$T/src"
	echo x >"$T/src/f"
	capback backup "$T/src" "$T/repo"
	[ -f "$T/repo/f" ]

	# ---- the server, as README.md says (the hosts are two loopback
	# sshds with the system's drop-ins; their data a directory each)
	for h in web1 db1; do
		mkdir -p "$T/$h/etc"
		echo "$h secret" >"$T/$h/etc/shadow"
		chmod 0600 "$T/$h/etc/shadow"
	done
	# (the two hosts are this machine, whose account capback is the
	# server's: setup refuses to let that one read every file, so the
	# hosts' account here is capback-host, as README.md says for a
	# server that backs itself up)
	walkthrough server | sed "s#::/ #::$T/web1 #; s#\(db1.example.org\)::$T/web1 #\1::$T/db1 #; s#capback@\([a-z0-9]*\.example\.org\)#capback-host@\1#" >"$T/server.sh"
	cat "$T/server.sh"
	grep -q 'capback setup --role server --apply' "$T/server.sh"
	run sh -e "$T/server.sh"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(stat -c %U:%a /srv/backup)" = "capback:700" ]
	[ "$(stat -c %U:%G:%a /etc/capback/capback.conf)" = "root:capback:640" ]
	grep -qx "source = capback-host@db1.example.org::$T/db1" /etc/capback/capback.conf
	KEY=$(cat /var/lib/capback/.ssh/id_ed25519.pub)
	[[ "$output" == *"$KEY"* ]]
	# setup again changes nothing
	sum=$(md5sum /etc/capback/capback.conf /var/lib/capback/.ssh/id_ed25519)
	sh -e "$T/server.sh" >/dev/null
	[ "$(md5sum /etc/capback/capback.conf /var/lib/capback/.ssh/id_ed25519)" = "$sum" ]

	# ---- each host, as README.md says
	walkthrough host | sed "s#192\.0\.2\.10#127.0.0.1#; s#'ssh-ed25519 AAAA... capback@backup'#'$KEY'#; s#--user capback\$#--user capback-host#; s#--apply\$#--user capback-host --apply#" >"$T/host.sh"
	cat "$T/host.sh"
	# first as the README says: on the server's own machine it is refused
	run sh -e -c "$(walkthrough host | sed "s#'ssh-ed25519 AAAA... capback@backup'#'$KEY'#" | head -1)"
	[ "$status" -eq 1 ]
	[[ "$output" == *"capback is the backup server's account here"* ]]
	grep -q -- "--key '$KEY'" "$T/host.sh"
	for h in web1 db1; do
		run sh -e "$T/host.sh"
		echo "$output"
		[ "$status" -eq 0 ]
	done
	[[ "$output" == *"reading /etc/shadow: ok"* ]]
	[ "$(stat -c %U:%a /etc/capback/ssh/capback-host.reader)" = "root:644" ]
	id -nG capback-host | grep -qw capback-reader
	! id -nG capback | grep -qw capback-reader || false
	# the two hosts: loopback sshds that read the system's drop-ins
	P1=$((20000 + RANDOM % 20000))
	P2=$((P1 + 1))
	SSHD_INCLUDE=1 sh "$LIB/sshd-loopback.sh" start "$T/sshd-web1" "$P1"
	SSHD_INCLUDE=1 sh "$LIB/sshd-loopback.sh" start "$T/sshd-db1" "$P2"
	printf 'Host web1.example.org\n\tHostName 127.0.0.1\n\tPort %s\nHost db1.example.org\n\tHostName 127.0.0.1\n\tPort %s\n' \
	    "$P1" "$P2" >/var/lib/capback/.ssh/config
	chown capback /var/lib/capback/.ssh/config

	# the account cannot change its key or its forced command
	run runuser -u capback-host -- sh -c "echo x >>/etc/capback/ssh/capback-host.reader"
	[ "$status" -ne 0 ]
	install -d -o capback-host /var/lib/capback-host/.ssh
	runuser -u capback-host -- sh -c "echo 'command=\"/bin/sh\" $KEY' >/var/lib/capback-host/.ssh/authorized_keys"
	run runuser -u capback -- ssh -o BatchMode=yes -o StrictHostKeyChecking=no \
	    -o UserKnownHostsFile=/dev/null capback-host@web1.example.org id
	echo "$output"
	[[ "$output" != *"uid="* ]]
	[[ "$output" == *"refusing the request: not a capback-reader command"* ]]
	rm -rf /var/lib/capback-host/.ssh

	# ---- check: the host keys are unknown, shown to review, then added
	run sh -e -c "$(walkthrough check)"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"web1: 1 problem"*"its host key is not known"* ]]
	grep -E '^      \[127\.0\.0\.1\]:' <<<"$output" | sed 's/^ *//' >>/var/lib/capback/.ssh/known_hosts
	grep -q "\[127.0.0.1\]:$P1 ssh-ed25519" /var/lib/capback/.ssh/known_hosts
	logsize=$(stat -c %s /var/log/exim4/mainlog 2>/dev/null || echo 0)
	run sh -e -c "$(walkthrough run)"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"web1: ok (reachable, host key known, reader capback"*"cap_dac_read_search in effect, root-only /etc/shadow readable"* ]]
	[[ "$output" == *"db1: ok ("* ]]
	grep -qx "web1 secret" "/srv/backup/web1/etc/shadow"
	grep -qx "db1 secret" "/srv/backup/db1/etc/shadow"
	[ "$(stat -c %U /srv/backup/web1/etc/shadow)" = capback ]
	# the report went to the real MTA, for root
	tail -c +$((logsize + 1)) /var/log/exim4/mainlog | grep -q '<= .*capback'

	# ---- a restore onto a host through its own key, as README.md says
	RKEY_SUB="s#'ssh-ed25519 AAAA... capback@backup'#\"\$(cat /var/lib/capback/.ssh/restore_ed25519.pub)\"#"
	walkthrough restore | sed "s#192\.0\.2\.10#127.0.0.1#; $RKEY_SUB; s#--apply\$#--user capback-host --apply#; s#capback@web1#capback-host@web1#; s#/fstab#/shadow#g" >"$T/restore.sh"
	cat "$T/restore.sh"
	run sh -e "$T/restore.sh"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(cat /var/restore/shadow)" = "web1 secret" ]
	[ "$(stat -c %U /var/restore/shadow)" = capback-host ]
	rm -rf /var/restore

	# ---- purge: nothing the packages made is left
	for h in web1 db1; do sh "$LIB/sshd-loopback.sh" stop "$T/sshd-$h"; done
	pkill -u capback 2>/dev/null || true
	pkill -u capback-host 2>/dev/null || true
	dpkg -L capback capback-agent | grep -v '/$' >"$T/files"
	dpkg --purge capback-agent capback
	! dpkg -s capback 2>/dev/null | grep -q installed || false
	while read -r f; do
		[ -d "$f" ] || [ ! -e "$f" ] || { echo "left: $f"; false; }
	done <"$T/files"
	[ ! -e /usr/libexec/capback ]
	! getent group capback-reader || false
	! dpkg-statoverride --list | grep -q capback || false
	[ ! -e /etc/capback ]
	[ ! -e /etc/ssh/sshd_config.d/capback-capback-host.conf ]
	/usr/sbin/sshd -t
	# the accounts, their homes and the backups stay: they are the admin's
	id capback
	id capback-host
	[ -f /srv/backup/web1/etc/shadow ]
}
