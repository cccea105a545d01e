/*
 * ROLE: restorer (capback-restorer)
 * Runs as:  the user restoring; root (or CAP_CHOWN, CAP_FOWNER,
 *           CAP_DAC_OVERRIDE, CAP_MKNOD, CAP_SETFCAP, CAP_FSETID,
 *           CAP_SYS_CHROOT) only to rebuild owners, devices and file
 *           capabilities.
 * Holds:    fd 0/1 peer stream (the repository side), fd 2 log, the
 *           destination directory fd.
 * May:      create entries beneath the destination only: every entry is
 *           one validated name relative to a directory fd this process
 *           created or opened without following symlinks.  From its root
 *           entry on, the destination is also its root directory
 *           (chroot, then CAP_SYS_CHROOT dropped), which bounds the calls
 *           by name that symlinks and devices need.
 * Accepts:  HELLO, then ENTRY, FILE, DATA, HOLE, FILE_END, ENTRIES_END.
 *           Repository content is hostile: order, structure, names and
 *           sizes are checked before use.
 * On any malformed, oversized or out-of-state message: log, exit 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "aclblob.h"
#include "cb_err.h"
#include "forced.h"
#include "hashbehind.h"
#include "frame.h"
#include "fsutil.h"
#include "hello.h"
#include "idmap.h"
#include "log.h"
#include "msg.h"
#include "pathcheck.h"
#include "sandbox.h"
#include "wire.h"
#include "xfer.h"

struct rlevel {
	int fd;
	struct meta_rec rec;
	/* --force over an existing directory: its names, sorted; those the
	 * backup does not have are removed as the stream passes them. */
	char **old;
	size_t nold, iold;
	size_t attr_bytes; /* of rec's xattrs and ACL, held until the pop */
};

/*
 * The xattrs and ACLs of the open directories, set once their children
 * are done, at most this much in all (each directory up to 320 KiB,
 * docs/protocol.md; a path of 4 KiB may nest 2048 of them).
 */
#define RS_DIR_ATTRS_MAX (16u * 1024 * 1024)

/* Files whose SHA-1 may still be in the hashing thread's hands: one slot
 * of it stays free for the file being received. */
#define RS_PENDING (HB_SLOTS - 1)

struct pending_file {
	int fd;
	struct xfer_sink sink;
	struct meta_rec rec; /* path and SHA-1 */
};

struct restorer {
	const char *dest;
	int destfd;	 /* DEST when the backup root is a directory */
	int dest_parent; /* its parent when the root is a single file */
	char *dest_base;
	int force;
	int no_prune; /* --no-prune: keep what TARGET holds beyond the
		       * stream (a selection sent part of the session) */
	unsigned long pruned; /* names of DEST removed (--force) */
	struct frame_in in;
	struct frame_out out;
	struct pathcheck pc;
	struct rlevel *stack;
	size_t depth, cap;
	size_t dir_attrs; /* attr_bytes of every open directory */
	/* the regular file being received */
	struct msg_entry cur;
	int expecting; /* ENTRY seen, FILE not yet */
	int receiving;
	int curfd;
	uint64_t seq;
	struct xfer_sink sink;
	int can_chown;
	int drill; /* --drill: read back and check every entry */
	int progress; /* --progress: a line on stderr (a terminal) */
	struct log_progress prog;
	uint64_t bytes; /* of the regular files announced */
	uint64_t checked, unchecked;
	int rooted;	/* DEST (or its parent, for one file) is our root */
	int privileged; /* holds CHOWN, FOWNER or DAC_OVERRIDE */
	int no_setid;	/* strip set-id bits and file capabilities */
	int no_devices; /* make no block or char device nodes */
	int no_sysxattrs; /* set no trusted.* or security.* xattrs */
	int warned_setid;
	int warned_sysxattr;
	int warned_chown;
	uint64_t errors;
	int done;
	/*
	 * Large files whose content is in place but whose SHA-1 the
	 * hashing thread is still computing (xfer_sink_seal), oldest
	 * first: checked when their room is needed, and at the end.
	 */
	struct pending_file pend[RS_PENDING];
	size_t pend_head, npend;
};

/* A drill's report (fd 3): one line per entry that failed, a summary. */
#define DRILL_FD 3

static void
rs_error(struct restorer *rs, const struct meta_rec *r, const char *what,
    int err)
{
	/* the top is TARGET itself ('.' named nothing a person could find) */
	if (r->pathlen == 1 && r->path[0] == '.')
		log_error("%s '%s': %s", what,
		    log_quote(rs->dest, strlen(rs->dest)), strerror(err));
	else
		log_error("%s '%s': %s", what, log_quote(r->path, r->pathlen),
		    strerror(err));
	if (rs->drill)
		dprintf(DRILL_FD, "FAIL\t%s\t%s (%s)\n",
		    log_quote(r->path, r->pathlen), what, strerror(err));
	rs->errors++;
}

/*
 * In a drill run without privileges, what the kernel keeps from an
 * ordinary user is not checkable there (device nodes, security.* and
 * trusted.* xattrs): counted, not failed.
 */
static int
drill_unprivileged(struct restorer *rs, int err)
{
	if (!rs->drill || rs->can_chown || (err != EPERM && err != EACCES))
		return 0;
	rs->unchecked++;
	return 1;
}

static int open_dest(struct restorer *rs);
static void pend_finish(struct restorer *rs);
static void open_dest_parent(struct restorer *rs);

/* ---- owners ------------------------------------------------------------ */

static uid_t
map_uid(const struct meta_rec *r)
{
	uint32_t id;

	return r->uname && idmap_user_id(r->uname, &id) == 0 ? (uid_t)id :
							       (uid_t)r->uid;
}

static gid_t
map_gid(const struct meta_rec *r)
{
	uint32_t id;

	return r->gname && idmap_group_id(r->gname, &id) == 0 ? (gid_t)id :
								(gid_t)r->gid;
}

static int
have_cap(cap_value_t c)
{
	cap_t caps = cap_get_proc();
	cap_flag_value_t v = CAP_CLEAR;

	if (caps != NULL) {
		cap_get_flag(caps, c, CAP_EFFECTIVE, &v);
		cap_free(caps);
	}
	return v == CAP_SET;
}

/* ---- attributes, in the order that keeps them (facts doc §8) ----------- */

/* The mode to give ${r}: its own, without set-id bits under --no-setid. */
static mode_t
wanted_mode(const struct restorer *rs, const struct meta_rec *r)
{
	mode_t mode = (mode_t)r->perms;

	if (rs->no_setid && r->type != META_DIR)
		mode &= ~(mode_t)(S_ISUID | S_ISGID);
	return mode;
}

/*
 * May the xattr ${key} be set?  security.capability only with set-id
 * bits; other security.* and trusted.* (which the kernel leaves to
 * CAP_SYS_ADMIN and security modules) not from another host.
 */
static int
xattr_allowed(const struct restorer *rs, const char *key)
{
	if (strcmp(key, "security.capability") == 0)
		return !rs->no_setid;
	if (strncmp(key, "security.", 9) == 0 ||
	    strncmp(key, "trusted.", 8) == 0)
		return !rs->no_sysxattrs;
	return 1;
}

/* ${key} of ${r} is not set: said once, naming the first. */
static void
xattr_skipped(struct restorer *rs, const struct meta_rec *r, const char *key)
{
	if (strcmp(key, "security.capability") == 0) {
		if (!rs->warned_setid++)
			log_warn("set-id bits and file capabilities are not "
				 "restored (%s)",
			    log_quote(r->path, r->pathlen));
		return;
	}
	if (rs->warned_sysxattr++)
		return;
	log_warn("trusted.* and security.* extended attributes are not "
		 "restored through a forced command (%s on '%s')",
	    log_quote(key, strlen(key)), log_quote(r->path, r->pathlen));
}

/*
 * Set an xattr on ${name} in directory ${pfd} without following a symlink
 * there: Linux has no lsetxattrat, so from that directory.
 */
static int
lsetxattr_at(int pfd, const char *name, const char *key, const void *value,
    size_t len)
{
	if (fchdir(pfd) != 0)
		return -1;
	return lsetxattr(name, key, value, len, 0);
}

/*
 * Where the destination holds fewer xattrs than the source (ext4: a
 * file's inode and one 4 KiB block, ACLs included), the ones set last are
 * lost.  So, after owner and mode (chown clears security.capability):
 * the file capabilities, the ACLs, the other security.* xattrs, and only
 * then the rest (user.*, trusted.*).
 */
enum xattr_rank { XA_CAP, XA_ACL, XA_SECURITY, XA_REST, XA_NRANKS };

static enum xattr_rank
xattr_rank(const char *key)
{
	if (strcmp(key, "security.capability") == 0)
		return XA_CAP;
	if (strncmp(key, "security.", 9) == 0)
		return XA_SECURITY;
	return XA_REST;
}

/*
 * Set the xattrs of ${r} of rank ${rank} (${fd}, or ${name} in ${pfd},
 * as set_attrs).  Each one not set is named; returns how many did not
 * fit (ENOSPC, E2BIG).
 */
static unsigned
set_xattrs(struct restorer *rs, const struct meta_rec *r, int fd, int pfd,
    const char *name, enum xattr_rank rank)
{
	char what[1100];
	unsigned nofit = 0;

	for (size_t i = 0; i < r->nxattrs; i++) {
		const struct meta_xattr *x = &r->xattrs[i];
		int rc, err;

		if (xattr_rank(x->name) != rank)
			continue;
		if (!xattr_allowed(rs, x->name)) {
			xattr_skipped(rs, r, x->name);
			continue;
		}
		rc = fd >= 0 ?
		    fsetxattr(fd, x->name, x->value, x->vlen, 0) :
		    lsetxattr_at(pfd, name, x->name, x->value, x->vlen);
		err = errno;
		if (rc == 0 || drill_unprivileged(rs, err))
			continue;
		if (err == ENOSPC || err == E2BIG)
			nofit++;
		snprintf(what, sizeof(what),
		    "cannot set extended attribute %s of",
		    log_quote(x->name, strlen(x->name)));
		rs_error(rs, r, what, err);
	}
	return nofit;
}

/* The access and default ACLs of ${r}, as set_xattrs. */
static void
set_acls(struct restorer *rs, const struct meta_rec *r, int fd, int pfd,
    const char *name)
{
	uint8_t *blob = NULL;
	size_t blen = 0;
	unsigned dropped = 0;

	for (int def = 0; def <= 1; def++) {
		if (aclblob_build(r, def, idmap_acl_qual_id, NULL, &blob, &blen,
			&dropped) != 0)
			fatal("out of memory");
		if (blob != NULL) {
			const char *an = def ? "system.posix_acl_default" :
					       "system.posix_acl_access";
			int rc = fd >= 0 ?
			    fsetxattr(fd, an, blob, blen, 0) :
			    lsetxattr_at(pfd, name, an, blob, blen);

			if (rc != 0)
				rs_error(rs, r,
				    def ? "cannot set default ACL of" :
					  "cannot set ACL of",
				    errno);
		}
		free(blob);
		blob = NULL;
	}
	if (dropped > 0)
		log_warn("'%s': %u ACL entries name unknown users or groups "
			 "and were dropped",
		    log_quote(r->path, r->pathlen), dropped);
}

/*
 * ${fd} is the object itself (regular file or directory) or -1, in which
 * case it is ${name} in directory ${pfd} (a device, fifo or socket).  The
 * calls by name are safe because the restorer's root directory is the
 * destination (sandbox_chroot): a name swapped for a symlink still
 * resolves beneath it.  Without ${acls}, no ACLs (a symlink has none).
 */
static void
set_xattrs_acls(struct restorer *rs, const struct meta_rec *r, int fd, int pfd,
    const char *name, int acls)
{
	unsigned nofit = 0;

	for (int rank = XA_CAP; rank < XA_NRANKS; rank++) {
		if (rank == XA_ACL) {
			if (acls)
				set_acls(rs, r, fd, pfd, name);
		} else
			nofit += set_xattrs(rs, r, fd, pfd, name,
			    (enum xattr_rank)rank);
	}
	if (nofit > 0)
		log_warn("'%s': %u extended attributes (named above) did not "
			 "fit on the destination file system (ext4 keeps a "
			 "file's in its inode and one block; ACLs and file "
			 "capabilities go first)",
		    log_quote(r->path, r->pathlen), nofit);
}

/* Owner, mode, xattrs and ACLs (set_xattrs_acls), times. */
static void
set_attrs(struct restorer *rs, const struct meta_rec *r, int fd, int pfd,
    const char *name)
{
	uid_t uid = map_uid(r);
	gid_t gid = map_gid(r);
	struct timespec ts[2] = { { 0, UTIME_OMIT }, { (time_t)r->mtime, 0 } };
	mode_t mode;

	if (rs->can_chown || (uid == geteuid() && gid == getegid())) {
		int rc = fd >= 0 ?
		    fchown(fd, uid, gid) :
		    fchownat(pfd, name, uid, gid, AT_SYMLINK_NOFOLLOW);

		if (rc != 0)
			rs_error(rs, r, "cannot set owner of", errno);
	} else if (!rs->drill && !rs->warned_chown++)
		log_warn("not running with CAP_CHOWN: owners are not restored");
	mode = wanted_mode(rs, r);
	if (mode != (mode_t)r->perms) {
		if (!rs->warned_setid++)
			log_warn("set-id bits and file capabilities are not "
				 "restored (%s)",
			    log_quote(r->path, r->pathlen));
	}
	if ((fd >= 0 ? fchmod(fd, mode) : fchmodat(pfd, name, mode, 0)) != 0)
		rs_error(rs, r, "cannot set mode of", errno);
	/* after chown and chmod: chown clears security.capability */
	set_xattrs_acls(rs, r, fd, pfd, name, 1);
	if ((fd >= 0 ? futimens(fd, ts) :
		       utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW)) != 0)
		rs_error(rs, r, "cannot set times of", errno);
}

/* ---- drills: read back what was written, against the record --------- */

static void __attribute__((format(printf, 3, 4)))
drill_fail(struct restorer *rs, const struct meta_rec *r, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_error("drill: '%s': %s", log_quote(r->path, r->pathlen), why);
	dprintf(DRILL_FD, "FAIL\t%s\t%s\n", log_quote(r->path, r->pathlen),
	    why);
	rs->errors++;
}

static ssize_t
xattr_get(int fd, int pfd, const char *name, const char *key, void *buf,
    size_t len)
{
	if (fd >= 0)
		return fgetxattr(fd, key, buf, len);
	if (fchdir(pfd) != 0)
		return -1;
	return lgetxattr(name, key, buf, len);
}

static void
drill_xattrs(struct restorer *rs, const struct meta_rec *r, int fd, int pfd,
    const char *name)
{
	for (size_t i = 0; i < r->nxattrs; i++) {
		const struct meta_xattr *x = &r->xattrs[i];
		uint8_t *buf;
		ssize_t n;

		if (!xattr_allowed(rs, x->name))
			continue;
		/* an ordinary user may keep only user.* */
		if (!rs->can_chown && strncmp(x->name, "user.", 5) != 0)
			continue;
		if ((buf = malloc(x->vlen + 1)) == NULL)
			fatal("out of memory");
		n = xattr_get(fd, pfd, name, x->name, buf, x->vlen + 1);
		if (n < 0)
			drill_fail(rs, r, "xattr %s: %s",
			    log_quote(x->name, strlen(x->name)),
			    strerror(errno));
		else if ((size_t)n != x->vlen ||
		    (n > 0 && memcmp(buf, x->value, x->vlen) != 0))
			drill_fail(rs, r, "xattr %s differs",
			    log_quote(x->name, strlen(x->name)));
		free(buf);
	}
}

/*
 * --drill: the entry ${r} just written (${fd}, or ${name} in ${pfd}) is
 * examined again from the file system: type, mode, times, owner (when
 * we could set it), size and content (SHA-1 read back), symlink target,
 * device number, xattrs.  A difference is a failure on fd 3.
 */
static void
drill_check(struct restorer *rs, const struct meta_rec *r, int fd, int pfd,
    const char *name)
{
	struct stat st;
	mode_t type, want, mask = 07777;
	uint64_t before = rs->errors;
	uint8_t sum[20];

	if (!rs->drill)
		return;
	if ((fd >= 0 ? fstat(fd, &st) :
		       fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW)) != 0) {
		drill_fail(rs, r, "cannot examine: %s", strerror(errno));
		return;
	}
	switch (r->type) {
	case META_REG: type = S_IFREG; break;
	case META_DIR: type = S_IFDIR; break;
	case META_SYM: type = S_IFLNK; break;
	case META_FIFO: type = S_IFIFO; break;
	case META_SOCK: type = S_IFSOCK; break;
	default: type = r->dev_kind == 'b' ? S_IFBLK : S_IFCHR; break;
	}
	if ((st.st_mode & S_IFMT) != type) {
		drill_fail(rs, r, "not of the recorded type");
		return;
	}
	/* An ordinary user cannot keep set-gid for a group it is not in. */
	if (!rs->can_chown)
		mask &= ~(mode_t)S_ISGID;
	want = wanted_mode(rs, r);
	if (r->type != META_SYM && (st.st_mode & mask) != (want & mask))
		drill_fail(rs, r, "mode %04o, recorded %04o",
		    (unsigned)(st.st_mode & 07777), (unsigned)want);
	if (r->type != META_SYM && r->type != META_DEV &&
	    (int64_t)st.st_mtime != r->mtime)
		drill_fail(rs, r, "modified %lld, recorded %lld",
		    (long long)st.st_mtime, (long long)r->mtime);
	if (rs->can_chown &&
	    (st.st_uid != map_uid(r) || st.st_gid != map_gid(r)))
		drill_fail(rs, r, "owner %u:%u, recorded %u:%u",
		    (unsigned)st.st_uid, (unsigned)st.st_gid,
		    (unsigned)map_uid(r), (unsigned)map_gid(r));
	if (r->type == META_REG) {
		if ((uint64_t)st.st_size != r->size)
			drill_fail(rs, r, "size %lld, recorded %llu",
			    (long long)st.st_size, (unsigned long long)r->size);
		else if (r->has_sha1 &&
		    (xfer_sha1_fd(fd, sum) != 0 ||
			memcmp(sum, r->sha1, 20) != 0))
			drill_fail(rs, r,
			    "content read back does not match "
			    "the recorded SHA-1");
	} else if (r->type == META_SYM) {
		char buf[4097];
		ssize_t n = readlinkat(pfd, name, buf, sizeof(buf));

		if (n < 0 || (size_t)n != r->symlen ||
		    memcmp(buf, r->symdata, (size_t)n) != 0)
			drill_fail(rs, r, "symlink target differs");
	} else if (r->type == META_DEV &&
	    st.st_rdev != makedev(r->dev_major, r->dev_minor))
		drill_fail(rs, r, "device number differs");
	drill_xattrs(rs, r, fd, pfd, name);
	if (rs->errors == before)
		rs->checked++;
}

/* ---- directory stack ----------------------------------------------------- */

/* Remove the old names of ${l} that sort before ${upto} (all if NULL). */
static void
prune_old(struct restorer *rs, struct rlevel *l, const char *upto)
{
	while (l->iold < l->nold) {
		char *n = l->old[l->iold];
		int c = upto ? strcmp(n, upto) : -1;

		if (c > 0)
			break;
		if (c < 0 && !rs->no_prune) {
			log_info("removing '%s/%s': not in the backup",
			    log_quote(l->rec.path, l->rec.pathlen),
			    log_quote(n, strlen(n)));
			if (fs_remove_at(l->fd, n) != 0) {
				log_error("cannot remove '%s/%s': %s",
				    log_quote(l->rec.path, l->rec.pathlen),
				    log_quote(n, strlen(n)), strerror(errno));
				rs->errors++;
			} else
				rs->pruned++;
		}
		free(n);
		l->old[l->iold++] = NULL;
	}
}

static void
dir_pop(struct restorer *rs)
{
	struct rlevel *l = &rs->stack[--rs->depth];

	rs->dir_attrs -= l->attr_bytes;
	prune_old(rs, l, NULL);
	free(l->old);
	set_attrs(rs, &l->rec, l->fd, -1, NULL);
	drill_check(rs, &l->rec, l->fd, -1, NULL);
	close(l->fd);
	meta_rec_clear(&l->rec);
}

static int
is_root(const struct meta_rec *r)
{
	return r->pathlen == 1 && r->path[0] == '.';
}

/*
 * The directory fd to create ${r} in, and its name there.  The root of a
 * single-file restore is DEST itself, in DEST's parent.
 */
static int
parent_of(struct restorer *rs, const struct meta_rec *r, const char **name)
{
	const char *slash = memrchr(r->path, '/', r->pathlen);
	size_t plen = slash ? (size_t)(slash - r->path) : 0;
	struct rlevel *l;

	if (is_root(r)) {
		*name = rs->dest_base;
		return rs->dest_parent;
	}
	*name = slash ? slash + 1 : r->path;
	while (rs->depth > 1) {
		const struct meta_rec *top = &rs->stack[rs->depth - 1].rec;

		if (top->pathlen == plen &&
		    memcmp(top->path, r->path, plen) == 0)
			break;
		dir_pop(rs);
	}
	if (rs->depth == 0 || (plen == 0) != (rs->depth == 1))
		fatal("internal: no open parent for '%s'",
		    log_quote(r->path, r->pathlen));
	l = &rs->stack[rs->depth - 1];
	prune_old(rs, l, *name);
	return l->fd;
}

static void
dir_push(struct restorer *rs, int fd, const struct meta_rec *r, int existed)
{
	struct rlevel *l;

	if (rs->depth == rs->cap) {
		size_t ncap = rs->cap ? rs->cap * 2 : 16;
		struct rlevel *ns = realloc(rs->stack, ncap * sizeof(*ns));

		if (ns == NULL)
			fatal("out of memory");
		rs->stack = ns;
		rs->cap = ncap;
	}
	l = &rs->stack[rs->depth];
	memset(l, 0, sizeof(*l));
	l->fd = fd;
	for (size_t i = 0; i < r->nxattrs; i++)
		l->attr_bytes += strlen(r->xattrs[i].name) + r->xattrs[i].vlen;
	for (size_t i = 0; i < r->nacl; i++)
		l->attr_bytes += r->acl[i].qual ? strlen(r->acl[i].qual) : 0;
	if (l->attr_bytes > RS_DIR_ATTRS_MAX - rs->dir_attrs)
		fatal("'%s': the directories open above it hold more than %u "
		      "bytes of extended attributes and ACLs",
		    log_quote(r->path, r->pathlen), RS_DIR_ATTRS_MAX);
	rs->dir_attrs += l->attr_bytes;
	meta_rec_init(&l->rec);
	if (meta_rec_copy(&l->rec, r) != 0)
		fatal("out of memory");
	if (existed && rs->force && fs_list_names(fd, &l->old, &l->nold) != 0)
		fatal("cannot list '%s' in the destination: %s",
		    log_quote(r->path, r->pathlen), strerror(errno));
	rs->depth++;
}

/* Make room for ${name}: with --force an existing entry is replaced. */
static int
clear_name(struct restorer *rs, int pfd, const char *name, int keep_dir)
{
	struct stat st;

	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return 0;
	if (keep_dir && S_ISDIR(st.st_mode))
		return 0;
	if (!rs->force) {
		errno = EEXIST;
		return -1;
	}
	return fs_remove_at(pfd, name) == 0 ? 0 : -1;
}

/*
 * The restorer's confinement.  Until the destination exists it may work
 * in the directory that will hold it (and read the user and group
 * databases, for owners by name); once the root entry has made it, only
 * beneath it.
 */
static const char *sbtest; /* --sandbox-test OUTSIDE:PID */

static void
confine(const char *dest)
{
	struct sandbox_rule rules[1];
	int n, pfd = fs_open_parent(dest);

	if (pfd < 0)
		fatal("cannot open the directory of destination '%s': %s%s",
		    dest, strerror(errno),
		    errno == ENOENT ? " (restore --create-full-path makes it)" :
				      "");
	idmap_load(); /* owners by name: the databases as of now */
	rules[0] = (struct sandbox_rule){ pfd, SB_FS_READ | SB_FS_WRITE };
	n = 1;
	if (sbtest != NULL)
		sandbox_selftest_exit(SB_RESTORER, rules, n, dest, sbtest);
	sandbox_enter(SB_RESTORER, rules, n);
	while (n > 0)
		close(rules[--n].fd);
}

static void
narrow_to_dest(struct restorer *rs)
{
	struct sandbox_rule rules[1];
	int n;

	rules[0] =
	    (struct sandbox_rule){ rs->destfd, SB_FS_READ | SB_FS_WRITE };
	n = 1;
	sandbox_narrow(rules, n);
}

/*
 * Make ${dirfd} (DEST, or its parent when the backup is one file) the
 * root directory: from here on no name the restorer uses, whatever the
 * repository sends, reaches anything else.  Without CAP_SYS_CHROOT that
 * is not possible; the restore goes on, bounded by its beneath-only name
 * handling and Landlock.  For an ordinary user that is no gap (its calls
 * by name reach only files it owns anyway; a user namespace would give
 * it the chroot, but then ACLs naming other users cannot be set); with
 * privileges it is one, and it is said.
 */
static void
make_root(struct restorer *rs, int dirfd)
{
	if (sandbox_chroot(dirfd) == 0) {
		rs->rooted = 1;
		return;
	}
	if (errno == ENOSYS) /* a build without the sandbox */
		return;
	if (!rs->privileged) {
		log_info("the destination is not the root directory (%s): an "
			 "ordinary user's restore",
		    strerror(errno));
		return;
	}
	log_warn("cannot make the destination the root directory (%s): "
		 "owners, modes and times of symlinks and devices are set by "
		 "name without that bound (give the restorer CAP_SYS_CHROOT)",
	    strerror(errno));
}

static void
restore_dir(struct restorer *rs, const struct meta_rec *r)
{
	const char *name;
	int pfd, fd, existed = 0;

	if (is_root(r)) {
		existed = open_dest(rs);
		narrow_to_dest(rs);
		if (rs->dest_parent >= 0) { /* it replaced a file: done */
			close(rs->dest_parent);
			rs->dest_parent = -1;
		}
		make_root(rs, rs->destfd);
		if ((fd = dup(rs->destfd)) < 0)
			fatal("dup: %s", strerror(errno));
		dir_push(rs, fd, r, existed);
		return;
	}
	pfd = parent_of(rs, r, &name);
	if (clear_name(rs, pfd, name, 1) != 0)
		fatal("cannot create directory '%s': %s",
		    log_quote(r->path, r->pathlen), strerror(errno));
	if (mkdirat(pfd, name, 0700) != 0) {
		if (errno != EEXIST)
			fatal("cannot create directory '%s': %s",
			    log_quote(r->path, r->pathlen), strerror(errno));
		existed = 1;
	}
	fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		fatal("cannot open directory '%s': %s",
		    log_quote(r->path, r->pathlen), strerror(errno));
	dir_push(rs, fd, r, existed);
}

/* Symlinks, fifos, sockets, devices. */
static void
restore_special(struct restorer *rs, const struct meta_rec *r)
{
	const char *name;
	int pfd, fd, rc;
	struct stat st;

	pfd = parent_of(rs, r, &name);
	if (clear_name(rs, pfd, name, 0) != 0)
		fatal("cannot replace '%s': %s", log_quote(r->path, r->pathlen),
		    strerror(errno));
	if (r->type == META_DEV && rs->no_devices) {
		log_error("not restoring the %s device '%s' (%u, %u): the "
			  "forced command makes devices only with "
			  "--allow-devices",
		    r->dev_kind == 'b' ? "block" : "character",
		    log_quote(r->path, r->pathlen), (unsigned)r->dev_major,
		    (unsigned)r->dev_minor);
		rs->errors++;
		return;
	}
	if (r->type == META_SYM)
		rc = symlinkat(r->symdata, pfd, name);
	else if (r->type == META_FIFO)
		rc = mkfifoat(pfd, name, 0600);
	else if (r->type == META_SOCK)
		rc = mknodat(pfd, name, S_IFSOCK | 0600, 0);
	else
		rc = mknodat(pfd, name,
		    (r->dev_kind == 'b' ? S_IFBLK : S_IFCHR) | 0600,
		    makedev(r->dev_major, r->dev_minor));
	if (rc != 0) {
		/* an ordinary user's drill cannot make devices */
		if (!drill_unprivileged(rs, errno))
			rs_error(rs, r, "cannot create", errno);
		return;
	}
	fd = openat(pfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		rs_error(rs, r, "cannot open", errno);
		if (fd >= 0)
			close(fd);
		return;
	}
	if (r->type == META_SYM) {
		/* Only the owner (and xattrs via the name) apply to a symlink. */
		uid_t uid = map_uid(r);
		gid_t gid = map_gid(r);

		if ((rs->can_chown || (uid == geteuid() && gid == getegid())) &&
		    fchownat(fd, "", uid, gid,
			AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0)
			rs_error(rs, r, "cannot set owner of", errno);
		set_xattrs_acls(rs, r, -1, pfd, name, 0);
	} else if (!S_ISLNK(st.st_mode))
		set_attrs(rs, r, -1, pfd, name);
	drill_check(rs, r, -1, pfd, name);
	close(fd);
}

static void
restore_link(struct restorer *rs, const struct msg_entry *e)
{
	char proc[64];
	const char *name;
	int pfd, src;

	pfd = parent_of(rs, &e->rec, &name);
	if (clear_name(rs, pfd, name, 0) != 0)
		fatal("cannot replace '%s': %s",
		    log_quote(e->rec.path, e->rec.pathlen), strerror(errno));
	/* The earlier path, reached beneath DEST without symlinks; linked
	 * by that path when DEST is our root directory (nothing else can
	 * be reached), else through the handle in /proc. */
	src = fs_open_beneath(rs->destfd, e->link_to, O_PATH | O_NOFOLLOW, 0);
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", src);
	if (src < 0 ||
	    (rs->rooted ?
		    linkat(rs->destfd, e->link_to, pfd, name, 0) :
		    linkat(AT_FDCWD, proc, pfd, name, AT_SYMLINK_FOLLOW)) != 0)
		rs_error(rs, &e->rec, "cannot hard-link", errno);
	else if (rs->drill) {
		struct stat a, b;

		if (fstat(src, &a) != 0 ||
		    fstatat(pfd, name, &b, AT_SYMLINK_NOFOLLOW) != 0 ||
		    a.st_ino != b.st_ino || a.st_dev != b.st_dev)
			drill_fail(rs, &e->rec, "not a link of '%s'",
			    log_quote(e->link_to, e->link_len));
		else
			rs->checked++;
	}
	if (src >= 0)
		close(src);
}

static void
handle_entry(struct restorer *rs, const uint8_t *p, size_t len)
{
	struct msg_entry e;
	int rc;

	if (rs->expecting || rs->receiving)
		fatal("protocol: ENTRY while file content was due");
	if ((rc = msg_entry_decode(p, len, &e)) != 0)
		fatal("protocol: bad ENTRY: %s", cb_strerror(rc));
	if (e.flags & ENTRY_ERROR)
		fatal("protocol: error entry in a restore stream");
	rc = pathcheck_add(&rs->pc, e.rec.path, e.rec.pathlen,
	    e.rec.type == META_DIR);
	if (rc != 0)
		fatal("protocol: '%s' out of order or outside any directory",
		    log_quote(e.rec.path, e.rec.pathlen));
	if (e.link_to != NULL &&
	    meta_path_cmp(e.link_to, e.link_len, e.rec.path, e.rec.pathlen) >=
		0)
		fatal("protocol: hard link to a later path");
	rs->seq++;
	if (e.rec.type == META_REG)
		rs->bytes += e.rec.size;
	if (rs->progress && (rs->seq & 31) == 0)
		log_progress(&rs->prog, rs->seq, rs->bytes, "restored",
		    e.rec.path, e.rec.pathlen);
	if (log_verbosity() >= 4) /* -v 4: a line a file */
		log_info("restoring: %s", log_name(e.rec.path, e.rec.pathlen));
	if (is_root(&e.rec) && e.rec.type != META_DIR) {
		struct stat st;

		open_dest_parent(rs);
		/* an empty directory is taken, as for a tree (check_dest
		 * found it empty; it must still be) */
		if (!rs->force &&
		    fstatat(rs->dest_parent, rs->dest_base, &st,
			AT_SYMLINK_NOFOLLOW) == 0) {
			if (!S_ISDIR(st.st_mode))
				fatal("destination '%s' exists (use --force to "
				      "replace it)",
				    rs->dest);
			if (unlinkat(rs->dest_parent, rs->dest_base,
				AT_REMOVEDIR) != 0)
				fatal("cannot replace the empty directory '%s' "
				      "by the file: %s%s",
				    rs->dest, strerror(errno),
				    errno == ENOTEMPTY || errno == EEXIST ?
					" (something was put in it)" :
					"");
		}
		make_root(rs, rs->dest_parent);
	}
	switch (e.rec.type) {
	case META_DIR: restore_dir(rs, &e.rec); break;
	case META_REG:
		if (e.link_to != NULL) {
			restore_link(rs, &e);
			break;
		}
		rs->cur = e; /* transferred */
		rs->expecting = 1;
		return;
	default: restore_special(rs, &e.rec); break;
	}
	msg_entry_clear(&e);
}

static void
file_begin(struct restorer *rs, uint64_t seq, uint64_t size)
{
	const struct meta_rec *r = &rs->cur.rec;
	const char *name;
	int pfd;

	if (!rs->expecting || seq != rs->seq)
		fatal("protocol: unexpected FILE");
	/* The recorded size bounds what is written (and HOLEs hashed). */
	if (size > r->size)
		fatal("protocol: FILE of %llu bytes for '%s', whose recorded "
		      "size is %llu",
		    (unsigned long long)size, log_quote(r->path, r->pathlen),
		    (unsigned long long)r->size);
	rs->expecting = 0;
	rs->receiving = 1;
	/* A large file needs a free slot of the hashing thread. */
	if (size >= XFER_BEHIND_MIN && rs->npend == RS_PENDING)
		pend_finish(rs);
	pfd = parent_of(rs, r, &name);
	/* Created at once; only a name already taken needs clearing. */
	for (int tries = 0;; tries++) {
		rs->curfd = openat(pfd, name,
		    O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (rs->curfd >= 0 || errno != EEXIST || tries > 0)
			break;
		if (clear_name(rs, pfd, name, 0) != 0)
			fatal("cannot replace '%s': %s",
			    log_quote(r->path, r->pathlen), strerror(errno));
	}
	if (rs->curfd < 0)
		fatal("cannot create '%s': %s", log_quote(r->path, r->pathlen),
		    strerror(errno));
	if (xfer_sink_init(&rs->sink, rs->curfd, size) != 0)
		fatal("out of memory");
}

/* The SHA-1 of ${r}'s content, in ${sha1}, against the metadata. */
static void
check_sha1(struct restorer *rs, const struct meta_rec *r,
    const uint8_t sha1[20])
{
	if (r->has_sha1 && memcmp(sha1, r->sha1, 20) != 0)
		rs_error(rs, r, "content does not match the recorded SHA-1 of",
		    EIO);
}

/* Wait for the oldest pending file's digest and check it. */
static void
pend_finish(struct restorer *rs)
{
	struct pending_file *pf = &rs->pend[rs->pend_head];
	uint8_t sha1[20];

	if (rs->npend == 0)
		return;
	if (xfer_sink_finish(&pf->sink, sha1) != 0)
		fatal("reading back '%s': %s",
		    log_quote(pf->rec.path, pf->rec.pathlen), strerror(errno));
	check_sha1(rs, &pf->rec, sha1);
	xfer_sink_release(&pf->sink);
	close(pf->fd);
	meta_rec_clear(&pf->rec);
	rs->pend_head = (rs->pend_head + 1) % RS_PENDING;
	rs->npend--;
}

/*
 * Leave the digest of the file just received to the hashing thread and
 * go on: the file becomes a pending one.  Not in a drill, which reads
 * every file back anyway.  0 if the thread does not hash it.
 */
static int
pend_start(struct restorer *rs, const struct meta_rec *r)
{
	struct pending_file *pf;

	if (rs->sink.slot < 0 || rs->drill || !r->has_sha1)
		return 0;
	if (xfer_sink_seal(&rs->sink) != 0)
		fatal("writing '%s': %s", log_quote(r->path, r->pathlen),
		    strerror(errno));
	if (rs->npend == RS_PENDING)
		pend_finish(rs);
	pf = &rs->pend[(rs->pend_head + rs->npend++) % RS_PENDING];
	pf->sink = rs->sink;
	pf->fd = rs->curfd;
	meta_rec_init(&pf->rec);
	if ((pf->rec.path = malloc(r->pathlen + 1)) == NULL)
		fatal("out of memory");
	memcpy(pf->rec.path, r->path, r->pathlen + 1);
	pf->rec.pathlen = r->pathlen;
	pf->rec.has_sha1 = 1;
	memcpy(pf->rec.sha1, r->sha1, 20);
	return 1;
}

static void
file_end(struct restorer *rs, uint32_t err)
{
	struct meta_rec *r = &rs->cur.rec;
	uint8_t sha1[20];
	int pending = 0;

	if (err == 0 && rs->sink.off == r->size)
		pending = pend_start(rs, r);
	if (!pending && xfer_sink_finish(&rs->sink, sha1) != 0)
		fatal("writing '%s': %s", log_quote(r->path, r->pathlen),
		    strerror(errno));
	if (err != 0)
		rs_error(rs, r, "cannot read the repository copy of", (int)err);
	else if (rs->sink.off != r->size)
		rs_error(rs, r, "size differs from the metadata:", EIO);
	else if (!pending)
		check_sha1(rs, r, sha1);
	if (!pending)
		xfer_sink_release(&rs->sink);
	set_attrs(rs, r, rs->curfd, -1, NULL);
	drill_check(rs, r, rs->curfd, -1, NULL);
	if (!pending) /* else a pending file's until pend_finish */
		close(rs->curfd);
	rs->curfd = -1;
	rs->receiving = 0;
	msg_entry_clear(&rs->cur);
}

static void
handle_frame(struct restorer *rs, uint8_t type, const uint8_t *p, size_t len)
{
	uint64_t a, b;
	uint32_t err;
	int r;

	switch (type) {
	case MSG_ENTRY: handle_entry(rs, p, len); return;
	case MSG_FILE:
		if (msg_u64pair_decode(p, len, &a, &b) != 0)
			fatal("protocol: bad FILE");
		file_begin(rs, a, b);
		return;
	case MSG_DATA:
		if (!rs->receiving)
			fatal("protocol: DATA outside a file");
		if ((r = xfer_sink_data(&rs->sink, p, len)) != 0)
			fatal("writing '%s': %s",
			    log_quote(rs->cur.rec.path, rs->cur.rec.pathlen),
			    r == CB_ERR_SYS ? strerror(errno) : cb_strerror(r));
		return;
	case MSG_HOLE:
		if (!rs->receiving || msg_u64_decode(p, len, &a) != 0 ||
		    xfer_sink_hole(&rs->sink, a) != 0)
			fatal("protocol: bad HOLE");
		return;
	case MSG_FILE_END:
		if (!rs->receiving ||
		    xfer_decode_file_end(p, len, &err, &a, NULL) != 0)
			fatal("protocol: bad FILE_END");
		file_end(rs, err);
		return;
	case MSG_ENTRIES_END:
		if (rs->expecting || rs->receiving ||
		    msg_u64_decode(p, len, &a) != 0 || a != rs->seq || a == 0)
			fatal("protocol: bad ENTRIES_END");
		rs->done = 1;
		if (rs->progress)
			log_progress_end(&rs->prog);
		return;
	default: fatal("protocol: unexpected %s", msg_name(type));
	}
}

/*
 * The destination must be absent (its parent existing) or an empty
 * directory, unless --force.  Checked before talking to the repository
 * side; created only when the first entry says what the backup's root is
 * (a directory, or one file), so a failed restore leaves nothing behind.
 */
static int
check_dest(const char *dest, int force)
{
	struct stat st;
	int fd, e;

	if (lstat(dest, &st) != 0) {
		if (errno != ENOENT)
			fatal("cannot examine destination '%s': %s", dest,
			    strerror(errno));
		return 0;
	}
	if (!S_ISDIR(st.st_mode)) {
		if (!force)
			fatal("destination '%s' exists and is not a directory "
			      "(use --force to replace it)",
			    dest);
		/* as rdiff-backup: said, not a warning's exit status */
		log_info("destination '%s' exists and is not a directory: "
			 "--force replaces it",
		    dest);
		return 0;
	}
	fd = open(dest, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || (e = fs_dir_is_empty(fd)) < 0)
		fatal("cannot list destination '%s': %s", dest,
		    strerror(errno));
	close(fd);
	if (e == 1)
		return 0;
	if (!force)
		fatal("destination '%s' is not empty (use --force to restore "
		      "over it)",
		    dest);
	return 1; /* said once restored (main): nothing is yet */
}

/* DEST's parent directory and last name, for creating or replacing it. */
static void
open_dest_parent(struct restorer *rs)
{
	char *copy = strdup(rs->dest), *base;
	size_t len;

	if (copy == NULL)
		fatal("out of memory");
	len = strlen(copy);
	while (len > 1 && copy[len - 1] == '/')
		copy[--len] = '\0';
	base = strrchr(copy, '/');
	if (base == NULL) {
		rs->dest_parent = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		base = copy;
	} else {
		*base++ = '\0';
		rs->dest_parent = open(copy[0] ? copy : "/",
		    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (rs->dest_parent < 0)
		fatal("cannot open the directory of destination '%s': %s%s",
		    rs->dest, strerror(errno),
		    errno == ENOENT ? " (restore --create-full-path makes it)" :
				      "");
	if (*base == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
		fatal("destination '%s' cannot be replaced by a file",
		    rs->dest);
	if ((rs->dest_base = strdup(base)) == NULL)
		fatal("out of memory");
	free(copy);
}

/*
 * Open (creating it if absent) DEST as the backup's root directory; with
 * --force a non-directory there is replaced.  Returns 1 if DEST existed.
 */
static int
open_dest(struct restorer *rs)
{
	struct stat st;
	int existed = lstat(rs->dest, &st) == 0;

	if (existed && !S_ISDIR(st.st_mode)) {
		if (!rs->force)
			fatal("destination '%s' exists and is not a directory",
			    rs->dest);
		open_dest_parent(rs);
		if (fs_remove_at(rs->dest_parent, rs->dest_base) != 0)
			fatal("cannot replace destination '%s': %s", rs->dest,
			    strerror(errno));
		existed = 0;
	}
	if (!existed && mkdir(rs->dest, 0700) != 0)
		fatal("cannot create destination '%s': %s", rs->dest,
		    strerror(errno));
	rs->destfd =
	    open(rs->dest, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (rs->destfd < 0)
		fatal("cannot open destination '%s': %s", rs->dest,
		    strerror(errno));
	return existed;
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: capback-restorer [-v N] [--force] [--no-setid] "
	    "[--no-prune]\n"
	    "                        [--progress [--expect-files N]] DEST\n"
	    "       capback-restorer --drill DEST   (fd 3: the report)\n"
	    "       capback-restorer --serve --restrict-path DIR   (SSH "
	    "forced command)\n"
	    "Writes the tree streamed on stdin below DEST.\n"
	    "--no-setid: no set-id bits and no file capabilities (the "
	    "default with\n--serve, unless its command line has "
	    "--allow-setid).\n"
	    "--allow-devices on a --serve command line: block and char "
	    "devices are made\n(else skipped, named, exit 4).  With --serve "
	    "no trusted.* or security.*\nxattrs are set (security.capability: "
	    "--allow-setid).\n"
	    "With --serve the request comes from SSH_ORIGINAL_COMMAND; DEST "
	    "must lie\nbeneath DIR, reached without symlinks.  A host "
	    "accepts restores only\nthrough a key its admin gave this "
	    "forced command.\n"
	    "--drill: read every entry back once written and check it "
	    "against its\nrecord; each failure and a summary go to fd "
	    "3.\n"
	    "--no-prune: with --force, keep what DEST holds beyond the "
	    "stream (a\nselected part of a session).\n");
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "verbosity", required_argument, NULL, 'v' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ "serve", no_argument, NULL, 'S' },
		{ "restrict-path", required_argument, NULL, 'R' },
		{ "sandbox-test", required_argument, NULL, 'T' },
		{ "no-setid", no_argument, NULL, 'n' },
		{ "allow-setid", no_argument, NULL, 'A' },
		{ "allow-devices", no_argument, NULL, 'B' },
		{ "drill", no_argument, NULL, 'D' },
		{ "progress", no_argument, NULL, 'G' },
		{ "expect-files", required_argument, NULL, 'E' },
		{ "no-prune", no_argument, NULL, 'P' },
		{ NULL, 0, NULL, 0 },
	};
	const char *restrict_path = NULL, *base = NULL;
	unsigned long long expect = 0;
	int allow_setid = 0, allow_devices = 0, forced;
	struct restorer rs;
	const uint8_t *p;
	size_t len;
	uint8_t type, b[12] = { 0 };
	int c, r, verbosity = 3, i, serve = 0, pass;

	memset(&rs, 0, sizeof(rs));
	/* Pass 0: our command line; pass 1: a --serve client's request,
	 * which may set only -v and --force. */
	for (pass = 0; pass < 2; pass++) {
		optind = 1;
		while ((c = getopt_long(argc, argv, "v:h", opts, NULL)) != -1) {
			/* (--no-prune only removes less) */
			if (pass == 1 && c != 'v' && c != 'f' && c != 'n' &&
			    c != 'P')
				fatal("refusing the request: option not "
				      "allowed");
			switch (c) {
			case 'v': verbosity = atoi(optarg); break;
			case 'f': rs.force = 1; break;
			case 'S': serve = 1; break;
			case 'R': restrict_path = optarg; break;
			case 'T': sbtest = optarg; break;
			case 'n': rs.no_setid = 1; break;
			case 'A': allow_setid = 1; break;
			case 'B': allow_devices = 1; break;
			case 'D': rs.drill = 1; break;
			case 'G': rs.progress = 1; break;
			case 'E': expect = strtoull(optarg, NULL, 10); break;
			case 'P': rs.no_prune = 1; break;
			case 'h': usage(stdout); return 0;
			default: usage(stderr); return 1;
			}
		}
		if (!serve)
			break;
		if (pass == 0) {
			log_init("capback", verbosity);
			if (restrict_path == NULL || optind != argc)
				fatal("--serve needs --restrict-path DIR and "
				      "nothing else");
			argv = forced_request("capback-restorer", "restores",
			    &argc);
		}
	}
	log_init("capback", verbosity);
	if (rs.progress) /* the ETA from the session's own count */
		log_progress_start(&rs.prog, expect);
	{
		/* What rebuilding owners, modes, devices and file
		 * capabilities needs; nothing else survives. */
		static const int keep[] = { CAP_CHOWN, CAP_FOWNER,
			CAP_DAC_OVERRIDE, CAP_MKNOD, CAP_SETFCAP, CAP_FSETID,
			CAP_SYS_CHROOT };

		sandbox_keep_caps(keep, 7);
		rs.can_chown = geteuid() == 0 || have_cap(CAP_CHOWN);
		rs.privileged = rs.can_chown || have_cap(CAP_FOWNER) ||
		    have_cap(CAP_DAC_OVERRIDE);
		if (rs.drill && fcntl(DRILL_FD, F_GETFD) < 0)
			fatal("--drill reports on fd 3, which is not open");
		sandbox_close_fds(rs.drill ? DRILL_FD + 1 : 3);
	}
	/* A dead peer must be an EPIPE we handle, not a silent death. */
	signal(SIGPIPE, SIG_IGN);
	if (optind + 1 != argc) {
		usage(stderr);
		return 1;
	}
	umask(077);
	rs.dest = argv[optind];
	/*
	 * Through a forced command the repository side is another host: it
	 * gets only what the host's admin put on that command.  No set-id
	 * bits or file capabilities without --allow-setid, no device nodes
	 * without --allow-devices (skipped, named, exit 4), and never
	 * trusted.* or other security.* xattrs (they would need
	 * CAP_SYS_ADMIN, which no restorer holds: skipped, said once).
	 */
	if (serve) {
		rs.no_setid |= !allow_setid;
		rs.no_devices = !allow_devices;
		rs.no_sysxattrs = 1;
	}
	/* Nothing is taken from the environment (HOME, TMPDIR, TZ, ...). */
	sandbox_clear_env(0);
	if (serve) {
		/* From here on DEST is one name in a directory reached
		 * beneath the restrict path without symlinks. */
		int pfd = forced_open_beneath(restrict_path, rs.dest, &base);

		if (fchdir(pfd) != 0)
			fatal("cannot enter the directory of '%s': %s", rs.dest,
			    strerror(errno));
		close(pfd);
		rs.dest = base;
	}
	rs.destfd = -1;
	rs.dest_parent = -1;
	forced = check_dest(rs.dest, rs.force);
	rs.curfd = -1;
	frame_in_init(&rs.in, 0, msg_entry_stream_max);
	frame_out_init(&rs.out, 1);
	pathcheck_init(&rs.pc);
	msg_entry_init(&rs.cur);
	confine(rs.dest);
	hello_exchange(&rs.in, &rs.out, ROLE_RESTORER, 0, ROLE_REPO_SOURCE,
	    "repository side");
	for (i = 0; !rs.done; i++) {
		if ((r = frame_in_get(&rs.in, &type, &p, &len)) != 0) {
			/* the repository side refused before sending anything
			 * (no such path, a lock): it said why, and the CLI
			 * names a role that died */
			if (r == CB_ERR_EOF && i == 0) {
				log_debug("the repository side sent nothing");
				exit(RESTORER_GOT_NOTHING);
			}
			fatal("repository stream: %s", cb_strerror(r));
		}
		handle_frame(&rs, type, p, len);
	}
	while (rs.npend > 0)
		pend_finish(&rs);
	while (rs.depth > 0)
		dir_pop(&rs);
	for (i = 0; i < 8; i++)
		b[4 + i] = (uint8_t)(rs.errors >> (56 - 8 * i));
	if (rs.drill)
		dprintf(DRILL_FD, "SUMMARY\t%llu\t%llu\t%llu\n",
		    (unsigned long long)rs.checked,
		    (unsigned long long)rs.errors,
		    (unsigned long long)rs.unchecked);
	if (frame_put(&rs.out, MSG_DONE, b, 12) != 0 ||
	    frame_out_flush(&rs.out) != 0)
		log_warn("cannot tell the repository side we are done");
	pathcheck_release(&rs.pc);
	free(rs.stack);
	frame_in_release(&rs.in);
	frame_out_release(&rs.out);
	if (rs.destfd >= 0)
		close(rs.destfd);
	if (rs.dest_parent >= 0)
		close(rs.dest_parent);
	free(rs.dest_base);
	/* as rdiff-backup: a warning, and exit status 2 */
	if (forced)
		log_warn("destination '%s' was not empty: --force %s", rs.dest,
		    rs.no_prune ? "wrote what was selected over what it held" :
				  "made it the session (what it held beyond "
				  "was removed)");
	/* --force makes DEST the session: say what that took away */
	if (rs.pruned > 0)
		log_warn("removed %lu name%s in %s that the backup does not "
			 "hold (--force; -v 4 names them)",
		    rs.pruned, rs.pruned == 1 ? "" : "s", rs.dest);
	/* (served: rs.dest is base, named above) */
	if (base != NULL)
		free((char *)base);
	return (rs.errors > 0 ? 4 : 0) | (forced ? 2 : 0);
}
