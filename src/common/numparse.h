#ifndef NUMPARSE_H
#define NUMPARSE_H

/*
 * parse_fraction(s, out): a share from 0 to 1 ("0.05"), the whole of
 * ${s}; 0, or -1 for anything else (empty, out of range, a percentage,
 * trailing text, NaN).
 */
int parse_fraction(const char *s, double *out);

#endif
