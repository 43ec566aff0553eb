// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Routing: the first route whose every condition holds wins. Conditions on
 * the client address are checked at once; conditions on the protocol wait
 * until detection has finished. path_prefix compares the normalised path
 * (pt_path_normalise), not the bytes the client sent. dst_cidr and dst_port
 * look at the destination the client asked for (gateway.c), known at accept.
 * ja4 compares the fingerprint (detectors/ja4.c) exactly, or its start for
 * "t13d*". dst_host and forward "requested" are for the tunnels of a
 * terminating listener (tunnel.c): a route with either never takes a
 * connection that asked no destination of passthru.
 */
#include <netinet/in.h>
#include <string.h>

#include "addr.h"
#include "route.h"

bool pt_name_match(const char *pat, const char *name)
{
	size_t plen, nlen;

	if (pat[0] != '*' || pat[1] != '.')
		return !strcmp(pat, name);
	/* "*.example.com" matches "a.example.com" and "a.b.example.com". */
	plen = strlen(pat + 1);
	nlen = strlen(name);
	return nlen > plen && !strcmp(name + nlen - plen, pat + 1);
}

static bool any_name_matches(const struct pt_strv *pats, const char *name)
{
	if (!pats->n)
		return true;
	for (int i = 0; i < pats->n; i++)
		if (pt_name_match(pats->v[i], name))
			return true;
	return false;
}

static bool any_alpn_offered(const struct pt_strv *want, const struct pt_fields *f)
{
	if (!want->n)
		return true;
	for (int i = 0; i < want->n; i++)
		if (pt_fields_has_alpn(f, want->v[i]))
			return true;
	return false;
}

static bool any_path_prefix(const struct pt_strv *prefixes, const char *path)
{
	if (!prefixes->n)
		return true;
	for (int i = 0; i < prefixes->n; i++)
		if (!strncmp(path, prefixes->v[i], strlen(prefixes->v[i])))
			return true;
	return false;
}

/* Exact, or a prefix when the pattern ends in "*". */
static bool any_ja4_matches(const struct pt_strv *pats, const char *ja4)
{
	size_t n;

	if (!pats->n)
		return true;
	for (int i = 0; i < pats->n; i++) {
		n = strlen(pats->v[i]);
		if (n && pats->v[i][n - 1] == '*' ? !strncmp(ja4, pats->v[i], n - 1) :
						    !strcmp(ja4, pats->v[i]))
			return true;
	}
	return false;
}

static bool cidr_ok(const struct pt_route *r, const struct sockaddr *peer)
{
	if (!r->n_cidr)
		return true;
	for (int i = 0; i < r->n_cidr; i++)
		if (pt_cidr_contains(&r->cidr[i], peer))
			return true;
	return false;
}

/* dst_cidr and dst_port against the destination the client asked for (NULL: unknown). */
static bool dst_ok(const struct pt_route *r, const struct sockaddr *dst, const char *host)
{
	const struct sockaddr_in *in = (const struct sockaddr_in *)dst;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)dst;
	bool ok = !r->n_dst_cidr;
	uint16_t port;

	if ((r->requested || r->dst_host.n) && !host)
		return false;
	if (!any_name_matches(&r->dst_host, host ? host : ""))
		return false;
	if (!r->n_dst_cidr && !r->n_dst_port)
		return true;
	if (!dst)
		return false;
	for (int i = 0; !ok && i < r->n_dst_cidr; i++)
		ok = pt_cidr_contains(&r->dst_cidr[i], dst);
	if (!ok || !r->n_dst_port)
		return ok;
	port = ntohs(dst->sa_family == AF_INET ? in->sin_port : in6->sin6_port);
	for (int i = 0; i < r->n_dst_port; i++)
		if (r->dst_port[i] == port)
			return true;
	return false;
}

/* The protocol conditions of r against a finished detection. */
static bool proto_ok(const struct pt_route *r, const struct pt_fields *f)
{
	switch (r->proto) {
	case PT_MATCH_ANY:
		return true;
	case PT_MATCH_TIMEOUT:
		return f->proto == PT_PROTO_NONE;
	case PT_MATCH_UNKNOWN:
		return f->proto == PT_PROTO_UNKNOWN;
	case PT_MATCH_TLS:
		return f->proto == PT_PROTO_TLS && any_name_matches(&r->sni, f->sni) &&
		       any_alpn_offered(&r->alpn, f) && any_ja4_matches(&r->ja4, f->ja4);
	case PT_MATCH_HTTP:
		return f->proto == PT_PROTO_HTTP && any_name_matches(&r->host, f->host) &&
		       any_path_prefix(&r->path_prefix, f->npath);
	case PT_MATCH_HTTP2:
		return f->proto == PT_PROTO_HTTP2;
	case PT_MATCH_SSH:
		return f->proto == PT_PROTO_SSH;
	case PT_MATCH_SOCKS4:
		return f->proto == PT_PROTO_SOCKS4;
	case PT_MATCH_SOCKS5:
		return f->proto == PT_PROTO_SOCKS5;
	case PT_MATCH_PATTERN:
		return f->proto == PT_PROTO_PATTERN && f->pattern == r->pattern;
	}
	return false;
}

enum pt_route_res pt_route_select(const struct pt_listener_cfg *l, const struct sockaddr *peer,
				  const struct sockaddr *dst, const char *dst_host,
				  const struct pt_fields *f, bool done, int *idx)
{
	for (int i = 0; i < l->n_routes; i++) {
		const struct pt_route *r = &l->routes[i];

		if (!cidr_ok(r, peer) || !dst_ok(r, dst, dst_host))
			continue;
		if (r->proto != PT_MATCH_ANY && !done)
			return PT_ROUTE_PENDING;
		if (proto_ok(r, f)) {
			*idx = i;
			return PT_ROUTE_FOUND;
		}
	}
	return PT_ROUTE_NONE;
}
