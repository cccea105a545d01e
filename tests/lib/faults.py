#!/usr/bin/env python3
"""Fault injection: the writer is stopped dead (SIGKILL) or fails a call
(EIO, ENOSPC) at chosen system calls of a backup, a removal of increments
and a regress, then the repository is checked.

faults.py BUILD [WORKDIR] [--points N] [--seed S] [--errors N]
(defaults: a temporary WORKDIR, $CAPBACK_FAULT_POINTS or 200 points,
$CAPBACK_SEED or a random seed, 20 errors)

A point is (operation, system call, n): strace runs the writer (through
a wrapper in CAPBACK_LIBEXEC) and injects the fault on the n-th call of
that system call.  The points are drawn at random from every mutating
call the operation makes (counted by a dry run first), so the same seed
gives the same points: replay with --seed.  After each fault:
  - an unfinished session is regressed (capback regress, exit 2);
  - capback verify --all passes (every session rebuilds to its SHA-1s);
  - every session still listed restores bit-exact (owners, modes,
    times, xattrs, content) to the tree it was made from;
  - the operation, run again, completes and verifies;
  - every twentieth point, rdiff-backup agrees: it verifies the repository
    and restores the oldest session to the same tree.
Then every call of the backup's in-place update of the mirror of "big"
(found by a dry run under strace -y) is a kill point too, checked with
rdiff-backup as well.
Prints one TAP line per point and the seed; exit status 1 on a failure.
"""
import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import treesum  # noqa: E402

MUTATING = ["write", "pwrite64", "renameat", "renameat2", "unlinkat", "mkdirat",
            "fsync", "ftruncate", "fchmod", "utimensat", "linkat",
            "symlinkat", "syncfs"]
TIMES = [1700000000, 1700001000, 1700002000, 1700003000]
# The size of "big": at least the writer's IN_PLACE_MIN (4 MiB), so each
# session's three small writes into it are applied to the mirror in place.
BIG = 5 * 1024 * 1024


def run(args, env=None, check=False):
    p = subprocess.run(args, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    if check and p.returncode != 0:
        raise RuntimeError("%s: exit %d\n%s" % (" ".join(args), p.returncode,
                                                p.stdout.decode(errors="replace")))
    return p


def manifest(path):
    return treesum.manifest(path)


class Harness:
    def __init__(self, build, work, seed):
        self.build = build = os.path.abspath(build)
        self.work = work
        self.rng = random.Random(seed)
        self.cb = os.path.join(build, "capback")
        self.libexec = os.path.join(work, "libexec")
        self.fault = os.path.join(work, "fault")  # the strace options
        os.makedirs(self.libexec)
        for role in ("capback-reader", "capback-restorer"):
            os.symlink(os.path.join(build, role),
                       os.path.join(self.libexec, role))
        # The writer under strace when a fault is set, else as it is.
        with open(os.path.join(self.libexec, "capback-writer"), "w") as f:
            f.write('#!/bin/sh\n'
                    'w=%s\n'
                    '# LeakSanitizer cannot run under ptrace\n'
                    'export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}'
                    'detect_leaks=0"\n'
                    'if [ -s %s ]; then exec strace -f -qq '
                    '$(cat %s) -- "$w" "$@"; fi\n'
                    'exec "$w" "$@"\n' % (os.path.join(build, "capback-writer"),
                                          self.fault, self.fault))
        os.chmod(os.path.join(self.libexec, "capback-writer"), 0o755)
        self.env = dict(os.environ, CAPBACK_LIBEXEC=self.libexec)
        self.states = {}

    def cbrun(self, *args, fault=None):
        with open(self.fault, "w") as f:
            f.write(fault or "")
        try:
            return run([self.cb] + list(args), env=self.env)
        finally:
            open(self.fault, "w").close()

    # ---- the tree and its sessions ----------------------------------
    def change(self, src, k):
        r = random.Random(k)
        if k == 0:
            os.makedirs(os.path.join(src, "d/e"))
            for i in range(30):
                with open(os.path.join(src, "d" if i % 2 else "", "f%d" % i),
                          "w") as f:
                    f.write("file %d\n" % i * (i + 1))
            # big enough (BIG) to be updated in place by later sessions
            with open(os.path.join(src, "big"), "wb") as f:
                f.write(r.randbytes(BIG))
            os.symlink("f1", os.path.join(src, "link"))
            os.link(os.path.join(src, "f2"), os.path.join(src, "d/e/hard"))
            os.setxattr(os.path.join(src, "f4"), "user.k", b"v")
            os.chmod(os.path.join(src, "f6"), 0o4750)
            os.chown(os.path.join(src, "f8"), 1234, 4321)
            return
        for i in r.sample(range(30), 6):
            p = os.path.join(src, "d" if i % 2 else "", "f%d" % i)
            if os.path.exists(p):
                with open(p, "a") as f:
                    f.write("edit %d\n" % k)
        with open(os.path.join(src, "big"), "r+b") as f:
            for _ in range(3):
                f.seek(r.randrange(BIG - 1000))
                f.write(r.randbytes(100))
        # same size: a new time tells the backup (the run takes < 1 s)
        os.utime(os.path.join(src, "big"), (1600000000 + k, 1600000000 + k))
        victim = os.path.join(src, "f%d" % (2 * k + 10))
        if os.path.exists(victim):
            os.unlink(victim)
        os.makedirs(os.path.join(src, "new%d" % k))
        with open(os.path.join(src, "new%d" % k, "n"), "w") as f:
            f.write("new in %d\n" % k)
        if k == 2:
            os.rename(os.path.join(src, "d/e"), os.path.join(src, "d/e2"))

    def prepare(self):
        """The repository with sessions TIMES[0..2] and the source ready
        for TIMES[3]; every state kept for comparisons."""
        src = os.path.join(self.work, "src")
        os.makedirs(src)
        self.base = os.path.join(self.work, "base")
        for k, t in enumerate(TIMES):
            self.change(src, k)
            self.states[t] = manifest(src)
            if k < 3:
                p = self.cbrun("--current-time", str(t), "backup", src,
                               self.base)
                if p.returncode != 0:
                    raise RuntimeError(p.stdout.decode())
        self.src = src

    # ---- operations -------------------------------------------------
    def op(self, name, repo, fault=None):
        if name == "backup":
            return self.cbrun("--current-time", str(TIMES[3]), "backup",
                              self.src, repo, fault=fault)
        if name == "remove":
            return self.cbrun("--force", "remove", "increments",
                              "--older-than", str(TIMES[2] - 1), repo,
                              fault=fault)
        return self.cbrun("regress", repo, fault=fault)

    def start_state(self, name, repo):
        shutil.copytree(self.base, repo, symlinks=True)
        if name == "regress":
            # an unfinished backup to undo: killed at its 3rd rename
            self.op("backup", repo, fault="-o /dev/null -e inject=renameat:signal=KILL:when=3")
            if marker_count(repo) != 2:
                raise RuntimeError("could not make an unfinished session")

    def count_calls(self, name):
        """How many times the operation's writer makes each mutating call
        (a dry run under strace -c)."""
        repo = os.path.join(self.work, "count")
        out = os.path.join(self.work, "count.txt")
        shutil.rmtree(repo, ignore_errors=True)
        self.start_state(name, repo)
        p = self.op(name, repo, fault="-c -U calls,name -o %s -e trace=%s" % (
            out, ",".join(MUTATING)))
        if p.returncode not in (0, 2):
            raise RuntimeError(p.stdout.decode())
        counts = {}
        for line in open(out):
            f = line.split()
            if len(f) == 2 and f[0].isdigit() and f[1] in MUTATING:
                counts[f[1]] = int(f[0])
        shutil.rmtree(repo)
        return counts

    def in_place_calls(self):
        """The backup's calls on the mirror file "big" itself (not its
        temporary): the in-place update, each of them a kill point
        (a dry run under strace -y, which names each descriptor's file)."""
        repo = os.path.join(self.work, "count")
        out = os.path.join(self.work, "inplace.txt")
        shutil.rmtree(repo, ignore_errors=True)
        self.start_state("backup", repo)
        p = self.op("backup", repo, fault="-y -o %s -e trace=%s" % (
            out, ",".join(MUTATING)))
        if p.returncode != 0:
            raise RuntimeError(p.stdout.decode())
        seen, points = {}, []
        target = os.path.join(os.path.realpath(repo), "big")
        for line in open(out):
            m = re.match(r"^(?:\d+\s+)?(\w+)\(\d+<([^>]*)>", line)
            if not m or m.group(1) not in MUTATING:
                continue
            seen[m.group(1)] = seen.get(m.group(1), 0) + 1
            if m.group(2) == target:
                points.append((m.group(1), seen[m.group(1)]))
        shutil.rmtree(repo)
        return points

    # ---- checks -----------------------------------------------------
    def sessions(self, repo):
        names = os.listdir(os.path.join(repo, "rdiff-backup-data"))
        return [t for t in TIMES if any(
            n.startswith(("current_mirror.", "mirror_metadata."))
            and stamp(t) in n for n in names)]

    def check(self, name, repo, point, rdiff):
        fails = []
        if marker_count(repo) == 2 and rdiff:
            # rdiff-backup undoes the same unfinished session the same way
            copy = os.path.join(self.work, "rcopy")
            out = os.path.join(self.work, "rout")
            for d in (copy, out):
                shutil.rmtree(d, ignore_errors=True)
            shutil.copytree(repo, copy, symlinks=True)
            p = run(["rdiff-backup", "--terminal-verbosity", "1", "regress",
                     copy])
            q = run(["rdiff-backup", "--terminal-verbosity", "1", "restore",
                     copy, out]) if p.returncode in (0, 2) else p
            if q.returncode != 0 or manifest(out) != self.states[TIMES[2]]:
                fails.append("rdiff-backup regress differs: %s" %
                             (p.stdout + q.stdout).decode()[-300:])
        if marker_count(repo) == 2:
            p = self.cbrun("regress", repo)
            if p.returncode != 2:
                fails.append("regress exit %d: %s" % (p.returncode,
                                                      p.stdout.decode()[-300:]))
        p = self.cbrun("verify", "--all", repo)
        if p.returncode != 0:
            fails.append("verify --all exit %d: %s" % (
                p.returncode, p.stdout.decode()[-600:]))
        for t in self.sessions(repo):
            out = os.path.join(self.work, "out")
            shutil.rmtree(out, ignore_errors=True)
            p = self.cbrun("restore", "--at", str(t), repo, out)
            if p.returncode != 0:
                fails.append("restore --at %d exit %d: %s" % (
                    t, p.returncode, p.stdout.decode()[-300:]))
            elif manifest(out) != self.states[t]:
                fails.append("restore --at %d differs from its source" % t)
        if rdiff:
            p = run(["rdiff-backup", "--terminal-verbosity", "1", "verify",
                     repo])
            if p.returncode != 0:
                fails.append("rdiff-backup verify: %s" % p.stdout.decode()[-300:])
            t = self.sessions(repo)[0]
            out = os.path.join(self.work, "rout")
            shutil.rmtree(out, ignore_errors=True)
            p = run(["rdiff-backup", "--terminal-verbosity", "1", "restore",
                     "--at", str(t), repo, out])
            if p.returncode != 0 or manifest(out) != self.states[t]:
                fails.append("rdiff-backup restore --at %d differs" % t)
        # the operation again, to its end (unless it got there)
        done = name == "backup" and TIMES[3] in self.sessions(repo)
        if name != "regress" and not done:
            p = self.op(name, repo)
            if p.returncode not in (0, 2):
                fails.append("%s again exit %d: %s" % (
                    name, p.returncode, p.stdout.decode()[-300:]))
            p = self.cbrun("verify", "--all", repo)
            if p.returncode != 0:
                fails.append("verify after %s again: %s" % (
                    name, p.stdout.decode()[-300:]))
        return fails


def stamp(t):
    import time
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def marker_count(repo):
    return sum(n.startswith("current_mirror.")
               for n in os.listdir(os.path.join(repo, "rdiff-backup-data")))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("work", nargs="?")
    ap.add_argument("--points", type=int,
                    default=int(os.environ.get("CAPBACK_FAULT_POINTS", 200)))
    ap.add_argument("--errors", type=int, default=20)
    ap.add_argument("--seed", type=int, default=None)
    a = ap.parse_args()
    if a.seed is None and os.environ.get("CAPBACK_SEED"):
        a.seed = int(os.environ["CAPBACK_SEED"])
    seed = a.seed if a.seed is not None else random.randrange(1 << 30)
    tmp = None
    if a.work is None:
        tmp = a.work = tempfile.mkdtemp(prefix="capback-faults.")
    try:
        return points_run(a, seed)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def points_run(a, seed):
    print("# seed %d (replay: --seed %d)" % (seed, seed), flush=True)
    h = Harness(a.build, a.work, seed)
    h.prepare()
    # The calls each operation makes: a dry run under strace -c.
    counts = {}
    for name in ("backup", "remove", "regress"):
        counts[name] = h.count_calls(name)
        print("# %s: %s" % (name, " ".join("%s=%d" % kv for kv in
                                           sorted(counts[name].items()))),
              flush=True)
    points = []
    for i in range(a.points + a.errors):
        name = ("backup", "remove", "regress")[i % 3]
        calls = [(s, n) for s, c in sorted(counts[name].items())
                 for n in range(1, c + 1)]
        s, n = h.rng.choice(calls)
        if i < a.points:
            points.append((name, s, n, "signal=KILL"))
        else:
            err = h.rng.choice(["EIO", "ENOSPC"])
            points.append((name, s, n, "error=" + err))
    # Every call of the in-place update of "big", each a kill point whose
    # regress rdiff-backup checks too (the marker time, the ranges, the
    # final attributes).
    inplace = h.in_place_calls()
    print("# in place: %s" % " ".join("%s#%d" % sn for sn in inplace),
          flush=True)
    if len(inplace) < 4:
        print("1..1\nnot ok 1 the mirror of big was not updated in place")
        return 1
    points += [("backup", s, n, "signal=KILL") for s, n in inplace]
    print("1..%d" % len(points), flush=True)
    bad = 0
    for i, (name, s, n, what) in enumerate(points, 1):
        repo = os.path.join(a.work, "repo")
        shutil.rmtree(repo, ignore_errors=True)
        h.start_state(name, repo)
        p = h.op(name, repo,
                 fault="-o /dev/null -e inject=%s:%s:when=%d" % (s, what, n))
        fails = []
        if what.startswith("error=") and p.returncode == 0 and \
                name == "backup":
            # an error the writer saw must not pass silently
            if b"Input/output error" not in p.stdout and \
                    b"No space left" not in p.stdout:
                fails.append("the injected %s went unreported" % what)
        fails += h.check(name, repo, (s, n),
                         rdiff=(i % 20 == 0 or i > a.points + a.errors))
        desc = "%s: %s at call %d of %s" % (name, what, n, s)
        if fails:
            bad += 1
            print("not ok %d %s" % (i, desc))
            for f in fails:
                for line in f.splitlines():
                    print("#   " + line)
        else:
            print("ok %d %s" % (i, desc))
        sys.stdout.flush()
    print("# seed %d: %d of %d points failed" % (seed, bad, len(points)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
