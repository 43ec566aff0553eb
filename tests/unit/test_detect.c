// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * SSH, SOCKS and pattern detectors, pt_detect() priorities, the captured
 * non-TLS first flights (tests/data/flights) and the detect.h helpers.
 */
#include <errno.h>
#include <regex.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect.h"
#include "test.h"
#include "detect-test.h"

static struct pt_fields f;

typedef enum pt_probe (*probe_fn)(const uint8_t *, size_t, bool, struct pt_fields *);

static enum pt_probe run(probe_fn fn, const void *b, size_t n, bool final)
{
	pt_fields_init(&f);
	return fn(b, n, final, &f);
}

/* ---- SSH ---- */

static void test_ssh_banner(void)
{
	const char *id = "SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13\r\n";

	ASSERT_EQ(run(pt_probe_ssh, id, strlen(id), false), PT_PROBE_MATCH, "full line");
	ASSERT_STREQ(f.banner, "OpenSSH_9.6p1", "banner stops at SP");
	ASSERT_EQ(f.proto, PT_PROTO_SSH, "proto");
	ASSERT_EQ(run(pt_probe_ssh, "SSH-2.0-PuTTY_Release_0.80\r\n", 29, false), PT_PROBE_MATCH,
		  "CRLF");
	ASSERT_STREQ(f.banner, "PuTTY_Release_0.80", "banner stops at CR");
	ASSERT_EQ(run(pt_probe_ssh, id, 8, false), PT_PROBE_MATCH, "the prefix decides");
	ASSERT_STREQ(f.banner, "", "nothing of the version yet");
	ASSERT_EQ(run(pt_probe_ssh, id, 12, false), PT_PROBE_MATCH, "partial version");
	ASSERT_STREQ(f.banner, "Open", "as much as is there");
	ASSERT_EQ(run(pt_probe_ssh, "SSH-1.99-Old_1.0\n", 17, false), PT_PROBE_MATCH, "1.99");
	ASSERT_STREQ(f.banner, "Old_1.0", "1.99 banner");
}

static void test_ssh_prefixes(void)
{
	char what[32];

	for (size_t k = 0; k < 8; k++) {
		snprintf(what, sizeof(what), "prefix %zu", k);
		ASSERT_EQ(run(pt_probe_ssh, "SSH-2.0-", k, false), PT_PROBE_AGAIN, what);
	}
	ASSERT_EQ(run(pt_probe_ssh, "SSH-1.9", 7, false), PT_PROBE_AGAIN, "SSH-1.9");
	ASSERT_EQ(run(pt_probe_ssh, "SSH-2.0", 7, true), PT_PROBE_NEXT, "cut at final");
	ASSERT_STRSTR(f.reason, "ssh: truncated identification string", "reason");
	ASSERT_EQ(run(pt_probe_ssh, "SSH-1.5-x", 9, false), PT_PROBE_NEXT, "SSH 1.5");
	ASSERT_STRSTR(f.reason, "ssh: unsupported protocol version", "reason");
	ASSERT_EQ(run(pt_probe_ssh, "SSX", 3, false), PT_PROBE_NEXT, "SSX");
	ASSERT_EQ(run(pt_probe_ssh, "ssh-2.0-", 8, false), PT_PROBE_NEXT, "lower case");
}

static void test_ssh_banner_capped(void)
{
	char id[200];

	memcpy(id, "SSH-2.0-", 8);
	memset(id + 8, 'v', 150);
	memcpy(id + 158, "\r\n", 2);
	ASSERT_EQ(run(pt_probe_ssh, id, 160, false), PT_PROBE_MATCH, "long version");
	ASSERT_EQ(strlen(f.banner), sizeof(f.banner) - 1, "capped");
	memcpy(id + 10, "\x01", 1);
	ASSERT_EQ(run(pt_probe_ssh, id, 160, false), PT_PROBE_MATCH, "control byte");
	ASSERT_STREQ(f.banner, "vv", "stops at a control byte");
}

/* ---- SOCKS ---- */

static void test_socks5(void)
{
	ASSERT_EQ(run(pt_probe_socks5, "\x05\x01\x00", 3, false), PT_PROBE_MATCH, "no auth");
	ASSERT_EQ(f.proto, PT_PROTO_SOCKS5, "proto");
	ASSERT_EQ(run(pt_probe_socks5, "\x05\x03\x00\x02\x80", 5, false), PT_PROBE_MATCH, "3");
	ASSERT_EQ(run(pt_probe_socks5, "\x05", 1, false), PT_PROBE_AGAIN, "version only");
	ASSERT_EQ(run(pt_probe_socks5, "\x05\x02\x00", 3, false), PT_PROBE_AGAIN, "one of two");
	ASSERT_EQ(run(pt_probe_socks5, "\x05\x02\x00", 3, true), PT_PROBE_NEXT, "final");
	ASSERT_STRSTR(f.reason, "socks5: truncated greeting", "reason");
	ASSERT_EQ(run(pt_probe_socks5, "\x05\x00", 2, false), PT_PROBE_NEXT, "no methods");
	ASSERT_STRSTR(f.reason, "socks5: no authentication methods", "reason");
	ASSERT_EQ(run(pt_probe_socks5, "\x05\x02\xff", 3, false), PT_PROBE_NEXT, "0xff early");
	ASSERT_STRSTR(f.reason, "implausible method 0xff", "reason");
	ASSERT_EQ(run(pt_probe_socks5, "\x05\x01\x0a", 3, false), PT_PROBE_NEXT, "0x0a");
	ASSERT_EQ(run(pt_probe_socks5, "\x04\x01", 2, false), PT_PROBE_NEXT, "v4");
	/* A client that does not wait for the method reply is still SOCKS5. */
	ASSERT_EQ(run(pt_probe_socks5, "\x05\x01\x00\x05\x01\x00", 6, false), PT_PROBE_MATCH,
		  "pipelined request");
}

static void test_socks4(void)
{
	static const uint8_t v4[] = {4, 1, 0x01, 0xbb, 192, 0, 2, 10, 'b', 'o', 'b', 0};
	static const uint8_t v4a[] = {4,   1,	0,   80,  0,   0,   0,	 1,   0,   'W', 'w',
				      'w', '.', 'E', 'x', 'a', 'm', 'p', 'l', 'e', 0};
	char what[32];

	ASSERT_EQ(run(pt_probe_socks4, v4, sizeof(v4), false), PT_PROBE_MATCH, "socks4");
	ASSERT_EQ(f.proto, PT_PROTO_SOCKS4, "proto");
	ASSERT_EQ(f.port, 443, "port");
	ASSERT_STREQ(f.host, "192.0.2.10", "dotted ip");
	for (size_t k = 0; k < sizeof(v4); k++) {
		snprintf(what, sizeof(what), "socks4 prefix %zu", k);
		ASSERT_EQ(run(pt_probe_socks4, v4, k, false), PT_PROBE_AGAIN, what);
	}
	ASSERT_EQ(run(pt_probe_socks4, v4a, sizeof(v4a), false), PT_PROBE_MATCH, "socks4a");
	ASSERT_EQ(f.port, 80, "4a port");
	ASSERT_STREQ(f.host, "www.example", "4a host, lower-cased");
	for (size_t k = 0; k < sizeof(v4a); k++) {
		snprintf(what, sizeof(what), "socks4a prefix %zu", k);
		ASSERT_EQ(run(pt_probe_socks4, v4a, k, false), PT_PROBE_AGAIN, what);
	}
	ASSERT_EQ(run(pt_probe_socks4, v4a, sizeof(v4a) - 1, true), PT_PROBE_NEXT, "final");
	ASSERT_STRSTR(f.reason, "socks4: truncated host name", "reason");
	ASSERT_EQ(run(pt_probe_socks4, "\x04\x03", 2, false), PT_PROBE_NEXT, "command 3");
	ASSERT_EQ(run(pt_probe_socks4, "\x05\x01", 2, false), PT_PROBE_NEXT, "v5");
}

static void test_socks4_limits(void)
{
	static uint8_t b[700];
	size_t n;

	memcpy(b, "\x04\x01\x00\x50\x01\x02\x03\x04", 8);
	memset(b + 8, 'u', 255);
	b[8 + 255] = 0;
	ASSERT_EQ(run(pt_probe_socks4, b, 8 + 256, false), PT_PROBE_MATCH, "255-byte user id");
	memset(b + 8, 'u', 256);
	ASSERT_EQ(run(pt_probe_socks4, b, 8 + 256, false), PT_PROBE_NEXT, "256 and no NUL");
	ASSERT_STRSTR(f.reason, "socks4: user id longer than 255 bytes", "reason");
	memcpy(b, "\x04\x01\x00\x50\x00\x00\x00\x09\x00", 9);
	memset(b + 9, 'h', 300);
	ASSERT_EQ(run(pt_probe_socks4, b, 9 + 300, false), PT_PROBE_NEXT, "long 4a host");
	ASSERT_STRSTR(f.reason, "socks4: host name longer than 255 bytes", "reason");
	n = 9;
	memcpy(b + n, "bad host\0", 9);
	ASSERT_EQ(run(pt_probe_socks4, b, n + 9, false), PT_PROBE_NEXT, "invalid 4a host");
	ASSERT_STRSTR(f.reason, "socks4: invalid host name", "reason");
	b[n] = 0;
	ASSERT_EQ(run(pt_probe_socks4, b, n + 1, false), PT_PROBE_NEXT, "empty 4a host");
	/* 0.0.0.0 is not the 4a marker: plain SOCKS4 */
	memcpy(b, "\x04\x01\x00\x50\x00\x00\x00\x00\x00", 9);
	ASSERT_EQ(run(pt_probe_socks4, b, 9, false), PT_PROBE_MATCH, "0.0.0.0");
	ASSERT_STREQ(f.host, "0.0.0.0", "host");
}

/* ---- patterns ---- */

struct pat {
	struct pt_pattern p;
	uint8_t prefix[16];
};

static void pat_init(struct pat *s, const char *name, const void *prefix, size_t plen,
		     const char *re, size_t min_bytes)
{
	memset(s, 0, sizeof(*s));
	s->p.name = (char *)name;
	if (prefix) {
		memcpy(s->prefix, prefix, plen);
		s->p.prefix = s->prefix;
		s->p.prefix_len = plen;
	}
	if (re) {
		s->p.has_regex = !regcomp(&s->p.regex, re, REG_EXTENDED | REG_NOSUB);
		s->p.regex_src = (char *)re;
	}
	s->p.min_bytes = min_bytes;
}

static void pat_free(struct pat *s)
{
	if (s->p.has_regex)
		regfree(&s->p.regex);
}

static enum pt_probe pat(const struct pat *s, const void *b, size_t n, bool final)
{
	pt_fields_init(&f);
	return pt_probe_pattern(&s->p, b, n, final, &f);
}

static void test_pattern_prefix(void)
{
	struct pat s;

	pat_init(&s, "bin", "\x00\x01\x02", 3, NULL, 3);
	ASSERT_EQ(pat(&s, "\x00\x01\x02\x03", 4, false), PT_PROBE_MATCH, "prefix with NULs");
	ASSERT_EQ(f.proto, PT_PROTO_PATTERN, "proto");
	ASSERT_EQ(pat(&s, "\x00\x01", 2, false), PT_PROBE_AGAIN, "shorter");
	ASSERT_EQ(pat(&s, "\x00\x01", 2, true), PT_PROBE_NEXT, "shorter at final");
	ASSERT_EQ(pat(&s, "\x01", 1, false), PT_PROBE_NEXT, "first byte differs");
	ASSERT_EQ(pat(&s, "\x00\x02", 2, false), PT_PROBE_NEXT, "second byte differs");
	ASSERT_EQ(pat(&s, "", 0, false), PT_PROBE_AGAIN, "nothing yet");
}

static void test_pattern_regex(void)
{
	struct pat s;

	/* The README's redis example. */
	pat_init(&s, "redis", "*", 1, "^\\*[0-9]+\r\n\\$", 4);
	if (!ASSERT_TRUE(s.p.has_regex, "regcomp"))
		return;
	ASSERT_EQ(pat(&s, "*1\r\n$4\r\nPING\r\n", 14, false), PT_PROBE_MATCH, "redis");
	ASSERT_EQ(pat(&s, "*1\r", 3, false), PT_PROBE_AGAIN, "below min_bytes");
	ASSERT_EQ(pat(&s, "*1\r", 3, true), PT_PROBE_NEXT, "below min_bytes at final");
	ASSERT_EQ(pat(&s, "*1\r\n", 4, false), PT_PROBE_NEXT, "min_bytes reached, no match");
	ASSERT_STRSTR(f.reason, "pattern redis: regex did not match", "reason");
	ASSERT_EQ(pat(&s, "+OK", 3, false), PT_PROBE_NEXT, "prefix decides first");
	pat_free(&s);

	/* NUL bytes in the window do not end the subject (REG_STARTEND). */
	pat_init(&s, "nul", NULL, 0, "world", 1);
	ASSERT_EQ(pat(&s, "hello\0world", 11, false), PT_PROBE_MATCH, "match after a NUL");
	ASSERT_EQ(pat(&s, "hello\0worl", 10, false), PT_PROBE_NEXT, "no match");
	pat_free(&s);

	/* The regex sees only buf[0..len), not what lies beyond. */
	pat_init(&s, "len", NULL, 0, "^abc$", 10);
	ASSERT_EQ(pat(&s, "abcdef", 3, true), PT_PROBE_MATCH, "bounded by len");
	ASSERT_EQ(pat(&s, "abcdef", 6, false), PT_PROBE_AGAIN, "waits for min_bytes");
	ASSERT_EQ(pat(&s, "abcdef", 6, true), PT_PROBE_NEXT, "final");
	pat_free(&s);
}

/* ---- pt_detect ---- */

static enum pt_probe detect(const struct pat *pats, int n, const void *b, size_t len, bool final)
{
	static struct pt_pattern arr[4];

	for (int i = 0; i < n; i++)
		arr[i] = pats[i].p;
	return pt_detect(arr, n, b, len, final, &f);
}

static void test_detect_pattern_wins(void)
{
	struct pat s[2];
	const char *id = "SSH-2.0-OpenSSH_9.2p1\r\n";

	pat_init(&s[0], "other", "XYZ", 3, NULL, 3);
	pat_init(&s[1], "myssh", "SSH-", 4, NULL, 4);
	ASSERT_EQ(detect(s, 2, id, strlen(id), false), PT_PROBE_MATCH, "match");
	ASSERT_EQ(f.proto, PT_PROTO_PATTERN, "the pattern, not ssh");
	ASSERT_EQ(f.pattern, 1, "pattern index");
	ASSERT_STREQ(f.banner, "", "no ssh fields");
	ASSERT_EQ(detect(s, 1, id, strlen(id), false), PT_PROBE_MATCH, "without it");
	ASSERT_EQ(f.proto, PT_PROTO_SSH, "ssh");
	ASSERT_EQ(f.pattern, -1, "no pattern");
	ASSERT_STREQ(f.banner, "OpenSSH_9.2p1", "banner");
}

static void test_detect_again_blocks(void)
{
	struct pat s;
	const char *id = "SSH-2.0-OpenSSH";

	pat_init(&s, "special", NULL, 0, "^SSH-2\\.0-Special", 30);
	ASSERT_EQ(detect(&s, 1, id, strlen(id), false), PT_PROBE_AGAIN,
		  "an undecided pattern holds back ssh");
	ASSERT_EQ(f.proto, PT_PROTO_NONE, "nothing yet");
	ASSERT_EQ(detect(&s, 1, id, strlen(id), true), PT_PROBE_MATCH, "final");
	ASSERT_EQ(f.proto, PT_PROTO_SSH, "ssh at final");
	pat_free(&s);
	/* The built-in signatures do not overlap; a cut h2 preface just waits. */
	ASSERT_EQ(detect(NULL, 0, "PRI * HTTP/2.0\r\n", 16, false), PT_PROBE_AGAIN, "h2 waits");
	ASSERT_EQ(detect(NULL, 0, "PRI * HTTP/2.0\r\n", 16, true), PT_PROBE_NEXT, "h2 final");
	ASSERT_STRSTR(f.reason, "http2: truncated preface", "reason");
}

static void test_detect_unknown(void)
{
	struct pat s;

	ASSERT_EQ(detect(NULL, 0, "\x00\x00garbage", 9, false), PT_PROBE_NEXT, "garbage");
	ASSERT_EQ(f.proto, PT_PROTO_UNKNOWN, "unknown");
	ASSERT_STRSTR(f.reason, "no detector recognised", "generic reason");
	ASSERT_EQ(detect(NULL, 0, "", 0, false), PT_PROBE_AGAIN, "empty waits");
	ASSERT_EQ(detect(NULL, 0, "", 0, true), PT_PROBE_NEXT, "empty at final");
	ASSERT_STREQ(f.reason, "no bytes", "reason");
	ASSERT_EQ(f.proto, PT_PROTO_UNKNOWN, "unknown");
	pat_init(&s, "foo", "\x00", 1, "^\\x00foo", 2);
	ASSERT_EQ(detect(&s, 1, "\x00\x00garbage", 9, false), PT_PROBE_NEXT, "pattern said no");
	ASSERT_STRSTR(f.reason, "pattern foo", "the pattern's reason when nobody else has one");
	pat_free(&s);
	/* A built-in's reason beats a pattern's. */
	pat_init(&s, "tlsish", "\x16", 1, "^\x16\x03\x09", 3);
	ASSERT_EQ(detect(&s, 1, "\x16\x03\x01\x00\x00", 5, false), PT_PROBE_NEXT, "bad TLS");
	ASSERT_STRSTR(f.reason, "tls: empty handshake record", "tls reason");
	pat_free(&s);
	ASSERT_EQ(detect(NULL, 0, "\x05\x01\xff", 3, false), PT_PROBE_NEXT, "bad socks5");
	ASSERT_STRSTR(f.reason, "socks5: implausible method", "socks5 reason");
}

/* ---- captured first flights ---- */

struct flight {
	char file[64];
	char proto[16];
	char kv[4][128];
	int n_kv;
};

static const char *kv_get(const struct flight *fl, const char *key)
{
	size_t n = strlen(key);

	for (int i = 0; i < fl->n_kv; i++)
		if (!strncmp(fl->kv[i], key, n) && fl->kv[i][n] == '=')
			return fl->kv[i] + n + 1;
	return NULL;
}

static void check_flight(const struct flight *fl, const uint8_t *b, size_t len)
{
	const char *v;

	if (!ASSERT_EQ(detect(NULL, 0, b, len, false), PT_PROBE_MATCH, fl->file))
		return;
	ASSERT_STREQ(pt_proto_name(f.proto), fl->proto, fl->file);
	v = kv_get(fl, "host");
	if (v)
		ASSERT_STREQ(f.host, v, fl->file);
	v = kv_get(fl, "port");
	if (v)
		ASSERT_EQ(f.port, atoi(v), fl->file);
	v = kv_get(fl, "banner");
	if (v)
		ASSERT_STREQ(f.banner, v, fl->file);
	v = kv_get(fl, "method");
	if (v)
		ASSERT_STREQ(f.method, v, fl->file);
	v = kv_get(fl, "path");
	if (v)
		ASSERT_STREQ(f.path, v, fl->file);
}

/* Every prefix waits or already matches the same protocol; none says no. */
static void check_flight_prefixes(const struct flight *fl, const uint8_t *b, size_t len)
{
	enum pt_probe v;
	bool matched = false;
	char what[96];

	for (size_t k = 0; k <= len; k++) {
		v = detect(NULL, 0, b, k, false);
		snprintf(what, sizeof(what), "%s prefix %zu: %s", fl->file, k, probe_name(v));
		if (matched && !ASSERT_EQ(v, PT_PROBE_MATCH, what))
			return;
		if (!ASSERT_NE(v, PT_PROBE_NEXT, what))
			return;
		if (v == PT_PROBE_MATCH && !ASSERT_STREQ(pt_proto_name(f.proto), fl->proto, what))
			return;
		matched = v == PT_PROBE_MATCH;
	}
}

static void test_captured_flights(void)
{
	static uint8_t buf[4096];
	char line[512];
	struct flight fl;
	FILE *fp = open_manifest("flights");
	int n_files = 0;
	long len;

	if (!ASSERT_TRUE(fp, "flights manifest"))
		return;
	while (fgets(line, sizeof(line), fp)) {
		memset(&fl, 0, sizeof(fl));
		fl.n_kv = sscanf(line, "%63s %15s %127s %127s %127s %127s", fl.file, fl.proto,
				 fl.kv[0], fl.kv[1], fl.kv[2], fl.kv[3]) -
			  2;
		if (fl.n_kv < 0)
			continue;
		len = load_file("flights", fl.file, buf, sizeof(buf));
		if (!ASSERT_TRUE(len > 0, fl.file))
			continue;
		n_files++;
		check_flight(&fl, buf, len);
		check_flight_prefixes(&fl, buf, len);
	}
	fclose(fp);
	ASSERT_TRUE(n_files >= 6, "every captured flight checked");
}

/* ---- helpers ---- */

static void test_proto_names(void)
{
	static const char *const names[] = {"none", "unknown", "tls",	 "http",   "http2",
					    "ssh",  "socks4",  "socks5", "pattern"};

	for (int i = 0; i < PT_PROTO_MAX; i++) {
		ASSERT_STREQ(pt_proto_name(i), names[i], names[i]);
		ASSERT_EQ(pt_proto_from_name(names[i]), i, names[i]);
	}
	ASSERT_EQ(pt_proto_from_name("ftp"), -1, "unknown name");
	ASSERT_EQ(pt_proto_from_name("TLS"), -1, "names are lower-case");
	ASSERT_STREQ(pt_proto_name(PT_PROTO_MAX), "invalid", "out of range");
}

static void test_fields_init(void)
{
	memset(&f, 0x55, sizeof(f));
	pt_fields_init(&f);
	ASSERT_EQ(f.proto, PT_PROTO_NONE, "proto");
	ASSERT_EQ(f.pattern, -1, "pattern");
	ASSERT_STREQ(f.sni, "", "sni");
	ASSERT_EQ(f.alpn_len, 0, "alpn");
	ASSERT_STREQ(f.reason, "", "reason");
}

static void test_alpn_helpers(void)
{
	static const uint8_t wire[] = "\x02"
				      "h2\x08"
				      "http/1.1\x03"
				      "a,b\x02\x01\xff";
	char out[64];

	pt_fields_init(&f);
	memcpy(f.alpn, wire, sizeof(wire) - 1);
	f.alpn_len = sizeof(wire) - 1;
	ASSERT_TRUE(pt_fields_has_alpn(&f, "h2"), "h2");
	ASSERT_TRUE(pt_fields_has_alpn(&f, "http/1.1"), "http/1.1");
	ASSERT_FALSE(pt_fields_has_alpn(&f, "http/1"), "prefix is not a match");
	ASSERT_FALSE(pt_fields_has_alpn(&f, "H2"), "case-sensitive");
	ASSERT_FALSE(pt_fields_has_alpn(&f, ""), "empty");
	pt_fields_alpn_str(&f, out, sizeof(out));
	ASSERT_STREQ(out, "h2,http/1.1,a\\x2cb,\\x01\\xff", "escaped");
	pt_fields_alpn_str(&f, out, 8);
	ASSERT_STREQ(out, "h2,http", "truncated, terminated");
	pt_fields_alpn_str(&f, out, 14);
	ASSERT_STREQ(out, "h2,http/1.1,a", "no half escape");
	f.alpn_len = 0;
	pt_fields_alpn_str(&f, out, sizeof(out));
	ASSERT_STREQ(out, "", "none");
	/* A corrupt list never reads past alpn_len. */
	memcpy(f.alpn, "\x09h2", 3);
	f.alpn_len = 3;
	ASSERT_FALSE(pt_fields_has_alpn(&f, "h2"), "overrun entry ignored");
	pt_fields_alpn_str(&f, out, sizeof(out));
	ASSERT_STREQ(out, "", "overrun entry not printed");
}

static void test_hostname_validation(void)
{
	static const char *const good[] = {"a",
					   "example.com",
					   "A-B.example",
					   "xn--bcher-kva.example",
					   "_acme-challenge.example",
					   "1.2.3.4",
					   "a_b.c"};
	static const char *const bad[] = {"",	  ".",		"example.com.", ".example",
					  "a..b", "-a.example", "a-.example",	"a b",
					  "a*b",  "*.example",	"exa/mple",	"h\xc3\xa9.example",
					  "a:80"};
	char label[80], name[300], out[PT_NAME_MAX + 1];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ASSERT_TRUE(pt_is_valid_hostname(good[i], strlen(good[i])), good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ASSERT_FALSE(pt_is_valid_hostname(bad[i], strlen(bad[i])), bad[i]);
	ASSERT_FALSE(pt_is_valid_hostname("a\0b", 3), "NUL");
	memset(label, 'l', 64);
	ASSERT_TRUE(pt_is_valid_hostname(label, 63), "63-byte label");
	ASSERT_FALSE(pt_is_valid_hostname(label, 64), "64-byte label");
	for (int i = 0; i < 300; i++)
		name[i] = i % 50 == 49 ? '.' : 'n';
	ASSERT_TRUE(pt_is_valid_hostname(name, 253), "253 bytes");
	ASSERT_FALSE(pt_is_valid_hostname(name, 254), "254 bytes");
	ASSERT_EQ(pt_hostname_copy(out, "MiXeD.Example", 13), 0, "copy");
	ASSERT_STREQ(out, "mixed.example", "lower-cased");
	strcpy(out, "untouched");
	ASSERT_EQ(pt_hostname_copy(out, "bad host", 8), -EINVAL, "invalid");
	ASSERT_STREQ(out, "untouched", "dst untouched");
}

int main(void)
{
	RUN_TEST(test_ssh_banner);
	RUN_TEST(test_ssh_prefixes);
	RUN_TEST(test_ssh_banner_capped);
	RUN_TEST(test_socks5);
	RUN_TEST(test_socks4);
	RUN_TEST(test_socks4_limits);
	RUN_TEST(test_pattern_prefix);
	RUN_TEST(test_pattern_regex);
	RUN_TEST(test_detect_pattern_wins);
	RUN_TEST(test_detect_again_blocks);
	RUN_TEST(test_detect_unknown);
	RUN_TEST(test_captured_flights);
	RUN_TEST(test_proto_names);
	RUN_TEST(test_fields_init);
	RUN_TEST(test_alpn_helpers);
	RUN_TEST(test_hostname_validation);
	return pt_test_done();
}
