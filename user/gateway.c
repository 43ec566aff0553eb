// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Gateway listeners (gateway.h). With the nftables tproxy rule of README
 * ("Gateway mode") the kernel hands a connection for any address to a
 * listening socket with IP_TRANSPARENT, and the accepted socket's own
 * address is the one the client asked for (getsockname). With a redirect
 * (NAT) rule the accepted socket's address is passthru's; conntrack keeps
 * the original, which SO_ORIGINAL_DST (IPv4, SOL_IP) or
 * IP6T_SO_ORIGINAL_DST (IPv6, SOL_IPV6) reads back. Both options are 80.
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/netfilter_ipv4.h>

#include "addr.h"
#include "config.h"
#include "conn.h"
#include "gateway.h"
#include "log.h"

#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80 /* linux/netfilter_ipv6/ip6_tables.h */
#endif

/* ::ffff:a.b.c.d becomes a.b.c.d, so that it binds and connects as IPv4. */
static void unmap(struct pt_sockaddr *a)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };

	if (a->ss.ss_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&a->ss.sin6.sin6_addr))
		return;
	sin.sin_port = a->ss.sin6.sin6_port;
	memcpy(&sin.sin_addr, &a->ss.sin6.sin6_addr.s6_addr[12], 4);
	memset(a, 0, sizeof(*a));
	a->ss.sin = sin;
	a->len = sizeof(sin);
}

/* conntrack's original destination of the accepted socket @fd; -errno. */
static int original_dst(int fd, const struct pt_conn *c, struct pt_sockaddr *a)
{
	bool v4 =
		c->peer.ss.ss_family == AF_INET || IN6_IS_ADDR_V4MAPPED(&c->peer.ss.sin6.sin6_addr);

	a->len = v4 ? sizeof(a->ss.sin) : sizeof(a->ss.sin6);
	if (getsockopt(fd, v4 ? SOL_IP : SOL_IPV6, v4 ? SO_ORIGINAL_DST : IP6T_SO_ORIGINAL_DST,
		       &a->ss.sa, &a->len))
		return -errno;
	return 0;
}

void pt_gateway_dst(struct pt_conn *c)
{
	struct pt_sockaddr a = { .len = sizeof(a.ss) };
	int err = 0;

	if (c->lcfg->mode == PT_MODE_REDIRECT)
		err = original_dst(c->cli.fd, c, &a);
	else if (getsockname(c->cli.fd, &a.ss.sa, &a.len))
		err = -errno;
	if (!err && !pt_conn_extra(c))
		err = -ENOMEM;
	if (err) {
		pr_debug(CONN, "#%llu: original destination: %s", (unsigned long long)c->id,
			 strerror(-err));
		return;
	}
	unmap(&a);
	c->x->local = a;
}

/*
 * Is @dst an address of this host? A socket without IP_TRANSPARENT binds
 * only to those (EADDRNOTAVAIL otherwise); port 0 takes no port.
 */
static bool is_local(const struct pt_sockaddr *dst)
{
	struct pt_sockaddr a = *dst;
	int fd = socket(a.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool local;

	if (fd == -1)
		return true; /* cannot tell: refuse rather than risk a loop */
	if (a.ss.ss_family == AF_INET)
		a.ss.sin.sin_port = 0;
	else
		a.ss.sin6.sin6_port = 0;
	local = bind(fd, &a.ss.sa, a.len) == 0 || errno != EADDRNOTAVAIL;
	close(fd);
	return local;
}

/* Would a connection to @dst reach the listen address @la (a wildcard: any local address)? */
static bool reaches(const struct pt_listen_addr *la, const struct pt_sockaddr *dst)
{
	const union pt_inet_addr *l = &la->addr.ss;
	in_port_t port =
		dst->ss.ss_family == AF_INET ? dst->ss.sin.sin_port : dst->ss.sin6.sin6_port;

	if (l->ss_family == AF_INET) {
		if (dst->ss.ss_family != AF_INET || l->sin.sin_port != port)
			return false;
		if (l->sin.sin_addr.s_addr != htonl(INADDR_ANY))
			return l->sin.sin_addr.s_addr == dst->ss.sin.sin_addr.s_addr;
		return is_local(dst);
	}
	if (l->sin6.sin6_port != port || (dst->ss.ss_family == AF_INET && la->v6only))
		return false;
	if (!IN6_IS_ADDR_UNSPECIFIED(&l->sin6.sin6_addr))
		return dst->ss.ss_family == AF_INET6 &&
		       IN6_ARE_ADDR_EQUAL(&l->sin6.sin6_addr, &dst->ss.sin6.sin6_addr);
	return is_local(dst);
}

bool pt_gateway_refuse_original(const struct pt_conn *c)
{
	const struct pt_config *cfg = c->cfg;
	const struct pt_sockaddr *dst = pt_conn_local(c);
	char buf[PT_SOCKADDR_STRLEN];

	if (!dst) {
		pr_warn(CONN,
			"#%llu: forward original: the original destination is unknown "
			"(no conntrack entry: is the redirect rule in place?)",
			(unsigned long long)c->id);
		return true;
	}
	for (int i = 0; i < cfg->n_listeners; i++) {
		for (int a = 0; a < cfg->listeners[i].n_listen; a++) {
			if (!reaches(&cfg->listeners[i].listen[a], dst))
				continue;
			pr_warn(CONN,
				"#%llu: forward to %s: passthru's own listener %s "
				"(a loop): refused",
				(unsigned long long)c->id,
				pt_sockaddr_str(&dst->ss.sa, buf, sizeof(buf)),
				cfg->listeners[i].name);
			return true;
		}
	}
	return false;
}
