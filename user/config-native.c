// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The native config format: the tables of the top level, of patterns[] and
 * of listeners[] (their routes[] are in config-native-route.c). One table
 * per JSON object names every key with its type, default, parser, dumper
 * and help; pt_cfg_object() walks them. What the model gets is built with
 * config-build.c, as the legacy reader builds it, so both validate alike.
 */
#include <ctype.h>
#include <errno.h>
#include <grp.h>
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
#define PT_CFG_BUSY_POLL_MAX 1000 /* busy polling: a millisecond at most */
#define PT_CFG_CONN_MAX 10000000  /* max_connections */
#define PT_CFG_WINDOW_MIN 64

/* listeners[]: obj is the pt_listener_cfg */

enum {
	LK_NAME,
	LK_LISTEN,
	LK_TIMEOUT,
	LK_MAX_BYTES,
	LK_MAX_CONN,
	LK_MAX_DETECTING,
	LK_PER_SOURCE,
	LK_PREFIX_V4,
	LK_PREFIX_V6,
	LK_CONNECT,
	LK_IDLE,
	LK_DATA_PLANE,
	LK_SNDBUF,
	LK_MAX_QUEUED,
	LK_DRAIN,
	LK_BULK_PLANE,
	LK_BULK_BYTES,
	LK_BULK_TURNS,
	LK_ACCEPT_PROXY,
	LK_TRUSTED,
	LK_SHIELD,
	LK_MODE,
	LK_TERMINATE,
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
		pt_cfg_err(ctx, "unknown data plane %s (expected auto, copy, splice, sockmap or local)",
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

static int parse_bulk_plane(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
			    void *obj)
{
	struct pt_listener_cfg *l = obj;
	int dp = pt_data_plane_from_name(j->valuestring);

	if (dp != PT_DP_SPLICE && dp != PT_DP_SOCKMAP) {
		pt_cfg_err(ctx, "unknown bulk plane %s (expected splice or sockmap)",
			   pt_cfg_q(ctx, j->valuestring));
		return -EINVAL;
	}
	l->bulk_plane = (enum pt_data_plane)dp;
	return 0;
}

static void dump_bulk_plane(cJSON *out, const struct pt_cfg_key *k, const void *obj,
			    const struct pt_config *cfg)
{
	const struct pt_listener_cfg *l = obj;

	cJSON_AddStringToObject(out, k->name, pt_data_plane_name(l->bulk_plane));
}

static int parse_accept_proxy(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
			      void *obj)
{
	struct pt_listener_cfg *l = obj;

	l->accept_proxy = cJSON_IsTrue(j);
	return 0;
}

static void dump_accept_proxy(cJSON *out, const struct pt_cfg_key *k, const void *obj,
			      const struct pt_config *cfg)
{
	const struct pt_listener_cfg *l = obj;

	if (l->accept_proxy)
		cJSON_AddTrueToObject(out, k->name);
}

static int trusted_add(struct pt_cfg_ctx *ctx, const char *s, void *arg)
{
	struct pt_listener_cfg *l = arg;

	return pt_cfg_cidr_push(ctx, s, &l->trusted, &l->n_trusted);
}

static int parse_trusted(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
			 void *obj)
{
	return pt_cfg_strings(ctx, j, trusted_add, obj);
}

static void dump_trusted(cJSON *out, const struct pt_cfg_key *k, const void *obj,
			 const struct pt_config *cfg)
{
	const struct pt_listener_cfg *l = obj;
	cJSON *a;

	if (!l->n_trusted || !(a = cJSON_AddArrayToObject(out, k->name)))
		return;
	for (int i = 0; i < l->n_trusted; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(l->trusted[i].spec));
}

#define LOFF(f) offsetof(struct pt_listener_cfg, f)
static const struct pt_cfg_key listener_keys[LK_N] = {
	[LK_NAME] = {"name", PT_J_STRING, .off = LOFF(name), .parse = pt_cfg_parse_name,
		     .dump = pt_cfg_dump_name, .help = "name used in logs"},
	[LK_LISTEN] = {"listen", PT_J_STRV, true, .parse = parse_listen, .dump = dump_listen,
		       .help = "addresses such as \"0.0.0.0:443\", \"[::]:443\" or \":443\""},
	[LK_TIMEOUT] = {"timeout_ms", PT_J_UINT, false, 1, PT_CFG_TIMEOUT_MAX, 0, LOFF(timeout_ms),
			parse_timeout, dump_timeout, "detection deadline from accept"},
	[LK_MAX_BYTES] = {"max_bytes", PT_J_UINT, false, PT_CFG_WINDOW_MIN, PT_WINDOW_MAX,
			  PT_WINDOW_DEFAULT, LOFF(max_bytes), .help = "detection window"},
	[LK_MAX_CONN] = {"max_connections", PT_J_UINT, false, 0, PT_CFG_CONN_MAX,
			 PT_DEF_MAX_CONNECTIONS, LOFF(max_connections), parse_max_conn,
			 .help = "open connections at once, 0 = no limit"},
	[LK_MAX_DETECTING] = {"max_detecting", PT_J_UINT, false, 0, PT_CFG_CONN_MAX,
			      PT_DEF_MAX_DETECTING, LOFF(max_detecting),
			      .help = "connections still in detection; when full the oldest is "
				      "closed, 0 = no limit"},
	[LK_PER_SOURCE] = {"max_connections_per_source", PT_J_UINT, false, 0, PT_CFG_CONN_MAX,
			   PT_DEF_MAX_PER_SOURCE, LOFF(max_per_source),
			   .help = "open connections from one client network, 0 = no limit"},
	[LK_PREFIX_V4] = {"source_prefix_v4", PT_J_UINT, false, 0, 32, PT_DEF_SOURCE_PREFIX_V4,
			  LOFF(source_prefix_v4),
			  .help = "IPv4 clients in one /N count as one source"},
	[LK_PREFIX_V6] = {"source_prefix_v6", PT_J_UINT, false, 0, 128, PT_DEF_SOURCE_PREFIX_V6,
			  LOFF(source_prefix_v6),
			  .help = "IPv6 clients in one /N count as one source"},
	[LK_CONNECT] = {"connect_timeout_ms", PT_J_UINT, false, 1, PT_CFG_TIMEOUT_MAX,
			PT_DEF_CONNECT_TIMEOUT_MS, LOFF(connect_timeout_ms),
			.help = "per upstream address"},
	[LK_IDLE] = {"idle_timeout_ms", PT_J_UINT, false, 0, PT_CFG_IDLE_MAX,
		     PT_DEF_IDLE_TIMEOUT_MS, LOFF(idle_timeout_ms),
		     .help = "close relayed connections idle this long, 0 = never"},
	[LK_DATA_PLANE] = {"data_plane", PT_J_STRING, .parse = parse_data_plane,
			   .dump = dump_data_plane,
			   .help = "auto, copy, splice, sockmap or local (experimental)"},
	[LK_SNDBUF] = {"sockmap_sndbuf", PT_J_UINT, false, 0, 1u << 30, PT_DEF_SOCKMAP_SNDBUF,
		       LOFF(sockmap_sndbuf),
		       .help = "send buffer of sockmap pairs in bytes, 0 = the kernel's"},
	[LK_MAX_QUEUED] = {"sockmap_max_queued", PT_J_UINT, false, 65536, 1u << 30,
			   PT_DEF_SOCKMAP_MAX_QUEUED, LOFF(sockmap_max_queued),
			   .help = "bytes queued in the kernel per direction before backpressure"},
	[LK_DRAIN] = {"drain_timeout_ms", PT_J_UINT, false, 100, PT_CFG_TIMEOUT_MAX,
		      PT_DEF_DRAIN_TIMEOUT_MS, LOFF(drain_timeout_ms),
		      .help = "sockmap: reset a pair whose queue stops draining this long"},
	[LK_BULK_PLANE] = {"bulk_plane", PT_J_STRING, .parse = parse_bulk_plane,
			   .dump = dump_bulk_plane,
			   .help = "auto: where a connection that shows bulk moves, splice or sockmap"},
	[LK_BULK_BYTES] = {"bulk_turn_bytes", PT_J_UINT, false, 0, 1u << 30,
			   PT_DEF_BULK_TURN_BYTES, LOFF(bulk_turn_bytes),
			   .help = "auto: bytes one read turn must find to count as bulk, 0 = never move"},
	[LK_BULK_TURNS] = {"bulk_turns", PT_J_UINT, false, 1, 65535, PT_DEF_BULK_TURNS,
			   LOFF(bulk_turns), .help = "auto: bulk turns in a row that move a connection"},
	[LK_ACCEPT_PROXY] = {"accept_proxy", PT_J_BOOL, .parse = parse_accept_proxy,
			     .dump = dump_accept_proxy,
			     .help = "clients send a PROXY protocol header (v1 or v2) first; it names "
				     "the client"},
	[LK_TRUSTED] = {"trusted_sources", PT_J_STRV, .parse = parse_trusted,
			.dump = dump_trusted,
			.help = "accept_proxy: the networks whose PROXY headers are believed"},
	[LK_SHIELD] = {"shield", PT_J_OBJECT, .parse = pt_cfg_parse_shield,
		       .dump = pt_cfg_dump_shield,
		       .help = "XDP shield: interfaces, deny and allow lists, SYN rate"},
	[LK_MODE] = {"mode", PT_J_STRING, .parse = pt_cfg_parse_mode, .dump = pt_cfg_dump_mode,
		     .help = "proxy (default), tproxy or redirect: how clients reach the listener"},
	[LK_TERMINATE] = {"terminate", PT_J_OBJECT, .parse = pt_cfg_parse_terminate,
			  .dump = pt_cfg_dump_terminate,
			  .help = "answer SOCKS5 and HTTP CONNECT clients, then route what they tunnel"},
	[LK_ROUTES] = {"routes", PT_J_ARRAY, true, .parse = pt_cfg_parse_routes,
		       .dump = pt_cfg_dump_routes, .help = "ordered routes, the first match wins"},
};

/* accept_proxy needs the sources it may come from; they mean nothing without it. */
static void proxy_check(struct pt_cfg_ctx *ctx, const struct pt_listener_cfg *l, uint64_t seen,
			uint64_t bad)
{
	size_t mark;

	if (bad & (PT_CFG_BIT(LK_ACCEPT_PROXY) | PT_CFG_BIT(LK_TRUSTED)))
		return;
	if (l->accept_proxy && !(seen & PT_CFG_BIT(LK_TRUSTED))) {
		mark = pt_cfg_path_key(ctx, "accept_proxy");
		pt_cfg_err(ctx, "needs \"trusted_sources\": the networks of the load balancers "
				"whose PROXY headers are believed");
		pt_cfg_path_pop(ctx, mark);
	} else if (!l->accept_proxy && (seen & PT_CFG_BIT(LK_TRUSTED))) {
		mark = pt_cfg_path_key(ctx, "trusted_sources");
		pt_cfg_err(ctx, "only used with \"accept_proxy\": true");
		pt_cfg_path_pop(ctx, mark);
	}
}

static void parse_listener(struct pt_cfg_ctx *ctx, const cJSON *j, struct pt_listener_cfg *l)
{
	uint64_t seen, bad;
	size_t mark;

	seen = pt_cfg_object(ctx, j, listener_keys, LK_N, l, &bad);
	proxy_check(ctx, l, seen, bad);
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
		pt_cfg_dump_keys(o, listener_keys, LK_N, &cfg->listeners[i], cfg);
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

/* Past the bracket expression that starts at @re[0] == '['. */
static const char *bracket_end(const char *re)
{
	const char *q = re + 1;

	if (*q == '^')
		q++;
	if (*q == ']')
		q++;	/* a literal ']' first */
	for (; *q && *q != ']'; q++)
		if (q[0] == '[' && (q[1] == ':' || q[1] == '.' || q[1] == '=')) {
			const char *e = strchr(q + 2, q[1]);

			if (!e || e[1] != ']')
				return q + strlen(q);
			q = e + 1;
		}
	return *q ? q + 1 : q;
}

/*
 * A repetition operator right after another ("a++", "a*{2}"): undefined in
 * POSIX EREs, and glibc's regcomp copies the subtree once per operator, so a
 * few dozen of them take gigabytes (found by fuzz_config). The offset of the
 * second one, or -1.
 */
static long stacked_repetition(const char *re)
{
	bool after_rep = false;

	for (const char *q = re; *q;) {
		bool rep = *q == '*' || *q == '+' || *q == '?' || *q == '{';

		if (rep && after_rep)
			return q - re;
		after_rep = rep;
		if (*q == '\\' && q[1])
			q += 2;
		else if (*q == '[')
			q = bracket_end(q);
		else if (*q == '{' && strchr(q, '}'))
			q = strchr(q, '}') + 1;
		else
			q++;
	}
	return -1;
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
	if (stacked_repetition(j->valuestring) >= 0) {
		pt_cfg_err(ctx, "bad regex %s: repetition operator right after another at offset "
			   "%ld (undefined in POSIX EREs; use one, or a group)",
			   pt_cfg_q(ctx, j->valuestring), stacked_repetition(j->valuestring));
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
		     .parse = pt_cfg_parse_name, .dump = pt_cfg_dump_name,
		     .help = "referenced by match.pattern"},
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

enum { TK_GRACE, TK_EXPERIMENTAL, TK_IO_URING, TK_BUSY_POLL, TK_PATTERNS, TK_POOLS,
       TK_LISTENERS, TK_CONTROL, TK_USER, TK_ADMIN_GROUP, TK_BUDGET, TK_METRICS, TK_LOG_FORMAT,
       TK_N };

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

/* A group that exists here: its members may ask for a reload. */
static int parse_admin_group(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
			     void *obj)
{
	struct pt_config *cfg = obj;
	const char *s = j->valuestring;
	struct group *gr;

	if (!s[0] || strlen(s) >= sizeof(cfg->control_admin_group)) {
		pt_cfg_err(ctx, "expected a group name, got %s", pt_cfg_q(ctx, s));
		return -EINVAL;
	}
	gr = getgrnam(s);
	if (!gr) {
		pt_cfg_err(ctx, "no such group %s", pt_cfg_q(ctx, s));
		return -EINVAL;
	}
	snprintf(cfg->control_admin_group, sizeof(cfg->control_admin_group), "%s", s);
	cfg->control_admin_gid = gr->gr_gid;
	return 0;
}

static void dump_admin_group(cJSON *out, const struct pt_cfg_key *k, const void *obj,
			     const struct pt_config *cfg)
{
	if (cfg->control_admin_group[0])
		cJSON_AddStringToObject(out, k->name, cfg->control_admin_group);
}

/* "metrics": {"listen": "127.0.0.1:9477"}: a numeric listen address, as for listeners. */
static int parse_metrics_listen(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k,
				const cJSON *j, void *obj)
{
	struct pt_config *cfg = obj;
	const char *s = j->valuestring;

	if (strlen(s) >= sizeof(cfg->metrics_listen) ||
	    pt_listen_parse(s, &cfg->metrics_addr, &cfg->metrics_v6only)) {
		pt_cfg_err(ctx, "expected a listen address like \"127.0.0.1:9477\", \"[::1]:9477\" "
			   "or \":9477\", got %s", pt_cfg_q(ctx, s));
		return -EINVAL;
	}
	snprintf(cfg->metrics_listen, sizeof(cfg->metrics_listen), "%s", s);
	return 0;
}

static void dump_metrics_listen(cJSON *out, const struct pt_cfg_key *k, const void *obj,
				const struct pt_config *cfg)
{
	cJSON_AddStringToObject(out, k->name, cfg->metrics_listen);
}

enum { MK_LISTEN, MK_N };

static const struct pt_cfg_key metrics_keys[MK_N] = {
	[MK_LISTEN] = {"listen", PT_J_STRING, true, .parse = parse_metrics_listen, .dump = dump_metrics_listen,
	 .help = "address:port of the Prometheus endpoint (GET /metrics)"},
};

static int parse_metrics(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
			 void *obj)
{
	pt_cfg_object(ctx, j, metrics_keys, MK_N, obj, NULL);
	return 0;
}

static void dump_metrics(cJSON *out, const struct pt_cfg_key *k, const void *obj,
			 const struct pt_config *cfg)
{
	cJSON *o;

	if (cfg->metrics_listen[0] && (o = cJSON_AddObjectToObject(out, k->name)))
		pt_cfg_dump_keys(o, metrics_keys, MK_N, obj, cfg);
}

static const char *const log_formats[PT_LOG_FMT_MAX] = {
	[PT_LOG_FMT_TEXT] = "text",
	[PT_LOG_FMT_JSON] = "json",
};

static int parse_log_format(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j,
			    void *obj)
{
	struct pt_config *cfg = obj;

	for (int i = 0; i < PT_LOG_FMT_MAX; i++) {
		if (!strcmp(j->valuestring, log_formats[i])) {
			cfg->log_format = i;
			return 0;
		}
	}
	pt_cfg_err(ctx, "expected \"text\" or \"json\", got %s", pt_cfg_q(ctx, j->valuestring));
	return -EINVAL;
}

static void dump_log_format(cJSON *out, const struct pt_cfg_key *k, const void *obj,
			    const struct pt_config *cfg)
{
	if (cfg->log_format != PT_LOG_FMT_TEXT)
		cJSON_AddStringToObject(out, k->name, log_formats[cfg->log_format]);
}

const struct pt_cfg_key pt_cfg_top_keys[TK_N] = {
	[TK_GRACE] = {"grace_ms", PT_J_UINT, false, 0, PT_CFG_GRACE_MAX, PT_DEF_GRACE_MS,
		      offsetof(struct pt_config, grace_ms),
		      .help = "after SIGTERM, how long open connections may finish"},
	/* before listeners: their data_plane "local" needs it */
	[TK_EXPERIMENTAL] = {"experimental", PT_J_BOOL,
			     .off = offsetof(struct pt_config, experimental),
			     .parse = pt_cfg_parse_flag, .dump = pt_cfg_dump_flag,
			     .help = "allow experimental features: data_plane \"local\""},
	/* def 1: the field says the opposite ("no_io_uring"), absent = on */
	[TK_IO_URING] = {"io_uring", PT_J_BOOL, .def = 1,
			 .off = offsetof(struct pt_config, no_io_uring),
			 .parse = pt_cfg_parse_flag, .dump = pt_cfg_dump_flag,
			 .help = "batch the copy plane's recv() and send() of each event round "
				 "through io_uring (default true; read at start)"},
	[TK_BUSY_POLL] = {"busy_poll_us", PT_J_UINT, false, 0, PT_CFG_BUSY_POLL_MAX,
			  PT_DEF_BUSY_POLL_US, offsetof(struct pt_config, busy_poll_us),
			  .help = "a worker polls up to this long (adaptive) before it sleeps, "
				  "0 = never (read at start)"},
	/* before listeners: routes refer to patterns by name */
	[TK_PATTERNS] = {"patterns", PT_J_ARRAY, .parse = parse_patterns, .dump = dump_patterns,
			 .help = "user-defined detectors"},
	/* before listeners: routes forward to pools by name */
	[TK_POOLS] = {"upstreams", PT_J_OBJECT, .parse = pt_cfg_parse_pools,
		      .dump = pt_cfg_dump_pools,
		      .help = "named pools of upstream servers a route's forward may name"},
	[TK_LISTENERS] = {"listeners", PT_J_ARRAY, true, .parse = parse_listeners,
			  .dump = dump_listeners, .help = "one or more listeners"},
	[TK_CONTROL] = {"control_socket", PT_J_STRING, .parse = parse_control,
			.dump = dump_control,
			.help = "unix socket for passthru-ctl (default /run/passthru/<instance>.sock)"},
	[TK_USER] = {"user", PT_J_STRING, .parse = parse_user, .dump = dump_user,
		     .help = "drop to this user after binding and loading (keeps only the "
			     "capabilities the kernel still asks for)"},
	[TK_ADMIN_GROUP] = {"control_admin_group", PT_J_STRING, .parse = parse_admin_group,
			    .dump = dump_admin_group,
			    .help = "besides root, members of this group may reload through the "
				    "control socket"},
	[TK_BUDGET] = {"sockmap_memory_budget_mib", PT_J_UINT, false, 0, 1u << 22, 0,
		       offsetof(struct pt_config, sockmap_budget_mib),
		       .help = "kernel memory (MiB) all sockmap pairs together may pin in forced "
			       "send buffers and queues, 0 = a quarter of the RAM"},
	[TK_METRICS] = {"metrics", PT_J_OBJECT, .parse = parse_metrics, .dump = dump_metrics,
			.help = "{\"listen\": \"127.0.0.1:9477\"}: serve Prometheus metrics there"},
	[TK_LOG_FORMAT] = {"log_format", PT_J_STRING, .parse = parse_log_format,
			   .dump = dump_log_format,
			   .help = "\"text\" (key=value lines) or \"json\" (one object per line)"},
};
const int pt_cfg_n_top_keys = TK_N;

/* Read a native-format document into ctx->cfg. Errors are counted in ctx. */
int pt_cfg_native(struct pt_cfg_ctx *ctx, const cJSON *root)
{
	pt_cfg_object(ctx, root, pt_cfg_top_keys, TK_N, ctx->cfg, NULL);
	return ctx->n_errors ? -EINVAL : 0;
}
