/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Listening sockets and the accept limits. Before the fork the master binds
 * every listen address once per worker (SO_REUSEPORT with several workers)
 * into one pt_listen_set per worker. In a worker each of those sockets is a
 * pt_listener in the event loop: it accepts in batches, applies
 * max_connections and max_connections_per_source, hands the client to
 * conn.c, and backs off for a moment when descriptors or memory run out.
 */
#ifndef __PT_LISTENER_H
#define __PT_LISTENER_H

#include <stdbool.h>
#include <stdint.h>

#include "config-t.h"
#include "loop.h"

struct pt_worker;

/* The master's sockets: fds[i] for listener lidx[i], address aidx[i]. */
struct pt_listen_set {
	int *fds;
	int *lidx;
	int *aidx;
	int n;
};

/* One listening socket of this worker. */
/* One warning line per period at most, with the count of what it stands for. */
struct pt_ratelog {
	uint64_t t_last;	/* ms of the last line, 0 = none yet */
	uint64_t n;		/* events since */
};

struct pt_listener {
	struct pt_ev ev;
	struct pt_worker *w;
	int lidx;		/* listener index in the config */
	int aidx;		/* listen address index */
	bool paused;		/* accept backed off after EMFILE/ENOMEM */
	struct pt_ratelog over_source;	/* "over max_connections_per_source" lines */
	struct pt_ratelog evicted;	/* "max_detecting reached" lines */
	struct pt_ratelog untracked;	/* "per-source table full" lines */
	struct pt_timer resume;
};

/*
 * Bind every listen address of @cfg once per worker into sets[0..workers).
 * With several workers the sockets share the port through SO_REUSEPORT,
 * after a plain bind has shown that no other process holds it. Returns 0
 * or -errno (logged, naming the listener); the caller frees @sets with
 * pt_listen_sets_free() either way.
 */
int pt_listen_open(const struct pt_config *cfg, int workers, struct pt_listen_set *sets);

/* Close the sockets of @set (its arrays stay allocated, n becomes 0). */
void pt_listen_set_close(struct pt_listen_set *set);

/* Close and free sets[0..workers), as filled by pt_listen_open(). */
void pt_listen_sets_free(struct pt_listen_set *sets, int workers);

/*
 * Make every socket of @set a listener of worker @w, watched in its loop.
 * The worker owns the sockets from then on (pt_listeners_close() closes
 * them) and frees the w->listeners array. Returns 0 or -errno.
 */
int pt_listeners_start(struct pt_worker *w, const struct pt_listen_set *set);

/*
 * Stop accepting on every listener for a moment because @what failed with
 * @err (a positive errno: EMFILE, ENOMEM...). Listeners already paused or
 * closed are left as they are; one warning every few seconds at most.
 */
void pt_listeners_pause(struct pt_worker *w, const char *what, int err);

/* Stop watching and close every listener of @w (at stop, and at exit). */
void pt_listeners_close(struct pt_worker *w);

#endif /* __PT_LISTENER_H */
