/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A data plane moves the bytes of a routed connection once the upstream is
 * connected. The connection hands both sockets over with attach(); from
 * then on every event on either socket and the connection's timer go to the
 * data plane, which ends the connection with pt_conn_close() when both
 * directions are finished or one side failed. detach() releases whatever
 * the data plane holds; it never closes the sockets (conn.c does).
 *
 * Fair turns: a data plane moves at most PT_RELAY_BUDGET bytes per
 * direction per call; with more waiting it defers c->more and continues in
 * resume() after the worker's other connections had their turn
 * (edge-triggered epoll would not wake it again).
 *
 * Invariant: the first bytes peeked during detection are still in the
 * client socket; the data plane forwards them like any other byte.
 */
#ifndef __PT_DATAPLANE_H
#define __PT_DATAPLANE_H

#include <stdint.h>

struct pt_conn;

enum pt_side {
	PT_SIDE_CLIENT = 0,
	PT_SIDE_UPSTREAM = 1,
};

/* Direction index: bytes read from side s go to side !s. */
#define PT_DIR_UP	0	/* client -> upstream */
#define PT_DIR_DOWN	1	/* upstream -> client */

/* Bytes one direction may move in one call before yielding to other connections. */
#define PT_RELAY_BUDGET (256 * 1024)

struct pt_dataplane {
	const char *name;
	int (*attach)(struct pt_conn *c);	/* 0 or -errno: then conn.c closes */
	void (*event)(struct pt_conn *c, enum pt_side side, uint32_t events);
	void (*timer)(struct pt_conn *c);	/* the connection's deadline fired */
	void (*resume)(struct pt_conn *c);	/* after a yield (pt_loop_defer of c->more) */
	void (*detach)(struct pt_conn *c);
};

extern const struct pt_dataplane pt_dp_splice;
extern const struct pt_dataplane pt_dp_sockmap;

#endif /* __PT_DATAPLANE_H */
