// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The PROXY protocol on a connection's sockets (proxyio.h).
 *
 * Incoming: the header is peeked at like detection's window (a header
 * split across segments is peeked again when more comes), and once whole
 * exactly its bytes are read off the socket, so detection and the data
 * planes see the client's own bytes from the first one, in order. The
 * sockmap verdict reads whole skbs (tcp_read_skb), from their start even
 * when the daemon read part of one: if bytes were queued right after the
 * header (c->pp_shared), the skb that held its end may hold them too, and
 * sockmap_attach() hands the connection to splice (fallback=proxy-header).
 * A header that came alone left no skb half read: sockmap takes it, and
 * counts c->pp_len as received but never relayed. Outgoing: the header goes out with one send()
 * on a socket that has just connected and holds nothing else, so it
 * precedes the first flight; it is not counted in c->bytes.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/sockios.h>

#include "addr.h"
#include "conn.h"
#include "log.h"
#include "proxyio.h"
#include "proxyproto.h"
#include "sources.h"
#include "stats.h"
#include "worker.h"

static const char *const outcome_names[] = {
	[PT_PPO_NONE] = "-",		[PT_PPO_WAIT] = "wait",
	[PT_PPO_V1] = "v1",		[PT_PPO_V2] = "v2",
	[PT_PPO_LOCAL] = "local",	[PT_PPO_UNTRUSTED] = "untrusted",
	[PT_PPO_BAD] = "bad",		[PT_PPO_TRUNCATED] = "truncated",
	[PT_PPO_TIMEOUT] = "timeout",	[PT_PPO_OVER_SOURCE] = "over-source-limit",
};

bool pt_proxy_trusted(struct pt_conn *c)
{
	const struct pt_listener_cfg *l = c->lcfg;

	for (int i = 0; i < l->n_trusted; i++) {
		if (pt_cidr_contains(&l->trusted[i], &c->peer.ss.sa)) {
			c->pp = PT_PPO_WAIT;
			return true;
		}
	}
	c->pp = PT_PPO_UNTRUSTED;
	return false;
}

/* Count the header's client against max_connections_per_source. */
static bool take_source(struct pt_conn *c)
{
	const struct pt_listener_cfg *l = c->lcfg;
	struct pt_source_key key;
	unsigned int n;

	if (!l->max_per_source || !c->w->sources)
		return true;
	pt_source_key(&c->peer.ss.sa, l->source_prefix_v4, l->source_prefix_v6, &key);
	if (!pt_source_take(c->w->sources, c->w->id, c->lidx, &key, l->max_per_source, &n)) {
		pt_stat_add(&c->w->stats->l[c->lidx].over_source_limit, 1);
		return false;
	}
	c->src_held = n > 0;
	return true;
}

/*
 * The header is whole: the client it names is the client from now on.
 * -ENOMEM if there is no room to keep the proxy's and the destination's
 * addresses.
 */
static int apply(struct pt_conn *c, const struct pt_pp_hdr *h)
{
	struct pt_conn_extra *x = pt_conn_extra(c);
	char a[64], b[64];

	if (!x)
		return -ENOMEM;
	x->via = c->peer;
	if (h->local) {
		c->pp = PT_PPO_LOCAL;
	} else {
		c->pp = h->version == 1 ? PT_PPO_V1 : PT_PPO_V2;
		c->peer = h->src;
		x->local = h->dst;
	}
	pr_debug(CONN, "#%llu: PROXY v%d from %s: client %s", (unsigned long long)c->id,
		 h->version, pt_sockaddr_str(&x->via.ss.sa, a, sizeof(a)),
		 h->local ? "(local)" : pt_sockaddr_str(&c->peer.ss.sa, b, sizeof(b)));
	return 0;
}

/* A header that will not do: say why (the end line says pp=...). */
static enum pt_ppr refuse(struct pt_conn *c, enum pt_pp_outcome o, const char *why,
			  enum pt_end *end)
{
	char a[64];

	c->pp = o;
	*end = PT_END_REJECTED;
	pr_info(CONN, "#%llu: PROXY header from %s: %s", (unsigned long long)c->id,
		pt_sockaddr_str(&c->peer.ss.sa, a, sizeof(a)), why);
	return PT_PPR_CLOSE;
}

enum pt_ppr pt_proxy_read(struct pt_conn *c, bool timed_out, enum pt_end *end)
{
	struct pt_pp_hdr h;
	const char *why;
	ssize_t n;
	int len, rest;

	n = recv(c->cli.fd, c->w->window, PT_PP_MAX, MSG_PEEK | MSG_DONTWAIT);
	if (n == -1 && errno != EAGAIN && errno != EINTR) {
		*end = PT_END_CLIENT_RESET;
		return PT_PPR_CLOSE;
	}
	len = pt_pp_parse(c->w->window, n > 0 ? (size_t)n : 0, &h, &why);
	if (len < 0)
		return refuse(c, PT_PPO_BAD, why, end);
	if (!len && (n == 0 || c->cli_rdhup))
		return refuse(c, PT_PPO_TRUNCATED, "closed before the header was whole", end);
	if (!len && timed_out)
		return refuse(c, PT_PPO_TIMEOUT, "not whole by the detection deadline", end);
	if (!len)
		return PT_PPR_AGAIN;
	/* The bytes are queued (peeked above): this takes exactly the header. */
	if (recv(c->cli.fd, c->w->window, (size_t)len, MSG_DONTWAIT) != len) {
		*end = PT_END_ERROR;
		return PT_PPR_CLOSE;
	}
	c->pp_len = (uint16_t)len;
	c->pp_shared = ioctl(c->cli.fd, SIOCINQ, &rest) || rest > 0;
	if (apply(c, &h)) {
		pr_warn(CONN, "#%llu: PROXY header: out of memory", (unsigned long long)c->id);
		*end = PT_END_ERROR;
		return PT_PPR_CLOSE;
	}
	if (!take_source(c))
		return refuse(c, PT_PPO_OVER_SOURCE, "client over max_connections_per_source", end);
	return PT_PPR_DONE;
}

/* The first protocol of the client's ALPN list, if detection saw one. */
static void first_alpn(const struct pt_conn *c, struct pt_pp_tlvs *t)
{
	const struct pt_fields *f = c->fields;

	if (!c->detected || !f || f->proto != PT_PROTO_TLS || f->alpn_len < 2 ||
	    f->alpn[0] + 1u > f->alpn_len)
		return;
	t->alpn = f->alpn + 1;
	t->alpn_len = f->alpn[0];
}

enum pt_end pt_proxy_send(struct pt_conn *c)
{
	const char *name = pt_conn_name(c);
	struct pt_pp_tlvs t = { .authority = name, .listener = c->lcfg->name };
	const struct pt_sockaddr *asked = pt_conn_local(c);
	struct pt_sockaddr dst = { .len = sizeof(dst.ss) };
	uint8_t buf[1024];
	ssize_t len, n;

	/* The destination the client asked for, else the address it reached. */
	if (asked)
		dst = *asked;
	else if (getsockname(c->cli.fd, &dst.ss.sa, &dst.len))
		return PT_END_CLIENT_RESET;
	first_alpn(c, &t);
	len = pt_pp_build((int)pt_conn_route(c)->proxy_protocol, &c->peer.ss.sa, &dst.ss.sa, &t,
			  buf, sizeof(buf));
	if (len < 0) {
		/* The TLVs are bounded (SNI/Host, ALPN, listener name): cannot happen. */
		pr_warn(CONN, "#%llu: PROXY header does not fit", (unsigned long long)c->id);
		return PT_END_ERROR;
	}
	n = send(c->up.fd, buf, (size_t)len, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n == len)
		return PT_END_NONE;
	pr_debug(CONN, "#%llu: PROXY header to the upstream: %s", (unsigned long long)c->id,
		 n < 0 ? strerror(errno) : "short write");
	return PT_END_UPSTREAM_RESET;
}

const char *pt_proxy_outcome(const struct pt_conn *c)
{
	return c->pp == PT_PPO_NONE ? NULL : outcome_names[c->pp];
}

int pt_proxy_log_words(const struct pt_conn *c, char *buf, size_t size)
{
	const struct pt_sockaddr *via = pt_conn_via(c);
	char a[64];

	if (c->pp == PT_PPO_NONE)
		return snprintf(buf, size, "%s", "");
	if (!via)
		return snprintf(buf, size, " pp=%s", outcome_names[c->pp]);
	return snprintf(buf, size, " pp=%s via=%s", outcome_names[c->pp],
			pt_sockaddr_str(&via->ss.sa, a, sizeof(a)));
}
