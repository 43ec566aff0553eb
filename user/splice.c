// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The splice(2) data plane: each direction moves bytes socket -> pipe ->
 * socket inside the kernel, without copying them through userspace.
 *
 * Both sockets are watched edge-triggered for IN, OUT and RDHUP; any event
 * pumps both directions until neither makes progress, so no wake-up is ever
 * lost. A pipe is borrowed from the worker's pool only while bytes are in
 * flight, so idle connections hold two sockets and nothing else.
 *
 * Half-close: when a side says EOF and its pipe is empty, the other socket
 * gets shutdown(SHUT_WR); the connection ends when both directions have
 * done so (the second FIN is left to close(), which sends it). An error on either socket ends it at once: the callbacks return
 * the end reason and conn.c closes the connection (with an RST towards the
 * other side).
 *
 * The pipe pool is per worker (struct pt_worker's pipes), set up and
 * emptied through this plane's worker_init()/worker_fini() hooks.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"
#include "pairs.h"
#include "relay.h"
#include "worker.h"

#define PT_PIPE_SIZE	 (256 * 1024)
#define PT_PIPE_POOL	 256 /* idle pipes kept per worker (2 fds each) */
#define PT_PIPE_RETRY_MS 20  /* no fd for a pipe: try again after this */

static int pipe_get(struct pt_pipe_pool *pool, struct pt_pipe *p)
{
	int fds[2], sz;

	if (pool->n_free) {
		*p = pool->free[--pool->n_free];
		pool->in_use++;
		return 0;
	}
	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) == -1)
		return -errno;
	if (!pool->pipe_size) {
		/* The first pipe tells what size the kernel grants (pipe-max-size). */
		fcntl(fds[1], F_SETPIPE_SZ, PT_PIPE_SIZE);
		sz = fcntl(fds[1], F_GETPIPE_SZ);
		pool->pipe_size = sz > 0 ? sz : 65536;
	} else {
		fcntl(fds[1], F_SETPIPE_SZ, pool->pipe_size);
	}
	p->rd = fds[0];
	p->wr = fds[1];
	pool->in_use++;
	return 0;
}

/* Give an empty pipe back to the pool (or close it if the pool is full). */
static void pipe_put(struct pt_pipe_pool *pool, struct pt_pipe *p)
{
	if (p->rd < 0)
		return;
	if (pool->n_free == pool->cap) {
		int cap = pool->cap ? pool->cap * 2 : 64;
		struct pt_pipe *v;

		v = cap <= PT_PIPE_POOL ? realloc(pool->free, cap * sizeof(*v)) : NULL;
		if (v) {
			pool->free = v;
			pool->cap = cap;
		}
	}
	if (pool->n_free < pool->cap) {
		pool->free[pool->n_free++] = *p;
	} else {
		close(p->rd);
		close(p->wr);
	}
	pool->in_use--;
	p->rd = p->wr = -1;
}

/* Close a pipe that may still hold bytes (the connection is being torn down). */
static void pipe_drop(struct pt_pipe_pool *pool, struct pt_pipe *p)
{
	if (p->rd < 0)
		return;
	close(p->rd);
	close(p->wr);
	pool->in_use--;
	p->rd = p->wr = -1;
}

/* A worker starts with no pipe: they are made on demand. */
static int splice_worker_init(struct pt_worker *w)
{
	memset(&w->pipes, 0, sizeof(w->pipes));
	return 0;
}

/* Close the idle pipes of a worker that is exiting. */
static void splice_worker_fini(struct pt_worker *w)
{
	struct pt_pipe_pool *pool = &w->pipes;

	while (pool->n_free) {
		struct pt_pipe *p = &pool->free[--pool->n_free];

		close(p->rd);
		close(p->wr);
	}
	free(pool->free);
	pool->free = NULL;
	pool->cap = 0;
}

/* Fill the pipe from src; *moved is set if something happened (bytes or EOF). */
static int fill_pipe(struct pt_pipe_pool *pool, struct pt_splice_dir *d, int src, bool *moved,
		     bool *starved)
{
	ssize_t n;
	int err;

	if (d->eof)
		return 0;
	if (d->pipe.rd < 0) {
		err = pipe_get(pool, &d->pipe);
		if (err == -EMFILE || err == -ENFILE || err == -ENOMEM) {
			/* Out of descriptors: the bytes wait in the socket, retry soon. */
			*starved = true;
			return 0;
		}
		if (err)
			return err;
	}
	if (d->in_pipe >= pool->pipe_size)
		return 0;
	n = splice(src, NULL, d->pipe.wr, NULL, pool->pipe_size - d->in_pipe,
		   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	if (n > 0) {
		d->in_pipe += n;
		*moved = true;
	} else if (n == 0) {
		d->eof = true;
		*moved = true;
	} else if (errno != EAGAIN && errno != EINTR) {
		return -errno;
	}
	return 0;
}

/* Drain the pipe into dst; counts the bytes delivered. */
static int drain_pipe(struct pt_splice_dir *d, int dst, uint64_t *bytes, bool *moved)
{
	ssize_t n;

	if (!d->in_pipe)
		return 0;
	n = splice(d->pipe.rd, NULL, dst, NULL, d->in_pipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	if (n > 0) {
		d->in_pipe -= n;
		*bytes += n;
		*moved = true;
	} else if (n == -1 && errno != EAGAIN && errno != EINTR) {
		return -errno;
	}
	return 0;
}

/*
 * Move bytes from src to dst until neither side can make progress or the
 * budget is spent (then *more is set). On a socket error returns -errno
 * and sets *bad to the side that failed.
 */
static int pump_dir(struct pt_conn *c, int dir, bool *progress, bool *more, enum pt_side *bad)
{
	struct pt_splice_dir *d = &c->dps.splice.dir[dir];
	struct pt_pipe_pool *pool = &c->w->pipes;
	int src = dir == PT_DIR_UP ? c->cli.fd : c->up.fd;
	int dst = dir == PT_DIR_UP ? c->up.fd : c->cli.fd;
	uint64_t start = c->bytes[dir];
	bool moved;
	int err;

	do {
		if (c->bytes[dir] - start >= PT_RELAY_BUDGET) {
			*more = true;
			break;
		}
		moved = false;
		err = fill_pipe(pool, d, src, &moved, &c->dps.splice.starved);
		if (err) {
			*bad = dir == PT_DIR_UP ? PT_SIDE_CLIENT : PT_SIDE_UPSTREAM;
			return err;
		}
		err = drain_pipe(d, dst, &c->bytes[dir], &moved);
		if (err) {
			*bad = dir == PT_DIR_UP ? PT_SIDE_UPSTREAM : PT_SIDE_CLIENT;
			return err;
		}
		if (!d->in_pipe)
			pipe_put(pool, &d->pipe);
		if (d->eof && !d->in_pipe && !d->shut) {
			/*
			 * Everything src sent has been written: pass its FIN
			 * on, unless the other way's is passed already: the
			 * pair then ends done and close() sends this one.
			 */
			if (!c->dps.splice.dir[!dir].shut)
				shutdown(dst, SHUT_WR);
			d->shut = true;
		}
		*progress |= moved;
	} while (moved);
	return 0;
}

/* Pump both directions; how the connection ended, or PT_END_NONE. */
static enum pt_end relay(struct pt_conn *c)
{
	struct pt_splice_state *s = &c->dps.splice;
	enum pt_side bad = PT_SIDE_CLIENT;
	bool progress = false, more = false;
	int err;

	s->starved = false;
	err = pump_dir(c, PT_DIR_UP, &progress, &more, &bad);
	if (!err)
		err = pump_dir(c, PT_DIR_DOWN, &progress, &more, &bad);
	if (err) {
		pr_debug(CONN, "#%llu: splice: %s side: %s", (unsigned long long)c->id,
			 bad == PT_SIDE_CLIENT ? "client" : "upstream", strerror(-err));
		return bad == PT_SIDE_CLIENT ? PT_END_CLIENT_RESET : PT_END_UPSTREAM_RESET;
	}
	if (progress) {
		c->t_last = c->w->loop.now;
		pt_relay_publish(c, s->dir[PT_DIR_UP].shut || s->dir[PT_DIR_DOWN].shut);
	}
	if (s->dir[PT_DIR_UP].shut && s->dir[PT_DIR_DOWN].shut)
		return PT_END_DONE;
	if (more)
		pt_loop_defer(&c->w->loop, &c->more);
	if (s->starved) {
		pt_timer_arm(&c->w->loop, &c->timer, c->w->loop.now + PT_PIPE_RETRY_MS);
		if (!c->w->pipes.warned++)
			pr_warn(CONN,
				"no file descriptor for a splice pipe: connections wait (raise RLIMIT_NOFILE)");
	}
	return PT_END_NONE;
}

static enum pt_end splice_event(struct pt_conn *c, enum pt_side side, uint32_t events)
{
	if (events & EPOLLERR)
		return pt_relay_sock_error(c, side);
	return relay(c);
}

static enum pt_end splice_timer(struct pt_conn *c)
{
	enum pt_end end;

	if (c->dps.splice.starved) {
		end = relay(c);
		if (end != PT_END_NONE || c->dps.splice.starved)
			return end;
	}
	return pt_relay_idle(c);
}

static int splice_attach(struct pt_conn *c, enum pt_end *end)
{
	const uint32_t mask = PT_RELAY_EVENTS_OUT;
	int err;

	for (int i = 0; i < 2; i++) {
		struct pt_splice_dir *d = &c->dps.splice.dir[i];

		d->pipe.rd = d->pipe.wr = -1;
		d->in_pipe = 0;
		d->eof = d->shut = false;
	}
	err = pt_loop_watch(&c->w->loop, &c->cli, mask);
	if (!err)
		err = pt_loop_watch(&c->w->loop, &c->up, mask);
	if (err)
		return err;
	pt_pair_open(c, PT_PLANE_SPLICE);
	pt_relay_arm_idle(c);
	/* The peeked bytes (and maybe a server banner) are already waiting. */
	*end = relay(c);
	return 0;
}

static void splice_detach(struct pt_conn *c)
{
	for (int i = 0; i < 2; i++)
		pipe_drop(&c->w->pipes, &c->dps.splice.dir[i].pipe);
}

const struct pt_dataplane pt_dp_splice = {
	.name = "splice",
	.attach = splice_attach,
	.event = splice_event,
	.timer = splice_timer,
	.resume = relay,
	.detach = splice_detach,
	.worker_init = splice_worker_init,
	.worker_fini = splice_worker_fini,
};
