// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The native format's routes: the key tables of listeners[].routes[] and of
 * their "match" object (protocol, sni, alpn, host, path_prefix, cidr,
 * pattern), the checks between match keys, and their dumpers. The listener
 * table in config-native.c reaches them through its "routes" key.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "addr.h"
#include "config-int.h"
#include "config.h"

/* A request target has no spaces; the detector keeps PT_PATH_MAX - 1 bytes of it. */
static int path_prefix_add(struct pt_cfg_ctx *ctx, const char *s, void *arg)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p > 0x20 && *p != 0x7f; p++)
		;
	if (s[0] != '/' || *p || strlen(s) >= PT_PATH_MAX) {
		pt_cfg_err(
			ctx,
			"expected a path starting with \"/\" (at most %d characters, no spaces), got %s",
			PT_PATH_MAX - 1, pt_cfg_q(ctx, s));
		return -EINVAL;
	}
	return pt_cfg_strv_push(ctx, arg, pt_cfg_strdup(ctx, s));
}

/* Add a client network to the pt_route @arg. */
static int cidr_add(struct pt_cfg_ctx *ctx, const char *s, void *arg)
{
	struct pt_route *r = arg;

	return pt_cfg_cidr_push(ctx, s, &r->cidr, &r->n_cidr);
}

/* listeners[].routes[].match: obj is the pt_route */

enum { MK_PROTOCOL, MK_SNI, MK_ALPN, MK_HOST, MK_PATH, MK_CIDR, MK_PATTERN, MK_N };

static int parse_protocol(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
			  void *obj)
{
	struct pt_route *r = obj;
	int p = pt_match_proto_from_name(j->valuestring);

	if (p < 0) {
		pt_cfg_err(
			ctx,
			"unknown protocol %s (expected any, tls, http, http2, ssh, socks4, socks5, pattern, timeout or unknown)",
			pt_cfg_q(ctx, j->valuestring));
		return -EINVAL;
	}
	r->proto = (enum pt_match_proto)p;
	return 0;
}

static void dump_protocol(cJSON *out, const struct pt_cfg_key *k, const void *obj,
			  const struct pt_config *cfg)
{
	const struct pt_route *r = obj;

	if (r->proto != PT_MATCH_ANY)
		cJSON_AddStringToObject(out, k->name, pt_match_proto_name(r->proto));
}

static int parse_names(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
		       void *obj)
{
	return pt_cfg_strings(ctx, j, pt_cfg_dnsname_add, (char *)obj + k->off);
}

static int parse_alpn(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j, void *obj)
{
	return pt_cfg_strings(ctx, j, pt_cfg_alpn_add, (char *)obj + k->off);
}

static int parse_paths(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
		       void *obj)
{
	return pt_cfg_strings(ctx, j, path_prefix_add, (char *)obj + k->off);
}

static void dump_strv(cJSON *out, const struct pt_cfg_key *k, const void *obj,
		      const struct pt_config *cfg)
{
	pt_cfg_dump_strv(out, k->name, (const struct pt_strv *)((const char *)obj + k->off));
}

static int parse_cidr(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j, void *obj)
{
	return pt_cfg_strings(ctx, j, cidr_add, obj);
}

static void dump_cidr(cJSON *out, const struct pt_cfg_key *k, const void *obj,
		      const struct pt_config *cfg)
{
	const struct pt_route *r = obj;
	cJSON *a;
	int i;

	if (!r->n_cidr || !(a = cJSON_AddArrayToObject(out, k->name)))
		return;
	for (i = 0; i < r->n_cidr; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(r->cidr[i].spec));
}

static int parse_pattern_ref(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
			     void *obj)
{
	const struct pt_config *cfg = ctx->cfg;
	struct pt_route *r = obj;
	int i;

	for (i = 0; i < cfg->n_patterns; i++) {
		if (cfg->patterns[i].name && !strcmp(cfg->patterns[i].name, j->valuestring)) {
			r->pattern = i;
			return 0;
		}
	}
	pt_cfg_err(ctx, "unknown pattern %s%s", pt_cfg_q(ctx, j->valuestring),
		   cfg->n_patterns ? "" : " (there are no patterns[])");
	return -EINVAL;
}

static void dump_pattern_ref(cJSON *out, const struct pt_cfg_key *k, const void *obj,
			     const struct pt_config *cfg)
{
	const struct pt_route *r = obj;

	if (r->pattern >= 0)
		cJSON_AddStringToObject(out, k->name, cfg->patterns[r->pattern].name);
}

static const struct pt_cfg_key match_keys[MK_N] = {
	[MK_PROTOCOL] =
		{"protocol", PT_J_STRING, .parse = parse_protocol, .dump = dump_protocol,
		 .help = "any, tls, http, http2, ssh, socks4, socks5, pattern, timeout or unknown"},
	[MK_SNI] = {"sni", PT_J_STRV, .off = offsetof(struct pt_route, sni), .parse = parse_names,
		    .dump = dump_strv, .help = "TLS server names, \"*.\" for any subdomain"},
	[MK_ALPN] = {"alpn", PT_J_STRV, .off = offsetof(struct pt_route, alpn), .parse = parse_alpn,
		     .dump = dump_strv, .help = "ALPN protocols the client offers"},
	[MK_HOST] = {"host", PT_J_STRV, .off = offsetof(struct pt_route, host),
		     .parse = parse_names, .dump = dump_strv, .help = "HTTP/1.x Host names"},
	[MK_PATH] = {"path_prefix", PT_J_STRV, .off = offsetof(struct pt_route, path_prefix),
		     .parse = parse_paths, .dump = dump_strv,
		     .help = "HTTP/1.x request path prefixes"},
	[MK_CIDR] = {"cidr", PT_J_STRV, .parse = parse_cidr, .dump = dump_cidr,
		     .help = "client networks"},
	[MK_PATTERN] = {"pattern", PT_J_STRING, .parse = parse_pattern_ref,
			.dump = dump_pattern_ref, .help = "name of a patterns[] entry"},
};

/* Keys that only make sense with one protocol. */
static const struct {
	int key;
	enum pt_match_proto proto;
} match_needs[] = {
	{MK_SNI, PT_MATCH_TLS},
	{MK_ALPN, PT_MATCH_TLS},
	{MK_HOST, PT_MATCH_HTTP},
	{MK_PATH, PT_MATCH_HTTP},
};

/*
 * "pattern" implies protocol "pattern" and contradicts any other protocol;
 * protocol "pattern" needs the pattern's name; sni/alpn need tls and
 * host/path_prefix need http, as no other detector fills those fields.
 */
static void match_check(struct pt_cfg_ctx *ctx, struct pt_route *r, uint64_t seen)
{
	size_t mark;
	unsigned int i;

	if (seen & PT_CFG_BIT(MK_PATTERN)) {
		if ((seen & PT_CFG_BIT(MK_PROTOCOL)) && r->proto != PT_MATCH_PATTERN) {
			mark = pt_cfg_path_key(ctx, "pattern");
			pt_cfg_err(
				ctx,
				"\"pattern\" goes with \"protocol\": \"pattern\" (or no protocol), not %s",
				pt_cfg_q(ctx, pt_match_proto_name(r->proto)));
			pt_cfg_path_pop(ctx, mark);
		}
		r->proto = PT_MATCH_PATTERN;
	} else if (r->proto == PT_MATCH_PATTERN) {
		mark = pt_cfg_path_key(ctx, "protocol");
		pt_cfg_err(
			ctx,
			"protocol \"pattern\" needs a \"pattern\" key naming a patterns[] entry");
		pt_cfg_path_pop(ctx, mark);
	}
	for (i = 0; i < sizeof(match_needs) / sizeof(match_needs[0]); i++) {
		const char *name = match_keys[match_needs[i].key].name;

		if (!(seen & PT_CFG_BIT(match_needs[i].key)) || r->proto == match_needs[i].proto)
			continue;
		mark = pt_cfg_path_key(ctx, name);
		pt_cfg_err(ctx, "\"%s\" needs \"protocol\": \"%s\"", name,
			   pt_match_proto_name(match_needs[i].proto));
		pt_cfg_path_pop(ctx, mark);
	}
}

static int parse_match(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
		       void *obj)
{
	uint64_t seen, bad;

	seen = pt_cfg_object(ctx, j, match_keys, MK_N, obj, &bad);
	/* a bad protocol or pattern was reported; what depends on it would be noise */
	if (bad & (PT_CFG_BIT(MK_PROTOCOL) | PT_CFG_BIT(MK_PATTERN)))
		return -EINVAL;
	match_check(ctx, obj, seen);
	return 0;
}

static void dump_match(cJSON *out, const struct pt_cfg_key *k, const void *obj,
		       const struct pt_config *cfg)
{
	cJSON *m = cJSON_CreateObject();

	if (!m)
		return;
	pt_cfg_dump_keys(m, match_keys, MK_N, obj, cfg);
	if (m->child)
		cJSON_AddItemToObject(out, k->name, m);
	else
		cJSON_Delete(m);
}

/* listeners[].routes[]: obj is the pt_route */

enum { RK_NAME, RK_MATCH, RK_FORWARD, RK_REJECT, RK_PROXY, RK_DROP, RK_BAN, RK_N };

/*
 * "forward": a pool name (a string without ':' names one of "upstreams"),
 * or "host:port"s tried in order.
 */
static int parse_forward(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
			 void *obj)
{
	struct pt_route *r = obj;
	int i;

	if (cJSON_IsString(j) && !strchr(j->valuestring, ':')) {
		i = pt_cfg_pool_find(ctx->cfg, j->valuestring);
		r->pool = i >= 0 ? &ctx->cfg->pools[i] : NULL;
		if (r->pool)
			return 0;
		pt_cfg_err(ctx, "unknown upstream pool %s (a pool of \"upstreams\", or "
			   "\"host:port\")", pt_cfg_q(ctx, j->valuestring));
		return -EINVAL;
	}
	return pt_cfg_strings(ctx, j, pt_cfg_upstream_add, obj);
}

static void dump_forward(cJSON *out, const struct pt_cfg_key *k, const void *obj,
			 const struct pt_config *cfg)
{
	const struct pt_route *r = obj;
	cJSON *a;
	int i;

	if (r->action == PT_ACT_FORWARD && r->pool) {
		cJSON_AddStringToObject(out, k->name, r->pool->name);
		return;
	}
	if (r->action != PT_ACT_FORWARD || !(a = cJSON_AddArrayToObject(out, k->name)))
		return;
	for (i = 0; i < r->n_upstreams; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(r->upstreams[i].spec));
}

static int parse_reject(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
			void *obj)
{
	struct pt_route *r = obj;

	if (!cJSON_IsTrue(j)) {
		pt_cfg_err(ctx, "only true is allowed (leave \"reject\" out to forward)");
		return -EINVAL;
	}
	r->action = PT_ACT_REJECT;
	return 0;
}

static void dump_reject(cJSON *out, const struct pt_cfg_key *k, const void *obj,
			const struct pt_config *cfg)
{
	const struct pt_route *r = obj;

	if (r->action == PT_ACT_REJECT)
		cJSON_AddTrueToObject(out, k->name);
}

/* Only when set: most routes send no PROXY header. */
static void dump_proxy(cJSON *out, const struct pt_cfg_key *k, const void *obj,
		       const struct pt_config *cfg)
{
	const struct pt_route *r = obj;

	if (r->proxy_protocol)
		cJSON_AddNumberToObject(out, k->name, r->proxy_protocol);
}

static int parse_drop(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
		      void *obj)
{
	struct pt_route *r = obj;

	if (!cJSON_IsTrue(j)) {
		pt_cfg_err(ctx, "only true is allowed (leave \"drop\" out to forward)");
		return -EINVAL;
	}
	r->action = PT_ACT_DROP;
	return 0;
}

static void dump_drop(cJSON *out, const struct pt_cfg_key *k, const void *obj,
		      const struct pt_config *cfg)
{
	const struct pt_route *r = obj;

	if (r->action == PT_ACT_DROP)
		cJSON_AddTrueToObject(out, k->name);
}

static int parse_ban(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
		     void *obj)
{
	struct pt_route *r = obj;

	r->ban = cJSON_IsTrue(j);
	return 0;
}

static void dump_ban(cJSON *out, const struct pt_cfg_key *k, const void *obj,
		     const struct pt_config *cfg)
{
	const struct pt_route *r = obj;

	if (r->ban)
		cJSON_AddTrueToObject(out, k->name);
}

static const struct pt_cfg_key route_keys[RK_N] = {
	[RK_NAME] = {"name", PT_J_STRING, .off = offsetof(struct pt_route, name),
		     .parse = pt_cfg_parse_name, .dump = pt_cfg_dump_name,
		     .help = "name used in logs"},
	[RK_MATCH] = {"match", PT_J_OBJECT, .parse = parse_match, .dump = dump_match,
		      .help = "conditions that must all hold"},
	[RK_FORWARD] = {"forward", PT_J_STRV, .parse = parse_forward, .dump = dump_forward,
			.help = "a pool name, or \"host:port\" upstreams tried in order"},
	[RK_REJECT] = {"reject", PT_J_BOOL, .parse = parse_reject, .dump = dump_reject,
		       .help = "true: close the client at once"},
	[RK_PROXY] = {"proxy_protocol", PT_J_UINT, false, 1, 2, 0,
		      offsetof(struct pt_route, proxy_protocol), .dump = dump_proxy,
		      .help = "send a PROXY protocol header of this version (1 or 2) upstream"},
	[RK_DROP] = {"drop", PT_J_BOOL, .parse = parse_drop, .dump = dump_drop,
		     .help = "true: answer nothing, close when the client leaves or at timeout_ms"},
	[RK_BAN] = {"ban", PT_J_BOOL, .parse = parse_ban, .dump = dump_ban,
		    .help = "true: a connection on this route counts toward the shield's ban"},
};

static void parse_route(struct pt_cfg_ctx *ctx, const cJSON *j, struct pt_listener_cfg *l,
			struct pt_route *r)
{
	uint64_t seen, act = PT_CFG_BIT(RK_FORWARD) | PT_CFG_BIT(RK_REJECT) | PT_CFG_BIT(RK_DROP);
	size_t mark;

	seen = pt_cfg_object(ctx, j, route_keys, RK_N, r, NULL);
	if (__builtin_popcountll(seen & act) > 1)
		pt_cfg_err(ctx, "give only one of \"forward\", \"reject\" and \"drop\"");
	else if (!(seen & act) && cJSON_IsObject(j))
		pt_cfg_err(ctx, "give \"forward\" (upstreams), \"reject\": true or \"drop\": true");
	if ((seen & PT_CFG_BIT(RK_PROXY)) && r->action != PT_ACT_FORWARD) {
		mark = pt_cfg_path_key(ctx, "proxy_protocol");
		pt_cfg_err(ctx, "\"proxy_protocol\" needs \"forward\" (a client that is not "
			   "forwarded goes nowhere)");
		pt_cfg_path_pop(ctx, mark);
	}
	mark = (seen & PT_CFG_BIT(RK_NAME)) ? pt_cfg_path_key(ctx, "name") : ctx->path_len;
	pt_cfg_route_name(ctx, l, r);
	pt_cfg_path_pop(ctx, mark);
}

/* The "routes" key of a native listener (obj): at least one route, in order. */
int pt_cfg_parse_routes(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
			void *obj)
{
	struct pt_listener_cfg *l = obj;
	struct pt_route *r;
	const cJSON *c;
	size_t mark;
	int i = 0;

	if (!j->child) {
		pt_cfg_err(ctx, "at least one route is required");
		return -EINVAL;
	}
	cJSON_ArrayForEach(c, j)
	{
		r = pt_cfg_route_new(ctx, l);
		if (!r)
			return -ENOMEM;
		mark = pt_cfg_path_index(ctx, i++);
		parse_route(ctx, c, l, r);
		pt_cfg_path_pop(ctx, mark);
	}
	return 0;
}

/* Dump the routes of the listener @obj as the array "routes". */
void pt_cfg_dump_routes(cJSON *out, const struct pt_cfg_key *k, const void *obj,
			const struct pt_config *cfg)
{
	const struct pt_listener_cfg *l = obj;
	cJSON *a = cJSON_AddArrayToObject(out, k->name), *o;
	int i;

	for (i = 0; a && i < l->n_routes; i++) {
		if (!(o = cJSON_CreateObject()))
			return;
		pt_cfg_dump_keys(o, route_keys, RK_N, &l->routes[i], cfg);
		cJSON_AddItemToArray(a, o);
	}
}
