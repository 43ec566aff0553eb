/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A client connection and its state machine:
 *
 *   accept -> DETECTING [-> HANDSHAKE -> DETECTING] -> CONNECTING -> RELAYING -> closed
 *
 * DETECTING peeks at the client's first bytes and runs the detectors until
 * a route can be chosen (on an accept_proxy listener, after reading the
 * PROXY header, whose client becomes c->peer); HANDSHAKE answers a SOCKS5 or
 * HTTP CONNECT client on a listener that terminates it (tunnel.c), then
 * detection runs again on the tunnelled bytes; CONNECTING tries the route's upstreams in order
 * (upstream.c); RELAYING belongs to a data plane (copy, splice or sockmap),
 * and with data_plane auto may move once from copy to the bulk plane. Each
 * state has one deadline, kept in c->timer. Only conn.c closes a
 * connection: upstream.c and the data planes report a status or an end
 * reason (conn-t.h) and conn.c acts on it.
 */
#ifndef __PT_CONN_H
#define __PT_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "config-t.h"
#include "conn-t.h"
#include "copy-t.h"
#include "dataplane.h"
#include "detect.h"
#include "local-t.h"
#include "loop.h"
#include "sockmap-t.h"
#include "splice-t.h"
#include "stats.h"
#include "tunnel-t.h"

struct pt_worker;

enum pt_conn_state {
	PT_CS_DETECTING = 0,
	PT_CS_HANDSHAKE,	/* a terminated proxy's handshake (tunnel.c) */
	PT_CS_CONNECTING,
	PT_CS_RELAYING,
	PT_CS_CLOSED,
};

/*
 * What only some connections use (those of accept_proxy, gateway and
 * terminating listeners, of routes to a pool, and those that moved to
 * another plane): allocated the first time one of them is set
 * (pt_conn_extra()), so that the others do not carry it.
 */
struct pt_conn_extra {
	struct pt_sockaddr via;		/* accept_proxy: the socket's own peer, len 0 if none */
	struct pt_sockaddr local;	/* the address the client asked for, len 0 until known */
	struct pt_pool_pick pick;	/* its server when the route names a pool (pool.h) */
	const struct pt_dataplane *first_dp;	/* where relaying began, if it moved since */
	uint64_t moved_at[2];		/* c->bytes when it moved */
};

/* Fields ordered to leave no holes: one is allocated per connection. */
struct pt_conn {
	struct pt_worker *w;
	struct pt_conn *prev, *next;	/* worker's list of live connections */
	struct pt_conn *dprev, *dnext;	/* its listener's detecting list (worker.h) */
	uint64_t id;
	struct pt_config *cfg;		/* reference held for the connection's life */
	const struct pt_listener_cfg *lcfg;
	int lidx;			/* listener index in cfg */
	int ridx;			/* chosen route, -1 before */
	struct pt_stats_ref st;		/* where the connection counts (stats.h) */
	struct pt_ev cli, up;
	struct pt_timer timer;
	struct pt_task more;		/* the data plane yielded with work left */
	struct pt_sockaddr peer;	/* the client: the socket's peer, or whom a PROXY
					 * header names (used for routes, limits, logs) */
	struct pt_conn_extra *x;	/* NULL until one of its fields is set */
	int up_i, addr_i;		/* upstream failover cursor (upstream.c) */
	const struct pt_sockaddr *up_addr;	/* the upstream we relay to */
	uint64_t t_start;		/* ms, monotonic */
	uint64_t t_last;		/* last byte relayed, for the idle timeout */
	uint32_t seen;			/* window bytes at the last detection round */
	uint32_t need;			/* window bytes the next detection round waits for */
	uint32_t lowat;			/* SO_RCVLOWAT set on the client socket, 0: default */
	uint32_t rounds;		/* detection rounds run */
	uint32_t up_ready;		/* upstream's IN/RDHUP/HUP seen while connecting, or
					 * EPOLLIN if it connected at once: to read at handoff */
	enum pt_conn_state state;
	enum pt_end end;
	uint16_t pp_len;		/* header bytes read off the client socket, not relayed:
					 * a PROXY header's, a terminated proxy's handshake */
	uint8_t pp;			/* accept_proxy: enum pt_pp_outcome (proxyio.h) */
	uint8_t proto;			/* protocol once fields are freed (enum pt_proto), NONE if
					 * undetected */
	bool cli_rdhup;			/* client FIN seen before relaying (its edge is gone) */
	bool detected;			/* detection finished (fields final) */
	bool src_held;			/* counted in the per-source table */
	bool in_detecting;		/* on the detecting list */
	bool connect_retry;		/* the timer retries the upstream socket (EMFILE) */
	bool pp_shared;			/* bytes followed the header at once: they may share
					 * its skb, half read (no sockmap, see sockmap.c) */
	bool bulk;			/* set by the plane: this connection shows bulk */
	bool stay;			/* a move failed: stay on this plane */
	uint64_t bytes[2];		/* PT_DIR_UP, PT_DIR_DOWN */
	const struct pt_dataplane *dp;
	const char *fallback;		/* why sockmap was not used, for the log */
	struct pt_local_conn *lo;	/* same-host bypass registration (local.c), or NULL */
	struct pt_pair *pair;		/* slot in PT_MAP_PAIRS, NULL if none */
	uint32_t slot;
	union {
		struct pt_copy_state copy;
		struct pt_splice_state splice;
		struct pt_sockmap_state sockmap;
	} dps;
	struct pt_fields *fields;	/* what detection found; freed when relaying starts */
	char *summary;			/* ... then only its log words (pt_conn_log_words()) */
	char *name;			/* ... and the SNI or Host, or NULL: inside summary */
	struct pt_tunnel *tun;		/* a terminated proxy's handshake and request, or NULL */
};

/*
 * Take a freshly accepted client socket; the connection owns it afterwards.
 * The caller has already counted it in the listener's active connections.
 */
void pt_conn_accept(struct pt_worker *w, int lidx, int fd, const struct pt_sockaddr *peer,
		    bool src_held);

/* Connections of listener @lidx that @w holds in detection. */
unsigned int pt_conn_n_detecting(const struct pt_worker *w, int lidx);

/*
 * Close (end reason "evicted") the oldest connection of listener @lidx
 * that @w holds in detection, to make room for a new one, if it was
 * accepted at or before @accepted_by (loop ms). Returns false if there is
 * none, or if the oldest is younger than that.
 */
bool pt_conn_evict_oldest(struct pt_worker *w, int lidx, uint64_t accepted_by);

/* End the connection: release the data plane, close both sockets, log. */
void pt_conn_close(struct pt_conn *c, enum pt_end end);

/*
 * A data plane call made outside an event returned @end (the copy plane's
 * batched relays): act on it as on an event's (close, or a move to the
 * bulk plane). Reached through pt_worker.relay_done.
 */
void pt_conn_relay_done(struct pt_conn *c, enum pt_end end);

/* Free the connections closed during the last event batch. */
void pt_conn_reap(struct pt_worker *w);

/* The detected protocol (PT_PROTO_NONE before detection decided), from the fields or what was kept of them. */
static inline uint8_t pt_conn_proto(const struct pt_conn *c)
{
	if (!c->detected)
		return PT_PROTO_NONE;
	return c->fields ? c->fields->proto : c->proto;
}

/*
 * @c's extra fields, allocated (zeroed) on first use; NULL if memory is
 * short. Inline: the files below conn.c that set them call nothing in it.
 */
static inline struct pt_conn_extra *pt_conn_extra(struct pt_conn *c)
{
	if (!c->x)
		c->x = calloc(1, sizeof(*c->x));
	return c->x;
}

/* The address the client asked for (gateway, PROXY header, tunnel), or NULL if unknown. */
static inline const struct pt_sockaddr *pt_conn_local(const struct pt_conn *c)
{
	return c->x && c->x->local.len ? &c->x->local : NULL;
}

/* accept_proxy: the socket's own peer (the proxy in front), or NULL if none. */
static inline const struct pt_sockaddr *pt_conn_via(const struct pt_conn *c)
{
	return c->x && c->x->via.len ? &c->x->via : NULL;
}

/* Where relaying began if the connection moved to another plane since, else NULL. */
static inline const struct pt_dataplane *pt_conn_first_dp(const struct pt_conn *c)
{
	return c->x ? c->x->first_dp : NULL;
}

/* The SNI (TLS) or Host the connection named, or NULL. */
static inline const char *pt_conn_name(const struct pt_conn *c)
{
	const struct pt_fields *f = c->fields;

	if (!c->detected)
		return NULL;
	if (!f)
		return c->name;
	return f->proto == PT_PROTO_TLS ? f->sni : f->host;
}

static inline const struct pt_route *pt_conn_route(const struct pt_conn *c)
{
	return c->ridx >= 0 ? &c->lcfg->routes[c->ridx] : NULL;
}

#endif /* __PT_CONN_H */
