// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Upstream connecting: the failover cursor (c->up_i, c->addr_i) over the
 * route's upstreams and their addresses (or, when the route names a pool,
 * over the servers pool.c chooses, c->x->pick), the non-blocking connect()
 * on c->up and its deadline in c->timer.
 *
 * Out of descriptors for the upstream socket (EMFILE/ENFILE) is not a
 * failed attempt: the connection retries on its timer, PT_CONNECT_RETRY_MS
 * later, until its connect_timeout_ms since accept has passed, and the
 * worker's accepts pause at once through w->pause_accepts, which the
 * worker set up: nothing here calls a function of conn.c or worker.c
 * (upstream.h).
 *
 * A route with "transparent" binds each upstream socket to the client's
 * address before connecting (bind_client()); replies reach that address
 * back through passthru only with the policy routing in README
 * ("Transparent upstream connections"). A forward "original" route has
 * one address, c->x->local, the destination the client asked for (gateway.c),
 * unless that is one of passthru's own listeners; so has a forward
 * "requested" route, where c->x->local is what a terminated proxy's client
 * asked for (tunnel.c).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"
#include "conn.h"
#include "gateway.h"
#include "local.h"
#include "log.h"
#include "pool.h"
#include "stats.h"
#include "upstream.h"
#include "worker.h"

#define PT_CONNECT_RETRY_MS 50 /* no descriptor for the upstream socket: retry after */

/* The upstream under the cursor: the pool server chosen (pool.c), or the route's up_i-th. */
static const struct pt_upstream *cur_upstream(const struct pt_conn *c)
{
	const struct pt_route *r = pt_conn_route(c);

	if (r->pool)
		return pt_pool_upstream(&c->x->pick);	/* set by pt_upstream_start() */
	return c->up_i < r->n_upstreams ? &r->upstreams[c->up_i] : NULL;
}

/* A route naming a pool: let the pool choose the first or next server. */
static bool pool_next(struct pt_conn *c)
{
	return pt_pool_pick_next(&c->x->pick, &c->st.s->pools, c->cfg, &c->peer.ss.sa,
				 c->w->loop.now);
}

const struct pt_sockaddr *pt_upstream_addr(const struct pt_conn *c)
{
	const struct pt_route *r = pt_conn_route(c);
	const struct pt_upstream *u;

	if (r->original || r->requested)	/* one address, no failover */
		return !c->up_i && !c->addr_i ? pt_conn_local(c) : NULL;
	u = cur_upstream(c);
	return u && c->addr_i < u->n_addrs ? &u->addrs[c->addr_i] : NULL;
}

/* Move the failover cursor to the next address, then the next upstream. */
static bool cursor_next(struct pt_conn *c)
{
	const struct pt_route *r = pt_conn_route(c);
	const struct pt_upstream *u = cur_upstream(c);

	if (r->original || r->requested) {
		c->up_i = 1;
		return false;
	}
	if (!u)
		return false;
	if (++c->addr_i < u->n_addrs)
		return true;
	c->addr_i = 0;
	if (r->pool)
		return pool_next(c);
	while (++c->up_i < r->n_upstreams)
		if (r->upstreams[c->up_i].n_addrs)
			return true;
	return false;
}

/* @c's client address as an address of family @fam with port 0, or false if it has none. */
static bool client_as(const struct pt_conn *c, sa_family_t fam, struct pt_sockaddr *out)
{
	const union pt_inet_addr *p = &c->peer.ss;

	memset(out, 0, sizeof(*out));
	out->ss.ss_family = fam;
	if (fam == AF_INET6 && p->ss_family == AF_INET6) {
		out->ss.sin6.sin6_addr = p->sin6.sin6_addr;
		out->ss.sin6.sin6_scope_id = p->sin6.sin6_scope_id;
		out->len = sizeof(out->ss.sin6);
		return !IN6_IS_ADDR_V4MAPPED(&p->sin6.sin6_addr);
	}
	out->len = sizeof(out->ss.sin);
	if (fam == AF_INET && p->ss_family == AF_INET) {
		out->ss.sin.sin_addr = p->sin.sin_addr;
		return true;
	}
	if (fam == AF_INET && p->ss_family == AF_INET6 &&
	    IN6_IS_ADDR_V4MAPPED(&p->sin6.sin6_addr)) {
		memcpy(&out->ss.sin.sin_addr, &p->sin6.sin6_addr.s6_addr[12], 4);
		return true;
	}
	return false;
}

/*
 * transparent: bind the upstream socket @fd (family @fam) to the client's
 * address, so that the upstream sees the client. IP_TRANSPARENT lets it
 * bind an address that is not local; IP_BIND_ADDRESS_NO_PORT leaves the
 * port to connect(), which picks one free for the 4-tuple. 0, or a
 * positive errno: this address cannot be tried (EAFNOSUPPORT: the client
 * has the other family).
 */
static int bind_client(const struct pt_conn *c, int fd, sa_family_t fam)
{
	int one = 1, level = fam == AF_INET6 ? SOL_IPV6 : SOL_IP;
	int opt = fam == AF_INET6 ? IPV6_TRANSPARENT : IP_TRANSPARENT;
	struct pt_sockaddr src;
	char buf[PT_SOCKADDR_STRLEN];

	if (!client_as(c, fam, &src))
		return EAFNOSUPPORT;
	if (setsockopt(fd, level, opt, &one, sizeof(one)) == -1) {
		pr_warn(CONN, "#%llu: transparent: %s: %s", (unsigned long long)c->id,
			fam == AF_INET6 ? "IPV6_TRANSPARENT" : "IP_TRANSPARENT", strerror(errno));
		return errno;
	}
	/* IPv4 level, but it applies to IPv6 sockets too (inet_sk flag). */
	setsockopt(fd, SOL_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	if (bind(fd, &src.ss.sa, src.len) == -1) {
		pr_warn(CONN, "#%llu: transparent: bind to %s: %s", (unsigned long long)c->id,
			pt_sockaddr_ip_str(&src.ss.sa, buf, sizeof(buf)), strerror(errno));
		return errno;
	}
	return 0;
}

/*
 * Try the address under the cursor. PT_UP_FAILED with *err set: this
 * attempt failed at once (a positive errno); with *err 0: no address left.
 */
static enum pt_up_status try_connect(struct pt_conn *c, int *err)
{
	const struct pt_sockaddr *a = pt_upstream_addr(c);
	int fd, one = 1;

	*err = 0;
	if (!a)
		return PT_UP_FAILED;
	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1 && (errno == EMFILE || errno == ENFILE) &&
	    c->w->loop.now - c->t_start < c->lcfg->connect_timeout_ms) {
		/* Out of descriptors: the worker stops taking clients; try again shortly. */
		if (c->w->pause_accepts)
			c->w->pause_accepts(c->w, errno);
		c->connect_retry = true;
		pt_timer_arm(&c->w->loop, &c->timer, c->w->loop.now + PT_CONNECT_RETRY_MS);
		return PT_UP_PENDING;
	}
	if (fd == -1) {
		pr_warn(CONN, "#%llu: upstream socket: %s", (unsigned long long)c->id,
			strerror(errno));
		return PT_UP_ERROR;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	pt_ev_init(&c->up, fd, c->up.fn); /* conn.c's callback stays */
	if (pt_conn_route(c)->transparent && (*err = bind_client(c, fd, a->ss.ss_family)))
		return PT_UP_FAILED;
	pt_local_register(c, fd, a);	/* data_plane local: before connect() */
	if (connect(fd, (const struct sockaddr *)&a->ss, a->len) == 0) {
		c->up_ready = EPOLLIN;	/* not watched yet: the relay reads it at once */
		return PT_UP_CONNECTED;
	}
	if (errno != EINPROGRESS) {
		*err = errno;
		return PT_UP_FAILED;
	}
	if (pt_loop_watch(&c->w->loop, &c->up, PT_RELAY_EVENTS_OUT))
		return PT_UP_ERROR;
	pt_timer_arm(&c->w->loop, &c->timer, c->w->loop.now + c->lcfg->connect_timeout_ms);
	return PT_UP_PENDING;
}

/*
 * The attempt under the cursor failed with @err: say so, count it, close
 * its socket and try the next addresses until one is pending or connected.
 */
static enum pt_up_status fail_over(struct pt_conn *c, int err)
{
	enum pt_up_status st;

	do {
		const struct pt_sockaddr *a = pt_upstream_addr(c);
		char buf[64];

		pr_debug(CONN, "#%llu: connect to %s (%s) failed: %s", (unsigned long long)c->id,
			 a ? pt_sockaddr_str((const struct sockaddr *)&a->ss, buf, sizeof(buf))
			   : "-",
			 pt_conn_route(c)->original  ? "original"
			 : pt_conn_route(c)->requested ? "requested"
			 : cur_upstream(c)	       ? cur_upstream(c)->spec
						       : "-",
			 strerror(err));
		pt_stats_connect_failed(&c->st, err);
		if (pt_conn_route(c)->pool)
			pt_pool_failed(&c->x->pick, &c->st.s->pools, c->w->loop.now);
		if (c->up.fd >= 0) {
			pt_loop_unwatch(&c->w->loop, &c->up);
			close(c->up.fd);
			c->up.fd = -1;
		}
		pt_timer_cancel(&c->w->loop, &c->timer);
		if (!cursor_next(c))
			return PT_UP_FAILED;
		st = try_connect(c, &err);
	} while (st == PT_UP_FAILED && err);
	return st;
}

/* Try from the cursor on: fail over while attempts fail at once. */
static enum pt_up_status connect_cursor(struct pt_conn *c)
{
	enum pt_up_status st;
	int err;

	st = try_connect(c, &err);
	if (st == PT_UP_FAILED && err)
		st = fail_over(c, err);
	return st;
}

enum pt_up_status pt_upstream_start(struct pt_conn *c)
{
	const struct pt_route *r = pt_conn_route(c);

	c->up_i = 0;
	c->addr_i = 0;
	if ((r->original || r->requested) && pt_gateway_refuse_original(c))
		return PT_UP_FAILED;
	while (c->up_i < r->n_upstreams && !r->upstreams[c->up_i].n_addrs)
		c->up_i++;
	pt_timer_cancel(&c->w->loop, &c->timer);
	if (r->pool) {
		if (!pt_conn_extra(c))
			return PT_UP_FAILED;
		c->x->pick = (struct pt_pool_pick){ .pool = r->pool, .srv = -1 };
		if (!pool_next(c))
			return PT_UP_FAILED;
	}
	return connect_cursor(c);
}

enum pt_up_status pt_upstream_event(struct pt_conn *c, uint32_t events)
{
	int err = 0;
	socklen_t len = sizeof(err);

	/* tcp_poll() says EPOLLOUT without EPOLLERR only once established:
	 * SO_ERROR is read only when something went wrong. */
	if (events & (EPOLLERR | EPOLLHUP)) {
		if (getsockopt(c->up.fd, SOL_SOCKET, SO_ERROR, &err, &len))
			err = errno;
		return fail_over(c, err ? err : ECONNREFUSED);
	}
	/* A banner that came with the connect: its edge is consumed here. */
	c->up_ready = events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP);
	return events & EPOLLOUT ? PT_UP_CONNECTED : PT_UP_PENDING;
}

enum pt_up_status pt_upstream_timer(struct pt_conn *c)
{
	if (c->connect_retry) {
		c->connect_retry = false;
		return connect_cursor(c);
	}
	return fail_over(c, ETIMEDOUT);
}
