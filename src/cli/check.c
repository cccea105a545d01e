/*
 * capback check: the end-to-end test of a server's configuration, run as
 * the account that runs "capback run".  Each host is probed by a child
 * process (at most CHECK_PARALLEL at once); its report is read back in
 * the configuration's order.
 */
#include "actions.h"
#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "msg.h"
#include "runconf.h"
#include "spawn.h"
#include "strbuf.h"
#include "timespec.h"

#define CHECK_PARALLEL 16
#define CHECK_SECONDS  60 /* a host that has not answered by then fails */
#define OUT_MAX	       (64 * 1024)

struct report {
	struct strbuf ok;	/* what was found good, comma separated */
	struct strbuf problems; /* "  PROBLEM: ...\n    fix: ...\n" */
	int n;
};

static void __attribute__((format(printf, 3, 4)))
problem(struct report *r, const char *fix, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		fatal("out of memory");
	va_end(ap);
	r->n++;
	if (strbuf_addf(&r->problems, "  PROBLEM: %s\n", s) != 0 ||
	    (fix != NULL &&
		strbuf_addf(&r->problems, "    fix: %s\n", fix) != 0))
		fatal("out of memory");
	free(s);
}

static void
good(struct report *r, const char *what)
{
	if ((r->ok.len > 0 && strbuf_addstr(&r->ok, ", ") != 0) ||
	    strbuf_addstr(&r->ok, what) != 0)
		fatal("out of memory");
}

/* Run ${argv} with no input; its stdout and stderr (each bounded), and
 * its exit status (-1: killed, as after CHECK_SECONDS). */
static int
capture(char *const argv[], struct strbuf *out, struct strbuf *err)
{
	int po[2], pe[2], st;
	pid_t pid;
	char buf[4096];
	ssize_t n;

	if (pipe(po) != 0 || pipe(pe) != 0)
		fatal("pipe: %s", strerror(errno));
	if ((pid = fork()) < 0)
		fatal("fork: %s", strerror(errno));
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		if (null < 0 || dup2(null, 0) < 0 || dup2(po[1], 1) < 0 ||
		    dup2(pe[1], 2) < 0)
			_exit(127);
		close(po[0]);
		close(pe[0]);
		alarm(CHECK_SECONDS);
		execv(argv[0], argv);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	/* Both at once: a host that fills one pipe cannot stall the other
	 * (past OUT_MAX the rest is read and dropped). */
	{
		struct pollfd fds[2] = { { po[0], POLLIN, 0 },
			{ pe[0], POLLIN, 0 } };
		struct strbuf *to[2] = { out, err };
		int open_fds = 2, k;

		while (open_fds > 0) {
			if (poll(fds, 2, -1) < 0) {
				if (errno == EINTR)
					continue;
				break;
			}
			for (k = 0; k < 2; k++) {
				if (fds[k].fd < 0 || fds[k].revents == 0)
					continue;
				n = read(fds[k].fd, buf, sizeof(buf));
				if (n <= 0) {
					close(fds[k].fd);
					fds[k].fd = -1;
					open_fds--;
				} else if (to[k]->len < OUT_MAX &&
				    strbuf_add(to[k], buf, (size_t)n) != 0)
					fatal("out of memory");
			}
		}
		for (k = 0; k < 2; k++)
			if (fds[k].fd >= 0)
				close(fds[k].fd);
	}
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/* The value of "key value" in ${text}, or NULL; what the other host
 * wrote, so shown as log_text shows it (no control character reaches the
 * admin's terminal). */
static const char *
field(const char *text, const char *key, char *buf, size_t len)
{
	size_t kl = strlen(key);
	const char *p = text;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, key, kl) == 0 && p[kl] == ' ') {
			size_t n = strcspn(p + kl + 1, "\n");

			snprintf(buf, len, "%s", log_text(p + kl + 1, n));
			return buf;
		}
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return NULL;
}

/* The fingerprints of the known_hosts lines in ${keys}, added to ${fix}
 * (what an admin compares with the host's ssh-keygen -lf). */
static void
fingerprints(struct strbuf *fix, const struct strbuf *keys)
{
	char tmpl[] = "/tmp/capback-check.XXXXXX";
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	int fd = keys->len ? mkstemp(tmpl) : -1;

	if (fd < 0)
		return;
	if (write(fd, keys->buf, keys->len) == (ssize_t)keys->len) {
		capture((char *[]){ (char *)"/usr/bin/ssh-keygen",
			    (char *)"-lf", tmpl, NULL },
		    &out, &err);
		strbuf_addstr(fix, "\n    their fingerprints:");
		for (char *l = out.buf; l != NULL && *l != '\0';) {
			size_t n = strcspn(l, "\n");

			if (n > 0)
				strbuf_addf(fix, "\n      %s", log_text(l, n));
			l += n + (l[n] == '\n');
		}
	}
	close(fd);
	unlink(tmpl);
	strbuf_release(&out);
	strbuf_release(&err);
}

/* The host's key is unknown: what ssh-keyscan sees, to review.  The
 * name and port are ssh's own (ssh -G with the schema's options). */
static void
unknown_host_key(struct report *r, const char *schema, const char *host)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT, fix = STRBUF_INIT,
		      gs = STRBUF_INIT;
	char name[256], port[16], **argv;
	char *none[] = { NULL };

	if (strncmp(schema, "ssh ", 4) == 0 &&
	    strbuf_addf(&gs, "ssh -G %s", schema + 4) == 0) {
		argv = spawn_remote_argv(gs.buf, host, none);
		capture(argv, &out, &err);
		free(argv[2]);
		free(argv);
	}
	if (field(out.buf ? out.buf : "", "hostname", name, sizeof(name)) ==
		NULL ||
	    field(out.buf, "port", port, sizeof(port)) == NULL ||
	    strspn(name,
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		"0123456789.-:") != strlen(name) ||
	    strspn(port, "0123456789") != strlen(port)) {
		problem(r,
		    "ssh-keyscan the host, compare with its own key, add to "
		    "~/.ssh/known_hosts of this account",
		    "its host key is not known");
		goto out;
	}
	strbuf_reset(&out);
	strbuf_reset(&err);
	capture((char *[]){ (char *)"/usr/bin/ssh-keyscan", (char *)"-p", port,
		    name, NULL },
	    &out, &err);
	strbuf_addf(&fix,
	    "compare these (from ssh-keyscan -p %s %s) with the host's own "
	    "(ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub there, "
	    "learnt by another way than this network), then add them to "
	    "~/.ssh/known_hosts of this account:",
	    port, name);
	for (char *l = out.buf; l != NULL && *l != '\0';) {
		size_t n = strcspn(l, "\n");

		if (n > 0 && *l != '#')
			strbuf_addf(&fix, "\n      %s", log_text(l, n));
		l += n + (l[n] == '\n');
	}
	fingerprints(&fix, &out);
	problem(r, fix.buf,
	    "its host key is not known (never accepted silently)");
out:
	strbuf_release(&out);
	strbuf_release(&err);
	strbuf_release(&fix);
	strbuf_release(&gs);
}

/* The last line of ssh's stderr, for a person. */
static const char *
last_line(const struct strbuf *err)
{
	static char buf[512];
	size_t end = err->len, start;

	while (
	    end > 0 && (err->buf[end - 1] == '\n' || err->buf[end - 1] == '\r'))
		end--;
	start = end;
	while (start > 0 && err->buf[start - 1] != '\n')
		start--;
	snprintf(buf, sizeof(buf), "%s",
	    end > start ? log_text(err->buf + start, end - start) :
			  "(nothing on stderr)");
	return buf;
}

/* The first line of ${err} that says why (not one that points above to
 * it), for a person; else the last. */
static const char *
cause_line(const struct strbuf *err)
{
	static char buf[512];
	const char *p = err->buf ? err->buf : "", *end = p + err->len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p), n = len;

		while (n > 0 && p[n - 1] == '\r')
			n--;
		if (n > 0 && memmem(p, n, "(see above)", 11) == NULL) {
			snprintf(buf, sizeof(buf), "%s", log_text(p, n));
			return buf;
		}
		p += len + 1;
	}
	return last_line(err);
}

static void
check_reader(struct report *r, const struct config *c, const struct host *h,
    const char *host, const char *path)
{
	char *probe[] = { (char *)"capback-reader", (char *)"--probe", NULL };
	const char *schema = h->schema ? h->schema :
	    c->schema		       ? c->schema :
					 RUN_SCHEMA;
	char **argv = spawn_remote_argv(schema, host, probe);
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	char v[256], fix[512];
	unsigned long long eff;
	int st = capture(argv, &out, &err);
	const char *e = err.buf ? err.buf : "";
	size_t rl;

	free(argv[2]);
	free(argv);
	if (out.buf == NULL || strncmp(out.buf, "reader capback ", 15) != 0) {
		if (st == 255 &&
		    strstr(e, "Host key verification failed") != NULL)
			unknown_host_key(r, schema, host);
		else if (st == 255 && strstr(e, "Permission denied") != NULL) {
			char kfix[1024];
			const char *at = strchr(host, '@');

			snprintf(kfix, sizeof(kfix),
			    "on the host: capback setup --role reader%s%.*s "
			    "--restrict-path DIR --key '(this account's "
			    "~/.ssh/id_ed25519.pub)' --from THIS-SERVER'S-"
			    "ADDRESS --apply (the key works from that address "
			    "only: sshd's log there says \"not from a "
			    "permitted host\" when it is another)",
			    at ? " --user " : "", at ? (int)(at - host) : 0,
			    host);
			problem(r, kfix,
			    "the host refuses this account's key (%s)",
			    last_line(&err));
		} else if (st == 255 || st < 0)
			problem(r,
			    "check the name, the network and that sshd "
			    "runs there",
			    "not reachable: %s",
			    st < 0 ? "no answer within 60 s" : last_line(&err));
		else
			problem(r,
			    "on the host: capback doctor --role reader --user "
			    "ACCOUNT (it reads the key's forced command)",
			    "the forced command does not answer as a capback "
			    "reader: %s",
			    last_line(&err));
		goto out;
	}
	good(r, "reachable");
	good(r, "host key known");
	if (field(out.buf, "protocol", v, sizeof(v)) == NULL)
		snprintf(v, sizeof(v), "?");
	if (strtoul(v, NULL, 10) != MSG_PROTO_VERSION ||
	    strspn(v, "0123456789") != strlen(v)) {
		problem(r, "install the same capback version on the host",
		    "its reader speaks protocol %s, this capback %u", v,
		    (unsigned)MSG_PROTO_VERSION);
	} else if (field(out.buf, "reader", v, sizeof(v)) == NULL ||
	    strncmp(v, "capback ", 8) != 0 || v[8] == '\0' ||
	    strspn(v + 8,
		"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		".+~-") != strlen(v + 8)) {
		problem(r, "install capback there",
		    "its reader's version is not one: %s", v);
	} else {
		char w[300];

		snprintf(w, sizeof(w), "reader %s", v);
		good(r, w);
	}
	if (field(out.buf, "restrict-path", v, sizeof(v)) != NULL) {
		rl = strlen(v);
		if (!(strcmp(v, "/") == 0 ||
			(strncmp(path, v, rl) == 0 &&
			    (path[rl] == '/' || path[rl] == '\0'))))
			problem(r,
			    "source = a path beneath it, or the key's "
			    "--restrict-path on the host",
			    "the source %s is not beneath the key's restrict "
			    "path %s",
			    log_name(path, strlen(path)), v);
		else {
			char w[300];

			snprintf(w, sizeof(w), "restrict-path %s", v);
			good(r, w);
		}
	}
	if (field(out.buf, "capeff", v, sizeof(v)) == NULL ||
	    sscanf(v, "%llx", &eff) != 1 || !(eff & (1ull << 2))) {
		snprintf(fix, sizeof(fix),
		    "on the host: capback doctor --role reader --user %.*s",
		    (int)(strchr(host, '@') ? strchr(host, '@') - host : 7),
		    strchr(host, '@') ? host : "ACCOUNT");
		problem(r, fix,
		    "the reader runs without CAP_DAC_READ_SEARCH: it backs "
		    "up only what its account may read");
	} else
		good(r, "cap_dac_read_search in effect");
	if (field(out.buf, "probe", v, sizeof(v)) != NULL) {
		size_t pl = strcspn(v, " ");

		if (strcmp(v + pl, " ok") != 0)
			problem(r, "on the host: capback doctor --role reader",
			    "the reader cannot open %.*s:%s", (int)pl, v,
			    v + pl);
		else if (strcmp(v, "/etc/shadow ok") == 0)
			good(r, "root-only /etc/shadow readable");
		else {
			char w[600];

			snprintf(w, sizeof(w), "%.*s opens", (int)pl, v);
			good(r, w);
		}
	}
out:
	strbuf_release(&out);
	strbuf_release(&err);
}

static void
check_repo(struct report *r, const struct host *h)
{
	struct stat st;
	char parent[4096], *slash, w[4200], fix[4400];
	struct passwd *pw = getpwuid(geteuid());
	const char *me = pw != NULL ? pw->pw_name : "ACCOUNT";

	if (h->repo[0] != '/') {
		problem(r, "repository = an absolute path",
		    "repository %s is not absolute",
		    log_name(h->repo, strlen(h->repo)));
		return;
	}
	if (stat(h->repo, &st) != 0) {
		int e = errno;

		snprintf(parent, sizeof(parent), "%s", h->repo);
		slash = strrchr(parent, '/');
		*(slash == parent ? slash + 1 : slash) = '\0';
		if (e == ENOENT && access(parent, W_OK | X_OK) == 0) {
			snprintf(w, sizeof(w), "%s to be made by the first run",
			    log_name(h->repo, strlen(h->repo)));
			good(r, w);
			return;
		}
		snprintf(fix, sizeof(fix),
		    "as root: install -d -o %s -m 0700 %s", me,
		    log_name(e == ENOENT ? parent : h->repo,
			strlen(e == ENOENT ? parent : h->repo)));
		problem(r, fix,
		    "repository %s: %s, and this account cannot make it in %s",
		    log_name(h->repo, strlen(h->repo)), strerror(e),
		    log_name(parent, strlen(parent)));
		return;
	}
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
	    access(h->repo, W_OK | X_OK) != 0) {
		snprintf(fix, sizeof(fix), "as root: chown -R %s %s", me,
		    log_name(h->repo, strlen(h->repo)));
		problem(r, fix,
		    "repository %s is not a directory this account owns and "
		    "may write",
		    log_name(h->repo, strlen(h->repo)));
		return;
	}
	snprintf(w, sizeof(w), "%s writable",
	    log_name(h->repo, strlen(h->repo)));
	good(r, w);
}

/*
 * A copy between a primary and a vault (replicate-from, vault): a dry run
 * of it lists both sides' sessions through the forced commands and
 * compares the newest common one, changing nothing.
 */
static void
check_replica(struct report *r, const struct config *c, const struct host *h,
    const char *from, const char *to, int push)
{
	const char *schema = h->schema ? h->schema :
	    c->schema		       ? c->schema :
					 RUN_SCHEMA;
	char self[4096];
	char *argv[] = { self, (char *)"-v", (char *)"2", (char *)"--wait",
		(char *)"--remote-schema", (char *)schema, (char *)"replicate",
		(char *)"--dry-run", (char *)"--", (char *)from, (char *)to,
		NULL };
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	int st;

	if (n <= 0)
		fatal("cannot find this program: %s", strerror(errno));
	self[n] = '\0';
	st = capture(argv, &out, &err);
	if (st == 0) {
		char w[96];
		size_t k = 0;

		for (const char *p = out.buf;
		     p && (p = strstr(p, "would copy")); p++)
			k++;
		snprintf(w, sizeof(w), "%s answers (%zu session%s to copy)",
		    push ? "the vault" : "the primary", k, k == 1 ? "" : "s");
		good(r, w);
	} else
		problem(r,
		    push ? "on the vault, the key of this account: "
			   "command=\"capback-writer --serve --append-only "
			   "--restrict-path DIR\" (capback-writer(8))" :
			   "on the primary, the key of this account: "
			   "command=\"capback-writer --serve --read-only "
			   "--restrict-path DIR\" (capback-writer(8))",
		    "replicate %s -> %s: %s", log_name(from, strlen(from)),
		    log_name(to, strlen(to)),
		    st < 0 ? "no answer in time" : cause_line(&err));
	strbuf_release(&out);
	strbuf_release(&err);
}

/* One host's report, as text. */
static char *
check_host(const struct config *c, const struct host *h)
{
	struct report r = { STRBUF_INIT, STRBUF_INIT, 0 };
	const char *sep = h->source ? strstr(h->source, "::") : NULL;
	char *host, *text;

	if (h->replicate_from != NULL)
		check_replica(&r, c, h, h->replicate_from, h->repo, 0);
	else if (sep != NULL) {
		if ((host = strndup(h->source, (size_t)(sep - h->source))) ==
		    NULL)
			fatal("out of memory");
		check_reader(&r, c, h, host, sep + 2);
		free(host);
	} else {
		struct stat st;
		const char *colon = strchr(h->source, ':');

		if (colon != NULL &&
		    memchr(h->source, '/', (size_t)(colon - h->source)) == NULL)
			problem(&r,
			    "source = USER@HOST::/PATH (two colons) for a "
			    "host, or a local path",
			    "source %s looks like scp's USER@HOST:PATH, which "
			    "capback takes as a local path",
			    log_name(h->source, strlen(h->source)));
		else if ((errno = 0, stat(h->source, &st) != 0) ||
		    !S_ISDIR(st.st_mode))
			problem(&r, "source = an existing directory",
			    "source %s: %s",
			    log_name(h->source, strlen(h->source)),
			    errno ? strerror(errno) : "not a directory");
		else
			good(&r, "local source");
	}
	check_repo(&r, h);
	/* a push needs sessions to list: the first backup makes them */
	if (h->vault != NULL && repo_session_span(h->repo, NULL, NULL) > 0)
		check_replica(&r, c, h, h->repo, h->vault, 1);
	else if (h->vault != NULL)
		good(&r, "the vault: checked once a backup exists");
	if (asprintf(&text, "%s: %s%s%s\n%s", h->name, r.n ? "" : "ok (",
		r.n ? "" : (r.ok.buf ? r.ok.buf : ""), r.n ? "" : ")",
		r.problems.buf ? r.problems.buf : "") < 0)
		fatal("out of memory");
	if (r.n) {
		char *t;

		if (asprintf(&t, "%s: %d problem%s%s%s%s\n%s", h->name, r.n,
			r.n == 1 ? "" : "s", r.ok.len ? " (" : "",
			r.ok.len ? r.ok.buf : "", r.ok.len ? ")" : "",
			r.problems.buf) < 0)
			fatal("out of memory");
		free(text);
		text = t;
	}
	strbuf_release(&r.ok);
	strbuf_release(&r.problems);
	return text;
}

struct child {
	pid_t pid;
	int fd;
};

/* Print what child ${k} wrote; 1 if it found a problem. */
static int
collect(struct child *k)
{
	char buf[4096];
	ssize_t n;
	int st;

	while ((n = read(k->fd, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, stdout);
	close(k->fd);
	if (waitpid(k->pid, &st, 0) < 0 || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0)
		return 1;
	return 0;
}

int
check_main(int argc, char **argv)
{
	struct child kids[CHECK_PARALLEL];
	struct config c;
	const char *path = DEFAULT_CONFIG;
	size_t i, first = 0;
	int opt, bad = 0;
	const char *shard = NULL;

	action_begin(argv);
	while ((opt = action_next(action_get(ACT_CHECK), argc, argv)) != -1)
		if (opt == 's')
			shard = optarg;
	if (optind < argc)
		path = argv[optind++];
	if (optind != argc)
		fatal("check takes one CONFIG at most");
	if (geteuid() == 0)
		fatal("check: run it as the account that runs 'capback run' "
		      "(runuser -u capback -- capback check): as root it "
		      "would test root's ssh key and access instead");
	config_load(&c, path, shard);
	fflush(stdout);
	for (i = 0; i < c.n || first < i;) {
		if (i < c.n && i - first < CHECK_PARALLEL) {
			struct child *k = &kids[i % CHECK_PARALLEL];
			int p[2];

			if (pipe(p) != 0 || (k->pid = fork()) < 0)
				fatal("cannot start a check: %s",
				    strerror(errno));
			if (k->pid == 0) {
				char *text;
				size_t len;

				close(p[0]);
				text = check_host(&c, &c.hosts[i]);
				len = strlen(text);
				_exit(write(p[1], text, len) == (ssize_t)len &&
					    strstr(text, "  PROBLEM: ") ==
						NULL ?
					0 :
					1);
			}
			close(p[1]);
			k->fd = p[0];
			i++;
			continue;
		}
		bad |= collect(&kids[first % CHECK_PARALLEL]);
		first++;
	}
	fflush(stdout);
	config_free(&c);
	return bad;
}
