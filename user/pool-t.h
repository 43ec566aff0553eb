/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Types of the upstream pools' run-time state (pool.h). The state of every
 * pool server lives in the shared counters (stats.h), one row per server
 * keyed by the hash of its pool name and "host:port", so that a reload
 * keeping a server keeps its row, its health and its connection count:
 * the workers read whether a server is up with a plain load, no syscall.
 * The process that runs the health checks (health.c) writes "down"; every
 * worker writes its connection counts and the passive ejections.
 */
#ifndef __PT_POOL_T_H
#define __PT_POOL_T_H

#include <stdbool.h>
#include <stdint.h>

#include "config-t.h" /* PT_MAX_WORKERS */

#define PT_POOL_SLOTS		256	/* server rows, all pools */

struct pt_srv_state {
	uint64_t key;			/* pt_pool_server.key, 0 = a free row */
	uint32_t down;			/* the active checks say down */
	uint32_t fails;			/* connect failures in a row (passive ejection) */
	uint64_t eject_until;		/* CLOCK_MONOTONIC ms: ejected until then */
	int64_t active;			/* open connections, all workers */
	int64_t active_w[PT_MAX_WORKERS];	/* ... held by each (given back if it dies) */
	uint64_t rr;			/* the pool's round-robin ticket (its first server's row) */
	uint64_t connections;		/* connections established */
	uint64_t connect_failures;	/* failed connect attempts */
	uint64_t ejections;		/* passive ejections */
	uint64_t checks;		/* active checks run */
	uint64_t checks_failed;		/* ... that failed */
	uint64_t transitions;		/* up <-> down changes of the active checks */
	uint64_t check_ms;		/* how long the last passed check took */
};

struct pt_pool_shared {
	struct pt_srv_state s[PT_POOL_SLOTS];
};

struct pt_pool;

/* A connection's place in its route's pool (pool.h), in struct pt_conn. */
struct pt_pool_pick {
	const struct pt_pool *pool;	/* the pool being tried (a fallback pool, maybe) */
	uint64_t tried;			/* its servers tried, a bit per index */
	int srv;			/* the server being tried, -1 if none */
	int counted;			/* 1 + the row it counts in (active), 0 = none */
	int wid;			/* ... for this worker */
	uint8_t depth;			/* fallback pools followed */
	bool anyway;			/* every server down: trying them all the same */
};

#endif /* __PT_POOL_T_H */
