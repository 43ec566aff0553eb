// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The Go-passthru config format, translated into the native model:
 *
 *   { "version": "...", "servers": { ADDR: { PROTO: { RULE: ACTION } } } }
 *
 * with RULE "SNI name", "ALPN proto", "HOST name" or "CATCHALL" and ACTION
 * { "action": "FORWARD" | "REJECT", "to_addr": "host:port" }; an older
 * variant wraps the rules in { "rules": { ... } }. Every ADDR becomes a
 * listener named ADDR. Its routes: for each PROTO in file order, its specific
 * rules in file order and then its CATCHALL; the "CATCHALL" protocol comes
 * last whatever its place in the file. Keys, protocol names, rule keywords and
 * actions are matched case-insensitively, as Go's encoding/json matches keys.
 *
 * An SSH section whose CATCHALL forwards is followed by a "timeout" route to
 * the same address, "SSH timeout": clients such as PuTTY and ssh-keyscan
 * wait for the server's banner and send nothing, so no detector ever sees
 * them (sslh sends such clients to SSH too). An SSH REJECT takes none: its
 * silent clients stay with the CATCHALL protocol. "ssh_silent_clients":
 * false turns it off.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "config-int.h"
#include "config.h"

enum rule_kind {
	RULE_CATCHALL = 0,
	RULE_SNI = 1 << 0,
	RULE_ALPN = 1 << 1,
	RULE_HOST = 1 << 2,
};

static const struct {
	const char *kw;
	enum rule_kind kind;
	const char *usage;
} rule_kws[] = {
	{"SNI", RULE_SNI, "\"SNI name\""},
	{"ALPN", RULE_ALPN, "\"ALPN protocol\""},
	{"HOST", RULE_HOST, "\"HOST name\""},
	{"CATCHALL", RULE_CATCHALL, "\"CATCHALL\""},
};

struct legacy_proto {
	const char *name; /* as Go passthru spells it, and as route names show it */
	enum pt_match_proto proto;
	unsigned int rules; /* rule kinds it takes besides CATCHALL */
};

static const struct legacy_proto legacy_protos[] = {
	{"TLS", PT_MATCH_TLS, RULE_SNI | RULE_ALPN},
	{"HTTP", PT_MATCH_HTTP, RULE_HOST},
	{"HTTP2", PT_MATCH_HTTP2, 0},
	{"SSH", PT_MATCH_SSH, 0},
	{"SOCKS4", PT_MATCH_SOCKS4, 0},
	{"SOCKS5", PT_MATCH_SOCKS5, 0},
	{"CATCHALL", PT_MATCH_ANY, 0},
};

#define N_PROTOS (sizeof(legacy_protos) / sizeof(legacy_protos[0]))
#define N_RULE_KWS (sizeof(rule_kws) / sizeof(rule_kws[0]))

/* actions */

enum { AK_ACTION, AK_TO_ADDR, AK_N };

static int parse_action(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
			void *obj)
{
	struct pt_route *r = obj;

	if (!strcasecmp(j->valuestring, "FORWARD")) {
		r->action = PT_ACT_FORWARD;
	} else if (!strcasecmp(j->valuestring, "REJECT")) {
		r->action = PT_ACT_REJECT;
	} else {
		pt_cfg_err(ctx, "expected \"FORWARD\" or \"REJECT\", got %s",
			   pt_cfg_q(ctx, j->valuestring));
		return -EINVAL;
	}
	return 0;
}

static int parse_to_addr(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
			 void *obj)
{
	return pt_cfg_upstream_add(ctx, j->valuestring, obj);
}

static const struct pt_cfg_key action_keys[AK_N] = {
	[AK_ACTION] = {"action", PT_J_STRING, true, .parse = parse_action,
		       .help = "\"FORWARD\" or \"REJECT\""},
	[AK_TO_ADDR] = {"to_addr", PT_J_STRING, .parse = parse_to_addr,
			.help = "FORWARD: the \"host:port\" to connect to"},
};

static void parse_rule_action(struct pt_cfg_ctx *ctx, const cJSON *j, struct pt_route *r)
{
	uint64_t seen, bad;
	size_t mark;

	seen = pt_cfg_object(ctx, j, action_keys, AK_N, r, &bad);
	if (!(seen & PT_CFG_BIT(AK_ACTION)) || (bad & PT_CFG_BIT(AK_ACTION)))
		return;
	if (r->action == PT_ACT_FORWARD && !(seen & PT_CFG_BIT(AK_TO_ADDR))) {
		pt_cfg_err(ctx, "FORWARD needs \"to_addr\"");
	} else if (r->action == PT_ACT_REJECT && (seen & PT_CFG_BIT(AK_TO_ADDR))) {
		mark = pt_cfg_path_key(ctx, "to_addr");
		pt_cfg_err(ctx, "only FORWARD takes \"to_addr\"");
		pt_cfg_path_pop(ctx, mark);
	}
}

/* rules */

static void err_rule(struct pt_cfg_ctx *ctx, const struct legacy_proto *lp, const char *key)
{
	const char *usage[N_RULE_KWS];
	char list[128] = "";
	size_t len = 0;
	unsigned int i, n = 0;

	for (i = 0; i < N_RULE_KWS; i++)
		if (rule_kws[i].kind == RULE_CATCHALL || (lp->rules & rule_kws[i].kind))
			usage[n++] = rule_kws[i].usage;
	for (i = 0; i < n; i++)
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s",
					!i	    ? ""
					: i + 1 < n ? ", "
						    : " or ",
					usage[i]);
	pt_cfg_err(ctx, "unknown rule %s: %s takes %s%s", pt_cfg_q(ctx, key), lp->name,
		   n == 1 ? "only " : "", list);
}

/*
 * Split a rule key "KEYWORD ARG" (or "CATCHALL") as Go passthru does, on
 * single spaces. Returns the rule's index in rule_kws[] with *arg pointing
 * into @key, or -1 after reporting it.
 */
static int rule_parse(struct pt_cfg_ctx *ctx, const struct legacy_proto *lp, const char *key,
		      const char **arg)
{
	const char *sp = strchr(key, ' ');
	size_t kwlen = sp ? (size_t)(sp - key) : strlen(key);
	unsigned int i;

	*arg = sp ? sp + 1 : NULL;
	for (i = 0; i < N_RULE_KWS; i++) {
		const char *kw = rule_kws[i].kw;

		if (strlen(kw) != kwlen || strncasecmp(key, kw, kwlen))
			continue;
		if (rule_kws[i].kind != RULE_CATCHALL && !(lp->rules & rule_kws[i].kind))
			break;
		/* CATCHALL takes no argument; the others exactly one word */
		if ((rule_kws[i].kind == RULE_CATCHALL) != !*arg || (*arg && strchr(*arg, ' ')) ||
		    (*arg && !**arg))
			break;
		return (int)i;
	}
	err_rule(ctx, lp, key);
	return -1;
}

static char *route_name(struct pt_cfg_ctx *ctx, const struct legacy_proto *lp, int kw,
			const struct pt_route *r, const char *arg)
{
	const struct pt_strv *sv = rule_kws[kw].kind == RULE_SNI    ? &r->sni
				   : rule_kws[kw].kind == RULE_HOST ? &r->host
								    : NULL;

	if (lp->proto == PT_MATCH_ANY)
		return pt_cfg_strdup(ctx, "CATCHALL");
	if (rule_kws[kw].kind == RULE_CATCHALL)
		return pt_cfg_printf(ctx, "%s CATCHALL", lp->name);
	/* show the names as they will be matched: lower-case */
	if (sv && sv->n)
		arg = sv->v[0];
	return pt_cfg_printf(ctx, "%s %s %s", lp->name, rule_kws[kw].kw, arg);
}

static void add_rule(struct pt_cfg_ctx *ctx, struct pt_listener_cfg *l,
		     const struct legacy_proto *lp, int kw, const char *arg, const cJSON *action)
{
	struct pt_route *r = pt_cfg_route_new(ctx, l);

	if (!r)
		return;
	r->proto = lp->proto;
	for (const char *p = arg ? arg : ""; *p; p++) {
		/* The argument becomes part of the route name, which logs print. */
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			pt_cfg_err(ctx, "a rule must not contain control characters");
			return;
		}
	}
	if (rule_kws[kw].kind == RULE_SNI)
		pt_cfg_dnsname_add(ctx, arg, &r->sni);
	else if (rule_kws[kw].kind == RULE_HOST)
		pt_cfg_dnsname_add(ctx, arg, &r->host);
	else if (rule_kws[kw].kind == RULE_ALPN)
		pt_cfg_alpn_add(ctx, arg, &r->alpn);
	r->name = route_name(ctx, lp, kw, r, arg);
	if (r->name)
		pt_cfg_route_name(ctx, l, r);
	parse_rule_action(ctx, action, r);
}

/* The "timeout" route after an SSH CATCHALL that forwards: silent clients go there too. */
static void add_silent_route(struct pt_cfg_ctx *ctx, struct pt_listener_cfg *l,
			     const cJSON *action)
{
	struct pt_route *r;

	if (!l->n_routes || l->routes[l->n_routes - 1].proto != PT_MATCH_SSH ||
	    l->routes[l->n_routes - 1].action != PT_ACT_FORWARD)
		return;
	r = pt_cfg_route_new(ctx, l);
	if (!r)
		return;
	r->proto = PT_MATCH_TIMEOUT;
	r->name = pt_cfg_strdup(ctx, "SSH timeout");
	if (r->name)
		pt_cfg_route_name(ctx, l, r);
	parse_rule_action(ctx, action, r);
}

static const cJSON *rules_of(struct pt_cfg_ctx *ctx, const cJSON *p, size_t *mark)
{
	const cJSON *c;

	*mark = ctx->path_len;
	cJSON_ArrayForEach(c, p) if (pt_cfg_key_eq(ctx, c->string, "rules")) break;
	if (!c)
		return p;
	*mark = pt_cfg_path_key(ctx, c->string);
	if (p->child != c || c->next) {
		pt_cfg_err(ctx, "\"rules\" must be the only key of a protocol");
		return NULL;
	}
	if (!cJSON_IsObject(c)) {
		pt_cfg_err_type(ctx, "object", c);
		return NULL;
	}
	return c;
}

static void translate_proto(struct pt_cfg_ctx *ctx, struct pt_listener_cfg *l,
			    const struct legacy_proto *lp, const cJSON *p)
{
	const cJSON *rules, *c, *catchall = NULL;
	const char *arg;
	size_t outer, mark;
	int kw, catchall_kw = -1;

	if (!cJSON_IsObject(p)) {
		pt_cfg_err_type(ctx, "object", p);
		return;
	}
	rules = rules_of(ctx, p, &outer);
	if (rules && !rules->child)
		pt_cfg_err(ctx, "no rules");
	for (c = rules ? rules->child : NULL; c; c = c->next) {
		if (pt_cfg_dup_key(ctx, rules, c))
			continue;
		mark = pt_cfg_path_key(ctx, c->string);
		kw = rule_parse(ctx, lp, c->string, &arg);
		if (kw >= 0 && rule_kws[kw].kind == RULE_CATCHALL) {
			catchall = c;
			catchall_kw = kw;
		} else if (kw >= 0) {
			add_rule(ctx, l, lp, kw, arg, c);
		}
		pt_cfg_path_pop(ctx, mark);
	}
	if (catchall) {
		int errors = ctx->n_errors;

		mark = pt_cfg_path_key(ctx, catchall->string);
		add_rule(ctx, l, lp, catchall_kw, NULL, catchall);
		/* a bad action was reported once, for the CATCHALL */
		if (lp->proto == PT_MATCH_SSH && ctx->ssh_silent && ctx->n_errors == errors)
			add_silent_route(ctx, l, catchall);
		pt_cfg_path_pop(ctx, mark);
	}
	pt_cfg_path_pop(ctx, outer);
}

static const struct legacy_proto *proto_lookup(const char *name)
{
	unsigned int i;

	for (i = 0; i < N_PROTOS; i++)
		if (!strcasecmp(name, legacy_protos[i].name))
			return &legacy_protos[i];
	return NULL;
}

static void translate_server(struct pt_cfg_ctx *ctx, const cJSON *s)
{
	const struct legacy_proto *lp, *any = &legacy_protos[N_PROTOS - 1];
	const cJSON *p, *catchall = NULL;
	struct pt_listener_cfg *l;
	size_t mark;

	l = pt_cfg_listener_new(ctx);
	if (!l)
		return;
	l->name = pt_cfg_strdup(ctx, s->string);
	pt_cfg_listen_add(ctx, s->string, l);
	pt_cfg_listener_finish(ctx, l);
	if (!cJSON_IsObject(s)) {
		pt_cfg_err_type(ctx, "object", s);
		return;
	}
	if (!s->child)
		pt_cfg_err(ctx, "no protocols");
	cJSON_ArrayForEach(p, s)
	{
		if (pt_cfg_dup_key(ctx, s, p))
			continue;
		lp = proto_lookup(p->string);
		mark = pt_cfg_path_key(ctx, p->string);
		if (!lp)
			pt_cfg_err(
				ctx,
				"unknown protocol (expected TLS, HTTP, HTTP2, SSH, SOCKS4, SOCKS5 or CATCHALL)");
		else if (lp == any)
			catchall = p;
		else
			translate_proto(ctx, l, lp, p);
		pt_cfg_path_pop(ctx, mark);
	}
	if (catchall) {
		mark = pt_cfg_path_key(ctx, catchall->string);
		translate_proto(ctx, l, any, catchall);
		pt_cfg_path_pop(ctx, mark);
	}
}

static int parse_servers(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
			 void *obj)
{
	const cJSON *s;
	size_t mark;

	if (!j->child) {
		pt_cfg_err(ctx, "no servers");
		return -EINVAL;
	}
	cJSON_ArrayForEach(s, j)
	{
		if (pt_cfg_dup_key(ctx, j, s))
			continue;
		mark = pt_cfg_path_key(ctx, s->string);
		translate_server(ctx, s);
		pt_cfg_path_pop(ctx, mark);
	}
	return 0;
}

/* Read when the servers are translated (ssh_silent_of()); here only checked. */
static int parse_ssh_silent(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
			    void *obj)
{
	return 0;
}

enum { GK_VERSION, GK_MIN_VERSION, GK_SERVERS, GK_SSH_SILENT, GK_N };

static const struct pt_cfg_key legacy_top_keys[GK_N] = {
	[GK_VERSION] = {"version", PT_J_STRING, .help = "accepted and ignored"},
	[GK_MIN_VERSION] = {"min_version", PT_J_STRING, .help = "accepted and ignored"},
	[GK_SERVERS] = {"servers", PT_J_OBJECT, true, .parse = parse_servers,
			.help = "listen address -> protocol -> rule -> action"},
	[GK_SSH_SILENT] = {"ssh_silent_clients", PT_J_BOOL, .parse = parse_ssh_silent,
			   .help = "false: silent clients do not go to SSH (default true)"},
};

/* "ssh_silent_clients" wherever it is in the file: the servers may come first. */
static bool ssh_silent_of(const cJSON *root)
{
	const cJSON *c;

	cJSON_ArrayForEach(c, root)
		if (c->string && !strcasecmp(c->string, "ssh_silent_clients"))
			return !cJSON_IsFalse(c);
	return true;
}

/* Translate a Go-passthru document into ctx->cfg. Errors are counted in ctx. */
int pt_cfg_legacy(struct pt_cfg_ctx *ctx, const cJSON *root)
{
	ctx->cfg->legacy = true;
	ctx->fold_keys = true;
	ctx->ssh_silent = ssh_silent_of(root);
	ctx->cfg->grace_ms = PT_DEF_GRACE_MS;
	pt_cfg_object(ctx, root, legacy_top_keys, GK_N, NULL, NULL);
	return ctx->n_errors ? -EINVAL : 0;
}
