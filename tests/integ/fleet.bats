#!/usr/bin/env bats
# capback run at fleet scale, by an ordinary account on local hosts: the
# longest host first, retention and drills beside later backups, a start
# jitter, 'parallel' from the machine, and shards (rendezvous hashing of
# host names) for N servers sharing one capback.conf.

load ../lib/helpers

setup() {
	need_root
	setup_scratch
	chmod 0755 "$T"
	new_user && U=$NEW_USER
	mkdir -p "$T/srv" "$T/src"
	chown "$U" "$T/srv"
}

teardown() {
	teardown_scratch
}

as_user() {
	run_as "$U" env HOME="$T/srv" "$CAPBACK_BUILD/capback" "$@"
}

# conf GLOBAL-LINES HOST...: capback.conf with those [global] lines (one
# string, newline-separated) and a local host for each NAME; a host's
# extra lines come from the variable EXTRA_<NAME>
conf() {
	local g=$1 h v
	shift
	{
		printf '[global]\nstate-dir = %s\n%s\n' "$T/srv/state" "$g"
		for h in "$@"; do
			mkdir -p "$T/src/$h"
			echo "$h" >"$T/src/$h/f"
			printf '[host %s]\nsource = %s\nrepository = %s\n' \
			    "$h" "$T/src/$h" "$T/srv/$h"
			v="EXTRA_$h"
			[ -z "${!v:-}" ] || printf '%s\n' "${!v}"
		done
	} >"$T/srv/capback.conf"
}

@test "the longest host goes first (by its last backup; a new host before all), one at a time" {
	EXTRA_a="before = echo a >>$T/srv/order"
	EXTRA_b="before = echo b >>$T/srv/order; sleep 2"
	EXTRA_c="before = echo c >>$T/srv/order"
	conf "parallel = 1" a b c
	run as_user run "$T/srv/capback.conf"
	echo "$output"
	[ "$status" -eq 0 ]
	# nothing known yet: the configuration's order
	[ "$(tr '\n' ' ' <"$T/srv/order")" = "a b c " ]
	awk '$1 == "backup-seconds" && $2 >= 2 { ok = 1 } END { exit !ok }' \
	    "$T/srv/state/hosts/b.result"
	EXTRA_d="before = echo d >>$T/srv/order"
	conf "parallel = 1" a b c d
	rm "$T/srv/order"
	run as_user run "$T/srv/capback.conf"
	[ "$status" -eq 0 ]
	# d, never backed up, then b, the longest last time
	[ "$(head -2 "$T/srv/order" | tr '\n' ' ')" = "d b " ]
	[ "$(wc -l <"$T/srv/order")" -eq 4 ]
}

@test "a host's retention and drill run while later hosts are still backed up" {
	# slow's backup waits (its before command, up to 2 minutes) until
	# quick's drill is done: it can be only if retention and drills
	# overlap later backups (they used to wait for every backup)
	EXTRA_slow="before = i=0; until grep -q '^oldest-proven 20' $T/srv/state/hosts/quick.result 2>/dev/null || [ \$i -ge 1200 ]; do sleep 0.1; i=\$((i + 1)); done
after = touch $T/srv/slow-backed-up"
	EXTRA_quick="drill = all
keep = 1D"
	conf "parallel = 2" slow quick
	run as_user -v 4 run "$T/srv/capback.conf"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"at most 2 hosts at once (parallel in the configuration)"* ]]
	grep -q '^oldest-proven 20' "$T/srv/state/hosts/quick.result"
	# -v 4 is the run's own: the hosts' logs hold no statistics lines
	# counted as warnings (the new-user walk-through's finding)
	grep -qx 'warnings 0' "$T/srv/state/hosts/quick.result"
	grep -qx 'warnings 0' "$T/srv/state/hosts/slow.result"
	q=$(stat -c %.9Y "$T/srv/state/hosts/quick.result")
	s=$(stat -c %.9Y "$T/srv/slow-backed-up")
	echo "quick's drill ended $q, slow's backup $s"
	python3 -c "import sys; sys.exit(0 if $q < $s else 1)"
	run as_user status "$T/srv/capback.conf"
	[ "$status" -eq 0 ]
}

@test "jitter: each host starts at its own random moment within the span" {
	hosts=$(seq -f 'h%02g' 1 10)
	for h in $hosts; do
		printf -v "EXTRA_$h" '%s' "before = date +%s.%N >>$T/srv/starts"
	done
	conf "parallel = 16
jitter = 2s" $hosts
	t0=$(date +%s.%N)
	run as_user run "$T/srv/capback.conf"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(wc -l <"$T/srv/starts")" -eq 10 ]
	# spread over the span (all ten within 0.3 s: a chance below 1e-6),
	# none later than it (and the machine's slack)
	sort -n "$T/srv/starts" | awk -v t0="$t0" 'NR == 1 { lo = $1 } { hi = $1 }
	    END { printf "spread %.2f s, last %.2f s after the start\n", hi - lo, hi - t0
	          exit !(hi - lo > 0.3 && hi - t0 < 15) }'
	for bad in 2 -1s soon 13h; do
		conf "jitter = $bad" a
		run as_user run "$T/srv/capback.conf"
		[ "$status" -eq 1 ]
		[[ "$output" == *"line 3: jitter = $bad: a time span (30s, 5m) or 0, at most 12h"* ]]
	done
	# a [global] key in a host's section says where it belongs
	EXTRA_a="jitter = 5s"
	conf "" a
	run as_user run "$T/srv/capback.conf"
	[ "$status" -eq 1 ]
	[[ "$output" == *"'jitter' belongs in [global], not in [host a]"* ]]
}

@test "parallel from the machine: twice the cores, at most 4 writers on the repositories' disk" {
	conf "" a b
	run as_user -v 4 run "$T/srv/capback.conf"
	echo "$output"
	[ "$status" -eq 0 ]
	n=$(($(nproc) * 2))
	[ "$n" -le 4 ] || n=4
	[[ "$output" == *"at most $n hosts at once (parallel from the machine: twice $(nproc) cores, at most 4 for each of 1 file system of local repositories; set parallel = to change)"* ]]
}

@test "shards: N servers share the hosts by name, each host on exactly one, and a new server takes only its own share" {
	hosts=$(seq -f 'web%02g' 1 60)
	conf "" $hosts
	shard_hosts() { # I/N: the hosts status lists for that shard
		as_user status --json --shard "$1" "$T/srv/capback.conf" |
		    python3 -c 'import json, sys
d = json.load(sys.stdin)
print(d["shard"], " ".join(sorted(h["host"] for h in d["hosts"])))'
	}
	for n in 1 2 3; do
		for i in $(seq 1 "$n"); do
			shard_hosts "$i/$n" >"$T/s$i.$n"
			[ "$(cut -d' ' -f1 "$T/s$i.$n")" = "$i/$n" ]
			cut -d' ' -f2- "$T/s$i.$n" | tr ' ' '\n' | sed '/^$/d' >"$T/l$i.$n"
		done
		# each host on exactly one server
		[ "$(cat "$T"/l*."$n" | sort | uniq -d | wc -l)" -eq 0 ]
		[ "$(cat "$T"/l*."$n" | sort -u | wc -l)" -eq 60 ]
	done
	# shares of about a half and a third (binomial: far from the ends)
	for f in "$T"/l*.2 "$T"/l*.3; do
		k=$(wc -l <"$f")
		echo "$f: $k"
		[ "$k" -ge 8 ] && [ "$k" -le 45 ]
	done
	# from 2 servers to 3: what moves, moves to the new one only
	for i in 1 2; do
		moved=$(comm -23 "$T/l$i.2" "$T/l$i.3")
		for h in $moved; do grep -qx "$h" "$T/l3.3"; done
		comm -12 "$T/l$i.2" "$T/l3.3" >/dev/null
	done
	[ -n "$(cat "$T/l3.3")" ]
	# the file's shard key is the same as --shard
	conf "shard = 2/3" $hosts
	[ "$(shard_hosts 2/3)" = "$(cat "$T/s2.3")" ]
	run as_user status "$T/srv/capback.conf"
	[[ "$output" == "shard 2/3: $(wc -l <"$T/l2.3") of the 60 hosts"* ]]
	run as_user status --json "$T/srv/capback.conf"
	[[ "$(echo "$output" | python3 -c 'import json, sys; print(json.load(sys.stdin)["shard"])')" = 2/3 ]]
	for bad in 0/2 3/2 1/0 x 1/1001 2 " 1/2"; do
		conf "" a
		run as_user status --shard "$bad" "$T/srv/capback.conf"
		[ "$status" -eq 1 ]
		[[ "$output" == *"--shard $bad: I/N"* ]]
		[ "$bad" != " 1/2" ] || continue # (the file's values are trimmed)
		conf "shard = $bad" a
		run as_user run "$T/srv/capback.conf"
		[ "$status" -eq 1 ]
		[[ "$output" == *"shard = "*": I/N, this server's number I (1 to N) of N servers"* ]]
	done
}

@test "a run of one shard backs up its hosts only; the report and the metrics name the shard" {
	mkdir -m 0755 "$T/srv/prom"
	chown "$U" "$T/srv/prom"
	conf "metrics = $T/srv/prom/capback.prom" a b c d e f
	run as_user status --json --shard 1/2 "$T/srv/capback.conf"
	mine=$(echo "$output" | python3 -c 'import json, sys; print(" ".join(sorted(h["host"] for h in json.load(sys.stdin)["hosts"])))')
	echo "shard 1/2: $mine"
	k=$(echo "$mine" | wc -w)
	run as_user --current-time 1700000000 run --report --shard 1/2 "$T/srv/capback.conf"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"shard 1/2: $k of the 6 hosts"* ]]
	for h in a b c d e f; do
		if [[ " $mine " == *" $h "* ]]; then
			[ -d "$T/srv/$h/rdiff-backup-data" ]
			[[ "$output" == *"$h "*"OK in"* ]]
		else
			[ ! -e "$T/srv/$h" ]
			[[ "$output" != *"$h      "* ]]
		fi
	done
	grep -qx 'capback_run_shard 1' "$T/srv/prom/capback.prom"
	grep -qx 'capback_run_shards 2' "$T/srv/prom/capback.prom"
	grep -qx "capback_run_hosts $k" "$T/srv/prom/capback.prom"
	if command -v promtool >/dev/null; then
		promtool check metrics <"$T/srv/prom/capback.prom"
	fi
}

@test "a file of 5000 hosts: status lists them; a repeated name or repository is still found, naming both" {
	python3 - "$T" <<'PYEOF'
import sys
t = sys.argv[1]
with open(t + "/srv/capback.conf", "w") as f:
    f.write("[global]\nstate-dir = %s/srv/state\n" % t)
    for i in range(5000):
        f.write("[host h%04d]\nsource = /srv/src/h%04d\nrepository = /srv/backup/h%04d\n" % (i, i, i))
PYEOF
	run as_user status --json "$T/srv/capback.conf"
	[ "$(echo "$output" | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["hosts"]))')" -eq 5000 ]
	cp "$T/srv/capback.conf" "$T/srv/good.conf"
	printf '[host last]\nsource = /x\nrepository = /srv/backup//h0007/\n' >>"$T/srv/capback.conf"
	run as_user status "$T/srv/capback.conf"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"[host h0007] and [host last] have the same repository"* ]]
	cp "$T/srv/good.conf" "$T/srv/capback.conf"
	printf '[host h4321]\nsource = /x\n' >>"$T/srv/capback.conf"
	run as_user status "$T/srv/capback.conf"
	[[ "$output" == *"[host h4321] appears twice"* ]]
}
