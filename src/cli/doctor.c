/*
 * capback doctor: what privilege a role has here, what it needs, and the
 * exact commands that close the gap.  Reads only; changes nothing.
 */
#include "doctor.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "spawn.h"

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#endif
#define LANDLOCK_CREATE_RULESET_VERSION (1u << 0)

static int problems;

static void problem(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
problem(const char *fmt, ...)
{
	va_list ap;

	problems++;
	printf("  PROBLEM: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

/* A capability mask as capsh --decode prints it. */
static void
decode(const char *label, unsigned long long mask)
{
	int v, first = 1;

	printf("  %-12s 0x%016llx", label, mask);
	for (v = 0; v < 64; v++) {
		if (!(mask & (1ull << v)))
			continue;
		if (v > CAP_LAST_CAP) {
			printf("%s%d", first ? " = " : ",", v);
		} else {
			char *n = cap_to_name((cap_value_t)v);

			printf("%s%s", first ? " = " : ",", n ? n : "?");
			cap_free(n);
		}
		first = 0;
	}
	printf("\n");
}

static void
show_process(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	unsigned long long m;
	int sb = prctl(PR_GET_SECUREBITS);
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
	    LANDLOCK_CREATE_RULESET_VERSION);

	printf("this process (uid %u, euid %u):\n", (unsigned)getuid(),
	    (unsigned)geteuid());
	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "Cap", 3) == 0 &&
		    sscanf(strchr(line, ':') + 1, "%llx", &m) == 1) {
			*strchr(line, ':') = '\0';
			decode(line, m);
		} else if (strncmp(line, "NoNewPrivs:", 11) == 0 ||
		    strncmp(line, "Seccomp:", 8) == 0)
			printf("  %s", line);
	}
	if (f != NULL)
		fclose(f);
	printf("  securebits   0x%x\n", sb < 0 ? 0 : sb);
	if (abi > 0)
		printf("  Landlock     ABI %ld\n", abi);
	else
		printf("  Landlock     not available (%s)\n", strerror(errno));
}

/* Does capability.conf give ${user} CAP_DAC_READ_SEARCH (before "none")? */
static int
capconf_grants(const char *conf, const char *user)
{
	FILE *f = fopen(conf, "r");
	char line[512], caps[256], who[256];
	int found = 0;

	if (f == NULL)
		return 0;
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		if (line[0] == '#' ||
		    sscanf(line, "%255s %255s", caps, who) != 2)
			continue;
		if (strcmp(who, user) == 0 || strcmp(who, "*") == 0) {
			found = strstr(caps, "cap_dac_read_search") != NULL ?
			    1 :
			    -1;
		}
	}
	fclose(f);
	return found == 1;
}

static int
file_contains(const char *path, const char *needle)
{
	FILE *f = fopen(path, "r");
	char line[512];
	int found = 0;

	if (f == NULL)
		return 0;
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = line[0] != '#' && strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

/* Run the reader's --check as ${pw} (or as we are); its report is printed. */
static int
try_read(const char *bin, const struct passwd *pw, const char *file)
{
	pid_t pid;
	int st;

	fflush(stdout);
	if ((pid = fork()) < 0)
		fatal("fork: %s", strerror(errno));
	if (pid == 0) {
		if (pw != NULL &&
		    (initgroups(pw->pw_name, pw->pw_gid) != 0 ||
			setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0))
			_exit(126);
		printf("  as %s: ", pw ? pw->pw_name : "this user");
		fflush(stdout);
		execl(bin, bin, "--check", file, (char *)NULL);
		printf("cannot run %s: %s\n", bin, strerror(errno));
		_exit(127);
	}
	if (waitpid(pid, &st, 0) < 0)
		return 0;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static FILE *run_reading(char *const argv[], pid_t *pid);

/* What "sshd -T -C user=${user},..." answers for ${key} (lower case), in
 * ${buf}; NULL if sshd is not there.  No shell: a user name may hold
 * anything the user database takes. */
static const char *
sshd_setting(const char *user, const char *key, char *buf, size_t len)
{
	char spec[512], line[4096];
	char *argv[] = { (char *)"/usr/sbin/sshd", (char *)"-T", (char *)"-C",
		spec, NULL };
	size_t kl = strlen(key);
	const char *found = NULL;
	FILE *p;
	pid_t pid;

	snprintf(spec, sizeof(spec), "user=%s,host=localhost,addr=127.0.0.1",
	    user);
	if (access(argv[0], X_OK) != 0 || (p = run_reading(argv, &pid)) == NULL)
		return NULL;
	while (fgets(line, sizeof(line), p) != NULL)
		if (found == NULL && strncmp(line, key, kl) == 0 &&
		    line[kl] == ' ') {
			line[strcspn(line, "\n")] = '\0';
			snprintf(buf, len, "%s", line + kl + 1);
			found = buf;
		}
	fclose(p);
	waitpid(pid, NULL, 0);
	return found;
}

/*
 * The options of an authorized_keys line (everything before the key
 * type, up to the first space outside quotes), in ${opts}; "" when the
 * line starts with the key type.
 */
static void
key_options(const char *l, char *opts, size_t len)
{
	static const char *const types[] = { "ssh-", "ecdsa-", "sk-" };
	size_t i, n = 0;
	int quoted = 0;

	opts[0] = '\0';
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strncmp(l, types[i], strlen(types[i])) == 0)
			return;
	for (; l[n] != '\0' && (quoted || (l[n] != ' ' && l[n] != '\t')); n++) {
		if (l[n] == '\\' && quoted && l[n + 1] != '\0')
			n++;
		else if (l[n] == '"')
			quoted = !quoted;
	}
	snprintf(opts, len, "%.*s", (int)n, l);
}

/* The option ${name}="..." of ${opts} (unquoted, escapes as they are) in
 * ${out}, or NULL. */
static const char *
key_option(const char *opts, const char *name, char *out, size_t len)
{
	size_t nl = strlen(name);
	const char *p = opts;

	while (*p != '\0') {
		if (strncmp(p, name, nl) == 0 && p[nl] == '=' &&
		    p[nl + 1] == '"') {
			const char *v = p + nl + 2;
			size_t n = 0;

			while (v[n] != '\0' && v[n] != '"')
				n += v[n] == '\\' && v[n + 1] != '\0' ? 2 : 1;
			snprintf(out, len, "%.*s", (int)n, v);
			return out;
		}
		/* to the next option: past this one's quotes and comma */
		while (*p != '\0' && *p != ',') {
			if (*p == '"')
				for (p++; *p != '\0' && *p != '"'; p++)
					if (*p == '\\' && p[1] != '\0')
						p++;
			if (*p != '\0')
				p++;
		}
		if (*p == ',')
			p++;
	}
	return NULL;
}

/* One authorized_keys line: its forced command names this capback's
 * reader (or restorer), and the key is restricted. */
static void
forced_line(const char *file, const char *l, const struct stat *reader,
    const char *bin, const struct stat *restorer)
{
	char opts[8192], cmd[4096], from[512], prog[4096];
	const char *role;
	struct stat st;

	l += strspn(l, " \t");
	if (l[0] == '#' || l[strspn(l, " \t\r\n")] == '\0')
		return;
	key_options(l, opts, sizeof(opts));
	if (key_option(opts, "command", cmd, sizeof(cmd)) == NULL) {
		problem("%s: a key without a forced command: it gets a shell "
			"as the account",
		    log_name(file, strlen(file)));
		printf("    fix: capback setup --role reader --from SERVER "
		       "--key '...' --apply (it rewrites the file)\n");
		return;
	}
	snprintf(prog, sizeof(prog), "%.*s", (int)strcspn(cmd, " "), cmd);
	if (stat(prog, &st) != 0) {
		problem("%s: the forced command names %s: %s",
		    log_name(file, strlen(file)), log_name(prog, strlen(prog)),
		    strerror(errno));
		printf("    fix: capback setup --role reader --from SERVER "
		       "--key '...' --apply (it names %s)\n",
		    bin);
		return;
	}
	if (st.st_dev == reader->st_dev && st.st_ino == reader->st_ino)
		role = "reader";
	else if (restorer != NULL && st.st_dev == restorer->st_dev &&
	    st.st_ino == restorer->st_ino)
		role = "restorer";
	else {
		problem("%s: the forced command names %s, not this capback's "
			"reader %s",
		    log_name(file, strlen(file)), log_name(prog, strlen(prog)),
		    bin);
		printf("    fix: capback setup --role reader --from SERVER "
		       "--key '...' --apply\n");
		return;
	}
	printf("  forced command %s: %s, the %s%s\n",
	    log_name(file, strlen(file)), log_name(prog, strlen(prog)), role,
	    strstr(cmd, " --restrict-path / ") != NULL ||
		    (strlen(cmd) >= 18 &&
			strcmp(cmd + strlen(cmd) - 18, " --restrict-path /") ==
			    0) ?
		" (--restrict-path /: it may read everything)" :
		"");
	if (strncmp(opts, "restrict", 8) != 0 &&
	    strstr(opts, ",restrict") == NULL) {
		problem("%s: the %s's key has no 'restrict': it may forward "
			"ports and ask for a terminal",
		    log_name(file, strlen(file)), role);
		printf("    fix: capback setup --role %s --from SERVER --key "
		       "'...' --apply\n",
		    role);
	}
	if (key_option(opts, "from", from, sizeof(from)) == NULL)
		printf("  (the %s's key works from any address: --from "
		       "SERVER limits it)\n",
		    role);
}

/* sshd's AuthorizedKeysFile ${tok} for ${pw}: %u, %h and %% expanded,
 * relative to the home. */
static void
keyfile_path(const char *tok, const struct passwd *pw, char *out, size_t len)
{
	size_t n = 0;
	const char *t;

	if (tok[0] != '/' && tok[0] != '%')
		n = (size_t)snprintf(out, len, "%s/", pw->pw_dir);
	for (t = tok; *t != '\0' && n + 1 < len; t++) {
		const char *rep = NULL;

		if (t[0] == '%' && t[1] == 'u')
			rep = pw->pw_name;
		else if (t[0] == '%' && t[1] == 'h')
			rep = pw->pw_dir;
		else if (t[0] == '%' && t[1] == '%')
			rep = "%";
		if (rep != NULL) {
			t++;
			n += (size_t)snprintf(out + n, len - n, "%s", rep);
		} else
			out[n++] = *t;
		if (n >= len)
			n = len - 1;
		out[n] = '\0';
	}
}

/* May ${pw} (with its groups ${gids}) write what ${st} describes? */
static int
account_may_write(const struct stat *st, const struct passwd *pw,
    const gid_t *gids, int ngids)
{
	int k;

	if (st->st_uid == pw->pw_uid || (st->st_mode & S_IWOTH))
		return !(S_ISDIR(st->st_mode) && (st->st_mode & S_ISVTX) &&
		    st->st_uid != pw->pw_uid);
	if (st->st_mode & S_IWGRP)
		for (k = 0; k < ngids; k++)
			if (gids[k] == st->st_gid)
				return 1;
	return 0;
}

/* Which of ${path} and the directories above it may ${pw} change (the
 * first found, in ${which}); 0 when none.  (ACLs are not read.) */
static int
writable_by(const char *path, const struct passwd *pw, char *which, size_t len)
{
	gid_t gids[256];
	int ngids = 256;
	char p[4096], *slash;
	struct stat st;

	if (getgrouplist(pw->pw_name, pw->pw_gid, gids, &ngids) < 0)
		ngids = 0;
	snprintf(p, sizeof(p), "%s", path);
	for (;;) {
		if (lstat(p[0] ? p : "/", &st) == 0 &&
		    account_may_write(&st, pw, gids, ngids)) {
			snprintf(which, len, "%s", p[0] ? p : "/");
			return 1;
		}
		if (p[0] == '\0' || (slash = strrchr(p, '/')) == NULL)
			return 0;
		*slash = '\0';
	}
}

/*
 * The key files sshd reads for ${pw}, as sshd -T resolves them: each
 * must be a regular file the account cannot change (nor any directory
 * above it: else it may change its key and its forced command), and each
 * forced command must name this capback's reader or restorer.  Opened
 * without following a symlink and without waiting on a FIFO: the
 * account may have put either there.
 */
static void
forced_commands(const struct passwd *pw, const char *bin)
{
	char files[4096], path[4096], l[8192], which[4096], rbin[4200];
	char *save = NULL, *tok;
	struct stat reader, restorer, st;
	int seen = 0, fd, have_restorer;

	if (stat(bin, &reader) != 0)
		return;
	snprintf(rbin, sizeof(rbin), "%s/capback-restorer",
	    spawn_libexec_dir());
	have_restorer = stat(rbin, &restorer) == 0;
	if (sshd_setting(pw->pw_name, "authorizedkeysfile", files,
		sizeof(files)) == NULL) {
		printf("  (no sshd here to ask which key files it reads)\n");
		return;
	}
	for (tok = strtok_r(files, " ", &save); tok != NULL;
	     tok = strtok_r(NULL, " ", &save)) {
		FILE *f;

		keyfile_path(tok, pw, path, sizeof(path));
		fd = open(path,
		    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
		if (fd < 0 && errno == ENOENT)
			continue;
		seen = 1;
		if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
			problem("%s: not a regular file (%s): sshd may read "
				"something else than what is checked here",
			    log_name(path, strlen(path)),
			    fd < 0 ? strerror(errno) :
				     "a FIFO, device or "
				     "directory");
			if (fd >= 0)
				close(fd);
			continue;
		}
		if (writable_by(path, pw, which, sizeof(which))) {
			problem("%s: the account %s may change %s, so its key "
				"and its forced command",
			    log_name(path, strlen(path)), pw->pw_name,
			    log_name(which, strlen(which)));
			printf("    fix: capback setup --role reader --from "
			       "SERVER --key '...' --apply (the key then lives "
			       "in a file root owns)\n");
		}
		if ((f = fdopen(fd, "r")) == NULL) {
			close(fd);
			continue;
		}
		while (fgets(l, sizeof(l), f) != NULL)
			forced_line(path, l, &reader, bin,
			    have_restorer ? &restorer : NULL);
		fclose(f);
	}
	if (!seen)
		printf("  (sshd finds no key file for %s yet: the server "
		       "cannot "
		       "log in until capback setup --role reader --key ... "
		       "--apply)\n",
		    pw->pw_name);
}

static void
doctor_reader(const char *user)
{
	char bin[4096], *text = NULL;
	struct passwd *pw = user ? getpwnam(user) : NULL;
	cap_t fc;
	cap_flag_value_t p = CAP_CLEAR, i = CAP_CLEAR;
	struct stat st;
	struct group *gr;
	int pamcap, conf;

	snprintf(bin, sizeof(bin), "%s/capback-reader", spawn_libexec_dir());
	printf("role reader: needs CAP_DAC_READ_SEARCH, nothing more\n");
	if (user != NULL && pw == NULL) {
		problem("no user '%s'", user);
		printf("    fix: useradd --system --shell /bin/sh %s\n", user);
	}
	if (stat(bin, &st) != 0) {
		problem("%s: %s", bin, strerror(errno));
		return;
	}
	gr = getgrgid(st.st_gid);
	printf("  binary       %s (%s, mode %04o)\n", bin,
	    gr ? gr->gr_name : "?", (unsigned)(st.st_mode & 07777));
	if ((fc = cap_get_file(bin)) != NULL) {
		text = cap_to_text(fc, NULL);
		cap_get_flag(fc, CAP_DAC_READ_SEARCH, CAP_PERMITTED, &p);
		cap_get_flag(fc, CAP_DAC_READ_SEARCH, CAP_INHERITABLE, &i);
		cap_free(fc);
	}
	printf("  file caps    %s\n", text ? text : "none");
	cap_free(text);
	pamcap = file_contains("/etc/pam.d/common-auth", "pam_cap.so") ||
	    file_contains("/etc/pam.d/sshd", "pam_cap.so");
	conf = user != NULL &&
	    capconf_grants("/etc/security/capability.conf", user);
	printf("  pam_cap      %s; capability.conf %s\n",
	    pamcap ? "in the PAM stack" : "not in the PAM stack",
	    user == NULL ? "(no --user given)" :
		conf	 ? "grants it to the user" :
			   "does not grant it to the user");
	if (p == CAP_SET) {
		printf("  way          file capability +p: whoever may run the "
		       "binary may read every file\n");
		if (st.st_mode & S_IXOTH) {
			problem("every user may run %s", bin);
			printf("    fix: groupadd -f capback-reader && chgrp "
			       "capback-reader "
			       "%s "
			       "&& chmod 0750 %s && setcap "
			       "cap_dac_read_search+p %s\n",
			    bin, bin, bin);
		}
		if (pw != NULL && !(st.st_mode & S_IXGRP) &&
		    pw->pw_uid != st.st_uid)
			problem("the group may not run %s", bin);
	} else if (i == CAP_SET) {
		printf("  way          file capability +i with pam_cap\n");
		if (!pamcap) {
			problem("pam_cap is not in the PAM stack");
			printf("    fix: apt-get install libpam-cap && "
			       "pam-auth-update --enable capability\n");
		}
		if (user != NULL && !conf) {
			problem("capability.conf does not give %s "
				"cap_dac_read_search",
			    user);
			printf("    fix: sed -i '1i cap_dac_read_search %s' "
			       "/etc/security/capability.conf\n",
			    user);
		}
	} else {
		problem("%s has no file capability: it reads only what its "
			"user may read (unless started as root with --user)",
		    bin);
		printf("    fix: groupadd -f capback-reader && chgrp "
		       "capback-reader %s && "
		       "chmod 0750 %s && setcap cap_dac_read_search+p %s%s%s\n",
		    bin, bin, bin,
		    user ? " && usermod -a -G capback-reader " : "",
		    user ? user : "");
	}
	if (pw != NULL && geteuid() == 0)
		forced_commands(pw, bin);
	/* The real job: read a root-only file with the backup's privilege. */
	if (geteuid() == 0 && pw == NULL && user == NULL)
		printf("  (give --user NAME to try the backup account's "
		       "access)\n");
	else if (geteuid() != 0 && pw != NULL && pw->pw_uid != getuid())
		printf("  (run as root to try %s's access)\n", user);
	else if (!try_read(bin, geteuid() == 0 ? pw : NULL, "/etc/shadow")) {
		if (i == CAP_SET && p != CAP_SET)
			printf("  (with +i the capability arrives only through "
			       "a pam_cap login: try 'ssh %s@localhost')\n",
			    user ? user : "USER");
		else
			problem("the reader cannot read /etc/shadow");
	}
}

/*
 * Run the role's own --sandbox-test in a scratch directory: every attack
 * from inside its confinement must fail (or be one of the documented
 * gaps).  Its table is printed; an attack that got through is a problem.
 */
/* Run ${argv}; its standard output is returned as a stream (no shell). */
static FILE *
run_reading(char *const argv[], pid_t *pid)
{
	int fds[2];

	if (pipe(fds) != 0)
		return NULL;
	fflush(stdout);
	if ((*pid = fork()) < 0) {
		close(fds[0]);
		close(fds[1]);
		return NULL;
	}
	if (*pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execv(argv[0], argv);
		printf("cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(fds[1]);
	return fdopen(fds[0], "r");
}

static void
sandbox_check(const char *role)
{
	char tmpl[] = "/tmp/capback-doctor.XXXXXX", in[64], out[64], dest[80],
	     victimf[80], arg[96], bin[4096], line[256];
	char *argv[7] = { bin, (char *)"--sandbox-test", arg, NULL };
	pid_t victim, pid;
	FILE *p;
	int allowed = 0, nosb = 0;

	if (mkdtemp(tmpl) == NULL) {
		problem("cannot make a scratch directory: %s", strerror(errno));
		return;
	}
	snprintf(in, sizeof(in), "%s/in", tmpl);
	snprintf(out, sizeof(out), "%s/out", tmpl);
	snprintf(dest, sizeof(dest), "%s/dest", in);
	snprintf(victimf, sizeof(victimf), "%s/victim", out);
	snprintf(bin, sizeof(bin), "%s/capback-%s", spawn_libexec_dir(), role);
	if (mkdir(in, 0700) != 0 || mkdir(out, 0700) != 0 ||
	    fs_create_file_at(AT_FDCWD, victimf, "victim\n", 7) != 0) {
		problem("cannot prepare %s: %s", tmpl, strerror(errno));
		fs_remove_at(AT_FDCWD, tmpl);
		return;
	}
	if ((victim = fork()) == 0) {
		pause();
		_exit(0);
	}
	snprintf(arg, sizeof(arg), "%s:%d", out, (int)victim);
	if (strcmp(role, "reader") == 0) {
		argv[3] = (char *)"--";
		argv[4] = in;
	} else if (strcmp(role, "writer") == 0) {
		argv[3] = (char *)"backup";
		argv[4] = in;
	} else
		argv[3] = dest;
	printf("  confinement (each attack from inside the role's sandbox):\n");
	if ((p = run_reading(argv, &pid)) != NULL) {
		while (fgets(line, sizeof(line), p) != NULL) {
			printf("    %s", line);
			allowed += strstr(line, "ALLOWED") != NULL;
			nosb += strstr(line, "no sandbox") != NULL;
		}
		fclose(p);
		waitpid(pid, NULL, 0);
	}
	kill(victim, SIGKILL);
	waitpid(victim, NULL, 0);
	if (fs_remove_at(AT_FDCWD, tmpl) != 0)
		log_warn("cannot remove %s: %s", tmpl, strerror(errno));
	if (nosb && getenv("CAPBACK_ALLOW_UNSANDBOXED_ROOT") != NULL)
		printf("  (a build without the sandbox, allowed here by "
		       "CAPBACK_ALLOW_UNSANDBOXED_ROOT)\n");
	else if (nosb)
		problem("this build of capback has no sandbox (a sanitizer "
			"build): install a normal build");
	else if (allowed)
		problem("%d attack(s) got through the %s's sandbox", allowed,
		    role);
}

int
doctor(const char *role, const char *user)
{
	/* a wrong role before a page of capabilities it would bury */
	if (strcmp(role, "reader") != 0 && strcmp(role, "writer") != 0 &&
	    strcmp(role, "restorer") != 0)
		fatal("--role must be reader, writer or restorer, not '%s'",
		    role);
	show_process();
	if (strcmp(role, "reader") == 0)
		doctor_reader(user);
	else if (strcmp(role, "writer") == 0 || strcmp(role, "restorer") == 0) {
		cap_t c = cap_get_proc();
		cap_flag_value_t v = CAP_CLEAR;

		printf("role %s: %s\n", role,
		    strcmp(role, "writer") == 0 ?
			"needs no capability: run it as the backup account" :
			"restores owners as root (or with CAP_CHOWN, "
			"CAP_FOWNER, CAP_DAC_OVERRIDE, CAP_MKNOD); "
			"a same-user restore needs nothing");
		cap_get_flag(c, CAP_DAC_OVERRIDE, CAP_EFFECTIVE, &v);
		if (strcmp(role, "writer") == 0 &&
		    (geteuid() == 0 || v == CAP_SET)) {
			problem("running the writer with root's privilege is "
				"more than it needs");
			printf("    fix: run backups as an ordinary account "
			       "(runuser -u capback -- capback ...)\n");
		}
		cap_free(c);
		if (strcmp(role, "restorer") == 0 && user != NULL) {
			struct passwd *pw = getpwnam(user);
			char bin[4096];

			snprintf(bin, sizeof(bin), "%s/capback-reader",
			    spawn_libexec_dir());
			if (pw == NULL)
				problem("no user '%s'", user);
			else if (geteuid() == 0)
				forced_commands(pw, bin);
		}
	} else
		fatal("--role must be reader, writer or restorer, not '%s'",
		    role);
	sandbox_check(role);
	printf(problems ? "%d problem(s) found\n" : "no problems found\n",
	    problems);
	return problems ? 1 : 0;
}
