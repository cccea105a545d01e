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

/*
 * --serve --read-only --restrict-path DIR: the forced command of the key
 * a vault pulls with.  The request (SSH_ORIGINAL_COMMAND) may only read:
 * "capback-writer [-v N] [--at T] [--wait S] -- list-sessions|
 * replica-source REPOSITORY", REPOSITORY beneath DIR reached without a
 * symlink.  Returns the request's words (in *argc), or fatal.
 */
static char **
serve_read_only(int argc, char **argv, int *rargc)
{
	const char *restrict_path = NULL;
	char **req;
	int i, n, ro = 0, fd;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--serve") == 0)
			continue;
		if (strcmp(argv[i], "--read-only") == 0)
			ro = 1;
		else if (strcmp(argv[i], "--restrict-path") == 0 &&
		    i + 1 < argc)
			restrict_path = argv[++i];
		else
			fatal("--serve takes --read-only and --restrict-path "
			      "DIR only, not '%s'",
			    argv[i]);
	}
	if (!ro || restrict_path == NULL)
		fatal("--serve needs --read-only and --restrict-path DIR (the "
		      "one forced command there is: a vault's pull)");
	req = forced_request("capback-writer", "read-only replication", &n);
	for (i = 1; i < n && strcmp(req[i], "--") != 0; i++) {
		if ((strcmp(req[i], "-v") == 0 || strcmp(req[i], "--at") == 0 ||
			strcmp(req[i], "--wait") == 0) &&
		    i + 1 < n)
			i++;
		else
			fatal("refusing the request: '%s' is not a read-only "
			      "option",
			    req[i]);
	}
	if (i + 3 != n ||
	    (strcmp(req[i + 1], "list-sessions") != 0 &&
		strcmp(req[i + 1], "session-digest") != 0 &&
		strcmp(req[i + 1], "replica-source") != 0))
		fatal("refusing the request: this key only lists sessions and "
		      "sends them (list-sessions, session-digest, "
		      "replica-source REPOSITORY)");
	/* beneath the restrict path, no symlink on the way; the writer
	 * opens it again as a repository's top (a path inside one, such as
	 * a nested repository a host planted, is refused there) */
	fd = forced_open_beneath(restrict_path, req[i + 2], NULL);
	close(fd);
	*rargc = n;
	return req;
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
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct writer_opts o;
	struct repo repo;
	int c, find_repo = 0, nul_sep = 0;
	/* the selection (restore, compare), kept until exit */
	static const char **sels;
	static char *inl;
	size_t nsels = 0;
	const char *sel_base = NULL;

	if (argc > 1 && strcmp(argv[1], "--serve") == 0) {
		log_init("capback", 3);
		argv = serve_read_only(argc, argv, &argc);
	}
	memset(&o, 0, sizeof(o));
	o.verbosity = 3;
	o.now = (int64_t)time(NULL);
	o.compress = 1;
	o.sub = ".";
	o.sublen = 1;
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
	if (strcmp(argv[optind], "backup") == 0) {
		repo_check_for_backup(argv[optind + 1], o.force, &repo);
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
		repo_open_existing(argv[optind + 1], &repo, 1, 0,
		    "list sessions");
		writer_confine(&repo, 0);
		return writer_list_sessions(&repo, &o);
	}
	if (strcmp(argv[optind], "replica-source") == 0) {
		repo_open_existing(argv[optind + 1], &repo, 0, 0, "replicate");
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
		if (!repo.unfinished)
			return writer_repair(&repo);
		writer_regress(&repo, o.force);
		return 2; /* rdiff-backup's warning bit: a session was undone */
	}
	usage(stderr);
	return 1;
}
