/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Private to config*.c. Mostly the helper module the format readers share
 * (and the only thing they share: neither calls the other): the load context
 * (file name, error sink, the JSON path being read) and the key tables that
 * drive parsing, defaults and the dump (config-util.c), and the model
 * builders, so that the native and the legacy readers validate the same way
 * (config-build.c). Then what config.c dispatches to: the two readers and
 * the descriptor-limit fitting; and the native tables the dump walks. Calls
 * go one way:
 *
 *   config.c        -> config-native.c, config-legacy.c, config-fds.c
 *   config-dump.c   -> config-native.c (its tables)
 *   config-native.c -> config-native-route.c, config-gateway.c, config-shield.c,
 *                      config-terminate.c
 *   both readers    -> config-build.c -> config-util.c (which all may call)
 */
#ifndef __PT_CONFIG_INT_H
#define __PT_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "config.h"

#define PT_CFG_PATH_MAX 1024
#define PT_CFG_NAME_MAX 511 /* listener, route and pattern names */
#define PT_CFG_QUOTE_MAX 96 /* user strings are cut to this in messages */
#define PT_CFG_BIT(k) (1ULL << (k))

struct pt_cfg_ctx {
	const char *file;
	const char *prog;
	FILE *errs;
	int n_errors;
	bool oom;
	bool fold_keys; /* legacy: keys match case-insensitively, like Go's encoding/json */
	bool ssh_silent; /* legacy: SSH sections also take silent clients ("ssh_silent_clients") */
	const struct pt_config_opts *opts;
	struct pt_config *cfg;
	int quote_slot;
	char quote[4][PT_CFG_QUOTE_MAX + 8];
	size_t path_len;
	char path[PT_CFG_PATH_MAX];
};

/* What a key's JSON value must be. */
enum pt_cfg_jtype {
	PT_J_STRING,
	PT_J_STRV, /* a string or a non-empty array of strings */
	PT_J_UINT, /* an integer in [min, max] */
	PT_J_UINTV, /* an integer or an array of them (parse() checks the range) */
	PT_J_BOOL,
	PT_J_OBJECT,
	PT_J_ARRAY,
};

/*
 * One key of one JSON object. pt_cfg_object() checks the type (and for
 * PT_J_UINT the range), then calls parse(); a PT_J_UINT key without parse()
 * is stored as an unsigned int at @off, and gets @def when absent. dump()
 * adds the key to a cJSON object (default for PT_J_UINT: the value at @off);
 * string keys may use @off for a char * field.
 */
struct pt_cfg_key {
	const char *name;
	enum pt_cfg_jtype type;
	bool required;
	unsigned int min, max, def;
	size_t off;
	int (*parse)(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j, void *obj);
	void (*dump)(cJSON *out, const struct pt_cfg_key *k, const void *obj,
		     const struct pt_config *cfg);
	const char *help;
};

/*
 * A boolean key kept in the bool at k->off of the object; with k->def 1 the
 * field holds the opposite of the key (a default-on key in a zeroed struct).
 * Dumped only when it differs from the default.
 */
int pt_cfg_parse_flag(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
		      void *obj);
void pt_cfg_dump_flag(cJSON *out, const struct pt_cfg_key *k, const void *obj,
		      const struct pt_config *cfg);

/* config-util.c: errors, paths, the key walker and dumper, memory */
void pt_cfg_err(struct pt_cfg_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pt_cfg_err_type(struct pt_cfg_ctx *ctx, const char *expected, const cJSON *got);
void pt_cfg_oom(struct pt_cfg_ctx *ctx);
const char *pt_cfg_q(struct pt_cfg_ctx *ctx, const char *s);
size_t pt_cfg_path_key(struct pt_cfg_ctx *ctx, const char *key);
size_t pt_cfg_path_index(struct pt_cfg_ctx *ctx, int i);
void pt_cfg_path_pop(struct pt_cfg_ctx *ctx, size_t mark);
bool pt_cfg_key_eq(const struct pt_cfg_ctx *ctx, const char *a, const char *b);
bool pt_cfg_dup_key(struct pt_cfg_ctx *ctx, const cJSON *parent, const cJSON *item);
uint64_t pt_cfg_object(struct pt_cfg_ctx *ctx, const cJSON *j, const struct pt_cfg_key *keys, int n,
		       void *obj, uint64_t *bad);
void pt_cfg_defaults(const struct pt_cfg_key *keys, int n, void *obj);
int pt_cfg_strings(struct pt_cfg_ctx *ctx, const cJSON *j,
		   int (*fn)(struct pt_cfg_ctx *ctx, const char *s, void *arg), void *arg);
void *pt_cfg_grow(struct pt_cfg_ctx *ctx, void *arr, int n, size_t size);
char *pt_cfg_strdup(struct pt_cfg_ctx *ctx, const char *s);
char *pt_cfg_printf(struct pt_cfg_ctx *ctx, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void pt_cfg_dump_keys(cJSON *out, const struct pt_cfg_key *keys, int n, const void *obj,
		      const struct pt_config *cfg);
void pt_cfg_dump_strv(cJSON *out, const char *name, const struct pt_strv *sv);

/* config-build.c: the model builders both readers use */
int pt_cfg_parse_name(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
		      void *obj);
void pt_cfg_dump_name(cJSON *out, const struct pt_cfg_key *k, const void *obj,
		      const struct pt_config *cfg);
int pt_cfg_strv_push(struct pt_cfg_ctx *ctx, struct pt_strv *sv, char *s);
struct pt_listener_cfg *pt_cfg_listener_new(struct pt_cfg_ctx *ctx);
void pt_cfg_listener_finish(struct pt_cfg_ctx *ctx, struct pt_listener_cfg *l);
int pt_cfg_listen_add(struct pt_cfg_ctx *ctx, const char *spec, void *listener);
struct pt_route *pt_cfg_route_new(struct pt_cfg_ctx *ctx, struct pt_listener_cfg *l);
int pt_cfg_route_name(struct pt_cfg_ctx *ctx, struct pt_listener_cfg *l, struct pt_route *r);
int pt_cfg_upstream_add(struct pt_cfg_ctx *ctx, const char *spec, void *route);
int pt_cfg_upstream_resolve(struct pt_cfg_ctx *ctx, const char *spec, struct pt_upstream *u);
int pt_cfg_dnsname_add(struct pt_cfg_ctx *ctx, const char *s, void *strv);
int pt_cfg_alpn_add(struct pt_cfg_ctx *ctx, const char *s, void *strv);
int pt_cfg_ja4_add(struct pt_cfg_ctx *ctx, const char *s, void *strv);
/* A port or a non-empty array of ports (1..65535), appended to *@v (*@n of them). */
int pt_cfg_ports(struct pt_cfg_ctx *ctx, const cJSON *j, uint16_t **v, int *n);
void pt_cfg_dump_ports(cJSON *out, const char *name, const uint16_t *v, int n);
int pt_cfg_cidr_push(struct pt_cfg_ctx *ctx, const char *s, struct pt_cidr **vec, int *n);
/* May this process set IP_TRANSPARENT (CAP_NET_ADMIN or CAP_NET_RAW effective)? */
bool pt_cfg_transparent_capable(void);

/* config-native.c: the native reader; its top-level table, for the dump */
int pt_cfg_native(struct pt_cfg_ctx *ctx, const cJSON *root);
extern const struct pt_cfg_key pt_cfg_top_keys[];
extern const int pt_cfg_n_top_keys;

/* config-native-route.c: the "routes" key of a native listener */
int pt_cfg_parse_routes(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
			void *obj);
void pt_cfg_dump_routes(cJSON *out, const struct pt_cfg_key *k, const void *obj,
			const struct pt_config *cfg);

/* config-gateway.c: the "mode" key of a native listener */
int pt_cfg_parse_mode(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
		      void *obj);
void pt_cfg_dump_mode(cJSON *out, const struct pt_cfg_key *k, const void *obj,
		      const struct pt_config *cfg);
/* config-pool.c: the top-level "upstreams" object (pools) */
int pt_cfg_parse_pools(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
		       void *obj);
void pt_cfg_dump_pools(cJSON *out, const struct pt_cfg_key *k, const void *obj,
		       const struct pt_config *cfg);
int pt_cfg_pool_find(const struct pt_config *cfg, const char *name);
void pt_pool_cfg_free(struct pt_pool *p);

/* config-shield.c: the "shield" key of a native listener */
int pt_cfg_parse_shield(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
			void *obj);
void pt_cfg_dump_shield(cJSON *out, const struct pt_cfg_key *k, const void *obj,
			const struct pt_config *cfg);
void pt_shield_cfg_free(struct pt_shield_cfg *sh);

/* config-terminate.c: a listener's "terminate" (SOCKS5, HTTP CONNECT) */
int pt_cfg_parse_terminate(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
			   void *obj);
void pt_cfg_dump_terminate(cJSON *out, const struct pt_cfg_key *k, const void *obj,
			   const struct pt_config *cfg);
void pt_terminate_cfg_free(struct pt_terminate_cfg *t);

/* config-legacy.c */
int pt_cfg_legacy(struct pt_cfg_ctx *ctx, const cJSON *root);

/* config-fds.c */
void pt_cfg_fit_fds(struct pt_config *cfg, const struct pt_config_opts *opts);

#endif /* __PT_CONFIG_INT_H */
