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
#include <sys/time.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cb_err.h"
#include "mdfile.h"
#include "meta.h"
#include "strbuf.h"
#include "timefmt.h"

static char g_dir[64];
static int g_dirfd = -1;
static unsigned int g_seq;

/* ---- fixtures and helpers ---- */

static int
setup_dir(void **state)
{
	(void)state;
	snprintf(g_dir, sizeof(g_dir), "/tmp/test_mdfile.XXXXXX");
	if (mkdtemp(g_dir) == NULL)
		return -1;
	g_dirfd = open(g_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return g_dirfd < 0 ? -1 : 0;
}

static int
teardown_dir(void **state)
{
	char cmd[128];

	(void)state;
	close(g_dirfd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* A fresh file name in the test directory. */
static const char *
fresh(const char *prefix)
{
	static char name[128];

	snprintf(name, sizeof(name), "%s.%u", prefix, ++g_seq);
	return name;
}

static void
write_raw(const char *name, const void *p, size_t n)
{
	int fd = openat(g_dirfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	close(fd);
}

static char *
read_raw(const char *name, size_t *len)
{
	struct stat st;
	char *p;
	int fd = openat(g_dirfd, name, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	p = malloc((size_t)st.st_size + 1);
	assert_non_null(p);
	assert_int_equal(read(fd, p, (size_t)st.st_size), st.st_size);
	p[st.st_size] = '\0';
	*len = (size_t)st.st_size;
	close(fd);
	return p;
}

struct recs {
	struct meta_rec *v;
	size_t n;
};

static void
recs_free(struct recs *rs)
{
	size_t i;

	for (i = 0; i < rs->n; i++)
		meta_rec_clear(&rs->v[i]);
	free(rs->v);
	rs->v = NULL;
	rs->n = 0;
}

/* Read every record of ${name}; returns the code that ended the loop. */
static int
read_all(const char *name, enum md_kind kind, struct recs *rs)
{
	struct md_reader *rd;
	struct meta_rec rec;
	int r;

	rs->v = NULL;
	rs->n = 0;
	assert_int_equal(md_reader_open(g_dirfd, name, kind, &rd), 0);
	meta_rec_init(&rec);
	while ((r = md_reader_next(rd, &rec)) == 0) {
		assert_non_null(rec.path);
		rs->v = realloc(rs->v, (rs->n + 1) * sizeof(rec));
		assert_non_null(rs->v);
		rs->v[rs->n++] = rec;
		meta_rec_init(&rec);
	}
	assert_null(rec.path);
	/* errors are sticky */
	assert_int_equal(md_reader_next(rd, &rec), r);
	md_reader_free(rd);
	return r;
}

static int
parse_text(const char *text, size_t len, enum md_kind kind, struct recs *rs)
{
	const char *name = fresh("txt");

	write_raw(name, text, len);
	return read_all(name, kind, rs);
}

static void
expect_corrupt(const char *text, size_t len, enum md_kind kind)
{
	struct recs rs;
	int r = parse_text(text, len, kind, &rs);

	if (r != CB_ERR_CORRUPT)
		fail_msg("accepted (%d, %zu records): %.*s", r, rs.n,
		    (int)(len > 200 ? 200 : len), text);
	recs_free(&rs);
}

static void
set_path(struct meta_rec *r, const char *p, size_t len)
{
	free(r->path);
	r->path = malloc(len + 1);
	assert_non_null(r->path);
	memcpy(r->path, p, len);
	r->path[len] = '\0';
	r->pathlen = len;
}

static void
set_str(char **dst, const char *s)
{
	free(*dst);
	*dst = s ? strdup(s) : NULL;
}

static void
add_xattr(struct meta_rec *r, const char *name, const void *v, size_t n)
{
	struct meta_xattr *x;

	r->xattrs = realloc(r->xattrs, (r->nxattrs + 1) * sizeof(*x));
	assert_non_null(r->xattrs);
	x = &r->xattrs[r->nxattrs++];
	x->name = strdup(name);
	x->vlen = n;
	x->value = NULL;
	if (n > 0) {
		x->value = malloc(n);
		memcpy(x->value, v, n);
	}
}

static void
add_acl(struct meta_rec *r, int is_default, int tag, int perm, const char *qual)
{
	struct meta_acl_entry *e;

	r->acl = realloc(r->acl, (r->nacl + 1) * sizeof(*e));
	assert_non_null(r->acl);
	e = &r->acl[r->nacl++];
	e->is_default = (uint8_t)is_default;
	e->tag = (uint8_t)tag;
	e->perm = (uint8_t)perm;
	e->qual = qual ? strdup(qual) : NULL;
}

static void
assert_opt_str(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

/* Every field the codec carries. */
static void
assert_rec_same(const struct meta_rec *a, const struct meta_rec *b)
{
	size_t i;

	assert_int_equal(a->pathlen, b->pathlen);
	assert_memory_equal(a->path, b->path, a->pathlen);
	assert_int_equal(a->type, b->type);
	assert_int_equal(a->size, b->size);
	assert_int_equal(a->nlink, b->nlink);
	assert_int_equal(a->inode, b->inode);
	assert_int_equal(a->devloc, b->devloc);
	assert_int_equal(a->has_sha1, b->has_sha1);
	assert_memory_equal(a->sha1, b->sha1, 20);
	assert_int_equal(a->symlen, b->symlen);
	if (a->symlen > 0)
		assert_memory_equal(a->symdata, b->symdata, a->symlen);
	assert_int_equal(a->dev_kind, b->dev_kind);
	assert_int_equal(a->dev_major, b->dev_major);
	assert_int_equal(a->dev_minor, b->dev_minor);
	assert_int_equal(a->mtime, b->mtime);
	assert_int_equal(a->uid, b->uid);
	assert_int_equal(a->gid, b->gid);
	assert_opt_str(a->uname, b->uname);
	assert_opt_str(a->gname, b->gname);
	assert_int_equal(a->perms, b->perms);
	assert_int_equal(a->alt_mirror, b->alt_mirror);
	assert_int_equal(a->alt_inc, b->alt_inc);
	assert_int_equal(a->nxattrs, b->nxattrs);
	for (i = 0; i < a->nxattrs; i++) {
		assert_string_equal(a->xattrs[i].name, b->xattrs[i].name);
		assert_int_equal(a->xattrs[i].vlen, b->xattrs[i].vlen);
		if (a->xattrs[i].vlen > 0)
			assert_memory_equal(a->xattrs[i].value,
			    b->xattrs[i].value, a->xattrs[i].vlen);
	}
	assert_int_equal(a->nacl, b->nacl);
	for (i = 0; i < a->nacl; i++) {
		assert_int_equal(a->acl[i].is_default, b->acl[i].is_default);
		assert_int_equal(a->acl[i].tag, b->acl[i].tag);
		assert_int_equal(a->acl[i].perm, b->acl[i].perm);
		assert_opt_str(a->acl[i].qual, b->acl[i].qual);
	}
	assert_true(meta_attr_equal(a, b));
}

/* Write ${text} through an md_writer; returns the final file name. */
static const char *
write_md(const char *prefix, const char *text, size_t len, int compress)
{
	static char final[256];
	struct md_writer *w;
	const char *name = fresh(prefix);

	assert_int_equal(md_writer_open(g_dirfd, name, compress, &w), 0);
	/* in two pieces to exercise repeated writes */
	assert_int_equal(md_writer_write(w, text, len / 2), 0);
	assert_int_equal(md_writer_write(w, text + len / 2, len - len / 2), 0);
	assert_int_equal(md_writer_close(w, final, sizeof(final)), 0);
	return final;
}

/* ---- section 4.2 examples ---- */

static const char example_42[] =
    "File .\n  Type dir\n  ModTime 1795379900\n  Uid 0\n  Uname root\n"
    "  Gid 0\n  Gname root\n  Permissions 493\n"
    "File blockdev\n  Type dev\n  DeviceNum b 7 0\n  Uid 0\n  Uname root\n"
    "  Gid 0\n  Gname root\n  Permissions 420\n"
    "File dangling\n  Type sym\n  SymData /nonexistent/target\n  Uid 0\n"
    "  Uname root\n  Gid 0\n  Gname root\n  Permissions 511\n"
    "File dir1\n  Type dir\n  ModTime 1672574400\n  Uid 0\n  Uname root\n"
    "  Gid 0\n  Gname root\n  Permissions 493\n"
    "File dir1/hl3\n  Type reg\n  Size 19\n  NumHardLinks 3\n"
    "  Inode 10970625\n  DeviceLoc 65024\n"
    "  SHA1Digest 8abfd478412a28ece07926dafb09e24bdfb44164\n"
    "  ModTime 1672574400\n  Uid 0\n  Uname root\n  Gid 0\n  Gname root\n"
    "  Permissions 420\n"
    "File gone\n  Type None\n"
    "File owned_unknown\n  Type reg\n  Size 6\n"
    "  SHA1Digest 4b9c0d0a42d2d0927ba5ab0484907af8b7cc462b\n"
    "  ModTime 1672574400\n  Uid 1234\n  Uname :\n  Gid 5678\n  Gname :\n"
    "  Permissions 420\n"
    "File xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"
    "  Type reg\n  Size 14\n"
    "  SHA1Digest f99e00946eec0297c611a812a8c9552b7a6a1bdf\n"
    "  ModTime 1672574400\n  Uid 0\n  Uname root\n  Gid 0\n  Gname root\n"
    "  Permissions 420\n  AlternateIncrementName 1\n";

static void
test_parse_examples(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	struct recs rs;
	size_t i;

	(void)state;
	assert_int_equal(parse_text(example_42, strlen(example_42), MD_META,
			     &rs),
	    CB_ERR_EOF);
	assert_int_equal(rs.n, 8);
	assert_string_equal(rs.v[0].path, ".");
	assert_int_equal(rs.v[0].type, META_DIR);
	assert_int_equal(rs.v[0].perms, 0755);
	assert_int_equal(rs.v[1].type, META_DEV);
	assert_int_equal(rs.v[1].dev_kind, 'b');
	assert_int_equal(rs.v[1].dev_major, 7);
	assert_int_equal(rs.v[1].dev_minor, 0);
	assert_int_equal(rs.v[2].type, META_SYM);
	assert_string_equal(rs.v[2].symdata, "/nonexistent/target");
	assert_int_equal(rs.v[2].perms, 0777);
	assert_string_equal(rs.v[4].path, "dir1/hl3");
	assert_int_equal(rs.v[4].size, 19);
	assert_int_equal(rs.v[4].nlink, 3);
	assert_int_equal(rs.v[4].inode, 10970625);
	assert_int_equal(rs.v[4].devloc, 65024);
	assert_true(rs.v[4].has_sha1);
	assert_int_equal(rs.v[4].sha1[0], 0x8a);
	assert_int_equal(rs.v[4].sha1[19], 0x64);
	assert_int_equal(rs.v[4].mtime, 1672574400);
	assert_string_equal(rs.v[4].uname, "root");
	assert_int_equal(rs.v[5].type, META_NONE);
	assert_int_equal(rs.v[6].uid, 1234);
	assert_null(rs.v[6].uname);
	assert_null(rs.v[6].gname);
	assert_int_equal(rs.v[6].gid, 5678);
	assert_int_equal(rs.v[7].pathlen, 240);
	assert_int_equal(rs.v[7].alt_inc, 1);
	assert_int_equal(rs.v[7].alt_mirror, 0);
	/* and back, byte for byte */
	for (i = 0; i < rs.n; i++)
		assert_int_equal(meta_format(&sb, &rs.v[i]), 0);
	assert_int_equal(sb.len, strlen(example_42));
	assert_memory_equal(sb.buf, example_42, sb.len);
	strbuf_release(&sb);
	recs_free(&rs);
}

static void
test_parse_tolerant(void **state)
{
	static const char text[] =
	    "File a\nType reg\n      Size 3\n  ResourceFork None\n"
	    "  Foo bar baz\n  SHA1Digest None\n  ModTime -100\n  Uid 0\n"
	    "  Uname None\n  Gid 0\n  Gname :\n"
	    "File b\n  Type reg\n  Size 0\n"
	    "  SHA1Digest DA39A3EE5E6B4B0D3255BFEF95601890AFD80709\n"
	    "  ModTime 0\n  Uid 4294967295\n  Gid 7\n  Uname  sp ace\n"
	    "  NumHardLinks 1\n"
	    "File c\n  Type :\n  Size 9\n  Uid 1\n"
	    "File d\n  Type dir\n  Size 4096\n  SymData x\n  DeviceNum c 1 2\n"
	    "  ModTime 1\n  Uid 1\n  Gid 1\n  Permissions 0\n"
	    "  AlternateMirrorName 12\n"
	    "File l\n  Type sym\n  SymData a\\\\b\\nc d\n  ModTime 5\n"
	    "  Uid 1\n  Gid 1\n  Size 7\n"
	    "File p\n  Type fifo\n  ModTime 00042\n  Uid 1\n  Gid 1\n";
	struct recs rs;

	(void)state;
	assert_int_equal(parse_text(text, strlen(text), MD_META, &rs),
	    CB_ERR_EOF);
	assert_int_equal(rs.n, 6);
	assert_int_equal(rs.v[0].size, 3);
	assert_false(rs.v[0].has_sha1);
	assert_int_equal(rs.v[0].mtime, -100);
	assert_null(rs.v[0].uname);
	assert_null(rs.v[0].gname);
	assert_int_equal(rs.v[0].perms, 0);
	assert_true(rs.v[1].has_sha1);
	assert_int_equal(rs.v[1].sha1[0], 0xda);
	assert_int_equal(rs.v[1].uid, 4294967295u);
	assert_string_equal(rs.v[1].uname, " sp ace");
	assert_int_equal(rs.v[1].nlink, 1);
	/* "Type :" is absent = None; other fields dropped */
	assert_int_equal(rs.v[2].type, META_NONE);
	assert_int_equal(rs.v[2].size, 0);
	assert_int_equal(rs.v[2].uid, 0);
	assert_string_equal(rs.v[2].path, "c");
	/* fields foreign to the type are dropped */
	assert_int_equal(rs.v[3].size, 0);
	assert_null(rs.v[3].symdata);
	assert_int_equal(rs.v[3].dev_kind, 0);
	assert_int_equal(rs.v[3].alt_mirror, 12);
	assert_int_equal(rs.v[4].symlen, 7);
	assert_memory_equal(rs.v[4].symdata, "a\\b\nc d", 7);
	assert_int_equal(rs.v[4].mtime, 0);
	assert_int_equal(rs.v[4].size, 0);
	assert_int_equal(rs.v[5].mtime, 42);
	recs_free(&rs);

	assert_int_equal(parse_text("", 0, MD_META, &rs), CB_ERR_EOF);
	assert_int_equal(rs.n, 0);
	assert_int_equal(parse_text("", 0, MD_EA, &rs), CB_ERR_EOF);
	assert_int_equal(parse_text("", 0, MD_ACL, &rs), CB_ERR_EOF);
}

/* ---- round trips ---- */

static int
rec_cmp(const void *x, const void *y)
{
	const struct meta_rec *a = x, *b = y;

	return meta_path_cmp(a->path, a->pathlen, b->path, b->pathlen);
}

/* Records of every type with odd paths, sorted. */
static size_t
make_odd_records(struct meta_rec *v, size_t max)
{
	static const char *const paths[] = { ".", "a", "a/\n", "a/b c", "a-b",
		"a.b", "back\\slash", "caf\xe9-latin1", "eq=:;#", "new\nline",
		"sp ace", " lead", "trail ", "tab\there", "\\n", "\\", "d" };
	size_t n = sizeof(paths) / sizeof(paths[0]), i;
	char big[META_NAME_MAX + 2];

	assert_true(n + 1 <= max);
	for (i = 0; i <= n; i++) {
		struct meta_rec *r = &v[i];

		meta_rec_init(r);
		if (i < n)
			set_path(r, paths[i], strlen(paths[i]));
		else {
			big[0] = 'd';
			big[1] = '/';
			memset(big + 2, 'L', META_NAME_MAX);
			set_path(r, big, sizeof(big));
		}
		r->type = (enum meta_type)(i % 7);
		r->uid = (uint32_t)i * 1000;
		r->gid = 4294967295u - (uint32_t)i;
		set_str(&r->uname, i % 3 ? "user" : NULL);
		set_str(&r->gname, i % 4 ? "gr oup" : NULL);
		r->perms = (uint32_t)(i * 0421) & 07777;
		if (r->type != META_SYM && r->type != META_DEV)
			r->mtime = (int64_t)i * 100000000 - 500000000;
		if (r->type == META_REG) {
			r->size = UINT64_MAX - i;
			if (i % 2) {
				r->nlink = 2 + i;
				r->inode = 1ULL << 40;
				r->devloc = 65024;
			}
			r->has_sha1 = i % 3 != 0;
			if (r->has_sha1)
				memset(r->sha1, (int)(i * 17), 20);
			r->alt_inc = i % 2 ? 0 : i;
		}
		if (r->type == META_SYM) {
			r->symdata = strdup("../tar get\\x\ny");
			r->symlen = strlen(r->symdata);
		}
		if (r->type == META_DEV) {
			r->dev_kind = i % 2 ? 'c' : 'b';
			r->dev_major = 4294967295u;
			r->dev_minor = (uint32_t)i;
		}
		if (r->type == META_DIR)
			r->alt_mirror = i;
		if (r->type == META_NONE) {
			char *p = r->path;
			size_t pl = r->pathlen;

			r->path = NULL;
			meta_rec_clear(r);
			r->path = p;
			r->pathlen = pl;
		}
	}
	qsort(v, n + 1, sizeof(*v), rec_cmp);
	v[0].type = META_DIR; /* root */
	return n + 1;
}

static void
test_roundtrip_meta(void **state)
{
	struct meta_rec v[32];
	struct strbuf sb = STRBUF_INIT;
	struct recs rs;
	size_t n, i;
	int compress;

	(void)state;
	n = make_odd_records(v, 32);
	assert_string_equal(v[0].path, ".");
	for (i = 0; i < n; i++) {
		if (meta_format(&sb, &v[i]) != 0)
			fail_msg("format %zu %s type %d", i, v[i].path,
			    v[i].type);
	}
	for (compress = 0; compress <= 1; compress++) {
		const char *name =
		    write_md("mirror_metadata", sb.buf, sb.len, compress);

		assert_int_equal(strstr(name, ".gz") != NULL, compress);
		assert_int_equal(read_all(name, MD_META, &rs), CB_ERR_EOF);
		assert_int_equal(rs.n, n);
		for (i = 0; i < n; i++)
			assert_rec_same(&v[i], &rs.v[i]);
		recs_free(&rs);
	}
	strbuf_release(&sb);
	for (i = 0; i < n; i++)
		meta_rec_clear(&v[i]);
}

/* EAs on every second record, ACLs on every third. */
static void
decorate(struct meta_rec *r, size_t i)
{
	static uint8_t big[META_XATTR_VALUE_MAX];
	size_t k;

	for (k = 0; k < sizeof(big); k++)
		big[k] = (uint8_t)(k * 7);
	if (i % 2 == 0) {
		/* sorted by name, as the reader returns them */
		add_xattr(r, "trusted.x", "\0\n\\=", 4);
		add_xattr(r, "user.", "x", 1);
		add_xattr(r, "user.\\040lit", "", 0);
		add_xattr(r, "user.a b=c\\d\xe9\n", "v", 1);
		add_xattr(r, "user.empty", NULL, 0);
		add_xattr(r, "user.odd empty=", NULL, 0);
		if (i == 4)
			add_xattr(r, "user.zbig", big, sizeof(big));
	}
	if (i % 3 == 0) {
		add_acl(r, 0, ACLT_USER_OBJ, 7, NULL);
		add_acl(r, 0, ACLT_USER, 5, "1234");
		add_acl(r, 0, ACLT_USER, 4, "b\xe9-name.x");
		add_acl(r, 0, ACLT_GROUP_OBJ, 0, NULL);
		add_acl(r, 0, ACLT_GROUP, 1, "wheel");
		add_acl(r, 0, ACLT_MASK, 6, NULL);
		add_acl(r, 0, ACLT_OTHER, 2, NULL);
		if (i % 2) {
			add_acl(r, 1, ACLT_USER_OBJ, 7, NULL);
			add_acl(r, 1, ACLT_GROUP_OBJ, 3, NULL);
			add_acl(r, 1, ACLT_OTHER, 0, NULL);
		}
	}
}

/*
 * The records read from an EA (${is_ea}) or ACL file are exactly those of
 * ${v} that carry such data, with the same path and data.
 */
static void
check_side(const struct meta_rec *v, size_t n, const struct recs *rs, int is_ea)
{
	struct meta_rec want, got;
	size_t i, j = 0;

	for (i = 0; i < n; i++) {
		if ((is_ea ? v[i].nxattrs : v[i].nacl) == 0)
			continue;
		assert_true(j < rs->n);
		meta_rec_init(&want);
		meta_rec_init(&got);
		want.path = v[i].path;
		want.pathlen = v[i].pathlen;
		got = rs->v[j++];
		if (is_ea) {
			want.xattrs = v[i].xattrs;
			want.nxattrs = v[i].nxattrs;
		} else {
			want.acl = v[i].acl;
			want.nacl = v[i].nacl;
		}
		assert_rec_same(&want, &got);
	}
	assert_int_equal(j, rs->n);
}

static void
test_roundtrip_ea_acl(void **state)
{
	struct meta_rec v[32];
	struct strbuf ea = STRBUF_INIT, acl = STRBUF_INIT;
	struct recs rs;
	size_t n, i;

	(void)state;
	n = make_odd_records(v, 32);
	for (i = 0; i < n; i++) {
		decorate(&v[i], i);
		assert_int_equal(meta_format_ea(&ea, &v[i]), 0);
		assert_int_equal(meta_format_acl(&acl, &v[i]), 0);
	}
	assert_int_equal(read_all(write_md("extended_attributes", ea.buf,
				      ea.len, 1),
			     MD_EA, &rs),
	    CB_ERR_EOF);
	check_side(v, n, &rs, 1);
	recs_free(&rs);
	assert_int_equal(read_all(write_md("access_control_lists", acl.buf,
				      acl.len, 0),
			     MD_ACL, &rs),
	    CB_ERR_EOF);
	check_side(v, n, &rs, 0);
	recs_free(&rs);
	strbuf_release(&ea);
	strbuf_release(&acl);
	for (i = 0; i < n; i++)
		meta_rec_clear(&v[i]);
}

static void
test_parse_ea_acl_examples(void **state)
{
	static const char ea[] =
	    "# file: caf\\303\\251\n"
	    "\n   user.foo=0sYmFy  \n"
	    "user.empty\n"
	    "user.sp\\040ace\\075eq=0sAP8K\n"
	    "user.bare sp=eq\n"	   /* rdiff-backup's bare empty name */
	    "user.a\\x\\0400=0s\n" /* non-octal backslash kept */
	    "# file: xattr_file\n"
	    "user.z=0sAA==\n";
	static const char acl[] =
	    "# file: acl_dir\n"
	    "default:user::rwx\n" /* defaults first: reordered */
	    "user::rwx\n"
	    "user:1234:r-x # a comment\n"
	    "  group::r-x\n"
	    "# only a comment\n"
	    "mask::r-x\n"
	    "other::r-x\n"
	    "default:user:nobody:rwx\n"
	    "default:group::r-x\n"
	    "default:mask::rwx\n"
	    "default:other::r-x\n";
	struct recs rs;

	(void)state;
	assert_int_equal(parse_text(ea, strlen(ea), MD_EA, &rs), CB_ERR_EOF);
	assert_int_equal(rs.n, 2);
	assert_string_equal(rs.v[0].path, "caf\xc3\xa9");
	assert_int_equal(rs.v[0].nxattrs, 5);
	assert_string_equal(rs.v[0].xattrs[0].name, "user.a\\x 0");
	assert_int_equal(rs.v[0].xattrs[0].vlen, 0);
	assert_string_equal(rs.v[0].xattrs[1].name, "user.bare sp=eq");
	assert_int_equal(rs.v[0].xattrs[1].vlen, 0);
	assert_string_equal(rs.v[0].xattrs[2].name, "user.empty");
	assert_int_equal(rs.v[0].xattrs[2].vlen, 0);
	assert_null(rs.v[0].xattrs[2].value);
	assert_string_equal(rs.v[0].xattrs[3].name, "user.foo");
	assert_int_equal(rs.v[0].xattrs[3].vlen, 3);
	assert_memory_equal(rs.v[0].xattrs[3].value, "bar", 3);
	assert_string_equal(rs.v[0].xattrs[4].name, "user.sp ace=eq");
	assert_int_equal(rs.v[0].xattrs[4].vlen, 3);
	assert_memory_equal(rs.v[0].xattrs[4].value, "\x00\xff\n", 3);
	assert_string_equal(rs.v[1].path, "xattr_file");
	assert_int_equal(rs.v[1].xattrs[0].vlen, 1);
	recs_free(&rs);

	assert_int_equal(parse_text(acl, strlen(acl), MD_ACL, &rs), CB_ERR_EOF);
	assert_int_equal(rs.n, 1);
	assert_int_equal(rs.v[0].nacl, 10);
	assert_int_equal(rs.v[0].acl[0].tag, ACLT_USER_OBJ);
	assert_int_equal(rs.v[0].acl[0].is_default, 0);
	assert_int_equal(rs.v[0].acl[1].tag, ACLT_USER);
	assert_string_equal(rs.v[0].acl[1].qual, "1234");
	assert_int_equal(rs.v[0].acl[1].perm, 5);
	assert_int_equal(rs.v[0].acl[3].tag, ACLT_MASK);
	assert_int_equal(rs.v[0].acl[4].tag, ACLT_OTHER);
	assert_int_equal(rs.v[0].acl[5].tag, ACLT_USER_OBJ);
	assert_int_equal(rs.v[0].acl[5].is_default, 1);
	assert_string_equal(rs.v[0].acl[6].qual, "nobody");
	assert_int_equal(rs.v[0].acl[6].perm, 7);
	assert_int_equal(rs.v[0].acl[9].tag, ACLT_OTHER);
	assert_false(meta_acl_is_basic(&rs.v[0]));
	recs_free(&rs);
}

/* ---- corrupt input ---- */

#define GOODREC "  Type reg\n  Size 1\n  ModTime 1\n  Uid 0\n  Gid 0\n"

static void
test_corrupt_meta(void **state)
{
	static const char *const bad[] = {
		"File a\n",
		"File a\n  Type reg\n  Size 5\n",
		"File a\n  Type re",
		"File a\n  Type reg\n  Size 1\n  ModTime 1\n  Uid 0\n  Gid 0",
		"File a\n  Type reg\n  Size 1x\n  ModTime 1\n  Uid 0\n  Gid "
		"0\n",
		"File a\n  Type reg\n  Size -1\n  ModTime 1\n  Uid 0\n  Gid "
		"0\n",
		"File a\n  Type reg\n  Size +1\n  ModTime 1\n  Uid 0\n  Gid "
		"0\n",
		"File a\n  Type reg\n  Size 18446744073709551616\n  ModTime 1\n"
		"  Uid 0\n  Gid 0\n",
		"File a\n" GOODREC "  Permissions 4096\n",
		"File a\n" GOODREC "  Permissions 0x1\n",
		"File a\n  Type reg\n  Size 1\n  ModTime 1\n  Uid 4294967296\n"
		"  Gid 0\n",
		"File a\n  Type reg\n  Size 1\n  ModTime --1\n  Uid 0\n  Gid "
		"0\n",
		"File a\n  Type reg\n  Size 1\n  ModTime 1 \n  Uid 0\n  Gid "
		"0\n",
		"File a\n  Type reg\n  Size 1\n  ModTime 99999999999999999999\n"
		"  Uid 0\n  Gid 0\n",
		"File a\n  Type reg\n  Size 1\n  Uid 0\n  Gid 0\n", /* ModTime */
		"File a\n  Type reg\n  ModTime 1\n  Uid 0\n  Gid 0\n", /* Size */
		"File a\n  Type reg\n  Size 1\n  ModTime 1\n  Gid 0\n",
		"File a\n  Type dir\n  ModTime 1\n  Uid 0\n",
		"File a\n  Size 1\n  ModTime 1\n  Uid 0\n  Gid 0\n", /* Type */
		"File a\n  Type regular\n  ModTime 1\n  Uid 0\n  Gid 0\n",
		"File a\n  Type sym\n  Uid 0\n  Gid 0\n",
		"File a\n  Type dev\n  Uid 0\n  Gid 0\n",
		"File a\n  Type dev\n  DeviceNum x 1 2\n  Uid 0\n  Gid 0\n",
		"File a\n  Type dev\n  DeviceNum c 1\n  Uid 0\n  Gid 0\n",
		"File a\n  Type dev\n  DeviceNum c 1 2 3\n  Uid 0\n  Gid 0\n",
		"File a\n  Type dev\n  DeviceNum c -1 2\n  Uid 0\n  Gid 0\n",
		"File a\n  Type dev\n  DeviceNum c  1 2\n  Uid 0\n  Gid 0\n",
		"File a\n  Type dev\n  DeviceNum c 4294967296 2\n  Uid 0\n"
		"  Gid 0\n",
		"File a\n" GOODREC
		"  SHA1Digest 8abfd478412a28ece07926dafb09e24"
		"bdfb4416\n",
		"File a\n" GOODREC
		"  SHA1Digest 8abfd478412a28ece07926dafb09e24"
		"bdfb44164a\n",
		"File a\n" GOODREC
		"  SHA1Digest 8abfd478412a28ece07926dafb09e24"
		"bdfb4416g\n",
		"File a\n" GOODREC "  Size 1\n", /* duplicate field */
		"File a\n" GOODREC "  NumHardLinks 2\n  Inode 5\n",
		"File a\n" GOODREC "  Size\n",
		"File a\n" GOODREC "  Size \n",
		"File a\n" GOODREC "garbage\n",
		"File a\n" GOODREC "\n",
		"File a\n" GOODREC "  \n",
		"File a\n" GOODREC "  File b\n",
		"File a\n" GOODREC "  Uname-x y\n",
		"  Type reg\nFile a\n" GOODREC,
		"\nFile a\n" GOODREC,
		"File b\n" GOODREC "File a\n" GOODREC,
		"File a\n" GOODREC "File a\n" GOODREC,
		"File a/b\n" GOODREC "File a\n" GOODREC,
		"File a-b\n" GOODREC "File a/b\n" GOODREC,
		"File a\n" GOODREC "File .\n" GOODREC,
		"File \n" GOODREC,
		"File a/../b\n" GOODREC,
		"File ..\n" GOODREC,
		"File ./a\n" GOODREC,
		"File /etc/passwd\n" GOODREC,
		"File a//b\n" GOODREC,
		"File a/\n" GOODREC,
		"File a\\x\n" GOODREC,
		"File a\\\n" GOODREC,
		"File \\.\\.\n" GOODREC,
		"File a\n  Type sym\n  SymData a\\tb\n  Uid 0\n  Gid 0\n",
		"File a\n  Type sym\n  SymData \n  Uid 0\n  Gid 0\n",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_corrupt(bad[i], strlen(bad[i]), MD_META);
	/* NUL bytes */
	expect_corrupt("File a\0b\n" GOODREC, 9 + strlen(GOODREC), MD_META);
	expect_corrupt("File a\n  Type reg\n  Size 1\0\n  ModTime 1\n  Uid 0\n"
		       "  Gid 0\n",
	    55, MD_META);
	expect_corrupt("File a\n" GOODREC "  Uname r\0t\n",
	    7 + strlen(GOODREC) + 12, MD_META);
}

static void
test_corrupt_limits(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	struct recs rs;
	size_t i;

	(void)state;
	/* overlong line */
	assert_int_equal(strbuf_addstr(&sb, "File "), 0);
	for (i = 0; i < 9000; i++)
		assert_int_equal(strbuf_addch(&sb, 'x'), 0);
	expect_corrupt(sb.buf, sb.len, MD_META);
	assert_int_equal(strbuf_addstr(&sb, "\n" GOODREC), 0);
	expect_corrupt(sb.buf, sb.len, MD_META);
	/* same without a newline anywhere, and much longer */
	strbuf_reset(&sb);
	for (i = 0; i < 300000; i++)
		assert_int_equal(strbuf_addch(&sb, 'y'), 0);
	expect_corrupt(sb.buf, sb.len, MD_META);
	expect_corrupt(sb.buf, sb.len, MD_EA);
	/* 256-byte component, 4097-byte path */
	strbuf_reset(&sb);
	assert_int_equal(strbuf_addstr(&sb, "File "), 0);
	for (i = 0; i < 256; i++)
		assert_int_equal(strbuf_addch(&sb, 'c'), 0);
	assert_int_equal(strbuf_addstr(&sb, "\n" GOODREC), 0);
	expect_corrupt(sb.buf, sb.len, MD_META);
	strbuf_reset(&sb);
	assert_int_equal(strbuf_addstr(&sb, "File "), 0);
	for (i = 0; i < META_PATH_MAX + 1; i++)
		assert_int_equal(strbuf_addch(&sb, i % 2 ? '/' : 'c'), 0);
	assert_int_equal(strbuf_addstr(&sb, "\n" GOODREC), 0);
	expect_corrupt(sb.buf, sb.len, MD_META);
	/* the longest valid path quotes to 2 * META_PATH_MAX bytes */
	strbuf_reset(&sb);
	assert_int_equal(strbuf_addstr(&sb, "File "), 0);
	for (i = 0; i < META_PATH_MAX; i++)
		assert_int_equal(strbuf_addstr(&sb,
				     i % 2 && i + 1 < META_PATH_MAX ? "/" :
								      "\\\\"),
		    0);
	assert_int_equal(strbuf_addstr(&sb, "\n" GOODREC), 0);
	assert_int_equal(parse_text(sb.buf, sb.len, MD_META, &rs), CB_ERR_EOF);
	assert_int_equal(rs.n, 1);
	assert_int_equal(rs.v[0].pathlen, META_PATH_MAX);
	recs_free(&rs);
	/* uname bound */
	strbuf_reset(&sb);
	assert_int_equal(strbuf_addstr(&sb, "File a\n" GOODREC "  Uname "), 0);
	for (i = 0; i < META_UNAME_MAX + 1; i++)
		assert_int_equal(strbuf_addch(&sb, 'u'), 0);
	assert_int_equal(strbuf_addch(&sb, '\n'), 0);
	expect_corrupt(sb.buf, sb.len, MD_META);
	strbuf_release(&sb);
}

static void
test_corrupt_ea_acl(void **state)
{
	static const char *const bad_ea[] = {
		"# file: a\nuser.x=0s@@@@\n",
		"# file: a\nuser.x=0sYQ=\n",
		"# file: a\nuser.x=0sY===\n",
		"# file: a\nuser.x=0sY=Q=\n",
		"# file: a\nuser.x=0sYQ==YQ==\n",
		"# file: a\nuser.x=0sYQ== x\n",
		"# file: a\n=0sYQ==\n",
		"# file: a\n\\101=0sYQ==\n\\101=0s\n", /* duplicate "A" */
		"# file: a\nuser.x\nuser.x\n",
		"# file: a\n#comment\n",
		"# file: a\nsystem.posix_acl_access=0sAA==\n",
		"# file: a\nsystem.x\n",
		"# file: a\nuser.\\000=0sAA==\n",
		"# file: a\nuser.\\400=0sAA==\n",
		"# file: a\\000b\nuser.x\n",
		"# file: a/../b\nuser.x\n",
		"# file: \\056\\056\nuser.x\n",
		"# file: a\\057\\057b\nuser.x\n",
		"# file: \nuser.x\n",
		"# file: b\nuser.x\n# file: a\nuser.x\n",
		"# file: a\nuser.x\n# file: a\nuser.y\n",
		"user.x\n# file: a\nuser.x\n",
		"#file: a\nuser.x\n",
		"# file: a\nuser.x",
	};
	static const char *const bad_acl[] = {
		"# file: a\nuser::rwz\ngroup::r--\nother::r--\n",
		"# file: a\nuser::rw\ngroup::r--\nother::r--\n",
		"# file: a\nuser::rwxx\ngroup::r--\nother::r--\n",
		"# file: a\nuser::xwr\ngroup::r--\nother::r--\n",
		"# file: a\nbogus::rwx\ngroup::r--\nother::r--\n",
		"# file: a\nuser::rwx\ngroup::r--\nother::r--\nmask:x:rwx\n",
		"# file: a\nuser::rwx\ngroup::r--\nother:x:r--\n",
		"# file: a\nuser::rwx\ngroup::r--\nother::r--\nuser:a b:rwx\n",
		"# file: a\nuser::rwx\ngroup::r--\nother::r--\nuser:a:b:rwx\n",
		"# file: a\nuser::rwx\ngroup::r--\nother::r--\nuser:a\n",
		"# file: a\nuser::rwx\nother::r--\n",
		"# file: a\nuser::rwx\nuser::rwx\ngroup::r--\nother::r--\n",
		"# file: a\nuser::rwx\ngroup::r--\nother::r--\nmask::r--\n"
		"mask::r--\n",
		"# file: a\nuser::rwx\ngroup::r--\nother::r--\n"
		"default: user::rwx\n",
		"# file: a\nuser::rwx\ngroup::r--\nother::r--\n"
		"default:user::rwx\n",
		"# file: a\ndefault:user::rwx\ndefault:group::rwx\n"
		"default:other::rwx\n",
		"# file: b\nuser::rwx\ngroup::r--\nother::r--\n"
		"# file: a\nuser::rwx\ngroup::r--\nother::r--\n",
		"# file: a\nuser::rwx\ngroup::r--\nother::r--\nuser::rwx:\n",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_ea) / sizeof(bad_ea[0]); i++)
		expect_corrupt(bad_ea[i], strlen(bad_ea[i]), MD_EA);
	for (i = 0; i < sizeof(bad_acl) / sizeof(bad_acl[0]); i++)
		expect_corrupt(bad_acl[i], strlen(bad_acl[i]), MD_ACL);
}

static void
test_corrupt_ea_acl_limits(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	size_t i;

	(void)state;

	/* name and value bounds */
	assert_int_equal(strbuf_addstr(&sb, "# file: a\nuser."), 0);
	for (i = 0; i < 63; i++)
		assert_int_equal(strbuf_addstr(&sb, "\\101"), 0);
	assert_int_equal(strbuf_addstr(&sb, "=0sAA==\n"), 0); /* 68 ok */
	assert_int_equal(strbuf_addstr(&sb, "user."), 0);
	for (i = 0; i < 251; i++)
		assert_int_equal(strbuf_addstr(&sb, "\\102"), 0);
	assert_int_equal(strbuf_addstr(&sb, "=0sAA==\n"), 0); /* 256 bad */
	expect_corrupt(sb.buf, sb.len, MD_EA);
	strbuf_reset(&sb);
	assert_int_equal(strbuf_addstr(&sb, "# file: a\nuser.v=0s"), 0);
	for (i = 0; i < (META_XATTR_VALUE_MAX + 3) / 3; i++)
		assert_int_equal(strbuf_addstr(&sb, "AAAA"), 0);
	assert_int_equal(strbuf_addch(&sb, '\n'), 0);
	expect_corrupt(sb.buf, sb.len, MD_EA);
	strbuf_reset(&sb);
	assert_int_equal(strbuf_addstr(&sb, "# file: a\n"), 0);
	for (i = 0; i < META_XATTRS_MAX + 1; i++)
		assert_int_equal(strbuf_addf(&sb, "user.%05zu\n", i), 0);
	expect_corrupt(sb.buf, sb.len, MD_EA);
	strbuf_reset(&sb);
	assert_int_equal(strbuf_addstr(&sb,
			     "# file: a\nuser::rwx\n"
			     "group::rwx\nother::rwx\n"),
	    0);
	for (i = 0; i < META_ACL_ENTRIES_MAX; i++)
		assert_int_equal(strbuf_addf(&sb, "user:%zu:rwx\n", i), 0);
	expect_corrupt(sb.buf, sb.len, MD_ACL);
	strbuf_reset(&sb);
	assert_int_equal(strbuf_addstr(&sb,
			     "# file: a\nuser::rwx\n"
			     "group::rwx\nother::rwx\nuser:"),
	    0);
	for (i = 0; i < META_UNAME_MAX + 1; i++)
		assert_int_equal(strbuf_addch(&sb, 'q'), 0);
	assert_int_equal(strbuf_addstr(&sb, ":rwx\n"), 0);
	expect_corrupt(sb.buf, sb.len, MD_ACL);
	strbuf_release(&sb);
}

/* Every prefix of a valid file either parses or is CORRUPT. */
static void
check_prefixes(const char *text, size_t len, enum md_kind kind)
{
	struct recs rs;
	size_t l;
	int r;

	for (l = 0; l <= len; l++) {
		r = parse_text(text, l, kind, &rs);
		assert_true(r == CB_ERR_EOF || r == CB_ERR_CORRUPT);
		if (l > 0 && text[l - 1] != '\n')
			assert_int_equal(r, CB_ERR_CORRUPT);
		recs_free(&rs);
	}
}

static void
test_truncation(void **state)
{
	static const char ea[] = "# file: a\nuser.foo=0sYmFy\nuser.e\n"
				 "# file: b\\040c\nuser.x=0sAP8K\n";
	static const char acl[] = "# file: a\nuser::rwx\nuser:1:r-x\n"
				  "group::r-x\nmask::r-x\nother::r-x\n"
				  "default:user::rwx\ndefault:group::r-x\n"
				  "default:other::r-x\n";
	const char *name;
	char *gz;
	size_t gzlen, l;
	struct recs rs;
	int r;

	(void)state;
	check_prefixes(example_42, strlen(example_42), MD_META);
	check_prefixes(ea, strlen(ea), MD_EA);
	check_prefixes(acl, strlen(acl), MD_ACL);

	/* truncated gzip streams */
	name = write_md("mirror_metadata", example_42, strlen(example_42), 1);
	gz = read_raw(name, &gzlen);
	assert_true(gzlen > 20);
	for (l = 0; l < gzlen; l++) {
		r = parse_text(gz, l, MD_META, &rs);
		assert_int_equal(r, l == 0 ? CB_ERR_EOF : CB_ERR_CORRUPT);
		recs_free(&rs);
	}
	assert_int_equal(parse_text(gz, gzlen, MD_META, &rs), CB_ERR_EOF);
	assert_int_equal(rs.n, 8);
	recs_free(&rs);
	/* a damaged deflate stream */
	gz[gzlen / 2] ^= 0x55;
	gz[gzlen / 2 + 1] ^= 0xff;
	assert_int_equal(parse_text(gz, gzlen, MD_META, &rs), CB_ERR_CORRUPT);
	recs_free(&rs);
	free(gz);
}

static void
mutate_and_parse(const char *text, size_t len, enum md_kind kind, int iters)
{
	static const char interesting[] = "\n\\ \0:=#/.-0s9";
	char *buf = malloc(len);
	struct recs rs;
	int i, k, r;

	assert_non_null(buf);
	for (i = 0; i < iters; i++) {
		memcpy(buf, text, len);
		for (k = 0; k < 1 + rand() % 3; k++) {
			size_t pos = (size_t)rand() % len;

			buf[pos] = rand() % 2 ?
			    (char)(rand() % 256) :
			    interesting[rand() %
				(int)(sizeof(interesting) - 1)];
		}
		r = parse_text(buf, len, kind, &rs);
		assert_true(r == CB_ERR_EOF || r == CB_ERR_CORRUPT);
		recs_free(&rs);
	}
	free(buf);
}

static void
test_mutations(void **state)
{
	static const char ea[] = "# file: a\nuser.foo=0sYmFy\nuser.e\n"
				 "# file: b\\040c\nuser.x=0sAP8K\n";
	static const char acl[] = "# file: a\nuser::rwx\nuser:1:r-x\n"
				  "group::r-x\nmask::r-x\nother::r-x\n"
				  "default:user::rwx\ndefault:group::r-x\n"
				  "default:other::r-x\n";

	(void)state;
	srand(42);
	mutate_and_parse(example_42, strlen(example_42), MD_META, 1500);
	mutate_and_parse(ea, strlen(ea), MD_EA, 800);
	mutate_and_parse(acl, strlen(acl), MD_ACL, 800);
}

/* ---- seeking one path ---- */

/*
 * Seek each record of ${rs} (the whole file ${name}, read by
 * md_reader_next) with a fresh reader: the same record, and then
 * md_reader_next goes on with the one after it; and all of them in turn
 * with one reader.
 */
static void
check_seek_each(const char *name, enum md_kind kind, const struct recs *rs)
{
	struct md_reader *rd, *all;
	struct meta_rec rec;
	size_t i;

	meta_rec_init(&rec);
	assert_int_equal(md_reader_open(g_dirfd, name, kind, &all), 0);
	for (i = 0; i < rs->n; i++) {
		assert_int_equal(md_reader_open(g_dirfd, name, kind, &rd), 0);
		assert_int_equal(md_reader_seek(rd, rs->v[i].path,
				     rs->v[i].pathlen, &rec),
		    0);
		assert_rec_same(&rec, &rs->v[i]);
		if (i + 1 < rs->n) {
			assert_int_equal(md_reader_next(rd, &rec), 0);
			assert_rec_same(&rec, &rs->v[i + 1]);
		} else
			assert_int_equal(md_reader_next(rd, &rec), CB_ERR_EOF);
		md_reader_free(rd);
		assert_int_equal(md_reader_seek(all, rs->v[i].path,
				     rs->v[i].pathlen, &rec),
		    0);
		assert_rec_same(&rec, &rs->v[i]);
	}
	md_reader_free(all);
	meta_rec_clear(&rec);
}

/* md_reader_seek of ${path} in ${text}: its code, the record in ${rec}. */
static int
seek_text(const char *text, size_t len, enum md_kind kind, const char *path,
    struct meta_rec *rec)
{
	const char *name = fresh("seek");
	struct md_reader *rd;
	int r;

	write_raw(name, text, len);
	assert_int_equal(md_reader_open(g_dirfd, name, kind, &rd), 0);
	r = md_reader_seek(rd, path, strlen(path), rec);
	if (r != 0 && r != CB_ERR_EOF) {
		/* errors are sticky */
		assert_null(rec->path);
		assert_int_equal(md_reader_next(rd, rec), r);
		assert_int_equal(md_reader_seek(rd, path, strlen(path), rec),
		    r);
	}
	md_reader_free(rd);
	return r;
}

static void
test_seek(void **state)
{
	static const char ea[] = "# file: a\nuser.foo=0sYmFy\nuser.e\n"
				 "# file: b\\040c\nuser.x=0sAP8K\n";
	struct meta_rec v[32], rec;
	struct strbuf sb = STRBUF_INIT;
	struct md_reader *rd;
	struct recs rs;
	const char *name;
	size_t n, i;
	int compress;

	(void)state;
	meta_rec_init(&rec);
	/* every record of the examples, and of odd names, plain and gzip */
	name = write_md("mirror_metadata", example_42, strlen(example_42), 1);
	assert_int_equal(read_all(name, MD_META, &rs), CB_ERR_EOF);
	check_seek_each(name, MD_META, &rs);
	recs_free(&rs);
	n = make_odd_records(v, 32);
	for (i = 0; i < n; i++)
		assert_int_equal(meta_format(&sb, &v[i]), 0);
	for (compress = 0; compress <= 1; compress++) {
		name = write_md("mirror_metadata", sb.buf, sb.len, compress);
		assert_int_equal(read_all(name, MD_META, &rs), CB_ERR_EOF);
		assert_int_equal(rs.n, n);
		check_seek_each(name, MD_META, &rs);
		recs_free(&rs);
	}
	strbuf_release(&sb);
	for (i = 0; i < n; i++)
		meta_rec_clear(&v[i]);

	/* a path that is not there: the reader stops before the next one */
	name = write_md("mirror_metadata", example_42, strlen(example_42), 0);
	assert_int_equal(md_reader_open(g_dirfd, name, MD_META, &rd), 0);
	assert_int_equal(md_reader_seek(rd, "dir1/a", 6, &rec), CB_ERR_EOF);
	assert_null(rec.path);
	assert_int_equal(md_reader_seek(rd, "dir1/hl3", 8, &rec), 0);
	assert_int_equal(rec.inode, 10970625);
	/* a path before the reader's place is not found again */
	assert_int_equal(md_reader_seek(rd, "dangling", 8, &rec), CB_ERR_EOF);
	assert_int_equal(md_reader_next(rd, &rec), 0);
	assert_string_equal(rec.path, "gone");
	assert_int_equal(md_reader_seek(rd, "zzz", 3, &rec), CB_ERR_EOF);
	assert_int_equal(md_reader_next(rd, &rec), CB_ERR_EOF);
	md_reader_free(rd);
	/* record order, not string order: "dir1-x" < "dir1/hl3" as strings */
	assert_int_equal(md_reader_open(g_dirfd, name, MD_META, &rd), 0);
	assert_int_equal(md_reader_seek(rd, "dir1-x", 6, &rec), CB_ERR_EOF);
	assert_int_equal(md_reader_next(rd, &rec), 0);
	assert_string_equal(rec.path, "gone");
	md_reader_free(rd);
	assert_int_equal(seek_text("", 0, MD_META, "a", &rec), CB_ERR_EOF);

	/* an EA file: quoted names are found by their unquoted path */
	assert_int_equal(seek_text(ea, strlen(ea), MD_EA, "b c", &rec), 0);
	assert_int_equal(rec.nxattrs, 1);
	assert_string_equal(rec.xattrs[0].name, "user.x");
	assert_int_equal(rec.xattrs[0].vlen, 3);
	assert_int_equal(seek_text(ea, strlen(ea), MD_EA, "b", &rec),
	    CB_ERR_EOF);

#define SEEK_TEXT(t, p) seek_text(t, sizeof(t) - 1, MD_META, p, &rec)
	/* the records before the path are framed, not parsed */
	assert_int_equal(
	    SEEK_TEXT("File a\n  Type bogus\nFile b\n  Type None\n", "b"), 0);
	assert_int_equal(rec.type, META_NONE);
	assert_int_equal(
	    SEEK_TEXT("File a\n  Type bogus\nFile b\n  Type None\n", "a"),
	    CB_ERR_CORRUPT);
	/* but their headers are checked, and kept in order */
	assert_int_equal(SEEK_TEXT("File b\n  Type None\nFile a\n  Type None\n"
				   "File c\n  Type None\n",
			     "c"),
	    CB_ERR_CORRUPT);
	assert_int_equal(SEEK_TEXT("File a\n  Type None\nFile a\n  Type None\n"
				   "File c\n  Type None\n",
			     "c"),
	    CB_ERR_CORRUPT);
	assert_int_equal(SEEK_TEXT("File a\\q\n  Type None\nFile c\n"
				   "  Type None\n",
			     "c"),
	    CB_ERR_CORRUPT);
	assert_int_equal(SEEK_TEXT("File a/../b\n  Type None\nFile c\n"
				   "  Type None\n",
			     "c"),
	    CB_ERR_CORRUPT);
	assert_int_equal(SEEK_TEXT("  Type None\nFile c\n  Type None\n", "c"),
	    CB_ERR_CORRUPT);
	/* every line is bounded and NUL-free */
	assert_int_equal(SEEK_TEXT("File a\n  Foo x\0y\nFile c\n  Type None\n",
			     "c"),
	    CB_ERR_CORRUPT);
	assert_int_equal(SEEK_TEXT("File a\n  Type None\nFile c\n  Type None",
			     "c"),
	    CB_ERR_CORRUPT);
#undef SEEK_TEXT
	{
		size_t big = 3 * 4096 + 100, k;
		char *t = malloc(big + 64);

		assert_non_null(t);
		k = (size_t)snprintf(t, 64, "File a\n  Foo ");
		memset(t + k, 'x', big);
		k += big;
		k += (size_t)snprintf(t + k, 64, "\nFile c\n  Type None\n");
		assert_int_equal(seek_text(t, k, MD_META, "c", &rec),
		    CB_ERR_CORRUPT);
		free(t);
	}
	meta_rec_clear(&rec);
}

/*
 * Mutated files: a record md_reader_next reads whole is found the same by
 * md_reader_seek; where it reads the whole file, a path not in it is not
 * found.  Anything else is at worst CB_ERR_CORRUPT.
 */
static void
test_seek_mutations(void **state)
{
	static const char *const probe[] = { ".", "blockdev", "dir1",
		"dir1/hl3", "dir1/a", "gone", "owned_unknown", "zzz" };
	size_t len = strlen(example_42), i, k;
	char *buf = malloc(len);
	struct meta_rec rec;
	struct recs rs;
	int it, r, whole;

	(void)state;
	assert_non_null(buf);
	meta_rec_init(&rec);
	srand(7);
	for (it = 0; it < 600; it++) {
		memcpy(buf, example_42, len);
		for (k = 0; k < 1 + (size_t)rand() % 3; k++)
			buf[(size_t)rand() % len] = "\n\\ \0/.-aF"[rand() % 9];
		whole = parse_text(buf, len, MD_META, &rs) == CB_ERR_EOF;
		for (i = 0; i < sizeof(probe) / sizeof(probe[0]); i++) {
			const struct meta_rec *want = NULL;

			for (k = 0; k < rs.n; k++) {
				if (strcmp(rs.v[k].path, probe[i]) == 0)
					want = &rs.v[k];
			}
			r = seek_text(buf, len, MD_META, probe[i], &rec);
			assert_true(
			    r == 0 || r == CB_ERR_EOF || r == CB_ERR_CORRUPT);
			if (want != NULL) {
				assert_int_equal(r, 0);
				assert_rec_same(&rec, want);
			} else if (whole)
				assert_int_equal(r, CB_ERR_EOF);
		}
		recs_free(&rs);
	}
	meta_rec_clear(&rec);
	free(buf);
}

/* ---- reader open ---- */

static void
test_reader_open(void **state)
{
	struct md_reader *rd = (struct md_reader *)1;
	const char *name;

	(void)state;
	assert_int_equal(md_reader_open(g_dirfd, "nonexistent", MD_META, &rd),
	    CB_ERR_SYS);
	assert_int_equal(errno, ENOENT);
	assert_null(rd);
	name = fresh("real");
	write_raw(name, "", 0);
	assert_int_equal(symlinkat(name, g_dirfd, "symlink"), 0);
	assert_int_equal(md_reader_open(g_dirfd, "symlink", MD_META, &rd),
	    CB_ERR_SYS);
	assert_int_equal(errno, ELOOP);
	assert_int_equal(mkfifoat(g_dirfd, "fifo", 0600), 0);
	assert_int_equal(md_reader_open(g_dirfd, "fifo", MD_META, &rd),
	    CB_ERR_CORRUPT);
	assert_int_equal(mkdirat(g_dirfd, "sub", 0700), 0);
	assert_int_equal(md_reader_open(g_dirfd, "sub", MD_META, &rd),
	    CB_ERR_CORRUPT);
	assert_int_equal(md_reader_open(g_dirfd, "sub/x", MD_META, &rd),
	    CB_ERR_SYS);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(md_reader_open(g_dirfd, "..", MD_META, &rd),
	    CB_ERR_SYS);
	assert_int_equal(md_reader_open(g_dirfd, "", MD_META, &rd), CB_ERR_SYS);
	assert_int_equal(md_reader_open(g_dirfd, name, MD_META, &rd), 0);
	assert_int_equal(md_reader_line(rd), 0);
	md_reader_free(rd);
	md_reader_free(NULL);
}

static void
test_reader_line(void **state)
{
	static const char text[] = "File .\n  Type dir\n  ModTime 1\n"
				   "  Uid 0\n  Gid 0\n"
				   "File a\n" GOODREC "File c\n  Type bogus\n";
	struct md_reader *rd;
	struct meta_rec rec;
	const char *name = fresh("lines");

	(void)state;
	write_raw(name, text, strlen(text));
	assert_int_equal(md_reader_open(g_dirfd, name, MD_META, &rd), 0);
	meta_rec_init(&rec);
	assert_int_equal(md_reader_next(rd, &rec), 0);
	assert_int_equal(md_reader_line(rd), 1);
	assert_int_equal(md_reader_next(rd, &rec), 0);
	assert_int_equal(md_reader_line(rd), 6);
	assert_int_equal(md_reader_next(rd, &rec), CB_ERR_CORRUPT);
	assert_int_equal(md_reader_line(rd), 13);
	assert_null(rec.path);
	md_reader_free(rd);
}

/* ---- writer ---- */

static int
exists(const char *name, struct stat *st)
{
	return fstatat(g_dirfd, name, st, AT_SYMLINK_NOFOLLOW) == 0;
}

static void
test_writer_maybe_gzip(void **state)
{
	struct md_writer *w;
	struct stat st;
	char final[256], gzname[300], cmd[700], *out;
	const char *name;
	size_t len;

	(void)state;
	/* nothing written: empty plain file, no .gz */
	name = fresh("extended_attributes");
	snprintf(gzname, sizeof(gzname), "%s.gz", name);
	assert_int_equal(md_writer_open(g_dirfd, name, 1, &w), 0);
	assert_false(exists(name, &st));
	assert_int_equal(md_writer_write(w, "", 0), 0);
	assert_false(exists(name, &st));
	assert_false(exists(gzname, &st));
	assert_int_equal(md_writer_close(w, final, sizeof(final)), 0);
	assert_string_equal(final, name);
	assert_true(exists(name, &st));
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, 0);
	assert_false(exists(gzname, &st));

	/* written: only the .gz, readable by gzip(1) */
	name = fresh("mirror_metadata");
	snprintf(gzname, sizeof(gzname), "%s.gz", name);
	assert_int_equal(md_writer_open(g_dirfd, name, 1, &w), 0);
	assert_int_equal(md_writer_write(w, example_42, 100), 0);
	assert_true(exists(gzname, &st));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(md_writer_write(w, example_42 + 100,
			     strlen(example_42) - 100),
	    0);
	assert_int_equal(md_writer_close(w, NULL, 0), 0);
	assert_false(exists(name, &st));
	snprintf(cmd, sizeof(cmd), "gzip -dc '%s/%s' > '%s/%s.out'", g_dir,
	    gzname, g_dir, name);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s.out", name);
	out = read_raw(cmd, &len);
	assert_int_equal(len, strlen(example_42));
	assert_memory_equal(out, example_42, len);
	free(out);

	/* uncompressed writer */
	name = fresh("plain");
	assert_int_equal(md_writer_open(g_dirfd, name, 0, &w), 0);
	assert_int_equal(md_writer_write(w, "abc\n", 4), 0);
	assert_int_equal(md_writer_close(w, final, sizeof(final)), 0);
	assert_string_equal(final, name);
	out = read_raw(name, &len);
	assert_int_equal(len, 4);
	assert_memory_equal(out, "abc\n", 4);
	free(out);
}

static void
test_writer_errors(void **state)
{
	struct md_writer *w;
	struct stat st;
	char small[8], gzname[300];
	const char *name;

	(void)state;
	/* O_EXCL: an existing file is never replaced */
	name = fresh("exists");
	write_raw(name, "old", 3);
	assert_int_equal(md_writer_open(g_dirfd, name, 0, &w), 0);
	assert_int_equal(md_writer_write(w, "new", 3), CB_ERR_SYS);
	assert_int_equal(errno, EEXIST);
	assert_int_equal(md_writer_write(w, "new", 3), CB_ERR_SYS);
	assert_int_equal(md_writer_close(w, NULL, 0), CB_ERR_SYS);
	assert_true(exists(name, &st));
	assert_int_equal(st.st_size, 3);
	assert_int_equal(md_writer_open(g_dirfd, name, 1, &w), 0);
	assert_int_equal(md_writer_close(w, NULL, 0), CB_ERR_SYS);
	assert_int_equal(errno, EEXIST);
	assert_true(exists(name, &st));
	assert_int_equal(st.st_size, 3);

	/* a symlink at the target name is not followed */
	name = fresh("link");
	snprintf(gzname, sizeof(gzname), "%s.gz", name);
	assert_int_equal(symlinkat("/tmp/should-not-exist", g_dirfd, gzname),
	    0);
	assert_int_equal(md_writer_open(g_dirfd, name, 1, &w), 0);
	assert_int_equal(md_writer_write(w, "x", 1), CB_ERR_SYS);
	md_writer_abort(w);
	assert_true(exists(gzname, &st));
	assert_true(S_ISLNK(st.st_mode));

	/* abort removes the partial file */
	name = fresh("aborted");
	snprintf(gzname, sizeof(gzname), "%s.gz", name);
	assert_int_equal(md_writer_open(g_dirfd, name, 1, &w), 0);
	assert_int_equal(md_writer_write(w, "data", 4), 0);
	assert_true(exists(gzname, &st));
	md_writer_abort(w);
	assert_false(exists(gzname, &st));
	assert_false(exists(name, &st));
	md_writer_abort(NULL);

	/* final_name too small: failure, nothing left */
	name = fresh("toolong");
	assert_int_equal(md_writer_open(g_dirfd, name, 0, &w), 0);
	assert_int_equal(md_writer_write(w, "data", 4), 0);
	assert_int_equal(md_writer_close(w, small, sizeof(small)),
	    CB_ERR_TOO_LARGE);
	assert_false(exists(name, &st));

	/* bad names */
	assert_int_equal(md_writer_open(g_dirfd, "a/b", 0, &w), CB_ERR_SYS);
	assert_int_equal(md_writer_open(g_dirfd, "..", 0, &w), CB_ERR_SYS);
	assert_int_equal(md_writer_open(-1, "x", 0, &w), CB_ERR_SYS);
}

/* ---- merged snapshot ---- */

static const char snap_meta[] =
    "File .\n  Type dir\n  ModTime 1\n  Uid 0\n  Gid 0\n"
    "File a\n" GOODREC "File a/b\n" GOODREC "File a-b\n" GOODREC
    "File c\n" GOODREC;

static struct md_snap *
open_snap(const char *meta, const char *ea, const char *acl)
{
	char mname[64], ename[64], aname[64];
	struct md_snap *s;

	snprintf(mname, sizeof(mname), "%s",
	    write_md("mm", meta, strlen(meta), 1));
	if (ea != NULL)
		snprintf(ename, sizeof(ename), "%s",
		    write_md("ea", ea, strlen(ea), 1));
	if (acl != NULL)
		snprintf(aname, sizeof(aname), "%s",
		    write_md("acl", acl, strlen(acl), 0));
	assert_int_equal(md_snap_open(g_dirfd, mname, ea ? ename : NULL,
			     acl ? aname : NULL, &s),
	    0);
	return s;
}

static int
snap_count(struct md_snap *s, int *nea, int *nacl)
{
	struct meta_rec rec;
	int r, n = 0;

	*nea = *nacl = 0;
	meta_rec_init(&rec);
	while ((r = md_snap_next(s, &rec)) == 0) {
		n++;
		*nea += rec.nxattrs > 0;
		*nacl += rec.nacl > 0;
	}
	assert_null(rec.path);
	return r;
}

static void
test_snap_merge(void **state)
{
	static const char ea[] = "# file: .\nuser.root=0sAQ==\n"
				 "# file: a/b\nuser.x=0sYmFy\nuser.e\n"
				 "# file: c\nuser.c\n";
	static const char acl[] = "# file: a-b\nuser::rwx\nuser:7:r--\n"
				  "group::r-x\nmask::r--\nother::---\n";
	struct md_snap *s;
	struct meta_rec rec;
	int nea, nacl;

	(void)state;
	s = open_snap(snap_meta, ea, acl);
	meta_rec_init(&rec);
	assert_int_equal(md_snap_next(s, &rec), 0);
	assert_string_equal(rec.path, ".");
	assert_int_equal(rec.nxattrs, 1);
	assert_string_equal(rec.xattrs[0].name, "user.root");
	assert_int_equal(md_snap_next(s, &rec), 0);
	assert_string_equal(rec.path, "a");
	assert_int_equal(rec.nxattrs, 0);
	assert_int_equal(rec.nacl, 0);
	assert_int_equal(md_snap_next(s, &rec), 0);
	assert_string_equal(rec.path, "a/b");
	assert_int_equal(rec.type, META_REG);
	assert_int_equal(rec.nxattrs, 2);
	assert_string_equal(rec.xattrs[0].name, "user.e");
	assert_string_equal(rec.xattrs[1].name, "user.x");
	assert_memory_equal(rec.xattrs[1].value, "bar", 3);
	assert_int_equal(md_snap_next(s, &rec), 0);
	assert_string_equal(rec.path, "a-b");
	assert_int_equal(rec.nxattrs, 0);
	assert_int_equal(rec.nacl, 5);
	assert_string_equal(rec.acl[1].qual, "7");
	assert_int_equal(md_snap_next(s, &rec), 0);
	assert_string_equal(rec.path, "c");
	assert_int_equal(rec.nxattrs, 1);
	assert_int_equal(md_snap_next(s, &rec), CB_ERR_EOF);
	assert_int_equal(md_snap_next(s, &rec), CB_ERR_EOF);
	meta_rec_clear(&rec);
	md_snap_free(s);

	/* no EA / ACL files */
	s = open_snap(snap_meta, NULL, NULL);
	assert_int_equal(snap_count(s, &nea, &nacl), CB_ERR_EOF);
	assert_int_equal(nea + nacl, 0);
	md_snap_free(s);

	/* empty (MaybeGzip) side files */
	s = open_snap(snap_meta, "", "");
	assert_int_equal(snap_count(s, &nea, &nacl), CB_ERR_EOF);
	md_snap_free(s);

	/* EA path not in the metadata, in the middle and after the end */
	s = open_snap(snap_meta, "# file: a/a\nuser.x\n", NULL);
	assert_int_equal(snap_count(s, &nea, &nacl), CB_ERR_CORRUPT);
	md_snap_free(s);
	s = open_snap(snap_meta, "# file: c\nuser.x\n# file: d\nuser.x\n",
	    NULL);
	assert_int_equal(snap_count(s, &nea, &nacl), CB_ERR_CORRUPT);
	assert_int_equal(nea, 1);
	md_snap_free(s);
	s = open_snap(snap_meta, NULL,
	    "# file: zz\nuser::rwx\ngroup::rwx\n"
	    "other::rwx\nmask::rwx\n");
	assert_int_equal(snap_count(s, &nea, &nacl), CB_ERR_CORRUPT);
	md_snap_free(s);
	/* corrupt side file */
	s = open_snap(snap_meta, "# file: a\nuser.x=0s!\n", NULL);
	assert_int_equal(snap_count(s, &nea, &nacl), CB_ERR_CORRUPT);
	md_snap_free(s);

	assert_int_equal(md_snap_open(g_dirfd, "missing", NULL, NULL, &s),
	    CB_ERR_SYS);
	assert_null(s);
	md_snap_free(NULL);
}

/* ---- interoperability with rdiff-backup itself ---- */

/* Find "<prefix>.<T>.snapshot[.gz]" in ${dfd} with T == 1700000000. */
static int
find_snapshot(int dfd, const char *prefix, char *out, size_t cap)
{
	struct incname in;
	struct dirent *de;
	size_t plen = strlen(prefix);
	DIR *d = fdopendir(dup(dfd));
	int found = 0;

	assert_non_null(d);
	rewinddir(d); /* the duplicate shares the offset of ${dfd} */
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if (strncmp(de->d_name, prefix, plen) != 0 ||
		    incname_parse(de->d_name, len, &in) != 0)
			continue;
		assert_int_equal(in.baselen, plen);
		assert_int_equal(in.time, 1700000000);
		assert_int_equal(in.ext, INC_SNAPSHOT);
		snprintf(out, cap, "%s", de->d_name);
		found = 1;
	}
	closedir(d);
	return found;
}

static void
make_tree(const char *src, int *have_xattr)
{
	struct timeval tv[2] = { { 1600000000, 0 }, { 1600000000, 0 } };
	char p[512];
	FILE *f;

	assert_int_equal(mkdir(src, 0755), 0);
	snprintf(p, sizeof(p), "%s/dir", src);
	assert_int_equal(mkdir(p, 0750), 0);
	snprintf(p, sizeof(p), "%s/dir/sp ace\\n", src);
	assert_non_null(f = fopen(p, "w"));
	fclose(f);
	snprintf(p, sizeof(p), "%s/reg", src);
	assert_non_null(f = fopen(p, "w"));
	fputs("hello\n", f);
	fclose(f);
	assert_int_equal(chmod(p, 0640), 0);
	assert_int_equal(utimes(p, tv), 0);
	snprintf(p, sizeof(p), "%s/link", src);
	assert_int_equal(symlink("reg", p), 0);
	snprintf(p, sizeof(p), "%s/xa", src);
	assert_non_null(f = fopen(p, "w"));
	fclose(f);
	*have_xattr = setxattr(p, "user.foo", "bar", 3, 0) == 0 &&
	    setxattr(p, "user.sp ace=eq", "\0\377\n", 3, 0) == 0 &&
	    setxattr(p, "user.odd empty=", "", 0, 0) == 0;
	snprintf(p, sizeof(p), "%s/dir", src);
	assert_int_equal(utimes(p, tv), 0);
}

static void
check_interop_records(struct md_snap *s, int have_xattr)
{
	static const char *const order[] = { ".", "dir", "dir/sp ace\\n",
		"link", "reg", "xa" };
	struct meta_rec rec;
	size_t i;

	meta_rec_init(&rec);
	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		assert_int_equal(md_snap_next(s, &rec), 0);
		assert_string_equal(rec.path, order[i]);
		assert_int_equal(rec.uid, getuid());
		assert_int_equal(rec.gid, getgid());
		if (i == 1) {
			assert_int_equal(rec.type, META_DIR);
			assert_int_equal(rec.perms, 0750);
			assert_int_equal(rec.mtime, 1600000000);
		} else if (i == 3) {
			assert_int_equal(rec.type, META_SYM);
			assert_string_equal(rec.symdata, "reg");
			assert_int_equal(rec.perms, 0777);
		} else if (i == 4) {
			static const uint8_t sha[20] = { 0xf5, 0x72, 0xd3, 0x96,
				0xfa, 0xe9, 0x20, 0x66, 0x28, 0x71, 0x4f, 0xb2,
				0xce, 0x00, 0xf7, 0x2e, 0x94, 0xf2, 0x25,
				0x8f };

			assert_int_equal(rec.type, META_REG);
			assert_int_equal(rec.size, 6);
			assert_true(rec.has_sha1);
			assert_memory_equal(rec.sha1, sha, 20);
			assert_int_equal(rec.mtime, 1600000000);
			assert_int_equal(rec.perms, 0640);
			assert_int_equal(rec.nxattrs, 0);
		} else if (i == 5 && have_xattr) {
			assert_int_equal(rec.nxattrs, 3);
			assert_string_equal(rec.xattrs[0].name, "user.foo");
			assert_memory_equal(rec.xattrs[0].value, "bar", 3);
			/* written bare by rdiff-backup, read literally */
			assert_string_equal(rec.xattrs[1].name,
			    "user.odd empty=");
			assert_int_equal(rec.xattrs[1].vlen, 0);
			assert_string_equal(rec.xattrs[2].name,
			    "user.sp ace=eq");
			assert_int_equal(rec.xattrs[2].vlen, 3);
			assert_memory_equal(rec.xattrs[2].value, "\0\377\n", 3);
		}
	}
	assert_int_equal(md_snap_next(s, &rec), CB_ERR_EOF);
	meta_rec_clear(&rec);
}

static void
test_interop_rdiff_backup(void **state)
{
	char src[128], repo[128], cmd[512], mname[256], ename[256], aname[256];
	int dfd, have_xattr, have_ea, have_acl;
	struct md_snap *s;

	(void)state;
	if (system("rdiff-backup --version >/dev/null 2>&1") != 0)
		skip();
	snprintf(src, sizeof(src), "%s/rb_src", g_dir);
	snprintf(repo, sizeof(repo), "%s/rb_repo", g_dir);
	make_tree(src, &have_xattr);
	snprintf(cmd, sizeof(cmd),
	    "rdiff-backup --current-time 1700000000 backup '%s' '%s' "
	    ">/dev/null 2>&1",
	    src, repo);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s/rdiff-backup-data", repo);
	dfd = open(cmd, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(dfd >= 0);
	assert_true(
	    find_snapshot(dfd, "mirror_metadata", mname, sizeof(mname)));
	have_ea =
	    find_snapshot(dfd, "extended_attributes", ename, sizeof(ename));
	if (have_xattr)
		assert_true(have_ea);
	have_acl =
	    find_snapshot(dfd, "access_control_lists", aname, sizeof(aname));
	assert_int_equal(md_snap_open(dfd, mname, have_ea ? ename : NULL,
			     have_acl ? aname : NULL, &s),
	    0);
	check_interop_records(s, have_xattr && have_ea);
	md_snap_free(s);
	close(dfd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_examples),
		cmocka_unit_test(test_parse_tolerant),
		cmocka_unit_test(test_roundtrip_meta),
		cmocka_unit_test(test_roundtrip_ea_acl),
		cmocka_unit_test(test_parse_ea_acl_examples),
		cmocka_unit_test(test_corrupt_meta),
		cmocka_unit_test(test_corrupt_limits),
		cmocka_unit_test(test_corrupt_ea_acl),
		cmocka_unit_test(test_corrupt_ea_acl_limits),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_mutations),
		cmocka_unit_test(test_seek),
		cmocka_unit_test(test_seek_mutations),
		cmocka_unit_test(test_reader_open),
		cmocka_unit_test(test_reader_line),
		cmocka_unit_test(test_writer_maybe_gzip),
		cmocka_unit_test(test_writer_errors),
		cmocka_unit_test(test_snap_merge),
		cmocka_unit_test(test_interop_rdiff_backup),
	};

	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
