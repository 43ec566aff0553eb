/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A data plane moves the bytes of a routed connection once the upstream is
 * connected. The connection hands both sockets over with attach(); from
 * then on every event on either socket and the connection's timer go to the
 * data plane. Data flows one way: a data plane never closes a connection
 * itself. Each call returns how the connection ended (enum pt_end), or
 * PT_END_NONE while it goes on; when both directions are finished or one
 * side failed, conn.c closes the connection, which calls detach(). detach()
 * releases whatever the data plane holds; it never closes the sockets.
 *
 * Fair turns: a data plane moves at most PT_RELAY_BUDGET bytes per
 * direction per call; with more waiting it defers c->more and continues in
 * resume() after the worker's other connections had their turn
 * (edge-triggered epoll would not wake it again).
 *
 * Per worker state (the splice pipe pool) is set up by worker_init() and
 * released by worker_fini(), both reached through pt_dataplanes_init()
 * and pt_dataplanes_fini() (dataplane.c).
 *
 * Invariant: the first bytes peeked during detection are still in the
 * client socket; the data plane forwards them like any other byte.
 */
#ifndef __PT_DATAPLANE_H
#define __PT_DATAPLANE_H

#include <stdint.h>
#include <sys/epoll.h>

#include "conn-t.h"

struct pt_conn;
struct pt_worker;

enum pt_side {
	PT_SIDE_CLIENT = 0,
	PT_SIDE_UPSTREAM = 1,
};

/*
 * What a relayed socket is watched for (edge-triggered): the client so
 * from accept, the upstream so plus EPOLLOUT from connect, so that the
 * copy plane takes over without an epoll_ctl(). EPOLLOUT is added to a
 * side only once a write to it is stuck (PT_RELAY_EVENTS_OUT).
 */
#define PT_RELAY_EVENTS (EPOLLIN | EPOLLRDHUP | EPOLLET)
#define PT_RELAY_EVENTS_OUT (PT_RELAY_EVENTS | EPOLLOUT)

/* Bytes one direction may move in one call before yielding to other connections. */
#define PT_RELAY_BUDGET (256 * 1024)

struct pt_dataplane {
	const char *name;
	/*
	 * Take the connection: 0 and *end (PT_END_NONE, or how it ended
	 * already), or -errno when it was not taken (then conn.c falls back
	 * or closes with PT_END_ERROR).
	 */
	int (*attach)(struct pt_conn *c, enum pt_end *end);
	enum pt_end (*event)(struct pt_conn *c, enum pt_side side, uint32_t events);
	enum pt_end (*timer)(struct pt_conn *c);	/* the connection's deadline fired */
	enum pt_end (*resume)(struct pt_conn *c);	/* after a yield (pt_loop_defer of c->more) */
	void (*detach)(struct pt_conn *c);
	/*
	 * Optional, for a plane built on copy's calls (local): its relays may
	 * be batched too (copy.c, batch.c), and this runs after each batched
	 * one, before conn.c acts on how it ended.
	 */
	void (*after_batch)(struct pt_conn *c);
	int (*worker_init)(struct pt_worker *w);	/* optional: 0 or -errno */
	void (*worker_fini)(struct pt_worker *w);	/* optional */
};

extern const struct pt_dataplane pt_dp_copy;
extern const struct pt_dataplane pt_dp_splice;
extern const struct pt_dataplane pt_dp_sockmap;
extern const struct pt_dataplane pt_dp_local;

/*
 * Set up, and release, what the data planes keep per worker (the splice
 * pipe pool). Init returns 0 or -errno; fini is safe after a failed init.
 */
int pt_dataplanes_init(struct pt_worker *w);
void pt_dataplanes_fini(struct pt_worker *w);

#endif /* __PT_DATAPLANE_H */
