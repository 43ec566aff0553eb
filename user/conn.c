// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The connection state machine: DETECTING -> CONNECTING -> RELAYING.
 * Connecting is upstream.c's, relaying a data plane's; both answer with a
 * status or an end reason, and this file is the only one that closes a
 * connection (pt_conn_close). The PROXY protocol is proxyio.c's: on an
 * accept_proxy listener DETECTING reads the header first, and a route with
 * proxy_protocol gets one written upstream just before RELAYING. A
 * connection that ends without a route, or on a route with "ban", counts
 * toward the XDP shield's ban (shield.c); one on a "drop" route leaves a
 * duplicate of its client socket to silent.c. On a listener whose routes
 * look at the destination (dst_cidr, dst_port, forward "original": gateway
 * mode) gateway.c reads it at accept, before the first route step. On a
 * listener with "terminate", a SOCKS5 or CONNECT client goes through
 * HANDSHAKE (tunnel.c) and then DETECTING again, on the tunnelled bytes.
 *
 * While detecting, the client socket is watched edge-triggered: the peeked
 * bytes stay queued in the socket, so a level-triggered watch would fire
 * forever; with EPOLLET we wake only when new bytes (or a FIN) arrive, and
 * re-peek the whole window into the worker's scratch buffer. No per-
 * connection buffer exists at any point. So that a client sending its first
 * bytes one at a time cannot make each byte cost a peek and a parse of the
 * whole window, a round that ends in AGAIN sets SO_RCVLOWAT to the bytes
 * the detectors need (tcp_poll() reports EPOLLIN only from there on; a FIN,
 * an RST and our deadline still wake us), and after PT_DETECT_EXACT_ROUNDS
 * rounds at least doubles it. Detection ends with the default low-water
 * mark back: the data planes (sockmap's psock data_ready) rely on it.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/sockios.h>
#include <unistd.h>

#include "config.h"
#include "conn-log.h"
#include "conn.h"
#include "gateway.h"
#include "local.h"
#include "log.h"
#include "pairs.h"
#include "pool.h"
#include "proxyio.h"
#include "route.h"
#include "shield.h"
#include "silent.h"
#include "sources.h"
#include "stats.h"
#include "tunnel.h"
#include "upstream.h"
#include "worker.h"

/*
 * Detection rounds that wait for exactly the bytes the detectors ask for;
 * later ones wait for at least twice the window seen, so a dribbling client
 * costs O(log window) further rounds (a real client's head arrives in a few
 * segments; a slower one is still decided at the deadline, on all its bytes).
 */
#define PT_DETECT_EXACT_ROUNDS 16

static struct pt_listener_stats *lstats(struct pt_conn *c)
{
	return &c->w->stats->l[c->lidx];
}

/* --- the detecting list (max_detecting) ---------------------------------- */

static void detecting_add(struct pt_conn *c)
{
	struct pt_detecting *d = &c->w->detecting[c->lidx];

	c->dprev = d->tail;
	c->dnext = NULL;
	if (d->tail)
		d->tail->dnext = c;
	else
		d->head = c;
	d->tail = c;
	d->n++;
	c->in_detecting = true;
}

static void detecting_del(struct pt_conn *c)
{
	struct pt_detecting *d = &c->w->detecting[c->lidx];

	if (!c->in_detecting)
		return;
	if (c->dprev)
		c->dprev->dnext = c->dnext;
	else
		d->head = c->dnext;
	if (c->dnext)
		c->dnext->dprev = c->dprev;
	else
		d->tail = c->dprev;
	d->n--;
	c->in_detecting = false;
}

unsigned int pt_conn_n_detecting(const struct pt_worker *w, int lidx)
{
	return w->detecting[lidx].n;
}

bool pt_conn_evict_oldest(struct pt_worker *w, int lidx, uint64_t accepted_by)
{
	struct pt_conn *c = w->detecting[lidx].head;

	if (!c || c->t_start > accepted_by)
		return false;
	pt_conn_close(c, PT_END_EVICTED);
	return true;
}

/* --- closing ------------------------------------------------------------- */

/* Close with an RST instead of a FIN, so the peer knows the stream is cut. */
static void close_reset(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

static void close_side(struct pt_conn *c, struct pt_ev *ev, bool reset)
{
	if (ev->fd < 0)
		return;
	pt_loop_forget(ev);
	if (reset)
		close_reset(ev->fd);
	else
		close(ev->fd);
	ev->fd = -1;
}

/* The pair-slot and counter id of a data plane. */
static enum pt_plane plane_id(const struct pt_dataplane *dp)
{
	if (dp == &pt_dp_copy)
		return PT_PLANE_COPY;
	if (dp == &pt_dp_local)
		return PT_PLANE_LOCAL;
	return dp == &pt_dp_sockmap ? PT_PLANE_SOCKMAP : PT_PLANE_SPLICE;
}

/* Count the end in the shared counters: bytes per plane, moves. */
static void count_end(struct pt_conn *c, enum pt_end end)
{
	bool moved = pt_conn_first_dp(c) != NULL;
	struct pt_relayed r = {
		.bytes = { c->bytes[0], c->bytes[1] },
		.plane = c->dp ? plane_id(c->dp) : PT_PLANE_NONE,
		.moved = moved,
		.duration_ms = c->w->loop.now - c->t_start,
	};

	for (int d = 0; d < 2; d++)
		r.copy_bytes[d] = moved			 ? c->x->moved_at[d]
				  : c->dp == &pt_dp_copy ? c->bytes[d]
							 : 0;
	pt_stats_conn_end(&c->st, end, &r, c->pair);
}

/* Give back the client's count in the per-source table (listener.c took it). */
static void release_source(struct pt_worker *w, const struct pt_listener_cfg *l, int lidx,
			   const struct pt_sockaddr *peer)
{
	struct pt_source_key key;

	pt_source_key((const struct sockaddr *)&peer->ss, l->source_prefix_v4,
		      l->source_prefix_v6, &key);
	pt_source_release(w->sources, w->id, lidx, &key);
}

void pt_conn_close(struct pt_conn *c, enum pt_end end)
{
	struct pt_worker *w = c->w;

	if (c->state == PT_CS_CLOSED)
		return;
	c->end = end;
	detecting_del(c);
	if (c->dp && c->state == PT_CS_RELAYING)
		c->dp->detach(c);
	pt_local_release(c);	/* closed before relaying, too */
	count_end(c, end);
	if (c->x)
		pt_pool_release(&c->x->pick, &c->st.s->pools);
	if (end == PT_END_NO_ROUTE && w->shield)
		pt_shield_failed(w->shield, &c->lcfg->shield, &c->peer.ss.sa);
	if (c->src_held)
		release_source(w, c->lcfg, c->lidx, &c->peer);
	pt_pair_close(c);
	pt_timer_cancel(&w->loop, &c->timer);
	pt_task_cancel(&c->more);
	pt_conn_log_end(c);
	pt_tunnel_free(c);

	/* The side that did not fail learns of the failure through an RST. */
	close_side(c, &c->up, end == PT_END_CLIENT_RESET || end == PT_END_ERROR);
	close_side(c, &c->cli, end == PT_END_UPSTREAM_RESET || end == PT_END_ERROR);
	c->state = PT_CS_CLOSED;

	/* Unlink now, free after the event batch (pending events may point here). */
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	w->n_conns--;
	c->next = w->dead;
	w->dead = c;
}

void pt_conn_reap(struct pt_worker *w)
{
	while (w->dead) {
		struct pt_conn *c = w->dead;

		w->dead = c->next;
		pt_config_put(c->cfg);
		free(c->fields);
		free(c->summary);	/* c->name with it */
		free(c->x);
		free(c);
	}
}

/* --- relaying ------------------------------------------------------------ */

/*
 * The plane a config value names: copy for auto (connections start where
 * small messages are cheapest and move to bulk_plane once they show bulk,
 * sockmap included: the verdict cuts what the daemon already relayed, see
 * move_plane()), splice for sockmap when the kernel data plane is not
 * loaded.
 */
static const struct pt_dataplane *plane_of(const struct pt_conn *c, enum pt_data_plane dp)
{
	switch (dp) {
	case PT_DP_AUTO:
	case PT_DP_COPY:
		return &pt_dp_copy;
	case PT_DP_SOCKMAP:
		return c->w->bpf ? &pt_dp_sockmap : &pt_dp_splice;
	case PT_DP_LOCAL:
		return &pt_dp_local;	/* not registered: it falls back to copy */
	case PT_DP_SPLICE:
		break;
	}
	return &pt_dp_splice;
}

/*
 * Hand a relaying connection from the copy plane, which holds nothing for
 * it (no pending bytes, no FIN seen, its last reads emptied both receive
 * queues: is_bulk() in copy.c), to @to. The bytes still in the sockets are
 * @to's, in order. Into a sockmap, the verdict reads whole skbs
 * (tcp_read_skb), and an skb could still begin with bytes copy relayed
 * (a retransmitted overlap): the verdict cuts them by TCP sequence
 * (bpf/passthru.bpf.c). If @to refuses the connection it stays on copy
 * for good.
 */
static enum pt_end move_plane(struct pt_conn *c, const struct pt_dataplane *to)
{
	const struct pt_dataplane *from = c->dp;
	enum pt_end end = PT_END_NONE;
	int err;

	uint64_t at[2] = { c->bytes[0], c->bytes[1] };

	c->bulk = false;
	if (!pt_conn_extra(c)) {	/* where the log line's moved_at= goes */
		c->stay = true;
		return PT_END_NONE;
	}
	from->detach(c);
	c->dp = to;
	err = to->attach(c, &end);
	if (err) {
		pr_debug(CONN, "#%llu: cannot move to %s (%s), staying on %s",
			 (unsigned long long)c->id, to->name, strerror(-err), from->name);
		c->stay = true;
		c->dp = from;
		err = from->attach(c, &end);
		return err ? PT_END_ERROR : end;
	}
	c->x->first_dp = from;
	c->x->moved_at[0] = at[0];
	c->x->moved_at[1] = at[1];
	pt_pair_moved(c->pair, plane_id(to));
	pr_debug(CONN, "#%llu: bulk: moved from %s to %s after up=%llu down=%llu",
		 (unsigned long long)c->id, from->name, to->name, (unsigned long long)at[0],
		 (unsigned long long)at[1]);
	return end;
}

/*
 * A data plane call returned: close the connection if it ended, move it to
 * the bulk plane if it shows bulk and the listener lets it (auto).
 */
static void dp_result(struct pt_conn *c, enum pt_end end)
{
	if (end == PT_END_NONE && c->bulk && !c->stay && !pt_conn_first_dp(c) &&
	    c->dp == &pt_dp_copy && c->lcfg->data_plane == PT_DP_AUTO)
		end = move_plane(c, plane_of(c, c->lcfg->bulk_plane));
	if (end != PT_END_NONE)
		pt_conn_close(c, end);
}

void pt_conn_relay_done(struct pt_conn *c, enum pt_end end)
{
	if (c->state == PT_CS_RELAYING)
		dp_result(c, end);
}

/* In the words @w, the value of word "@key=" if it is @name, else NULL. */
static char *word_value(char *w, const char *key, const char *name)
{
	size_t kl = strlen(key);

	for (; *w; w += strlen(w) + 1)
		if (!strncmp(w, key, kl) && w[kl] == '=' && !strcmp(w + kl + 1, name))
			return w + kl + 1;
	return NULL;
}

/*
 * Relaying needs only the log words of what detection found, the protocol
 * and the SNI or Host: keep those in one allocation (the name is the value
 * of the sni= or host= word, or else follows the words) and free the rest
 * (about 1.5 KiB a connection). Nothing is lost if memory is short: the
 * fields stay.
 */
static void keep_summary(struct pt_conn *c)
{
	const struct pt_fields *f = c->fields;
	bool tls = f->proto == PT_PROTO_TLS;
	const char *name = c->detected ? (tls ? f->sni : f->host) : "";
	char buf[600], *in;
	size_t len = pt_conn_log_words(c, buf, sizeof(buf));
	size_t nlen = 0;

	in = name[0] ? word_value(buf, tls ? "sni" : "host", name) : NULL;
	if (name[0] && !in)
		nlen = strlen(name) + 1;
	c->summary = malloc(len + nlen);
	if (!c->summary)
		return;
	memcpy(c->summary, buf, len);
	if (in)
		c->name = c->summary + (in - buf);
	else if (nlen)
		c->name = memcpy(c->summary + len, name, nlen);
	c->proto = c->detected ? f->proto : PT_PROTO_NONE;
	free(c->fields);
	c->fields = NULL;
}

static void start_relay(struct pt_conn *c)
{
	enum pt_end end = PT_END_NONE;
	int err;

	/* The PROXY header precedes the first flight, outside the relayed bytes. */
	if (pt_conn_route(c)->proxy_protocol && (end = pt_proxy_send(c)) != PT_END_NONE) {
		pt_conn_close(c, end);
		return;
	}
	keep_summary(c);
	pt_timer_cancel(&c->w->loop, &c->timer);
	c->state = PT_CS_RELAYING;
	c->up_addr = pt_upstream_addr(c);
	c->t_last = c->w->loop.now;
	c->dp = plane_of(c, c->lcfg->data_plane);
	err = c->dp->attach(c, &end);
	if (err == -EAGAIN || err == -ENOSPC) {
		/* Nothing moved yet (peer closing, no free slot): splice (local: copy) instead. */
		c->fallback = err == -ENOSPC ? "no-slot" : c->fallback ? c->fallback : "insert-failed";
		pr_debug(CONN, "#%llu: %s unavailable (%s), using %s", (unsigned long long)c->id,
			 c->dp->name, c->fallback, c->dp == &pt_dp_local ? "copy" : "splice");
		c->dp = c->dp == &pt_dp_local ? &pt_dp_copy : &pt_dp_splice;
		err = c->dp->attach(c, &end);
	}
	if (err) {
		pr_warn(CONN, "#%llu: %s data plane: %s", (unsigned long long)c->id, c->dp->name,
			strerror(-err));
		end = PT_END_ERROR;
	}
	dp_result(c, end);
}

/* --- connecting (upstream.c) ------------------------------------------ */

/* Act on what upstream.c says about the connect. */
static void connect_status(struct pt_conn *c, enum pt_up_status st)
{
	switch (st) {
	case PT_UP_PENDING:
		return;
	case PT_UP_CONNECTED:
		if (c->x)
			pt_pool_connected(&c->x->pick, &c->st.s->pools, c->st.wid);
		start_relay(c);
		return;
	case PT_UP_FAILED:
		pt_conn_close(c, PT_END_UPSTREAM_FAILED);
		return;
	case PT_UP_ERROR:
		pt_conn_close(c, PT_END_ERROR);
		return;
	}
}

static void up_event(struct pt_ev *ev, uint32_t events)
{
	struct pt_conn *c = container_of(ev, struct pt_conn, up);

	switch (c->state) {
	case PT_CS_CONNECTING:
		connect_status(c, pt_upstream_event(c, events));
		return;
	case PT_CS_RELAYING:
		dp_result(c, c->dp->event(c, PT_SIDE_UPSTREAM, events));
		return;
	default:
		return;
	}
}

static void start_connect(struct pt_conn *c)
{
	detecting_del(c);
	c->state = PT_CS_CONNECTING;
	connect_status(c, pt_upstream_start(c));
}

/* --- detecting ----------------------------------------------------------- */

/* Pick a route if one can be picked now; act on it. */
static void route_step(struct pt_conn *c)
{
	const struct pt_terminate_cfg *t = &c->lcfg->term;
	const struct pt_sockaddr *dst = pt_conn_local(c);
	int idx = -1;

	if (!c->tun && !c->detected && (t->socks5 || t->http_connect))
		return; /* a SOCKS5 or CONNECT client is answered first, whatever the routes */
	switch (pt_route_select(c->lcfg, &c->peer.ss.sa, dst ? &dst->ss.sa : NULL,
				c->tun ? c->tun->req.host : NULL, c->fields, c->detected, &idx)) {
	case PT_ROUTE_PENDING:
		return;
	case PT_ROUTE_NONE:
		if (c->tun)
			c->tun->why = "no route for the inner protocol";
		pt_conn_close(c, c->tun ? PT_END_REJECTED : PT_END_NO_ROUTE);
		return;
	case PT_ROUTE_FOUND:
		break;
	}
	c->ridx = idx;
	c->st.ridx = idx;
	pt_stats_route_chosen(&c->st);
	pr_debug(CONN, "#%llu: route %s", (unsigned long long)c->id, c->lcfg->routes[idx].name);
	if (c->lcfg->routes[idx].ban && c->w->shield)
		pt_shield_failed(c->w->shield, &c->lcfg->shield, &c->peer.ss.sa);
	if (c->lcfg->routes[idx].action == PT_ACT_DROP) {
		/* out of our epoll set first: the duplicate keeps the file open */
		pt_loop_unwatch(&c->w->loop, &c->cli);
		pt_silent_hold(&c->w->silent, &c->w->loop, c->cli.fd, c->lcfg->timeout_ms);
	}
	if (c->lcfg->routes[idx].action != PT_ACT_FORWARD) {
		pt_conn_close(c, PT_END_REJECTED);
		return;
	}
	start_connect(c);
}

/*
 * Decide the detection result. A NEXT from the first pass means every
 * detector refused the bytes (unknown); a decision forced by the deadline or
 * the client's FIN with nothing matched means "no verdict" (timeout); one
 * forced by a full window means unknown.
 */
static bool detect_decide(struct pt_conn *c, size_t len, bool timed_out, bool eof)
{
	const struct pt_config *cfg = c->cfg;
	bool full = len >= c->lcfg->max_bytes;
	enum pt_probe v;

	c->rounds++;
	pt_stat_add(&lstats(c)->detect_rounds, 1);
	v = pt_detect(cfg->patterns, cfg->n_patterns, c->w->window, len, false, c->fields);
	if (v == PT_PROBE_AGAIN) {
		if (!timed_out && !eof && !full)
			return false;
		v = pt_detect(cfg->patterns, cfg->n_patterns, c->w->window, len, true,
			      c->fields);
		if (v != PT_PROBE_MATCH && !full)
			c->fields->proto = PT_PROTO_NONE;
	}
	c->detected = true;
	pt_stat_add(&lstats(c)->detected[c->fields->proto], 1);
	pr_debug(PROBE, "#%llu: %s after %zu bytes, %u rounds%s%s", (unsigned long long)c->id,
		 pt_proto_name(c->fields->proto), len, c->rounds, c->fields->reason[0] ? ": " : "",
		 c->fields->reason);
	return true;
}

/* Set the client socket's receive low-water mark if it changes; 1 is the default. */
static void set_lowat(struct pt_conn *c, uint32_t lowat)
{
	int v = (int)lowat;

	if (lowat == (c->lowat ? c->lowat : 1))
		return;
	if (setsockopt(c->cli.fd, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof(v)) == -1) {
		pr_debug(CONN, "#%llu: SO_RCVLOWAT %u: %s", (unsigned long long)c->id, lowat,
			 strerror(errno));
		return;
	}
	c->lowat = lowat;
}

/*
 * The round over len bytes said AGAIN: wait for what the detectors need
 * (at least one more byte, at least twice len once the exact rounds are
 * spent, at most the window).
 */
static void detect_wait(struct pt_conn *c, size_t len)
{
	size_t need = c->fields->need > len ? c->fields->need : len + 1;

	if (c->rounds >= PT_DETECT_EXACT_ROUNDS && need < 2 * len)
		need = 2 * len;
	if (need > c->lcfg->max_bytes)
		need = c->lcfg->max_bytes;
	c->need = need;
	set_lowat(c, need);
}

/* Fewer bytes queued than the next round needs (SIOCINQ, no peek)? */
static bool too_few_queued(const struct pt_conn *c)
{
	int avail;

	if (c->need <= c->seen + 1)
		return false;
	if (ioctl(c->cli.fd, SIOCINQ, &avail) == -1)
		return false;
	return (uint32_t)avail < c->need;
}

/* accept_proxy: the PROXY header first; true once it is read and detection goes on. */
static bool proxy_round(struct pt_conn *c, bool timed_out)
{
	enum pt_end end = PT_END_ERROR;
	enum pt_ppr r = pt_proxy_read(c, timed_out, &end);

	if (r == PT_PPR_CLOSE)
		pt_conn_close(c, end);
	if (r != PT_PPR_DONE)
		return false;
	route_step(c);	/* a route needing no byte decides on the header's client */
	return c->state == PT_CS_DETECTING;
}

static void tunnel_result(struct pt_conn *c, int res, int end);

/* Peek at the window and run one detection round. */
static void detect_round(struct pt_conn *c, bool timed_out)
{
	enum pt_end end = PT_END_ERROR;
	bool eof = false;
	ssize_t n;
	int res;

	if (c->pp == PT_PPO_WAIT && !proxy_round(c, timed_out))
		return;
	if (!timed_out && !c->cli_rdhup && too_few_queued(c))
		return;
	n = recv(c->cli.fd, c->w->window, c->lcfg->max_bytes, MSG_PEEK | MSG_DONTWAIT);
	if (n == -1) {
		if (errno != EAGAIN && errno != EINTR) {
			pt_conn_close(c, PT_END_CLIENT_RESET);
			return;
		}
		n = 0;
	} else if (n == 0) {
		eof = true;
	}
	/* The scratch is larger than any window: a NUL after it keeps C string
	 * readers (and sanitizer interceptors of regexec) inside the bytes. */
	c->w->window[n] = 0;
	eof = eof || c->cli_rdhup;
	if (!timed_out && !eof && (size_t)n < c->lcfg->max_bytes &&
	    ((size_t)n == c->seen || (size_t)n < c->need))
		return;
	c->seen = n;
	if (!detect_decide(c, n, timed_out, eof)) {
		detect_wait(c, n);
		return;
	}
	set_lowat(c, 1);
	if (pt_tunnel_wanted(c)) {
		res = pt_tunnel_begin(c, &end);
		if (c->tun)
			c->tun->resume = tunnel_result;
		tunnel_result(c, res, end);
		return;
	}
	route_step(c);
	if (c->state == PT_CS_DETECTING)
		pt_conn_close(c, PT_END_NO_ROUTE);
}

/* What the handshake says (tunnel.h); on success, detect the tunnelled bytes afresh. */
static void tunnel_result(struct pt_conn *c, int res, int end)
{
	c->state = PT_CS_HANDSHAKE;
	if (res == PT_TUN_CLOSE)
		pt_conn_close(c, (enum pt_end)end);
	if (res != PT_TUN_READY)
		return;
	c->state = PT_CS_DETECTING;
	c->detected = false;
	c->seen = c->need = c->rounds = 0;
	pt_fields_init(c->fields);
	pt_timer_arm(&c->w->loop, &c->timer, c->w->loop.now + c->lcfg->timeout_ms);
	route_step(c); /* a route needing no byte takes the tunnel as it is */
	if (c->state == PT_CS_DETECTING)
		detect_round(c, false);
}

static void cli_event(struct pt_ev *ev, uint32_t events)
{
	struct pt_conn *c = container_of(ev, struct pt_conn, cli);
	enum pt_end end = PT_END_ERROR;
	int res;

	switch (c->state) {
	case PT_CS_DETECTING:
		if (events & EPOLLERR) {
			pt_conn_close(c, PT_END_CLIENT_RESET);
			return;
		}
		if (events & (EPOLLRDHUP | EPOLLHUP))
			c->cli_rdhup = true;
		detect_round(c, false);
		return;
	case PT_CS_HANDSHAKE:
		if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			c->cli_rdhup = true;
		res = pt_tunnel_round(c, &end);
		tunnel_result(c, res, end);
		return;
	case PT_CS_CONNECTING:
		/* Bytes wait in the socket; only a dead client matters now. */
		if (events & (EPOLLERR | EPOLLHUP))
			pt_conn_close(c, PT_END_CLIENT_GONE);
		else if (events & EPOLLRDHUP)
			c->cli_rdhup = true;	/* the data plane must read up to the FIN */
		return;
	case PT_CS_RELAYING:
		dp_result(c, c->dp->event(c, PT_SIDE_CLIENT, events));
		return;
	default:
		return;
	}
}

static void conn_timer(struct pt_timer *t)
{
	struct pt_conn *c = container_of(t, struct pt_conn, timer);
	enum pt_end end = PT_END_ERROR;
	int res;

	switch (c->state) {
	case PT_CS_DETECTING:
		detect_round(c, true);
		return;
	case PT_CS_HANDSHAKE:
		res = pt_tunnel_timeout(c, &end);
		tunnel_result(c, res, end);
		return;
	case PT_CS_CONNECTING:
		connect_status(c, pt_upstream_timer(c));
		return;
	case PT_CS_RELAYING:
		dp_result(c, c->dp->timer(c));
		return;
	default:
		return;
	}
}

static void conn_more(struct pt_task *t)
{
	struct pt_conn *c = container_of(t, struct pt_conn, more);

	if (c->state == PT_CS_RELAYING)
		dp_result(c, c->dp->resume(c));
}

static struct pt_conn *conn_new(struct pt_worker *w, int lidx, int fd,
				const struct pt_sockaddr *peer)
{
	struct pt_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->fields = malloc(sizeof(*c->fields));
	if (!c->fields) {
		free(c);
		return NULL;
	}
	c->w = w;
	c->id = ++w->next_id;
	c->cfg = pt_config_get(w->cfg);
	c->lidx = lidx;
	c->lcfg = &c->cfg->listeners[lidx];
	c->ridx = -1;
	c->st = (struct pt_stats_ref){ .s = w->stats, .wid = w->id, .lidx = lidx, .ridx = -1,
				       .gen = c->cfg->generation };
	c->peer = *peer;
	c->t_start = w->loop.now;
	c->state = PT_CS_DETECTING;
	pt_fields_init(c->fields);
	pt_ev_init(&c->cli, fd, cli_event);
	pt_ev_init(&c->up, -1, up_event);
	pt_timer_init(&c->timer, conn_timer);
	pt_task_init(&c->more, conn_more);

	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	w->n_conns++;
	return c;
}

void pt_conn_accept(struct pt_worker *w, int lidx, int fd, const struct pt_sockaddr *peer,
		    bool src_held)
{
	struct pt_conn *c;

	c = conn_new(w, lidx, fd, peer);
	if (!c) {
		pt_stats_active(w->stats, lidx, w->id, -1);
		if (src_held)
			release_source(w, &w->cfg->listeners[lidx], lidx, peer);
		close_reset(fd);
		return;
	}
	c->src_held = src_held;
	/* TCP_NODELAY comes from the listening socket. */
	pt_stat_add(&lstats(c)->accepted, 1);
	pt_local_accept(c);	/* data_plane local: while the client socket is ESTABLISHED */

	if (c->lcfg->needs_dst)
		pt_gateway_dst(c);
	/* Routes that need no byte (cidr-only, any) decide right away; with
	 * accept_proxy, on the header's client once it is read. */
	if (c->lcfg->accept_proxy && !pt_proxy_trusted(c))
		pt_conn_close(c, PT_END_REJECTED);
	else if (!c->lcfg->accept_proxy)
		route_step(c);
	if (c->state != PT_CS_DETECTING)
		return;
	detecting_add(c);
	pt_timer_arm(&w->loop, &c->timer, w->loop.now + c->lcfg->timeout_ms);
	/* The relay's mask already: the copy plane need not change it. */
	if (pt_loop_watch(&w->loop, &c->cli, PT_RELAY_EVENTS)) {
		pt_conn_close(c, PT_END_ERROR);
		return;
	}
	/*
	 * Most clients have sent their first flight by the time the handshake
	 * is accepted: peek now rather than after a trip through epoll_wait
	 * (an empty socket costs one recv that says EAGAIN, and the watch
	 * above still reports the bytes when they come).
	 */
	detect_round(c, false);
}
