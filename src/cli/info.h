#ifndef INFO_H
#define INFO_H

#define API_VERSION_MIN 200
#define API_VERSION_MAX 201

/*
 * info_main(argc, argv, api_version, full_argc, full_argv): "capback
 * info": what this capback
 * is and what it finds here, as YAML in the shape of rdiff-backup 2.2's
 * info (exec, system) plus capback's own (roles, features).  ${api_version}
 * is the global --api-version, 0 if none; ${full_argv} the whole command
 * line, shown as exec's argv.  Returns the exit status.
 */
int info_main(int argc, char **argv, int api_version, int full_argc,
    char *const *full_argv);

#endif
