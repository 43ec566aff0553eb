// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * SHA-256 (user/sha256.c) against FIPS 180-2's examples, and JA4
 * (user/detectors/ja4.c) against the spec's worked example, FoxIO's
 * published fingerprints of 12 hellos of the shared corpus, and a second
 * implementation (tests/tools/ja4ref.py) over our captures and all of
 * ../shared/test-data/tls-hello-corpus. Also: GREASE and the ALPN rules on
 * hand-made hellos, cipher lists of 70 and 200 entries (the hash's pieces,
 * both sorts), and that the TLS detector fills f.ja4 only on a MATCH.
 */
#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "detect.h"
#include "sha256.h"
#include "test.h"
#include "detect-test.h"

static uint8_t buf[70000];

static void hex(const uint8_t *d, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

static const char *sha_hex(const void *p, size_t n)
{
	static char out[2 * PT_SHA256_LEN + 1];
	uint8_t d[PT_SHA256_LEN];

	pt_sha256(p, n, d);
	hex(d, sizeof(d), out);
	return out;
}

static void test_sha256_vectors(void)
{
	static const char msg2[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	struct pt_sha256 h;
	uint8_t d[PT_SHA256_LEN];
	char out[2 * PT_SHA256_LEN + 1];

	ASSERT_STREQ(sha_hex("", 0),
		     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "empty");
	ASSERT_STREQ(sha_hex("abc", 3),
		     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "abc");
	ASSERT_STREQ(sha_hex(msg2, strlen(msg2)),
		     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
		     "448 bits");
	/* a million 'a', fed in uneven pieces across block boundaries */
	memset(buf, 'a', 1001);
	pt_sha256_init(&h);
	for (int i = 0; i < 1000; i++)
		pt_sha256_update(&h, buf, i % 2 ? 999 : 1001);
	pt_sha256_final(&h, d);
	hex(d, sizeof(d), out);
	ASSERT_STREQ(out, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
		     "million a");
}

/* The worked example of technical_details/JA4.md. */
static void test_spec_example(void)
{
	static const char ciphers[] =
		"002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9";
	static const char exts[] = "0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,"
				   "4469,ff01";
	char both[256];

	snprintf(both, sizeof(both), "%s_%s", exts, "0403,0804,0401,0503,0805,0501,0806,0601");
	ASSERT_TRUE(!strncmp(sha_hex(ciphers, strlen(ciphers)), "8daaf6152771", 12), "ja4_b");
	ASSERT_STREQ(sha_hex(both, strlen(both)),
		     "e5627efa2ab19723084c1033a96c694a45826ab5a460d2d3fd5ffcfe97161c95", "ja4_c");
	ASSERT_TRUE(!strncmp(sha_hex(exts, strlen(exts)), "6d807ffa2a79", 12), "ja4_c no sigs");
}

/* The detector's fields for the first flight path, or NULL. */
static const struct pt_fields *detect_file(const char *path)
{
	static struct pt_fields f;
	FILE *fp = fopen(path, "rb");
	size_t n;

	if (!fp)
		return NULL;
	n = fread(buf, 1, sizeof(buf), fp);
	fclose(fp);
	pt_fields_init(&f);
	if (pt_probe_tls(buf, n, true, &f) != PT_PROBE_MATCH)
		return NULL;
	return &f;
}

/*
 * Every "NAME JA4" line of the list @list (under data_dir()) against the
 * detector on dir/NAME; "-" means the detector need not match. Returns
 * the fingerprints compared.
 */
static int check_list(const char *list, const char *dir, int field)
{
	char line[256], path[700], *w[5];
	const struct pt_fields *f;
	int n = 0, nw;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/tls/%s", data_dir(), list);
	fp = fopen(path, "r");
	if (!ASSERT_TRUE(fp, path))
		return 0;
	while (fgets(line, sizeof(line), fp)) {
		if (line[0] == '#')
			continue;
		nw = 0;
		for (char *t = strtok(line, " \n"); t && nw < 5; t = strtok(NULL, " \n"))
			w[nw++] = t;
		if (nw <= field)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, w[0]);
		f = detect_file(path);
		if (!strcmp(w[field], "-")) {
			/* not a TLS-record hello: SSLv2, which has no fingerprint */
			if (f)
				ASSERT_STREQ(f->ja4, "", path);
			continue;
		}
		if (!ASSERT_TRUE(f, path))
			continue;
		ASSERT_STREQ(f->ja4, w[field], path);
		n++;
	}
	fclose(fp);
	return n;
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

static void test_captures(void)
{
	char dir[600];

	snprintf(dir, sizeof(dir), "%s/tls", data_dir());
	ASSERT_TRUE(check_list("ja4.txt", dir, 1) >= 15, "our captures compared");
}

static void test_foxio_vectors(void)
{
	const char *dir = corpus_dir();

	if (!dir) {
		TEST_SKIP("no tls-hello-corpus (set PT_HELLO_CORPUS)");
		return;
	}
	ASSERT_EQ(check_list("ja4-foxio.txt", dir, 3), 12, "FoxIO vectors compared");
}

static void test_corpus(void)
{
	const char *dir = corpus_dir();
	int n;

	if (!dir) {
		TEST_SKIP("no tls-hello-corpus (set PT_HELLO_CORPUS)");
		return;
	}
	n = check_list("ja4-corpus.txt", dir, 1);
	ASSERT_TRUE(n >= 140, "corpus hellos compared");
	printf("  %d corpus fingerprints agree with ja4ref.py\n", n);
}

/* A TLS 1.3 hello with GREASE in every list, and ALPN value @alpn (NULL: no ALPN). */
static struct bytes S;

/* A hello offering @ciphers in that order (GREASE 0x1a1a, 1302, 1301, 00ff if NULL). */
static size_t make_hello_ciphers(const uint8_t *alpn, size_t alpn_len, bool sni,
				 const uint16_t *ciphers, size_t n_ciphers)
{
	static const uint16_t dflt[] = { 0x1a1a, 0x1302, 0x1301, 0x00ff };
	size_t exts;

	if (!ciphers) {
		ciphers = dflt;
		n_ciphers = sizeof(dflt) / sizeof(dflt[0]);
	}
	S.n = 0;
	put_u8(&S, 22), put_u16(&S, 0x0301), put_u16(&S, 0);
	put_u8(&S, 1), put_u24(&S, 0), put_u16(&S, 0x0303);
	for (int i = 0; i < 32; i++)
		put_u8(&S, i);
	put_u8(&S, 0);
	put_u16(&S, 2 * n_ciphers);
	for (size_t i = 0; i < n_ciphers; i++)
		put_u16(&S, ciphers[i]);
	put_u8(&S, 1), put_u8(&S, 0);
	exts = S.n;
	put_u16(&S, 0);
	put_u16(&S, 0xfafa), put_u16(&S, 0);
	if (sni) {
		put_u16(&S, 0), put_u16(&S, 10), put_u16(&S, 8), put_u8(&S, 0), put_u16(&S, 5);
		put_str(&S, "a.com");
	}
	if (alpn) {
		put_u16(&S, 0x10), put_u16(&S, alpn_len + 3), put_u16(&S, alpn_len + 1);
		put_u8(&S, alpn_len), put_mem(&S, alpn, alpn_len);
	}
	put_u16(&S, 0x2b), put_u16(&S, 5), put_u8(&S, 4), put_u16(&S, 0x3a3a), put_u16(&S, 0x0304);
	put_u16(&S, 0x0d), put_u16(&S, 6), put_u16(&S, 4), put_u16(&S, 0x0804), put_u16(&S, 0x0403);
	patch_len(&S, exts, 2, S.n - exts - 2);
	patch_len(&S, 6, 3, S.n - 9);
	patch_len(&S, 3, 2, S.n - 5);
	return S.n;
}

static size_t make_hello(const uint8_t *alpn, size_t alpn_len, bool sni)
{
	return make_hello_ciphers(alpn, alpn_len, sni, NULL, 0);
}

static const char *ja4_of(const uint8_t *alpn, size_t alpn_len, bool sni)
{
	static struct pt_fields f;
	size_t n = make_hello(alpn, alpn_len, sni);

	pt_fields_init(&f);
	if (pt_probe_tls(S.b, n, false, &f) != PT_PROBE_MATCH)
		return "(no match)";
	return f.ja4;
}

static void test_hand_made(void)
{
	char want[64], b[16];

	/* ciphers 0x00ff,0x1301,0x1302 sorted; exts 000d,002b (SNI, ALPN out) then sigs */
	snprintf(b, sizeof(b), "%.12s", sha_hex("00ff,1301,1302", 14));
	snprintf(want, sizeof(want), "t13d0304h2_%s_%.12s", b, sha_hex("000d,002b_0804,0403", 19));
	ASSERT_STREQ(ja4_of((const uint8_t *)"h2", 2, true), want, "h2, GREASE left out");
	ASSERT_STRSTR(ja4_of(NULL, 0, false), "t13i030200_", "no SNI, no ALPN");
	ASSERT_TRUE(!strncmp(ja4_of((const uint8_t *)"http/1.1", 8, true), "t13d0304h1", 10),
		    "http/1.1");
	ASSERT_TRUE(!strncmp(ja4_of((const uint8_t *)"x", 1, true), "t13d0304xx", 10),
		    "one character");
	ASSERT_TRUE(!strncmp(ja4_of((const uint8_t *)"\x30\xab", 2, true), "t13d03043b", 10),
		    "0x30 0xab");
	ASSERT_TRUE(!strncmp(ja4_of((const uint8_t *)"\x61\x20", 2, true), "t13d030460", 10),
		    "0x61 0x20");
	ASSERT_TRUE(
		!strncmp(ja4_of((const uint8_t *)"\x30\xab\xcd\x31", 4, true), "t13d030401", 10),
		"0x30 0xab 0xcd 0x31");
}

/*
 * Long cipher lists, offered in descending order: 70 (hashed in more than
 * one piece) and 200 (past the insertion sort's 128). The cipher hash is
 * that of the ascending list, built here.
 */
static void test_long_lists(void)
{
	static const size_t counts[] = { 70, 200 };
	static uint16_t ciphers[200];
	static char list[200 * 5];
	struct pt_fields f;
	char want[16], head[16];

	for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
		size_t n = counts[c], len = 0, hn;

		for (size_t i = 0; i < n; i++) {
			ciphers[i] = (uint16_t)(0x0100 + n - 1 - i);
			len += (size_t)sprintf(list + len, "%s%04x", i ? "," : "", 0x0100 + (unsigned)i);
		}
		snprintf(want, sizeof(want), "%.12s", sha_hex(list, len));
		hn = make_hello_ciphers((const uint8_t *)"h2", 2, true, ciphers, n);
		pt_fields_init(&f);
		ASSERT_EQ(pt_probe_tls(S.b, hn, false, &f), PT_PROBE_MATCH, "long list matches");
		snprintf(head, sizeof(head), "t13d%02zu04h2_", n < 99 ? n : 99);
		ASSERT_TRUE(!strncmp(f.ja4, head, 11), f.ja4);
		ASSERT_TRUE(!strncmp(f.ja4 + 11, want, 12), n == 70 ? "70 ciphers" : "200 ciphers");
	}
}

/* A truncated hello is no MATCH and leaves no fingerprint behind. */
static void test_only_on_match(void)
{
	struct pt_fields f;
	size_t n = make_hello((const uint8_t *)"h2", 2, true);

	pt_fields_init(&f);
	ASSERT_EQ(pt_probe_tls(S.b, n - 1, false, &f), PT_PROBE_AGAIN, "truncated");
	ASSERT_STREQ(f.ja4, "", "no ja4 before the whole hello");
}

int main(void)
{
	RUN_TEST(test_sha256_vectors);
	RUN_TEST(test_long_lists);
	RUN_TEST(test_spec_example);
	RUN_TEST(test_hand_made);
	RUN_TEST(test_only_on_match);
	RUN_TEST(test_captures);
	RUN_TEST(test_foxio_vectors);
	RUN_TEST(test_corpus);
	return pt_test_done();
}
