/*
 * capback info: versions, the roles this CLI runs and their privilege,
 * and the kernel's confinement features, for a bug report or a wrapper
 * script (YAML, as rdiff-backup's info prints it).
 */
#include "actions.h"
#include "info.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "log.h"
#include "spawn.h"

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#endif

/* A YAML scalar and the end of its line. */
static void
scalar(const char *s)
{
	log_yaml_scalar(stdout, s, strlen(s));
	putchar('\n');
}

static void
role(const char *name)
{
	char path[4200];
	cap_t fc;
	char *text = NULL;

	snprintf(path, sizeof(path), "%s/capback-%s", spawn_libexec_dir(),
	    name);
	printf("    %s:\n      path: ", name);
	scalar(path);
	printf("      runnable: %s\n",
	    access(path, X_OK) == 0 ? "true" : "false");
	if ((fc = cap_get_file(path)) != NULL) {
		text = cap_to_text(fc, NULL);
		cap_free(fc);
	}
	printf("      file_capabilities: ");
	scalar(text != NULL ? text : "");
	cap_free(text);
}

int
info_main(int argc, char **argv, int api_version, int full_argc,
    char *const *full_argv)
{
	struct utsname u;
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, 1u);
	int i;

	action_begin(argv);
	while (action_next(action_get(ACT_INFO), argc, argv) != -1)
		;
	if (optind != argc)
		fatal("info takes no arguments");
	if (uname(&u) != 0)
		memset(&u, 0, sizeof(u));
	printf("---\nexec:\n  api_version:\n    actual: %d\n    default: %d\n"
	       "    max: %d\n    min: %d\n  argv:\n",
	    api_version, API_VERSION_MIN, API_VERSION_MAX, API_VERSION_MIN);
	/* the whole command line, as rdiff-backup's info shows it */
	for (i = 0; i < full_argc; i++) {
		printf("  - ");
		scalar(full_argv[i]);
	}
	printf("  version: %s\n  repository_format: rdiff-backup 2.2\n",
	    CAPBACK_VERSION);
	printf("  roles:\n");
	role("reader");
	role("writer");
	role("restorer");
	role("mount");
	printf("features:\n  sandbox: ");
	scalar(
#ifdef CAPBACK_NO_SANDBOX
	    "none (a sanitizer build: roles refuse to run as root)"
#else
	    "seccomp and Landlock"
#endif
	);
	if (abi > 0)
		printf("  landlock_abi: %ld\n", abi);
	else
		printf("  landlock_abi: null  # %s\n", strerror(errno));
	printf("  seccomp: %s\n",
	    prctl(PR_GET_SECCOMP, 0, 0, 0, 0) >= 0 ? "true" : "false");
	printf("system:\n  fs_encoding: utf-8\n  platform: ");
	{
		char p[1024];

		snprintf(p, sizeof(p), "%s-%s-%s", u.sysname, u.release,
		    u.machine);
		scalar(p);
	}
	printf("...\n");
	return 0;
}
