#include "forced.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"

/* The words of the request, alive until exit (external: leak checkers
 * see them reachable). */
char **forced_words;
char *forced_text; /* the buffer of every word */

static const char safe_chars[] = "abcdefghijklmnopqrstuvwxyz"
				 "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				 "0123456789_./:=@%+,-";

/* One word starting at *pp into ${w}; advances *pp past it.  Returns its
 * length: never more than the characters consumed. */
static size_t
parse_word(const char **pp, char *w)
{
	const char *p = *pp;
	size_t o = 0;

	while (*p != '\0' && *p != ' ') {
		if (*p == '\'') {
			const char *q = strchr(p + 1, '\'');

			if (q == NULL)
				fatal("refusing the request: unbalanced quote");
			memcpy(w + o, p + 1, (size_t)(q - p - 1));
			o += (size_t)(q - p - 1);
			p = q + 1;
		} else if (*p == '\\' && p[1] == '\'') {
			w[o++] = '\'';
			p += 2;
		} else if (strchr(safe_chars, *p) != NULL)
			w[o++] = *p++;
		else
			fatal("refusing the request: character '%c' outside "
			      "quotes",
			    *p);
	}
	w[o] = '\0';
	*pp = p;
	return o;
}

char **
forced_request(const char *role, const char *what, int *argc)
{
	const char *cmd = getenv("SSH_ORIGINAL_COMMAND"), *p, *slash;
	size_t len, n = 0, cap = 8;
	char **words, *w;

	if (cmd == NULL)
		fatal("no request: this key only serves capback %s", what);
	len = strnlen(cmd, FORCED_REQUEST_MAX + 1);
	if (len > FORCED_REQUEST_MAX)
		fatal("refusing the request: longer than %u bytes",
		    FORCED_REQUEST_MAX);
	/* All words in one buffer: a word is never longer than the text
	 * it came from, and the space after it holds its NUL. */
	if ((words = calloc(cap, sizeof(*words))) == NULL ||
	    (w = malloc(len + 1)) == NULL)
		fatal("out of memory");
	forced_words = words;
	forced_text = w;
	for (p = cmd; *p != '\0';) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		words[n] = w;
		w += parse_word(&p, w) + 1;
		if (n + 2 > cap) {
			cap *= 2;
			if ((words = realloc(words, cap * sizeof(*words))) ==
			    NULL)
				fatal("out of memory");
			forced_words = words;
		}
		n++;
	}
	words[n] = NULL;
	slash = n > 0 ? strrchr(words[0], '/') : NULL;
	if (n == 0 || strcmp(slash ? slash + 1 : words[0], role) != 0)
		fatal("refusing the request: not a %s command", role);
	*argc = (int)n;
	return words;
}

int
forced_open_beneath(const char *restrict_path, const char *path,
    const char **base)
{
	const char *rel, *c, *last;
	size_t rlen = strlen(restrict_path);
	char *parent;
	int rfd, fd;

	while (rlen > 1 && restrict_path[rlen - 1] == '/')
		rlen--;
	if (path[0] != '/')
		fatal("refusing '%s': not an absolute path", path);
	for (c = path; *c != '\0';) {
		size_t n;

		while (*c == '/')
			c++;
		n = strcspn(c, "/");
		if ((n == 1 && c[0] == '.') ||
		    (n == 2 && c[0] == '.' && c[1] == '.'))
			fatal("refusing '%s': '.' and '..' are not allowed",
			    path);
		c += n;
	}
	if (rlen == 1 && restrict_path[0] == '/')
		rel = path;
	else if (strncmp(path, restrict_path, rlen) == 0 &&
	    (path[rlen] == '/' || path[rlen] == '\0'))
		rel = path + rlen;
	else
		fatal("refusing '%s': outside the restrict path '%s'", path,
		    restrict_path);
	while (*rel == '/')
		rel++;
	rfd = open(restrict_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rfd < 0)
		fatal("cannot open restrict path '%s': %s", restrict_path,
		    strerror(errno));
	if (*rel == '\0') {
		/* A destination is made or replaced: never the restrict
		 * path itself, only something strictly beneath it. */
		if (base != NULL)
			fatal("refusing '%s': the destination must lie beneath "
			      "the restrict path '%s', not be it",
			    path, restrict_path);
		return rfd;
	}
	if (base == NULL) {
		fd = fs_open_beneath(rfd, rel, O_RDONLY | O_DIRECTORY, 0);
	} else {
		/* The parent; the last name is the caller's to create. */
		size_t rl = strlen(rel);

		while (rl > 0 && rel[rl - 1] == '/')
			rl--;
		if ((parent = strndup(rel, rl)) == NULL)
			fatal("out of memory");
		last = strrchr(parent, '/');
		if (last == NULL) {
			*base = strdup(parent);
			free(parent);
			if (*base == NULL)
				fatal("out of memory");
			return rfd;
		}
		parent[last - parent] = '\0';
		if ((*base = strdup(last + 1)) == NULL)
			fatal("out of memory");
		fd = fs_open_beneath(rfd, parent, O_RDONLY | O_DIRECTORY, 0);
		free(parent);
	}
	if (fd < 0)
		fatal("cannot open '%s' beneath '%s'%s: %s", path,
		    restrict_path, errno == ELOOP ? " (through a symlink)" : "",
		    strerror(errno));
	close(rfd);
	return fd;
}
