#!/usr/bin/env python3
"""Print a manifest of a tree, one line per path, for exact comparisons.

treesum.py [--no-owner] [--no-dir-mtime] DIR

Each line: path (repr of bytes), type, mode (octal 07777), uid, gid,
mtime (not for symlinks and devices: rdiff-backup's format has none),
size + sha1 (regular files), target (symlinks), major:minor (devices),
hard-link group (first path of the group), xattrs except system.* (hex),
and the raw POSIX ACL xattrs (hex).  The root itself is listed as ".".
"""
import hashlib
import os
import stat
import sys


def xattrs(path):
    out = []
    try:
        names = sorted(os.listxattr(path, follow_symlinks=False))
    except OSError:
        return out
    for n in names:
        if n.startswith("system.") and n not in (
                "system.posix_acl_access", "system.posix_acl_default"):
            continue
        try:
            v = os.getxattr(path, n, follow_symlinks=False)
        except OSError as e:
            v = ("ERR%d" % e.errno).encode()
        out.append("%s=%s" % (n, v.hex()))
    return out


def manifest(root, no_owner=False, no_dir_mtime=False):
    """The manifest lines of the tree ${root} (str or bytes)."""
    root = os.fsencode(root)
    groups = {}
    entries = []
    lines = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in [b""] if dirpath == root else []:
            entries.append(dirpath)
        for n in sorted(dirnames + filenames):
            entries.append(os.path.join(dirpath, n))
    entries = sorted(set(entries))
    for p in entries:
        rel = os.path.relpath(p, root) if p != root else b"."
        st = os.lstat(p)
        m = st.st_mode
        f = [repr(rel), stat.filemode(m)[0], "%04o" % stat.S_IMODE(m)]
        if not no_owner:
            f += [str(st.st_uid), str(st.st_gid)]
        if not (stat.S_ISLNK(m) or stat.S_ISCHR(m) or stat.S_ISBLK(m) or
                (stat.S_ISDIR(m) and no_dir_mtime)):
            # whole seconds, as the format keeps them: from st_mtime_ns
            # (a float st_mtime rounds x.99999995 up to the next second)
            f.append("mtime=%d" % (st.st_mtime_ns // 1000000000))
        if stat.S_ISREG(m):
            h = hashlib.sha1()
            with open(p, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
            f += ["size=%d" % st.st_size, h.hexdigest()]
            if st.st_nlink > 1:
                key = (st.st_dev, st.st_ino)
                groups.setdefault(key, rel)
                f.append("link=%r" % groups[key])
        elif stat.S_ISLNK(m):
            f.append("-> %r" % os.readlink(p))
        elif stat.S_ISCHR(m) or stat.S_ISBLK(m):
            f.append("dev=%d:%d" % (os.major(st.st_rdev), os.minor(st.st_rdev)))
        f += xattrs(p)
        lines.append(" ".join(f))
    return lines


def main():
    args = sys.argv[1:]
    root = [a for a in args if not a.startswith("--")][0]
    for line in manifest(root, "--no-owner" in args, "--no-dir-mtime" in args):
        print(line)


if __name__ == "__main__":
    main()
