#!/usr/bin/env python3
"""Write the fuzzers' seed corpora (tests/fuzz/corpus/<target>/): valid
inputs of each kind, so that libFuzzer starts from the real formats.
Run from the project root: python3 tests/fuzz/mkseeds.py."""
import gzip
import os
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from cbwire import (DATA, DELTA_END, DONE, ENTRIES_END, ENTRY, FILE,  # noqa
                    FILE_END, HELLO, frame, hello, u64)
from evilrepo import entry  # noqa

OUT = os.path.join(os.path.dirname(__file__), "corpus")
REG, DIR, SYM = 1, 2, 3


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# fuzz_msg: selector byte, then a payload
put("fuzz_msg", "hello", b"\0" + hello(3))
put("fuzz_msg", "entry-dir", b"\1" + entry(b".", DIR, 0o755))
put("fuzz_msg", "entry-reg", b"\1" + entry(b"a/b", REG, size=5, nlink=2,
                                           inode=7, link_to=b"a/a"))
put("fuzz_msg", "entry-sym", b"\1" + entry(b"l", SYM, symdata=b"../x"))
# ACL: user::rwx, user:QUAL:r--, group::r--, mask::r--, other::---
for name, qual in (("entry-acl", b"alice"), ("entry-acl-hash", b"a#b")):
    put("fuzz_msg", name, b"\1" + entry(
        b"f", REG, size=0, acl=((0, 1, 7, b""), (0, 2, 4, qual),
                                (0, 4, 4, b""), (0, 16, 4, b""),
                                (0, 32, 0, b""))))
put("fuzz_msg", "u64", b"\2" + u64(42))
put("fuzz_msg", "pair", b"\3" + u64(1, 2))
put("fuzz_msg", "u32pair", b"\4" + struct.pack(">IQ", 0, 3))
put("fuzz_msg", "delta-end", b"\5" + struct.pack(">IQ", 0, 1) + b"s" * 20)

# fuzz_frame: a restore stream
stream = (frame(HELLO, hello(4)) + frame(ENTRY, entry(b".", DIR, 0o755)) +
          frame(ENTRY, entry(b"f", REG, size=3)) + frame(FILE, u64(2, 3)) +
          frame(DATA, b"abc") + frame(FILE_END, struct.pack(">IQ", 0, 0)) +
          frame(ENTRIES_END, u64(2)) + frame(DONE, struct.pack(">IQ", 0, 0)) +
          frame(DELTA_END, struct.pack(">IQ", 0, 0) + b"s" * 20))
put("fuzz_frame", "restore", b"\0" + stream)

# fuzz_mdfile: kind byte (0 meta, 1 ea, 2 acl), then the file
meta = b"""File .
  Type dir
  Permissions 493
  Uid 0
  Gid 0
  Uname root
  Gname root
  ModTime 1700000000
File a\\x20b
  Type reg
  Size 3
  SHA1Digest a9993e364706816aba3e25717850c26c9cd0d89d
  NumHardLinks 2
  Inode 12
  DeviceLoc 2049
  Permissions 420
  Uid 1000
  Gid 1000
  Uname u
  Gname :
  ModTime 1700000000
File dev
  Type dev
  DeviceNum c 1 3
  Permissions 438
  Uid 0
  Gid 0
File link
  Type sym
  SymData a\\x20b
  Uid 0
  Gid 0
"""
put("fuzz_mdfile", "meta", b"\0" + meta)
put("fuzz_mdfile", "meta-gz", b"\0" + gzip.compress(meta))
put("fuzz_mdfile", "ea", b"\1" + b"# file: a\\040b\nuser.x=0sAAEC\n"
    b"user.note=\"kept\"\n\n")
put("fuzz_mdfile", "acl", b"\2" + b"# file: d\nuser::rwx\nuser:daemon:r--\n"
    b"group::r-x\nmask::r-x\nother::r-x\ndefault:user::rwx\n"
    b"default:group::r-x\ndefault:other::---\n\n")
# an ACL xattr blob: version 2, entries (tag u16, perm u16, id u32)
acl = struct.pack("<I", 2) + b"".join(struct.pack("<HHI", t, p, i) for t, p, i in
                                      [(1, 7, 0xffffffff), (2, 4, 1),
                                       (4, 5, 0xffffffff), (16, 5, 0xffffffff),
                                       (32, 5, 0xffffffff)])
put("fuzz_mdfile", "aclblob", b"\xf0" + acl)

# fuzz_time: time strings and increment names
for i, s in enumerate([b"now", b"1700000000", b"2023-11-14T22:13:20Z",
                       b"2023-11-14T23:13:20+01:00", b"2023-11-14",
                       b"Tue Nov 14 22:13:20 2023", b"3D2h", b"2W", b"5B",
                       b"file.2023-11-14T22:13:20Z.diff.gz",
                       b"d.2023-11-14T22:13:20-05:30.dir",
                       b"x.2023-11-14T22:13:20Z.snapshot"]):
    put("fuzz_time", "t%02d" % i, s)

# fuzz_delta: byte 0 even = a wire signature, odd = a delta (bit 1: gzip)
with tempfile.TemporaryDirectory() as t:
    old, new = os.path.join(t, "old"), os.path.join(t, "new")
    with open(old, "wb") as f:
        f.write(b"capback basis " * 600)
    with open(new, "wb") as f:
        f.write(b"capback basis " * 300 + b"changed" + b"capback basis " * 300)
    sig, dlt = os.path.join(t, "sig"), os.path.join(t, "delta")
    subprocess.run(["rdiff", "-H", "blake2", "-S", "8", "-b", "512",
                    "signature", old, sig], check=True)
    subprocess.run(["rdiff", "delta", sig, new, dlt], check=True)
    put("fuzz_delta", "signature", b"\0" + open(sig, "rb").read())
    d = open(dlt, "rb").read()
    put("fuzz_delta", "delta", b"\1" + d)
    put("fuzz_delta", "delta-gz", b"\3" + gzip.compress(d))
