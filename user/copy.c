// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The copy data plane: recv() and send() straight on. For request/response
 * traffic, where a message is a few hundred bytes, that is the least work
 * there is: no pipe, no kernel worker, nothing held per connection; and
 * the calls of a whole round of events go to the kernel together (below).
 *
 * Both sockets are watched edge-triggered for IN and RDHUP as detection and
 * connect left them (no epoll_ctl() at the handoff); OUT is added to a side
 * the first time a write to it is stuck. Each event moves only the direction
 * it concerns: readable on a side reads that side, writable on a side
 * flushes what waits for it. A short read means the
 * socket was drained (edge-triggered epoll reports every later arrival), so
 * no recv() is made only to see EAGAIN; after RDHUP, a resume or a flush the
 * plane reads until EAGAIN, since a FIN may wait behind the data.
 *
 * Backpressure: bytes a full peer did not take are kept in a buffer of that
 * direction, allocated only while stuck, and its source is not read until
 * they are gone, so the sender's TCP window closes and memory stays bounded
 * by one read per direction.
 *
 * Half-close as in splice.c: EOF with nothing pending shuts the peer's
 * write side; the connection ends when both directions have done so. The
 * callbacks return the end reason; conn.c closes the connection.
 *
 * Batching: a plain readable edge on a connection of this plane (or of one
 * built on it that asks to be told, local) queues its direction's recv()
 * and send() with the worker's batcher
 * (batch.c), which issues those of every connection of the round in two
 * io_uring_enter() calls; batched() then does what pump() does after the
 * first read. While a direction is queued nothing else reads its source or
 * writes its peer (pump() waits for it), and it is not a candidate for a
 * move. Without io_uring ("io_uring": false, or the kernel refuses it) each
 * event does its own recv() and send().
 *
 * Bulk: a direction that finds at least bulk_turn_bytes per turn, bulk_turns
 * turns in a row, sets c->bulk while nothing is pending, no FIN was seen and
 * the last read of each source emptied its queue (no skb half read: see
 * is_bulk()); conn.c may then move the connection to the bulk plane.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "batch.h"
#include "conn.h"
#include "log.h"
#include "pairs.h"
#include "relay.h"
#include "worker.h"

static struct pt_copy_dir *cdir(struct pt_conn *c, int d)
{
	return &c->dps.copy.dir[d];
}

/*
 * Send what waits in direction @d. PT_END_NONE when it is all gone or the
 * peer is full (then cd->buf still holds the rest), else a reset.
 */
static enum pt_end flush(struct pt_conn *c, int d)
{
	struct pt_copy_dir *cd = cdir(c, d);
	int dst = pt_side_fd(c, pt_dst_side(d));
	ssize_t n;

	while (cd->off < cd->len) {
		n = send(dst, cd->buf + cd->off, cd->len - cd->off, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			cd->off += n;
			c->bytes[d] += n;
		} else if (n == -1 && errno == EINTR) {
			continue;
		} else if (n == -1 && errno != EAGAIN) {
			return pt_reset_of(pt_dst_side(d));
		} else {
			return PT_END_NONE;
		}
	}
	free(cd->buf);
	cd->buf = NULL;
	cd->off = cd->len = 0;
	return PT_END_NONE;
}

/* Keep the @n bytes at @p the peer did not take; 0 or -ENOMEM. */
static int stash(struct pt_copy_dir *cd, const uint8_t *p, size_t n)
{
	cd->buf = malloc(n);
	if (!cd->buf)
		return -ENOMEM;
	memcpy(cd->buf, p, n);
	cd->off = 0;
	cd->len = n;
	return 0;
}

/* Count a turn that read @got bytes towards the bulk sign. */
static void note_turn(struct pt_conn *c, int d, size_t got)
{
	struct pt_copy_dir *cd = cdir(c, d);
	unsigned int big = c->lcfg->bulk_turn_bytes;

	if (!big || !got)
		return;
	if (got < big)
		cd->big_turns = 0;
	else if (cd->big_turns < UINT16_MAX)
		cd->big_turns++;
}

/*
 * The send of the @n bytes at @p for direction @d returned @w (bytes or
 * -errno): count what went, stash what the peer did not take.
 */
static enum pt_end sent(struct pt_conn *c, int d, const uint8_t *p, size_t n, ssize_t w)
{
	if (w < 0 && w != -EAGAIN && w != -EINTR)
		return pt_reset_of(pt_dst_side(d));
	if (w < 0)
		w = 0;
	c->bytes[d] += w;
	if ((size_t)w == n)
		return PT_END_NONE;
	if (stash(cdir(c, d), p + w, n - w))
		return PT_END_ERROR;
	/* Stuck: from now on the peer's side wakes us when it takes bytes again. */
	if (pt_loop_watch(&c->w->loop, pt_dst_side(d) == PT_SIDE_CLIENT ? &c->cli : &c->up,
			  PT_RELAY_EVENTS_OUT))
		return PT_END_ERROR;
	return PT_END_NONE;
}

/* Send @n bytes just read for direction @d; what the peer did not take is stashed. */
static enum pt_end send_on(struct pt_conn *c, int d, const uint8_t *p, size_t n)
{
	int dst = pt_side_fd(c, pt_dst_side(d));
	ssize_t w;

	do
		w = send(dst, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (w == -1 && errno == EINTR);
	return sent(c, d, p, n, w == -1 ? -errno : w);
}

/*
 * Read direction @d's source and send on until it is drained, the peer is
 * full or the budget is spent (*more). With @drain, read until EAGAIN even
 * after a short read. @got bytes of this turn were read already (batched()).
 * Returns PT_END_NONE or how the connection ended.
 */
static enum pt_end pump_on(struct pt_conn *c, int d, bool drain, bool *more, size_t got)
{
	struct pt_copy_dir *cd = cdir(c, d);
	int src = pt_side_fd(c, pt_src_side(d));
	uint8_t *buf = c->w->window;
	enum pt_end end = PT_END_NONE;
	ssize_t n;

	while (!cd->eof && !cd->buf && !cd->queued && end == PT_END_NONE) {
		if (got >= PT_RELAY_BUDGET) {
			*more = true;
			break;
		}
		n = recv(src, buf, PT_SCRATCH_SIZE, MSG_DONTWAIT);
		cd->drained = n >= 0 && (size_t)n < PT_SCRATCH_SIZE;
		if (n == 0) {
			cd->eof = true;
		} else if (n > 0) {
			got += n;
			end = send_on(c, d, buf, n);
			if (cd->drained && !drain)
				break;
		} else if (errno == EAGAIN) {
			cd->drained = true;
			break;
		} else if (errno != EINTR) {
			end = pt_reset_of(pt_src_side(d));
		}
	}
	note_turn(c, d, got);
	return end;
}

static enum pt_end pump(struct pt_conn *c, int d, bool drain, bool *more)
{
	return pump_on(c, d, drain, more, 0);
}

/*
 * Direction @d's source said EOF and everything reached the peer: pass the
 * FIN on. If the other direction's FIN is already passed, the pair ends
 * done now and the close() of its sockets sends this one (the socket's
 * queue is read to its EOF: no RST), one syscall fewer per connection.
 */
static void finish(struct pt_conn *c, int d)
{
	struct pt_copy_dir *cd = cdir(c, d);

	if (cd->eof && !cd->buf && !cd->shut) {
		if (!cdir(c, !d)->shut)
			shutdown(pt_side_fd(c, pt_dst_side(d)), SHUT_WR);
		cd->shut = true;
	}
}

/*
 * Nothing pending, no FIN yet, both sources read to the end of their queue,
 * and a direction that keeps finding bulk. The kernel's sockmap verdict
 * reads whole skbs (tcp_read_skb): one we had read part of would be
 * redirected again from its start, so a move waits for empty queues.
 */
static bool is_bulk(struct pt_conn *c)
{
	bool big = false;

	for (int d = 0; d < 2; d++) {
		struct pt_copy_dir *cd = cdir(c, d);

		if (cd->buf || cd->eof || !cd->drained || cd->queued)
			return false;
		big |= c->lcfg->bulk_turns && cd->big_turns >= c->lcfg->bulk_turns;
	}
	return big;
}

/* After a turn: FINs, progress for passthru-ctl, the end, a yield. */
static enum pt_end settle(struct pt_conn *c, uint64_t before, bool more)
{
	struct pt_copy_dir *up = cdir(c, PT_DIR_UP), *down = cdir(c, PT_DIR_DOWN);

	finish(c, PT_DIR_UP);
	finish(c, PT_DIR_DOWN);
	if (c->bytes[0] + c->bytes[1] != before || up->shut || down->shut) {
		c->t_last = c->w->loop.now;
		pt_relay_publish(c, up->shut || down->shut);
	}
	if (up->shut && down->shut)
		return PT_END_DONE;
	if (more)
		pt_loop_defer(&c->w->loop, &c->more);
	c->bulk = is_bulk(c);
	return PT_END_NONE;
}

/*
 * The batcher's outcome for direction @d of @ctx (batch.h): the read and
 * its send handled as pump() would have, then the rest of the turn.
 */
static void batched(void *ctx, int d, const uint8_t *buf, int got, int w)
{
	struct pt_conn *c = ctx;
	struct pt_copy_dir *cd = cdir(c, d);
	uint64_t before = c->bytes[0] + c->bytes[1];
	enum pt_end end = PT_END_NONE;
	bool more = false;

	cd->queued = false;
	cd->drained = got == -EAGAIN || (got >= 0 && got < PT_BATCH_BUF);
	if (got == 0)
		cd->eof = true;
	else if (got > 0)
		end = sent(c, d, buf, got, w);
	else if (got != -EAGAIN && got != -EINTR)
		end = pt_reset_of(pt_src_side(d));
	if (end == PT_END_NONE && !cd->drained)
		end = pump_on(c, d, false, &more, got > 0 ? got : 0);
	else
		note_turn(c, d, got > 0 ? got : 0);
	if (end == PT_END_NONE)
		end = settle(c, before, more);
	if (c->dp->after_batch)
		c->dp->after_batch(c);
	c->w->relay_done(c, end);
}

/* Hand direction @d's next read and send to the batcher; false: do them now. */
static bool queue(struct pt_conn *c, int d)
{
	struct pt_copy_dir *cd = cdir(c, d);

	if ((c->dp != &pt_dp_copy && !c->dp->after_batch) || cd->eof || cd->buf || cd->queued ||
	    !pt_batch_relay(c->w->batch, pt_side_fd(c, pt_src_side(d)),
			    pt_side_fd(c, pt_dst_side(d)), c, d, batched))
		return false;
	cd->queued = true;
	return true;
}

/* Both directions: flush what waits, then read until EAGAIN. */
static enum pt_end copy_resume(struct pt_conn *c)
{
	uint64_t before = c->bytes[0] + c->bytes[1];
	enum pt_end end = PT_END_NONE;
	bool more = false;

	for (int d = 0; d < 2 && end == PT_END_NONE; d++) {
		if (cdir(c, d)->buf)
			end = flush(c, d);
		if (end == PT_END_NONE)
			end = pump(c, d, true, &more);
	}
	return end != PT_END_NONE ? end : settle(c, before, more);
}

static enum pt_end copy_event(struct pt_conn *c, enum pt_side side, uint32_t events)
{
	int in = side == PT_SIDE_CLIENT ? PT_DIR_UP : PT_DIR_DOWN;
	int out = !in;
	uint64_t before = c->bytes[0] + c->bytes[1];
	enum pt_end end = PT_END_NONE;
	bool more = false;

	if (events & EPOLLERR)
		return pt_relay_sock_error(c, side);
	if ((events & EPOLLOUT) && cdir(c, out)->buf) {
		/* The peer took bytes again: the rest, then what its source holds. */
		end = flush(c, out);
		if (end == PT_END_NONE)
			end = pump(c, out, true, &more);
	}
	if (end == PT_END_NONE && (events & (EPOLLRDHUP | EPOLLHUP)))
		end = pump(c, in, true, &more);	/* to EOF: no edge follows the FIN */
	else if (end == PT_END_NONE && (events & EPOLLIN) && !queue(c, in))
		end = pump(c, in, false, &more);
	return end != PT_END_NONE ? end : settle(c, before, more);
}

static enum pt_end copy_timer(struct pt_conn *c)
{
	return pt_relay_idle(c);
}

/*
 * The first turn after the handoff: the client's peeked bytes are waiting
 * (read on to EOF only if its FIN was seen: that edge is gone), and the
 * upstream is read only if its connect event said bytes came with it;
 * anything later arrives with an edge of its own.
 */
static enum pt_end first_turn(struct pt_conn *c)
{
	uint64_t before = c->bytes[0] + c->bytes[1];
	enum pt_end end;
	bool more = false;

	end = pump(c, PT_DIR_UP, c->cli_rdhup, &more);
	if (end == PT_END_NONE && c->up_ready)
		end = pump(c, PT_DIR_DOWN, c->up_ready & (EPOLLRDHUP | EPOLLHUP), &more);
	return end != PT_END_NONE ? end : settle(c, before, more);
}

static int copy_attach(struct pt_conn *c, enum pt_end *end)
{
	int err;

	memset(&c->dps.copy, 0, sizeof(c->dps.copy));
	/* Nothing read yet: no skb is half read (detection only peeks). */
	cdir(c, PT_DIR_UP)->drained = cdir(c, PT_DIR_DOWN)->drained = true;
	/* As detection and connect left them, mostly: then no syscall. */
	err = pt_loop_watch(&c->w->loop, &c->cli, c->cli.events ? c->cli.events : PT_RELAY_EVENTS);
	if (!err)
		err = pt_loop_watch(&c->w->loop, &c->up,
				    c->up.events ? c->up.events : PT_RELAY_EVENTS_OUT);
	if (err)
		return err;
	pt_pair_open(c, PT_PLANE_COPY);
	pt_relay_arm_idle(c);
	/* Back on copy after a refused move: another plane had the edges. */
	*end = c->stay ? copy_resume(c) : first_turn(c);
	return 0;
}

static void copy_detach(struct pt_conn *c)
{
	pt_batch_cancel(c->w->batch, c);
	for (int d = 0; d < 2; d++) {
		cdir(c, d)->queued = false;
		free(cdir(c, d)->buf);
		cdir(c, d)->buf = NULL;
	}
}

/* The worker's batcher, unless "io_uring": false or the kernel refuses one. */
static int copy_worker_init(struct pt_worker *w)
{
	int err;

	if (w->cfg->no_io_uring)
		return 0;
	w->batch = pt_batch_new(&w->loop, &err);
	if (!w->batch && w->id == 0)
		pr_info(MAIN, "io_uring: %s: the copy plane makes a recv() and a send() per message",
			strerror(-err));
	return 0;
}

static void copy_worker_fini(struct pt_worker *w)
{
	pt_batch_free(w->batch);
	w->batch = NULL;
}

const struct pt_dataplane pt_dp_copy = {
	.name = "copy",
	.attach = copy_attach,
	.event = copy_event,
	.timer = copy_timer,
	.resume = copy_resume,
	.detach = copy_detach,
	.worker_init = copy_worker_init,
	.worker_fini = copy_worker_fini,
};
