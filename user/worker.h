/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A worker: one process, one event loop, its own share of every listen
 * address (SO_REUSEPORT sockets created by the master before the fork).
 */
#ifndef __PT_WORKER_H
#define __PT_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "conn-t.h"
#include "loop.h"
#include "reload.h"
#include "resolver.h"
#include "silent.h"
#include "sockmap-t.h"
#include "splice-t.h"
#include "stats.h"

struct pt_bpf;
struct pt_local_bpf;
struct pt_sources;
struct pt_shield;
struct pt_batch;
struct pt_conn;
struct pt_control;
struct pt_listener;		/* listener.h */
struct pt_listen_set;		/* listener.h */
struct pt_worker;

/* Per-worker scratch: the detection window and the sockmap fallback copies. */
#define PT_SCRATCH_SIZE (256 * 1024)
_Static_assert(PT_SCRATCH_SIZE > PT_WINDOW_MAX, "the window plus its NUL fits the scratch");

/* A listener's connections still in detection, oldest first (max_detecting). */
struct pt_detecting {
	struct pt_conn *head, *tail;
	unsigned int n;
};

struct pt_worker {
	int id;
	int n_workers;
	struct pt_loop loop;
	struct pt_config *cfg;		/* the current config (one reference) */
	struct pt_stats *stats;
	struct pt_sources *sources;	/* per-client counts (max_connections_per_source) */
	struct pt_listener *listeners;
	int n_listeners;
	struct pt_conn *conns;		/* live connections */
	struct pt_conn *dead;		/* closed during this batch, freed after it */
	int n_conns;
	struct pt_detecting detecting[PT_MAX_LISTENERS];	/* by listener index */
	uint64_t next_id;
	uint8_t *window;		/* scratch, PT_SCRATCH_SIZE bytes (>= PT_WINDOW_MAX) */
	struct pt_pipe_pool pipes;
	struct pt_batch *batch;		/* the copy plane's io_uring batcher, or NULL */
	struct pt_sockmap_wake smw;	/* the verdict's wake-ups for our sockmap pairs */
	struct pt_bpf *bpf;		/* kernel data plane, NULL if not loaded */
	struct pt_local_bpf *local;	/* same-host bypass (local-bpf.h), NULL if not loaded */
	struct pt_shield *shield;	/* the XDP shield (bans; -w 1: reloads too), or NULL */
	struct pt_resolver resolver;	/* lookups of requested names (tunnel.c) */
	struct pt_silent_set silent;	/* connections of "drop" routes, held silently */
	struct pt_pair *pairs;		/* pair slots (the BPF map or the .pairs file), or NULL */
	uint32_t n_slots;
	uint32_t *free_slots;		/* this worker's share of the pair slots */
	uint32_t n_free_slots;
	struct pt_ev sig;		/* signalfd */
	struct pt_ev chan;		/* -w N: configs from the master, else fd -1 */
	struct pt_reload reload;	/* -w 1: our own reloads */
	struct pt_timer grace;
	uint64_t t_pause_warn;		/* last "pausing accepts" line */
	uint64_t n_pauses;		/* pauses since that line */
	/* Set up by the worker for upstream.c: no descriptor for an upstream socket. */
	void (*pause_accepts)(struct pt_worker *w, int err);
	/* For the copy plane's batched relays (batch.c), which end outside an event. */
	void (*relay_done)(struct pt_conn *c, enum pt_end end);
	bool stopping;
	bool owns_routes;		/* the only worker: resets the route counters on reload */
	const struct pt_config_opts *copts;	/* applied again on reload */
	struct pt_control *ctl;		/* control socket served here (-w 1), or NULL */
};

/* What a worker starts from (all owned by the master, shared after fork). */
struct pt_worker_args {
	int id;
	int n_workers;
	struct pt_config *cfg;
	struct pt_stats *stats;
	struct pt_sources *sources;
	const struct pt_listen_set *set;	/* the worker closes these */
	const struct pt_config_opts *copts;	/* -t, --data-plane: for reloads */
	struct pt_bpf *bpf;			/* NULL: splice only */
	struct pt_local_bpf *local;		/* NULL: no same-host bypass */
	struct pt_pair *pairs;			/* n_slots pair slots, shared by all workers */
	uint32_t n_slots;
	struct pt_control *ctl;			/* -w 1: the control socket to serve */
	struct pt_shield *shield;		/* XDP shield, NULL if not attached;
						 * reloads update it where they load */
	int chan_fd;				/* -w N: the master's configs arrive here */
};

/* Run a worker until it is told to stop and its connections are done. */
int pt_worker_run(const struct pt_worker_args *a);

/* Out of descriptors or memory: stop accepting on every listener for a moment. */
void pt_worker_pause_accepts(struct pt_worker *w, int err);

#endif /* __PT_WORKER_H */
