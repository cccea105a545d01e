#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cb_err.h"
#include "meta.h"
#include "strbuf.h"

/* ---- helpers ---- */

static void
set_path(struct meta_rec *r, const char *p)
{
	free(r->path);
	r->path = strdup(p);
	assert_non_null(r->path);
	r->pathlen = strlen(p);
}

static void
set_owner(struct meta_rec *r, uint32_t uid, const char *uname, uint32_t gid,
    const char *gname)
{
	r->uid = uid;
	r->gid = gid;
	free(r->uname);
	free(r->gname);
	r->uname = uname ? strdup(uname) : NULL;
	r->gname = gname ? strdup(gname) : NULL;
}

static void
set_hex(uint8_t out[20], const char *hex)
{
	unsigned int v;
	int i;

	for (i = 0; i < 20; i++) {
		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
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
		assert_non_null(x->value);
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
add_basic_acl(struct meta_rec *r, int is_default, int u, int g, int o)
{
	add_acl(r, is_default, ACLT_USER_OBJ, u, NULL);
	add_acl(r, is_default, ACLT_GROUP_OBJ, g, NULL);
	add_acl(r, is_default, ACLT_OTHER, o, NULL);
}

static void
expect_format(const struct meta_rec *r, const char *want)
{
	struct strbuf sb = STRBUF_INIT;

	assert_int_equal(meta_format(&sb, r), 0);
	assert_int_equal(sb.len, strlen(want));
	assert_memory_equal(sb.buf, want, sb.len);
	strbuf_release(&sb);
}

static int
sign(int v)
{
	return (v > 0) - (v < 0);
}

/* ---- path order ---- */

static void
test_path_cmp_list(void **state)
{
	/* section 4.3 plus a few more */
	static const char *const order[] = { ".", "A", "a", "a/a", "a/b",
		"a/b/c", "a-b", "a-b.d", "a-b.d/x", "a.b", "a0", "b", "z\x01",
		"\xe9", "\xe9/a", "\xff" };
	size_t n = sizeof(order) / sizeof(order[0]), i, j;

	(void)state;
	for (i = 0; i < n; i++) {
		for (j = 0; j < n; j++) {
			int c = meta_path_cmp(order[i], strlen(order[i]),
			    order[j], strlen(order[j]));

			assert_int_equal(sign(c), i < j ? -1 : (i > j));
		}
	}
	assert_true(meta_path_cmp("a", 1, "a/b", 3) < 0);
	assert_true(meta_path_cmp("a/b", 3, "a-b", 3) < 0);
	assert_true(meta_path_cmp("a-b", 3, "a.b", 3) < 0);
	assert_true(meta_path_cmp("a.b", 3, "a0", 2) < 0);
	assert_true(meta_path_cmp("A", 1, "a", 1) < 0);
}

/* A sub-tree is one contiguous run of the record order. */
static void
test_path_within(void **state)
{
	static const char *const order[] = { ".", "A", "a", "a/a", "a/b",
		"a/b/c", "a-b", "a-b.d", "a-b.d/x", "a.b", "a0", "b" };
	static const struct {
		const char *sub;
		int first, last; /* indexes of the run inside */
	} cases[] = {
		{ ".", 0, 11 },
		{ "a", 2, 5 },
		{ "a/b", 4, 5 },
		{ "a-b.d", 7, 8 },
		{ "b", 11, 11 },
	};
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (j = 0; j < sizeof(order) / sizeof(order[0]); j++) {
			int w = meta_path_within(cases[i].sub,
			    strlen(cases[i].sub), order[j], strlen(order[j]));
			int want = (int)j < cases[i].first ? -1 :
			    (int)j > cases[i].last	   ? 1 :
							     0;

			assert_int_equal(sign(w), want);
		}
	}
	/* a sub-tree that has no records: everything is before or after */
	assert_true(meta_path_within("a/ab", 4, "a/b", 3) > 0);
	assert_true(meta_path_within("a/ab", 4, "a/a", 3) < 0);
}

/* Reference: split into components, compare each as bytes. */
static int
ref_cmp(const char *a, const char *b)
{
	size_t la, lb;
	int c;

	if (strcmp(a, ".") == 0 || strcmp(b, ".") == 0)
		return (strcmp(b, ".") == 0) - (strcmp(a, ".") == 0);
	for (;;) {
		la = strcspn(a, "/");
		lb = strcspn(b, "/");
		c = memcmp(a, b, la < lb ? la : lb);
		if (c != 0)
			return sign(c);
		if (la != lb)
			return la < lb ? -1 : 1;
		if (a[la] == '\0' || b[lb] == '\0')
			return (a[la] != '\0') - (b[lb] != '\0');
		a += la + 1;
		b += lb + 1;
	}
}

static int
qsort_cmp(const void *x, const void *y)
{
	const char *a = *(const char *const *)x, *b = *(const char *const *)y;

	return meta_path_cmp(a, strlen(a), b, strlen(b));
}

static void
test_path_sort_random(void **state)
{
	static const char alpha[] = "aAb-._0z\x01\xe9\xff";
	enum { N = 600 };
	char *paths[N];
	size_t i, j, k, len;

	(void)state;
	srand(1234);
	for (i = 0; i < N; i++) {
		char buf[32];

		len = 0;
		k = 1 + (size_t)rand() % 3; /* components */
		for (j = 0; j < k; j++) {
			size_t m = 1 + (size_t)rand() % 3;

			if (j > 0)
				buf[len++] = '/';
			while (m-- > 0)
				buf[len++] =
				    alpha[rand() % (sizeof(alpha) - 1)];
		}
		buf[len] = '\0';
		if (i == N / 2)
			memcpy(buf, ".", 2);
		paths[i] = strdup(buf);
	}
	for (i = 0; i < N; i++) {
		for (j = 0; j < N; j += 7) {
			int c = meta_path_cmp(paths[i], strlen(paths[i]),
			    paths[j], strlen(paths[j]));

			assert_int_equal(sign(c), ref_cmp(paths[i], paths[j]));
		}
	}
	qsort(paths, N, sizeof(paths[0]), qsort_cmp);
	assert_string_equal(paths[0], ".");
	for (i = 1; i < N; i++)
		assert_true(ref_cmp(paths[i - 1], paths[i]) <= 0);
	for (i = 0; i < N; i++)
		free(paths[i]);
}

static void
test_is_child(void **state)
{
	(void)state;
	assert_true(meta_path_is_child(".", 1, "a", 1));
	assert_true(meta_path_is_child(".", 1, "a/b", 3));
	assert_false(meta_path_is_child(".", 1, ".", 1));
	assert_true(meta_path_is_child("a", 1, "a/b", 3));
	assert_true(meta_path_is_child("a", 1, "a/b/c", 5));
	assert_false(meta_path_is_child("a", 1, "a", 1));
	assert_false(meta_path_is_child("a", 1, "ab", 2));
	assert_false(meta_path_is_child("a", 1, "a-b/c", 5));
	assert_false(meta_path_is_child("a/b", 3, "a", 1));
	assert_false(meta_path_is_child("a/b", 3, ".", 1));
}

static void
test_name_relpath_ok(void **state)
{
	char name[300], path[META_PATH_MAX + 2];
	size_t i;

	(void)state;
	assert_true(meta_name_ok("a", 1));
	assert_true(meta_name_ok("...", 3));
	assert_true(meta_name_ok(".a", 2));
	assert_true(meta_name_ok("a b\n\\=:;\xe9", 9));
	assert_false(meta_name_ok("", 0));
	assert_false(meta_name_ok(".", 1));
	assert_false(meta_name_ok("..", 2));
	assert_false(meta_name_ok("a/b", 3));
	assert_false(meta_name_ok("a\0b", 3));
	memset(name, 'x', sizeof(name));
	assert_true(meta_name_ok(name, 255));
	assert_false(meta_name_ok(name, 256));

	assert_true(meta_relpath_ok(".", 1));
	assert_true(meta_relpath_ok("a", 1));
	assert_true(meta_relpath_ok("a/b/c", 5));
	assert_true(meta_relpath_ok("a/.b/..c", 8));
	assert_false(meta_relpath_ok("", 0));
	assert_false(meta_relpath_ok("/a", 2));
	assert_false(meta_relpath_ok("a/", 2));
	assert_false(meta_relpath_ok("a//b", 4));
	assert_false(meta_relpath_ok("a/./b", 5));
	assert_false(meta_relpath_ok("a/../b", 6));
	assert_false(meta_relpath_ok("..", 2));
	assert_false(meta_relpath_ok("./a", 3));
	assert_false(meta_relpath_ok("a\0", 2));
	for (i = 0; i < sizeof(path); i++)
		path[i] = (i % 200 == 199) ? '/' : 'p';
	assert_true(meta_relpath_ok(path, META_PATH_MAX));
	assert_false(meta_relpath_ok(path, META_PATH_MAX + 1));
	memset(name, 'x', 256);
	name[256] = '\0';
	assert_false(meta_relpath_ok(name, 256));
}

/* ---- mirror_metadata encoder ---- */

static void
test_format_examples(void **state)
{
	struct meta_rec r;

	(void)state;
	meta_rec_init(&r);
	set_path(&r, ".");
	r.type = META_DIR;
	r.mtime = 1795379900;
	set_owner(&r, 0, "root", 0, "root");
	r.perms = 0755;
	expect_format(&r,
	    "File .\n  Type dir\n  ModTime 1795379900\n"
	    "  Uid 0\n  Uname root\n  Gid 0\n  Gname root\n"
	    "  Permissions 493\n");

	set_path(&r, "dir1/hl3");
	r.type = META_REG;
	r.size = 19;
	r.nlink = 3;
	r.inode = 10970625;
	r.devloc = 65024;
	r.has_sha1 = 1;
	set_hex(r.sha1, "8abfd478412a28ece07926dafb09e24bdfb44164");
	r.mtime = 1672574400;
	r.perms = 0644;
	expect_format(&r,
	    "File dir1/hl3\n  Type reg\n  Size 19\n"
	    "  NumHardLinks 3\n  Inode 10970625\n"
	    "  DeviceLoc 65024\n"
	    "  SHA1Digest 8abfd478412a28ece07926dafb09e24bdfb44164\n"
	    "  ModTime 1672574400\n  Uid 0\n  Uname root\n"
	    "  Gid 0\n  Gname root\n  Permissions 420\n");
	meta_rec_clear(&r);

	set_path(&r, "blockdev");
	r.type = META_DEV;
	r.dev_kind = 'b';
	r.dev_major = 7;
	r.mtime = 12345; /* not written for devices */
	set_owner(&r, 0, "root", 0, "root");
	r.perms = 0644;
	expect_format(&r,
	    "File blockdev\n  Type dev\n  DeviceNum b 7 0\n"
	    "  Uid 0\n  Uname root\n  Gid 0\n  Gname root\n"
	    "  Permissions 420\n");
	meta_rec_clear(&r);
}

static void
test_format_examples2(void **state)
{
	struct meta_rec r;
	char longname[241];

	(void)state;
	meta_rec_init(&r);
	set_path(&r, "dangling");
	r.type = META_SYM;
	r.symdata = strdup("/nonexistent/target");
	r.symlen = strlen(r.symdata);
	r.mtime = 12345; /* not written for symlinks */
	set_owner(&r, 0, "root", 0, "root");
	r.perms = 0777;
	expect_format(&r,
	    "File dangling\n  Type sym\n"
	    "  SymData /nonexistent/target\n  Uid 0\n"
	    "  Uname root\n  Gid 0\n  Gname root\n"
	    "  Permissions 511\n");
	meta_rec_clear(&r);

	set_path(&r, "owned_unknown");
	r.type = META_REG;
	r.size = 6;
	r.nlink = 1; /* no hard link fields */
	r.inode = 99;
	r.has_sha1 = 1;
	set_hex(r.sha1, "4b9c0d0a42d2d0927ba5ab0484907af8b7cc462b");
	r.mtime = 1672574400;
	set_owner(&r, 1234, NULL, 5678, NULL);
	r.perms = 0644;
	expect_format(&r,
	    "File owned_unknown\n  Type reg\n  Size 6\n"
	    "  SHA1Digest 4b9c0d0a42d2d0927ba5ab0484907af8b7cc462b\n"
	    "  ModTime 1672574400\n  Uid 1234\n  Uname :\n"
	    "  Gid 5678\n  Gname :\n  Permissions 420\n");
	meta_rec_clear(&r);

	memset(longname, 'x', 240);
	longname[240] = '\0';
	set_path(&r, longname);
	r.type = META_REG;
	r.size = 14;
	r.has_sha1 = 1;
	set_hex(r.sha1, "f99e00946eec0297c611a812a8c9552b7a6a1bdf");
	r.mtime = 1672574400;
	set_owner(&r, 0, "root", 0, "root");
	r.perms = 0644;
	r.alt_inc = 1;
	{
		struct strbuf want = STRBUF_INIT;

		assert_int_equal(strbuf_addf(&want,
				     "File %s\n  Type reg\n  Size 14\n"
				     "  SHA1Digest "
				     "f99e00946eec0297c611a812a8c9552b7a6a1bdf"
				     "\n"
				     "  ModTime 1672574400\n  Uid 0\n"
				     "  Uname root\n  Gid 0\n  Gname root\n"
				     "  Permissions 420\n"
				     "  AlternateIncrementName 1\n",
				     longname),
		    0);
		expect_format(&r, want.buf);
		strbuf_release(&want);
	}
	meta_rec_clear(&r);
}

static void
test_format_types(void **state)
{
	struct meta_rec r;

	(void)state;
	meta_rec_init(&r);
	set_path(&r, "gone");
	r.type = META_NONE;
	r.size = 5; /* ignored */
	set_owner(&r, 1, "x", 2, "y");
	expect_format(&r, "File gone\n  Type None\n");
	meta_rec_clear(&r);

	set_path(&r, "p");
	r.type = META_FIFO;
	r.mtime = -5;
	set_owner(&r, 4294967295u, "n", 0, "g");
	r.perms = 04755;
	expect_format(&r,
	    "File p\n  Type fifo\n  ModTime -5\n"
	    "  Uid 4294967295\n  Uname n\n  Gid 0\n  Gname g\n"
	    "  Permissions 2541\n");
	r.type = META_SOCK;
	r.perms = 01777;
	r.alt_mirror = 7;
	r.alt_inc = 8; /* only one alternate name is written */
	expect_format(&r,
	    "File p\n  Type sock\n  ModTime -5\n"
	    "  Uid 4294967295\n  Uname n\n  Gid 0\n  Gname g\n"
	    "  Permissions 1023\n  AlternateMirrorName 7\n");
	r.type = META_DEV;
	r.dev_kind = 'c';
	r.dev_major = 4294967295u;
	r.dev_minor = 1;
	r.alt_mirror = r.alt_inc = 0;
	r.perms = 0600;
	expect_format(&r,
	    "File p\n  Type dev\n  DeviceNum c 4294967295 1\n"
	    "  Uid 4294967295\n  Uname n\n  Gid 0\n  Gname g\n"
	    "  Permissions 384\n");
	meta_rec_clear(&r);
}

static void
test_format_quoting(void **state)
{
	struct meta_rec r;

	(void)state;
	meta_rec_init(&r);
	set_path(&r, "back\\slash");
	expect_format(&r, "File back\\\\slash\n  Type None\n");
	set_path(&r, "new\nline");
	expect_format(&r, "File new\\nline\n  Type None\n");
	set_path(&r, "d/ sp\tace =:;#\xe9\\n\n");
	expect_format(&r, "File d/ sp\tace =:;#\xe9\\\\n\\n\n  Type None\n");
	r.type = META_SYM;
	r.symdata = strdup("../a\\b\nc d");
	r.symlen = strlen(r.symdata);
	set_owner(&r, 0, "root", 0, "root");
	r.perms = 0777;
	set_path(&r, "l");
	expect_format(&r,
	    "File l\n  Type sym\n  SymData ../a\\\\b\\nc d\n"
	    "  Uid 0\n  Uname root\n  Gid 0\n  Gname root\n"
	    "  Permissions 511\n");
	meta_rec_clear(&r);
}

static void
test_format_rejects(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	struct meta_rec r;

	(void)state;
	meta_rec_init(&r);
	assert_int_equal(strbuf_addstr(&sb, "keep"), 0);
	assert_int_equal(meta_format(&sb, &r), CB_ERR_BAD_VALUE); /* no path */
	set_path(&r, "a/../b");
	assert_int_equal(meta_format(&sb, &r), CB_ERR_BAD_VALUE);
	set_path(&r, "a");
	r.type = META_DIR;
	set_owner(&r, 0, "ro\not", 0, "root");
	assert_int_equal(meta_format(&sb, &r), CB_ERR_BAD_VALUE);
	set_owner(&r, 0, "", 0, "root");
	assert_int_equal(meta_format(&sb, &r), CB_ERR_BAD_VALUE);
	set_owner(&r, 0, "root", 0, "root");
	r.perms = 010000;
	assert_int_equal(meta_format(&sb, &r), CB_ERR_BAD_VALUE);
	r.perms = 0;
	r.type = META_DEV;
	r.dev_kind = 'x';
	assert_int_equal(meta_format(&sb, &r), CB_ERR_BAD_VALUE);
	r.type = META_SYM;
	assert_int_equal(meta_format(&sb, &r),
	    CB_ERR_BAD_VALUE); /* no target */
	r.type = (enum meta_type)99;
	assert_int_equal(meta_format(&sb, &r), CB_ERR_BAD_VALUE);
	assert_string_equal(sb.buf, "keep");
	assert_int_equal(sb.len, 4);
	strbuf_release(&sb);
	meta_rec_clear(&r);
}

/* ---- EA / ACL encoders ---- */

static void
expect_ea(const struct meta_rec *r, const char *want, size_t wlen)
{
	struct strbuf sb = STRBUF_INIT;

	assert_int_equal(meta_format_ea(&sb, r), 0);
	assert_int_equal(sb.len, wlen);
	if (wlen > 0)
		assert_memory_equal(sb.buf, want, wlen);
	strbuf_release(&sb);
}

static void
test_format_ea(void **state)
{
	static const char want[] = "# file: xattr_file\n"
				   "user.foo=0sYmFy\n"
				   "user.empty\n"
				   "user.sp\\040ace\\075eq=0sAP8K\n";
	struct meta_rec r;

	(void)state;
	meta_rec_init(&r);
	set_path(&r, "xattr_file");
	expect_ea(&r, "", 0); /* no attributes: nothing */
	add_xattr(&r, "user.foo", "bar", 3);
	add_xattr(&r, "user.empty", NULL, 0);
	add_xattr(&r, "user.sp ace=eq", "\x00\xff\n", 3);
	expect_ea(&r, want, strlen(want));
	meta_rec_clear(&r);

	set_path(&r, "caf\xc3\xa9/\xe2\x82\xac sp\n\\=x");
	add_xattr(&r, "user.a", "f", 1);
	add_xattr(&r, "user.b", "fo", 2);
	add_xattr(&r, "user.c", "foob", 4);
	add_xattr(&r, "user.d", "fooba", 5);
	add_xattr(&r, "user.e", "foobar", 6);
	add_xattr(&r, "user.\xe9t\xe9", NULL, 0); /* bare even if not ASCII */
	add_xattr(&r, "user.a b", NULL, 0);	  /* unsafe bare: quoted */
	add_xattr(&r, "user.a=b", NULL, 0);
	add_xattr(&r, "#user", NULL, 0);
	expect_ea(&r,
	    "# file: caf\\303\\251/\\342\\202\\254\\040sp\\012\\134\\075x\n"
	    "user.a=0sZg==\nuser.b=0sZm8=\nuser.c=0sZm9vYg==\n"
	    "user.d=0sZm9vYmE=\nuser.e=0sZm9vYmFy\nuser.\xe9t\xe9\n"
	    "user.a\\040b=0s\nuser.a\\075b=0s\n#user=0s\n",
	    strlen(
		"# file: caf\\303\\251/\\342\\202\\254\\040sp\\012\\134\\075x\n"
		"user.a=0sZg==\nuser.b=0sZm8=\nuser.c=0sZm9vYg==\n"
		"user.d=0sZm9vYmE=\nuser.e=0sZm9vYmFy\nuser.\xe9t\xe9\n"
		"user.a\\040b=0s\nuser.a\\075b=0s\n#user=0s\n"));
	meta_rec_clear(&r);

	set_path(&r, ".");
	add_xattr(&r, "user.x", "\x01", 1);
	expect_ea(&r, "# file: .\nuser.x=0sAQ==\n", 24);
	meta_rec_clear(&r);
}

static void
test_format_ea_rejects(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	struct meta_rec r;

	(void)state;
	meta_rec_init(&r);
	set_path(&r, "f");
	add_xattr(&r, "system.posix_acl_access", "x", 1);
	assert_int_equal(meta_format_ea(&sb, &r), CB_ERR_BAD_VALUE);
	meta_rec_clear(&r);
	set_path(&r, "f");
	add_xattr(&r, "", "x", 1);
	assert_int_equal(meta_format_ea(&sb, &r), CB_ERR_BAD_VALUE);
	meta_rec_clear(&r);
	set_path(&r, "../f");
	add_xattr(&r, "user.x", "x", 1);
	assert_int_equal(meta_format_ea(&sb, &r), CB_ERR_BAD_VALUE);
	assert_int_equal(sb.len, 0);
	strbuf_release(&sb);
	meta_rec_clear(&r);
}

static void
expect_acl(const struct meta_rec *r, const char *want)
{
	struct strbuf sb = STRBUF_INIT;

	assert_int_equal(meta_format_acl(&sb, r), 0);
	assert_int_equal(sb.len, strlen(want));
	if (sb.len > 0)
		assert_memory_equal(sb.buf, want, sb.len);
	strbuf_release(&sb);
}

static void
test_format_acl(void **state)
{
	struct meta_rec r;

	(void)state;
	meta_rec_init(&r);
	set_path(&r, "acl_dir");
	expect_acl(&r, "");
	add_acl(&r, 0, ACLT_USER_OBJ, 7, NULL);
	add_acl(&r, 0, ACLT_GROUP_OBJ, 5, NULL);
	add_acl(&r, 0, ACLT_OTHER, 5, NULL);
	assert_true(meta_acl_is_basic(&r));
	expect_acl(&r, "");
	meta_rec_clear(&r);

	set_path(&r, "acl_dir");
	add_acl(&r, 0, ACLT_USER_OBJ, 7, NULL);
	add_acl(&r, 0, ACLT_USER, 5, "1234");
	add_acl(&r, 0, ACLT_GROUP_OBJ, 5, NULL);
	add_acl(&r, 0, ACLT_MASK, 5, NULL);
	add_acl(&r, 0, ACLT_OTHER, 5, NULL);
	add_acl(&r, 1, ACLT_USER_OBJ, 7, NULL);
	add_acl(&r, 1, ACLT_USER, 7, "nobody");
	add_acl(&r, 1, ACLT_GROUP_OBJ, 5, NULL);
	add_acl(&r, 1, ACLT_MASK, 7, NULL);
	add_acl(&r, 1, ACLT_OTHER, 5, NULL);
	assert_false(meta_acl_is_basic(&r));
	expect_acl(&r,
	    "# file: acl_dir\n"
	    "user::rwx\n"
	    "user:1234:r-x\n"
	    "group::r-x\n"
	    "mask::r-x\n"
	    "other::r-x\n"
	    "default:user::rwx\n"
	    "default:user:nobody:rwx\n"
	    "default:group::r-x\n"
	    "default:mask::rwx\n"
	    "default:other::r-x\n");
	meta_rec_clear(&r);

	/* a directory with only a default ACL */
	set_path(&r, "d d");
	add_basic_acl(&r, 0, 6, 4, 0);
	add_basic_acl(&r, 1, 3, 2, 1);
	expect_acl(&r,
	    "# file: d\\040d\nuser::rw-\ngroup::r--\nother::---\n"
	    "default:user::-wx\ndefault:group::-w-\n"
	    "default:other::--x\n");
	meta_rec_clear(&r);

	set_path(&r, "g");
	add_basic_acl(&r, 0, 0, 0, 0);
	add_acl(&r, 0, ACLT_GROUP, 4, "staff");
	add_acl(&r, 0, ACLT_MASK, 4, NULL);
	expect_acl(&r,
	    "# file: g\nuser::---\ngroup::---\nother::---\n"
	    "group:staff:r--\nmask::r--\n");
	meta_rec_clear(&r);
}

static void
test_format_acl_rejects(void **state)
{
	static const char *const bad[] = { NULL, "", "a b", "a:b", "a#",
		"a\x1b", "a\x7f" };
	struct strbuf sb = STRBUF_INIT;
	struct meta_rec r;
	size_t i;

	(void)state;
	meta_rec_init(&r);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		set_path(&r, "f");
		add_basic_acl(&r, 0, 7, 7, 7);
		add_acl(&r, 0, ACLT_USER, 7, bad[i]);
		assert_int_equal(meta_format_acl(&sb, &r), CB_ERR_BAD_VALUE);
		meta_rec_clear(&r);
	}
	set_path(&r, "f");
	add_basic_acl(&r, 0, 7, 7, 7);
	add_acl(&r, 0, 64, 7, NULL);
	assert_int_equal(meta_format_acl(&sb, &r), CB_ERR_BAD_VALUE);
	assert_int_equal(sb.len, 0);
	strbuf_release(&sb);
	meta_rec_clear(&r);
}

/* ---- comparison and copy ---- */

static void
make_reg(struct meta_rec *r)
{
	meta_rec_init(r);
	set_path(r, "f");
	r->type = META_REG;
	r->size = 10;
	r->mtime = 1000;
	set_owner(r, 1, "u", 2, "g");
	r->perms = 0644;
	add_xattr(r, "user.a", "v", 1);
	add_basic_acl(r, 0, 6, 4, 4);
	add_acl(r, 0, ACLT_USER, 4, "bob");
	add_acl(r, 0, ACLT_MASK, 4, NULL);
}

static void
test_attr_equal(void **state)
{
	struct meta_rec a, b;

	(void)state;
	make_reg(&a);
	make_reg(&b);
	assert_true(meta_attr_equal(&a, &b));
#define CHANGED(stmt)                                  \
	do {                                           \
		stmt;                                  \
		assert_false(meta_attr_equal(&a, &b)); \
		assert_false(meta_attr_equal(&b, &a)); \
		meta_rec_clear(&b);                    \
		make_reg(&b);                          \
	} while (0)
	CHANGED(b.size = 11);
	CHANGED(b.mtime = 1001);
	CHANGED(b.uid = 9);
	CHANGED(b.gid = 9);
	CHANGED(b.perms = 0600);
	CHANGED(b.type = META_DIR);
	CHANGED(set_owner(&b, 1, "v", 2, "g"));
	CHANGED(b.xattrs[0].value[0] = 'w');
	CHANGED(add_xattr(&b, "user.b", NULL, 0));
	CHANGED(b.acl[3].qual[0] = 'B');
	CHANGED(b.acl[4].perm = 6);
	CHANGED((b.nlink = 2, b.inode = 5, b.devloc = 6));
	/* ignored: names when absent on one side, sha1, nlink 0/1, alt names */
	set_owner(&b, 1, NULL, 2, NULL);
	b.has_sha1 = 1;
	b.nlink = 1;
	b.inode = 77;
	b.alt_inc = 3;
	assert_true(meta_attr_equal(&a, &b));
	assert_true(meta_attr_equal(&b, &a));
	/* hard links: inode and devloc compared */
	a.nlink = 2;
	a.inode = 5;
	a.devloc = 6;
	b.nlink = 3;
	b.inode = 5;
	b.devloc = 6;
	assert_true(meta_attr_equal(&a, &b));
	b.devloc = 7;
	assert_false(meta_attr_equal(&a, &b));
	meta_rec_clear(&a);
	meta_rec_clear(&b);
}

/* Keep the first ${n} ACL entries. */
static void
drop_acl(struct meta_rec *r, size_t n)
{
	while (r->nacl > n)
		free(r->acl[--r->nacl].qual);
}

static void
test_attr_equal_types(void **state)
{
	struct meta_rec a, b;

	(void)state;
	meta_rec_init(&a);
	meta_rec_init(&b);
	/* ACL: no entries == the three basic entries */
	make_reg(&a);
	make_reg(&b);
	drop_acl(&a, 3);
	drop_acl(&b, 0);
	assert_true(meta_acl_is_basic(&a));
	assert_true(meta_acl_is_basic(&b));
	assert_true(meta_attr_equal(&a, &b));
	add_acl(&b, 1, ACLT_USER_OBJ, 7, NULL);
	assert_false(meta_acl_is_basic(&b));
	assert_false(meta_attr_equal(&a, &b));
	meta_rec_clear(&a);
	meta_rec_clear(&b);

	/* symlinks: target compared, mtime / owner / size not */
	set_path(&a, "l");
	a.type = META_SYM;
	a.symdata = strdup("t");
	a.symlen = 1;
	set_owner(&a, 1, "u", 1, "g");
	a.perms = 0777;
	assert_int_equal(meta_rec_copy(&b, &a), 0);
	b.mtime = 5;
	b.size = 3;
	set_owner(&b, 2, "x", 3, "y");
	assert_true(meta_attr_equal(&a, &b));
	free(b.symdata);
	b.symdata = strdup("u");
	assert_false(meta_attr_equal(&a, &b));
	meta_rec_clear(&b);

	/* devices: numbers compared, mtime not */
	a.type = META_DEV;
	a.dev_kind = 'c';
	a.dev_major = 1;
	a.dev_minor = 3;
	assert_int_equal(meta_rec_copy(&b, &a), 0);
	b.mtime = 99;
	assert_true(meta_attr_equal(&a, &b));
	b.dev_kind = 'b';
	assert_false(meta_attr_equal(&a, &b));
	b.dev_kind = 'c';
	b.dev_minor = 4;
	assert_false(meta_attr_equal(&a, &b));
	b.dev_minor = 3;
	b.uid = 7;
	assert_false(meta_attr_equal(&a, &b));
	meta_rec_clear(&b);

	/* directories: size ignored */
	a.type = META_DIR;
	assert_int_equal(meta_rec_copy(&b, &a), 0);
	b.size = 4096;
	assert_true(meta_attr_equal(&a, &b));
	a.type = b.type = META_NONE;
	b.perms = 1;
	assert_true(meta_attr_equal(&a, &b));
	meta_rec_clear(&a);
	meta_rec_clear(&b);
}

static void
test_copy(void **state)
{
	struct meta_rec a, b;

	(void)state;
	make_reg(&a);
	meta_rec_init(&b);
	set_path(&b, "old"); /* dst contents are released */
	a.has_sha1 = 1;
	a.sha1[19] = 0xab;
	a.alt_mirror = 4;
	add_xattr(&a, "user.empty", NULL, 0);
	assert_int_equal(meta_rec_copy(&b, &a), 0);
	assert_true(meta_attr_equal(&a, &b));
	assert_string_equal(b.path, "f");
	assert_int_equal(b.pathlen, 1);
	assert_ptr_not_equal(a.path, b.path);
	assert_ptr_not_equal(a.uname, b.uname);
	assert_ptr_not_equal(a.xattrs, b.xattrs);
	assert_ptr_not_equal(a.xattrs[0].value, b.xattrs[0].value);
	assert_null(b.xattrs[1].value);
	assert_ptr_not_equal(a.acl[3].qual, b.acl[3].qual);
	assert_string_equal(b.acl[3].qual, "bob");
	assert_int_equal(b.sha1[19], 0xab);
	assert_int_equal(b.alt_mirror, 4);
	meta_rec_clear(&a);
	assert_string_equal(b.uname, "u");
	meta_rec_clear(&b);
	assert_null(b.path);
	assert_int_equal(b.nxattrs, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_cmp_list),
		cmocka_unit_test(test_path_within),
		cmocka_unit_test(test_path_sort_random),
		cmocka_unit_test(test_is_child),
		cmocka_unit_test(test_name_relpath_ok),
		cmocka_unit_test(test_format_examples),
		cmocka_unit_test(test_format_examples2),
		cmocka_unit_test(test_format_types),
		cmocka_unit_test(test_format_quoting),
		cmocka_unit_test(test_format_rejects),
		cmocka_unit_test(test_format_ea),
		cmocka_unit_test(test_format_ea_rejects),
		cmocka_unit_test(test_format_acl),
		cmocka_unit_test(test_format_acl_rejects),
		cmocka_unit_test(test_attr_equal),
		cmocka_unit_test(test_attr_equal_types),
		cmocka_unit_test(test_copy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
