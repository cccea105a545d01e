#!/bin/sh
# Bytes on the link for one day of changes, capback against rsync, both
# pulling over the same loopback sshd and counted by the same wrapper
# (bench/countpipe.py around the ssh command; no ssh compression).
#   bench/delta_bytes.sh [LARGE_MIB] [SMALL_FILES]     (as root)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cb="$top/build/capback"
large=${1:-64}
small=${2:-2000}
work=${BENCH_DIR:-/tmp/capback-bench}/delta_bytes
rm -rf "$work"
mkdir -p "$work/src/logs" "$work/src/small"
python3 - "$work/src" "$large" "$small" <<'PY'
import os, random, sys
d, large, small = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
r = random.Random(42)
for i in range(4):
    with open(f"{d}/large{i}.img", "wb") as f:
        for _ in range(large):
            f.write(r.randbytes(1 << 20))
for i in range(small):
    with open(f"{d}/small/f{i:05d}.txt", "w") as f:
        f.write(("line %d of file %d\n" % (i, i)) * r.randint(5, 400))
with open(f"{d}/logs/app.log", "w") as f:
    for i in range(20000):
        f.write("2026-11-30 event %d happened\n" % i)
PY
touch -d '2026-11-29 00:00' "$work/src" "$work/src"/* "$work/src"/*/*
mutate() {
	python3 - "$work/src" "$large" "$small" <<'PY'
import os, random, sys
d, large, small = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
r = random.Random(7)
for i in range(4):               # a few small writes inside each large file
    with open(f"{d}/large{i}.img", "r+b") as f:
        for _ in range(5):
            f.seek(r.randrange(large << 20)); f.write(r.randbytes(100))
for i in r.sample(range(small), small // 50):   # 2% of small files edited
    p = f"{d}/small/f{i:05d}.txt"
    s = open(p).read()
    k = r.randrange(len(s))
    open(p, "w").write(s[:k] + "edited\n" + s[k:])
with open(f"{d}/logs/app.log", "a") as f:      # the log grows
    for i in range(500):
        f.write("2026-11-30 new event %d\n" % i)
PY
	touch -d '2026-11-30 00:00' "$work/src"/*.img "$work/src/logs/app.log"
	find "$work/src/small" -newer "$work/src/logs" -exec touch -d '2026-11-30 00:00' {} +
}
port=$((30000 + $$ % 20000))
sh "$top/tests/lib/sshd-loopback.sh" start "$work/sshd" "$port" root
trap 'sh "$top/tests/lib/sshd-loopback.sh" stop "$work/sshd"' EXIT
ssh=$(sh "$top/tests/lib/sshd-loopback.sh" sshcmd "$work/sshd" root | sed 's/ -C / /')
count="python3 $top/bench/countpipe.py"
# day 0: both get the full tree
"$cb" --remote-schema "$ssh {h} env PATH=$top/build:/usr/bin:/bin" \
    --current-time 1764460800 backup "root@127.0.0.1::$work/src" "$work/repo"
rsync -aHAX -e "$ssh" "root@127.0.0.1:$work/src/" "$work/rsync/"
mutate
: >"$work/cb.count"
: >"$work/rsync.count"
s=$(date +%s%N)
"$cb" -v 4 --remote-schema "$count $work/cb.count $ssh {h} env PATH=$top/build:/usr/bin:/bin" \
    --current-time 1764547200 backup "root@127.0.0.1::$work/src" "$work/repo" 2>&1 | grep transferred
cbms=$(( ($(date +%s%N) - s) / 1000000 ))
s=$(date +%s%N)
rsync -aHAX --stats -e "$count $work/rsync.count $ssh" "root@127.0.0.1:$work/src/" "$work/rsync/" |
    grep -E 'Literal|Matched|Total bytes'
rsms=$(( ($(date +%s%N) - s) / 1000000 ))
echo "tree: 4 x $large MiB (5 writes of 100 bytes each), $small small files (2% edited), a log (+500 lines)"
printf '%-8s %12s %12s %8s\n' tool "to source" "from source" "time"
read -r _ a _ b <"$work/cb.count"
printf '%-8s %12d %12d %6d ms\n' capback "$a" "$b" "$cbms"
read -r _ a _ b <"$work/rsync.count"
printf '%-8s %12d %12d %6d ms\n' rsync "$a" "$b" "$rsms"
cmp "$work/src/large0.img" "$work/repo/large0.img"
