#!/bin/sh
# fixture.sh DIR: a tree with every kind of file and attribute capback must
# keep (run as root).  Deterministic contents and times.
set -eu
d=$1
mkdir -p "$d"
cd "$d"
printf 'hello world\n' >plain
: >empty
head -c 3145728 /dev/zero | tr '\0' 'x' >text3m
python3 -c "import random,sys; r=random.Random(7); sys.stdout.buffer.write(r.randbytes(1048576))" >random1m
truncate -s 64M sparse
printf 'start' | dd of=sparse conv=notrunc status=none
printf 'middle' | dd of=sparse bs=1 seek=33554432 conv=notrunc status=none
mkdir -p dir/sub/deeper setgid_dir sticky_dir default_acl_dir private
printf 'deep\n' >dir/sub/deeper/file
printf 'linked\n' >dir/hl1
ln dir/hl1 dir/sub/hl2
ln dir/hl1 hl3
ln -s plain symlink
ln -s /nonexistent/target dangling
ln -s dir dirlink
mkfifo fifo
python3 -c "import socket; socket.socket(socket.AF_UNIX).bind('sock')"
mknod chardev c 1 3
mknod blockdev b 7 200
printf 'suid\n' >setuid && chmod 04755 setuid
printf 'sgid\n' >setgid && chmod 02755 setgid
chmod 02775 setgid_dir
chmod 01777 sticky_dir
printf 'who\n' >unknown_owner && chown 12345:54321 unknown_owner
printf 'nobody\n' >nobody_file && chown nobody:nogroup nobody_file
printf 'secret\n' >private/secret && chmod 0600 private/secret
chmod 0700 private
printf 'x\n' >xattrs
setfattr -n user.text -v hello xattrs
setfattr -n user.bin -v 0x00ff0a00 xattrs
setfattr -n user.empty xattrs
cp /bin/true capbin && setcap cap_net_raw+ep capbin
printf 'acl\n' >acl_file
setfacl -m u:nobody:rw,g:nogroup:r,u:12345:r acl_file
setfacl -d -m u:nobody:rwx,g::r-x default_acl_dir
printf 'in acl dir\n' >default_acl_dir/inherit
mkdir names
for n in 'with space' "$(printf 'tab\there')" "$(printf 'new\nline')" \
    'back\slash' 'semi;colon' 'equals=sign' 'colon:name' \
    "$(printf 'latin\351')" 'café' "$(printf '%0255d' 0 | tr 0 n)"; do
	printf '%s\n' "$n" >"names/$n"
done
mkdir trap
for n in a a-b a.b a0 A; do : >"trap/$n"; done
: >trap/a.tmp && rm trap/a && mkdir trap/a && : >trap/a/b && rm trap/a.tmp
# Fixed times, deepest first so directories keep theirs.
find . -depth ! -name . -exec touch -h -d '2022-03-04 05:06:07' {} +
touch -d '2021-01-02 03:04:05' plain
touch -d '2022-03-04 05:06:07' .
