// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The TLS detector: real ClientHellos captured on this machine
 * (tests/data/capture-hellos.sh) checked against their manifest, split at
 * every byte and re-framed into small records, plus hand-built hellos for
 * SSLv2, ECH, GREASE and every malformation we refuse.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "detect.h"
#include "test.h"
#include "detect-test.h"

#define MAX_CAPTURES 64

struct capture {
	char file[64];
	char sni[PT_NAME_MAX + 1]; /* "" for none */
	char alpn[128];		   /* "" for none */
	unsigned int max_version;
	bool ech;		   /* a fifth word "ech": the client sends (GREASE) ECH */
	uint8_t buf[4096];
	size_t len;
};

static struct capture caps[MAX_CAPTURES];
static int n_caps;

static void load_captures(void)
{
	char line[512], flag[8];
	FILE *fp = open_manifest("tls");
	struct capture *c;
	long n;

	if (!fp)
		return;
	while (fgets(line, sizeof(line), fp) && n_caps < MAX_CAPTURES) {
		c = &caps[n_caps];
		flag[0] = '\0';
		if (sscanf(line, "%63s %253s %127s %x %7s", c->file, c->sni, c->alpn,
			   &c->max_version, flag) < 4)
			continue;
		c->ech = !strcmp(flag, "ech");
		if (!strcmp(c->sni, "-"))
			c->sni[0] = '\0';
		if (!strcmp(c->alpn, "-"))
			c->alpn[0] = '\0';
		n = load_file("tls", c->file, c->buf, sizeof(c->buf));
		if (n <= 0)
			continue;
		c->len = n;
		n_caps++;
	}
	fclose(fp);
}

static const struct capture *find_capture(const char *file)
{
	for (int i = 0; i < n_caps; i++)
		if (!strcmp(caps[i].file, file))
			return &caps[i];
	return NULL;
}

static enum pt_probe tls(const uint8_t *b, size_t n, bool final, struct pt_fields *f)
{
	pt_fields_init(f);
	return pt_probe_tls(b, n, final, f);
}

/* Do two detections agree on everything the TLS detector reports? */
static bool same_tls_fields(const struct pt_fields *a, const struct pt_fields *b)
{
	return !strcmp(a->sni, b->sni) && a->alpn_len == b->alpn_len &&
	       !memcmp(a->alpn, b->alpn, a->alpn_len) && a->tls_version == b->tls_version &&
	       a->tls_max_version == b->tls_max_version && a->tls_sslv2 == b->tls_sslv2 &&
	       a->tls_ech == b->tls_ech && !strcmp(a->ja4, b->ja4);
}

/* Re-frame a one-record hello into records of at most frag payload bytes. */
static void reframe(const uint8_t *rec, size_t len, size_t frag, struct bytes *out)
{
	out->n = 0;
	for (size_t off = 5; off < len; off += frag) {
		size_t n = len - off < frag ? len - off : frag;

		put_u8(out, 22);
		put_mem(out, rec + 1, 2);
		put_u16(out, n);
		put_mem(out, rec + off, n);
	}
}

/* ---- hand-built hellos ---- */

struct hello {
	struct bytes m;
	size_t sid_off; /* offset of the session id length byte */
	size_t ext_off; /* offset of the extensions length (0: no extensions) */
};

static void ext_begin(struct bytes *e, unsigned int type, size_t *len_at)
{
	put_u16(e, type);
	*len_at = e->n;
	put_u16(e, 0);
}

static void ext_end(struct bytes *e, size_t len_at)
{
	patch_len(e, len_at, 2, e->n - len_at - 2);
}

static void ext_sni_raw(struct bytes *e, const void *name, size_t n)
{
	size_t at;

	ext_begin(e, 0, &at);
	put_u16(e, n + 3);
	put_u8(e, 0);
	put_u16(e, n);
	put_mem(e, name, n);
	ext_end(e, at);
}

static void ext_sni(struct bytes *e, const char *name)
{
	ext_sni_raw(e, name, strlen(name));
}

/* ALPN from a comma-separated list. */
static void ext_alpn(struct bytes *e, const char *list)
{
	size_t at, lat;
	char tmp[256], *save = NULL;

	snprintf(tmp, sizeof(tmp), "%s", list);
	ext_begin(e, 16, &at);
	lat = e->n;
	put_u16(e, 0);
	for (char *p = strtok_r(tmp, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
		put_u8(e, strlen(p));
		put_str(e, p);
	}
	patch_len(e, lat, 2, e->n - lat - 2);
	ext_end(e, at);
}

static void ext_versions(struct bytes *e, const uint16_t *v, size_t n)
{
	size_t at;

	ext_begin(e, 43, &at);
	put_u8(e, 2 * n);
	for (size_t i = 0; i < n; i++)
		put_u16(e, v[i]);
	ext_end(e, at);
}

static void ext_opaque(struct bytes *e, unsigned int type, size_t n, uint8_t fill)
{
	put_u16(e, type);
	put_u16(e, n);
	for (size_t i = 0; i < n; i++)
		put_u8(e, fill);
}

/* One record holding a ClientHello with these extensions (NULL: none). */
static void build_hello(struct hello *h, const struct bytes *exts, size_t sid_len)
{
	struct bytes *m = &h->m;

	m->n = 0;
	put_u8(m, 22);
	put_u16(m, 0x0301);
	put_u16(m, 0); /* record length, patched */
	put_u8(m, 1);
	put_u24(m, 0); /* handshake length, patched */
	put_u16(m, 0x0303);
	for (int i = 0; i < 32; i++)
		put_u8(m, i);
	h->sid_off = m->n;
	put_u8(m, sid_len);
	for (size_t i = 0; i < sid_len; i++)
		put_u8(m, 0xee);
	put_u16(m, 4);
	put_u16(m, 0x1301);
	put_u16(m, 0xc02f);
	put_u8(m, 1);
	put_u8(m, 0);
	h->ext_off = 0;
	if (exts) {
		h->ext_off = m->n;
		put_u16(m, exts->n);
		put_mem(m, exts->b, exts->n);
	}
	patch_len(m, 3, 2, m->n - 5);
	patch_len(m, 6, 3, m->n - 9);
}

static struct hello H;
static struct bytes E, X;

/* ---- tests ---- */

static void test_captures_manifest(void)
{
	struct pt_fields f;
	char alpn[256];

	if (!ASSERT_TRUE(n_caps >= 12, "manifest lists the captured hellos"))
		return;
	for (int i = 0; i < n_caps; i++) {
		const struct capture *c = &caps[i];
		enum pt_probe v = tls(c->buf, c->len, false, &f);

		if (!ASSERT_EQ(v, PT_PROBE_MATCH, c->file)) {
			fprintf(stderr, "    reason: %s\n", f.reason);
			continue;
		}
		ASSERT_STREQ(f.sni, c->sni, c->file);
		pt_fields_alpn_str(&f, alpn, sizeof(alpn));
		ASSERT_STREQ(alpn, c->alpn, c->file);
		ASSERT_EQ(f.tls_max_version, c->max_version, c->file);
		ASSERT_EQ(f.tls_version, 0x0303, c->file);
		ASSERT_FALSE(f.tls_sslv2, c->file);
		ASSERT_EQ(f.tls_ech, c->ech, c->file);
		if (c->alpn[0])
			ASSERT_TRUE(pt_fields_has_alpn(&f, "http/1.1"), c->file);
		ASSERT_FALSE(pt_fields_has_alpn(&f, "h3"), c->file);
	}
}

static void test_captures_via_pt_detect(void)
{
	struct pt_fields f;

	for (int i = 0; i < n_caps; i++) {
		ASSERT_EQ(pt_detect(NULL, 0, caps[i].buf, caps[i].len, false, &f), PT_PROBE_MATCH,
			  caps[i].file);
		ASSERT_EQ(f.proto, PT_PROTO_TLS, caps[i].file);
		ASSERT_EQ(f.pattern, -1, caps[i].file);
		ASSERT_STREQ(f.sni, caps[i].sni, caps[i].file);
	}
}

/* Every proper prefix of the window is AGAIN (NEXT "truncated" at final). */
static void test_captures_split_every_byte(void)
{
	struct pt_fields whole, f;
	char what[128];

	for (int i = 0; i < n_caps; i++) {
		const struct capture *c = &caps[i];

		tls(c->buf, c->len, false, &whole);
		for (size_t k = 0; k < c->len; k++) {
			enum pt_probe v = tls(c->buf, k, false, &f);

			snprintf(what, sizeof(what), "%.64s prefix %zu: %s", c->file, k,
				 probe_name(v));
			if (!ASSERT_EQ(v, PT_PROBE_AGAIN, what))
				break;
			if (!ASSERT_EQ(pt_detect(NULL, 0, c->buf, k, false, &f), PT_PROBE_AGAIN,
				       what))
				break;
			if (k && !ASSERT_EQ(tls(c->buf, k, true, &f), PT_PROBE_NEXT, what))
				break;
			if (k)
				ASSERT_STRSTR(f.reason, "tls: truncated ClientHello", what);
		}
		ASSERT_EQ(tls(c->buf, c->len, true, &f), PT_PROBE_MATCH, c->file);
		ASSERT_TRUE(same_tls_fields(&f, &whole), c->file);
	}
}

static void test_captures_are_one_record(void)
{
	for (int i = 0; i < n_caps; i++) {
		const uint8_t *b = caps[i].buf;

		ASSERT_EQ(5 + (b[3] << 8 | b[4]), caps[i].len, caps[i].file);
		ASSERT_EQ(b[5], 1, caps[i].file);
	}
}

/* The same hello in 1-, 7-, 100- and 2^14-byte records gives the same fields. */
static void test_reframed_records(void)
{
	static const size_t frags[] = {1, 2, 3, 4, 5, 7, 100, 16384};
	struct pt_fields whole, f;
	char what[128];

	for (int i = 0; i < n_caps; i++) {
		const struct capture *c = &caps[i];

		tls(c->buf, c->len, false, &whole);
		for (size_t j = 0; j < sizeof(frags) / sizeof(frags[0]); j++) {
			reframe(c->buf, c->len, frags[j], &X);
			snprintf(what, sizeof(what), "%.64s in %zu-byte records", c->file,
				 frags[j]);
			if (!ASSERT_EQ(tls(X.b, X.n, false, &f), PT_PROBE_MATCH, what))
				continue;
			ASSERT_TRUE(same_tls_fields(&f, &whole), what);
		}
	}
}

/* Re-framed into 7-byte records and then cut at every byte. */
static void test_reframed_split_every_byte(void)
{
	const struct capture *c = find_capture("openssl-alpn.bin");
	struct pt_fields whole, f;
	char what[64];

	if (!ASSERT_TRUE(c, "openssl-alpn.bin captured"))
		return;
	tls(c->buf, c->len, false, &whole);
	reframe(c->buf, c->len, 7, &X);
	for (size_t k = 0; k < X.n; k++) {
		snprintf(what, sizeof(what), "prefix %zu of %zu", k, X.n);
		if (!ASSERT_EQ(tls(X.b, k, false, &f), PT_PROBE_AGAIN, what))
			return;
	}
	ASSERT_EQ(tls(X.b, X.n, false, &f), PT_PROBE_MATCH, "whole");
	ASSERT_TRUE(same_tls_fields(&f, &whole), "same fields");
	ASSERT_STREQ(f.sni, "alpn.openssl.example", "sni");
}

static void test_big_hello(void)
{
	const struct capture *c = find_capture("openssl-big.bin");
	struct pt_fields f;

	if (!ASSERT_TRUE(c, "openssl-big.bin captured"))
		return;
	ASSERT_TRUE(c->len > 1900, "a ~2 KB hello");
	ASSERT_EQ(tls(c->buf, c->len, false, &f), PT_PROBE_MATCH, "big hello");
	ASSERT_STREQ(f.sni, "big.openssl.example", "sni");
	/* As a 1460-byte TCP segment (one MSS) and then the rest. */
	ASSERT_EQ(tls(c->buf, 1460, false, &f), PT_PROBE_AGAIN, "first segment");
	ASSERT_EQ(tls(c->buf, 1460, true, &f), PT_PROBE_NEXT, "first segment at final");
	ASSERT_STRSTR(f.reason, "truncated", "reason");
	c = find_capture("gnutls-big.bin");
	if (ASSERT_TRUE(c, "gnutls-big.bin captured"))
		ASSERT_TRUE(c->len > 1200, "gnutls FFDHE hello is big");
}

static void test_uppercase_sni_lowered(void)
{
	const struct capture *c = find_capture("openssl-upper.bin");
	struct pt_fields f;

	if (!ASSERT_TRUE(c, "openssl-upper.bin captured"))
		return;
	ASSERT_TRUE(memmem(c->buf, c->len, "UPPER.OpenSSL.Example", 21), "upper case on the wire");
	ASSERT_EQ(tls(c->buf, c->len, false, &f), PT_PROBE_MATCH, "match");
	ASSERT_STREQ(f.sni, "upper.openssl.example", "lower-cased");
}

/* Trailing records (CCS, early data) and junk after the hello are ignored. */
static void test_trailing_bytes(void)
{
	const struct capture *c = find_capture("curl-https.bin");
	struct pt_fields whole, f;

	if (!ASSERT_TRUE(c, "curl-https.bin captured"))
		return;
	tls(c->buf, c->len, false, &whole);
	X.n = 0;
	put_mem(&X, c->buf, c->len);
	put_mem(&X, "\x14\x03\x03\x00\x01\x01", 6);
	put_mem(&X, "\x17\x03\x03\x00\x05hello", 10);
	ASSERT_EQ(tls(X.b, X.n, false, &f), PT_PROBE_MATCH, "hello + CCS + app data");
	ASSERT_TRUE(same_tls_fields(&f, &whole), "same fields");
	X.n = c->len;
	put_mem(&X, "\xff\x00garbage", 9);
	ASSERT_EQ(tls(X.b, X.n, false, &f), PT_PROBE_MATCH, "hello + junk");
	ASSERT_TRUE(same_tls_fields(&f, &whole), "same fields");
	/* Extra bytes inside the hello's own record, after the message. */
	X.n = 0;
	put_mem(&X, c->buf, c->len);
	put_mem(&X, "\x0b\x00\x00\x00", 4);
	patch_len(&X, 3, 2, X.n - 5);
	ASSERT_EQ(tls(X.b, X.n, false, &f), PT_PROBE_MATCH, "more in the same record");
	ASSERT_TRUE(same_tls_fields(&f, &whole), "same fields");
	/* A hello re-framed into 100-byte records and followed by a CCS. */
	reframe(c->buf, c->len, 100, &X);
	put_mem(&X, "\x14\x03\x03\x00\x01\x01", 6);
	ASSERT_EQ(tls(X.b, X.n, false, &f), PT_PROBE_MATCH, "fragmented + CCS");
}

static void test_built_hello_fields(void)
{
	static const uint16_t v[] = {0x0304, 0x0303};
	struct pt_fields f;
	char alpn[64];

	E.n = 0;
	ext_sni(&E, "Mixed-Case_Host.Example");
	ext_alpn(&E, "h2,http/1.1,acme-tls/1");
	ext_versions(&E, v, 2);
	ext_opaque(&E, 0x0033, 40, 1);
	build_hello(&H, &E, 32);
	ASSERT_EQ(tls(H.m.b, H.m.n, false, &f), PT_PROBE_MATCH, "match");
	ASSERT_STREQ(f.sni, "mixed-case_host.example", "sni");
	pt_fields_alpn_str(&f, alpn, sizeof(alpn));
	ASSERT_STREQ(alpn, "h2,http/1.1,acme-tls/1", "alpn");
	ASSERT_EQ(f.alpn_len, 3 + 9 + 11, "alpn wire length");
	ASSERT_EQ(f.tls_version, 0x0303, "legacy version");
	ASSERT_EQ(f.tls_max_version, 0x0304, "max version");
	ASSERT_EQ(f.proto, PT_PROTO_TLS, "proto");
}

static void test_no_extensions(void)
{
	struct pt_fields f;

	build_hello(&H, NULL, 0);
	ASSERT_EQ(tls(H.m.b, H.m.n, false, &f), PT_PROBE_MATCH, "TLS 1.0-style hello");
	ASSERT_STREQ(f.sni, "", "no sni");
	ASSERT_EQ(f.alpn_len, 0, "no alpn");
	ASSERT_EQ(f.tls_max_version, 0x0303, "max = legacy version");
}

static void test_grease_versions(void)
{
	static const uint16_t v1[] = {0x3a3a, 0x0304, 0x0303, 0xfafa};
	static const uint16_t v2[] = {0x0a0a, 0x0303};
	static const uint16_t v3[] = {0x7a7a};
	struct pt_fields f;

	E.n = 0;
	ext_opaque(&E, 0x2a2a, 0, 0); /* a GREASE extension, ignored */
	ext_versions(&E, v1, 4);
	build_hello(&H, &E, 0);
	ASSERT_EQ(tls(H.m.b, H.m.n, false, &f), PT_PROBE_MATCH, "v1");
	ASSERT_EQ(f.tls_max_version, 0x0304, "GREASE 0xfafa ignored");
	E.n = 0;
	ext_versions(&E, v2, 2);
	build_hello(&H, &E, 0);
	ASSERT_EQ(tls(H.m.b, H.m.n, false, &f), PT_PROBE_MATCH, "v2");
	ASSERT_EQ(f.tls_max_version, 0x0303, "0x0a0a ignored");
	E.n = 0;
	ext_versions(&E, v3, 1);
	build_hello(&H, &E, 0);
	ASSERT_EQ(tls(H.m.b, H.m.n, false, &f), PT_PROBE_MATCH, "v3");
	ASSERT_EQ(f.tls_max_version, 0x0303, "only GREASE: legacy version");
}

static void test_ech(void)
{
	static const uint16_t v[] = {0x0304};
	struct pt_fields f;

	E.n = 0;
	ext_sni(&E, "public.example");
	ext_versions(&E, v, 1);
	ext_opaque(&E, 0xfe0d, 200, 0x42);
	build_hello(&H, &E, 32);
	ASSERT_EQ(tls(H.m.b, H.m.n, false, &f), PT_PROBE_MATCH, "ECH hello");
	ASSERT_TRUE(f.tls_ech, "tls_ech set");
	ASSERT_STREQ(f.sni, "public.example", "outer sni");
	E.n = 0;
	ext_opaque(&E, 0xfe0d, 10, 0);
	ext_opaque(&E, 0xfe0d, 10, 0);
	build_hello(&H, &E, 0);
	ASSERT_EQ(tls(H.m.b, H.m.n, false, &f), PT_PROBE_NEXT, "two ECH extensions");
	ASSERT_STRSTR(f.reason, "duplicate extension 0xfe0d", "reason");
}

/*
 * No client on this machine sends an SSLv2-compatible hello any more, so
 * this one is built by hand from RFC 5246 appendix E.2 / the SSL 2.0 spec:
 * 2-byte header (high bit set), CLIENT-HELLO (1), version, cipher spec,
 * session id and challenge lengths, then the data.
 */
static void build_sslv2(struct bytes *b, unsigned int version, size_t sid, size_t ch)
{
	static const uint8_t specs[] = {0x01, 0x00, 0x80, 0x00, 0x00, 0x2f, 0x00, 0x00, 0x35};

	b->n = 0;
	put_u16(b, 0x8000 | (9 + sizeof(specs) + sid + ch));
	put_u8(b, 1);
	put_u16(b, version);
	put_u16(b, sizeof(specs));
	put_u16(b, sid);
	put_u16(b, ch);
	put_mem(b, specs, sizeof(specs));
	for (size_t i = 0; i < sid + ch; i++)
		put_u8(b, 0x5a);
}

static void test_sslv2(void)
{
	struct pt_fields f;
	char what[64];

	build_sslv2(&X, 0x0301, 0, 16);
	ASSERT_EQ(X.n, 36, "hand-built size");
	ASSERT_EQ(tls(X.b, X.n, false, &f), PT_PROBE_MATCH, "SSLv2 hello");
	ASSERT_TRUE(f.tls_sslv2, "tls_sslv2");
	ASSERT_EQ(f.tls_version, 0x0301, "version");
	ASSERT_STREQ(f.sni, "", "no sni");
	for (size_t k = 0; k < X.n; k++) {
		snprintf(what, sizeof(what), "SSLv2 prefix %zu", k);
		ASSERT_EQ(tls(X.b, k, false, &f), PT_PROBE_AGAIN, what);
	}
	ASSERT_EQ(pt_detect(NULL, 0, X.b, X.n, false, &f), PT_PROBE_MATCH, "pt_detect");
	ASSERT_EQ(f.proto, PT_PROTO_TLS, "proto");
	build_sslv2(&X, 0x0002, 16, 32);
	ASSERT_EQ(tls(X.b, X.n, false, &f), PT_PROBE_MATCH, "SSL 2.0 version");
	ASSERT_EQ(f.tls_version, 0x0002, "version 2");
	build_sslv2(&X, 0x0301, 0, 8);
	ASSERT_EQ(tls(X.b, X.n, false, &f), PT_PROBE_NEXT, "challenge too short");
	ASSERT_STRSTR(f.reason, "bad SSLv2 ClientHello lengths", "reason");
	build_sslv2(&X, 0x0301, 0, 16);
	X.b[2] = 4;
	ASSERT_EQ(tls(X.b, 3, false, &f), PT_PROBE_NEXT, "not a CLIENT-HELLO");
	build_sslv2(&X, 0x0201, 0, 16);
	ASSERT_EQ(tls(X.b, 5, false, &f), PT_PROBE_NEXT, "version 2.1");
}

/* Build H from E, let the caller break it, expect NEXT with reason. */
static void expect_bad(const struct bytes *m, const char *reason)
{
	struct pt_fields f;

	if (!ASSERT_EQ(tls(m->b, m->n, false, &f), PT_PROBE_NEXT, reason))
		return;
	ASSERT_STRSTR(f.reason, reason, "reason");
	ASSERT_STREQ(f.sni, "", "no sni reported");
	/* pt_detect passes the reason on, and it is not "TLS without SNI". */
	ASSERT_EQ(pt_detect(NULL, 0, m->b, m->n, true, &f), PT_PROBE_NEXT, reason);
	ASSERT_EQ(f.proto, PT_PROTO_UNKNOWN, "unknown");
	ASSERT_STRSTR(f.reason, reason, "pt_detect reason");
}

static void test_malformed_session_id(void)
{
	build_hello(&H, NULL, 32);
	H.m.b[H.sid_off] = 33;
	expect_bad(&H.m, "tls: session id longer than 32 bytes");
	/* Decided early: the hello is far from complete, the error is not. */
	H.m.n = H.sid_off + 1;
	expect_bad(&H.m, "session id longer than 32 bytes");
}

static void test_malformed_extensions(void)
{
	E.n = 0;
	ext_sni(&E, "a.example");
	build_hello(&H, &E, 0);
	patch_len(&H.m, H.ext_off + 4, 2, 0x4000);
	expect_bad(&H.m, "tls: extension length overflows hello");
	build_hello(&H, &E, 0);
	patch_len(&H.m, H.ext_off, 2, E.n + 1);
	expect_bad(&H.m, "extensions length overflows hello");
	build_hello(&H, &E, 0);
	patch_len(&H.m, H.ext_off, 2, E.n - 1);
	expect_bad(&H.m, "trailing bytes after extensions");
	E.n = 0;
	ext_sni(&E, "a.example");
	ext_sni(&E, "b.example");
	build_hello(&H, &E, 0);
	expect_bad(&H.m, "duplicate extension 0x0000");
	E.n = 0;
	put_u16(&E, 0x0010);
	build_hello(&H, &E, 0);
	expect_bad(&H.m, "truncated extension header");
}

static void test_malformed_sni(void)
{
	char long_name[301];

	E.n = 0;
	ext_sni(&E, "a.example");
	build_hello(&H, &E, 0);
	patch_len(&H.m, H.ext_off + 6, 2, 100); /* the server name list */
	expect_bad(&H.m, "server name list overflows extension");
	build_hello(&H, &E, 0);
	patch_len(&H.m, H.ext_off + 9, 2, 10); /* the host name */
	expect_bad(&H.m, "server name overflows server name list");
	build_hello(&H, &E, 0);
	H.m.b[H.ext_off + 8] = 1;
	expect_bad(&H.m, "unknown server name type");
	E.n = 0;
	ext_sni_raw(&E, "evil.example\0.good.example", 25);
	build_hello(&H, &E, 0);
	expect_bad(&H.m, "server name contains a NUL byte");
	memset(long_name, 'a', 300);
	long_name[300] = '\0';
	for (int i = 50; i < 300; i += 50)
		long_name[i] = '.';
	E.n = 0;
	ext_sni(&E, long_name);
	build_hello(&H, &E, 0);
	expect_bad(&H.m, "server name longer than 253 bytes");
	E.n = 0;
	ext_sni(&E, "bad host.example");
	build_hello(&H, &E, 0);
	expect_bad(&H.m, "invalid server name");
	E.n = 0;
	ext_sni(&E, "trailing.example.");
	build_hello(&H, &E, 0);
	expect_bad(&H.m, "invalid server name");
	E.n = 0;
	ext_sni(&E, "");
	build_hello(&H, &E, 0);
	expect_bad(&H.m, "empty server name");
	E.n = 0;
	ext_opaque(&E, 0, 0, 0);
	build_hello(&H, &E, 0);
	expect_bad(&H.m, "empty server_name extension");
	E.n = 0;
	ext_opaque(&E, 0, 2, 0);
	build_hello(&H, &E, 0);
	expect_bad(&H.m, "empty server name list");
}

static void test_malformed_alpn(void)
{
	E.n = 0;
	ext_opaque(&E, 16, 2, 0); /* list length 0 */
	build_hello(&H, &E, 0);
	expect_bad(&H.m, "tls: empty ALPN list");
	E.n = 0;
	ext_alpn(&E, "h2");
	build_hello(&H, &E, 0);
	H.m.b[H.ext_off + 8] = 0; /* first name length */
	expect_bad(&H.m, "empty ALPN protocol name");
	build_hello(&H, &E, 0);
	H.m.b[H.ext_off + 8] = 9;
	expect_bad(&H.m, "ALPN protocol name overflows list");
	build_hello(&H, &E, 0);
	patch_len(&H.m, H.ext_off + 6, 2, 200);
	expect_bad(&H.m, "ALPN list overflows extension");
}

static void test_malformed_versions(void)
{
	static const uint16_t v[] = {0x0304, 0x0303};

	E.n = 0;
	ext_versions(&E, v, 2);
	build_hello(&H, &E, 0);
	H.m.b[H.ext_off + 6] = 3; /* odd list length */
	expect_bad(&H.m, "supported_versions");
	build_hello(&H, &E, 0);
	H.m.b[9] = 2; /* legacy_version 0x0203 */
	expect_bad(&H.m, "bad ClientHello version");
}

static void test_malformed_fixed_part(void)
{
	build_hello(&H, NULL, 0);
	patch_len(&H.m, H.sid_off + 1, 2, 3); /* odd cipher suites length */
	expect_bad(&H.m, "bad cipher suites length");
	build_hello(&H, NULL, 0);
	patch_len(&H.m, H.sid_off + 1, 2, 0x1000);
	expect_bad(&H.m, "cipher suites overflow hello");
	build_hello(&H, NULL, 0);
	H.m.b[H.sid_off + 7] = 0; /* no compression methods */
	expect_bad(&H.m, "no compression methods");
	build_hello(&H, NULL, 0);
	H.m.b[5] = 2; /* ServerHello */
	expect_bad(&H.m, "not a ClientHello");
	build_hello(&H, NULL, 0);
	patch_len(&H.m, 6, 3, 20); /* shorter than the fixed part */
	expect_bad(&H.m, "ClientHello too short");
}

static void test_malformed_records(void)
{
	const struct capture *c = find_capture("openssl-sni.bin");
	struct pt_fields f;

	if (!ASSERT_TRUE(c, "openssl-sni.bin captured"))
		return;
	/* 16 MiB handshake length: can never fit, decided at once. */
	X.n = 0;
	put_mem(&X, c->buf, 9);
	patch_len(&X, 6, 3, 0xffffff);
	expect_bad(&X, "ClientHello larger than window");
	X.n = 0;
	put_mem(&X, "\x16\x03\x01\xff\xff", 5);
	expect_bad(&X, "record length exceeds 2^14");
	X.n = 0;
	put_mem(&X, "\x16\x03\x01\x00\x00", 5);
	expect_bad(&X, "empty handshake record");
	X.n = 0;
	put_mem(&X, "\x16\x02", 2);
	expect_bad(&X, "bad record version");
	X.n = 0;
	put_mem(&X, "\x16\x03\x05", 3);
	expect_bad(&X, "bad record version");
	/* A record of another type where the hello's next fragment should be. */
	reframe(c->buf, c->len, 100, &X);
	X.b[105] = 23;
	expect_bad(&X, "non-handshake record inside ClientHello");
	/* Up to 2^14 + 2048 is tolerated: a padded record still parses. */
	X.n = 0;
	put_mem(&X, c->buf, c->len);
	for (int i = 0; i < 16384 + 2048 - (int)c->len + 5; i++)
		put_u8(&X, 0);
	patch_len(&X, 3, 2, X.n - 5);
	ASSERT_EQ(tls(X.b, X.n, false, &f), PT_PROBE_MATCH, "record of 2^14 + 2048");
}

static void test_truncated_at_final(void)
{
	const struct capture *c = find_capture("node-tls.bin");
	struct pt_fields f;

	if (!ASSERT_TRUE(c, "node-tls.bin captured"))
		return;
	ASSERT_EQ(tls(c->buf, c->len - 1, false, &f), PT_PROBE_AGAIN, "incomplete");
	ASSERT_EQ(tls(c->buf, c->len - 1, true, &f), PT_PROBE_NEXT, "incomplete at final");
	ASSERT_STRSTR(f.reason, "tls: truncated ClientHello", "reason");
	ASSERT_STREQ(f.sni, "", "no partial sni after NEXT via pt_detect");
	ASSERT_EQ(pt_detect(NULL, 0, c->buf, c->len - 1, true, &f), PT_PROBE_NEXT, "pt_detect");
	ASSERT_STREQ(f.sni, "", "pt_detect reports no sni");
	ASSERT_STRSTR(f.reason, "tls: truncated ClientHello", "pt_detect reason");
	ASSERT_EQ(tls(c->buf, 0, true, &f), PT_PROBE_NEXT, "empty at final");
}

/* The first byte alone decides "not TLS" for everything but 0x16 and SSLv2. */
static void test_first_byte(void)
{
	struct pt_fields f;
	char what[32];

	for (int b = 0; b < 256; b++) {
		uint8_t c = b;
		enum pt_probe want = (b == 0x16 || b >= 0x80) ? PT_PROBE_AGAIN : PT_PROBE_NEXT;

		snprintf(what, sizeof(what), "first byte 0x%02x", b);
		ASSERT_EQ(tls(&c, 1, false, &f), want, what);
		ASSERT_EQ(tls(&c, 1, true, &f), PT_PROBE_NEXT, what);
	}
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)rng_state;
}

/* Random windows (seeded) never crash nor make a ClientHello. */
static void test_garbage(void)
{
	static uint8_t buf[4096];
	struct pt_fields f;
	int matches = 0;

	for (int i = 0; i < 20000; i++) {
		size_t len = rnd() % sizeof(buf);

		for (size_t j = 0; j < len; j++)
			buf[j] = rnd();
		if (i % 2 && len >= 3)
			memcpy(buf, "\x16\x03\x01", 3); /* get past the first checks */
		if (tls(buf, len, i % 3 == 0, &f) == PT_PROBE_MATCH)
			matches++;
		if (pt_detect(NULL, 0, buf, len, true, &f) == PT_PROBE_MATCH)
			ASSERT_TRUE(f.proto > PT_PROTO_UNKNOWN, "a match names its protocol");
		else
			ASSERT_EQ(f.proto, PT_PROTO_UNKNOWN, "final NEXT is unknown");
	}
	ASSERT_EQ(matches, 0, "no random ClientHello");
}

/* Mutated real hellos: whatever the verdict, what is reported is sane. */
static void test_mutations(void)
{
	struct pt_fields f;

	for (int i = 0; i < n_caps; i++) {
		const struct capture *c = &caps[i];

		for (int j = 0; j < 3000; j++) {
			int flips = 1 + rnd() % 4;

			X.n = 0;
			put_mem(&X, c->buf, c->len);
			for (int k = 0; k < flips; k++)
				X.b[rnd() % X.n] ^= 1 << (rnd() % 8);
			X.n -= rnd() % 2 ? rnd() % X.n : 0;
			if (tls(X.b, X.n, j % 2, &f) != PT_PROBE_MATCH)
				continue;
			ASSERT_TRUE(!f.sni[0] || pt_is_valid_hostname(f.sni, strlen(f.sni)),
				    "reported sni is valid");
			ASSERT_TRUE(f.alpn_len <= PT_ALPN_BUF, "alpn fits");
		}
	}
}

int main(void)
{
	load_captures();
	RUN_TEST(test_captures_manifest);
	RUN_TEST(test_captures_via_pt_detect);
	RUN_TEST(test_captures_are_one_record);
	RUN_TEST(test_captures_split_every_byte);
	RUN_TEST(test_reframed_records);
	RUN_TEST(test_reframed_split_every_byte);
	RUN_TEST(test_big_hello);
	RUN_TEST(test_uppercase_sni_lowered);
	RUN_TEST(test_trailing_bytes);
	RUN_TEST(test_built_hello_fields);
	RUN_TEST(test_no_extensions);
	RUN_TEST(test_grease_versions);
	RUN_TEST(test_ech);
	RUN_TEST(test_sslv2);
	RUN_TEST(test_malformed_session_id);
	RUN_TEST(test_malformed_extensions);
	RUN_TEST(test_malformed_sni);
	RUN_TEST(test_malformed_alpn);
	RUN_TEST(test_malformed_versions);
	RUN_TEST(test_malformed_fixed_part);
	RUN_TEST(test_malformed_records);
	RUN_TEST(test_truncated_at_final);
	RUN_TEST(test_first_byte);
	RUN_TEST(test_garbage);
	RUN_TEST(test_mutations);
	return pt_test_done();
}
