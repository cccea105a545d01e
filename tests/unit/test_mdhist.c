#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <zlib.h>

#include "cb_err.h"
#include "mdfile.h"
#include "mdhist.h"
#include "meta.h"
#include "strbuf.h"
#include "timefmt.h"
#include "timespec.h"

/*
 * mirror_metadata history (docs/rdiff-backup-format.md sections 4.5, 4.6):
 * hand-made data directories for the rules and error paths, then a
 * 12-session repository written by rdiff-backup itself.
 */

static char g_dir[64];
static unsigned int g_seq;

static int
setup_dir(void **state)
{
	(void)state;
	snprintf(g_dir, sizeof(g_dir), "/tmp/test_mdhist.XXXXXX");
	return mkdtemp(g_dir) == NULL ? -1 : 0;
}

static int
teardown_dir(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- helpers ---- */

static int
open_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	assert_true(fd >= 0);
	return fd;
}

/* A fresh empty directory beneath g_dir; its path into path[256]. */
static int
fresh_dir(const char *prefix, char path[256])
{
	snprintf(path, 256, "%s/%s.%u", g_dir, prefix, ++g_seq);
	assert_int_equal(mkdir(path, 0700), 0);
	return open_dir(path);
}

static void
write_plain(int dfd, const char *name, const char *text)
{
	size_t n = strlen(text);
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, n), (ssize_t)n);
	close(fd);
}

/* ${name} must end in ".gz"; an ordinary gzip stream of ${text}. */
static void
write_gz(int dfd, const char *name, const char *text)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL, 0600);
	gzFile gz;

	assert_true(fd >= 0);
	assert_non_null(gz = gzdopen(fd, "wb9"));
	if (text[0] != '\0')
		assert_int_equal(gzwrite(gz, text, (unsigned)strlen(text)),
		    (int)strlen(text));
	assert_int_equal(gzclose(gz), Z_OK);
}

/* The whole content of ${name}, decompressed if it is gzip. */
static char *
read_all(int dfd, const char *name, size_t *len)
{
	struct strbuf sb = STRBUF_INIT;
	char buf[4096];
	gzFile gz;
	int fd, n;

	fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_non_null(gz = gzdopen(fd, "rb"));
	while ((n = gzread(gz, buf, sizeof(buf))) > 0)
		assert_int_equal(strbuf_add(&sb, buf, (size_t)n), 0);
	assert_int_equal(n, 0);
	gzclose(gz);
	assert_int_equal(strbuf_addstr(&sb, ""), 0);
	return strbuf_detach(&sb, len);
}

static int
exists(int dfd, const char *name)
{
	struct stat st;

	return fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static size_t
count_entries(int dfd)
{
	struct dirent *de;
	size_t n = 0;
	DIR *d;
	int fd;

	assert_true((fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY)) >= 0);
	assert_non_null(d = fdopendir(fd));
	while ((de = readdir(d)) != NULL)
		n += strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0;
	closedir(d);
	return n;
}

/*
 * All records of mdhist at ${t}, formatted; with ${notes} a "+ea <name>"
 * line per xattr and "+acl <n>" per ACL follow each record.
 */
static char *
hist_text(int dfd, int64_t t, size_t *nfiles, int notes)
{
	struct strbuf sb = STRBUF_INIT;
	struct meta_rec rec;
	struct mdhist *h;
	size_t i;
	int r;

	meta_rec_init(&rec);
	assert_int_equal(mdhist_open(dfd, t, &h), 0);
	if (nfiles != NULL)
		*nfiles = mdhist_nfiles(h);
	while ((r = mdhist_next(h, &rec)) == 0) {
		assert_int_equal(meta_format(&sb, &rec), 0);
		for (i = 0; notes && i < rec.nxattrs; i++)
			assert_int_equal(strbuf_addf(&sb, "+ea %s\n",
					     rec.xattrs[i].name),
			    0);
		if (notes && rec.nacl > 0)
			assert_int_equal(strbuf_addf(&sb, "+acl %zu\n",
					     rec.nacl),
			    0);
	}
	assert_int_equal(r, CB_ERR_EOF);
	/* the end is sticky */
	assert_int_equal(mdhist_next(h, &rec), CB_ERR_EOF);
	mdhist_free(h);
	meta_rec_clear(&rec);
	assert_int_equal(strbuf_addstr(&sb, ""), 0);
	return strbuf_detach(&sb, NULL);
}

/* ---- hand-made histories ---- */

#define T1 "2023-11-14T22:13:20Z" /* 1700000000 */
#define T2 "2023-11-14T22:15:00Z" /* 1700000100 */
#define T3 "2023-11-14T22:16:40Z" /* 1700000200 */

#define REC_DIR(p)                                                     \
	"File " p "\n  Type dir\n  ModTime 5\n  Uid 0\n  Uname root\n" \
	"  Gid 0\n  Gname root\n  Permissions 493\n"
#define REC_REG(p, size)                                                  \
	"File " p "\n  Type reg\n  Size " size "\n  ModTime 7\n  Uid 0\n" \
	"  Uname root\n  Gid 0\n  Gname root\n  Permissions 420\n"
#define REC_NONE(p) "File " p "\n  Type None\n"
#define NOTE_EA(n)  "+ea " n "\n"
#define NOTE_ACL(n) "+acl " n "\n"

/*
 * Snapshot at T3: . a(3) b(3) c c/x
 * at T2:          . a(2) b(3) c old      (diff: a, c/x None, old)
 * at T1:          . a(1) c old           (diff: a, b None)
 */
static void
make_history(int dfd)
{
	write_gz(dfd, "mirror_metadata." T3 ".snapshot.gz",
	    REC_DIR(".") REC_REG("a", "3") REC_REG("b", "3") REC_DIR("c")
		REC_REG("c/x", "3"));
	write_gz(dfd, "mirror_metadata." T2 ".diff.gz",
	    REC_REG("a", "2") REC_NONE("c/x") REC_REG("old", "9"));
	write_plain(dfd, "mirror_metadata." T1 ".diff",
	    REC_REG("a", "1") REC_NONE("b"));
	write_plain(dfd, "current_mirror." T3 ".data", "PID 1\n");
}

static void
test_merge(void **state)
{
	char path[256], *s;
	size_t nf;
	int dfd;

	(void)state;
	dfd = fresh_dir("merge", path);
	make_history(dfd);
	/* EA/ACL snapshots of T2 only */
	write_plain(dfd, "extended_attributes." T2 ".snapshot",
	    "# file: b\nuser.k=0sdg==\n# file: old\nuser.a\nuser.b=0sAA==\n");
	write_gz(dfd, "access_control_lists." T2 ".snapshot.gz",
	    "# file: c\nuser::rwx\nuser:12:r-x\ngroup::r-x\nmask::r-x\n"
	    "other::r-x\n");

	s = hist_text(dfd, 1700000200, &nf, 1);
	assert_int_equal(nf, 1);
	assert_string_equal(s,
	    REC_DIR(".") REC_REG("a", "3") REC_REG("b", "3") REC_DIR("c")
		REC_REG("c/x", "3"));
	free(s);
	s = hist_text(dfd, 1700000100, &nf, 1);
	assert_int_equal(nf, 2);
	assert_string_equal(s,
	    REC_DIR(".") REC_REG("a", "2") REC_REG("b", "3") NOTE_EA("user.k")
		REC_DIR("c") NOTE_ACL("5") REC_REG("old", "9") NOTE_EA("user.a")
		    NOTE_EA("user.b"));
	free(s);
	s = hist_text(dfd, 1700000000, &nf, 1);
	assert_int_equal(nf, 3);
	assert_string_equal(s,
	    REC_DIR(".") REC_REG("a", "1") REC_DIR("c") REC_REG("old", "9"));
	free(s);
	close(dfd);
}

/* A session without changes: an empty uncompressed diff. */
static void
test_merge_empty_diff(void **state)
{
	char path[256], *s;
	size_t nf;
	int dfd;

	(void)state;
	dfd = fresh_dir("empty", path);
	write_gz(dfd, "mirror_metadata." T3 ".snapshot.gz",
	    REC_DIR(".") REC_REG("a", "3"));
	write_plain(dfd, "mirror_metadata." T2 ".diff", "");
	write_gz(dfd, "mirror_metadata." T1 ".diff.gz", REC_NONE("a"));
	s = hist_text(dfd, 1700000100, &nf, 1);
	assert_int_equal(nf, 2);
	assert_string_equal(s, REC_DIR(".") REC_REG("a", "3"));
	free(s);
	s = hist_text(dfd, 1700000000, NULL, 1);
	assert_string_equal(s, REC_DIR("."));
	free(s);
	close(dfd);
}

/* An older snapshot stops the walk: files beyond it are not read. */
static void
test_merge_stops_at_snapshot(void **state)
{
	char path[256], *s;
	size_t nf;
	int dfd;

	(void)state;
	dfd = fresh_dir("stop", path);
	write_plain(dfd, "mirror_metadata." T3 ".snapshot", "garbage\n");
	write_gz(dfd, "mirror_metadata." T2 ".snapshot.gz",
	    REC_DIR(".") REC_REG("a", "2"));
	write_gz(dfd, "mirror_metadata." T1 ".diff.gz", REC_REG("a", "1"));
	s = hist_text(dfd, 1700000000, &nf, 1);
	assert_int_equal(nf, 2);
	assert_string_equal(s, REC_DIR(".") REC_REG("a", "1"));
	free(s);
	close(dfd);
}

static void
test_open_errors(void **state)
{
	struct meta_rec rec;
	char path[256];
	struct mdhist *h = (struct mdhist *)&h;
	int dfd;

	(void)state;
	meta_rec_init(&rec);
	dfd = fresh_dir("errors", path);
	make_history(dfd);
	/* no metadata file of that time */
	errno = 0;
	assert_int_equal(mdhist_open(dfd, 1700000150, &h), CB_ERR_SYS);
	assert_int_equal(errno, ENOENT);
	assert_null(h);
	assert_int_equal(mdhist_open(dfd, 1800000000, &h), CB_ERR_SYS);
	assert_int_equal(errno, ENOENT);
	/* the same second in another spelling: duplicate timestamp */
	write_plain(dfd, "mirror_metadata.2023-11-14T23:15:00+01:00.diff", "");
	assert_int_equal(mdhist_open(dfd, 1700000200, &h), CB_ERR_CORRUPT);
	assert_int_equal(unlinkat(dfd,
			     "mirror_metadata.2023-11-14T23:15:00+01:00.diff",
			     0),
	    0);
	/* no snapshot after the time */
	assert_int_equal(renameat(dfd, "mirror_metadata." T3 ".snapshot.gz",
			     dfd, "mirror_metadata." T3 ".diff.gz"),
	    0);
	assert_int_equal(mdhist_open(dfd, 1700000000, &h), CB_ERR_CORRUPT);
	assert_int_equal(renameat(dfd, "mirror_metadata." T3 ".diff.gz", dfd,
			     "mirror_metadata." T3 ".snapshot.gz"),
	    0);
	/* an EA record for a path absent at that time */
	write_plain(dfd, "extended_attributes." T1 ".snapshot",
	    "# file: b\nuser.k=0sdg==\n");
	assert_int_equal(mdhist_open(dfd, 1700000000, &h), 0);
	assert_int_equal(mdhist_next(h, &rec), 0);
	assert_string_equal(rec.path, ".");
	assert_int_equal(mdhist_next(h, &rec), 0);
	assert_string_equal(rec.path, "a");
	assert_int_equal(mdhist_next(h, &rec), CB_ERR_CORRUPT);
	assert_null(rec.path);
	assert_int_equal(mdhist_next(h, &rec), CB_ERR_CORRUPT);
	mdhist_free(h);
	/* an EA record after the last path */
	assert_int_equal(unlinkat(dfd, "extended_attributes." T1 ".snapshot",
			     0),
	    0);
	write_plain(dfd, "extended_attributes." T1 ".snapshot",
	    "# file: zzz\nuser.k=0sdg==\n");
	assert_int_equal(mdhist_open(dfd, 1700000000, &h), 0);
	while (mdhist_next(h, &rec) == 0)
		;
	assert_int_equal(mdhist_next(h, &rec), CB_ERR_CORRUPT);
	mdhist_free(h);
	assert_int_equal(unlinkat(dfd, "extended_attributes." T1 ".snapshot",
			     0),
	    0);
	/* a malformed diff */
	assert_int_equal(unlinkat(dfd, "mirror_metadata." T1 ".diff", 0), 0);
	write_plain(dfd, "mirror_metadata." T1 ".diff",
	    "File b\n  Type None\nFile a\n  Type None\n");
	assert_int_equal(mdhist_open(dfd, 1700000000, &h), 0);
	while (mdhist_next(h, &rec) == 0)
		;
	assert_int_equal(mdhist_next(h, &rec), CB_ERR_CORRUPT);
	mdhist_free(h);
	mdhist_free(NULL);
	close(dfd);

	/* a bad directory */
	assert_int_equal(mdhist_open(-1, 1700000000, &h), CB_ERR_SYS);
	assert_int_equal(errno, EBADF);
}

/* Metadata file names for sessions 1..n (one a second), kinds from ${k}. */
static void
make_chain(int dfd, const char *kinds)
{
	char tb[TIMEFMT_LEN], name[128];
	size_t i;

	for (i = 0; kinds[i] != '\0'; i++) {
		assert_int_equal(timefmt_utc(1700000000 + (int64_t)i, tb), 0);
		snprintf(name, sizeof(name), "mirror_metadata.%s.%s", tb,
		    kinds[i] == 's' ? "snapshot.gz" : "diff.gz");
		write_plain(dfd, name, "");
	}
}

static int
keep_of(const char *kinds, size_t old_index)
{
	char path[256];
	int dfd, keep = -1;

	dfd = fresh_dir("keep", path);
	make_chain(dfd, kinds);
	write_plain(dfd, "error_log.2023-11-14T22:13:20Z.data", "");
	assert_int_equal(mdhist_keep_snapshot(dfd,
			     1700000000 + (int64_t)old_index, &keep),
	    0);
	close(dfd);
	return keep;
}

static void
test_keep_rule(void **state)
{
	char path[256];
	int dfd, keep;

	(void)state;
	/* 8 diffs before old: chain 9 -> keep */
	assert_int_equal(keep_of("ddddddddss", 8), 1);
	/* 7 diffs: chain 8 -> diff */
	assert_int_equal(keep_of("dddddddss", 7), 0);
	/* an older snapshot ends the chain */
	assert_int_equal(keep_of("dddsddddss", 8), 0);
	assert_int_equal(keep_of("sddddddddss", 9), 1);
	/* the first session: chain 1 */
	assert_int_equal(keep_of("ss", 0), 0);
	/* nothing newer to diff against */
	assert_int_equal(keep_of("ds", 1), 1);
	/* the rule looks at the neighbours of old, not at old itself */
	assert_int_equal(keep_of("ddds", 2), 0);

	dfd = fresh_dir("keeperr", path);
	make_chain(dfd, "dss");
	keep = -1;
	assert_int_equal(mdhist_keep_snapshot(dfd, 1700000005, &keep),
	    CB_ERR_SYS);
	assert_int_equal(errno, ENOENT);
	/* a snapshot and a (partial) diff of one time: the snapshot wins */
	write_plain(dfd, "mirror_metadata.2023-11-14T23:13:21+01:00.diff", "");
	assert_int_equal(mdhist_keep_snapshot(dfd, 1700000001, &keep), 0);
	/* two diffs of one time cannot be told apart */
	write_plain(dfd, "mirror_metadata.2023-11-14T23:13:20+01:00.diff", "");
	assert_int_equal(mdhist_keep_snapshot(dfd, 1700000001, &keep),
	    CB_ERR_CORRUPT);
	close(dfd);
}

static void
test_write_diff(void **state)
{
	static const char old_text[] =
	    REC_DIR(".") REC_REG("a", "1") REC_REG("b", "5") REC_DIR("d")
		REC_REG("d/x", "1") REC_REG("gone", "4") REC_REG("same", "2");
	static const char new_text[] = REC_DIR(".") REC_REG("a", "2")
	    REC_REG("b", "5") REC_REG("b2", "1") REC_REG("d", "1")
		REC_REG("new", "1") REC_REG("same", "2") REC_REG("z", "1");
	static const char want[] =
	    REC_REG("a", "1") REC_NONE("b2") REC_DIR("d") REC_REG("d/x", "1")
		REC_REG("gone", "4") REC_NONE("new") REC_NONE("z");
	char path[256], *s;
	size_t len;
	int dfd;

	(void)state;
	dfd = fresh_dir("diff", path);
	write_gz(dfd, "old.snapshot.gz", old_text);
	write_plain(dfd, "new.snapshot", new_text);
	assert_int_equal(mdhist_write_diff(dfd, "old.snapshot.gz",
			     "new.snapshot", "d1.diff", 1),
	    0);
	assert_false(exists(dfd, "d1.diff"));
	s = read_all(dfd, "d1.diff.gz", &len);
	assert_string_equal(s, want);
	free(s);
	/* uncompressed */
	assert_int_equal(mdhist_write_diff(dfd, "old.snapshot.gz",
			     "new.snapshot", "d2.diff", 0),
	    0);
	assert_false(exists(dfd, "d2.diff.gz"));
	s = read_all(dfd, "d2.diff", &len);
	assert_string_equal(s, want);
	free(s);
	/* new relative to old is the mirror image */
	assert_int_equal(mdhist_write_diff(dfd, "new.snapshot",
			     "old.snapshot.gz", "d3.diff", 1),
	    0);
	s = read_all(dfd, "d3.diff.gz", &len);
	assert_string_equal(s,
	    REC_REG("a", "2") REC_REG("b2", "1") REC_REG("d", "1") REC_NONE(
		"d/x") REC_NONE("gone") REC_REG("new", "1") REC_REG("z", "1"));
	free(s);
	/* identical snapshots: an empty uncompressed file */
	assert_int_equal(mdhist_write_diff(dfd, "old.snapshot.gz",
			     "old.snapshot.gz", "d4.diff", 1),
	    0);
	assert_false(exists(dfd, "d4.diff.gz"));
	s = read_all(dfd, "d4.diff", &len);
	assert_int_equal(len, 0);
	free(s);
	/* against an empty snapshot: everything old */
	write_plain(dfd, "empty.snapshot", "");
	assert_int_equal(mdhist_write_diff(dfd, "old.snapshot.gz",
			     "empty.snapshot", "d5.diff", 1),
	    0);
	s = read_all(dfd, "d5.diff.gz", &len);
	assert_string_equal(s, old_text);
	free(s);
	close(dfd);
}

/* A large diff crosses the internal flush size. */
static void
test_write_diff_large(void **state)
{
	struct strbuf o = STRBUF_INIT, n = STRBUF_INIT, w = STRBUF_INIT;
	char path[256], p[32], *s;
	size_t len;
	int dfd, i;

	(void)state;
	dfd = fresh_dir("large", path);
	assert_int_equal(strbuf_addstr(&o, REC_DIR(".")), 0);
	assert_int_equal(strbuf_addstr(&n, REC_DIR(".")), 0);
	for (i = 0; i < 3000; i++) {
		snprintf(p, sizeof(p), "f%05d", i);
		assert_int_equal(strbuf_addf(&o, REC_REG("%s", "1"), p), 0);
		if (i % 3 != 0)
			assert_int_equal(strbuf_addf(&n, REC_REG("%s", "1"), p),
			    0);
		else
			assert_int_equal(strbuf_addf(&w, REC_REG("%s", "1"), p),
			    0);
	}
	write_gz(dfd, "o.snapshot.gz", o.buf);
	write_gz(dfd, "n.snapshot.gz", n.buf);
	assert_int_equal(mdhist_write_diff(dfd, "o.snapshot.gz",
			     "n.snapshot.gz", "big.diff", 1),
	    0);
	s = read_all(dfd, "big.diff.gz", &len);
	assert_int_equal(len, w.len);
	assert_memory_equal(s, w.buf, len);
	free(s);
	assert_int_equal(mdhist_write_diff(dfd, "o.snapshot.gz",
			     "n.snapshot.gz", "big2.diff", 0),
	    0);
	s = read_all(dfd, "big2.diff", &len);
	assert_int_equal(len, w.len);
	assert_memory_equal(s, w.buf, len);
	free(s);
	strbuf_release(&o);
	strbuf_release(&n);
	strbuf_release(&w);
	close(dfd);
}

static void
test_write_diff_errors(void **state)
{
	char path[256], *s;
	size_t before, len;
	int dfd;

	(void)state;
	dfd = fresh_dir("differr", path);
	write_gz(dfd, "old.snapshot.gz", REC_DIR(".") REC_REG("a", "1"));
	write_plain(dfd, "new.snapshot", REC_DIR(".") REC_REG("a", "2"));
	/* the target exists: refused, untouched */
	write_plain(dfd, "x.diff.gz", "keep me");
	before = count_entries(dfd);
	errno = 0;
	assert_int_equal(mdhist_write_diff(dfd, "old.snapshot.gz",
			     "new.snapshot", "x.diff", 1),
	    CB_ERR_SYS);
	assert_int_equal(errno, EEXIST);
	s = read_all(dfd, "x.diff.gz", &len);
	assert_string_equal(s, "keep me");
	free(s);
	/* missing input */
	assert_int_equal(mdhist_write_diff(dfd, "nope.snapshot.gz",
			     "new.snapshot", "y.diff", 1),
	    CB_ERR_SYS);
	assert_int_equal(errno, ENOENT);
	/* malformed input after some output: nothing left */
	write_plain(dfd, "bad.snapshot",
	    REC_DIR(".") REC_REG("a", "9") "File a\n  Type reg\n");
	assert_int_equal(mdhist_write_diff(dfd, "bad.snapshot", "new.snapshot",
			     "y.diff", 1),
	    CB_ERR_CORRUPT);
	assert_int_equal(mdhist_write_diff(dfd, "new.snapshot", "bad.snapshot",
			     "y.diff", 0),
	    CB_ERR_CORRUPT);
	/* bad names */
	assert_int_equal(mdhist_write_diff(dfd, "old.snapshot.gz",
			     "new.snapshot", "sub/y.diff", 1),
	    CB_ERR_SYS);
	assert_int_equal(mdhist_write_diff(dfd, "../old.snapshot.gz",
			     "new.snapshot", "y.diff", 1),
	    CB_ERR_SYS);
	assert_int_equal(count_entries(dfd), before + 1);
	assert_false(exists(dfd, "y.diff"));
	assert_false(exists(dfd, "y.diff.gz"));
	close(dfd);
}

/* ---- a repository written by rdiff-backup ---- */

#define NSESS 12
#define T0    1700000000

static char g_src[128], g_repo[128];

/* Run a shell command in g_dir; assert it succeeds. */
static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
sh(const char *fmt, ...)
{
	struct strbuf cmd = STRBUF_INIT;
	char body[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(body, sizeof(body), fmt, ap);
	va_end(ap);
	assert_int_equal(strbuf_addf(&cmd, "cd '%s' && %s", g_dir, body), 0);
	if (system(cmd.buf) != 0)
		fail_msg("command failed: %s", cmd.buf);
	strbuf_release(&cmd);
}

/* Tree changes before session k (1-based), then the backup and a copy. */
static void
session(int k)
{
	static const char *const change[NSESS + 1] = {
		NULL,
		/* 1: the initial tree */
		"mkdir -p src/d src/e && echo alpha > src/a && "
		"echo bravo > src/b && echo charlie > src/c && "
		"echo x1 > src/d/x && echo y1 > src/d/y && echo f > src/e/f && "
		"ln -s a src/l && echo hl > src/hl1 && ln src/hl1 src/hl2 && "
		"mkfifo src/p && touch -h -d @1600000000 src/* src/d/* src/e/*",
		/* 2: content change, new file */
		"echo alpha22 > src/a && touch -d @1600000100 src/a && "
		"echo n > src/n1 && touch -d @1600000100 src/n1",
		/* 3: nothing */
		"true",
		/* 4: delete b, chmod c */
		"rm src/b && chmod 600 src/c",
		/* 5: re-create b (with an xattr, set by the test) */
		"echo bravo-again > src/b && touch -d @1600000400 src/b",
		/* 6: file -> dir */
		"rm src/c && mkdir src/c && echo in > src/c/in && "
		"touch -d @1600000500 src/c/in src/c",
		/* 7: delete a tree */
		"rm -r src/d",
		/* 8: re-create it differently */
		"mkdir src/d && echo z > src/d/z && "
		"touch -d @1600000700 src/d/z src/d",
		/* 9: content change, symlink retarget */
		"echo ffff > src/e/f && touch -d @1600000800 src/e/f && "
		"rm src/l && ln -s b src/l",
		/* 10: nothing */
		"true",
		/* 11: dir -> file */
		"rm -r src/e && echo nowafile > src/e && "
		"touch -d @1600001000 src/e",
		/* 12: mtime only, hard link removed */
		"touch -d @1600001100 src/a && rm src/hl2",
	};
	int64_t t = T0 + 100 * (k - 1);

	sh("%s", change[k]);
	if (k == 5)
		(void)setxattr(g_src, "user.k", "v", 1, 0);
	/* alternate the zone: names of both spellings in one repository */
	sh("TZ=%s rdiff-backup --current-time %lld backup src repo "
	   ">/dev/null 2>&1 && cp -a repo/rdiff-backup-data save%d",
	    k % 2 ? "UTC" : "Europe/Berlin", (long long)t, k);
}

/* Name of the entry of ${base} at ${t} in ${dfd}, copied to out[256]. */
static int
find_name(int dfd, enum repo_base base, int64_t t, char out[256])
{
	struct repo_entry *e;
	size_t n, i;
	int found = 0;

	assert_int_equal(repo_scan(dfd, &e, &n), 0);
	for (i = 0; i < n; i++) {
		if (e[i].base == base && e[i].inc.time == t) {
			snprintf(out, 256, "%s", e[i].name);
			found = e[i].inc.ext == INC_SNAPSHOT ? 's' : 'd';
		}
	}
	repo_scan_free(e, n);
	return found;
}

static int
open_save(int k)
{
	char path[300];

	snprintf(path, sizeof(path), "%s/save%d", g_dir, k);
	return open_dir(path);
}

/* The records of one metadata file, formatted. */
static char *
file_text(int dfd, const char *name)
{
	struct strbuf sb = STRBUF_INIT;
	struct md_reader *rd;
	struct meta_rec rec;
	int r;

	meta_rec_init(&rec);
	assert_int_equal(md_reader_open(dfd, name, MD_META, &rd), 0);
	while ((r = md_reader_next(rd, &rec)) == 0)
		assert_int_equal(meta_format(&sb, &rec), 0);
	assert_int_equal(r, CB_ERR_EOF);
	md_reader_free(rd);
	assert_int_equal(strbuf_addstr(&sb, ""), 0);
	return strbuf_detach(&sb, NULL);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted list of lines of ${text} (modified in place). */
static size_t
split_lines(char *text, char **lines, size_t max)
{
	size_t n = 0;
	char *p = text, *nl;

	while (*p != '\0' && (nl = strchr(p, '\n')) != NULL) {
		assert_true(n < max);
		*nl = '\0';
		lines[n++] = p;
		p = nl + 1;
	}
	qsort(lines, n, sizeof(*lines), cmp_str);
	return n;
}

/* mdhist at ${t} lists exactly what "rdiff-backup list files --at" does. */
static void
check_list_files(int dfd, int64_t t)
{
	struct strbuf ours = STRBUF_INIT, theirs = STRBUF_INIT;
	char *a[64], *b[64], cmd[512], buf[4096];
	struct meta_rec rec;
	struct mdhist *h;
	size_t na, nb, i, k;
	FILE *p;
	int r;

	meta_rec_init(&rec);
	assert_int_equal(mdhist_open(dfd, t, &h), 0);
	while ((r = mdhist_next(h, &rec)) == 0)
		assert_int_equal(strbuf_addf(&ours, "%s\n", rec.path), 0);
	assert_int_equal(r, CB_ERR_EOF);
	mdhist_free(h);
	snprintf(cmd, sizeof(cmd),
	    "rdiff-backup list files --at %lld '%s' 2>/dev/null", (long long)t,
	    g_repo);
	assert_non_null(p = popen(cmd, "r"));
	while ((k = fread(buf, 1, sizeof(buf), p)) > 0)
		assert_int_equal(strbuf_add(&theirs, buf, k), 0);
	assert_int_equal(pclose(p), 0);
	assert_int_equal(strbuf_addstr(&theirs, ""), 0);
	na = split_lines(ours.buf, a, 64);
	nb = split_lines(theirs.buf, b, 64);
	assert_true(na > 1);
	assert_int_equal(na, nb);
	for (i = 0; i < na; i++)
		assert_string_equal(a[i], b[i]);
	strbuf_release(&ours);
	strbuf_release(&theirs);
}

/* The record of ${path} at ${t}: 1 and *out, or 0 when absent. */
static int
rec_at(int dfd, int64_t t, const char *path, struct meta_rec *out)
{
	struct meta_rec rec;
	struct mdhist *h;
	int r, found = 0;

	meta_rec_init(&rec);
	assert_int_equal(mdhist_open(dfd, t, &h), 0);
	while ((r = mdhist_next(h, &rec)) == 0) {
		if (strcmp(rec.path, path) == 0) {
			meta_rec_clear(out);
			assert_int_equal(meta_rec_copy(out, &rec), 0);
			found = 1;
		}
	}
	assert_int_equal(r, CB_ERR_EOF);
	mdhist_free(h);
	meta_rec_clear(&rec);
	return found;
}

static int64_t
sess_time(int k)
{
	return T0 + 100 * (k - 1);
}

/* ${a} and ${b} the same record, EA and ACL included. */
static void
assert_same_rec(const struct meta_rec *a, const struct meta_rec *b)
{
	struct strbuf x = STRBUF_INIT, y = STRBUF_INIT;

	assert_int_equal(meta_format(&x, a), 0);
	assert_int_equal(meta_format(&y, b), 0);
	assert_string_equal(x.buf, y.buf);
	assert_true(meta_attr_equal(a, b));
	assert_int_equal(a->nxattrs, b->nxattrs);
	assert_int_equal(a->nacl, b->nacl);
	strbuf_release(&x);
	strbuf_release(&y);
}

/*
 * mdhist_path follows ${path} through the sessions ${t}[0..n) (oldest
 * first, one mdhist_path for all, as versions does) and finds at each what
 * the whole merge of mdhist finds.
 */
static void
check_path(int dfd, const char *path, const int64_t *t, size_t n)
{
	struct meta_rec want, got;
	struct mdhist_path *ph;
	size_t i;
	int found;

	meta_rec_init(&want);
	meta_rec_init(&got);
	assert_int_equal(mdhist_path_new(dfd, path, strlen(path), &ph), 0);
	for (i = 0; i < n; i++) {
		found = rec_at(dfd, t[i], path, &want);
		assert_int_equal(mdhist_path_open(ph, t[i]), 0);
		if (!found) {
			assert_int_equal(mdhist_path_get(ph, &got), CB_ERR_EOF);
			assert_null(got.path);
			continue;
		}
		assert_int_equal(mdhist_path_get(ph, &got), 0);
		assert_same_rec(&got, &want);
	}
	mdhist_path_free(ph);
	meta_rec_clear(&want);
	meta_rec_clear(&got);
}

/* The paths of every metadata, EA and ACL file of ${dfd}, and more. */
static size_t
all_paths(int dfd, char **out, size_t max)
{
	static const char *const more[] = { "zzz", "a0", "c/y", "" };
	struct repo_entry *e;
	struct meta_rec rec;
	struct md_reader *rd;
	size_t n = 0, ne, i, k;
	enum md_kind kind;

	meta_rec_init(&rec);
	assert_int_equal(repo_scan(dfd, &e, &ne), 0);
	for (i = 0; i < ne; i++) {
		if (e[i].base == RB_MIRROR_METADATA)
			kind = MD_META;
		else if (e[i].base == RB_EA)
			kind = MD_EA;
		else if (e[i].base == RB_ACL)
			kind = MD_ACL;
		else
			continue;
		assert_int_equal(md_reader_open(dfd, e[i].name, kind, &rd), 0);
		while (md_reader_next(rd, &rec) == 0) {
			for (k = 0; k < n && strcmp(out[k], rec.path) != 0; k++)
				;
			if (k == n) {
				assert_true(n < max);
				assert_non_null(out[n++] = strdup(rec.path));
			}
		}
		md_reader_free(rd);
	}
	repo_scan_free(e, ne);
	for (i = 0; more[i][0] != '\0'; i++) {
		assert_true(n < max);
		assert_non_null(out[n++] = strdup(more[i]));
	}
	return n;
}

/* check_path for every path of ${dfd}, through the sessions ${t}. */
static void
check_all_paths(int dfd, const int64_t *t, size_t nt)
{
	char *paths[256];
	size_t n, i;

	n = all_paths(dfd, paths, 256);
	for (i = 0; i < n; i++) {
		check_path(dfd, paths[i], t, nt);
		free(paths[i]);
	}
}

static void
test_path(void **state)
{
	static const int64_t t[] = { 1700000000, 1700000100, 1700000200 };
	struct meta_rec rec, want;
	struct mdhist_path *ph;
	struct md_snap *snap;
	char path[256];
	int dfd;

	(void)state;
	meta_rec_init(&rec);
	meta_rec_init(&want);
	/* test_merge's history, with EA and ACL files */
	dfd = fresh_dir("path", path);
	make_history(dfd);
	write_plain(dfd, "extended_attributes." T2 ".snapshot",
	    "# file: b\nuser.k=0sdg==\n# file: old\nuser.a\nuser.b=0sAA==\n");
	write_gz(dfd, "access_control_lists." T2 ".snapshot.gz",
	    "# file: c\nuser::rwx\nuser:12:r-x\ngroup::r-x\nmask::r-x\n"
	    "other::r-x\n");
	write_plain(dfd, "extended_attributes." T3 ".snapshot",
	    "# file: c/x\nuser.z=0sAA==\n");
	check_all_paths(dfd, t, 3);
	/* newest first, each session twice: the same */
	{
		static const int64_t back[] = { 1700000200, 1700000200,
			1700000100, 1700000100, 1700000000, 1700000000 };

		check_all_paths(dfd, back, 6);
	}

	/* the newest as md_snap reads it, after the older sessions read it
	 * (the snapshot is shared) and before */
	assert_int_equal(md_snap_open(dfd, "mirror_metadata." T3 ".snapshot.gz",
			     "extended_attributes." T3 ".snapshot", NULL,
			     &snap),
	    0);
	while (md_snap_next(snap, &want) == 0 && strcmp(want.path, "c/x") != 0)
		;
	assert_string_equal(want.path, "c/x");
	md_snap_free(snap);
	assert_int_equal(mdhist_path_new(dfd, "c/x", 3, &ph), 0);
	assert_int_equal(mdhist_path_open_snap(ph,
			     "mirror_metadata." T3 ".snapshot.gz",
			     "extended_attributes." T3 ".snapshot", NULL),
	    0);
	assert_int_equal(mdhist_path_get(ph, &rec), 0);
	assert_same_rec(&rec, &want);
	assert_int_equal(rec.nxattrs, 1);
	assert_int_equal(mdhist_path_open(ph, 1700000100), 0);
	assert_int_equal(mdhist_path_get(ph, &rec), CB_ERR_EOF);
	assert_int_equal(mdhist_path_open_snap(ph,
			     "mirror_metadata." T3 ".snapshot.gz",
			     "extended_attributes." T3 ".snapshot", NULL),
	    0);
	assert_int_equal(mdhist_path_get(ph, &rec), 0);
	assert_same_rec(&rec, &want);
	/* nothing selected: nothing found */
	assert_int_equal(mdhist_path_get(ph, &rec), CB_ERR_EOF);
	mdhist_path_free(ph);
	mdhist_path_free(NULL);

	/* a "Type None" in a snapshot: md_snap returns it, mdhist hides it */
	write_plain(dfd, "mirror_metadata.2023-11-14T22:18:20Z.snapshot",
	    REC_DIR(".") REC_NONE("n"));
	assert_int_equal(mdhist_path_new(dfd, "n", 1, &ph), 0);
	assert_int_equal(mdhist_path_open_snap(ph,
			     "mirror_metadata.2023-11-14T22:18:20Z.snapshot",
			     NULL, NULL),
	    0);
	assert_int_equal(mdhist_path_get(ph, &rec), 0);
	assert_int_equal(rec.type, META_NONE);
	assert_int_equal(mdhist_path_open(ph, 1700000300), 0);
	assert_int_equal(mdhist_path_get(ph, &rec), CB_ERR_EOF);
	mdhist_path_free(ph);
	meta_rec_clear(&rec);
	meta_rec_clear(&want);
	close(dfd);
}

/* What mdhist_path_open and _get say of a damaged history. */
static int
path_errors(int dfd, const char *path, int64_t t, int *get)
{
	struct meta_rec rec;
	struct mdhist_path *ph;
	int r;

	meta_rec_init(&rec);
	*get = 1;
	assert_int_equal(mdhist_path_new(dfd, path, strlen(path), &ph), 0);
	if ((r = mdhist_path_open(ph, t)) == 0) {
		*get = r = mdhist_path_get(ph, &rec);
		assert_true(r != 0 || rec.path != NULL);
	}
	mdhist_path_free(ph);
	meta_rec_clear(&rec);
	return r;
}

static void
test_path_errors(void **state)
{
	char path[256];
	int dfd, get;

	(void)state;
	dfd = fresh_dir("patherr", path);
	make_history(dfd);
	/* as mdhist_open: no metadata file of that time */
	errno = 0;
	assert_int_equal(path_errors(dfd, "a", 1700000150, &get), CB_ERR_SYS);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(get, 1);
	/* a duplicate timestamp */
	write_plain(dfd, "mirror_metadata.2023-11-14T23:15:00+01:00.diff", "");
	assert_int_equal(path_errors(dfd, "a", 1700000200, &get),
	    CB_ERR_CORRUPT);
	assert_int_equal(get, 1);
	assert_int_equal(unlinkat(dfd,
			     "mirror_metadata.2023-11-14T23:15:00+01:00.diff",
			     0),
	    0);
	/* no snapshot after the time */
	assert_int_equal(renameat(dfd, "mirror_metadata." T3 ".snapshot.gz",
			     dfd, "mirror_metadata." T3 ".diff.gz"),
	    0);
	assert_int_equal(path_errors(dfd, "a", 1700000000, &get),
	    CB_ERR_CORRUPT);
	assert_int_equal(get, 1);
	assert_int_equal(renameat(dfd, "mirror_metadata." T3 ".diff.gz", dfd,
			     "mirror_metadata." T3 ".snapshot.gz"),
	    0);
	/* an EA record of the path when it is absent (b at T1), and not */
	write_plain(dfd, "extended_attributes." T1 ".snapshot",
	    "# file: b\nuser.k=0sdg==\n");
	assert_int_equal(path_errors(dfd, "b", 1700000000, &get),
	    CB_ERR_CORRUPT);
	assert_int_equal(get, CB_ERR_CORRUPT);
	assert_int_equal(path_errors(dfd, "a", 1700000000, &get), 0);
	assert_int_equal(unlinkat(dfd, "extended_attributes." T1 ".snapshot",
			     0),
	    0);
	/* a diff out of order: found on the way to a path after it */
	assert_int_equal(unlinkat(dfd, "mirror_metadata." T1 ".diff", 0), 0);
	write_plain(dfd, "mirror_metadata." T1 ".diff",
	    "File b\n  Type None\nFile a\n  Type None\n");
	assert_int_equal(path_errors(dfd, "c", 1700000000, &get),
	    CB_ERR_CORRUPT);
	assert_int_equal(get, CB_ERR_CORRUPT);
	assert_int_equal(path_errors(dfd, "a", 1700000000, &get), 0);
	/* a malformed record: the path's own, not another's (not parsed) */
	assert_int_equal(unlinkat(dfd, "mirror_metadata." T1 ".diff", 0), 0);
	write_plain(dfd, "mirror_metadata." T1 ".diff",
	    "File a\n  Type bogus\n");
	assert_int_equal(path_errors(dfd, "a", 1700000000, &get),
	    CB_ERR_CORRUPT);
	assert_int_equal(path_errors(dfd, ".", 1700000000, &get), 0);
	assert_int_equal(path_errors(dfd, "c", 1700000000, &get), 0);
	/* a file of the chain that cannot be opened, or read */
	assert_int_equal(unlinkat(dfd, "mirror_metadata." T1 ".diff", 0), 0);
	assert_int_equal(mkdirat(dfd, "mirror_metadata." T1 ".diff", 0700), 0);
	assert_int_equal(path_errors(dfd, "a", 1700000000, &get),
	    CB_ERR_CORRUPT);
	assert_int_equal(get, 1);
	assert_int_equal(unlinkat(dfd, "mirror_metadata." T1 ".diff",
			     AT_REMOVEDIR),
	    0);
	write_plain(dfd, "mirror_metadata." T1 ".diff.gz", "\037\213garbage");
	assert_int_equal(path_errors(dfd, "a", 1700000000, &get),
	    CB_ERR_CORRUPT);
	assert_int_equal(get, CB_ERR_CORRUPT);
	/* the listing fails: a bad directory */
	assert_int_equal(path_errors(-1, "a", 1700000000, &get), CB_ERR_SYS);
	assert_int_equal(errno, EBADF);
	close(dfd);
}

static void
check_records(int dfd, int have_xattr)
{
	struct meta_rec r;

	meta_rec_init(&r);
	assert_true(rec_at(dfd, sess_time(1), "a", &r));
	assert_int_equal(r.type, META_REG);
	assert_int_equal(r.size, 6);
	assert_int_equal(r.mtime, 1600000000);
	assert_true(r.has_sha1);
	assert_true(rec_at(dfd, sess_time(2), "a", &r));
	assert_int_equal(r.size, 8);
	assert_true(rec_at(dfd, sess_time(12), "a", &r));
	assert_int_equal(r.mtime, 1600001100);
	assert_true(rec_at(dfd, sess_time(1), "hl1", &r));
	assert_int_equal(r.nlink, 2);
	assert_true(rec_at(dfd, sess_time(12), "hl1", &r));
	assert_true(r.nlink <= 1);
	assert_false(rec_at(dfd, sess_time(12), "hl2", &r));
	assert_true(rec_at(dfd, sess_time(1), "l", &r));
	assert_int_equal(r.type, META_SYM);
	assert_string_equal(r.symdata, "a");
	assert_true(rec_at(dfd, sess_time(9), "l", &r));
	assert_string_equal(r.symdata, "b");
	assert_true(rec_at(dfd, sess_time(3), "p", &r));
	assert_int_equal(r.type, META_FIFO);
	/* b: deleted in 4, re-created in 5 */
	assert_true(rec_at(dfd, sess_time(3), "b", &r));
	assert_int_equal(r.size, 6);
	assert_false(rec_at(dfd, sess_time(4), "b", &r));
	assert_true(rec_at(dfd, sess_time(5), "b", &r));
	assert_int_equal(r.size, 12);
	if (have_xattr) {
		assert_int_equal(r.nxattrs, 1);
		assert_string_equal(r.xattrs[0].name, "user.k");
		assert_int_equal(r.xattrs[0].vlen, 1);
		assert_memory_equal(r.xattrs[0].value, "v", 1);
	}
	assert_true(rec_at(dfd, sess_time(4), "c", &r));
	assert_int_equal(r.type, META_REG);
	assert_int_equal(r.perms, 0600);
	/* c: file -> dir in 6 */
	assert_false(rec_at(dfd, sess_time(5), "c/in", &r));
	assert_true(rec_at(dfd, sess_time(6), "c", &r));
	assert_int_equal(r.type, META_DIR);
	assert_true(rec_at(dfd, sess_time(6), "c/in", &r));
	assert_int_equal(r.size, 3);
	/* d: gone in 7, back with other contents in 8 */
	assert_false(rec_at(dfd, sess_time(7), "d", &r));
	assert_false(rec_at(dfd, sess_time(7), "d/x", &r));
	assert_true(rec_at(dfd, sess_time(8), "d/z", &r));
	assert_false(rec_at(dfd, sess_time(8), "d/x", &r));
	assert_true(rec_at(dfd, sess_time(6), "d/x", &r));
	/* e: dir -> file in 11 */
	assert_true(rec_at(dfd, sess_time(10), "e/f", &r));
	assert_int_equal(r.size, 5);
	assert_true(rec_at(dfd, sess_time(11), "e", &r));
	assert_int_equal(r.type, META_REG);
	assert_int_equal(r.size, 9);
	assert_false(rec_at(dfd, sess_time(11), "e/f", &r));
	meta_rec_clear(&r);
}

/* Copy save(k-1) + the new snapshot of save(k): the state the rule sees. */
static void
check_keep(int k)
{
	char path[256], name[256];
	int sdfd, dfd, kind, keep = -1;

	dfd = fresh_dir("pre", path);
	close(dfd);
	sdfd = open_save(k);
	assert_int_equal(find_name(sdfd, RB_MIRROR_METADATA, sess_time(k),
			     name),
	    's');
	sh("cp -a save%d/. '%s' && cp save%d/'%s' '%s'", k - 1, path, k, name,
	    path);
	dfd = open_dir(path);
	assert_int_equal(mdhist_keep_snapshot(dfd, sess_time(k - 1), &keep), 0);
	/* what rdiff-backup did with the old snapshot */
	kind = find_name(sdfd, RB_MIRROR_METADATA, sess_time(k - 1), name);
	assert_true(kind == 's' || kind == 'd');
	if (keep != (kind == 's'))
		fail_msg("session %d: keep %d, rdiff-backup kept %c", k - 1,
		    keep, kind);
	close(dfd);
	close(sdfd);
}

/* Our diff of snapshot k against snapshot k+1 equals rdiff-backup's. */
static int
check_diff(int k)
{
	char path[256], oldn[256], newn[256], theirs[256], diffn[64];
	char tb[TIMEFMT_LEN], made[80];
	char *a, *b;
	size_t alen, blen;
	int s0, s1, dfd, gz;

	s0 = open_save(k);
	s1 = open_save(k + 1);
	if (find_name(s1, RB_MIRROR_METADATA, sess_time(k), theirs) != 'd') {
		close(s0);
		close(s1);
		return 0;
	}
	assert_int_equal(find_name(s0, RB_MIRROR_METADATA, sess_time(k), oldn),
	    's');
	assert_int_equal(find_name(s1, RB_MIRROR_METADATA, sess_time(k + 1),
			     newn),
	    's');
	dfd = fresh_dir("diffk", path);
	close(dfd);
	sh("cp save%d/'%s' save%d/'%s' '%s'", k, oldn, k + 1, newn, path);
	dfd = open_dir(path);
	assert_int_equal(timefmt_utc(sess_time(k), tb), 0);
	snprintf(diffn, sizeof(diffn), "mirror_metadata.%s.diff", tb);
	assert_int_equal(mdhist_write_diff(dfd, oldn, newn, diffn, 1), 0);
	/* same compression choice (MaybeGzip) as rdiff-backup */
	gz = strlen(theirs) > 3 &&
	    strcmp(theirs + strlen(theirs) - 3, ".gz") == 0;
	snprintf(made, sizeof(made), "%s%s", diffn, gz ? ".gz" : "");
	assert_true(exists(dfd, made));
	a = read_all(dfd, made, &alen);
	b = read_all(s1, theirs, &blen);
	assert_int_equal(alen, blen);
	assert_memory_equal(a, b, alen);
	free(a);
	free(b);
	close(dfd);
	close(s0);
	close(s1);
	return 1;
}

static void
test_rdiff_backup_history(void **state)
{
	char name[256], *ours, *want;
	int dfd, sdfd, k, have_xattr, ndiffs = 0;
	int64_t *sess;
	size_t n, i;

	(void)state;
	if (system("rdiff-backup --version >/dev/null 2>&1") != 0)
		skip();
	snprintf(g_src, sizeof(g_src), "%s/src/b", g_dir);
	snprintf(g_repo, sizeof(g_repo), "%s/repo", g_dir);
	for (k = 1; k <= NSESS; k++)
		session(k);
	have_xattr = getxattr(g_src, "user.k", name, sizeof(name)) == 1;
	snprintf(name, sizeof(name), "%s/rdiff-backup-data", g_repo);
	dfd = open_dir(name);

	/* section 4.5: 1..8 diff, 9 snapshot, 10..11 diff, 12 snapshot */
	for (k = 1; k <= NSESS; k++) {
		assert_int_equal(find_name(dfd, RB_MIRROR_METADATA,
				     sess_time(k), name),
		    k == 9 || k == 12 ? 's' : 'd');
	}
	for (k = 2; k <= NSESS; k++)
		check_keep(k);

	/* the session list counts the no-change sessions too */
	assert_int_equal(repo_sessions(dfd, &sess, &n), 0);
	assert_int_equal(n, NSESS);
	for (k = 1; k <= NSESS; k++)
		assert_int_equal(sess[k - 1], sess_time(k));
	free(sess);
	/*
	 * A root marker carries the time of the session before the one that
	 * changed something: none for 2 and 9 (3 and 10 changed nothing).
	 */
	assert_int_equal(repo_inc_sessions(dfd, &sess, &n), 0);
	assert_int_equal(n, NSESS - 2);
	for (k = 1, i = 0; k <= NSESS; k++) {
		if (k != 2 && k != 9)
			assert_int_equal(sess[i++], sess_time(k));
	}
	free(sess);

	/* every session: the records rdiff-backup wrote as its snapshot */
	for (k = 1; k <= NSESS; k++) {
		sdfd = open_save(k);
		assert_int_equal(find_name(sdfd, RB_MIRROR_METADATA,
				     sess_time(k), name),
		    's');
		want = file_text(sdfd, name);
		ours = hist_text(dfd, sess_time(k), NULL, 0);
		assert_string_equal(ours, want);
		free(ours);
		free(want);
		close(sdfd);
		check_list_files(dfd, sess_time(k));
	}
	check_records(dfd, have_xattr);
	{
		int64_t all[NSESS];

		for (k = 1; k <= NSESS; k++)
			all[k - 1] = sess_time(k);
		check_all_paths(dfd, all, NSESS);
	}

	/* the diffs, byte for byte */
	for (k = 1; k < NSESS; k++)
		ndiffs += check_diff(k);
	assert_int_equal(ndiffs, NSESS - 2);
	close(dfd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_merge_empty_diff),
		cmocka_unit_test(test_merge_stops_at_snapshot),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_keep_rule),
		cmocka_unit_test(test_write_diff),
		cmocka_unit_test(test_write_diff_large),
		cmocka_unit_test(test_write_diff_errors),
		cmocka_unit_test(test_path),
		cmocka_unit_test(test_path_errors),
		cmocka_unit_test(test_rdiff_backup_history),
	};

	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
