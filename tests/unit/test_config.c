// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Config loader: the model built from good files (native, legacy, the Go
 * project's own sample), every broken file under tests/data/config/bad with
 * the exact errors listed in its .expect file, and dump round trips.
 */
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "config.h"
#include "test.h"

#define DATA "tests/data/config"

static char root[PATH_MAX]; /* the source tree: DATA and examples/ are below it */

struct capture {
	FILE *f;
	char *buf;
	size_t len;
};

static void cap_open(struct capture *c)
{
	c->buf = NULL;
	c->f = open_memstream(&c->buf, &c->len);
}

static char *cap_close(struct capture *c)
{
	fclose(c->f);
	return c->buf;
}

static char *path_of(const char *rel)
{
	static char buf[PATH_MAX * 2];

	snprintf(buf, sizeof(buf), "%s/%s", root, rel);
	return buf;
}

static struct pt_config *load_quiet(const char *rel)
{
	struct pt_config *cfg = pt_config_load(path_of(rel), NULL, stderr);

	ASSERT_TRUE(cfg, rel);
	return cfg;
}

/* Parse @text and return the error output; *cfg gets the result. */
static char *parse_errors(const char *name, const char *text, const struct pt_config_opts *o,
			  struct pt_config **cfg)
{
	struct capture c;

	cap_open(&c);
	*cfg = pt_config_parse(name, text, o, c.f);
	return cap_close(&c);
}

static const char *addr_str(const struct pt_sockaddr *a)
{
	static char buf[4][80];
	static int slot;

	return pt_sockaddr_str((const struct sockaddr *)&a->ss, buf[slot++ % 4], sizeof(buf[0]));
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; s && *s; s++)
		n += *s == '\n';
	return n;
}

static void test_full_example(void)
{
	struct pt_config *cfg = load_quiet("examples/full.json");
	const struct pt_listener_cfg *l;
	const struct pt_route *r;
	static const char *const names[] = {"banned", "alpha", "h2-only", "api",  "ssh",
					    "proxy",  "cache", "smtp",	  "other"};
	int i;

	if (!cfg)
		return;
	ASSERT_FALSE(cfg->legacy, "native");
	ASSERT_EQ(cfg->grace_ms, 10000, "grace_ms");
	ASSERT_EQ(cfg->n_patterns, 1, "patterns");
	ASSERT_STREQ(cfg->patterns[0].name, "redis", "pattern name");
	ASSERT_EQ(cfg->patterns[0].prefix_len, 1, "prefix len");
	ASSERT_EQ(cfg->patterns[0].prefix[0], 0x2a, "prefix byte");
	ASSERT_TRUE(cfg->patterns[0].has_regex, "regex");
	ASSERT_EQ(cfg->patterns[0].min_bytes, 4, "min_bytes");
	ASSERT_EQ(regexec(&cfg->patterns[0].regex, "*3\r\n$3\r\nSET", 0, NULL, 0), 0,
		  "regex matches a RESP array");
	ASSERT_EQ(cfg->n_listeners, 1, "listeners");
	l = &cfg->listeners[0];
	ASSERT_STREQ(l->name, "front", "listener name");
	ASSERT_EQ(l->n_listen, 2, "listen addrs");
	ASSERT_STREQ(addr_str(&l->listen[0].addr), "0.0.0.0:443", "listen 0");
	ASSERT_FALSE(l->listen[0].v6only, "v4 not v6only");
	ASSERT_EQ(l->listen[1].addr.ss.ss_family, AF_INET6, "listen 1 family");
	ASSERT_STREQ(addr_str(&l->listen[1].addr), "[::]:443", "listen 1");
	ASSERT_TRUE(l->listen[1].v6only, "[::] is v6only");
	ASSERT_EQ(l->timeout_ms, 3000, "timeout");
	ASSERT_TRUE(l->has_timeout_ms, "timeout given");
	ASSERT_EQ(l->max_bytes, 16384, "max_bytes");
	ASSERT_EQ(l->max_connections, 10000, "max_connections");
	ASSERT_EQ(l->connect_timeout_ms, 5000, "connect_timeout_ms");
	ASSERT_EQ(l->idle_timeout_ms, 0, "idle_timeout_ms");
	ASSERT_EQ(l->data_plane, PT_DP_AUTO, "data_plane");
	if (!ASSERT_EQ(l->n_routes, 9, "routes"))
		goto out;
	for (i = 0; i < 9; i++)
		ASSERT_STREQ(l->routes[i].name, names[i], "route order");

	r = &l->routes[0];
	ASSERT_EQ(r->proto, PT_MATCH_ANY, "banned: any");
	ASSERT_EQ(r->action, PT_ACT_REJECT, "banned: reject");
	ASSERT_EQ(r->n_cidr, 1, "banned: cidr");
	ASSERT_EQ(r->cidr[0].family, AF_INET, "banned: v4");
	ASSERT_EQ(r->cidr[0].prefix, 24, "banned: /24");
	ASSERT_EQ(r->n_upstreams, 0, "banned: no upstream");

	r = &l->routes[1];
	ASSERT_EQ(r->proto, PT_MATCH_TLS, "alpha: tls");
	ASSERT_EQ(r->sni.n, 2, "alpha: sni");
	ASSERT_STREQ(r->sni.v[1], "*.alpha.example", "alpha: wildcard");
	ASSERT_EQ(r->action, PT_ACT_FORWARD, "alpha: forward");
	if (ASSERT_EQ(r->n_upstreams, 2, "alpha: upstreams")) {
		ASSERT_EQ(r->upstreams[0].n_addrs, 1, "alpha: one address");
		ASSERT_STREQ(addr_str(&r->upstreams[0].addrs[0]), "127.0.0.1:9001", "alpha: up 0");
		ASSERT_STREQ(addr_str(&r->upstreams[1].addrs[0]), "127.0.0.2:9001", "alpha: up 1");
	}
	ASSERT_EQ(r->pattern, -1, "alpha: no pattern");

	r = &l->routes[2];
	ASSERT_EQ(r->alpn.n, 1, "h2: alpn");
	ASSERT_STREQ(r->alpn.v[0], "h2", "h2: alpn value");

	r = &l->routes[3];
	ASSERT_EQ(r->proto, PT_MATCH_HTTP, "api: http");
	ASSERT_STREQ(r->host.v[0], "api.example", "api: host");
	ASSERT_STREQ(r->path_prefix.v[0], "/v1/", "api: path");

	ASSERT_EQ(l->routes[4].proto, PT_MATCH_SSH, "ssh");
	ASSERT_EQ(l->routes[5].proto, PT_MATCH_SOCKS5, "socks5");
	ASSERT_EQ(l->routes[6].proto, PT_MATCH_PATTERN, "pattern implies protocol");
	ASSERT_EQ(l->routes[6].pattern, 0, "pattern index");
	ASSERT_EQ(l->routes[7].proto, PT_MATCH_TIMEOUT, "timeout");
	ASSERT_EQ(l->routes[8].proto, PT_MATCH_ANY, "other: any");
	ASSERT_STREQ(addr_str(&l->routes[8].upstreams[0].addrs[0]), "127.0.0.1:8080", "other");
out:
	pt_config_put(cfg);
}

static void test_minimal_defaults(void)
{
	const char *text = "{ \"listeners\": [ { \"listen\": \":8443\", "
			   "\"routes\": [ { \"forward\": \"127.0.0.1:80\" } ] } ] }";
	struct pt_config_opts opts = {.default_timeout_ms = 1234};
	const struct pt_listener_cfg *l;
	struct pt_config *cfg;
	char *errs;

	errs = parse_errors("min.json", text, NULL, &cfg);
	ASSERT_STREQ(errs, "", "no errors");
	free(errs);
	if (!ASSERT_TRUE(cfg, "parsed"))
		return;
	ASSERT_EQ(cfg->grace_ms, PT_DEF_GRACE_MS, "grace default");
	ASSERT_EQ(cfg->n_patterns, 0, "no patterns");
	ASSERT_STREQ(cfg->path, "min.json", "path");
	l = &cfg->listeners[0];
	ASSERT_STREQ(l->name, "listener0", "default listener name");
	ASSERT_STREQ(l->routes[0].name, "route0", "default route name");
	ASSERT_EQ(l->timeout_ms, PT_DEF_DETECT_TIMEOUT_MS, "timeout default");
	ASSERT_FALSE(l->has_timeout_ms, "timeout not given");
	ASSERT_EQ(l->max_bytes, PT_WINDOW_DEFAULT, "max_bytes default");
	ASSERT_EQ(l->max_connections, PT_DEF_MAX_CONNECTIONS, "max_connections default");
	ASSERT_EQ(l->connect_timeout_ms, PT_DEF_CONNECT_TIMEOUT_MS, "connect default");
	ASSERT_EQ(l->idle_timeout_ms, PT_DEF_IDLE_TIMEOUT_MS, "idle default");
	ASSERT_EQ(l->data_plane, PT_DP_AUTO, "data plane default");
#ifdef PT_DEF_DRAIN_TIMEOUT_MS
	ASSERT_EQ(l->sockmap_sndbuf, PT_DEF_SOCKMAP_SNDBUF, "sockmap_sndbuf default");
	ASSERT_EQ(l->sockmap_max_queued, PT_DEF_SOCKMAP_MAX_QUEUED, "max_queued default");
	ASSERT_EQ(l->drain_timeout_ms, PT_DEF_DRAIN_TIMEOUT_MS, "drain_timeout default");
#endif
	ASSERT_EQ(l->listen[0].addr.ss.ss_family, AF_INET6, "\":p\" is [::]");
	ASSERT_FALSE(l->listen[0].v6only, "\":p\" is dual-stack");
	ASSERT_STREQ(addr_str(&l->listen[0].addr), "[::]:8443", "\":p\" address");
	ASSERT_EQ(l->routes[0].proto, PT_MATCH_ANY, "no match: any");
	ASSERT_EQ(l->routes[0].pattern, -1, "no pattern");
	pt_config_put(cfg);

	errs = parse_errors("min.json", text, &opts, &cfg);
	free(errs);
	if (!ASSERT_TRUE(cfg, "parsed with -t"))
		return;
	ASSERT_EQ(cfg->listeners[0].timeout_ms, 1234, "timeout from -t");
	ASSERT_FALSE(cfg->listeners[0].has_timeout_ms, "still not given");
	pt_config_put(cfg);
}

static void test_forms(void)
{
	struct pt_config *cfg = load_quiet(DATA "/good/forms.json");
	const struct pt_listener_cfg *l;
	const struct pt_route *r;
	int i;

	if (!cfg)
		return;
	ASSERT_EQ(cfg->grace_ms, 0, "grace 0");
	ASSERT_EQ(cfg->patterns[0].min_bytes, 2, "min_bytes = prefix length");
	ASSERT_EQ(cfg->patterns[1].min_bytes, 1, "min_bytes = 1 for a regex");
	ASSERT_EQ(cfg->patterns[1].prefix_len, 0, "no prefix");
	l = &cfg->listeners[0];
	ASSERT_STREQ(addr_str(&l->listen[0].addr), "[::]:1001", "*:p");
	ASSERT_FALSE(l->listen[0].v6only, "*:p dual-stack");
	ASSERT_STREQ(addr_str(&l->listen[1].addr), "[::1]:1002", "[::1]");
	ASSERT_TRUE(l->listen[1].v6only, "[::1] v6only");
	ASSERT_STREQ(addr_str(&l->listen[2].addr), "192.0.2.1:1003", "v4");
	ASSERT_STREQ(addr_str(&l->listen[3].addr), "[::]:1004", "[::]");
	ASSERT_TRUE(l->listen[3].v6only, "[::] v6only");
	ASSERT_EQ(l->timeout_ms, 250, "timeout");
	ASSERT_EQ(l->max_bytes, 64, "max_bytes min");
	ASSERT_EQ(l->max_connections, 0, "unlimited");
	ASSERT_EQ(l->idle_timeout_ms, 86400000, "idle max");
	ASSERT_EQ(l->data_plane, PT_DP_SPLICE, "splice");
	ASSERT_EQ(cfg->listeners[1].data_plane, PT_DP_SOCKMAP, "sockmap");
	ASSERT_STREQ(cfg->listeners[1].name, "second", "second name");
	ASSERT_STREQ(cfg->listeners[1].routes[0].name, "only", "route name");
	ASSERT_EQ(cfg->listeners[1].routes[0].proto, PT_MATCH_SOCKS4, "socks4");

	r = &l->routes[0];
	ASSERT_STREQ(r->sni.v[0], "*.alpha.example", "wildcard lower-cased");
	ASSERT_STREQ(r->sni.v[1], "beta.example", "sni lower-cased");
	ASSERT_STREQ(r->alpn.v[1], "http/1.1", "alpn kept");
	if (ASSERT_EQ(r->n_upstreams, 3, "three upstreams")) {
		ASSERT_STREQ(r->upstreams[0].spec, "[::1]:9001", "order 0");
		ASSERT_STREQ(addr_str(&r->upstreams[0].addrs[0]), "[::1]:9001", "v6 upstream");
		ASSERT_STREQ(r->upstreams[1].spec, "localhost:9002", "order 1");
		ASSERT_TRUE(r->upstreams[1].n_addrs >= 1, "localhost resolves");
		for (i = 0; i < r->upstreams[1].n_addrs; i++) {
			const char *s = addr_str(&r->upstreams[1].addrs[i]);

			ASSERT_TRUE(!strcmp(s, "127.0.0.1:9002") || !strcmp(s, "[::1]:9002"), s);
		}
		ASSERT_STREQ(r->upstreams[2].spec, "127.0.0.1:9003", "order 2");
	}
	r = &l->routes[1];
	ASSERT_STREQ(r->host.v[0], "web.example", "host lower-cased");
	ASSERT_EQ(r->path_prefix.n, 2, "two paths");
	r = &l->routes[2];
	ASSERT_EQ(r->n_cidr, 4, "cidrs");
	ASSERT_EQ(r->cidr[1].family, AF_INET6, "v6 cidr");
	ASSERT_EQ(r->cidr[1].prefix, 32, "v6 prefix");
	ASSERT_EQ(r->cidr[2].prefix, 32, "one address is a /32");
	ASSERT_EQ(l->routes[3].pattern, 1, "explicit protocol pattern");
	ASSERT_EQ(l->routes[3].proto, PT_MATCH_PATTERN, "pattern proto");
	ASSERT_EQ(l->routes[4].pattern, 0, "implied protocol pattern");
	ASSERT_EQ(l->routes[5].proto, PT_MATCH_UNKNOWN, "unknown");
	ASSERT_EQ(l->routes[6].proto, PT_MATCH_ANY, "empty match");
	pt_config_put(cfg);
}

static void check_route(const struct pt_route *r, const char *name, enum pt_match_proto proto,
			enum pt_action act, const char *up)
{
	char what[160];

	snprintf(what, sizeof(what), "route \"%s\"", name);
	ASSERT_STREQ(r->name, name, what);
	ASSERT_EQ(r->proto, proto, what);
	ASSERT_EQ(r->action, act, what);
	if (!up) {
		ASSERT_EQ(r->n_upstreams, 0, what);
	} else if (ASSERT_EQ(r->n_upstreams, 1, what)) {
		ASSERT_STREQ(r->upstreams[0].spec, up, what);
		ASSERT_STREQ(addr_str(&r->upstreams[0].addrs[0]), up, what);
	}
}

static void test_legacy_readme(void)
{
	struct pt_config *cfg = load_quiet("examples/legacy.json");
	const struct pt_listener_cfg *l;
	const struct pt_route *r;

	if (!cfg)
		return;
	ASSERT_TRUE(cfg->legacy, "legacy");
	ASSERT_EQ(cfg->grace_ms, PT_DEF_GRACE_MS, "grace default");
	if (!ASSERT_EQ(cfg->n_listeners, 1, "one listener"))
		goto out;
	l = &cfg->listeners[0];
	ASSERT_STREQ(l->name, "127.0.0.1:443", "listener named after the address");
	ASSERT_STREQ(addr_str(&l->listen[0].addr), "127.0.0.1:443", "listen");
	ASSERT_EQ(l->max_bytes, PT_WINDOW_DEFAULT, "defaults apply");
	ASSERT_EQ(l->timeout_ms, PT_DEF_DETECT_TIMEOUT_MS, "timeout default");
	if (!ASSERT_EQ(l->n_routes, 7, "routes"))
		goto out;
	r = l->routes;
	check_route(&r[0], "TLS SNI alpha.example", PT_MATCH_TLS, PT_ACT_FORWARD, "127.0.0.1:9001");
	ASSERT_STREQ(r[0].sni.v[0], "alpha.example", "sni");
	check_route(&r[1], "TLS ALPN h2", PT_MATCH_TLS, PT_ACT_FORWARD, "127.0.0.1:9002");
	ASSERT_STREQ(r[1].alpn.v[0], "h2", "alpn");
	check_route(&r[2], "TLS CATCHALL", PT_MATCH_TLS, PT_ACT_REJECT, NULL);
	ASSERT_EQ(r[2].sni.n + r[2].alpn.n, 0, "catchall has no conditions");
	check_route(&r[3], "HTTP HOST web.example", PT_MATCH_HTTP, PT_ACT_FORWARD,
		    "127.0.0.1:8080");
	ASSERT_STREQ(r[3].host.v[0], "web.example", "host");
	check_route(&r[4], "SSH CATCHALL", PT_MATCH_SSH, PT_ACT_FORWARD, "127.0.0.1:22");
	/* silent clients (PuTTY, ssh-keyscan) go to SSH, before the CATCHALL protocol */
	check_route(&r[5], "SSH timeout", PT_MATCH_TIMEOUT, PT_ACT_FORWARD, "127.0.0.1:22");
	check_route(&r[6], "CATCHALL", PT_MATCH_ANY, PT_ACT_FORWARD, "127.0.0.1:8080");
out:
	pt_config_put(cfg);
}

/* config/sample.json of github.com/gaukas/passthru, with local addresses */
static void test_legacy_go_sample(void)
{
	struct pt_config *cfg = load_quiet(DATA "/good/go-sample.json");
	const struct pt_listener_cfg *l;

	if (!cfg)
		return;
	ASSERT_TRUE(cfg->legacy, "legacy");
	if (!ASSERT_EQ(cfg->n_listeners, 2, "two servers"))
		goto out;
	l = &cfg->listeners[0];
	ASSERT_STREQ(l->name, "0.0.0.0:443", "first server");
	if (ASSERT_EQ(l->n_routes, 5, "routes of :443")) {
		check_route(&l->routes[0], "TLS SNI gaukas.example", PT_MATCH_TLS, PT_ACT_FORWARD,
			    "127.0.0.1:10443");
		check_route(&l->routes[1], "TLS SNI google.example", PT_MATCH_TLS, PT_ACT_FORWARD,
			    "127.0.0.2:443");
		check_route(&l->routes[2], "TLS CATCHALL", PT_MATCH_TLS, PT_ACT_REJECT, NULL);
		/* an SSH REJECT takes no silent clients: no "SSH timeout" */
		check_route(&l->routes[3], "SSH CATCHALL", PT_MATCH_SSH, PT_ACT_REJECT, NULL);
		check_route(&l->routes[4], "CATCHALL", PT_MATCH_ANY, PT_ACT_FORWARD,
			    "127.0.0.1:443");
	}
	l = &cfg->listeners[1];
	ASSERT_STREQ(l->name, "0.0.0.0:22", "second server");
	if (ASSERT_EQ(l->n_routes, 2, "routes of :22 (older \"rules\" wrapper)")) {
		check_route(&l->routes[0], "SSH CATCHALL", PT_MATCH_SSH, PT_ACT_FORWARD,
			    "127.0.0.1:22122");
		check_route(&l->routes[1], "SSH timeout", PT_MATCH_TIMEOUT, PT_ACT_FORWARD,
			    "127.0.0.1:22122");
	}
out:
	pt_config_put(cfg);
}

/* "ssh_silent_clients": false, after the servers, in another case: no "SSH timeout". */
static void test_legacy_ssh_silent_off(void)
{
	static const char text[] =
		"{\"servers\": {\"127.0.0.1:22\": {\"SSH\": {\"CATCHALL\": {\"action\": "
		"\"FORWARD\", \"to_addr\": \"127.0.0.1:2222\"}}}}, \"SSH_Silent_Clients\": false}";
	struct pt_config *cfg = pt_config_parse("silent-off.json", text, NULL, stderr);

	if (!ASSERT_TRUE(cfg, "parses"))
		return;
	if (ASSERT_EQ(cfg->listeners[0].n_routes, 1, "routes"))
		check_route(&cfg->listeners[0].routes[0], "SSH CATCHALL", PT_MATCH_SSH,
			    PT_ACT_FORWARD, "127.0.0.1:2222");
	pt_config_put(cfg);
}

/* CATCHALLs written first still come last; keys and keywords in any case. */
static void test_legacy_order_and_case(void)
{
	struct pt_config *cfg = load_quiet(DATA "/good/legacy-order.json");
	const struct pt_route *r;
	const struct pt_listener_cfg *l;

	if (!cfg)
		return;
	l = &cfg->listeners[0];
	ASSERT_TRUE(l->listen[0].v6only, "[::1] listener");
	if (!ASSERT_EQ(l->n_routes, 9, "routes"))
		goto out;
	r = l->routes;
	check_route(&r[0], "TLS SNI alpha.example", PT_MATCH_TLS, PT_ACT_FORWARD, "127.0.0.1:9001");
	check_route(&r[1], "TLS ALPN h2", PT_MATCH_TLS, PT_ACT_FORWARD, "127.0.0.1:9002");
	check_route(&r[2], "TLS CATCHALL", PT_MATCH_TLS, PT_ACT_REJECT, NULL);
	check_route(&r[3], "SOCKS5 CATCHALL", PT_MATCH_SOCKS5, PT_ACT_FORWARD, "127.0.0.1:1080");
	check_route(&r[4], "HTTP HOST *.web.example", PT_MATCH_HTTP, PT_ACT_FORWARD,
		    "127.0.0.1:8080");
	ASSERT_STREQ(r[4].host.v[0], "*.web.example", "wildcard host lower-cased");
	check_route(&r[5], "HTTP CATCHALL", PT_MATCH_HTTP, PT_ACT_REJECT, NULL);
	check_route(&r[6], "HTTP2 CATCHALL", PT_MATCH_HTTP2, PT_ACT_FORWARD, "127.0.0.1:8082");
	check_route(&r[7], "SOCKS4 CATCHALL", PT_MATCH_SOCKS4, PT_ACT_REJECT, NULL);
	check_route(&r[8], "CATCHALL", PT_MATCH_ANY, PT_ACT_FORWARD, "127.0.0.1:8080");
out:
	pt_config_put(cfg);
}

/* Compare error output with an .expect file: same number of lines, each containing its line. */
static void check_expect(const char *json, const char *got, const char *expect_path)
{
	char line[1024], what[1200];
	const char *g = got;
	int n = 0;
	FILE *f;

	f = fopen(expect_path, "r");
	if (!ASSERT_TRUE(f, expect_path))
		return;
	while (fgets(line, sizeof(line), f)) {
		const char *eol = strchr(g, '\n');
		char gl[2048];
		size_t len = eol ? (size_t)(eol - g) : strlen(g);

		line[strcspn(line, "\n")] = '\0';
		if (!line[0])
			continue;
		n++;
		len = len < sizeof(gl) - 1 ? len : sizeof(gl) - 1;
		memcpy(gl, g, len);
		gl[len] = '\0';
		snprintf(what, sizeof(what), "%s line %d", json, n);
		ASSERT_STRSTR(gl, line, what);
		g = eol ? eol + 1 : g + strlen(g);
	}
	fclose(f);
	snprintf(what, sizeof(what), "%s: error lines (got:\n%s)", json, got);
	ASSERT_EQ(count_lines(got), n, what);
}

static const char *bad_json;

static void test_bad_file(void)
{
	char expect[PATH_MAX];
	struct pt_config *cfg;
	struct capture c;
	char *got;
	int err;

	snprintf(expect, sizeof(expect), "%.*s.expect", (int)strlen(bad_json) - 5, bad_json);
	cap_open(&c);
	cfg = pt_config_load(bad_json, NULL, c.f);
	err = errno;
	got = cap_close(&c);
	if (!ASSERT_FALSE(cfg, bad_json)) {
		pt_config_put(cfg);
	} else {
		ASSERT_EQ(err, EINVAL, bad_json);
		check_expect(bad_json, got, expect);
	}
	free(got);
}

/* Every tests/data/config/bad/X.json fails with exactly the errors in X.expect. */
static void run_bad_files(void)
{
	char dir[PATH_MAX * 2], cwd[PATH_MAX];
	glob_t g;
	size_t i;

	snprintf(dir, sizeof(dir), "%s/%s/bad", root, DATA);
	if (!getcwd(cwd, sizeof(cwd)) || chdir(dir)) {
		perror(dir);
		return;
	}
	if (glob("*.json", 0, NULL, &g)) {
		g.gl_pathc = 0;
		g.gl_pathv = NULL;
	}
	pt_t_name = "bad files";
	if (!ASSERT_TRUE(g.gl_pathc >= 20, "at least 20 broken files"))
		pt_t_fail++;
	for (i = 0; i < g.gl_pathc; i++) {
		bad_json = g.gl_pathv[i];
		printf("# bad/%s\n", bad_json);
		RUN_TEST(test_bad_file);
	}
	globfree(&g);
	if (chdir(cwd))
		perror(cwd);
}

/* The README's example line, with the "passthru: " prefix main asks for. */
static void test_readme_error_line(void)
{
	const char *text =
		"{ \"listeners\": [ { \"listen\": \":443\", \"routes\": [\n"
		"{ \"forward\": \"127.0.0.1:1\" }, { \"forward\": \"127.0.0.1:2\" },\n"
		"{ \"forward\": \"127.0.0.1:3\" }, { \"forward\": [\"nowhere\"] } ] } ] }";
	struct pt_config_opts opts = {.prog = "passthru"};
	struct pt_config *cfg;
	char *errs;

	errs = parse_errors("bad.json", text, &opts, &cfg);
	ASSERT_FALSE(cfg, "rejected");
	ASSERT_STREQ(errs,
		     "passthru: bad.json: listeners[0].routes[3].forward[0]: "
		     "expected \"host:port\", got \"nowhere\"\n",
		     "README example");
	free(errs);
	pt_config_put(cfg);
}

static void test_all_errors_reported(void)
{
	const char *text = "{ \"grace_ms\": -5, \"listeners\": [\n"
			   "  { \"listen\": \"nowhere\", \"max_bytes\": 1, \"routes\": [\n"
			   "    { \"match\": { \"protocol\": \"tls\", \"sni\": \"a..b\" } },\n"
			   "    { \"forward\": \"x.invalid:1\", \"bogus\": 1 } ] } ] }";
	struct pt_config *cfg;
	char *errs;

	errs = parse_errors("multi.json", text, NULL, &cfg);
	ASSERT_FALSE(cfg, "rejected");
	ASSERT_EQ(errno, EINVAL, "EINVAL");
	ASSERT_EQ(count_lines(errs), 7, "seven errors");
	ASSERT_STRSTR(errs, "multi.json: grace_ms: -5 is out of range 0..3600000\n", "grace");
	ASSERT_STRSTR(errs, "multi.json: listeners[0].listen: expected \"IP:port\"", "listen");
	ASSERT_STRSTR(errs, "multi.json: listeners[0].max_bytes: 1 is out of range 64..65536\n",
		      "max_bytes");
	ASSERT_STRSTR(errs, "multi.json: listeners[0].routes[0].match.sni: expected a host name",
		      "sni");
	ASSERT_STRSTR(errs, "multi.json: listeners[0].routes[0]: give \"forward\"", "action");
	ASSERT_STRSTR(errs, "multi.json: listeners[0].routes[1].bogus: unknown key", "key");
	ASSERT_STRSTR(errs,
		      "multi.json: listeners[0].routes[1].forward: cannot resolve \"x.invalid:1\"",
		      "resolve");
	free(errs);
}

static void test_syntax_line_col(void)
{
	struct pt_config *cfg;
	char *errs;

	errs = parse_errors("syn.json", "{\n  \"listeners\": [\n    { \"listen\": :443 }\n  ]\n}\n",
			    NULL, &cfg);
	ASSERT_FALSE(cfg, "rejected");
	ASSERT_STREQ(errs, "syn.json:3:17: JSON syntax error near \":443 }\"\n", "line:col");
	free(errs);

	errs = parse_errors("eof.json", "{\n  \"listeners\": [\n", NULL, &cfg);
	ASSERT_FALSE(cfg, "truncated");
	ASSERT_STRSTR(errs, "eof.json:", "names the file");
	ASSERT_STRSTR(errs, "JSON syntax error", "says syntax");
	free(errs);

	errs = parse_errors("empty.json", "", NULL, &cfg);
	ASSERT_FALSE(cfg, "empty");
	ASSERT_STREQ(errs, "empty.json:1:1: JSON syntax error at end of input\n", "empty file");
	free(errs);
}

static void test_unresolvable(void)
{
	const char *text = "{ \"listeners\": [ { \"listen\": \":443\", \"routes\": [\n"
			   "{ \"forward\": [\"127.0.0.1:1\", \"backend.invalid:443\"] } ] } ] }";
	struct pt_config *cfg;
	char *errs;

	errs = parse_errors("dns.json", text, NULL, &cfg);
	ASSERT_FALSE(cfg, "rejected");
	ASSERT_STRSTR(errs,
		      "dns.json: listeners[0].routes[0].forward[1]: cannot resolve "
		      "\"backend.invalid:443\"",
		      "names the path");
	ASSERT_EQ(count_lines(errs), 1, "one error");
	free(errs);
}

static void test_load_errors(void)
{
	char tmpl[] = "/tmp/pt-config-XXXXXX";
	struct pt_config *cfg;
	struct capture c;
	char *errs;
	FILE *f;
	int fd;

	cap_open(&c);
	cfg = pt_config_load("/nonexistent/passthru.json", NULL, c.f);
	ASSERT_EQ(errno, ENOENT, "ENOENT");
	errs = cap_close(&c);
	ASSERT_FALSE(cfg, "missing file");
	ASSERT_STREQ(errs, "/nonexistent/passthru.json: No such file or directory\n", "message");
	free(errs);

	cfg = pt_config_load("/", NULL, NULL);
	ASSERT_FALSE(cfg, "directory");
	ASSERT_EQ(errno, EISDIR, "EISDIR");

	/* a NUL byte: cJSON would stop there and accept what came before */
	fd = mkstemp(tmpl);
	if (!ASSERT_TRUE(fd >= 0, "mkstemp"))
		return;
	f = fdopen(fd, "w");
	fputs("{ \"listeners\": [ { \"listen\": \":1\", \"routes\": [ { \"reject\": true } ] } ] }\n",
	      f);
	fputs("  x", f);
	fputc('\0', f);
	fclose(f);
	cap_open(&c);
	cfg = pt_config_load(tmpl, NULL, c.f);
	errs = cap_close(&c);
	ASSERT_FALSE(cfg, "NUL byte");
	ASSERT_STRSTR(errs, ":2:4: NUL byte in the file", "NUL position");
	free(errs);
	unlink(tmpl);
}

static char *dump_str(const struct pt_config *cfg)
{
	struct capture c;

	cap_open(&c);
	ASSERT_OK(pt_config_dump(cfg, c.f), "dump");
	return cap_close(&c);
}

/* load -> dump -> parse -> dump gives the same text and the same model. */
static void roundtrip(const char *rel)
{
	struct pt_config *a = load_quiet(rel), *b = NULL;
	char *d1 = NULL, *d2 = NULL, *errs = NULL;
	int i, j;

	if (!a)
		return;
	d1 = dump_str(a);
	errs = parse_errors("dump.json", d1, NULL, &b);
	if (!ASSERT_TRUE(b, rel)) {
		fprintf(stderr, "%s%s", errs, d1);
		goto out;
	}
	d2 = dump_str(b);
	ASSERT_STREQ(d2, d1, rel);
	ASSERT_FALSE(b->legacy, "a dump is native");
	ASSERT_EQ(b->n_listeners, a->n_listeners, rel);
	ASSERT_EQ(b->n_patterns, a->n_patterns, rel);
	for (i = 0; i < a->n_listeners && i < b->n_listeners; i++) {
		const struct pt_listener_cfg *la = &a->listeners[i], *lb = &b->listeners[i];

		ASSERT_EQ(lb->has_timeout_ms, la->has_timeout_ms, "has_timeout_ms kept");
		ASSERT_EQ(lb->timeout_ms, la->timeout_ms, "timeout kept");
		ASSERT_EQ(lb->listen[0].v6only, la->listen[0].v6only, "v6only kept");
		if (!ASSERT_EQ(lb->n_routes, la->n_routes, rel))
			continue;
		for (j = 0; j < la->n_routes; j++) {
			ASSERT_STREQ(lb->routes[j].name, la->routes[j].name, rel);
			ASSERT_EQ(lb->routes[j].proto, la->routes[j].proto, rel);
			ASSERT_EQ(lb->routes[j].action, la->routes[j].action, rel);
			ASSERT_EQ(lb->routes[j].pattern, la->routes[j].pattern, rel);
			ASSERT_EQ(lb->routes[j].n_upstreams, la->routes[j].n_upstreams, rel);
			ASSERT_EQ(lb->routes[j].pool ? lb->routes[j].pool - b->pools : -1,
				  la->routes[j].pool ? la->routes[j].pool - a->pools : -1, rel);
		}
	}
	if (ASSERT_EQ(b->n_pools, a->n_pools, rel)) {
		for (i = 0; i < a->n_pools; i++) {
			const struct pt_pool *pa = &a->pools[i], *pb = &b->pools[i];

			ASSERT_STREQ(pb->name, pa->name, rel);
			ASSERT_EQ(pb->balance, pa->balance, rel);
			ASSERT_EQ(pb->fallback, pa->fallback, rel);
			ASSERT_EQ(pb->health.on, pa->health.on, rel);
			ASSERT_EQ(pb->health.fall, pa->health.fall, rel);
			ASSERT_EQ(pb->eject_failures, pa->eject_failures, rel);
			ASSERT_EQ(pb->n_rr_seq, pa->n_rr_seq, rel);
		}
	}
out:
	free(errs);
	free(d1);
	free(d2);
	pt_config_put(a);
	pt_config_put(b);
}

static void test_roundtrip(void)
{
	roundtrip("examples/full.json");
	roundtrip("examples/legacy.json");
	roundtrip(DATA "/good/minimal.json");
	roundtrip(DATA "/good/forms.json");
	roundtrip(DATA "/good/go-sample.json");
	roundtrip(DATA "/good/legacy-order.json");
	roundtrip(DATA "/good/pools.json");
	roundtrip(DATA "/good/terminate.json");
}

static void test_dump_shape(void)
{
	struct pt_config *cfg = load_quiet("examples/legacy.json");
	char *d;

	if (!cfg)
		return;
	d = dump_str(cfg);
	ASSERT_STRSTR(
		d,
		"\"name\": \"TLS CATCHALL\",\n          \"match\": { \"protocol\": \"tls\" },\n"
		"          \"reject\": true",
		"legacy translation visible");
	ASSERT_STRSTR(d, "{ \"name\": \"CATCHALL\", \"forward\": [\"127.0.0.1:8080\"] }",
		      "final catch-all");
	ASSERT_TRUE(!strstr(d, "\"timeout_ms\""), "timeout_ms left to -t");
	ASSERT_TRUE(!strstr(d, "servers"), "native format");
	free(d);
	pt_config_put(cfg);
}

static void test_refcount(void)
{
	struct pt_config *cfg = load_quiet("examples/full.json");

	if (!cfg)
		return;
	ASSERT_EQ(cfg->refcnt, 1, "one reference");
	ASSERT_TRUE(pt_config_get(cfg) == cfg, "get returns cfg");
	ASSERT_EQ(cfg->refcnt, 2, "two references");
	pt_config_put(cfg);
	ASSERT_EQ(cfg->refcnt, 1, "back to one");
	ASSERT_EQ(cfg->listeners[0].n_routes, 9, "still alive");
	pt_config_put(cfg); /* frees; ASan/valgrind check the rest */
	pt_config_put(NULL);
	ASSERT_TRUE(pt_config_get(NULL) == NULL, "get(NULL)");
}

/* Both readers build listeners with config-build.c: a legacy one gets the native defaults. */
static void test_legacy_defaults(void)
{
	const char *native = "{ \"listeners\": [ { \"listen\": \":8443\", "
			     "\"routes\": [ { \"forward\": \"127.0.0.1:80\" } ] } ] }";
	const char *legacy = "{ \"servers\": { \":8443\": { \"CATCHALL\": { \"CATCHALL\": "
			     "{ \"action\": \"FORWARD\", \"to_addr\": \"127.0.0.1:80\" } } } } }";
	struct pt_config *a, *b;
	const struct pt_listener_cfg *la, *lb;

	a = pt_config_parse("native.json", native, NULL, stderr);
	b = pt_config_parse("legacy.json", legacy, NULL, stderr);
	if (!ASSERT_TRUE(a && b, "parsed") || !ASSERT_TRUE(b->legacy, "legacy"))
		goto out;
	la = &a->listeners[0];
	lb = &b->listeners[0];
	ASSERT_EQ(lb->timeout_ms, la->timeout_ms, "timeout_ms");
	ASSERT_EQ(lb->max_bytes, la->max_bytes, "max_bytes");
	ASSERT_EQ(lb->max_connections, la->max_connections, "max_connections");
	ASSERT_EQ(lb->max_per_source, la->max_per_source, "max_connections_per_source");
	ASSERT_EQ(lb->max_detecting, la->max_detecting, "max_detecting");
	ASSERT_EQ(lb->source_prefix_v4, la->source_prefix_v4, "source_prefix_v4");
	ASSERT_EQ(lb->source_prefix_v6, la->source_prefix_v6, "source_prefix_v6");
	/* What one client may hold is bounded unless the file says otherwise. */
	ASSERT_EQ(la->max_per_source, PT_DEF_MAX_PER_SOURCE, "per-source limit on by default");
	ASSERT_TRUE(la->max_per_source > 0, "per-source limit not 0");
	ASSERT_TRUE(la->max_detecting > 0 && la->max_detecting < la->max_connections,
		    "max_detecting bounded, below max_connections");
	ASSERT_EQ(la->source_prefix_v6, 64, "IPv6 clients counted per /64");
	ASSERT_EQ(la->source_prefix_v4, 32, "IPv4 clients counted per address");
	ASSERT_EQ(lb->connect_timeout_ms, la->connect_timeout_ms, "connect_timeout_ms");
	ASSERT_EQ(lb->idle_timeout_ms, la->idle_timeout_ms, "idle_timeout_ms");
	ASSERT_EQ(lb->data_plane, la->data_plane, "data_plane");
	ASSERT_EQ(lb->sockmap_sndbuf, la->sockmap_sndbuf, "sockmap_sndbuf");
	ASSERT_EQ(lb->sockmap_max_queued, la->sockmap_max_queued, "sockmap_max_queued");
	ASSERT_EQ(lb->drain_timeout_ms, la->drain_timeout_ms, "drain_timeout_ms");
out:
	pt_config_put(a);
	pt_config_put(b);
}

/*
 * The descriptor-limit policy: the raised limit is the hard one, unset
 * max_connections shrink to what it leaves, and a config that cannot fit
 * is refused with -EMFILE (under a lowered soft limit, restored after).
 */
static void test_fd_limit(void)
{
	const char *text = "{ \"listeners\": [ { \"listen\": \":8443\", \"max_connections\": 1000, "
			   "\"routes\": [ { \"forward\": \"127.0.0.1:80\" } ] }, "
			   "{ \"listen\": \":8444\", \"routes\": [ { \"reject\": true } ] } ] }";
	struct pt_config_opts opts = {.fd_limit = 4600, .workers = 2};
	struct pt_config *cfg;
	struct rlimit saved, rl;
	unsigned long long lim;

	if (!ASSERT_OK(getrlimit(RLIMIT_NOFILE, &saved), "getrlimit"))
		return;
	lim = pt_config_raise_fds();
	ASSERT_OK(getrlimit(RLIMIT_NOFILE, &rl), "getrlimit");
	ASSERT_EQ(rl.rlim_cur, rl.rlim_max, "soft limit raised to the hard one");
	ASSERT_EQ(lim, rl.rlim_cur == RLIM_INFINITY ? 0 : rl.rlim_cur, "returns the limit");

	/* (4600 - 600) / 2 * 2 workers = 4000 connections, 1000 of them set */
	cfg = pt_config_parse("fds.json", text, &opts, stderr);
	if (!ASSERT_TRUE(cfg, "parsed"))
		goto out;
	ASSERT_EQ(cfg->listeners[0].max_connections, 1000, "set: kept");
	ASSERT_EQ(cfg->listeners[1].max_connections, 3000, "unset: sized to the limit");

	/* 4000 connections over 2 workers need 2 * 2000 + 600 descriptors each */
	rl.rlim_cur = 4600;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < rl.rlim_cur)
		rl.rlim_cur = rl.rlim_max;
	ASSERT_OK(setrlimit(RLIMIT_NOFILE, &rl), "setrlimit");
	ASSERT_EQ(pt_config_check_fds(cfg, 2), rl.rlim_cur >= 4600 ? 0 : -EMFILE, "fits");
	ASSERT_EQ(pt_config_check_fds(cfg, 1), -EMFILE, "one worker cannot hold it");
	pt_config_put(cfg);
out:
	ASSERT_OK(setrlimit(RLIMIT_NOFILE, &saved), "limit restored");
}

static void test_names(void)
{
	static const char *const protos[] = {"any",    "tls",	 "http",    "http2",   "ssh",
					     "socks4", "socks5", "pattern", "timeout", "unknown"};
	static const char *const dps[] = {"auto", "sockmap", "splice"};
	int i;

	for (i = 0; i < 10; i++) {
		ASSERT_STREQ(pt_match_proto_name((enum pt_match_proto)i), protos[i], protos[i]);
		ASSERT_EQ(pt_match_proto_from_name(protos[i]), i, protos[i]);
	}
	ASSERT_EQ(PT_MATCH_UNKNOWN, 9, "enum size");
	ASSERT_STREQ(pt_match_proto_name((enum pt_match_proto)42), "?", "out of range");
	ASSERT_EQ(pt_match_proto_from_name("TLS"), -1, "case-sensitive");
	for (i = 0; i < 3; i++) {
		ASSERT_STREQ(pt_data_plane_name((enum pt_data_plane)i), dps[i], dps[i]);
		ASSERT_EQ(pt_data_plane_from_name(dps[i]), i, dps[i]);
	}
	ASSERT_EQ(pt_data_plane_from_name("xdp"), -1, "unknown data plane");
}

/* Boundaries that must still load. */
static void test_limits_accepted(void)
{
	char text[1024], path[300];
	struct pt_config *cfg;
	char *errs;

	memset(path, 'x', sizeof(path));
	path[0] = '/';
	path[PT_PATH_MAX - 1] = '\0'; /* 255 characters */
	snprintf(text, sizeof(text),
		 "{ \"grace_ms\": 3600000, \"listeners\": [ { \"listen\": \"[::1]:65535\", "
		 "\"timeout_ms\": 600000, \"max_bytes\": 65536, \"max_connections\": 10000000, "
		 "\"connect_timeout_ms\": 600000, \"routes\": [ { \"match\": { \"protocol\": "
		 "\"http\", \"path_prefix\": \"%s\", \"cidr\": [\"0.0.0.0/0\", \"::/0\"] }, "
		 "\"forward\": \"127.0.0.1:1\" } ] } ] }",
		 path);
	errs = parse_errors("limits.json", text, NULL, &cfg);
	ASSERT_STREQ(errs, "", "no errors");
	ASSERT_TRUE(cfg, "loaded");
	if (cfg)
		ASSERT_EQ(strlen(cfg->listeners[0].routes[0].path_prefix.v[0]), 255, "path kept");
	free(errs);
	pt_config_put(cfg);
}

static bool find_root(const char *argv0)
{
	char exe[PATH_MAX], *p;
	ssize_t n;
	int up;

	if (!access(DATA "/bad", F_OK))
		return getcwd(root, sizeof(root)) != NULL;
	/* build/tests/test_config -> the tree two levels above its directory */
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return false;
	exe[n] = '\0';
	for (up = 0; up < 3 && (p = strrchr(exe, '/')); up++)
		*p = '\0';
	snprintf(root, sizeof(root), "%s", exe);
	return !access(path_of(DATA "/bad"), F_OK);
}

int main(int argc, char **argv)
{
	if (!find_root(argv[0])) {
		fprintf(stderr, "cannot find %s (run from the source tree)\n", DATA);
		pt_t_fail++;
		return pt_test_done();
	}
	RUN_TEST(test_full_example);
	RUN_TEST(test_minimal_defaults);
	RUN_TEST(test_forms);
	RUN_TEST(test_legacy_readme);
	RUN_TEST(test_legacy_go_sample);
	RUN_TEST(test_legacy_ssh_silent_off);
	RUN_TEST(test_legacy_order_and_case);
	RUN_TEST(test_readme_error_line);
	RUN_TEST(test_all_errors_reported);
	RUN_TEST(test_syntax_line_col);
	RUN_TEST(test_unresolvable);
	RUN_TEST(test_load_errors);
	RUN_TEST(test_roundtrip);
	RUN_TEST(test_dump_shape);
	RUN_TEST(test_refcount);
	RUN_TEST(test_legacy_defaults);
	RUN_TEST(test_fd_limit);
	RUN_TEST(test_names);
	RUN_TEST(test_limits_accepted);
	run_bad_files();
	return pt_test_done();
}
