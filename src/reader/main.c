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
#include <poll.h>
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
#include "credit.h"
#include "delta.h"
#include "forced.h"
#include "frame.h"
#include "fsutil.h"
#include "hello.h"
#include "idmap.h"
#include "log.h"
#include "msg.h"
#include "sandbox.h"
#include "select.h"
#include "walk.h"
#include "wire.h"
#include "xfer.h"

/*
 * Entries the reader may run ahead of the writer's decisions: the credit
 * window (credit.h), MSG_CREDIT_ENTRIES entries and MSG_CREDIT_BYTES of
 * them.  Large enough that a link with a long round trip stays busy: the
 * writer returns credit every PROGRESS_EVERY entries, so the walk stalls
 * only when a whole window is in flight.  The writer enforces it.
 */
#define READER_WINDOW MSG_CREDIT_ENTRIES
/* Signature bytes the reader holds at most (files asked for by delta). */
#define READER_SIG_TOTAL (128u * 1024 * 1024)

static long
reader_max(uint8_t type)
{
	switch (type) {
	case MSG_HELLO:
	case MSG_WANT:
	case MSG_WANT_DELTA:
	case MSG_DATA:
	case MSG_PROGRESS:
	case MSG_DONE: return msg_max_payload(type);
	default: return -1;
	}
}

/* A regular file sent as an entry whose fate the writer has not decided. */
struct pending {
	uint64_t seq;
	char *path;
	int wanted;
	uint8_t *sig; /* WANT_DELTA: the mirror's signature */
	size_t siglen, sigfill;
};

struct reader {
	int rootfd;
	struct frame_in in;
	struct frame_out out;
	struct walk *walk;
	uint64_t seq;	/* entries sent */
	uint64_t acked; /* writer's PROGRESS */
	struct credit cr;
	int walk_done;
	int done;
	struct pending *pend; /* ring, ordered by seq */
	size_t phead, pcount, pcap;
	struct pending *sigrx; /* signature being received */
	size_t sigbytes;       /* signature bytes held */
	size_t nwanted;	       /* pending entries wanted and not served */
	uint64_t wfirst;       /* no entry before this seq is wanted */
	unsigned unpolled;     /* loop turns since the input was looked at */
	/* The directory of the last file served (files come in walk order,
	 * so most share it): its path beneath the root and an O_PATH fd. */
	char *dirpath;
	size_t dirlen;
	int dirfd;
};

static struct pending *
pend_at(struct reader *rd, size_t i)
{
	return &rd->pend[(rd->phead + i) % rd->pcap];
}

static void
pend_push(struct reader *rd, uint64_t seq, const char *path)
{
	struct pending *p;

	if (rd->pcount == rd->pcap)
		fatal("internal: pending window overflow");
	p = pend_at(rd, rd->pcount++);
	p->seq = seq;
	p->wanted = 0;
	p->sig = NULL;
	p->siglen = p->sigfill = 0;
	if ((p->path = strdup(path)) == NULL)
		fatal("out of memory");
}

/*
 * The index of the first pending entry whose seq is ${seq} or more
 * (pcount: none).  Entries are pushed in seq order and keep their seq
 * when served, so the window is sorted: a lookup costs a few probes, not
 * a walk through up to 2 * READER_WINDOW entries per file.
 */
static size_t
pend_lower(struct reader *rd, uint64_t seq)
{
	size_t lo = 0, hi = rd->pcount;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (pend_at(rd, mid)->seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Drop served files, and undecided-and-unwanted ones the writer has
 * passed. */
static void
pend_trim(struct reader *rd)
{
	while (rd->pcount > 0) {
		struct pending *p = pend_at(rd, 0);

		if (p->wanted || (p->path != NULL && p->seq > rd->acked))
			break;
		free(p->path);
		rd->phead = (rd->phead + 1) % rd->pcap;
		rd->pcount--;
	}
}

static struct pending *
handle_want(struct reader *rd, uint64_t seq)
{
	size_t i = pend_lower(rd, seq);
	struct pending *p = i < rd->pcount ? pend_at(rd, i) : NULL;

	/* Served (path NULL), already wanted, or never sent as a file. */
	if (p == NULL || p->seq != seq || p->wanted || p->path == NULL)
		fatal("protocol: WANT for %llu, which is not a pending file",
		    (unsigned long long)seq);
	p->wanted = 1;
	rd->nwanted++;
	if (seq < rd->wfirst)
		rd->wfirst = seq;
	return p;
}

/* WANT_DELTA(seq, len): the signature follows as DATA frames. */
static void
handle_want_delta(struct reader *rd, const uint8_t *p, size_t len)
{
	uint64_t seq, siglen;
	struct pending *pd;

	if (msg_u64pair_decode(p, len, &seq, &siglen) != 0 || rd->sigrx != NULL)
		fatal("protocol: bad WANT_DELTA");
	if (siglen < 12 || siglen > DELTA_WIRE_SIG_MAX ||
	    siglen > READER_SIG_TOTAL - rd->sigbytes)
		fatal("protocol: WANT_DELTA with a signature of %llu bytes "
		      "(at most %u, %zu held)",
		    (unsigned long long)siglen, DELTA_WIRE_SIG_MAX,
		    rd->sigbytes);
	pd = handle_want(rd, seq);
	if ((pd->sig = malloc((size_t)siglen)) == NULL)
		fatal("out of memory");
	pd->siglen = (size_t)siglen;
	pd->sigfill = 0;
	rd->sigbytes += pd->siglen;
	rd->sigrx = pd;
}

static void
handle_sig_data(struct reader *rd, const uint8_t *p, size_t len)
{
	struct pending *pd = rd->sigrx;

	if (pd == NULL || len > pd->siglen - pd->sigfill)
		fatal("protocol: DATA from the writer outside a signature");
	memcpy(pd->sig + pd->sigfill, p, len);
	pd->sigfill += len;
	if (pd->sigfill == pd->siglen)
		rd->sigrx = NULL;
}

static void
handle_frame(struct reader *rd, uint8_t type, const uint8_t *p, size_t len)
{
	uint64_t v;
	uint32_t st;

	switch (type) {
	case MSG_WANT:
		if (msg_u64_decode(p, len, &v) != 0)
			fatal("protocol: bad WANT");
		(void)handle_want(rd, v);
		break;
	case MSG_WANT_DELTA: handle_want_delta(rd, p, len); break;
	case MSG_DATA: handle_sig_data(rd, p, len); break;
	case MSG_PROGRESS:
		if (msg_u64_decode(p, len, &v) != 0 || v < rd->acked ||
		    v > rd->seq || credit_grant(&rd->cr, v) != 0)
			fatal("protocol: bad PROGRESS");
		rd->acked = v;
		pend_trim(rd);
		break;
	case MSG_DONE:
		if (msg_u32pair_decode(p, len, &st, &v) != 0)
			fatal("protocol: bad DONE");
		rd->done = 1;
		break;
	default: fatal("protocol: unexpected %s from writer", msg_name(type));
	}
}

/* Process every complete frame buffered; read more if ${block}. */
static void
pump_input(struct reader *rd, int block)
{
	struct pollfd pfd = { .fd = 0, .events = POLLIN };
	const uint8_t *p;
	size_t len;
	uint8_t type;
	int r;

	for (;;) {
		while ((r = frame_in_next(&rd->in, &type, &p, &len)) == 0) {
			handle_frame(rd, type, p, len);
			block = 0;
		}
		if (r != CB_ERR_TRUNCATED)
			fatal("protocol: %s from writer", cb_strerror(r));
		if (rd->done)
			return;
		if (poll(&pfd, 1, block ? -1 : 0) < 0) {
			if (errno == EINTR)
				continue;
			fatal("poll: %s", strerror(errno));
		}
		if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
			return;
		if (frame_in_fill(&rd->in) == 0) {
			/* The writer failed and said why; nothing to add. */
			log_debug("writer closed the connection");
			exit(1);
		}
	}
}

static void flush_or_exit(struct reader *rd);

/*
 * Open the file at ${path} (beneath the root, no symlinks) for reading.
 * Its directory is resolved once for all the files served from it.
 */
static int
open_served(struct reader *rd, const char *path)
{
	const char *slash = strrchr(path, '/');
	size_t dlen = slash != NULL ? (size_t)(slash - path) : 0;
	int flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY;

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

static void
serve_wanted(struct reader *rd)
{
	struct pending *p = NULL;
	struct stat st;
	size_t i;
	int fd, r;

	if (rd->nwanted == 0)
		return;
	for (i = pend_lower(rd, rd->wfirst); i < rd->pcount; i++) {
		if (pend_at(rd, i)->wanted) {
			p = pend_at(rd, i);
			break;
		}
	}
	if (p == NULL)
		fatal("internal: no wanted file pending");
	/* The whole signature first (it follows its WANT_DELTA). */
	while (p->sig != NULL && p->sigfill < p->siglen) {
		flush_or_exit(rd);
		pump_input(rd, 1);
	}
	fd = open_served(rd, p->path);
	if (fd >= 0) {
		if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
			close(fd);
			fd = -1;
			errno = ESTALE; /* replaced while we were walking */
		}
	}
	if (fd < 0)
		r = xfer_send_failed(&rd->out, p->seq, errno);
	else if (p->sig != NULL) {
		r = xfer_send_delta(&rd->out, fd, p->seq, p->sig, p->siglen);
		if (r == CB_ERR_BAD_VALUE || r == CB_ERR_CORRUPT)
			fatal("protocol: the writer sent a bad signature for "
			      "'%s'",
			    log_quote(p->path, strlen(p->path)));
		close(fd);
	} else {
		r = xfer_send_file(&rd->out, fd, p->seq, &st);
		close(fd);
	}
	if (r != 0) {
		if (errno == EPIPE || errno == ECONNRESET)
			exit(1); /* the writer failed and said why */
		fatal("sending file: %s", cb_strerror(r));
	}
	if (p->sig != NULL) {
		rd->sigbytes -= p->siglen;
		free(p->sig);
		p->sig = NULL;
	}
	p->wanted = 0;
	rd->nwanted--;
	rd->wfirst = p->seq + 1; /* p was the first wanted */
	free(p->path);
	p->path = NULL; /* served */
	pend_trim(rd);
}

/* Send what is queued; a writer that went away has said why already. */
static void
flush_or_exit(struct reader *rd)
{
	if (frame_out_flush(&rd->out) == 0)
		return;
	if (errno == EPIPE || errno == ECONNRESET)
		exit(1);
	fatal("write to writer: %s", strerror(errno));
}

static void
send_entry(struct reader *rd, struct msg_entry *e)
{
	struct wire_wr wr;
	int r;

	wire_wr_init(&wr, MSG_ENTRY_MAX);
	if ((r = msg_entry_encode(&wr, e)) == CB_ERR_TOO_LARGE) {
		/* Attributes too large to carry: send it as unreadable. */
		struct msg_entry small;

		msg_entry_init(&small);
		small.rec.path = e->rec.path;
		small.rec.pathlen = e->rec.pathlen;
		small.rec.type = e->rec.type;
		small.flags = ENTRY_ERROR;
		small.err = E2BIG;
		wire_wr_reset(&wr);
		r = msg_entry_encode(&wr, &small);
		e->flags |= ENTRY_ERROR;
	}
	if (r != 0)
		fatal("encode entry: %s", cb_strerror(r));
	if (frame_put(&rd->out, MSG_ENTRY, wr.p, wr.len) != 0)
		fatal("out of memory");
	if (credit_take(&rd->cr, wr.len) != 0)
		fatal("internal: an entry beyond the credit window");
	wire_wr_release(&wr);
	rd->seq++;
	if (e->rec.type == META_REG && !(e->flags & ENTRY_ERROR))
		pend_push(rd, rd->seq, e->rec.path);
	if (frame_out_pending(&rd->out) >= 65536)
		flush_or_exit(rd);
}

static void
run(struct reader *rd)
{
	struct msg_entry e;
	int r;

	msg_entry_init(&e);
	hello_exchange(&rd->in, &rd->out, ROLE_READER, ROLE_WRITER, "writer");
	while (!rd->done) {
		/* Look at the input now and then: WANTs answer what was
		 * flushed, and a poll per entry costs as much as its stat. */
		if (++rd->unpolled >= 16) {
			rd->unpolled = 0;
			pump_input(rd, 0);
		}
		if (rd->done)
			break;
		if (rd->nwanted > 0) {
			serve_wanted(rd);
			continue;
		}
		if (!rd->walk_done && credit_may_send(&rd->cr)) {
			r = walk_next(rd->walk, &e);
			if (r == CB_ERR_EOF) {
				uint8_t b[8];
				int i;

				for (i = 0; i < 8; i++)
					b[i] =
					    (uint8_t)(rd->seq >> (56 - 8 * i));
				if (frame_put(&rd->out, MSG_ENTRIES_END, b, 8))
					fatal("out of memory");
				rd->walk_done = 1;
			} else if (r != 0)
				fatal("walking the source: %s", cb_strerror(r));
			else
				send_entry(rd, &e);
			continue;
		}
		flush_or_exit(rd);
		pump_input(rd, 1);
	}
	msg_entry_clear(&e);
	frame_out_flush(&rd->out);
}

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
	frame_in_init(&rd.in, 0, reader_max);
	frame_out_init(&rd.out, 1);
	/* "Changed while it was read?" is asked after the receiver has the
	 * bytes sendfile lent (frame.h). */
	rd.out.settles = 1;
	/* Stray descriptors go; a filelist on one was read by now. */
	if (rd.rootfd > 3 && dup2(rd.rootfd, 3) == 3) {
		close(rd.rootfd);
		rd.rootfd = 3;
	}
	sandbox_close_fds(rd.rootfd + 1);
	confine(rd.rootfd, ro.sbtest, argv[optind]);
	rd.pcap = 2 * READER_WINDOW + 1;
	if ((rd.pend = calloc(rd.pcap, sizeof(*rd.pend))) == NULL ||
	    credit_init(&rd.cr) != 0 ||
	    walk_open(rd.rootfd, ro.wflags, &rd.walk) != 0)
		fatal("out of memory");
	walk_set_select(rd.walk, sel);
	run(&rd);
	walk_free(rd.walk);
	select_free(sel);
	frame_in_release(&rd.in);
	frame_out_release(&rd.out);
	credit_release(&rd.cr);
	while (rd.pcount > 0) {
		free(pend_at(&rd, 0)->path);
		rd.phead = (rd.phead + 1) % rd.pcap;
		rd.pcount--;
	}
	free(rd.pend);
	if (rd.dirfd >= 0)
		close(rd.dirfd);
	free(rd.dirpath);
	close(rd.rootfd);
	return 0;
}
