#ifndef RUN_H
#define RUN_H

/*
 * run_main(argc, argv, verbosity): "capback run [CONFIG]": every host's
 * backup, retention and drill, one report by mail, then the after hook.
 * status_main(argc, argv): "capback status [--json] [CONFIG]".  Both
 * return the exit status.
 */
int run_main(int argc, char **argv, const char *verbosity);
int status_main(int argc, char **argv);

#endif
