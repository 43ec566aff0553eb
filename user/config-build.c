// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The model builders both readers use, so that the native and the legacy
 * formats validate alike: listeners (their defaults, listen addresses and
 * unique names), routes (unique names, upstreams resolved now), and the
 * checked strings routes match on (host names, ALPN ids) and that name
 * things (names end up in log lines); and whether this process may bind
 * transparent sockets.
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>

#include <cjson/cJSON.h>

#include "addr.h"
#include "config-int.h"
#include "config.h"

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
int pt_cfg_parse_name(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j, void *obj)
{
	return name_set(ctx, j->valuestring, (char **)((char *)obj + k->off));
}

/* Dump the "name" key read by pt_cfg_parse_name(). */
void pt_cfg_dump_name(cJSON *out, const struct pt_cfg_key *k, const void *obj,
		      const struct pt_config *cfg)
{
	cJSON_AddStringToObject(out, k->name, *(char *const *)((const char *)obj + k->off));
}

/*
 * Append @s (allocated, or NULL after a failed copy) to @sv, which then owns
 * it. Returns 0 or -ENOMEM (reported; @s is freed).
 */
int pt_cfg_strv_push(struct pt_cfg_ctx *ctx, struct pt_strv *sv, char *s)
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

/*
 * Parse the network @s and append it to @vec (@n entries).
 * Host bits set are an error rather than silently cleared: "10.1.2.3/8" is
 * as likely a typo for "10.1.2.3/32" as for "10.0.0.0/8"; the message says
 * which network it would be.
 */
int pt_cfg_cidr_push(struct pt_cfg_ctx *ctx, const char *s, struct pt_cidr **vec, int *n)
{
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
	v = c.spec ? pt_cfg_grow(ctx, *vec, *n, sizeof(*v)) : NULL;
	if (!v) {
		free(c.spec);
		return -ENOMEM;
	}
	*vec = v;
	(*vec)[(*n)++] = c;
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
	return pt_cfg_strv_push(ctx, arg, d);
}

/* Add an ALPN protocol id (1..255 bytes, compared exactly) to the pt_strv @arg. */
int pt_cfg_alpn_add(struct pt_cfg_ctx *ctx, const char *s, void *arg)
{
	if (!*s || strlen(s) > 255) {
		pt_cfg_err(ctx, "an ALPN protocol is 1..255 bytes, got %s", pt_cfg_q(ctx, s));
		return -EINVAL;
	}
	return pt_cfg_strv_push(ctx, arg, pt_cfg_strdup(ctx, s));
}

/*
 * Character @i (0-based) of a JA4 fingerprint (detectors/ja4.c): "t", the
 * version, "d" or "i", two counts, the ALPN characters, then two 12-digit
 * hashes after "_". Returns NULL if @c may stand there, else what should.
 */
static const char *ja4_char_want(size_t i, char c)
{
	bool digit = c >= '0' && c <= '9', lhex = digit || (c >= 'a' && c <= 'f');
	bool alnum = digit || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');

	if (i == 0)
		return c == 't' ? NULL : "\"t\" (TLS over TCP)";
	if (i <= 2)
		return alnum ? NULL : "a version character (\"13\", \"12\", \"s3\", \"00\"...)";
	if (i == 3)
		return c == 'd' || c == 'i' ? NULL : "\"d\" (SNI) or \"i\" (no SNI)";
	if (i <= 7)
		return digit ? NULL : "a digit of the cipher or extension count";
	if (i <= 9)
		return alnum ? NULL : "an ALPN character";
	if (i == 10 || i == 23)
		return c == '_' ? NULL : "\"_\"";
	if (i < PT_JA4_MAX - 4)
		return lhex ? NULL : "a lower-case hex digit";
	return "the end";
}

/* A JA4 fingerprint (36 characters), or a prefix of one ending in "*". */
int pt_cfg_ja4_add(struct pt_cfg_ctx *ctx, const char *s, void *arg)
{
	size_t n = strlen(s), i;
	bool prefix = n && s[n - 1] == '*';
	const char *want = NULL;

	if (prefix)
		n--;
	for (i = 0; i < n && !want; i++)
		want = ja4_char_want(i, s[i]);
	if (want) {
		pt_cfg_err(
			ctx,
			"bad JA4 pattern %s: character %zu should be %s (a JA4 looks like \"t13d1516h2_8daaf6152771_e5627efa2ab1\", a prefix ends in \"*\")",
			pt_cfg_q(ctx, s), i, want);
		return -EINVAL;
	}
	if (!prefix && n != PT_JA4_MAX - 4) {
		pt_cfg_err(
			ctx,
			"a JA4 fingerprint has 36 characters, like \"t13d1516h2_8daaf6152771_e5627efa2ab1\" (end a prefix with \"*\"), got %s",
			pt_cfg_q(ctx, s));
		return -EINVAL;
	}
	return pt_cfg_strv_push(ctx, arg, pt_cfg_strdup(ctx, s));
}

/*
 * Check and resolve the "host:port" @spec into @u (every address). Names
 * that do not resolve are errors. With opts->skip_resolve the spec is only
 * checked: its addresses come from the master's pack (config-pack.c).
 */
int pt_cfg_upstream_resolve(struct pt_cfg_ctx *ctx, const char *spec, struct pt_upstream *u)
{
	const char *why;
	int err;

	memset(u, 0, sizeof(*u));
	if (ctx->opts->skip_resolve)
		err = pt_upstream_check(spec, &why);
	else
		err = pt_upstream_resolve(spec, &u->addrs, &u->n_addrs, &why);
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
	u->spec = pt_cfg_strdup(ctx, spec);
	if (!u->spec) {
		free(u->addrs);
		u->addrs = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* Add the "host:port" @spec to the forward list of the pt_route @arg. */
int pt_cfg_upstream_add(struct pt_cfg_ctx *ctx, const char *spec, void *arg)
{
	struct pt_route *r = arg;
	struct pt_upstream u, *v;
	int err;

	err = pt_cfg_upstream_resolve(ctx, spec, &u);
	if (err)
		return err;
	v = pt_cfg_grow(ctx, r->upstreams, r->n_upstreams, sizeof(*v));
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

/*
 * Append a listener to ctx->cfg with the defaults of the settings a legacy
 * file cannot give (the native listener table has the same ones, as
 * tests/unit/test_config.c checks); NULL on ENOMEM.
 */
struct pt_listener_cfg *pt_cfg_listener_new(struct pt_cfg_ctx *ctx)
{
	struct pt_config *cfg = ctx->cfg;
	struct pt_listener_cfg *v, *l;

	v = pt_cfg_grow(ctx, cfg->listeners, cfg->n_listeners, sizeof(*v));
	if (!v)
		return NULL;
	cfg->listeners = v;
	l = &cfg->listeners[cfg->n_listeners++];
	l->max_bytes = PT_WINDOW_DEFAULT;
	l->max_detecting = PT_DEF_MAX_DETECTING;
	l->max_per_source = PT_DEF_MAX_PER_SOURCE;
	l->source_prefix_v4 = PT_DEF_SOURCE_PREFIX_V4;
	l->source_prefix_v6 = PT_DEF_SOURCE_PREFIX_V6;
	l->connect_timeout_ms = PT_DEF_CONNECT_TIMEOUT_MS;
	l->idle_timeout_ms = PT_DEF_IDLE_TIMEOUT_MS;
	l->sockmap_sndbuf = PT_DEF_SOCKMAP_SNDBUF;
	l->sockmap_max_queued = PT_DEF_SOCKMAP_MAX_QUEUED;
	l->drain_timeout_ms = PT_DEF_DRAIN_TIMEOUT_MS;
	l->bulk_plane = PT_DEF_BULK_PLANE;
	l->bulk_turn_bytes = PT_DEF_BULK_TURN_BYTES;
	l->bulk_turns = PT_DEF_BULK_TURNS;
	return l;
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
	if (l->data_plane == PT_DP_LOCAL && !cfg->experimental)
		pt_cfg_err(ctx, "data_plane \"local\" is experimental: it needs \"experimental\": "
			   "true at the top level (README, \"Same-host bypass\")");
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

/*
 * The kernel lets a socket set IP_TRANSPARENT / IPV6_TRANSPARENT with
 * CAP_NET_RAW or CAP_NET_ADMIN in its network namespace's user namespace
 * (do_ip_setsockopt, do_ipv6_setsockopt). Read with capget(2) directly:
 * the config code links no libcap.
 */
bool pt_cfg_transparent_capable(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3] = {};

	if (syscall(SYS_capget, &h, d))
		return false;
	return (d[0].effective & (1U << CAP_NET_ADMIN)) || (d[0].effective & (1U << CAP_NET_RAW));
}
