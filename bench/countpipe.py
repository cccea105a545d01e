#!/usr/bin/env python3
"""countpipe.py OUT CMD...: run CMD with our stdin/stdout relayed through
us, and append "sent N received M" (bytes to and from CMD) to OUT at exit.
Used as a transport wrapper (remote schema, rsync -e) to count what
crosses the link, the same way for every tool."""
import os
import select
import selectors
import subprocess
import sys

out, cmd = sys.argv[1], sys.argv[2:]


def write_all(fd, b):
    """Write all of b; the caller may have made fd non-blocking."""
    while b:
        try:
            b = b[os.write(fd, b):]
        except BlockingIOError:
            select.select([], [fd], [])


p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
sel = selectors.DefaultSelector()
try:
    sel.register(0, selectors.EVENT_READ, "in")
except PermissionError:  # a file or /dev/null: nothing comes that way
    p.stdin.close()
sel.register(p.stdout.fileno(), selectors.EVENT_READ, "out")
sent = received = 0
open_in = True
while True:
    ev = sel.select()
    done = False
    for key, _ in ev:
        if key.data == "in":
            try:
                b = os.read(0, 1 << 16)
            except BlockingIOError:
                continue
            if not b:
                sel.unregister(0)
                p.stdin.close()
                continue
            sent += len(b)
            p.stdin.write(b)
            p.stdin.flush()
        else:
            try:
                b = os.read(p.stdout.fileno(), 1 << 16)
            except BlockingIOError:
                continue
            if not b:
                done = True
                break
            received += len(b)
            write_all(1, b)
    if done:
        break
rc = p.wait()
with open(out, "a") as f:
    f.write("sent %d received %d\n" % (sent, received))
sys.exit(rc)
