#!/usr/bin/env bats
# Names from a source or a repository are data (issue 20, item 7): an ACL
# qualifier with '#' (a comment in the ACL file) cannot kill the writer,
# and every place that prints a name for a person escapes control
# characters, so a name cannot write to the admin's terminal or forge a
# line of a report.

load ../lib/helpers

setup() {
	need_root
	setup_scratch
}

teardown() {
	teardown_scratch
}

@test "an ACL naming a user whose name has '#' is backed up by number and restored" {
	local u="cbt#$$_$RANDOM"
	useradd -M -N -g nogroup -s /usr/sbin/nologin --badname "$u" >/dev/null ||
	    skip "useradd cannot make '$u'"
	CREATED_USERS="$CREATED_USERS $u"
	local uid
	uid=$(id -u "$u")
	mkdir -p "$T/src"
	echo x >"$T/src/f"
	setfacl -m "u:$u:r" "$T/src/f"
	run cb backup "$T/src" "$T/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	zcat -f "$T"/repo/rdiff-backup-data/access_control_lists.* >"$T/acls"
	grep -qx "user:$uid:r--" "$T/acls"
	refute grep -q "#.*:r--" "$T/acls"
	run cb restore "$T/repo" "$T/out"
	[ "$status" -eq 0 ]
	getfacl -n "$T/out/f" | grep -qx "user:$uid:r--"
}
