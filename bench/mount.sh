#!/bin/bash
# capback mount against borg mount and restic mount, by hand, as root:
#   bench/mount.sh [FILES] [SESSIONS] [BIG_MIB] [STATIC_MIB]   (default 100000 30 512 256)
# Builds FILES small files (bench/mktree.py, 0..8 KiB), one file of
# STATIC_MIB that never changes and one of BIG_MIB that gets 4 writes of
# 4 KiB at random offsets before every session but the first (1% of the
# small files get a line appended too), and backs the tree up SESSIONS
# times, one day apart, with capback, borg (-e none) and restic.  Then,
# one tool mounted at a time, as a throwaway non-root user:
#   - mount + ls of the root (sessions) and mount + ls -l, with a new cache
#     and a cold page cache, then again with the cache left (warm);
#   - ls -l of directories of three sessions once their parent was listed;
#   - find -printf over the oldest session (cold: new cache, page cache
#     dropped; then again in the same mount; then in a new mount), against
#     find on the source, and the listing checked against the source's;
#   - the unchanged file of the oldest session read through the mount
#     against the capback mirror copy (cold);
#   - the first byte and the whole of the big file of the oldest session
#     (SESSIONS-1 back), cold, against the mirror copy; its sha256 checked;
#   - the mount process's peak RSS (VmHWM) over all of that.
# Every figure is a single run (wall time); lines "R metric tool value" are
# gathered into a table at the end.  Drops the page cache (affects every
# other job on the machine).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cb="$top/build/capback"
export CAPBACK_LIBEXEC="$top/build"
n=${1:-100000}
sessions=${2:-30}
bigmib=${3:-512}
staticmib=${4:-256}
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 2; }
[ -x "$cb" ] && [ -x "$top/build/capback-mount" ] || { echo "build first" >&2; exit 2; }
[ -c /dev/fuse ] || { echo "no /dev/fuse" >&2; exit 2; }
if [ "$(stat -c %a /dev/fuse)" != 666 ]; then chmod 0666 /dev/fuse; fi

w=$(mktemp -d /var/tmp/capback-mountbench.XXXXXX)
chmod 755 "$w"
user=cbmb$$
useradd -M -N -g nogroup -d "$w/home" -s /usr/sbin/nologin "$user"
# (as root, mountpoint(1) cannot stat another user's FUSE mount)
mounted() { awk -v m="$1" '$2 == m {f = 1} END {exit !f}' /proc/mounts; }
cleanup() {
	set +e
	for m in "$w"/mnt-*; do
		mounted "$m" && fusermount3 -u -z "$m" 2>/dev/null
	done
	sleep 1
	for p in $(pgrep -u "$user"); do kill "$p"; done
	sleep 1
	for p in $(pgrep -u "$user"); do kill -9 "$p"; done
	userdel "$user" 2>/dev/null
	rm -rf "$w"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

install -d -o "$user" -g nogroup -m 700 "$w/home" "$w/cbcache"
u=$w/home # what the user writes
for t in cb borg restic; do install -d -o "$user" -g nogroup -m 755 "$w/mnt-$t"; done

export TZ=UTC
export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes
export BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
export RESTIC_PASSWORD=bench
as_user() {
	setpriv --reuid "$user" --regid nogroup --clear-groups \
	    env HOME="$w/home" XDG_CACHE_HOME="$w/home/.cache" BORG_BASE_DIR="$w/home" \
	    RESTIC_CACHE_DIR="$w/home/.cache/restic" "$@"
}
drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
now() { date +%s.%N; }
since() { python3 -c "import sys; print('%.1f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$1" "$(now)"; }

# ---- the timing helper, run as the user ------------------------------------
cat >"$w/h.py" <<'PY'
import hashlib, os, statistics, subprocess, sys, time

def ms(t):
    return "%.1f" % ((time.monotonic() - t) * 1000)

def run(*a, out=subprocess.DEVNULL):
    t = time.monotonic()
    subprocess.run(a, stdout=out, check=True)
    return (time.monotonic() - t) * 1000

def sessroot(tool, mnt):
    return os.path.join(mnt, "snapshots") if tool == "restic" else mnt

def sessions(tool, mnt):
    return sorted(x for x in os.listdir(sessroot(tool, mnt)) if x != "latest")

def mount(tool, mnt):
    env = os.environ
    if tool == "cb":
        subprocess.run([env["CB"], "mount", "--cache", env["CBCACHE"], env["REPO_CB"], mnt], check=True)
    elif tool == "borg":
        subprocess.run(["borg", "mount", env["REPO_BORG"], mnt], check=True)
    else:
        log = open(os.path.join(env["HOME"], "restic-mount.log"), "ab")
        p = subprocess.Popen(["restic", "-r", env["REPO_RESTIC"], "mount", mnt],
                             stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                             start_new_session=True)
        deadline = time.monotonic() + 300
        while not os.path.isdir(os.path.join(mnt, "snapshots")):
            if p.poll() is not None:
                sys.exit("restic mount ended: %d" % p.returncode)
            if time.monotonic() > deadline:
                sys.exit("restic mount not ready after 300 s")
            time.sleep(0.005)

cmd, tool, mnt = sys.argv[1], sys.argv[2], sys.argv[3]
if cmd == "mountls":  # mountls TOOL MNT LSFLAG TAG
    flag, tag = sys.argv[4], sys.argv[5]
    t = time.monotonic()
    mount(tool, mnt)
    tm = (time.monotonic() - t) * 1000
    r = subprocess.run(["ls"] + ([flag] if flag != "-" else []) + [sessroot(tool, mnt)],
                       stdout=subprocess.PIPE, check=True)
    tt = (time.monotonic() - t) * 1000
    lines = len(r.stdout.splitlines())
    print("  %s: mount %.1f ms, then ls%s %.1f ms, total %.1f ms (%d lines)"
          % (tool, tm, "" if flag == "-" else " " + flag, tt - tm, tt, lines))
    print("R %s %s %.0f" % (tag, tool, tt))
elif cmd == "lsdirs":  # lsdirs TOOL MNT PREFIX K TAG: ls -l of K dirs per session
    prefix, k, tag = sys.argv[4], int(sys.argv[5]), sys.argv[6]
    ss = sessions(tool, mnt)
    picks = [ss[0], ss[len(ss) // 2], ss[-1]] if k > 1 else [ss[len(ss) // 2]]
    times = []
    for si, s in enumerate(picks):
        base = os.path.join(sessroot(tool, mnt), s, prefix)
        tops = sorted(x for x in os.listdir(base) if x.startswith("d"))
        for j in range(k):
            parent = os.path.join(base, tops[(j * 7 + si) % len(tops)])
            subprocess.run(["ls", parent], stdout=subprocess.DEVNULL, check=True)
            kids = sorted(os.listdir(parent))
            child = os.path.join(parent, kids[(j * 37 + si * 11) % len(kids)])
            times.append(run("ls", "-l", child))
    print("  %s: ls -l of %d directories (100 files each): median %.1f ms, max %.1f ms, all %s"
          % (tool, len(times), statistics.median(times), max(times),
             " ".join("%.1f" % x for x in times)))
    print("R %s %s %.1f" % (tag, tool, max(times)))
elif cmd == "find":  # find TOOL DIR OUT TAG
    d, out, tag = sys.argv[3], sys.argv[4], sys.argv[5]
    with open(out, "wb") as f:
        x = run("find", d, "-printf", "%y %s %P\n", out=f)
    with open(out, "rb") as f:
        c = sum(1 for _ in f)
    print("  %s: find %s: %.1f ms, %d entries" % (tool, d, x, c))
    print("R %s %s %.0f" % (tag, tool, x))
elif cmd == "read":  # read TOOL FILE TAG: first byte and the whole file
    path, tag = sys.argv[3], sys.argv[4]
    buf = bytearray(1 << 20)
    t = time.monotonic()
    fd = os.open(path, os.O_RDONLY)
    first = os.read(fd, 1)
    t1 = (time.monotonic() - t) * 1000
    total = len(first)
    while True:
        k = os.readv(fd, [buf])
        if k == 0:
            break
        total += k
    os.close(fd)
    tt = (time.monotonic() - t) * 1000
    print("  %s: %s: first byte %.1f ms, all %d bytes %.1f ms (%.0f MB/s)"
          % (tool, path, t1, total, tt, total / tt / 1000))
    print("R %s-first %s %.1f" % (tag, tool, t1))
    print("R %s-all %s %.0f" % (tag, tool, tt))
elif cmd == "sha":  # sha TOOL FILE
    h = hashlib.sha256()
    with open(sys.argv[3], "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    print(h.hexdigest())
elif cmd == "sess":  # sess TOOL MNT: the oldest session's name
    print(sessions(tool, mnt)[0])
PY
chmod 644 "$w/h.py"
H() { as_user env CB="$cb" CBCACHE="$w/cbcache" REPO_CB="$w/repo-cb" \
    REPO_BORG="$w/repo-borg" REPO_RESTIC="$w/repo-restic" \
    RESTIC_PASSWORD=bench TZ=UTC /usr/bin/python3 "$w/h.py" "$@"; }

echo "# bench/mount.sh $n $sessions $bigmib $staticmib"
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git -C "$top" rev-parse --short HEAD), $(nproc) cores, $(uname -r)"
echo "# $(borg --version), $(restic version | cut -d' ' -f1-2), fuse3 $(fusermount3 -V 2>&1 | awk '{print $NF}')"
df -h "$w" | tail -1 | awk '{print "# disk: " $4 " free on " $1}'

# ---- the tree and the history ----------------------------------------------
t=$(now)
python3 "$top/bench/mktree.py" "$w/src" "$n"
head -c "${staticmib}M" /dev/urandom >"$w/src/static.bin"
head -c "${bigmib}M" /dev/urandom >"$w/src/big.bin"
(cd "$w/src" && find . -type f -printf '%s %P\n' | LC_ALL=C sort) >"$w/m0"
sha0=$(sha256sum <"$w/src/big.bin" | cut -d' ' -f1)
shastatic=$(sha256sum <"$w/src/static.bin" | cut -d' ' -f1)
echo "tree: $n files + static.bin ${staticmib} MiB + big.bin ${bigmib} MiB, $(du -sh "$w/src" | cut -f1), made in $(since "$t") s"

export BORG_BASE_DIR="$w/borgbase-root" RESTIC_CACHE_DIR="$w/resticcache-root"
borg init -e none "$w/repo-borg"
restic -q init -r "$w/repo-restic" >/dev/null
T0=1700000000
tcb=0 tborg=0 trestic=0
add() { python3 -c "import sys; print('%.1f' % (float(sys.argv[1]) + float(sys.argv[2])))" "$1" "$2"; }
s=0
while [ $s -lt "$sessions" ]; do
	ts=$((T0 + s * 86400))
	if [ $s -gt 0 ]; then
		python3 - "$w/src" "$n" "$s" <<'PY'
import os, random, sys
top, n, s = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(s, n, 100):  # 1% of the small files, a different 1% each time
    p = os.path.join(top, "d%03d" % (i // 10000), "s%03d" % ((i // 100) % 100), "f%05d.txt" % i)
    with open(p, "a") as f:
        f.write("s%d\n" % s)
big = os.path.join(top, "big.bin")
size = os.path.getsize(big)
r = random.Random(s)
with open(big, "r+b") as f:  # a few KB at random offsets; the mtime moves on
    for _ in range(4):
        f.seek(r.randrange(0, size - 4096))
        f.write(r.randbytes(4096))
PY
	fi
	t=$(now)
	"$cb" --current-time "$ts" backup "$w/src" "$w/repo-cb" >/dev/null
	tcb=$(add "$tcb" "$(since "$t")")
	t=$(now)
	(cd "$w/src" && borg create --timestamp "$(date -u -d "@$ts" +%Y-%m-%dT%H:%M:%S)" \
	    "$w/repo-borg::s$(printf %02d $s)" .)
	tborg=$(add "$tborg" "$(since "$t")")
	t=$(now)
	(cd "$w/src" && restic -q -r "$w/repo-restic" backup --time "$(date -u -d "@$ts" '+%Y-%m-%d %H:%M:%S')" . >/dev/null)
	trestic=$(add "$trestic" "$(since "$t")")
	s=$((s + 1))
done
echo "backups of $sessions sessions: capback $tcb s, borg $tborg s, restic $trestic s (sum of wall times)"
echo "repositories: capback $(du -sh "$w/repo-cb" | cut -f1), borg $(du -sh "$w/repo-borg" | cut -f1), restic $(du -sh "$w/repo-restic" | cut -f1)"
chown -R "$user:nogroup" "$w/repo-cb" "$w/repo-borg" "$w/repo-restic"

hwm_max() { # the largest VmHWM (KiB) seen of a tool's mount process
	local v
	v=$(awk '/VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0)
	echo "  (pid $1 $(awk '/^State/ {print $2}' "/proc/$1/status" 2>/dev/null) VmHWM ${v:-0} kB)" >&2
	[ "${v:-0}" -gt "$(cat "$w/hwm-$2" 2>/dev/null || echo 0)" ] && echo "${v:-0}" >"$w/hwm-$2"
	return 0
}
mpid() {
	case $1 in
	cb) pgrep -u "$user" -x capback-mount ;;
	borg) pgrep -u "$user" -x borg ;;
	restic) pgrep -u "$user" -x restic ;;
	esac
}
umnt() { # umnt TOOL: unmount, after noting the peak RSS
	local m="$w/mnt-$1" p
	for p in $(mpid "$1"); do hwm_max "$p" "$1"; done
	case $1 in
	cb) as_user "$cb" umount "$m" ;;
	borg) as_user borg umount "$m" ;;
	restic) as_user fusermount3 -u "$m" ;;
	esac
	for _ in $(seq 100); do
		[ -z "$(mpid "$1")" ] && ! mounted "$m" && return 0
		sleep 0.1
	done
	echo "  $1: the mount process did not end after its unmount" >&2
}
fresh() { # a new cache for TOOL
	case $1 in
	cb)
		if [ -s "$w/cbcache/mount.log" ]; then
			echo "  capback mount.log:"; sed 's/^/    /' "$w/cbcache/mount.log"
		fi
		find "$w/cbcache" -mindepth 1 -delete ;;
	borg) rm -rf "$w/home/.cache/borg" ;;
	restic) rm -rf "$w/home/.cache/restic" ;;
	esac
}
prefix() { echo .; } # each tool keeps the tree as the session's top (backed up as ".")

# ---- measurements, one tool at a time --------------------------------------
for tool in cb borg restic; do
	m="$w/mnt-$tool"
	echo "== $tool"
	echo " mount + list the root, new cache, cold page cache:"
	fresh $tool; drop
	H mountls $tool "$m" - root-ls-cold
	umnt $tool
	fresh $tool; drop
	H mountls $tool "$m" -l root-lsl-cold
	umnt $tool
	echo " mount + list the root, cache left from the mount before (warm):"
	H mountls $tool "$m" - root-ls-warm
	umnt $tool
	H mountls $tool "$m" -l root-lsl-warm
	echo " ls -l of a directory once its parent was listed:"
	drop
	H lsdirs $tool "$m" "$(prefix $tool)" 1 dir-lsl-cold
	H lsdirs $tool "$m" "$(prefix $tool)" 5 dir-lsl-warm
	umnt $tool
	echo " find over the oldest session (cold: new cache, page cache dropped):"
	fresh $tool; drop
	H mountls $tool "$m" - x >/dev/null
	old=$(H sess $tool "$m")
	if [ $tool = restic ]; then sd="$m/snapshots/$old"; else sd="$m/$old"; fi
	H find $tool "$sd" "$u/find-$tool" find-cold
	H find $tool "$sd" "$u/find-$tool-2" find-again
	umnt $tool
	H mountls $tool "$m" - x >/dev/null
	H find $tool "$sd" "$u/find-$tool-3" find-newmount
	# the listing against the source's at the first session (files only)
	awk '$1 == "f" {print $2 " " substr($0, index($0, $3))}' "$u/find-$tool" | LC_ALL=C sort >"$w/got-$tool"
	if cmp -s "$w/m0" "$w/got-$tool"; then
		echo "  $tool: the oldest session's files and sizes match the source's at that session"
	else
		echo "  $tool: WRONG: the oldest session's listing differs from the source's:"
		diff "$w/m0" "$w/got-$tool" | head -10 | sed 's/^/    /'
	fi
	echo " the unchanged file of the oldest session, cold:"
	as_user stat "$sd/static.bin" >/dev/null # looked up (index/archive loaded)
	drop
	H read $tool "$sd/static.bin" static
	echo " the big file of the oldest session ($((sessions - 1)) back), cold:"
	umnt $tool
	H mountls $tool "$m" - x >/dev/null
	as_user stat "$sd/big.bin" >/dev/null
	drop
	H read $tool "$sd/big.bin" big
	got=$(H sha $tool "$sd/big.bin")
	if [ "$got" = "$sha0" ]; then echo "  $tool: big.bin of the oldest session: sha256 right"
	else echo "  $tool: WRONG: big.bin of the oldest session: sha256 $got, want $sha0"; fi
	got=$(H sha $tool "$sd/static.bin")
	if [ "$got" = "$shastatic" ]; then echo "  $tool: static.bin of the oldest session: sha256 right"
	else echo "  $tool: WRONG: static.bin of the oldest session: sha256 $got, want $shastatic"; fi
	umnt $tool
	echo "R rss-kib $tool $(cat "$w/hwm-$tool" 2>/dev/null || echo '?')"
	if [ $tool = cb ]; then fresh cb; fi
done 2>&1 | tee "$w/out"
[ "${PIPESTATUS[0]}" = 0 ] || exit 1

echo "== floors"
{
	drop
	H find src "$w/src" "$u/find-src" find-cold
	H find src "$w/src" "$u/find-src" find-again
	drop
	H read mirror "$w/repo-cb/static.bin" static
	drop
	H read mirror "$w/repo-cb/big.bin" big
	H read mirror "$w/repo-cb/big.bin" big-warm
} 2>&1 | tee -a "$w/out"

echo
echo "== table (ms unless said; one run each)"
grep '^R ' "$w/out" | python3 -c '
import sys
rows, cols = {}, ["cb", "borg", "restic", "src", "mirror"]
order = []
for l in sys.stdin:
    _, k, tool, v = l.split()
    if k not in rows:
        rows[k] = {}
        order.append(k)
    rows[k][tool] = v
labels = {
 "root-ls-cold": "mount + ls root, new cache, cold",
 "root-lsl-cold": "mount + ls -l root, new cache, cold",
 "root-ls-warm": "mount + ls root, cache left (warm)",
 "root-lsl-warm": "mount + ls -l root, cache left",
 "dir-lsl-cold": "ls -l dir, parent listed, cold pages",
 "dir-lsl-warm": "ls -l dir, parent listed (max of 15)",
 "find-cold": "find oldest session, new cache, cold",
 "find-again": "find again, same mount",
 "find-newmount": "find, new mount, cache left",
 "static-first": "unchanged 1st byte, cold",
 "static-all": "unchanged file whole, cold",
 "big-first": "big file N-1 back 1st byte, cold",
 "big-all": "big file N-1 back whole, cold",
 "big-warm-first": "mirror big 1st byte, warm",
 "big-warm-all": "mirror big whole, warm",
 "rss-kib": "peak RSS of the mount (KiB)",
}
print("%-40s" % "" + "".join("%10s" % c for c in ["capback", "borg", "restic", "source", "mirror"]))
for k in order:
    if k == "x":
        continue
    print("%-40s" % labels.get(k, k) + "".join("%10s" % rows[k].get(c, "") for c in cols))
' | tee -a "$w/out"
