#!/usr/bin/env python3
"""capback against its peers, side by side on the same data (issue 8).

compare.py WORK [--corpus small|large|debian] [--files N] [--large-mib M]
           [--runs R] [--days D] [--tools capback,rdiff,rsync,borg,restic]
           [--capback BUILD_DIR] [--mkfs IMAGE] [--json FILE]
           [--full-pairs N]
compare.py WORK --report JSON... [--corpus C] [--days D]

Builds a deterministic corpus in WORK/pristine:
  small   N small files (default 100000, 0..11 KiB, about 5.6 KiB each,
          about 560 MB) in 100-file directories, 1% symlinks, 1% hard links,
          and a logs/ directory;
  large   files of 128, 256, 512 and 1024 MiB (scaled by --large-mib, the
          size of the largest) plus N/4 small ones (default 24k);
  debian  the debootstrap minbase tree the tests cache
          (/var/cache/capback-test/bookworm-minbase, 6.8k entries, 206 MB).
Then, R times: every tool backs up the same source state by state: the
full backup, a backup with no change, and D "days of changes" (2% of the
small files edited, logs appended, a few small writes in every large file,
files created and deleted, a directory renamed).  Then each restores the
newest state and the state 3 sessions back into a scratch directory, and
the restore is compared with a manifest of the source as it was (content,
modes, owners, mtimes of files, symlinks, hard links).  Floors: cp -a
(full copy, and restore as a copy of a plain tree) and find -printf (a
metadata walk), and cp -a followed by sync (a copy that is on disk when
it ends, as capback's and rdiff-backup's sessions are).  Prints the
median time and peak RSS (largest process) of each step, repository
sizes after D days, and the ratios the issue's targets are about.  Warm
page cache throughout (say so when quoting); every timed step starts
after a sync, so no step pays for the previous one's writeback.

--mkfs IMAGE (root): every run gets a new ext4 file system, made on the
sparse file IMAGE (40 GiB) and loop-mounted at WORK/fs.  A file system
that has just had 10 GB deleted allocates inodes slowly for minutes
(ext4 find_inode_bit / recently_deleted), which once made whichever
tool came after an rm -rf look several times slower; a new file system
per run removes that and the 310 s pause otherwise kept between runs.
"""
import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lib"))
import treesum  # noqa: E402

T0 = 1700000000  # session times: T0 + 86400 * day (+ 3600 for no-change)
ENV = dict(os.environ, RESTIC_PASSWORD="bench", BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK="yes",
           BORG_RELOCATED_REPO_ACCESS_IS_OK="yes", LC_ALL="C")


def sh(args, cwd=None, check=True):
    p = subprocess.run(args, cwd=cwd, env=ENV, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    if check and p.returncode not in (0, 2):
        raise RuntimeError("%s: exit %d\n%s" % (" ".join(args), p.returncode,
                                                p.stdout.decode(errors="replace")[-2000:]))
    return p


PEAK = None


def timed(args, cwd=None):
    """(seconds, peak RSS KiB of the largest process) of running args."""
    subprocess.run(["sync"])
    p = subprocess.run([PEAK] + args, cwd=cwd, env=ENV,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = p.stdout.decode(errors="replace")
    last = [l for l in out.splitlines() if "peak RSS" in l][-1]
    if p.returncode not in (0, 2, 3):  # 3: borg/restic warnings
        raise RuntimeError("%s: exit %d\n%s" % (" ".join(args), p.returncode, out[-2000:]))
    secs = float(last.split("s")[0])
    rss = int(last.split("peak RSS")[1].split()[0])
    return secs, rss


# ---- corpora -------------------------------------------------------------

def small_files(root, n, rnd, prefix="d"):
    for i in range(n):
        d = os.path.join(root, "%s%03d" % (prefix, i // 10000),
                         "s%03d" % ((i // 100) % 100))
        if i % 100 == 0:
            os.makedirs(d, exist_ok=True)
        p = os.path.join(d, "f%05d" % i)
        k = i % 100
        if k == 97 and i > 0:  # 1% symlinks
            os.symlink("f%05d" % (i - 1), p)
        elif k == 98 and i > 1:  # 1% hard links
            os.link(os.path.join(d, "f%05d" % (i - 2)), p)
        else:
            with open(p, "wb") as f:
                f.write(rnd.randbytes(rnd.randint(0, 11264)))


def make_corpus(kind, root, files, large_mib):
    rnd = random.Random(8)
    if kind == "debian":
        # the tree tests/integ/debian_tree.bats caches (debootstrap)
        tree = os.path.join(os.environ.get("CAPBACK_DEBIAN_CACHE",
                                           "/var/cache/capback-test"),
                            "bookworm-minbase")
        if not os.path.isdir(tree):
            sys.exit("no %s: run tests/integ/debian_tree.bats once" % tree)
        sh(["cp", "-a", tree, root])
        return
    os.makedirs(root)
    os.makedirs(os.path.join(root, "logs"))
    for j in range(4):
        with open(os.path.join(root, "logs", "app%d.log" % j), "w") as f:
            for k in range(2000):
                f.write("day 0 line %d of log %d\n" % (k, j))
    if kind == "small":
        small_files(root, files, rnd)
        return
    small_files(root, files, rnd)
    os.makedirs(os.path.join(root, "images"))
    for div in (8, 4, 2, 1):
        size = large_mib * (1 << 20) // div
        with open(os.path.join(root, "images", "img%d.raw" % div), "wb") as f:
            left = size
            while left > 0:
                n = min(left, 1 << 24)
                f.write(rnd.randbytes(n))
                left -= n


def mutate(root, day):
    """One day of changes, the same for every tool (seeded by the day)."""
    rnd = random.Random(1000 + day)
    mtime = T0 + 86400 * day - 600
    small = []
    for d, dirs, files in os.walk(root):
        dirs.sort()
        if "/images" in d or d.endswith("/logs"):
            continue
        for f in sorted(files):
            p = os.path.join(d, f)
            if not os.path.islink(p):
                small.append(p)
    edit = rnd.sample(small, max(1, len(small) // 50))
    for p in edit:  # 2% edited: a part rewritten, or appended to
        with open(p, "r+b") as f:
            size = os.fstat(f.fileno()).st_size
            if size > 200 and rnd.random() < 0.5:
                f.seek(rnd.randrange(size - 100))
                f.write(rnd.randbytes(100))
            else:
                f.seek(0, 2)
                f.write(rnd.randbytes(rnd.randint(1, 2000)))
        os.utime(p, (mtime, mtime))
    for j in range(4):  # logs grow
        p = os.path.join(root, "logs", "app%d.log" % j)
        if os.path.exists(p):
            with open(p, "a") as f:
                for k in range(500):
                    f.write("day %d line %d of log %d\n" % (day, k, j))
    imgs = os.path.join(root, "images")
    if os.path.isdir(imgs):  # a few small writes inside each large file
        for n in sorted(os.listdir(imgs)):
            p = os.path.join(imgs, n)
            with open(p, "r+b") as f:
                size = os.fstat(f.fileno()).st_size
                for _ in range(5):
                    f.seek(rnd.randrange(size - 100))
                    f.write(rnd.randbytes(100))
            os.utime(p, (mtime, mtime))
    for p in rnd.sample(small, max(1, len(small) // 200)):  # deleted
        if p not in edit and os.path.exists(p):
            os.unlink(p)
    newdir = os.path.join(root, "new%d" % day)
    os.makedirs(newdir)
    for k in range(max(1, len(small) // 200)):  # created
        with open(os.path.join(newdir, "n%05d" % k), "wb") as f:
            f.write(rnd.randbytes(rnd.randint(0, 8192)))
    dirs = sorted(d for d in os.listdir(root) if d.startswith(("d", "usr")))
    if dirs:  # a directory renamed
        top = os.path.join(root, dirs[0])
        subs = sorted(x for x in os.listdir(top)
                      if os.path.isdir(os.path.join(top, x)))
        if subs:
            os.rename(os.path.join(top, subs[day % len(subs)]),
                      os.path.join(top, "renamed%d" % day))


def manifest(path):
    # directory mtimes are left out: not every tool restores them
    return treesum.manifest(path, no_dir_mtime=True)


# ---- the tools -----------------------------------------------------------

class Tool:
    def __init__(self, name, work, capback):
        self.name = name
        self.repo = os.path.join(work, "repo-" + name)
        self.capback = capback
        self.sessions = []  # session labels, in order

    def init(self):
        shutil.rmtree(self.repo, ignore_errors=True)
        if self.name == "borg":
            sh(["borg", "init", "--encryption=none", self.repo])
        elif self.name == "restic":
            sh(["restic", "init", "--repo", self.repo])
        elif self.name == "rsync":
            os.makedirs(self.repo)

    def backup(self, src, t, label):
        """The command that backs src up as session t (label)."""
        prev = self.sessions[-1] if self.sessions else None
        self.sessions.append((t, label))
        if self.name == "capback":
            return [os.path.join(self.capback, "capback"), "--current-time",
                    str(t), "backup", src, self.repo], None
        if self.name == "rdiff":
            return ["rdiff-backup", "--current-time", str(t), "backup", src,
                    self.repo], None
        if self.name == "rsync":
            cmd = ["rsync", "-aHAX", "--delete"]
            if prev:
                cmd.append("--link-dest=" + os.path.join(self.repo, prev[1]))
            return cmd + [src + "/", os.path.join(self.repo, label)], None
        if self.name == "borg":
            return ["borg", "create", "--compression", "lz4",
                    "%s::%s" % (self.repo, label), "."], src
        return ["restic", "--repo", self.repo, "backup", "--tag", label,
                "--quiet", "."], src

    def restore(self, t, label, out, src):
        """The command that restores session (t, label) to out, and the
        directory the tree lands in."""
        os.makedirs(out)
        if self.name == "capback":
            return [os.path.join(self.capback, "capback"), "restore", "--at",
                    str(t), self.repo, out + "/t"], None, out + "/t"
        if self.name == "rdiff":
            return ["rdiff-backup", "restore", "--at", str(t), self.repo,
                    out + "/t"], None, out + "/t"
        if self.name == "rsync":
            return ["cp", "-a", os.path.join(self.repo, label), out + "/t"], \
                None, out + "/t"
        if self.name == "borg":
            return ["borg", "extract", "%s::%s" % (self.repo, label)], out, out
        # (backed up as "." from inside the tree: restic 0.14 restores
        # its content right into the target)
        return ["restic", "--repo", self.repo, "restore", "latest", "--tag",
                label, "--target", out], None, out

    def size(self):
        return int(sh(["du", "-sb", self.repo]).stdout.split()[0])


def new_fs(image, mnt):
    """A new, empty ext4 on the file image, mounted at mnt."""
    subprocess.run(["umount", mnt], stderr=subprocess.DEVNULL)
    with open(image, "ab") as f:  # sparse; room for ten restores
        f.truncate(40 << 30)
    # one inode per 8 KiB (5.2M): a run of the small corpus keeps ten
    # restores of the tree, the repositories and rsync's snapshots,
    # about 2M inodes in all (the default ratio gave 1.3M: too few)
    sh(["mkfs.ext4", "-q", "-F", "-i", "8192",
        "-E", "lazy_itable_init=0,lazy_journal_init=0", image])
    sh(["mount", "-o", "loop", image, mnt])


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def report(res, names, corpus, runs, days):
    """Medians, sizes and the targets' ratios of raw results."""
    def med(tool, step, i=0):
        return median([v[i] for v in res.get((tool, step), [])])

    print("\n%s corpus, %d runs (medians), warm cache; seconds / peak RSS MiB"
          % (corpus, runs))
    hdr = ["step"] + names
    print(" | ".join(hdr))
    for step in ("full", "no-change", "daily", "restore newest",
                 "restore 3 back"):
        row = [step]
        for n in names:
            if (n, step) in res:
                row.append("%.2f s / %.0f" % (med(n, step), med(n, step, 1) / 1024))
            elif (n, step + " (wrong)") in res:
                row.append("WRONG")
            else:
                row.append("-")
        print(" | ".join(row))
    print("size after %d days (MB) | " % days + " | ".join(
        "%.0f" % (med(n, "size") / 1e6) for n in names))
    print("floors: cp -a full %.2f s (%.2f s with sync), cp -a restore %.2f s, "
          "find walk %.2f s" % (med("cp -a", "full"), med("cp -a + sync", "full"),
                                med("cp -a", "restore"), med("find", "walk")))
    if "capback" in names:
        c = lambda s: med("capback", s)  # noqa: E731
        print("capback full / cp -a: %.2f" % (c("full") / med("cp -a", "full")))
        print("capback full / (cp -a + sync): %.2f"
              % (c("full") / med("cp -a + sync", "full")))
        if ("capback", "full (paired)") in res:
            pc = [v[0] for v in res[("capback", "full (paired)")]]
            pf = [v[0] for v in res[("cp -a + sync", "full (paired)")]]
            print("paired full backups: capback %s, cp -a + sync %s" % (
                " ".join("%.2f" % x for x in pc),
                " ".join("%.2f" % x for x in pf)))
            print("capback full / (cp -a + sync), paired medians: %.2f; "
                  "capback faster in %d of %d pairs" % (
                      median(pc) / median(pf),
                      sum(1 for x, y in zip(pc, pf) if x < y), len(pc)))
        print("capback restore newest / cp -a: %.2f" %
              (c("restore newest") / med("cp -a", "restore")))
        print("capback no-change / find: %.2f" % (c("no-change") / med("find", "walk")))
        print("capback restore 3 back / newest: %.2f" %
              (c("restore 3 back") / c("restore newest")))
        for n in names:
            if n != "capback":
                print("%s daily / capback daily: %.2f" % (n, med(n, "daily") / c("daily")))
        print("capback peak RSS: %.1f MiB" % (max(
            med("capback", s, 1) for s in ("full", "no-change", "daily",
                                            "restore newest")) / 1024))


def main():
    global PEAK
    ap = argparse.ArgumentParser()
    ap.add_argument("work")
    ap.add_argument("--corpus", default="small",
                    choices=["small", "large", "debian"])
    ap.add_argument("--files", type=int, default=None)
    ap.add_argument("--large-mib", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--days", type=int, default=5)
    ap.add_argument("--tools", default="capback,rdiff,rsync,borg,restic")
    ap.add_argument("--capback", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--json", help="also write the raw results here")
    ap.add_argument("--full-pairs", type=int, default=0, metavar="N",
                    help="at the end of each run, N more full backups by "
                         "capback and N cp -a + sync of the newest state, "
                         "alternately")
    ap.add_argument("--mkfs", metavar="IMAGE",
                    help="a new ext4 on this file for every run, at WORK/fs")
    ap.add_argument("--report", nargs="+", metavar="JSON",
                    help="no runs: the report of raw results that --json "
                         "wrote (several files: their runs together)")
    a = ap.parse_args()
    if a.report:
        res = {}
        for fn in a.report:
            with open(fn) as f:
                for k, v in json.load(f).items():
                    res.setdefault(tuple(k.split("|")), []).extend(v)
        names = [t for t in a.tools.split(",")
                 if any(k[0] == t for k in res)]
        runs = len(res.get((names[0], "full"), []))
        report(res, names, a.corpus, runs, a.days)
        return
    files = a.files if a.files is not None else (
        100000 if a.corpus == "small" else 24000)
    work = os.path.abspath(a.work)
    a.capback = os.path.abspath(a.capback)
    os.makedirs(work, exist_ok=True)
    PEAK = os.path.join(work, "peakrss")
    sh(["cc", "-O2", "-o", PEAK, os.path.join(HERE, "peakrss.c")])
    pristine = os.path.join(work, "pristine")
    if not os.path.isdir(pristine):
        print("building the %s corpus ..." % a.corpus, flush=True)
        make_corpus(a.corpus, pristine, files, a.large_mib)
    top = work
    work = os.path.join(top, "fs")
    os.makedirs(work, exist_ok=True)
    src = os.path.join(work, "src")
    tools = [Tool(n, work, a.capback) for n in a.tools.split(",")]
    res = {}  # (tool, step) -> [(secs, rss)]

    def note(tool, step, v):
        res.setdefault((tool, step), []).append(v)

    for run in range(a.runs):
        if a.mkfs:
            new_fs(a.mkfs, work)
        if not os.path.isdir(src):
            sh(["cp", "-a", pristine, src])
        else:  # back to day 0 without deleting much: rsync
            sh(["rsync", "-aHAX", "--delete", pristine + "/", src])
        for t in tools:
            t.init()
            t.sessions = []
        # Nothing is deleted while a step is timed, or just before: ext4
        # skips recently freed inodes when it allocates (find_inode_bit,
        # recently_deleted), which made file creation several times
        # slower for whichever tool came right after an rm -rf (perf).
        # What a run writes goes at its end, then the cache settles.
        trash = []
        dst = os.path.join(work, "floor")
        note("cp -a", "full", timed(["cp", "-a", src, dst]))
        trash.append(dst)
        note("cp -a + sync", "full",
             timed(["sh", "-c", 'cp -a "$0" "$1" && sync', src, dst + "2"]))
        trash.append(dst + "2")
        note("find", "walk", timed(["find", src, "-printf",
                                    "%p %s %T@ %m %u %g\\n"]))
        states = {}
        steps = [("full", 0)] + [("no-change", 0)] + \
            [("day %d" % d, d) for d in range(1, a.days + 1)]
        for step, day in steps:
            if day > 0:
                mutate(src, day)
            t_sess = T0 + 86400 * day + (3600 if step == "no-change" else 0)
            label = "s%d" % len(states)
            states[label] = manifest(src)
            for tool in tools:
                cmd, cwd = tool.backup(src, t_sess, label)
                v = timed(cmd, cwd=cwd)
                note(tool.name, "daily" if day > 0 else step, v)
            print("run %d: %s done" % (run + 1, step), flush=True)
        for tool in tools:
            note(tool.name, "size", (tool.size(), 0))
            for which, k in (("restore newest", -1), ("restore 3 back", -4)):
                t_sess, label = tool.sessions[k]
                out = os.path.join(work, "out-%s-%d" % (tool.name, -k))
                cmd, cwd, tree = tool.restore(t_sess, label, out, src)
                v = timed(cmd, cwd=cwd)
                got = manifest(tree)
                if got != states[label]:
                    want = set(states[label])  # once: 100k lines
                    diff = [l for l in got if l not in want][:5]
                    print("%s %s: the restore DIFFERS from the source, e.g. %s"
                          % (tool.name, which, diff), flush=True)
                    note(tool.name, which + " (wrong)", v)
                else:
                    note(tool.name, which, v)
                trash.append(out)
        # restore floor: a plain copy of the newest state
        note("cp -a", "restore", timed(["cp", "-a", src,
                                        os.path.join(work, "out-floor")]))
        trash.append(os.path.join(work, "out-floor"))
        # --full-pairs: capback's full backup and cp -a + sync of the
        # newest state, alternately, which goes first alternating too: on
        # a disk whose speed drifts, one timing of each says little
        for k in range(a.full_pairs if "capback" in a.tools.split(",") else 0):
            fb = [os.path.join(a.capback, "capback"), "--current-time",
                  str(T0), "backup", src, os.path.join(work, "pair-repo%d" % k)]
            fc = ["sh", "-c", 'cp -a "$0" "$1" && sync', src,
                  os.path.join(work, "pair-copy%d" % k)]
            pair = [("capback", fb), ("cp -a + sync", fc)]
            for name, cmd in (pair if k % 2 == 0 else pair[::-1]):
                note(name, "full (paired)", timed(cmd))
            trash += [fb[-1], fc[-1]]
        if a.mkfs:
            sh(["umount", work])
        else:
            for d in trash:
                shutil.rmtree(d)
            for t in tools:
                shutil.rmtree(t.repo, ignore_errors=True)
            if run + 1 < a.runs:
                sh(["sync"])
                time.sleep(310)  # past ext4's recently-deleted window
        print("run %d done" % (run + 1), flush=True)

    report(res, [t.name for t in tools], a.corpus, a.runs, a.days)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"%s|%s" % k: v for k, v in res.items()}, f, indent=1)


if __name__ == "__main__":
    main()
