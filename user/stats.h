/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Counters shared by all worker processes: an anonymous MAP_SHARED mapping
 * made by the master before it forks, updated with atomic operations.
 */
#ifndef __PT_STATS_H
#define __PT_STATS_H

#include <stdint.h>

#include "conn.h"
#include "passthru.h"

#define PT_MAX_LISTENERS 64

struct pt_listener_stats {
	int64_t active;			/* open connections right now */
	uint64_t accepted;
	uint64_t over_limit;		/* closed at accept: max_connections */
	uint64_t detected[PT_PROTO_MAX];
	uint64_t ended[PT_END_MAX];
	uint64_t bytes[2];		/* PT_DIR_UP, PT_DIR_DOWN */
};

struct pt_stats {
	struct pt_listener_stats l[PT_MAX_LISTENERS];
};

/* Map the shared counters; NULL and errno on failure. */
struct pt_stats *pt_stats_create(void);
void pt_stats_destroy(struct pt_stats *s);

static inline void pt_stat_add(uint64_t *ctr, uint64_t n)
{
	__atomic_fetch_add(ctr, n, __ATOMIC_RELAXED);
}

static inline int64_t pt_stat_active_add(int64_t *ctr, int64_t n)
{
	return __atomic_add_fetch(ctr, n, __ATOMIC_RELAXED);
}

#endif /* __PT_STATS_H */
