// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The PROXY protocol parser and builder (user/proxyproto.c): both versions,
 * every prefix of a valid header (a header split across segments), the
 * malformed ones, LOCAL/UNKNOWN, and build -> parse round trips with TLVs.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "config.h"
#include "proxyproto.h"
#include "test.h"

static struct sockaddr_storage s1, s2;

static const struct sockaddr *sa(struct sockaddr_storage *ss, const char *ip, uint16_t port)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		inet_pton(AF_INET6, ip, &s6->sin6_addr);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		inet_pton(AF_INET, ip, &s4->sin_addr);
	}
	return (const struct sockaddr *)ss;
}

static const char *str(const struct pt_sockaddr *a)
{
	static char buf[2][64];
	static int i;

	i ^= 1;
	return pt_sockaddr_str(&a->ss.sa, buf[i], sizeof(buf[i]));
}

/* Every strict prefix of @buf asks for more; the whole parses to @len. */
static void check_prefixes(const uint8_t *buf, size_t len, const char *what)
{
	struct pt_pp_hdr h;
	const char *why;
	size_t i;

	for (i = 0; i < len; i++)
		if (pt_pp_parse(buf, i, &h, &why) != 0)
			break;
	ASSERT_EQ(i, len, what);
	ASSERT_EQ(pt_pp_parse(buf, len, &h, &why), (int)len, what);
}

static void test_v1(void)
{
	static const char *tcp4 = "PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\nGET /";
	static const char *tcp6 = "PROXY TCP6 2001:db8::7 2001:db8::1 4000 8443\r\n";
	struct pt_pp_hdr h;
	const char *why;

	ASSERT_EQ(pt_pp_parse((const uint8_t *)tcp4, strlen(tcp4), &h, &why), 45, "TCP4 length");
	ASSERT_EQ(h.version, 1, "version 1");
	ASSERT_FALSE(h.local, "not local");
	ASSERT_STREQ(str(&h.src), "192.0.2.7:56324", "v1 source");
	ASSERT_STREQ(str(&h.dst), "198.51.100.1:443", "v1 destination");
	check_prefixes((const uint8_t *)tcp4, 45, "v1 TCP4 split anywhere");
	ASSERT_EQ(pt_pp_parse((const uint8_t *)tcp6, strlen(tcp6), &h, &why), (int)strlen(tcp6),
		  "TCP6 length");
	ASSERT_STREQ(str(&h.src), "[2001:db8::7]:4000", "v1 IPv6 source");
	ASSERT_TRUE(pt_pp_parse((const uint8_t *)"PROXY UNKNOWN\r\n", 15, &h, &why) == 15 &&
			    h.local,
		    "UNKNOWN keeps the socket's addresses");
}

static void bad(const char *s, size_t len, const char *want)
{
	struct pt_pp_hdr h;
	const char *why = NULL;

	ASSERT_EQ(pt_pp_parse((const uint8_t *)s, len, &h, &why), -EINVAL, s);
	ASSERT_STRSTR(why, want, s);
}

static void test_v1_bad(void)
{
	char longline[200];

	bad("GET / HTTP/1.1\r\n", 16, "not a PROXY");
	bad("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", 32, "unknown protocol");
	bad("PROXY TCP4 1.2.3.400 5.6.7.8 1 2\r\n", 34, "bad address");
	bad("PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n", 36, "bad address or port");
	bad("PROXY TCP4 ::1 ::2 1 2\r\n", 24, "bad address");
	bad("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", 33, "expected");
	bad("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX", 32, "CR not followed");
	bad("PROXY TCP4 1.2.3.4\x01", 19, "printable");
	memset(longline, 'a', sizeof(longline));
	memcpy(longline, "PROXY ", 6);
	bad(longline, sizeof(longline), "107");
	bad("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", 34, "expected");
}

static const uint8_t sig[12] = { 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
				 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A };

static void test_v2(void)
{
	uint8_t b[64] = { 0 };
	struct pt_pp_hdr h;
	const char *why;

	memcpy(b, sig, 12);
	b[12] = 0x21;
	b[13] = 0x11;
	b[15] = 12;
	inet_pton(AF_INET, "203.0.113.9", b + 16);
	inet_pton(AF_INET, "127.0.0.1", b + 20);
	b[24] = 0x12, b[25] = 0x34, b[26] = 0x01, b[27] = 0xbb;
	ASSERT_EQ(pt_pp_parse(b, sizeof(b), &h, &why), 28, "v2 INET length");
	ASSERT_EQ(h.version, 2, "version 2");
	ASSERT_STREQ(str(&h.src), "203.0.113.9:4660", "v2 source");
	ASSERT_STREQ(str(&h.dst), "127.0.0.1:443", "v2 destination");
	check_prefixes(b, 28, "v2 split anywhere");

	b[12] = 0x20;		/* LOCAL: the addresses are ignored */
	ASSERT_TRUE(pt_pp_parse(b, 28, &h, &why) == 28 && h.local, "v2 LOCAL");
	b[12] = 0x21;
	b[13] = 0x00;		/* PROXY with AF_UNSPEC */
	ASSERT_TRUE(pt_pp_parse(b, 28, &h, &why) == 28 && h.local, "v2 AF_UNSPEC");

	b[13] = 0x12;		/* INET, DGRAM */
	ASSERT_EQ(pt_pp_parse(b, 28, &h, &why), -EINVAL, "v2 UDP refused");
	b[13] = 0x21;		/* INET6 but only 12 address bytes */
	ASSERT_EQ(pt_pp_parse(b, 28, &h, &why), -EINVAL, "v2 short INET6 block");
	b[13] = 0x11;
	b[12] = 0x31;
	ASSERT_EQ(pt_pp_parse(b, 28, &h, &why), -EINVAL, "v2 version 3");
	b[12] = 0x22;
	ASSERT_EQ(pt_pp_parse(b, 28, &h, &why), -EINVAL, "v2 command 2");
	b[12] = 0x21;
	b[14] = 0x10;		/* 4096 + 12 bytes */
	ASSERT_EQ(pt_pp_parse(b, 28, &h, &why), -EINVAL, "v2 longer than PT_PP_MAX");
	b[14] = 0;
	b[3] = 0;
	ASSERT_EQ(pt_pp_parse(b, 28, &h, &why), -EINVAL, "v2 bad signature");
	ASSERT_EQ(pt_pp_parse(b, 3, &h, &why), 0, "v2 signature prefix still valid");
}

/* Find TLV @type in a v2 header; its length or -1. */
static int tlv(const uint8_t *b, ssize_t len, uint8_t type, const uint8_t **v)
{
	ssize_t i = 16 + (b[13] >> 4 == 1 ? 12 : 36);

	while (i + 3 <= len) {
		int n = b[i + 1] << 8 | b[i + 2];

		if (b[i] == type) {
			*v = b + i + 3;
			return n;
		}
		i += 3 + n;
	}
	return -1;
}

static void test_build(void)
{
	struct pt_pp_tlvs t = { .alpn = (const uint8_t *)"h2xx", .alpn_len = 2,
				.authority = "www.example.com", .listener = "front" };
	uint8_t b[512];
	const uint8_t *v;
	struct pt_pp_hdr h;
	const char *why;
	ssize_t n;

	n = pt_pp_build(1, sa(&s1, "192.0.2.7", 1234), sa(&s2, "127.0.0.1", 443), NULL, b, sizeof(b));
	ASSERT_EQ(n, 41, "v1 build length");
	ASSERT_TRUE(!memcmp(b, "PROXY TCP4 192.0.2.7 127.0.0.1 1234 443\r\n", 41), "v1 text");
	n = pt_pp_build(1, sa(&s1, "192.0.2.7", 1234), sa(&s2, "::1", 443), NULL, b, sizeof(b));
	ASSERT_TRUE(n > 0 && !memcmp(b, "PROXY TCP6 ::ffff:192.0.2.7 ::1 1234 443\r\n", (size_t)n),
		    "v1 mixed families become IPv6");
	ASSERT_EQ(pt_pp_build(1, sa(&s1, "192.0.2.7", 1), sa(&s2, "127.0.0.1", 2), NULL, b, 10),
		  -ENOSPC, "v1 no room");

	n = pt_pp_build(2, sa(&s1, "2001:db8::7", 1234), sa(&s2, "2001:db8::1", 443), &t, b,
			sizeof(b));
	ASSERT_EQ(n, 16 + 36 + 5 + 18 + 8, "v2 build length");
	ASSERT_EQ(pt_pp_parse(b, (size_t)n, &h, &why), (int)n, "v2 round trip");
	ASSERT_STREQ(str(&h.src), "[2001:db8::7]:1234", "v2 round trip source");
	ASSERT_STREQ(str(&h.dst), "[2001:db8::1]:443", "v2 round trip destination");
	ASSERT_TRUE(tlv(b, n, PT_PP2_TYPE_ALPN, &v) == 2 && !memcmp(v, "h2", 2), "ALPN TLV");
	ASSERT_TRUE(tlv(b, n, PT_PP2_TYPE_AUTHORITY, &v) == 15 && !memcmp(v, "www.example.com", 15),
		    "authority TLV");
	ASSERT_TRUE(tlv(b, n, PT_PP2_TYPE_LISTENER, &v) == 5 && !memcmp(v, "front", 5),
		    "listener TLV (0xE0)");
	t.authority = "";
	n = pt_pp_build(2, sa(&s1, "192.0.2.7", 1), sa(&s2, "127.0.0.1", 2), &t, b, sizeof(b));
	ASSERT_EQ(tlv(b, n, PT_PP2_TYPE_AUTHORITY, &v), -1, "empty authority left out");
	ASSERT_EQ(pt_pp_build(2, sa(&s1, "192.0.2.7", 1), sa(&s2, "127.0.0.1", 2), &t, b, 30),
		  -ENOSPC, "v2 no room for the TLVs");
}

int main(void)
{
	RUN_TEST(test_v1);
	RUN_TEST(test_v1_bad);
	RUN_TEST(test_v2);
	RUN_TEST(test_build);
	return pt_test_done();
}
