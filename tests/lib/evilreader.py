#!/usr/bin/env python3
"""A malicious reader: speaks capback's stream protocol to a real
capback-writer (backup mode) and floods it.  Usage:

    evilreader.py SCENARIO [N] -- WRITER-COMMAND...
    evilreader.py --stdio SCENARIO N [IGNORED...]

The second form is the "host" itself: it speaks on its own standard
input and output, as a remote schema's command (capback run's tests).

Scenarios (N: how many entries the flood sends):
  flood        one regular file is left unanswered after its WANT, then N
               entries follow without waiting for PROGRESS
  xattr-flood  the same, every entry carrying 240 KiB of xattrs (under
               the per-entry bound), N of them
  deep-xattrs  N nested directories, each with 240 KiB of xattrs
  tiny-xattrs  the same with 1024 empty xattrs an entry, N of them
  xattr-entry  one entry with 300 KiB of xattrs (5 values of 60 KiB)
  acl-entry    one entry with 1024 ACL entries of 255-byte qualifiers
  delete-all   "a" left unanswered, then "zzz": every file of the previous
               session is to be deleted behind "a"
  hole-huge    a FILE declaring 2^63 + 1 TiB, then a HOLE of 1 TiB
  forged-digest  "a" and "b", one hard-link group, each entry with a
               digest the reader made up; "a"'s content is sent
  lying-digest   digests at the source (HELLO_DIGESTS): "a" (abcd) and
               "b" (efgh) sent with the SHA-1 of other bytes (the link or
               a liar), "c" (ijkl) with its own
  unasked-digest  a digest in FILE_END although HELLO did not offer it
  missing-digest  HELLO offers digests, FILE_END of "a" has none
  old-reader     no HELLO_DIGESTS, FILE_END without digests: "a" (abcd)
  lie-first      digests at the source: "a" (abcd) sent with the SHA-1 of
               ABCD, then N files f0000.. ("x<i>"), honest
  change-die     "a" (zzzz, a later mtime) and the N files ("y<i>")
               changed, honest; then a frame of an unknown type: the
               writer dies with the session unfinished
  same-digest    digests at the source: "a" (wxyz) sent with the SHA-1
               of abcd, "a"'s content in the previous session ("no
               change": no increment would be kept of it)
  digest-honest  against compare-hash: HELLO_WANT_DIGEST, "a" (4 bytes)
               and DIGEST of abcd; digest-liar: of ABCD;
               digest-unoffered: the same without HELLO_WANT_DIGEST;
               digest-wrong-seq: DIGEST for entry 9, never asked for

Prints the writer's stderr, "exit N" and "maxrss KB" (the writer's peak
resident set, from getrusage of the children), for the test to judge.
"""
import os
import struct
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cbwire import (DATA, DIGEST, ENTRIES_END, ENTRY, FILE,  # noqa
                    FILE_END, HELLO, HELLO_DIGESTS, HELLO_WANT_DIGEST, HOLE,
                    ROLE_READER, blob, frame, hello, report, u64)
import hashlib

REG, DIR = 1, 2


def entry(path, typ, perms=0o644, size=0, xattrs=(), acl=(), nlink=1,
          inode=0, sha1=None, mtime=1690000000):
    """An ENTRY payload (docs/protocol.md), reader direction."""
    x = struct.pack(">I", len(xattrs))
    for name, value in xattrs:
        x += blob(name) + blob(value)
    a = struct.pack(">I", len(acl))
    for tag, qual in acl:
        a += struct.pack(">BBB", 0, tag, 7) + blob(qual)
    return (blob(path) + struct.pack(">BIII", typ, perms, 0, 0) +
            blob(b"") + blob(b"") +
            struct.pack(">QQQQQB", mtime, size, nlink, inode, 1,
                        sha1 is not None) + (sha1 or b"") +
            blob(b"") + struct.pack(">BII", 0, 0, 0) + x + a +
            struct.pack(">II", 0, 0) + blob(b""))


def big_xattrs(n, size):
    return [(b"user.x%02d" % i, b"v" * size) for i in range(n)]


def frames(name, n):
    root = frame(ENTRY, entry(b".", DIR, 0o755))
    # "a": new, so the writer sends WANT 2 and the queue waits for it
    head = [root, frame(ENTRY, entry(b"a", REG, size=10))]
    if name == "flood":
        yield from head
        for i in range(n):
            yield frame(ENTRY, entry(b"b%07d" % i, REG, size=0))
        return
    if name == "xattr-flood":
        yield from head
        xs = big_xattrs(4, 60 * 1024)
        for i in range(n):
            yield frame(ENTRY, entry(b"b%07d" % i, REG, xattrs=xs))
        return
    if name == "deep-xattrs":         # N nested directories of 240 KiB
        yield root
        xs = big_xattrs(4, 60 * 1024)
        for i in range(n):
            yield frame(ENTRY, entry(b"/".join([b"d"] * (i + 1)), DIR,
                                     0o755, xattrs=xs))
        return
    if name == "tiny-xattrs":         # what decoding costs most per byte
        yield from head
        xs = [(b"u.%04d" % i, b"") for i in range(1024)]
        for i in range(n):
            yield frame(ENTRY, entry(b"b%07d" % i, REG, xattrs=xs))
        return
    if name == "delete-all":          # every previous file, behind "a"
        yield from head
        yield frame(ENTRY, entry(b"zzz", REG, size=0))
        return
    if name == "hole-huge":           # a FILE larger than any file can be
        yield root
        yield frame(ENTRY, entry(b"a", REG, size=4))
        yield frame(FILE, u64(2, (1 << 63) + (1 << 40)))
        yield frame(HOLE, u64(1 << 40))
        yield frame(FILE_END, struct.pack(">IQ", 0, 0))
        return
    if name == "forged-digest":       # a digest is the writer's to make
        forged = bytes(range(20))
        yield root
        yield frame(ENTRY, entry(b"a", REG, size=4, nlink=2, inode=7,
                                 sha1=forged))
        yield frame(FILE, u64(2, 4))
        yield frame(DATA, b"abcd")
        yield frame(FILE_END, struct.pack(">IQ", 0, 0))
        yield frame(ENTRY, entry(b"b", REG, size=4, nlink=2, inode=7,
                                 sha1=forged))
        return
    if name in ("lying-digest", "unasked-digest", "missing-digest",
                "old-reader"):
        yield root
        files = [(b"a", b"abcd"), (b"b", b"efgh"), (b"c", b"ijkl")]
        if name != "lying-digest":
            files = files[:1]
        for seq, (path, data) in enumerate(files, 2):
            yield frame(ENTRY, entry(path, REG, size=4))
            yield frame(FILE, u64(seq, 4))
            yield frame(DATA, data)
            said = data if path == b"c" else data.upper()
            end = struct.pack(">IQ", 0, 0)
            if name in ("lying-digest", "unasked-digest"):
                end += hashlib.sha1(said).digest()
            yield frame(FILE_END, end)
        return
    if name in ("lie-first", "change-die"):
        first = name == "lie-first"
        files = [(b"a", b"abcd" if first else b"zzzz", b"ABCD" if first
                  else None)]
        files += [(b"f%04d" % i, (b"x%d" if first else b"y%d") % i, None)
                  for i in range(n)]
        yield root
        for seq, (path, data, said) in enumerate(files, 2):
            yield frame(ENTRY, entry(path, REG, size=len(data),
                                     mtime=1690000000 if first
                                     else 1690000100))
            yield frame(FILE, u64(seq, len(data)))
            yield frame(DATA, data)
            yield frame(FILE_END, struct.pack(">IQ", 0, 0) +
                        hashlib.sha1(said or data).digest())
        if not first:
            yield frame(77, b"x")  # an unknown type: the writer dies
        return
    if name == "same-digest":
        yield root
        yield frame(ENTRY, entry(b"a", REG, size=4))
        yield frame(FILE, u64(2, 4))
        yield frame(DATA, b"wxyz")
        yield frame(FILE_END, struct.pack(">IQ", 0, 0) +
                    hashlib.sha1(b"abcd").digest())
        return
    if name.startswith("digest-"):
        said = b"ABCD" if name == "digest-liar" else b"abcd"
        yield root
        yield frame(ENTRY, entry(b"a", REG, size=4))
        yield frame(DIGEST, u64(9 if name == "digest-wrong-seq" else 2) +
                    struct.pack(">IQ", 0, 0) + hashlib.sha1(said).digest())
        return
    if name == "xattr-entry":
        yield root
        yield frame(ENTRY, entry(b"b", REG, xattrs=big_xattrs(5, 60 * 1024)))
        return
    if name == "acl-entry":
        acl = [(2, b"u%03d" % i + b"x" * 251) for i in range(1020)]
        yield root
        yield frame(ENTRY, entry(b"b", REG, acl=acl))
        return
    raise SystemExit("unknown scenario " + name)


def hello_flags(name):
    """HELLO_DIGESTS offered by the scenarios that send digests,
    HELLO_WANT_DIGEST by those that answer compare's WANT_DIGEST."""
    if name.startswith("digest-") and name != "digest-unoffered":
        return HELLO_WANT_DIGEST
    return HELLO_DIGESTS if name in ("lying-digest", "missing-digest",
                                     "same-digest", "lie-first",
                                     "change-die") else 0


def stdio(name, n):
    """Flood the writer on our stdout; what it says is read and dropped
    until it ends (leaving first would end its session on a broken pipe
    before the attack is judged)."""
    drain = threading.Thread(target=sys.stdin.buffer.read, daemon=True)
    drain.start()
    out, count = sys.stdout.buffer, 0
    try:
        out.write(frame(HELLO, hello(ROLE_READER, software=b"evilread",
                                     flags=hello_flags(name))))
        for f in frames(name, n):
            out.write(f)
            count += f[4] == ENTRY
        out.write(frame(ENTRIES_END, u64(count)))
        out.flush()
    except BrokenPipeError:
        os._exit(1)
    drain.join(120)
    os._exit(0)


def main():
    if sys.argv[1] == "--stdio":
        stdio(sys.argv[2], int(sys.argv[3]))
    sep = sys.argv.index("--")
    name = sys.argv[1]
    n = int(sys.argv[2]) if sep > 2 else 20000
    argv = sys.argv[sep + 1:]
    p = subprocess.Popen(argv, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # Whatever the writer says (HELLO, WANT, PROGRESS) is read and dropped:
    # the attack is never answering.
    drain = threading.Thread(target=p.stdout.read, daemon=True)
    drain.start()
    count = 0
    try:
        p.stdin.write(frame(HELLO, hello(ROLE_READER, software=b"evilread",
                                         flags=hello_flags(name))))
        for f in frames(name, n):
            p.stdin.write(f)
            count += f[4] == ENTRY
        p.stdin.write(frame(ENTRIES_END, u64(count)))
        p.stdin.flush()
    except BrokenPipeError:
        pass
    try:
        p.stdin.close()
    except BrokenPipeError:
        pass
    report(p, "writer", 120)


if __name__ == "__main__":
    main()
