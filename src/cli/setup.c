/*
 * capback setup: the commands that give a machine its least-privilege
 * configuration, printed as a shell script (or run with --apply).  Every
 * command checks first, so running the script again changes nothing.
 *
 *   server    the account that owns the repositories (no capability),
 *             its ssh key, state and repository directories, capback.conf
 *             and the timer of "capback run"; --host adds a host to it.
 *   reader    a host: the account whose key runs the reader as a forced
 *             command, in the group that may run the reader.
 *   restorer  a host: the separate restore key (off unless asked).
 *   vault     a machine a backup server pushes its repositories to: the
 *             account whose key may only add sessions (capback-writer
 *             --serve --append-only) beneath its directory.
 *
 * A host's keys are in root-owned files named by an sshd drop-in, so the
 * account (which may own its home) cannot change its key or its forced
 * command; sshd -t and sshd -T check the result before sshd reloads.
 */
#include "setup.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "spawn.h"
#include "strbuf.h"

#define KEYS_DIR "/etc/capback/ssh"
#define DROPIN	 "/etc/ssh/sshd_config.d/capback-%s.conf"

/* Words that go into the script unquoted must be plain. */
static void
check_word(const char *what, const char *w)
{
	if (w[0] == '\0' || w[0] == '-' ||
	    strspn(w,
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		"0123456789_.-/:@,") != strlen(w))
		fatal("setup: %s '%s' may hold only letters, digits and "
		      "_ . - / : @ ,",
		    what, w);
}

/* One line of the script (fatal when out of memory). */
#define line(sb, ...)                                      \
	do {                                               \
		if (strbuf_addf((sb), __VA_ARGS__) != 0 || \
		    strbuf_addch((sb), '\n') != 0)         \
			fatal("out of memory");            \
	} while (0)

/*
 * A role that gets a capability or a forced command must be an installed
 * program: it and every directory above it owned by root and writable by
 * no one else (a sticky directory such as /tmp excepted).  A build
 * directory is not: setup would hand its binary to the backup account.
 */
static void
check_installed(const char *bin)
{
	char path[4096], *slash, *real = realpath(bin, NULL);
	struct stat st;

	/* The directories the file really is in, not the ones its name
	 * passes (a symlink on the way would hide its parents). */
	if (real == NULL)
		fatal("setup: %s: %s (install capback first: the packages, "
		      "or meson install)",
		    bin, strerror(errno));
	snprintf(path, sizeof(path), "%s", real);
	free(real);
	for (;;) {
		if (stat(path[0] ? path : "/", &st) != 0)
			fatal("setup: %s: %s (install capback first: the "
			      "packages, or meson install)",
			    path, strerror(errno));
		if (st.st_uid != 0 ||
		    ((st.st_mode & 022) && !(st.st_mode & S_ISVTX) &&
			!S_ISREG(st.st_mode)) ||
		    (S_ISREG(st.st_mode) && (st.st_mode & 022)))
			fatal("setup: %s is not an installed program: %s is "
			      "%s (install capback first: the packages, or "
			      "meson install)",
			    bin, path[0] ? path : "/",
			    st.st_uid != 0 ? "not owned by root" :
					     "writable by others than root");
		if (path[0] == '\0' || (slash = strrchr(path, '/')) == NULL)
			break;
		*slash = '\0';
	}
}

/* The installed role ${name} in ${bin}: a plain word, root's all the way
 * up (fatal otherwise). */
static void
installed_role(const char *name, char *bin, size_t len)
{
	snprintf(bin, len, "%s/capback-%s", spawn_installed_libexec_dir(),
	    name);
	check_word("a role's path", bin);
	check_installed(bin);
}

/* ${v} (unless NULL): digits and one of ${units}, else fatal naming
 * ${opt} and ${what}. */
static void
check_amount(const char *opt, const char *v, const char *units,
    const char *what)
{
	size_t d;

	if (v == NULL)
		return;
	d = strspn(v, "0123456789");
	if (d == 0 || d + 1 != strlen(v) || strchr(units, v[d]) == NULL)
		fatal("setup: %s is a number and %s, not '%s'", opt, what, v);
}

/* A directory or file setup makes or names: a plain word, absolute and
 * normal (no empty, "." or ".." component, no trailing '/'). */
static void
check_path(const char *what, const char *p)
{
	const char *c;
	size_t n;

	check_word(what, p);
	if (p[0] != '/')
		fatal("setup: %s '%s' must be an absolute path", what, p);
	if (p[1] != '\0' && p[strlen(p) - 1] == '/')
		fatal("setup: %s '%s' must be a normal path (no '//', '.', "
		      "'..' or trailing '/')",
		    what, p);
	for (c = p + 1; *c != '\0' || c == p + 1; c += n + (c[n] == '/')) {
		n = strcspn(c, "/");
		if (n == 0 && strcmp(p, "/") == 0)
			break;
		if (n == 0 || (n == 1 && c[0] == '.') ||
		    (n == 2 && c[0] == '.' && c[1] == '.'))
			fatal("setup: %s '%s' must be a normal path (no '//', "
			      "'.', '..' or trailing '/')",
			    what, p);
		if (c[n] == '\0')
			break;
	}
}

static void
heredoc(struct strbuf *sb, const char *path)
{
	line(sb, "cat >%s.new <<'CAPBACK_EOF'", path);
}

/* The account of a host role: a system account in its own group whose
 * home it does not own (a forced command starts there). */
static void
host_account(struct strbuf *sb, const struct setup_opts *o)
{
	/* a vault's account may well run the vault's own capback run */
	int vault = strcmp(o->role, "vault") == 0;

	line(sb,
	    "# never a person's account (one with a password), never the "
	    "backup server's own");
	line(sb,
	    "if [ \"$(passwd -S %s 2>/dev/null | cut -d' ' -f2)\" = P ]; then "
	    "echo 'capback setup: %s has a password: it is a person'\\''s "
	    "account; choose another --user' >&2; exit 1; fi",
	    o->user, o->user);
	if (!vault)
		line(sb,
		    "if [ -f /etc/capback/capback.conf ] && [ \"$(stat -c %%G "
		    "/etc/capback/capback.conf)\" = %s ]; then echo 'capback "
		    "setup: "
		    "%s is the backup server'\\''s account here (it owns the "
		    "repositories): it may not also read every file. Back this "
		    "machine up through another account, e.g. --user "
		    "capback-self' "
		    ">&2; exit 1; fi",
		    o->user, o->user);
	line(sb,
	    "id -u %s >/dev/null 2>&1 || useradd --system --user-group "
	    "--home-dir /var/lib/%s --no-create-home --shell /bin/sh %s",
	    o->user, o->user, o->user);
	line(sb, "home=$(getent passwd %s | cut -d: -f6)", o->user);
	line(sb,
	    "[ -d \"$home\" ] || install -d -o root -g root -m 0755 "
	    "\"$home\"");
	line(sb, "# sshd starts the forced command with the account's shell");
	line(sb,
	    "case $(getent passwd %s | cut -d: -f7) in */nologin | */false) "
	    "usermod -s /bin/sh %s ;; esac",
	    o->user, o->user);
}

/* The key line in KEYS_DIR/USER.KIND, and the sshd drop-in naming it. */
static void
host_key(struct strbuf *sb, const struct setup_opts *o, const char *kind,
    const char *command)
{
	char dropin[512];

	char files[1024];
	int vault = strcmp(kind, "vault") == 0;

	snprintf(dropin, sizeof(dropin), DROPIN, o->user);
	/* a host's account has a reader's and a restorer's key file; a
	 * vault's account its own only */
	if (vault)
		snprintf(files, sizeof(files), "%s/%s.vault", KEYS_DIR,
		    o->user);
	else
		snprintf(files, sizeof(files), "%s/%s.reader %s/%s.restorer",
		    KEYS_DIR, o->user, KEYS_DIR, o->user);
	line(sb, "command -v sshd >/dev/null || PATH=$PATH:/usr/sbin");
	line(sb,
	    "command -v sshd >/dev/null || { echo 'capback setup: no sshd "
	    "here: apt-get install openssh-server' >&2; exit 1; }");
	line(sb, "install -d -o root -g root -m 0755 /etc/capback %s",
	    KEYS_DIR);
	if (o->key == NULL) {
		line(sb,
		    "# (give --key 'ssh-ed25519 AAAA... capback@server', the "
		    "server's key, for the key line)");
	} else {
		char blob[1024];
		const char *other =
		    strcmp(kind, "reader") == 0 ? "restorer" : "reader";

		/* sshd takes the first line that matches a key: one key
		 * for both would reach one role only */
		snprintf(blob, sizeof(blob), "%.*s",
		    (int)strcspn(o->key + strcspn(o->key, " ") + 1, " "),
		    o->key + strcspn(o->key, " ") + 1);
		if (!vault)
			line(sb,
			    "if [ -f %s/%s.%s ] && grep -qF '%s' %s/%s.%s; "
			    "then echo 'capback setup: this key is the "
			    "%s'\\''s already: the %s needs a key of its "
			    "own' >&2; exit 1; fi",
			    KEYS_DIR, o->user, other, blob, KEYS_DIR, o->user,
			    other, other, kind);
		line(sb, "# the key may only run this, from this address");
		line(sb, "cat >%s/%s.%s.new <<'CAPBACK_EOF'", KEYS_DIR, o->user,
		    kind);
		line(sb, "restrict,from=\"%s\",command=\"%s\" %s", o->from,
		    command, o->key);
		line(sb, "CAPBACK_EOF");
		line(sb, "chmod 0644 %s/%s.%s.new", KEYS_DIR, o->user, kind);
		line(sb, "mv -f %s/%s.%s.new %s/%s.%s", KEYS_DIR, o->user, kind,
		    KEYS_DIR, o->user, kind);
	}
	line(sb,
	    "# sshd reads the account's keys from root's files only: the "
	    "account cannot change its key or its forced command");
	heredoc(sb, dropin);
	line(sb,
	    "# Written by capback setup: the keys of %s are in files root "
	    "owns.\nMatch User %s\n\tAuthorizedKeysFile %s",
	    o->user, o->user, files);
	line(sb, "CAPBACK_EOF");
	line(sb, "changed=");
	line(sb,
	    "if cmp -s %s.new %s; then rm -f %s.new; else "
	    "{ [ ! -f %s ] || cp -p %s %s.old; } && mv -f %s.new %s && "
	    "changed=1; fi",
	    dropin, dropin, dropin, dropin, dropin, dropin, dropin, dropin);
	line(sb,
	    "if ! sshd -t; then if [ -n \"$changed\" ]; then if [ -f %s.old "
	    "]; then mv -f %s.old %s; else rm -f %s; fi; echo 'capback "
	    "setup: sshd -t refused the configuration with the new %s (the "
	    "old one is back)' >&2; else echo 'capback setup: sshd -t fails "
	    "(not because of %s): mend the sshd configuration first' >&2; "
	    "fi; exit 1; fi",
	    dropin, dropin, dropin, dropin, dropin, dropin);
	line(sb, "rm -f %s.old", dropin);
	line(sb,
	    "akf=$(sshd -T -C user=%s,host=localhost,addr=127.0.0.1 | sed -n "
	    "'s/^authorizedkeysfile //p')",
	    o->user);
	line(sb,
	    "if [ \"$akf\" != \"%s\" ]; then "
	    "if ! grep -qiE '^[[:space:]]*Include[[:space:]]+/etc/ssh/"
	    "sshd_config.d/' /etc/ssh/sshd_config; then echo 'capback setup: "
	    "/etc/ssh/sshd_config does not include /etc/ssh/sshd_config.d: "
	    "add \"Include /etc/ssh/sshd_config.d/*.conf\" at its top' >&2; "
	    "else echo \"capback setup: sshd reads %s's keys from '$akf': an "
	    "earlier setting wins over %s (see sshd -T -C user=%s)\" >&2; "
	    "fi; exit 1; fi",
	    files, o->user, dropin, o->user);
	line(sb,
	    "if [ -n \"$changed\" ]; then if [ -d /run/systemd/system ]; then "
	    "systemctl try-reload-or-restart ssh.service || echo 'capback "
	    "setup: reload sshd yourself: systemctl reload ssh' >&2; elif [ "
	    "-s /run/sshd.pid ]; then kill -HUP \"$(cat /run/sshd.pid)\"; "
	    "else echo 'capback setup: no running sshd found to reload: "
	    "reload (or start) it yourself' >&2; fi; fi");
}

static void
reader_script(struct strbuf *sb, const struct setup_opts *o)
{
	char bin[4096], cmd[4400];

	installed_role("reader", bin, sizeof(bin));
	line(sb, "# capback reader on this host: account %s, group %s", o->user,
	    o->group);
	host_account(sb, o);
	line(sb, "getent group %s >/dev/null || groupadd --system %s", o->group,
	    o->group);
	line(sb,
	    "id -nG %s | tr ' ' '\\n' | grep -qx %s || usermod -a -G %s %s",
	    o->user, o->group, o->group, o->user);
	line(sb,
	    "# only the group may run the reader; it holds one capability "
	    "(the capback-agent package does this itself)");
	line(sb,
	    "if ! dpkg-statoverride --list %s >/dev/null 2>&1; then chown "
	    "root:%s %s && chmod 0750 %s && setcap cap_dac_read_search+p %s; "
	    "elif [ \"$(stat -c %%G %s)\" != %s ]; then echo \"capback setup: "
	    "%s belongs to group $(stat -c %%G %s) (dpkg-statoverride): "
	    "--group %s could not run it\" >&2; exit 1; fi",
	    bin, o->group, bin, bin, bin, bin, o->group, bin, bin, o->group);
	snprintf(cmd, sizeof(cmd), "%s --serve --restrict-path %s", bin,
	    o->restrict_path);
	host_key(sb, o, "reader", cmd);
}

/*
 * The account of a role that writes beneath --restrict-path (a restorer,
 * a vault), and that directory (made, the account's, mode 0700);
 * ${refuse} says why a relative path or / is not taken, ${does} what the
 * account does there.
 */
static void
writing_account(struct strbuf *sb, const struct setup_opts *o,
    const char *refuse, const char *does)
{
	if (strcmp(o->restrict_path, "/") == 0 || o->restrict_path[0] != '/')
		fatal("setup: %s, not '%s'", refuse, o->restrict_path);
	line(sb, "# capback %s on this machine: account %s %s %s", o->role,
	    o->user, does, o->restrict_path);
	host_account(sb, o);
	line(sb, "[ -d %s ] || install -d -o %s -g %s -m 0700 %s",
	    o->restrict_path, o->user, o->user, o->restrict_path);
}

static void
restorer_script(struct strbuf *sb, const struct setup_opts *o)
{
	char bin[4096], cmd[4400];

	installed_role("restorer", bin, sizeof(bin));
	writing_account(sb, o,
	    "the restorer writes beneath --restrict-path: "
	    "give an absolute directory set aside for "
	    "restores (such as /var/restore)",
	    "writes restores beneath");
	snprintf(cmd, sizeof(cmd), "%s --serve --restrict-path %s", bin,
	    o->restrict_path);
	host_key(sb, o, "restorer", cmd);
}

static void
vault_script(struct strbuf *sb, const struct setup_opts *o)
{
	char bin[4096], cmd[4600];

	installed_role("writer", bin, sizeof(bin));
	writing_account(sb, o,
	    "--restrict-path of a vault is an absolute "
	    "directory (such as /srv/vault)",
	    "may only add sessions to the repositories beneath");
	snprintf(cmd, sizeof(cmd),
	    "%s --serve --append-only --restrict-path %s --max-skew %s%s%s",
	    bin, o->restrict_path, o->max_skew ? o->max_skew : "1h",
	    o->quota ? " --quota " : "", o->quota ? o->quota : "");
	host_key(sb, o, "vault", cmd);
	line(sb,
	    "# its own retention and drills: capback setup --role server "
	    "--user %s --home DIR (a directory of its own for the run's "
	    "state) --repo-dir %s, and in its capback.conf a [host NAME] "
	    "with repository = %s/NAME and keep = ...",
	    o->user, o->restrict_path, o->restrict_path);
}

static void
server_script(struct strbuf *sb, const struct setup_opts *o)
{
	char unitd[] = "/etc/systemd/system/capback-run.service.d";

	line(sb, "# capback backup server: account %s, no capability", o->user);
	line(sb,
	    "id -u %s >/dev/null 2>&1 || useradd --system --user-group "
	    "--home-dir %s --no-create-home --shell /bin/sh %s",
	    o->user, o->home, o->user);
	line(sb, "home=$(getent passwd %s | cut -d: -f6)", o->user);
	line(sb, "# its home holds its ssh key; results and logs go to %s",
	    o->home);
	line(sb, "[ -d \"$home\" ] || install -d -o %s -g %s -m 0750 \"$home\"",
	    o->user, o->user);
	line(sb,
	    "[ -d \"$home/.ssh\" ] || install -d -o %s -g %s -m 0700 "
	    "\"$home/.ssh\"",
	    o->user, o->user);
	line(sb, "[ -d %s ] || install -d -o %s -g %s -m 0750 %s", o->home,
	    o->user, o->user, o->home);
	line(sb, "[ -d %s ] || install -d -o %s -g %s -m 0700 %s", o->repo_dir,
	    o->user, o->user, o->repo_dir);
	/* what exists keeps its owner: one the account cannot write (a
	 * home a host role made root's) is named now, not at the first
	 * run */
	line(sb,
	    "for d in %s %s; do runuser -u %s -- test -w \"$d\" || { echo "
	    "\"capback setup: $d exists and %s cannot write it (owner "
	    "$(stat -c %%U \"$d\")): give --home/--repo-dir another "
	    "directory, or chown it\" >&2; exit 1; }; done",
	    o->home, o->repo_dir, o->user, o->user);
	line(sb,
	    "[ -f \"$home/.ssh/id_ed25519\" ] || runuser -u %s -- ssh-keygen "
	    "-q -t ed25519 -N '' -C \"%s@$(hostname)\" -f "
	    "\"$home/.ssh/id_ed25519\"",
	    o->user, o->user);
	line(sb,
	    "[ -d \"$(dirname %s)\" ] || install -d -o root -g root -m 0755 "
	    "\"$(dirname %s)\"",
	    o->config, o->config);
	line(sb, "if [ ! -f %s ]; then", o->config);
	heredoc(sb, o->config);
	line(sb,
	    "# %s: what \"capback run\" does (capback.conf(5)), written by "
	    "capback setup.\n# Hosts are added with: capback setup --role "
	    "server --host NAME --source capback@HOST::/ --apply\n\n"
	    "[global]\nparallel = 2\nstate-dir = %s\nmail-to = root\n"
	    "mail = always\noverdue = 36h",
	    o->config, o->home);
	line(sb, "CAPBACK_EOF");
	line(sb, "chown root:%s %s.new && chmod 0640 %s.new && mv %s.new %s",
	    o->user, o->config, o->config, o->config, o->config);
	line(sb, "fi");
	if (o->host != NULL) {
		line(sb,
		    "if grep -qxF '[host %s]' %s; then if [ \"$(awk '$0 == "
		    "\"[host %s]\" { h = 1; next } /^\\[/ { h = 0 } h && $1 == "
		    "\"source\" { print $3 }' %s)\" = '%s' ]; then echo "
		    "\"capback setup: [host %s] is in %s already\"; else echo "
		    "\"capback setup: [host %s] is in %s already, with another "
		    "source: change it there\" >&2; exit 1; fi; else",
		    o->host, o->config, o->host, o->config, o->source, o->host,
		    o->config, o->host, o->config);
		line(sb, "cat >>%s <<'CAPBACK_EOF'", o->config);
		line(sb,
		    "\n[host %s]\nsource = %s\nrepository = %s/%s\nkeep = 30D\n"
		    "drill = 0.02",
		    o->host, o->source, o->repo_dir, o->host);
		line(sb, "CAPBACK_EOF");
		line(sb, "fi");
	}
	if (strcmp(o->user, "capback") != 0 ||
	    strcmp(o->repo_dir, "/srv/backup") != 0 ||
	    strcmp(o->home, "/var/lib/capback") != 0) {
		line(sb, "# the unit runs as %s and writes %s", o->user,
		    o->repo_dir);
		line(sb, "install -d -m 0755 %s", unitd);
		line(sb, "cat >%s/setup.conf <<'CAPBACK_EOF'", unitd);
		line(sb,
		    "[Service]\nUser=%s\nGroup=%s\nReadWritePaths=%s %s\n"
		    "ExecStart=\nExecStart=%s/capback run %s",
		    o->user, o->user, o->repo_dir, o->home, CAPBACK_BINDIR,
		    o->config);
		line(sb, "CAPBACK_EOF");
	}
	line(sb,
	    "if [ -d /run/systemd/system ]; then systemctl daemon-reload && "
	    "systemctl enable --now capback-run.timer; else echo '(no "
	    "systemd: run \"capback run %s\" as %s from cron)'; fi",
	    o->config, o->user);
	line(sb,
	    "echo \"the server's key (each host: capback setup --role reader "
	    "--key '...' --from THIS-SERVER --apply):\"");
	line(sb, "runuser -u %s -- cat \"$home/.ssh/id_ed25519.pub\"", o->user);
}

int
setup(const struct setup_opts *o)
{
	struct strbuf sb = STRBUF_INIT;
	int st, host_role;
	pid_t pid;

	check_word("the user", o->user);
	check_word("the group", o->group);
	check_path("the home directory", o->home);
	check_path("the restrict path", o->restrict_path);
	check_path("the repository directory", o->repo_dir);
	check_path("the configuration", o->config);
	if (o->source != NULL)
		check_word("the source", o->source);
	if (o->host != NULL &&
	    (o->host[0] == '-' || o->host[0] == '.' ||
		strspn(o->host,
		    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789_.-") != strlen(o->host)))
		fatal("setup: the host name '%s' may hold only letters, "
		      "digits and _ . -",
		    o->host);
	if (o->key != NULL &&
	    (strpbrk(o->key, "\n\"'\\") != NULL ||
		(strncmp(o->key, "ssh-", 4) != 0 &&
		    strncmp(o->key, "ecdsa-", 6) != 0 &&
		    strncmp(o->key, "sk-", 3) != 0)))
		fatal("setup: --key must be one public key line "
		      "(ssh-ed25519 AAAA... comment)");
	if (o->key != NULL) {
		const char *b = strchr(o->key, ' ');
		size_t n = b ? strcspn(b + 1, " ") : 0;

		if (b == NULL || n < 16 ||
		    strspn(b + 1,
			"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			"0123456789+/=") != n)
			fatal("setup: --key must be one public key line "
			      "(ssh-ed25519 AAAA... comment)");
	}
	{
		struct passwd *pw = getpwnam(o->user);

		if (pw != NULL && pw->pw_uid == 0)
			fatal("setup: --user %s is root: a backup account is "
			      "an ordinary account of its own",
			    o->user);
	}
	host_role = strcmp(o->role, "reader") == 0 ||
	    strcmp(o->role, "restorer") == 0 || strcmp(o->role, "vault") == 0;
	check_amount("--max-skew", o->max_skew, "smhd", "s, m, h or d (1h)");
	check_amount("--quota", o->quota, "BKMGT", "B, K, M, G or T (50G)");
	if (host_role && o->from == NULL)
		fatal("setup: --role %s needs --from ADDR, the backup "
		      "server's address (or addresses, comma separated): the "
		      "key is refused from anywhere else",
		    o->role);
	if (host_role)
		check_word("from", o->from);
	if (!host_role && (o->host == NULL) != (o->source == NULL))
		fatal("setup: --host NAME and --source USER@HOST::/PATH go "
		      "together");
	line(&sb, "set -e");
	if (strcmp(o->role, "reader") == 0)
		reader_script(&sb, o);
	else if (strcmp(o->role, "restorer") == 0)
		restorer_script(&sb, o);
	else if (strcmp(o->role, "vault") == 0)
		vault_script(&sb, o);
	else if (strcmp(o->role, "server") == 0 ||
	    strcmp(o->role, "writer") == 0)
		server_script(&sb, o);
	else
		fatal("setup: --role must be server, reader, restorer or "
		      "vault, "
		      "not "
		      "'%s'",
		    o->role);
	if (!o->apply) {
		fputs(sb.buf, stdout);
		strbuf_release(&sb);
		return 0;
	}
	if (geteuid() != 0)
		fatal(
		    "setup --apply makes accounts and sets file capabilities: "
		    "run it as root (or print the script and read it first)");
	fflush(stdout);
	if ((pid = fork()) < 0)
		fatal("fork: %s", strerror(errno));
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", sb.buf, (char *)NULL);
		_exit(127);
	}
	strbuf_release(&sb);
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fatal("setup: a step failed (see above); the steps before it "
		      "stay done, and running setup again goes on from there");
	if (strcmp(o->role, "vault") == 0)
		printf("setup done; the server checks it with: capback check "
		       "(a host with vault = %s@THIS-HOST::%s/NAME)\n",
		    o->user, o->restrict_path);
	else if (host_role)
		printf("setup done; check it with: capback doctor --role %s "
		       "--user %s\n",
		    o->role, o->user);
	else
		printf("setup done; once each host is set up, check them all "
		       "with: runuser -u %s -- capback check %s\n",
		    o->user, o->config);
	return 0;
}
