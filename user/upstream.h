/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Connecting a routed connection to its upstream: the route's upstreams
 * each have a list of addresses, tried in order with a non-blocking
 * connect() and one connect_timeout_ms deadline per attempt; a refused or
 * timed-out attempt fails over to the next address, then the next upstream.
 *
 * Data flows one way: these functions never close the connection and call
 * no function of conn.c or worker.c. They return a status, and conn.c acts
 * on it (start relaying, or close with the end reason the status names);
 * out of descriptors, they ask for a pause of accepts through the hook the
 * worker set up (w->pause_accepts).
 */
#ifndef __PT_UPSTREAM_H
#define __PT_UPSTREAM_H

#include <stdint.h>

struct pt_conn;
struct pt_sockaddr;

enum pt_up_status {
	PT_UP_PENDING = 0,	/* a connect is in progress, or a retry is due on the timer */
	PT_UP_CONNECTED,	/* c->up is connected: start relaying */
	PT_UP_FAILED,		/* no address accepted: end with PT_END_UPSTREAM_FAILED */
	PT_UP_ERROR,		/* a local failure: end with PT_END_ERROR */
};

/* Start with the route's first address. The route must be chosen (c->ridx). */
enum pt_up_status pt_upstream_start(struct pt_conn *c);

/*
 * The upstream socket of a connecting @c reported @events: whether the
 * attempt succeeded, or failed over to the next address.
 */
enum pt_up_status pt_upstream_event(struct pt_conn *c, uint32_t events);

/* The connecting @c's timer fired: retry a socket() or fail over after a timeout. */
enum pt_up_status pt_upstream_timer(struct pt_conn *c);

/* The address the failover cursor points at, NULL when none is left. */
const struct pt_sockaddr *pt_upstream_addr(const struct pt_conn *c);

#endif /* __PT_UPSTREAM_H */
