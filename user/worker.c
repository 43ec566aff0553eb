// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A worker process: one epoll loop that runs its listeners (listener.c
 * accepts on this worker's own SO_REUSEPORT sockets) and every connection
 * they accepted. SIGTERM/SIGINT stop accepting and let connections finish
 * for grace_ms; a second signal, or the end of the grace period, closes
 * what is left. With -w 1 the worker is also the master: SIGHUP and the
 * control socket's "reload" (served here) load the config in a thread of
 * reload.c, off this loop. With -w N the master loads it and hands it over
 * on a socketpair; the worker parses the master's text, resolving nothing
 * (config-pack.c). Either way new connections use the new config.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"
#include "bpf_loader.h"
#include "config.h"
#include "conn.h"
#include "control.h"
#include "listener.h"
#include "log.h"
#include "health.h"
#include "metrics.h"
#include "pool.h"
#include "pairs.h"
#include "reload.h"
#include "shield.h"
#include "sources.h"
#include "worker.h"

#define PT_SPIN_MAX_CONNS 8	/* busy polling (loop.c) only with this many connections or fewer */

/*
 * Should the loop poll before it sleeps (loop.c)? Only for a worker with
 * few connections, none of them a stream on splice or in a sockmap: busier
 * rounds batch their work, and a stream needs no quick wake-up but would
 * pay for every poll in CPU per byte.
 */
static bool poll_pays(const struct pt_worker *w)
{
	if (w->n_conns > PT_SPIN_MAX_CONNS)
		return false;
	for (const struct pt_conn *c = w->conns; c; c = c->next)
		if (c->dp && c->dp != &pt_dp_copy && c->dp != &pt_dp_local)
			return false;
	return true;
}

/* No descriptor for an upstream socket: listener.c pauses the accepts. */
void pt_worker_pause_accepts(struct pt_worker *w, int err)
{
	pt_listeners_pause(w, "upstream socket", err);
}

static void close_all(struct pt_worker *w)
{
	while (w->conns)
		pt_conn_close(w->conns, PT_END_SHUTDOWN);
}

static void grace_expired(struct pt_timer *t)
{
	struct pt_worker *w = container_of(t, struct pt_worker, grace);

	if (w->n_conns)
		pr_info(MAIN, "grace period over, closing %d connections", w->n_conns);
	close_all(w);
}

static void begin_stop(struct pt_worker *w, int signo)
{
	if (w->stopping) {
		pr_info(MAIN, "%s again: closing %d connections now", strsignal(signo),
			w->n_conns);
		close_all(w);
		return;
	}
	w->stopping = true;
	pt_listeners_close(w);
	if (w->n_conns)
		pr_info(MAIN, "%s: stopped accepting; %d connections may finish within %u ms",
			strsignal(signo), w->n_conns, w->cfg->grace_ms);
	pt_timer_arm(&w->loop, &w->grace, w->loop.now + w->cfg->grace_ms);
}

/* New connections use @cfg (one reference, taken); open ones keep theirs. */
static void apply_config(struct pt_worker *w, struct pt_config *cfg)
{
	pt_pools_bind(&w->stats->pools, cfg, w->ctl != NULL);
	pt_config_put(w->cfg);
	w->cfg = cfg;
	if (w->ctl) {
		w->ctl->cfg = cfg;
		pt_metrics_reload(w->ctl->metrics, cfg);
		pt_health_reload(w->ctl->health, cfg);
	}
	pt_log_set_format(cfg->log_format);
	if (w->owns_routes)
		pt_stats_routes_reset(w->stats, cfg->generation, cfg->n_listeners);
	__atomic_store_n(&w->stats->worker_gen[w->id], cfg->generation, __ATOMIC_RELEASE);
	pr_info(CONFIG, "reloaded %s (generation %u)", cfg->path, cfg->generation);
}

/* -w 1: our own reload thread is done (reload.c); answer the client that asked. */
static void reload_done(struct pt_reload *r, struct pt_ctl_client *cl, struct pt_config *next,
			const char *text, size_t len, const char *why)
{
	struct pt_worker *w = container_of(r, struct pt_worker, reload);

	if (next) {
		apply_config(w, next);
		if (w->shield)
			pt_shield_apply(w->shield, next);
	} else
		pr_err(CONFIG, "reload of %s failed; keeping the running config", w->cfg->path);
	if (cl)
		pt_control_reply(cl, pt_control_reload_answer(w->cfg, next ? 0 : -EINVAL, why));
}

/* A control client asked for a reload (-w 1): answered when it is done. */
static void control_reload(struct pt_ctl_client *cl, void *arg)
{
	struct pt_worker *w = arg;

	pt_reload_request(&w->reload, cl);
}

/* -w N: the master hands over the config it loaded; parse it, resolving nothing. */
static void take_config(struct pt_worker *w, int pack, unsigned int gen)
{
	struct pt_config *cfg = pt_config_unpack(pack, w->copts, stderr);

	if (!cfg) {
		pr_err(CONFIG, "generation %u from the master: %s; keeping generation %u", gen,
		       strerror(errno), w->cfg->generation);
		return;
	}
	cfg->generation = gen;
	apply_config(w, cfg);
}

static void master_event(struct pt_ev *ev, uint32_t events)
{
	struct pt_worker *w = container_of(ev, struct pt_worker, chan);
	unsigned int gen;
	int pack, err;

	for (;;) {
		err = pt_reload_recv(ev->fd, &pack, &gen);
		if (err == -EAGAIN || err == -EINTR)
			return;
		if (err == -EBADMSG) {
			pr_err(CONFIG, "a bad message from the master; ignored");
			continue;
		}
		if (err)
			break;
		take_config(w, pack, gen);
		close(pack);
	}
	/* The master has gone (or the socket failed): no more reloads. */
	if (err != -EPIPE)
		pr_err(CONFIG, "the master's socket: %s", strerror(-err));
	pt_loop_unwatch(&w->loop, ev);
	close(ev->fd);
	ev->fd = -1;
}

static void signal_event(struct pt_ev *ev, uint32_t events)
{
	struct pt_worker *w = container_of(ev, struct pt_worker, sig);
	struct signalfd_siginfo si;

	while (read(ev->fd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			begin_stop(w, si.ssi_signo);
			break;
		case SIGHUP:
			if (w->chan.fd < 0)
				pt_reload_request(&w->reload, NULL);
			else
				pr_warn(CONFIG, "SIGHUP to a worker: reloads go through the "
						"master (pid %d)", (int)getppid());
			break;
		}
	}
}

static int setup_signals(struct pt_worker *w)
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		return -errno;
	fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd == -1)
		return -errno;
	pt_ev_init(&w->sig, fd, signal_event);
	return pt_loop_watch(&w->loop, &w->sig, EPOLLIN);
}

/*
 * Where new configs come from: with -w N the master's socket @chan (-1 with
 * -w 1), else a reload thread of our own.
 */
static int setup_reloads(struct pt_worker *w, int chan)
{
	if (chan < 0)
		return pt_reload_init(&w->reload, &w->loop, w->copts, &w->cfg, reload_done);
	pt_ev_init(&w->chan, chan, master_event);
	return pt_loop_watch(&w->loop, &w->chan, EPOLLIN);
}

/* This worker's share of the pair slots: an equal slice per worker. */
static int setup_slots(struct pt_worker *w, int n_workers)
{
	uint32_t per, first;

	if (!w->pairs)
		return 0;
	pt_pairs_share(w->n_slots, n_workers, w->id, &first, &per);
	w->free_slots = malloc(per * sizeof(*w->free_slots));
	if (!w->free_slots)
		return -ENOMEM;
	/* Pop order = ascending slots: low slots are reused first. */
	for (uint32_t i = 0; i < per; i++)
		w->free_slots[i] = first + per - 1 - i;
	w->n_free_slots = per;
	return 0;
}

int pt_worker_run(const struct pt_worker_args *a)
{
	struct pt_worker w = { .id = a->id, .n_workers = a->n_workers, .stats = a->stats,
			       .sources = a->sources, .sig.fd = -1, .bpf = a->bpf, .local = a->local,
			       .pairs = a->pairs, .n_slots = a->n_slots, .chan.fd = -1,
			       .reload.ev.fd = -1 };
	int err;

	w.cfg = pt_config_get(a->cfg);
	w.copts = a->copts;
	w.pause_accepts = pt_worker_pause_accepts; /* upstream.c does not call into worker.c */
	w.relay_done = pt_conn_relay_done;	   /* nor copy.c into conn.c */
	w.owns_routes = a->n_workers == 1;
	w.shield = a->shield;	/* reloads: -w 1 only (reload_done); bans: every worker */
	__atomic_store_n(&w.stats->worker_gen[w.id], w.cfg->generation, __ATOMIC_RELEASE);
	pt_timer_init(&w.grace, grace_expired);
	err = pt_loop_init(&w.loop);
	if (err)
		goto out;
	pt_loop_set_spin(&w.loop, w.cfg->busy_poll_us);	/* read at start */
	w.window = malloc(PT_SCRATCH_SIZE);
	err = w.window ? 0 : -ENOMEM;
	if (!err)
		err = pt_dataplanes_init(&w);
	if (!err)
		err = setup_slots(&w, a->n_workers);
	if (!err)
		err = setup_signals(&w);
	if (!err)
		err = setup_reloads(&w, a->chan_fd);
	if (!err)
		err = pt_listeners_start(&w, a->set);
	if (!err && a->ctl) {
		w.ctl = a->ctl;
		w.ctl->cfg = w.cfg;
		w.ctl->reload = control_reload;
		w.ctl->reload_arg = &w;
		err = pt_control_start(w.ctl, &w.loop);
		if (!err)
			err = pt_metrics_start(w.ctl->metrics, &w.loop);
		if (!err && w.shield)	/* -w 1: we reload it, we follow its interfaces */
			pt_shield_watch(w.shield, &w.loop);
		if (!err)
			err = pt_health_start(w.ctl->health, &w.loop, w.cfg, &w.stats->pools);
	}
	if (err) {
		pr_err(MAIN, "worker %d: setup: %s", w.id, strerror(-err));
		goto out_fini;
	}

	while (!w.stopping || w.n_conns) {
		w.loop.spin_hold = !poll_pays(&w);
		err = pt_loop_run_once(&w.loop, -1);
		pt_conn_reap(&w);
		if (err) {
			pr_err(MAIN, "worker %d: event loop: %s", w.id, strerror(-err));
			close_all(&w);
			pt_conn_reap(&w);
			break;
		}
	}

out_fini:
	if (w.reload.busy && w.reload.cl)
		pt_control_reply(pt_reload_take_client(&w.reload),
				 pt_control_error("passthru is stopping"));
	if (w.ctl) {
		pt_control_stop(w.ctl, false);
		pt_metrics_stop(w.ctl->metrics);
		if (w.shield)
			pt_shield_unwatch(w.shield);
		pt_health_stop(w.ctl->health);
	}
	pt_listeners_close(&w);
	pt_silent_fini(&w.silent);
	pt_dataplanes_fini(&w);
	if (w.sig.fd >= 0)
		close(w.sig.fd);
	pt_reload_fini(&w.reload);
	if (w.chan.fd >= 0)
		close(w.chan.fd);
	free(w.free_slots);
	free(w.listeners);
	free(w.window);
	pt_loop_fini(&w.loop);
out:
	pt_config_put(w.cfg);
	return err ? 1 : 0;
}
