#ifndef CHECK_H
#define CHECK_H

/*
 * check_main(argc, argv): "capback check [CONFIG]": for every host of
 * CONFIG, in parallel and without prompts, whether a backup can run:
 * ssh reaches it, its host key is known, the forced command answers as a
 * capback reader of this protocol with the capability in effect and a
 * restrict path holding the source, and the repository is the account's
 * to write.  One line per host, then each problem with its fix.  Returns
 * 0 when there is none, 1 otherwise.
 */
int check_main(int argc, char **argv);

#endif
