// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The "shield" object of a native listener (config-t.h struct
 * pt_shield_cfg): the interfaces the XDP shield attaches to, whether the
 * daemon may start without it, the static deny and allow lists, the
 * per-source SYN rate and the bans for failed detections. Checked here;
 * user/shield.c applies it.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>

#include <cjson/cJSON.h>

#include "config-int.h"
#include "config.h"
#include "passthru-shield.h"

#define PT_CFG_SYN_RATE_MAX 10000000

#define PT_CFG_BAN_WINDOW_MAX 86400	/* one day */
#define PT_CFG_BAN_MAX (30 * 86400)	/* thirty days */

enum { SK_INTERFACES, SK_REQUIRED, SK_DENY, SK_ALLOW, SK_SYN_RATE, SK_SYN_BURST, SK_BAN, SK_N };
enum { BK_FAILURES, BK_WINDOW, BK_SECONDS, BK_N };

#define SOFF(f) offsetof(struct pt_shield_cfg, f)
static const struct pt_cfg_key ban_keys[BK_N] = {
	[BK_FAILURES] = {"failures", PT_J_UINT, true, 1, 1000000, 0, SOFF(ban_failures),
			 .help = "failed detections from one address that ban it"},
	[BK_WINDOW] = {"window_s", PT_J_UINT, false, 1, PT_CFG_BAN_WINDOW_MAX, 60,
		       SOFF(ban_window_s), .help = "... within this many seconds"},
	[BK_SECONDS] = {"seconds", PT_J_UINT, false, 1, PT_CFG_BAN_MAX, 600, SOFF(ban_seconds),
			.help = "how long the ban lasts"},
};

static int parse_ban(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
		     void *obj)
{
	struct pt_shield_cfg *sh = obj;
	uint64_t bad = 0;

	pt_cfg_defaults(ban_keys, BK_N, sh);
	pt_cfg_object(ctx, j, ban_keys, BK_N, sh, &bad);
	if (bad)
		sh->ban_failures = 0;
	return bad ? -EINVAL : 0;
}

static void dump_ban(cJSON *out, const struct pt_cfg_key *k, const void *obj,
		     const struct pt_config *cfg)
{
	const struct pt_shield_cfg *sh = obj;
	cJSON *o;

	if (!sh->ban_failures || !(o = cJSON_CreateObject()))
		return;
	pt_cfg_dump_keys(o, ban_keys, BK_N, sh, cfg);
	cJSON_AddItemToObject(out, k->name, o);
}

/* An interface name as the kernel takes it: 1..15 bytes, no '/', no blank. */
static int iface_add(struct pt_cfg_ctx *ctx, const char *s, void *arg)
{
	struct pt_shield_cfg *sh = arg;
	size_t len = strlen(s);

	if (!len || len >= IFNAMSIZ || strpbrk(s, "/: \t\n") || !strcmp(s, ".") ||
	    !strcmp(s, "..")) {
		pt_cfg_err(ctx, "expected a network interface name (1 to %d characters), got %s",
			   IFNAMSIZ - 1, pt_cfg_q(ctx, s));
		return -EINVAL;
	}
	for (int i = 0; i < sh->interfaces.n; i++)
		if (!strcmp(sh->interfaces.v[i], s)) {
			pt_cfg_err(ctx, "interface %s is listed twice", pt_cfg_q(ctx, s));
			return -EINVAL;
		}
	if (sh->interfaces.n >= PT_SHIELD_IFACES_MAX) {
		pt_cfg_err(ctx, "at most %d interfaces", PT_SHIELD_IFACES_MAX);
		return -EINVAL;
	}
	return pt_cfg_strv_push(ctx, &sh->interfaces, pt_cfg_strdup(ctx, s));
}

static int parse_interfaces(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
			    void *obj)
{
	return pt_cfg_strings(ctx, j, iface_add, obj);
}

static void dump_interfaces(cJSON *out, const struct pt_cfg_key *k, const void *obj,
			    const struct pt_config *cfg)
{
	const struct pt_shield_cfg *sh = obj;

	pt_cfg_dump_strv(out, k->name, &sh->interfaces);
}

static int parse_required(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
			  void *obj)
{
	struct pt_shield_cfg *sh = obj;

	sh->required = cJSON_IsTrue(j);
	return 0;
}

static void dump_required(cJSON *out, const struct pt_cfg_key *k, const void *obj,
			  const struct pt_config *cfg)
{
	const struct pt_shield_cfg *sh = obj;

	cJSON_AddBoolToObject(out, k->name, sh->required);
}

static int deny_add(struct pt_cfg_ctx *ctx, const char *s, void *arg)
{
	struct pt_shield_cfg *sh = arg;

	return pt_cfg_cidr_push(ctx, s, &sh->deny, &sh->n_deny);
}

static int allow_add(struct pt_cfg_ctx *ctx, const char *s, void *arg)
{
	struct pt_shield_cfg *sh = arg;

	return pt_cfg_cidr_push(ctx, s, &sh->allow, &sh->n_allow);
}

static int parse_deny(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
		      void *obj)
{
	return pt_cfg_strings(ctx, j, deny_add, obj);
}

static int parse_allow(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
		       void *obj)
{
	return pt_cfg_strings(ctx, j, allow_add, obj);
}

static void dump_cidrs(cJSON *out, const char *name, const struct pt_cidr *v, int n)
{
	cJSON *a;

	if (!n || !(a = cJSON_AddArrayToObject(out, name)))
		return;
	for (int i = 0; i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(v[i].spec));
}

static void dump_deny(cJSON *out, const struct pt_cfg_key *k, const void *obj,
		      const struct pt_config *cfg)
{
	const struct pt_shield_cfg *sh = obj;

	dump_cidrs(out, k->name, sh->deny, sh->n_deny);
}

static void dump_allow(cJSON *out, const struct pt_cfg_key *k, const void *obj,
		       const struct pt_config *cfg)
{
	const struct pt_shield_cfg *sh = obj;

	dump_cidrs(out, k->name, sh->allow, sh->n_allow);
}

static const struct pt_cfg_key shield_keys[SK_N] = {
	[SK_INTERFACES] = {"interfaces", PT_J_STRV, true, .parse = parse_interfaces,
			   .dump = dump_interfaces,
			   .help = "network interfaces the XDP shield attaches to"},
	[SK_REQUIRED] = {"required", PT_J_BOOL, .parse = parse_required, .dump = dump_required,
			 .help = "refuse to start when the shield cannot attach everywhere"},
	[SK_DENY] = {"deny", PT_J_STRV, .parse = parse_deny, .dump = dump_deny,
		     .help = "source networks whose packets are dropped"},
	[SK_ALLOW] = {"allow", PT_J_STRV, .parse = parse_allow, .dump = dump_allow,
		      .help = "if set, the only source networks let through"},
	[SK_SYN_RATE] = {"syn_rate", PT_J_UINT, false, 0, PT_CFG_SYN_RATE_MAX, 0, SOFF(syn_rate),
			 .help = "SYNs per second from one source network, 0 = no limit"},
	[SK_SYN_BURST] = {"syn_burst", PT_J_UINT, false, 0, PT_CFG_SYN_RATE_MAX, 0,
			  SOFF(syn_burst), .help = "SYNs one source may send at once, 0 = syn_rate"},
	[SK_BAN] = {"ban", PT_J_OBJECT, .parse = parse_ban, .dump = dump_ban,
		    .help = "ban addresses whose connections keep failing detection"},
};

/* The same prefix both allowed and denied: say so rather than pick one. */
static void check_overlap(struct pt_cfg_ctx *ctx, const struct pt_shield_cfg *sh)
{
	for (int i = 0; i < sh->n_deny; i++)
		for (int k = 0; k < sh->n_allow; k++)
			if (sh->deny[i].family == sh->allow[k].family &&
			    sh->deny[i].prefix == sh->allow[k].prefix &&
			    !memcmp(sh->deny[i].addr, sh->allow[k].addr, 16))
				pt_cfg_err(ctx, "%s is both denied and allowed",
					   pt_cfg_q(ctx, sh->deny[i].spec));
}

int pt_cfg_parse_shield(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
			void *obj)
{
	struct pt_listener_cfg *l = obj;
	struct pt_shield_cfg *sh = &l->shield;
	uint64_t bad = 0;

	pt_cfg_defaults(shield_keys, SK_N, sh);
	pt_cfg_object(ctx, j, shield_keys, SK_N, sh, &bad);
	sh->on = true;
	check_overlap(ctx, sh);	/* among the prefixes that parsed */
	if (sh->syn_burst && !sh->syn_rate)
		pt_cfg_err(ctx, "syn_burst needs syn_rate");
	return bad ? -EINVAL : 0;
}

void pt_cfg_dump_shield(cJSON *out, const struct pt_cfg_key *k, const void *obj,
			const struct pt_config *cfg)
{
	const struct pt_listener_cfg *l = obj;
	cJSON *o;

	if (!l->shield.on || !(o = cJSON_CreateObject()))
		return;
	pt_cfg_dump_keys(o, shield_keys, SK_N, &l->shield, cfg);
	cJSON_AddItemToObject(out, k->name, o);
}

/* Free what pt_cfg_parse_shield() allocated in @sh. */
void pt_shield_cfg_free(struct pt_shield_cfg *sh)
{
	for (int i = 0; i < sh->interfaces.n; i++)
		free(sh->interfaces.v[i]);
	free(sh->interfaces.v);
	for (int i = 0; i < sh->n_deny; i++)
		free(sh->deny[i].spec);
	free(sh->deny);
	for (int i = 0; i < sh->n_allow; i++)
		free(sh->allow[i].spec);
	free(sh->allow);
}
