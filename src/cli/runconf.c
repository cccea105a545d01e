/*
 * capback.conf: one INI file, [global] and one [host NAME] per host.
 */
#include "runconf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ini.h>

#include "cb_err.h"
#include "log.h"
#include "numparse.h"
#include "select.h"
#include "strbuf.h"
#include "timespec.h"

char *
xstrdup(const char *s)
{
	char *d = strdup(s);

	if (d == NULL)
		fatal("out of memory");
	return d;
}

/* ---- configuration --------------------------------------------------- */

static void
set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = xstrdup(v);
}

/*
 * A set of strings by hash (FNV-1a of the key as same_path sees it:
 * repeated and trailing '/' skipped), so that a file of thousands of
 * hosts is checked for repeated names and repositories in linear time.
 * Slots hold host indexes + 1 (0: empty); ${key} reads a host's key.
 */
static uint64_t
path_hash(const char *a)
{
	uint64_t h = 14695981039346656037ULL;

	for (;;) {
		while (a[0] == '/' && (a[1] == '/' || a[1] == '\0'))
			a++;
		if (*a == '\0')
			return h;
		h ^= (uint8_t)*a++;
		h *= 1099511628211ULL;
	}
}

static int same_path(const char *a, const char *b);

/* The host of ${set} whose key (${key}) names the same as ${s}, or -1
 * after adding ${idx} for it. */
static long
hostset_add(struct hostset *set, const struct config *c,
    const char *(*key)(const struct host *), const char *s, size_t idx)
{
	size_t i;

	if (set->cap < 2 * (idx + 1)) { /* rebuilt at twice the size */
		size_t cap = set->cap ? set->cap * 4 : 64;
		size_t *old = set->slot, ocap = set->cap;

		if ((set->slot = calloc(cap, sizeof(*set->slot))) == NULL)
			fatal("out of memory");
		set->cap = cap;
		for (size_t k = 0; k < ocap; k++)
			if (old[k] != 0) {
				i = path_hash(key(&c->hosts[old[k] - 1])) &
				    (cap - 1);
				while (set->slot[i] != 0)
					i = (i + 1) & (cap - 1);
				set->slot[i] = old[k];
			}
		free(old);
	}
	for (i = path_hash(s) & (set->cap - 1); set->slot[i] != 0;
	     i = (i + 1) & (set->cap - 1))
		if (same_path(key(&c->hosts[set->slot[i] - 1]), s))
			return (long)set->slot[i] - 1;
	set->slot[i] = idx + 1;
	return -1;
}

static const char *
host_name(const struct host *h)
{
	return h->name;
}

static const char *
host_repo(const struct host *h)
{
	return h->repo;
}

/* The host of the section being read (sections come one after another:
 * a name seen before is refused by host_key), made at its first key. */
static struct host *
host_of(struct config *c, const char *section)
{
	const char *name = section + 5; /* "host " */
	struct host *hs;

	if (c->n > 0 && strcmp(c->hosts[c->n - 1].name, name) == 0)
		return &c->hosts[c->n - 1];
	if (c->n == MAX_HOSTS)
		return NULL;
	if ((hs = array_grow(c->hosts, &c->hcap, c->n, sizeof(*hs))) == NULL)
		fatal("out of memory");
	c->hosts = hs;
	memset(&c->hosts[c->n], 0, sizeof(*hs));
	c->hosts[c->n].name = xstrdup(name);
	c->hosts[c->n].drill = xstrdup("0.02");
	c->hosts[c->n].drill_max = 1800;
	return &c->hosts[c->n++];
}

/* A host name: it names files in the state directory. */
static int
name_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= 64 && s[0] != '.' &&
	    strspn(s,
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		"0123456789._-") == n;
}

/* A time span ("10s", "30m", "6h", "2D") in seconds; 0 if it is none. */
int64_t
span_seconds(const char *v)
{
	int64_t now = (int64_t)time(NULL), t;

	/* a unit is required: a bare number would be a point in time */
	if (*v == '\0' || strchr("smhDWMY", v[strlen(v) - 1]) == NULL ||
	    timespec_parse(v, now, NULL, 0, &t) != 0 || t >= now)
		return 0;
	return now - t;
}

/* Refuse the line being parsed, saying why (config_load adds where). */
static int __attribute__((format(printf, 2, 3)))
refuse(struct config *c, const char *fmt, ...)
{
	va_list ap;

	if (c->why[0] != '\0')
		return 0; /* the first error is the one inih names the line of */
	va_start(ap, fmt);
	vsnprintf(c->why, sizeof(c->why), fmt, ap);
	va_end(ap);
	return 0;
}

static int
yes_no(const char *v, int *out)
{
	if (strcmp(v, "yes") == 0 || strcmp(v, "true") == 0 ||
	    strcmp(v, "1") == 0)
		*out = 1;
	else if (strcmp(v, "no") == 0 || strcmp(v, "false") == 0 ||
	    strcmp(v, "0") == 0)
		*out = 0;
	else
		return -1;
	return 0;
}

/* A share (backup --check-received): 1, or 0 (refused) if it is none. */
static int
check_fraction(struct config *c, const char *key, const char *v)
{
	double f;

	if (parse_fraction(v, &f) != 0)
		return refuse(c, "%s = %s: a share from 0 to 1 (default 0.02)",
		    key, v);
	return 1;
}

static void
add_rule(struct host *h, const char *key, const char *v)
{
	if (asprintf(&h->rules[h->nrules++], "--%s", key) < 0)
		fatal("out of memory");
	if (v != NULL)
		h->rules[h->nrules++] = xstrdup(v);
}

#define GLOBAL_KEYS                                                      \
	"parallel, shard, jitter, state-dir, mail-to, mail-from, mail, " \
	"after, "                                                        \
	"remote-schema, sendmail, overdue, timeout, metrics, check-received"
#define HOST_KEYS                                                          \
	"source, repository, replicate-from, vault, keep, drill, "         \
	"drill-max-duration, before, "                                     \
	"after, remote-schema, timeout, check-unchanged, check-received, " \
	"null-separator "                                                  \
	"and backup's selection options (include, exclude, "               \
	"exclude-if-present, max-file-size, ...)"

static int
global_key(struct config *c, const char *key, const char *v)
{
	char *end;

	if (strcmp(key, "parallel") == 0) {
		c->parallel = strtol(v, &end, 10);
		if (*end != '\0' || c->parallel < 1 || c->parallel > 64)
			return refuse(c, "parallel = %s: a number from 1 to 64",
			    v);
	} else if (strcmp(key, "shard") == 0) {
		if (parse_shard(v, &c->shard, &c->shards) != 0)
			return refuse(c,
			    "shard = %s: I/N, this server's number I (1 to N) "
			    "of N servers (1/2; N at most 1000)",
			    v);
	} else if (strcmp(key, "jitter") == 0) {
		if (strcmp(v, "0") == 0)
			c->jitter = 0;
		else if ((c->jitter = span_seconds(v)) <= 0 ||
		    c->jitter > 12 * 3600)
			return refuse(c,
			    "jitter = %s: a time span (30s, 5m) or 0, at most "
			    "12h",
			    v);
	} else if (strcmp(key, "mail-to") == 0)
		set_str(&c->mail_to, v);
	else if (strcmp(key, "mail-from") == 0)
		set_str(&c->mail_from, v);
	else if (strcmp(key, "mail") == 0) {
		if (strcmp(v, "always") != 0 && strcmp(v, "on-failure") != 0 &&
		    strcmp(v, "never") != 0)
			return refuse(c,
			    "mail = %s: always, on-failure or never", v);
		set_str(&c->mail_when, v);
	} else if (strcmp(key, "after") == 0)
		set_str(&c->after, v);
	else if (strcmp(key, "state-dir") == 0) {
		if (v[0] != '/')
			return refuse(c, "state-dir = %s: an absolute path", v);
		set_str(&c->state, v);
	} else if (strcmp(key, "remote-schema") == 0)
		set_str(&c->schema, v);
	else if (strcmp(key, "check-received") == 0) {
		if (!check_fraction(c, key, v))
			return 0;
		set_str(&c->check_received, v);
	} else if (strcmp(key, "metrics") == 0) {
		size_t l = strlen(v);

		if (v[0] != '/' || l < 6 || strcmp(v + l - 5, ".prom") != 0)
			return refuse(c,
			    "metrics = %s: an absolute path ending in .prom "
			    "(the node exporter's textfile directory)",
			    v);
		set_str(&c->metrics, v);
	} else if (strcmp(key, "sendmail") == 0) {
		if (v[0] != '/')
			return refuse(c, "sendmail = %s: an absolute path", v);
		set_str(&c->sendmail, v);
	} else if (strcmp(key, "overdue") == 0) {
		if (span_seconds(v) <= 0)
			return refuse(c, "overdue = %s: a time span (36h, 2D)",
			    v);
		set_str(&c->overdue, v);
	} else if (strcmp(key, "timeout") == 0) {
		set_str(&c->timeout, v);
		if (span_seconds(v) <= 0)
			return refuse(c, "timeout = %s: a time span (6h, 90m)",
			    v);
	} else
		return refuse(c,
		    "no key '%s' in [global] (it takes " GLOBAL_KEYS ")", key);
	return 1;
}

/* A key only [global] takes. */
static int
global_only(const char *key)
{
	static const char *const keys[] = { "parallel", "shard", "jitter",
		"state-dir", "mail-to", "mail-from", "mail", "sendmail",
		"overdue", "metrics" };

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(key, keys[i]) == 0)
			return 1;
	return 0;
}

static int
host_key(struct config *c, const char *section, const char *key, const char *v)
{
	struct host *h;
	const char *name;
	char *end;
	int noarg, on;
	size_t i;

	if (strcmp(section, c->section) != 0) {
		if (hostset_add(&c->names, c, host_name, section + 5, c->n) >=
		    0)
			return refuse(c,
			    "[%s] appears twice: one section a host", section);
		snprintf(c->section, sizeof(c->section), "%s", section);
	}
	if (!name_ok(section + 5))
		return refuse(c,
		    "[%s]: a host's name has 1 to 64 letters, digits, "
		    "'.', '_' or '-' (not first '.')",
		    section);
	if ((h = host_of(c, section)) == NULL)
		return refuse(c, "more than %d hosts", MAX_HOSTS);
	if (strcmp(key, "source") == 0)
		set_str(&h->source, v);
	else if (strcmp(key, "replicate-from") == 0 ||
	    strcmp(key, "vault") == 0) {
		/* a repository: local and absolute, or [user@]host::/path */
		const char *sep = strstr(v, "::");

		if ((sep == NULL && v[0] != '/') ||
		    (sep != NULL && (sep == v || sep[2] != '/')))
			return refuse(c,
			    "%s = %s: a repository, /path or "
			    "[user@]host::/path",
			    key, v);
		set_str(key[0] == 'r' ? &h->replicate_from : &h->vault, v);
	} else if (strcmp(key, "repository") == 0)
		set_str(&h->repo, v);
	else if (strcmp(key, "keep") == 0) {
		int64_t t;

		/* a unit is required: a bare number is a point in time
		 * (second 30 of 1970), which would keep everything */
		size_t l = strlen(v);
		/* "10B": ten sessions (parsed against the repository's
		 * sessions when retention runs) */
		int sessions = l > 1 && v[l - 1] == 'B' &&
		    strspn(v, "0123456789") == l - 1 && atol(v) > 0;

		if (!sessions &&
		    (*v == '\0' || strchr("smhDWMY", v[l - 1]) == NULL ||
			timespec_parse(v, (int64_t)time(NULL), NULL, 0, &t) !=
			    0))
			return refuse(c,
			    "keep = %s: a time span with its unit (30D, 8W, "
			    "12M) or a number of sessions (10B)",
			    v);
		set_str(&h->keep, v);
	} else if (strcmp(key, "drill") == 0) {
		double f = strtod(v, &end);

		if (strcmp(v, "all") != 0 && strcmp(v, "none") != 0 &&
		    (end == v || *end != '\0' || !(f > 0 && f <= 1)))
			return refuse(c,
			    "drill = %s: a fraction of the entries (0.02), all "
			    "or none",
			    v);
		set_str(&h->drill, v);
	} else if (strcmp(key, "drill-max-duration") == 0) {
		h->drill_max = strtol(v, &end, 10);
		if (*end != '\0' || h->drill_max <= 0)
			return refuse(c,
			    "drill-max-duration = %s: seconds, more than 0", v);
	} else if (strcmp(key, "before") == 0)
		set_str(&h->before, v);
	else if (strcmp(key, "after") == 0)
		set_str(&h->after, v);
	else if (strcmp(key, "remote-schema") == 0)
		set_str(&h->schema, v);
	else if (strcmp(key, "timeout") == 0) {
		set_str(&h->timeout, v);
		if (span_seconds(v) <= 0)
			return refuse(c, "timeout = %s: a time span (6h, 90m)",
			    v);
	} else if (strcmp(key, "check-received") == 0) {
		if (!check_fraction(c, key, v))
			return 0;
		set_str(&h->check_received, v);
	} else if (strcmp(key, "check-unchanged") == 0 ||
	    strcmp(key, "null-separator") == 0) {
		if (yes_no(v, &on) != 0)
			return refuse(c, "%s = %s: yes or no", key, v);
		if (h->nrules + 2 > 2 * MAX_RULES)
			return refuse(c, "more than %d rules", MAX_RULES);
		if (on)
			add_rule(h, key, NULL);
	} else {
		for (i = 0; (name = select_option(i, &noarg)) != NULL; i++)
			if (strcmp(name, key) == 0)
				break;
		if (name == NULL && global_only(key))
			return refuse(c,
			    "'%s' belongs in [global], not in [host %s]", key,
			    h->name);
		if (name == NULL)
			return refuse(c,
			    "no key '%s' in [host %s] (it takes " HOST_KEYS ")",
			    key, h->name);
		if (h->nrules + 2 > 2 * MAX_RULES)
			return refuse(c, "more than %d rules", MAX_RULES);
		if (noarg && yes_no(v, &on) != 0)
			return refuse(c, "%s = %s: yes or no", key, v);
		if (!noarg && strstr(key, "filelist") == NULL) {
			/* a value backup would refuse is refused here,
			 * before anything runs (sizes, names, regexps) */
			struct select *s;
			char err[512];
			int r;

			if (select_new("/", &s) != 0)
				fatal("out of memory");
			r = select_add(s, key, v, strlen(v), 0, err,
			    sizeof(err));
			select_free(s);
			if (r == CB_ERR_NOMEM)
				fatal("out of memory");
			if (r != 0)
				return refuse(c, "%s = %s: %s", key, v, err);
		}
		if (!noarg)
			add_rule(h, key, v);
		else if (on)
			add_rule(h, key, NULL);
	}
	return 1;
}

static int
handler(void *arg, const char *section, const char *key, const char *v)
{
	struct config *c = arg;

	if (strcmp(section, "global") == 0)
		return global_key(c, key, v);
	if (strncmp(section, "host ", 5) == 0)
		return host_key(c, section, key, v);
	return refuse(c,
	    "section [%s]: there are [global] and [host NAME] only", section);
}

/* Do ${a} and ${b} name one place (as written, '/' repeated or at the
 * end aside)? */
static int
same_path(const char *a, const char *b)
{
	for (;;) {
		while (a[0] == '/' && (a[1] == '/' || a[1] == '\0'))
			a++;
		while (b[0] == '/' && (b[1] == '/' || b[1] == '\0'))
			b++;
		if (*a != *b)
			return 0;
		if (*a == '\0')
			return 1;
		a++;
		b++;
	}
}

int
parse_shard(const char *v, unsigned *i, unsigned *n)
{
	char *end;
	unsigned long a, b;

	if (*v < '1' || *v > '9')
		return -1;
	a = strtoul(v, &end, 10);
	if (*end != '/' || end[1] < '1' || end[1] > '9')
		return -1;
	b = strtoul(end + 1, &end, 10);
	if (*end != '\0' || a > b || b > 1000)
		return -1;
	*i = (unsigned)a;
	*n = (unsigned)b;
	return 0;
}

/* splitmix64's finalizer: every input bit reaches every output bit. */
static uint64_t
mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

unsigned
shard_of(const char *name, unsigned n)
{
	uint64_t h = 14695981039346656037ULL, best = 0; /* FNV-1a 64 */
	unsigned k = 1;

	for (const char *p = name; *p; p++) {
		h ^= (uint8_t)*p;
		h *= 1099511628211ULL;
	}
	for (unsigned i = 1; i <= n; i++) {
		uint64_t s = mix64(h ^ mix64(i));

		if (i == 1 || s > best) {
			best = s;
			k = i;
		}
	}
	return k;
}

static void
host_free(struct host *h)
{
	free(h->name);
	free(h->source);
	free(h->replicate_from);
	free(h->vault);
	free(h->repo);
	free(h->keep);
	free(h->drill);
	free(h->before);
	free(h->after);
	free(h->schema);
	free(h->timeout);
	free(h->check_received);
	for (size_t k = 0; k < h->nrules; k++)
		free(h->rules[k]);
}

/* Keep the hosts of shard c->shard of c->shards only. */
static void
keep_shard(struct config *c)
{
	size_t k = 0;

	c->n_all = c->n;
	for (size_t i = 0; i < c->n; i++) {
		if (shard_of(c->hosts[i].name, c->shards) == c->shard) {
			if (k != i)
				c->hosts[k] = c->hosts[i];
			k++;
			continue;
		}
		host_free(&c->hosts[i]);
	}
	c->n = k;
}

/*
 * The default 'parallel': twice the cores (a pull mostly waits on the
 * link and the host), and at most RUN_WRITERS_PER_DISK writers on each
 * file system that holds local repositories (their writes and syncs
 * share its disk).
 */
static void
default_parallel(struct config *c)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	dev_t *devs = calloc(c->n + 1, sizeof(*devs));
	size_t ndev = 0;

	if (devs == NULL)
		fatal("out of memory");
	if (cores < 1)
		cores = 1;
	for (size_t i = 0; i < c->n; i++) {
		char p[4096];
		struct stat st;
		char *slash;
		size_t k;

		if (strstr(c->hosts[i].repo, "::") != NULL)
			continue; /* on another machine's disk */
		snprintf(p, sizeof(p), "%s", c->hosts[i].repo);
		/* the repository, or the nearest directory above it */
		while (stat(p, &st) != 0 && (slash = strrchr(p, '/')) != NULL &&
		    p[1] != '\0')
			slash[slash == p] = '\0'; /* "/a" becomes "/" */
		if (stat(p, &st) != 0)
			continue;
		for (k = 0; k < ndev && devs[k] != st.st_dev; k++)
			;
		if (k == ndev)
			devs[ndev++] = st.st_dev;
	}
	free(devs);
	c->parallel = 2 * cores;
	if (ndev > 0 && c->parallel > (long)(RUN_WRITERS_PER_DISK * ndev))
		c->parallel = (long)(RUN_WRITERS_PER_DISK * ndev);
	if (c->parallel > 64)
		c->parallel = 64;
	snprintf(c->parallel_why, sizeof(c->parallel_why),
	    "twice %ld cores, at most %d for each of %zu file system%s of "
	    "local repositories; set parallel = to change",
	    cores, RUN_WRITERS_PER_DISK, ndev, ndev == 1 ? "" : "s");
}

/*
 * What inih would take in silence or name at the wrong line: a line that
 * is no [section], key = value, comment or continuation (inih goes on and
 * names the line of its first error with the words of a later one), and a
 * [host NAME] without a key (no host: a lone one was "no [host NAME]
 * section").  Fatal, naming the line.
 */
static void
no_key(const char *path, unsigned line, const char *host)
{
	fatal("%s, line %u: [host %s] holds no key: a host needs source (or "
	      "replicate-from) and repository (capback.conf(5))",
	    path, line, log_quote(host, strlen(host)));
}

static void
config_lines(const char *path)
{
	char line[8192], host[256] = "";
	unsigned n = 0, host_line = 0;
	int keys = 0; /* in this section (and a line may continue a value) */
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return; /* ini_parse says why */
	while (fgets(line, sizeof(line), f) != NULL) {
		const char *s = line;
		size_t len = strcspn(line, "\r\n");

		n++;
		line[len] = '\0';
		/* a byte-order mark, as inih takes it (an editor's) */
		if (n == 1 && strncmp(s, "\xef\xbb\xbf", 3) == 0)
			s += 3;
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\0' || *s == '#' || *s == ';')
			continue;
		if (s > line && keys)
			continue; /* a continuation of the value above */
		if (*s == '[') {
			if (strchr(s, ']') == NULL)
				fatal("%s, line %u: '%s' has no ']' "
				      "(capback.conf(5))",
				    path, n, log_quote(s, strlen(s)));
			if (host_line != 0 && !keys)
				no_key(path, host_line, host);
			if (strncmp(s, "[global]", 8) != 0 &&
			    strncmp(s, "[host ", 6) != 0) {
				size_t sl = (size_t)(strchr(s, ']') - s + 1);

				fatal("%s, line %u: section %s: there are "
				      "[global] and [host NAME] only "
				      "(capback.conf(5))",
				    path, n, log_quote(s, sl));
			}
			keys = 0;
			host_line = 0;
			if (strncmp(s, "[host ", 6) == 0) {
				host_line = n;
				snprintf(host, sizeof(host), "%.*s",
				    (int)strcspn(s + 6, "]"), s + 6);
			}
			continue;
		}
		if (strpbrk(s, "=:") == NULL)
			fatal("%s, line %u: '%s' is no [section] and no 'key = "
			      "value' (capback.conf(5))",
			    path, n, log_quote(s, strlen(s)));
		keys = 1;
	}
	fclose(f);
	if (host_line != 0 && !keys)
		no_key(path, host_line, host);
}

void
config_load(struct config *c, const char *path, const char *shard)
{
	struct hostset repos = { NULL, 0 };
	int line;
	long k;

	memset(c, 0, sizeof(*c));
	c->path = path;
	c->parallel = 0; /* from the machine, unless set */
	c->shard = c->shards = 1;
	c->state = xstrdup("/var/lib/capback");
	c->sendmail = xstrdup("/usr/sbin/sendmail");
	c->mail_when = xstrdup("always");
	c->overdue = xstrdup("36h");
	c->timeout = xstrdup("6h");
	/* Commands may hold ';' and be long (Debian's inih: at run time). */
	ini_allow_inline_comments = false;
	ini_use_stack = false;
	ini_initial_alloc = 8192;
	ini_max_line = 8192;
	config_lines(path);
	line = ini_parse(path, handler, c);
	if (line == -1)
		fatal("cannot read the configuration %s: %s", path,
		    strerror(errno));
	if (line != 0)
		fatal("%s, line %d: %s (capback.conf(5))", path, line,
		    c->why[0] ? c->why : "not a 'key = value' line");
	if (c->n == 0)
		fatal("%s: no [host NAME] section", path);
	if (span_seconds(c->timeout) <= 0)
		fatal("%s: timeout = %s is not a time span (e.g. 6h)", path,
		    c->timeout);
	for (size_t i = 0; i < c->n; i++) {
		struct host *h = &c->hosts[i];

		if ((h->source == NULL) == (h->replicate_from == NULL) ||
		    h->repo == NULL)
			fatal("%s: [host %s] needs source (a backup) or "
			      "replicate-from (a vault's copy), one of them, "
			      "and repository",
			    path, h->name);
		if (h->replicate_from != NULL && h->nrules > 0)
			fatal("%s: [host %s]: a vault's copy takes no backup "
			      "option (%s): it holds the primary's sessions "
			      "whole",
			    path, h->name, h->rules[0]);
		if (h->vault != NULL && same_path(h->vault, h->repo))
			fatal("%s: [host %s]: vault = %s is its repository",
			    path, h->name, h->vault);
		if ((k = hostset_add(&repos, c, host_repo, h->repo, i)) >= 0)
			fatal("%s: [host %s] and [host %s] have the same "
			      "repository %s: one repository a host",
			    path, c->hosts[k].name, h->name,
			    log_name(h->repo, strlen(h->repo)));
	}
	free(repos.slot);
	free(c->names.slot);
	c->names.slot = NULL;
	if (shard != NULL && parse_shard(shard, &c->shard, &c->shards) != 0)
		fatal("--shard %s: I/N, this server's number I (1 to N) of N "
		      "servers (1/2; N at most 1000)",
		    shard);
	keep_shard(c);
	if (c->parallel == 0)
		default_parallel(c);
}

void
config_free(struct config *c)
{
	for (size_t i = 0; i < c->n; i++)
		host_free(&c->hosts[i]);
	free(c->hosts);
	free(c->mail_to);
	free(c->mail_from);
	free(c->mail_when);
	free(c->after);
	free(c->state);
	free(c->schema);
	free(c->sendmail);
	free(c->overdue);
	free(c->timeout);
	free(c->metrics);
	free(c->check_received);
}
