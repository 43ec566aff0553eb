// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The native format's routes: the key tables of listeners[].routes[] and of
 * their "match" object (protocol, sni, alpn, host, path_prefix, cidr,
 * pattern, ja4, dst_cidr, dst_port, dst_host), the checks between match
 * keys, and their dumpers. The listener table in config-native.c reaches
 * them through its "routes" key.
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

enum { MK_PROTOCOL, MK_SNI, MK_ALPN, MK_HOST, MK_PATH, MK_CIDR, MK_PATTERN, MK_DST_CIDR, MK_DST_PORT,
       MK_JA4, MK_DST_HOST, MK_N };

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

static int dst_cidr_add(struct pt_cfg_ctx *ctx, const char *s, void *arg)
{
	struct pt_route *r = arg;

	return pt_cfg_cidr_push(ctx, s, &r->dst_cidr, &r->n_dst_cidr);
}

static int parse_dst_cidr(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
			  void *obj)
{
	return pt_cfg_strings(ctx, j, dst_cidr_add, obj);
}

static void dump_dst_cidr(cJSON *out, const struct pt_cfg_key *k, const void *obj,
			  const struct pt_config *cfg)
{
	const struct pt_route *r = obj;
	cJSON *a;

	if (!r->n_dst_cidr || !(a = cJSON_AddArrayToObject(out, k->name)))
		return;
	for (int i = 0; i < r->n_dst_cidr; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(r->dst_cidr[i].spec));
}

static int parse_dst_port(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
			  void *obj)
{
	struct pt_route *r = obj;

	return pt_cfg_ports(ctx, j, &r->dst_port, &r->n_dst_port);
}

static void dump_dst_port(cJSON *out, const struct pt_cfg_key *k, const void *obj,
			  const struct pt_config *cfg)
{
	const struct pt_route *r = obj;

	pt_cfg_dump_ports(out, k->name, r->dst_port, r->n_dst_port);
}

/* "ja4": JA4 fingerprints, or prefixes of one ending in "*". */
static int parse_ja4(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j, void *obj)
{
	return pt_cfg_strings(ctx, j, pt_cfg_ja4_add, (char *)obj + k->off);
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
	[MK_DST_CIDR] = {"dst_cidr", PT_J_STRV, .parse = parse_dst_cidr, .dump = dump_dst_cidr,
			 .help = "networks of the destination the client asked for"},
	[MK_DST_PORT] = {"dst_port", PT_J_UINTV, .parse = parse_dst_port, .dump = dump_dst_port,
			 .help = "ports of the destination the client asked for"},
	[MK_JA4] = {"ja4", PT_J_STRV, .off = offsetof(struct pt_route, ja4), .parse = parse_ja4,
		    .dump = dump_strv, .help = "JA4 TLS client fingerprints, \"*\" at the end: prefix"},
	[MK_DST_HOST] = {"dst_host", PT_J_STRV, .off = offsetof(struct pt_route, dst_host),
			 .parse = parse_names, .dump = dump_strv,
			 .help = "hosts a SOCKS5 or CONNECT client asked for, \"*.\" for any subdomain"},
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
	{MK_JA4, PT_MATCH_TLS},
};

/*
 * "pattern" implies protocol "pattern" and contradicts any other protocol;
 * protocol "pattern" needs the pattern's name; sni/alpn/ja4 need tls and
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

enum { RK_NAME, RK_MATCH, RK_FORWARD, RK_REJECT, RK_PROXY, RK_DROP, RK_BAN, RK_TRANSPARENT, RK_N };

/*
 * "original" (the destination the client asked for), "requested" (the one
 * a terminated proxy's client asked for) or a "host:port".
 */
static int forward_add(struct pt_cfg_ctx *ctx, const char *s, void *arg)
{
	struct pt_route *r = arg;

	if (!strcmp(s, "original"))
		r->original = true;
	else if (!strcmp(s, "requested"))
		r->requested = true;
	else
		return pt_cfg_upstream_add(ctx, s, arg);
	return 0;
}

/*
 * "forward": a pool name (a string without ':' names one of "upstreams"),
 * "original" (gateway listeners), or "host:port"s tried in order.
 */
static int parse_forward(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
			 void *obj)
{
	struct pt_route *r = obj;
	int i, err;

	if (cJSON_IsString(j) && strcmp(j->valuestring, "original") &&
	    strcmp(j->valuestring, "requested") && !strchr(j->valuestring, ':')) {
		i = pt_cfg_pool_find(ctx->cfg, j->valuestring);
		r->pool = i >= 0 ? &ctx->cfg->pools[i] : NULL;
		if (r->pool)
			return 0;
		pt_cfg_err(ctx, "unknown upstream pool %s (a pool of \"upstreams\", or "
			   "\"host:port\", \"original\" or \"requested\")",
			   pt_cfg_q(ctx, j->valuestring));
		return -EINVAL;
	}
	err = pt_cfg_strings(ctx, j, forward_add, obj);
	if (!err && (r->original || r->requested) &&
	    (r->n_upstreams || cJSON_GetArraySize(j) > 1)) {
		pt_cfg_err(ctx, "\"%s\" stands alone: the destination the client asked "
				"for has no failover", r->original ? "original" : "requested");
		return -EINVAL;
	}
	return err;
}

static void dump_forward(cJSON *out, const struct pt_cfg_key *k, const void *obj,
			 const struct pt_config *cfg)
{
	const struct pt_route *r = obj;
	cJSON *a;
	int i;

	if (r->action == PT_ACT_FORWARD && (r->original || r->requested || r->pool)) {
		cJSON_AddStringToObject(out, k->name, r->original    ? "original"
						      : r->requested ? "requested"
								     : r->pool->name);
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

static int parse_transparent(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
			     void *obj)
{
	struct pt_route *r = obj;

	r->transparent = cJSON_IsTrue(j);
	return 0;
}

static void dump_transparent(cJSON *out, const struct pt_cfg_key *k, const void *obj,
			     const struct pt_config *cfg)
{
	const struct pt_route *r = obj;

	if (r->transparent)
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
	[RK_TRANSPARENT] = {"transparent", PT_J_BOOL, .parse = parse_transparent,
			    .dump = dump_transparent,
			    .help = "true: connect upstream from the client's own address "
				    "(IP_TRANSPARENT)"},
};

/*
 * Only a gateway listener's clients ask for a destination other than
 * passthru: "original" needs one (anywhere else it would connect back to
 * passthru). Routes that look at the destination make the listener find it
 * out at accept.
 */
static void gateway_check(struct pt_cfg_ctx *ctx, struct pt_listener_cfg *l,
			  const struct pt_route *r)
{
	size_t mark;

	if (r->original && l->mode == PT_MODE_PROXY) {
		mark = pt_cfg_path_key(ctx, "forward");
		pt_cfg_err(ctx, "\"original\" needs a listener with \"mode\": \"tproxy\" or "
				"\"redirect\" (on this one the destination is passthru itself)");
		pt_cfg_path_pop(ctx, mark);
	}
	if ((r->requested || r->dst_host.n) && !l->term.socks5 && !l->term.http_connect) {
		mark = pt_cfg_path_key(ctx, r->requested ? "forward" : "match");
		pt_cfg_err(ctx, "\"%s\" needs a listener with \"terminate\" (only a SOCKS5 or "
			   "CONNECT client asks passthru for a destination)",
			   r->requested ? "requested" : "dst_host");
		pt_cfg_path_pop(ctx, mark);
	}
	if (r->original || r->n_dst_cidr || r->n_dst_port)
		l->needs_dst = true;
}

/* Can clients of @l have the family @fam? A dual-stack socket takes IPv4 clients too. */
static bool listener_has_family(const struct pt_listener_cfg *l, sa_family_t fam)
{
	for (int i = 0; i < l->n_listen; i++) {
		const struct pt_listen_addr *a = &l->listen[i];

		if (a->addr.ss.ss_family == fam || (fam == AF_INET && !a->v6only &&
						    a->addr.ss.ss_family == AF_INET6))
			return true;
	}
	return false;
}

/*
 * transparent: the upstream socket binds to the client's address, so an
 * upstream address must have a family the listener's clients can have
 * (behind accept_proxy, the header names the client: any family).
 */
static void transparent_check(struct pt_cfg_ctx *ctx, const struct pt_listener_cfg *l,
			      const struct pt_route *r)
{
	char buf[PT_SOCKADDR_STRLEN];

	if (r->action != PT_ACT_FORWARD) {
		pt_cfg_err(ctx, "\"transparent\" needs \"forward\" (a client that is not "
			   "forwarded goes nowhere)");
		return;
	}
	if (!pt_cfg_transparent_capable()) {
		pt_cfg_err(ctx, "needs CAP_NET_ADMIN or CAP_NET_RAW (IP_TRANSPARENT), which this "
				"process does not have: run passthru as root (it keeps only "
				"CAP_NET_ADMIN after dropping to \"user\")");
		return;
	}
	for (int i = 0; !l->accept_proxy && i < r->n_upstreams; i++) {
		const struct pt_upstream *u = &r->upstreams[i];

		for (int a = 0; a < u->n_addrs; a++) {
			sa_family_t fam = u->addrs[a].ss.ss_family;

			if (listener_has_family(l, fam))
				continue;
			pt_cfg_err(ctx, "upstream %s (%s) is %s but this listener's clients are "
				   "all %s: the upstream socket binds to the client's address",
				   pt_cfg_q(ctx, u->spec),
				   pt_sockaddr_ip_str(&u->addrs[a].ss.sa, buf, sizeof(buf)),
				   fam == AF_INET ? "IPv4" : "IPv6", fam == AF_INET ? "IPv6" : "IPv4");
			return;
		}
	}
}

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
	gateway_check(ctx, l, r);
	if ((seen & PT_CFG_BIT(RK_TRANSPARENT)) && r->transparent) {
		mark = pt_cfg_path_key(ctx, "transparent");
		transparent_check(ctx, l, r);
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
