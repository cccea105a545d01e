#!/usr/bin/env python3
"""An unchanged tree backed up again, against a bare metadata walk:

    bench/nochange.py WORK [--files N] [--rounds R] NAME=BUILD_DIR ...

Builds compare.py's small corpus of N files (default 50 000) in
WORK/src, makes one full backup per build, then R rounds (default 9) of:
`find -printf` of the tree (the floor: every file's metadata read), and
a no-change backup by each build, in an order that rotates each round.
Warm page cache; each timing starts after a sync.  Prints the medians and
each build's ratio to find.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import compare  # noqa: E402

T0 = 1700000000


def timed(argv):
    subprocess.run(["sync"], check=True)
    t = time.monotonic()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("work")
    ap.add_argument("--files", type=int, default=50000)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("builds", nargs="+")
    a = ap.parse_args()
    work = os.path.abspath(a.work)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    src = os.path.join(work, "src")
    compare.make_corpus("small", src, a.files, 0)
    builds = [b.split("=", 1) for b in a.builds]
    for name, d in builds:
        subprocess.run([os.path.join(d, "capback"), "--current-time", str(T0),
                        "backup", src, os.path.join(work, "repo-" + name)],
                       check=True)
    names = ["find"] + [n for n, _ in builds]
    times = {n: [] for n in names}
    for r in range(a.rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for n in order:
            if n == "find":
                argv = ["find", src, "-printf", "%p %s %T@ %m %U %G\\n"]
            else:
                d = dict(builds)[n]
                argv = [os.path.join(d, "capback"), "--current-time",
                        str(T0 + 100 * (r + 1)), "backup", src,
                        os.path.join(work, "repo-" + n)]
            times[n].append(timed(argv))
    print("%d files, %d rounds, medians (s):" % (a.files, a.rounds))
    base = statistics.median(times["find"])
    for n in names:
        m = statistics.median(times[n])
        print("  %-10s %.3f  (%.2fx find)  all: %s" % (
            n, m, m / base, " ".join("%.3f" % x for x in times[n])))


if __name__ == "__main__":
    main()
