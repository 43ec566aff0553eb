/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Upstream pools at run time: binding a config's servers to their shared
 * rows, balancing (first, weighted round-robin, least-conn, weighted
 * rendezvous source-hash), failover inside a pool, the fallback when every
 * server is down, passive ejection, and the per-server counters. Called by
 * upstream.c (choosing) and conn.c (a connection established, closed);
 * calls nothing above it.
 */
#ifndef __PT_POOL_H
#define __PT_POOL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config-t.h"
#include "pool-t.h"

/*
 * Give every server of @cfg its shared row (pt_pool_server.slot): the row
 * with its key; with @assign, a free row if it has none (the process that
 * loads configs: master, or the only worker). A server left without a row
 * is always taken as up and not counted.
 */
void pt_pools_bind(struct pt_pool_shared *sh, struct pt_config *cfg, bool assign);

/* Is the server in row @st up at @now (ms): not down, not ejected? */
bool pt_srv_is_up(const struct pt_srv_state *st, uint64_t now);

/* The shared row of server @i of @p, or NULL. */
struct pt_srv_state *pt_pool_row(struct pt_pool_shared *sh, const struct pt_pool *p, int i);

/*
 * The pure choice among the servers of @p not in @tried, only those
 * @up says are up unless @anyway: index, or -1. @ticket is a round-robin
 * ticket, @src the hash of the client address. Exposed for the unit tests.
 */
int pt_pool_choose(const struct pt_pool *p, uint64_t tried, uint64_t up, bool anyway,
		   const int64_t *active, uint64_t ticket, uint64_t src);

/* The hash of a client address (its IP, not its port) for source-hash. */
uint64_t pt_pool_src_hash(const struct sockaddr *sa);

/*
 * Choose the first (@pk->srv == -1) or the next server for a connection
 * from @src on @cfg's pool @pk->pool, at @now. Follows the pool's fallback
 * when no server left is up. False when there is none (or "reject").
 */
bool pt_pool_pick_next(struct pt_pool_pick *pk, struct pt_pool_shared *sh,
		       const struct pt_config *cfg, const struct sockaddr *src, uint64_t now);

/* The server @pk points at: its "host:port" and addresses, or NULL. */
const struct pt_upstream *pt_pool_upstream(const struct pt_pool_pick *pk);

/* A connect attempt to @pk's server failed: count it, eject it after too many. */
void pt_pool_failed(struct pt_pool_pick *pk, struct pt_pool_shared *sh, uint64_t now);

/* The connection is established on @pk's server: count it as open, held by worker @wid. */
void pt_pool_connected(struct pt_pool_pick *pk, struct pt_pool_shared *sh, int wid);

/* The connection closes: no longer open on its server. */
void pt_pool_release(struct pt_pool_pick *pk, struct pt_pool_shared *sh);

/* Worker @wid is gone: its open connections no longer count (least-conn). */
void pt_pools_forget_worker(struct pt_pool_shared *sh, int wid);

#endif /* __PT_POOL_H */
