/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Pair slots: one struct pt_pair per relayed connection in the mmapped
 * PT_MAP_PAIRS array, whatever its data plane, so that passthru-ctl sees
 * every relayed connection. The sockmap verdict program updates the
 * counters of sockmap pairs; the daemon updates those of splice pairs.
 * Without the kernel maps the same array lives in a shared file mapping,
 * /run/passthru/<instance>.pairs (main.c), for splice pairs only.
 */
#ifndef __PT_PAIRS_H
#define __PT_PAIRS_H

#include <linux/types.h>

#include "passthru.h"

struct pt_conn;

/*
 * Take a slot from the worker's share and fill in who/where/what for @c.
 * Returns the slot, or NULL when the daemon has no pair slots (neither the
 * kernel maps nor the .pairs file) or every slot is taken (the connection
 * then simply is not listed).
 */
struct pt_pair *pt_pair_open(struct pt_conn *c, enum pt_plane plane);

/* Free @c's slot (state back to PT_PAIR_FREE). */
void pt_pair_close(struct pt_conn *c);

struct pt_bpf;

/* The slots of worker @wid: an equal share each, [*first, *first + *n). */
static inline void pt_pairs_share(__u32 n_slots, int n_workers, int wid, __u32 *first, __u32 *n)
{
	*n = n_slots / n_workers;
	*first = *n * wid;
}

/*
 * Worker @wid is gone: free its slots and the map entries (pt_socks, and
 * pt_rx/pt_tx in case the kernel has not removed them yet) of the pairs it
 * held. Only the master calls this, after waitpid(). @bpf may be NULL.
 */
void pt_pairs_reclaim(struct pt_pair *pairs, __u32 n_slots, int n_workers, int wid,
		      struct pt_bpf *bpf);

static inline void pt_pair_set_state(struct pt_pair *p, enum pt_pair_state st)
{
	if (p)
		__atomic_store_n(&p->state, st, __ATOMIC_RELEASE);
}

static inline __u64 pt_pair_load(const __u64 *v)
{
	return __atomic_load_n(v, __ATOMIC_ACQUIRE);
}

#endif /* __PT_PAIRS_H */
