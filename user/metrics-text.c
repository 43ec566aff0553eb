// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The Prometheus text exposition of the shared counters (metrics-text.h):
 * one family at a time, its HELP and TYPE lines then a sample per listener
 * (and route, plane, direction...). Counters are read with relaxed atomic
 * loads while the workers keep counting: every sample is a value the
 * counter had, and the histogram's cumulative buckets are summed from one
 * read of each bucket, so they never decrease from one bucket to the next.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "metrics-text.h"

static const char *const dir_names[2] = {
	[PT_DIR_UP] = "up",
	[PT_DIR_DOWN] = "down",
};

static uint64_t ld64(const uint64_t *v)
{
	return __atomic_load_n(v, __ATOMIC_RELAXED);
}

void pt_metrics_label_value(FILE *f, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', f);
		if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{k1="v1",...}: @kv is NULL-terminated pairs of label name and value. */
static void series(FILE *f, const char *name, const char *suffix, const char *const *kv)
{
	fputs(name, f);
	fputs(suffix, f);
	if (!kv[0])
		return;
	fputc('{', f);
	for (int i = 0; kv[i]; i += 2) {
		fprintf(f, "%s%s=\"", i ? "," : "", kv[i]);
		pt_metrics_label_value(f, kv[i + 1]);
		fputc('"', f);
	}
	fputc('}', f);
}

static void sample(FILE *f, const char *name, const char *const *kv, uint64_t v)
{
	series(f, name, "", kv);
	fprintf(f, " %llu\n", (unsigned long long)v);
}

/* --- the daemon and its listeners ---------------------------------------- */

static void daemon_families(FILE *f, const struct pt_metrics_src *src)
{
	const struct pt_stats *s = src->stats;

	family(f, "passthru_build_info", "gauge", "Always 1; the version of the running daemon.");
	sample(f, "passthru_build_info", (const char *const[]){ "version", src->version, NULL }, 1);
	family(f, "passthru_config_generation", "gauge",
	       "Config generation running (every reload adds 1).");
	sample(f, "passthru_config_generation", (const char *const[]){ NULL },
	       src->cfg->generation);
	family(f, "passthru_workers", "gauge", "Worker processes the daemon runs.");
	sample(f, "passthru_workers", (const char *const[]){ NULL }, (uint64_t)src->n_workers);
	family(f, "passthru_sockmap_budget_reserved_bytes", "gauge",
	       "Kernel memory promised to sockmap pairs right now.");
	sample(f, "passthru_sockmap_budget_reserved_bytes", (const char *const[]){ NULL },
	       ld64(&s->budget.reserved));
	family(f, "passthru_sockmap_budget_squeezed_total", "counter",
	       "Sockmap pairs given less than their listener's limits to fit the budget.");
	sample(f, "passthru_sockmap_budget_squeezed_total", (const char *const[]){ NULL },
	       ld64(&s->budget.squeezed));
	family(f, "passthru_sockmap_budget_refused_total", "counter",
	       "Connections relayed by another plane: no sockmap budget left.");
	sample(f, "passthru_sockmap_budget_refused_total", (const char *const[]){ NULL },
	       ld64(&s->budget.refused));
}

/* A plain counter of struct pt_listener_stats, at @off. */
struct listener_counter {
	const char *name;
	const char *help;
	size_t off;
};

static const struct listener_counter listener_counters[] = {
	{ "passthru_connections_accepted_total", "Connections accepted.",
	  offsetof(struct pt_listener_stats, accepted) },
	{ "passthru_sources_untracked_total",
	  "Connections let in uncounted: the per-source table was full.",
	  offsetof(struct pt_listener_stats, untracked_sources) },
	{ "passthru_detect_rounds_total", "Detection rounds run over the first bytes.",
	  offsetof(struct pt_listener_stats, detect_rounds) },
};

static void listener_families(FILE *f, const struct pt_metrics_src *src)
{
	const struct pt_config *cfg = src->cfg;
	const struct pt_stats *s = src->stats;
	int n = cfg->n_listeners < PT_MAX_LISTENERS ? cfg->n_listeners : PT_MAX_LISTENERS;
	const char *ln;

#define FOR_LISTENERS for (int l = 0; l < n && (ln = cfg->listeners[l].name, 1); l++)
	family(f, "passthru_connections_active", "gauge", "Open connections.");
	FOR_LISTENERS {
		int64_t a = __atomic_load_n(&s->l[l].active, __ATOMIC_RELAXED);

		sample(f, "passthru_connections_active",
		       (const char *const[]){ "listener", ln, NULL }, a > 0 ? (uint64_t)a : 0);
	}
	for (size_t i = 0; i < sizeof(listener_counters) / sizeof(listener_counters[0]); i++) {
		const struct listener_counter *c = &listener_counters[i];

		family(f, c->name, "counter", c->help);
		FOR_LISTENERS
			sample(f, c->name, (const char *const[]){ "listener", ln, NULL },
			       ld64((const uint64_t *)((const char *)&s->l[l] + c->off)));
	}
	family(f, "passthru_connections_refused_total", "counter",
	       "Connections closed at accept by a limit (reason: the config key).");
	FOR_LISTENERS {
		sample(f, "passthru_connections_refused_total",
		       (const char *const[]){ "listener", ln, "reason", "max_connections", NULL },
		       ld64(&s->l[l].over_limit));
		sample(f, "passthru_connections_refused_total",
		       (const char *const[]){ "listener", ln, "reason",
					      "max_connections_per_source", NULL },
		       ld64(&s->l[l].over_source_limit));
	}
	family(f, "passthru_connections_detected_total", "counter",
	       "Connections by the protocol detection found (none: deadline or EOF first).");
	FOR_LISTENERS
		for (int p = 0; p < PT_PROTO_MAX; p++)
			sample(f, "passthru_connections_detected_total",
			       (const char *const[]){ "listener", ln, "protocol",
						      pt_proto_name(p), NULL },
			       ld64(&s->l[l].detected[p]));
	family(f, "passthru_connections_ended_total", "counter",
	       "Closed connections by how they ended.");
	FOR_LISTENERS
		for (int e = 0; e < PT_END_MAX; e++)
			sample(f, "passthru_connections_ended_total",
			       (const char *const[]){ "listener", ln, "end", pt_end_name(e), NULL },
			       ld64(&s->l[l].ended[e]));
	family(f, "passthru_bytes_total", "counter",
	       "Bytes relayed by closed connections (up: client to upstream).");
	FOR_LISTENERS
		for (int d = 0; d < 2; d++)
			sample(f, "passthru_bytes_total",
			       (const char *const[]){ "listener", ln, "direction", dir_names[d],
						      NULL },
			       ld64(&s->l[l].bytes[d]));
#undef FOR_LISTENERS
}

/* passthru_connection_duration_seconds{listener} for listener @l. */
static void duration_histogram(FILE *f, const char *ln, const struct pt_listener_stats *ls)
{
	const char *name = "passthru_connection_duration_seconds";
	uint64_t cum = 0;
	char le[32];

	for (int b = 0; b < PT_DURATION_BUCKETS; b++) {
		cum += ld64(&ls->duration[b]);
		if (b < PT_DURATION_BUCKETS - 1)
			snprintf(le, sizeof(le), "%g", pt_duration_bounds_ms[b] / 1000.0);
		else
			snprintf(le, sizeof(le), "+Inf");
		series(f, name, "_bucket", (const char *const[]){ "listener", ln, "le", le, NULL });
		fprintf(f, " %llu\n", (unsigned long long)cum);
	}
	series(f, name, "_sum", (const char *const[]){ "listener", ln, NULL });
	fprintf(f, " %.3f\n", ld64(&ls->duration_ms) / 1000.0);
	series(f, name, "_count", (const char *const[]){ "listener", ln, NULL });
	fprintf(f, " %llu\n", (unsigned long long)cum);
}

/* --- routes --------------------------------------------------------------- */

/* A counter of struct pt_route_stats at @off: one value, or one per direction. */
struct route_counter {
	const char *name;
	const char *type;
	const char *help;
	size_t off;
	bool per_dir;
};

#define RS(f) offsetof(struct pt_route_stats, f)
static const struct route_counter route_counters[] = {
	{ "passthru_route_connections_total", "counter", "Connections that chose the route.",
	  RS(matched), false },
	{ "passthru_route_rejected_total", "counter", "Connections a reject route closed.",
	  RS(rejected), false },
	{ "passthru_route_upstream_failures_total", "counter",
	  "Connections that found no upstream that accepted.", RS(upstream_failures), false },
	{ "passthru_route_connect_errors_total", "counter",
	  "Failed connect attempts to upstreams (failover included).", RS(connect_errors), false },
	{ "passthru_route_connect_timeouts_total", "counter",
	  "Connect attempts that timed out.", RS(connect_timeouts), false },
	{ "passthru_route_moves_total", "counter",
	  "Connections moved from the copy plane to the bulk plane.", RS(moves), false },
	{ "passthru_sockmap_kernel_bytes_total", "counter",
	  "Sockmap: bytes the verdict program redirected in the kernel.", RS(kernel_bytes), true },
	{ "passthru_sockmap_passed_bytes_total", "counter",
	  "Sockmap: bytes the verdict left to the daemon (backpressure).", RS(passed), true },
	{ "passthru_sockmap_pass_events_total", "counter", "Sockmap: backpressure events.",
	  RS(pass_events), true },
	{ "passthru_sockmap_redirect_failures_total", "counter", "Sockmap: failed redirects.",
	  RS(redirect_fail), true },
	{ "passthru_sockmap_max_queued_bytes", "gauge",
	  "Sockmap: the highest kernel queue seen on one pair.", RS(max_queued), true },
};
#undef RS

static const char *route_name(const struct pt_route *r, int idx, char *buf, size_t size)
{
	if (r->name && r->name[0])
		return r->name;
	snprintf(buf, size, "#%d", idx);
	return buf;
}

static int n_listeners(const struct pt_metrics_src *src)
{
	return src->cfg->n_listeners < PT_MAX_LISTENERS ? src->cfg->n_listeners : PT_MAX_LISTENERS;
}

static int n_routes(const struct pt_metrics_src *src, int l)
{
	int n = src->cfg->listeners[l].n_routes;

	return n < PT_MAX_ROUTES ? n : PT_MAX_ROUTES;
}

/* Every route row: listener @l, route @r. */
#define FOR_ROUTES(src, l, r)                                  \
	for (int l = 0; l < n_listeners(src); l++)             \
		for (int r = 0; r < n_routes(src, l); r++)

/* The listener and route labels of row @l, @r. */
#define ROUTE_LABELS(src, l, r, rbuf)                                                      \
	"listener", (src)->cfg->listeners[l].name, "route",                                 \
		route_name(&(src)->cfg->listeners[l].routes[r], r, rbuf, sizeof(rbuf))

static void route_counter_family(FILE *f, const struct pt_metrics_src *src,
				 const struct route_counter *c)
{
	char rbuf[16];

	family(f, c->name, c->type, c->help);
	FOR_ROUTES(src, l, r) {
		const uint64_t *v = (const uint64_t *)((const char *)&src->stats->r[l][r] + c->off);

		if (!c->per_dir) {
			sample(f, c->name,
			       (const char *const[]){ ROUTE_LABELS(src, l, r, rbuf), NULL }, ld64(v));
			continue;
		}
		for (int d = 0; d < 2; d++)
			sample(f, c->name,
			       (const char *const[]){ ROUTE_LABELS(src, l, r, rbuf), "direction",
						      dir_names[d], NULL },
			       ld64(&v[d]));
	}
}

/* Closed connections and their bytes by data plane. */
static void plane_families(FILE *f, const struct pt_metrics_src *src)
{
	const struct pt_route_stats *rs;
	char rbuf[16];

	family(f, "passthru_route_relayed_total", "counter",
	       "Closed connections by the data plane they ended on.");
	FOR_ROUTES(src, l, r)
		for (int p = PT_PLANE_NONE + 1; p < PT_PLANE_MAX; p++)
			sample(f, "passthru_route_relayed_total",
			       (const char *const[]){ ROUTE_LABELS(src, l, r, rbuf), "plane",
						      pt_plane_name(p), NULL },
			       ld64(&src->stats->r[l][r].relayed[p]));
	family(f, "passthru_route_bytes_total", "counter",
	       "Bytes relayed by closed connections, by the data plane that relayed them.");
	FOR_ROUTES(src, l, r) {
		rs = &src->stats->r[l][r];
		for (int p = PT_PLANE_NONE + 1; p < PT_PLANE_MAX; p++)
			for (int d = 0; d < 2; d++)
				sample(f, "passthru_route_bytes_total",
				       (const char *const[]){ ROUTE_LABELS(src, l, r, rbuf), "plane",
							      pt_plane_name(p), "direction",
							      dir_names[d], NULL },
				       ld64(&rs->plane_bytes[p][d]));
	}
}

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* --- upstream pools -------------------------------------------------------- */

/* A field of struct pt_srv_state per pool server; "up" is the health checks' verdict. */
struct upstream_family {
	const char *name, *type, *help;
	size_t off;
	bool up;
};

#define SS(f) offsetof(struct pt_srv_state, f)
static const struct upstream_family upstream_families[] = {
	{ "passthru_upstream_up", "gauge",
	  "1 while the health checks say the server is up (ejections aside).", 0, true },
	{ "passthru_upstream_active", "gauge", "Open connections to the server, all workers.",
	  SS(active), false },
	{ "passthru_upstream_connections_total", "counter",
	  "Connections established to the server.", SS(connections), false },
	{ "passthru_upstream_connect_failures_total", "counter",
	  "Failed connect attempts to the server.", SS(connect_failures), false },
	{ "passthru_upstream_ejections_total", "counter",
	  "Times the server was ejected after connect failures in a row.", SS(ejections), false },
};

static void upstream_family(FILE *f, const struct pt_metrics_src *src,
			    const struct upstream_family *u)
{
	const struct pt_config *cfg = src->cfg;

	family(f, u->name, u->type, u->help);
	for (int i = 0; i < cfg->n_pools; i++) {
		for (int k = 0; k < cfg->pools[i].n_servers; k++) {
			const struct pt_pool_server *s = &cfg->pools[i].servers[k];
			const struct pt_srv_state *st = s->slot >= 0 ? &src->stats->pools.s[s->slot]
								     : NULL;
			const char *kv[] = { "pool", cfg->pools[i].name, "server", s->u.spec, NULL };
			uint64_t v = 0;

			if (u->up)
				v = !st || !__atomic_load_n(&st->down, __ATOMIC_RELAXED);
			else if (st)
				v = ld64((const uint64_t *)((const char *)st + u->off));
			sample(f, u->name, kv, v);
		}
	}
}

int pt_metrics_render(const struct pt_metrics_src *src, char **out, size_t *len)
{
	uint32_t rgen = __atomic_load_n(&src->stats->route_gen, __ATOMIC_ACQUIRE);
	FILE *f;

	*out = NULL;
	*len = 0;
	f = open_memstream(out, len);
	if (!f)
		return -ENOMEM;
	daemon_families(f, src);
	listener_families(f, src);
	family(f, "passthru_connection_duration_seconds", "histogram",
	       "How long closed connections lasted, from accept to close.");
	for (int l = 0; l < n_listeners(src); l++)
		duration_histogram(f, src->cfg->listeners[l].name, &src->stats->l[l]);
	/* Route rows of another generation (a reload under way) would carry the wrong names. */
	if (rgen == src->cfg->generation) {
		for (size_t i = 0; i < sizeof(route_counters) / sizeof(route_counters[0]); i++)
			route_counter_family(f, src, &route_counters[i]);
		plane_families(f, src);
	}
	for (size_t i = 0; src->cfg->n_pools && i < ARRAY_LEN(upstream_families); i++)
		upstream_family(f, src, &upstream_families[i]);
	if (ferror(f) | fclose(f)) {
		free(*out);
		*out = NULL;
		return -ENOMEM;
	}
	return 0;
}
