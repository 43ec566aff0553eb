// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The Prometheus exposition (metrics-text.c) from a hand-made config and
 * counters: every family has HELP and TYPE before its samples, label
 * values are escaped, the histogram's buckets are cumulative and end in
 * +Inf = _count, bytes are split by plane, route rows of another config
 * generation are left out, and every sample line has the shape
 * name{labels} value.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics-text.h"
#include "stats.h"
#include "test.h"

static struct pt_route routes[2];
static struct pt_listener_cfg listeners[2];
static struct pt_config cfg;
static struct pt_stats *st;

static void setup(void)
{
	routes[0].name = "web";
	routes[1].name = "odd \"name\" \\ with\nnewline";
	listeners[0].name = "main";
	listeners[0].routes = routes;
	listeners[0].n_routes = 2;
	listeners[1].name = "other";
	cfg.listeners = listeners;
	cfg.n_listeners = 2;
	cfg.generation = 3;
	st = calloc(1, sizeof(*st));
	st->route_gen = 3;
	st->l[0].accepted = 7;
	st->l[0].active = 2;
	st->l[0].detected[PT_PROTO_TLS] = 5;
	st->l[0].ended[PT_END_DONE] = 4;
	st->l[0].bytes[PT_DIR_UP] = 100;
	st->l[0].bytes[PT_DIR_DOWN] = 900;
	st->l[0].duration[0] = 1;	/* <= 5 ms */
	st->l[0].duration[7] = 2;	/* <= 1 s */
	st->l[0].duration[PT_DURATION_BUCKETS - 1] = 1;	/* > 300 s */
	st->l[0].duration_ms = 1 + 1500 + 400000;
	st->r[0][0].matched = 6;
	st->r[0][0].plane_bytes[PT_PLANE_COPY][PT_DIR_UP] = 60;
	st->r[0][0].plane_bytes[PT_PLANE_SPLICE][PT_DIR_DOWN] = 800;
	st->r[0][0].relayed[PT_PLANE_SPLICE] = 3;
}

static char *render(void)
{
	struct pt_metrics_src src = { .cfg = &cfg, .stats = st, .version = "9.9", .n_workers = 2 };
	char *text = NULL;
	size_t len = 0;

	if (!ASSERT_OK(pt_metrics_render(&src, &text, &len), "render"))
		return NULL;
	ASSERT_EQ(len, strlen(text), "length");
	return text;
}

/* The value of the sample line that starts with @series + " ", or -1. */
static long long value_of(const char *text, const char *series)
{
	size_t n = strlen(series);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, series, n) && p[n] == ' ')
			return atoll(p + n + 1);
	return -1;
}

static void test_values(void)
{
	char *t = render();

	if (!t)
		return;
	ASSERT_EQ(value_of(t, "passthru_connections_accepted_total{listener=\"main\"}"), 7,
		  "accepted");
	ASSERT_EQ(value_of(t, "passthru_connections_active{listener=\"main\"}"), 2, "active");
	ASSERT_EQ(value_of(t, "passthru_connections_detected_total{listener=\"main\","
			      "protocol=\"tls\"}"), 5, "detected tls");
	ASSERT_EQ(value_of(t, "passthru_connections_ended_total{listener=\"main\",end=\"done\"}"),
		  4, "ended done");
	ASSERT_EQ(value_of(t, "passthru_bytes_total{listener=\"main\",direction=\"down\"}"), 900,
		  "bytes down");
	ASSERT_EQ(value_of(t, "passthru_workers"), 2, "workers");
	ASSERT_EQ(value_of(t, "passthru_config_generation"), 3, "generation");
	ASSERT_EQ(value_of(t, "passthru_build_info{version=\"9.9\"}"), 1, "build info");
	ASSERT_EQ(value_of(t, "passthru_route_connections_total{listener=\"main\",route=\"web\"}"),
		  6, "route matched");
	ASSERT_EQ(value_of(t, "passthru_route_bytes_total{listener=\"main\",route=\"web\","
			      "plane=\"copy\",direction=\"up\"}"), 60, "copy bytes up");
	ASSERT_EQ(value_of(t, "passthru_route_bytes_total{listener=\"main\",route=\"web\","
			      "plane=\"splice\",direction=\"down\"}"), 800, "splice bytes down");
	ASSERT_EQ(value_of(t, "passthru_route_relayed_total{listener=\"main\",route=\"web\","
			      "plane=\"splice\"}"), 3, "relayed on splice");
	ASSERT_EQ(value_of(t, "passthru_connections_accepted_total{listener=\"other\"}"), 0,
		  "second listener");
	free(t);
}

static void test_escaping(void)
{
	char *t = render();

	if (!t)
		return;
	ASSERT_STRSTR(t, "route=\"odd \\\"name\\\" \\\\ with\\nnewline\"", "escaped label");
	ASSERT_TRUE(!strstr(t, "with\nnewline"), "no raw newline in a label");
	free(t);
}

static void test_histogram(void)
{
	const char *b = "passthru_connection_duration_seconds_bucket{listener=\"main\",le=";
	char *t = render();

	if (!t)
		return;
	ASSERT_EQ(value_of(t, "passthru_connection_duration_seconds_bucket{listener=\"main\","
			      "le=\"0.005\"}"), 1, "first bucket");
	ASSERT_EQ(value_of(t, "passthru_connection_duration_seconds_bucket{listener=\"main\","
			      "le=\"0.5\"}"), 1, "below 1 s");
	ASSERT_EQ(value_of(t, "passthru_connection_duration_seconds_bucket{listener=\"main\","
			      "le=\"1\"}"), 3, "1 s");
	ASSERT_EQ(value_of(t, "passthru_connection_duration_seconds_bucket{listener=\"main\","
			      "le=\"300\"}"), 3, "300 s");
	ASSERT_EQ(value_of(t, "passthru_connection_duration_seconds_bucket{listener=\"main\","
			      "le=\"+Inf\"}"), 4, "+Inf");
	ASSERT_EQ(value_of(t, "passthru_connection_duration_seconds_count{listener=\"main\"}"), 4,
		  "count");
	ASSERT_STRSTR(t, "passthru_connection_duration_seconds_sum{listener=\"main\"} 401.501\n",
		      "sum in seconds");
	/* Monotonic, in order, one bucket per bound. */
	long long prev = -1;
	int n = 0;

	for (const char *p = strstr(t, b); p; p = strstr(p + 1, b)) {
		long long v = atoll(strchr(strchr(p, '}'), ' ') + 1);

		ASSERT_TRUE(v >= prev, "buckets never decrease");
		prev = v;
		n++;
	}
	ASSERT_EQ(n, PT_DURATION_BUCKETS, "one line per bucket");
	free(t);
}

/* Every line: a comment "# HELP name ..." / "# TYPE name type" or "name[{...}] number". */
static void test_shape(void)
{
	char *t = render(), *save = NULL, *line;
	char family[128] = "";
	int samples = 0;

	if (!t)
		return;
	ASSERT_TRUE(t[strlen(t) - 1] == '\n', "ends with a newline");
	for (line = strtok_r(t, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "# HELP ", 7)) {
			continue;
		} else if (!strncmp(line, "# TYPE ", 7)) {
			sscanf(line + 7, "%127s", family);
			continue;
		}
		samples++;
		size_t n = strspn(line, "abcdefghijklmnopqrstuvwxyz_");
		const char *v = strrchr(line, ' ');

		ASSERT_TRUE(n > 9 && !strncmp(line, "passthru_", 9), line);
		ASSERT_TRUE(line[n] == '{' || line[n] == ' ', line);
		ASSERT_TRUE(family[0] && !strncmp(line, family, strlen(family)),
			    "a sample follows the TYPE line of its family");
		ASSERT_TRUE(v && (isdigit((unsigned char)v[1])), line);
	}
	ASSERT_TRUE(samples > 50, "many samples");
	free(t);
}

static void test_other_generation(void)
{
	char *t;

	st->route_gen = 4;	/* a reload is under way: the rows are not cfg's routes */
	t = render();
	st->route_gen = 3;
	if (!t)
		return;
	ASSERT_TRUE(!strstr(t, "route=\"web\""), "no route rows of another generation");
	ASSERT_EQ(value_of(t, "passthru_connections_accepted_total{listener=\"main\"}"), 7,
		  "listener rows stay");
	free(t);
}

int main(void)
{
	setup();
	RUN_TEST(test_values);
	RUN_TEST(test_escaping);
	RUN_TEST(test_histogram);
	RUN_TEST(test_shape);
	RUN_TEST(test_other_generation);
	free(st);
	return pt_test_done();
}
