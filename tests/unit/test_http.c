// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The HTTP/1.x and HTTP/2-preface detectors: request-line forms, Host
 * variants, when the verdict may be given, and what is refused.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "detect.h"
#include "test.h"
#include "detect-test.h"

static struct pt_fields f;

static enum pt_probe http_n(const char *s, size_t n, bool final)
{
	pt_fields_init(&f);
	return pt_probe_http((const uint8_t *)s, n, final, &f);
}

static enum pt_probe http(const char *s, bool final)
{
	return http_n(s, strlen(s), final);
}

/* MATCH, then method/host/path as given. */
static void expect_http(const char *req, const char *method, const char *host, const char *path)
{
	if (!ASSERT_EQ(http(req, false), PT_PROBE_MATCH, req)) {
		fprintf(stderr, "    reason: %s\n", f.reason);
		return;
	}
	ASSERT_EQ(f.proto, PT_PROTO_HTTP, "proto");
	ASSERT_STREQ(f.method, method, "method");
	ASSERT_STREQ(f.host, host, "host");
	ASSERT_STREQ(f.path, path, "path");
	ASSERT_FALSE(f.path_truncated, "not truncated");
}

static void expect_next(const char *req, bool final, const char *reason)
{
	if (!ASSERT_EQ(http(req, final), PT_PROBE_NEXT, req))
		return;
	if (reason)
		ASSERT_STRSTR(f.reason, reason, "reason");
}

static void test_basic_get(void)
{
	expect_http("GET /index.html HTTP/1.1\r\nHost: www.example.com\r\n\r\n", "GET",
		    "www.example.com", "/index.html");
	expect_http(
		"POST /api/v1/x?y=1&z HTTP/1.1\r\nHost: api.example\r\nContent-Length: 0\r\n\r\n",
		"POST", "api.example", "/api/v1/x?y=1&z");
	expect_http("PROPFIND /dav/ HTTP/1.1\r\nHost: dav.example\r\n\r\n", "PROPFIND",
		    "dav.example", "/dav/");
}

static void test_host_variants(void)
{
	expect_http("GET / HTTP/1.1\r\nHost: Web.Example:8080\r\n\r\n", "GET", "web.example", "/");
	expect_http("GET / HTTP/1.1\r\nhost: lower.example\r\n\r\n", "GET", "lower.example", "/");
	expect_http("GET / HTTP/1.1\r\nHOST:\t  tabs.example \t\r\n\r\n", "GET", "tabs.example",
		    "/");
	expect_http("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", "GET", "::1", "/");
	expect_http("GET / HTTP/1.1\r\nHost: [2001:DB8::1]\r\n\r\n", "GET", "2001:db8::1", "/");
	expect_http("GET / HTTP/1.1\r\nHost: 192.0.2.7:80\r\n\r\n", "GET", "192.0.2.7", "/");
	expect_http("GET / HTTP/1.1\r\nHost: dot.example.\r\n\r\n", "GET", "dot.example", "/");
	expect_http("GET / HTTP/1.1\r\nHost: empty-port.example:\r\n\r\n", "GET",
		    "empty-port.example", "/");
	expect_http("GET / HTTP/1.1\r\nHost:\r\n\r\n", "GET", "", "/");
	/* Other headers first, one of them folded (obs-fold). */
	expect_http(
		"GET / HTTP/1.1\r\nUser-Agent: x\r\nX-Long: a\r\n  b\r\nHost: late.example\r\n\r\n",
		"GET", "late.example", "/");
	/* Bare LF line ends. */
	expect_http("GET /lf HTTP/1.1\nHost: lf.example\n\n", "GET", "lf.example", "/lf");
}

static void test_bad_host(void)
{
	expect_next("GET / HTTP/1.1\r\nHost: bad host.example\r\n\r\n", false,
		    "http: invalid Host");
	expect_next("GET / HTTP/1.1\r\nHost: a..example\r\n\r\n", false, "invalid Host");
	expect_next("GET / HTTP/1.1\r\nHost: a.example:http\r\n\r\n", false, "invalid Host");
	expect_next("GET / HTTP/1.1\r\nHost: a.example:99999\r\n\r\n", false, "invalid Host");
	expect_next("GET / HTTP/1.1\r\nHost: [::g]:80\r\n\r\n", false, "invalid Host");
	expect_next("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", false, "invalid Host");
	expect_next("GET / HTTP/1.1\r\nHost: user@a.example\r\n\r\n", false, "invalid Host");
}

static void test_absolute_form(void)
{
	expect_http("GET http://Proxy.Example:8080/a/b?c=d HTTP/1.1\r\nHost: proxy.example\r\n\r\n",
		    "GET", "proxy.example", "/a/b?c=d");
	expect_http("GET https://user:pw@secure.example/x HTTP/1.1\r\n\r\n", "GET",
		    "secure.example", "/x");
	expect_http("GET http://bare.example HTTP/1.1\r\n\r\n", "GET", "bare.example", "/");
	expect_http("GET http://q.example?x=1 HTTP/1.1\r\n\r\n", "GET", "q.example", "/?x=1");
	expect_http("GET http://[::1]:81/v6 HTTP/1.1\r\n\r\n", "GET", "::1", "/v6");
	expect_next("GET http:///nohost HTTP/1.1\r\n\r\n", false, "http: bad request target");
	expect_next("GET 1http://x.example/ HTTP/1.1\r\n\r\n", false, "bad request target");
	expect_next("GET example.com HTTP/1.1\r\n\r\n", false, "bad request target");
}

static void test_connect_and_asterisk(void)
{
	expect_http("CONNECT Tunnel.Example:443 HTTP/1.1\r\n\r\n", "CONNECT", "tunnel.example",
		    "");
	expect_http("CONNECT [2001:db8::2]:443 HTTP/1.1\r\nHost: [2001:db8::2]:443\r\n\r\n",
		    "CONNECT", "2001:db8::2", "");
	expect_next("CONNECT [2001:db8::2]:443 HTTP/1.1\r\nHost: x\r\n\r\n", false,
		    "http: Host disagrees with the request target");
	expect_next("CONNECT /path HTTP/1.1\r\n\r\n", false, "bad request target");
	expect_http("OPTIONS * HTTP/1.1\r\nHost: opt.example\r\n\r\n", "OPTIONS", "opt.example",
		    "*");
}

static void test_http10_without_host(void)
{
	const char *req = "GET /old HTTP/1.0\r\nUser-Agent: x\r\n\r\n";
	size_t n = strlen(req);

	expect_http(req, "GET", "", "/old");
	/* Only the blank line decides: every shorter window waits. */
	for (size_t k = 0; k < n; k++)
		if (!ASSERT_EQ(http_n(req, k, false), PT_PROBE_AGAIN, "prefix"))
			return;
	ASSERT_EQ(http_n(req, n - 2, true), PT_PROBE_NEXT, "no blank line at final");
	ASSERT_STRSTR(f.reason, "http: truncated headers", "reason");
}

/*
 * The end of the head decides, not the Host line: a second Host could
 * follow. At final (deadline, full window) a cut head with one Host matches.
 */
static void test_split_headers(void)
{
	const char *req =
		"GET /p HTTP/1.1\r\nAccept: */*\r\nHost: split.example\r\nCookie: a=b\r\n\r\n";
	size_t host_end = strstr(req, "split.example\r\n") - req + strlen("split.example\r\n");
	size_t n = strlen(req);
	char what[32];

	for (size_t k = 0; k <= n; k++) {
		enum pt_probe want = k < n ? PT_PROBE_AGAIN : PT_PROBE_MATCH;

		snprintf(what, sizeof(what), "prefix %zu", k);
		if (!ASSERT_EQ(http_n(req, k, false), want, what))
			return;
		if (want == PT_PROBE_MATCH)
			ASSERT_STREQ(f.host, "split.example", what);
	}
	ASSERT_EQ(http_n(req, host_end - 1, true), PT_PROBE_NEXT, "Host line cut at final");
	ASSERT_EQ(http_n(req, host_end, true), PT_PROBE_MATCH, "Host line whole at final");
	ASSERT_STREQ(f.host, "split.example", "host at final");
}

/* Two Host lines, or a Host that names another host than the target: unknown. */
static void test_host_smuggling(void)
{
	expect_next("GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n", false,
		    "http: more than one Host header");
	expect_next("GET / HTTP/1.1\r\nHost: a.example\r\nX: y\r\nhost: a.example\r\n\r\n",
		    false, "http: more than one Host header");
	expect_next("GET http://a.example/ HTTP/1.1\r\nHost: b.example\r\n\r\n", false,
		    "http: Host disagrees with the request target");
	expect_next("GET http://a.example/ HTTP/1.1\r\nHost: a.example\r\nHost: a.example\r\n\r\n",
		    false, "http: more than one Host header");
	/* The same host, another port or case: one host. */
	expect_http("GET http://a.example:8080/x HTTP/1.1\r\nHost: A.Example\r\n\r\n", "GET",
		    "a.example", "/x");
	/* A second Host after the first stays AGAIN until the head ends. */
	ASSERT_EQ(http("GET / HTTP/1.1\r\nHost: a.example\r\n", false), PT_PROBE_AGAIN,
		  "one Host, head open");
}

/* path_prefix sees the normalised path; the log keeps what was sent. */
static void test_normalised_path(void)
{
	static const char *const cases[][2] = {
		{"/admin", "/admin"},
		{"//admin", "/admin"},
		{"/%61dmin", "/admin"},
		{"/%2e/admin", "/admin"},
		{"/x/../admin", "/admin"},
		{"/x/%2E%2E/admin", "/admin"},
		{"/./admin/.", "/admin/"},
		{"/a/b/..", "/a/"},
		{"/../../admin", "/admin"},
		{"///", "/"},
		{"/a//b/", "/a/b/"},
		{"/a%2fb", "/a%2Fb"},
		{"/a%zz", "/a%zz"},
		{"/a%4", "/a%4"},
		{"/%7e/%41", "/~/A"},
		{"/a/../b?x=/../y", "/b?x=/../y"},
		{"/..?q", "/?q"},
	};
	char req[256], out[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ASSERT_EQ(pt_path_normalise(cases[i][0], strlen(cases[i][0]), out),
			  strlen(cases[i][1]), cases[i][0]);
		ASSERT_STREQ(out, cases[i][1], cases[i][0]);
		snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: n.example\r\n\r\n",
			 cases[i][0]);
		if (!ASSERT_EQ(http(req, false), PT_PROBE_MATCH, req))
			continue;
		ASSERT_STREQ(f.path, cases[i][0], "path as sent");
		ASSERT_STREQ(f.npath, cases[i][1], "npath");
	}
	expect_http("GET http://a.example//x/../admin HTTP/1.1\r\n\r\n", "GET", "a.example",
		    "//x/../admin");
	ASSERT_STREQ(f.npath, "/admin", "absolute-form npath");
	expect_http("OPTIONS * HTTP/1.1\r\nHost: o.example\r\n\r\n", "OPTIONS", "o.example",
		    "*");
	ASSERT_STREQ(f.npath, "*", "asterisk npath");
}

/* A ".." past PT_PATH_MAX still counts: the whole path is normalised, then cut. */
static void test_normalised_long_path(void)
{
	static char req[2048];
	int n;

	n = snprintf(req, sizeof(req), "GET /public/");
	memset(req + n, 'a', 600);
	n += 600;
	n += snprintf(req + n, sizeof(req) - n, "/../../admin HTTP/1.1\r\nHost: l.example\r\n\r\n");
	if (!ASSERT_EQ(http(req, false), PT_PROBE_MATCH, "long path"))
		return;
	ASSERT_TRUE(f.path_truncated, "path cut for the log");
	ASSERT_STREQ(f.npath, "/admin", "npath resolved over the whole path");
}

static void test_method_decides_early(void)
{
	ASSERT_EQ(http_n("F", 1, false), PT_PROBE_NEXT, "F");
	ASSERT_EQ(http_n("G", 1, false), PT_PROBE_AGAIN, "G");
	ASSERT_EQ(http_n("GE", 2, false), PT_PROBE_AGAIN, "GE");
	ASSERT_EQ(http_n("GET", 3, false), PT_PROBE_AGAIN, "GET");
	ASSERT_EQ(http_n("GEX", 3, false), PT_PROBE_NEXT, "GEX");
	ASSERT_EQ(http_n("GETX", 4, false), PT_PROBE_NEXT, "GETX");
	ASSERT_EQ(http_n("GET", 3, true), PT_PROBE_NEXT, "GET at final");
	ASSERT_EQ(http_n("", 0, false), PT_PROBE_AGAIN, "nothing yet");
	ASSERT_EQ(http_n("\x16\x03", 2, false), PT_PROBE_NEXT, "TLS");
	expect_next("FOO / HTTP/1.1\r\nHost: a\r\n\r\n", false, NULL);
	expect_next("get / HTTP/1.1\r\nHost: a\r\n\r\n", false, NULL);
	ASSERT_STREQ(f.reason, "", "a foreign signature leaves no reason");
	expect_next("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", false, NULL);
}

static void test_bad_request_line(void)
{
	expect_next("GET / HTTP/2.0\r\nHost: a\r\n\r\n", false, "http: bad HTTP version");
	expect_next("GET / FTP", false, "bad HTTP version");
	expect_next("GET / HTTP/1.1 \r\n", false, "bad HTTP version");
	expect_next("GET / HTTP/1.x\r\n", false, "bad HTTP version");
	expect_next("GET /\r\n", false, "bad character in request target");
	expect_next("GET /a\x01 HTTP/1.1\r\n", false, "bad character in request target");
	expect_next("GET  / HTTP/1.1\r\n", false, "empty request target");
	expect_next("GET / HTTP/1.1\r\nNoColonHere\r\n\r\n", false, "bad header line");
	expect_next("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", false, "bad header name");
	expect_next("GET / HTTP/1.1\r\n: x\r\n\r\n", false, "bad header line");
}

static void test_long_request_line(void)
{
	static char req[8192];

	memcpy(req, "GET /", 5);
	memset(req + 5, 'a', sizeof(req) - 6);
	req[sizeof(req) - 1] = '\0';
	ASSERT_EQ(http(req, false), PT_PROBE_AGAIN, "long request line waits");
	ASSERT_EQ(http(req, true), PT_PROBE_NEXT, "long request line at final");
	ASSERT_STRSTR(f.reason, "http: truncated request line", "reason");
}

static void test_path_truncated(void)
{
	static char req[1024];
	int n;

	n = snprintf(req, sizeof(req), "GET /");
	memset(req + n, 'p', 400);
	n += 400;
	snprintf(req + n, sizeof(req) - n, " HTTP/1.1\r\nHost: long.example\r\n\r\n");
	if (!ASSERT_EQ(http(req, false), PT_PROBE_MATCH, "match"))
		return;
	ASSERT_TRUE(f.path_truncated, "path_truncated");
	ASSERT_EQ(strlen(f.path), PT_PATH_MAX - 1, "kept length");
	ASSERT_TRUE(!strncmp(f.path, req + 4, PT_PATH_MAX - 1), "kept bytes");
	ASSERT_STREQ(f.host, "long.example", "host");
	/* Exactly PT_PATH_MAX - 1 is not truncated. */
	n = snprintf(req, sizeof(req), "GET /");
	memset(req + n, 'q', PT_PATH_MAX - 2);
	n += PT_PATH_MAX - 2;
	snprintf(req + n, sizeof(req) - n, " HTTP/1.1\r\nHost: a\r\n\r\n");
	ASSERT_EQ(http(req, false), PT_PROBE_MATCH, "match");
	ASSERT_FALSE(f.path_truncated, "255 bytes fit");
	ASSERT_EQ(strlen(f.path), PT_PATH_MAX - 1, "length");
}

static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

static void test_http2_preface(void)
{
	struct pt_fields g;
	uint8_t buf[64];
	char what[32];

	memcpy(buf, preface, 24);
	memcpy(buf + 24, "\x00\x00\x00\x04\x00\x00\x00\x00\x00", 9); /* empty SETTINGS */
	for (size_t k = 0; k < 24; k++) {
		snprintf(what, sizeof(what), "prefix %zu", k);
		pt_fields_init(&g);
		ASSERT_EQ(pt_probe_http2(buf, k, false, &g), PT_PROBE_AGAIN, what);
		ASSERT_EQ(pt_detect(NULL, 0, buf, k, false, &g), PT_PROBE_AGAIN, what);
		if (k) {
			ASSERT_EQ(pt_probe_http2(buf, k, true, &g), PT_PROBE_NEXT, what);
			ASSERT_STRSTR(g.reason, "http2: truncated preface", what);
		}
	}
	ASSERT_EQ(pt_probe_http2(buf, 24, false, &g), PT_PROBE_MATCH, "preface");
	ASSERT_EQ(pt_detect(NULL, 0, buf, 33, false, &g), PT_PROBE_MATCH, "preface + SETTINGS");
	ASSERT_EQ(g.proto, PT_PROTO_HTTP2, "proto");
	memcpy(buf, "PRI * HTTP/1.1\r\n", 16);
	ASSERT_EQ(pt_probe_http2(buf, 16, false, &g), PT_PROBE_NEXT, "not the preface");
	ASSERT_EQ(pt_detect(NULL, 0, buf, 16, false, &g), PT_PROBE_NEXT, "nobody's");
	ASSERT_EQ(g.proto, PT_PROTO_UNKNOWN, "unknown");
}

/* Prefixes shared by h2 and HTTP/1 methods wait for the byte that decides. */
static void test_pt_detect_http(void)
{
	struct pt_fields g;
	const char *post = "POST /form HTTP/1.1\r\nHost: form.example\r\n\r\n";

	ASSERT_EQ(pt_detect(NULL, 0, (const uint8_t *)"P", 1, false, &g), PT_PROBE_AGAIN, "P");
	ASSERT_EQ(pt_detect(NULL, 0, (const uint8_t *)"PR", 2, false, &g), PT_PROBE_AGAIN, "PR");
	ASSERT_EQ(pt_detect(NULL, 0, (const uint8_t *)post, strlen(post), false, &g),
		  PT_PROBE_MATCH, "POST");
	ASSERT_EQ(g.proto, PT_PROTO_HTTP, "proto");
	ASSERT_STREQ(g.host, "form.example", "host");
	ASSERT_EQ(pt_detect(NULL, 0, (const uint8_t *)"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 28,
			    true, &g),
		  PT_PROBE_NEXT, "bad Host");
	ASSERT_STRSTR(g.reason, "http: invalid Host", "reason passed on");
	ASSERT_STREQ(g.host, "", "no host reported");
}

int main(void)
{
	RUN_TEST(test_basic_get);
	RUN_TEST(test_host_variants);
	RUN_TEST(test_bad_host);
	RUN_TEST(test_absolute_form);
	RUN_TEST(test_connect_and_asterisk);
	RUN_TEST(test_http10_without_host);
	RUN_TEST(test_split_headers);
	RUN_TEST(test_host_smuggling);
	RUN_TEST(test_normalised_path);
	RUN_TEST(test_normalised_long_path);
	RUN_TEST(test_method_decides_early);
	RUN_TEST(test_bad_request_line);
	RUN_TEST(test_long_request_line);
	RUN_TEST(test_path_truncated);
	RUN_TEST(test_http2_preface);
	RUN_TEST(test_pt_detect_http);
	return pt_test_done();
}
