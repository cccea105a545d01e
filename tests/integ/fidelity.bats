#!/usr/bin/env bats
# Round trips with every file type and attribute, as root and as a
# non-root writer, and the repository layout rdiff-backup expects.

load ../lib/helpers

setup() {
	need_root
	setup_scratch
	sh "$LIB/fixture.sh" "$T/src"
}

teardown() {
	teardown_scratch
}

@test "backup then restore gives back exactly the source tree" {
	run cb --current-time 1700000000 backup "$T/src" "$T/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	run cb restore "$T/repo" "$T/out"
	echo "$output"
	[ "$status" -eq 0 ]
	assert_same_tree "$T/src" "$T/out"
	# Holes are kept: 64 MiB sparse file uses a few blocks.
	[ "$(stat -c %b "$T/out/sparse")" -lt 1024 ]
	[ "$(stat -c %b "$T/repo/sparse")" -lt 1024 ]
	getcap "$T/out/capbin" | grep -q cap_net_raw
}

@test "repository layout: one marker, gzip snapshot in rdiff-backup order, EA and ACL files" {
	cb --current-time 1700000000 backup "$T/src" "$T/repo"
	d="$T/repo/rdiff-backup-data"
	[ "$(ls "$d" | grep -c '^current_mirror\.')" -eq 1 ]
	[ -f "$d/current_mirror.2023-11-14T22:13:20Z.data" ]
	grep -qx "PID [0-9]*" "$d/current_mirror.2023-11-14T22:13:20Z.data"
	gzip -t "$d/mirror_metadata.2023-11-14T22:13:20Z.snapshot.gz"
	[ -f "$d/extended_attributes.2023-11-14T22:13:20Z.snapshot.gz" ]
	[ -f "$d/access_control_lists.2023-11-14T22:13:20Z.snapshot.gz" ]
	[ -d "$d/increments" ]
	[ -f "$d/chars_to_quote" ] && [ ! -s "$d/chars_to_quote" ]
	[ "$(stat -c %a "$T/repo")" = 700 ]
	# The order trap: a, a/b, a-b, a.b, a0 after A.
	run sh -c "zcat '$d'/mirror_metadata.*.gz | grep '^File trap'"
	[ "${lines[0]}" = "File trap" ]
	[ "${lines[1]}" = "File trap/A" ]
	[ "${lines[2]}" = "File trap/a" ]
	[ "${lines[3]}" = "File trap/a/b" ]
	[ "${lines[4]}" = "File trap/a-b" ]
	[ "${lines[5]}" = "File trap/a.b" ]
	[ "${lines[6]}" = "File trap/a0" ]
	# Field encodings of section 4.2.
	record "$T/repo" setuid | grep -qx "  Permissions 2541"
	record "$T/repo" blockdev | grep -qx "  DeviceNum b 7 200"
	record "$T/repo" unknown_owner | grep -qx "  Uname :"
	record "$T/repo" unknown_owner | grep -qx "  Uid 12345"
	record "$T/repo" 'names/new\nline' | grep -qx "  Type reg"
	record "$T/repo" dir/hl1 | grep -q "  NumHardLinks 3"
	record "$T/repo" dir/hl1 | grep -q "  SHA1Digest"
	refute grep -q "  SHA1Digest" <(record "$T/repo" dir/sub/hl2)
	zcat "$d"/extended_attributes.*.gz | grep -qx "user.bin=0sAP8KAA=="
	zcat "$d"/extended_attributes.*.gz | grep -qx "user.empty"
	zcat "$d"/access_control_lists.*.gz | grep -qx "user:nobody:rw-"
	zcat "$d"/access_control_lists.*.gz | grep -qx "user:12345:r--"
	zcat "$d"/access_control_lists.*.gz | grep -qx "default:user:nobody:rwx"
}

@test "restore refuses a non-empty target unless --force" {
	cb --current-time 1700000000 backup "$T/src" "$T/repo"
	mkdir "$T/out" && echo keep >"$T/out/other"
	run cb restore "$T/repo" "$T/out"
	[ "$status" -eq 1 ]
	[[ "$output" == *"not empty"* ]]
	[ "$(ls "$T/out")" = other ]
	run cb --force restore "$T/repo" "$T/out"
	[ "$status" -eq 2 ] # a warning, as rdiff-backup's
	# Everything restored exactly; like rdiff-backup, --force makes the
	# target the backup, so the extra file is gone.
	assert_same_tree "$T/src" "$T/out"
	[ ! -e "$T/out/other" ]
}

@test "a non-root writer keeps true owners, modes, devices, ACLs and xattrs as metadata" {
	new_user && u=$NEW_USER
	# The reader needs to read everything: open up the one private dir.
	chmod 0755 "$T/src/private" && chmod 0644 "$T/src/private/secret"
	touch -d '2022-03-04 05:06:07' "$T/src/private" "$T/src"
	mkdir "$T/home" && chown "$u" "$T/home"
	run run_as "$u" "$CAPBACK_BUILD/capback" --current-time 1700000000 \
	    backup "$T/src" "$T/home/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	r="$T/home/repo"
	# Defanged mirror: no set-id bits, no devices, owned by the user, 0700 root.
	[ "$(stat -c %a "$r")" = 700 ]
	[ -z "$(find "$r" -perm /6000 -print -quit)" ]
	[ -z "$(find "$r" \( -type b -o -type c \) -print -quit)" ]
	[ -z "$(find "$r" ! -user "$u" -print -quit)" ]
	refute grep -q user.text <(getfattr -d "$r/xattrs" 2>/dev/null)
	# True values in the metadata.
	record "$r" setuid | grep -qx "  Permissions 2541"
	record "$r" setuid | grep -qx "  Uid 0"
	record "$r" nobody_file | grep -qx "  Uname nobody"
	record "$r" chardev | grep -qx "  DeviceNum c 1 3"
	zcat "$r"/rdiff-backup-data/access_control_lists.*.gz | grep -qx "user:nobody:rw-"
	zcat "$r"/rdiff-backup-data/extended_attributes.*.gz | grep -q "^security.capability=0s"
	# Root restores it exactly.
	run cb restore "$r" "$T/out"
	echo "$output"
	[ "$status" -eq 0 ]
	assert_same_tree "$T/src" "$T/out"
}

@test "a non-root restore rebuilds what the user may and says what it cannot" {
	new_user && u=$NEW_USER
	cb --current-time 1700000000 backup "$T/src" "$T/repo"
	chmod 0755 "$T" && mkdir "$T/userout" && chown "$u" "$T/userout"
	run run_as "$u" "$CAPBACK_BUILD/capback" restore "$T/repo" "$T/userout/r"
	echo "$output"
	[ "$status" -eq 1 ] # the repository (0700 root) is not readable
	chown -R "$u" "$T/repo"
	run run_as "$u" "$CAPBACK_BUILD/capback" restore "$T/repo" "$T/userout/r"
	echo "$output"
	[ "$status" -eq 4 ]
	[[ "$output" == *"owners are not restored"* ]]
	[[ "$output" == *"cannot create 'chardev'"* ]]
	cmp "$T/src/random1m" "$T/userout/r/random1m"
	[ "$(readlink "$T/userout/r/symlink")" = plain ]
}

@test "every SHA1Digest is its file's, whether hashed in line or by the second thread, and records stay in order" {
	# Sizes around the point where hashing moves to the second thread
	# (64 KiB), more large files than it holds at once, small files and
	# a hard link between them; the names sort as they were made.
	mkdir "$T/h"
	sizes="100 65535 65536 70000 0 3000 1500000 200000 17 400000"
	i=0
	for round in 1 2 3 4 5; do
		for sz in $sizes; do
			i=$((i + 1))
			head -c "$sz" /dev/urandom >"$T/h/f$(printf %03d $i)"
		done
	done
	ln "$T/h/f007" "$T/h/f007-link"
	head -c 300000 /dev/urandom >"$T/h/new
line"
	cb --current-time 1700000000 backup "$T/h" "$T/repo"
	metadata "$T/repo" | awk '/^File / { p = substr($0, 6) }
	    /^  SHA1Digest / { print $2 "  " p }' | grep -v '\\n' |
	    LC_ALL=C sort -k2 >"$T/recorded"
	(cd "$T/h" && find . -type f ! -name '*
*' -printf '%P\n' | LC_ALL=C sort | while read -r f; do
		sha1sum "$f"
	done) >"$T/actual"
	# Of a hard-link group only the first record carries the digest.
	grep -v ' f007-link$' "$T/actual" >"$T/expected"
	diff "$T/expected" "$T/recorded"
	[ "$(wc -l <"$T/recorded")" -eq 50 ]
	want=$(sha1sum <"$T/h/new
line" | cut -d' ' -f1)
	record "$T/repo" 'new\nline' | grep -qx "  SHA1Digest $want"
	# In rdiff-backup's order, and rdiff-backup agrees with every digest.
	metadata "$T/repo" | sed -n 's/^File //p' >"$T/order"
	[ "$(head -1 "$T/order")" = . ]
	[ "$(wc -l <"$T/order")" -eq 53 ]
	LC_ALL=C sort -c "$T/order"
	run rdiff-backup --api-version 201 verify "$T/repo"
	echo "$output"
	[ "$status" -eq 0 ]
}

# crowded SRC: a file f (with a file capability) and a directory d with
# an access ACL (d also a default ACL) and about 4 KiB of user xattrs, on
# a tmpfs (it holds more than ext4 does beside the ACL); the last name
# has ESC in it.
crowded() {
	local s=$1 p i v
	mkdir "$s"
	mount -t tmpfs -o size=4M tmpfs "$s" || skip "cannot mount a tmpfs"
	MOUNTS="$MOUNTS $s"
	echo data >"$s/f"
	mkdir "$s/d"
	setfacl -m u:nobody:r "$s/f"
	setcap cap_net_raw+ep "$s/f"
	setfacl -m u:nobody:rx "$s/d"
	setfacl -d -m u:nobody:r "$s/d"
	v=$(head -c 50 /dev/zero | tr '\0' a)
	for p in "$s/f" "$s/d"; do
		for i in $(seq 10 69); do
			setfattr -n "user.x$i" -v "$v" "$p"
		done
		setfattr -n "$(printf 'user.zz\033[31m')" -v "$v" "$p" ||
		    skip "no user xattrs on tmpfs"
	done
}

# ext4_at DIR: a small ext4 (4 KiB blocks) mounted on DIR.
ext4_at() {
	command -v mkfs.ext4 >/dev/null || skip "no mkfs.ext4"
	truncate -s 16M "$T/ext4.img"
	mkfs.ext4 -q -F -b 4096 "$T/ext4.img"
	mkdir "$1"
	mount -o loop "$T/ext4.img" "$1" || skip "cannot mount a loop device"
	MOUNTS="$MOUNTS $1"
}

# not_fitting SRC OUT NAME LOG: the user xattrs of SRC/NAME that OUT/NAME
# lacks are exactly those the log names as not set on NAME (each name as
# log_quote shows it); there is at least one, and no raw ESC in the log.
not_fitting() {
	python3 - "$@" <<'PY'
import os, re, sys
src, out, name, log = sys.argv[1:]
def users(p):
    return {n for n in os.listxattr(p) if n.startswith("user.")}
lacking = users(os.path.join(src, name)) - users(os.path.join(out, name))
text = open(log, "rb").read()
assert b"\x1b" not in text, "a raw ESC on stderr"
pat = (rb"cannot set extended attribute (.*) of '" + re.escape(name.encode())
       + rb"': No space left on device")
named = {re.sub(rb"\\x([0-9a-f]{2})", lambda m: bytes([int(m.group(1), 16)]),
                m.group(1)).decode() for m in re.finditer(pat, text)}
print("lacking:", sorted(lacking), "named:", sorted(named))
assert lacking, "every xattr fitted: the test proves nothing"
assert lacking == named
PY
}

# has_acls OUT: f keeps its access ACL, d its access and default ACLs.
has_acls() {
	getfacl -p "$1/f" | grep -qx "user:nobody:r--" &&
	    getfacl -p "$1/d" | grep -qx "user:nobody:r-x" &&
	    getfacl -p "$1/d" | grep -qx "default:user:nobody:r--"
}

@test "ACLs are set before user xattrs: on ext4 they are kept and each xattr that does not fit is named (rdiff-backup loses them)" {
	crowded "$T/crowded"
	ext4_at "$T/fs"
	cb --current-time 1700000000 backup "$T/crowded" "$T/repo"
	run cb restore "$T/repo" "$T/fs/out"
	echo "$output"
	[ "$status" -eq 4 ]
	has_acls "$T/fs/out"
	# set after the owner (chown clears it), before the ACLs and xattrs
	getcap "$T/fs/out/f" | grep -q cap_net_raw
	printf '%s\n' "$output" >"$T/log"
	not_fitting "$T/crowded" "$T/fs/out" f "$T/log"
	not_fitting "$T/crowded" "$T/fs/out" d "$T/log"
	# the forced restorer (another host's restore) alike
	printf '#!/bin/sh\nSSH_ORIGINAL_COMMAND=$2 exec %s --serve --restrict-path %s\n' \
	    "$CAPBACK_BUILD/capback-restorer" "$T/fs" >"$T/fake-ssh"
	chmod +x "$T/fake-ssh"
	run cb --remote-schema "$T/fake-ssh {h}" restore "$T/repo" "h::$T/fs/served"
	echo "$output"
	[ "$status" -eq 4 ]
	has_acls "$T/fs/served"
	printf '%s\n' "$output" >"$T/log"
	not_fitting "$T/crowded" "$T/fs/served" f "$T/log"
	# rdiff-backup 2.2.2 sets the xattrs first and stops the restore at
	# the first that does not fit: no ACL, and what follows not restored
	run rdiff-backup restore "$T/repo" "$T/fs/rdiff"
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"No space left on device"* ]]
	refute has_acls "$T/fs/rdiff"
	# a repository rdiff-backup made is restored by capback alike (its
	# mirror keeps the xattrs: a tmpfs too)
	mkdir "$T/rt"
	mount -t tmpfs -o size=4M tmpfs "$T/rt"
	MOUNTS="$MOUNTS $T/rt"
	rdiff-backup backup "$T/crowded" "$T/rt/rrepo"
	run cb restore "$T/rt/rrepo" "$T/fs/fromr"
	echo "$output"
	[ "$status" -eq 4 ]
	has_acls "$T/fs/fromr"
}
