/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Pair slots: one struct pt_pair per relayed connection in the mmapped
 * PT_MAP_PAIRS array, whatever its data plane, so that passthru-ctl sees
 * every relayed connection. The sockmap verdict program updates the
 * counters of sockmap pairs; the daemon updates those of splice pairs.
 * Without the kernel maps the same array lives in a shared file mapping,
 * /run/passthru/<instance>.pairs (pt_pairs_file_open()), for splice pairs
 * only.
 */
#ifndef __PT_PAIRS_H
#define __PT_PAIRS_H

#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>

#include "passthru.h"
#include "config-t.h"

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

/*
 * Without the kernel maps, the pair slots live in a file on tmpfs, mapped
 * shared before the fork: a struct pt_meta, then n_slots struct pt_pair
 * right after it. passthru-ctl reads it as it reads the pinned maps.
 */
struct pt_pairs_file {
	char path[PT_CONTROL_PATH_MAX];
	void *map;
	size_t len;
};

/*
 * Create and map the .pairs file for @instance: a struct pt_meta for
 * @n_workers workers, then @n_slots zeroed slots. Returns the first slot,
 * or NULL (warned: passthru-ctl then lists no connections) with @pf empty.
 */
struct pt_pair *pt_pairs_file_open(struct pt_pairs_file *pf, const char *instance, uint32_t n_slots,
				   int n_workers);

/*
 * Where the pair slots live: the kernel's PT_MAP_PAIRS when @bpf is loaded,
 * else a .pairs file of @n_slots slots made in @pf (pt_pairs_file_open()).
 * @where gets the path passthru-ctl reads them from ("" if none), *n_out
 * their number. Returns the first slot, or NULL when there are none.
 */
struct pt_pair *pt_pairs_place(struct pt_pairs_file *pf, const struct pt_bpf *bpf,
			       uint32_t n_slots, const char *instance, int n_workers, char *where,
			       size_t size, uint32_t *n_out);

/* Unmap and unlink the file of @pf, if any; @pf is empty afterwards. */
void pt_pairs_file_close(struct pt_pairs_file *pf);

/* The pair moved to @plane (passthru-ctl shows the plane and the moves). */
static inline void pt_pair_moved(struct pt_pair *p, enum pt_plane plane)
{
	if (!p)
		return;
	__atomic_store_n(&p->plane, plane, __ATOMIC_RELAXED);
	__atomic_add_fetch(&p->moves, 1, __ATOMIC_RELAXED);
}

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
