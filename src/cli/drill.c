/*
 * capback drill: prove that a repository restores.  Each run restores a
 * sample of the entries of a few sessions, through the real roles (the
 * writer's restore-source and the restorer), into a private scratch
 * directory; the restorer reads every entry back and checks it against
 * its record (--drill).  What has been proven is kept in
 * rdiff-backup-data/capback-drill.state, so that successive runs move on
 * to the slots and sessions not yet proven (rdiff-backup ignores the
 * file).
 *
 * Sampling: the entries of a session fall into M slots by a hash of
 * their path (sample_slot in the writer); a run drills one slot of each
 * session it picks.  M = round(1 / FRACTION); --all is M = 1.
 *
 * A proof holds for the chain it was made on: restoring an older session
 * goes through the current mirror and every increment since, so a new
 * backup (a new mirror) starts the proofs again.  The report names the
 * oldest session proven restorable on the current chain and how much of
 * each session has been covered.
 */
#include "actions.h"
#include "drill.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "repoloc.h"
#include "spawn.h"
#include "strbuf.h"
#include "timefmt.h"
#include "timespec.h"

/* Where the drill's text goes: stdout, or with --json stderr, while the
 * JSON (the failures, the drilled sessions, the coverage) is gathered
 * and printed on stdout at the end. */
static FILE *hout;
static int json_mode;
static struct strbuf jdrill, jcov;
static FILE *jfail; /* the failures' JSON, in jfail_buf */
static char *jfail_buf;
static size_t jfail_len;

static void
jsep(struct strbuf *sb)
{
	if (sb->len > 0 && strbuf_addstr(sb, ", ") != 0)
		fatal("out of memory");
}

#define STATE_NAME  "capback-drill.state"
#define STATE_MAGIC "capback-drill 1"
#define SLOTS_MAX   (1u << 20)

/* One drill of one slot of one session on one chain. */
struct proof {
	int64_t session, chain, when;
	uint64_t m, r, checked, failed;
};

struct drill {
	const char *repo;
	int datafd;
	int64_t *sessions;
	size_t nsessions;
	int64_t chain; /* the current mirror's time */
	uint64_t m;
	struct proof *proofs;
	size_t nproofs, cap;
	const char *verbosity;
	const char *scratch;
	int progress; /* the restorer draws a progress line on stderr */
};

static void
add_proof(struct drill *d, const struct proof *p)
{
	struct proof *np =
	    array_grow(d->proofs, &d->cap, d->nproofs, sizeof(*np));

	if (np == NULL)
		fatal("out of memory");
	d->proofs = np;
	d->proofs[d->nproofs++] = *p;
}

/* The proofs on the current chain with the current M (others are void). */
static void
load_state(struct drill *d)
{
	char line[256];
	FILE *f;
	int fd = openat(d->datafd, STATE_NAME, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		if (errno != ENOENT)
			fatal("cannot read %s/rdiff-backup-data/%s: %s",
			    d->repo, STATE_NAME, strerror(errno));
		return;
	}
	if ((f = fdopen(fd, "r")) == NULL)
		fatal("out of memory");
	if (fgets(line, sizeof(line), f) == NULL ||
	    strcmp(line, STATE_MAGIC "\n") != 0) {
		log_warn("%s/rdiff-backup-data/%s is not a drill state: "
			 "starting afresh",
		    d->repo, STATE_NAME);
		fclose(f);
		return;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		struct proof p;
		long long s, c, w;
		unsigned long long m, r, k, x;

		if (sscanf(line, "proof %lld %lld %llu %llu %llu %llu %lld", &s,
			&c, &m, &r, &k, &x, &w) != 7 ||
		    m == 0 || r >= m) {
			log_warn("ignoring a bad line in the drill state");
			continue;
		}
		p = (struct proof){ s, c, w, m, r, k, x };
		if (p.chain == d->chain && p.m == d->m)
			add_proof(d, &p);
	}
	fclose(f);
}

/* Written whole to a new name, then renamed over the old. */
static void
save_state(struct drill *d)
{
	char tmp[64];
	FILE *f;
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.%ld", STATE_NAME, (long)getpid());
	fd = openat(d->datafd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600);
	if (fd < 0 || (f = fdopen(fd, "w")) == NULL)
		fatal("cannot write the drill state in %s: %s", d->repo,
		    strerror(errno));
	{
		/* root drilling an account's repository: the state stays
		 * the account's, as everything else in it */
		struct stat st;

		if (geteuid() == 0 && fstat(d->datafd, &st) == 0 &&
		    st.st_uid != 0 && fchown(fd, st.st_uid, st.st_gid) != 0)
			fatal("cannot give the drill state to the repository's "
			      "owner: %s",
			    strerror(errno));
	}
	fprintf(f, "%s\n", STATE_MAGIC);
	for (size_t i = 0; i < d->nproofs; i++) {
		const struct proof *p = &d->proofs[i];

		fprintf(f,
		    "proof %lld %lld %" PRIu64 " %" PRIu64 " %" PRIu64
		    " %" PRIu64 " %lld\n",
		    (long long)p->session, (long long)p->chain, p->m, p->r,
		    p->checked, p->failed, (long long)p->when);
	}
	if (fflush(f) != 0 || fsync(fd) != 0 || fclose(f) != 0 ||
	    renameat(d->datafd, tmp, d->datafd, STATE_NAME) != 0)
		fatal("cannot write the drill state in %s: %s", d->repo,
		    strerror(errno));
}

/* Slots of ${session} proven (no failure) on this chain, marked in
 * ${seen} (d->m bytes); a failure anywhere in it sets *failed. */
static uint64_t
proven_slots(const struct drill *d, int64_t session, int *failed,
    unsigned char *seen)
{
	uint64_t n = 0;

	memset(seen, 0, (size_t)d->m);
	*failed = 0;
	for (size_t i = 0; i < d->nproofs; i++) {
		const struct proof *p = &d->proofs[i];

		if (p->session != session)
			continue;
		if (p->failed > 0)
			*failed = 1;
		else if (!seen[p->r]) {
			seen[p->r] = 1;
			n++;
		}
	}
	return n;
}

/* The first slot of ${session} not proven yet (0 when all are). */
static uint64_t
next_slot(const struct drill *d, int64_t session, unsigned char *seen)
{
	int failed;

	proven_slots(d, session, &failed, seen);
	for (uint64_t r = 0; r < d->m; r++)
		if (!seen[r])
			return r;
	return 0;
}

/* Parse the summary and the failures the restorer wrote to ${fd}. */
static void
read_report(int fd, struct proof *p)
{
	char line[8192], last[8192] = "";
	FILE *f;

	if (lseek(fd, 0, SEEK_SET) != 0 || (f = fdopen(fd, "r")) == NULL)
		fatal("cannot read the drill report: %s", strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned long long k, x, u;

		if (strncmp(line, "FAIL\t", 5) == 0) {
			char *tab = strchr(line + 5, '\t');

			if (tab == NULL)
				continue;
			*tab = '\0';
			fprintf(hout, "  FAILED  %s: ",
			    log_text(line + 5, strlen(line + 5)));
			fprintf(hout, "%s\n",
			    log_text(tab + 1, strcspn(tab + 1, "\n")));
			if (json_mode) {
				if (jfail == NULL &&
				    (jfail = open_memstream(&jfail_buf,
					 &jfail_len)) == NULL)
					fatal("out of memory");
				fprintf(jfail, "%s{\"path\": ",
				    ftell(jfail) > 0 ? ", " : "");
				log_json_text(jfail, line + 5,
				    strlen(line + 5));
				fprintf(jfail, ", \"why\": ");
				log_json_text(jfail, tab + 1,
				    strcspn(tab + 1, "\n"));
				fputc('}', jfail);
			}
			/* an entry's failures come together: count it once */
			if (strcmp(last, line + 5) != 0)
				p->failed++;
			snprintf(last, sizeof(last), "%s", line + 5);
		} else if (sscanf(line, "SUMMARY\t%llu\t%llu\t%llu", &k, &x,
			       &u) == 3) {
			p->checked = k;
			if (x > 0 && p->failed == 0)
				p->failed = 1;
			if (u > 0)
				fprintf(hout,
				    "  %llu entries not checkable without "
				    "privileges (device nodes, "
				    "security.* xattrs)\n",
				    u);
		}
	}
	fclose(f);
}

/* Restore slot ${r} of ${session} into a new scratch directory and check
 * it.  Returns the proof. */
static struct proof
drill_one(struct drill *d, int64_t session, uint64_t r)
{
	char dir[4096], dest[4200], at[32], sample[48], *wargv[16], *rargv[11];
	char expect[32];
	struct proof p = { session, d->chain, (int64_t)time(NULL), d->m, r, 0,
		0 };
	int wn = 0, rn = 0, wst, rst, report, sfd;

	snprintf(dir, sizeof(dir), "%s/capback-drill.XXXXXX", d->scratch);
	if (mkdtemp(dir) == NULL)
		fatal("cannot make a scratch directory in %s: %s", d->scratch,
		    strerror(errno));
	snprintf(dest, sizeof(dest), "%s/tree", dir);
	report = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (report < 0)
		fatal("cannot make the drill report in %s: %s", dir,
		    strerror(errno));
	snprintf(at, sizeof(at), "%lld", (long long)session);
	snprintf(sample, sizeof(sample), "%" PRIu64 ":%" PRIu64, d->m, r);
	wargv[wn++] = (char *)"capback-writer";
	wargv[wn++] = (char *)"-v";
	wargv[wn++] = (char *)d->verbosity;
	wargv[wn++] = (char *)"--at";
	wargv[wn++] = at;
	wargv[wn++] = (char *)"--sample";
	wargv[wn++] = sample;
	wargv[wn++] = (char *)"--";
	wargv[wn++] = (char *)"restore-source";
	wargv[wn++] = (char *)d->repo;
	wargv[wn] = NULL;
	rargv[rn++] = (char *)"capback-restorer";
	rargv[rn++] = (char *)"-v";
	rargv[rn++] = (char *)d->verbosity;
	rargv[rn++] = (char *)"--drill";
	if (d->progress) {
		rargv[rn++] = (char *)"--progress";
		if (d->m == 1) { /* every entry: the session's count */
			snprintf(expect, sizeof(expect), "%" PRIu64,
			    repo_session_stat(d->datafd, session,
				"SourceFiles"));
			rargv[rn++] = (char *)"--expect-files";
			rargv[rn++] = expect;
		}
	}
	rargv[rn++] = (char *)"--";
	rargv[rn++] = dest;
	rargv[rn] = NULL;
	if (spawn_pair_out(wargv, rargv, report, &wst, &rst) != 0)
		fatal("cannot start the restore roles: %s", strerror(errno));
	read_report(report, &p);
	if (wst != 0 || (rst != 0 && rst != 4)) {
		fprintf(hout,
		    "  FAILED  the restore itself (writer status %d, "
		    "restorer %d)\n",
		    wst, rst);
		p.failed++;
	}
	if ((sfd = open(d->scratch, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    fs_remove_at(sfd, strrchr(dir, '/') + 1) != 0)
		log_warn("cannot remove the scratch directory %s: %s", dir,
		    strerror(errno));
	if (sfd >= 0)
		close(sfd);
	return p;
}

static void
print_time(const char *label, int64_t t)
{
	char buf[TIMEFMT_LEN];

	timefmt_utc(t, buf);
	fprintf(hout, "%s%s", label, buf);
}

static int
pick(int64_t *picked, size_t *n, int64_t t)
{
	for (size_t i = 0; i < *n; i++)
		if (picked[i] == t)
			return 0;
	picked[(*n)++] = t;
	return 1;
}

int
drill_main(int argc, char **argv, const char *verbosity)
{
	const struct action *a = action_get(ACT_DRILL);
	struct drill d;
	const char *ats[16];
	int64_t picked[19], oldest = 0, full_oldest = 0;
	size_t nats = 0, npicked = 0;
	double fraction = 0.02;
	long max_duration = 0;
	time_t start = time(NULL);
	unsigned char *seen;
	int c, all = 0, bad = 0;
	struct repo_loc loc;

	hout = stdout;
	char *end;

	memset(&d, 0, sizeof(d));
	d.verbosity = verbosity;
	d.progress = -1;
	d.scratch = getenv("TMPDIR") && getenv("TMPDIR")[0] == '/' ?
	    getenv("TMPDIR") :
	    "/var/tmp";
	action_begin(argv);
	while ((c = action_next(a, argc, argv)) != -1) {
		switch (c) {
		case 's':
			errno = 0;
			fraction = strtod(optarg, &end);
			if (errno != 0 || *end != '\0' || !(fraction > 0) ||
			    fraction > 1)
				fatal("--sample must be a fraction in (0, 1], "
				      "not '%s'",
				    optarg);
			break;
		case 'a': all = 1; break;
		case 't':
			if (nats == sizeof(ats) / sizeof(ats[0]))
				fatal("at most 16 --at");
			ats[nats++] = optarg;
			break;
		case 'd':
			errno = 0;
			max_duration = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || max_duration <= 0)
				fatal("--max-duration takes seconds, not '%s'",
				    optarg);
			break;
		case 'S': d.scratch = optarg; break;
		case 'j': json_mode = 1; break;
		case 'G': d.progress = 1; break;
		case 'g': d.progress = 0; break;
		}
	}
	if (json_mode)
		hout = stderr; /* the text as it goes; the JSON at the end */
	if (action_operands(a, argc, 1, 1))
		return 1;
	/* on a terminal, as restore's; not under --json's text stream */
	if (d.progress == -1)
		d.progress = isatty(2) && !json_mode && atoi(verbosity) >= 3;
	if (strstr(argv[optind], "::") != NULL)
		fatal("drill runs where the repository is (a remote repository "
		      "is not drilled over ssh)");
	repo_open_top(argv[optind], &loc);
	repo_refuse_inside(d.scratch, "the scratch directory");
	d.repo = loc.repo;
	d.m = all ? 1 : (uint64_t)(1.0 / fraction + 0.5);
	if (d.m < 1)
		d.m = 1;
	if (d.m > SLOTS_MAX)
		fatal("--sample %g is too small (at least 1/%u)", fraction,
		    SLOTS_MAX);
	if ((d.datafd = openat(loc.rootfd, "rdiff-backup-data",
		 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		fatal("'%s' is not a repository: %s", d.repo, strerror(errno));
	/* One drill of a repository at a time (its state is read, extended
	 * and written back whole).  flock on the directory: independent of
	 * the repository lock, which the drill's writer takes shared. */
	if (flock(d.datafd, LOCK_EX | LOCK_NB) != 0)
		fatal("another drill of '%s' is running (its state would be "
		      "lost): try again when it has ended",
		    d.repo);
	if (repo_sessions(d.datafd, &d.sessions, &d.nsessions) != 0 ||
	    d.nsessions == 0)
		fatal("'%s' has no backup session", d.repo);
	d.chain = d.sessions[d.nsessions - 1];
	load_state(&d);
	if ((seen = malloc((size_t)d.m)) == NULL)
		fatal("out of memory");

	/* The sessions of this run. */
	for (size_t i = 0; i < nats; i++) {
		int64_t t;

		if (timespec_parse(ats[i], (int64_t)time(NULL), d.sessions,
			d.nsessions, &t) != 0)
			fatal("bad time string '%s'", ats[i]);
		pick(picked, &npicked,
		    timespec_round_down(t, d.sessions, d.nsessions));
	}
	if (nats == 0) {
		uint64_t least = UINT64_MAX;
		int64_t least_t = d.sessions[0];
		int failed;

		pick(picked, &npicked, d.chain);
		pick(picked, &npicked, d.sessions[0]);
		for (size_t i = 0; i < d.nsessions; i++) {
			uint64_t k =
			    proven_slots(&d, d.sessions[i], &failed, seen);

			if (k < least) {
				least = k;
				least_t = d.sessions[i];
			}
		}
		pick(picked, &npicked, least_t);
	}

	fprintf(hout,
	    "drill of %s: %zu session%s, 1/%" PRIu64 " of the entries of "
	    "each picked\n",
	    d.repo, d.nsessions, d.nsessions == 1 ? "" : "s", d.m);
	for (size_t i = 0; i < npicked; i++) {
		uint64_t r = next_slot(&d, picked[i], seen);
		struct proof p;

		if (max_duration > 0 && time(NULL) - start >= max_duration) {
			fprintf(hout, "stopped: --max-duration %ld s reached\n",
			    max_duration);
			break;
		}
		print_time("session ", picked[i]);
		fprintf(hout, ", slot %" PRIu64 " of %" PRIu64 ":\n", r, d.m);
		fflush(stdout);
		p = drill_one(&d, picked[i], r);
		fprintf(hout,
		    "  %" PRIu64 " %s restored and checked, %" PRIu64
		    " failed\n",
		    p.checked, p.checked == 1 ? "entry" : "entries", p.failed);
		bad |= p.failed > 0;
		if (json_mode) {
			char ts[TIMEFMT_LEN];

			timefmt_utc(picked[i], ts);
			jsep(&jdrill);
			strbuf_addf(&jdrill,
			    "{\"time\": %lld, \"at\": \"%s\", \"slot\": "
			    "%" PRIu64 ", \"checked\": %" PRIu64
			    ", \"failed\": %" PRIu64 "}",
			    (long long)picked[i], ts, r, p.checked, p.failed);
		}
		add_proof(&d, &p);
		save_state(&d);
	}

	/* Coverage on this chain, newest first; the oldest proven point is
	 * the oldest session reached from the newest without a failure. */
	fprintf(hout, "coverage on the chain of ");
	print_time("", d.chain);
	fprintf(hout, ":\n");
	for (size_t i = d.nsessions; i-- > 0;) {
		int failed;
		uint64_t k = proven_slots(&d, d.sessions[i], &failed, seen);

		if (k == 0 && !failed)
			continue;
		print_time("  ", d.sessions[i]);
		fprintf(hout, "  %" PRIu64 "/%" PRIu64 " slots proven%s\n", k,
		    d.m, failed ? ", FAILED" : "");
		if (json_mode) {
			char ts[TIMEFMT_LEN];

			timefmt_utc(d.sessions[i], ts);
			jsep(&jcov);
			strbuf_addf(&jcov,
			    "{\"time\": %lld, \"at\": \"%s\", "
			    "\"proven_slots\": "
			    "%" PRIu64 ", \"slots\": %" PRIu64
			    ", \"failed\": %s}",
			    (long long)d.sessions[i], ts, k, d.m,
			    failed ? "true" : "false");
		}
		if (!failed && k > 0 && (oldest == 0 || d.sessions[i] < oldest))
			oldest = d.sessions[i];
		if (!failed && k == d.m)
			full_oldest = d.sessions[i];
		if (failed)
			break;
	}
	if (oldest != 0) {
		print_time("oldest point in time proven restorable: ", oldest);
		fprintf(hout, full_oldest == oldest ? "\n" : " (sampled)\n");
	} else
		fprintf(hout,
		    "oldest point in time proven restorable: none yet\n");
	if (full_oldest != 0) {
		print_time("oldest point in time proven whole: ", full_oldest);
		fprintf(hout, "\n");
	}
	if (json_mode) {
		char t1[TIMEFMT_LEN], t2[TIMEFMT_LEN];

		if (jfail != NULL && fclose(jfail) != 0)
			fatal("out of memory");
		timefmt_utc(oldest, t1);
		timefmt_utc(full_oldest, t2);
		printf("{\"repository\": ");
		log_json_str(stdout, d.repo, strlen(d.repo));
		printf(", \"sessions\": %zu, \"slots\": %" PRIu64
		       ", \"drilled\": [%s], \"failures\": [%s], "
		       "\"coverage\": [%s], ",
		    d.nsessions, d.m, jdrill.buf ? jdrill.buf : "",
		    jfail_buf ? jfail_buf : "", jcov.buf ? jcov.buf : "");
		if (oldest != 0)
			printf("\"oldest_proven\": \"%s\", "
			       "\"oldest_proven_time\": %lld, ",
			    t1, (long long)oldest);
		else
			printf("\"oldest_proven\": null, "
			       "\"oldest_proven_time\": null, ");
		if (full_oldest != 0)
			printf("\"oldest_proven_whole\": \"%s\", ", t2);
		else
			printf("\"oldest_proven_whole\": null, ");
		printf("\"ok\": %s}\n", bad ? "false" : "true");
		free(jfail_buf);
		strbuf_release(&jdrill);
		strbuf_release(&jcov);
	}
	free(seen);
	free(d.proofs);
	free(d.sessions);
	repo_loc_release(&loc);
	close(d.datafd);
	return bad ? 2 : 0;
}
