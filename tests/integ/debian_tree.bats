#!/usr/bin/env bats
# A real Debian root tree (debootstrap --variant=minbase, cached between
# runs in $CAPBACK_DEBIAN_CACHE) pulled over the loopback sshd by a non-root
# server account through an agent holding CAP_DAC_READ_SEARCH only (file
# capability +p), then restored as root: owners, modes, set-id bits,
# device nodes, hard links, symlinks, xattrs and times must come back
# exactly, and rdiff-backup must accept the repository.

load ../lib/helpers

CACHE=${CAPBACK_DEBIAN_CACHE:-/var/cache/capback-test}
TREE="$CACHE/bookworm-minbase"

setup() {
	need_root
	command -v debootstrap >/dev/null || skip "debootstrap not installed"
	[ -x /usr/sbin/sshd ] || skip "openssh-server not installed"
	if [ ! -d "$TREE" ]; then
		mkdir -p "$CACHE"
		rm -rf "$TREE.tmp"
		debootstrap --variant=minbase bookworm "$TREE.tmp" \
		    "${CAPBACK_DEBIAN_MIRROR:-http://deb.debian.org/debian}" \
		    >"$CACHE/debootstrap.log" 2>&1 ||
			{ tail -20 "$CACHE/debootstrap.log"; return 1; }
		mv "$TREE.tmp" "$TREE"
	fi
	setup_scratch
	# two accounts with a shell (forced commands run through it)
	AGENT="cbd$$_a"
	SERVER="cbd$$_s"
	useradd -M -N -g nogroup -s /bin/sh "$AGENT"
	useradd -M -N -g nogroup -s /bin/sh "$SERVER"
	CREATED_USERS="$AGENT $SERVER"
	mkdir -p "$T/agent" "$T/server"
	cp "$CAPBACK_BUILD/capback-reader" "$T/agent/"
	chmod 0755 "$T/agent/capback-reader"
	setcap cap_dac_read_search+p "$T/agent/capback-reader"
	chown "$SERVER" "$T/server"
	PORT=$((20000 + RANDOM % 20000))
	sh "$LIB/sshd-loopback.sh" start "$T/sshd" "$PORT" \
	    "$AGENT=$T/agent/capback-reader --serve --restrict-path $CACHE"
	chown "$SERVER" "$T/sshd/client_key"
	SSHCMD=$(sh "$LIB/sshd-loopback.sh" sshcmd "$T/sshd" "$AGENT")
}

teardown() {
	[ -n "${T:-}" ] && sh "$LIB/sshd-loopback.sh" stop "$T/sshd" || true
	pkill -u "${AGENT:-none}" 2>/dev/null || true
	teardown_scratch
}

@test "a Debian minbase tree pulled as a non-root user restores exactly as root" {
	run run_as "$SERVER" env HOME="$T/server" "$CAPBACK_BUILD/capback" \
	    --remote-schema "$SSHCMD {h}" backup "x@127.0.0.1::$TREE" "$T/server/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	# the repository is the ordinary user's; root's files are metadata
	[ "$(stat -c %U "$T/server/repo/etc/shadow")" = "$SERVER" ]
	record "$T/server/repo" etc/shadow | grep -qx '  Uid 0'
	run cb restore "$T/server/repo" "$T/out"
	echo "$output"
	[ "$status" -eq 0 ]
	assert_same_tree "$TREE" "$T/out"
	# something of each kind was in the tree, and came back
	[ -u "$T/out/usr/bin/passwd" ]
	[ "$(stat -c %U:%G:%a "$T/out/etc/shadow")" = "$(stat -c %U:%G:%a "$TREE/etc/shadow")" ]
	[ -L "$T/out/bin" ]
	run rdiff-backup verify "$T/server/repo"
	[ "$status" -eq 0 ]
}
