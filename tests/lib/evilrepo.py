#!/usr/bin/env python3
"""A malicious repository side: streams crafted entries to a real
capback-restorer.  Usage:

    evilrepo.py SCENARIO OUTSIDE -- RESTORER-COMMAND...

OUTSIDE is a directory beyond the destination that the attack aims at.
Prints the restorer's stderr, "exit N" and "maxrss KB" (its peak
resident set).
"""
import os
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cbwire import (DATA, ENTRIES_END, ENTRY, FILE, FILE_END, HELLO,  # noqa
                    HOLE, ROLE_REPO_SOURCE, blob, frame, hello, report,
                    u64)

REG, DIR, SYM, DEV, FIFO, SOCK = 1, 2, 3, 4, 5, 6


def entry(path, typ, perms=0o644, size=0, symdata=b"", link_to=b"",
          nlink=1, inode=0, dev=(0, 0, 0), xattrs=(), acl=()):
    xa = struct.pack(">I", len(xattrs))
    for name, value in sorted(xattrs):
        xa += blob(name) + blob(value)
    ac = struct.pack(">I", len(acl))
    for default, tag, perm, qual in acl:
        ac += struct.pack(">BBB", default, tag, perm) + blob(qual)
    return (blob(path) + struct.pack(">BIII", typ, perms, 0, 0) +
            blob(b"") + blob(b"") +
            struct.pack(">QQQQQB", 1690000000, size, nlink, inode, 1, 0) +
            blob(symdata) + struct.pack(">BII", *dev) +
            xa + ac + struct.pack(">II", 0, 0) +
            blob(link_to))


def content(seq, data, declared=None):
    size = len(data) if declared is None else declared
    return (frame(FILE, u64(seq, size)) + frame(DATA, data) +
            frame(FILE_END, struct.pack(">IQ", 0, 0)))


def scenario(name, out):
    out = out.encode()
    root = frame(ENTRY, entry(b".", DIR, 0o755))
    if name == "dotdot":
        return [root, frame(ENTRY, entry(b"../escape", REG, size=1)),
                content(2, b"x")]
    if name == "absolute":
        return [root, frame(ENTRY, entry(out + b"/abs", REG, size=1)),
                content(2, b"x")]
    if name == "inner-dotdot":
        return [root, frame(ENTRY, entry(b"a", DIR, 0o755)),
                frame(ENTRY, entry(b"a/../../escape", REG, size=1)),
                content(3, b"x")]
    if name == "nul":
        return [root, frame(ENTRY, entry(b"a\0b", REG, size=1)),
                content(2, b"x")]
    if name == "symlink-then-child":
        return [root, frame(ENTRY, entry(b"link", SYM, 0o777, symdata=out)),
                frame(ENTRY, entry(b"link/planted", REG, size=1)),
                content(3, b"x")]
    if name == "child-without-parent":
        return [root, frame(ENTRY, entry(b"nodir/planted", REG, size=1)),
                content(2, b"x")]
    if name == "hardlink-out":
        return [root, frame(ENTRY, entry(b"f", REG, size=0, nlink=2,
                                          link_to=b"../victim"))]
    if name == "hardlink-through-symlink":
        return [root, frame(ENTRY, entry(b"link", SYM, 0o777, symdata=out)),
                frame(ENTRY, entry(b"z", REG, size=0, nlink=2,
                                   link_to=b"link/victim"))]
    if name == "oversize":
        return [root, frame(ENTRY, entry(b"f", REG, size=4)),
                content(2, b"x" * 100000, declared=4)]
    if name == "hole-bomb":           # 13 bytes that would hash 1 TiB
        return [root, frame(ENTRY, entry(b"f", REG, size=4)),
                frame(FILE, u64(2, 1 << 40)), frame(HOLE, u64(1 << 40)),
                frame(FILE_END, struct.pack(">IQ", 0, 0))]
    if name == "deep-xattrs":         # 100 open directories of 240 KiB
        xs = [(b"user.x%d" % i, b"v" * 60 * 1024) for i in range(4)]
        return [root] + [frame(ENTRY, entry(b"/".join([b"d"] * (i + 1)),
                                            DIR, 0o755, xattrs=xs))
                         for i in range(100)]
    if name == "setuid":
        return [root, frame(ENTRY, entry(b"rootshell", REG, 0o4755, size=3)),
                content(2, b"sh\n")]
    if name == "specials":
        # a root-only disk and /dev/mem-like node made world-writable,
        # next to the harmless fifo and socket
        return [root,
                frame(ENTRY, entry(b"blk", DEV, 0o666, dev=(ord("b"), 7, 0))),
                frame(ENTRY, entry(b"chr", DEV, 0o666, dev=(ord("c"), 1, 1))),
                frame(ENTRY, entry(b"fifo", FIFO, 0o666)),
                frame(ENTRY, entry(b"sock", SOCK, 0o755))]
    if name == "xattrs":
        xa = ((b"security.evil", b"1"), (b"trusted.evil", b"1"),
              (b"user.ok", b"1"))
        return [root, frame(ENTRY, entry(b"f", REG, size=1, xattrs=xa)),
                content(2, b"x"),
                frame(ENTRY, entry(b"link", SYM, 0o777, symdata=b"f",
                                   xattrs=xa[1:2]))]
    if name == "out-of-order":
        return [root, frame(ENTRY, entry(b"b", REG, size=0)),
                frame(ENTRY, entry(b"a", REG, size=0))]
    raise SystemExit("unknown scenario " + name)


def main():
    sep = sys.argv.index("--")
    name, out, argv = sys.argv[1], sys.argv[2], sys.argv[sep + 1:]
    p = subprocess.Popen(argv, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    frames = [frame(HELLO, hello(ROLE_REPO_SOURCE, software=b"evilrepo"))]
    frames += scenario(name, out)
    n = sum(1 for f in frames if f[4] == ENTRY)
    frames.append(frame(ENTRIES_END, u64(n)))
    try:
        for f in frames:
            p.stdin.write(f)
        p.stdin.flush()
        p.stdin.close()
    except BrokenPipeError:
        pass
    p.stdout.read()
    report(p, "restorer", 30)


if __name__ == "__main__":
    main()
