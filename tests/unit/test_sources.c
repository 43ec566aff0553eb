// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Per-source connection counts (sources.c): counting and the limit, release,
 * listeners and workers kept apart, IPv4 and IPv4-mapped IPv6 as one key,
 * a dead worker's share dropped (and its lock broken), the table shared
 * across fork(), shares past 65535, networks by prefix length, addresses
 * chosen against a public hash, churn through the probe chains, and a full
 * table.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/wait.h>
#include <stdio.h>
#include <time.h>

#include "sources.h"
#include "test.h"

#define BIG 1000000u /* a limit never reached */

static struct sockaddr_storage ss_buf;
static struct pt_source_key key_buf;
static unsigned int prefix4 = 32, prefix6 = 128; /* exact addresses unless a test says */

static const struct pt_source_key *key_of(void)
{
	pt_source_key((const struct sockaddr *)&ss_buf, prefix4, prefix6, &key_buf);
	return &key_buf;
}

static const struct pt_source_key *sa4(const char *ip)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss_buf;

	memset(&ss_buf, 0, sizeof(ss_buf));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(40000);
	inet_pton(AF_INET, ip, &sin->sin_addr);
	return key_of();
}

static const struct pt_source_key *sa6(const char *ip)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss_buf;

	memset(&ss_buf, 0, sizeof(ss_buf));
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(40000);
	inet_pton(AF_INET6, ip, &sin6->sin6_addr);
	return key_of();
}

/* The n-th of 2^32 distinct IPv4 sources. */
static const struct pt_source_key *sa4_n(uint32_t n)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss_buf;

	memset(&ss_buf, 0, sizeof(ss_buf));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(0x0a000000u + n);
	return key_of();
}

/* The source's count as it stands: take one more (never refused), give it back. */
static unsigned int current(struct pt_sources *t, int wid, int lidx,
			    const struct pt_source_key *sa)
{
	unsigned int n = 0;

	pt_source_take(t, wid, lidx, sa, BIG, &n);
	if (n)
		pt_source_release(t, wid, lidx, sa);
	return n ? n - 1 : 0;
}

static void test_count_and_limit(void)
{
	struct pt_sources *t = pt_sources_create(2);
	unsigned int n = 99;

	if (!ASSERT_TRUE(t, "create"))
		return;
	ASSERT_TRUE(pt_source_take(t, 0, 0, sa4("192.0.2.1"), 3, &n), "1st allowed");
	ASSERT_EQ(n, 1, "count 1");
	ASSERT_TRUE(pt_source_take(t, 0, 0, sa4("192.0.2.1"), 3, &n), "2nd allowed");
	ASSERT_EQ(n, 2, "count 2");
	ASSERT_TRUE(pt_source_take(t, 0, 0, sa4("192.0.2.1"), 3, &n), "3rd allowed");
	ASSERT_EQ(n, 3, "count 3 = max");
	ASSERT_FALSE(pt_source_take(t, 0, 0, sa4("192.0.2.1"), 3, &n), "4th refused");
	ASSERT_EQ(n, 4, "refused: the count it would have made");
	ASSERT_FALSE(pt_source_take(t, 1, 0, sa4("192.0.2.1"), 3, &n), "other worker refused too");
	ASSERT_EQ(n, 4, "a refusal counts nothing");
	ASSERT_TRUE(pt_source_take(t, 0, 0, sa4("192.0.2.2"), 3, &n), "other address");
	ASSERT_EQ(n, 1, "counted apart");
	ASSERT_EQ(current(t, 0, 0, sa4("192.0.2.1")), 3, "still 3 after the refusals");
	ASSERT_TRUE(pt_source_take(t, 0, 0, sa4("192.0.2.1"), 4, &n), "a higher max allows");
	ASSERT_EQ(n, 4, "count 4");
	ASSERT_EQ(pt_sources_untracked(t), 0, "nothing untracked");
	pt_sources_destroy(t);
}

static void test_release(void)
{
	struct pt_sources *t = pt_sources_create(1);
	unsigned int n = 0;

	if (!ASSERT_TRUE(t, "create"))
		return;
	for (int i = 0; i < 2; i++)
		pt_source_take(t, 0, 0, sa4("198.51.100.7"), 2, &n);
	ASSERT_FALSE(pt_source_take(t, 0, 0, sa4("198.51.100.7"), 2, &n), "at the limit");
	pt_source_release(t, 0, 0, sa4("198.51.100.7"));
	ASSERT_TRUE(pt_source_take(t, 0, 0, sa4("198.51.100.7"), 2, &n), "a release makes room");
	ASSERT_EQ(n, 2, "back to 2");
	pt_source_release(t, 0, 0, sa4("198.51.100.7"));
	pt_source_release(t, 0, 0, sa4("198.51.100.7"));
	ASSERT_EQ(current(t, 0, 0, sa4("198.51.100.7")), 0, "released to zero");
	/* Releasing what was never taken changes nothing. */
	pt_source_release(t, 0, 0, sa4("198.51.100.7"));
	pt_source_release(t, 0, 0, sa4("198.51.100.8"));
	ASSERT_TRUE(pt_source_take(t, 0, 0, sa4("198.51.100.7"), 1, &n), "fresh after zero");
	ASSERT_EQ(n, 1, "no negative count left behind");
	pt_sources_destroy(t);
}

static void test_listeners_apart(void)
{
	struct pt_sources *t = pt_sources_create(1);
	unsigned int n = 0;

	if (!ASSERT_TRUE(t, "create"))
		return;
	ASSERT_TRUE(pt_source_take(t, 0, 0, sa4("203.0.113.9"), 1, &n), "listener 0");
	ASSERT_TRUE(pt_source_take(t, 0, 1, sa4("203.0.113.9"), 1, &n), "listener 1");
	ASSERT_EQ(n, 1, "listener 1 has its own count");
	ASSERT_TRUE(pt_source_take(t, 0, 63, sa4("203.0.113.9"), 1, &n), "listener 63");
	ASSERT_FALSE(pt_source_take(t, 0, 0, sa4("203.0.113.9"), 1, &n), "listener 0 full");
	pt_source_release(t, 0, 1, sa4("203.0.113.9"));
	ASSERT_FALSE(pt_source_take(t, 0, 0, sa4("203.0.113.9"), 1, &n),
		     "a release on listener 1 frees nothing on 0");
	ASSERT_EQ(current(t, 0, 1, sa4("203.0.113.9")), 0, "listener 1 back to 0");
	ASSERT_EQ(current(t, 0, 63, sa4("203.0.113.9")), 1, "listener 63 untouched");
	pt_sources_destroy(t);
}

static void test_ipv4_ipv6_keys(void)
{
	struct pt_sources *t = pt_sources_create(1);
	unsigned int n = 0;

	if (!ASSERT_TRUE(t, "create"))
		return;
	ASSERT_TRUE(pt_source_take(t, 0, 0, sa4("192.0.2.33"), 10, &n), "v4");
	ASSERT_TRUE(pt_source_take(t, 0, 0, sa6("::ffff:192.0.2.33"), 10, &n), "mapped");
	ASSERT_EQ(n, 2, "IPv4-mapped IPv6 is the same source as IPv4");
	pt_source_release(t, 0, 0, sa4("192.0.2.33"));
	pt_source_release(t, 0, 0, sa6("::ffff:192.0.2.33"));
	ASSERT_EQ(current(t, 0, 0, sa4("192.0.2.33")), 0, "released through either form");
	ASSERT_TRUE(pt_source_take(t, 0, 0, sa6("2001:db8::1"), 10, &n), "v6");
	ASSERT_EQ(n, 1, "v6 count 1");
	ASSERT_TRUE(pt_source_take(t, 0, 0, sa6("2001:db8::1"), 10, &n), "v6 again");
	ASSERT_EQ(n, 2, "v6 count 2");
	ASSERT_TRUE(pt_source_take(t, 0, 0, sa6("2001:db8::2"), 10, &n), "v6 neighbour");
	ASSERT_EQ(n, 1, "every v6 address is its own source (no prefix grouping)");
	ASSERT_TRUE(pt_source_take(t, 0, 0, sa6("::c000:221"), 10, &n), "v4-compatible");
	ASSERT_EQ(n, 1, "::192.0.2.33 (compatible, not mapped) is not the v4 source");
	ASSERT_TRUE(pt_source_take(t, 0, 0, sa6("::1"), 10, &n), "::1");
	ASSERT_TRUE(pt_source_take(t, 0, 0, sa4("0.0.0.1"), 10, &n), "0.0.0.1");
	ASSERT_EQ(n, 1, "0.0.0.1 is not ::1");
	ASSERT_EQ(current(t, 0, 0, sa6("2001:db8::1")), 2, "v6 kept its count");
	pt_sources_destroy(t);
}

static void test_workers(void)
{
	struct pt_sources *t = pt_sources_create(3);
	unsigned int n = 0;

	if (!ASSERT_TRUE(t, "create"))
		return;
	pt_source_take(t, 0, 0, sa4("192.0.2.50"), 10, &n);
	pt_source_take(t, 0, 0, sa4("192.0.2.50"), 10, &n);
	pt_source_take(t, 2, 0, sa4("192.0.2.50"), 10, &n);
	ASSERT_EQ(n, 3, "workers share one count per source");
	/* A worker can give back only what it took. */
	pt_source_release(t, 1, 0, sa4("192.0.2.50"));
	ASSERT_EQ(current(t, 0, 0, sa4("192.0.2.50")), 3, "worker 1 held none");
	pt_source_release(t, 2, 0, sa4("192.0.2.50"));
	pt_source_release(t, 2, 0, sa4("192.0.2.50"));
	ASSERT_EQ(current(t, 0, 0, sa4("192.0.2.50")), 2, "worker 2 gave back its one only");

	/* Worker 2 dies holding 1 of 192.0.2.50 and the only count of .51. */
	pt_source_take(t, 2, 0, sa4("192.0.2.50"), 10, &n);
	pt_source_take(t, 2, 0, sa4("192.0.2.51"), 10, &n);
	pt_source_take(t, 2, 0, sa4("192.0.2.51"), 10, &n);
	pt_source_take(t, 1, 1, sa4("192.0.2.51"), 10, &n);
	pt_sources_forget_worker(t, 2, 999999);
	ASSERT_EQ(current(t, 0, 0, sa4("192.0.2.50")), 2, "worker 0's two remain");
	ASSERT_EQ(current(t, 0, 0, sa4("192.0.2.51")), 0, "worker 2's source dropped");
	ASSERT_EQ(current(t, 0, 1, sa4("192.0.2.51")), 1, "other listener, other worker kept");
	/* A late release from the forgotten worker must not go below zero. */
	pt_source_release(t, 2, 0, sa4("192.0.2.50"));
	ASSERT_EQ(current(t, 0, 0, sa4("192.0.2.50")), 2, "late release ignored");
	pt_source_release(t, 0, 0, sa4("192.0.2.50"));
	pt_source_release(t, 0, 0, sa4("192.0.2.50"));
	ASSERT_EQ(current(t, 0, 0, sa4("192.0.2.50")), 0, "worker 0 releases its own");
	pt_sources_destroy(t);
}

/* A worker killed inside the lock: the master takes the lock over. */
static void test_forget_breaks_lock(void)
{
	struct pt_sources *t = pt_sources_create(2);
	unsigned int n = 0;
	pid_t dead;

	if (!ASSERT_TRUE(t, "create"))
		return;
	pt_source_take(t, 1, 0, sa4("192.0.2.60"), 10, &n);
	dead = fork();
	if (dead == 0)
		_exit(0);
	waitpid(dead, NULL, 0);
	/*
	 * The lock word is the table's first member (sources.c); a worker
	 * killed while holding it leaves its pid there. Without the takeover
	 * the calls below would spin forever: alarm() turns that into a fail.
	 */
	*(volatile pid_t *)t = dead;
	alarm(20);
	pt_sources_forget_worker(t, 1, dead);
	ASSERT_EQ(current(t, 0, 0, sa4("192.0.2.60")), 0, "worker 1's count dropped");
	ASSERT_TRUE(pt_source_take(t, 0, 0, sa4("192.0.2.60"), 1, &n), "table usable again");
	alarm(0);
	pt_sources_destroy(t);
}

/* MAP_SHARED: counts taken in a forked worker are seen by the master. */
static void test_shared_across_fork(void)
{
	struct pt_sources *t = pt_sources_create(2);
	unsigned int n = 0;
	int status = -1;
	pid_t pid;

	if (!ASSERT_TRUE(t, "create"))
		return;
	pt_source_take(t, 0, 0, sa4("192.0.2.70"), 10, &n);
	pid = fork();
	if (pid == 0) {
		bool ok = true;

		for (int i = 0; i < 3; i++)
			ok &= pt_source_take(t, 1, 0, sa4("192.0.2.70"), 10, &n);
		_exit(ok && n == 4 ? 0 : 1);
	}
	if (!ASSERT_TRUE(pid > 0, "fork"))
		goto out;
	waitpid(pid, &status, 0);
	ASSERT_EQ(status, 0, "child counted 2, 3, 4");
	ASSERT_EQ(current(t, 0, 0, sa4("192.0.2.70")), 4, "parent sees the child's counts");
	pt_sources_forget_worker(t, 1, pid);
	ASSERT_EQ(current(t, 0, 0, sa4("192.0.2.70")), 1, "child's share forgotten");
out:
	pt_sources_destroy(t);
}

/*
 * One worker holds more than 65535 connections from one source (the
 * config allows limits up to 10,000,000): its share must not wrap, so the
 * count stays exact and every release finds its own.
 */
static void test_per_worker_share(void)
{
	const unsigned int N = 70000;
	struct pt_sources *t = pt_sources_create(2);
	unsigned int n = 0, i, bad = 0;

	if (!ASSERT_TRUE(t, "create"))
		return;
	for (i = 0; i < N; i++)
		pt_source_take(t, 0, 0, sa4("192.0.2.80"), BIG, &n);
	ASSERT_EQ(n, N, "70000 held");
	ASSERT_FALSE(pt_source_take(t, 1, 0, sa4("192.0.2.80"), N, &n), "the limit applies past 65536");
	for (i = 0; i < N - 1; i++)
		pt_source_release(t, 0, 0, sa4("192.0.2.80"));
	ASSERT_EQ(current(t, 0, 0, sa4("192.0.2.80")), 1, "one left after 69999 releases");
	pt_source_release(t, 0, 0, sa4("192.0.2.80"));
	ASSERT_EQ(current(t, 0, 0, sa4("192.0.2.80")), 0, "all 70000 released");
	/* Worker 0 held 70000 and died: forgetting it empties the entry. */
	for (i = 0; i < N; i++)
		bad += !pt_source_take(t, 0, 0, sa4("192.0.2.81"), BIG, &n);
	pt_sources_forget_worker(t, 0, 999999);
	ASSERT_EQ(bad + current(t, 1, 0, sa4("192.0.2.81")), 0, "forget drops all 70000");
	pt_sources_destroy(t);
}

/*
 * Clients are grouped by network: IPv6 per /64 (by default), IPv4 per
 * address, each length configurable; IPv4-mapped IPv6 uses the IPv4 one.
 */
static void test_prefixes(void)
{
	struct pt_sources *t = pt_sources_create(1);
	unsigned int n = 0;

	if (!ASSERT_TRUE(t, "create"))
		return;
	prefix4 = 32;
	prefix6 = 64;
	ASSERT_TRUE(pt_source_take(t, 0, 0, sa6("2001:db8:1:2::1"), 2, &n), "first of the /64");
	ASSERT_TRUE(pt_source_take(t, 0, 0, sa6("2001:db8:1:2:ffff:1234:5678:9abc"), 2, &n),
		    "second, another address of the same /64");
	ASSERT_EQ(n, 2, "one /64, one source");
	ASSERT_FALSE(pt_source_take(t, 0, 0, sa6("2001:db8:1:2:dead::"), 2, &n),
		     "a third address of the /64 is over the limit");
	ASSERT_TRUE(pt_source_take(t, 0, 0, sa6("2001:db8:1:3::1"), 2, &n), "next /64");
	ASSERT_EQ(n, 1, "a neighbouring /64 is another source");
	ASSERT_TRUE(pt_source_take(t, 0, 0, sa4("192.0.2.1"), 2, &n), "v4");
	ASSERT_TRUE(pt_source_take(t, 0, 0, sa4("192.0.2.2"), 2, &n), "v4 neighbour");
	ASSERT_EQ(n, 1, "IPv4 /32: every address its own source");
	ASSERT_TRUE(pt_source_take(t, 0, 0, sa6("::ffff:192.0.2.1"), 2, &n), "mapped");
	ASSERT_EQ(n, 2, "IPv4-mapped is cut as IPv4, not as IPv6 /64");
	pt_source_release(t, 0, 0, sa6("2001:db8:1:2:aaaa::"));
	ASSERT_EQ(current(t, 0, 0, sa6("2001:db8:1:2::1")), 1, "released by any address of the /64");

	prefix4 = 24;
	prefix6 = 48;
	ASSERT_TRUE(pt_source_take(t, 0, 1, sa4("198.51.100.1"), 10, &n), "v4 /24");
	ASSERT_TRUE(pt_source_take(t, 0, 1, sa4("198.51.100.254"), 10, &n), "v4 /24 again");
	ASSERT_EQ(n, 2, "source_prefix_v4 24 groups a /24");
	ASSERT_TRUE(pt_source_take(t, 0, 1, sa4("198.51.101.1"), 10, &n), "next /24");
	ASSERT_EQ(n, 1, "another /24");
	ASSERT_TRUE(pt_source_take(t, 0, 1, sa6("2001:db8:7:1::1"), 10, &n), "v6 /48");
	ASSERT_TRUE(pt_source_take(t, 0, 1, sa6("2001:db8:7:ffff::1"), 10, &n), "v6 /48 again");
	ASSERT_EQ(n, 2, "source_prefix_v6 48 groups a /48");
	prefix4 = 0;
	prefix6 = 0;
	ASSERT_TRUE(pt_source_take(t, 0, 2, sa4("203.0.113.1"), 10, &n), "/0");
	ASSERT_TRUE(pt_source_take(t, 0, 2, sa4("192.0.2.200"), 10, &n), "/0 again");
	ASSERT_EQ(n, 2, "prefix 0: all IPv4 clients are one source");
	ASSERT_TRUE(pt_source_take(t, 0, 2, sa6("2001:db8::1"), 10, &n), "v6 /0");
	ASSERT_EQ(n, 1, "... apart from the IPv6 ones");
	prefix4 = 30;
	ASSERT_TRUE(pt_source_take(t, 0, 3, sa4("192.0.2.7"), 10, &n), "/30");
	ASSERT_TRUE(pt_source_take(t, 0, 3, sa4("192.0.2.4"), 10, &n), "/30 first address");
	ASSERT_EQ(n, 2, "odd prefix lengths cut inside a byte");
	ASSERT_TRUE(pt_source_take(t, 0, 3, sa4("192.0.2.8"), 10, &n), "next /30");
	ASSERT_EQ(n, 1, "the next /30 is another source");
	prefix4 = 32;
	prefix6 = 128;
	pt_sources_destroy(t);
}

/* FNV-1a of (key, listener): the hash the table used before it was keyed. */
static uint32_t public_hash(const struct pt_source_key *k)
{
	uint64_t h = 1469598103934665603ull;

	for (int i = 0; i < 16; i++)
		h = (h ^ k->addr[i]) * 1099511628211ull;
	return (uint32_t)(h ^ (h >> 32)) & (PT_SOURCES_SLOTS - 1);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Time to take (and keep) one connection for each of @n keys: the best of three. */
static double time_takes(const struct pt_source_key *keys, uint32_t n)
{
	double best = -1;

	for (int run = 0; run < 3; run++) {
		struct pt_sources *t = pt_sources_create(1);
		unsigned int c;
		double t0;

		if (!t)
			return -1;
		t0 = now_s();
		for (uint32_t i = 0; i < n; i++)
			pt_source_take(t, 0, 0, &keys[i], BIG, &c);
		t0 = now_s() - t0;
		pt_sources_destroy(t);
		best = best < 0 || t0 < best ? t0 : best;
	}
	return best;
}

/*
 * Addresses chosen so that a public hash sends them all to the same few
 * slots make one probe chain of tens of thousands under linear probing:
 * every take walks it. The seeded hash spreads them like any addresses.
 */
static void test_chosen_addresses(void)
{
	const uint32_t N = 40000;
	struct pt_source_key *bad = calloc(N, sizeof(*bad)), *plain = calloc(N, sizeof(*plain));
	double t_bad, t_plain;
	uint32_t i, n = 0, x = 2463534242u;

	if (!ASSERT_TRUE(bad && plain, "alloc"))
		goto out;
	for (i = 0; i < N; i++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5; /* xorshift32: addresses at random */
		plain[i] = *sa4_n(x);
	}
	for (i = 0; n < N; i++) {
		const struct pt_source_key *k = sa4_n(i);

		if (public_hash(k) < 256)
			bad[n++] = *k;
	}
	t_plain = time_takes(plain, N);
	t_bad = time_takes(bad, N);
	printf("  %u sources at random: %.1f ms; %u chosen to collide under FNV-1a: %.1f ms\n", N,
	       t_plain * 1e3, N, t_bad * 1e3);
	ASSERT_TRUE(t_plain >= 0 && t_bad >= 0, "created");
	ASSERT_TRUE(t_bad < 5 * t_plain + 0.02, "chosen addresses cost no more than any others");
out:
	free(bad);
	free(plain);
}

/*
 * Many sources come and go: removal shifts probe chains back, so every
 * source still present must keep its exact count, and once all are gone
 * the whole table is free again.
 */
static void test_churn(void)
{
	const uint32_t N = 40000;
	struct pt_sources *t = pt_sources_create(1);
	unsigned int n = 0, bad = 0;
	uint32_t i;

	if (!ASSERT_TRUE(t, "create"))
		return;
	/* Source i holds i % 3 + 1 connections. */
	for (i = 0; i < N; i++)
		for (uint32_t k = 0; k <= i % 3; k++)
			pt_source_take(t, 0, (int)(i & 1), sa4_n(i), BIG, &n);
	/* Every other source goes away entirely. */
	for (i = 0; i < N; i += 2)
		for (uint32_t k = 0; k <= i % 3; k++)
			pt_source_release(t, 0, 0, sa4_n(i));
	for (i = 0; i < N; i++)
		bad += current(t, 0, (int)(i & 1), sa4_n(i)) != (i % 2 ? i % 3 + 1 : 0);
	ASSERT_EQ(bad, 0, "counts survive the removals");
	for (i = 1; i < N; i += 2)
		for (uint32_t k = 0; k <= i % 3; k++)
			pt_source_release(t, 0, 1, sa4_n(i));
	for (i = 0, bad = 0; i < N; i++)
		bad += current(t, 0, (int)(i & 1), sa4_n(i)) != 0;
	ASSERT_EQ(bad, 0, "all released");
	ASSERT_EQ(pt_sources_untracked(t), 0, "nothing untracked");
	pt_sources_destroy(t);
}

/*
 * A full table keeps one slot free: PT_SOURCES_SLOTS - 1 sources are
 * counted; a new one is let in uncounted (count 0) and reported through
 * pt_sources_untracked(), while the sources already there go on counting.
 */
static void test_full_table(void)
{
	const uint32_t cap = PT_SOURCES_SLOTS - 1;
	struct pt_sources *t = pt_sources_create(2);
	unsigned int n = 0, bad = 0;
	uint32_t i;

	if (!ASSERT_TRUE(t, "create"))
		return;
	for (i = 0; i < cap; i++)
		bad += !pt_source_take(t, 0, 0, sa4_n(i), 1, &n) || n != 1;
	ASSERT_EQ(bad, 0, "PT_SOURCES_SLOTS - 1 sources counted");
	ASSERT_EQ(pt_sources_untracked(t), 0, "none untracked yet");
	n = 99;
	ASSERT_TRUE(pt_source_take(t, 0, 0, sa4_n(cap), 1, &n), "one more is let in");
	ASSERT_EQ(n, 0, "uncounted");
	ASSERT_EQ(pt_sources_untracked(t), 1, "and reported");
	ASSERT_TRUE(pt_source_take(t, 0, 0, sa4_n(cap), 1, &n), "its limit cannot apply");
	ASSERT_EQ(pt_sources_untracked(t), 2, "each time");
	ASSERT_TRUE(pt_source_take(t, 0, 1, sa4_n(0), 1, &n), "a new listener key is new too");
	ASSERT_EQ(n, 0, "uncounted");
	ASSERT_FALSE(pt_source_take(t, 1, 0, sa4_n(0), 1, &n), "a counted source keeps its limit");
	ASSERT_EQ(n, 2, "refused at 2");
	pt_source_release(t, 0, 0, sa4_n(cap)); /* untracked: nothing to release */
	pt_source_release(t, 0, 0, sa4_n(7));
	ASSERT_TRUE(pt_source_take(t, 0, 0, sa4_n(cap), 1, &n), "a freed slot is reused");
	ASSERT_EQ(n, 1, "counted now");
	ASSERT_EQ(pt_sources_untracked(t), 3, "untracked is a running total");
	/* Worker 0 held every count: forgetting it must empty the table. */
	pt_sources_forget_worker(t, 0, 999999);
	for (i = 0, bad = 0; i < cap; i++)
		bad += !pt_source_take(t, 1, 0, sa4_n(100000 + i), 1, &n) || n != 1;
	ASSERT_EQ(bad, 0, "forget frees every slot: a full table's worth counted again");
	ASSERT_TRUE(pt_source_take(t, 1, 0, sa4_n(0), 1, &n), "and then full again");
	ASSERT_EQ(n, 0, "uncounted");
	pt_sources_destroy(t);
}

int main(void)
{
	alarm(120); /* a spinning lock or an endless probe is a failure, not a hang */
	RUN_TEST(test_count_and_limit);
	RUN_TEST(test_release);
	RUN_TEST(test_listeners_apart);
	RUN_TEST(test_ipv4_ipv6_keys);
	RUN_TEST(test_workers);
	RUN_TEST(test_forget_breaks_lock);
	RUN_TEST(test_shared_across_fork);
	RUN_TEST(test_per_worker_share);
	RUN_TEST(test_prefixes);
	RUN_TEST(test_chosen_addresses);
	RUN_TEST(test_churn);
	RUN_TEST(test_full_table);
	return pt_test_done();
}
