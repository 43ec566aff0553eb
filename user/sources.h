/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Concurrent connections per client network, for max_connections_per_source:
 * one table shared by every worker (MAP_SHARED before the fork), exact
 * counts keyed by (listener, network). The network is the client address
 * cut to source_prefix_v4 / source_prefix_v6 bits (IPv6 clients count per
 * /64 by default), IPv4-mapped IPv6 counted as IPv4. Each entry also keeps
 * every worker's share, so that a worker that dies can be taken out without
 * stopping the others.
 */
#ifndef __PT_SOURCES_H
#define __PT_SOURCES_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#define PT_SOURCES_SLOTS 65536 /* distinct sources tracked at once */

struct pt_sources;

/* A client network: 16 bytes, IPv4 in IPv4-mapped form, host bits cleared. */
struct pt_source_key {
	uint8_t addr[16];
};

/*
 * The table for @n_workers workers, its hash seeded with random bytes (so
 * that no client can choose addresses that collide); NULL and errno on
 * failure.
 */
struct pt_sources *pt_sources_create(int n_workers);
void pt_sources_destroy(struct pt_sources *t);

/*
 * The key of client address @sa: its first @prefix4 bits (IPv4 and
 * IPv4-mapped IPv6) or @prefix6 bits (other IPv6).
 */
void pt_source_key(const struct sockaddr *sa, unsigned int prefix4, unsigned int prefix6,
		   struct pt_source_key *key);

/*
 * Count one more connection from @key on listener @lidx for worker @wid
 * unless that makes more than @max. Returns true if allowed; *count gets
 * the source's connections including this one, or 0 when the table was
 * full and nothing was counted (then release nothing later).
 */
bool pt_source_take(struct pt_sources *t, int wid, int lidx, const struct pt_source_key *key,
		    unsigned int max, unsigned int *count);
void pt_source_release(struct pt_sources *t, int wid, int lidx, const struct pt_source_key *key);

/*
 * Worker @wid (process @pid) is gone: drop its counts, and the lock if it
 * died holding it. Only the master calls this, after waitpid().
 */
void pt_sources_forget_worker(struct pt_sources *t, int wid, pid_t pid);

/* Sources that could not be tracked because the table was full. */
uint64_t pt_sources_untracked(const struct pt_sources *t);

#endif /* __PT_SOURCES_H */
