/*
 * capback setup: the commands that give a host its least-privilege
 * configuration, printed as a shell script (or run with --apply).  Every
 * command checks first, so running the script again changes nothing.
 */
#include "setup.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "spawn.h"
#include "strbuf.h"

/* Words that go into the script unquoted must be plain. */
static void
check_word(const char *what, const char *w)
{
	if (w[0] == '\0' || w[0] == '-' ||
	    strspn(w,
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		"0123456789_.-/:@") != strlen(w))
		fatal("setup: %s '%s' may hold only letters, digits and "
		      "_ . - / : @",
		    what, w);
}

static void line(struct strbuf *sb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
line(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		fatal("out of memory");
	va_end(ap);
	if (strbuf_addstr(sb, s) != 0 || strbuf_addch(sb, '\n') != 0)
		fatal("out of memory");
	free(s);
}

static void
reader_script(struct strbuf *sb, const struct setup_opts *o)
{
	char bin[4096];

	snprintf(bin, sizeof(bin), "%s/capback-reader", spawn_libexec_dir());
	check_word("the reader's path", bin);
	line(sb, "# capback reader on this host: account %s, group %s", o->user,
	    o->group);
	line(sb, "getent group %s >/dev/null || groupadd --system %s", o->group,
	    o->group);
	line(sb,
	    "id -u %s >/dev/null 2>&1 || useradd --system --gid %s "
	    "--home-dir %s --create-home --shell /bin/sh %s",
	    o->user, o->group, o->home, o->user);
	line(sb,
	    "# only the group may run the reader; it holds one capability");
	line(sb, "chown root:%s %s", o->group, bin);
	line(sb, "chmod 0750 %s", bin);
	line(sb, "setcap cap_dac_read_search+p %s", bin);
	line(sb,
	    "# root owns the account's ssh files: it cannot change its key");
	line(sb, "install -d -o root -g root -m 0755 %s/.ssh", o->home);
	if (o->key != NULL) {
		line(sb, "cat >%s/.ssh/authorized_keys.new <<'CAPBACK_EOF'",
		    o->home);
		line(sb,
		    "restrict,from=\"%s\",command=\"%s --serve "
		    "--restrict-path %s\" %s",
		    o->from, bin, o->restrict_path, o->key);
		line(sb, "CAPBACK_EOF");
		line(sb, "chown root:root %s/.ssh/authorized_keys.new",
		    o->home);
		line(sb, "chmod 0644 %s/.ssh/authorized_keys.new", o->home);
		line(sb,
		    "mv -f %s/.ssh/authorized_keys.new "
		    "%s/.ssh/authorized_keys",
		    o->home, o->home);
	} else
		line(sb,
		    "# (give --key 'ssh-ed25519 AAAA... server' for the "
		    "authorized_keys line)");
}

static void
writer_script(struct strbuf *sb, const struct setup_opts *o)
{
	char cli[4096];

	snprintf(cli, sizeof(cli), "%s/capback", spawn_libexec_dir());
	check_word("capback's path", cli);
	line(sb, "# capback backup server: account %s, no capability", o->user);
	line(sb,
	    "id -u %s >/dev/null 2>&1 || useradd --system --user-group "
	    "--home-dir %s --create-home --shell /bin/sh %s",
	    o->user, o->home, o->user);
	line(sb, "install -d -o %s -m 0700 %s", o->user, o->repo_dir);
	line(sb, "install -d -o %s -m 0700 %s/.ssh", o->user, o->home);
	line(sb,
	    "[ -f %s/.ssh/id_ed25519 ] || su -s /bin/sh %s -c "
	    "\"ssh-keygen -q -t ed25519 -N '' -f %s/.ssh/id_ed25519\"",
	    o->home, o->user, o->home);
	if (o->source == NULL) {
		line(sb,
		    "# (give --source HOST::/PATH for a service and timer)");
		return;
	}
	line(sb, "cat >/etc/systemd/system/capback-%s.service <<'CAPBACK_EOF'",
	    o->name);
	line(sb,
	    "[Unit]\nDescription=capback backup of %s\n"
	    "Wants=network-online.target\nAfter=network-online.target\n",
	    o->source);
	line(sb, "[Service]\nType=oneshot\nUser=%s\nGroup=%s", o->user,
	    o->user);
	line(sb, "ExecStart=%s backup %s %s/%s", cli, o->source, o->repo_dir,
	    o->name);
	line(sb,
	    "NoNewPrivileges=yes\nCapabilityBoundingSet=\n"
	    "AmbientCapabilities=\nProtectSystem=strict\n"
	    "ReadWritePaths=%s %s/.ssh\nPrivateTmp=yes\n"
	    "ProtectHome=read-only",
	    o->repo_dir, o->home);
	/* One backup: the writer stays under about 40 MB even against a
	 * hostile host (docs/protocol.md, "Bounds"), ssh and the CLI beside
	 * it; 5 to 8 tasks. */
	line(sb, "MemoryMax=256M\nTasksMax=32");
	line(sb, "CAPBACK_EOF");
	line(sb, "cat >/etc/systemd/system/capback-%s.timer <<'CAPBACK_EOF'",
	    o->name);
	line(sb,
	    "[Unit]\nDescription=daily capback backup of %s\n\n"
	    "[Timer]\nOnCalendar=daily\nRandomizedDelaySec=1h\n"
	    "Persistent=true\n\n[Install]\nWantedBy=timers.target",
	    o->source);
	line(sb, "CAPBACK_EOF");
	line(sb,
	    "if [ -d /run/systemd/system ]; then systemctl daemon-reload "
	    "&& systemctl enable --now capback-%s.timer; fi",
	    o->name);
}

int
setup(const struct setup_opts *o)
{
	struct strbuf sb = STRBUF_INIT;
	int st;
	pid_t pid;

	check_word("the user", o->user);
	check_word("the group", o->group);
	check_word("the home directory", o->home);
	check_word("the restrict path", o->restrict_path);
	check_word("the repository directory", o->repo_dir);
	check_word("from", o->from);
	if (o->source != NULL)
		check_word("the source", o->source);
	check_word("the name", o->name);
	if (o->key != NULL &&
	    (strpbrk(o->key, "\n\"'\\") != NULL ||
		strncmp(o->key, "ssh-", 4) != 0))
		fatal("setup: --key must be one public key line "
		      "(ssh-ed25519 AAAA... comment)");
	line(&sb, "set -e");
	if (strcmp(o->role, "reader") == 0)
		reader_script(&sb, o);
	else if (strcmp(o->role, "writer") == 0)
		writer_script(&sb, o);
	else
		fatal("setup: --role must be reader or writer, not '%s'",
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
	printf("setup done; check it with: capback doctor --role %s --user "
	       "%s\n",
	    o->role, o->user);
	return 0;
}
