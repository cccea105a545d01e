"""capback's stream protocol for the hostile-peer tests (evilpeer.py,
evilrepo.py): frame layout, message types, field encodings and HELLO, as
docs/protocol.md gives them."""
import resource
import subprocess
import struct
import sys

MAGIC = 0x43424B31  # "CBK1"
VERSION = 3
TYPES = dict(HELLO=1, ENTRY=2, ENTRIES_END=3, WANT=4, PROGRESS=5, FILE=6,
             DATA=7, HOLE=8, FILE_END=9, DONE=10, WANT_DELTA=11, DELTA=12,
             DELTA_END=13, WANT_DIGEST=14, DIGEST=15)
NAMES = {v: k for k, v in TYPES.items()}
globals().update(TYPES)
ROLE_READER, ROLE_WRITER, ROLE_RESTORER, ROLE_REPO_SOURCE = 1, 2, 3, 4


def frame(typ, payload=b"", length=None):
    """u32 payload length (or a lie: ${length}) | u8 type | payload."""
    n = len(payload) if length is None else length
    return struct.pack(">IB", n, typ) + payload


def blob(b):
    return struct.pack(">I", len(b)) + b


def u64(*v):
    return b"".join(struct.pack(">Q", x) for x in v)


HELLO_DIGESTS, HELLO_WANT_DIGEST = 1, 2


def hello(role, version=VERSION, software=b"evil test peer", flags=0):
    """A HELLO frame's payload for ${role}."""
    return struct.pack(">IHBI", MAGIC, version, role, flags) + blob(software)


def report(p, role, timeout):
    """Print ${p}'s stderr, "exit N" and "maxrss KB" (the peak resident
    set of the children, getrusage) once it ended; killed ("<role> hung")
    after ${timeout} s."""
    err = p.stderr.read()
    try:
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        print(role, "hung: killed")
    sys.stdout.write(err.decode(errors="replace"))
    print("exit", p.returncode)
    print("maxrss", resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
