#ifndef CALCULATE_H
#define CALCULATE_H

/* calculate_main(argc, argv): "capback calculate [--method average]
 * STATISTIC_FILE...", as rdiff-backup prints it.  Returns the status. */
int calculate_main(int argc, char **argv);

#endif
