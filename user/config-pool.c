// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The top-level "upstreams" object: named pools of servers (config-t.h
 * struct pt_pool) that a route's "forward" may name instead of listing
 * "host:port"s. Each pool has its servers (a "host:port" or {"addr",
 * "weight"}), a balance policy, optional active health checks ("health"),
 * optional passive ejection ("eject") and what to do when every server is
 * down ("fallback"). Checked and built here, including the interleaved
 * round-robin sequence; pool.c balances, health.c checks.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "config-int.h"
#include "config.h"
#include "hash.h"

#define PT_CFG_POOL_NAME_MAX	63
#define PT_CFG_INTERVAL_MAX	3600000	/* one hour */
#define PT_CFG_CHECK_TIMEOUT_MAX 60000
#define PT_CFG_CHECK_BYTES_MAX	512	/* send / expect */
#define PT_DEF_CHECK_INTERVAL_MS 2000
#define PT_DEF_CHECK_TIMEOUT_MS	1000
#define PT_DEF_CHECK_RISE	2
#define PT_DEF_CHECK_FALL	3
#define PT_DEF_EJECT_FAILURES	3
#define PT_DEF_EJECT_MS		10000

static const char *const balances[] = {
	[PT_BAL_FIRST] = "first",
	[PT_BAL_ROUND_ROBIN] = "round-robin",
	[PT_BAL_LEAST_CONN] = "least-conn",
	[PT_BAL_SOURCE_HASH] = "source-hash",
};

/* upstreams.<name>.health: obj is the pt_health_cfg */

enum { HK_INTERVAL, HK_TIMEOUT, HK_RISE, HK_FALL, HK_TLS, HK_SEND, HK_EXPECT, HK_N };

static int parse_tls(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
		     void *obj)
{
	((struct pt_health_cfg *)obj)->tls = cJSON_IsTrue(j);
	return 0;
}

static void dump_tls(cJSON *out, const struct pt_cfg_key *k, const void *obj,
		     const struct pt_config *cfg)
{
	if (((const struct pt_health_cfg *)obj)->tls)
		cJSON_AddTrueToObject(out, k->name);
}

/* "send" and "expect": 1..PT_CFG_CHECK_BYTES_MAX bytes, stored at k->off. */
static int parse_bytes(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
		       void *obj)
{
	size_t n = strlen(j->valuestring);

	if (!n || n > PT_CFG_CHECK_BYTES_MAX) {
		pt_cfg_err(ctx, "must be 1..%d bytes, got %zu", PT_CFG_CHECK_BYTES_MAX, n);
		return -EINVAL;
	}
	*(char **)((char *)obj + k->off) = pt_cfg_strdup(ctx, j->valuestring);
	return 0;
}

static void dump_bytes(cJSON *out, const struct pt_cfg_key *k, const void *obj,
		       const struct pt_config *cfg)
{
	const char *s = *(char *const *)((const char *)obj + k->off);

	if (s)
		cJSON_AddStringToObject(out, k->name, s);
}

#define HOFF(f) offsetof(struct pt_health_cfg, f)
static const struct pt_cfg_key health_keys[HK_N] = {
	[HK_INTERVAL] = {"interval_ms", PT_J_UINT, false, 100, PT_CFG_INTERVAL_MAX,
			 PT_DEF_CHECK_INTERVAL_MS, HOFF(interval_ms),
			 .help = "time between two checks of a server"},
	[HK_TIMEOUT] = {"timeout_ms", PT_J_UINT, false, 10, PT_CFG_CHECK_TIMEOUT_MAX,
			PT_DEF_CHECK_TIMEOUT_MS, HOFF(timeout_ms),
			.help = "a check not passed within this fails (at most interval_ms)"},
	[HK_RISE] = {"rise", PT_J_UINT, false, 1, 100, PT_DEF_CHECK_RISE, HOFF(rise),
		     .help = "passed checks in a row that mark a down server up"},
	[HK_FALL] = {"fall", PT_J_UINT, false, 1, 100, PT_DEF_CHECK_FALL, HOFF(fall),
		     .help = "failed checks in a row that mark an up server down"},
	[HK_TLS] = {"tls", PT_J_BOOL, .parse = parse_tls, .dump = dump_tls,
		    .help = "true: send a TLS ClientHello, pass on a ServerHello"},
	[HK_SEND] = {"send", PT_J_STRING, .off = HOFF(send), .parse = parse_bytes,
		     .dump = dump_bytes, .help = "bytes to send once connected"},
	[HK_EXPECT] = {"expect", PT_J_STRING, .off = HOFF(expect), .parse = parse_bytes,
		       .dump = dump_bytes, .help = "bytes that must appear in the first reply"},
};

static void parse_health_obj(struct pt_cfg_ctx *ctx, const cJSON *j, struct pt_health_cfg *h)
{
	uint64_t seen, bad;
	size_t mark;

	seen = pt_cfg_object(ctx, j, health_keys, HK_N, h, &bad);
	h->on = true;
	if (h->timeout_ms > h->interval_ms && !(bad & PT_CFG_BIT(HK_TIMEOUT))) {
		mark = pt_cfg_path_key(ctx, "timeout_ms");
		pt_cfg_err(ctx, "must be at most interval_ms (%u), got %u", h->interval_ms,
			   h->timeout_ms);
		pt_cfg_path_pop(ctx, mark);
	}
	if (h->tls && (seen & PT_CFG_BIT(HK_SEND)))
		pt_cfg_err(ctx, "give \"tls\" or \"send\", not both");
	if (h->tls && (seen & PT_CFG_BIT(HK_EXPECT)))
		pt_cfg_err(ctx, "\"tls\" expects a ServerHello: leave \"expect\" out");
}

/* upstreams.<name>.eject: obj is the pt_pool */

enum { EK_FAILURES, EK_COOLDOWN, EK_N };

#define POFF(f) offsetof(struct pt_pool, f)
static const struct pt_cfg_key eject_keys[EK_N] = {
	[EK_FAILURES] = {"failures", PT_J_UINT, false, 1, 1000, PT_DEF_EJECT_FAILURES,
			 POFF(eject_failures), .help = "connect failures in a row that eject a server"},
	[EK_COOLDOWN] = {"cooldown_ms", PT_J_UINT, false, 100, PT_CFG_INTERVAL_MAX, PT_DEF_EJECT_MS,
			 POFF(eject_ms), .help = "how long an ejected server gets no connection"},
};

/* upstreams.<name>: obj is the pt_pool */

enum { OK_SERVERS, OK_BALANCE, OK_HEALTH, OK_EJECT, OK_FALLBACK, OK_N };

/* One of "servers": "host:port" or {"addr": "host:port", "weight": N}. */
static int parse_server(struct pt_cfg_ctx *ctx, const cJSON *j, struct pt_pool *p)
{
	const cJSON *addr = cJSON_IsObject(j) ? cJSON_GetObjectItemCaseSensitive(j, "addr") : j;
	const cJSON *w = cJSON_IsObject(j) ? cJSON_GetObjectItemCaseSensitive(j, "weight") : NULL;
	struct pt_pool_server *s, *v;
	size_t mark;

	for (const cJSON *c = cJSON_IsObject(j) ? j->child : NULL; c; c = c->next) {
		if (strcmp(c->string, "addr") && strcmp(c->string, "weight")) {
			mark = pt_cfg_path_key(ctx, c->string);
			pt_cfg_err(ctx, "unknown key (a server has \"addr\" and \"weight\")");
			pt_cfg_path_pop(ctx, mark);
		}
	}
	if (!cJSON_IsString(addr)) {
		pt_cfg_err(ctx, "expected \"host:port\" or {\"addr\": \"host:port\", \"weight\": N}");
		return -EINVAL;
	}
	v = pt_cfg_grow(ctx, p->servers, p->n_servers, sizeof(*v));
	if (!v)
		return -ENOMEM;
	p->servers = v;
	s = &v[p->n_servers];
	s->weight = 1;
	s->slot = -1;
	if (w) {
		mark = pt_cfg_path_key(ctx, "weight");
		/* the range first: casting a double out of int's range is undefined */
		if (!cJSON_IsNumber(w) || w->valuedouble < 1 || w->valuedouble > PT_MAX_WEIGHT ||
		    w->valuedouble != (double)(int)w->valuedouble)
			pt_cfg_err(ctx, "weight must be an integer 1..%d", PT_MAX_WEIGHT);
		else
			s->weight = (unsigned int)w->valuedouble;
		pt_cfg_path_pop(ctx, mark);
	}
	mark = cJSON_IsObject(j) ? pt_cfg_path_key(ctx, "addr") : ctx->path_len;
	if (pt_cfg_upstream_resolve(ctx, addr->valuestring, &s->u)) {
		pt_cfg_path_pop(ctx, mark);
		return -EINVAL;
	}
	pt_cfg_path_pop(ctx, mark);
	p->n_servers++;
	return 0;
}

static int parse_servers(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
			 void *obj)
{
	struct pt_pool *p = obj;
	const cJSON *c;
	size_t mark;
	int i = 0;

	if (!j->child) {
		pt_cfg_err(ctx, "a pool needs at least one server");
		return -EINVAL;
	}
	cJSON_ArrayForEach(c, j)
	{
		mark = pt_cfg_path_index(ctx, i);
		if (i++ == PT_MAX_POOL_SERVERS)
			pt_cfg_err(ctx, "too many servers: a pool has at most %d",
				   PT_MAX_POOL_SERVERS);
		else
			parse_server(ctx, c, p);
		pt_cfg_path_pop(ctx, mark);
	}
	return 0;
}

static void dump_servers(cJSON *out, const struct pt_cfg_key *k, const void *obj,
			 const struct pt_config *cfg)
{
	const struct pt_pool *p = obj;
	cJSON *a = cJSON_AddArrayToObject(out, k->name), *o;

	for (int i = 0; a && i < p->n_servers; i++) {
		if (p->servers[i].weight == 1) {
			cJSON_AddItemToArray(a, cJSON_CreateString(p->servers[i].u.spec));
			continue;
		}
		if (!(o = cJSON_CreateObject()))
			return;
		cJSON_AddStringToObject(o, "addr", p->servers[i].u.spec);
		cJSON_AddNumberToObject(o, "weight", p->servers[i].weight);
		cJSON_AddItemToArray(a, o);
	}
}

static int parse_balance(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
			 void *obj)
{
	struct pt_pool *p = obj;

	for (size_t i = 0; i < sizeof(balances) / sizeof(balances[0]); i++) {
		if (!strcmp(j->valuestring, balances[i])) {
			p->balance = i;
			return 0;
		}
	}
	pt_cfg_err(ctx, "expected \"round-robin\", \"least-conn\", \"source-hash\" or \"first\", "
		   "got %s", pt_cfg_q(ctx, j->valuestring));
	return -EINVAL;
}

static void dump_balance(cJSON *out, const struct pt_cfg_key *k, const void *obj,
			 const struct pt_config *cfg)
{
	cJSON_AddStringToObject(out, k->name, balances[((const struct pt_pool *)obj)->balance]);
}

static int parse_health(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
			void *obj)
{
	parse_health_obj(ctx, j, &((struct pt_pool *)obj)->health);
	return 0;
}

static void dump_health(cJSON *out, const struct pt_cfg_key *k, const void *obj,
			const struct pt_config *cfg)
{
	const struct pt_pool *p = obj;
	cJSON *o;

	if (p->health.on && (o = cJSON_AddObjectToObject(out, k->name)))
		pt_cfg_dump_keys(o, health_keys, HK_N, &p->health, cfg);
}

static int parse_eject(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
		       void *obj)
{
	pt_cfg_object(ctx, j, eject_keys, EK_N, obj, NULL);
	return 0;
}

static void dump_eject(cJSON *out, const struct pt_cfg_key *k, const void *obj,
		       const struct pt_config *cfg)
{
	const struct pt_pool *p = obj;
	cJSON *o;

	if (p->eject_failures && (o = cJSON_AddObjectToObject(out, k->name)))
		pt_cfg_dump_keys(o, eject_keys, EK_N, obj, cfg);
}

static int parse_fallback(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
			  void *obj)
{
	struct pt_pool *p = obj;

	if (!strcmp(j->valuestring, "try"))
		p->fallback = PT_POOL_FB_TRY;
	else if (!strcmp(j->valuestring, "reject"))
		p->fallback = PT_POOL_FB_REJECT;
	else
		p->fallback_name = pt_cfg_strdup(ctx, j->valuestring);
	return 0;
}

static void dump_fallback(cJSON *out, const struct pt_cfg_key *k, const void *obj,
			  const struct pt_config *cfg)
{
	const struct pt_pool *p = obj;

	if (p->fallback >= 0)
		cJSON_AddStringToObject(out, k->name, cfg->pools[p->fallback].name);
	else
		cJSON_AddStringToObject(out, k->name,
					p->fallback == PT_POOL_FB_TRY ? "try" : "reject");
}

static const struct pt_cfg_key pool_keys[OK_N] = {
	[OK_SERVERS] = {"servers", PT_J_ARRAY, true, .parse = parse_servers, .dump = dump_servers,
			.help = "\"host:port\" or {\"addr\": \"host:port\", \"weight\": 1..256}"},
	[OK_BALANCE] = {"balance", PT_J_STRING, .parse = parse_balance, .dump = dump_balance,
			.help = "\"first\" (default), \"round-robin\", \"least-conn\" or "
				"\"source-hash\""},
	[OK_HEALTH] = {"health", PT_J_OBJECT, .parse = parse_health, .dump = dump_health,
		       .help = "active checks: interval_ms, timeout_ms, rise, fall, tls, send, "
			       "expect"},
	[OK_EJECT] = {"eject", PT_J_OBJECT, .parse = parse_eject, .dump = dump_eject,
		      .help = "passive: failures in a row take a server out for cooldown_ms"},
	[OK_FALLBACK] = {"fallback", PT_J_STRING, .parse = parse_fallback, .dump = dump_fallback,
			 .help = "every server down: \"try\" (default), \"reject\" or a pool name"},
};

/*
 * The round-robin sequence: each server as often as its weight, spread out
 * (nginx's smooth weighted round robin, run once over a whole cycle).
 */
static int build_rr_seq(struct pt_cfg_ctx *ctx, struct pt_pool *p)
{
	int cur[PT_MAX_POOL_SERVERS] = {0}, total = 0, best;

	for (int i = 0; i < p->n_servers; i++)
		total += (int)p->servers[i].weight;
	p->rr_seq = calloc((size_t)total, sizeof(*p->rr_seq));
	if (!p->rr_seq) {
		pt_cfg_oom(ctx);
		return -ENOMEM;
	}
	for (int n = 0; n < total; n++) {
		best = 0;
		for (int i = 0; i < p->n_servers; i++) {
			cur[i] += (int)p->servers[i].weight;
			if (cur[i] > cur[best])
				best = i;
		}
		cur[best] -= total;
		p->rr_seq[n] = (uint16_t)best;
	}
	p->n_rr_seq = (unsigned int)total;
	return 0;
}

/* Finish pool @p: server keys, the round-robin sequence. */
static void pool_finish(struct pt_cfg_ctx *ctx, struct pt_pool *p)
{
	for (int i = 0; i < p->n_servers; i++) {
		struct pt_pool_server *s = &p->servers[i];
		uint64_t h = pt_fnv1a(PT_FNV_OFFSET, p->name, strlen(p->name) + 1);

		s->key = pt_mix64(pt_fnv1a(h, s->u.spec, strlen(s->u.spec)));
		for (int k = 0; k < i; k++)
			if (!strcmp(p->servers[k].u.spec, s->u.spec))
				pt_cfg_err(ctx, "server %s is listed twice",
					   pt_cfg_q(ctx, s->u.spec));
	}
	if (p->n_servers)
		build_rr_seq(ctx, p);
}

static bool pool_name_ok(struct pt_cfg_ctx *ctx, const char *name)
{
	if (!*name || strlen(name) > PT_CFG_POOL_NAME_MAX || strchr(name, ':') ||
	    !strcmp(name, "try") || !strcmp(name, "reject") || !strcmp(name, "original") ||
	    !strcmp(name, "requested")) {
		pt_cfg_err(ctx, "a pool name is 1..%d characters without ':', not \"try\", "
			   "\"reject\", \"original\" or \"requested\"", PT_CFG_POOL_NAME_MAX);
		return false;
	}
	return true;
}

int pt_cfg_pool_find(const struct pt_config *cfg, const char *name)
{
	for (int i = 0; i < cfg->n_pools; i++)
		if (!strcmp(cfg->pools[i].name, name))
			return i;
	return -1;
}

/* Resolve the pools' "fallback" names, now that every pool is known. */
static void resolve_fallbacks(struct pt_cfg_ctx *ctx, struct pt_config *cfg)
{
	size_t mark, mark2;

	for (int i = 0; i < cfg->n_pools; i++) {
		struct pt_pool *p = &cfg->pools[i];

		if (!p->fallback_name)
			continue;
		p->fallback = pt_cfg_pool_find(cfg, p->fallback_name);
		if (p->fallback >= 0 && p->fallback != i)
			continue;
		mark = pt_cfg_path_key(ctx, p->name);
		mark2 = pt_cfg_path_key(ctx, "fallback");
		pt_cfg_err(ctx, p->fallback == i ? "a pool cannot fall back on itself"
						 : "expected \"try\", \"reject\" or a pool name, got %s",
			   pt_cfg_q(ctx, p->fallback_name));
		pt_cfg_path_pop(ctx, mark2);
		pt_cfg_path_pop(ctx, mark);
		p->fallback = PT_POOL_FB_REJECT;
	}
}

/* The top-level "upstreams" object (obj is the pt_config): pool name -> pool. */
int pt_cfg_parse_pools(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
		       void *obj)
{
	struct pt_config *cfg = obj;
	struct pt_pool *v, *p;
	const cJSON *c;
	size_t mark;

	cJSON_ArrayForEach(c, j)
	{
		if (pt_cfg_dup_key(ctx, j, c))
			continue;
		mark = pt_cfg_path_key(ctx, c->string);
		if (cfg->n_pools == PT_MAX_POOLS) {
			pt_cfg_err(ctx, "too many pools: at most %d", PT_MAX_POOLS);
			pt_cfg_path_pop(ctx, mark);
			break;
		}
		v = pool_name_ok(ctx, c->string)
			    ? pt_cfg_grow(ctx, cfg->pools, cfg->n_pools, sizeof(*v))
			    : NULL;
		if (v) {
			cfg->pools = v;
			p = &v[cfg->n_pools++];
			p->fallback = PT_POOL_FB_TRY;
			p->name = pt_cfg_strdup(ctx, c->string);
			pt_cfg_object(ctx, c, pool_keys, OK_N, p, NULL);
			if (p->name)
				pool_finish(ctx, p);
		}
		pt_cfg_path_pop(ctx, mark);
	}
	resolve_fallbacks(ctx, cfg);
	return 0;
}

void pt_cfg_dump_pools(cJSON *out, const struct pt_cfg_key *k, const void *obj,
		       const struct pt_config *cfg)
{
	cJSON *o, *po;

	if (!cfg->n_pools || !(o = cJSON_AddObjectToObject(out, k->name)))
		return;
	for (int i = 0; i < cfg->n_pools; i++)
		if ((po = cJSON_AddObjectToObject(o, cfg->pools[i].name)))
			pt_cfg_dump_keys(po, pool_keys, OK_N, &cfg->pools[i], cfg);
}

void pt_pool_cfg_free(struct pt_pool *p)
{
	for (int i = 0; i < p->n_servers; i++) {
		free(p->servers[i].u.spec);
		free(p->servers[i].u.addrs);
	}
	free(p->servers);
	free(p->name);
	free(p->fallback_name);
	free(p->health.send);
	free(p->health.expect);
	free(p->rr_seq);
}
