#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cb_err.h"
#include "frame.h"

/* Maximum payload per type, as a role's message table would say. */
static long
test_max(uint8_t type)
{
	switch (type) {
	case 1: return 100000;
	case 2: return 16;
	case 3: return FRAME_ABS_MAX;
	case 4: return LONG_MAX; /* FRAME_ABS_MAX must still apply */
	default: return -1;
	}
}

struct tframe {
	uint8_t type;
	size_t len;
};

/* The sequence every stream test sends. */
static const struct tframe seq[] = {
	{ 2, 0 },
	{ 2, 1 },
	{ 1, 100 },
	{ 1, 70000 },
	{ 3, 0 },
	{ 1, 1 },
};
#define NSEQ (sizeof(seq) / sizeof(seq[0]))

/* Same, plus a 1 MiB frame, for the pipe tests. */
static const struct tframe pipeseq[] = {
	{ 2, 0 },
	{ 2, 1 },
	{ 1, 100 },
	{ 1, 70000 },
	{ 3, 1u << 20 },
	{ 1, 100 },
	{ 3, 0 },
};
#define NPIPESEQ (sizeof(pipeseq) / sizeof(pipeseq[0]))

/* Deterministic payload byte ${i} of frame number ${f}. */
static uint8_t
pbyte(size_t f, size_t i)
{
	return (uint8_t)(i * 31 + f * 7 + (i >> 8));
}

static uint8_t *
make_payload(size_t f, size_t len)
{
	uint8_t *p = malloc(len > 0 ? len : 1);
	size_t i;

	if (p == NULL)
		return NULL;
	for (i = 0; i < len; i++)
		p[i] = pbyte(f, i);
	return p;
}

/* Queue frames ${tf}[0..n) on ${fo}; 0 or a CB_ERR_*. */
static int
queue_frames(struct frame_out *fo, const struct tframe *tf, size_t n)
{
	uint8_t *p;
	size_t f;
	int r;

	for (f = 0; f < n; f++) {
		if ((p = make_payload(f, tf[f].len)) == NULL)
			return CB_ERR_NOMEM;
		r = frame_put(fo, tf[f].type, p, tf[f].len);
		free(p);
		if (r != 0)
			return r;
	}
	return 0;
}

/* Check one received frame against frame number ${f} of ${tf}. */
static void
check_frame(const struct tframe *tf, size_t f, uint8_t type,
    const uint8_t *payload, size_t len)
{
	size_t i;

	assert_int_equal(type, tf[f].type);
	assert_int_equal(len, tf[f].len);
	assert_non_null(payload);
	for (i = 0; i < len; i++)
		if (payload[i] != pbyte(f, i))
			fail_msg("frame %zu byte %zu differs", f, i);
}

static void
test_put_encoding(void **state)
{
	struct frame_out fo;
	uint8_t big[8];

	(void)state;
	frame_out_init(&fo, -1);
	assert_int_equal(frame_out_pending(&fo), 0);
	assert_int_equal(frame_put(&fo, 7, "abc", 3), 0);
	assert_int_equal(frame_put(&fo, 0xff, NULL, 0), 0);
	assert_int_equal(frame_out_pending(&fo), 8 + 5);
	assert_memory_equal(fo.buf + fo.start,
	    "\x00\x00\x00\x03\x07"
	    "abc"
	    "\x00\x00\x00\x00\xff",
	    13);
	/* Too large is refused before the payload is read. */
	assert_int_equal(frame_put(&fo, 1, big, FRAME_ABS_MAX + 1),
	    CB_ERR_TOO_LARGE);
	assert_int_equal(frame_put(&fo, 1, big, SIZE_MAX), CB_ERR_TOO_LARGE);
	assert_int_equal(frame_out_pending(&fo), 13);
	frame_out_release(&fo);
	assert_null(fo.buf);
	assert_int_equal(frame_out_pending(&fo), 0);
}

/*
 * Feed the encoded sequence through frame_in_push in chunks of every size
 * in the sweep; each must yield the same frames.
 */
static void
test_push_chunk_sweep(void **state)
{
	static const size_t chunks[] = { 1, 2, 3, 7, 15, 100, 4096, SIZE_MAX };
	struct frame_out fo;
	struct frame_in fi;
	const uint8_t *stream, *payload;
	size_t total, c, off, n, f, len;
	uint8_t type;
	int r;

	(void)state;
	frame_out_init(&fo, -1);
	assert_int_equal(queue_frames(&fo, seq, NSEQ), 0);
	stream = fo.buf + fo.start;
	total = frame_out_pending(&fo);

	for (c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
		frame_in_init(&fi, -1, test_max);
		assert_int_equal(frame_in_push(&fi, NULL, 0), 0);
		f = 0;
		for (off = 0; off < total; off += n) {
			n = total - off < chunks[c] ? total - off : chunks[c];
			assert_int_equal(frame_in_push(&fi, stream + off, n),
			    0);
			while ((r = frame_in_next(&fi, &type, &payload,
				    &len)) == 0) {
				assert_true(f < NSEQ);
				check_frame(seq, f, type, payload, len);
				f++;
			}
			assert_int_equal(r, CB_ERR_TRUNCATED);
			assert_null(payload);
			assert_int_equal(len, 0);
			/* Never more than the largest frame plus one chunk. */
			assert_true(fi.cap <= FRAME_HDR_LEN + 70000 + n);
		}
		assert_int_equal(f, NSEQ);
		assert_int_equal(frame_in_buffered(&fi), 0);
		frame_in_release(&fi);
		assert_null(fi.buf);
	}
	frame_out_release(&fo);
}

/* Push a 5-byte header and expect ${want} from frame_in_next. */
static void
check_header_only(uint32_t len, uint8_t type, int want)
{
	struct frame_in fi;
	uint8_t hdr[FRAME_HDR_LEN], t = 1;
	const uint8_t *payload = hdr;
	size_t plen = 1, cap;

	hdr[0] = (uint8_t)(len >> 24);
	hdr[1] = (uint8_t)(len >> 16);
	hdr[2] = (uint8_t)(len >> 8);
	hdr[3] = (uint8_t)len;
	hdr[4] = type;
	frame_in_init(&fi, -1, test_max);
	/* Four bytes are not a header yet. */
	assert_int_equal(frame_in_push(&fi, hdr, 4), 0);
	assert_int_equal(frame_in_next(&fi, &t, &payload, &plen),
	    CB_ERR_TRUNCATED);
	assert_int_equal(frame_in_push(&fi, hdr + 4, 1), 0);
	cap = fi.cap;
	assert_int_equal(frame_in_next(&fi, &t, &payload, &plen), want);
	assert_int_equal(t, 0);
	assert_null(payload);
	assert_int_equal(plen, 0);
	/* Nothing consumed, nothing grown, and the answer is stable. */
	assert_int_equal(frame_in_buffered(&fi), FRAME_HDR_LEN);
	assert_int_equal(fi.cap, cap);
	assert_int_equal(frame_in_next(&fi, &t, &payload, &plen), want);
	assert_int_equal(frame_in_buffered(&fi), FRAME_HDR_LEN);
	frame_in_release(&fi);
}

static void
test_header_decides(void **state)
{
	(void)state;
	check_header_only(0, 99, CB_ERR_PROTO);
	check_header_only(0, 0, CB_ERR_PROTO);
	check_header_only(0xffffffffu, 99, CB_ERR_PROTO);
	check_header_only(17, 2, CB_ERR_TOO_LARGE);
	check_header_only(100001, 1, CB_ERR_TOO_LARGE);
	check_header_only(0xffffffffu, 1, CB_ERR_TOO_LARGE);
	check_header_only(FRAME_ABS_MAX + 1, 3, CB_ERR_TOO_LARGE);
	check_header_only(FRAME_ABS_MAX + 1, 4, CB_ERR_TOO_LARGE);
	check_header_only(0xffffffffu, 4, CB_ERR_TOO_LARGE);
	/* Valid headers: just waiting for the payload. */
	check_header_only(16, 2, CB_ERR_TRUNCATED);
	check_header_only(100000, 1, CB_ERR_TRUNCATED);
	check_header_only(FRAME_ABS_MAX, 4, CB_ERR_TRUNCATED);
}

static void
test_push_limit(void **state)
{
	struct frame_in fi;
	uint8_t *big;
	size_t lim = FRAME_ABS_MAX + FRAME_HDR_LEN;

	(void)state;
	big = calloc(1, lim + 1);
	assert_non_null(big);
	frame_in_init(&fi, -1, test_max);
	assert_int_equal(frame_in_push(&fi, big, lim + 1), CB_ERR_TOO_LARGE);
	assert_int_equal(frame_in_buffered(&fi), 0);
	assert_int_equal(frame_in_push(&fi, big, lim - 1), 0);
	assert_int_equal(frame_in_push(&fi, big, 2), CB_ERR_TOO_LARGE);
	assert_int_equal(frame_in_push(&fi, big, SIZE_MAX), CB_ERR_TOO_LARGE);
	assert_int_equal(frame_in_push(&fi, big, 1), 0);
	assert_int_equal(frame_in_buffered(&fi), lim);
	frame_in_release(&fi);
	free(big);
}

static void
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	assert_true(fl >= 0);
	assert_int_equal(fcntl(fd, F_SETFL, fl | O_NONBLOCK), 0);
}

/* Receive ${tf}[0..n) with frame_in_get, then clean EOF. */
static void
get_frames(struct frame_in *fi, const struct tframe *tf, size_t n)
{
	const uint8_t *payload;
	size_t f, len;
	uint8_t type;

	for (f = 0; f < n; f++) {
		assert_int_equal(frame_in_get(fi, &type, &payload, &len), 0);
		check_frame(tf, f, type, payload, len);
	}
	assert_int_equal(frame_in_get(fi, &type, &payload, &len), CB_ERR_EOF);
	assert_int_equal(frame_in_get(fi, &type, &payload, &len), CB_ERR_EOF);
}

/* Child side of the pipe tests: send the sequence and exit. */
static void
child_send(int fd, const struct tframe *tf, size_t n)
{
	struct frame_out fo;
	int ok;

	frame_out_init(&fo, fd);
	ok = queue_frames(&fo, tf, n) == 0 && frame_out_flush(&fo) == 0 &&
	    frame_out_pending(&fo) == 0;
	frame_out_release(&fo);
	_exit(ok ? 0 : 1);
}

static void
wait_child(pid_t pid)
{
	pid_t r;
	int status;

	while ((r = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
		;
	assert_int_equal(r, pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/*
 * A forked child writes the sequence (1 MiB frame included) with
 * frame_out_flush; the parent reads it with frame_in_get.  With
 * ${nonblock} both ends are non-blocking, so flush and get must poll.
 */
static void
pipe_fork(int nonblock)
{
	struct frame_in fi;
	int fds[2];
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	if (nonblock) {
		set_nonblock(fds[0]);
		set_nonblock(fds[1]);
	}
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		child_send(fds[1], pipeseq, NPIPESEQ);
	}
	close(fds[1]);
	frame_in_init(&fi, fds[0], test_max);
	get_frames(&fi, pipeseq, NPIPESEQ);
	/* The buffer never outgrew the largest frame. */
	assert_true(fi.cap <= FRAME_HDR_LEN + (1u << 20));
	frame_in_release(&fi);
	close(fds[0]);
	wait_child(pid);
}

static void
test_pipe_fork_blocking(void **state)
{
	(void)state;
	pipe_fork(0);
}

static void
test_pipe_fork_nonblocking(void **state)
{
	(void)state;
	pipe_fork(1);
}

/*
 * One process drives both ends of a non-blocking pipe with
 * frame_out_write_some and frame_in_fill / frame_in_next.
 */
static void
test_pipe_nonblocking_loop(void **state)
{
	struct frame_out fo;
	struct frame_in fi;
	const uint8_t *payload;
	size_t f = 0, len, pending;
	uint8_t type;
	long n;
	int fds[2], r, stalls = 0;

	(void)state;
	assert_int_equal(pipe(fds), 0);
	set_nonblock(fds[0]);
	set_nonblock(fds[1]);
	frame_out_init(&fo, fds[1]);
	frame_in_init(&fi, fds[0], test_max);

	/* Nothing to read yet: EAGAIN, reported as CB_ERR_SYS. */
	errno = 0;
	assert_int_equal(frame_in_fill(&fi), CB_ERR_SYS);
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
	assert_int_equal(fi.eof, 0);

	assert_int_equal(queue_frames(&fo, pipeseq, NPIPESEQ), 0);
	while (f < NPIPESEQ) {
		assert_int_equal(frame_out_write_some(&fo), 0);
		/* Fill the pipe completely once: EAGAIN is not an error. */
		if (stalls == 0 && (pending = frame_out_pending(&fo)) > 0) {
			assert_int_equal(frame_out_write_some(&fo), 0);
			assert_int_equal(frame_out_pending(&fo), pending);
			stalls++;
		}
		n = frame_in_fill(&fi);
		if (n < 0) {
			assert_int_equal(n, CB_ERR_SYS);
			assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
		}
		while ((r = frame_in_next(&fi, &type, &payload, &len)) == 0)
			check_frame(pipeseq, f++, type, payload, len);
		assert_int_equal(r, CB_ERR_TRUNCATED);
	}
	assert_int_equal(frame_out_pending(&fo), 0);
	assert_int_equal(frame_out_write_some(&fo), 0);
	close(fds[1]);
	assert_int_equal(frame_in_fill(&fi), 0);
	assert_int_equal(fi.eof, 1);
	assert_int_equal(frame_in_get(&fi, &type, &payload, &len), CB_ERR_EOF);
	frame_out_release(&fo);
	frame_in_release(&fi);
	close(fds[0]);
}

/*
 * Send ${n} raw bytes through a pipe and frame_in_get from it: first the
 * ${nf} frames of ${tf}, then return the next status.
 */
static int
get_after_raw(const void *p, size_t n, const struct tframe *tf, size_t nf)
{
	struct frame_in fi;
	const uint8_t *payload;
	size_t f, len;
	uint8_t type;
	int fds[2], r;
	pid_t pid;

	/* A child writes, so that more than a pipe's capacity is fine. */
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		_exit(n == 0 || write(fds[1], p, n) == (ssize_t)n ? 0 : 1);
	}
	close(fds[1]);
	frame_in_init(&fi, fds[0], test_max);
	for (f = 0; f < nf; f++) {
		assert_int_equal(frame_in_get(&fi, &type, &payload, &len), 0);
		check_frame(tf, f, type, payload, len);
	}
	r = frame_in_get(&fi, &type, &payload, &len);
	if (r != 0) {
		assert_null(payload);
		assert_int_equal(len, 0);
		/* Sticky: asking again gives the same answer. */
		assert_int_equal(frame_in_get(&fi, &type, &payload, &len), r);
	}
	/*
	 * Growth follows the bytes that arrived, whatever length the
	 * header claimed.
	 */
	assert_true(fi.cap <= 64 * 1024 || fi.cap <= 4 * n);
	frame_in_release(&fi);
	close(fds[0]);
	wait_child(pid);
	return r;
}

static void
test_eof(void **state)
{
	static const struct tframe two[] = { { 1, 100 }, { 2, 3 } };
	struct frame_out fo;
	uint8_t *big;
	size_t total;

	(void)state;
	/* Empty stream: clean EOF. */
	assert_int_equal(get_after_raw(NULL, 0, NULL, 0), CB_ERR_EOF);

	frame_out_init(&fo, -1);
	assert_int_equal(queue_frames(&fo, two, 2), 0);
	total = frame_out_pending(&fo);
	/* Whole frames then EOF: clean. */
	assert_int_equal(get_after_raw(fo.buf, total, two, 2), CB_ERR_EOF);
	/* EOF inside the second frame's payload, and inside its header. */
	assert_int_equal(get_after_raw(fo.buf, total - 1, two, 1),
	    CB_ERR_TRUNCATED);
	assert_int_equal(get_after_raw(fo.buf, 105 + 3, two, 1),
	    CB_ERR_TRUNCATED);
	assert_int_equal(get_after_raw(fo.buf, 105 + 5, two, 1),
	    CB_ERR_TRUNCATED);
	assert_int_equal(get_after_raw(fo.buf, 1, two, 0), CB_ERR_TRUNCATED);
	frame_out_release(&fo);

	/* A header claiming 4 MiB, then EOF: truncated, nothing allocated. */
	assert_int_equal(get_after_raw("\x00\x40\x00\x00\x03", 5, NULL, 0),
	    CB_ERR_TRUNCATED);
	/* The same with 100 kB of its payload: the buffer grew with them. */
	big = calloc(1, 100005);
	assert_non_null(big);
	memcpy(big, "\x00\x40\x00\x00\x03", 5);
	assert_int_equal(get_after_raw(big, 100005, NULL, 0), CB_ERR_TRUNCATED);
	free(big);
	/* Bad headers are reported by frame_in_get too. */
	assert_int_equal(get_after_raw("\xff\xff\xff\xff\x01xyz", 8, NULL, 0),
	    CB_ERR_TOO_LARGE);
	assert_int_equal(get_after_raw("\x00\x00\x00\x00\x63", 5, NULL, 0),
	    CB_ERR_PROTO);
}

/* A bad header is reported without waiting for EOF or more bytes. */
static void
test_get_header_decides_open_pipe(void **state)
{
	struct frame_in fi;
	const uint8_t *payload;
	uint8_t type;
	size_t len;
	int fds[2];

	(void)state;
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(write(fds[1], "\x00\x00\x00\x11\x02", 5), 5);
	frame_in_init(&fi, fds[0], test_max);
	assert_int_equal(frame_in_get(&fi, &type, &payload, &len),
	    CB_ERR_TOO_LARGE);
	assert_int_equal(frame_in_buffered(&fi), FRAME_HDR_LEN);
	frame_in_release(&fi);
	close(fds[0]);
	close(fds[1]);
}

static volatile sig_atomic_t alarms;

static void
on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

/*
 * Signals without SA_RESTART interrupt blocking read(2) and write(2):
 * frame_in_get and frame_out_flush must retry.
 */
static void
test_eintr(void **state)
{
	struct sigaction sa, osa;
	struct itimerval it, oit;
	struct frame_out fo;
	struct frame_in fi;
	int fds[2];
	pid_t pid;

	(void)state;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART */
	assert_int_equal(sigaction(SIGALRM, &sa, &osa), 0);
	memset(&it, 0, sizeof(it));
	it.it_interval.tv_usec = 10000;
	it.it_value.tv_usec = 10000;

	/* Reader blocked while the child waits before sending. */
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		usleep(200000);
		child_send(fds[1], pipeseq, NPIPESEQ);
	}
	close(fds[1]);
	alarms = 0;
	assert_int_equal(setitimer(ITIMER_REAL, &it, &oit), 0);
	frame_in_init(&fi, fds[0], test_max);
	get_frames(&fi, pipeseq, NPIPESEQ);
	frame_in_release(&fi);
	close(fds[0]);
	wait_child(pid);
	assert_true(alarms > 0);

	/* Writer blocked on a full pipe while the child waits to read. */
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		const uint8_t *payload;
		size_t f, len;
		uint8_t type;

		close(fds[1]);
		usleep(200000);
		frame_in_init(&fi, fds[0], test_max);
		for (f = 0; f < NPIPESEQ; f++)
			if (frame_in_get(&fi, &type, &payload, &len) != 0 ||
			    type != pipeseq[f].type || len != pipeseq[f].len)
				_exit(1);
		_exit(frame_in_get(&fi, &type, &payload, &len) == CB_ERR_EOF ?
			0 :
			1);
	}
	close(fds[0]);
	alarms = 0;
	frame_out_init(&fo, fds[1]);
	assert_int_equal(queue_frames(&fo, pipeseq, NPIPESEQ), 0);
	assert_int_equal(frame_out_flush(&fo), 0);
	assert_int_equal(frame_out_pending(&fo), 0);
	frame_out_release(&fo);
	close(fds[1]);
	wait_child(pid);
	assert_true(alarms > 0);

	memset(&it, 0, sizeof(it));
	assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
	/* A tick already sent (late under valgrind) is discarded here, not
	 * delivered to the default action, which ends the process. */
	sa.sa_handler = SIG_IGN;
	assert_int_equal(sigaction(SIGALRM, &sa, NULL), 0);
	assert_int_equal(sigaction(SIGALRM, &osa, NULL), 0);
}

/*
 * Many frames through a one-page non-blocking pipe, queued in bursts
 * larger than the pipe so that writes are partial and later puts must
 * compact the output buffer: it is reused and stays small.
 */
static void
test_out_buffer_bounded(void **state)
{
	struct frame_out fo;
	struct frame_in fi;
	const uint8_t *payload;
	uint8_t buf[8192], type;
	uint8_t *p;
	size_t sent = 0, got = 0, len, maxcap = 0, maxpend = 0, k, partial = 0;
	ssize_t n;
	int fds[2], r, iter, small;

	(void)state;
	assert_int_equal(pipe(fds), 0);
	small = fcntl(fds[1], F_SETPIPE_SZ, 4096) == 4096;
	set_nonblock(fds[0]);
	set_nonblock(fds[1]);
	frame_out_init(&fo, fds[1]);
	frame_in_init(&fi, -1, test_max);
	p = make_payload(0, 1000);
	assert_non_null(p);

	for (iter = 0; iter < 3000 || got < sent; iter++) {
		/*
		 * Five frames in two rounds out of three: 3.3 KB per round on
		 * average, so the writer keeps up, but a burst overflows the
		 * pipe and the next one is queued behind the remainder.
		 */
		for (k = 0; k < 5 && iter < 3000 && iter % 3 != 2; k++) {
			memcpy(p, &sent, sizeof(sent));
			assert_int_equal(frame_put(&fo, 1, p, 1000), 0);
			sent++;
		}
		if (fo.cap > maxcap)
			maxcap = fo.cap;
		if (frame_out_pending(&fo) > maxpend)
			maxpend = frame_out_pending(&fo);
		assert_int_equal(frame_out_write_some(&fo), 0);
		if (fo.start > 0)
			partial++;
		n = read(fds[0], buf, sizeof(buf));
		if (n < 0)
			assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
		else
			assert_int_equal(frame_in_push(&fi, buf, (size_t)n), 0);
		while ((r = frame_in_next(&fi, &type, &payload, &len)) == 0) {
			assert_int_equal(len, 1000);
			assert_memory_equal(payload, &got, sizeof(got));
			assert_memory_equal(payload + sizeof(got),
			    p + sizeof(got), 1000 - sizeof(got));
			got++;
		}
		assert_int_equal(r, CB_ERR_TRUNCATED);
	}
	assert_int_equal(got, 10000);
	assert_int_equal(frame_out_pending(&fo), 0);
	if (small)
		assert_true(partial > 0);
	/*
	 * 10 MB went through; space of written bytes was reused, so the
	 * buffer never exceeded twice what was pending at once.
	 */
	assert_true(maxcap <= 2 * maxpend);
	free(p);
	frame_out_release(&fo);
	frame_in_release(&fi);
	close(fds[0]);
	close(fds[1]);
}

/*
 * frame_in_fill does not grow the buffer for bytes beyond complete frames
 * nobody has consumed: it reports ENOBUFS instead.
 */
static void
test_fill_no_growth_for_unconsumed(void **state)
{
	struct frame_out fo;
	struct frame_in fi;
	const uint8_t *payload;
	uint8_t *p, type;
	size_t cap, len;
	int fds[2], f;

	(void)state;
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(write(fds[1], "\x00\x00\x00\x01\x02z", 6), 6);
	/* Seventeen complete 4 KiB frames: more than the 64 KiB read size. */
	frame_out_init(&fo, -1);
	p = make_payload(0, 4096 - FRAME_HDR_LEN);
	assert_non_null(p);
	for (f = 0; f < 17; f++)
		assert_int_equal(frame_put(&fo, 1, p, 4096 - FRAME_HDR_LEN), 0);
	frame_in_init(&fi, fds[0], test_max);
	assert_int_equal(frame_in_push(&fi, fo.buf, frame_out_pending(&fo)), 0);
	cap = fi.cap;
	errno = 0;
	assert_int_equal(frame_in_fill(&fi), CB_ERR_SYS);
	assert_int_equal(errno, ENOBUFS);
	assert_int_equal(fi.cap, cap);
	/* Consuming one frame makes room again, without growing. */
	assert_int_equal(frame_in_next(&fi, &type, &payload, &len), 0);
	assert_int_equal(len, 4096 - FRAME_HDR_LEN);
	assert_int_equal(frame_in_fill(&fi), 6);
	assert_int_equal(fi.cap, cap);
	for (f = 1; f < 17; f++)
		assert_int_equal(frame_in_next(&fi, &type, &payload, &len), 0);
	assert_int_equal(frame_in_next(&fi, &type, &payload, &len), 0);
	assert_int_equal(type, 2);
	assert_int_equal(len, 1);
	assert_memory_equal(payload, "z", 1);
	assert_int_equal(frame_in_buffered(&fi), 0);
	free(p);
	frame_out_release(&fo);
	frame_in_release(&fi);
	close(fds[0]);
	close(fds[1]);
}

/* ---- frame_out_sendfile ------------------------------------------------ */

#define SF_SIZE	 (1u << 20)
#define SF_TAIL	 1000u
#define SF_PAST	 5000u
#define SF_SHORT 100u

/* A file of SF_SIZE random bytes (unlinked), and its content in *data. */
static int
sf_file(uint8_t **data)
{
	char path[] = "/tmp/test_frame.XXXXXX";
	int fd = mkstemp(path);
	uint8_t *p = malloc(SF_SIZE);

	assert_true(fd >= 0);
	assert_non_null(p);
	unlink(path);
	srandom(7);
	for (size_t i = 0; i < SF_SIZE; i++)
		p[i] = (uint8_t)random();
	assert_int_equal(write(fd, p, SF_SIZE), SF_SIZE);
	*data = p;
	return fd;
}

/*
 * Child: a queued frame, a frame sent from the middle of the file, one
 * that runs past its end (the file "shrank"), one from a descriptor that
 * cannot be read, and a last queued frame.  Exit status 0 if every
 * report was right.
 */
static void
sf_child(int out, int fd)
{
	struct frame_out fo;
	static const uint8_t last[3] = { 'e', 'n', 'd' };
	int wfd = open("/dev/null", O_WRONLY), ferr, ok;
	size_t got;

	frame_out_init(&fo, out);
	ok = frame_put(&fo, 1, "abc", 3) == 0;
	ok = ok &&
	    frame_out_sendfile(&fo, 3, fd, 1000, SF_SIZE - 2000, &got, &ferr) ==
		0 &&
	    got == SF_SIZE - 2000 && ferr == 0;
	ok = ok &&
	    frame_out_sendfile(&fo, 3, fd, SF_SIZE - SF_TAIL, SF_PAST, &got,
		&ferr) == 0 &&
	    got == SF_TAIL && ferr == 0;
	ok = ok &&
	    frame_out_sendfile(&fo, 3, wfd, 0, SF_SHORT, &got, &ferr) == 0 &&
	    got == 0 && ferr == EBADF;
	ok = ok && frame_put(&fo, 1, last, 3) == 0 && frame_out_flush(&fo) == 0;
	frame_out_release(&fo);
	_exit(ok ? 0 : 1);
}

static void
sendfile_over(int sock, int nonblock)
{
	static const uint8_t zeros[SF_PAST];
	struct frame_in fi;
	const uint8_t *payload;
	uint8_t *data, type;
	size_t len;
	int fds[2], fd = sf_file(&data);
	pid_t pid;

	if (sock)
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	else
		assert_int_equal(pipe(fds), 0);
	if (nonblock)
		set_nonblock(sock ? fds[0] : fds[1]);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(sock ? fds[1] : fds[0]);
		sf_child(sock ? fds[0] : fds[1], fd);
	}
	close(sock ? fds[0] : fds[1]);
	frame_in_init(&fi, sock ? fds[1] : fds[0], test_max);
	assert_int_equal(frame_in_get(&fi, &type, &payload, &len), 0);
	assert_int_equal(type, 1);
	assert_memory_equal(payload, "abc", 3);
	assert_int_equal(frame_in_get(&fi, &type, &payload, &len), 0);
	assert_int_equal(type, 3);
	assert_int_equal(len, SF_SIZE - 2000);
	assert_memory_equal(payload, data + 1000, len);
	/* Past the end: the file's bytes, then zeros; the frame is whole. */
	assert_int_equal(frame_in_get(&fi, &type, &payload, &len), 0);
	assert_int_equal(type, 3);
	assert_int_equal(len, SF_PAST);
	assert_memory_equal(payload, data + SF_SIZE - SF_TAIL, SF_TAIL);
	assert_memory_equal(payload + SF_TAIL, zeros, SF_PAST - SF_TAIL);
	assert_int_equal(frame_in_get(&fi, &type, &payload, &len), 0);
	assert_int_equal(type, 3);
	assert_int_equal(len, SF_SHORT);
	assert_memory_equal(payload, zeros, SF_SHORT);
	assert_int_equal(frame_in_get(&fi, &type, &payload, &len), 0);
	assert_int_equal(type, 1);
	assert_int_equal(len, 3);
	assert_memory_equal(payload, "end", 3);
	assert_int_equal(frame_in_get(&fi, &type, &payload, &len), CB_ERR_EOF);
	frame_in_release(&fi);
	close(sock ? fds[1] : fds[0]);
	close(fd);
	free(data);
	wait_child(pid);
}

static void
test_sendfile_pipe(void **state)
{
	(void)state;
	sendfile_over(0, 0);
}

static void
test_sendfile_socket_nonblocking(void **state)
{
	(void)state;
	sendfile_over(1, 1);
}

/* A stream that is gone is the stream's failure, not the file's. */
static void
test_sendfile_stream_gone(void **state)
{
	struct frame_out fo;
	uint8_t *data;
	int fds[2], fd = sf_file(&data), ferr;
	size_t got;

	(void)state;
	assert_int_equal(pipe(fds), 0);
	close(fds[0]);
	frame_out_init(&fo, fds[1]);
	errno = 0;
	assert_int_equal(frame_out_sendfile(&fo, 3, fd, 0, SF_SIZE / 2, &got,
			     &ferr),
	    CB_ERR_SYS);
	assert_int_equal(errno, EPIPE);
	frame_out_release(&fo);
	close(fds[1]);
	close(fd);
	free(data);
}

/*
 * sendfile into a pipe or unix socket lends the file's pages: the bytes
 * are copied when the receiver reads them.  The receiver here reads only
 * after 300 ms; the sender settles, then overwrites the file.  What the
 * receiver gets must be what the file held when it was sent.  (Without
 * frame_out_settle it gets the overwritten bytes.)
 */
#define LEND_SIZE (128u << 10)

static void
settled_over(int sock)
{
	struct frame_out fo;
	uint8_t *data, *other;
	int fds[2], fd = sf_file(&data), ferr, size = 1 << 20, st;
	size_t got;
	pid_t pid;

	if (sock) {
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
		(void)setsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &size,
		    sizeof(size));
	} else {
		assert_int_equal(pipe(fds), 0);
		(void)fcntl(fds[1], F_SETPIPE_SZ, size);
	}
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct frame_in fi;
		const uint8_t *payload;
		uint8_t type;
		size_t len;

		close(fds[1]);
		usleep(300000);
		frame_in_init(&fi, fds[0], test_max);
		_exit(frame_in_get(&fi, &type, &payload, &len) == 0 &&
			    len == LEND_SIZE &&
			    memcmp(payload, data, LEND_SIZE) == 0 ?
			0 :
			1);
	}
	close(fds[0]);
	frame_out_init(&fo, fds[1]);
	fo.settles = 1;
	assert_int_equal(frame_out_sendfile(&fo, 3, fd, 0, LEND_SIZE, &got,
			     &ferr),
	    0);
	assert_int_equal(got, LEND_SIZE);
	frame_out_settle(&fo);
	other = malloc(LEND_SIZE);
	assert_non_null(other);
	memset(other, 0x5a, LEND_SIZE);
	assert_int_equal(pwrite(fd, other, LEND_SIZE, 0), LEND_SIZE);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	frame_out_release(&fo);
	close(fds[1]);
	close(fd);
	free(other);
	free(data);
}

static void
test_settle_pipe(void **state)
{
	(void)state;
	settled_over(0);
}

static void
test_settle_socket(void **state)
{
	(void)state;
	settled_over(1);
}

/* A receiver that is gone never takes what the pipe holds: no waiting
 * for it; nor for one that is there, unless the sender settles (alarm: a
 * test that hangs fails). */
static void
test_settle_receiver_gone(void **state)
{
	struct frame_out fo;
	uint8_t *data;
	int fds[2], fd = sf_file(&data), ferr, sock;
	size_t got;

	(void)state;
	for (sock = 0; sock < 2; sock++) {
		if (sock)
			assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0,
					     fds),
			    0);
		else
			assert_int_equal(pipe(fds), 0);
		frame_out_init(&fo, fds[1]);
		assert_int_equal(frame_out_sendfile(&fo, 3, fd, 0, 4096 * 4,
				     &got, &ferr),
		    0);
		/* Not asked to settle (the writer in a restore): no wait,
		 * though the receiver is there and reads nothing. */
		alarm(10);
		frame_out_settle(&fo);
		alarm(0);
		assert_int_equal(frame_out_sendfile(&fo, 3, fd, 0, 4096 * 4,
				     &got, &ferr),
		    0);
		fo.settles = 1;
		close(fds[0]);
		alarm(10);
		frame_out_settle(&fo);
		alarm(0);
		frame_out_release(&fo);
		close(fds[1]);
	}
	close(fd);
	free(data);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_encoding),
		cmocka_unit_test(test_push_chunk_sweep),
		cmocka_unit_test(test_header_decides),
		cmocka_unit_test(test_push_limit),
		cmocka_unit_test(test_pipe_fork_blocking),
		cmocka_unit_test(test_pipe_fork_nonblocking),
		cmocka_unit_test(test_pipe_nonblocking_loop),
		cmocka_unit_test(test_eof),
		cmocka_unit_test(test_get_header_decides_open_pipe),
		cmocka_unit_test(test_eintr),
		cmocka_unit_test(test_out_buffer_bounded),
		cmocka_unit_test(test_fill_no_growth_for_unconsumed),
		cmocka_unit_test(test_sendfile_pipe),
		cmocka_unit_test(test_sendfile_socket_nonblocking),
		cmocka_unit_test(test_sendfile_stream_gone),
		cmocka_unit_test(test_settle_pipe),
		cmocka_unit_test(test_settle_socket),
		cmocka_unit_test(test_settle_receiver_gone),
	};

	/* A reader that dies must fail a test, not kill the runner. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
