// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Upstream pools (pool.c) over configs built by the real parser: the
 * round-robin sequence and its shares with a server down, least-conn per
 * unit of weight, first, the consistent-hash property of source-hash
 * (removing one of N servers, from the up set or from the config, moves
 * only the keys it had: about 1/N), weighted source-hash shares, and
 * --check's messages for bad pool keys.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "hash.h"
#include "pool.h"
#include "test.h"

#define KEYS 100000

/* Parse @text (single quotes for double ones); errors go to *errs if @errs. */
static struct pt_config *parse(const char *text, char **errs)
{
	char *t = strdup(text), *buf = NULL;
	size_t len;
	FILE *f = open_memstream(&buf, &len);
	struct pt_config *cfg;

	for (char *p = t; *p; p++)
		if (*p == '\'')
			*p = '"';
	cfg = pt_config_parse("pool-test.json", t, NULL, f);
	fclose(f);
	free(t);
	if (errs)
		*errs = buf;
	else
		free(buf);
	return cfg;
}

/* A config with one pool "p" of @n servers 127.0.0.1:1001.. (weights @w or 1), @balance. */
static struct pt_config *pool_cfg(int n, int skip, const unsigned int *w, const char *balance)
{
	char text[8192];
	size_t len;

	len = snprintf(text, sizeof(text), "{'upstreams': {'p': {'balance': '%s', 'servers': [",
		       balance);
	for (int i = 0, first = 1; i < n; i++) {
		if (i == skip)
			continue;
		len += snprintf(text + len, sizeof(text) - len,
				"%s{'addr': '127.0.0.1:%d', 'weight': %u}", first ? "" : ", ",
				1001 + i, w ? w[i] : 1);
		first = 0;
	}
	snprintf(text + len, sizeof(text) - len,
		 "]}}, 'listeners': [{'name': 'l', 'listen': '127.0.0.1:1', "
		 "'routes': [{'forward': 'p'}]}]}");
	return parse(text, NULL);
}

static uint64_t key_of(int i)
{
	return pt_mix64((uint64_t)i * 0x9e3779b97f4a7c15ULL + 1);
}

static int port_of(const struct pt_pool *p, int i)
{
	return atoi(strrchr(p->servers[i].u.spec, ':') + 1);
}

static void test_round_robin(void)
{
	unsigned int w[3] = { 1, 1, 2 };
	struct pt_config *cfg = pool_cfg(3, -1, w, "round-robin");
	const struct pt_pool *p;
	int got[3] = { 0 }, twice = 0;

	if (!ASSERT_TRUE(cfg, "parses"))
		return;
	p = &cfg->pools[0];
	ASSERT_EQ(p->n_rr_seq, 4u, "sequence: the sum of the weights");
	for (uint64_t t = 0; t < 4000; t++) {
		int s = pt_pool_choose(p, 0, 7, false, NULL, t, 0);

		got[s]++;
	}
	for (unsigned int i = 1; i < p->n_rr_seq; i++)
		twice += p->rr_seq[i] == p->rr_seq[i - 1];
	ASSERT_EQ(got[0], 1000, "weight 1");
	ASSERT_EQ(got[1], 1000, "weight 1");
	ASSERT_EQ(got[2], 2000, "weight 2");
	ASSERT_EQ(twice, 0, "interleaved: no server twice in a row within a cycle");
	memset(got, 0, sizeof(got));
	for (uint64_t t = 0; t < 3000; t++)
		got[pt_pool_choose(p, 0, 5, false, NULL, t, 0)]++; /* server 1 down */
	ASSERT_EQ(got[1], 0, "nothing to the down server");
	ASSERT_TRUE(got[2] > 1900 && got[2] < 2100, "the others keep 1:2");
	ASSERT_EQ(pt_pool_choose(p, 5, 7, false, NULL, 0, 0), 1, "tried ones are skipped");
	ASSERT_EQ(pt_pool_choose(p, 0, 0, false, NULL, 0, 0), -1, "all down: none");
	ASSERT_TRUE(pt_pool_choose(p, 0, 0, true, NULL, 0, 0) >= 0, "anyway: one");
	pt_config_put(cfg);
}

static void test_least_conn_first(void)
{
	unsigned int w[3] = { 1, 1, 4 };
	struct pt_config *cfg = pool_cfg(3, -1, w, "least-conn");
	int64_t active[3] = { 5, 2, 7 };

	if (!ASSERT_TRUE(cfg, "parses"))
		return;
	ASSERT_EQ(pt_pool_choose(&cfg->pools[0], 0, 7, false, active, 0, 0), 2,
		  "7 on weight 4 is fewer than 2 on weight 1");
	ASSERT_EQ(pt_pool_choose(&cfg->pools[0], 4, 7, false, active, 0, 0), 1,
		  "then the fewest left");
	ASSERT_EQ(pt_pool_choose(&cfg->pools[0], 0, 3, false, active, 0, 0), 1, "up ones only");
	cfg->pools[0].balance = PT_BAL_FIRST;
	ASSERT_EQ(pt_pool_choose(&cfg->pools[0], 0, 6, false, active, 0, 0), 1,
		  "first: the first one up");
	pt_config_put(cfg);
}

/* Server port for each of KEYS keys under source-hash, with up mask @up. */
static void assign(const struct pt_pool *p, uint64_t up, int *out)
{
	for (int k = 0; k < KEYS; k++)
		out[k] = port_of(p, pt_pool_choose(p, 0, up, false, NULL, 0, key_of(k)));
}

static void test_consistent(void)
{
	enum { N = 10, GONE = 3 };
	struct pt_config *all = pool_cfg(N, -1, NULL, "source-hash");
	struct pt_config *less = pool_cfg(N, GONE, NULL, "source-hash");
	int *a = calloc(KEYS, sizeof(int)), *b = calloc(KEYS, sizeof(int));
	int moved = 0, wrong = 0, share[N] = { 0 };

	if (!ASSERT_TRUE(all && less && a && b, "set up"))
		goto out;
	assign(&all->pools[0], (1ULL << N) - 1, a);
	for (int k = 0; k < KEYS; k++)
		share[a[k] - 1001]++;
	for (int i = 0; i < N; i++)
		ASSERT_TRUE(share[i] > KEYS / N * 0.9 && share[i] < KEYS / N * 1.1,
			    "each server about 1/N of the keys");
	/* Server GONE removed from the config: its keys move, no other does. */
	assign(&less->pools[0], (1ULL << (N - 1)) - 1, b);
	for (int k = 0; k < KEYS; k++) {
		moved += a[k] != b[k];
		wrong += a[k] != b[k] && a[k] != 1001 + GONE;
	}
	printf("  source-hash: removing 1 of %d servers moved %d of %d keys (%.1f%%)\n", N, moved,
	       KEYS, 100.0 * moved / KEYS);
	ASSERT_EQ(wrong, 0, "only the removed server's keys move");
	ASSERT_TRUE(moved > KEYS / N * 0.9 && moved < KEYS / N * 1.1, "about 1/N moved");
	/* The same server marked down instead: the same keys move, to the same places. */
	assign(&all->pools[0], ((1ULL << N) - 1) & ~(1ULL << GONE), a);
	wrong = 0;
	for (int k = 0; k < KEYS; k++)
		wrong += a[k] != b[k];
	ASSERT_EQ(wrong, 0, "down = removed");
out:
	free(a);
	free(b);
	pt_config_put(all);
	pt_config_put(less);
}

static void test_hash_weights(void)
{
	unsigned int w[3] = { 1, 2, 3 };
	struct pt_config *cfg = pool_cfg(3, -1, w, "source-hash");
	int got[3] = { 0 };

	if (!ASSERT_TRUE(cfg, "parses"))
		return;
	for (int k = 0; k < KEYS; k++)
		got[pt_pool_choose(&cfg->pools[0], 0, 7, false, NULL, 0, key_of(k))]++;
	printf("  source-hash weights 1:2:3 -> %d %d %d\n", got[0], got[1], got[2]);
	for (int i = 0; i < 3; i++)
		ASSERT_TRUE(abs(got[i] - KEYS * (int)w[i] / 6) < KEYS / 50,
			    "share within 2% of weight / 6");
	pt_config_put(cfg);
}

static void expect_error(const char *pools, const char *forward, const char *want)
{
	char text[2048], *errs = NULL;
	struct pt_config *cfg;

	snprintf(text, sizeof(text),
		 "{'upstreams': {%s}, 'listeners': [{'name': 'l', 'listen': '127.0.0.1:1', "
		 "'routes': [{'forward': '%s'}]}]}",
		 pools, forward);
	cfg = parse(text, &errs);
	ASSERT_FALSE(cfg, "refused");
	ASSERT_STRSTR(errs, want, want);
	free(errs);
	pt_config_put(cfg);
}

static void test_check_errors(void)
{
	const char *ok = "'p': {'servers': ['127.0.0.1:2']}";

	expect_error(ok, "q", "routes[0].forward: unknown upstream pool \"q\"");
	expect_error("'p': {'servers': []}", "p", "upstreams.p.servers: a pool needs at least");
	expect_error("'p': {'servers': [{'addr': '127.0.0.1:2', 'weight': 0}]}", "p",
		     "upstreams.p.servers[0].weight: weight must be an integer 1..256");
	expect_error("'p': {'servers': [{'addr': '127.0.0.1:2', 'weight': 1.5}]}", "p",
		     "weight must be an integer");
	expect_error("'p': {'servers': ['127.0.0.1:2'], 'balance': 'random'}", "p",
		     "upstreams.p.balance: expected \"round-robin\"");
	expect_error("'p': {'servers': ['127.0.0.1:2'], 'health': {'fall': 0}}", "p",
		     "upstreams.p.health.fall: 0 is out of range 1..100");
	expect_error("'p': {'servers': ['127.0.0.1:2'], 'health': {'interval_ms': 10}}", "p",
		     "upstreams.p.health.interval_ms: 10 is out of range 100..3600000");
	expect_error("'p': {'servers': ['127.0.0.1:2'], 'health': {'interval_ms': 500, "
		     "'timeout_ms': 600}}",
		     "p", "timeout_ms: must be at most interval_ms");
	expect_error("'p': {'servers': ['127.0.0.1:2'], 'health': {'rise': 2, 'bogus': 1}}", "p",
		     "upstreams.p.health.bogus: unknown key");
	expect_error("'p': {'servers': ['127.0.0.1:2'], 'eject': {'failures': 0}}", "p",
		     "upstreams.p.eject.failures: 0 is out of range 1..1000");
	expect_error("'p': {'servers': ['127.0.0.1:2'], 'fallback': 'nowhere'}", "p",
		     "upstreams.p.fallback: expected \"try\", \"reject\" or a pool name");
	expect_error("'p': {'servers': ['127.0.0.1:2', '127.0.0.1:2']}", "p", "listed twice");
	expect_error("'p': {'servers': ['127.0.0.1:0']}", "p", "port must be 1..65535");
}

int main(void)
{
	RUN_TEST(test_round_robin);
	RUN_TEST(test_least_conn_first);
	RUN_TEST(test_consistent);
	RUN_TEST(test_hash_weights);
	RUN_TEST(test_check_errors);
	return pt_test_done();
}
