/*
 * list increments --size, as rdiff-backup 2.2 computes it: the mirror's
 * total (the size lstat gives every entry of the mirror, directories
 * included, rdiff-backup-data left out), each session's increments (the
 * size of every increment file of the increments tree and of the root
 * markers, by the time in its name), and for each session the mirror
 * plus every newer session's increments.  Also its --parsable-output
 * forms of list increments.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "incscan.h"
#include "log.h"
#include "timefmt.h"
#include "timespec.h"
#include "writer.h"

struct tsize {
	int64_t t;
	uint64_t size;
};

struct sizes {
	struct tsize *v;
	size_t n, cap;
};

static void
add_size(struct sizes *s, int64_t t, uint64_t size)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->v[i].t == t) {
			s->v[i].size += size;
			return;
		}
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 16;
		if ((s->v = realloc(s->v, s->cap * sizeof(*s->v))) == NULL)
			fatal("out of memory");
	}
	s->v[s->n].t = t;
	s->v[s->n++].size = size;
}

/* Every entry beneath ${fd} (borrowed), by lstat size; at the top
 * rdiff-backup-data is left out. */
static uint64_t
tree_total(int fd, int top)
{
	char **names;
	size_t n, i;
	uint64_t total = 0;
	struct stat st;

	if (fs_list_names(fd, &names, &n) != 0)
		fatal("cannot list a directory of the mirror: %s",
		    strerror(errno));
	for (i = 0; i < n; i++) {
		if (top && strcmp(names[i], "rdiff-backup-data") == 0) {
			free(names[i]);
			continue;
		}
		if (fstatat(fd, names[i], &st, AT_SYMLINK_NOFOLLOW) == 0) {
			total += (uint64_t)st.st_size;
			if (S_ISDIR(st.st_mode)) {
				int sub = openat(fd, names[i],
				    O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					O_CLOEXEC);

				if (sub < 0)
					fatal("cannot open a directory of the "
					      "mirror: %s%s",
					    strerror(errno),
					    errno == EMFILE ?
						" (a tree deeper than the "
						"open-file limit: raise "
						"ulimit -Hn)" :
						"");
				total += tree_total(sub, 0);
				close(sub);
			}
		}
		free(names[i]);
	}
	free(names);
	return total;
}

static int
visit_inc(struct inc_walk *w, int dirfd, const char *name, enum inc_class c,
    const struct incname *in, int is_dir)
{
	struct stat st;

	if (c == INC_REAL && !is_dir &&
	    fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		add_size(w->arg, in->time, (uint64_t)st.st_size);
	return 0;
}

/*
 * The increments of the path itself (rdiff-backup's base increments of
 * its ref_inc: NAME.<T>.diff.gz and the like beside it in its parent's
 * increments directory).
 */
static void
path_own_increments(struct repo *repo, const struct writer_opts *o,
    struct inc_times *times, struct sizes *s)
{
	const char *slash = memrchr(o->sub, '/', o->sublen);
	const char *base = slash ? slash + 1 : o->sub;
	size_t blen = o->sublen - (size_t)(base - o->sub), n, i;
	char dir[META_PATH_MAX + 16], **names;
	struct incname in;
	struct stat st;
	int fd;

	snprintf(dir, sizeof(dir), "increments%s%.*s", slash ? "/" : "",
	    slash ? (int)(slash - o->sub) : 0, o->sub);
	if ((fd = fs_open_beneath(repo->datafd, dir,
		 O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0)) < 0)
		return;
	if (fs_list_names(fd, &names, &n) != 0)
		fatal("cannot list '%s': %s", dir, strerror(errno));
	for (i = 0; i < n; i++) {
		if (inc_classify(fd, names[i], DT_UNKNOWN, times, &in) ==
			INC_REAL &&
		    in.baselen == blen && memcmp(names[i], base, blen) == 0 &&
		    fstatat(fd, names[i], &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    !S_ISDIR(st.st_mode))
			add_size(s, in.time, (uint64_t)st.st_size);
		free(names[i]);
	}
	free(names);
	close(fd);
}

static int
tsize_cmp(const void *a, const void *b)
{
	const struct tsize *x = a, *y = b;

	return (x->t > y->t) - (x->t < y->t);
}

int
writer_list_sizes(struct repo *repo, const struct writer_opts *o)
{
	struct sizes s = { NULL, 0, 0 };
	struct inc_times times;
	struct inc_walk w;
	struct repo_entry *e = NULL;
	size_t n = 0, i;
	uint64_t mirror, cum;
	int fd;

	int whole = o->sublen == 1 && o->sub[0] == '.';

	/* the walk holds a descriptor per level, and a host may make its
	 * tree some 2000 levels deep: the soft limit up to the hard one */
	{
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
		    rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			(void)setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	if (inc_times_load(repo->datafd, &times) != 0)
		fatal("cannot read the sessions of '%s'", repo->path);
	memset(&w, 0, sizeof(w));
	w.times = &times;
	w.visit = visit_inc;
	w.arg = &s;
	{
		/* the increments beneath the path (never through a
		 * symlink: the names are the host's) */
		char dir[META_PATH_MAX + 16];

		snprintf(dir, sizeof(dir), "increments%s%.*s", whole ? "" : "/",
		    whole ? 0 : (int)o->sublen, o->sub);
		fd = fs_open_beneath(repo->datafd, dir,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
	}
	if (fd >= 0) {
		inc_tree_walk(fd, &w);
		close(fd);
	}
	strbuf_release(&w.path);
	if (whole) { /* the sessions' root markers */
		if (repo_scan(repo->datafd, &e, &n) != 0)
			fatal("cannot list the sessions of '%s'", repo->path);
		for (i = 0; i < n; i++) {
			struct stat st;

			if (e[i].base == RB_INCREMENTS &&
			    fstatat(repo->datafd, e[i].name, &st,
				AT_SYMLINK_NOFOLLOW) == 0)
				add_size(&s, e[i].inc.time,
				    (uint64_t)st.st_size);
		}
		repo_scan_free(e, n);
	} else
		path_own_increments(repo, o, &times, &s);
	inc_times_release(&times);
	/* the mirror's own row, and the top entry itself */
	{
		struct stat st;
		int top = whole ? repo->rootfd :
				  fs_open_beneath(repo->rootfd, o->sub,
				      O_RDONLY | O_NOFOLLOW | O_NONBLOCK, 0);

		if (top < 0)
			fatal("'%s' is not in the mirror of '%s': %s",
			    log_name(o->sub, o->sublen), repo->path,
			    strerror(errno));
		if (fstat(top, &st) != 0)
			fatal("cannot examine '%s': %s",
			    log_name(o->sub, o->sublen), strerror(errno));
		mirror = (uint64_t)st.st_size;
		if (S_ISDIR(st.st_mode))
			mirror += tree_total(top, whole);
		if (!whole)
			close(top);
	}
	for (i = 0; i < s.n; i++)
		if (s.v[i].t == repo->cur_time)
			s.v[i].size = 0; /* not an increment session */
	if (s.n > 0)
		qsort(s.v, s.n, sizeof(*s.v), tsize_cmp);
	/* cumulative: the mirror and every newer session's increments */
	{
		uint64_t *tot = calloc(s.n + 1, sizeof(*tot));
		char a[32], b[32], when[64];

		if (tot == NULL)
			fatal("out of memory");
		cum = mirror;
		for (i = s.n; i-- > 0;) {
			if (s.v[i].t >= repo->cur_time)
				continue;
			cum += s.v[i].size;
			tot[i] = cum;
		}
		if (o->parsable) {
			printf("---\n");
			for (i = 0; i < s.n; i++)
				if (s.v[i].t < repo->cur_time)
					printf("- size: %" PRIu64
					       "\n  time: %lld\n  total_size: "
					       "%" PRIu64 "\n",
					    s.v[i].size, (long long)s.v[i].t,
					    tot[i]);
			printf("- size: %" PRIu64 "\n  time: %lld\n  "
			       "total_size: %" PRIu64 "\n...\n\n",
			    mirror, (long long)repo->cur_time, mirror);
		} else {
			printf("%s\n%s\n",
			    "          Time                 Size         "
			    "Cumulative size ",
			    "------------------------ ----------------- "
			    "-----------------");
			for (i = 0; i < s.n; i++)
				if (s.v[i].t < repo->cur_time)
					printf("%-24s %17s %17s\n",
					    timefmt_pretty(s.v[i].t, when,
						sizeof(when)),
					    timefmt_byte_summary((double)s.v[i]
								     .size,
						a, sizeof(a)),
					    timefmt_byte_summary((double)tot[i],
						b, sizeof(b)));
			printf("%-24s %17s %17s  (current mirror)\n",
			    timefmt_pretty(repo->cur_time, when, sizeof(when)),
			    timefmt_byte_summary((double)mirror, a, sizeof(a)),
			    timefmt_byte_summary((double)mirror, b, sizeof(b)));
		}
		free(tot);
	}
	free(s.v);
	return fflush(stdout) == 0 ? 0 : 1;
}
