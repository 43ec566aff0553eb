// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * JA4, the TLS client fingerprint of FoxIO's JA4 suite (technical_details/
 * JA4.md of github.com/FoxIO-LLC/ja4; JA4 itself is BSD-3-Clause licensed,
 * the other JA4+ methods are not implemented here):
 *
 *   t 13 d 15 16 h2 _ 8daaf6152771 _ e5627efa2ab1
 *   | |  | |  |  |     |              sha256[:12] of the sorted extensions
 *   | |  | |  |  |     |              (SNI and ALPN left out), "_", then the
 *   | |  | |  |  |     |              signature algorithms in wire order
 *   | |  | |  |  |     sha256[:12] of the sorted cipher suites
 *   | |  | |  |  first and last character of the first ALPN value
 *   | |  | |  extensions, cipher suites: counts, at most 99
 *   | |  | SNI present: d, else i
 *   | |  TLS version: highest supported_versions entry, else legacy_version
 *   | TCP (we never see QUIC or DTLS)
 *
 * GREASE values (RFC 8701) are left out everywhere; lists are 4-digit
 * lower-case hex joined by ","; an empty list hashes as "000000000000".
 * The TLS detector has validated the hello; this second walk still checks
 * every length and gives "" rather than read past one. What the detector
 * does not check (signature_algorithms) is read leniently.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect.h"
#include "sha256.h"

#define JA4_LIST_MAX (PT_WINDOW_MAX / 2)
#define JA4_HASH_LEN 12

#define EXT_SERVER_NAME	       0x0000
#define EXT_SIG_ALGS	       0x000d
#define EXT_ALPN	       0x0010
#define EXT_SUPPORTED_VERSIONS 0x002b

/* What the fingerprint is made of. Static: workers are single-threaded. */
struct ja4_hello {
	uint16_t version; /* legacy_version, then the supported_versions maximum */
	bool sni;
	const uint8_t *alpn; /* the first ALPN value, NULL if none */
	size_t alpn_len;
	uint16_t ciphers[JA4_LIST_MAX];
	uint16_t exts[JA4_LIST_MAX];
	uint16_t sigs[JA4_LIST_MAX];
	size_t n_ciphers, n_exts, n_sigs;
};

static struct ja4_hello hello;

static const char hex[] = "0123456789abcdef";

/* A cursor over one vector: reads past @end fail. */
struct ja4_rd {
	const uint8_t *p;
	size_t pos, end;
};

static bool get(struct ja4_rd *r, size_t n, uint32_t *v)
{
	if (n > r->end - r->pos)
		return false;
	*v = 0;
	while (n--)
		*v = *v << 8 | r->p[r->pos++];
	return true;
}

static bool skip(struct ja4_rd *r, size_t n)
{
	if (n > r->end - r->pos)
		return false;
	r->pos += n;
	return true;
}

/* The vector of @len_bytes length prefix at r, as a cursor of its own. */
static bool vec(struct ja4_rd *r, size_t len_bytes, struct ja4_rd *sub)
{
	uint32_t n;

	if (!get(r, len_bytes, &n) || n > r->end - r->pos)
		return false;
	*sub = (struct ja4_rd){ r->p, r->pos, r->pos + n };
	r->pos += n;
	return true;
}

static bool is_grease(uint32_t v)
{
	return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff);
}

/* Append the non-GREASE 16-bit values of r to list (an odd last byte is left). */
static void u16_list(struct ja4_rd *r, uint16_t *list, size_t *n)
{
	uint32_t v;

	while (get(r, 2, &v))
		if (!is_grease(v) && *n < JA4_LIST_MAX)
			list[(*n)++] = (uint16_t)v;
}

static bool ext_versions(struct ja4_rd *ext)
{
	struct ja4_rd list;
	uint32_t v, max = 0;

	if (!vec(ext, 1, &list))
		return false;
	while (list.pos < list.end) {
		if (!get(&list, 2, &v))
			return false;
		if (!is_grease(v) && v > max)
			max = v;
	}
	if (max)
		hello.version = (uint16_t)max;
	return true;
}

static bool ext_alpn(struct ja4_rd *ext)
{
	struct ja4_rd list, name;

	if (!vec(ext, 2, &list))
		return false;
	if (list.pos == list.end)
		return true;
	if (!vec(&list, 1, &name))
		return false;
	hello.alpn = name.p + name.pos;
	hello.alpn_len = name.end - name.pos;
	return true;
}

/*
 * The TLS detector does not check signature_algorithms: a malformed one
 * counts as an empty list rather than costing the whole fingerprint.
 */
static bool ext_sigs(struct ja4_rd *ext)
{
	struct ja4_rd list;

	if (vec(ext, 2, &list))
		u16_list(&list, hello.sigs, &hello.n_sigs);
	return true;
}

static bool ext_one(struct ja4_rd *exts)
{
	struct ja4_rd ext;
	uint32_t type;

	if (!get(exts, 2, &type) || !vec(exts, 2, &ext))
		return false;
	if (is_grease(type))
		return true;
	if (hello.n_exts < JA4_LIST_MAX)
		hello.exts[hello.n_exts++] = (uint16_t)type;
	switch (type) {
	case EXT_SERVER_NAME:
		hello.sni = true;
		return true;
	case EXT_ALPN:
		return ext_alpn(&ext);
	case EXT_SIG_ALGS:
		return ext_sigs(&ext);
	case EXT_SUPPORTED_VERSIONS:
		return ext_versions(&ext);
	}
	return true;
}

/* Fill hello from the handshake message hs[0..n). */
static bool read_hello(const uint8_t *hs, size_t n)
{
	struct ja4_rd r = { hs, 0, n }, body, ciphers, exts;
	uint32_t type, v;

	memset(&hello, 0, offsetof(struct ja4_hello, ciphers));
	hello.n_ciphers = hello.n_exts = hello.n_sigs = 0;
	if (!get(&r, 1, &type) || type != 1 || !vec(&r, 3, &body))
		return false;
	if (!get(&body, 2, &v) || !skip(&body, 32) || !vec(&body, 1, &exts))
		return false;
	hello.version = (uint16_t)v;
	if (!vec(&body, 2, &ciphers))
		return false;
	u16_list(&ciphers, hello.ciphers, &hello.n_ciphers);
	if (!vec(&body, 1, &exts)) /* compression methods */
		return false;
	if (body.pos == body.end)
		return true;
	if (!vec(&body, 2, &exts))
		return false;
	while (exts.pos < exts.end)
		if (!ext_one(&exts))
			return false;
	return true;
}

static const char *version_str(uint16_t v)
{
	switch (v) {
	case 0x0304:
		return "13";
	case 0x0303:
		return "12";
	case 0x0302:
		return "11";
	case 0x0301:
		return "10";
	case 0x0300:
		return "s3";
	case 0x0002:
		return "s2";
	case 0xfeff:
		return "d1";
	case 0xfefd:
		return "d2";
	case 0xfefc:
		return "d3";
	}
	return "00";
}

static bool is_alnum(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* First and last character of the first ALPN value; of its hex form if either is not alphanumeric.
 */
static void alpn_chars(char out[2])
{
	uint8_t first, last;

	if (!hello.alpn || !hello.alpn_len) {
		out[0] = out[1] = '0';
		return;
	}
	first = hello.alpn[0];
	last = hello.alpn[hello.alpn_len - 1];
	if (is_alnum(first) && is_alnum(last)) {
		out[0] = (char)first;
		out[1] = (char)last;
	} else {
		out[0] = hex[first >> 4];
		out[1] = hex[last & 0xf];
	}
}

/* Feed "xxxx,yyyy" (list[0..n) as 4-digit hex) to the hash, a few dozen entries per call. */
static void hash_list(struct pt_sha256 *s, const uint16_t *list, size_t n)
{
	char buf[64 * 5];
	size_t len = 0;

	for (size_t i = 0; i < n; i++) {
		if (len + 5 > sizeof(buf)) {
			pt_sha256_update(s, buf, len);
			len = 0;
		}
		if (i)
			buf[len++] = ',';
		for (int k = 0; k < 4; k++)
			buf[len++] = hex[list[i] >> (12 - 4 * k) & 0xf];
	}
	pt_sha256_update(s, buf, len);
}

static void hash12(struct pt_sha256 *s, char out[JA4_HASH_LEN + 1])
{
	uint8_t d[PT_SHA256_LEN];

	pt_sha256_final(s, d);
	for (int i = 0; i < JA4_HASH_LEN / 2; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 0xf];
	}
	out[JA4_HASH_LEN] = '\0';
}

static int cmp_u16(const void *a, const void *b)
{
	return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

/*
 * Sort @n values: insertion sort for a real hello's few dozen (glibc's
 * qsort() merges through a buffer, several times slower there), qsort()
 * for the thousands a crafted one may carry.
 */
static void sort_u16(uint16_t *v, size_t n)
{
	if (n > 128) {
		qsort(v, n, sizeof(*v), cmp_u16);
		return;
	}
	for (size_t i = 1; i < n; i++) {
		uint16_t x = v[i];
		size_t j = i;

		for (; j && v[j - 1] > x; j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
}

/* The cipher hash: sorted ciphers. */
static void part_b(char out[JA4_HASH_LEN + 1])
{
	struct pt_sha256 s;

	if (!hello.n_ciphers) {
		strcpy(out, "000000000000");
		return;
	}
	sort_u16(hello.ciphers, hello.n_ciphers);
	pt_sha256_init(&s);
	hash_list(&s, hello.ciphers, hello.n_ciphers);
	hash12(&s, out);
}

/* The extension hash: sorted extensions but SNI and ALPN, then "_" and the signature algorithms. */
static void part_c(char out[JA4_HASH_LEN + 1])
{
	struct pt_sha256 s;
	size_t i, n = 0;

	for (i = 0; i < hello.n_exts; i++)
		if (hello.exts[i] != EXT_SERVER_NAME && hello.exts[i] != EXT_ALPN)
			hello.exts[n++] = hello.exts[i];
	if (!n) {
		strcpy(out, "000000000000");
		return;
	}
	sort_u16(hello.exts, n);
	pt_sha256_init(&s);
	hash_list(&s, hello.exts, n);
	if (hello.n_sigs) {
		pt_sha256_update(&s, "_", 1);
		hash_list(&s, hello.sigs, hello.n_sigs);
	}
	hash12(&s, out);
}

void pt_ja4(const uint8_t *hs, size_t n, char out[PT_JA4_MAX])
{
	char b[JA4_HASH_LEN + 1], c[JA4_HASH_LEN + 1], alpn[2];
	size_t n_ciphers, n_exts;

	out[0] = '\0';
	if (!read_hello(hs, n))
		return;
	n_ciphers = hello.n_ciphers < 99 ? hello.n_ciphers : 99;
	n_exts = hello.n_exts < 99 ? hello.n_exts : 99;
	alpn_chars(alpn);
	part_b(b);
	part_c(c);
	snprintf(out, PT_JA4_MAX, "t%s%c%02zu%02zu%c%c_%s_%s", version_str(hello.version),
		 hello.sni ? 'd' : 'i', n_ciphers, n_exts, alpn[0], alpn[1], b, c);
}
