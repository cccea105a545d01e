/*
 * ROLE: repository writer (capback-writer)
 * Runs as:  the repository owner; no capabilities (ownership is kept as
 *           metadata, the mirror is defanged).
 * Holds:    fd 0/1 peer stream, fd 2 log, the repository root fd.
 * May:      create, replace and remove files beneath the repository only.
 * Modes:    "backup REPO" (peer: a reader) and "restore-source REPO"
 *           (peer: a restorer; read-only on the repository);
 *           "compare-{meta,hash,full} REPO" (peer: a reader; read-only on
 *           the repository; the report goes to fd 3, the CLI's stdout).
 * Accepts:  backup, compare: ENTRY, ENTRIES_END, FILE, DATA, HOLE,
 *           FILE_END after HELLO; restore-source: DONE after HELLO.
 * On any malformed, oversized, unpermitted or out-of-state message: log
 * and exit 1, removing what the unfinished session created.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cb_err.h"
#include "frame.h"
#include "fsutil.h"
#include "repoloc.h"
#include "log.h"
#include "msg.h"
#include "numparse.h"
#include "forced.h"
#include "sandbox.h"
#include "wire.h"
#include "select.h"
#include "writer.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: capback-writer [-v N] [--current-time SECS] "
	    "[--force] backup REPO\n"
	    "             [--source-digests [--check-received FRACTION]]\n"
	    "       capback-writer [-v N] [--current-time SECS] [--at TIME] "
	    "restore-source REPO\n"
	    "             [--sample M:R]  (a drill: directories, and the "
	    "entries of slot R of M)\n"
	    "       capback-writer [-v N] [--current-time SECS] [--at TIME] "
	    "compare-{meta,hash,full} REPO  (report on fd 3)\n"
	    "restore-source, compare: --select-base PATH  --select OPT[=ARG] "
	    "...\n"
	    "             --select-inline FILELIST-OPT=HEX  "
	    "[--null-separator]\n"
	    "             (rdiff-backup's selection over the records below "
	    "--path,\n"
	    "             globs matching PATH/relative-path)\n"
	    "       capback-writer [--at T] list-sessions|session-digest|"
	    "replica-source REPO\n"
	    "       capback-writer --serve --read-only|--append-only "
	    "--restrict-path DIR ...\n"
	    "             (a forced command: capback-writer(8))\n"
	    "Owns a backup repository; talks to its peer role over "
	    "stdin/stdout.\n");
}

/* A decimal option value of at least ${min}; fatal naming ${opt} else. */
static int64_t
parse_int(const char *s, long long min, const char *opt)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || end == s || v < min)
		fatal("invalid %s '%s' (a number, at least %lld)", opt, s, min);
	return (int64_t)v;
}

/* --sample M:R, 1 <= M <= 2^20, R < M */
static void
parse_sample(const char *s, struct writer_opts *o)
{
	char *end;
	unsigned long long m, r;

	errno = 0;
	m = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != ':' || m < 1 || m > (1u << 20))
		fatal("invalid --sample '%s' (M:R, 1 <= M <= 1048576)", s);
	s = end + 1;
	r = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || r >= m)
		fatal("invalid --sample: R must be below M");
	o->sample_m = m;
	o->sample_r = r;
}

/* The forced command the writer runs as (--serve), and its bounds. */
enum serve_mode { SERVE_NONE, SERVE_READ_ONLY, SERVE_APPEND_ONLY };
static enum serve_mode serve_mode;
static uint64_t serve_quota;	  /* --quota, 0: none */
static int64_t serve_skew = 3600; /* --max-skew */
static unsigned serve_hello = 300; /* --hello-timeout, seconds */
static int serve_time_given;	  /* the request named --current-time */

/* ${s}: a number and a unit of ${units} (each worth the matching one of
 * ${mult}); fatal naming ${opt} else. */
static uint64_t
parse_unit(const char *s, const char *units, const uint64_t *mult,
    const char *opt)
{
	char *end;
	const char *u;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || s[0] == '-' || end[0] == '\0' ||
	    end[1] != '\0' || (u = strchr(units, end[0])) == NULL ||
	    v > UINT64_MAX / mult[u - units])
		fatal("invalid %s '%s' (a number and one of '%s')", opt, s,
		    units);
	return (uint64_t)v * mult[u - units];
}

/*
 * An append-only request's repository: strictly beneath the restrict
 * path, reached without a symlink, and either a repository's top or
 * absent (made by the first session in its directory).  Not an existing
 * directory that is no repository: made one, it would hold (and a failed
 * first session empty) whatever is pushed beneath it, and a repository
 * may not be made inside another.
 */
static void
append_only_path(const char *restrict_path, const char *path, int made)
{
	struct stat st;
	const char *base = NULL;
	int fd;

	if (lstat(path, &st) != 0) {
		fd = forced_open_beneath(restrict_path, path, &base);
		close(fd);
		free((char *)base);
		return;
	}
	fd = forced_open_beneath(restrict_path, path, made ? &base : NULL);
	if (made) { /* the directory it is in; then the repository itself */
		if (fstatat(fd, base, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISDIR(st.st_mode))
			fatal("refusing '%s': not a directory", path);
		close(fd);
		fd = forced_open_beneath(restrict_path, path, NULL);
		if (fstatat(fd, "rdiff-backup-data", &st,
			AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISDIR(st.st_mode))
			fatal("refusing '%s': a directory that is not a "
			      "repository (this key makes a repository only "
			      "where nothing is)",
			    path);
	}
	close(fd);
	free((char *)base);
}

/*
 * --serve MODE --restrict-path DIR: the forced command of a vault's key.
 * The request (SSH_ORIGINAL_COMMAND) is "capback-writer [OPTION...] --
 * VERB REPOSITORY", REPOSITORY beneath DIR reached without a symlink.
 *   --read-only (the primary's key a vault pulls with): -v, --at, --wait;
 *     list-sessions, session-digest, replica-source.
 *   --append-only [--max-skew SPAN] [--quota SIZE] (a vault's key a
 *     primary pushes with): also --current-time, --replica, --delta,
 *     --absent-ok; list-sessions, session-digest, backup (a replica's
 *     next session: main checks the rest), regress (of an unfinished
 *     session only).
 * Returns the request's words (in *argc), or fatal.
 */
static char **
serve_forced(int argc, char **argv, int *rargc)
{
	static const uint64_t spans[] = { 1, 60, 3600, 86400 },
			      sizes[] = { 1, 1ull << 10, 1ull << 20, 1ull << 30,
				      1ull << 40 };
	const char *restrict_path = NULL, *verb;
	char **req;
	int i, n;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--serve") == 0)
			continue;
		if (strcmp(argv[i], "--read-only") == 0)
			serve_mode = SERVE_READ_ONLY;
		else if (strcmp(argv[i], "--append-only") == 0)
			serve_mode = SERVE_APPEND_ONLY;
		else if (strcmp(argv[i], "--restrict-path") == 0 &&
		    i + 1 < argc)
			restrict_path = argv[++i];
		else if (strcmp(argv[i], "--max-skew") == 0 && i + 1 < argc)
			serve_skew = (int64_t)parse_unit(argv[++i], "smhd",
			    spans, "--max-skew");
		else if (strcmp(argv[i], "--quota") == 0 && i + 1 < argc)
			serve_quota =
			    parse_unit(argv[++i], "BKMGT", sizes, "--quota");
		else if (strcmp(argv[i], "--hello-timeout") == 0 &&
		    i + 1 < argc)
			serve_hello = (unsigned)parse_unit(argv[++i], "smh",
			    spans, "--hello-timeout");
		else
			fatal("--serve takes --read-only or --append-only, "
			      "--restrict-path DIR, --max-skew SPAN, --quota "
			      "SIZE and --hello-timeout SPAN only, not '%s'",
			    argv[i]);
	}
	if (serve_mode == SERVE_NONE || restrict_path == NULL)
		fatal("--serve needs --read-only (a vault's pull) or "
		      "--append-only (a primary's push), and --restrict-path "
		      "DIR");
	if (serve_skew > 366 * 86400)
		fatal("--max-skew: at most a year (366d)");
	if (serve_hello == 0 || serve_hello > 86400)
		fatal("--hello-timeout: from 1s to 24h");
	req = forced_request("capback-writer",
	    serve_mode == SERVE_READ_ONLY ? "read-only replication" :
					    "append-only replication",
	    &n);
	for (i = 1; i < n && strcmp(req[i], "--") != 0; i++) {
		if ((strcmp(req[i], "-v") == 0 || strcmp(req[i], "--at") == 0 ||
			strcmp(req[i], "--wait") == 0) &&
		    i + 1 < n)
			i++;
		else if (serve_mode == SERVE_APPEND_ONLY &&
		    strcmp(req[i], "--current-time") == 0 && i + 1 < n) {
			serve_time_given = 1;
			i++;
		} else if (serve_mode == SERVE_APPEND_ONLY &&
		    (strcmp(req[i], "--replica") == 0 ||
			strcmp(req[i], "--delta") == 0 ||
			strcmp(req[i], "--absent-ok") == 0))
			;
		else
			fatal("refusing the request: '%s' is not an option "
			      "this key allows (%s)",
			    req[i],
			    serve_mode == SERVE_READ_ONLY ? "it only reads" :
							    "it only adds");
	}
	verb = i + 3 == n ? req[i + 1] : "";
	if (serve_mode == SERVE_READ_ONLY &&
	    strcmp(verb, "list-sessions") != 0 &&
	    strcmp(verb, "session-digest") != 0 &&
	    strcmp(verb, "replica-source") != 0)
		fatal("refusing the request: this key only lists sessions and "
		      "sends them (list-sessions, session-digest, "
		      "replica-source REPOSITORY)");
	if (serve_mode == SERVE_APPEND_ONLY &&
	    strcmp(verb, "list-sessions") != 0 &&
	    strcmp(verb, "session-digest") != 0 &&
	    strcmp(verb, "backup") != 0 && strcmp(verb, "regress") != 0)
		fatal("refusing the request: this key only adds sessions "
		      "(list-sessions, session-digest, backup --replica, "
		      "regress of an unfinished session)");
	/* beneath the restrict path, no symlink on the way; the writer
	 * opens it again as a repository's top (a path inside one, such as
	 * a nested repository a host planted, is refused there) */
	if (serve_mode == SERVE_READ_ONLY)
		close(forced_open_beneath(restrict_path, req[i + 2], NULL));
	else
		append_only_path(restrict_path, req[i + 2],
		    strcmp(verb, "backup") == 0);
	*rargc = n;
	return req;
}

/* What an append-only key's request may do, now that it is parsed. */
static void
serve_check(const char *verb, struct writer_opts *o, int64_t clock)
{
	if (serve_mode != SERVE_APPEND_ONLY)
		return;
	if (strcmp(verb, "backup") == 0) {
		if (!o->replica || !serve_time_given)
			fatal("refusing the request: this key only takes a "
			      "replica's session (backup --replica "
			      "--current-time T)");
		o->quota = serve_quota;
		o->latest = clock + serve_skew;
	}
}

/* --find-repo's repository and path, alive until exit (external: leak
 * checkers see them reachable). */
char *writer_found[2];
/* The selection of restore or compare, alive until exit. */
struct select *writer_sel;

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "verbosity", required_argument, NULL, 'v' },
		{ "current-time", required_argument, NULL, 't' },
		{ "force", no_argument, NULL, 'f' },
		{ "at", required_argument, NULL, 'a' },
		{ "path", required_argument, NULL, 'p' },
		{ "find-repo", no_argument, NULL, 'F' },
		{ "delta", no_argument, NULL, 'D' },
		{ "sandbox-test", required_argument, NULL, 'T' },
		{ "native-owners", no_argument, NULL, 'N' },
		{ "sample", required_argument, NULL, 'S' },
		{ "check-unchanged", no_argument, NULL, 'C' },
		{ "wait", required_argument, NULL, 'W' },
		{ "parsable", required_argument, NULL, 'P' },
		{ "at2", required_argument, NULL, '2' },
		{ "json", no_argument, NULL, 'J' },
		{ "progress", no_argument, NULL, 'G' },
		{ "select", required_argument, NULL, 's' },
		{ "select-inline", required_argument, NULL, 'I' },
		{ "select-base", required_argument, NULL, 'B' },
		{ "null-separator", no_argument, NULL, '0' },
		{ "replica", no_argument, NULL, 'R' },
		{ "absent-ok", no_argument, NULL, 'A' },
		{ "source-digests", no_argument, NULL, 'H' },
		{ "check-received", required_argument, NULL, 'K' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct writer_opts o;
	struct repo repo;
	int c, find_repo = 0, nul_sep = 0, absent_ok = 0;
	int64_t clock = (int64_t)time(NULL);
	/* the selection (restore, compare), kept until exit */
	static const char **sels;
	static char *inl;
	size_t nsels = 0;
	const char *sel_base = NULL;

	if (argc > 1 && strcmp(argv[1], "--serve") == 0) {
		log_init("capback", 3);
		argv = serve_forced(argc, argv, &argc);
	}
	memset(&o, 0, sizeof(o));
	o.verbosity = 3;
	o.now = clock;
	o.compress = 1;
	o.sub = ".";
	o.sublen = 1;
	o.check_received = WRITER_CHECK_RECEIVED;
	if ((sels = calloc((size_t)argc, sizeof(*sels))) == NULL ||
	    (inl = calloc((size_t)argc + 1, 1)) == NULL)
		fatal("out of memory");
	while ((c = getopt_long(argc, argv, "+v:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
		case 'I':
			inl[nsels] = c == 'I';
			sels[nsels++] = optarg;
			break;
		case 'B': sel_base = optarg; break;
		case 'R': o.replica = 1; break;
		case 'A': absent_ok = 1; break;
		case 'H': o.source_digests = 1; break;
		case 'K':
			if (parse_fraction(optarg, &o.check_received) != 0)
				fatal("invalid --check-received '%s' (a share "
				      "from 0 to 1; the default is 0.02)",
				    optarg);
			break;
		case '0': nul_sep = 1; break;
		case 'v': o.verbosity = atoi(optarg); break;
		case 't': o.now = parse_int(optarg, 1, "--current-time"); break;
		case 'f': o.force = 1; break;
		case 'a': o.at = optarg; break;
		case 'F': find_repo = 1; break;
		case 'D': o.delta = 1; break;
		case 'T': writer_sbtest = optarg; break;
		case 'N': mirror_native = 1; break;
		case 'S': parse_sample(optarg, &o); break;
		case 'P':
			o.parsable = (int)parse_int(optarg, 1, "--parsable");
			break;
		case '2': o.at2 = optarg; break;
		case 'J': o.json = 1; break;
		case 'G': o.progress = 1; break;
		case 'C': o.rehash = 1; break;
		case 'W':
			repo_lock_wait = parse_int(optarg, -1, "--wait");
			break;
		case 'p':
			o.sub = optarg;
			o.sublen = strlen(optarg);
			if (!meta_relpath_ok(o.sub, o.sublen))
				fatal("bad path inside the repository: '%s'",
				    log_quote(o.sub, o.sublen));
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 1;
		}
	}
	log_init("capback", o.verbosity);
	{
		/*
		 * The writer needs no capability: ownership is kept as
		 * metadata.  Started by root (restoring from a backup
		 * account's repository, say), it keeps only what reaching
		 * another account's repository takes, and what becoming
		 * that account takes (repo.c become_owner: it works as the
		 * owner of the repository it finds, then drops both);
		 * Landlock still holds it to the repository.  Stray
		 * descriptors are closed
		 * (fd 3 is compare's report).
		 */
		static const int keep[] = { CAP_DAC_READ_SEARCH,
			CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_SETUID, CAP_SETGID,
			CAP_CHOWN, CAP_FSETID };
		int cmp =
		    optind < argc && strncmp(argv[optind], "compare-", 8) == 0;

		/* Native owners (asked for, or recorded by the repository,
		 * which become_owner finds): chown and set-id bits on the
		 * mirror too; dropped there when not wanted. */
		if (mirror_native && !native_possible())
			fatal("--native-owners needs CAP_CHOWN, CAP_FOWNER and "
			      "CAP_DAC_OVERRIDE (run the writer as root, or "
			      "give it those)");
		sandbox_keep_caps(keep, 7);
		sandbox_close_fds(cmp ? 4 : 3);
	}
	/* Of the environment only the time zone (increment names carry
	 * local time, as rdiff-backup's do) and the scratch directory are
	 * used, each checked; the rest goes. */
	sandbox_clear_env(SB_ENV_TZ | SB_ENV_TMPDIR);
	/* A dead peer must be an EPIPE we handle (cleanup runs), not death. */
	signal(SIGPIPE, SIG_IGN);
	umask(077);
	if (optind + 2 != argc) {
		usage(stderr);
		return 1;
	}
	if (find_repo) {
		/* REPOSITORY[/PATH] as given on a remote command line. */
		char *sub;

		if (!(o.sublen == 1 && o.sub[0] == '.'))
			fatal("--find-repo and --path exclude each other");
		argv[optind + 1] = writer_found[0] =
		    repo_split(argv[optind + 1], &sub);
		o.sub = writer_found[1] = sub;
		o.sublen = strlen(sub);
	}
	if (!(o.sublen == 1 && o.sub[0] == '.') &&
	    strcmp(argv[optind], "restore-source") != 0 &&
	    strcmp(argv[optind], "list-increments") != 0 &&
	    strcmp(argv[optind], "list-sizes") != 0 &&
	    strcmp(argv[optind], "list-files") != 0 &&
	    strcmp(argv[optind], "list-changed") != 0 &&
	    strcmp(argv[optind], "diff") != 0 &&
	    strcmp(argv[optind], "versions") != 0 &&
	    strcmp(argv[optind], "verify") != 0 &&
	    strcmp(argv[optind], "verify-all") != 0 &&
	    strncmp(argv[optind], "compare-", 8) != 0)
		fatal("%s works on the whole repository, not on a path in it",
		    argv[optind]);
	if (nsels > 0 || sel_base != NULL) {
		if (sel_base == NULL || nsels == 0 ||
		    (strcmp(argv[optind], "restore-source") != 0 &&
			strncmp(argv[optind], "compare-", 8) != 0))
			fatal("--select goes with --select-base, for "
			      "restore-source and compare");
		/* the paths the selection sees are relative to --path; its
		 * globs match SELECT-BASE/path; filelists come inline */
		o.sel = writer_sel =
		    select_build(sel_base, 0, sels, inl, nsels, nul_sep, 0);
	}
	serve_check(argv[optind], &o, clock);
	if (strcmp(argv[optind], "backup") == 0) {
		repo_check_for_backup(argv[optind + 1], o.force, &repo);
		/* A pushing peer that never says hello would hold the
		 * repository's lock (the vault's own retention and drills
		 * wait): it has this long, then the writer ends (SIGALRM,
		 * nothing made yet; writer_backup blocks it once hello
		 * came). */
		if (serve_mode == SERVE_APPEND_ONLY)
			alarm(serve_hello);
		writer_confine(&repo, 1);
		return writer_backup(&repo, &o);
	}
	if (strcmp(argv[optind], "session-digest") == 0) {
		repo_open_existing(argv[optind + 1], &repo, 0, 0,
		    "read a session");
		writer_confine(&repo, 0);
		return writer_session_digest(&repo, &o);
	}
	if (strcmp(argv[optind], "list-sessions") == 0) {
		/* a vault not made yet, or stopped in its first session
		 * (its next backup starts over), has none */
		if (absent_ok && !repo_has_sessions(argv[optind + 1]))
			return 0;
		repo_open_existing(argv[optind + 1], &repo, 1, 0,
		    "list sessions");
		writer_confine(&repo, 0);
		return writer_list_sessions(&repo, &o);
	}
	if (strcmp(argv[optind], "replica-source") == 0) {
		repo_open_existing(argv[optind + 1], &repo, 0, 0, "replicate");
		/* a pulling peer that never says hello would hold the shared
		 * lock (the primary's backups wait): as for a push */
		if (serve_mode == SERVE_READ_ONLY)
			alarm(serve_hello);
		writer_confine(&repo, 0);
		return writer_serve_replica(&repo, &o);
	}
	if (strcmp(argv[optind], "restore-source") == 0) {
		repo_open_existing(argv[optind + 1], &repo, 0, 0, "restore");
		writer_confine(&repo, 0);
		return writer_serve_restore(&repo, &o);
	}
	if (strcmp(argv[optind], "list-increments") == 0 ||
	    strcmp(argv[optind], "list-sizes") == 0 ||
	    strcmp(argv[optind], "diff") == 0 ||
	    strcmp(argv[optind], "versions") == 0 ||
	    strcmp(argv[optind], "list-files") == 0 ||
	    strcmp(argv[optind], "list-changed") == 0 ||
	    strcmp(argv[optind], "verify") == 0 ||
	    strcmp(argv[optind], "verify-all") == 0) {
		repo_open_existing(argv[optind + 1], &repo, 0, 0, argv[optind]);
		writer_confine(&repo, 0);
		if (strcmp(argv[optind], "verify-all") == 0)
			return writer_verify_all(&repo, &o);
		if (strcmp(argv[optind], "versions") == 0)
			return writer_versions(&repo, &o);
		if (argv[optind][0] == 'v')
			return writer_verify(&repo, &o);
		if (strcmp(argv[optind], "list-files") == 0)
			return writer_list_files(&repo, &o);
		if (strcmp(argv[optind], "list-changed") == 0)
			return writer_list_changed(&repo, &o);
		if (strcmp(argv[optind], "list-sizes") == 0)
			return writer_list_sizes(&repo, &o);
		if (strcmp(argv[optind], "diff") == 0)
			return writer_diff(&repo, &o);

		return writer_list_increments(&repo, &o);
	}
	if (strncmp(argv[optind], "compare-", 8) == 0)
		return writer_compare(argv[optind] + 8, argv[optind + 1], &o);
	if (strcmp(argv[optind], "remove-older-than") == 0) {
		repo_open_existing(argv[optind + 1], &repo, 0, 1,
		    "remove increments");
		writer_confine(&repo, 1);
		if (o.at == NULL)
			fatal("remove increments needs --older-than TIME");
		return writer_remove_older(&repo, &o);
	}
	if (strcmp(argv[optind], "regress") == 0) {
		repo_open_existing(argv[optind + 1], &repo, 1, 1, "regress");
		writer_confine(&repo, 1);
		if (!repo.unfinished && serve_mode == SERVE_APPEND_ONLY)
			fatal("refusing the request: '%s' holds no unfinished "
			      "session, and this key may not change a finished "
			      "one",
			    repo.path);
		if (!repo.unfinished)
			return writer_repair(&repo);
		writer_regress(&repo, o.force);
		return 2; /* rdiff-backup's warning bit: a session was undone */
	}
	usage(stderr);
	return 1;
}
