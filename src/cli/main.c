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
#include "timespec.h"
#include "log.h"
#include "select.h"
#include "calculate.h"
#include "check.h"
#include "doctor.h"
#include "info.h"
#include "drill.h"
#include "run.h"
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
};

static void
usage_main(FILE *f)
{
	fprintf(f,
	    "usage: capback [GLOBAL OPTIONS] ACTION [OPTIONS] LOCATIONS\n"
	    "\n"
	    "Least-privilege backups in rdiff-backup's repository format.\n"
	    "\n"
	    "Actions:\n"
	    "  backup SOURCE REPOSITORY    mirror SOURCE into REPOSITORY\n"
	    "  restore REPOSITORY[/PATH] TARGET  restore (--at TIME) to "
	    "TARGET\n"
	    "  regress REPOSITORY          undo an unfinished backup session\n"
	    "  list increments REPOSITORY  the sessions kept\n"
	    "  list files REPOSITORY       the paths of a session (--at TIME)\n"
	    "  verify REPOSITORY           check a session's content (--at)\n"
	    "  compare SOURCE REPOSITORY   how SOURCE differs from a backup "
	    "(--at)\n"
	    "  remove increments --older-than TIME REPOSITORY\n"
	    "                              forget the sessions before TIME\n"
	    "  drill REPOSITORY            restore a sample and check it "
	    "(--sample, --all)\n"
	    "  run [CONFIG]                the backup server's job: every "
	    "host, report\n"
	    "  status [--json] [CONFIG]    the last result of every host\n"
	    "  check [CONFIG]              can every host be backed up? "
	    "(ssh, keys, reader)\n"
	    "  diff [--at T] [--at T] REPOSITORY[/PATH]  what changed between "
	    "sessions\n"
	    "  versions REPOSITORY/PATH    each session in which PATH changed\n"
	    "  calculate STATISTIC_FILE... the average of session statistics\n"
	    "  info                        versions, roles, confinement "
	    "features (YAML)\n"
	    "  doctor [--role R] [--user U]  check privileges on this host\n"
	    "  setup --role R [--apply]    set up a server, reader or "
	    "restorer\n"
	    "\n"
	    "Global options (before the action):\n"
	    "  --current-time SECS   pretend the time is SECS (epoch)\n"
	    "  --remote-schema CMD   how to reach [user@]host::/path "
	    "locations\n"
	    "                        (default \"ssh -C {h}\"; the role's "
	    "command is appended)\n"
	    "  -v, --verbosity N     0 silent .. 3 default, 4 a line a file, 5 "
	    "debug\n"
	    "  --force               allow risky operations (see actions)\n"
	    "  --wait[=SECS]         wait for a repository another action "
	    "is changing\n"
	    "                        (else refused; reads wait anyway)\n"
	    "  -V, --version         print the version\n"
	    "  --api-version N       rdiff-backup's (200 or 201): accepted, "
	    "changes nothing\n"
	    "  --parsable-output     list increments in rdiff-backup's "
	    "machine form\n"
	    "  -h, --help            this text; ACTION --help for an "
	    "action\n");
}

static void
usage_backup(FILE *f)
{
	fprintf(f,
	    "usage: capback [GLOBAL OPTIONS] backup [OPTIONS] [SELECTION] "
	    "SOURCE REPOSITORY\n"
	    "\n"
	    "Back up the directory SOURCE into REPOSITORY (created if "
	    "absent;\nan existing non-empty directory that is not a "
	    "repository needs\n--force).  Unchanged files are not read "
	    "again.\n"
	    "  --no-eas    do not store extended attributes\n"
	    "  --no-acls   do not store POSIX ACLs\n"
	    "  --delta       send changed files as librsync deltas against "
	    "the\n"
	    "                repository's copy (the default when a side is "
	    "remote)\n"
	    "  --whole-file  send changed files whole (the local default)\n"
	    "  --native-owners  the mirror keeps true owners and modes (the "
	    "writer\n                needs CAP_CHOWN, CAP_FOWNER, "
	    "CAP_DAC_OVERRIDE)\n"
	    "  --check-unchanged  also read files whose size and time are "
	    "the same and\n                report those whose content "
	    "changed anyway (bit rot)\n"
	    "  --print-statistics  print the session's statistics as "
	    "rdiff-backup does\n"
	    "  --create-full-path  make the missing directories above "
	    "REPOSITORY\n"
	    "  --progress, --no-progress  a progress line on standard error "
	    "(the default\n                when it is a terminal)\n"
	    "\n"
	    "Selection (rdiff-backup's options and rules: in order, the "
	    "first that\nmatches decides, default include; globs match "
	    "SOURCE/path as written):\n"
	    "  --include GLOB, --exclude GLOB   ** any, * and ? within a "
	    "name, [..],\n"
	    "                                   ignorecase: prefix\n"
	    "  --include-regexp RE, --exclude-regexp RE   (POSIX extended)\n"
	    "  --include-filelist F, --exclude-filelist F  (+ / - lines)\n"
	    "  --include-filelist-stdin, --exclude-filelist-stdin (and the "
	    "globbing ones)\n"
	    "  --include-globbing-filelist F, --exclude-globbing-filelist F\n"
	    "  --exclude-if-present NAME, --include-if-present NAME,\n"
	    "  --exclude-other-filesystems,\n"
	    "  --exclude-device-files, --exclude-fifos, --exclude-sockets,\n"
	    "  --exclude-symbolic-links, --include-symbolic-links,\n"
	    "  --exclude-special-files, --include-special-files,\n"
	    "  --max-file-size BYTES, --min-file-size BYTES, "
	    "--null-separator\n"
	    "  --force   back up into a non-empty directory that is not a "
	    "repository\n"
	    "Exit status: 0 done, 1 failed, 2 done after undoing an "
	    "unfinished session,\n4 done but some files could not be read "
	    "(bits: 6 is both).\n");
}

static void
usage_restore(FILE *f)
{
	fprintf(f,
	    "usage: capback [GLOBAL OPTIONS] restore [--force] [--at TIME] "
	    "[--create-full-path]\n                 [--progress | "
	    "--no-progress] REPOSITORY[/PATH] TARGET\n"
	    "\n"
	    "Restore the backup of TIME (default: the newest) in REPOSITORY "
	    "to\nTARGET, which must be absent or empty unless --force is "
	    "given.  A progress line shows on a terminal (--progress, "
	    "--no-progress).\nTIME: now, epoch seconds, 2023-11-14T22:13:20Z, "
	    "2023-11-14, 3D, 2W,\n5B (five sessions back); it rounds down "
	    "to a session.  Owners, devices "
	    "and file\ncapabilities are restored when run with the "
	    "privilege for them.\n"
	    "Exit status: 0 done, 1 failed, 4 done with errors on some "
	    "files.\n");
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
split_remote(const char *loc, const char **path)
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
	keep(host);
	*path = sep + 2;
	return host;
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

#define OPT_SELECT	 1000 /* + index: a selection option */
#define OPT_SELECT_STDIN 2000 /* + index: a filelist on standard input */

/* Standard input as a file the reader can open (a memfd, inherited). */
static char *
stdin_as_file(void)
{
	char buf[65536], *path;
	ssize_t n;
	int fd = memfd_create("capback-filelist", 0);

	if (fd < 0)
		fatal("cannot keep standard input: %s", strerror(errno));
	while ((n = read(0, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || write(fd, buf, (size_t)n) != n)
			fatal("cannot read the filelist on standard input: %s",
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
			fatal("filelists for a remote source may hold %u KiB "
			      "in all; use --include/--exclude patterns or run "
			      "the backup on the host",
			    INLINE_FILELISTS_MAX / 1024);
		for (ssize_t k = 0; k < n; k++)
			o += (size_t)sprintf(out + o, "%02x",
			    (unsigned char)buf[k]);
	}
	close(fd);
	out[o] = '\0';
	return out;
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

static int
cmd_backup(int argc, char **argv, const struct global *g)
{
	static struct option opts[64] = {
		{ "no-eas", no_argument, NULL, 'e' },
		{ "no-acls", no_argument, NULL, 'a' },
		{ "null-separator", no_argument, NULL, '0' },
		{ "help", no_argument, NULL, 'h' },
		{ "delta", no_argument, NULL, 'd' },
		{ "whole-file", no_argument, NULL, 'W' },
		{ "native-owners", no_argument, NULL, 'N' },
		{ "check-unchanged", no_argument, NULL, 'C' },
		{ "print-statistics", no_argument, NULL, 'S' },
		{ "progress", no_argument, NULL, 'G' },
		{ "no-progress", no_argument, NULL, 'g' },
		{ "create-full-path", no_argument, NULL, 'F' },
	};
	/* static: alive until exit, also on the fatal() paths */
	static char **rargv, **sel;
	char *wargv[20], *shost, *rhost;
	int c, rn = 0, wn = 0, rst, wst, noarg, nul_sep = 0;
	size_t i, no = 12, nsel = 0, inline_total = 0;
	int delta = -1; /* -1: by delta when one side is remote */
	int rehash = 0;
	int native = 0, print_stats = 0, progress = -1, full = 0;
	const char *name, *spath, *rpath;
	struct stat st;

	for (i = 0; (name = select_option(i, &noarg)) != NULL; i++) {
		opts[no++] = (struct option){ name,
			noarg ? no_argument : required_argument, NULL,
			OPT_SELECT + (int)i };
		if (strstr(name, "filelist") != NULL) {
			char *sn;

			if (asprintf(&sn, "%s-stdin", name) < 0)
				fatal("out of memory");
			opts[no++] = (struct option){ sn, no_argument, NULL,
				OPT_SELECT_STDIN + (int)i };
		}
	}
	if ((rargv = calloc((size_t)argc * 2 + 16, sizeof(*rargv))) == NULL ||
	    (sel = calloc((size_t)argc + 1, sizeof(*sel))) == NULL)
		fatal("out of memory");
	rargv[rn++] = (char *)"capback-reader";
	wargv[wn++] = (char *)"capback-writer";
	optind = 1;
	argv[0] = (char *)"capback"; /* for getopt's messages */
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (c >= OPT_SELECT) {
			int stdin_list = c >= OPT_SELECT_STDIN;
			const char *arg = optarg;

			name =
			    select_option((size_t)(c -
					      (stdin_list ? OPT_SELECT_STDIN :
							    OPT_SELECT)),
				&noarg);
			if (stdin_list)
				arg = stdin_as_file();
			if (noarg)
				sel[nsel] = strdup(name);
			else if (asprintf(&sel[nsel], "%s=%s", name, arg) < 0)
				sel[nsel] = NULL;
			if (sel[nsel] == NULL)
				fatal("out of memory");
			if (stdin_list)
				free((char *)arg);
			nsel++;
			continue;
		}
		switch (c) {
		case 'e': rargv[rn++] = (char *)"--no-eas"; break;
		case 'a': rargv[rn++] = (char *)"--no-acls"; break;
		case '0':
			nul_sep = 1;
			rargv[rn++] = (char *)"--null-separator";
			break;
		case 'd': delta = 1; break;
		case 'W': delta = 0; break;
		case 'N': native = 1; break;
		case 'C': rehash = 1; break;
		case 'S': print_stats = 1; break;
		case 'G': progress = 1; break;
		case 'g': progress = 0; break;
		case 'F': full = 1; break;
		case 'h': usage_backup(stdout); return 0;
		default: usage_backup(stderr); return 1;
		}
	}
	if (argc - optind != 2) {
		log_error("backup needs SOURCE and REPOSITORY");
		usage_backup(stderr);
		return 1;
	}
	shost = split_remote(argv[optind], &spath);
	rhost = split_remote(argv[optind + 1], &rpath);
	if (shost != NULL && rhost != NULL)
		fatal("only one side of a backup can be remote");
	if (shost == NULL && stat(spath, &st) != 0)
		fatal("cannot back up '%s': %s", spath, strerror(errno));
	if (shost == NULL && !S_ISDIR(st.st_mode))
		fatal("cannot back up '%s': not a directory", spath);
	check_select(spath, sel, nsel, nul_sep);
	add_globals(rargv, &rn, g, 0);
	for (i = 0; i < nsel; i++) {
		/* A remote reader gets filelists in its request: they are
		 * read here, on the client side. */
		if (shost != NULL && strstr(sel[i], "filelist") != NULL) {
			rargv[rn++] = (char *)"--select-inline";
			rargv[rn++] = inline_filelist(sel[i], &inline_total);
			continue;
		}
		rargv[rn++] = (char *)"--select";
		rargv[rn++] = sel[i];
	}
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
	/* a progress line on a terminal; a remote writer's stderr is not
	 * one (it reaches us through the relay, escaped) */
	if (rhost == NULL &&
	    (progress == 1 ||
		(progress == -1 && isatty(2) && log_verbosity() >= 3)))
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
	for (i = 0; i < nsel; i++)
		free(sel[i]);
	free(sel);
	free(rargv);
	if (print_stats && (combine(rst, wst) & ~4) == 0)
		print_session_statistics(rpath);
	return combine(rst, wst);
}

static int
cmd_restore(int argc, char **argv, struct global *g)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "at", required_argument, NULL, 't' },
		{ "create-full-path", no_argument, NULL, 'c' },
		{ "progress", no_argument, NULL, 'G' },
		{ "no-progress", no_argument, NULL, 'g' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *sargv[24], *dargv[16], *repo, *sub, *rhost, *dhost;
	const char *at = NULL, *rloc, *dloc;
	int c, sn = 0, dn = 0, sst, dst, full = 0, progress = -1;

	sargv[sn++] = (char *)"capback-writer";
	dargv[dn++] = (char *)"capback-restorer";
	optind = 1;
	argv[0] = (char *)"capback"; /* for getopt's messages */
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'f': g->force = 1; break;
		case 't': at = optarg; break;
		case 'c': full = 1; break;
		case 'G': progress = 1; break;
		case 'g': progress = 0; break;
		case 'h': usage_restore(stdout); return 0;
		default: usage_restore(stderr); return 1;
		}
	}
	if (argc - optind != 2) {
		log_error("restore needs REPOSITORY and TARGET");
		usage_restore(stderr);
		return 1;
	}
	rhost = split_remote(argv[optind], &rloc);
	dhost = split_remote(argv[optind + 1], &dloc);
	if (rhost != NULL && dhost != NULL)
		fatal("only one side of a restore can be remote");
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
	sargv[sn++] = (char *)"--";
	sargv[sn++] = (char *)"restore-source";
	sargv[sn++] = repo;
	sargv[sn] = NULL;
	add_globals(dargv, &dn, g, G_FORCE);
	if (dhost == NULL &&
	    (progress == 1 ||
		(progress == -1 && isatty(2) && log_verbosity() >= 3)))
		dargv[dn++] = (char *)"--progress";
	dargv[dn++] = (char *)"--";
	dargv[dn++] = (char *)dloc;
	dargv[dn] = NULL;
	if (spawn_pair(rhost ? remote_wrap(g, rhost, sargv) : sargv,
		dhost ? remote_wrap(g, dhost, dargv) : dargv, &sst, &dst) != 0)
		fatal("cannot start the restore roles: %s", strerror(errno));
	free(repo);
	free(sub);
	return combine(sst, dst);
}

static void
usage_regress(FILE *f)
{
	fprintf(f,
	    "usage: capback [GLOBAL OPTIONS] regress REPOSITORY\n"
	    "\n"
	    "Undo an unfinished (interrupted or failed) backup session, so "
	    "that\nREPOSITORY is exactly as after its last good backup.  A "
	    "backup\ndoes this by itself when it finds one.  --force: even if "
	    "the\nprocess recorded in the unfinished session still runs.\n");
}

static int
cmd_regress(int argc, char **argv, const struct global *g)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "native-owners", no_argument, NULL, 'N' },
		{ NULL, 0, NULL, 0 },
	};
	char *wargv[16];
	int c, wn = 0, st, native = 0;

	wargv[wn++] = (char *)"capback-writer";
	optind = 1;
	argv[0] = (char *)"capback"; /* for getopt's messages */
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'N': native = 1; break;
		case 'h': usage_regress(stdout); return 0;
		default: usage_regress(stderr); return 1;
		}
	}
	if (argc - optind != 1) {
		log_error("regress needs REPOSITORY");
		usage_regress(stderr);
		return 1;
	}
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
	if (g->parsable) {
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

/* The usage of ${mode}: "list-increments", "list-files" or "verify"
 * ("list": both lists). */
static void
usage_query(FILE *f, const char *mode)
{
	if (strncmp(mode, "list", 4) == 0 && mode[4] != '-')
		fprintf(f,
		    "usage: capback [GLOBAL OPTIONS] list increments|files "
		    "...\n\n");
	if (strcmp(mode, "list-increments") == 0 || strcmp(mode, "list") == 0)
		fprintf(f,
		    "usage: capback [GLOBAL OPTIONS] list increments [--size | "
		    "--json]\n                 REPOSITORY[/PATH]\n"
		    "The sessions with increments and the current mirror.\n"
		    "  --size   each session's increments and the cumulative "
		    "size, as\n"
		    "           rdiff-backup prints them (whole repository)\n"
		    "  --json   {sessions: [{time, at, current}]}\n"
		    "(the global --parsable-output prints rdiff-backup's "
		    "machine form)\n");
	if (strcmp(mode, "list-files") == 0 || strcmp(mode, "list") == 0)
		fprintf(f,
		    "usage: capback [GLOBAL OPTIONS] list files [--at TIME | "
		    "--changed-since TIME]\n"
		    "                                          "
		    "REPOSITORY[/PATH]\n"
		    "Every path of the session TIME (default the newest);\n"
		    "  --changed-since TIME  what is new, deleted or changed "
		    "since TIME\n");
	if (strcmp(mode, "verify") == 0)
		fprintf(f,
		    "usage: capback [GLOBAL OPTIONS] verify [--at TIME "
		    "[--json] "
		    "| --all]\n                 [--progress | --no-progress] "
		    "REPOSITORY[/PATH]\n"
		    "Rebuild every regular file of the session (the newest, or "
		    "as of --at TIME)\nand check it against its recorded "
		    "SHA-1 (exit status 2 when any differs).\n"
		    "  --all   every session; damaged increments, metadata or "
		    "mirror files\n          are named with the points in time "
		    "they spoil\n"
		    "  --json  {time, at, verified, failed, without_sha1, "
		    "damage: [{path, why}], ok}\n"
		    "  --progress, --no-progress  a progress line on standard "
		    "error (the\n          default on a terminal)\n");
}

/* list increments|files, verify: the options and the one location. */
static int
cmd_query(int argc, char **argv, const struct global *g, int is_list)
{
	static const struct option opts[] = {
		{ "at", required_argument, NULL, 't' },
		{ "changed-since", required_argument, NULL, 'c' },
		{ "all", no_argument, NULL, 'a' },
		{ "size", no_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "progress", no_argument, NULL, 'G' },
		{ "no-progress", no_argument, NULL, 'g' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *at = NULL, *mode = "verify", *since = NULL;
	char *extra[3] = { NULL, NULL, NULL };
	int c, all = 0, size = 0, json = 0, progress = -1, ne = 0;

	if (is_list) {
		if (argc < 2 ||
		    (strcmp(argv[1], "increments") != 0 &&
			strcmp(argv[1], "files") != 0)) {
			if (argc >= 2 && strcmp(argv[1], "--help") == 0) {
				usage_query(stdout, "list");
				return 0;
			}
			log_error("list what? increments or files");
			usage_query(stderr, "list");
			return 1;
		}
		mode = argv[1][0] == 'i' ? "list-increments" : "list-files";
		argc--;
		argv++;
	}
	optind = 1;
	argv[0] = (char *)"capback"; /* for getopt's messages */
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 't': at = optarg; break;
		case 'c': since = optarg; break;
		case 'a': all = 1; break;
		case 's': size = 1; break;
		case 'j': json = 1; break;
		case 'G': progress = 1; break;
		case 'g': progress = 0; break;
		case 'h': usage_query(stdout, mode); return 0;
		default: usage_query(stderr, mode); return 1;
		}
	}
	if (argc - optind != 1) {
		log_error("%s needs REPOSITORY", mode);
		usage_query(stderr, mode);
		return 1;
	}
	if (at != NULL && strcmp(mode, "list-increments") == 0)
		fatal("list increments takes no --at");
	if (size) {
		if (strcmp(mode, "list-increments") != 0)
			fatal("--size goes with list increments");
		mode = "list-sizes";
	}
	if (g->parsable && strncmp(mode, "list-", 5) != 0)
		fatal("--parsable-output goes with list increments");
	if (g->parsable && strcmp(mode, "list-files") == 0)
		fatal("--parsable-output goes with list increments (list "
		      "files prints one path a line already)");
	if (json) {
		if ((strcmp(mode, "verify") != 0 &&
			strcmp(mode, "list-increments") != 0) ||
		    g->parsable)
			fatal("--json goes with list increments (without "
			      "--size) and verify (without --all)");
		extra[ne++] = (char *)"--json";
	}
	if (progress != -1 && strcmp(mode, "verify") != 0)
		fatal("--progress goes with verify (of one session)");
	if (strcmp(mode, "verify") == 0 && strchr(argv[optind], ':') == NULL &&
	    (progress == 1 ||
		(progress == -1 && isatty(2) && log_verbosity() >= 3)))
		extra[ne++] = (char *)"--progress";
	if (all) {
		if (strcmp(mode, "verify") != 0 || at != NULL || json)
			fatal("--all goes with verify, without --at");
		mode = "verify-all";
	}
	if (since != NULL) {
		if (strcmp(mode, "list-files") != 0 || at != NULL)
			fatal("--changed-since goes with list files, without "
			      "--at");
		mode = "list-changed";
		at = since;
	}
	return run_query(mode, at, argv[optind], g, extra);
}

static void
usage_diff(FILE *f)
{
	fprintf(f,
	    "usage: capback [GLOBAL OPTIONS] diff [--at TIME] [--at TIME] "
	    "[--json] REPOSITORY[/PATH]\n"
	    "What changed between two sessions, and how, from their "
	    "metadata (no file\nis rebuilt): \"new: PATH\", \"deleted: "
	    "PATH\", \"changed: PATH (content,mode,...)\".\n"
	    "  --at TIME   the first session (default the one before the "
	    "newest); a\n              second --at names the other (default "
	    "the newest)\n"
	    "  --json      one JSON object: from, to, changes [{path, "
	    "change, what}]\n");
}

static int
cmd_diff(int argc, char **argv, const struct global *g)
{
	static const struct option opts[] = {
		{ "at", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *at[2] = { NULL, NULL };
	char *extra[4] = { NULL };
	int c, nat = 0, ne = 0;

	optind = 1;
	argv[0] = (char *)"capback";
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			if (nat == 2)
				fatal("diff takes two --at at most");
			at[nat++] = optarg;
			break;
		case 'j': extra[ne++] = (char *)"--json"; break;
		case 'h': usage_diff(stdout); return 0;
		default: usage_diff(stderr); return 1;
		}
	}
	if (argc - optind != 1) {
		usage_diff(stderr);
		return 1;
	}
	if (at[1] != NULL) {
		extra[ne++] = (char *)"--at2";
		extra[ne++] = (char *)at[1];
	}
	return run_query("diff", at[0] ? at[0] : "1B", argv[optind], g, extra);
}

static void
usage_versions(FILE *f)
{
	fprintf(f,
	    "usage: capback [GLOBAL OPTIONS] versions [--json] "
	    "REPOSITORY/PATH\n"
	    "Each session in which PATH changed, oldest first: new, "
	    "changed (and what),\ndeleted, with its type, size and "
	    "recorded SHA-1, from the metadata only.\n"
	    "  --json   one JSON object: path, versions [{time, at, change, "
	    "type, size,\n           sha1, what}]\n");
}

static int
cmd_versions(int argc, char **argv, const struct global *g)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *extra[2] = { NULL, NULL };
	int c;

	optind = 1;
	argv[0] = (char *)"capback";
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': extra[0] = (char *)"--json"; break;
		case 'h': usage_versions(stdout); return 0;
		default: usage_versions(stderr); return 1;
		}
	}
	if (argc - optind != 1) {
		usage_versions(stderr);
		return 1;
	}
	return run_query("versions", NULL, argv[optind], g, extra);
}

static void
usage_remove(FILE *f)
{
	fprintf(f,
	    "usage: capback [GLOBAL OPTIONS] remove increments --older-than "
	    "TIME REPOSITORY\n"
	    "\n"
	    "Delete the increments (and their metadata) of every session "
	    "older\nthan TIME; the newest backup is never removed.  TIME "
	    "takes the forms\nof restore's TIME (e.g. 30D, 2W, 5B keeps five "
	    "sessions).  Removing\nmore than one session needs --force.\n"
	    "Exit status: 0 removed, 1 error, 2 nothing older than TIME.\n");
}

static int
cmd_remove(int argc, char **argv, struct global *g)
{
	static const struct option opts[] = {
		{ "older-than", required_argument, NULL, 't' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *at = NULL;
	int c;

	if (argc >= 2 && strcmp(argv[1], "--help") == 0) {
		usage_remove(stdout);
		return 0;
	}
	if (argc < 2 || strcmp(argv[1], "increments") != 0) {
		log_error("remove what? only 'increments' can be removed");
		usage_remove(stderr);
		return 1;
	}
	argc--;
	argv++;
	optind = 1;
	argv[0] = (char *)"capback"; /* for getopt's messages */
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 't': at = optarg; break;
		case 'f': g->force = 1; break;
		case 'h': usage_remove(stdout); return 0;
		default: usage_remove(stderr); return 1;
		}
	}
	if (argc - optind != 1 || at == NULL) {
		log_error("remove increments needs --older-than TIME and "
			  "REPOSITORY");
		usage_remove(stderr);
		return 1;
	}
	return run_query("remove-older-than", at, argv[optind], g, NULL);
}

static void
usage_compare(FILE *f)
{
	fprintf(f,
	    "usage: capback [GLOBAL OPTIONS] compare [--method meta|hash|full] "
	    "[--at TIME]\n"
	    "       SOURCE REPOSITORY\n"
	    "\n"
	    "Compare the directory SOURCE with its backup of TIME (default: "
	    "the newest)\nin REPOSITORY (or a directory inside it) and print "
	    "every difference\nas rdiff-backup does: new, deleted, changed.  "
	    "Nothing is written.\n"
	    "  --method meta   attributes only (default)\n"
	    "  --method hash   also the SHA-1 of regular files against the "
	    "recorded one\n"
	    "  --method full   also the content of regular files against "
	    "the backup's\n"
	    "Exit status: 0 the same, 1 differences found (or failure), 4 no "
	    "difference\nfound but some files could not be read.\n");
}

static int
cmd_setup(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "role", required_argument, NULL, 'r' },
		{ "user", required_argument, NULL, 'u' },
		{ "group", required_argument, NULL, 'g' },
		{ "home", required_argument, NULL, 'H' },
		{ "restrict-path", required_argument, NULL, 'R' },
		{ "from", required_argument, NULL, 'F' },
		{ "key", required_argument, NULL, 'k' },
		{ "repo-dir", required_argument, NULL, 'd' },
		{ "config", required_argument, NULL, 'c' },
		{ "host", required_argument, NULL, 'n' },
		{ "source", required_argument, NULL, 's' },
		{ "apply", no_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct setup_opts o = { .role = NULL,
		.user = "capback",
		.group = "capback-reader",
		.home = "/var/lib/capback",
		.restrict_path = "/",
		.repo_dir = "/srv/backup",
		.config = "/etc/capback/capback.conf" };
	int c;

	optind = 1;
	argv[0] = (char *)"capback";
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
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
		case 'h':
			printf(
			    "usage: capback setup --role "
			    "server|reader|restorer "
			    "[OPTIONS] [--apply]\n"
			    "Prints the commands (each checks first, so they "
			    "may run again); --apply runs them.\n"
			    "  --user NAME          the account (capback)\n"
			    "server (writer is another word for it):\n"
			    "  --home DIR           its home, key and state "
			    "(/var/lib/capback)\n"
			    "  --repo-dir DIR       the repositories "
			    "(/srv/backup)\n"
			    "  --config FILE        /etc/capback/capback.conf\n"
			    "  --host NAME --source USER@HOST::/PATH\n"
			    "                       add a host to the "
			    "configuration\n"
			    "reader, restorer (a host): the key's forced "
			    "command "
			    "is capback-reader --serve\n(capback-restorer "
			    "--serve) --restrict-path DIR\n"
			    "  --key 'ssh-ed25519 AAAA... capback@server'\n"
			    "                       the server's public key\n"
			    "  --from ADDR[,ADDR]   the server's address: the "
			    "key works from there only\n"
			    "  --restrict-path DIR  reader: what it may read "
			    "(/); restorer: where it\n"
			    "                       may write (required)\n"
			    "  --group NAME         reader: the group that may "
			    "run it (capback-reader)\n");
			return 0;
		default: return 1;
		}
	}
	if (optind != argc || o.role == NULL)
		fatal("setup needs --role server, reader or restorer (see "
		      "capback setup --help)");
	if (strcmp(o.role, "restorer") == 0 &&
	    strcmp(o.restrict_path, "/") == 0)
		fatal("setup: --role restorer needs --restrict-path DIR, the "
		      "directory restores may be written beneath (such as "
		      "/var/restore)");
	return setup(&o);
}

static int
cmd_doctor(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "role", required_argument, NULL, 'r' },
		{ "user", required_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *role = "reader", *user = NULL;
	int c;

	optind = 1;
	argv[0] = (char *)"capback";
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'r': role = optarg; break;
		case 'u': user = optarg; break;
		case 'h':
			printf("usage: capback doctor [--role "
			       "reader|writer|restorer] [--user NAME]\n"
			       "Show this process's capabilities, check what "
			       "the role needs on this host\n(for the account "
			       "NAME) and print the commands that fix what is "
			       "missing.\nExit status: 0 no problem, 1 "
			       "problems found.\n");
			return 0;
		default: return 1;
		}
	}
	if (optind != argc)
		fatal("doctor takes no arguments besides its options");
	return doctor(role, user);
}

static int
cmd_compare(int argc, char **argv, const struct global *g)
{
	static const struct option opts[] = {
		{ "method", required_argument, NULL, 'm' },
		{ "at", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *rargv[16], *wargv[24], mode[16], *repo, *sub, *shost;
	const char *at = NULL, *method = "meta", *spath;
	int c, rn = 0, wn = 0, rst, wst, res;
	struct stat st;

	optind = 1;
	argv[0] = (char *)"capback"; /* for getopt's messages */
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'm': method = optarg; break;
		case 't': at = optarg; break;
		case 'h': usage_compare(stdout); return 0;
		default: usage_compare(stderr); return 1;
		}
	}
	if (strcmp(method, "meta") != 0 && strcmp(method, "hash") != 0 &&
	    strcmp(method, "full") != 0)
		fatal("--method must be meta, hash or full, not '%s'", method);
	if (argc - optind != 2) {
		log_error("compare needs SOURCE and REPOSITORY");
		usage_compare(stderr);
		return 1;
	}
	shost = split_remote(argv[optind], &spath);
	if (strstr(argv[optind + 1], "::"))
		fatal("compare reads the repository where it is: run it on "
		      "the repository's host (the source may be remote)");
	if (shost == NULL && stat(spath, &st) != 0)
		fatal("cannot compare '%s': %s", spath, strerror(errno));
	if (shost == NULL && !S_ISDIR(st.st_mode))
		fatal("cannot compare '%s': not a directory", spath);
	rargv[rn++] = (char *)"capback-reader";
	add_globals(rargv, &rn, g, 0);
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
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct global g;
	long api = 0;
	const char *env = getenv("CAPBACK_VERBOSITY");
	int c, v = env ? atoi(env) : 3;
	char *end;

	memset(&g, 0, sizeof(g));
	argv[0] = (char *)"capback"; /* getopt's messages start with it */
	log_init("capback", v);
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
		default: usage_main(stderr); return 1;
		}
	}
	snprintf(g.verbosity, sizeof(g.verbosity), "%d", v);
	g.api = api ? (int)api : API_VERSION_MIN;
	if (optind >= argc) {
		log_error("no action given");
		usage_main(stderr);
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
	if (strcmp(argv[0], "calculate") == 0)
		return calculate_main(argc, argv);
	if (strcmp(argv[0], "info") == 0)
		return info_main(argc, argv, g.api);
	log_error("unknown action '%s'", argv[0]);
	usage_main(stderr);
	return 1;
}
