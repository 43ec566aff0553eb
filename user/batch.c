// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The copy plane's syscall batcher (batch.h). Small request/response
 * messages cost the copy plane one recv() and one send() each, and on a
 * loaded worker the syscall entries, not the copies, are most of its time.
 * Here the events of one epoll round queue their relays; right after the
 * round one io_uring_enter() issues every recv and a second every send of
 * what came, each into its own slot of PT_BATCH_BUF bytes, and then each
 * relay's callback sees what recv() and send() would have returned. A
 * round with a single relay makes a plain recv() and send(): two ring
 * entries cost a little more than those two calls (p50 and p99 of a lone
 * ping-pong were 5-25 us higher through the ring).
 *
 * Every operation carries MSG_DONTWAIT, which io_uring honours by failing
 * with -EAGAIN instead of waiting for readiness (REQ_F_NOWAIT), so each
 * completes inside the io_uring_enter() that submitted it and nothing is
 * in flight between rounds: a connection that closes or moves to another
 * plane has nothing of its own left in the kernel. The ring is set up for
 * one task (SINGLE_ISSUER, DEFER_TASKRUN) and keeps going past a failed
 * request (SUBMIT_ALL). If io_uring_enter() itself fails, the round is
 * done with plain recv() and send() and batching is off for good.
 *
 * The slots are one anonymous mapping between two inaccessible guard pages
 * (an overrun faults instead of reaching other memory; in /proc/PID/maps
 * the slots are one mapping of their own), in small pages (MADV_NOHUGEPAGE).
 * A burst of events (thousands of connections arriving at once) touches a
 * page in each slot it used: half a second after a round that used more
 * than PT_BATCH_KEEP slots, the pages of the slots past those are given
 * back (MADV_DONTNEED), so an idle worker keeps PT_BATCH_KEEP slots' worth
 * whatever its past bursts.
 */
#include <errno.h>
#include <limits.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "batch.h"
#include "log.h"
#include "loop.h"

/* A result not known yet. */
#define PT_BATCH_PENDING INT_MIN
/* Slots whose pages stay after a burst, and how long after it the rest go (ms). */
#define PT_BATCH_KEEP 16
#define PT_BATCH_TRIM_MS 500

struct pt_batch_op {
	void *ctx;		/* NULL once cancelled */
	pt_batch_fn done;
	int src, dst, dir;
	int got, sent;		/* recv() and send() results */
};

struct pt_batch {
	struct io_uring ring;
	struct pt_loop *loop;
	struct pt_task flush;
	struct pt_timer trim;	/* armed while slots past PT_BATCH_KEEP hold pages */
	unsigned int used;	/* most slots a round used since the last trim */
	struct pt_batch_op ops[PT_BATCH_OPS];
	unsigned int n;		/* queued this round */
	bool running;		/* in the callbacks */
	bool broken;		/* io_uring_enter() failed: plain syscalls from now on */
	uint8_t *bufs;		/* PT_BATCH_OPS slots of PT_BATCH_BUF bytes (map_slots()) */
};

#define PT_BATCH_LEN ((size_t)PT_BATCH_OPS * PT_BATCH_BUF)

/* The slots, between two PROT_NONE guard pages; NULL if they cannot be mapped. */
static uint8_t *map_slots(void)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	uint8_t *m = mmap(NULL, PT_BATCH_LEN + 2 * pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
			  -1, 0);

	if (m == MAP_FAILED)
		return NULL;
	if (mprotect(m + pg, PT_BATCH_LEN, PROT_READ | PROT_WRITE)) {
		munmap(m, PT_BATCH_LEN + 2 * pg);
		return NULL;
	}
	/* Small pages: a transparent huge page would make a read touch 2 MiB and
	 * outlive the trim (THP "always", Debian's kernels' default). */
	madvise(m + pg, PT_BATCH_LEN, MADV_NOHUGEPAGE);
	return m + pg;
}

static void unmap_slots(uint8_t *bufs)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);

	munmap(bufs - pg, PT_BATCH_LEN + 2 * pg);
}

static uint8_t *slot(struct pt_batch *b, unsigned int i)
{
	return b->bufs + (size_t)i * PT_BATCH_BUF;
}

/* What a plain recv() or send() returns, as io_uring reports it: bytes or -errno. */
static int plain(struct pt_batch *b, unsigned int i, bool send_phase)
{
	struct pt_batch_op *op = &b->ops[i];
	ssize_t n;

	do
		n = send_phase ? send(op->dst, slot(b, i), op->got, MSG_DONTWAIT | MSG_NOSIGNAL)
			       : recv(op->src, slot(b, i), PT_BATCH_BUF, MSG_DONTWAIT);
	while (n == -1 && errno == EINTR);
	return n >= 0 ? (int)n : -errno;
}

static bool wanted(const struct pt_batch_op *op, bool send_phase)
{
	return op->ctx && (!send_phase || op->got > 0);
}

static int *result(struct pt_batch_op *op, bool send_phase)
{
	return send_phase ? &op->sent : &op->got;
}

/* Store the result of each of the next @want completions. */
static int reap(struct pt_batch *b, unsigned int want, bool send_phase)
{
	struct io_uring_cqe *cqe;
	int err;

	while (want) {
		err = io_uring_wait_cqe(&b->ring, &cqe);
		if (err == -EINTR)
			continue;
		if (err)
			return err;
		if (cqe->user_data < PT_BATCH_OPS)
			*result(&b->ops[cqe->user_data], send_phase) = cqe->res;
		io_uring_cqe_seen(&b->ring, cqe);
		want--;
	}
	return 0;
}

/* Submit every live relay's recv (or send of what it read) at once; -errno if that failed. */
static int submit(struct pt_batch *b, bool send_phase, bool *lost)
{
	unsigned int queued = 0;
	int ret;

	for (unsigned int i = 0; i < b->n; i++) {
		struct pt_batch_op *op = &b->ops[i];
		struct io_uring_sqe *sqe;

		if (*result(op, send_phase) != PT_BATCH_PENDING)
			continue;
		sqe = io_uring_get_sqe(&b->ring);	/* the ring has PT_BATCH_OPS entries */
		if (send_phase)
			io_uring_prep_send(sqe, op->dst, slot(b, i), op->got,
					   MSG_DONTWAIT | MSG_NOSIGNAL);
		else
			io_uring_prep_recv(sqe, op->src, slot(b, i), PT_BATCH_BUF, MSG_DONTWAIT);
		io_uring_sqe_set_data64(sqe, i);
		queued++;
	}
	if (!queued)
		return 0;
	ret = io_uring_submit_and_wait(&b->ring, queued);
	if (ret < 0)
		return ret;	/* none taken */
	/* Taken in order; those not taken stay pending. */
	*lost = reap(b, ret, send_phase) != 0;
	return ret == (int)queued ? 0 : -EPROTO;	/* SUBMIT_ALL takes all or none */
}

/*
 * One phase for every live relay, through io_uring unless @plain_calls.
 * What io_uring did not take is done the plain way; a result lost in the
 * ring (it never is) resets the connection.
 */
static void run_phase(struct pt_batch *b, bool send_phase, bool plain_calls)
{
	bool lost = false;
	int err = 0;

	for (unsigned int i = 0; i < b->n; i++) {
		struct pt_batch_op *op = &b->ops[i];

		*result(op, send_phase) = wanted(op, send_phase) ? PT_BATCH_PENDING
				       : send_phase ? 0 : -EIO;
	}
	if (!b->broken && !plain_calls)
		err = submit(b, send_phase, &lost);
	if ((err || lost) && !b->broken) {
		pr_warn(MAIN, "io_uring: %s; the copy plane goes on with plain recv() and send()",
			strerror(err ? -err : EIO));
		b->broken = true;
	}
	for (unsigned int i = 0; i < b->n; i++) {
		int *res = result(&b->ops[i], send_phase);

		if (*res == PT_BATCH_PENDING)
			*res = lost ? -EIO : plain(b, i, send_phase);
	}
}

/* Give back the pages of the slots past PT_BATCH_KEEP that rounds touched. */
static void trim(struct pt_timer *t)
{
	struct pt_batch *b = container_of(t, struct pt_batch, trim);

	if (b->used > PT_BATCH_KEEP)
		madvise(slot(b, PT_BATCH_KEEP), (size_t)(b->used - PT_BATCH_KEEP) * PT_BATCH_BUF,
			MADV_DONTNEED);
	b->used = 0;
}

static void note_used(struct pt_batch *b)
{
	if (b->n <= PT_BATCH_KEEP)
		return;
	if (b->n > b->used)
		b->used = b->n;
	if (!pt_timer_armed(&b->trim))
		pt_timer_arm(b->loop, &b->trim, b->loop->now + PT_BATCH_TRIM_MS);
}

static void flush(struct pt_task *t)
{
	struct pt_batch *b = container_of(t, struct pt_batch, flush);
	/* One relay: a recv() and a send() cost less than two io_uring_enter()s. */
	bool alone = b->n < 2;

	run_phase(b, false, alone);
	run_phase(b, true, alone);
	b->running = true;
	for (unsigned int i = 0; i < b->n; i++) {
		struct pt_batch_op *op = &b->ops[i];

		if (!op->ctx)
			continue;
		op->done(op->ctx, op->dir, slot(b, i), op->got, op->sent);
	}
	b->running = false;
	note_used(b);
	b->n = 0;
}

bool pt_batch_relay(struct pt_batch *b, int src, int dst, void *ctx, int dir, pt_batch_fn done)
{
	if (!b || b->broken || b->running || b->n == PT_BATCH_OPS)
		return false;
	b->ops[b->n++] = (struct pt_batch_op){ .ctx = ctx, .done = done, .src = src, .dst = dst,
					       .dir = dir };
	pt_loop_after_events(b->loop, &b->flush);
	return true;
}

void pt_batch_cancel(struct pt_batch *b, const void *ctx)
{
	if (!b)
		return;
	for (unsigned int i = 0; i < b->n; i++)
		if (b->ops[i].ctx == ctx)
			b->ops[i].ctx = NULL;
}

/* A ring for one task, that goes on past a failed request; plainer on older kernels. */
static int ring_init(struct io_uring *ring)
{
	struct io_uring_params p = {
		.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER |
			 IORING_SETUP_DEFER_TASKRUN,
	};
	int err = io_uring_queue_init_params(PT_BATCH_OPS, ring, &p);

	if (err == -EINVAL) {
		memset(&p, 0, sizeof(p));
		p.flags = IORING_SETUP_SUBMIT_ALL;
		err = io_uring_queue_init_params(PT_BATCH_OPS, ring, &p);
	}
	return err;
}

struct pt_batch *pt_batch_new(struct pt_loop *l, int *err)
{
	struct pt_batch *b = calloc(1, sizeof(*b));

	*err = -ENOMEM;
	if (!b)
		return NULL;
	b->bufs = map_slots();
	if (!b->bufs)
		goto err_free;
	*err = ring_init(&b->ring);
	if (*err)
		goto err_unmap;
	b->loop = l;
	pt_task_init(&b->flush, flush);
	pt_timer_init(&b->trim, trim);
	return b;

err_unmap:
	unmap_slots(b->bufs);
err_free:
	free(b);
	return NULL;
}

void pt_batch_free(struct pt_batch *b)
{
	if (!b)
		return;
	pt_task_cancel(&b->flush);
	pt_timer_cancel(b->loop, &b->trim);
	io_uring_queue_exit(&b->ring);
	unmap_slots(b->bufs);
	free(b);
}
