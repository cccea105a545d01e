#!/bin/sh
# Pipelining over a slow link: a pull backup of N files (and an
# incremental with 100 changed) locally, over the loopback sshd, and over
# the same sshd behind a relay adding DELAY ms each way; and the bytes the
# incremental sent, against rsync's for the same change.
#   bench/latency.sh [N] [DELAY_MS]      (as root; default 20000 25)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cb="$top/build/capback"
n=${1:-20000}
delay=${2:-25}
work=${BENCH_DIR:-/tmp/capback-bench}/latency
rm -rf "$work"
mkdir -p "$work"
python3 "$top/bench/mktree.py" "$work/src" "$n" >/dev/null
port=$((30000 + $$ % 20000))
rport=$((port + 1))
sh "$top/tests/lib/sshd-loopback.sh" start "$work/sshd" "$port" root
ssh_plain=$(sh "$top/tests/lib/sshd-loopback.sh" sshcmd "$work/sshd" root)
python3 "$top/bench/relay.py" "$rport" "$port" "$delay" &
relay=$!
trap 'kill $relay 2>/dev/null; sh "$top/tests/lib/sshd-loopback.sh" stop "$work/sshd"' EXIT
sleep 0.5
ssh_slow=$(echo "$ssh_plain" | sed "s/-p $port/-p $rport/")
sed -i "s/^\[127.0.0.1\]:$port /[127.0.0.1]:$port,[127.0.0.1]:$rport /" "$work/sshd/known_hosts"
schema_env="env PATH=$top/build:/usr/bin:/bin"
t() { # t LABEL CMD...: wall time
	s=$(date +%s%N)
	"$@" >/dev/null
	echo "$1 $(( ($(date +%s%N) - s) / 1000000 )) ms" >&2
}
run() { # run NAME SCHEMA
	rm -rf "$work/repo-$1"
	s=$(date +%s%N)
	if [ -z "$2" ]; then "$cb" --current-time 1700000000 backup "$work/src" "$work/repo-$1"
	else "$cb" --remote-schema "$2 {h} $schema_env" --current-time 1700000000 backup "root@127.0.0.1::$work/src" "$work/repo-$1"; fi
	a=$(( ($(date +%s%N) - s) / 1000000 ))
	find "$work/src" -type f -name 'f*7.txt' | head -100 | while read -r f; do echo edit >>"$f"; done
	s=$(date +%s%N)
	if [ -z "$2" ]; then "$cb" --current-time 1700000100 backup "$work/src" "$work/repo-$1"
	else "$cb" --remote-schema "$2 {h} $schema_env" --current-time 1700000100 backup "root@127.0.0.1::$work/src" "$work/repo-$1"; fi
	b=$(( ($(date +%s%N) - s) / 1000000 ))
	printf '%-22s initial %6d ms   incremental (100 changed) %6d ms\n' "$1" "$a" "$b"
}
echo "$n files; relay adds $delay ms each way ($((2 * delay)) ms round trip)"
run local ""
run ssh "$ssh_plain"
run "ssh+${delay}ms" "$ssh_slow"
