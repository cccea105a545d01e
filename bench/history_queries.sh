#!/bin/sh
# versions and diff on a long history, by hand:
#   bench/history_queries.sh [FILES] [SESSIONS]   (default 100000 30)
# Builds FILES small files, backs them up SESSIONS times with 1% of the
# files changed each time (--current-time one day apart), then times
# "capback versions" of one path, "capback diff" of the two newest and
# of the oldest against the newest, and "list files --changed-since", best
# of three each.  Prints one line per query.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cb="$top/build/capback"
n=${1:-100000}
sessions=${2:-30}
w=$(mktemp -d /tmp/capback-hq.XXXXXX)
trap 'rm -rf "$w"' EXIT
mkdir -p "$w/src"
python3 - "$w/src" "$n" <<'PY'
import os, sys
top, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(top, "d%03d" % (i % 1000))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%06d" % i), "w") as f:
        f.write("%d\n" % i)
PY
t=1700000000
s=0
while [ $s -lt "$sessions" ]; do
	python3 - "$w/src" "$n" "$s" <<'PY'
import os, sys
top, n, s = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
if s:
    for i in range(s, n, 100):  # 1% of the files, a different 1% each time
        with open(os.path.join(top, "d%03d" % (i % 1000), "f%06d" % i), "a") as f:
            f.write("s%d\n" % s)
PY
	"$cb" --current-time $((t + s * 86400)) backup "$w/src" "$w/repo"
	s=$((s + 1))
done
best() { # best of three wall times of "$@", in seconds
	python3 - "$@" <<'PY'
import subprocess, sys, time
best = None
for _ in range(3):
    t = time.monotonic()
    subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)
    d = time.monotonic() - t
    best = d if best is None or d < best else best
print("%.3f" % best)
PY
}
echo "files $n, sessions $sessions, $(du -sh "$w/repo" | cut -f1) repository"
# f000001 changed in session 1 only; the last path in record order makes
# every session's metadata be read to its end
echo "versions of the first path in record order: $(best "$cb" versions "$w/repo/d000/f000000") s"
echo "versions of the last path in record order: $(best "$cb" versions "$w/repo/d999/f099999") s"
echo "diff of the two newest sessions: $(best "$cb" diff "$w/repo") s"
echo "diff of the oldest against the newest: $(best "$cb" diff --at $t "$w/repo") s"
echo "list files --changed-since the oldest: $(best "$cb" list files --changed-since $t "$w/repo") s"
