/*
 * capback: the command line.  Holds no privilege and touches no backup
 * data itself: it parses rdiff-backup 2.2 style arguments and arranges
 * the role processes (reader, writer, restorer) around one stream.
 *
 *   capback [GLOBAL OPTIONS] ACTION [OPTIONS] LOCATIONS
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cb_err.h"
#include "fsutil.h"
#include "repoloc.h"
#include "timefmt.h"
#include "timespec.h"
#include "log.h"
#include "msg.h"
#include "select.h"
#include "actions.h"
#include "calculate.h"
#include "check.h"
#include "doctor.h"
#include "info.h"
#include "drill.h"
#include "run.h"
#include "runconf.h"
#include "setup.h"
#include "spawn.h"
#include "strbuf.h"

struct global {
	const char *schema;	  /* --remote-schema, NULL: "ssh -C {h}" */
	int api;		  /* --api-version, 200 by default */
	int parsable;		  /* --parsable-output */
	const char *current_time; /* validated decimal seconds or NULL */
	char verbosity[16];
	int force;
	const char *wait; /* --wait[=SECONDS]: "-1" for no limit */
	int nul_sep;	  /* --null-separator (rdiff-backup's place for it) */
};

static void
usage_main(FILE *f)
{
	fprintf(f,
	    "usage: capback [GLOBAL OPTIONS] ACTION [OPTIONS] LOCATIONS\n"
	    "\n"
	    "Least-privilege backups in rdiff-backup's repository "
	    "format.\n"
	    "\n"
	    "Actions (capback ACTION --help for each):\n");
	action_list(f);
	fprintf(f,
	    "\n"
	    "Global options (before the action):\n"
	    "  --current-time SECS   pretend the time is SECS (epoch)\n"
	    "  --remote-schema CMD   how to reach [user@]host::/path "
	    "locations\n"
	    "                        (default \"ssh -C {h}\"; the role's "
	    "command is appended)\n"
	    "  -v, --verbosity N     0 silent .. 3 default, 4 a line a file, 5 "
	    "debug (to 9)\n"
	    "  --force               allow risky operations (see actions)\n"
	    "  --wait[=SECS]         wait for a repository another action "
	    "is changing\n"
	    "                        (else refused; reads wait anyway)\n"
	    "  -V, --version         print the version\n"
	    "  --api-version N       rdiff-backup's (200 or 201): 201 makes "
	    "--parsable-output\n"
	    "                        YAML, as rdiff-backup's\n"
	    "  --parsable-output     list increments in rdiff-backup's "
	    "machine form\n"
	    "  --null-separator      filelists are NUL-separated (as the "
	    "option of backup,\n"
	    "                        restore and compare)\n"
	    "  -h, --help            this text; ACTION --help for an "
	    "action\n");
}

/* After a mistake: where the help is, not all of it. */
static void
usage_short_main(void)
{
	fprintf(stderr,
	    "usage: capback [GLOBAL OPTIONS] ACTION [OPTIONS] "
	    "LOCATIONS\n"
	    "(capback --help lists the actions and the global "
	    "options)\n");
}

/*
 * Exit status, rdiff-backup's bit mask: 1 the action failed, 2 warning,
 * 4 some files failed, 8 some files differ (compare).  A role that died
 * or failed makes it 1.
 */
/*
 * Memory that lives as long as the process (the roles' arguments); an
 * external array, so that no store to it is optimised away and leak
 * checkers see it reachable.
 */
void *capback_kept[16];

static void
keep(void *p)
{
	static size_t n;

	if (n < sizeof(capback_kept) / sizeof(capback_kept[0]))
		capback_kept[n++] = p;
}

/*
 * A location [user@]host::path: the host part (kept until exit) and
 * *path, or NULL for a local path.
 */
static char *
parse_remote(const char *loc, const char **path)
{
	const char *sep = strstr(loc, "::");
	char *host;

	*path = loc;
	if (sep == NULL)
		return NULL;
	if (sep == loc || sep[2] == '\0')
		fatal("'%s': a remote location is [user@]host::/path", loc);
	if (loc[0] == '-' ||
	    strcspn(loc, " \t'\"\\;|&$`<>()") < (size_t)(sep - loc))
		fatal("'%.*s': not a host name", (int)(sep - loc), loc);
	if ((host = strndup(loc, (size_t)(sep - loc))) == NULL)
		fatal("out of memory");
	*path = sep + 2;
	return host;
}

static char *
split_remote(const char *loc, const char **path)
{
	char *host = parse_remote(loc, path);

	if (host != NULL)
		keep(host);
	return host;
}

/* Free what spawn_remote_argv made (NULL: nothing). */
static void
free_remote_argv(char **ra)
{
	if (ra != NULL) {
		free(ra[2]);
		free(ra);
	}
}

/*
 * capture_at(loc, wargv, max, len, st): spawn_capture of the role
 * ${wargv} (whose last word is ${loc}'s path) where ${loc} is, nothing
 * kept: replicate calls it once a session.
 */
static char *
capture_at(const char *loc, char **wargv, size_t max, size_t *len, int *st,
    const struct global *g)
{
	const char *path;
	char *host = parse_remote(loc, &path), **ra = NULL, *out;
	size_t n = 0;

	while (wargv[n] != NULL)
		n++;
	wargv[n - 1] = (char *)path;
	if (host != NULL)
		ra = spawn_remote_argv(g->schema ? g->schema : "ssh -C {h}",
		    host, wargv);
	out = spawn_capture(ra ? ra : wargv, max, len, st);
	free_remote_argv(ra);
	free(host);
	return out;
}

/*
 * The role ${argv} run on ${host} through the remote schema (default
 * "ssh -C {h}"): spawn_remote_argv, kept until exit.
 */
static char **
remote_wrap(const struct global *g, const char *host, char *const argv[])
{
	char **out =
	    spawn_remote_argv(g->schema ? g->schema : "ssh -C {h}", host, argv);

	keep(out);
	keep(out[2]);
	return out;
}

static int
combine(int a_st, int b_st)
{
	if (a_st < 0 || a_st > 15 || (a_st & 1) || b_st < 0 || b_st > 15 ||
	    (b_st & 1))
		return 1;
	return a_st | b_st;
}

/* What add_globals passes on besides the verbosity. */
#define G_TIME	1 /* --current-time */
#define G_FORCE 2 /* --force */
#define G_WAIT	4 /* --wait (to a writer) */

static void
add_globals(char **argv, int *n, const struct global *g, int what)
{
	argv[(*n)++] = (char *)"-v";
	argv[(*n)++] = (char *)g->verbosity;
	if ((what & G_TIME) && g->current_time != NULL) {
		argv[(*n)++] = (char *)"--current-time";
		argv[(*n)++] = (char *)g->current_time;
	}
	if ((what & G_FORCE) && g->force)
		argv[(*n)++] = (char *)"--force";
	if ((what & G_WAIT) && g->wait != NULL) {
		argv[(*n)++] = (char *)"--wait";
		argv[(*n)++] = (char *)g->wait;
	}
}

/*
 * What ${in} holds (standard input, or a filelist ${name}) as a file the
 * roles can open, read once here: a memfd, inherited.
 */
static char *
filelist_as_file(int in, const char *name)
{
	char buf[65536], *path;
	ssize_t n;
	int fd = memfd_create("capback-filelist", 0);

	if (fd < 0)
		fatal("cannot keep the filelist %s: %s", name, strerror(errno));
	while ((n = read(in, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || write(fd, buf, (size_t)n) != n)
			fatal("cannot read the filelist %s: %s", name,
			    strerror(errno));
	}
	if (asprintf(&path, "/proc/self/fd/%d", fd) < 0)
		fatal("out of memory");
	return path;
}

/* Filelist bytes a remote request may carry in all (hex-encoded, they
 * must fit the one argument sshd hands the forced command's shell). */
#define INLINE_FILELISTS_MAX (48u * 1024)

/*
 * inline_filelist("NAME=PATH", total): "NAME=HEX", the filelist's content
 * hex-encoded, kept until exit; *total counts the bytes sent so far.
 */
static char *
inline_filelist(const char *opt, size_t *total)
{
	const char *eq = strchr(opt, '=');
	char buf[4096], *out;
	size_t o;
	ssize_t n;
	int fd;

	if (eq == NULL)
		fatal("internal: filelist option without a file");
	if ((fd = open(eq + 1, O_RDONLY | O_CLOEXEC)) < 0)
		fatal("cannot open filelist '%s': %s", eq + 1, strerror(errno));
	if ((out = malloc((size_t)(eq - opt) + 2 + 2 * INLINE_FILELISTS_MAX)) ==
	    NULL)
		fatal("out of memory");
	keep(out);
	o = (size_t)(eq - opt) + 1;
	memcpy(out, opt, o);
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			fatal("cannot read filelist '%s': %s", eq + 1,
			    strerror(errno));
		if ((*total += (size_t)n) > INLINE_FILELISTS_MAX)
			fatal("filelists sent on a role's command line (a "
			      "remote source's; restore's and compare's, for "
			      "the writer) may hold %u KiB in all: use "
			      "--include/--exclude patterns, or run a remote "
			      "backup on the host",
			    INLINE_FILELISTS_MAX / 1024);
		for (ssize_t k = 0; k < n; k++)
			o += (size_t)sprintf(out + o, "%02x",
			    (unsigned char)buf[k]);
	}
	close(fd);
	out[o] = '\0';
	return out;
}

/* --progress (1), --no-progress (0), or neither (-1): a terminal at the
 * default verbosity or more. */
static int
progress_wanted(int progress)
{
	return progress == 1 ||
	    (progress == -1 && isatty(2) && log_verbosity() >= 3);
}

/* Check the selection options as the reader will apply them. */
static void
check_select(const char *source, char **sel, size_t n, int nul_sep)
{
	struct select *s;
	char err[512];
	size_t i;

	if (select_new(source, &s) != 0)
		fatal("out of memory");
	for (i = 0; i < n; i++) {
		const char *eq = strchr(sel[i], '=');
		char *name = strndup(sel[i],
		    eq ? (size_t)(eq - sel[i]) : strlen(sel[i]));
		const char *arg = eq ? eq + 1 : NULL;
		size_t len = arg ? strlen(arg) : 0;
		int r;

		if (name == NULL)
			fatal("out of memory");
		if (arg != NULL && strstr(name, "filelist") != NULL) {
			/* the reader reads it; here: is it there at all? */
			if (access(arg, R_OK) != 0) {
				int e = errno;

				free(name);
				select_free(s);
				fatal("cannot read filelist '%s': %s", arg,
				    strerror(e));
			}
			arg = "";
			len = 0;
		}
		r = select_add(s, name, arg, len, nul_sep, err, sizeof(err));
		free(name);
		if (r != 0) {
			select_free(s);
			fatal("%s", r == CB_ERR_NOMEM ? "out of memory" : err);
		}
	}
	select_free(s);
}

/*
 * --create-full-path: make the missing directories above the local
 * location ${path} (mode 0700 before the umask), one component at a
 * time and never through a symlink; rdiff-backup's option of that name.
 */
static void
create_full_path(const char *path)
{
	char *p = strdup(path), *slash;
	struct stat st;
	int fd, next;

	if (p == NULL)
		fatal("out of memory");
	if ((slash = strrchr(p, '/')) == NULL || slash == p) {
		free(p);
		return;
	}
	*slash = '\0';
	fd = open(p[0] == '/' ? "/" : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	for (char *c = p + (p[0] == '/'), *end; fd >= 0 && *c != '\0';
	     c = end) {
		end = c + strcspn(c, "/");
		if (*end == '/')
			*end++ = '\0';
		if (*c == '\0')
			continue;
		if (mkdirat(fd, c, 0700) != 0 && errno != EEXIST)
			fatal("--create-full-path: cannot make %s: %s", p,
			    strerror(errno));
		next = openat(fd, c,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0)
			fatal("--create-full-path: %s in %s: %s", c, path,
			    errno == ELOOP || errno == ENOTDIR ?
				"not a directory (a symlink is not followed)" :
				strerror(errno));
		/* the role resolves the path again: nothing on it may be
		 * another account's to swap (as ssh's StrictModes) */
		if (fstat(next, &st) != 0 ||
		    (st.st_uid != 0 && st.st_uid != geteuid()) ||
		    ((st.st_mode & 022) && !(st.st_mode & S_ISVTX)))
			fatal("--create-full-path: %s in %s belongs to another "
			      "account or others may write it: make the "
			      "directories yourself",
			    c, path);
		close(fd);
		fd = next;
	}
	if (fd >= 0)
		close(fd);
	free(p);
}

/*
 * --print-statistics: the newest session's statistics of the repository
 * ${repo}, framed as rdiff-backup prints them on standard output.
 */
static void
print_session_statistics(const char *repo)
{
	struct repo_entry *e = NULL;
	int64_t *times = NULL;
	size_t n = 0, nt = 0, i;
	int dfd = repo_open_data(repo), fd = -1;
	char buf[4096];
	ssize_t r;

	if (dfd < 0 || repo_sessions(dfd, &times, &nt) != 0 || nt == 0 ||
	    repo_scan(dfd, &e, &n) != 0)
		fatal("--print-statistics: cannot read the sessions of %s",
		    repo);
	for (i = 0; i < n && fd < 0; i++)
		if (strncmp(e[i].name, "session_statistics.", 19) == 0 &&
		    e[i].inc.time == times[nt - 1])
			fd = openat(dfd, e[i].name,
			    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	repo_scan_free(e, n);
	free(times);
	close(dfd);
	if (fd < 0)
		fatal("--print-statistics: the newest session of %s has no "
		      "statistics file",
		    repo);
	fflush(stdout);
	printf("--------------[ Session statistics ]--------------\n");
	fflush(stdout);
	while ((r = read(fd, buf, sizeof(buf))) > 0)
		if (fwrite(buf, 1, (size_t)r, stdout) != (size_t)r)
			break;
	close(fd);
	printf("--------------------------------------------------\n");
	fflush(stdout);
}

/* The selection options of one command line, in order. */
struct selection {
	char **sel; /* "NAME" or "NAME=ARG" (select_option's NAME) */
	size_t n;
	int nul_sep; /* --null-separator */
};

/* take_selection(s, c, argc): keep the selection option ${c}
 * (ACT_SELECT(_STDIN) + index, its argument in optarg). */
static void
take_selection(struct selection *s, int c, int argc)
{
	int stdin_list = c >= ACT_SELECT_STDIN, noarg;
	const char *name =
	    select_option((size_t)(c -
			      (stdin_list ? ACT_SELECT_STDIN : ACT_SELECT)),
		&noarg);
	char *arg =
		 stdin_list ? filelist_as_file(0, "on standard input") : NULL,
	     *one;

	if (s->sel == NULL &&
	    (s->sel = calloc((size_t)argc + 1, sizeof(*s->sel))) == NULL)
		fatal("out of memory");
	if (noarg)
		one = strdup(name);
	else if (asprintf(&one, "%s=%s", name, arg ? arg : optarg) < 0)
		one = NULL;
	if (one == NULL)
		fatal("out of memory");
	free(arg);
	s->sel[s->n++] = one;
}

static void
selection_free(struct selection *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->sel[i]);
	free(s->sel);
	s->sel = NULL;
	s->n = 0;
}

/* is_filelist("NAME=ARG"): 1 for the filelist options. */
static int
is_filelist(const char *one)
{
	size_t n = strcspn(one, "=");

	return memmem(one, n, "filelist", 8) != NULL;
}

/*
 * selection_freeze(s): each filelist read once, into a memfd, for an
 * action whose two roles both read it (compare): a FIFO or <(...) would
 * give the second nothing, a file changed in between another list.
 */
static void
selection_freeze(struct selection *s)
{
	for (size_t i = 0; i < s->n; i++) {
		char *eq = strchr(s->sel[i], '='), *kept, *one;
		int fd;

		if (!is_filelist(s->sel[i]) || eq == NULL ||
		    strncmp(eq + 1, "/proc/self/fd/", 14) == 0)
			continue;
		if ((fd = open(eq + 1, O_RDONLY | O_CLOEXEC)) < 0)
			fatal("cannot open filelist '%s': %s", eq + 1,
			    strerror(errno));
		kept = filelist_as_file(fd, eq + 1);
		close(fd);
		if (asprintf(&one, "%.*s=%s", (int)(eq - s->sel[i]), s->sel[i],
			kept) < 0)
			fatal("out of memory");
		free(kept);
		free(s->sel[i]);
		s->sel[i] = one;
	}
}

/*
 * pass_selection(argv, n, s, inl): the selection as a role's options;
 * with ${inl} each filelist is read here and sent in hex (a role that
 * cannot open it: remote, or confined to a repository).
 */
static void
pass_selection(char **argv, int *n, const struct selection *s, int inl)
{
	size_t total = 0;

	for (size_t i = 0; i < s->n; i++) {
		if (inl && is_filelist(s->sel[i])) {
			argv[(*n)++] = (char *)"--select-inline";
			argv[(*n)++] = inline_filelist(s->sel[i], &total);
			continue;
		}
		argv[(*n)++] = (char *)"--select";
		argv[(*n)++] = s->sel[i];
	}
	if (s->nul_sep)
		argv[(*n)++] = (char *)"--null-separator";
}

/* The options that look at the source's file system, which a
 * repository's records cannot answer. */
static int
needs_source_fs(const char *one)
{
	size_t n = strcspn(one, "=");

	return memmem(one, n, "if-present", 10) != NULL ||
	    (n == 25 && memcmp(one, "exclude-other-filesystems", 25) == 0);
}

static int
cmd_backup(int argc, char **argv, struct global *g)
{
	const struct action *a = action_get(ACT_BACKUP);
	/* static: alive until exit, also on the fatal() paths */
	static char **rargv;
	static struct selection sel;
	char *wargv[28], *shost, *rhost;
	int c, rn = 0, wn = 0, rst, wst;
	int delta = -1; /* -1: by delta when one side is remote */
	int rehash = 0;
	int native = 0, print_stats = 0, progress = -1, full = 0;
	int digests = -1; /* -1: at the source when it is remote */
	const char *spath, *rpath, *check = NULL;
	struct stat st;

	if ((rargv = calloc((size_t)argc * 2 + 16, sizeof(*rargv))) == NULL)
		fatal("out of memory");
	rargv[rn++] = (char *)"capback-reader";
	wargv[wn++] = (char *)"capback-writer";
	action_begin(argv);
	while ((c = action_next(a, argc, argv)) != -1) {
		if (c >= ACT_SELECT) {
			take_selection(&sel, c, argc);
			continue;
		}
		switch (c) {
		case 'e': rargv[rn++] = (char *)"--no-eas"; break;
		case 'a': rargv[rn++] = (char *)"--no-acls"; break;
		case 'f':
			/* not a quiet way to the global one: that also
			 * regresses a session whose process still runs */
			fatal("backup's --force is the global option, given "
			      "before the action: 'capback --force backup "
			      "...' backs up into a non-empty directory and "
			      "also undoes an unfinished session whose process "
			      "still runs");
		case '0': sel.nul_sep = 1; break;
		case 'd': delta = 1; break;
		case 'W': delta = 0; break;
		case 'N': native = 1; break;
		case 'C': rehash = 1; break;
		case 'S': print_stats = 1; break;
		case 'G': progress = 1; break;
		case 'g': progress = 0; break;
		case 'F': full = 1; break;
		case 'K': check = optarg; break;
		case 'H':
			if (strcmp(optarg, "source") != 0 &&
			    strcmp(optarg, "server") != 0)
				fatal("--digests-at takes source or server, "
				      "not '%s'",
				    optarg);
			digests = strcmp(optarg, "source") == 0;
			break;
		}
	}
	if (action_operands(a, argc, 2, 2))
		return 1;
	shost = split_remote(argv[optind], &spath);
	if (digests == -1)
		digests = shost != NULL;
	if (check != NULL && !digests)
		fatal("--check-received needs digests from the source "
		      "(--digests-at source, the default for a remote "
		      "source): here the server hashes every file itself");
	rhost = split_remote(argv[optind + 1], &rpath);
	if (shost != NULL && rhost != NULL)
		fatal("only one side of a backup can be remote");
	if (shost == NULL && stat(spath, &st) != 0)
		fatal("cannot back up '%s': %s", spath, strerror(errno));
	if (shost == NULL && !S_ISDIR(st.st_mode))
		fatal("cannot back up '%s': not a directory", spath);
	sel.nul_sep |= g->nul_sep;
	check_select(spath, sel.sel, sel.n, sel.nul_sep);
	add_globals(rargv, &rn, g, 0);
	/* A remote reader gets filelists in its request: they are read
	 * here, on the client side. */
	pass_selection(rargv, &rn, &sel, shost != NULL);
	rargv[rn++] = (char *)"--";
	rargv[rn++] = (char *)spath;
	rargv[rn] = NULL;
	add_globals(wargv, &wn, g, G_TIME | G_FORCE | G_WAIT);
	if (delta == 1 || (delta == -1 && (shost != NULL || rhost != NULL)))
		wargv[wn++] = (char *)"--delta";
	if (native)
		wargv[wn++] = (char *)"--native-owners";
	if (rehash)
		wargv[wn++] = (char *)"--check-unchanged";
	if (digests)
		wargv[wn++] = (char *)"--source-digests";
	if (check != NULL) {
		wargv[wn++] = (char *)"--check-received";
		wargv[wn++] = (char *)check;
	}
	/* a progress line on a terminal; a remote writer's stderr is not
	 * one (it reaches us through the relay, escaped) */
	if (rhost == NULL && progress_wanted(progress))
		wargv[wn++] = (char *)"--progress";
	wargv[wn++] = (char *)"--";
	wargv[wn++] = (char *)"backup";
	wargv[wn++] = (char *)rpath;
	wargv[wn] = NULL;
	if (full && rhost != NULL)
		fatal("--create-full-path makes local directories only");
	if (full)
		create_full_path(rpath);
	if (print_stats && rhost != NULL)
		fatal("--print-statistics needs a local repository (on a "
		      "remote one, read "
		      "rdiff-backup-data/session_statistics.*.data there)");
	if (spawn_pair(shost ? remote_wrap(g, shost, rargv) : rargv,
		rhost ? remote_wrap(g, rhost, wargv) : wargv, &rst, &wst) != 0)
		fatal("cannot start the backup roles: %s", strerror(errno));
	selection_free(&sel);
	free(rargv);
	if (print_stats && (combine(rst, wst) & ~4) == 0)
		print_session_statistics(rpath);
	return combine(rst, wst);
}

/*
 * The entries of the session TIME (${at}, NULL: the newest) of the local
 * repository ${repo} as its statistics count them, for a progress line's
 * ETA; 0 if unknown.
 */
static uint64_t
session_entries(const char *repo, const char *at, const struct global *g)
{
	int64_t *s = NULL, t = 0;
	size_t n = 0;
	uint64_t v = 0;
	int dfd = repo_open_data(repo);

	if (dfd < 0)
		return 0;
	if (repo_sessions(dfd, &s, &n) == 0 && n > 0) {
		int64_t now = g->current_time ? atoll(g->current_time) :
						(int64_t)time(NULL);

		t = s[n - 1];
		if (at != NULL && timespec_parse(at, now, s, n, &t) == 0)
			t = timespec_round_down(t, s, n);
		v = repo_session_stat(dfd, t > s[n - 1] ? s[n - 1] : t,
		    "SourceFiles");
	}
	free(s);
	close(dfd);
	return v;
}

static int
cmd_restore(int argc, char **argv, struct global *g)
{
	const struct action *a = action_get(ACT_RESTORE);
	static char **sargv;
	static struct selection sel;
	char *dargv[20], *repo, *sub, *rhost, *dhost, expect[32];
	const char *at = NULL, *rloc, *dloc;
	int c, sn = 0, dn = 0, sst, dst, full = 0, progress = -1;

	action_begin(argv);
	while ((c = action_next(a, argc, argv)) != -1) {
		if (c >= ACT_SELECT) {
			take_selection(&sel, c, argc);
			continue;
		}
		switch (c) {
		case 'f': g->force = 1; break;
		case 't': at = optarg; break;
		case 'c': full = 1; break;
		case 'G': progress = 1; break;
		case 'g': progress = 0; break;
		case '0': sel.nul_sep = 1; break;
		}
	}
	if (action_operands(a, argc, 2, 2))
		return 1;
	if ((sargv = calloc((size_t)argc * 2 + 24, sizeof(*sargv))) == NULL)
		fatal("out of memory");
	sargv[sn++] = (char *)"capback-writer";
	dargv[dn++] = (char *)"capback-restorer";
	rhost = split_remote(argv[optind], &rloc);
	dhost = split_remote(argv[optind + 1], &dloc);
	if (rhost != NULL && dhost != NULL)
		fatal("only one side of a restore can be remote");
	for (size_t i = 0; i < sel.n; i++)
		if (needs_source_fs(sel.sel[i]))
			fatal("restore selects from the repository's records: "
			      "--%.*s needs the source's file system (it goes "
			      "with backup)",
			    (int)strcspn(sel.sel[i], "="), sel.sel[i]);
	/* the globs match TARGET/path as written, as rdiff-backup's */
	sel.nul_sep |= g->nul_sep;
	check_select(dloc, sel.sel, sel.n, sel.nul_sep);
	if (dhost == NULL && rhost == NULL) {
		/* REPOSITORY and TARGET the wrong way round: said so, not
		 * "the target is inside a repository" */
		struct repo_loc rl, dl;

		if (repo_locate(rloc, &rl) == 0) {
			if (!rl.found && rl.err == 0 &&
			    repo_locate(dloc, &dl) == 0) {
				if (dl.found)
					fatal("'%s' is no backup repository "
					      "and "
					      "'%s' is one: restore takes "
					      "REPOSITORY[/PATH] TARGET",
					    rloc, dloc);
				repo_loc_release(&dl);
			}
			repo_loc_release(&rl);
		}
	}
	if (dhost == NULL)
		repo_refuse_inside(dloc, "the restore target");
	if (full && dhost != NULL)
		fatal("--create-full-path makes local directories only");
	if (full)
		create_full_path(dloc);
	add_globals(sargv, &sn, g, G_TIME | G_WAIT);
	if (at != NULL) {
		sargv[sn++] = (char *)"--at";
		sargv[sn++] = (char *)at;
	}
	if (rhost != NULL) { /* the remote writer finds the repository */
		sargv[sn++] = (char *)"--find-repo";
		repo = strdup(rloc);
		sub = strdup(".");
		if (repo == NULL || sub == NULL)
			fatal("out of memory");
	} else
		repo = repo_split(rloc, &sub);
	if (strcmp(sub, ".") != 0) {
		sargv[sn++] = (char *)"--path";
		sargv[sn++] = sub;
	}
	if (sel.n > 0) {
		sargv[sn++] = (char *)"--select-base";
		sargv[sn++] = (char *)dloc;
		pass_selection(sargv, &sn, &sel, 1);
	}
	sargv[sn++] = (char *)"--";
	sargv[sn++] = (char *)"restore-source";
	sargv[sn++] = repo;
	sargv[sn] = NULL;
	add_globals(dargv, &dn, g, G_FORCE);
	/* a selection sends part of the session: what TARGET holds
	 * beyond it stays (rdiff-backup leaves what it does not select) */
	if (sel.n > 0)
		dargv[dn++] = (char *)"--no-prune";
	if (dhost == NULL && progress_wanted(progress)) {
		dargv[dn++] = (char *)"--progress";
		/* the ETA, when the whole of a local session comes */
		if (rhost == NULL && strcmp(sub, ".") == 0 && sel.n == 0) {
			snprintf(expect, sizeof(expect), "%" PRIu64,
			    session_entries(repo, at, g));
			dargv[dn++] = (char *)"--expect-files";
			dargv[dn++] = expect;
		}
	}
	dargv[dn++] = (char *)"--";
	dargv[dn++] = (char *)dloc;
	dargv[dn] = NULL;
	if (spawn_pair(rhost ? remote_wrap(g, rhost, sargv) : sargv,
		dhost ? remote_wrap(g, dhost, dargv) : dargv, &sst, &dst) != 0)
		fatal("cannot start the restore roles: %s", strerror(errno));
	free(repo);
	free(sub);
	free(sargv);
	selection_free(&sel);
	/* the restorer got nothing; the repository side said why, unless it
	 * says it did well (or it was ssh, which names its own failures) */
	if (dst == RESTORER_GOT_NOTHING && sst == 0)
		log_error("the repository side ended without sending the "
			  "session, and without saying why");
	return combine(sst, dst);
}

static int
cmd_regress(int argc, char **argv, const struct global *g)
{
	const struct action *a = action_get(ACT_REGRESS);
	char *wargv[16];
	int c, wn = 0, st, native = 0;

	wargv[wn++] = (char *)"capback-writer";
	action_begin(argv);
	while ((c = action_next(a, argc, argv)) != -1)
		if (c == 'N')
			native = 1;
	if (action_operands(a, argc, 1, 1))
		return 1;
	add_globals(wargv, &wn, g, G_FORCE | G_WAIT);
	if (native)
		wargv[wn++] = (char *)"--native-owners";
	wargv[wn++] = (char *)"--";
	wargv[wn++] = (char *)"regress";
	wargv[wn++] = argv[optind];
	wargv[wn] = NULL;
	spawn_one(wargv, &st);
	return combine(st, 0);
}

/* Run the writer alone on a read-only question about a repository. */
static int
run_query(const char *mode, const char *at, const char *location,
    const struct global *g, char *const *extra)
{
	char *wargv[24], *repo, *sub, *host;
	const char *loc;
	int wn = 0, st;

	host = split_remote(location, &loc);
	if (host != NULL) { /* the remote writer finds the repository */
		repo = strdup(loc);
		sub = strdup(".");
		if (repo == NULL || sub == NULL)
			fatal("out of memory");
	} else
		repo = repo_split(loc, &sub);
	if (strcmp(sub, ".") != 0 && strcmp(mode, "remove-older-than") == 0)
		fatal("remove increments works on a whole repository, not on "
		      "'%s' in it",
		    sub);
	wargv[wn++] = (char *)"capback-writer";
	add_globals(wargv, &wn, g, G_TIME | G_FORCE | G_WAIT);
	if (at != NULL) {
		wargv[wn++] = (char *)"--at";
		wargv[wn++] = (char *)at;
	}
	if (strcmp(sub, ".") != 0) {
		wargv[wn++] = (char *)"--path";
		wargv[wn++] = sub;
	}
	if (host != NULL)
		wargv[wn++] = (char *)"--find-repo";
	for (; extra != NULL && *extra != NULL && wn < 18; extra++)
		wargv[wn++] = *extra;
	if (g->parsable && strncmp(mode, "list-", 5) == 0) {
		wargv[wn++] = (char *)"--parsable";
		wargv[wn++] =
		    (char *)(g->api >= 201 || strcmp(mode, "list-sizes") == 0 ?
			    "2" :
			    "1");
	}
	wargv[wn++] = (char *)"--";
	wargv[wn++] = (char *)mode;
	wargv[wn++] = repo;
	wargv[wn] = NULL;
	spawn_one(host ? remote_wrap(g, host, wargv) : wargv, &st);
	free(repo);
	free(sub);
	return combine(st, 0);
}

/* list increments|files, verify: the options and the one location. */
static int
cmd_query(int argc, char **argv, const struct global *g, int is_list)
{
	const struct action *a = action_get(ACT_VERIFY);
	const char *at = NULL, *mode = "verify", *since = NULL;
	char *extra[3] = { NULL, NULL, NULL };
	int c, all = 0, size = 0, json = 0, progress = -1, ne = 0;

	if (is_list) {
		if (argc < 2 ||
		    (strcmp(argv[1], "increments") != 0 &&
			strcmp(argv[1], "files") != 0)) {
			FILE *f = argc >= 2 && strcmp(argv[1], "--help") == 0 ?
			    stdout :
			    stderr;

			if (f == stderr)
				log_error("list what? increments or files");
			fprintf(f,
			    "usage: capback [GLOBAL OPTIONS] list "
			    "increments|files ...\n\n");
			action_usage(action_get(ACT_LIST_INCREMENTS), f);
			fprintf(f, "\n");
			action_usage(action_get(ACT_LIST_FILES), f);
			return f == stdout ? 0 : 1;
		}
		a = action_get(
		    argv[1][0] == 'i' ? ACT_LIST_INCREMENTS : ACT_LIST_FILES);
		mode = argv[1][0] == 'i' ? "list-increments" : "list-files";
		argc--;
		argv++;
	}
	action_begin(argv);
	while ((c = action_next(a, argc, argv)) != -1) {
		switch (c) {
		case 't': at = optarg; break;
		case 'c': since = optarg; break;
		case 'a': all = 1; break;
		case 's': size = 1; break;
		case 'j': json = 1; break;
		case 'G': progress = 1; break;
		case 'g': progress = 0; break;
		}
	}
	if (action_operands(a, argc, 1, 1))
		return 1;
	if (size)
		mode = "list-sizes";
	/* --parsable-output changes list increments only (list files and
	 * verify print the same with rdiff-backup's too) */
	if (json) {
		if ((strcmp(mode, "verify") == 0 && all) ||
		    strcmp(mode, "list-sizes") == 0 || g->parsable)
			fatal("--json is one machine form, --size and "
			      "--parsable-output another: give one (and verify "
			      "--json checks one session, not --all)");
		extra[ne++] = (char *)"--json";
	}
	if (strcmp(mode, "verify") == 0 && strchr(argv[optind], ':') == NULL &&
	    progress_wanted(progress))
		extra[ne++] = (char *)"--progress";
	if (all) {
		if (at != NULL)
			fatal("--all goes with verify, without --at");
		mode = "verify-all";
	}
	if (since != NULL) {
		if (at != NULL)
			fatal("--changed-since goes with list files, without "
			      "--at");
		mode = "list-changed";
		at = since;
	}
	return run_query(mode, at, argv[optind], g, extra);
}

static int
cmd_diff(int argc, char **argv, const struct global *g)
{
	const struct action *a = action_get(ACT_DIFF);
	const char *at[2] = { NULL, NULL };
	char *extra[4] = { NULL };
	int c, nat = 0, ne = 0;

	action_begin(argv);
	while ((c = action_next(a, argc, argv)) != -1) {
		switch (c) {
		case 't':
			if (nat == 2)
				fatal("diff takes two --at at most");
			at[nat++] = optarg;
			break;
		case 'j': extra[ne++] = (char *)"--json"; break;
		}
	}
	if (action_operands(a, argc, 1, 1))
		return 1;
	if (at[1] != NULL) {
		extra[ne++] = (char *)"--at2";
		extra[ne++] = (char *)at[1];
	}
	return run_query("diff", at[0] ? at[0] : "1B", argv[optind], g, extra);
}

static int
cmd_versions(int argc, char **argv, const struct global *g)
{
	const struct action *a = action_get(ACT_VERSIONS);
	char *extra[2] = { NULL, NULL };
	int c;

	action_begin(argv);
	while ((c = action_next(a, argc, argv)) != -1)
		if (c == 'j')
			extra[0] = (char *)"--json";
	if (action_operands(a, argc, 1, 1))
		return 1;
	return run_query("versions", NULL, argv[optind], g, extra);
}

/* capback mount: the role capback-mount in this process's place. */
static int
cmd_mount(int argc, char **argv, const struct global *g)
{
	const struct action *a = action_get(ACT_MOUNT);
	char bin[4096], *margv[10];
	int c, n = 0;

	action_begin(argv);
	margv[n++] = (char *)"capback-mount";
	margv[n++] = (char *)"-v";
	margv[n++] = (char *)g->verbosity;
	while ((c = action_next(a, argc, argv)) != -1) {
		switch (c) {
		case 'c':
			margv[n++] = (char *)"--cache";
			margv[n++] = optarg;
			break;
		case 'a': margv[n++] = (char *)"--allow-other"; break;
		case 'f': margv[n++] = (char *)"--foreground"; break;
		}
	}
	if (action_operands(a, argc, 2, 2))
		return 1;
	if (strstr(argv[optind], "::") != NULL)
		return action_misuse(a,
		    "mount reads a local repository: mount it where it is, "
		    "or replicate it here first");
	margv[n++] = argv[optind];
	margv[n++] = argv[optind + 1];
	margv[n] = NULL;
	snprintf(bin, sizeof(bin), "%s/capback-mount", spawn_libexec_dir());
	execv(bin, margv);
	fatal("cannot run '%s': %s", bin, strerror(errno));
}

/*
 * Is ${path} where capback mount mounted a file system (/proc/mounts;
 * resolved as capback mount resolves its mount point, so a symlink to it
 * names it too; a dead one's point cannot be resolved: then by the name
 * given)?  1 with its mount point as listed in *where (malloc'd) and the
 * account that mounted it in *owner (-1 if not told), else 0.
 */
static int
capback_mounted(const char *path, char **where, long *owner)
{
	char *real = realpath(path, NULL), pt[4096], opts[4096];
	const char *want = real != NULL ? real : path, *u;
	FILE *f = fopen("/proc/mounts", "re");
	int found = 0;

	*where = NULL;
	*owner = -1;
	while (f != NULL && !found &&
	    fs_mount_next(f, "fuse.capback", pt, sizeof(pt), opts,
		sizeof(opts)))
		found = strcmp(pt, want) == 0 ||
		    (real == NULL && path[0] != '/' &&
			strlen(pt) > strlen(path) &&
			strcmp(pt + strlen(pt) - strlen(path), path) == 0 &&
			pt[strlen(pt) - strlen(path) - 1] == '/');
	if (f != NULL)
		fclose(f);
	free(real);
	if (!found)
		return 0;
	if ((u = strstr(opts, "user_id=")) != NULL &&
	    (u == opts || u[-1] == ','))
		*owner = strtol(u + 8, NULL, 10);
	if ((*where = strdup(pt)) == NULL)
		fatal("out of memory");
	return 1;
}

static int
cmd_umount(int argc, char **argv)
{
	const struct action *a = action_get(ACT_UMOUNT);
	char *uargv[] = { (char *)"fusermount3", (char *)"-u", NULL, NULL };
	char *where;
	long owner;

	action_begin(argv);
	while (action_next(a, argc, argv) != -1)
		;
	if (action_operands(a, argc, 1, 1))
		return 1;
	if (!capback_mounted(argv[optind], &where, &owner)) {
		struct stat st;

		if (lstat(argv[optind], &st) != 0)
			log_error("'%s': %s", argv[optind], strerror(errno));
		else
			log_error("'%s' is not a mount of capback mount",
			    argv[optind]);
		return 1;
	}
	if (owner >= 0 && geteuid() != 0 && (uid_t)owner != geteuid()) {
		struct passwd *pw = getpwuid((uid_t)owner);

		log_error("'%s' is mounted by %s (uid %ld): only that account "
			  "or root can unmount it",
		    argv[optind], pw != NULL ? pw->pw_name : "another account",
		    owner);
		free(where);
		return 1;
	}
	/* the mount point as mount resolved it (fusermount3 follows no
	 * symlink to it) */
	uargv[2] = where;
	execvp(uargv[0], uargv);
	fatal("cannot run fusermount3 (package fuse3): %s", strerror(errno));
}

static int
cmd_remove(int argc, char **argv, struct global *g)
{
	const struct action *a = action_get(ACT_REMOVE);
	const char *at = NULL;
	int c;

	if (argc >= 2 && strcmp(argv[1], "--help") == 0) {
		action_usage(a, stdout);
		return 0;
	}
	if (argc < 2 || strcmp(argv[1], "increments") != 0)
		return action_misuse(a,
		    "remove what? only 'increments' can be removed");
	argc--;
	argv++;
	action_begin(argv);
	while ((c = action_next(a, argc, argv)) != -1) {
		switch (c) {
		case 't': at = optarg; break;
		case 'f': g->force = 1; break;
		}
	}
	if (argc - optind != 1 || at == NULL)
		return action_misuse(a,
		    "remove increments needs --older-than "
		    "TIME and REPOSITORY");
	return run_query("remove-older-than", at, argv[optind], g, NULL);
}

static int
cmd_setup(int argc, char **argv)
{
	const struct action *a = action_get(ACT_SETUP);
	struct setup_opts o = { .role = NULL,
		.user = "capback",
		.group = "capback-reader",
		.home = "/var/lib/capback",
		.restrict_path = "/",
		.repo_dir = "/srv/backup",
		.config = DEFAULT_CONFIG };
	int c;

	action_begin(argv);
	while ((c = action_next(a, argc, argv)) != -1) {
		switch (c) {
		case 'r': o.role = optarg; break;
		case 'u': o.user = optarg; break;
		case 'g': o.group = optarg; break;
		case 'H': o.home = optarg; break;
		case 'R': o.restrict_path = optarg; break;
		case 'F': o.from = optarg; break;
		case 'k': o.key = optarg; break;
		case 'd': o.repo_dir = optarg; break;
		case 'c': o.config = optarg; break;
		case 'n': o.host = optarg; break;
		case 's': o.source = optarg; break;
		case 'a': o.apply = 1; break;
		case 'S': o.max_skew = optarg; break;
		case 'Q': o.quota = optarg; break;
		}
	}
	if (optind != argc || o.role == NULL)
		fatal("setup needs --role server, reader, restorer or vault "
		      "(see capback setup --help)");
	if (strcmp(o.role, "restorer") == 0 &&
	    strcmp(o.restrict_path, "/") == 0)
		fatal("setup: --role restorer needs --restrict-path DIR, the "
		      "directory restores may be written beneath (such as "
		      "/var/restore)");
	if (strcmp(o.role, "vault") == 0 && strcmp(o.restrict_path, "/") == 0)
		fatal("setup: --role vault needs --restrict-path DIR, the "
		      "directory of the vault's repositories (such as "
		      "/srv/vault)");
	if ((o.max_skew || o.quota) && strcmp(o.role, "vault") != 0)
		fatal("setup: --max-skew and --quota are for --role vault");
	return setup(&o);
}

static int
cmd_doctor(int argc, char **argv)
{
	const struct action *a = action_get(ACT_DOCTOR);
	const char *role = "reader", *user = NULL;
	int c;

	action_begin(argv);
	while ((c = action_next(a, argc, argv)) != -1) {
		switch (c) {
		case 'r': role = optarg; break;
		case 'u': user = optarg; break;
		}
	}
	if (optind != argc)
		fatal("doctor takes no arguments besides its options");
	return doctor(role, user);
}

static int
cmd_compare(int argc, char **argv, const struct global *g)
{
	const struct action *a = action_get(ACT_COMPARE);
	static char **rargv, **wargv;
	static struct selection sel;
	char mode[16], *repo, *sub, *shost;
	const char *at = NULL, *method = "meta", *spath;
	int c, rn = 0, wn = 0, rst, wst, res;
	struct stat st;

	action_begin(argv);
	while ((c = action_next(a, argc, argv)) != -1) {
		if (c >= ACT_SELECT) {
			take_selection(&sel, c, argc);
			continue;
		}
		switch (c) {
		case 'm': method = optarg; break;
		case 't': at = optarg; break;
		case '0': sel.nul_sep = 1; break;
		}
	}
	if (strcmp(method, "meta") != 0 && strcmp(method, "hash") != 0 &&
	    strcmp(method, "full") != 0)
		fatal("--method must be meta, hash or full, not '%s'", method);
	if (action_operands(a, argc, 2, 2))
		return 1;
	shost = split_remote(argv[optind], &spath);
	if (strstr(argv[optind + 1], "::"))
		fatal("compare reads the repository where it is: run it on "
		      "the repository's host (the source may be remote)");
	if (shost == NULL && stat(spath, &st) != 0)
		fatal("cannot compare '%s': %s", spath, strerror(errno));
	if (shost == NULL && !S_ISDIR(st.st_mode))
		fatal("cannot compare '%s': not a directory", spath);
	/* the repository's side cannot answer these: the two sides would
	 * disagree (rdiff-backup applies them to SOURCE only) */
	for (size_t i = 0; i < sel.n; i++)
		if (needs_source_fs(sel.sel[i]))
			fatal("compare leaves a path out on both sides: --%.*s "
			      "needs the source's file system, which the "
			      "backup's records cannot answer",
			    (int)strcspn(sel.sel[i], "="), sel.sel[i]);
	sel.nul_sep |= g->nul_sep;
	check_select(spath, sel.sel, sel.n, sel.nul_sep);
	selection_freeze(&sel);
	if ((rargv = calloc((size_t)argc * 2 + 16, sizeof(*rargv))) == NULL ||
	    (wargv = calloc((size_t)argc * 2 + 24, sizeof(*wargv))) == NULL)
		fatal("out of memory");
	rargv[rn++] = (char *)"capback-reader";
	add_globals(rargv, &rn, g, 0);
	pass_selection(rargv, &rn, &sel, shost != NULL);
	rargv[rn++] = (char *)"--";
	rargv[rn++] = (char *)spath;
	rargv[rn] = NULL;
	wargv[wn++] = (char *)"capback-writer";
	add_globals(wargv, &wn, g, G_TIME | G_FORCE | G_WAIT);
	if (at != NULL) {
		wargv[wn++] = (char *)"--at";
		wargv[wn++] = (char *)at;
	}
	repo = repo_split(argv[optind + 1], &sub);
	if (strcmp(sub, ".") != 0) {
		wargv[wn++] = (char *)"--path";
		wargv[wn++] = sub;
	}
	if (sel.n > 0) {
		/* the repository's side leaves out what the source's does
		 * (rdiff-backup would call it deleted) */
		wargv[wn++] = (char *)"--select-base";
		wargv[wn++] = (char *)spath;
		pass_selection(wargv, &wn, &sel, 1);
	}
	snprintf(mode, sizeof(mode), "compare-%s", method);
	wargv[wn++] = (char *)"--";
	wargv[wn++] = mode;
	wargv[wn++] = repo;
	wargv[wn] = NULL;
	if (fcntl(1, F_GETFD) < 0)
		fatal("compare reports on standard output, which is closed");
	fflush(stdout);
	/* The writer reports on our stdout; the reader never sees it. */
	if (spawn_pair_out(shost ? remote_wrap(g, shost, rargv) : rargv, wargv,
		1, &rst, &wst) != 0)
		fatal("cannot start the compare roles: %s", strerror(errno));
	free(repo);
	free(sub);
	free(rargv);
	free(wargv);
	selection_free(&sel);
	/*
	 * A role that died (not a fatal() it explained) must not pass for
	 * "differences found", which is status 1 too.
	 */
	if (rst != 0 && rst != 1)
		log_error("the reader ended abnormally (status %d)", rst);
	if (wst != 1 && (wst < 0 || wst > 15 || (wst & ~12) != 0))
		log_error("the writer ended abnormally (status %d)", wst);
	/* rdiff-backup 2.2 (API 200) exits 1 when it found differences. */
	res = combine(rst, wst);
	return (res & 8) ? 1 : res;
}

enum { LS_ABSENT_OK = 1, LS_NOW = 2 };

/*
 * What the writer of ${loc} (on its host for [user@]host::path) lists as
 * its sessions, one a line ("TIME" or "TIME unfinished"), and its exit
 * status in *st.  LS_ABSENT_OK: an absent or empty directory, or a first
 * session that did not finish, lists none.  LS_NOW: not waiting for a
 * repository in use (that writer fails, quietly) instead of the --wait
 * given.
 */
static char *
list_sessions_at(const char *loc, int how, int *st, const struct global *g)
{
	char *wargv[12];
	size_t len;
	int wn = 0;

	wargv[wn++] = (char *)"capback-writer";
	if (how & LS_NOW) {
		wargv[wn++] = (char *)"--wait";
		wargv[wn++] = (char *)"0";
		wargv[wn++] = (char *)"-v";
		wargv[wn++] = (char *)"1";
	} else
		add_globals(wargv, &wn, g, G_WAIT);
	if (how & LS_ABSENT_OK)
		wargv[wn++] = (char *)"--absent-ok";
	wargv[wn++] = (char *)"--";
	wargv[wn++] = (char *)"list-sessions";
	wargv[wn++] = (char *)loc; /* capture_at puts the path there */
	wargv[wn] = NULL;
	return capture_at(loc, wargv, 1u << 24, &len, st, g);
}

/*
 * The finished sessions of the repository ${loc} (malloc'd, sorted), as
 * its writer lists them (on its host for [user@]host::path); with
 * ${may_be_absent}, an absent or empty directory has none; the time of
 * an unfinished newest session in *unfinished (else left as it is).
 */
static int64_t *
replica_sessions(const char *loc, size_t *n, int may_be_absent,
    int64_t *unfinished, const struct global *g)
{
	/* static: reachable still on the fatal() paths (one a side) */
	static char *outs[2];
	static int64_t *held[2];
	char *out, *line;
	int64_t *s;
	size_t cap = 16;
	int st, k = may_be_absent != 0;

	*n = 0;
	out = outs[k] =
	    list_sessions_at(loc, may_be_absent ? LS_ABSENT_OK : 0, &st, g);
	if (st != 0)
		fatal("cannot list the sessions of '%s' (see above)", loc);
	if ((s = held[k] = malloc(cap * sizeof(*s))) == NULL)
		fatal("out of memory");
	for (line = out; *line != '\0'; line += strcspn(line, "\n") + 1) {
		char *end;
		long long t = strtoll(line, &end, 10);

		if (end == line || t <= 0 || (*end != '\n' && *end != ' '))
			fatal("'%s': its writer listed '%.*s' as a session",
			    loc, (int)strcspn(line, "\n"), line);
		/* an unfinished session is not one: the vault's is undone
		 * and copied again, a primary's waits */
		if (strncmp(end, " unfinished", 11) == 0)
			*unfinished = (int64_t)t;
		else {
			if (*n == cap &&
			    (s = held[k] = realloc(s,
				 (cap *= 2) * sizeof(*s))) == NULL)
				fatal("out of memory");
			if (*n > 0 && t <= s[*n - 1])
				fatal("'%s': its writer listed the sessions "
				      "out of order",
				    loc);
			s[(*n)++] = (int64_t)t;
		}
		if (line[strcspn(line, "\n")] == '\0')
			break;
	}
	free(out);
	outs[k] = NULL;
	return s; /* the caller's: it keeps it where fatal() can reach */
}

/*
 * 1 if the repository ${loc} holds an unfinished session no writer is
 * working on (a replicate that failed left it), else 0: one in use (a
 * second replicate, say) is another's to finish.
 */
static int
vault_unfinished(const char *loc, const struct global *g)
{
	int st, r;
	char *out = list_sessions_at(loc, LS_NOW, &st, g);

	r = st == 0 && strstr(out, " unfinished\n") != NULL;
	free(out);
	return r;
}

/* Undo the unfinished session of ${loc} (by its writer, where it is);
 * the writer's exit status. */
static int
regress_at(const char *loc, const struct global *g)
{
	char *wb[16];
	size_t len;
	int nb = 0, st;

	wb[nb++] = (char *)"capback-writer";
	add_globals(wb, &nb, g, G_WAIT);
	wb[nb++] = (char *)"--";
	wb[nb++] = (char *)"regress";
	wb[nb++] = (char *)loc; /* capture_at puts the path there */
	wb[nb] = NULL;
	free(capture_at(loc, wb, 1u << 16, &len, &st, g));
	return st;
}

/* The digest of the records of session ${t} of ${loc}, by its writer,
 * into ${hex} (64 hex digits). */
static void
session_digest(const char *loc, int64_t t, char hex[65], const struct global *g)
{
	char *wargv[12], at[32], *out;
	size_t len;
	int wn = 0, st, ok;

	snprintf(at, sizeof(at), "%lld", (long long)t);
	wargv[wn++] = (char *)"capback-writer";
	add_globals(wargv, &wn, g, G_WAIT);
	wargv[wn++] = (char *)"--at";
	wargv[wn++] = at;
	wargv[wn++] = (char *)"--";
	wargv[wn++] = (char *)"session-digest";
	wargv[wn++] = (char *)loc; /* capture_at puts the path there */
	wargv[wn] = NULL;
	out = capture_at(loc, wargv, 4096, &len, &st, g);
	ok = st == 0 && len == 65 && out[64] == '\n';
	if (ok)
		memcpy(hex, out, 64);
	hex[64] = '\0';
	free(out);
	if (!ok) {
		char ts[TIMEFMT_LEN];

		timefmt_utc(t, ts);
		fatal("cannot read the session %s of '%s' (see above)", ts,
		    loc);
	}
}

/* 1 if session ${t} holds other records in the two, else 0. */
static int
session_differs(const char *primary, const char *vault, int64_t t,
    const struct global *g)
{
	char a[65], b[65];

	session_digest(primary, t, a, g);
	session_digest(vault, t, b, g);
	return strcmp(a, b) != 0;
}

static int
cmd_replicate(int argc, char **argv, const struct global *g)
{
	const struct action *a = action_get(ACT_REPLICATE);
	/* static: reachable still on the fatal() paths */
	static int64_t *ps, *vs;
	size_t np, nv, i, k = 0, todo = 0, first, common = 0;
	int64_t punf = 0, vunf = 0;
	int c, dry = 0, check = 0, rc = 0;
	const char *ppath, *vpath,
	    *schema = g->schema ? g->schema : "ssh -C {h}";
	char *phost, *vhost;

	action_begin(argv);
	while ((c = action_next(a, argc, argv)) != -1) {
		if (c == 'n')
			dry = 1;
		else if (c == 'c')
			check = 1;
	}
	if (argc - optind != 2)
		return action_misuse(a, "replicate needs PRIMARY and VAULT");
	if (dry && check)
		return action_misuse(a,
		    "--dry-run and --check exclude each other");
	phost = split_remote(argv[optind], &ppath);
	vhost = split_remote(argv[optind + 1], &vpath);
	if (phost == NULL && vhost == NULL) {
		struct stat pa, va;

		if (stat(ppath, &pa) == 0 && stat(vpath, &va) == 0 &&
		    pa.st_dev == va.st_dev && pa.st_ino == va.st_ino)
			fatal("'%s' and '%s' are one repository", ppath, vpath);
	}
	ps = replica_sessions(argv[optind], &np, 0, &punf, g);
	vs = replica_sessions(argv[optind + 1], &nv, 1, &vunf, g);
	if (vunf != 0) {
		/* a copy that was stopped: undone first (the vault's writer
		 * would at the next session; its digest is read before) */
		char t[TIMEFMT_LEN];
		int sb;

		timefmt_utc(vunf, t);
		if (check || dry)
			fatal("'%s' holds an unfinished session (%s: a copy "
			      "that was stopped); the next replicate undoes "
			      "it",
			    argv[optind + 1], t);
		sb = regress_at(argv[optind + 1], g);
		if (sb != 0 && sb != 2)
			fatal("cannot undo the unfinished session %s of '%s' "
			      "(see above)",
			    t, argv[optind + 1]);
	}
	/* From the primary's oldest session on, every session of the vault
	 * must be the primary's: the vault's own retention may have
	 * removed its oldest, the primary's its own.  Copied are the
	 * primary's sessions after the vault's newest. */
	for (i = 0, first = 0; i < nv; i++) {
		char t[TIMEFMT_LEN];

		if (np > 0 && vs[i] < ps[0])
			continue;
		while (first < np && ps[first] < vs[i])
			first++;
		if (first >= np || vs[i] != ps[first]) {
			timefmt_utc(vs[i], t);
			fatal("'%s' holds the session %s, which '%s' %s: it is "
			      "not a copy of it",
			    argv[optind + 1], t, argv[optind],
			    first >= np ? "does not have (yet)" :
					  "does not have");
		}
		common++;
		first++;
	}
	if (nv > 0 && common == 0 && !check && !g->force) {
		char t[TIMEFMT_LEN];

		timefmt_utc(vs[nv - 1], t);
		fatal("'%s' and '%s' have no session in common (the vault's "
		      "newest, %s, is older than every session of the "
		      "primary): nothing proves it is the primary's copy; "
		      "check the two locations, then --force copies anyway",
		    argv[optind + 1], argv[optind], t);
	}
	if (check) { /* every common session, both sides' records */
		size_t bad = 0, j = 0;

		for (i = 0; i < nv; i++) {
			char t[TIMEFMT_LEN];

			while (j < np && ps[j] < vs[i])
				j++;
			if (j >= np || ps[j] != vs[i])
				continue; /* older than the primary's oldest */
			timefmt_utc(vs[i], t);
			if (session_differs(argv[optind], argv[optind + 1],
				vs[i], g)) {
				log_error("the session %s differs: '%s' and "
					  "'%s' "
					  "hold other records (damage on one "
					  "side since it was copied?)",
				    t, argv[optind], argv[optind + 1]);
				bad++;
			}
		}
		printf("%zu session%s in common checked, %zu differ%s; %zu "
		       "not copied yet\n",
		    common, common == 1 ? "" : "s", bad, bad == 1 ? "s" : "",
		    np - first);
		return bad > 0 || np > first ? 1 : 0;
	}
	/* the same times are not the same sessions (two hosts backed up
	 * in the same second): the newest common one's records must be */
	if (common > 0 &&
	    session_differs(argv[optind], argv[optind + 1], ps[first - 1], g)) {
		char t[TIMEFMT_LEN];

		timefmt_utc(ps[first - 1], t);
		fatal("the session %s of '%s' does not hold the records of "
		      "'%s''s: it is not a copy of it (another repository "
		      "backed up in the same second?)",
		    t, argv[optind + 1], argv[optind]);
	}
	todo = np - first;
	if (todo == 0)
		printf("'%s' holds all %zu sessions of '%s'\n",
		    argv[optind + 1], np, argv[optind]);
	for (i = first; i < np && rc == 0; i++) {
		char t[TIMEFMT_LEN], at[32], *wa[24], *wb[24], **ra, **rb;
		int na = 0, nb = 0, sa, sb;

		timefmt_utc(ps[i], t);
		if (dry) {
			printf("would copy the session %s\n", t);
			continue;
		}
		snprintf(at, sizeof(at), "%lld", (long long)ps[i]);
		wa[na++] = (char *)"capback-writer";
		add_globals(wa, &na, g, G_WAIT);
		wa[na++] = (char *)"--at";
		wa[na++] = at;
		wa[na++] = (char *)"--";
		wa[na++] = (char *)"replica-source";
		wa[na++] = (char *)ppath;
		wa[na] = NULL;
		wb[nb++] = (char *)"capback-writer";
		add_globals(wb, &nb, g, G_WAIT);
		wb[nb++] = (char *)"--current-time";
		wb[nb++] = at;
		wb[nb++] = (char *)"--replica";
		if (phost != NULL || vhost != NULL) /* deltas over a link */
			wb[nb++] = (char *)"--delta";
		wb[nb++] = (char *)"--";
		wb[nb++] = (char *)"backup";
		wb[nb++] = (char *)vpath;
		wb[nb] = NULL;
		/* the primary's source (a pull), or the vault's writer (a
		 * push), or both, where they are; one a session: not kept */
		ra = phost ? spawn_remote_argv(schema, phost, wa) : NULL;
		rb = vhost ? spawn_remote_argv(schema, vhost, wb) : NULL;
		if (spawn_pair(ra ? ra : wa, rb ? rb : wb, &sa, &sb) != 0)
			fatal("cannot start the replication roles: %s",
			    strerror(errno));
		free_remote_argv(ra);
		free_remote_argv(rb);
		/* 2: done after undoing an unfinished session (a run that
		 * was stopped); 4, a file left out, is no copy of it */
		rc = combine(sa, sb) & ~2;
		if (rc != 0)
			rc = 1;
		/* checked both ways: the session as the vault recorded it
		 * holds the primary's records */
		if (rc == 0 &&
		    session_differs(argv[optind], argv[optind + 1], ps[i], g)) {
			log_error("the session %s as copied does not hold the "
				  "primary's records",
			    t);
			return 1;
		}
		if (rc == 0) {
			k++;
			/* the command's output, not a warning (run counts
			 * those) */
			printf("session %s copied (%zu of %zu)\n", t, k, todo);
			fflush(stdout);
			continue;
		}
		log_error("session %s was not copied (%zu of the %zu to copy "
			  "were)",
		    t, k, todo);
		/* the vault as it was, restorable now, not at the next run
		 * (an append-only vault's key allows this much); a first
		 * session's leftovers go at the next run */
		if ((nv == 0 && k == 0) ||
		    !vault_unfinished(argv[optind + 1], g))
			break;
		(void)regress_at(argv[optind + 1], g);
	}
	free(ps);
	free(vs);
	return rc;
}

static const char *
check_time(const char *s)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v <= 0 ||
	    v > 4102444799LL)
		fatal("--current-time needs seconds since the epoch, not '%s'",
		    s);
	return s;
}

/* --wait[=SECONDS]: how long to wait for a repository in use ("-1":
 * as long as it takes). */
static const char *
check_wait(const char *s)
{
	char *end;
	long v;

	if (s == NULL)
		return "-1";
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 0)
		fatal("--wait takes a number of seconds, not '%s'", s);
	return s;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "current-time", required_argument, NULL, 't' },
		{ "remote-schema", required_argument, NULL, 'r' },
		{ "verbosity", required_argument, NULL, 'v' },
		{ "force", no_argument, NULL, 'f' },
		{ "wait", optional_argument, NULL, 'w' },
		{ "version", no_argument, NULL, 'V' },
		{ "api-version", required_argument, NULL, 'A' },
		{ "parsable-output", no_argument, NULL, 'P' },
		{ "null-separator", no_argument, NULL, '0' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct global g;
	long api = 0;
	char **full_argv;
	int full_argc;
	const char *env = getenv("CAPBACK_VERBOSITY");
	int c, v = env ? atoi(env) : 3;
	char *end;

	memset(&g, 0, sizeof(g));
	log_init("capback", v);
	/* the command line as given, for info (argv[0] is changed) */
	full_argc = argc;
	if ((full_argv = calloc((size_t)argc + 1, sizeof(*full_argv))) == NULL)
		fatal("out of memory");
	memcpy(full_argv, argv, (size_t)argc * sizeof(*argv));
	keep(full_argv);
	argv[0] = (char *)"capback"; /* getopt's messages start with it */
	while ((c = getopt_long(argc, argv, "+v:Vh", opts, NULL)) != -1) {
		switch (c) {
		case 't': g.current_time = check_time(optarg); break;
		case 'v':
			v = (int)strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || v < 0 || v > 9)
				fatal("-v needs a number 0-9, not '%s'",
				    optarg);
			log_init("capback", v);
			break;
		case 'f': g.force = 1; break;
		case 'w': g.wait = check_wait(optarg); break;
		case 'r': g.schema = optarg; break;
		case 'V': printf("capback %s\n", CAPBACK_VERSION); return 0;
		case 'P': g.parsable = 1; break;
		case '0': g.nul_sep = 1; break;
		case 'A':
			/* rdiff-backup's: accepted so its wrappers run as
			 * they are; the interface is the same either way */
			errno = 0;
			api = strtol(optarg, &end, 10);
			if (errno != 0 || *optarg == '\0' || *end != '\0' ||
			    api < API_VERSION_MIN || api > API_VERSION_MAX)
				fatal("API version %s must be between %d and "
				      "%d",
				    optarg, API_VERSION_MIN, API_VERSION_MAX);
			break;
		case 'h': usage_main(stdout); return 0;
		default: usage_short_main(); return 1;
		}
	}
	snprintf(g.verbosity, sizeof(g.verbosity), "%d", v);
	g.api = api ? (int)api : API_VERSION_MIN;
	if (optind >= argc) {
		log_error("no action given");
		usage_short_main();
		return 1;
	}
	argv += optind;
	argc -= optind;
	if (strcmp(argv[0], "backup") == 0)
		return cmd_backup(argc, argv, &g);
	if (strcmp(argv[0], "restore") == 0)
		return cmd_restore(argc, argv, &g);
	if (strcmp(argv[0], "regress") == 0)
		return cmd_regress(argc, argv, &g);
	if (strcmp(argv[0], "list") == 0)
		return cmd_query(argc, argv, &g, 1);
	if (strcmp(argv[0], "verify") == 0)
		return cmd_query(argc, argv, &g, 0);
	if (strcmp(argv[0], "remove") == 0)
		return cmd_remove(argc, argv, &g);
	if (strcmp(argv[0], "compare") == 0)
		return cmd_compare(argc, argv, &g);
	if (strcmp(argv[0], "doctor") == 0)
		return cmd_doctor(argc, argv);
	if (strcmp(argv[0], "drill") == 0)
		return drill_main(argc, argv, g.verbosity);
	if (strcmp(argv[0], "run") == 0)
		return run_main(argc, argv, g.verbosity, g.current_time);
	if (strcmp(argv[0], "status") == 0)
		return status_main(argc, argv);
	if (strcmp(argv[0], "setup") == 0)
		return cmd_setup(argc, argv);
	if (strcmp(argv[0], "check") == 0)
		return check_main(argc, argv);
	if (strcmp(argv[0], "diff") == 0)
		return cmd_diff(argc, argv, &g);
	if (strcmp(argv[0], "versions") == 0)
		return cmd_versions(argc, argv, &g);
	if (strcmp(argv[0], "replicate") == 0)
		return cmd_replicate(argc, argv, &g);
	if (strcmp(argv[0], "calculate") == 0)
		return calculate_main(argc, argv);
	if (strcmp(argv[0], "info") == 0)
		return info_main(argc, argv, g.api, full_argc, full_argv);
	if (strcmp(argv[0], "mount") == 0)
		return cmd_mount(argc, argv, &g);
	if (strcmp(argv[0], "umount") == 0)
		return cmd_umount(argc, argv);
	log_error("unknown action '%s'%s", argv[0],
	    strspn(argv[0], "0123456789") == strlen(argv[0]) ?
		" (a number: --wait takes its seconds as --wait=SECONDS)" :
		"");
	usage_main(stderr);
	return 1;
}
