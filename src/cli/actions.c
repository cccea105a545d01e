/*
 * The actions' options and their help, one table each (actions.h).
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "actions.h"
#include "cb_err.h"
#include "log.h"
#include "runconf.h"
#include "select.h"

#define PROGRESS_HELP                                      \
	"a progress line on standard error (the default\n" \
	"when it is a terminal)"

static const struct act_opt backup_opts[] = {
	{ "no-eas", NULL, 'e', "do not store extended attributes" },
	{ "no-acls", NULL, 'a', "do not store POSIX ACLs" },
	{ "delta", NULL, 'd',
	    "send changed files as librsync deltas against the\nrepository's "
	    "copy (the default when a side is remote)" },
	{ "whole-file", NULL, 'W',
	    "send changed files whole (the local "
	    "default)" },
	{ "native-owners", NULL, 'N',
	    "the mirror keeps true owners and modes (the writer\nneeds "
	    "CAP_CHOWN, CAP_FOWNER, CAP_DAC_OVERRIDE)" },
	{ "check-unchanged", NULL, 'C',
	    "also read files whose size and time are the same\nand report "
	    "those whose content changed anyway (bit rot)" },
	{ "force", NULL, 'f',
	    "refused here: the global option (capback --force\nbackup) also "
	    "undoes an unfinished session whose\nprocess still runs, so it "
	    "goes before the action" },
	{ "digests-at", "source|server", 'H',
	    "where each file's SHA-1 is computed: source (by\nthe reader, "
	    "as it reads; the default when the\nsource is remote) or server "
	    "(the local default)" },
	{ "check-received", "FRACTION", 'K',
	    "with digests from the source: the share of files\nreceived "
	    "that the server hashes again and\ncompares (default 0.02; 1: "
	    "all)" },
	{ "print-statistics", NULL, 'S',
	    "print the session's statistics as rdiff-backup does" },
	{ "create-full-path", NULL, 'F',
	    "make the missing directories above REPOSITORY" },
	{ "progress", NULL, 'G', PROGRESS_HELP },
	{ "no-progress", NULL, 'g', "no progress line" },
	{ "null-separator", NULL, '0',
	    "filelists are NUL-separated, not one path a line" },
	{ NULL, NULL, 0, NULL },
};

static const struct act_opt restore_opts[] = {
	{ "at", "TIME", 't',
	    "the session to restore (default: the newest); it\nrounds down "
	    "to a session" },
	{ "force", NULL, 'f',
	    "restore into a TARGET that exists and is not empty:\nit becomes "
	    "the session, what it holds beyond is\nremoved (with a selection: "
	    "only what was sent is\nwritten, nothing removed)" },
	{ "create-full-path", NULL, 'c',
	    "make the missing directories above TARGET" },
	{ "progress", NULL, 'G', PROGRESS_HELP },
	{ "no-progress", NULL, 'g', "no progress line" },
	{ "null-separator", NULL, '0',
	    "filelists are NUL-separated, not one path a line" },
	{ NULL, NULL, 0, NULL },
};

static const struct act_opt regress_opts[] = {
	{ "native-owners", NULL, 'N',
	    "put true owners and modes back (a repository kept\nwith "
	    "--native-owners)" },
	{ NULL, NULL, 0, NULL },
};

static const struct act_opt list_inc_opts[] = {
	{ "size", NULL, 's',
	    "each session's increments and the cumulative size,\nas "
	    "rdiff-backup prints them (whole repository)" },
	{ "json", NULL, 'j',
	    "every session: {sessions: [{time, at, current,\nincrements}]} "
	    "(increments: false for one the\ntext leaves out); of a PATH, "
	    "its versions:\n{path, increments: [{time, at, type, current,\n"
	    "base}]}" },
	{ NULL, NULL, 0, NULL },
};

static const struct act_opt list_files_opts[] = {
	{ "at", "TIME", 't', "the session (default: the newest)" },
	{ "changed-since", "TIME", 'c',
	    "what is new, deleted or changed since TIME" },
	{ "json", NULL, 'j',
	    "one JSON object: time, at, paths [...], count,\ncomplete; with "
	    "--changed-since: diff's (from, to,\nchanges [{path, change, "
	    "what}], ...)" },
	{ NULL, NULL, 0, NULL },
};

static const struct act_opt verify_opts[] = {
	{ "at", "TIME", 't', "the session (default: the newest)" },
	{ "all", NULL, 'a',
	    "every session; damaged increments, metadata or\nmirror files "
	    "are named with the points in time\nthey spoil" },
	{ "json", NULL, 'j',
	    "{time, at, verified, failed, without_sha1,\ndamage: [{path, "
	    "why}], ok} (one session)" },
	{ "progress", NULL, 'G', PROGRESS_HELP },
	{ "no-progress", NULL, 'g', "no progress line" },
	{ NULL, NULL, 0, NULL },
};

static const struct act_opt compare_opts[] = {
	{ "method", "meta|hash|full", 'm',
	    "meta: attributes only (default); hash: also the\nSHA-1 of "
	    "regular files against the recorded one;\nfull: also their "
	    "content against the backup's" },
	{ "at", "TIME", 't', "the session (default: the newest)" },
	{ "null-separator", NULL, '0',
	    "filelists are NUL-separated, not one path a line" },
	{ NULL, NULL, 0, NULL },
};

static const struct act_opt remove_opts[] = {
	{ "older-than", "TIME", 't',
	    "remove the sessions before TIME (required)" },
	{ "force", NULL, 'f', "remove more than one session" },
	{ NULL, NULL, 0, NULL },
};

static const struct act_opt drill_opts[] = {
	{ "sample", "FRACTION", 's',
	    "share of the entries per session and run\n(default 0.02)" },
	{ "all", NULL, 'a', "every entry" },
	{ "at", "TIME", 't',
	    "drill this session (repeatable, up to 16); without\nit: the "
	    "newest, the oldest and the least covered" },
	{ "max-duration", "SECONDS", 'd',
	    "start no further session after SECONDS" },
	{ "scratch", "DIR", 'S',
	    "where to restore (default $TMPDIR or /var/tmp)" },
	{ "json", NULL, 'j',
	    "the text to standard error, one JSON object to\nstandard output "
	    "at the end: repository, sessions,\nslots, drilled, failures, "
	    "coverage,\noldest_proven(_time, _whole), ok" },
	{ "progress", NULL, 'G', PROGRESS_HELP },
	{ "no-progress", NULL, 'g', "no progress line" },
	{ NULL, NULL, 0, NULL },
};

#define SHARD_HELP                                                        \
	"only the hosts of this server's share: I of N\nservers "         \
	"(overrides the configuration's\n'shard'; rendezvous hashing of " \
	"host names)"

static const struct act_opt run_opts[] = {
	{ "report", NULL, 'r',
	    "print the report even when standard output is not\na terminal" },
	{ "shard", "I/N", 's', SHARD_HELP },
	{ NULL, NULL, 0, NULL },
};

static const struct act_opt status_opts[] = {
	{ "json", NULL, 'j',
	    "one JSON object: hosts [{host, last, why, ...,\noverdue}], ok "
	    "(capback(1) names every field)" },
	{ "shard", "I/N", 's', SHARD_HELP },
	{ NULL, NULL, 0, NULL },
};

static const struct act_opt check_opts[] = {
	{ "shard", "I/N", 's', SHARD_HELP },
	{ NULL, NULL, 0, NULL },
};

static const struct act_opt no_opts[] = {
	{ NULL, NULL, 0, NULL },
};

static const struct act_opt diff_opts[] = {
	{ "at", "TIME", 't',
	    "the first session (default the one before the\nnewest); a "
	    "second --at names the other (default\nthe newest)" },
	{ "json", NULL, 'j',
	    "one JSON object: from, from_time, to, to_time,\nchanges [{path, "
	    "change, what}], new, deleted,\nchanged" },
	{ NULL, NULL, 0, NULL },
};

static const struct act_opt versions_opts[] = {
	{ "json", NULL, 'j',
	    "one JSON object: path, versions [{time, at,\nchange, type, size, "
	    "sha1, what}]" },
	{ NULL, NULL, 0, NULL },
};

static const struct act_opt mount_opts[] = {
	{ "cache", "DIR", 'c',
	    "where the index of the sessions is kept (default:\n"
	    "~/.cache/capback/mount/DEV-INODE of the repository)" },
	{ "allow-other", NULL, 'a',
	    "let other users in, each as the recorded owners,\nmodes and "
	    "ACLs allow (needs user_allow_other\nin /etc/fuse.conf)" },
	{ "foreground", NULL, 'f',
	    "stay in the foreground, messages on stderr (else\nthey go to "
	    "mount.log in the cache)" },
	{ NULL, NULL, 0, NULL },
};

static const struct act_opt calculate_opts[] = {
	{ "method", "average", 'm', "the one method there is (the default)" },
	{ NULL, NULL, 0, NULL },
};

static const struct act_opt doctor_opts[] = {
	{ "role", "reader|writer|restorer", 'r',
	    "the role to check (default reader)" },
	{ "user", "NAME", 'u',
	    "the account that runs it (default: this "
	    "one)" },
	{ NULL, NULL, 0, NULL },
};

static const struct act_opt setup_opts[] = {
	{ "role", "server|reader|restorer|vault", 'r',
	    "what to set up (writer is another word for server)" },
	{ "user", "NAME", 'u', "the account (capback)" },
	{ "apply", NULL, 'a',
	    "run the commands (without it they are printed;\neach checks "
	    "first, so they may run again)" },
	{ "", NULL, 0, "server:" },
	{ "home", "DIR", 'H', "its home, key and state (/var/lib/capback)" },
	{ "repo-dir", "DIR", 'd', "the repositories (/srv/backup)" },
	{ "config", "FILE", 'c', "the configuration (" DEFAULT_CONFIG ")" },
	{ "host", "NAME", 'n',
	    "with --source: add a host to the "
	    "configuration" },
	{ "source", "USER@HOST::/PATH", 's', "what that host backs up" },
	{ "", NULL, 0,
	    "reader, restorer (a host): the key's forced command is\n"
	    "capback-reader --serve (capback-restorer --serve) "
	    "--restrict-path DIR:" },
	{ "key", "'ssh-ed25519 AAAA... capback@server'", 'k',
	    "the server's public key" },
	{ "from", "ADDR[,ADDR]", 'F',
	    "the server's address: the key works from there\nonly" },
	{ "restrict-path", "DIR", 'R',
	    "reader: what it may read (/); restorer: where it\nmay write "
	    "(required)" },
	{ "group", "NAME", 'g',
	    "reader: the group that may run it\n(capback-reader)" },
	{ "", NULL, 0,
	    "vault (a machine a backup server pushes to): the key's\n"
	    "forced command is capback-writer --serve --append-only\n"
	    "--restrict-path DIR (DIR required; --key, --from as above):" },
	{ "max-skew", "SPAN", 'S',
	    "how far ahead of this clock a session may be\n(1h)" },
	{ "quota", "SIZE", 'Q',
	    "the most one session may add (50G; default: no\nbound)" },
	{ NULL, NULL, 0, NULL },
};

static const struct act_opt replicate_opts[] = {
	{ "dry-run", NULL, 'n',
	    "name the sessions that would be copied, copy "
	    "none" },
	{ "check", NULL, 'c',
	    "copy nothing; compare every session the two have\nin common "
	    "(their records) and name those that\ndiffer (exit status 1)" },
	{ NULL, NULL, 0, NULL },
};

#define TIME_FORMS                                                         \
	"TIME: now, epoch seconds, 2023-11-14T22:13:20Z, 2023-11-14, 3D, " \
	"2W,\n5B (five sessions back); it rounds down to a session.\n"

static const struct action actions[ACT_N] = {
	[ACT_BACKUP] = { "backup", "[OPTIONS] [SELECTION] SOURCE REPOSITORY",
	    "backup SOURCE REPOSITORY    mirror SOURCE into REPOSITORY",
	    "Back up the directory SOURCE into REPOSITORY (created if "
	    "absent; an\nexisting non-empty directory that is not a "
	    "repository needs the global\n--force, which also undoes an "
	    "unfinished session whose process still runs).\nUnchanged files "
	    "are not read again.  Globs of the selection match\nSOURCE/path "
	    "as written.\n",
	    backup_opts, ACT_SELECTION,
	    "Exit status: 0 done, 1 failed, 2 done after undoing an "
	    "unfinished session,\n4 done but some files could not be read "
	    "(bits: 6 is both).\n" },
	[ACT_RESTORE] = { "restore",
	    "[OPTIONS] [SELECTION] REPOSITORY[/PATH] TARGET",
	    "restore REPOSITORY[/PATH] TARGET  restore (--at TIME) to TARGET",
	    "Restore the backup of TIME (default: the newest) in REPOSITORY "
	    "to\nTARGET, which must be absent or empty unless --force is "
	    "given (a\nforced restore into a directory that held something "
	    "warns and exits 2).\n" TIME_FORMS
	    "Owners, devices and file capabilities are restored when run "
	    "with the\nprivilege for them.  Globs of the selection match "
	    "TARGET/path as\nwritten (as rdiff-backup's); options that "
	    "need the source's file\nsystem (--exclude-if-present, "
	    "--include-if-present,\n--exclude-other-filesystems) are "
	    "refused.\n",
	    restore_opts, ACT_SELECTION,
	    "Exit status: 0 done, 1 failed, 4 done with errors on some "
	    "files.\n" },
	[ACT_REGRESS] = { "regress", "[OPTIONS] REPOSITORY",
	    "regress REPOSITORY          undo an unfinished backup session",
	    "Undo an unfinished (interrupted or failed) backup session, so "
	    "that\nREPOSITORY is exactly as after its last good backup.  A "
	    "backup\ndoes this by itself when it finds one.  The global "
	    "--force: even if\nthe process recorded in the unfinished "
	    "session still runs.\n",
	    regress_opts, 0,
	    "Exit status: 0 nothing to undo, 2 a session was undone or what "
	    "a regress\nleft was repaired (rdiff-backup's warning bit), 1 "
	    "failed (a file that\ncould not be proven is left as it was).\n" },
	[ACT_LIST_INCREMENTS] = { "list increments",
	    "[OPTIONS] REPOSITORY[/PATH]",
	    "list increments REPOSITORY  the sessions kept",
	    "The sessions with increments and the current mirror.  The "
	    "global\n--parsable-output prints rdiff-backup's machine form.\n",
	    list_inc_opts, 0, NULL },
	[ACT_LIST_FILES] = { "list files", "[OPTIONS] REPOSITORY[/PATH]",
	    "list files REPOSITORY       the paths of a session (--at TIME)",
	    "Every path of the session TIME (default the newest), one a "
	    "line.\n",
	    list_files_opts, 0, NULL },
	[ACT_VERIFY] = { "verify", "[OPTIONS] REPOSITORY[/PATH]",
	    "verify REPOSITORY           check a session's content (--at)",
	    "Rebuild every regular file of the session (the newest, or as of "
	    "--at\nTIME) and check it against its recorded SHA-1.\n",
	    verify_opts, 0,
	    "Exit status: 0 all verified, 2 some file differs, 1 failed.\n" },
	[ACT_COMPARE] = { "compare",
	    "[OPTIONS] [SELECTION] SOURCE REPOSITORY[/PATH]",
	    "compare SOURCE REPOSITORY   how SOURCE differs from a backup "
	    "(--at)",
	    "Compare the directory SOURCE with its backup of TIME (default: "
	    "the newest)\nin REPOSITORY (or a directory inside it) and print "
	    "every difference\nas rdiff-backup does: new, deleted, changed.  "
	    "Nothing is written.\nThe selection leaves paths out on both "
	    "sides (globs match SOURCE/path);\n--exclude-if-present, "
	    "--include-if-present and\n--exclude-other-filesystems, which "
	    "the backup's records cannot answer,\nare refused.\n",
	    compare_opts, ACT_SELECTION,
	    "Exit status: 0 the same, 1 differences found (or failure), 4 no "
	    "difference\nfound but some files could not be read.\n" },
	[ACT_REMOVE] = { "remove increments", "--older-than TIME REPOSITORY",
	    "remove increments --older-than TIME REPOSITORY\n"
	    "                              forget the sessions before TIME",
	    "Delete the increments (and their metadata) of every session "
	    "older\nthan TIME; the newest backup is never removed.  TIME "
	    "takes the forms\nof restore's TIME (e.g. 30D, 2W, 5B keeps five "
	    "sessions).\n",
	    remove_opts, 0,
	    "Exit status: 0 removed, 1 error, 2 nothing older than TIME.\n" },
	[ACT_DRILL] = { "drill", "[OPTIONS] REPOSITORY",
	    "drill REPOSITORY            restore a sample and check it "
	    "(--sample, --all)",
	    "Restore a sample of the backup into a private scratch directory "
	    "and check\nevery restored entry against its record (content "
	    "SHA-1 read back, mode,\ntimes, owner when run as root, symlink "
	    "targets, devices, xattrs).\nSuccessive runs drill the slots not "
	    "yet proven (kept in\nrdiff-backup-data/capback-drill.state).\n",
	    drill_opts, 0,
	    "Exit status: 0 all proven, 2 some entry failed, 1 the drill "
	    "could not run.\n" },
	[ACT_RUN] = { "run", "[OPTIONS] [CONFIG]",
	    "run [CONFIG]                the backup server's job: every "
	    "host (--shard), report",
	    "Back up every host of CONFIG (default " DEFAULT_CONFIG
	    "), at most\n'parallel' at a time; then remove increments "
	    "older than each host's\n'keep', drill each repository, mail "
	    "one report, and run the 'after'\nhook.  See capback.conf(5).  "
	    "On a terminal it shows progress and\nprints the report; "
	    "otherwise it is quiet but for failures.\n",
	    run_opts, 0,
	    "Exit status: 0 every host OK, 1 otherwise (a host failed or timed "
	    "out, the\nreport could not be mailed, or the metrics file could "
	    "not be written).\n" },
	[ACT_STATUS] = { "status", "[OPTIONS] [CONFIG]",
	    "status [--json] [CONFIG]    the last result of every host "
	    "(--shard)",
	    "The last result of each host of CONFIG, the age of its newest "
	    "backup and\nof its last drill.  A host is overdue when its "
	    "newest backup is older\nthan 'overdue' (default 36h).\n",
	    status_opts, 0,
	    "Exit status: 0 all fine, 1 a host is overdue, its last run "
	    "failed or its\ncopy to its vault failed, 2 the state directory "
	    "cannot be read by this\naccount.\n" },
	[ACT_CHECK] = { "check", "[OPTIONS] [CONFIG]",
	    "check [CONFIG]              can every host be backed up? (ssh, "
	    "keys, reader)",
	    "For every host of CONFIG (default " DEFAULT_CONFIG
	    "), whether a backup\ncan run: ssh, the host key, the forced "
	    "command, the reader's version,\nrestrict path and capability "
	    "(the reader's --probe request), a\nroot-only file, the "
	    "repository.  Run it as the account that runs\ncapback run.\n",
	    check_opts, 0,
	    "Exit status: 0 no problem; 1 some (each with its fix).\n" },
	[ACT_DIFF] = { "diff", "[OPTIONS] REPOSITORY[/PATH]",
	    "diff [--at T] [--at T] REPOSITORY[/PATH]  what changed between "
	    "sessions",
	    "What changed between two sessions, and how, from their metadata "
	    "(no file\nis rebuilt): \"new: PATH\", \"deleted: PATH\", "
	    "\"changed: PATH (content,mode,...)\".\n",
	    diff_opts, 0, NULL },
	[ACT_VERSIONS] = { "versions", "[OPTIONS] REPOSITORY/PATH",
	    "versions REPOSITORY/PATH    each session in which PATH changed",
	    "Each session in which PATH changed, oldest first: new, changed "
	    "(and what),\ndeleted, with its type, size and recorded SHA-1, "
	    "from the metadata only.\n",
	    versions_opts, 0, NULL },
	[ACT_CALCULATE] = { "calculate", "[OPTIONS] STATISTIC_FILE...",
	    "calculate STATISTIC_FILE... the average of session statistics",
	    "The average of session statistics files\n"
	    "(rdiff-backup-data/session_statistics.*), printed as "
	    "rdiff-backup's\ncalculate prints it.\n",
	    calculate_opts, 0, NULL },
	[ACT_INFO] = { "info", "",
	    "info                        versions, roles, confinement "
	    "features (YAML)",
	    "Versions, the roles and their privilege, the kernel's "
	    "confinement\nfeatures, as YAML (rdiff-backup's info).\n",
	    no_opts, 0, NULL },
	[ACT_DOCTOR] = { "doctor", "[OPTIONS]",
	    "doctor [--role R] [--user U]  check privileges on this host",
	    "Show this process's capabilities, check what the role needs on "
	    "this host\n(for the account NAME) and print the commands that "
	    "fix what is missing.\n",
	    doctor_opts, 0, "Exit status: 0 no problem, 1 problems found.\n" },
	[ACT_REPLICATE] = { "replicate", "[OPTIONS] PRIMARY VAULT",
	    "replicate PRIMARY VAULT     copy the sessions VAULT lacks, "
	    "oldest first",
	    "Make VAULT (created if absent) hold PRIMARY's sessions with the "
	    "same\ntimes and records: each session VAULT lacks, oldest "
	    "first, is read\nfrom PRIMARY as of that time and backed up into "
	    "VAULT as that\nsession; only files whose content changed are "
	    "sent, and each must\nhave the SHA-1 PRIMARY's metadata records.  "
	    "A session VAULT has that\nPRIMARY does not is refused (VAULT "
	    "is not PRIMARY's copy).  Either may be\n[user@]host::path: "
	    "the vault pulls through the primary's read-only\nkey, or the "
	    "primary pushes through the vault's append-only key\n"
	    "(capback-writer(8)).\n",
	    replicate_opts, 0,
	    "Exit status: 0 VAULT holds every session, 1 failed (the sessions "
	    "copied\nbefore stay).\n" },
	[ACT_SETUP] = { "setup", "--role ROLE [OPTIONS] [--apply]",
	    "setup --role R [--apply]    set up a server, reader, restorer or "
	    "vault",
	    "Prints the commands that set up ROLE on this machine; --apply "
	    "runs them.\n",
	    setup_opts, 0, NULL },
	[ACT_MOUNT] = { "mount", "[OPTIONS] REPOSITORY[/PATH] MOUNTPOINT",
	    "mount REPOSITORY MOUNTPOINT every session as a read-only file "
	    "system",
	    "Every finished session as a directory named by its time "
	    "(YYYY-MM-DDTHH:MM:SSZ)\nand \"latest\", each the tree "
	    "restore --at would write: owners, modes,\ntimes, xattrs and "
	    "ACLs as recorded.  Read-only, as the repository's owner\n"
	    "(FUSE, no privilege); sessions that finish later appear.  "
	    "Unmount with\ncapback umount MOUNTPOINT.\n",
	    mount_opts, 0, NULL },
	[ACT_UMOUNT] = { "umount", "MOUNTPOINT",
	    "umount MOUNTPOINT           unmount what capback mount mounted",
	    "Unmount MOUNTPOINT (fusermount3 -u).\n", no_opts, 0, NULL },
};

const struct action *
action_get(enum action_id id)
{
	return &actions[id];
}

#define HELP_COL 24

/* "  --name ARG", then the help from column HELP_COL. */
static void
print_opt(FILE *f, const struct act_opt *o)
{
	int w = fprintf(f, "  --%s%s%s", o->name, o->arg ? " " : "",
	    o->arg ? o->arg : "");

	if (w + 2 > HELP_COL) {
		fputc('\n', f);
		w = 0;
	}
	for (const char *h = o->help; *h != '\0';) {
		size_t n = strcspn(h, "\n");

		fprintf(f, "%*s%.*s\n", HELP_COL - w, "", (int)n, h);
		w = 0;
		h += n + (h[n] == '\n');
	}
}

/* The argument's name of a selection option in --help. */
static const char *
select_arg(const char *name)
{
	if (strstr(name, "regexp"))
		return "RE";
	if (strstr(name, "filelist"))
		return "FILE";
	if (strstr(name, "if-present"))
		return "NAME";
	if (strstr(name, "file-size"))
		return "BYTES";
	return "GLOB";
}

static void
print_selection(FILE *f)
{
	const char *name;
	char item[80];
	int noarg, col = 0;

	fprintf(f,
	    "\nSelection (rdiff-backup's rules, in the order given: the "
	    "first that matches\ndecides, the default is to include; "
	    "see capback(1) SELECTION):\n");
	for (size_t i = 0; (name = select_option(i, &noarg)) != NULL; i++) {
		for (int stdin_form = 0; stdin_form < 2; stdin_form++) {
			if (stdin_form && strstr(name, "filelist") == NULL)
				break;
			if (stdin_form)
				snprintf(item, sizeof(item), "--%s-stdin",
				    name);
			else
				snprintf(item, sizeof(item), "--%s%s%s", name,
				    noarg ? "" : " ",
				    noarg ? "" : select_arg(name));
			if (col > 0 && col + 2 + (int)strlen(item) > 78) {
				fputc('\n', f);
				col = 0;
			}
			col += fprintf(f, "  %s", item);
		}
	}
	fputc('\n', f);
}

/* The locations of ${a}'s synopsis: what follows its [options]. */
static const char *
locations(const struct action *a)
{
	const char *loc = a->synopsis;

	while (*loc == '[' || *loc == '-')
		loc += strcspn(loc, " ") + (loc[strcspn(loc, " ")] == ' ');
	return loc;
}

/* The usage line (two when it is too long), and no blank line after. */
static void
usage_line(const struct action *a, FILE *f)
{
	const char *loc = locations(a);
	int w = fprintf(f, "usage: capback [GLOBAL OPTIONS] %s", a->name);

	/* a line too long breaks before the locations */
	if (w + 1 + (int)strlen(a->synopsis) > 80 && loc != a->synopsis &&
	    *loc != '\0')
		fprintf(f, " %.*s\n%*s%s\n", (int)(loc - a->synopsis - 1),
		    a->synopsis, w - (int)strlen(a->name), "", loc);
	else
		fprintf(f, "%s%s\n", a->synopsis[0] ? " " : "", a->synopsis);
}

/* After a mistake: the usage line and where the rest is, not 40 lines
 * of help burying the error above them. */
static void
usage_short(const struct action *a, FILE *f)
{
	usage_line(a, f);
	fprintf(f, "(capback %s --help lists its options)\n", a->name);
}

void
action_usage(const struct action *a, FILE *f)
{
	usage_line(a, f);
	fputc('\n', f);
	if (a->about != NULL)
		fputs(a->about, f);
	fprintf(f, "\nOptions:\n");
	for (const struct act_opt *o = a->opts; o->name != NULL; o++) {
		if (o->name[0] == '\0')
			fprintf(f, "%s\n", o->help);
		else
			print_opt(f, o);
	}
	print_opt(f, &(struct act_opt){ "help", NULL, 'h', "this text" });
	if (a->flags & ACT_SELECTION)
		print_selection(f);
	if (a->after != NULL)
		fprintf(f, "\n%s", a->after);
}

int
action_operands(const struct action *a, int argc, int min, int max)
{
	char what[256];
	int n = argc - optind;

	if (n >= min && n <= max)
		return 0;
	snprintf(what, sizeof(what), "%s takes %s: %d %s given", a->name,
	    locations(a), n, n == 1 ? "was" : "were");
	return action_misuse(a, what);
}

int
action_misuse(const struct action *a, const char *what)
{
	log_error("%s", what);
	usage_short(a, stderr);
	return 1;
}

void
action_list(FILE *f)
{
	for (int i = 0; i < ACT_N; i++)
		fprintf(f, "  %s\n", actions[i].summary);
}

void
action_begin(char **argv)
{
	/* 0: glibc starts over, taking this call's ordering (the global
	 * options before the action stop at the first operand, "+") */
	optind = 0;
	argv[0] = (char *)"capback"; /* for getopt's messages */
}

/* The getopt_long array of ${a}, made once (one action a process). */
static const struct option *
long_options(const struct action *a)
{
	static const struct action *made;
	static struct option *opts;
	const char *name;
	size_t n = 0, i;
	int noarg;

	if (made == a)
		return opts;
	free(opts);
	for (i = 0; a->opts[i].name != NULL; i++)
		;
	n = i + 2 + ((a->flags & ACT_SELECTION) ? 2 * 32 : 0);
	if ((opts = calloc(n, sizeof(*opts))) == NULL)
		fatal("out of memory");
	n = 0;
	for (i = 0; a->opts[i].name != NULL; i++)
		if (a->opts[i].name[0] != '\0')
			opts[n++] = (struct option){ a->opts[i].name,
				a->opts[i].arg ? required_argument :
						 no_argument,
				NULL, a->opts[i].val };
	opts[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	if (a->flags & ACT_SELECTION)
		for (i = 0; (name = select_option(i, &noarg)) != NULL; i++) {
			if (i >= 32)
				fatal("internal: too many selection options");
			opts[n++] = (struct option){ name,
				noarg ? no_argument : required_argument, NULL,
				ACT_SELECT + (int)i };
			if (strstr(name, "filelist") != NULL) {
				char *sn;

				if (asprintf(&sn, "%s-stdin", name) < 0)
					fatal("out of memory");
				opts[n++] = (struct option){ sn, no_argument,
					NULL, ACT_SELECT_STDIN + (int)i };
			}
		}
	made = a;
	return opts;
}

int
action_next(const struct action *a, int argc, char **argv)
{
	/* options may follow the locations, as rdiff-backup's do ("--"
	 * ends them) */
	int c = getopt_long(argc, argv, "h", long_options(a), NULL);

	if (c == 'h') {
		action_usage(a, stdout);
		exit(fflush(stdout) == 0 ? 0 : 1);
	}
	if (c == '?' || c == ':') {
		usage_short(a, stderr);
		exit(1);
	}
	return c;
}
