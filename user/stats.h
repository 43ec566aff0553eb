/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Counters shared by all worker processes: an anonymous MAP_SHARED mapping
 * made by the master before it forks, updated with atomic operations. The
 * control socket (control.c) reads them for passthru-ctl, the metrics
 * endpoint (metrics-text.c) for Prometheus.
 *
 * Listener rows live as long as the daemon (a reload cannot change the
 * listeners). Route rows belong to one config generation, route_gen: a
 * reload zeroes them, and a connection that started under another
 * generation counts in its listener's row only.
 */
#ifndef __PT_STATS_H
#define __PT_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "config-t.h"
#include "conn-t.h"
#include "passthru.h"
#include "pool-t.h"

struct pt_pair;

/*
 * The connection-duration histogram: upper bounds (ms) of its buckets, the
 * last one +Inf. Bucket i counts the connections that lasted more than
 * bound i-1 and at most bound i (the exposition adds them up).
 */
#define PT_DURATION_BUCKETS 15
extern const uint32_t pt_duration_bounds_ms[PT_DURATION_BUCKETS - 1];

/* What the data planes did for one route's connections, counted at close. */
struct pt_route_stats {
	uint64_t matched;		/* connections that chose this route */
	uint64_t rejected;		/* ... and were closed by a reject route */
	uint64_t upstream_failures;	/* ... and found no upstream that accepted */
	uint64_t connect_errors;	/* failed connect attempts (failover included) */
	uint64_t connect_timeouts;	/* ... of which timed out */
	uint64_t relayed[PT_PLANE_MAX];	/* closed connections per enum pt_plane they ended on */
	uint64_t moves;			/* ... of which moved from copy to the bulk plane */
	uint64_t copy_bytes[2];		/* bytes the copy plane relayed */
	uint64_t bytes[2];		/* PT_DIR_UP, PT_DIR_DOWN: every relayed byte */
	uint64_t kernel_bytes[2];	/* sockmap: redirected by the verdict program */
	uint64_t daemon_bytes[2];	/* written by the daemon (copy, splice, sockmap fallback) */
	uint64_t passed[2];		/* sockmap: bytes the verdict left to the daemon */
	uint64_t pass_events[2];	/* sockmap: backpressure events */
	uint64_t redirect_fail[2];	/* sockmap: failed redirects */
	uint64_t max_queued[2];		/* sockmap: highest kernel queue seen */
	uint64_t plane_bytes[PT_PLANE_MAX][2];	/* bytes by the plane that relayed them */
};

struct pt_listener_stats {
	int64_t active;			/* open connections right now */
	int64_t active_w[PT_MAX_WORKERS];	/* ... held by each worker (given back if it dies) */
	uint64_t accepted;
	uint64_t over_limit;		/* closed at accept: max_connections */
	uint64_t over_source_limit;	/* closed at accept: max_connections_per_source */
	uint64_t untracked_sources;	/* let in uncounted: the per-source table was full */
	uint64_t detected[PT_PROTO_MAX];
	uint64_t detect_rounds;		/* detection rounds run (pt_detect over the window) */
	uint64_t ended[PT_END_MAX];
	uint64_t bytes[2];		/* PT_DIR_UP, PT_DIR_DOWN */
	uint64_t duration[PT_DURATION_BUCKETS];	/* closed connections by how long they lasted */
	uint64_t duration_ms;		/* ... the sum of their durations */
};

/* Kernel memory promised to sockmap pairs (sockmap_memory_budget_mib), shared by the workers. */
struct pt_budget {
	uint64_t reserved;			/* bytes, all workers */
	uint64_t reserved_w[PT_MAX_WORKERS];	/* ... by each worker (given back if it dies) */
	uint64_t squeezed;			/* pairs given less than their listener's limits */
	uint64_t refused;			/* pairs relayed by another plane: no budget left */
};

struct pt_stats {
	struct pt_budget budget;
	uint32_t route_gen;			/* config generation of the route rows */
	uint32_t worker_gen[PT_MAX_WORKERS];	/* generation each worker runs */
	struct pt_listener_stats l[PT_MAX_LISTENERS];
	struct pt_route_stats r[PT_MAX_LISTENERS][PT_MAX_ROUTES];
	struct pt_pool_shared pools;		/* pool servers: health, open connections (pool.h) */
};

/* Map the shared counters; NULL and errno on failure. */
struct pt_stats *pt_stats_create(void);
void pt_stats_destroy(struct pt_stats *s);

/*
 * Start the route rows over for config generation @gen (after a reload):
 * @n_listeners rows are cleared.
 */
void pt_stats_routes_reset(struct pt_stats *s, uint32_t gen, int n_listeners);

/*
 * Where one connection counts: its listener's row and, while the route rows
 * belong to the generation it started under, its route's row.
 */
struct pt_stats_ref {
	struct pt_stats *s;
	int wid;		/* the worker holding the connection */
	int lidx;		/* listener index */
	int ridx;		/* route index, -1 before one is chosen */
	uint32_t gen;		/* config generation of the connection */
};

/* A route was chosen (ref->ridx set). */
void pt_stats_route_chosen(const struct pt_stats_ref *ref);

/* A connect attempt to an upstream failed with @err (a positive errno). */
void pt_stats_connect_failed(const struct pt_stats_ref *ref, int err);

/* What one connection relayed, for pt_stats_conn_end(). */
struct pt_relayed {
	uint64_t bytes[2];		/* PT_DIR_UP, PT_DIR_DOWN */
	uint64_t copy_bytes[2];		/* of which the copy plane relayed */
	enum pt_plane plane;		/* the plane it ended on, PT_PLANE_NONE if none had it */
	bool moved;			/* it began on the copy plane */
	uint64_t duration_ms;		/* from accept to close */
};

/*
 * The connection ended with @end after relaying @r; @pair is its pair slot
 * (data-plane counters) or NULL. Called once, after the data plane let go
 * of the connection and before its pair slot is freed.
 */
void pt_stats_conn_end(const struct pt_stats_ref *ref, enum pt_end end,
		       const struct pt_relayed *r, const struct pt_pair *pair);

/*
 * Take @n bytes of the sockmap budget (@limit bytes in all) for worker
 * @wid: true if they fit, false (nothing taken) if not.
 */
bool pt_budget_take(struct pt_stats *s, int wid, uint64_t limit, uint64_t n);

/* Give back @n bytes worker @wid took. */
void pt_budget_give(struct pt_stats *s, int wid, uint64_t n);

static inline void pt_stat_add(uint64_t *ctr, uint64_t n)
{
	__atomic_fetch_add(ctr, n, __ATOMIC_RELAXED);
}

static inline int64_t pt_stat_active_add(int64_t *ctr, int64_t n)
{
	return __atomic_add_fetch(ctr, n, __ATOMIC_RELAXED);
}

/* One more (n = 1) or one less (n = -1) open connection on listener lidx, held by worker wid. */
static inline int64_t pt_stats_active(struct pt_stats *s, int lidx, int wid, int64_t n)
{
	__atomic_add_fetch(&s->l[lidx].active_w[wid], n, __ATOMIC_RELAXED);
	return __atomic_add_fetch(&s->l[lidx].active, n, __ATOMIC_RELAXED);
}

/* Worker wid is gone: its connections no longer count. */
void pt_stats_forget_worker(struct pt_stats *s, int wid);

#endif /* __PT_STATS_H */
