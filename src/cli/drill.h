#ifndef DRILL_H
#define DRILL_H

/*
 * drill_main(argc, argv, verbosity): "capback drill": restore a rotating
 * sample of a local repository's sessions through the writer and the
 * restorer (--drill) into a scratch directory, check every entry against
 * its record, remember the proofs and report coverage and the oldest
 * point in time proven restorable.  Returns the exit status: 0 all
 * proven, 2 an entry failed, 1 could not run.
 */
int drill_main(int argc, char **argv, const char *verbosity);

#endif
