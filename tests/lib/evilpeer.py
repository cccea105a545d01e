#!/usr/bin/env python3
"""A malicious writer: speaks capback's stream protocol to a real
capback-reader and attacks it.  Usage:

    evilpeer.py SCENARIO [ARG...] -- READER-COMMAND...

Prints what the reader sent back after the attack ("file SEQ", "data N",
"file_end ERR", "delta ...") and the reader's stderr and exit status
("exit N"), for the test to judge.
"""
import os
import select
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cbwire import (DATA, DELTA, DELTA_END, DONE, ENTRIES_END, ENTRY,  # noqa
                    FILE, FILE_END, HELLO, NAMES, PROGRESS, ROLE_WRITER,
                    VERSION, WANT, WANT_DELTA, frame, hello, u64)


class Peer:
    def __init__(self, argv):
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        self.buf = b""
        self.eof = False

    def send(self, typ, payload=b"", length=None):
        self.send_raw(frame(typ, payload, length))

    def send_raw(self, b):
        try:
            self.p.stdin.write(b)
            self.p.stdin.flush()
        except BrokenPipeError:
            pass

    def frame(self, timeout=10.0):
        """Next (type, payload), or None at EOF / timeout."""
        end = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 5:
                n, t = struct.unpack(">IB", self.buf[:5])
                if len(self.buf) >= 5 + n:
                    pl = self.buf[5:5 + n]
                    self.buf = self.buf[5 + n:]
                    return t, pl
            if self.eof:
                return None
            left = end - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([self.p.stdout], [], [], left)
            if not r:
                return None
            chunk = os.read(self.p.stdout.fileno(), 65536)
            if not chunk:
                self.eof = True
            self.buf += chunk

    def hello(self, version=VERSION):
        self.send(HELLO, hello(ROLE_WRITER, version, b"evilpeer"))
        f = self.frame()
        if f is None or f[0] != HELLO:
            print("no hello from the reader")
            return False
        return True

    def entries(self):
        """Read the entry stream: {path: (seq, type)}."""
        out, seq = {}, 0
        while True:
            f = self.frame()
            if f is None:
                print("entry stream ended early")
                return out
            t, pl = f
            if t == ENTRIES_END:
                return out
            if t != ENTRY:
                print("unexpected", NAMES.get(t, t))
                return out
            seq += 1
            n = struct.unpack(">I", pl[:4])[0]
            path = pl[4:4 + n].decode("utf-8", "surrogateescape")
            out[path] = (seq, pl[4 + n])

    def finish(self, timeout=10.0):
        """Report everything the reader sends until it exits.  DONE goes
        out once a file's reply has ended, or when the reader falls
        silent (it did not die of the attack)."""
        data, done = 0, False
        while True:
            f = self.frame(3.0 if not done else timeout)
            if f is None and not done and not self.eof:
                self.send(DONE, struct.pack(">IQ", 0, 0))
                done = True
                continue
            if f is None:
                break
            t, pl = f
            if t in (FILE_END, DELTA_END) and not done:
                self.send(DONE, struct.pack(">IQ", 0, 0))
                done = True
            if t == DATA:
                data += len(pl)
            elif t in (FILE, DELTA):
                print(NAMES[t].lower(), struct.unpack(">QQ", pl)[0])
            elif t in (FILE_END, DELTA_END):
                print(NAMES[t].lower(), struct.unpack(">I", pl[:4])[0])
            else:
                print("frame", NAMES.get(t, t))
        print("data", data)
        if not self.eof:
            print("reader still running: killed")
            self.p.kill()
        try:
            self.p.stdin.close()
        except BrokenPipeError:
            pass
        err = self.p.stderr.read().decode(errors="replace")
        rc = self.p.wait()
        sys.stdout.write(err)
        print("exit", rc)


def main():
    sep = sys.argv.index("--")
    scen, args, argv = sys.argv[1], sys.argv[2:sep], sys.argv[sep + 1:]
    peer = Peer(argv)
    if scen == "hello-version":
        peer.hello(version=1)
        peer.finish()
        return
    if not peer.hello():
        peer.finish()
        return
    if scen == "frame-huge":          # a length field of almost 4 GiB
        peer.send_raw(struct.pack(">IB", 0xFFFFFFF0, WANT))
    elif scen == "unknown-type":
        peer.send(99, b"x")
    else:
        ents = peer.entries()
        seq = ents[args[0]][0] if args and scen != "list" else 1
        if scen == "list":            # what the listing says
            for path in sorted(ents):
                print("entry", path)
        elif scen == "want":            # WANT for a named entry
            peer.send(WANT, u64(seq))
        elif scen == "want-twice":
            peer.send(WANT, u64(seq))
            peer.send(WANT, u64(seq))
        elif scen == "want-zero":
            # once a file is served, seq 0: never sent, but served
            # entries once had it
            peer.send(WANT, u64(seq))
            f = peer.frame()
            while f is not None and f[0] != FILE_END:
                f = peer.frame()
            print("served" if f else "not served")
            peer.send(WANT, u64(0))
        elif scen == "want-beyond":   # a seq the reader never sent
            peer.send(WANT, u64(len(ents) + 5))
        elif scen == "want-race":     # swap the file for a symlink, then WANT
            os.rename(args[1], args[1] + ".moved")
            os.symlink(args[2], args[1])
            peer.send(WANT, u64(seq))
        elif scen == "write-verb":    # verbs only a reader may send
            peer.send(FILE, u64(seq, 5))
            peer.send(DATA, b"hello")
        elif scen == "entry-verb":
            peer.send(ENTRY, b"\0" * 16)
        elif scen == "sig-huge":
            peer.send(WANT_DELTA, u64(seq, 1 << 40))
        elif scen == "sig-bad":
            peer.send(WANT_DELTA, u64(seq, 24))
            peer.send(DATA, b"\x72\x73\x01\x36" + b"\0" * 20)
        elif scen == "sig-overrun":   # more DATA than the signature length
            peer.send(WANT_DELTA, u64(seq, 12))
            peer.send(DATA, b"\0" * 40)
        elif scen == "data-stray":
            peer.send(DATA, b"\0" * 10)
        elif scen == "progress-back":
            peer.send(PROGRESS, u64(len(ents)))
            peer.send(PROGRESS, u64(1))
        else:
            print("unknown scenario", scen)
    peer.finish()


if __name__ == "__main__":
    main()
