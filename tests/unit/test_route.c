// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Routing (route.c) over configs built by the real parser: server name
 * wildcards, first match wins, TLS SNI/ALPN/JA4, HTTP Host/path, every
 * protocol and pattern, client CIDRs (IPv4, IPv6, IPv4-mapped), what can
 * be decided before detection ends (PENDING), fallback routes and no match.
 */
#include <stdarg.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "config.h"
#include "route.h"
#include "test.h"

/*
 * Routes are written in JSON with single quotes (turned into double quotes
 * before parsing), one macro per route.
 */
#define R(name, match)	    "{'name': '" name "', 'match': {" match "}, 'forward': '127.0.0.1:2'}"
#define ANY(name)	    "{'name': '" name "', 'forward': '127.0.0.1:2'}"
#define REJECT(name, match) "{'name': '" name "', 'match': {" match "}, 'reject': true}"

static struct sockaddr_storage ss_buf;

static const struct sockaddr *peer(const char *ip)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss_buf;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss_buf;

	memset(&ss_buf, 0, sizeof(ss_buf));
	if (strchr(ip, ':')) {
		sin6->sin6_family = AF_INET6;
		inet_pton(AF_INET6, ip, &sin6->sin6_addr);
	} else {
		sin->sin_family = AF_INET;
		inet_pton(AF_INET, ip, &sin->sin_addr);
	}
	return (const struct sockaddr *)&ss_buf;
}

/* A config with one listener whose routes are the NULL-terminated R()s after @patterns. */
static struct pt_config *parse_routes(const char *patterns, ...)
{
	char text[4096];
	struct pt_config *cfg;
	const char *r;
	size_t len;
	va_list ap;

	len = snprintf(text, sizeof(text),
		       "{%s%s%s 'listeners': [{'name': 'l', 'listen': '127.0.0.1:1', 'routes': [",
		       patterns ? "'patterns': [" : "", patterns ? patterns : "",
		       patterns ? "]," : "");
	va_start(ap, patterns);
	for (int i = 0; (r = va_arg(ap, const char *)); i++)
		len += snprintf(text + len, sizeof(text) - len, "%s%s", i ? ", " : "", r);
	va_end(ap);
	snprintf(text + len, sizeof(text) - len, "]}]}");
	for (char *p = text; *p; p++)
		if (*p == '\'')
			*p = '"';
	cfg = pt_config_parse("route-test.json", text, NULL, stderr);
	ASSERT_TRUE(cfg, "config parses");
	return cfg;
}

static struct pt_fields fields_buf;

static const struct pt_fields *fields(enum pt_proto proto)
{
	pt_fields_init(&fields_buf);
	fields_buf.proto = proto;
	return &fields_buf;
}

static const struct pt_fields *tls(const char *sni, const char *alpn_csv)
{
	struct pt_fields *f = (struct pt_fields *)fields(PT_PROTO_TLS);
	const char *p = alpn_csv;

	snprintf(f->sni, sizeof(f->sni), "%s", sni);
	/* "h2,http/1.1" into the wire format: length byte, then the name */
	while (p && *p) {
		size_t n = strcspn(p, ",");

		f->alpn[f->alpn_len++] = (uint8_t)n;
		memcpy(f->alpn + f->alpn_len, p, n);
		f->alpn_len += n;
		p += n + (p[n] == ',');
	}
	return f;
}

static const struct pt_fields *http(const char *host, const char *path)
{
	struct pt_fields *f = (struct pt_fields *)fields(PT_PROTO_HTTP);

	snprintf(f->host, sizeof(f->host), "%s", host);
	snprintf(f->path, sizeof(f->path), "%s", path);
	pt_path_normalise(path, strlen(path), f->npath);
	snprintf(f->method, sizeof(f->method), "GET");
	return f;
}

/* The route chosen after detection, by name; "(none)" or "(pending)" otherwise. */
static const char *route_of(const struct pt_config *cfg, const char *ip, const struct pt_fields *f,
			    bool done)
{
	const struct pt_listener_cfg *l = &cfg->listeners[0];
	int idx = -7;

	switch (pt_route_select(l, peer(ip), NULL, NULL, f, done, &idx)) {
	case PT_ROUTE_FOUND:
		if (idx < 0 || idx >= l->n_routes)
			return "(bad index)";
		return l->routes[idx].name;
	case PT_ROUTE_PENDING:
		return idx == -7 ? "(pending)" : "(pending, index written)";
	case PT_ROUTE_NONE:
		return idx == -7 ? "(none)" : "(none, index written)";
	}
	return "(bad result)";
}

static void test_name_match(void)
{
	ASSERT_TRUE(pt_name_match("a.example", "a.example"), "exact");
	ASSERT_FALSE(pt_name_match("a.example", "b.example"), "other name");
	ASSERT_FALSE(pt_name_match("a.example", "x.a.example"), "exact takes no subdomain");
	ASSERT_FALSE(pt_name_match("a.example", "A.example"), "case-sensitive (both sides lower)");
	ASSERT_TRUE(pt_name_match("*.example.com", "a.example.com"), "wildcard, one label");
	ASSERT_TRUE(pt_name_match("*.example.com", "a.b.example.com"), "wildcard, two labels");
	ASSERT_FALSE(pt_name_match("*.example.com", "example.com"), "wildcard needs a label");
	ASSERT_FALSE(pt_name_match("*.example.com", ".example.com"), "nor an empty label");
	ASSERT_FALSE(pt_name_match("*.example.com", "xexample.com"), "suffix at a dot only");
	ASSERT_FALSE(pt_name_match("*.example.com", "a.example.com.evil"), "suffix, not infix");
	ASSERT_FALSE(pt_name_match("*.example.com", ""), "empty name");
	ASSERT_FALSE(pt_name_match("*.example.com", "a.example.co"), "shorter suffix");
	ASSERT_FALSE(pt_name_match("*", "a.example"), "a lone * is a literal");
	ASSERT_TRUE(pt_name_match("*", "*"), "and matches itself only");
	ASSERT_FALSE(pt_name_match("*example.com", "aexample.com"), "*x is a literal");
	ASSERT_FALSE(pt_name_match("", "a"), "empty pattern");
	ASSERT_TRUE(pt_name_match("", ""), "empty pattern, empty name (no SNI)");
}

static void test_first_match_wins(void)
{
	struct pt_config *a =
		parse_routes(NULL, R("one", "'protocol': 'tls', 'sni': 'a.example'"),
			     R("two", "'protocol': 'tls'"),
			     R("three", "'protocol': 'tls', 'sni': 'a.example'"), NULL);
	struct pt_config *b = parse_routes(NULL, R("two", "'protocol': 'tls'"),
					   R("one", "'protocol': 'tls', 'sni': 'a.example'"), NULL);

	if (a && b) {
		ASSERT_STREQ(route_of(a, "192.0.2.1", tls("a.example", ""), true), "one",
			     "the first of three that match");
		ASSERT_STREQ(route_of(a, "192.0.2.1", tls("b.example", ""), true), "two",
			     "the first that matches");
		ASSERT_STREQ(route_of(b, "192.0.2.1", tls("a.example", ""), true), "two",
			     "a broader route first shadows the narrower");
	}
	pt_config_put(a);
	pt_config_put(b);
}

static void test_tls_sni_alpn(void)
{
	struct pt_config *cfg = parse_routes(
		NULL, R("alpha", "'protocol': 'tls', 'sni': ['ALPHA.Example', '*.alpha.example']"),
		R("h2", "'protocol': 'tls', 'alpn': ['h2', 'spdy/3']"),
		R("beta-acme", "'protocol': 'tls', 'sni': 'beta.example', 'alpn': 'acme-tls/1'"),
		R("tls", "'protocol': 'tls'"), NULL);

	if (!cfg)
		return;
	ASSERT_STREQ(route_of(cfg, "192.0.2.1", tls("alpha.example", ""), true), "alpha",
		     "exact SNI (the config's name is lower-cased)");
	ASSERT_STREQ(route_of(cfg, "192.0.2.1", tls("www.alpha.example", "h2"), true), "alpha",
		     "wildcard SNI, before the ALPN route");
	ASSERT_STREQ(route_of(cfg, "192.0.2.1", tls("a.b.alpha.example", ""), true), "alpha",
		     "wildcard, deeper");
	ASSERT_STREQ(route_of(cfg, "192.0.2.1", tls("xalpha.example", ""), true), "tls",
		     "not below alpha.example");
	ASSERT_STREQ(route_of(cfg, "192.0.2.1", tls("other.example", "http/1.1,h2"), true), "h2",
		     "ALPN anywhere in the client's list");
	ASSERT_STREQ(route_of(cfg, "192.0.2.1", tls("other.example", "spdy/3"), true), "h2",
		     "any of the route's ALPN ids");
	ASSERT_STREQ(route_of(cfg, "192.0.2.1", tls("other.example", "h2c"), true), "tls",
		     "ALPN compared whole (h2c is not h2)");
	ASSERT_STREQ(route_of(cfg, "192.0.2.1", tls("other.example", "H2"), true), "tls",
		     "ALPN is case-sensitive");
	ASSERT_STREQ(route_of(cfg, "192.0.2.1", tls("", "h2"), true), "h2", "no SNI, ALPN h2");
	ASSERT_STREQ(route_of(cfg, "192.0.2.1", tls("", ""), true), "tls", "no SNI, no ALPN");
	ASSERT_STREQ(route_of(cfg, "192.0.2.1", tls("beta.example", "acme-tls/1"), true),
		     "beta-acme", "SNI and ALPN both hold");
	ASSERT_STREQ(route_of(cfg, "192.0.2.1", tls("beta.example", "http/1.1"), true), "tls",
		     "SNI holds, ALPN does not");
	ASSERT_STREQ(route_of(cfg, "192.0.2.1", tls("gamma.example", "acme-tls/1"), true), "tls",
		     "ALPN holds, SNI does not");
	ASSERT_STREQ(route_of(cfg, "192.0.2.1", http("alpha.example", "/"), true), "(none)",
		     "HTTP with the same host is not TLS");
	pt_config_put(cfg);
}

static const struct pt_fields *tls_ja4(const char *sni, const char *ja4)
{
	struct pt_fields *f = (struct pt_fields *)tls(sni, "");

	snprintf(f->ja4, sizeof(f->ja4), "%s", ja4);
	return f;
}

static void test_tls_ja4(void)
{
	struct pt_config *cfg = parse_routes(
		NULL,
		R("exact", "'protocol': 'tls', 'ja4': 't13d1516h2_8daaf6152771_e5627efa2ab1'"),
		R("curl", "'protocol': 'tls', 'ja4': ['t12d*', 't13d3112*']"),
		R("beta-old", "'protocol': 'tls', 'sni': 'beta.example', 'ja4': 't10*'"),
		R("tls", "'protocol': 'tls'"), NULL);

	if (!cfg)
		return;
	ASSERT_STREQ(route_of(cfg, "192.0.2.1",
			      tls_ja4("a.example", "t13d1516h2_8daaf6152771_e5627efa2ab1"), true),
		     "exact", "exact fingerprint");
	ASSERT_STREQ(route_of(cfg, "192.0.2.1",
			      tls_ja4("a.example", "t13d1516h2_8daaf6152771_e5627efa2ab2"), true),
		     "tls", "exact means every character");
	ASSERT_STREQ(route_of(cfg, "192.0.2.1",
			      tls_ja4("a.example", "t13d3112h2_e8f1e7e78f70_b26ce05bbdd6"), true),
		     "curl", "prefix, second of the list");
	ASSERT_STREQ(route_of(cfg, "192.0.2.1",
			      tls_ja4("a.example", "t12i280700_d943125447b4_e7e480e5a997"), true),
		     "tls", "prefix t12d* is not t12i");
	ASSERT_STREQ(route_of(cfg, "192.0.2.1",
			      tls_ja4("beta.example", "t10d230100_6a57a6f57151_000000000000"), true),
		     "beta-old", "SNI and ja4 both hold");
	ASSERT_STREQ(route_of(cfg, "192.0.2.1",
			      tls_ja4("gamma.example", "t10d230100_6a57a6f57151_000000000000"),
			      true),
		     "tls", "ja4 holds, SNI does not");
	ASSERT_STREQ(route_of(cfg, "192.0.2.1", tls_ja4("a.example", ""), true), "tls",
		     "no fingerprint (SSLv2 hello)");
	pt_config_put(cfg);
}

static void test_http_host_path(void)
{
	struct pt_config *cfg = parse_routes(
		NULL,
		R("api",
		  "'protocol': 'http', 'host': 'api.example', 'path_prefix': ['/v1/', '/v2/']"),
		R("web", "'protocol': 'http', 'host': ['*.web.example', 'Web.Example']"),
		R("static", "'protocol': 'http', 'path_prefix': '/static'"),
		R("http", "'protocol': 'http'"), NULL);

	if (!cfg)
		return;
	ASSERT_STREQ(route_of(cfg, "192.0.2.1", http("api.example", "/v1/users"), true), "api",
		     "host and first prefix");
	ASSERT_STREQ(route_of(cfg, "192.0.2.1", http("api.example", "/v2/"), true), "api",
		     "second prefix, whole path");
	ASSERT_STREQ(route_of(cfg, "192.0.2.1", http("api.example", "/v1"), true), "http",
		     "shorter than the prefix");
	ASSERT_STREQ(route_of(cfg, "192.0.2.1", http("api.example", "/V1/users"), true), "http",
		     "prefix is case-sensitive");
	ASSERT_STREQ(route_of(cfg, "192.0.2.1", http("api.example", "/static/x"), true), "static",
		     "host fails api, path matches static");
	ASSERT_STREQ(route_of(cfg, "192.0.2.1", http("www.api.example", "/v1/"), true), "http",
		     "host is exact unless a wildcard");
	ASSERT_STREQ(route_of(cfg, "192.0.2.1", http("a.web.example", "/"), true), "web",
		     "wildcard host");
	ASSERT_STREQ(route_of(cfg, "192.0.2.1", http("web.example", "/"), true), "web",
		     "second host, lower-cased by the config");
	ASSERT_STREQ(route_of(cfg, "192.0.2.1", http("", "/v1/"), true), "http",
		     "no Host header: no host route");
	ASSERT_STREQ(route_of(cfg, "192.0.2.1", http("", "/staticfile"), true), "static",
		     "a prefix is bytes, not path segments");
	ASSERT_STREQ(route_of(cfg, "192.0.2.1", tls("api.example", ""), true), "(none)",
		     "TLS with the same name is not HTTP");
	pt_config_put(cfg);
}

/* path_prefix compares the normalised path: no spelling of /admin slips past a reject. */
static void test_path_normalised(void)
{
	static const char *const spellings[] = {"/admin", "//admin", "/%61dmin", "/x/../admin",
						"/./admin/", "/%2E%2e/admin?x", "///admin//a"};
	struct pt_config *cfg = parse_routes(
		NULL, REJECT("deny", "'protocol': 'http', 'path_prefix': '/admin'"),
		R("http", "'protocol': 'http'"), NULL);

	if (!cfg)
		return;
	for (size_t i = 0; i < sizeof(spellings) / sizeof(spellings[0]); i++)
		ASSERT_STREQ(route_of(cfg, "192.0.2.1", http("h.example", spellings[i]), true),
			     "deny", spellings[i]);
	ASSERT_STREQ(route_of(cfg, "192.0.2.1", http("h.example", "/public/admin"), true), "http",
		     "/admin deeper down");
	ASSERT_STREQ(route_of(cfg, "192.0.2.1", http("h.example", "/a%2Fdmin"), true), "http",
		     "an encoded slash is no slash");
	pt_config_put(cfg);
}

static void test_protocols(void)
{
	struct pt_config *cfg = parse_routes(
		"{'name': 'redis', 'prefix': '2a'}, {'name': 'memc', 'regex': '^get '}",
		R("memc", "'pattern': 'memc'"), R("ssh", "'protocol': 'ssh'"),
		R("socks4", "'protocol': 'socks4'"), R("socks5", "'protocol': 'socks5'"),
		R("http2", "'protocol': 'http2'"), R("http", "'protocol': 'http'"),
		R("tls", "'protocol': 'tls'"), R("timeout", "'protocol': 'timeout'"),
		R("unknown", "'protocol': 'unknown'"), NULL);
	struct pt_fields *f;

	if (!cfg)
		return;
	ASSERT_STREQ(route_of(cfg, "192.0.2.1", fields(PT_PROTO_SSH), true), "ssh", "ssh");
	ASSERT_STREQ(route_of(cfg, "192.0.2.1", fields(PT_PROTO_SOCKS4), true), "socks4", "socks4");
	ASSERT_STREQ(route_of(cfg, "192.0.2.1", fields(PT_PROTO_SOCKS5), true), "socks5", "socks5");
	ASSERT_STREQ(route_of(cfg, "192.0.2.1", fields(PT_PROTO_HTTP2), true), "http2",
		     "http2 is not http");
	ASSERT_STREQ(route_of(cfg, "192.0.2.1", fields(PT_PROTO_HTTP), true), "http", "http");
	ASSERT_STREQ(route_of(cfg, "192.0.2.1", fields(PT_PROTO_TLS), true), "tls", "tls");
	ASSERT_STREQ(route_of(cfg, "192.0.2.1", fields(PT_PROTO_NONE), true), "timeout",
		     "no verdict: the timeout route");
	ASSERT_STREQ(route_of(cfg, "192.0.2.1", fields(PT_PROTO_UNKNOWN), true), "unknown",
		     "every detector said no: the unknown route");
	f = (struct pt_fields *)fields(PT_PROTO_PATTERN);
	f->pattern = 1;
	ASSERT_STREQ(route_of(cfg, "192.0.2.1", f, true), "memc", "the named pattern");
	f->pattern = 0;
	ASSERT_STREQ(route_of(cfg, "192.0.2.1", f, true), "(none)", "another pattern: no route");
	pt_config_put(cfg);
}

static void test_cidr(void)
{
	struct pt_config *cfg = parse_routes(
		NULL, REJECT("banned", "'cidr': '192.0.2.0/24'"),
		R("lan-tls", "'protocol': 'tls', 'cidr': ['10.0.0.0/8', '2001:db8::/32']"),
		R("ssh", "'protocol': 'ssh'"), R("v6-any", "'cidr': '::/0'"), NULL);

	if (!cfg)
		return;
	ASSERT_STREQ(route_of(cfg, "192.0.2.200", fields(PT_PROTO_NONE), false), "banned",
		     "address-only route decides before detection");
	ASSERT_STREQ(route_of(cfg, "::ffff:192.0.2.9", fields(PT_PROTO_NONE), false), "banned",
		     "IPv4-mapped client in an IPv4 net");
	ASSERT_STREQ(route_of(cfg, "192.0.2.9", tls("a.example", ""), true), "banned",
		     "and wins after detection too");
	ASSERT_STREQ(route_of(cfg, "10.9.8.7", tls("a.example", ""), true), "lan-tls",
		     "v4 client in the second net");
	ASSERT_STREQ(route_of(cfg, "2001:db8:1::5", tls("a.example", ""), true), "lan-tls",
		     "v6 client in the v6 net");
	ASSERT_STREQ(route_of(cfg, "2001:db9::5", tls("a.example", ""), true), "v6-any",
		     "v6 client outside: on to ::/0");
	ASSERT_STREQ(route_of(cfg, "10.9.8.7", fields(PT_PROTO_SSH), true), "ssh",
		     "in the net, wrong protocol");
	ASSERT_STREQ(route_of(cfg, "11.0.0.1", tls("a.example", ""), true), "v6-any",
		     "::/0 takes IPv4 clients too");
	pt_config_put(cfg);
}

/* The route for a client of 10.0.0.2 that asked for @ip:@port (NULL ip: unknown). */
static const char *route_to(const struct pt_config *cfg, const char *ip, uint16_t port,
			    const struct pt_fields *f, bool done)
{
	static struct sockaddr_storage dst;
	struct sockaddr_in *sin = (struct sockaddr_in *)&dst;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&dst;
	const struct pt_listener_cfg *l = &cfg->listeners[0];
	int idx = -1;

	memset(&dst, 0, sizeof(dst));
	if (ip && strchr(ip, ':')) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		inet_pton(AF_INET6, ip, &sin6->sin6_addr);
	} else if (ip) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		inet_pton(AF_INET, ip, &sin->sin_addr);
	}
	switch (pt_route_select(l, peer("10.0.0.2"), ip ? (struct sockaddr *)&dst : NULL, NULL, f,
				done, &idx)) {
	case PT_ROUTE_FOUND:
		return l->routes[idx].name;
	case PT_ROUTE_PENDING:
		return "(pending)";
	case PT_ROUTE_NONE:
		break;
	}
	return "(none)";
}

/* dst_cidr and dst_port: the destination the client asked for, known at accept. */
static void test_dst(void)
{
	struct pt_config *cfg = parse_routes(
		NULL, R("smtp", "'dst_port': [25, 587]"),
		R("b81", "'dst_cidr': ['203.0.113.0/24', '2001:db8::/32'], 'dst_port': 81"),
		R("net", "'dst_cidr': '198.51.100.0/24'"), R("tls", "'protocol': 'tls'"),
		ANY("rest"), NULL);

	if (!cfg)
		return;
	ASSERT_STREQ(route_to(cfg, "192.0.2.1", 587, fields(PT_PROTO_NONE), false), "smtp",
		     "a port in the list decides before any byte");
	ASSERT_STREQ(route_to(cfg, "203.0.113.7", 81, fields(PT_PROTO_NONE), false), "b81",
		     "network and port");
	ASSERT_STREQ(route_to(cfg, "2001:db8::1", 81, fields(PT_PROTO_NONE), false), "b81",
		     "IPv6 network and port");
	ASSERT_STREQ(route_to(cfg, "::ffff:203.0.113.7", 81, fields(PT_PROTO_NONE), false), "b81",
		     "IPv4-mapped destination in an IPv4 net");
	ASSERT_STREQ(route_to(cfg, "203.0.113.7", 80, fields(PT_PROTO_NONE), false), "(pending)",
		     "network without the port: on to the protocol route");
	ASSERT_STREQ(route_to(cfg, "198.51.100.9", 1234, fields(PT_PROTO_NONE), false), "net",
		     "network alone, any port");
	ASSERT_STREQ(route_to(cfg, "192.0.2.1", 443, tls("a.example", ""), true), "tls",
		     "no dst condition holds: detection decides");
	ASSERT_STREQ(route_to(cfg, NULL, 25, fields(PT_PROTO_NONE), true), "rest",
		     "destination unknown: no dst route matches");
	pt_config_put(cfg);
}

/* The route for a tunnel to @host (NULL: not a tunnel) at 192.0.2.1:@port. */
static const char *route_host(const struct pt_config *cfg, const char *host, uint16_t port,
			      const struct pt_fields *f, bool done)
{
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(port) };
	const struct pt_listener_cfg *l = &cfg->listeners[0];
	int idx = -1;

	inet_pton(AF_INET, "192.0.2.1", &dst.sin_addr);
	switch (pt_route_select(l, peer("10.0.0.2"), (struct sockaddr *)&dst, host, f, done,
				&idx)) {
	case PT_ROUTE_FOUND:
		return l->routes[idx].name;
	case PT_ROUTE_PENDING:
		return "(pending)";
	case PT_ROUTE_NONE:
		break;
	}
	return "(none)";
}

/* dst_host and forward "requested": a terminated proxy's tunnels only. */
static void test_dst_host(void)
{
	static const char text[] =
		"{\"listeners\": [{\"listen\": \"127.0.0.1:1\", \"terminate\": {\"socks5\": {}},"
		" \"routes\": [{\"name\": \"corp\", \"match\": {\"protocol\": \"tls\","
		" \"sni\": \"*.corp.example\", \"dst_host\": \"*.corp.example\"},"
		" \"forward\": \"requested\"}, {\"name\": \"p443\", \"match\": {\"dst_port\": 443},"
		" \"forward\": \"requested\"}, {\"name\": \"rest\", \"reject\": true}]}]}";
	struct pt_config *cfg = pt_config_parse("route-test.json", text, NULL, stderr);

	if (!ASSERT_TRUE(cfg, "config parses"))
		return;
	ASSERT_TRUE(cfg->listeners[0].routes[0].requested, "forward requested");
	ASSERT_STREQ(route_host(cfg, "git.corp.example", 22, fields(PT_PROTO_NONE), false),
		     "(pending)", "dst_host holds: the inner protocol decides");
	ASSERT_STREQ(route_host(cfg, "git.corp.example", 22, tls("git.corp.example", ""), true),
		     "corp", "dst_host and inner SNI");
	ASSERT_STREQ(route_host(cfg, "git.corp.example", 22, tls("evil.example", ""), true), "rest",
		     "dst_host holds, the SNI does not: not corp");
	ASSERT_STREQ(route_host(cfg, "www.other.example", 443, fields(PT_PROTO_NONE), false),
		     "p443", "another host: only the port route, before any inner byte");
	ASSERT_STREQ(route_host(cfg, NULL, 443, tls("git.corp.example", ""), true), "rest",
		     "not a tunnel: neither dst_host nor requested routes");
	pt_config_put(cfg);
}

/* What is decided while detection still runs (done == false). */
static void test_pending(void)
{
	struct pt_config *a =
		parse_routes(NULL, R("lan", "'protocol': 'tls', 'cidr': '10.0.0.0/8'"),
			     R("ssh", "'protocol': 'ssh'"), ANY("any"), NULL);
	struct pt_config *b =
		parse_routes(NULL, ANY("first-any"), R("tls", "'protocol': 'tls'"), NULL);

	if (a && b) {
		ASSERT_STREQ(route_of(a, "10.1.1.1", fields(PT_PROTO_NONE), false), "(pending)",
			     "a protocol route that applies to the client waits");
		ASSERT_STREQ(route_of(a, "10.1.1.1", tls("x", ""), false), "(pending)",
			     "done, not the fields, says detection is over");
		ASSERT_STREQ(route_of(a, "11.1.1.1", fields(PT_PROTO_NONE), false), "(pending)",
			     "outside the net, the ssh route still waits");
		ASSERT_STREQ(route_of(a, "11.1.1.1", tls("x", ""), true), "any",
			     "after detection: the fallback");
		ASSERT_STREQ(route_of(a, "10.1.1.1", fields(PT_PROTO_NONE), true), "any",
			     "a timeout falls back to the any route");
		ASSERT_STREQ(route_of(b, "11.1.1.1", fields(PT_PROTO_NONE), false), "first-any",
			     "a catch-all first decides at once");
	}
	pt_config_put(a);
	pt_config_put(b);
	a = parse_routes(NULL, R("lan-tls", "'protocol': 'tls', 'cidr': '10.0.0.0/8'"),
			 R("rest", "'protocol': 'any'"), NULL);
	if (a) {
		ASSERT_STREQ(route_of(a, "11.1.1.1", fields(PT_PROTO_NONE), false), "rest",
			     "a protocol route for other clients does not make this one wait");
		ASSERT_STREQ(route_of(a, "10.1.1.1", fields(PT_PROTO_NONE), false), "(pending)",
			     "but does for its own");
	}
	pt_config_put(a);
}

static void test_no_match(void)
{
	struct pt_config *cfg =
		parse_routes(NULL, R("a", "'protocol': 'tls', 'sni': 'a.example'"),
			     R("lan", "'cidr': '10.0.0.0/8'"), R("ssh", "'protocol': 'ssh'"), NULL);
	struct pt_listener_cfg empty = { .name = "empty" };
	struct pt_fields f;
	int idx = -7;

	if (!cfg)
		return;
	ASSERT_STREQ(route_of(cfg, "192.0.2.1", tls("b.example", "h2"), true), "(none)",
		     "other SNI, no fallback");
	ASSERT_STREQ(route_of(cfg, "192.0.2.1", fields(PT_PROTO_NONE), true), "(none)",
		     "timeout, no timeout route");
	ASSERT_STREQ(route_of(cfg, "192.0.2.1", fields(PT_PROTO_UNKNOWN), true), "(none)",
		     "unknown, no unknown route");
	ASSERT_STREQ(route_of(cfg, "10.0.0.1", fields(PT_PROTO_UNKNOWN), true), "lan",
		     "the address route is the fallback for its net");
	ASSERT_STREQ(route_of(cfg, "10.0.0.1", fields(PT_PROTO_NONE), false), "(pending)",
		     "but only once route a could be ruled out");
	pt_fields_init(&f);
	ASSERT_EQ(pt_route_select(&empty, peer("192.0.2.1"), NULL, NULL, &f, false, &idx),
		  PT_ROUTE_NONE, "no routes, during detection");
	ASSERT_EQ(pt_route_select(&empty, peer("192.0.2.1"), NULL, NULL, &f, true, &idx),
		  PT_ROUTE_NONE, "no routes, after");
	ASSERT_EQ(idx, -7, "index untouched");
	pt_config_put(cfg);
}

int main(void)
{
	RUN_TEST(test_name_match);
	RUN_TEST(test_first_match_wins);
	RUN_TEST(test_tls_sni_alpn);
	RUN_TEST(test_tls_ja4);
	RUN_TEST(test_http_host_path);
	RUN_TEST(test_path_normalised);
	RUN_TEST(test_protocols);
	RUN_TEST(test_cidr);
	RUN_TEST(test_dst);
	RUN_TEST(test_dst_host);
	RUN_TEST(test_pending);
	RUN_TEST(test_no_match);
	return pt_test_done();
}
