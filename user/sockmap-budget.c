// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The kernel memory budget of the sockmap data plane
 * (sockmap_memory_budget_mib, default a quarter of the RAM): what each
 * pair may pin in forced send buffers and queue limits is taken from one
 * budget all workers share (stats.h pt_budget_take/give) at the handoff
 * and given back at close; a pair the rest does not cover is squeezed,
 * down to no forced buffer and a PT_SM_MIN_QUEUED queue, or refused
 * (the caller relays it with splice).
 */
#include <errno.h>
#include <stdint.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"
#include "sockmap-budget.h"
#include "worker.h"

#define PT_BUDGET_WARN_MS 10000		/* at most one budget warning per worker this often */

static struct pt_sockmap_state *sm(struct pt_conn *c)
{
	return &c->dps.sockmap;
}

/*
 * Kernel memory a pair may pin: both sockets' forced send buffers (the
 * kernel doubles SO_SNDBUF) and the queue towards each side.
 */
static uint64_t pair_cost(uint64_t sndbuf, uint64_t max_queued)
{
	return 2 * 2 * sndbuf + 2 * max_queued;
}

/* sockmap_memory_budget_mib in bytes; unset, a quarter of the RAM. */
static uint64_t budget_bytes(const struct pt_config *cfg)
{
	static uint64_t quarter;

	if (cfg->sockmap_budget_mib)
		return (uint64_t)cfg->sockmap_budget_mib << 20;
	if (!quarter)
		quarter = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE) / 4;
	return quarter;
}

/* Say once in a while (per worker, each of the two cases) that the budget ran short. */
static void budget_warn(struct pt_conn *c, bool refused)
{
	static uint64_t t_warn[2];

	if (t_warn[refused] && c->w->loop.now - t_warn[refused] < PT_BUDGET_WARN_MS)
		return;
	t_warn[refused] = c->w->loop.now;
	if (refused)
		pr_warn(CONN, "sockmap_memory_budget (%llu MiB) exhausted: new pairs use another "
			"plane", (unsigned long long)(budget_bytes(c->cfg) >> 20));
	else
		pr_warn(CONN, "sockmap_memory_budget (%llu MiB) nearly exhausted: new pairs get a "
			"send buffer of %u and a queue limit of %u bytes",
			(unsigned long long)(budget_bytes(c->cfg) >> 20), sm(c)->sndbuf,
			sm(c)->max_queued);
}

/*
 * Take the pair's share of the budget: the listener's sndbuf and queue
 * limit, else halves of both down to PT_SM_MIN_QUEUED without a forced
 * buffer. Only that smallest size may use the last quarter of the budget,
 * so a few large pairs never lock the others out. 0, or -ENOBUFS when not
 * even that fits (counted, warned).
 */
int pt_sm_budget_reserve(struct pt_conn *c)
{
	struct pt_sockmap_state *s = sm(c);
	struct pt_stats *st = c->w->stats;
	uint64_t limit = budget_bytes(c->cfg);
	uint64_t sndbuf = c->lcfg->sockmap_sndbuf, queued = c->lcfg->sockmap_max_queued;

	for (;;) {
		uint64_t cost = pair_cost(sndbuf, queued);
		bool smallest = !sndbuf && queued <= PT_SM_MIN_QUEUED;

		if (pt_budget_take(st, c->w->id, smallest ? limit : limit / 4 * 3, cost)) {
			s->reserved = cost;
			s->sndbuf = sndbuf;
			s->max_queued = queued;
			break;
		}
		if (smallest) {
			pt_stat_add(&st->budget.refused, 1);
			budget_warn(c, true);
			return -ENOBUFS;
		}
		sndbuf = sndbuf / 2 < PT_SM_MIN_QUEUED ? 0 : sndbuf / 2;
		queued = queued / 2 < PT_SM_MIN_QUEUED ? PT_SM_MIN_QUEUED : queued / 2;
	}
	if (s->sndbuf < c->lcfg->sockmap_sndbuf || s->max_queued < c->lcfg->sockmap_max_queued) {
		pt_stat_add(&st->budget.squeezed, 1);
		budget_warn(c, false);
	}
	return 0;
}

void pt_sm_budget_release(struct pt_conn *c)
{
	if (sm(c)->reserved)
		pt_budget_give(c->w->stats, c->w->id, sm(c)->reserved);
	sm(c)->reserved = 0;
}
