// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The "terminate" object of a native listener (tunnel-t.h struct
 * pt_terminate_cfg): passthru answers SOCKS5 and/or HTTP CONNECT clients
 * itself (tunnel.c) and routes what they tunnel.
 *
 *   "terminate": {"socks5": {"users": {"alice": "secret"}},
 *                 "http_connect": {"ports": [443]}}
 *
 * "socks5": {} takes clients without authentication; with "users" only
 * those (RFC 1929). "http_connect" "ports" defaults to [443]. Passwords are
 * never dumped (--check shows "*").
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "config-int.h"
#include "config.h"
#include "socks5.h"

#define PT_HTTP_CONNECT_DEF_PORT 443

enum { TK_SOCKS5, TK_HTTP_CONNECT, TK_N };
enum { SK_USERS, SK_N };
enum { HK_PORTS, HK_N };

/* One "name": "password" of "users". */
static int user_add(struct pt_cfg_ctx *ctx, const cJSON *c, struct pt_terminate_cfg *t)
{
	size_t ul = strlen(c->string), pl;
	struct pt_cred *v;

	if (!cJSON_IsString(c)) {
		pt_cfg_err_type(ctx, "string (the password)", c);
		return -EINVAL;
	}
	pl = strlen(c->valuestring);
	if (!ul || ul > PT_SOCKS5_CRED_MAX || !pl || pl > PT_SOCKS5_CRED_MAX) {
		pt_cfg_err(ctx, "user names and passwords are 1 to %d bytes (RFC 1929)",
			   PT_SOCKS5_CRED_MAX);
		return -EINVAL;
	}
	v = pt_cfg_grow(ctx, t->users, t->n_users, sizeof(*v));
	if (!v)
		return -ENOMEM;
	t->users = v;
	v[t->n_users].user = pt_cfg_strdup(ctx, c->string);
	v[t->n_users].pass = pt_cfg_strdup(ctx, c->valuestring);
	t->n_users++;
	return 0;
}

static int parse_users(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
		       void *obj)
{
	const cJSON *c;
	size_t mark;
	int err = 0;

	if (!j->child) {
		pt_cfg_err(ctx,
			   "no users: leave \"users\" out to take clients without authentication");
		return -EINVAL;
	}
	cJSON_ArrayForEach(c, j)
	{
		mark = pt_cfg_path_key(ctx, c->string);
		if (pt_cfg_dup_key(ctx, j, c) || user_add(ctx, c, obj))
			err = -EINVAL;
		pt_cfg_path_pop(ctx, mark);
	}
	return err;
}

static void dump_users(cJSON *out, const struct pt_cfg_key *k, const void *obj,
		       const struct pt_config *cfg)
{
	const struct pt_terminate_cfg *t = obj;
	cJSON *o;

	if (!t->n_users || !(o = cJSON_AddObjectToObject(out, k->name)))
		return;
	for (int i = 0; i < t->n_users; i++)
		cJSON_AddStringToObject(o, t->users[i].user, "*");
}

static const struct pt_cfg_key socks5_keys[SK_N] = {
	[SK_USERS] = { "users", PT_J_OBJECT, .parse = parse_users, .dump = dump_users,
		       .help = "{\"name\": \"password\"}: username/password authentication" },
};

static int parse_ports(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
		       void *obj)
{
	struct pt_terminate_cfg *t = obj;

	return pt_cfg_ports(ctx, j, &t->ports, &t->n_ports);
}

static void dump_ports(cJSON *out, const struct pt_cfg_key *k, const void *obj,
		       const struct pt_config *cfg)
{
	const struct pt_terminate_cfg *t = obj;

	pt_cfg_dump_ports(out, k->name, t->ports, t->n_ports);
}

static const struct pt_cfg_key http_keys[HK_N] = {
	[HK_PORTS] = { "ports", PT_J_UINTV, .parse = parse_ports, .dump = dump_ports,
		       .help = "ports a CONNECT may ask for (default 443)" },
};

static int parse_socks5(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
			void *obj)
{
	struct pt_terminate_cfg *t = obj;
	uint64_t bad = 0;

	pt_cfg_object(ctx, j, socks5_keys, SK_N, t, &bad);
	t->socks5 = true; /* even if bad (reported): routes that need it are not wrong */
	return bad ? -EINVAL : 0;
}

static void dump_socks5(cJSON *out, const struct pt_cfg_key *k, const void *obj,
			const struct pt_config *cfg)
{
	const struct pt_terminate_cfg *t = obj;
	cJSON *o;

	if (t->socks5 && (o = cJSON_AddObjectToObject(out, k->name)))
		pt_cfg_dump_keys(o, socks5_keys, SK_N, t, cfg);
}

static int parse_http(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j, void *obj)
{
	struct pt_terminate_cfg *t = obj;
	uint64_t bad = 0, seen;
	const cJSON def = { .type = cJSON_Number, .valuedouble = PT_HTTP_CONNECT_DEF_PORT };

	seen = pt_cfg_object(ctx, j, http_keys, HK_N, t, &bad);
	if (!bad && !(seen & PT_CFG_BIT(HK_PORTS)) &&
	    pt_cfg_ports(ctx, &def, &t->ports, &t->n_ports))
		bad = 1;
	t->http_connect = true;
	return bad ? -EINVAL : 0;
}

static void dump_http(cJSON *out, const struct pt_cfg_key *k, const void *obj,
		      const struct pt_config *cfg)
{
	const struct pt_terminate_cfg *t = obj;
	cJSON *o;

	if (t->http_connect && (o = cJSON_AddObjectToObject(out, k->name)))
		pt_cfg_dump_keys(o, http_keys, HK_N, t, cfg);
}

static const struct pt_cfg_key terminate_keys[TK_N] = {
	[TK_SOCKS5] = { "socks5", PT_J_OBJECT, .parse = parse_socks5, .dump = dump_socks5,
			.help = "answer SOCKS5 clients ({} for no authentication)" },
	[TK_HTTP_CONNECT] = { "http_connect", PT_J_OBJECT, .parse = parse_http, .dump = dump_http,
			      .help = "answer HTTP CONNECT requests" },
};

int pt_cfg_parse_terminate(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
			   void *obj)
{
	struct pt_listener_cfg *l = obj;
	uint64_t bad = 0, seen;

	seen = pt_cfg_object(ctx, j, terminate_keys, TK_N, &l->term, &bad);
	if (!seen && !bad && cJSON_IsObject(j)) {
		pt_cfg_err(ctx,
			   "give \"socks5\" and/or \"http_connect\" (or leave \"terminate\" out)");
		return -EINVAL;
	}
	return bad ? -EINVAL : 0;
}

void pt_cfg_dump_terminate(cJSON *out, const struct pt_cfg_key *k, const void *obj,
			   const struct pt_config *cfg)
{
	const struct pt_listener_cfg *l = obj;
	cJSON *o;

	if ((l->term.socks5 || l->term.http_connect) && (o = cJSON_AddObjectToObject(out, k->name)))
		pt_cfg_dump_keys(o, terminate_keys, TK_N, &l->term, cfg);
}

void pt_terminate_cfg_free(struct pt_terminate_cfg *t)
{
	for (int i = 0; i < t->n_users; i++) {
		free(t->users[i].user);
		if (t->users[i].pass)
			explicit_bzero(t->users[i].pass, strlen(t->users[i].pass));
		free(t->users[i].pass);
	}
	free(t->users);
	free(t->ports);
}
