// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The shared counters and the three places the connection code feeds them:
 * when a route is chosen, when a connect attempt fails and when a
 * connection ends (the data-plane counters of its pair slot are folded in
 * then, before the slot is freed). A connection is known here only by its
 * struct pt_stats_ref, not by struct pt_conn.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>

#include "pairs.h"
#include "stats.h"

const uint32_t pt_duration_bounds_ms[PT_DURATION_BUCKETS - 1] = {
	5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000,
};

struct pt_stats *pt_stats_create(void)
{
	void *p = mmap(NULL, sizeof(struct pt_stats), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void pt_stats_destroy(struct pt_stats *s)
{
	if (s)
		munmap(s, sizeof(*s));
}

void pt_stats_routes_reset(struct pt_stats *s, uint32_t gen, int n_listeners)
{
	__atomic_store_n(&s->route_gen, gen, __ATOMIC_RELEASE);
	for (int i = 0; i < n_listeners && i < PT_MAX_LISTENERS; i++)
		memset(s->r[i], 0, sizeof(s->r[i]));
}

/* @ref's route row, or NULL: no route yet, or the rows belong to another generation. */
static struct pt_route_stats *route_row(const struct pt_stats_ref *ref)
{
	struct pt_stats *s = ref->s;

	if (ref->ridx < 0 || ref->ridx >= PT_MAX_ROUTES || ref->lidx >= PT_MAX_LISTENERS ||
	    __atomic_load_n(&s->route_gen, __ATOMIC_ACQUIRE) != ref->gen)
		return NULL;
	return &s->r[ref->lidx][ref->ridx];
}

static void stat_max(uint64_t *ctr, uint64_t v)
{
	uint64_t cur = __atomic_load_n(ctr, __ATOMIC_RELAXED);

	while (v > cur &&
	       !__atomic_compare_exchange_n(ctr, &cur, v, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

void pt_stats_route_chosen(const struct pt_stats_ref *ref)
{
	struct pt_route_stats *rs = route_row(ref);

	if (rs)
		pt_stat_add(&rs->matched, 1);
}

void pt_stats_connect_failed(const struct pt_stats_ref *ref, int err)
{
	struct pt_route_stats *rs = route_row(ref);

	if (!rs)
		return;
	pt_stat_add(&rs->connect_errors, 1);
	if (err == ETIMEDOUT)
		pt_stat_add(&rs->connect_timeouts, 1);
}

/* Kernel, daemon and copy shares of the bytes, and the backpressure counters. */
static void count_plane(struct pt_route_stats *rs, const struct pt_relayed *r,
			const struct pt_pair *p)
{
	enum pt_plane plane = r->plane < PT_PLANE_MAX ? r->plane : PT_PLANE_NONE;
	const uint64_t *bytes = r->bytes;

	pt_stat_add(&rs->relayed[plane], 1);
	if (r->moved)
		pt_stat_add(&rs->moves, 1);
	for (int d = 0; d < 2; d++) {
		uint64_t kernel = 0;

		pt_stat_add(&rs->copy_bytes[d], r->copy_bytes[d]);
		pt_stat_add(&rs->plane_bytes[PT_PLANE_COPY][d], r->copy_bytes[d]);
		if (plane != PT_PLANE_COPY && bytes[d] > r->copy_bytes[d])
			pt_stat_add(&rs->plane_bytes[plane][d], bytes[d] - r->copy_bytes[d]);
		if (p && plane == PT_PLANE_SOCKMAP) {
			const struct pt_dir *pd = &p->dir[d];

			kernel = pt_pair_load(&pd->redirected);
			pt_stat_add(&rs->passed[d], pt_pair_load(&pd->passed));
			pt_stat_add(&rs->pass_events[d], pt_pair_load(&pd->pass_events));
			pt_stat_add(&rs->redirect_fail[d], pt_pair_load(&pd->redirect_fail));
			stat_max(&rs->max_queued[d], pt_pair_load(&pd->max_queued));
		}
		if (kernel > bytes[d])
			kernel = bytes[d];
		pt_stat_add(&rs->kernel_bytes[d], kernel);
		pt_stat_add(&rs->daemon_bytes[d], bytes[d] - kernel);
	}
}

/* The duration histogram: one bucket, and the sum. */
static void count_duration(struct pt_listener_stats *ls, uint64_t ms)
{
	int b = 0;

	while (b < PT_DURATION_BUCKETS - 1 && ms > pt_duration_bounds_ms[b])
		b++;
	pt_stat_add(&ls->duration[b], 1);
	pt_stat_add(&ls->duration_ms, ms);
}

void pt_stats_conn_end(const struct pt_stats_ref *ref, enum pt_end end,
		       const struct pt_relayed *r, const struct pt_pair *pair)
{
	const uint64_t *bytes = r->bytes;

	struct pt_listener_stats *ls = &ref->s->l[ref->lidx];
	struct pt_route_stats *rs = route_row(ref);

	pt_stat_add(&ls->ended[end], 1);
	count_duration(ls, r->duration_ms);
	pt_stat_add(&ls->bytes[PT_DIR_UP], bytes[PT_DIR_UP]);
	pt_stat_add(&ls->bytes[PT_DIR_DOWN], bytes[PT_DIR_DOWN]);
	pt_stats_active(ref->s, ref->lidx, ref->wid, -1);
	if (!rs)
		return;
	if (end == PT_END_REJECTED)
		pt_stat_add(&rs->rejected, 1);
	else if (end == PT_END_UPSTREAM_FAILED)
		pt_stat_add(&rs->upstream_failures, 1);
	pt_stat_add(&rs->bytes[PT_DIR_UP], bytes[PT_DIR_UP]);
	pt_stat_add(&rs->bytes[PT_DIR_DOWN], bytes[PT_DIR_DOWN]);
	if (r->plane != PT_PLANE_NONE)
		count_plane(rs, r, pair);
}

bool pt_budget_take(struct pt_stats *s, int wid, uint64_t limit, uint64_t n)
{
	uint64_t cur = __atomic_load_n(&s->budget.reserved, __ATOMIC_RELAXED);

	do {
		if (cur + n > limit)
			return false;
	} while (!__atomic_compare_exchange_n(&s->budget.reserved, &cur, cur + n, true,
					      __ATOMIC_RELAXED, __ATOMIC_RELAXED));
	__atomic_add_fetch(&s->budget.reserved_w[wid], n, __ATOMIC_RELAXED);
	return true;
}

void pt_budget_give(struct pt_stats *s, int wid, uint64_t n)
{
	__atomic_sub_fetch(&s->budget.reserved_w[wid], n, __ATOMIC_RELAXED);
	__atomic_sub_fetch(&s->budget.reserved, n, __ATOMIC_RELAXED);
}

void pt_stats_forget_worker(struct pt_stats *s, int wid)
{
	uint64_t held = __atomic_exchange_n(&s->budget.reserved_w[wid], 0, __ATOMIC_RELAXED);

	if (held)
		__atomic_sub_fetch(&s->budget.reserved, held, __ATOMIC_RELAXED);
	for (int i = 0; i < PT_MAX_LISTENERS; i++) {
		int64_t n = __atomic_exchange_n(&s->l[i].active_w[wid], 0, __ATOMIC_RELAXED);

		if (n)
			__atomic_sub_fetch(&s->l[i].active, n, __ATOMIC_RELAXED);
	}
}
