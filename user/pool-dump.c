// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The control socket's "upstreams" answer: every pool of the running
 * config with its servers' state and counters from their shared rows, for
 * passthru-ctl upstream show.
 */
#include <cjson/cJSON.h>

#include "pool-dump.h"
#include "pool.h"

static double ld(const uint64_t *p)
{
	return (double)__atomic_load_n(p, __ATOMIC_RELAXED);
}

static const char *state_of(const struct pt_srv_state *st, uint64_t now)
{
	if (!st)
		return "up";
	if (__atomic_load_n(&st->down, __ATOMIC_RELAXED))
		return "down";
	return __atomic_load_n(&st->eject_until, __ATOMIC_RELAXED) > now ? "ejected" : "up";
}

static cJSON *server_json(const struct pt_pool *p, int i, struct pt_pool_shared *sh, uint64_t now)
{
	struct pt_srv_state *st = pt_pool_row(sh, p, i);
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "addr", p->servers[i].u.spec);
	cJSON_AddNumberToObject(o, "weight", p->servers[i].weight);
	cJSON_AddStringToObject(o, "state", state_of(st, now));
	if (!st)
		return o;
	cJSON_AddNumberToObject(o, "active",
				(double)__atomic_load_n(&st->active, __ATOMIC_RELAXED));
	cJSON_AddNumberToObject(o, "connections", ld(&st->connections));
	cJSON_AddNumberToObject(o, "connect_failures", ld(&st->connect_failures));
	cJSON_AddNumberToObject(o, "ejections", ld(&st->ejections));
	cJSON_AddNumberToObject(o, "checks", ld(&st->checks));
	cJSON_AddNumberToObject(o, "checks_failed", ld(&st->checks_failed));
	cJSON_AddNumberToObject(o, "transitions", ld(&st->transitions));
	cJSON_AddNumberToObject(o, "check_ms", ld(&st->check_ms));
	return o;
}

static const char *const balances[] = {
	[PT_BAL_FIRST] = "first",
	[PT_BAL_ROUND_ROBIN] = "round-robin",
	[PT_BAL_LEAST_CONN] = "least-conn",
	[PT_BAL_SOURCE_HASH] = "source-hash",
};

cJSON *pt_pool_answer(const struct pt_config *cfg, struct pt_pool_shared *sh, uint64_t now)
{
	cJSON *doc = cJSON_CreateObject(), *pools, *po, *servers;

	if (!doc)
		return NULL;
	cJSON_AddNumberToObject(doc, "generation", cfg->generation);
	pools = cJSON_AddArrayToObject(doc, "pools");
	for (int i = 0; pools && i < cfg->n_pools; i++) {
		const struct pt_pool *p = &cfg->pools[i];

		if (!(po = cJSON_CreateObject()))
			break;
		cJSON_AddItemToArray(pools, po);
		cJSON_AddStringToObject(po, "name", p->name);
		cJSON_AddStringToObject(po, "balance", balances[p->balance]);
		cJSON_AddBoolToObject(po, "health", p->health.on);
		servers = cJSON_AddArrayToObject(po, "servers");
		for (int k = 0; servers && k < p->n_servers; k++)
			cJSON_AddItemToArray(servers, server_json(p, k, sh, now));
	}
	return doc;
}
