/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Concurrent connections per client address, for max_connections_per_source:
 * one table shared by every worker (MAP_SHARED before the fork), exact
 * counts keyed by (listener, address), IPv4-mapped IPv6 counted as IPv4.
 */
#ifndef __PT_SOURCES_H
#define __PT_SOURCES_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define PT_SOURCES_SLOTS 65536 /* distinct sources tracked at once */

struct pt_sources;

struct pt_sources *pt_sources_create(void);
void pt_sources_destroy(struct pt_sources *t);

/*
 * Count one more connection from @sa on listener @lidx unless that makes
 * more than @max. Returns true if counted (release it later), false if the
 * source is at its limit. A full table counts nothing and says true.
 * *count gets the source's connections including this one.
 */
bool pt_source_take(struct pt_sources *t, int lidx, const struct sockaddr *sa, unsigned int max,
		    unsigned int *count);
void pt_source_release(struct pt_sources *t, int lidx, const struct sockaddr *sa);

/* Sources that could not be tracked because the table was full. */
uint64_t pt_sources_untracked(const struct pt_sources *t);

#endif /* __PT_SOURCES_H */
