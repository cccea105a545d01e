#!/usr/bin/env bats
# capback run's Prometheus metrics: a textfile-collector file, written
# atomically, that promtool accepts, whose values match the run; a real
# node exporter on 127.0.0.1 serves them; the shipped alert rules pass
# promtool's checks and unit tests.

load ../lib/helpers

setup() {
	need_root
	command -v promtool >/dev/null || skip "promtool (prometheus) not installed"
	setup_scratch
	new_user && SERVER=$NEW_USER
	mkdir -p "$T/alpha/d" "$T/beta" "$T/server/textfile"
	for i in 1 2 3; do echo "file $i" >"$T/alpha/d/f$i"; done
	echo beta >"$T/beta/f"
	chown -R "$SERVER" "$T/alpha" "$T/beta" "$T/server"
	cat >"$T/server/capback.conf" <<EOF
[global]
state-dir = $T/server/state
mail = never
metrics = $T/server/textfile/capback.prom

[host alpha]
source = $T/alpha
repository = $T/server/alpha
drill = 0.5

[host beta]
source = $T/beta
repository = $T/server/beta
drill = all
EOF
}

teardown() {
	[ -n "${EXPORTER:-}" ] && kill "$EXPORTER" 2>/dev/null || true
	teardown_scratch
}

as_server() {
	run_as "$SERVER" "$CAPBACK_BUILD/capback" "$@"
}

# value NAME LABELS: the sample's value in the metrics file
value() {
	awk -v k="$1$2" '$1 == k { print $2 }' "$T/server/textfile/capback.prom"
}

@test "a run writes metrics promtool accepts, with the run's values" {
	before=$(date +%s)
	run as_server run "$T/server/capback.conf"
	echo "$output"
	[ "$status" -eq 0 ]
	f="$T/server/textfile/capback.prom"
	cat "$f"
	[ "$(stat -c %U:%a "$f")" = "$SERVER:644" ]
	run promtool check metrics <"$f"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$output" ] # no lint findings either
	[ "$(value capback_host_last_run_success '{host="alpha"}')" = 1 ]
	[ "$(value capback_host_files '{host="alpha"}')" -eq 5 ] # the root, d and three files
	[ "$(value capback_host_sessions '{host="alpha"}')" = 1 ]
	[ "$(value capback_host_source_bytes '{host="alpha"}')" -eq 21 ]
	[ "$(value capback_host_repository_bytes '{host="alpha"}')" -ge 21 ]
	[ "$(value capback_host_drill_ratio '{host="alpha"}')" = 0.5 ]
	[ "$(value capback_host_drill_ratio '{host="beta"}')" = 1 ]
	[ "$(value capback_run_failed_hosts '')" = 0 ]
	[ "$(value capback_run_hosts '')" = 2 ]
	# the run's duration as the report has it, a fraction of a second
	# here (whole seconds made it 0)
	python3 -c 'import sys; v = float(sys.argv[1]); assert 0 < v < 60, v
# in as few digits as read back the same (not 0.064000000000000001)
assert sys.argv[1] == repr(v) or len(sys.argv[1]) <= 16, sys.argv[1]' \
	    "$(value capback_host_last_run_duration_seconds '{host="alpha"}')"
	# no value in 17 digits where fewer read back the same
	! grep -v '^#' "$f" | grep -qE ' [0-9]*\.[0-9]*0000000000[0-9]+$' || false
	ok=$(value capback_host_last_success_timestamp_seconds '{host="alpha"}')
	[ "$ok" -ge "$before" ] && [ "$ok" -le "$(date +%s)" ]
	proven=$(value capback_host_oldest_proven_timestamp_seconds '{host="beta"}')
	[ "$proven" -ge $((before - 1)) ]
	# every host line carries only the host label; no _total on gauges
	! grep -v '^#' "$f" | grep -v '^capback_run_' | grep -vq '{host="[a-z]*"} ' || false
	! grep -q '_total' "$f" || false
	# no temporary is left beside it
	[ "$(ls "$T/server/textfile")" = capback.prom ]
}

@test "a failed host: success 0, its last success kept, the run's failed count" {
	run as_server run "$T/server/capback.conf"
	[ "$status" -eq 0 ]
	ok=$(value capback_host_last_success_timestamp_seconds '{host="beta"}')
	[ -n "$ok" ]
	sleep 1
	echo more >"$T/alpha/d/f4"
	chown "$SERVER" "$T/alpha/d/f4"
	mv "$T/beta" "$T/beta.gone"
	run as_server run --report "$T/server/capback.conf"
	echo "$output"
	[ "$status" -eq 1 ]
	# the report tells the failure once (the log's tail), not again as
	# a warning
	[ "$(grep -c "cannot back up '$T/beta'" <<<"$output")" -eq 1 ]
	[ "$(value capback_host_last_run_success '{host="beta"}')" = 0 ]
	[ "$(value capback_host_last_success_timestamp_seconds '{host="beta"}')" = "$ok" ]
	[ "$(value capback_host_last_run_success '{host="alpha"}')" = 1 ]
	[ "$(value capback_host_changed_files '{host="alpha"}')" -ge 1 ]
	[ "$(value capback_run_failed_hosts '')" = 1 ]
	[ "$(value capback_host_sessions '{host="alpha"}')" = 2 ]
	promtool check metrics <"$T/server/textfile/capback.prom"
}

@test "a metrics path the run cannot write fails the run, named; a bad one is refused by line" {
	sed -i "s#^metrics = .*#metrics = $T/nowhere/capback.prom#" "$T/server/capback.conf"
	run as_server run "$T/server/capback.conf"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"cannot write the metrics file $T/nowhere/capback.prom"* ]]
	sed -i "s#^metrics = .*#metrics = relative.prom#" "$T/server/capback.conf"
	run as_server run "$T/server/capback.conf"
	[ "$status" -eq 1 ]
	[[ "$output" == *"line 4: metrics = relative.prom: an absolute path ending in .prom"* ]]
}

@test "a real node exporter serves them" {
	command -v prometheus-node-exporter >/dev/null || skip "prometheus-node-exporter not installed"
	command -v curl >/dev/null || skip "curl not installed"
	run as_server run "$T/server/capback.conf"
	[ "$status" -eq 0 ]
	PORT=$((20000 + RANDOM % 20000))
	prometheus-node-exporter --web.listen-address="127.0.0.1:$PORT" \
	    --collector.disable-defaults --collector.textfile \
	    --collector.textfile.directory="$T/server/textfile" >"$T/exporter.log" 2>&1 &
	EXPORTER=$!
	for i in $(seq 600); do
		curl -sf "http://127.0.0.1:$PORT/metrics" >"$T/scrape" 2>/dev/null && break
		kill -0 "$EXPORTER" 2>/dev/null || break
		sleep 0.1
	done
	cat "$T/exporter.log"
	grep -qx 'capback_host_last_run_success{host="alpha"} 1' "$T/scrape"
	grep -qx 'capback_run_hosts 2' "$T/scrape"
	# the collector read the file without error
	grep -qx 'node_textfile_scrape_error 0' "$T/scrape"
}

@test "the shipped alert rules: promtool check and unit tests" {
	run promtool check rules "$CAPBACK_SRC/contrib/prometheus/capback.rules.yml"
	echo "$output"
	[ "$status" -eq 0 ]
	cd "$CAPBACK_SRC/tests/prometheus"
	run promtool test rules capback.rules.test.yml
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "the metrics file is not written into a directory others may write (they could plant or swap it)" {
	mkdir -m 0777 "$T/open"
	chmod 0777 "$T/open"
	sed -i "s#^metrics = .*#metrics = $T/open/capback.prom#" "$T/server/capback.conf"
	run as_server run "$T/server/capback.conf"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"$T/open/ may be written by others than its owner"* ]]
	[ ! -e "$T/open/capback.prom" ]
	[ -z "$(ls -A "$T/open")" ]
	# a sticky one is fine: the temporary is made O_EXCL under a name
	# nobody can guess, and renamed through the directory's descriptor
	chmod 1777 "$T/open"
	sleep 1 # a new session time
	run as_server run "$T/server/capback.conf"
	[ "$status" -eq 0 ]
	[ "$(ls -A "$T/open")" = capback.prom ]
	[ "$(stat -c %U "$T/open/capback.prom")" = "$SERVER" ]
}
