/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The PROXY protocol on a connection's sockets: on an accept_proxy
 * listener, check the source and read (consume) the header before
 * detection, making the client it names c->peer; on a route with
 * proxy_protocol, write the header on the upstream socket once connected,
 * before any relayed byte. conn.c calls these and closes what they refuse;
 * nothing here calls up.
 */
#ifndef __PT_PROXYIO_H
#define __PT_PROXYIO_H

#include <stdbool.h>
#include <stddef.h>

#include "conn-t.h"

struct pt_conn;

/* What became of a connection's incoming PROXY header (c->pp), for the log. */
enum pt_pp_outcome {
	PT_PPO_NONE = 0,	/* the listener does not accept_proxy */
	PT_PPO_WAIT,		/* the header has not come yet */
	PT_PPO_V1,		/* read: c->peer is the client it names */
	PT_PPO_V2,
	PT_PPO_LOCAL,		/* v2 LOCAL, v1 UNKNOWN: the balancer's own (health check) */
	PT_PPO_UNTRUSTED,	/* the socket's peer is not in trusted_sources */
	PT_PPO_BAD,		/* malformed */
	PT_PPO_TRUNCATED,	/* the client closed in the middle of it */
	PT_PPO_TIMEOUT,		/* not complete by the detection deadline */
	PT_PPO_OVER_SOURCE,	/* its client is over max_connections_per_source */
};

/* What pt_proxy_read() says. */
enum pt_ppr {
	PT_PPR_DONE,		/* header consumed: detection may start */
	PT_PPR_AGAIN,		/* wait for more bytes */
	PT_PPR_CLOSE,		/* close with *end */
};

/* accept_proxy: whether the socket's peer is in trusted_sources; sets c->pp. */
bool pt_proxy_trusted(struct pt_conn *c);

/*
 * Peek at the header, and once it is whole consume exactly its bytes and
 * apply it. @timed_out: the detection deadline has passed.
 */
enum pt_ppr pt_proxy_read(struct pt_conn *c, bool timed_out, enum pt_end *end);

/*
 * The route wants a PROXY header: write it on the connected upstream
 * socket. Returns PT_END_NONE, or the end of a connection that cannot
 * have one.
 */
enum pt_end pt_proxy_send(struct pt_conn *c);

/* The log words: " pp=v2 via=ADDR", " pp=bad", or "" without accept_proxy. */
int pt_proxy_log_words(const struct pt_conn *c, char *buf, size_t size);

/* The outcome's log name ("v2", "bad"...), or NULL without accept_proxy. */
const char *pt_proxy_outcome(const struct pt_conn *c);

#endif /* __PT_PROXYIO_H */
