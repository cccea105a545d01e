#!/bin/sh
# One day replicated into a vault, against that day's backup and against
# rsync of the whole repository: bytes on the link (bench/countpipe.py
# around the transport, the same for both) and wall time.
#   bench/replicate.sh [FILES] [SIZE_KB]        (default 5000 files of 20 KB)
# Day 1 is backed up (a pull, through the counting transport) and
# replicated; then 1% of the files change (16 bytes each, size kept);
# day 2 is backed up, replicated (a vault pulling, and one pushed to,
# through the same transport) and rsync -a'd (the whole primary repository onto a copy of
# day 1's), each timed and counted.  No compression on the transport
# (the default schema is "ssh -C", which would shrink every figure).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cb="$top/build/capback"
n=${1:-5000}
kb=${2:-20}
w=$(mktemp -d /tmp/capback-rep.XXXXXX)
trap 'rm -rf "$w"' EXIT
mkdir -p "$w/src"
python3 - "$w/src" "$n" "$kb" <<'PY'
import os, random, sys
top, n, kb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
r = random.Random(1)
for i in range(n):
    d = os.path.join(top, "d%03d" % (i % 100))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%06d" % i), "wb") as f:
        f.write(r.randbytes(kb * 1024))
PY
now() { date +%s.%N; }
# a transport that runs the command here, through the byte counter
schema="python3 $top/bench/countpipe.py $w/bytes env PATH=$top/build:/usr/bin:/bin {h} sh -c"
"$cb" --remote-schema "$schema" --current-time 1700000000 backup "L=1::$w/src" "$w/prim" >/dev/null
"$cb" --remote-schema "$schema" replicate "L=1::$w/prim" "$w/vault" >/dev/null
"$cb" --remote-schema "$schema" replicate "$w/prim" "L=1::$w/pushed" >/dev/null
cp -a "$w/prim" "$w/rsynced"
python3 - "$w/src" "$n" <<'PY'
import os, random, sys
top, n = sys.argv[1], int(sys.argv[2])
r = random.Random(2)
for i in r.sample(range(n), max(1, n // 100)):
    p = os.path.join(top, "d%03d" % (i % 100), "f%06d" % i)
    with open(p, "r+b") as f:
        f.seek(r.randrange(os.path.getsize(p) - 16))
        f.write(r.randbytes(16))
PY
# the day's backup as a pull from a host: the reader through the same
# counting transport
: >"$w/bytes"
t0=$(now)
"$cb" --remote-schema "$schema" --current-time 1700086400 backup "L=1::$w/src" "$w/prim" >/dev/null
t1=$(now)
bk_bytes=$(awk '{ s += $2 + $4 } END { print s }' "$w/bytes")
: >"$w/bytes"
"$cb" --remote-schema "$schema" replicate "L=1::$w/prim" "$w/vault" >/dev/null
t2=$(now)
rep_bytes=$(awk '{ s += $2 + $4 } END { print s }' "$w/bytes")
: >"$w/bytes"
"$cb" --remote-schema "$schema" replicate "$w/prim" "L=1::$w/pushed" >/dev/null
t3=$(now)
push_bytes=$(awk '{ s += $2 + $4 } END { print s }' "$w/bytes")
: >"$w/bytes"
rsync -a --delete -e "python3 $top/bench/countpipe.py $w/bytes env" "$w/prim/" "L=1:$w/rsynced/"
t4=$(now)
rs_bytes=$(awk '{ s += $2 + $4 } END { print s }' "$w/bytes")
repo=$(du -sb "$w/prim" | cut -f1)
echo "files $n of $kb KB, 1% changed by 16 bytes each; primary repository $repo bytes"
echo "day 2 backup (pull, deltas): $(echo "$t1 - $t0" | bc) s, $bk_bytes bytes on the link"
echo "day 2 replicated (pull, deltas): $(echo "$t2 - $t1" | bc) s, $rep_bytes bytes on the link"
echo "day 2 replicated (push, deltas): $(echo "$t3 - $t2" | bc) s, $push_bytes bytes on the link"
echo "rsync -a of the repository: $(echo "$t4 - $t3" | bc) s, $rs_bytes bytes on the link"
# the vault holds both days, the same
for t in 1700000000 1700086400; do
	"$cb" restore --at "$t" "$w/prim" "$w/a$t" && "$cb" restore --at "$t" "$w/vault" "$w/b$t" &&
	    "$cb" restore --at "$t" "$w/pushed" "$w/c$t"
	diff -r "$w/a$t" "$w/b$t" >/dev/null && diff -r "$w/a$t" "$w/c$t" >/dev/null &&
	    echo "session $t: both vaults restore the same"
done
