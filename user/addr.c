// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Address syntax of the config file and upstream resolution (CIDR parsing
 * and matching are in common.c, shared with passthru-ctl).
 * Nothing here prints: callers turn the negative errno into a message that
 * names the JSON path.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>

#include "addr.h"
#include "config.h"

static bool is_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* Decimal 1..max (0 allowed with @zero_ok); -EINVAL if not digits. */
static int parse_uint(const char *s, unsigned int max, bool zero_ok, unsigned int *out)
{
	unsigned long v = 0;

	if (!is_digits(s))
		return -EINVAL;
	for (; *s; s++) {
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > max)
			return -ERANGE;
	}
	if (!v && !zero_ok)
		return -ERANGE;
	*out = (unsigned int)v;
	return 0;
}

/*
 * Split "host:port", "[v6]:port", ":port" or "*:port" into @host (the text
 * between the brackets for "[v6]", possibly "" or "*") and @port (1..65535).
 * An unbracketed host with a colon (a bare IPv6 address) is -EINVAL.
 */
int pt_hostport_split(const char *spec, char *host, size_t size, uint16_t *port, bool *bracketed)
{
	const char *beg = spec, *end, *colon;
	unsigned int p;
	size_t len;
	int err;

	*bracketed = spec[0] == '[';
	if (*bracketed) {
		beg = spec + 1;
		end = strchr(beg, ']');
		if (!end || end[1] != ':')
			return -EINVAL;
		colon = end + 1;
	} else {
		colon = strrchr(spec, ':');
		if (!colon || memchr(spec, ':', (size_t)(colon - spec)))
			return -EINVAL;
		end = colon;
	}
	len = (size_t)(end - beg);
	if (len >= size)
		return -EINVAL;
	err = parse_uint(colon + 1, 65535, false, &p);
	if (err)
		return err;
	memcpy(host, beg, len);
	host[len] = '\0';
	*port = (uint16_t)p;
	return 0;
}

/*
 * Parse a listen address. "IPv4:port" and "[IPv6]:port" bind that address
 * ("[...]" sockets are IPv6 only); ":port" and "*:port" bind [::] with
 * v6only off so that one socket takes IPv4 and IPv6. Names are not allowed.
 */
int pt_listen_parse(const char *spec, struct pt_sockaddr *sa, bool *v6only)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&sa->ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&sa->ss;
	char host[INET6_ADDRSTRLEN];
	bool bracketed;
	uint16_t port;
	int err;

	err = pt_hostport_split(spec, host, sizeof(host), &port, &bracketed);
	if (err)
		return err;
	memset(sa, 0, sizeof(*sa));
	if (!bracketed && (!host[0] || !strcmp(host, "*"))) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_any;
		*v6only = false;
	} else if (bracketed) {
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return -EINVAL;
		sin6->sin6_family = AF_INET6;
		*v6only = true;
	} else {
		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			return -EINVAL;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		sa->len = sizeof(*sin);
		*v6only = false;
		return 0;
	}
	sin6->sin6_port = htons(port);
	sa->len = sizeof(*sin6);
	return 0;
}

/* Letters, digits, '-', '_' and dots between non-empty labels. */
static bool is_lookup_name(const char *s)
{
	size_t label = 0, len = strlen(s);

	if (!len || len > 253)
		return false;
	for (; *s; s++) {
		if (*s == '.') {
			if (!label)
				return false;
			label = 0;
		} else if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
			   (*s >= '0' && *s <= '9') || *s == '-' || *s == '_') {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return true;
}

/* RFC 6761 §6.4: names under .invalid never resolve; say so without asking DNS. */
static bool is_invalid_tld(const char *name)
{
	size_t len = strlen(name);

	if (len && name[len - 1] == '.')
		len--;
	if (len < 7)
		return false;
	return !strncasecmp(name + len - 7, "invalid", 7) && (len == 7 || name[len - 8] == '.');
}

static int resolve(const char *host, uint16_t port, bool numeric6, struct pt_sockaddr **addrs,
		   int *n, const char **why)
{
	struct addrinfo hints = {
		.ai_family = numeric6 ? AF_INET6 : AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_NUMERICSERV | (numeric6 ? AI_NUMERICHOST : 0),
	};
	struct addrinfo *res, *ai;
	struct pt_sockaddr *v;
	char serv[8];
	int rc, i = 0;

	snprintf(serv, sizeof(serv), "%u", port);
	rc = getaddrinfo(host, serv, &hints, &res);
	if (rc == EAI_NONAME && numeric6)
		return -EINVAL;
	if (rc) {
		*why = rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc);
		return rc == EAI_MEMORY ? -ENOMEM : -ENOENT;
	}
	for (ai = res; ai; ai = ai->ai_next)
		i++;
	v = calloc((size_t)i, sizeof(*v));
	if (!v) {
		freeaddrinfo(res);
		return -ENOMEM;
	}
	for (ai = res, i = 0; ai; ai = ai->ai_next) {
		if (ai->ai_addrlen > sizeof(v[i].ss))
			continue;
		memcpy(&v[i].ss, ai->ai_addr, ai->ai_addrlen);
		v[i++].len = ai->ai_addrlen;
	}
	freeaddrinfo(res);
	*addrs = v;
	*n = i;
	return 0;
}

/*
 * Split an upstream "host:port" and check the host's syntax: a dotted quad,
 * a name to look up, or (bracketed) an IPv6 address, checked when resolved.
 */
static int check_upstream(const char *spec, char *host, size_t size, uint16_t *port,
			  bool *bracketed, const char **why)
{
	int err;

	*why = NULL;
	err = pt_hostport_split(spec, host, size, port, bracketed);
	if (err)
		return err;
	if (*bracketed)
		return 0;
	/* All digits and dots: a dotted quad, not inet_aton's "10.1" */
	if (strspn(host, "0123456789.") == strlen(host)) {
		struct in_addr a;

		if (inet_pton(AF_INET, host, &a) != 1)
			return -EINVAL;
	} else if (!is_lookup_name(host)) {
		return -EINVAL;
	} else if (is_invalid_tld(host)) {
		*why = "the .invalid domain never resolves";
		return -ENOENT;
	}
	return 0;
}

/*
 * Check an upstream "host:port" as pt_upstream_resolve() does, without
 * resolving it (nor, for "[v6]", parsing the address).
 */
int pt_upstream_check(const char *spec, const char **why)
{
	char host[256];
	bool bracketed;
	uint16_t port;

	return check_upstream(spec, host, sizeof(host), &port, &bracketed, why);
}

/*
 * Resolve an upstream "host:port" ("name:port", "1.2.3.4:port" or
 * "[v6]:port") into every address getaddrinfo() returns, in its order.
 * On -ENOENT, @why says what the resolver answered. @addrs is malloc'd.
 */
int pt_upstream_resolve(const char *spec, struct pt_sockaddr **addrs, int *n, const char **why)
{
	char host[256];
	bool bracketed;
	uint16_t port;
	int err;

	err = check_upstream(spec, host, sizeof(host), &port, &bracketed, why);
	if (err)
		return err;
	err = resolve(host, port, bracketed, addrs, n, why);
	if (!err && !*n) {
		free(*addrs);
		*addrs = NULL;
		*why = "no usable address";
		return -ENOENT;
	}
	return err;
}

/*
 * Text form of a socket address: "1.2.3.4:80", "[2001:db8::1]:80",
 * "[fe80::1%eth0]:80"; an IPv4-mapped IPv6 address prints as plain IPv4.
 * @size must be at least 1; PT_SOCKADDR_STRLEN always fits. Returns @buf.
 */
char *pt_sockaddr_str(const struct sockaddr *sa, char *buf, size_t size)
{
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
	const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
	char ip[INET6_ADDRSTRLEN], scope[IF_NAMESIZE + 1] = "";

	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
		snprintf(buf, size, "%s:%u", ip, ntohs(sin->sin_port));
	} else if (sa->sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
		inet_ntop(AF_INET, &sin6->sin6_addr.s6_addr[12], ip, sizeof(ip));
		snprintf(buf, size, "%s:%u", ip, ntohs(sin6->sin6_port));
	} else if (sa->sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
		if (sin6->sin6_scope_id && !if_indextoname(sin6->sin6_scope_id, scope))
			snprintf(scope, sizeof(scope), "%u", sin6->sin6_scope_id);
		snprintf(buf, size, "[%s%s%s]:%u", ip, scope[0] ? "%" : "", scope,
			 ntohs(sin6->sin6_port));
	} else {
		snprintf(buf, size, "(address family %d)", sa->sa_family);
	}
	return buf;
}

/* The address alone, "1.2.3.4" or "2001:db8::1" (mapped IPv4 as IPv4); returns buf. */
char *pt_sockaddr_ip_str(const struct sockaddr *sa, char *buf, size_t size)
{
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
	const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &sin->sin_addr, buf, size);
	else if (sa->sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
		inet_ntop(AF_INET, &sin6->sin6_addr.s6_addr[12], buf, size);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &sin6->sin6_addr, buf, size);
	else
		snprintf(buf, size, "(address family %d)", sa->sa_family);
	return buf;
}

/* Same family, address, port (and IPv6 scope)? Mapped IPv4 is not IPv4 here. */
bool pt_sockaddr_equal(const struct sockaddr *a, const struct sockaddr *b)
{
	const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)a;
	const struct sockaddr_in6 *b6 = (const struct sockaddr_in6 *)b;
	const struct sockaddr_in *a4 = (const struct sockaddr_in *)a;
	const struct sockaddr_in *b4 = (const struct sockaddr_in *)b;

	if (a->sa_family != b->sa_family)
		return false;
	if (a->sa_family == AF_INET)
		return a4->sin_port == b4->sin_port && a4->sin_addr.s_addr == b4->sin_addr.s_addr;
	if (a->sa_family == AF_INET6)
		return a6->sin6_port == b6->sin6_port && a6->sin6_scope_id == b6->sin6_scope_id &&
		       IN6_ARE_ADDR_EQUAL(&a6->sin6_addr, &b6->sin6_addr);
	return false;
}

static bool is_dual_any(const struct pt_listen_addr *l)
{
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&l->addr.ss;

	return sin6->sin6_family == AF_INET6 && !l->v6only &&
	       IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr);
}

static bool is_v4_any(const struct pt_listen_addr *l)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&l->addr.ss;

	return sin->sin_family == AF_INET && sin->sin_addr.s_addr == htonl(INADDR_ANY);
}

/*
 * Would two listen addresses take the same connections? True for the same
 * address and port, and for a dual-stack ":port" next to "0.0.0.0:port".
 */
bool pt_listen_conflict(const struct pt_listen_addr *a, const struct pt_listen_addr *b)
{
	const struct sockaddr_in *a4 = (const struct sockaddr_in *)&a->addr.ss;
	const struct sockaddr_in *b4 = (const struct sockaddr_in *)&b->addr.ss;

	/* sin_port and sin6_port sit at the same offset */
	if (a4->sin_port != b4->sin_port)
		return false;
	if (pt_sockaddr_equal((const struct sockaddr *)&a->addr.ss,
			      (const struct sockaddr *)&b->addr.ss))
		return true;
	return (is_dual_any(a) && is_v4_any(b)) || (is_dual_any(b) && is_v4_any(a));
}
