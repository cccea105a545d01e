/*
 * ROLE: source reader (capback-reader)
 * Runs as:  the backup account on the source host; at most
 *           CAP_DAC_READ_SEARCH (confinement: see docs/design.md).
 * Holds:    fd 0/1 peer stream (the writer), fd 2 log, the source root fd.
 * May:      read beneath the source root; nothing else.  Its protocol has
 *           no verb that writes: it accepts HELLO, WANT, WANT_DELTA (with
 *           the signature as DATA), PROGRESS, DONE.
 * On any malformed, oversized, unknown or out-of-state message: log, exit 1.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cb_err.h"
#include "feed.h"
#include "forced.h"
#include "fsutil.h"
#include "idmap.h"
#include "log.h"
#include "msg.h"
#include "sandbox.h"
#include "select.h"
#include "walk.h"

/* What the reader feeds the writer: the walk, and files beneath the
 * root opened without following a symlink. */
struct reader {
	int rootfd;
	struct walk *walk;
	/* The directory of the last file served (files come in walk order,
	 * so most share it): its path beneath the root and an O_PATH fd. */
	char *dirpath;
	size_t dirlen;
	int dirfd;
};

static int
reader_next(void *ctx, struct msg_entry *e)
{
	struct reader *rd = ctx;

	return walk_next(rd->walk, e);
}

/*
 * Open the file at ${path} (beneath the root, no symlinks) for reading.
 * Its directory is resolved once for all the files served from it.
 */
static int
open_served(void *ctx, uint64_t seq, const char *path)
{
	struct reader *rd = ctx;
	const char *slash = strrchr(path, '/');
	size_t dlen = slash != NULL ? (size_t)(slash - path) : 0;
	int flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY;

	(void)seq;
	if (slash == NULL)
		return fs_open_beneath(rd->rootfd, path, flags, 0);
	if (rd->dirfd < 0 || dlen != rd->dirlen ||
	    memcmp(path, rd->dirpath, dlen) != 0) {
		char *dp;
		int fd;

		if ((dp = strndup(path, dlen)) == NULL)
			fatal("out of memory");
		fd = fs_open_beneath(rd->rootfd, dp,
		    O_PATH | O_DIRECTORY | O_NOFOLLOW, 0);
		if (fd < 0) {
			free(dp);
			return -1;
		}
		if (rd->dirfd >= 0)
			close(rd->dirfd);
		free(rd->dirpath);
		rd->dirpath = dp;
		rd->dirlen = dlen;
		rd->dirfd = fd;
	}
	return openat(rd->dirfd, slash + 1, flags | O_CLOEXEC);
}

static const struct feed_ops reader_ops = { reader_next, open_served, NULL,
	"walking the source" };

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: capback-reader [-v N] [--no-eas] [--no-acls] "
	    "[--select OPT[=ARG]]... SOURCE\n"
	    "       capback-reader --serve --restrict-path DIR   (SSH forced "
	    "command)\n"
	    "       capback-reader [--user NAME] --check FILE   (read FILE "
	    "with "
	    "a backup's privilege)\n"
	    "Serves the tree at SOURCE to a capback writer over "
	    "stdin/stdout (read-only).\n"
	    "With --serve the request comes from SSH_ORIGINAL_COMMAND and "
	    "SOURCE\nmust lie beneath DIR, reached without symlinks.\n");
}

/*
 * The reader's privilege: CAP_DAC_READ_SEARCH at most, effective if
 * permitted (file capability +p, pam_cap +i with +i on the binary, or
 * root); every other capability dropped, and no way to gain any back.
 */
/*
 * Started as root with --user: keep CAP_DAC_READ_SEARCH across the
 * switch to ${user} (least-privilege-facts 10): bounding set first,
 * groups, uid, then securebits so nothing comes back.
 */
static void
become_user(const char *user)
{
	struct passwd *pw = getpwnam(user);
	cap_value_t v;

	if (pw == NULL)
		fatal("--user %s: no such user", user);
	if (pw->pw_uid == 0)
		fatal("--user %s: that is root", user);
	if (geteuid() != 0)
		fatal("--user needs to be started as root");
	for (v = 0; v <= CAP_LAST_CAP; v++)
		if (cap_drop_bound(v) != 0 && errno != EINVAL)
			fatal("cannot drop capability %d from the bounding "
			      "set: "
			      "%s",
			    (int)v, strerror(errno));
	if (cap_setgroups(pw->pw_gid, 0, NULL) != 0)
		fatal("cannot set groups: %s", strerror(errno));
	if (cap_setuid(pw->pw_uid) != 0)
		fatal("cannot switch to user %s: %s", user, strerror(errno));
	if (cap_set_mode(CAP_MODE_PURE1E_INIT) != 0)
		fatal("cannot lock the securebits: %s", strerror(errno));
}

static void
keep_read_search_only(int serve)
{
	cap_t caps = cap_get_proc();
	cap_flag_value_t had = CAP_CLEAR;

	if (caps == NULL)
		fatal("cannot read capabilities: %s", strerror(errno));
	cap_get_flag(caps, CAP_DAC_READ_SEARCH, CAP_PERMITTED, &had);
	if (had != CAP_SET && serve)
		log_warn("running without CAP_DAC_READ_SEARCH: only what user "
			 "%u may read is backed up (give this binary "
			 "'setcap cap_dac_read_search+p', or +i with pam_cap; "
			 "'capback doctor --role reader --user NAME' on this "
			 "host checks and prints the commands)",
		    (unsigned)getuid());
	cap_free(caps);
	{
		static const int keep = CAP_DAC_READ_SEARCH;

		sandbox_keep_caps(&keep, 1);
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		fatal("cannot set no_new_privs: %s", strerror(errno));
}

/* The reader's options; a --serve request may set only the first five. */
struct ropts {
	int verbosity;
	unsigned wflags;
	const char **sels; /* selection options in order */
	char *inl;	   /* per option: a filelist given inline, in hex */
	size_t nsels;
	int nul_sep;
	int serve;
	int probe; /* --probe (capback check): report, exit */
	const char *restrict_path, *run_as;
	const char *check;  /* --check PATH: try reading it, report, exit */
	const char *sbtest; /* --sandbox-test OUTSIDE:PID */
};

/*
 * parse_opts(argc, argv, o, from_client): fill ${o}.  With ${from_client}
 * (the words of an SSH request) only read options are accepted and any
 * other is fatal.  Returns -1 to go on, or an exit status (--help, usage).
 */
static int
parse_opts(int argc, char **argv, struct ropts *o, int from_client)
{
	static const struct option opts[] = {
		{ "verbosity", required_argument, NULL, 'v' },
		{ "no-eas", no_argument, NULL, 'e' },
		{ "no-acls", no_argument, NULL, 'a' },
		{ "select", required_argument, NULL, 's' },
		{ "select-inline", required_argument, NULL, 'I' },
		{ "null-separator", no_argument, NULL, '0' },
		{ "probe", no_argument, NULL, 'P' },
		{ "serve", no_argument, NULL, 'S' },
		{ "restrict-path", required_argument, NULL, 'R' },
		{ "user", required_argument, NULL, 'U' },
		{ "check", required_argument, NULL, 'C' },
		{ "sandbox-test", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	if (!from_client) {
		memset(o, 0, sizeof(*o));
		o->verbosity = 3;
	}
	free(o->sels);
	free(o->inl);
	o->nsels = 0;
	if ((o->sels = calloc((size_t)argc + 1, sizeof(*o->sels))) == NULL ||
	    (o->inl = calloc((size_t)argc + 1, 1)) == NULL)
		fatal("out of memory");
	optind = 1;
	while ((c = getopt_long(argc, argv, "v:h", opts, NULL)) != -1) {
		switch (c) {
		case 'v': o->verbosity = atoi(optarg); continue;
		case 'e': o->wflags |= WALK_NO_EAS; continue;
		case 'a': o->wflags |= WALK_NO_ACLS; continue;
		case 's': o->sels[o->nsels++] = optarg; continue;
		case 'I':
			o->inl[o->nsels] = 1;
			o->sels[o->nsels++] = optarg;
			continue;
		case '0': o->nul_sep = 1; continue;
		case 'P': o->probe = 1; continue;
		default: break;
		}
		if (from_client)
			fatal("refusing the request: option not allowed");
		switch (c) {
		case 'S': o->serve = 1; break;
		case 'R': o->restrict_path = optarg; break;
		case 'U': o->run_as = optarg; break;
		case 'C': o->check = optarg; break;
		case 'T': o->sbtest = optarg; break;
		case 'h':
			free(o->sels);
			free(o->inl);
			usage(stdout);
			return 0;
		default:
			free(o->sels);
			free(o->inl);
			usage(stderr);
			return 1;
		}
	}
	return -1;
}

/*
 * --check PATH (capback doctor): with exactly the privilege a backup
 * runs with, read the first byte of PATH and say what happened.
 */
static int
check_read(const char *path)
{
	cap_t caps = cap_get_proc();
	char *text = caps ? cap_to_text(caps, NULL) : NULL;
	char b;
	int fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	int ok = fd >= 0 && read(fd, &b, 1) >= 0;
	int e = errno;

	printf("uid %u, capabilities \"%s\": reading %s: %s\n",
	    (unsigned)getuid(), text ? text : "?", path,
	    ok ? "ok" : strerror(e));
	if (fd >= 0)
		close(fd);
	cap_free(text);
	cap_free(caps);
	return ok ? 0 : 1;
}

/*
 * --probe, a request of capback check: what this reader is and may do,
 * one "key value" line each.  The one file it opens (and reads nothing
 * of) is /etc/shadow when the restrict path holds it, else the restrict
 * path itself: the capability in effect is what a backup will have.
 */
static int
probe(const char *restrict_path)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256], capeff[32] = "?";
	const char *target = "/etc/shadow", *base = NULL;
	size_t rl = strlen(restrict_path);
	int dirfd, fd;

	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "CapEff: %31s", capeff) == 1)
			break;
	if (f != NULL)
		fclose(f);
	printf("reader capback %s\nprotocol %u\nrestrict-path %s\n"
	       "uid %u\ncapeff %s\n",
	    CAPBACK_VERSION, (unsigned)MSG_PROTO_VERSION, restrict_path,
	    (unsigned)getuid(), capeff);
	if (!(rl == 1 ||
		(strncmp(target, restrict_path, rl) == 0 && target[rl] == '/')))
		target = restrict_path;
	fflush(stdout);
	if (target == restrict_path) {
		dirfd = forced_open_beneath(restrict_path, target, NULL);
		fd = dirfd;
	} else {
		int e;

		dirfd = forced_open_beneath(restrict_path, target, &base);
		fd = openat(dirfd, base,
		    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		e = errno;
		free((char *)base); /* forced_open_beneath's copy */
		errno = e;
	}
	printf("probe %s %s\n", target, fd >= 0 ? "ok" : strerror(errno));
	if (fd >= 0 && fd != dirfd)
		close(fd);
	close(dirfd);
	return 0;
}

/*
 * Confine the reader to reading beneath the tree (and the user and group
 * databases, for owner names); --sandbox-test runs the attacks instead.
 */
static void
confine(int rootfd, const char *sbtest, const char *tree)
{
	struct sandbox_rule rules[1] = { { rootfd, SB_FS_READ } };
	int n = 1;

	/* OpenSSL reads its configuration, and owner names are taken
	 * from the databases, now rather than in the sandbox. */
	OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, NULL);
	idmap_load();
	if (sbtest != NULL)
		sandbox_selftest_exit(SB_READER, rules, n, tree, sbtest);
	sandbox_enter(SB_READER, rules, n);
}

int
main(int argc, char **argv)
{
	struct reader rd;
	struct select *sel = NULL;
	struct ropts ro;
	int c;

	if ((c = parse_opts(argc, argv, &ro, 0)) >= 0)
		return c;
	log_init("capback", ro.verbosity);
	if (ro.run_as != NULL)
		become_user(ro.run_as);
	keep_read_search_only(ro.serve);
	if (ro.check != NULL) {
		free(ro.sels);
		free(ro.inl);
		return check_read(ro.check);
	}
	/* A dead peer must be an EPIPE we handle, not a silent death. */
	signal(SIGPIPE, SIG_IGN);
	if (ro.serve) {
		/* The forced command of an SSH key: the client's words are a
		 * request, parsed strictly, never run by a shell. */
		if (ro.restrict_path == NULL || optind != argc)
			fatal("--serve needs --restrict-path DIR and nothing "
			      "else");
		argv = forced_request("capback-reader", "backups", &argc);
		parse_opts(argc, argv, &ro, 1);
		if (ro.probe) {
			free(ro.sels);
			free(ro.inl);
			return probe(ro.restrict_path);
		}
		for (size_t i = 0; i < ro.nsels; i++)
			if (strstr(ro.sels[i], "filelist") != NULL &&
			    !ro.inl[i])
				fatal("refusing the request: filelists are "
				      "read on the client side");
		log_init("capback", ro.verbosity);
	}
	/* The reader takes nothing from its environment (HOME, TMPDIR,
	 * TZ, LANG, ...): the request has been read. */
	sandbox_clear_env(0);
	if (optind + 1 != argc) {
		usage(stderr);
		return 1;
	}
	memset(&rd, 0, sizeof(rd));
	rd.dirfd = -1;
	if (ro.serve)
		rd.rootfd =
		    forced_open_beneath(ro.restrict_path, argv[optind], NULL);
	else
		rd.rootfd =
		    open(argv[optind], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rd.rootfd < 0)
		fatal("cannot open source directory '%s': %s", argv[optind],
		    strerror(errno));
	if (ro.nsels > 0) {
		struct stat rst;

		if (fstat(rd.rootfd, &rst) != 0)
			fatal("cannot examine '%s': %s", argv[optind],
			    strerror(errno));
		sel = select_build(argv[optind], rst.st_dev, ro.sels, ro.inl,
		    ro.nsels, ro.nul_sep, !ro.serve);
	}
	free(ro.sels);
	free(ro.inl);
	/* Stray descriptors go; a filelist on one was read by now. */
	if (rd.rootfd > 3 && dup2(rd.rootfd, 3) == 3) {
		close(rd.rootfd);
		rd.rootfd = 3;
	}
	sandbox_close_fds(rd.rootfd + 1);
	confine(rd.rootfd, ro.sbtest, argv[optind]);
	if (walk_open(rd.rootfd, ro.wflags, &rd.walk) != 0)
		fatal("out of memory");
	walk_set_select(rd.walk, sel);
	/* "Changed while it was read?" is asked after the receiver has the
	 * bytes sendfile lent (frame.h). */
	feed_run(0, 1, &reader_ops, &rd, 1);
	walk_free(rd.walk);
	select_free(sel);
	if (rd.dirfd >= 0)
		close(rd.dirfd);
	free(rd.dirpath);
	close(rd.rootfd);
	return 0;
}
