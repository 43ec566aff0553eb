// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The native config format. One table per JSON object names every key with
 * its type, default, parser, dumper and help; pt_cfg_object() walks them.
 * The builders at the top (listen addresses, upstreams, names) are shared
 * with the legacy reader so that both formats are validated alike.
 */
#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <regex.h>
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

/* Upper bounds that catch typos (an extra zero or two) without getting in the way. */
#define PT_CFG_TIMEOUT_MAX 600000 /* detection and connect: 10 minutes */
#define PT_CFG_IDLE_MAX 86400000  /* idle: one day */
#define PT_CFG_GRACE_MAX 3600000  /* shutdown grace: one hour */
#define PT_CFG_CONN_MAX 10000000  /* max_connections */
#define PT_CFG_WINDOW_MIN 64

/* Names end up in log lines: no control characters, a sane length. */
static int name_set(struct pt_cfg_ctx *ctx, const char *s, char **dst)
{
	const unsigned char *p;
	size_t len = strlen(s);

	for (p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			break;
	if (!len || len > PT_CFG_NAME_MAX || *p) {
		pt_cfg_err(ctx,
			   "a name must be 1..%d characters without control characters, got %s",
			   PT_CFG_NAME_MAX, pt_cfg_q(ctx, s));
		return -EINVAL;
	}
	*dst = pt_cfg_strdup(ctx, s);
	return *dst ? 0 : -ENOMEM;
}

/* A "name" key of any table: the char * field at k->off. */
static int parse_name(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j, void *obj)
{
	return name_set(ctx, j->valuestring, (char **)((char *)obj + k->off));
}

static void dump_name(cJSON *out, const struct pt_cfg_key *k, const void *obj,
		      const struct pt_config *cfg)
{
	cJSON_AddStringToObject(out, k->name, *(char *const *)((const char *)obj + k->off));
}

static int strv_push(struct pt_cfg_ctx *ctx, struct pt_strv *sv, char *s)
{
	char **v;

	if (!s)
		return -ENOMEM;
	v = pt_cfg_grow(ctx, sv->v, sv->n, sizeof(*v));
	if (!v) {
		free(s);
		return -ENOMEM;
	}
	sv->v = v;
	sv->v[sv->n++] = s;
	return 0;
}

/* LDH labels of 1..63 characters, no hyphen at either end, joined by dots. */
static bool is_dns_name(const char *s)
{
	size_t label = 0;

	for (; *s; s++) {
		if (*s == '.') {
			if (!label || s[-1] == '-')
				return false;
			label = 0;
		} else if (isalnum((unsigned char)*s) || (*s == '-' && label)) {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return label && s[-1] != '-';
}

/*
 * Add a TLS server name or HTTP host to the pt_strv @arg: "example.com" or
 * "*.example.com" (any name below it), stored lower-case.
 */
int pt_cfg_dnsname_add(struct pt_cfg_ctx *ctx, const char *s, void *arg)
{
	const char *name = strncmp(s, "*.", 2) ? s : s + 2;
	char *d, *p;

	if (strlen(s) > PT_NAME_MAX || !is_dns_name(name)) {
		pt_cfg_err(ctx, "expected a host name or \"*.\" and a domain, got %s",
			   pt_cfg_q(ctx, s));
		return -EINVAL;
	}
	d = pt_cfg_strdup(ctx, s);
	for (p = d; p && *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return strv_push(ctx, arg, d);
}

/* Add an ALPN protocol id (1..255 bytes, compared exactly) to the pt_strv @arg. */
int pt_cfg_alpn_add(struct pt_cfg_ctx *ctx, const char *s, void *arg)
{
	if (!*s || strlen(s) > 255) {
		pt_cfg_err(ctx, "an ALPN protocol is 1..255 bytes, got %s", pt_cfg_q(ctx, s));
		return -EINVAL;
	}
	return strv_push(ctx, arg, pt_cfg_strdup(ctx, s));
}

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
	return strv_push(ctx, arg, pt_cfg_strdup(ctx, s));
}

/*
 * Host bits set are an error rather than silently cleared: "10.1.2.3/8" is
 * as likely a typo for "10.1.2.3/32" as for "10.0.0.0/8"; the message says
 * which network it would be.
 */
static int cidr_add(struct pt_cfg_ctx *ctx, const char *s, void *arg)
{
	struct pt_route *r = arg;
	char canon[PT_SOCKADDR_STRLEN];
	struct pt_cidr c, *v;
	int rc;

	rc = pt_cidr_parse(s, &c);
	if (rc == -ERANGE) {
		pt_cfg_err(ctx, "prefix length must be 0..32 for IPv4 and 0..128 for IPv6, got %s",
			   pt_cfg_q(ctx, s));
		return rc;
	} else if (rc < 0) {
		pt_cfg_err(ctx, "expected an IP address or \"address/prefix\", got %s",
			   pt_cfg_q(ctx, s));
		return rc;
	} else if (rc > 0) {
		pt_cfg_err(ctx, "%s has host bits set (did you mean \"%s\"?)", pt_cfg_q(ctx, s),
			   pt_cidr_str(&c, canon, sizeof(canon)));
		return -EINVAL;
	}
	c.spec = pt_cfg_strdup(ctx, s);
	v = c.spec ? pt_cfg_grow(ctx, r->cidr, r->n_cidr, sizeof(*v)) : NULL;
	if (!v) {
		free(c.spec);
		return -ENOMEM;
	}
	r->cidr = v;
	r->cidr[r->n_cidr++] = c;
	return 0;
}

/*
 * Add the "host:port" @spec to the forward list of the pt_route @arg,
 * resolved now (every address). Names that do not resolve are errors.
 */
int pt_cfg_upstream_add(struct pt_cfg_ctx *ctx, const char *spec, void *arg)
{
	struct pt_route *r = arg;
	struct pt_upstream u = {0}, *v;
	const char *why;
	int err;

	err = pt_upstream_resolve(spec, &u.addrs, &u.n_addrs, &why);
	if (err == -ERANGE) {
		pt_cfg_err(ctx, "port must be 1..65535, got %s", pt_cfg_q(ctx, spec));
		return err;
	} else if (err == -ENOMEM) {
		pt_cfg_oom(ctx);
		return err;
	} else if (err == -ENOENT) {
		pt_cfg_err(ctx, "cannot resolve %s: %s", pt_cfg_q(ctx, spec), why);
		return err;
	} else if (err) {
		pt_cfg_err(ctx, "expected \"host:port\", got %s", pt_cfg_q(ctx, spec));
		return err;
	}
	u.spec = pt_cfg_strdup(ctx, spec);
	v = u.spec ? pt_cfg_grow(ctx, r->upstreams, r->n_upstreams, sizeof(*v)) : NULL;
	if (!v) {
		free(u.spec);
		free(u.addrs);
		return -ENOMEM;
	}
	r->upstreams = v;
	r->upstreams[r->n_upstreams++] = u;
	return 0;
}

/* Is @la already taken by an address of this or an earlier listener? */
static int listen_check(struct pt_cfg_ctx *ctx, const struct pt_listener_cfg *l,
			const struct pt_listen_addr *la)
{
	const struct pt_config *cfg = ctx->cfg;
	const struct pt_listener_cfg *o;
	const char *spec = pt_cfg_q(ctx, la->spec);
	int i, k;

	for (i = 0; i < cfg->n_listeners; i++) {
		o = &cfg->listeners[i];
		for (k = 0; k < o->n_listen; k++) {
			if (!pt_listen_conflict(la, &o->listen[k]))
				continue;
			if (o == l && !strcmp(la->spec, o->listen[k].spec))
				pt_cfg_err(ctx, "%s is listed twice", spec);
			else if (o == l)
				pt_cfg_err(ctx, "%s overlaps %s of the same listener", spec,
					   pt_cfg_q(ctx, o->listen[k].spec));
			else if (!strcmp(la->spec, o->listen[k].spec))
				pt_cfg_err(ctx, "%s is already used by listener %s", spec,
					   pt_cfg_q(ctx, o->name));
			else
				pt_cfg_err(ctx, "%s overlaps %s of listener %s", spec,
					   pt_cfg_q(ctx, o->listen[k].spec),
					   pt_cfg_q(ctx, o->name));
			return -EADDRINUSE;
		}
	}
	return 0;
}

/*
 * Add the listen address @spec to the pt_listener_cfg @arg (the last one in
 * ctx->cfg). Addresses that another listen address already covers are errors.
 */
int pt_cfg_listen_add(struct pt_cfg_ctx *ctx, const char *spec, void *arg)
{
	struct pt_listener_cfg *l = arg;
	struct pt_listen_addr la = {.spec = (char *)spec}, *v;
	int err;

	err = pt_listen_parse(spec, &la.addr, &la.v6only);
	if (err == -ERANGE) {
		pt_cfg_err(ctx, "port must be 1..65535, got %s", pt_cfg_q(ctx, spec));
		return err;
	} else if (err) {
		pt_cfg_err(ctx,
			   "expected \"IP:port\", \"[IPv6]:port\", \":port\" or \"*:port\", got %s",
			   pt_cfg_q(ctx, spec));
		return err;
	}
	err = listen_check(ctx, l, &la);
	if (err)
		return err;
	la.spec = pt_cfg_strdup(ctx, spec);
	v = la.spec ? pt_cfg_grow(ctx, l->listen, l->n_listen, sizeof(*v)) : NULL;
	if (!v) {
		free(la.spec);
		return -ENOMEM;
	}
	l->listen = v;
	l->listen[l->n_listen++] = la;
	return 0;
}

/* Append an empty listener to ctx->cfg; NULL on ENOMEM. */
struct pt_listener_cfg *pt_cfg_listener_new(struct pt_cfg_ctx *ctx)
{
	struct pt_config *cfg = ctx->cfg;
	struct pt_listener_cfg *v;

	v = pt_cfg_grow(ctx, cfg->listeners, cfg->n_listeners, sizeof(*v));
	if (!v)
		return NULL;
	cfg->listeners = v;
	return &cfg->listeners[cfg->n_listeners++];
}

/*
 * Complete listener @l once its keys are read: the detection deadline from
 * -t when the file has none, the default name, a unique name.
 */
void pt_cfg_listener_finish(struct pt_cfg_ctx *ctx, struct pt_listener_cfg *l)
{
	struct pt_config *cfg = ctx->cfg;
	int i, idx = (int)(l - cfg->listeners);

	if (!l->has_max_connections)
		l->max_connections = PT_DEF_MAX_CONNECTIONS;
	if (!l->has_timeout_ms)
		l->timeout_ms = ctx->opts->default_timeout_ms ? ctx->opts->default_timeout_ms
							      : PT_DEF_DETECT_TIMEOUT_MS;
	if (ctx->opts->force_data_plane)
		l->data_plane = ctx->opts->data_plane;
	if (idx == PT_MAX_LISTENERS)
		pt_cfg_err(ctx, "too many listeners: at most %d", PT_MAX_LISTENERS);
	if (!l->name)
		l->name = pt_cfg_printf(ctx, "listener%d", idx);
	for (i = 0; l->name && i < idx; i++) {
		if (cfg->listeners[i].name && !strcmp(cfg->listeners[i].name, l->name)) {
			pt_cfg_err(ctx, "duplicate listener name %s", pt_cfg_q(ctx, l->name));
			break;
		}
	}
}

/* Append an empty route (no pattern) to @l; NULL on ENOMEM. */
struct pt_route *pt_cfg_route_new(struct pt_cfg_ctx *ctx, struct pt_listener_cfg *l)
{
	struct pt_route *v;

	v = pt_cfg_grow(ctx, l->routes, l->n_routes, sizeof(*v));
	if (!v)
		return NULL;
	l->routes = v;
	v = &l->routes[l->n_routes++];
	v->pattern = -1;
	return v;
}

/* Give route @r of @l its default name "route<N>" if needed; names are unique per listener. */
int pt_cfg_route_name(struct pt_cfg_ctx *ctx, struct pt_listener_cfg *l, struct pt_route *r)
{
	int i, idx = (int)(r - l->routes);

	if (!r->name)
		r->name = pt_cfg_printf(ctx, "route%d", idx);
	if (!r->name)
		return -ENOMEM;
	if (idx == PT_MAX_ROUTES) {
		pt_cfg_err(ctx, "too many routes: a listener has at most %d", PT_MAX_ROUTES);
		return -EINVAL;
	}
	for (i = 0; i < idx; i++) {
		if (l->routes[i].name && !strcmp(l->routes[i].name, r->name)) {
			pt_cfg_err(ctx, "duplicate route name %s", pt_cfg_q(ctx, r->name));
			return -EINVAL;
		}
	}
	return 0;
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

enum { RK_NAME, RK_MATCH, RK_FORWARD, RK_REJECT, RK_N };

static int parse_forward(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
			 void *obj)
{
	return pt_cfg_strings(ctx, j, pt_cfg_upstream_add, obj);
}

static void dump_forward(cJSON *out, const struct pt_cfg_key *k, const void *obj,
			 const struct pt_config *cfg)
{
	const struct pt_route *r = obj;
	cJSON *a;
	int i;

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

static const struct pt_cfg_key route_keys[RK_N] = {
	[RK_NAME] = {"name", PT_J_STRING, .off = offsetof(struct pt_route, name),
		     .parse = parse_name, .dump = dump_name, .help = "name used in logs"},
	[RK_MATCH] = {"match", PT_J_OBJECT, .parse = parse_match, .dump = dump_match,
		      .help = "conditions that must all hold"},
	[RK_FORWARD] = {"forward", PT_J_STRV, .parse = parse_forward, .dump = dump_forward,
			.help = "\"host:port\" upstreams, tried in order"},
	[RK_REJECT] = {"reject", PT_J_BOOL, .parse = parse_reject, .dump = dump_reject,
		       .help = "true: close the client at once"},
};

static void parse_route(struct pt_cfg_ctx *ctx, const cJSON *j, struct pt_listener_cfg *l,
			struct pt_route *r)
{
	uint64_t seen, act = PT_CFG_BIT(RK_FORWARD) | PT_CFG_BIT(RK_REJECT);
	size_t mark;

	seen = pt_cfg_object(ctx, j, route_keys, RK_N, r, NULL);
	if ((seen & act) == act)
		pt_cfg_err(ctx, "give only one of \"forward\" and \"reject\"");
	else if (!(seen & act) && cJSON_IsObject(j))
		pt_cfg_err(ctx, "give \"forward\" (upstreams) or \"reject\": true");
	mark = (seen & PT_CFG_BIT(RK_NAME)) ? pt_cfg_path_key(ctx, "name") : ctx->path_len;
	pt_cfg_route_name(ctx, l, r);
	pt_cfg_path_pop(ctx, mark);
}

static int parse_routes(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
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

static void dump_routes(cJSON *out, const struct pt_cfg_key *k, const void *obj,
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

/* listeners[]: obj is the pt_listener_cfg */

enum {
	LK_NAME,
	LK_LISTEN,
	LK_TIMEOUT,
	LK_MAX_BYTES,
	LK_MAX_CONN,
	LK_PER_SOURCE,
	LK_CONNECT,
	LK_IDLE,
	LK_DATA_PLANE,
	LK_SNDBUF,
	LK_MAX_QUEUED,
	LK_DRAIN,
	LK_ROUTES,
	LK_N
};

static int parse_listen(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
			void *obj)
{
	return pt_cfg_strings(ctx, j, pt_cfg_listen_add, obj);
}

static void dump_listen(cJSON *out, const struct pt_cfg_key *k, const void *obj,
			const struct pt_config *cfg)
{
	const struct pt_listener_cfg *l = obj;
	cJSON *a = cJSON_AddArrayToObject(out, k->name);
	int i;

	for (i = 0; a && i < l->n_listen; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(l->listen[i].spec));
}

static int parse_timeout(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
			 void *obj)
{
	struct pt_listener_cfg *l = obj;

	l->timeout_ms = (unsigned int)j->valuedouble;
	l->has_timeout_ms = true;
	return 0;
}

static int parse_max_conn(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
			  void *obj)
{
	struct pt_listener_cfg *l = obj;

	l->max_connections = (unsigned int)j->valuedouble;
	l->has_max_connections = true;
	return 0;
}

/* Only when the file set it: otherwise -t decides, also after a reload. */
static void dump_timeout(cJSON *out, const struct pt_cfg_key *k, const void *obj,
			 const struct pt_config *cfg)
{
	const struct pt_listener_cfg *l = obj;

	if (l->has_timeout_ms)
		cJSON_AddNumberToObject(out, k->name, l->timeout_ms);
}

static int parse_data_plane(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
			    void *obj)
{
	struct pt_listener_cfg *l = obj;
	int dp = pt_data_plane_from_name(j->valuestring);

	if (dp < 0) {
		pt_cfg_err(ctx, "unknown data plane %s (expected auto, sockmap or splice)",
			   pt_cfg_q(ctx, j->valuestring));
		return -EINVAL;
	}
	l->data_plane = (enum pt_data_plane)dp;
	return 0;
}

static void dump_data_plane(cJSON *out, const struct pt_cfg_key *k, const void *obj,
			    const struct pt_config *cfg)
{
	const struct pt_listener_cfg *l = obj;

	cJSON_AddStringToObject(out, k->name, pt_data_plane_name(l->data_plane));
}

#define LOFF(f) offsetof(struct pt_listener_cfg, f)
const struct pt_cfg_key pt_cfg_listener_keys[LK_N] = {
	[LK_NAME] = {"name", PT_J_STRING, .off = LOFF(name), .parse = parse_name, .dump = dump_name,
		     .help = "name used in logs"},
	[LK_LISTEN] = {"listen", PT_J_STRV, true, .parse = parse_listen, .dump = dump_listen,
		       .help = "addresses such as \"0.0.0.0:443\", \"[::]:443\" or \":443\""},
	[LK_TIMEOUT] = {"timeout_ms", PT_J_UINT, false, 1, PT_CFG_TIMEOUT_MAX, 0, LOFF(timeout_ms),
			parse_timeout, dump_timeout, "detection deadline from accept"},
	[LK_MAX_BYTES] = {"max_bytes", PT_J_UINT, false, PT_CFG_WINDOW_MIN, PT_WINDOW_MAX,
			  PT_WINDOW_DEFAULT, LOFF(max_bytes), .help = "detection window"},
	[LK_MAX_CONN] = {"max_connections", PT_J_UINT, false, 0, PT_CFG_CONN_MAX,
			 PT_DEF_MAX_CONNECTIONS, LOFF(max_connections), parse_max_conn,
			 .help = "open connections at once, 0 = no limit"},
	[LK_PER_SOURCE] = {"max_connections_per_source", PT_J_UINT, false, 0, PT_CFG_CONN_MAX, 0,
			   LOFF(max_per_source),
			   .help = "open connections from one client address, 0 = no limit"},
	[LK_CONNECT] = {"connect_timeout_ms", PT_J_UINT, false, 1, PT_CFG_TIMEOUT_MAX,
			PT_DEF_CONNECT_TIMEOUT_MS, LOFF(connect_timeout_ms),
			.help = "per upstream address"},
	[LK_IDLE] = {"idle_timeout_ms", PT_J_UINT, false, 0, PT_CFG_IDLE_MAX,
		     PT_DEF_IDLE_TIMEOUT_MS, LOFF(idle_timeout_ms),
		     .help = "close relayed connections idle this long, 0 = never"},
	[LK_DATA_PLANE] = {"data_plane", PT_J_STRING, .parse = parse_data_plane,
			   .dump = dump_data_plane, .help = "auto, sockmap or splice"},
	[LK_SNDBUF] = {"sockmap_sndbuf", PT_J_UINT, false, 0, 1u << 30, PT_DEF_SOCKMAP_SNDBUF,
		       LOFF(sockmap_sndbuf),
		       .help = "send buffer of sockmap pairs in bytes, 0 = the kernel's"},
	[LK_MAX_QUEUED] = {"sockmap_max_queued", PT_J_UINT, false, 65536, 1u << 30,
			   PT_DEF_SOCKMAP_MAX_QUEUED, LOFF(sockmap_max_queued),
			   .help = "bytes queued in the kernel per direction before backpressure"},
	[LK_DRAIN] = {"drain_timeout_ms", PT_J_UINT, false, 100, PT_CFG_TIMEOUT_MAX,
		      PT_DEF_DRAIN_TIMEOUT_MS, LOFF(drain_timeout_ms),
		      .help = "sockmap: reset a pair whose queue stops draining this long"},
	[LK_ROUTES] = {"routes", PT_J_ARRAY, true, .parse = parse_routes, .dump = dump_routes,
		       .help = "ordered routes, the first match wins"},
};
const int pt_cfg_n_listener_keys = LK_N;

static void parse_listener(struct pt_cfg_ctx *ctx, const cJSON *j, struct pt_listener_cfg *l)
{
	uint64_t seen;
	size_t mark;

	seen = pt_cfg_object(ctx, j, pt_cfg_listener_keys, LK_N, l, NULL);
	mark = (seen & PT_CFG_BIT(LK_NAME)) ? pt_cfg_path_key(ctx, "name") : ctx->path_len;
	pt_cfg_listener_finish(ctx, l);
	pt_cfg_path_pop(ctx, mark);
}

static int parse_listeners(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
			   void *obj)
{
	struct pt_listener_cfg *l;
	const cJSON *c;
	size_t mark;
	int i = 0;

	if (!j->child) {
		pt_cfg_err(ctx, "at least one listener is required");
		return -EINVAL;
	}
	cJSON_ArrayForEach(c, j)
	{
		l = pt_cfg_listener_new(ctx);
		if (!l)
			return -ENOMEM;
		mark = pt_cfg_path_index(ctx, i++);
		parse_listener(ctx, c, l);
		pt_cfg_path_pop(ctx, mark);
	}
	return 0;
}

static void dump_listeners(cJSON *out, const struct pt_cfg_key *k, const void *obj,
			   const struct pt_config *cfg)
{
	cJSON *a = cJSON_AddArrayToObject(out, k->name), *o;
	int i;

	for (i = 0; a && i < cfg->n_listeners; i++) {
		if (!(o = cJSON_CreateObject()))
			return;
		pt_cfg_dump_keys(o, pt_cfg_listener_keys, LK_N, &cfg->listeners[i], cfg);
		cJSON_AddItemToArray(a, o);
	}
}

/* patterns[]: obj is the pt_pattern */

enum { PK_NAME, PK_PREFIX, PK_REGEX, PK_MIN_BYTES, PK_N };

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int parse_prefix(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
			void *obj)
{
	struct pt_pattern *p = obj;
	const char *s = j->valuestring;
	size_t i, len = strlen(s);

	for (i = 0; i < len && hexval(s[i]) >= 0; i++)
		;
	if (!len || i < len || len % 2 || len / 2 > PT_WINDOW_MAX) {
		pt_cfg_err(ctx, "expected an even number of hex digits (1..%d bytes), got %s",
			   PT_WINDOW_MAX, pt_cfg_q(ctx, s));
		return -EINVAL;
	}
	p->prefix = malloc(len / 2);
	if (!p->prefix) {
		pt_cfg_oom(ctx);
		return -ENOMEM;
	}
	for (i = 0; i < len / 2; i++)
		p->prefix[i] = (uint8_t)(hexval(s[2 * i]) << 4 | hexval(s[2 * i + 1]));
	p->prefix_len = len / 2;
	return 0;
}

static void dump_prefix(cJSON *out, const struct pt_cfg_key *k, const void *obj,
			const struct pt_config *cfg)
{
	const struct pt_pattern *p = obj;
	char *hex;
	size_t i;

	if (!p->prefix_len || !(hex = malloc(p->prefix_len * 2 + 1)))
		return;
	for (i = 0; i < p->prefix_len; i++)
		sprintf(hex + 2 * i, "%02x", p->prefix[i]);
	cJSON_AddStringToObject(out, k->name, hex);
	free(hex);
}

static int parse_regex(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
		       void *obj)
{
	struct pt_pattern *p = obj;
	char msg[128];
	int rc;

	if (!j->valuestring[0]) {
		pt_cfg_err(ctx, "empty regex");
		return -EINVAL;
	}
	rc = regcomp(&p->regex, j->valuestring, REG_EXTENDED | REG_NOSUB);
	if (rc) {
		regerror(rc, NULL, msg, sizeof(msg));
		pt_cfg_err(ctx, "bad regex %s: %s", pt_cfg_q(ctx, j->valuestring), msg);
		return -EINVAL;
	}
	p->has_regex = true;
	p->regex_src = pt_cfg_strdup(ctx, j->valuestring);
	return p->regex_src ? 0 : -ENOMEM;
}

static void dump_regex(cJSON *out, const struct pt_cfg_key *k, const void *obj,
		       const struct pt_config *cfg)
{
	const struct pt_pattern *p = obj;

	if (p->has_regex)
		cJSON_AddStringToObject(out, k->name, p->regex_src);
}

static int parse_min_bytes(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
			   void *obj)
{
	struct pt_pattern *p = obj;

	p->min_bytes = (size_t)j->valuedouble;
	return 0;
}

static void dump_min_bytes(cJSON *out, const struct pt_cfg_key *k, const void *obj,
			   const struct pt_config *cfg)
{
	const struct pt_pattern *p = obj;

	cJSON_AddNumberToObject(out, k->name, (double)p->min_bytes);
}

static const struct pt_cfg_key pattern_keys[PK_N] = {
	[PK_NAME] = {"name", PT_J_STRING, true, .off = offsetof(struct pt_pattern, name),
		     .parse = parse_name, .dump = dump_name, .help = "referenced by match.pattern"},
	[PK_PREFIX] = {"prefix", PT_J_STRING, .parse = parse_prefix, .dump = dump_prefix,
		       .help = "first bytes, in hex"},
	[PK_REGEX] = {"regex", PT_J_STRING, .parse = parse_regex, .dump = dump_regex,
		      .help = "POSIX extended regex over the first bytes"},
	[PK_MIN_BYTES] = {"min_bytes", PT_J_UINT, false, 1, PT_WINDOW_MAX, 0, 0, parse_min_bytes,
			  dump_min_bytes, "bytes to wait for before saying no"},
};

/*
 * min_bytes defaults to the prefix length (a prefix decides as soon as it
 * is complete), else 1; a smaller explicit value would say "no" before
 * the prefix could be seen whole.
 */
static void parse_pattern(struct pt_cfg_ctx *ctx, const cJSON *j, struct pt_pattern *p)
{
	const struct pt_config *cfg = ctx->cfg;
	uint64_t seen, bad;
	size_t mark;
	int i;

	seen = pt_cfg_object(ctx, j, pattern_keys, PK_N, p, &bad);
	if (!cJSON_IsObject(j))
		return;
	if (!(seen & (PT_CFG_BIT(PK_PREFIX) | PT_CFG_BIT(PK_REGEX))))
		pt_cfg_err(ctx, "give \"prefix\", \"regex\" or both");
	if (!(seen & PT_CFG_BIT(PK_MIN_BYTES))) {
		p->min_bytes = p->prefix_len ? p->prefix_len : 1;
	} else if (!(bad & PT_CFG_BIT(PK_MIN_BYTES)) && p->min_bytes < p->prefix_len) {
		mark = pt_cfg_path_key(ctx, "min_bytes");
		pt_cfg_err(ctx, "must be at least the prefix length (%zu)", p->prefix_len);
		pt_cfg_path_pop(ctx, mark);
	}
	for (i = 0; p->name && &cfg->patterns[i] != p; i++) {
		if (cfg->patterns[i].name && !strcmp(cfg->patterns[i].name, p->name)) {
			mark = pt_cfg_path_key(ctx, "name");
			pt_cfg_err(ctx, "duplicate pattern name %s", pt_cfg_q(ctx, p->name));
			pt_cfg_path_pop(ctx, mark);
			break;
		}
	}
}

static int parse_patterns(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
			  void *obj)
{
	struct pt_config *cfg = obj;
	struct pt_pattern *v;
	const cJSON *c;
	size_t mark;
	int i = 0;

	cJSON_ArrayForEach(c, j)
	{
		v = pt_cfg_grow(ctx, cfg->patterns, cfg->n_patterns, sizeof(*v));
		if (!v)
			return -ENOMEM;
		cfg->patterns = v;
		mark = pt_cfg_path_index(ctx, i++);
		parse_pattern(ctx, c, &cfg->patterns[cfg->n_patterns++]);
		pt_cfg_path_pop(ctx, mark);
	}
	return 0;
}

static void dump_patterns(cJSON *out, const struct pt_cfg_key *k, const void *obj,
			  const struct pt_config *cfg)
{
	cJSON *a, *o;
	int i;

	if (!cfg->n_patterns || !(a = cJSON_AddArrayToObject(out, k->name)))
		return;
	for (i = 0; i < cfg->n_patterns; i++) {
		if (!(o = cJSON_CreateObject()))
			return;
		pt_cfg_dump_keys(o, pattern_keys, PK_N, &cfg->patterns[i], cfg);
		cJSON_AddItemToArray(a, o);
	}
}

/* the top level: obj is the pt_config */

enum { TK_GRACE, TK_PATTERNS, TK_LISTENERS, TK_CONTROL, TK_USER, TK_N };

/* An absolute path that fits in a sockaddr_un. */
static int parse_control(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
			 void *obj)
{
	struct pt_config *cfg = obj;
	const char *s = j->valuestring;

	if (s[0] != '/' || strlen(s) >= sizeof(cfg->control_socket)) {
		pt_cfg_err(ctx, "expected an absolute path of at most %zu characters, got %s",
			   sizeof(cfg->control_socket) - 1, pt_cfg_q(ctx, s));
		return -EINVAL;
	}
	snprintf(cfg->control_socket, sizeof(cfg->control_socket), "%s", s);
	return 0;
}

static void dump_control(cJSON *out, const struct pt_cfg_key *k, const void *obj,
			 const struct pt_config *cfg)
{
	if (cfg->control_socket[0])
		cJSON_AddStringToObject(out, k->name, cfg->control_socket);
}

/* A user that exists here: the daemon drops to it once set up. */
static int parse_user(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
		      void *obj)
{
	struct pt_config *cfg = obj;
	const char *s = j->valuestring;

	if (!s[0] || strlen(s) >= sizeof(cfg->user)) {
		pt_cfg_err(ctx, "expected a user name, got %s", pt_cfg_q(ctx, s));
		return -EINVAL;
	}
	if (!getpwnam(s)) {
		pt_cfg_err(ctx, "no such user %s", pt_cfg_q(ctx, s));
		return -EINVAL;
	}
	snprintf(cfg->user, sizeof(cfg->user), "%s", s);
	return 0;
}

static void dump_user(cJSON *out, const struct pt_cfg_key *k, const void *obj,
		      const struct pt_config *cfg)
{
	if (cfg->user[0])
		cJSON_AddStringToObject(out, k->name, cfg->user);
}

const struct pt_cfg_key pt_cfg_top_keys[TK_N] = {
	[TK_GRACE] = {"grace_ms", PT_J_UINT, false, 0, PT_CFG_GRACE_MAX, PT_DEF_GRACE_MS,
		      offsetof(struct pt_config, grace_ms),
		      .help = "after SIGTERM, how long open connections may finish"},
	/* before listeners: routes refer to patterns by name */
	[TK_PATTERNS] = {"patterns", PT_J_ARRAY, .parse = parse_patterns, .dump = dump_patterns,
			 .help = "user-defined detectors"},
	[TK_LISTENERS] = {"listeners", PT_J_ARRAY, true, .parse = parse_listeners,
			  .dump = dump_listeners, .help = "one or more listeners"},
	[TK_CONTROL] = {"control_socket", PT_J_STRING, .parse = parse_control,
			.dump = dump_control,
			.help = "unix socket for passthru-ctl (default /run/passthru/<instance>.sock)"},
	[TK_USER] = {"user", PT_J_STRING, .parse = parse_user, .dump = dump_user,
		     .help = "drop to this user after binding and loading (keeps CAP_BPF, CAP_NET_ADMIN)"},
};
const int pt_cfg_n_top_keys = TK_N;

/* Read a native-format document into ctx->cfg. Errors are counted in ctx. */
int pt_cfg_native(struct pt_cfg_ctx *ctx, const cJSON *root)
{
	pt_cfg_object(ctx, root, pt_cfg_top_keys, TK_N, ctx->cfg, NULL);
	return ctx->n_errors ? -EINVAL : 0;
}
