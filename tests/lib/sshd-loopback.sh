#!/bin/sh
# A private OpenSSH server on 127.0.0.1 for the tests (least-privilege-facts
# section 2): own host and client keys, own config, own PAM service with
# pam_cap reading a private capability.conf.  Never touches the system's
# sshd, /etc/pam.d/sshd or /etc/security/capability.conf.
#
#   sshd-loopback.sh start DIR PORT USER[=FORCED_COMMAND] ...
#       (SSHD_CAPS: capability.conf lines, e.g. "cap_dac_read_search bk")
#   sshd-loopback.sh ssh DIR USER [ssh args...]   a pinned, batch client
#   sshd-loopback.sh sshcmd DIR USER   the client command line (for
#                                      --remote-schema and such)
#   sshd-loopback.sh stop DIR
set -eu

cmd=$1
dir=$2
shift 2

client() { # client DIR USER: the ssh command line
	port=$(cat "$1/port")
	echo "ssh -F none -p $port -i $1/client_key -o BatchMode=yes" \
	    "-o IdentitiesOnly=yes -o UserKnownHostsFile=$1/known_hosts" \
	    "-o StrictHostKeyChecking=yes -o LogLevel=ERROR -l $2"
}

case $cmd in
start)
	port=$1
	shift
	mkdir -p "$dir/keys"
	chmod 0755 "$dir" "$dir/keys"
	echo "$port" >"$dir/port"
	ssh-keygen -q -t ed25519 -N '' -f "$dir/host_key" -C host
	ssh-keygen -q -t ed25519 -N '' -f "$dir/client_key" -C client
	echo "[127.0.0.1]:$port $(cat "$dir/host_key.pub")" >"$dir/known_hosts"
	for spec in "$@"; do
		user=${spec%%=*}
		opts='restrict,from="127.0.0.1"'
		if [ "$spec" != "$user" ]; then
			opts="$opts,command=\"${spec#*=}\""
		fi
		echo "$opts $(cat "$dir/client_key.pub")" >"$dir/keys/$user"
		chmod 0644 "$dir/keys/$user"
	done
	printf '%s\n' "${SSHD_CAPS:-}" "none *" >"$dir/capability.conf"
	service="bkt-sshd-$port"
	cat >"/etc/pam.d/$service" <<EOF
auth optional pam_cap.so config=$dir/capability.conf
auth required pam_permit.so
account required pam_unix.so
session required pam_permit.so
EOF
	echo "$service" >"$dir/pam_service"
	# SSHD_INCLUDE=1: the system's drop-ins first (capback setup's)
	if [ -n "${SSHD_INCLUDE:-}" ]; then
		echo "Include /etc/ssh/sshd_config.d/*.conf" >"$dir/sshd_config"
	else
		: >"$dir/sshd_config"
	fi
	cat >>"$dir/sshd_config" <<EOF
ListenAddress 127.0.0.1
Port $port
HostKey $dir/host_key
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/keys/%u
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM yes
StrictModes no
DisableForwarding yes
PermitUserRC no
PermitTTY no
X11Forwarding no
LogLevel VERBOSE
EOF
	ln -sf /usr/sbin/sshd "$dir/$service"
	mkdir -p /run/sshd
	if ! "$dir/$service" -t -f "$dir/sshd_config"; then
		rm -f "/etc/pam.d/$service"
		exit 1
	fi
	setsid "$dir/$service" -D -e -f "$dir/sshd_config" >"$dir/sshd.log" 2>&1 &
	echo $! >"$dir/daemon.pid"
	i=0
	while ! grep -q 'Server listening' "$dir/sshd.log" 2>/dev/null; do
		i=$((i + 1))
		# (up to a minute: a loaded CI starts sshd slowly)
		if [ $i -gt 1200 ] || ! kill -0 "$(cat "$dir/daemon.pid")" 2>/dev/null; then
			cat "$dir/sshd.log" >&2
			kill "$(cat "$dir/daemon.pid")" 2>/dev/null || true
			rm -f "/etc/pam.d/$service"
			exit 1
		fi
		sleep 0.05
	done
	;;
ssh)
	user=$1
	shift
	# shellcheck disable=SC2046
	exec $(client "$dir" "$user") 127.0.0.1 "$@"
	;;
sshcmd)
	client "$dir" "$1"
	;;
stop)
	[ -f "$dir/daemon.pid" ] && kill "$(cat "$dir/daemon.pid")" 2>/dev/null || true
	[ -f "$dir/pam_service" ] && rm -f "/etc/pam.d/$(cat "$dir/pam_service")"
	rm -f "$dir/daemon.pid"
	;;
*)
	echo "usage: sshd-loopback.sh start|ssh|sshcmd|stop DIR ..." >&2
	exit 2
	;;
esac
