// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Address helpers: the config's address syntax, CIDR matching (IPv4-mapped
 * clients of dual-stack sockets included) and the text form of addresses.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "addr.h"
#include "config.h"
#include "test.h"

static struct sockaddr_storage ss_buf;

static const struct sockaddr *sa4(const char *ip, uint16_t port)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss_buf;

	memset(&ss_buf, 0, sizeof(ss_buf));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	inet_pton(AF_INET, ip, &sin->sin_addr);
	return (const struct sockaddr *)sin;
}

static const struct sockaddr *sa6(const char *ip, uint16_t port)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss_buf;

	memset(&ss_buf, 0, sizeof(ss_buf));
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	inet_pton(AF_INET6, ip, &sin6->sin6_addr);
	return (const struct sockaddr *)sin6;
}

static bool contains(const char *cidr, const struct sockaddr *sa)
{
	struct pt_cidr c;

	if (pt_cidr_parse(cidr, &c) != 0) {
		ASSERT_TRUE(false, cidr);
		return false;
	}
	return pt_cidr_contains(&c, sa);
}

static void test_cidr_contains(void)
{
	ASSERT_TRUE(contains("10.0.0.0/8", sa4("10.1.2.3", 1)), "v4 in v4");
	ASSERT_FALSE(contains("10.0.0.0/8", sa4("11.0.0.1", 1)), "v4 outside");
	ASSERT_TRUE(contains("10.0.0.0/8", sa6("::ffff:10.1.2.3", 1)), "mapped client is v4");
	ASSERT_FALSE(contains("10.0.0.0/8", sa6("::ffff:11.1.2.3", 1)), "mapped outside");
	ASSERT_FALSE(contains("10.0.0.0/8", sa6("::a01:203", 1)), "compat is not mapped");
	ASSERT_FALSE(contains("0.0.0.0/0", sa6("2001:db8::1", 1)), "v4 /0 is not v6");
	ASSERT_TRUE(contains("0.0.0.0/0", sa6("::ffff:1.2.3.4", 1)), "v4 /0 takes mapped");
	ASSERT_TRUE(contains("192.168.16.0/20", sa4("192.168.31.255", 1)), "/20 upper edge");
	ASSERT_FALSE(contains("192.168.16.0/20", sa4("192.168.32.0", 1)), "/20 past the edge");
	ASSERT_TRUE(contains("192.0.2.7", sa4("192.0.2.7", 1)), "single address");
	ASSERT_FALSE(contains("192.0.2.7", sa4("192.0.2.6", 1)), "single address only");
	ASSERT_TRUE(contains("2001:db8::/32", sa6("2001:db8:ffff::1", 1)), "v6 in v6");
	ASSERT_FALSE(contains("2001:db8::/32", sa6("2001:db9::1", 1)), "v6 outside");
	ASSERT_FALSE(contains("2001:db8::/32", sa4("32.1.13.184", 1)), "v4 client, v6 net");
	ASSERT_TRUE(contains("::/0", sa4("1.2.3.4", 1)), "::/0 takes every client");
	ASSERT_TRUE(contains("::ffff:0:0/96", sa4("1.2.3.4", 1)), "mapped net takes v4");
	ASSERT_TRUE(contains("::ffff:10.0.0.0/104", sa6("::ffff:10.9.9.9", 1)), "mapped in mapped");
	ASSERT_TRUE(contains("::1", sa6("::1", 1)), "v6 single");
}

static void test_cidr_parse(void)
{
	struct pt_cidr c;
	char buf[64];

	ASSERT_EQ(pt_cidr_parse("10.1.2.3/8", &c), 1, "host bits reported");
	ASSERT_STREQ(pt_cidr_str(&c, buf, sizeof(buf)), "10.0.0.0/8", "and cleared");
	ASSERT_EQ(pt_cidr_parse("2001:db8::1/33", &c), 1, "v6 host bits");
	ASSERT_STREQ(pt_cidr_str(&c, buf, sizeof(buf)), "2001:db8::/33", "v6 cleared");
	ASSERT_EQ(pt_cidr_parse("0.0.0.0/0", &c), 0, "/0");
	ASSERT_EQ(c.prefix, 0, "prefix 0");
	ASSERT_EQ(pt_cidr_parse("1.2.3.4", &c), 0, "single");
	ASSERT_EQ(c.prefix, 32, "/32");
	ASSERT_EQ(pt_cidr_parse("::", &c), 0, "v6 single");
	ASSERT_EQ(c.prefix, 128, "/128");
	ASSERT_EQ(pt_cidr_parse("1.2.3.4/33", &c), -ERANGE, "v4 prefix range");
	ASSERT_EQ(pt_cidr_parse("::/129", &c), -ERANGE, "v6 prefix range");
	ASSERT_EQ(pt_cidr_parse("1.2.3.4/", &c), -EINVAL, "empty prefix");
	ASSERT_EQ(pt_cidr_parse("1.2.3.4/-1", &c), -EINVAL, "negative prefix");
	ASSERT_EQ(pt_cidr_parse("1.2.3/24", &c), -EINVAL, "short v4");
	ASSERT_EQ(pt_cidr_parse("example.com/8", &c), -EINVAL, "name");
	ASSERT_EQ(pt_cidr_parse("", &c), -EINVAL, "empty");
}

static void test_sockaddr_str(void)
{
	char buf[PT_SOCKADDR_STRLEN];

	ASSERT_STREQ(pt_sockaddr_str(sa4("1.2.3.4", 80), buf, sizeof(buf)), "1.2.3.4:80", "v4");
	ASSERT_STREQ(pt_sockaddr_str(sa6("::1", 443), buf, sizeof(buf)), "[::1]:443", "v6");
	ASSERT_STREQ(pt_sockaddr_str(sa6("::ffff:192.0.2.1", 8080), buf, sizeof(buf)),
		     "192.0.2.1:8080", "mapped prints as v4");
	ASSERT_STREQ(pt_sockaddr_str(sa6("2001:db8::1", 65535), buf, sizeof(buf)),
		     "[2001:db8::1]:65535", "v6 port");
	ss_buf.ss_family = AF_UNIX;
	ASSERT_STREQ(pt_sockaddr_str((struct sockaddr *)&ss_buf, buf, sizeof(buf)),
		     "(address family 1)", "other family");
	pt_sockaddr_str(sa6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535), buf, 8);
	ASSERT_EQ(strlen(buf), 7, "truncated to the buffer");
}

static void test_hostport_split(void)
{
	char host[64];
	uint16_t port;
	bool br;

	ASSERT_OK(pt_hostport_split("example.com:443", host, sizeof(host), &port, &br), "name");
	ASSERT_STREQ(host, "example.com", "host");
	ASSERT_EQ(port, 443, "port");
	ASSERT_FALSE(br, "not bracketed");
	ASSERT_OK(pt_hostport_split("[fe80::1%eth0]:1", host, sizeof(host), &port, &br), "v6");
	ASSERT_STREQ(host, "fe80::1%eth0", "inside the brackets");
	ASSERT_TRUE(br, "bracketed");
	ASSERT_OK(pt_hostport_split(":65535", host, sizeof(host), &port, &br), "empty host");
	ASSERT_STREQ(host, "", "empty");
	ASSERT_EQ(port, 65535, "max port");
	ASSERT_EQ(pt_hostport_split("h:0", host, sizeof(host), &port, &br), -ERANGE, "port 0");
	ASSERT_EQ(pt_hostport_split("h:65536", host, sizeof(host), &port, &br), -ERANGE, "big");
	ASSERT_EQ(pt_hostport_split("h:99999999999999999999", host, sizeof(host), &port, &br),
		  -ERANGE, "huge");
	ASSERT_EQ(pt_hostport_split("h:", host, sizeof(host), &port, &br), -EINVAL, "no port");
	ASSERT_EQ(pt_hostport_split("h:+1", host, sizeof(host), &port, &br), -EINVAL, "sign");
	ASSERT_EQ(pt_hostport_split("h", host, sizeof(host), &port, &br), -EINVAL, "no colon");
	ASSERT_EQ(pt_hostport_split("::1:80", host, sizeof(host), &port, &br), -EINVAL, "bare v6");
	ASSERT_EQ(pt_hostport_split("[::1]80", host, sizeof(host), &port, &br), -EINVAL, "]80");
	ASSERT_EQ(pt_hostport_split("[::1", host, sizeof(host), &port, &br), -EINVAL, "no ]");
	ASSERT_EQ(pt_hostport_split("abcdefgh:1", host, 8, &port, &br), -EINVAL, "too long");
}

static void test_listen_parse(void)
{
	struct pt_sockaddr sa;
	char buf[PT_SOCKADDR_STRLEN];
	bool v6only;

	ASSERT_OK(pt_listen_parse("*:443", &sa, &v6only), "*:p");
	ASSERT_EQ(sa.ss.ss_family, AF_INET6, "*:p is [::]");
	ASSERT_EQ(sa.len, sizeof(struct sockaddr_in6), "len v6");
	ASSERT_FALSE(v6only, "*:p dual");
	ASSERT_OK(pt_listen_parse("[::]:443", &sa, &v6only), "[::]");
	ASSERT_TRUE(v6only, "[::] v6only");
	ASSERT_OK(pt_listen_parse("127.0.0.1:80", &sa, &v6only), "v4");
	ASSERT_EQ(sa.len, sizeof(struct sockaddr_in), "len v4");
	ASSERT_STREQ(pt_sockaddr_str((struct sockaddr *)&sa.ss, buf, sizeof(buf)), "127.0.0.1:80",
		     "v4 text");
	ASSERT_EQ(pt_listen_parse("localhost:80", &sa, &v6only), -EINVAL, "no names");
	ASSERT_EQ(pt_listen_parse("10.1:80", &sa, &v6only), -EINVAL, "no inet_aton forms");
	ASSERT_EQ(pt_listen_parse("[1.2.3.4]:80", &sa, &v6only), -EINVAL, "v4 in brackets");
	ASSERT_EQ(pt_listen_parse("*:0", &sa, &v6only), -ERANGE, "port 0");
}

static void test_upstream_resolve(void)
{
	struct pt_sockaddr *a = NULL;
	char buf[PT_SOCKADDR_STRLEN];
	const char *why;
	int n = 0;

	ASSERT_OK(pt_upstream_resolve("[::1]:22", &a, &n, &why), "v6 literal");
	ASSERT_EQ(n, 1, "one address");
	ASSERT_STREQ(pt_sockaddr_str((struct sockaddr *)&a[0].ss, buf, sizeof(buf)), "[::1]:22",
		     "v6 upstream");
	free(a);
	ASSERT_OK(pt_upstream_resolve("192.0.2.1:22", &a, &n, &why), "v4 literal");
	ASSERT_EQ(a[0].len, sizeof(struct sockaddr_in), "sockaddr_in");
	free(a);
	ASSERT_EQ(pt_upstream_resolve("10.1:22", &a, &n, &why), -EINVAL, "not a dotted quad");
	ASSERT_EQ(pt_upstream_resolve("123:22", &a, &n, &why), -EINVAL, "a number is no host");
	ASSERT_EQ(pt_upstream_resolve(":22", &a, &n, &why), -EINVAL, "no host");
	ASSERT_EQ(pt_upstream_resolve("*:22", &a, &n, &why), -EINVAL, "no wildcard");
	ASSERT_EQ(pt_upstream_resolve("a b:22", &a, &n, &why), -EINVAL, "space");
	ASSERT_EQ(pt_upstream_resolve("[nope]:22", &a, &n, &why), -EINVAL, "bad v6");
	ASSERT_EQ(pt_upstream_resolve("x.invalid:22", &a, &n, &why), -ENOENT, ".invalid");
	ASSERT_TRUE(why && *why, "says why");
	ASSERT_EQ(pt_upstream_resolve("INVALID.:22", &a, &n, &why), -ENOENT, "INVALID.");
}

static void test_listen_conflict(void)
{
	struct pt_listen_addr a, b;

	pt_listen_parse(":443", &a.addr, &a.v6only);
	pt_listen_parse("0.0.0.0:443", &b.addr, &b.v6only);
	ASSERT_TRUE(pt_listen_conflict(&a, &b), "dual-stack vs 0.0.0.0");
	ASSERT_TRUE(pt_listen_conflict(&b, &a), "symmetric");
	pt_listen_parse("[::]:443", &a.addr, &a.v6only);
	ASSERT_FALSE(pt_listen_conflict(&a, &b), "v6only [::] vs 0.0.0.0");
	pt_listen_parse("*:443", &b.addr, &b.v6only);
	ASSERT_TRUE(pt_listen_conflict(&a, &b), "[::] vs *");
	pt_listen_parse("*:444", &b.addr, &b.v6only);
	ASSERT_FALSE(pt_listen_conflict(&a, &b), "other port");
	pt_listen_parse("127.0.0.1:443", &a.addr, &a.v6only);
	pt_listen_parse("127.0.0.2:443", &b.addr, &b.v6only);
	ASSERT_FALSE(pt_listen_conflict(&a, &b), "other address");
}

int main(void)
{
	RUN_TEST(test_cidr_contains);
	RUN_TEST(test_cidr_parse);
	RUN_TEST(test_sockaddr_str);
	RUN_TEST(test_hostport_split);
	RUN_TEST(test_listen_parse);
	RUN_TEST(test_upstream_resolve);
	RUN_TEST(test_listen_conflict);
	return pt_test_done();
}
