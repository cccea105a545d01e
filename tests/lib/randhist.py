#!/usr/bin/env python3
"""Randomized differential test: capback and rdiff-backup 2.2.2 write one
repository in random turns, and no sequence of their operations may lose
a file (issue 22).

randhist.py [--build DIR] [--seeds 1,2,5-9] [--time-budget SECONDS]
            [--sessions MIN-MAX] [--known-open ITEM,...|all] [--keep]
            [--workdir DIR] [-v]

Each seed is one iteration: a random source tree (every entry kind, odd
owners and modes, xattrs, ACLs, hostile names), then a random history of
sessions written by capback or rdiff-backup under several time zones,
random changes between them, some sessions killed (SIGKILL from a timer
or on a file operation, strace) and regressed by the OTHER tool, and
removals of old increments by either tool.  Afterwards every session
kept is restored and verified by both tools and compared with the
manifest of the source taken when it was written; both tools' lists of
increments must name exactly those sessions.

--seeds runs the seeds listed; --time-budget goes on with the next seeds
(after the list, or from a seed drawn from the clock) until the time is
spent.  Every discrepancy is printed with its seed, iteration and
session and a command that reproduces it (the same seed builds the same
trees and history; a kill by timer lands at a time-dependent point).
Exit status 1 on any discrepancy.

Classes of findings:
  FAIL           a discrepancy; fails the run (every capback one is)
  RDIFF-KNOWN    rdiff-backup 2.2.2 bugs capback is documented to do better
                 on (docs/rdiff-backup-format.md): printed, not failing,
                 and only when rdiff-backup wrote or restored the session:
                 rdiff-empty-xattr      every xattr of a file with an
                                        empty-valued xattr dropped
                 rdiff-quoted-xattr     xattr names left quoted (user.a\\040b)
                 rdiff-symlink-owner    a symlink's owner change missed
                 rdiff-long-delete-hang a deleted name over 205 bytes that
                                        sorts last hangs the backup, or its
                                        restore of an older session (then
                                        only where capback's verify --all
                                        names the state)
                 rdiff-regress-longname rdiff-backup's regress leaves the
                                        undone session's increments of names
                                        over 205 bytes (long_filename_data)
                 rdiff-remove-incname-dir  rdiff-backup's remove increments
                                        deletes a source directory's
                                        increments when its name parses as
                                        an old increment (newer ones too)
                 rdiff-killed-probe     rdiff-backup killed while probing
                                        the file system leaves
                                        rdiff-backup-data/rdiff-backup.tmp.N
                                        (capback's backups remove it once
                                        ten minutes old)
                 rdiff-incname-misread  rdiff-backup's restore or verify of a
                                        session with names that parse as
                                        increments fails, hangs or differs
                                        while capback's restore is exact
                 rdiff-left-out         a path an rdiff-backup session left
                                        out of itself (a new link to a
                                        hard-link group a default capback
                                        session wrote): accepted only when
                                        its error_log names it and capback's
                                        verify --all names the session
--known-open ITEM: states the generator avoids.  Each of the items of
issue 22 is fixed; CI passes ext4-acl-enospc and rdiff-regress-longdir
(see each); the others stay to replay the issue's seeds against an older
capback:
  hardlink-join     a default capback session then an rdiff-backup session
                    where a new path joins an unchanged hard-link group
                    (fixed: now rdiff-left-out)
  cb-regress-tz     capback regress of a non-UTC rdiff-backup session left
                    a root marker (killed rdiff-backup sessions use UTC)
  cb-kill-tmp       a killed capback left rdiff-backup.tmp.iN temporaries
                    (not counted as strays after a killed capback session)
  cb-remove-longdir capback remove left empty long_filename_data dirs
                    (not counted as strays after a capback removal)
  rdiff-regress-longdir  rdiff-backup's regress misses what a killed
                    session did below a directory whose name is over 205
                    bytes (capback sessions are not killed while a name is
                    over 205 bytes).  capback's verify names that state
                    and capback regress repairs it (longnames.bats); this
                    program does not run that repair yet, so CI keeps it
  ext4-acl-enospc   xattr values stay small.  Fixed in capback (the ACL
                    is set first, the xattrs that do not fit are named),
                    but a file system that cannot hold all of a file's
                    xattrs loses some whatever the tool: no discrepancy
                    between the tools to look for
"""
import argparse
import datetime
import hashlib
import os
import random
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

KNOWN_OPEN = ["hardlink-join", "cb-regress-tz", "cb-kill-tmp",
              "cb-remove-longdir", "rdiff-regress-longdir", "ext4-acl-enospc"]
ZONES = ["UTC", "Europe/Berlin", "America/St_Johns"]
UIDS = [0, 1, 2, 33, 34, 65534, 4242, 54321]  # the last two: no user
GIDS = [0, 1, 4, 33, 50, 65534, 4343, 60001]  # the last two: no group
FILE_MODES = [0o644, 0o600, 0o640, 0o755, 0o000, 0o444, 0o4755, 0o2755,
              0o6711, 0o1644, 0o4000, 0o777]
DIR_MODES = [0o755, 0o700, 0o1777, 0o2775, 0o555, 0o711, 0o000]
TIMEOUT = 90  # seconds, any one command (rdiff-backup hangs are reported)
NAMES = {"cb": "capback", "rdiff": "rdiff-backup"}


def now():
    return time.monotonic()


class Finding:
    def __init__(self, cls, seed, it, session, what, detail=""):
        self.cls, self.seed, self.it = cls, seed, it
        self.session, self.what, self.detail = session, what, detail


# ---------------------------------------------------------------------
# manifests

def walk(root):
    """Every path under root (bytes, relative, "." for root), sorted."""
    out = [b"."]
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            out.append(os.path.relpath(os.path.join(d, n), root))
    return sorted(out)


def getfacl(path):
    p = subprocess.run(["getfacl", "-P", "-n", "--absolute-names", "--",
                        path], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, timeout=TIMEOUT)
    return b";".join(l for l in p.stdout.splitlines()
                     if l and not l.startswith(b"# file:")).decode("latin-1")


def manifest(root):
    """path -> {field: value}: type, mode, owner, mtime (not for symlinks
    and devices), size and SHA-1, symlink target, device numbers, user
    xattrs, ACLs (getfacl text), hard-link group (first path)."""
    root = os.fsencode(root)
    man, inodes = {}, {}
    for rel in walk(root):
        p = os.path.join(root, rel) if rel != b"." else root
        st = os.lstat(p)
        m = st.st_mode
        e = {"type": stat.filemode(m)[0], "mode": "%04o" % stat.S_IMODE(m),
             "uid": st.st_uid, "gid": st.st_gid}
        if not (stat.S_ISLNK(m) or stat.S_ISCHR(m) or stat.S_ISBLK(m)):
            e["mtime"] = st.st_mtime_ns // 1000000000
        if stat.S_ISREG(m):
            h = hashlib.sha1()
            with open(p, "rb") as f:
                h.update(f.read())
            e["size"], e["sha1"] = st.st_size, h.hexdigest()
            inodes.setdefault((st.st_dev, st.st_ino), []).append(rel)
        elif stat.S_ISLNK(m):
            e["target"] = os.readlink(p)
        elif stat.S_ISCHR(m) or stat.S_ISBLK(m):
            e["dev"] = "%d:%d" % (os.major(st.st_rdev), os.minor(st.st_rdev))
        xa, acl = {}, False
        try:
            names = os.listxattr(p, follow_symlinks=False)
        except OSError:
            names = []
        for n in sorted(names):
            if n.startswith("system.posix_acl"):
                acl = True
            elif not n.startswith("system.") and not n.startswith("security."):
                try:
                    xa[n] = os.getxattr(p, n, follow_symlinks=False)
                except OSError as ex:
                    xa[n] = ("ERR%d" % ex.errno).encode()
        e["xattrs"] = xa
        e["acl"] = getfacl(p) if acl else ""
        man[rel] = e
    for paths in inodes.values():
        if len(paths) > 1:
            for rel in paths:
                man[rel]["link"] = min(paths)
    return man


def short(v):
    if isinstance(v, bytes) and len(v) > 24:
        return "%r..(%d bytes, sha1 %s)" % (v[:12], len(v), hashlib.sha1(v).hexdigest()[:8])
    return repr(v)


def show(e, fields):
    """The fields of a manifest entry that differ (xattrs: only those)."""
    if e is None:
        return "absent"
    f = []
    for k in fields:
        v = e.get(k)
        if k == "xattrs":
            v = "{%s}" % ",".join("%s=%s" % (n, short(v[n])) for n in sorted(v))
        f.append("%s=%s" % (k, v))
    return "%s %s" % (e["type"], " ".join(f))


def diff_fields(a, b):
    if a is None or b is None:
        return ["presence"]
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def quote_xattr_name(n):
    """rdiff-backup's quoting of an xattr name: octal escapes of the
    bytes outside printable ASCII, '\\' and '='."""
    return "".join(chr(c) if 0x20 < c < 0x7f and c not in b"\\=" else
                   "\\%03o" % c for c in os.fsencode(n))


def classify(exp, act, rdiff_involved):
    """The rdiff-backup-known bug that explains every difference, or None."""
    if not rdiff_involved or exp is None or act is None:
        return None
    d = diff_fields(exp, act)
    if d == ["xattrs"]:
        ex, ac = exp["xattrs"], act["xattrs"]
        if any(v == b"" for v in ex.values()) and not ac:
            return "rdiff-empty-xattr"
        # each name either as it is or quoted, with its value
        left = dict(ac)
        for n, v in ex.items():
            q = quote_xattr_name(n)
            if left.get(n) == v:
                del left[n]
            elif q != n and left.get(q) == v:
                del left[q]
            else:
                return None
        if not left:
            return "rdiff-quoted-xattr"
    if exp["type"] == "l" and d and set(d) <= {"uid", "gid"}:
        return "rdiff-symlink-owner"
    return None


INCNAME = re.compile(r".*\.\d{4}-\d\d-\d\dT\d\d[:-]\d\d[:-]\d\d(Z|[-+]\d\d[:-]\d\d)"
                     r"\.(snapshot|diff|missing|dir|data)(\.gz)?$")


def under_incname_dir(rel):
    """A path of increments/ at or below a directory whose name parses as
    an increment."""
    parts = rel.rstrip("/").split("/")
    if parts[:2] != ["rdiff-backup-data", "increments"]:
        return False
    return any(INCNAME.match(c) for c in parts[2:-1]) or (
        rel.endswith("/") and INCNAME.match(parts[-1]) is not None)


def repo_names(repo, tmp_ok):
    """The repository's paths (files, and directories under
    long_filename_data), without logs, capback's lock and (tmp_ok) the
    temporaries of increments a killed capback leaves (known open)."""
    out = set()
    for d, dirs, files in os.walk(repo):
        for n in files + dirs:
            p = os.path.join(d, n)
            rel = os.path.relpath(p, repo)
            if n.endswith(".log") or n in ("capback.lock", "lock.yml"):
                continue
            if tmp_ok and re.match(r"rdiff-backup\.tmp\.i?\d+$", n):
                continue
            if n in dirs and "long_filename_data" not in rel:
                continue
            out.add(rel + ("/" if n in dirs else ""))
    return out


# ---------------------------------------------------------------------
# the random tree

class Tree:
    def __init__(self, r, root, opts):
        self.r, self.root, self.opts = r, os.fsencode(root), opts
        self.n = 0
        self.tick = 1500000000 + r.randrange(10 ** 7)
        self.events = []  # what the last change did, for classification

    def fresh_mtime(self):
        """A time no earlier change used: an edit keeping size and time
        would look unchanged to both tools (as designed)."""
        self.tick += self.r.randint(1, 1000)
        return self.tick

    def uniq(self):
        self.n += 1
        return self.n

    def name(self):
        r, k = self.r, self.uniq()
        c = r.choice(["plain"] * 6 + ["space", "newline", "backslash",
                      "punct", "latin1", "utf8", "long", "long", "inc",
                      "marker", "dash"])
        if c == "plain":
            return b"f%d" % k
        if c == "space":
            return b"a b %d " % k
        if c == "newline":
            return b"nl\n%d" % k
        if c == "backslash":
            return b"back\\slash\\%d" % k
        if c == "punct":
            return b"c:o;l=n%d" % k
        if c == "latin1":
            return b"lat\xe9\xff%d" % k
        if c == "utf8":
            return ("\u00fc\u20ac\u6f22%d" % k).encode()
        if c == "long":
            head = b"L%d" % k
            return head + b"x" * (r.randint(206, 255) - len(head))
        if c == "inc":
            return r.choice([b"x%d.2020-01-01T00:00:00Z.missing",
                             b"f%d.2020-01-01T00:00:00Z.diff.gz",
                             b"s%d.2019-05-05T01:02:03+02:00.snapshot.gz",
                             b"d%d.2020-01-01T00:00:00-03:30.dir"]) % k
        if c == "marker":
            return r.choice([b"current_mirror.2020-01-01T00:00:00Z.data",
                             b"rdiff-backup-data", b"increments",
                             b"increments.2020-01-01T00:00:00Z.dir",
                             b"long_filename_data"]) + b"%d" % k * r.randint(0, 1)
        return b"-%d" % k

    def paths(self):
        return [os.path.join(self.root, p) for p in walk(self.root)
                if p != b"."]

    def dirs(self):
        return [self.root] + [p for p in self.paths()
                              if stat.S_ISDIR(os.lstat(p).st_mode)]

    def regular(self):
        return [p for p in self.paths() if stat.S_ISREG(os.lstat(p).st_mode)]

    def newpath(self):
        for _ in range(20):
            d = self.r.choice(self.dirs())
            if d.count(b"/") - self.root.count(b"/") >= 3:
                continue
            p = os.path.join(d, self.name())
            if d == self.root and os.path.basename(p) == b"rdiff-backup-data":
                continue  # both tools leave out the source's own (by design)
            if not os.path.lexists(p):
                return p
        return None

    def content(self):
        r = self.r
        k = r.random()
        if k < 0.15:
            return b""
        if k < 0.55:
            return b"text %d\n" % r.randrange(10 ** 6) * r.randint(1, 40)
        if k < 0.9:
            return r.randbytes(r.randint(1, 5000))
        return r.randbytes(r.randint(64 << 10, 400 << 10))  # larger

    def set_attrs(self, p, kind):
        r = self.r
        os.lchown(p, r.choice(UIDS), r.choice(GIDS))
        if kind != "l":
            os.chmod(p, r.choice(DIR_MODES if kind == "d" else FILE_MODES))
        if kind in "fd" and r.random() < 0.4:
            self.set_xattrs(p)
        if kind in "fd" and r.random() < 0.25:
            self.set_acl(p, kind)

    def set_xattrs(self, p):
        r = self.r
        small = "ext4-acl-enospc" in self.opts.known_open
        for _ in range(r.randint(1, 4)):
            n = r.choice([b"user.k%d" % r.randint(0, 3), b"user.sp ace",
                          b"user.bin", b"user.e", b"user.t\xc3\xa9"])
            k = r.random()
            if k < 0.2:
                v = b""
            elif k < 0.6:
                v = b"v%d" % r.randrange(1000)
            elif k < 0.95 or small:
                v = r.randbytes(r.randint(1, 64))
            else:
                v = r.randbytes(r.randint(500, 1500))
            try:
                os.setxattr(p, n, v, follow_symlinks=False)
            except OSError:
                pass

    def set_acl(self, p, kind):
        r = self.r
        spec = "u:%d:%s,g:%d:%s" % (r.choice(UIDS[1:]), r.choice(["rwx", "r-x", "r--", "---"]),
                                    r.choice(GIDS[1:]), r.choice(["rwx", "r--"]))
        args = ["setfacl", "-P", "-m", spec]
        if kind == "d" and r.random() < 0.6:
            args = ["setfacl", "-P", "-m", spec + ",d:u::rwx,d:g::r-x,d:o::---,d:u:%d:rw-" % r.choice(UIDS[1:])]
        subprocess.run(args + ["--", p], check=True, timeout=TIMEOUT)

    def create(self, kind=None):
        r = self.r
        p = self.newpath()
        if p is None:
            return
        kind = kind or r.choice("ffffffdddllpcbsh")
        if kind == "h":
            regs = self.regular()
            if not regs:
                return
            os.link(r.choice(regs), p)
            self.events.append(("link", p))
            return
        if kind == "f":
            with open(p, "wb") as f:
                f.write(self.content())
        elif kind == "d":
            os.mkdir(p)
        elif kind == "l":
            t = r.choice([b"f1", b"nowhere/dangling", b"/etc/hostname",
                          b"../" + self.name(), b"t" * r.randint(1, 300),
                          os.path.basename(r.choice(self.paths() or [p]))])
            os.symlink(t, p)
        elif kind == "p":
            os.mkfifo(p)
        elif kind == "s":
            os.mknod(p, stat.S_IFSOCK | 0o600)  # a socket no one listens on
        elif kind in "cb":
            os.mknod(p, (stat.S_IFCHR if kind == "c" else stat.S_IFBLK) | 0o600,
                     os.makedev(r.randint(1, 250), r.randint(0, 255)))
        self.set_attrs(p, kind)
        os.utime(p, (self.tick, self.fresh_mtime()), follow_symlinks=False)
        self.events.append(("new", p))

    def populate(self):
        os.chmod(self.root, 0o755)
        for kind in "fdlpcbsh":  # every kind at least once
            self.create(kind)
        for _ in range(self.r.randint(20, 35)):
            self.create()
        # a hard-link group of three
        regs = self.regular()
        if regs:
            a = self.r.choice(regs)
            for _ in range(2):
                q = self.newpath()
                if q:
                    os.link(a, q)
        self.fix_dir_times()

    def fix_dir_times(self):
        for d in self.dirs():
            os.utime(d, (self.tick, self.r.randint(1000000000, 1700000000)),
                     follow_symlinks=False)

    def remove(self, p):
        if len(os.path.basename(p)) > 205:
            self.events.append(("delete-long", p))
        st = os.lstat(p)
        if stat.S_ISDIR(st.st_mode):
            for d, dirs, files in os.walk(p):
                for n in dirs + files:
                    if len(n) > 205:
                        self.events.append(("delete-long", os.path.join(d, n)))
            shutil.rmtree(p)
        else:
            os.unlink(p)

    def change(self, no_join=False):
        """Random changes: edits, partial edits, deletions, new entries,
        type changes, owners, modes, xattrs, ACLs, hard links gaining and
        losing members, renames, times."""
        r = self.r
        self.events = []
        for _ in range(r.randint(2, 10)):
            paths = self.paths()
            if not paths:
                self.create()
                continue
            p = r.choice(paths)
            st = os.lstat(p)
            kind = stat.filemode(st.st_mode)[0].replace("-", "f")
            op = r.choice(["edit", "edit", "partial", "delete", "new", "new",
                           "retype", "owner", "mode", "xattr", "acl", "join",
                           "unlink", "rename", "touch", "dev", "retarget"])
            if op == "edit" and kind == "f":
                with open(p, "r+b" if r.random() < 0.5 else "wb") as f:
                    f.seek(0, 2)
                    f.write(self.content()[:r.randint(0, 3000)])
                os.utime(p, (self.tick, self.fresh_mtime()))
            elif op == "partial" and kind == "f" and st.st_size > 0:
                with open(p, "r+b") as f:
                    f.seek(r.randrange(st.st_size))
                    f.write(r.randbytes(r.randint(1, 64)))
                os.utime(p, (self.tick, self.fresh_mtime()))
            elif op == "delete":
                self.remove(p)
            elif op == "new":
                self.create(r.choice("fdlpcb") if no_join else None)
            elif op == "retype":
                self.remove(p)
                self.create_at(p, r.choice("fdlpcbs"))  # same name, new kind
            elif op == "owner":
                os.lchown(p, r.choice(UIDS), r.choice(GIDS))
                if kind == "l":
                    self.events.append(("symlink-owner", p))
            elif op == "mode" and kind != "l":
                os.chmod(p, r.choice(DIR_MODES if kind == "d" else FILE_MODES))
            elif op == "xattr" and kind in "fd":
                if r.random() < 0.3 and os.listxattr(p):
                    for n in os.listxattr(p):
                        if n.startswith("user."):
                            os.removexattr(p, n)
                else:
                    self.set_xattrs(p)
            elif op == "acl" and kind in "fd":
                if r.random() < 0.3:
                    subprocess.run(["setfacl", "-P", "-b", "--", p], check=True,
                                   timeout=TIMEOUT)
                else:
                    self.set_acl(p, kind)
            elif op == "join" and kind == "f" and not no_join:
                q = self.newpath()
                if q:
                    os.link(p, q)
                    self.events.append(("link", q))
            elif op == "unlink" and kind == "f" and st.st_nlink > 1:
                os.unlink(p)
            elif op == "rename":
                q = self.newpath()
                if q and not (kind == "d" and q.startswith(p + b"/")):
                    if len(os.path.basename(p)) > 205:
                        self.events.append(("delete-long", p))
                    os.rename(p, q)
            elif op == "touch" and kind != "l":
                os.utime(p, (self.tick, self.fresh_mtime()), follow_symlinks=False)
            elif op == "dev" and kind in "cb":
                os.unlink(p)
                self.create_at(p, kind)
            elif op == "retarget" and kind == "l":
                os.unlink(p)
                self.create_at(p, "l")
        self.fix_dir_times()

    def create_at(self, p, kind):
        """create() at the path p (which must be absent)."""
        r = self.r
        if kind == "f":
            with open(p, "wb") as f:
                f.write(self.content())
        elif kind == "d":
            os.mkdir(p)
        elif kind == "l":
            os.symlink(r.choice([b"f2", b"gone", b"x" * r.randint(1, 200)]), p)
        elif kind == "p":
            os.mkfifo(p)
        elif kind == "s":
            os.mknod(p, stat.S_IFSOCK | 0o600)
        else:
            os.mknod(p, (stat.S_IFCHR if kind == "c" else stat.S_IFBLK) | 0o600,
                     os.makedev(r.randint(1, 250), r.randint(0, 255)))
        self.set_attrs(p, kind)
        os.utime(p, (self.tick, self.fresh_mtime()), follow_symlinks=False)
        self.events.append(("new", p))

    def has_long_name(self):
        return any(len(os.path.basename(p)) > 205 for p in self.paths())


# ---------------------------------------------------------------------
# the tools

def run(cmd, env=None, timeout=TIMEOUT, cwd=None, stdout_only=False):
    """(status, output); status None on a timeout (the group is killed)."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL if stdout_only else subprocess.STDOUT,
                         env=env, cwd=cwd, start_new_session=True)
    try:
        out, _ = p.communicate(timeout=timeout)
        return p.returncode, out.decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        killgroup(p)
        out, _ = p.communicate()
        return None, out.decode("utf-8", "replace")


def killgroup(p):
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    p.wait()
    for _ in range(400):  # the whole group reaped (the writer's PID is
        try:              # what a regress checks)
            os.killpg(p.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.025)


def tstr(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def markers(repo):
    """The names of the current_mirror markers (by name: rdiff-backup
    writes a session's local time with the offset of the time zone's
    present daylight saving state, not the session's)."""
    d = os.path.join(repo, "rdiff-backup-data")
    return sorted(n for n in (os.listdir(d) if os.path.isdir(d) else [])
                  if n.startswith("current_mirror."))


def log_spelling(path):
    """A path as rdiff-backup's error_log spells it: bytes that are not
    UTF-8 as U+FFFD, a newline as a space."""
    return path.decode("utf-8", "replace").replace("\n", " ").encode()


def left_out(repo, marker):
    """The paths the session of current_mirror marker ${marker} names in
    its error_log as not updated (rdiff-backup's UpdateError ... does not
    match source), as the log spells them."""
    ts = marker[len("current_mirror."):-len(".data")]
    d = os.path.join(repo, "rdiff-backup-data")
    out = set()
    for n in ("error_log.%s.data" % ts, "error_log.%s.data.gz" % ts):
        p = os.path.join(d, n)
        if not os.path.exists(p):
            continue
        import gzip
        data = gzip.open(p).read() if n.endswith(".gz") else open(p, "rb").read()
        for line in data.split(b"\n"):
            m = re.match(rb"UpdateError: '(.*)' Updated mirror temp file '.*' "
                         rb"does not match source$", line)
            if m:
                out.add(m.group(1))
    return out


class Iteration:
    def __init__(self, h, seed, it):
        self.h, self.seed, self.it = h, seed, it
        self.opts = h.opts
        self.r = random.Random(seed)
        self.work = tempfile.mkdtemp(prefix="randhist.%d." % seed, dir=h.opts.workdir)
        os.chmod(self.work, 0o755)
        self.src = os.path.join(self.work, "src")
        self.repo = os.path.join(self.work, "repo")
        os.mkdir(self.src)
        self.sessions = {}  # time -> (manifest, tool, tz)
        self.marker = {}  # time -> the name of its current_mirror marker
        self.session_no = 0
        self.findings = []
        self.killed_cb = False
        self.cb_removed = False
        self.log = []
        self.libexec = os.path.join(self.work, "libexec")
        self.fault = os.path.join(self.work, "fault")
        os.mkdir(self.libexec)
        for role in ("capback-reader", "capback-restorer"):
            os.symlink(os.path.join(h.build, role), os.path.join(self.libexec, role))
        with open(os.path.join(self.libexec, "capback-writer"), "w") as f:
            f.write('#!/bin/sh\nw=%s\nexport ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"\n'
                    'if [ -s %s ]; then exec strace -f -qq $(cat %s) -- "$w" "$@"; fi\n'
                    'exec "$w" "$@"\n' % (os.path.join(h.build, "capback-writer"),
                                          self.fault, self.fault))
        os.chmod(os.path.join(self.libexec, "capback-writer"), 0o755)

    def say(self, msg):
        self.log.append(msg)
        if self.opts.verbose:
            print("  [seed %d] %s" % (self.seed, msg), flush=True)

    def find(self, cls, what, detail="", session=None):
        self.findings.append(Finding(cls, self.seed, self.it,
                                     self.session_no if session is None else session,
                                     what, detail))

    def env(self, tz):
        return dict(os.environ, TZ=tz, CAPBACK_LIBEXEC=self.libexec, LC_ALL="C")

    def cmd(self, tool, args, api=False):
        if tool == "cb":
            return [os.path.join(self.h.build, "capback")] + args
        return ["rdiff-backup"] + (["--api-version", "201"] if api else []) + args

    # ---- sessions ----------------------------------------------------
    def backup(self, tool, tz, t, api, kill):
        args = ["--current-time", str(t), "backup", self.src, self.repo]
        cmd = self.cmd(tool, args, api)
        fault = ""
        if kill == "fileop":
            calls = self.r.choice(["rename", "unlink,unlinkat", "mkdir,mkdirat",
                                   "renameat,renameat2", "fsync", "openat"])
            n = self.r.randint(1, 40)
            fault = "-o /dev/null -e inject=%s:signal=KILL:when=%d" % (calls, n)
            self.say("kill %s on %s #%d" % (tool, calls, n))
            if tool == "cb":
                with open(self.fault, "w") as f:
                    f.write(fault)
            else:
                cmd = ["strace", "-f", "-qq"] + fault.split() + ["--"] + cmd
        delay = None
        if kill == "timer":
            est = self.h.duration.get(tool, 1.0)
            delay = self.r.uniform(est * 0.1, est * 1.1)
            self.say("kill %s after %.3fs" % (tool, delay))
        t0 = now()
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             env=self.env(tz), start_new_session=True)
        try:
            out, _ = p.communicate(timeout=delay if delay is not None else TIMEOUT)
            st = p.returncode
        except subprocess.TimeoutExpired:
            killgroup(p)
            out, _ = p.communicate()
            st = "killed" if delay is not None else None
        finally:
            open(self.fault, "w").close()
        if kill is None and st is not None:
            self.h.duration[tool] = now() - t0
        return st, out.decode("utf-8", "replace")

    def regress(self, tool, tz):
        st, out = run(self.cmd(tool, ["regress", self.repo]), env=self.env(tz))
        ok = st in (0, 2)  # 2: rdiff-backup's warning bit / capback undid one
        if not ok:
            self.find("FAIL", "%s regress failed (status %s)" % (NAMES[tool], st), out[-2000:])
        return ok

    def strays(self, after):
        """Temporaries left in the repository."""
        bad = []
        tmp_ok = self.killed_cb and "cb-kill-tmp" in self.opts.known_open
        for d, dirs, files in os.walk(self.repo):
            for n in files + dirs:
                if n.startswith("rdiff-backup.tmp"):
                    if tmp_ok and re.match(r"rdiff-backup\.tmp\.i?\d+$", n):
                        continue
                    bad.append(os.path.relpath(os.path.join(d, n), self.repo))
        # rdiff-backup killed while it probed the file system leaves its
        # probe directory; capback's backups remove it once it is ten
        # minutes old (no live rdiff-backup's): litter.bats tests that
        probes = [b for b in bad if re.match(r"rdiff-backup-data/rdiff-backup\.tmp\.\d+$", b)
                  and os.path.isdir(os.path.join(self.repo, b))]
        if probes:
            self.find("RDIFF-KNOWN", "rdiff-killed-probe: a killed rdiff-backup's probe "
                      "directory", " ".join(probes))
        bad = [b for b in bad if b not in probes]
        if bad:
            self.find("FAIL", "stray temporaries in the repository after " + after.replace("rdiff ", "rdiff-backup ").replace("cb ", "capback "),
                      " ".join(repr(b) for b in bad[:10]))

    def twin(self, what, tool, other, run_main, run_copy):
        """Run an operation by tool on the repository and by other on a
        copy: both must leave the same repository paths."""
        copy = self.repo + ".twin"
        shutil.rmtree(copy, ignore_errors=True)
        subprocess.run(["cp", "-a", self.repo, copy], check=True)
        ok = run_main()
        saved, self.repo = self.repo, copy
        try:
            ok2 = run_copy()
        finally:
            self.repo = saved
        if ok and ok2:
            tmp_ok = self.killed_cb and "cb-kill-tmp" in self.opts.known_open
            a, b = repo_names(self.repo, tmp_ok), repo_names(copy, tmp_ok)
            if self.cb_removed and "cb-remove-longdir" in self.opts.known_open:
                a = {x for x in a if not (x.endswith("/") and "long_filename_data" in x)}
                b = {x for x in b if not (x.endswith("/") and "long_filename_data" in x)}
            rd, cbs = (a, b) if tool == "rdiff" else (b, a)
            extra = rd - cbs
            if (a != b and not cbs - rd and what.startswith("regress")
                    and all("long_filename_data/" in x or
                            any(len(os.fsencode(c)) > 205 for c in x.split("/"))
                            for x in extra)):
                self.find("RDIFF-KNOWN", "rdiff-regress-longname: rdiff-backup's %s leaves "
                          "increments of names over 205 bytes" % what, " ".join(sorted(extra)[:4]))
            elif (a != b and what == "remove increments" and not rd - cbs
                  and all(under_incname_dir(x) for x in cbs - rd)):
                self.find("RDIFF-KNOWN", "rdiff-remove-incname-dir: rdiff-backup's remove "
                          "increments deletes a source directory named like an old "
                          "increment, with the newer history in it",
                          " ".join(sorted(cbs - rd)[:4]))
            elif a != b:
                names = NAMES
                self.find("FAIL", "%s by %s and by %s leave different repositories" % (
                    what, names[tool], names[other]),
                    "  only after %s: %s\n  only after %s: %s" % (
                        names[tool], sorted(a - b)[:8], names[other], sorted(b - a)[:8]))
        shutil.rmtree(copy, ignore_errors=True)
        return ok

    def history(self):
        r = self.r
        tree = Tree(r, self.src, self.opts)
        tree.populate()
        lo, hi = self.opts.sessions
        t = 1600000000 + r.randrange(10 ** 8)
        last_writer = None
        for s in range(r.randint(lo, hi)):
            self.session_no = s
            tool = r.choice(["cb", "rdiff"])
            kill = None
            if s >= 2 and r.random() < 0.25:
                kill = r.choice(["timer", "fileop"])
                if self.opts.fileop_kills:
                    kill = "fileop"  # the same point on every machine
                if (tool == "cb" and tree.has_long_name()
                        and "rdiff-regress-longdir" in self.opts.known_open):
                    kill = None
            tz = r.choice(ZONES)
            if kill and tool == "rdiff" and "cb-regress-tz" in self.opts.known_open:
                tz = "UTC"
            if s > 0:
                tree.change(no_join=(tool == "rdiff" and last_writer == "cb" and
                                     "hardlink-join" in self.opts.known_open))
            api = tool == "rdiff" and r.random() < 0.3
            t += r.randint(60, 3 * 86400)
            man = manifest(self.src)
            long_deleted = [e for e in tree.events if e[0] == "delete-long"]
            before = markers(self.repo)
            st, out = self.backup(tool, tz, t, api, kill)
            self.say("session %d: %s TZ=%s%s t=%d (%s) -> %s" % (
                s, tool, tz, " api201" if api else "", t, tstr(t),
                st))
            if st is None:  # hung
                cls = "RDIFF-KNOWN" if tool == "rdiff" and long_deleted else "FAIL"
                self.find(cls, "%s backup hung (timeout %ds)%s" % (
                    tool, TIMEOUT, " rdiff-long-delete-hang: deleted %r" % long_deleted[:1]
                    if cls != "FAIL" else ""), out[-1500:])
                kill = "hang"
            elif kill is None and st != 0:
                self.find("FAIL", "%s backup failed (status %s)" % (tool, st), out[-2000:])
                if tool == "cb" and "is already there" in out:
                    # it stopped rather than rename over an increment:
                    # its regress proves what is there; the checks then
                    # show whether any history was lost
                    self.regress("cb", "UTC")
            if kill:
                if tool == "cb":
                    self.killed_cb = True
                after = markers(self.repo)
                self.say("markers %s -> %s" % (before, after))
                if len(after) == 2:
                    other = "rdiff" if tool == "cb" else "cb"
                    rtz = r.choice(ZONES)
                    if self.twin("regress of a killed %s session" % tool, other, tool,
                                 lambda: self.regress(other, rtz),
                                 lambda: self.regress(tool, rtz)):
                        got = markers(self.repo)
                        if got != before:
                            self.find("FAIL", "%s regress of a killed %s session left markers %s (want %s)"
                                      % (other, tool, got, before))
                        self.strays("%s regress of a killed %s session" % (other, tool))
                    continue
                if len(after) == 1 and after != before:
                    self.sessions[t] = (man, tool, tz, s)
                    self.marker[t] = after[0]
                    last_writer = tool
                elif after != before:
                    self.find("FAIL", "killed %s session left markers %s (before %s)"
                              % (tool, after, before))
                continue
            if st == 0:
                self.sessions[t] = (man, tool, tz, s)
                self.marker[t] = (markers(self.repo) or [""])[-1]
                last_writer = tool
            if len(self.sessions) >= 3 and r.random() < 0.2:
                self.remove(r.choice(["cb", "rdiff"]))

    def remove(self, tool):
        times = sorted(self.sessions)
        k = self.r.randint(1, len(times) - 1)
        tz = self.r.choice(ZONES)
        other = "rdiff" if tool == "cb" else "cb"
        self.cb_removed = True  # capback removes on one side of the twin

        def rm(who):
            args = ["remove", "increments", "--older-than", str(times[k]), self.repo]
            if k > 1:
                args.insert(0, "--force")  # global for both tools
            st, out = run(self.cmd(who, args), env=self.env(tz))
            self.say("remove by %s older than %s (%d sessions) -> %s" % (
                who, tstr(times[k]), k, st))
            if st != 0:
                self.find("FAIL", "%s remove increments --older-than %d failed (status %s)"
                          % (who, times[k], st), out[-1500:])
            return st == 0
        if self.twin("remove increments", tool, other, lambda: rm(tool), lambda: rm(other)):
            for old in times[:k]:
                del self.sessions[old]
        self.strays("%s remove increments" % tool)

    # ---- the checks --------------------------------------------------
    def check(self):
        times = sorted(self.sessions)
        # both lists of increments name exactly the sessions kept
        st, out = run(["rdiff-backup", "--parsable-output", "list", "increments", self.repo])
        got = sorted(int(l.split()[0]) for l in out.splitlines()
                     if l.strip() and l.split()[0].isdigit())
        if st != 0 or got != times:
            self.find("FAIL", "rdiff-backup list increments: %s, want %s (status %s)"
                      % (got, times, st), out[-1000:], session="list")
        for tz in ZONES:
            a = run(self.cmd("cb", ["list", "increments", self.repo]), env=self.env(tz),
                    stdout_only=True)
            b = run(["rdiff-backup", "list", "increments", self.repo], env=self.env(tz),
                    stdout_only=True)
            if a != b:
                self.find("FAIL", "list increments differ under TZ=%s" % tz,
                          "capback %s:\n%s\nrdiff-backup %s:\n%s" % (a[0], a[1], b[0], b[1]),
                          session="list")
        self.strays("the history")
        # what sessions of rdiff-backup left out of themselves is no
        # silent loss when capback's verify --all names it
        st, vall = run(self.cmd("cb", ["verify", "--all", self.repo]), env=self.env("UTC"))
        for i, t in enumerate(times):
            man, writer, wtz, s = self.sessions[t]
            sess = "%d@%d(%s,%s)" % (s, t, writer, wtz)
            lo = left_out(self.repo, self.marker.get(t, "current_mirror.x.data"))
            if lo and "session %s is incomplete: rdiff-backup left out" % tstr(t) not in vall:
                self.find("FAIL", "capback verify --all does not name the %d paths rdiff-backup's "
                          "session left out" % len(lo), vall[-1500:], session=sess)
            incname = any(INCNAME.match(os.fsdecode(c)) for p in man for c in p.split(b"/"))
            cb_exact = False
            for tool in ("cb", "rdiff"):
                before = len(self.findings)
                tz = self.r.choice(ZONES)
                out_dir = os.path.join(self.work, "restore.%s.%d" % (tool, t))
                st, out = run(self.cmd(tool, ["restore", "--at", str(t), self.repo, out_dir]),
                              env=self.env(tz))
                hang = "' as of %s: a deleted name over 205 bytes" % tstr(t)
                if st is None and tool == "rdiff" and hang in vall:
                    # named by capback's verify --all as a state
                    # rdiff-backup's restore loops on
                    self.find("RDIFF-KNOWN", "rdiff-long-delete-hang: rdiff-backup restore "
                              "--at %d loops (capback's verify --all names it)" % t,
                              session=sess)
                    shutil.rmtree(out_dir, ignore_errors=True)
                    continue
                if st != 0:
                    self.find("FAIL", "%s restore --at %d failed (status %s)" % (NAMES[tool], t, st),
                              out[-1500:], session=sess)
                if os.path.isdir(out_dir):
                    self.compare(man, manifest(out_dir), tool, writer, sess, lo)
                    shutil.rmtree(out_dir)
                st, out = run(self.cmd(tool, ["verify", "--at", str(t), self.repo]),
                              env=self.env(tz))
                if st != 0:
                    self.find("FAIL", "%s verify --at %d: status %s"
                              % (NAMES[tool], t, st), out[-1500:], session=sess)
                new = self.findings[before:]
                if tool == "cb":
                    cb_exact = not any(f.cls == "FAIL" for f in new)
                elif cb_exact and incname:
                    # rdiff-backup misreads names that parse as increments
                    # (docs/design.md): capback restored this session exactly
                    for f in new:
                        if f.cls == "FAIL":
                            f.cls, f.what = "RDIFF-KNOWN", "rdiff-incname-misread: " + f.what

    def compare(self, want, got, restorer, writer, sess, lo=()):
        rdiff = "rdiff" in (restorer, writer)
        shown = 0
        for p in sorted(set(want) | set(got)):
            a, b = want.get(p), got.get(p)
            if a == b:
                continue
            known = classify(a, b, rdiff)
            if b is None and log_spelling(p) in lo:
                # named in the session's error_log and by verify --all
                known = "rdiff-left-out"
            elif (lo and a and b and diff_fields(a, b) == ["link"] and
                  any(log_spelling(q) in lo and want[q].get("link") == a.get("link")
                      for q in want if q not in got)):
                known = "rdiff-left-out"  # its group lost the left-out one
            if not known:
                shown += 1
                if shown > 6:
                    continue
            what = "%s restore: %r differs in %s" % (
                {"cb": "capback", "rdiff": "rdiff-backup"}[restorer], p,
                ",".join(diff_fields(a, b)))
            d = diff_fields(a, b)
            if d == ["xattrs"]:  # only the names that differ
                names = {n for n in set(a["xattrs"]) | set(b["xattrs"])
                         if a["xattrs"].get(n) != b["xattrs"].get(n)}
                a = dict(a, xattrs={n: v for n, v in a["xattrs"].items() if n in names})
                b = dict(b, xattrs={n: v for n, v in b["xattrs"].items() if n in names})
            fields = d if d != ["presence"] else []
            detail = "  want %s\n  got  %s" % (show(a, fields), show(b, fields))
            if known:
                self.find("RDIFF-KNOWN", known + ": " + what, detail, session=sess)
            else:
                self.find("FAIL", what, detail, session=sess)
        if shown > 6:
            self.find("FAIL", "%s restore: %d more paths differ" % (
                {"cb": "capback", "rdiff": "rdiff-backup"}[restorer], shown - 6), session=sess)


class Harness:
    def __init__(self, opts):
        self.opts = opts
        self.build = os.path.abspath(opts.build)
        self.duration = {}
        self.fails = 0
        self.known = 0

    def repro(self, seed):
        ko = ",".join(self.opts.known_open) or "none"
        lo, hi = self.opts.sessions
        return ("python3 %s --build %s --seeds %d --sessions %d-%d --known-open %s --keep -v"
                % (os.path.relpath(__file__), self.build, seed, lo, hi, ko))

    def one(self, seed, it):
        t0 = now()
        x = Iteration(self, seed, it)
        try:
            x.history()
            x.check()
        except Exception as e:  # a harness error is a failure too
            import traceback
            x.find("FAIL", "harness error: %r" % e, traceback.format_exc())
        bad = [f for f in x.findings if f.cls == "FAIL"]
        groups = {}  # one line per finding, with the sessions it spoils
        for f in x.findings:
            key = (f.cls, f.what, f.detail if f.cls == "FAIL" else "")
            groups.setdefault(key, [f, []])[1].append(str(f.session))
        for (cls, what, _), (f, sessions) in sorted(groups.items(), key=lambda g: g[0][0]):
            print("%s seed=%d iteration=%d session=%s: %s" % (
                cls, f.seed, f.it, ",".join(dict.fromkeys(sessions)), what))
            if f.detail and (cls == "FAIL" or self.opts.verbose):
                print("\n".join("    " + l for l in f.detail.rstrip().splitlines()[:30]))
        if x.findings:
            print("  history: " + "; ".join(x.log))
            print("  reproduce: " + self.repro(seed))
        self.fails += len(bad)
        self.known += len(x.findings) - len(bad)
        kept = self.opts.keep and x.findings
        if kept:
            print("  kept: " + x.work)
        else:
            shutil.rmtree(x.work, ignore_errors=True)
        print("# seed %d: %d sessions kept, %d failures, %d known, %.1fs" % (
            seed, len(x.sessions), len(bad), len(x.findings) - len(bad), now() - t0),
            flush=True)


def parse_seeds(s):
    out = []
    for part in s.split(","):
        if "-" in part:
            a, b = part.split("-")
            out += range(int(a), int(b) + 1)
        elif part:
            out.append(int(part))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--build", default=os.environ.get(
        "CAPBACK_BUILD", os.path.join(here, "..", "..", "build")))
    ap.add_argument("--seeds", default="")
    ap.add_argument("--time-budget", type=float, default=0)
    ap.add_argument("--sessions", default="4-8")
    ap.add_argument("--known-open", default="none")
    ap.add_argument("--fileop-kills", action="store_true",
                    help="kill only on a file operation (strace), never by a "
                    "timer: a seed then replays exactly on any machine and "
                    "build (CI); timers find more, by hand")
    ap.add_argument("--workdir", default=os.environ.get("TMPDIR", "/tmp"))
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true")
    opts = ap.parse_args()
    opts.known_open = (KNOWN_OPEN if opts.known_open == "all" else
                       [k for k in opts.known_open.split(",") if k and k != "none"])
    for k in opts.known_open:
        if k not in KNOWN_OPEN:
            ap.error("unknown --known-open item %r (known: %s)" % (k, ", ".join(KNOWN_OPEN)))
    opts.sessions = tuple(int(x) for x in opts.sessions.split("-"))
    if os.geteuid() != 0:
        print("randhist: needs root (owners, devices, rdiff-backup as root)")
        return 77
    seeds = parse_seeds(opts.seeds)
    if not seeds and not opts.time_budget:
        seeds = [1]
    h = Harness(opts)
    start = now()
    it = 0
    print("# randhist: build %s, known-open skipped: %s" % (
        h.build, ",".join(opts.known_open) or "none"), flush=True)
    for seed in seeds:
        h.one(seed, it)
        it += 1
    nxt = (max(seeds) + 1) if seeds else int(time.time()) % 1000000 * 1000
    while opts.time_budget and now() - start < opts.time_budget:
        h.one(nxt, it)
        nxt += 1
        it += 1
    print("# %d iterations, %d failures, %d rdiff-backup-known, %.0fs" % (
        it, h.fails, h.known, now() - start))
    return 1 if h.fails else 0


if __name__ == "__main__":
    sys.exit(main())
