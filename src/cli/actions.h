#ifndef ACTIONS_H
#define ACTIONS_H

#include <stdio.h>

/*
 * One table per action: its options with their argument and one line of
 * help.  getopt_long's option array and the action's --help are both made
 * from it, so an option cannot be accepted and undocumented or the other
 * way round; tests/integ/helpman.bats holds capback(1) to the same list.
 */
struct act_opt {
	const char *name; /* without "--"; "" for a heading line (help) */
	const char *arg;  /* the argument's name in --help; NULL: none */
	int val;	  /* what action_next returns for it */
	const char *help; /* one line; '\n' continues it, indented */
};

/* The action takes rdiff-backup's selection options (select.c's). */
#define ACT_SELECTION 1

struct action {
	const char *name;     /* "backup", "list increments" */
	const char *synopsis; /* after the name in the usage line */
	const char *summary;  /* capback --help's line */
	const char *about;    /* what it does, a paragraph (may be NULL) */
	const struct act_opt *opts; /* ends with a NULL name */
	unsigned flags;		    /* ACT_* */
	const char *after;	    /* last lines (exit status), or NULL */
};

enum action_id {
	ACT_BACKUP,
	ACT_RESTORE,
	ACT_REGRESS,
	ACT_LIST_INCREMENTS,
	ACT_LIST_FILES,
	ACT_VERIFY,
	ACT_COMPARE,
	ACT_REMOVE,
	ACT_DRILL,
	ACT_RUN,
	ACT_STATUS,
	ACT_CHECK,
	ACT_DIFF,
	ACT_VERSIONS,
	ACT_CALCULATE,
	ACT_INFO,
	ACT_DOCTOR,
	ACT_SETUP,
	ACT_REPLICATE,
	ACT_MOUNT,
	ACT_UMOUNT,
	ACT_N
};

/* What action_next returns for selection option i (select_option(i)),
 * and for its "-stdin" form (filelists only). */
#define ACT_SELECT	 1000
#define ACT_SELECT_STDIN 2000

const struct action *action_get(enum action_id id);

/*
 * action_next(a, argc, argv): getopt_long over the options of ${a} (and
 * -h); returns the option's val, ACT_SELECT(_STDIN) + i, or -1 at the
 * first operand.  --help prints the usage on standard output and exits 0;
 * an unknown option or a missing argument prints it on standard error and
 * exits 1.  Start with optind = 1 (action_begin does it).
 */
int action_next(const struct action *a, int argc, char **argv);

/* action_begin(argv): reset getopt for an action's argument vector. */
void action_begin(char **argv);

/* action_usage(a, f): the action's --help text. */
void action_usage(const struct action *a, FILE *f);

/* action_misuse(a, what): "${what}" as an error, the usage on stderr;
 * returns 1, the exit status. */
int action_misuse(const struct action *a, const char *what);

/* action_operands(a, argc, min, max): 0 if between ${min} and ${max}
 * operands follow the options, else the error (naming the locations
 * the action takes and how many were given) and the usage: 1. */
int action_operands(const struct action *a, int argc, int min, int max);

/* The list of actions of capback --help (one line each). */
void action_list(FILE *f);

#endif
