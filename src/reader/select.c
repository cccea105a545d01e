/*
 * File selection, rdiff-backup 2.2's rules (its selection.py was read for
 * the facts; this is an independent implementation):
 *
 * - Each option is a selection function answering exclude, include,
 *   scan (directories) or nothing.  The first include or exclude
 *   decides; an exclude after a scan answers scan.  No answer: include.
 * - A glob is turned into a POSIX extended regexp the way rdiff-backup
 *   turns it into a Python one ("**" any characters, "*" and "?" none
 *   that is '/', "[...]" a class, "\" quotes) and matched against the
 *   whole path as written, also matching everything below a matching
 *   directory.  Include globs scan every directory matching a leading
 *   part of the glob (up to a "**").
 * - A glob without special characters, and each filelist line, is a
 *   path compared component by component below SOURCE: an include
 *   includes the path, its ancestors and (plain options only) its
 *   contents; an exclude excludes the path and its contents.
 * - Regexps search the whole path (POSIX extended syntax here, Python's
 *   in rdiff-backup: the common subset behaves the same).
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cb_err.h"
#include "log.h"
#include "meta.h"
#include "select.h"
#include "strbuf.h"

enum sf_kind {
	SF_ALL,	     /* "**" */
	SF_GLOB,     /* regexps for the match and the scan */
	SF_TUPLE,    /* a plain path below the base */
	SF_FILELIST, /* sorted plain paths, each with its own sign */
	SF_REGEXP,
	SF_PRESENT,
	SF_OTHERFS,
	SF_DEV,
	SF_SYM,
	SF_SOCK,
	SF_FIFO,
	SF_SPECIAL,
	SF_MINSIZE,
	SF_MAXSIZE,
};

struct fl_ent {
	char *rel; /* "" is the root */
	size_t len;
	int include;
};

struct sf {
	enum sf_kind kind;
	int include;	 /* the answer when it matches */
	int can_exclude; /* for the "last option only includes" check */
	regex_t re, scan;
	int has_re, has_scan;
	char *rel; /* SF_TUPLE; SF_PRESENT: the file name */
	size_t rlen;
	struct fl_ent *ents;
	size_t nents;
	uint64_t size;
};

struct select {
	char *base; /* SOURCE as written, trailing '/' removed */
	size_t blen;
	struct sf *sfs;
	size_t n, cap;
	dev_t root_dev;
	struct strbuf path; /* scratch: base + "/" + rel */
};

static const struct {
	const char *name;
	enum sf_kind kind;
	int include;
	int noarg;
} options[] = {
	{ "exclude", SF_GLOB, 0, 0 },
	{ "include", SF_GLOB, 1, 0 },
	{ "exclude-regexp", SF_REGEXP, 0, 0 },
	{ "include-regexp", SF_REGEXP, 1, 0 },
	{ "exclude-if-present", SF_PRESENT, 0, 0 },
	{ "include-if-present", SF_PRESENT, 1, 0 },
	{ "exclude-filelist", SF_FILELIST, 0, 0 },
	{ "include-filelist", SF_FILELIST, 1, 0 },
	{ "exclude-globbing-filelist", SF_GLOB, 0, 0 },
	{ "include-globbing-filelist", SF_GLOB, 1, 0 },
	{ "min-file-size", SF_MINSIZE, 0, 0 },
	{ "max-file-size", SF_MAXSIZE, 0, 0 },
	{ "exclude-other-filesystems", SF_OTHERFS, 0, 1 },
	{ "exclude-device-files", SF_DEV, 0, 1 },
	{ "exclude-symbolic-links", SF_SYM, 0, 1 },
	{ "include-symbolic-links", SF_SYM, 1, 1 },
	{ "exclude-sockets", SF_SOCK, 0, 1 },
	{ "exclude-fifos", SF_FIFO, 0, 1 },
	{ "exclude-special-files", SF_SPECIAL, 0, 1 },
	{ "include-special-files", SF_SPECIAL, 1, 1 },
};

#define NOPTIONS (sizeof(options) / sizeof(options[0]))

const char *
select_option(size_t i, int *noarg)
{
	if (i >= NOPTIONS)
		return NULL;
	*noarg = options[i].noarg;
	return options[i].name;
}

int
select_is_option(const char *opt)
{
	size_t i;

	for (i = 0; i < NOPTIONS; i++)
		if (strcmp(opt, options[i].name) == 0)
			return options[i].noarg ? 2 : 1;
	return 0;
}

int
select_new(const char *base, struct select **out)
{
	struct select *s = calloc(1, sizeof(*s));
	size_t len = strlen(base);

	if (s == NULL || (s->base = strdup(base)) == NULL) {
		free(s);
		return CB_ERR_NOMEM;
	}
	while (len > 1 && s->base[len - 1] == '/')
		s->base[--len] = '\0';
	s->blen = len;
	strbuf_init(&s->path);
	*out = s;
	return 0;
}

static void
sf_release(struct sf *f)
{
	size_t i;

	if (f->has_re)
		regfree(&f->re);
	if (f->has_scan)
		regfree(&f->scan);
	free(f->rel);
	for (i = 0; i < f->nents; i++)
		free(f->ents[i].rel);
	free(f->ents);
}

void
select_free(struct select *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->n; i++)
		sf_release(&s->sfs[i]);
	free(s->sfs);
	free(s->base);
	strbuf_release(&s->path);
	free(s);
}

int
select_active(const struct select *s)
{
	return s != NULL && s->n > 0;
}

static int fail(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
	return CB_ERR_BAD_VALUE;
}

/* ---- globs ------------------------------------------------------------ */

static int
add_escaped(struct strbuf *re, char c)
{
	if (strchr(".[]()*+?{}|^$\\", c) != NULL && c != '\0' &&
	    strbuf_addch(re, '\\') != 0)
		return CB_ERR_NOMEM;
	return strbuf_addch(re, c);
}

/* The extended regexp for the glob ${g} (${n} bytes), appended to ${re}. */
static int
glob_to_re(const char *g, size_t n, struct strbuf *re)
{
	size_t i = 0, j;
	int r = 0;

	while (i < n && r == 0) {
		char c = g[i++];

		if (c == '\\')
			r = add_escaped(re, i < n ? g[i++] : '\\');
		else if (c == '*' && i < n && g[i] == '*') {
			i++;
			r = strbuf_addstr(re, ".*");
		} else if (c == '*')
			r = strbuf_addstr(re, "[^/]*");
		else if (c == '?')
			r = strbuf_addstr(re, "[^/]");
		else if (c == '[') {
			j = i;
			if (j < n && (g[j] == '!' || g[j] == '^'))
				j++;
			if (j < n && g[j] == ']')
				j++;
			while (j < n && g[j] != ']')
				j++;
			if (j >= n) {
				r = strbuf_addstr(re, "\\[");
				continue;
			}
			r = strbuf_addch(re, '[');
			if (r == 0 && (g[i] == '!' || g[i] == '^')) {
				r = strbuf_addch(re, '^');
				i++;
			}
			if (r == 0)
				r = strbuf_add(re, g + i, j - i);
			if (r == 0)
				r = strbuf_addch(re, ']');
			i = j + 1;
		} else
			r = add_escaped(re, c);
	}
	return r;
}

static int
is_glob(const char *g)
{
	return strpbrk(g, "*?[\\") != NULL ||
	    strncasecmp(g, "ignorecase:", 11) == 0;
}

static int
compile(regex_t *re, const struct strbuf *src, int icase, char *err, size_t cap,
    const char *what)
{
	int rc = regcomp(re, src->buf,
	    REG_EXTENDED | REG_NOSUB | (icase ? REG_ICASE : 0));

	if (rc != 0) {
		char msg[128];

		regerror(rc, re, msg, sizeof(msg));
		return fail(err, cap, "bad expression '%s': %s", what, msg);
	}
	return 0;
}

static int
re_finds(const regex_t *re, const char *s)
{
	return regexec(re, s, 0, NULL, 0) == 0;
}

static const char *
full_path(struct select *s, const char *rel, size_t rlen)
{
	strbuf_reset(&s->path);
	if (strbuf_add(&s->path, s->base, s->blen) != 0 ||
	    (rlen > 0 &&
		(strbuf_addch(&s->path, '/') != 0 ||
		    strbuf_add(&s->path, rel, rlen) != 0)))
		return NULL;
	return s->path.buf;
}

static int
add_glob(struct select *s, struct sf *f, const char *g, char *err, size_t cap)
{
	struct strbuf re, scan;
	const char *orig = g, *dd;
	size_t n, i, start;
	int icase = 0, r;

	if (strncasecmp(g, "ignorecase:", 11) == 0) {
		icase = 1;
		g += 11;
	}
	strbuf_init(&re);
	strbuf_init(&scan);
	n = strlen(g);
	r = strbuf_addch(&re, '^');
	if (r == 0)
		r = glob_to_re(g, n, &re);
	if (r == 0)
		r = strbuf_addstr(&re, "($|/)");
	/* Scan: the leading parts of the glob, up to and with a "**". */
	if ((dd = strstr(g, "**")) != NULL)
		n = (size_t)(dd - g) + 2;
	for (i = 1; i + 1 < n; i++)
		if (g[i] == '/' && g[i - 1] == '/') {
			r = fail(err, cap, "consecutive '/'s in the glob '%s'",
			    orig);
			goto out;
		}
	if (r == 0)
		r = strbuf_addstr(&scan, "^(");
	for (start = 0, i = 0; r == 0 && i <= n; i++) {
		if (i < n && g[i] != '/')
			continue;
		if (start > 0)
			r = strbuf_addch(&scan, '|');
		/* the prefix up to this '/' ("/" for a leading one) */
		if (r == 0)
			r = glob_to_re(g, i == 0 ? 1 : i, &scan);
		start = 1;
	}
	if (r == 0)
		r = strbuf_addstr(&scan, ")$");
	if (r == CB_ERR_NOMEM)
		goto out;
	if ((r = compile(&f->re, &re, icase, err, cap, orig)) != 0)
		goto out;
	f->has_re = 1;
	if ((r = compile(&f->scan, &scan, icase, err, cap, orig)) != 0)
		goto out;
	f->has_scan = 1;
	/* Like rdiff-backup: a glob that cannot reach SOURCE is a mistake. */
	if (!re_finds(&f->re, s->base) && !re_finds(&f->scan, s->base))
		r = fail(err, cap,
		    "the file specification '%s' cannot match any files in "
		    "the base directory '%s'",
		    orig, s->base);
out:
	strbuf_release(&re);
	strbuf_release(&scan);
	return r;
}

/*
 * The components of ${p} below the base: "" for the base itself, NULL if
 * ${p} does not start with the base's components.
 */
static char *
relative_to_base(const struct select *s, const char *p, size_t n)
{
	struct strbuf out;
	const char *b = s->base, *bend = s->base + s->blen, *end = p + n;
	char *res;

	for (;;) { /* consume the base's components */
		size_t bl, pl;

		while (b < bend && *b == '/')
			b++;
		while (p < end && *p == '/')
			p++;
		if (b == bend)
			break;
		bl = strcspn(b, "/");
		if (b + bl > bend)
			bl = (size_t)(bend - b);
		pl = (size_t)(end - p);
		if (memchr(p, '/', pl) != NULL)
			pl = (size_t)((const char *)memchr(p, '/', pl) - p);
		if (bl != pl || memcmp(b, p, bl) != 0)
			return NULL;
		b += bl;
		p += pl;
	}
	strbuf_init(&out);
	while (p < end) {
		size_t pl;

		while (p < end && *p == '/')
			p++;
		if (p == end)
			break;
		pl = (size_t)(end - p);
		if (memchr(p, '/', pl) != NULL)
			pl = (size_t)((const char *)memchr(p, '/', pl) - p);
		if ((out.len > 0 && strbuf_addch(&out, '/') != 0) ||
		    strbuf_add(&out, p, pl) != 0) {
			strbuf_release(&out);
			return NULL;
		}
		p += pl;
	}
	if (strbuf_addch(&out, '\0') != 0) {
		strbuf_release(&out);
		return NULL;
	}
	res = out.buf; /* handed over */
	return res;
}

/* ---- filelists -------------------------------------------------------- */

static int
fl_cmp(const void *a, const void *b)
{
	const struct fl_ent *x = a, *y = b;
	int c;

	if (x->len == 0 || y->len == 0)
		c = (x->len != 0) - (y->len != 0);
	else
		c = meta_path_cmp(x->rel, x->len, y->rel, y->len);
	return c != 0 ? c : x->include - y->include;
}

static int
add_list_entry(struct select *s, struct sf *f, const char *line, size_t n,
    int include, size_t *cap)
{
	char *rel;

	if (n >= 2 && (line[0] == '+' || line[0] == '-') && line[1] == ' ') {
		include = line[0] == '+';
		line += 2;
		n -= 2;
	}
	if ((rel = relative_to_base(s, line, n)) == NULL)
		return 1; /* not below SOURCE: ignored, as rdiff-backup does */
	if (f->nents == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		struct fl_ent *ne = realloc(f->ents, nc * sizeof(*ne));

		if (ne == NULL) {
			free(rel);
			return CB_ERR_NOMEM;
		}
		f->ents = ne;
		*cap = nc;
	}
	f->ents[f->nents].rel = rel;
	f->ents[f->nents].len = strlen(rel);
	f->ents[f->nents++].include = include;
	if (!include)
		f->can_exclude = 1;
	return 0;
}

/* The lines of a filelist: one selection function, or one glob each. */
static int
add_filelist(struct select *s, const char *opt, int include, int globbing,
    const char *data, size_t len, int nul_sep, char *err, size_t cap)
{
	const char *p = data, *end = data + len;
	size_t ecap = 0, ignored = 0;
	struct sf *f = NULL;
	char *line;
	int r;

	(void)opt;
	while (p < end) {
		const char *nl =
		    memchr(p, nul_sep ? '\0' : '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n == 0) {
			p += (nl ? (size_t)(nl - p) + 1 : (size_t)(end - p));
			continue;
		}
		if (globbing) {
			int inc = include;
			const char *g = p;
			size_t gn = n;

			if (gn >= 2 && (g[0] == '+' || g[0] == '-') &&
			    g[1] == ' ') {
				inc = g[0] == '+';
				g += 2;
				gn -= 2;
			}
			if ((line = strndup(g, gn)) == NULL)
				return CB_ERR_NOMEM;
			r = select_add(s, inc ? "include" : "exclude", line, gn,
			    0, err, cap);
			free(line);
			if (r != 0)
				return r;
		} else {
			if (f == NULL) {
				if (s->n == s->cap) {
					size_t nc = s->cap ? s->cap * 2 : 8;
					struct sf *ns =
					    realloc(s->sfs, nc * sizeof(*ns));

					if (ns == NULL)
						return CB_ERR_NOMEM;
					s->sfs = ns;
					s->cap = nc;
				}
				f = &s->sfs[s->n++];
				memset(f, 0, sizeof(*f));
				f->kind = SF_FILELIST;
				f->include = include;
				f->can_exclude = !include;
			}
			r = add_list_entry(s, f, p, n, include, &ecap);
			if (r < 0)
				return r;
			ignored += (size_t)r;
		}
		p += (nl ? (size_t)(nl - p) + 1 : (size_t)(end - p));
	}
	if (f != NULL && f->nents > 1)
		qsort(f->ents, f->nents, sizeof(*f->ents), fl_cmp);
	if (ignored > 0)
		log_warn("%zu filelist entries do not start with '%s' and "
			 "were ignored",
		    ignored, s->base);
	return 0;
}

/* ---- adding options ---------------------------------------------------- */

int
select_add(struct select *s, const char *opt, const char *arg, size_t arglen,
    int nul_sep, char *err, size_t cap)
{
	size_t i;
	struct sf *f;
	char *end;
	int r = 0;

	for (i = 0; i < NOPTIONS; i++)
		if (strcmp(opt, options[i].name) == 0)
			break;
	if (i == NOPTIONS)
		return fail(err, cap, "unknown selection option --%s", opt);
	if (!options[i].noarg && arg == NULL)
		return fail(err, cap, "--%s needs an argument", opt);
	if (options[i].kind == SF_FILELIST ||
	    strstr(opt, "globbing-filelist") != NULL)
		return add_filelist(s, opt, options[i].include,
		    options[i].kind == SF_GLOB, arg, arglen, nul_sep, err, cap);
	if (s->n == s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 8;
		struct sf *ns = realloc(s->sfs, nc * sizeof(*ns));

		if (ns == NULL)
			return CB_ERR_NOMEM;
		s->sfs = ns;
		s->cap = nc;
	}
	f = &s->sfs[s->n];
	memset(f, 0, sizeof(*f));
	f->kind = options[i].kind;
	f->include = options[i].include;
	f->can_exclude = !f->include;
	switch (f->kind) {
	case SF_GLOB:
		if (strcmp(arg, "**") == 0)
			f->kind = SF_ALL;
		else if (!is_glob(arg)) {
			f->kind = SF_TUPLE;
			f->rel = relative_to_base(s, arg, strlen(arg));
			if (f->rel == NULL)
				r = fail(err, cap,
				    "the file specification '%s' cannot match "
				    "any files in the base directory '%s'",
				    arg, s->base);
			else
				f->rlen = strlen(f->rel);
		} else
			r = add_glob(s, f, arg, err, cap);
		break;
	case SF_REGEXP: {
		struct strbuf re;

		strbuf_init(&re);
		r = strbuf_addstr(&re, arg);
		if (r == 0)
			r = compile(&f->re, &re, 0, err, cap, arg);
		f->has_re = r == 0;
		strbuf_release(&re);
		break;
	}
	case SF_PRESENT:
		/* One name, looked up in each directory: never a path,
		 * which could reach (and tell of) anything on the host. */
		if (*arg == '\0' || strchr(arg, '/') != NULL ||
		    strcmp(arg, ".") == 0 || strcmp(arg, "..") == 0)
			r = fail(err, cap,
			    "--%s needs one file name (no '/', not '.' or "
			    "'..'), not '%s'",
			    opt, arg);
		else if ((f->rel = strdup(arg)) == NULL)
			r = CB_ERR_NOMEM;
		break;
	case SF_MINSIZE:
	case SF_MAXSIZE:
		errno = 0;
		f->size = strtoull(arg, &end, 10);
		if (errno != 0 || end == arg || *end != '\0' || f->size == 0 ||
		    *arg == '-')
			r = fail(err, cap,
			    "--%s needs a positive number of bytes, not '%s'",
			    opt, arg);
		f->can_exclude = 1;
		break;
	default: break;
	}
	if (r != 0) {
		sf_release(f);
		return r;
	}
	s->n++;
	return 0;
}

int
select_finish(struct select *s, dev_t root_dev, char *err, size_t cap)
{
	s->root_dev = root_dev;
	if (s->n > 0 && !s->sfs[s->n - 1].can_exclude)
		return fail(err, cap,
		    "the last selection option only includes files; as "
		    "everything is included by default it would do "
		    "nothing");
	return 0;
}

/* ---- evaluation -------------------------------------------------------- */

/* ${a} (alen) equal to or below ${b} (blen), by components. */
static int
below_or_at(const char *a, size_t alen, const char *b, size_t blen)
{
	if (blen == 0)
		return 1;
	return alen >= blen && memcmp(a, b, blen) == 0 &&
	    (alen == blen || a[blen] == '/');
}

static size_t
fl_lower_bound(const struct sf *f, const char *rel, size_t rlen)
{
	size_t lo = 0, hi = f->nents;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct fl_ent *e = &f->ents[mid];
		int c =
		    e->len == 0 ? -1 : meta_path_cmp(e->rel, e->len, rel, rlen);

		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The answer of a filelist (see _filelist_pair_match): -1 for none. */
static int
eval_filelist(const struct sf *f, const char *rel, size_t rlen)
{
	size_t i, k;

	/* An excluded ancestor (or the root) excludes everything below. */
	if (f->nents > 0 && f->ents[0].len == 0 && !f->ents[0].include)
		return SEL_EXCLUDE;
	for (i = 0; i < rlen; i++) {
		if (rel[i] != '/')
			continue;
		k = fl_lower_bound(f, rel, i);
		if (k < f->nents && f->ents[k].len == i &&
		    memcmp(f->ents[k].rel, rel, i) == 0 && !f->ents[k].include)
			return SEL_EXCLUDE;
	}
	k = fl_lower_bound(f, rel, rlen);
	if (k == f->nents)
		return -1;
	if (f->ents[k].len == rlen && memcmp(f->ents[k].rel, rel, rlen) == 0)
		return f->ents[k].include;
	if (f->ents[k].include &&
	    below_or_at(f->ents[k].rel, f->ents[k].len, rel, rlen))
		return SEL_INCLUDE; /* an ancestor of a listed path */
	return -1;
}

static int
has_present(const struct select_entry *e, const char *name, int in_parent)
{
	struct stat st;
	int fd, rc;

	if (in_parent)
		return fstatat(e->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
	fd = openat(e->dirfd, e->name,
	    O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return 0;
	rc = fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
	close(fd);
	return rc;
}

/* One function's answer: -1 none, else a select_result. */
static int
eval_one(struct select *s, const struct sf *f, const struct select_entry *e)
{
	const struct stat *st = e->st;
	const char *p;
	int dir = st != NULL && S_ISDIR(st->st_mode);

	switch (f->kind) {
	case SF_ALL: return f->include;
	case SF_TUPLE:
		if (below_or_at(e->rel, e->rlen, f->rel, f->rlen))
			return f->include;
		if (f->include && below_or_at(f->rel, f->rlen, e->rel, e->rlen))
			return SEL_INCLUDE;
		return -1;
	case SF_FILELIST: return eval_filelist(f, e->rel, e->rlen);
	case SF_GLOB:
	case SF_REGEXP:
		if ((p = full_path(s, e->rel, e->rlen)) == NULL)
			return -1;
		if (re_finds(&f->re, p))
			return f->include;
		if (f->kind == SF_GLOB && f->include && re_finds(&f->scan, p))
			return SEL_SCAN;
		return -1;
	case SF_PRESENT:
		if (dir && has_present(e, f->rel, 0))
			return f->include;
		if (f->include && st != NULL && !dir &&
		    has_present(e, f->rel, 1))
			return f->include;
		return -1;
	case SF_OTHERFS:
		return st != NULL && st->st_dev != s->root_dev ? f->include :
								 -1;
	case SF_DEV:
		return st != NULL &&
			(S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) ?
		    f->include :
		    -1;
	case SF_SYM:
		return st != NULL && S_ISLNK(st->st_mode) ? f->include : -1;
	case SF_SOCK:
		return st != NULL && S_ISSOCK(st->st_mode) ? f->include : -1;
	case SF_FIFO:
		return st != NULL && S_ISFIFO(st->st_mode) ? f->include : -1;
	case SF_SPECIAL:
		return st != NULL &&
			(S_ISLNK(st->st_mode) || S_ISSOCK(st->st_mode) ||
			    S_ISFIFO(st->st_mode) || S_ISCHR(st->st_mode) ||
			    S_ISBLK(st->st_mode)) ?
		    f->include :
		    -1;
	case SF_MINSIZE:
		return st != NULL && S_ISREG(st->st_mode) &&
			(uint64_t)st->st_size < f->size ?
		    SEL_EXCLUDE :
		    -1;
	case SF_MAXSIZE:
		return st != NULL && S_ISREG(st->st_mode) &&
			(uint64_t)st->st_size > f->size ?
		    SEL_EXCLUDE :
		    -1;
	}
	return -1;
}

int
select_eval(struct select *s, const struct select_entry *e)
{
	int scanned = SEL_EXCLUDE;
	size_t i;

	for (i = 0; i < s->n; i++) {
		int r = eval_one(s, &s->sfs[i], e);

		if (r == SEL_INCLUDE)
			return SEL_INCLUDE;
		if (r == SEL_EXCLUDE)
			return scanned;
		if (r == SEL_SCAN)
			scanned = SEL_SCAN;
	}
	return SEL_INCLUDE;
}

/* Building a selection from role arguments (select_build). */

#define FILELIST_MAX (64 << 20)

/* The whole content of a filelist (bounded). */
static char *
read_filelist(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap), *nb;
	ssize_t r;

	if (fd < 0)
		fatal("cannot open filelist '%s': %s", path, strerror(errno));
	if (buf == NULL)
		fatal("out of memory");
	while ((r = read(fd, buf + n, cap - n)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			fatal("cannot read filelist '%s': %s", path,
			    strerror(errno));
		n += (size_t)r;
		if (n == cap) {
			if (cap >= FILELIST_MAX)
				fatal("filelist '%s' is larger than %d MiB",
				    path, FILELIST_MAX >> 20);
			if ((nb = realloc(buf, cap * 2)) == NULL)
				fatal("out of memory");
			buf = nb;
			cap *= 2;
		}
	}
	close(fd);
	*len = n;
	return buf;
}

/* A filelist sent inline (--select-inline NAME=HEX): its bytes. */
static char *
unhex(const char *hex, size_t *len)
{
	size_t n = strlen(hex), i;
	char *out;

	if (n % 2 != 0 || n / 2 > FILELIST_MAX ||
	    (out = malloc(n / 2 + 1)) == NULL)
		fatal("bad inline filelist");
	for (i = 0; i < n / 2; i++) {
		unsigned v;

		if (sscanf(hex + 2 * i, "%2x", &v) != 1 ||
		    !isxdigit((unsigned char)hex[2 * i]) ||
		    !isxdigit((unsigned char)hex[2 * i + 1]))
			fatal("bad inline filelist");
		out[i] = (char)v;
	}
	*len = n / 2;
	return out;
}

struct select *
select_build(const char *base, dev_t root_dev, const char *const *sels,
    const char *inl, size_t n, int nul_sep, int files)
{
	struct select *sel;
	char err[512];
	size_t i;

	if (select_new(base, &sel) != 0)
		fatal("out of memory");
	for (i = 0; i < n; i++) {
		const char *eq = strchr(sels[i], '=');
		char *name = strndup(sels[i],
		    eq ? (size_t)(eq - sels[i]) : strlen(sels[i]));
		const char *arg = eq ? eq + 1 : NULL;
		char *data = NULL;
		size_t len = arg ? strlen(arg) : 0;
		int r;

		if (name == NULL)
			fatal("out of memory");
		if (arg != NULL && inl[i]) {
			if (strstr(name, "filelist") == NULL)
				fatal("--select-inline is for filelists");
			data = unhex(arg, &len);
			arg = data;
		} else if (arg != NULL && strstr(name, "filelist") != NULL) {
			if (!files)
				fatal("a filelist must come inline here");
			data = read_filelist(arg, &len);
			arg = data;
		}
		r = select_add(sel, name, arg, len, nul_sep, err, sizeof(err));
		if (r == CB_ERR_NOMEM)
			fatal("out of memory");
		if (r != 0)
			fatal("%s", err);
		free(name);
		free(data);
	}
	if (select_finish(sel, root_dev, err, sizeof(err)) != 0)
		fatal("%s", err);
	return sel;
}
