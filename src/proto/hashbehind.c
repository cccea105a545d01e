#include "hashbehind.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

/* Bytes read back and hashed at a time. */
#define HB_CHUNK ((size_t)256 * 1024)

/*
 * The state both threads share, under ${mu}.  The helper waits on ${work}
 * and announces progress and idleness on ${progress}.  While ${reading},
 * it uses fd and sha outside the lock; the caller then never takes them
 * back.
 */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t work;
	pthread_cond_t progress;
	int started; /* 1 running, -1 could not be started */
	int fd;	     /* the file, -1 when none */
	EVP_MD_CTX *sha;
	uint64_t hashed; /* bytes of the file in sha */
	uint64_t avail;	 /* bytes that may be read */
	int stop;	 /* abandon the file */
	int err;	 /* errno of the read that failed */
	int reading;
	uint8_t *buf;
} hb = {
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.work = PTHREAD_COND_INITIALIZER,
	.progress = PTHREAD_COND_INITIALIZER,
	.fd = -1,
};

/* Is there something for the helper to hash?  (Under mu.) */
static int
has_work(void)
{
	return hb.fd >= 0 && !hb.stop && hb.err == 0 && hb.hashed < hb.avail;
}

static void *
hb_main(void *arg)
{
	uint64_t off;
	size_t want;
	ssize_t k;

	(void)arg;
	pthread_mutex_lock(&hb.mu);
	for (;;) {
		while (!has_work()) {
			pthread_cond_broadcast(&hb.progress);
			pthread_cond_wait(&hb.work, &hb.mu);
		}
		off = hb.hashed;
		want = hb.avail - off < HB_CHUNK ? (size_t)(hb.avail - off) :
						   HB_CHUNK;
		hb.reading = 1;
		pthread_mutex_unlock(&hb.mu);
		do
			k = pread(hb.fd, hb.buf, want, (off_t)off);
		while (k < 0 && errno == EINTR);
		if (k > 0)
			EVP_DigestUpdate(hb.sha, hb.buf, (size_t)k);
		pthread_mutex_lock(&hb.mu);
		hb.reading = 0;
		if (k > 0)
			hb.hashed += (uint64_t)k;
		else
			hb.err = k < 0 ? errno : EIO; /* ended before avail */
	}
	return NULL;
}

/* Start the helper once; 0 if it runs.  (Under mu.) */
static int
start(void)
{
	pthread_attr_t at;
	pthread_t t;
	int ok;

	if (hb.started != 0)
		return hb.started > 0 ? 0 : -1;
	hb.started = -1;
	if ((hb.buf = malloc(HB_CHUNK)) == NULL)
		return -1;
	if (pthread_attr_init(&at) != 0)
		return -1;
	ok = pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED) == 0 &&
	    pthread_create(&t, &at, hb_main, NULL) == 0;
	pthread_attr_destroy(&at);
	if (!ok) {
		free(hb.buf);
		hb.buf = NULL;
		return -1;
	}
	hb.started = 1;
	return 0;
}

int
hb_begin(int fd, EVP_MD_CTX *sha, uint64_t hashed)
{
	int r;

	pthread_mutex_lock(&hb.mu);
	r = hb.fd < 0 ? start() : -1; /* one file at a time */
	if (r == 0) {
		hb.fd = fd;
		hb.sha = sha;
		hb.hashed = hashed;
		hb.avail = hashed;
		hb.stop = 0;
		hb.err = 0;
	}
	pthread_mutex_unlock(&hb.mu);
	return r;
}

void
hb_written(uint64_t end)
{
	pthread_mutex_lock(&hb.mu);
	hb.avail = end;
	pthread_cond_signal(&hb.work);
	pthread_mutex_unlock(&hb.mu);
}

int
hb_end(uint64_t end, int *err)
{
	pthread_mutex_lock(&hb.mu);
	hb.avail = end;
	pthread_cond_signal(&hb.work);
	while (hb.reading || has_work())
		pthread_cond_wait(&hb.progress, &hb.mu);
	*err = hb.err;
	hb.fd = -1;
	hb.sha = NULL;
	pthread_mutex_unlock(&hb.mu);
	return *err != 0 ? -1 : 0;
}

void
hb_abandon(void)
{
	pthread_mutex_lock(&hb.mu);
	hb.stop = 1;
	while (hb.reading)
		pthread_cond_wait(&hb.progress, &hb.mu);
	hb.fd = -1;
	hb.sha = NULL;
	pthread_mutex_unlock(&hb.mu);
}
