#!/usr/bin/env python3
"""A source that drops the connection: a remote schema that runs the real
reader and cuts its stream to the writer after LIMIT bytes.  Usage as
--remote-schema "python3 cutpeer.py LIMIT {h}" (the reader's command comes
last, one word; capback-reader is found in PATH).  The writer sees the
stream end in the middle of a frame, as when the source host goes away.
"""
import os
import select
import subprocess
import sys


def main():
    limit = int(sys.argv[1])
    cmd = sys.argv[3]
    p = subprocess.Popen(["/bin/sh", "-c", cmd], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, bufsize=0)
    sent = 0
    ins = [0, p.stdout]
    while sent < limit:
        r, _, _ = select.select(ins, [], [])
        if 0 in r:
            b = os.read(0, 65536)
            if not b:
                ins.remove(0)
                p.stdin.close()
            else:
                p.stdin.write(b)
        if p.stdout in r:
            b = os.read(p.stdout.fileno(), min(65536, limit - sent))
            if not b:
                break
            os.write(1, b)
            sent += len(b)
    p.kill()
    p.wait()


main()
