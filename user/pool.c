// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Upstream pools at run time (pool.h). A choice is made from what the
 * shared rows say at that moment: up (neither marked down by the health
 * checks nor ejected), open connections (least-conn), the pool's ticket
 * (round-robin). Nothing is locked: a row read while another process
 * writes it gives a choice that was right a moment ago.
 *
 * source-hash is weighted rendezvous hashing (HRW): every server scores
 * -weight / ln(u), u the client's hash mixed with the server's key mapped
 * into (0, 1), and the highest score wins. Removing a server (or its going
 * down) moves only the clients it had; the others keep their server.
 */
#include <math.h>
#include <netinet/in.h>
#include <string.h>

#include "hash.h"
#include "log.h"
#include "pool.h"

#define PT_POOL_MAX_DEPTH 4 /* fallback pools followed at most */

static struct pt_srv_state *find_row(struct pt_pool_shared *sh, uint64_t key)
{
	for (int i = 0; i < PT_POOL_SLOTS; i++)
		if (__atomic_load_n(&sh->s[i].key, __ATOMIC_ACQUIRE) == key)
			return &sh->s[i];
	return NULL;
}

/* Is @key a server of @cfg? */
static bool in_config(const struct pt_config *cfg, uint64_t key)
{
	for (int i = 0; i < cfg->n_pools; i++)
		for (int k = 0; k < cfg->pools[i].n_servers; k++)
			if (cfg->pools[i].servers[k].key == key)
				return true;
	return false;
}

/* A free row, or one of a server gone from @cfg with no open connection. */
static struct pt_srv_state *new_row(struct pt_pool_shared *sh, const struct pt_config *cfg,
				    uint64_t key)
{
	struct pt_srv_state *st = find_row(sh, 0);

	for (int i = 0; !st && i < PT_POOL_SLOTS; i++)
		if (!in_config(cfg, sh->s[i].key) &&
		    !__atomic_load_n(&sh->s[i].active, __ATOMIC_RELAXED))
			st = &sh->s[i];
	if (!st)
		return NULL;
	memset((char *)st + sizeof(st->key), 0, sizeof(*st) - sizeof(st->key));
	__atomic_store_n(&st->key, key, __ATOMIC_RELEASE);
	return st;
}

void pt_pools_bind(struct pt_pool_shared *sh, struct pt_config *cfg, bool assign)
{
	for (int i = 0; i < cfg->n_pools; i++) {
		for (int k = 0; k < cfg->pools[i].n_servers; k++) {
			struct pt_pool_server *s = &cfg->pools[i].servers[k];
			struct pt_srv_state *st = find_row(sh, s->key);

			if (!st && assign)
				st = new_row(sh, cfg, s->key);
			s->slot = st ? (int)(st - sh->s) : -1;
			if (!st && assign)
				pr_warn(CONFIG,
					"pool %s: no shared row left for %s: it counts as up",
					cfg->pools[i].name, s->u.spec);
		}
	}
}

bool pt_srv_is_up(const struct pt_srv_state *st, uint64_t now)
{
	return !__atomic_load_n(&st->down, __ATOMIC_RELAXED) &&
	       __atomic_load_n(&st->eject_until, __ATOMIC_RELAXED) <= now;
}

struct pt_srv_state *pt_pool_row(struct pt_pool_shared *sh, const struct pt_pool *p, int i)
{
	int slot = p->servers[i].slot;

	return sh && slot >= 0 ? &sh->s[slot] : NULL;
}

uint64_t pt_pool_src_hash(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET6)
		return pt_mix64(
			pt_fnv1a(PT_FNV_OFFSET, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16));
	return pt_mix64(pt_fnv1a(PT_FNV_OFFSET, &((const struct sockaddr_in *)sa)->sin_addr, 4));
}

static bool candidate(uint64_t tried, uint64_t up, bool anyway, int i)
{
	return !(tried >> i & 1) && (anyway || (up >> i & 1));
}

/* Weighted rendezvous score of server @s for the client hash @src. */
static double hrw_score(const struct pt_pool_server *s, uint64_t src)
{
	uint64_t h = pt_mix64(s->key ^ src);
	double u = ((double)(h >> 11) + 0.5) / 9007199254740992.0; /* (0, 1) */

	return -(double)s->weight / log(u);
}

/*
 * The ticket's place in the sequence; when that server cannot be taken,
 * the ticket picks among the places of those that can, so that their
 * shares stay in proportion to their weights (not all to the next one).
 */
static int choose_rr(const struct pt_pool *p, uint64_t tried, uint64_t up, bool anyway,
		     uint64_t ticket)
{
	unsigned int n = 0, k;
	int s = p->rr_seq[ticket % p->n_rr_seq];

	if (candidate(tried, up, anyway, s))
		return s;
	for (unsigned int i = 0; i < p->n_rr_seq; i++)
		n += candidate(tried, up, anyway, p->rr_seq[i]);
	if (!n)
		return -1;
	k = (unsigned int)(ticket % n);
	for (unsigned int i = 0;; i++)
		if (candidate(tried, up, anyway, p->rr_seq[i]) && !k--)
			return p->rr_seq[i];
}

/* Fewest open connections per unit of weight; ties go round from @ticket. */
static int choose_least(const struct pt_pool *p, uint64_t tried, uint64_t up, bool anyway,
			const int64_t *active, uint64_t ticket)
{
	int best = -1;

	for (int n = 0; n < p->n_servers; n++) {
		int i = (int)((ticket + n) % p->n_servers);

		if (!candidate(tried, up, anyway, i))
			continue;
		if (best < 0 || active[i] * (int64_t)p->servers[best].weight <
					active[best] * (int64_t)p->servers[i].weight)
			best = i;
	}
	return best;
}

static int choose_hash(const struct pt_pool *p, uint64_t tried, uint64_t up, bool anyway,
		       uint64_t src)
{
	double best_score = 0, sc;
	int best = -1;

	for (int i = 0; i < p->n_servers; i++) {
		if (!candidate(tried, up, anyway, i))
			continue;
		sc = hrw_score(&p->servers[i], src);
		if (best < 0 || sc > best_score) {
			best = i;
			best_score = sc;
		}
	}
	return best;
}

int pt_pool_choose(const struct pt_pool *p, uint64_t tried, uint64_t up, bool anyway,
		   const int64_t *active, uint64_t ticket, uint64_t src)
{
	switch (p->balance) {
	case PT_BAL_ROUND_ROBIN:
		return choose_rr(p, tried, up, anyway, ticket);
	case PT_BAL_LEAST_CONN:
		return choose_least(p, tried, up, anyway, active, ticket);
	case PT_BAL_SOURCE_HASH:
		return choose_hash(p, tried, up, anyway, src);
	case PT_BAL_FIRST:
		break;
	}
	for (int i = 0; i < p->n_servers; i++)
		if (candidate(tried, up, anyway, i))
			return i;
	return -1;
}

/*
 * Server @i's ejection has run out: the first process to see it clears it
 * and says so, once (a load and a compare while nothing is ejected).
 */
static void eject_over(const struct pt_pool *p, int i, struct pt_srv_state *st, uint64_t now)
{
	uint64_t until = __atomic_load_n(&st->eject_until, __ATOMIC_RELAXED);

	if (!until || until > now ||
	    !__atomic_compare_exchange_n(&st->eject_until, &until, 0, false, __ATOMIC_RELAXED,
					 __ATOMIC_RELAXED))
		return;
	pr_info(CONN, "pool %s: server %s back after its %u ms ejection", p->name,
		p->servers[i].u.spec, p->eject_ms);
}

/* Choose in @pk->pool from the shared rows; -1 if no candidate. */
static int choose_shared(struct pt_pool_pick *pk, struct pt_pool_shared *sh, uint64_t src,
			 uint64_t now)
{
	const struct pt_pool *p = pk->pool;
	int64_t active[PT_MAX_POOL_SERVERS];
	struct pt_srv_state *st, *first = pt_pool_row(sh, p, 0);
	uint64_t up = 0, ticket = 0;

	for (int i = 0; i < p->n_servers; i++) {
		st = pt_pool_row(sh, p, i);
		active[i] = st ? __atomic_load_n(&st->active, __ATOMIC_RELAXED) : 0;
		if (st)
			eject_over(p, i, st, now);
		if (!st || pt_srv_is_up(st, now))
			up |= 1ULL << i;
	}
	if (first && (p->balance == PT_BAL_ROUND_ROBIN || p->balance == PT_BAL_LEAST_CONN))
		ticket = __atomic_fetch_add(&first->rr, 1, __ATOMIC_RELAXED);
	return pt_pool_choose(p, pk->tried, up, pk->anyway, active, ticket, src);
}

bool pt_pool_pick_next(struct pt_pool_pick *pk, struct pt_pool_shared *sh,
		       const struct pt_config *cfg, const struct sockaddr *src, uint64_t now)
{
	uint64_t h = pt_pool_src_hash(src);
	int i;

	for (;;) {
		i = choose_shared(pk, sh, h, now);
		if (i >= 0) {
			pk->srv = i;
			pk->tried |= 1ULL << i;
			return true;
		}
		pk->srv = -1;
		/* Nothing up is left: the pool's fallback, once. */
		if (pk->anyway || pk->pool->fallback == PT_POOL_FB_REJECT ||
		    pk->depth >= PT_POOL_MAX_DEPTH)
			return false;
		if (pk->pool->fallback == PT_POOL_FB_TRY) {
			pk->anyway = true;
			continue;
		}
		pk->pool = &cfg->pools[pk->pool->fallback];
		pk->tried = 0;
		pk->depth++;
	}
}

const struct pt_upstream *pt_pool_upstream(const struct pt_pool_pick *pk)
{
	return pk->pool && pk->srv >= 0 ? &pk->pool->servers[pk->srv].u : NULL;
}

void pt_pool_failed(struct pt_pool_pick *pk, struct pt_pool_shared *sh, uint64_t now)
{
	const struct pt_pool *p = pk->pool;
	struct pt_srv_state *st = p && pk->srv >= 0 ? pt_pool_row(sh, p, pk->srv) : NULL;

	if (!st)
		return;
	__atomic_fetch_add(&st->connect_failures, 1, __ATOMIC_RELAXED);
	if (!p->eject_failures ||
	    __atomic_add_fetch(&st->fails, 1, __ATOMIC_RELAXED) != p->eject_failures)
		return;
	/* Exactly one process sees the count reach the limit: it ejects and says so. */
	__atomic_store_n(&st->eject_until, now + p->eject_ms, __ATOMIC_RELAXED);
	__atomic_store_n(&st->fails, 0, __ATOMIC_RELAXED);
	__atomic_fetch_add(&st->ejections, 1, __ATOMIC_RELAXED);
	pr_warn(CONN, "pool %s: server %s ejected for %u ms after %u connect failures in a row",
		p->name, p->servers[pk->srv].u.spec, p->eject_ms, p->eject_failures);
}

void pt_pool_connected(struct pt_pool_pick *pk, struct pt_pool_shared *sh, int wid)
{
	struct pt_srv_state *st =
		pk->pool && pk->srv >= 0 ? pt_pool_row(sh, pk->pool, pk->srv) : NULL;

	if (!st)
		return;
	__atomic_fetch_add(&st->active_w[wid], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&st->active, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&st->connections, 1, __ATOMIC_RELAXED);
	if (__atomic_load_n(&st->fails, __ATOMIC_RELAXED))
		__atomic_store_n(&st->fails, 0, __ATOMIC_RELAXED);
	pk->counted = (int)(st - sh->s) + 1;
	pk->wid = wid;
}

void pt_pool_release(struct pt_pool_pick *pk, struct pt_pool_shared *sh)
{
	if (!pk->counted)
		return;
	__atomic_fetch_sub(&sh->s[pk->counted - 1].active_w[pk->wid], 1, __ATOMIC_RELAXED);
	__atomic_fetch_sub(&sh->s[pk->counted - 1].active, 1, __ATOMIC_RELAXED);
	pk->counted = 0;
}

void pt_pools_forget_worker(struct pt_pool_shared *sh, int wid)
{
	for (int i = 0; i < PT_POOL_SLOTS; i++) {
		int64_t n = __atomic_exchange_n(&sh->s[i].active_w[wid], 0, __ATOMIC_RELAXED);

		if (n)
			__atomic_sub_fetch(&sh->s[i].active, n, __ATOMIC_RELAXED);
	}
}
