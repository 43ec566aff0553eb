// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A worker process: one epoll loop that runs its listeners (listener.c
 * accepts on this worker's own SO_REUSEPORT sockets) and every connection
 * they accepted. SIGTERM/SIGINT stop accepting and let connections finish
 * for grace_ms; a second signal, or the end of the grace period, closes
 * what is left. SIGHUP reloads the config for new
 * connections; so does "reload" on the control socket, which the worker
 * serves when it is the only one (-w 1).
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
#include "pairs.h"
#include "sources.h"
#include "worker.h"

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

/* Same listeners, same addresses, in the same order: a reload can apply. */
static bool same_listeners(const struct pt_config *a, const struct pt_config *b)
{
	if (a->n_listeners != b->n_listeners)
		return false;
	for (int i = 0; i < a->n_listeners; i++) {
		const struct pt_listener_cfg *la = &a->listeners[i], *lb = &b->listeners[i];

		if (la->n_listen != lb->n_listen)
			return false;
		for (int j = 0; j < la->n_listen; j++)
			if (strcmp(la->listen[j].spec, lb->listen[j].spec))
				return false;
	}
	return true;
}

struct pt_config *pt_worker_next_config(const struct pt_config *cur,
					const struct pt_config_opts *copts, unsigned int gen,
					char **why)
{
	struct pt_config *cfg;
	size_t len = 0;
	char *text = NULL;
	FILE *errs;

	/* The loader prints its errors to a FILE: keep them for the answer too. */
	errs = open_memstream(&text, &len);
	cfg = pt_config_load(cur->path, copts, errs ? errs : stderr);
	if (cfg && !same_listeners(cur, cfg)) {
		fprintf(errs ? errs : stderr,
			"%s: listen addresses changed; restart passthru to apply them\n", cur->path);
		pt_config_put(cfg);
		cfg = NULL;
	}
	if (errs) {
		fclose(errs);
		fputs(text, stderr);
	}
	if (why)
		*why = text;
	else
		free(text);
	if (!cfg)
		return NULL;
	if (strcmp(cfg->control_socket, cur->control_socket))
		pr_warn(CONFIG, "%s: control_socket changes apply at the next start", cfg->path);
	cfg->generation = gen;
	return cfg;
}

/*
 * Re-read the config file. New connections use the new routes; open ones
 * keep the config they started with (they hold a reference to it).
 */
int pt_worker_reload(struct pt_worker *w, unsigned int gen, char **why)
{
	struct pt_config *cfg;

	cfg = pt_worker_next_config(w->cfg, w->copts, gen, why);
	if (!cfg) {
		pr_err(CONFIG, "reload of %s failed; keeping the running config", w->cfg->path);
		return -EINVAL;
	}
	pt_config_put(w->cfg);
	w->cfg = cfg;
	if (w->ctl)
		w->ctl->cfg = cfg;
	if (w->owns_routes)
		pt_stats_routes_reset(w->stats, cfg->generation, cfg->n_listeners);
	__atomic_store_n(&w->stats->worker_gen[w->id], cfg->generation, __ATOMIC_RELEASE);
	pr_info(CONFIG, "reloaded %s (generation %u)", cfg->path, cfg->generation);
	return 0;
}

/* A control client asked for a reload: do it now, answer at once. */
static void control_reload(struct pt_ctl_client *cl, void *arg)
{
	struct pt_worker *w = arg;
	char *why = NULL;
	int err;

	err = pt_worker_reload(w, w->cfg->generation + 1, &why);
	pt_control_reply(cl, pt_control_reload_answer(w->cfg, err, why));
	free(why);
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
			/* The master's sigqueue() says which generation it loaded. */
			pt_worker_reload(w, si.ssi_code == SI_QUEUE ? (unsigned int)si.ssi_int
								    : w->cfg->generation + 1,
					 NULL);
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
	struct pt_worker w = { .id = a->id, .n_workers = a->n_workers, .stats = a->stats, .sources = a->sources, .sig.fd = -1, .bpf = a->bpf,
			       .pairs = a->pairs, .n_slots = a->n_slots };
	int err;

	w.cfg = pt_config_get(a->cfg);
	w.copts = a->copts;
	w.pause_accepts = pt_worker_pause_accepts; /* upstream.c does not call into worker.c */
	w.owns_routes = a->n_workers == 1;
	__atomic_store_n(&w.stats->worker_gen[w.id], w.cfg->generation, __ATOMIC_RELEASE);
	pt_timer_init(&w.grace, grace_expired);
	err = pt_loop_init(&w.loop);
	if (err)
		goto out;
	w.window = malloc(PT_SCRATCH_SIZE);
	err = w.window ? 0 : -ENOMEM;
	if (!err)
		err = pt_conn_planes_init(&w);
	if (!err)
		err = setup_slots(&w, a->n_workers);
	if (!err)
		err = setup_signals(&w);
	if (!err)
		err = pt_listeners_start(&w, a->set);
	if (!err && a->ctl) {
		w.ctl = a->ctl;
		w.ctl->cfg = w.cfg;
		w.ctl->reload = control_reload;
		w.ctl->reload_arg = &w;
		err = pt_control_start(w.ctl, &w.loop);
	}
	if (err) {
		pr_err(MAIN, "worker %d: setup: %s", w.id, strerror(-err));
		goto out_fini;
	}

	while (!w.stopping || w.n_conns) {
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
	if (w.ctl)
		pt_control_stop(w.ctl, false);
	pt_listeners_close(&w);
	pt_conn_planes_fini(&w);
	if (w.sig.fd >= 0)
		close(w.sig.fd);
	free(w.free_slots);
	free(w.listeners);
	free(w.window);
	pt_loop_fini(&w.loop);
out:
	pt_config_put(w.cfg);
	return err ? 1 : 0;
}
