#!/usr/bin/env bats
# Random histories of capback and rdiff-backup sessions on one repository
# (issue 22): tests/lib/randhist.py builds a random tree and history per
# seed (kills, regress and removals by the other tool, three time zones),
# then restores and verifies every session with both tools.  CI runs a
# fixed seed list; long runs by hand: see tests/README.

load ../lib/helpers

# States the fixed seeds steer around (randhist.py --help names each):
# small xattr values only (a file system that cannot hold them all loses
# some whatever the tool), and no capback session killed while a name is
# over 205 bytes: rdiff-backup's regress then misses what the session did
# below a long-named directory (its bug; capback's verify names the state
# and capback regress repairs it, which longnames.bats tests; this test
# does not run that repair yet).
KNOWN_OPEN=ext4-acl-enospc,rdiff-regress-longdir

setup() {
	need_root
	command -v rdiff-backup >/dev/null || skip "rdiff-backup not installed"
	command -v strace >/dev/null || skip "strace not installed"
	command -v setfacl >/dev/null || skip "acl not installed"
	setup_scratch
}

teardown() {
	teardown_scratch
}

@test "random histories of both tools: every session restores and verifies (fixed seeds)" {
	run python3 "$LIB/randhist.py" --build "$CAPBACK_BUILD" --workdir "$T" \
	    --seeds "${CAPBACK_RANDHIST_SEEDS:-1-12}" --known-open "$KNOWN_OPEN" \
	    --fileop-kills
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"# 12 iterations, 0 failures"* ]] || [ -n "${CAPBACK_RANDHIST_SEEDS:-}" ]
}

@test "random histories: a capback restore that loses a file is a failure" {
	# A capback whose restore drops one regular file of its target.
	mkdir "$T/bad"
	for role in capback-reader capback-writer capback-restorer; do
		ln -s "$CAPBACK_BUILD/$role" "$T/bad/$role"
	done
	cat >"$T/bad/capback" <<SH
#!/bin/sh
"$CAPBACK_BUILD/capback" "\$@"
st=\$?
for last; do :; done
case " \$* " in *" restore "*)
	find "\$last" -type f -print0 | sort -z | head -z -n 1 | xargs -0 -r rm -f ;;
esac
exit \$st
SH
	chmod 0755 "$T/bad/capback"
	run python3 "$LIB/randhist.py" --build "$T/bad" --workdir "$T" --seeds 1 \
	    --sessions 2-2 --known-open "$KNOWN_OPEN"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"FAIL seed=1 iteration=0 session="*": capback restore: "*" differs in presence"* ]]
	[[ "$output" == *"reproduce: python3 "*"--seeds 1 "* ]]
}
