#!/usr/bin/env python3
"""A/B: capback builds against each other and against cp -a, interleaved.

ab.py SRC NAME=BUILD_DIR [NAME=BUILD_DIR ...] [--rounds N] [--target DIR]
      [--restore REPO --at T | --daily] [--no-cp]

Times a full backup of SRC by each build (or, with --restore, a restore
of session T of REPO) into TARGET/out, and cp -a of SRC into the same
place, N rounds (default 7); within a round the order rotates, so no
build always follows the same one.  Before each timing the previous
output is removed and everything is synced.  Prints every time, the
median of each, and each median's ratio to cp -a.

With --daily it times a daily backup instead: the first build makes a
full backup of a copy of SRC (day 0) into TARGET/base once, the copy
gets one day of changes (compare.mutate), and each timing backs it up
into a fresh copy of TARGET/base (the copy is not timed).  There is no cp -a
floor then.  A daily backup's cost is mostly waiting for the disk, so
give it a --target on a real file system.

TARGET defaults to a new tmpfs (root; unmounted at the end): the
capback-vs-cp CPU path without the disk, whose speed drifts by two times
within minutes on a shared VM (bench/README.md).  A full backup still
ends with syncfs, which costs nothing on a tmpfs.  Give --target to time
against a real file system; then expect the spread to need more rounds.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

T0 = 1700000000


def timed(cmd):
    subprocess.run(["sync"], check=True)
    time.sleep(0.5)
    t = time.monotonic()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL)
    dt = time.monotonic() - t
    if p.returncode != 0:
        sys.exit("ab.py: %s exited %d" % (" ".join(cmd), p.returncode))
    return dt


def day_one(src, target, build):
    """TARGET/src1: a copy of SRC, backed up into TARGET/base (day 0),
    then changed by a day (the same inodes, as in a real daily backup)."""
    import compare  # beside this file

    base, src1 = os.path.join(target, "base"), os.path.join(target, "src1")
    for d in (base, src1):
        shutil.rmtree(d, ignore_errors=True)
    subprocess.run(["cp", "-a", src, src1], check=True)
    subprocess.run([os.path.join(build, "capback"), "--current-time",
                    str(T0), "backup", src1, base], check=True,
                   stdout=subprocess.DEVNULL)
    compare.mutate(src1, 1)
    return src1, base


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("src")
    ap.add_argument("builds", nargs="+", metavar="NAME=BUILD_DIR")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--target")
    ap.add_argument("--tmpfs-size", default="8G")
    ap.add_argument("--restore", metavar="REPO")
    ap.add_argument("--at", type=int, default=T0)
    ap.add_argument("--no-cp", action="store_true")
    ap.add_argument("--daily", action="store_true")
    a = ap.parse_args()
    if a.daily and a.restore:
        sys.exit("ab.py: --daily or --restore, not both")

    runs = []
    for b in a.builds:
        name, _, d = b.partition("=")
        if not os.access(os.path.join(d, "capback"), os.X_OK):
            sys.exit("ab.py: no capback in %s" % d)
        runs.append(name)
    builds = dict(b.partition("=")[::2] for b in a.builds)
    if not a.no_cp and not a.daily:
        runs.append("cp -a")

    mounted = None
    target = a.target
    if target is None:
        target = mounted = tempfile.mkdtemp(prefix="capback-ab.")
        if subprocess.run(["mount", "-t", "tmpfs", "-o",
                           "size=" + a.tmpfs_size, "tmpfs", target]).returncode:
            os.rmdir(target)
            sys.exit("ab.py: cannot mount a tmpfs (root only); "
                     "give --target DIR")
    out = os.path.join(target, "out")
    times = {n: [] for n in runs}
    try:
        if a.daily:
            src, base = day_one(a.src, target, builds[runs[0]])
        for r in range(a.rounds):
            k = r % len(runs)
            for name in runs[k:] + runs[:k]:
                shutil.rmtree(out, ignore_errors=True)
                if a.daily:
                    subprocess.run(["cp", "-a", base, out], check=True)
                    cmd = [os.path.join(builds[name], "capback"),
                           "--current-time", str(T0 + 86400), "backup", src,
                           out]
                elif name == "cp -a":  # also a restore's floor: SRC copied
                    cmd = ["cp", "-a", a.src, out]
                elif a.restore:
                    cmd = [os.path.join(builds[name], "capback"), "restore",
                           "--at", str(a.at), a.restore, out]
                else:
                    cmd = [os.path.join(builds[name], "capback"),
                           "--current-time", str(T0), "backup", a.src, out]
                times[name].append(timed(cmd))
                print("round %d: %-10s %.2f s" % (r + 1, name,
                                                  times[name][-1]), flush=True)
    finally:
        for d in ("out", "base", "src1"):
            shutil.rmtree(os.path.join(target, d), ignore_errors=True)
        if mounted:
            subprocess.run(["umount", mounted])
            os.rmdir(mounted)
    floor = statistics.median(times["cp -a"]) if "cp -a" in times else None
    for name in runs:
        m = statistics.median(times[name])
        ratio = " (%.2f x cp -a)" % (m / floor) if floor else ""
        print("%-10s median %.2f s%s: %s" % (
            name, m, ratio, " ".join("%.2f" % t for t in times[name])))


if __name__ == "__main__":
    main()
