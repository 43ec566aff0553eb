// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Listening sockets and the accept limits (listener.h). The master's half
 * binds the sockets before the fork; the worker's half accepts on them,
 * applies max_connections_per_source (on accept_proxy listeners proxyio.c
 * does, for the client the PROXY header names), max_connections and max_detecting
 * (the last two by evicting the oldest connection still detecting, so that
 * silent clients cannot keep new ones out; max_detecting only evicts one
 * that has been silent for PT_EVICT_GRACE_MS, so that a burst of clients
 * connecting at once is let in whole), and pauses accepts for a moment
 * when the process runs out of descriptors or memory.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include "addr.h"
#include "config.h"
#include "conn.h"
#include "listener.h"
#include "log.h"
#include "sources.h"
#include "stats.h"
#include "worker.h"

#define PT_BACKLOG		4096
#define PT_ACCEPT_BATCH		64
#define PT_ACCEPT_PAUSE_MS	100
#define PT_PAUSE_WARN_MS	5000
/*
 * max_detecting evicts only connections in detection for at least this
 * long. A client that opens a thousand connections at once (wrk -c1000, a
 * load test, a front proxy after a restart) has each of them accepted
 * before it sends a byte: wrk's were silent at 47 ms when the cap evicted
 * them, resetting real requests (8-25 per make bench run). Younger ones
 * may exceed the cap; max_connections still bounds the total. 200 ms keeps
 * the churn of tests/stress/test_attack.py as without a grace (500 ms let
 * 30% more attackers in at once and slowed real clients under attack).
 */
#define PT_EVICT_GRACE_MS	200

/* --- the master's half: sockets ----------------------------------------- */

/*
 * A "tproxy" listener's socket takes connections for addresses that are
 * not this host's: IP_TRANSPARENT (IPV6_TRANSPARENT too on an IPv6 socket)
 * before bind.
 */
static int set_transparent(int fd, sa_family_t fam)
{
	int one = 1;

	if (setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one)))
		return -errno;
	if (fam == AF_INET6 && setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &one, sizeof(one)))
		return -errno;
	return 0;
}

static int open_listen_socket(const struct pt_listen_addr *la, bool reuseport, bool tproxy)
{
	int fd, one = 1, v6only = la->v6only;

	fd = socket(la->addr.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)))
		goto err;
	if (la->addr.ss.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)))
		goto err;
	/* Accepted sockets inherit it (sk_clone_lock copies the whole tcp_sock):
	 * one setsockopt here instead of one per connection. */
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)))
		goto err;
	if (tproxy && (errno = -set_transparent(fd, la->addr.ss.ss_family)))
		goto err;
	if (bind(fd, (const struct sockaddr *)&la->addr.ss, la->addr.len))
		goto err;
	if (listen(fd, PT_BACKLOG))
		goto err;
	return fd;
err:
	one = -errno;
	close(fd);
	return one;
}

/*
 * Bind every listen address once per worker. With several workers the
 * sockets share the port through SO_REUSEPORT; a first plain bind proves
 * that no other process already holds it (SO_REUSEPORT would otherwise let
 * a second passthru silently steal half of the connections).
 */
int pt_listen_open(const struct pt_config *cfg, int workers, struct pt_listen_set *sets)
{
	int total = 0, err;

	for (int i = 0; i < cfg->n_listeners; i++)
		total += cfg->listeners[i].n_listen;
	for (int w = 0; w < workers; w++) {
		sets[w].fds = calloc(total, sizeof(int));
		sets[w].lidx = calloc(total, sizeof(int));
		sets[w].aidx = calloc(total, sizeof(int));
		if (!sets[w].fds || !sets[w].lidx || !sets[w].aidx)
			return -ENOMEM;
	}
	for (int i = 0; i < cfg->n_listeners; i++) {
		const struct pt_listener_cfg *l = &cfg->listeners[i];

		for (int a = 0; a < l->n_listen; a++) {
			if (workers > 1) {
				err = open_listen_socket(&l->listen[a], false, l->mode == PT_MODE_TPROXY);
				if (err < 0)
					goto fail;
				close(err);
			}
			for (int w = 0; w < workers; w++) {
				err = open_listen_socket(&l->listen[a], workers > 1,
						 l->mode == PT_MODE_TPROXY);
				if (err < 0)
					goto fail;
				sets[w].fds[sets[w].n] = err;
				sets[w].lidx[sets[w].n] = i;
				sets[w].aidx[sets[w].n] = a;
				sets[w].n++;
			}
			pr_info(MAIN, "listener %s: listening on %s", l->name, l->listen[a].spec);
			continue;
fail:
			pr_err(MAIN, "listener %s: cannot listen on %s: %s", l->name,
			       l->listen[a].spec, strerror(-err));
			return err;
		}
	}
	return 0;
}

/* Close the sockets of @set; its arrays stay for pt_listen_sets_free(). */
void pt_listen_set_close(struct pt_listen_set *set)
{
	for (int i = 0; i < set->n; i++)
		if (set->fds[i] >= 0)
			close(set->fds[i]);
	set->n = 0;
}

/* Close and free the @workers sets that pt_listen_open() filled. */
void pt_listen_sets_free(struct pt_listen_set *sets, int workers)
{
	for (int w = 0; w < workers; w++) {
		pt_listen_set_close(&sets[w]);
		free(sets[w].fds);
		free(sets[w].lidx);
		free(sets[w].aidx);
	}
}

/* --- the worker's half: accepting ---------------------------------------- */

static void listener_resume(struct pt_timer *t)
{
	struct pt_listener *l = container_of(t, struct pt_listener, resume);

	if (l->w->stopping || l->ev.fd < 0)
		return;
	l->paused = false;
	if (pt_loop_watch(&l->w->loop, &l->ev, EPOLLIN))
		pr_err(MAIN, "cannot watch listener again: %s", strerror(errno));
}

/* Out of descriptors or memory: stop accepting for a moment, say so once. */
static void listener_pause(struct pt_listener *l, const char *what, int err)
{
	struct pt_worker *w = l->w;

	/* One line every few seconds at most, however often it happens. */
	w->n_pauses++;
	if (!w->t_pause_warn || w->loop.now - w->t_pause_warn >= PT_PAUSE_WARN_MS) {
		pr_warn(MAIN, "listener %s: %s: %s; pausing accepts for %d ms (%d connections open, "
			      "%llu pause(s) since the last such line)",
			w->cfg->listeners[l->lidx].name, what, strerror(err), PT_ACCEPT_PAUSE_MS,
			w->n_conns, (unsigned long long)w->n_pauses);
		w->t_pause_warn = w->loop.now;
		w->n_pauses = 0;
	}
	l->paused = true;
	pt_loop_watch(&w->loop, &l->ev, 0);
	pt_timer_arm(&w->loop, &l->resume, w->loop.now + PT_ACCEPT_PAUSE_MS);
}

/*
 * @what failed with @err (EMFILE, ENOMEM...) outside accept: pause every
 * listener of @w that is open and not already paused.
 */
void pt_listeners_pause(struct pt_worker *w, const char *what, int err)
{
	for (int i = 0; i < w->n_listeners; i++)
		if (w->listeners[i].ev.fd >= 0 && !w->listeners[i].paused)
			listener_pause(&w->listeners[i], what, err);
}

/* Give back what take_source() counted for a client that is not admitted. */
static void release_key(struct pt_listener *l, const struct pt_sockaddr *peer)
{
	const struct pt_listener_cfg *lc = &l->w->cfg->listeners[l->lidx];
	struct pt_source_key key;

	pt_source_key((const struct sockaddr *)&peer->ss, lc->source_prefix_v4,
		      lc->source_prefix_v6, &key);
	pt_source_release(l->w->sources, l->w->id, l->lidx, &key);
}

/* Take a slot under max_connections (shared by all workers); false if none is left. */
static bool reserve_slot(struct pt_worker *w, int lidx)
{
	unsigned int max = w->cfg->listeners[lidx].max_connections;

	if (pt_stats_active(w->stats, lidx, w->id, 1) <= (int64_t)max || !max)
		return true;
	pt_stats_active(w->stats, lidx, w->id, -1);
	return false;
}

/*
 * Count one event in @r; true when a line is due (the first, then one per
 * @period_ms at most): the caller prints r->n events, then calls
 * ratelog_done().
 */
static bool ratelog_due(struct pt_ratelog *r, uint64_t now, uint64_t period_ms)
{
	r->n++;
	return !r->t_last || now - r->t_last >= period_ms;
}

static void ratelog_done(struct pt_ratelog *r, uint64_t now)
{
	r->t_last = now;
	r->n = 0;
}

/* Say at most once a second that a source hit its limit, with the count. */
static void warn_source(struct pt_listener *l, const struct pt_sockaddr *peer, unsigned int max)
{
	struct pt_worker *w = l->w;
	char addr[64];

	if (!ratelog_due(&l->over_source, w->loop.now, 1000))
		return;
	pr_warn(CONN, "listener %s: source %s over max_connections_per_source (%u): closed %llu "
		"connection(s) in the last second",
		w->cfg->listeners[l->lidx].name,
		pt_sockaddr_ip_str((const struct sockaddr *)&peer->ss, addr, sizeof(addr)), max,
		(unsigned long long)l->over_source.n);
	ratelog_done(&l->over_source, w->loop.now);
}

/* The per-source table is full: count it, and say so every ten seconds at most. */
static void warn_untracked(struct pt_listener *l)
{
	struct pt_worker *w = l->w;

	pt_stat_add(&w->stats->l[l->lidx].untracked_sources, 1);
	if (!ratelog_due(&l->untracked, w->loop.now, 10000))
		return;
	pr_warn(CONN, "listener %s: the per-source table is full (%d sources): %llu connection(s) "
		"let in without max_connections_per_source in the last 10 s",
		w->cfg->listeners[l->lidx].name, PT_SOURCES_SLOTS,
		(unsigned long long)l->untracked.n);
	ratelog_done(&l->untracked, w->loop.now);
}

/*
 * Count the client against max_connections_per_source. False means close
 * it; *held says whether the count must be released when it ends.
 */
static bool take_source(struct pt_listener *l, const struct pt_sockaddr *peer, bool *held)
{
	struct pt_worker *w = l->w;
	const struct pt_listener_cfg *lc = &w->cfg->listeners[l->lidx];
	struct pt_source_key key;
	unsigned int n;

	*held = false;
	/* accept_proxy: the source is the PROXY header's client (proxyio.c), not the balancer */
	if (!lc->max_per_source || !w->sources || lc->accept_proxy)
		return true;
	pt_source_key((const struct sockaddr *)&peer->ss, lc->source_prefix_v4,
		      lc->source_prefix_v6, &key);
	if (!pt_source_take(w->sources, w->id, l->lidx, &key, lc->max_per_source, &n)) {
		pt_stat_add(&w->stats->l[l->lidx].over_source_limit, 1);
		warn_source(l, peer, lc->max_per_source);
		return false;
	}
	*held = n > 0;
	if (!n)
		warn_untracked(l);
	return true;
}

/* This worker's share of the listener's max_detecting (0: no cap). */
static unsigned int detecting_cap(const struct pt_worker *w, int lidx)
{
	unsigned int max = w->cfg->listeners[lidx].max_detecting;
	unsigned int n = w->n_workers > 1 ? (unsigned int)w->n_workers : 1;

	return max ? (max + n - 1) / n : 0;
}

/*
 * Evict the oldest connection still detecting on the listener if it was
 * accepted at or before @accepted_by; say so once a second.
 */
static bool evict_oldest(struct pt_listener *l, uint64_t accepted_by)
{
	struct pt_worker *w = l->w;

	if (!pt_conn_evict_oldest(w, l->lidx, accepted_by))
		return false;
	if (ratelog_due(&l->evicted, w->loop.now, 1000)) {
		pr_warn(CONN, "listener %s: max_detecting (%u, %u per worker) reached: evicted "
			"%llu connection(s) still detecting in the last second, oldest first",
			w->cfg->listeners[l->lidx].name, w->cfg->listeners[l->lidx].max_detecting,
			detecting_cap(w, l->lidx), (unsigned long long)l->evicted.n);
		ratelog_done(&l->evicted, w->loop.now);
	}
	return true;
}

/*
 * Admit a new client of @l: within its source's limit, within
 * max_connections (making room by evicting the oldest connection still
 * detecting, if any), and within max_detecting (the same way, but only
 * connections older than the grace). False means close it; *held as for
 * take_source().
 */
static bool admit(struct pt_listener *l, const struct pt_sockaddr *peer, bool *held)
{
	struct pt_worker *w = l->w;
	unsigned int cap = detecting_cap(w, l->lidx);
	uint64_t now = w->loop.now;
	uint64_t old = now > PT_EVICT_GRACE_MS ? now - PT_EVICT_GRACE_MS : 0;

	if (!take_source(l, peer, held))
		return false;
	while (!reserve_slot(w, l->lidx)) {
		if (!evict_oldest(l, now)) {
			pt_stat_add(&w->stats->l[l->lidx].over_limit, 1);
			pr_debug(CONN, "listener %s: max_connections reached, closing",
				 w->cfg->listeners[l->lidx].name);
			if (*held)
				release_key(l, peer);
			return false;
		}
	}
	while (cap && pt_conn_n_detecting(w, l->lidx) >= cap && evict_oldest(l, old))
		;
	return true;
}

static void accept_event(struct pt_ev *ev, uint32_t events)
{
	struct pt_listener *l = container_of(ev, struct pt_listener, ev);

	for (int i = 0; i < PT_ACCEPT_BATCH; i++) {
		struct pt_sockaddr peer = { .len = sizeof(peer.ss) };
		bool held;
		int fd;

		fd = accept4(ev->fd, (struct sockaddr *)&peer.ss, &peer.len,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM)
				listener_pause(l, "accept", errno);
			else if (errno != EAGAIN)
				pr_warn(MAIN, "accept: %s", strerror(errno));
			return;
		}
		if (!admit(l, &peer, &held)) {
			close(fd);
			continue;
		}
		pt_conn_accept(l->w, l->lidx, fd, &peer, held);
	}
}

/* Unwatch and close every listener of @w; their resume timers are cancelled. */
void pt_listeners_close(struct pt_worker *w)
{
	for (int i = 0; i < w->n_listeners; i++) {
		struct pt_listener *l = &w->listeners[i];

		pt_timer_cancel(&w->loop, &l->resume);
		if (l->ev.fd < 0)
			continue;
		pt_loop_unwatch(&w->loop, &l->ev);
		close(l->ev.fd);
		l->ev.fd = -1;
	}
}

/*
 * One pt_listener per socket of @set, watched in @w's loop, in the array
 * w->listeners (the worker frees it). Returns 0 or -errno; on failure the
 * caller still calls pt_listeners_close().
 */
int pt_listeners_start(struct pt_worker *w, const struct pt_listen_set *set)
{
	w->listeners = calloc(set->n, sizeof(*w->listeners));
	if (!w->listeners && set->n)
		return -ENOMEM;
	w->n_listeners = set->n;
	for (int i = 0; i < set->n; i++) {
		struct pt_listener *l = &w->listeners[i];
		int err;

		l->w = w;
		l->lidx = set->lidx[i];
		l->aidx = set->aidx[i];
		pt_ev_init(&l->ev, set->fds[i], accept_event);
		pt_timer_init(&l->resume, listener_resume);
		err = pt_loop_watch(&w->loop, &l->ev, EPOLLIN);
		if (err)
			return err;
	}
	return 0;
}
