// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * What a detector says it needs (f->need on AGAIN): exact values for each
 * detector, and on real first flights (tests/data/tls, tests/data/flights
 * and the shared hello corpus, ../shared/test-data/tls-hello-corpus) that it
 * never asks for more than a MATCH takes (a client would stall on its
 * SO_RCVLOWAT) and that following it decides in a few rounds.
 */
#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "detect.h"
#include "test.h"
#include "detect-test.h"

static struct pt_fields f;
static uint8_t buf[70000];

static size_t need_of(enum pt_probe (*fn)(const uint8_t *, size_t, bool, struct pt_fields *),
		      const void *b, size_t n)
{
	pt_fields_init(&f);
	if (fn((const uint8_t *)b, n, false, &f) != PT_PROBE_AGAIN)
		return (size_t)-1;
	return f.need;
}

static void test_fixed_needs(void)
{
	ASSERT_EQ(need_of(pt_probe_ssh, "S", 1), 8, "ssh: SSH-2.0- is shortest");
	ASSERT_EQ(need_of(pt_probe_ssh, "SSH-1", 5), 9, "ssh: SSH-1.99-");
	ASSERT_EQ(need_of(pt_probe_socks5, "\x05", 1), 2, "socks5 header");
	ASSERT_EQ(need_of(pt_probe_socks5, "\x05\x03\x00", 3), 5, "socks5 methods");
	ASSERT_EQ(need_of(pt_probe_socks4, "\x04\x01", 2), 9, "socks4 fixed part");
	ASSERT_EQ(need_of(pt_probe_http2, "PRI *", 5), 24, "h2 preface");
	ASSERT_EQ(need_of(pt_probe_tls, "\x16", 1), 9, "tls: record and handshake headers");
	/* Handshake header says 0x200 bytes, the record holds them. */
	ASSERT_EQ(need_of(pt_probe_tls, "\x16\x03\x01\x02\x04\x01\x00\x02\x00", 9), 5 + 4 + 0x200,
		  "tls: whole hello");
	/* Record of 0x10 bytes, hello of 0x200: one more record header at least. */
	ASSERT_EQ(need_of(pt_probe_tls, "\x16\x03\x01\x00\x10\x01\x00\x02\x00", 9),
		  5 + 0x10 + 5 + (4 + 0x200 - 0x10), "tls: hello spans records");
	ASSERT_EQ(need_of(pt_probe_tls, "\x80\x2e\x01", 3), 11, "sslv2 header");
}

/* A regex runs only once min_bytes are in; the prefix and min_bytes are the need. */
static void test_pattern_need(void)
{
	struct pt_pattern p = { .name = "p", .prefix = (uint8_t *)"AB", .prefix_len = 2 };

	ASSERT_EQ(regcomp(&p.regex, "^AB.*Z", REG_EXTENDED | REG_NOSUB), 0, "regcomp");
	p.has_regex = true;
	p.min_bytes = 6;
	pt_fields_init(&f);
	ASSERT_EQ(pt_probe_pattern(&p, (const uint8_t *)"A", 1, false, &f), PT_PROBE_AGAIN, "A");
	ASSERT_EQ(f.need, 2, "prefix");
	pt_fields_init(&f);
	/* "ABZ" matches the regex already, but min_bytes are not in: not run. */
	ASSERT_EQ(pt_probe_pattern(&p, (const uint8_t *)"ABZ", 3, false, &f), PT_PROBE_AGAIN,
		  "ABZ before min_bytes");
	ASSERT_EQ(f.need, 6, "min_bytes");
	ASSERT_EQ(pt_probe_pattern(&p, (const uint8_t *)"ABZ", 3, true, &f), PT_PROBE_MATCH,
		  "ABZ at final");
	ASSERT_EQ(pt_probe_pattern(&p, (const uint8_t *)"ABxxxZ", 6, false, &f), PT_PROBE_MATCH,
		  "at min_bytes");
	regfree(&p.regex);
}

/*
 * Follow the needs over b[0..len) as conn.c's exact rounds do. Every need
 * must be reachable (no larger than the MATCH point: the window one byte
 * short of it still says AGAIN). Returns the final verdict, *rounds set.
 */
static enum pt_probe dribble(const char *what, const uint8_t *b, size_t len, int *rounds)
{
	char msg[160];
	size_t k = 0, need;
	enum pt_probe v;

	for (*rounds = 1;; ++*rounds) {
		pt_fields_init(&f);
		v = pt_detect(NULL, 0, b, k, false, &f);
		if (v != PT_PROBE_AGAIN || k == len)
			return v;
		need = f.need > k ? f.need : k + 1;
		snprintf(msg, sizeof(msg), "%s: need %zu after %zu, flight %zu", what, need, k,
			 len);
		if (!ASSERT_TRUE(need <= len, msg))
			return PT_PROBE_NEXT;
		if (need - 1 > k) {
			pt_fields_init(&f);
			if (!ASSERT_EQ(pt_detect(NULL, 0, b, need - 1, false, &f), PT_PROBE_AGAIN,
				       msg))
				return PT_PROBE_NEXT;
		}
		k = need;
	}
}

/* TLS records in a flight (the hello's, and whatever follows). */
static int tls_records(const uint8_t *b, size_t len)
{
	size_t off = 0;
	int n = 0;

	if (len && b[0] & 0x80)
		return 1;
	while (len - off >= 5) {
		off += 5 + (b[off + 3] << 8 | b[off + 4]);
		n++;
		if (off > len)
			break;
	}
	return n;
}

/* A TLS flight decides in 3 rounds plus 2 per record; returns false if not TLS. */
static bool check_tls_flight(const char *what, const uint8_t *b, size_t len, int *max_rounds)
{
	int rounds, bound = 3 + 2 * tls_records(b, len);
	char msg[160];

	if (dribble(what, b, len, &rounds) != PT_PROBE_MATCH || f.proto != PT_PROTO_TLS)
		return false;
	snprintf(msg, sizeof(msg), "%s: %d rounds, bound %d", what, rounds, bound);
	ASSERT_TRUE(rounds <= bound, msg);
	if (rounds > *max_rounds)
		*max_rounds = rounds;
	return true;
}

static void test_tls_captures(void)
{
	char line[512], file[64];
	FILE *fp = open_manifest("tls");
	int n = 0, max_rounds = 0;
	long len;

	if (!ASSERT_TRUE(fp, "tls manifest"))
		return;
	while (fgets(line, sizeof(line), fp)) {
		if (sscanf(line, "%63s", file) != 1)
			continue;
		len = load_file("tls", file, buf, sizeof(buf));
		if (!ASSERT_TRUE(len > 0, file))
			continue;
		ASSERT_TRUE(check_tls_flight(file, buf, len, &max_rounds), file);
		n++;
	}
	fclose(fp);
	ASSERT_TRUE(n >= 10, "every capture checked");
	printf("  tests/data/tls: %d hellos, at most %d rounds\n", n, max_rounds);
}

/* The other protocols' captures: needs are reachable and the flight matches. */
static void test_other_flights(void)
{
	char line[512], file[64];
	FILE *fp = open_manifest("flights");
	int n = 0, rounds;
	long len;

	if (!ASSERT_TRUE(fp, "flights manifest"))
		return;
	while (fgets(line, sizeof(line), fp)) {
		if (sscanf(line, "%63s", file) != 1)
			continue;
		len = load_file("flights", file, buf, sizeof(buf));
		if (!ASSERT_TRUE(len > 0, file))
			continue;
		ASSERT_EQ(dribble(file, buf, len, &rounds), PT_PROBE_MATCH, file);
		n++;
	}
	fclose(fp);
	ASSERT_TRUE(n >= 6, "every flight checked");
}

/* The shared corpus, where it is (the main checkout's sibling, or $PT_HELLO_CORPUS). */
static const char *corpus_dir(void)
{
	static const char *const cands[] = { "../shared/test-data/tls-hello-corpus",
					     "../../shared/test-data/tls-hello-corpus" };
	const char *env = getenv("PT_HELLO_CORPUS");
	static char path[600];

	if (env)
		return env;
	for (size_t i = 0; i < sizeof(cands) / sizeof(cands[0]); i++) {
		snprintf(path, sizeof(path), "%s/../../%s", data_dir(), cands[i]);
		if (!access(path, R_OK))
			return path;
	}
	return NULL;
}

static void test_hello_corpus(void)
{
	const char *dir = corpus_dir();
	int n = 0, tls = 0, max_rounds = 0;
	char name[64], path[700];
	FILE *fp;
	struct dirent *de;
	DIR *d;
	long len;

	if (!dir || !(d = opendir(dir))) {
		TEST_SKIP("no tls-hello-corpus (set PT_HELLO_CORPUS)");
		return;
	}
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);

		if (l < 5 || l > 60 || strcmp(de->d_name + l - 4, ".bin"))
			continue;
		snprintf(name, sizeof(name), "%s", de->d_name);
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		fp = fopen(path, "rb");
		if (!ASSERT_TRUE(fp, path))
			continue;
		len = (long)fread(buf, 1, sizeof(buf), fp);
		fclose(fp);
		n++;
		tls += check_tls_flight(name, buf, len, &max_rounds);
	}
	closedir(d);
	ASSERT_TRUE(n >= 100, "corpus hellos found");
	/* A few corpus hellos are ones we refuse (tests/unit/test_tls.c says which). */
	ASSERT_TRUE(tls >= n - 10, "corpus hellos matched as TLS");
	printf("  %s: %d hellos, %d TLS, at most %d rounds\n", dir, n, tls, max_rounds);
}

int main(void)
{
	RUN_TEST(test_fixed_needs);
	RUN_TEST(test_pattern_need);
	RUN_TEST(test_tls_captures);
	RUN_TEST(test_other_flights);
	RUN_TEST(test_hello_corpus);
	return pt_test_done();
}
