#ifndef RUN_H
#define RUN_H

/*
 * run_main(argc, argv, verbosity, current_time): "capback run [CONFIG]":
 * every host's backup, retention and drill, one report by mail, then the
 * after hook; ${current_time} (capback --current-time, or NULL) is passed
 * to the backups and retention.
 * status_main(argc, argv): "capback status [--json] [CONFIG]".  Both
 * return the exit status.
 */
int run_main(int argc, char **argv, const char *verbosity,
    const char *current_time);
int status_main(int argc, char **argv);

#endif
