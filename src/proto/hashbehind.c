#include "hashbehind.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

/* Bytes read back and hashed at a time. */
#define HB_CHUNK ((size_t)256 * 1024)

/* One file in the thread's hands. */
struct hb_slot {
	int fd; /* -1: the slot is free */
	EVP_MD_CTX *sha;
	uint64_t hashed; /* bytes of the file in sha */
	uint64_t avail;	 /* bytes that may be read */
	uint64_t order;	 /* when it was begun: the oldest is hashed first */
	int stop;	 /* abandoned */
	int err;	 /* errno of the read that failed */
	int reading;	 /* the thread uses fd and sha outside the lock */
};

/*
 * The state both threads share, under ${mu}.  The helper waits on
 * ${work}, and announces progress on ${progress} whenever it runs out of
 * work.  A slot the helper is reading is never handed back.
 */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t work;
	pthread_cond_t progress;
	int started; /* 1 running, -1 could not be started */
	int quit;    /* the process is exiting */
	pthread_t thread;
	uint64_t next_order;
	struct hb_slot slot[HB_SLOTS];
	uint8_t *buf;
} hb = {
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.work = PTHREAD_COND_INITIALIZER,
	.progress = PTHREAD_COND_INITIALIZER,
};

/* Has ${s} bytes the helper may hash now?  (Under mu.) */
static int
has_work(const struct hb_slot *s)
{
	return s->fd >= 0 && !s->stop && s->err == 0 && s->hashed < s->avail;
}

/* The oldest slot with work, or NULL.  (Under mu.) */
static struct hb_slot *
next_work(void)
{
	struct hb_slot *best = NULL;

	for (int i = 0; i < HB_SLOTS; i++)
		if (has_work(&hb.slot[i]) &&
		    (best == NULL || hb.slot[i].order < best->order))
			best = &hb.slot[i];
	return best;
}

static void *
hb_main(void *arg)
{
	struct hb_slot *s;
	uint64_t off;
	size_t want;
	ssize_t k;

	(void)arg;
	pthread_mutex_lock(&hb.mu);
	for (;;) {
		while ((s = next_work()) == NULL) {
			pthread_cond_broadcast(&hb.progress);
			if (hb.quit) {
				pthread_mutex_unlock(&hb.mu);
				return NULL;
			}
			pthread_cond_wait(&hb.work, &hb.mu);
		}
		off = s->hashed;
		want = s->avail - off < HB_CHUNK ? (size_t)(s->avail - off) :
						   HB_CHUNK;
		s->reading = 1;
		pthread_mutex_unlock(&hb.mu);
		do
			k = pread(s->fd, hb.buf, want, (off_t)off);
		while (k < 0 && errno == EINTR);
		if (k > 0)
			EVP_DigestUpdate(s->sha, hb.buf, (size_t)k);
		pthread_mutex_lock(&hb.mu);
		s->reading = 0;
		if (k > 0)
			s->hashed += (uint64_t)k;
		else
			s->err = k < 0 ? errno : EIO; /* ended before avail */
		if (!has_work(s)) /* caught up with it, or done */
			pthread_cond_broadcast(&hb.progress);
	}
	return NULL;
}

/*
 * At exit: the helper finishes its piece, ends and is joined, so that
 * nothing of it outlives the process's other memory.  Files still in its
 * hands are dropped (their callers are gone).
 */
static void
stop(void)
{
	pthread_mutex_lock(&hb.mu);
	hb.quit = 1;
	for (int i = 0; i < HB_SLOTS; i++)
		hb.slot[i].stop = 1;
	pthread_cond_signal(&hb.work);
	pthread_mutex_unlock(&hb.mu);
	pthread_join(hb.thread, NULL);
	free(hb.buf);
	hb.buf = NULL;
}

/* Start the helper once; 0 if it runs.  (Under mu.) */
static int
start(void)
{
	if (hb.started != 0)
		return hb.started > 0 ? 0 : -1;
	hb.started = -1;
	for (int i = 0; i < HB_SLOTS; i++)
		hb.slot[i].fd = -1;
	if ((hb.buf = malloc(HB_CHUNK)) == NULL)
		return -1;
	if (pthread_create(&hb.thread, NULL, hb_main, NULL) != 0) {
		free(hb.buf);
		hb.buf = NULL;
		return -1;
	}
	hb.started = 1;
	atexit(stop);
	return 0;
}

int
hb_begin(int fd, EVP_MD_CTX *sha, uint64_t hashed)
{
	struct hb_slot *s;
	int k = -1;

	pthread_mutex_lock(&hb.mu);
	if (start() == 0)
		for (int i = 0; i < HB_SLOTS && k < 0; i++)
			if (hb.slot[i].fd < 0)
				k = i;
	if (k >= 0) {
		s = &hb.slot[k];
		s->fd = fd;
		s->sha = sha;
		s->hashed = hashed;
		s->avail = hashed;
		s->order = hb.next_order++;
		s->stop = 0;
		s->err = 0;
		s->reading = 0;
	}
	pthread_mutex_unlock(&hb.mu);
	return k;
}

void
hb_written(int k, uint64_t end)
{
	pthread_mutex_lock(&hb.mu);
	hb.slot[k].avail = end;
	pthread_cond_signal(&hb.work);
	pthread_mutex_unlock(&hb.mu);
}

int
hb_done(int k)
{
	struct hb_slot *s = &hb.slot[k];
	int done;

	pthread_mutex_lock(&hb.mu);
	done = !s->reading && !has_work(s);
	pthread_mutex_unlock(&hb.mu);
	return done;
}

/* Hand slot ${s} back to the caller, free.  (Under mu.) */
static void
release(struct hb_slot *s)
{
	s->fd = -1;
	s->sha = NULL;
}

int
hb_end(int k, uint64_t end, int *err)
{
	struct hb_slot *s = &hb.slot[k];

	pthread_mutex_lock(&hb.mu);
	s->avail = end;
	pthread_cond_signal(&hb.work);
	while (s->reading || has_work(s))
		pthread_cond_wait(&hb.progress, &hb.mu);
	*err = s->err;
	release(s);
	pthread_mutex_unlock(&hb.mu);
	return *err != 0 ? -1 : 0;
}

void
hb_abandon(int k)
{
	struct hb_slot *s = &hb.slot[k];

	pthread_mutex_lock(&hb.mu);
	s->stop = 1;
	while (s->reading)
		pthread_cond_wait(&hb.progress, &hb.mu);
	release(s);
	pthread_mutex_unlock(&hb.mu);
}
