#!/usr/bin/env python3
"""Deterministic tree of N small files for benchmarks:
   mktree.py DIR N [MAX]  (100 files per directory, sizes 0..MAX bytes,
   default 8192; a small MAX makes a tree of a million files fit in RAM)."""
import os
import random
import sys

root, n = sys.argv[1], int(sys.argv[2])
most = int(sys.argv[3]) if len(sys.argv) > 3 else 8192
rnd = random.Random(42)
os.makedirs(root, exist_ok=True)
for i in range(n):
    d = os.path.join(root, "d%03d" % (i // 10000), "s%03d" % ((i // 100) % 100))
    if i % 100 == 0:
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%05d.txt" % i), "wb") as f:
        f.write(rnd.randbytes(rnd.randint(0, most)))
