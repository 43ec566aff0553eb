// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The handshakes of terminated proxies (tunnel.h): SOCKS5 (greeting,
 * RFC 1929 username/password when "users" are configured, the CONNECT
 * request) and HTTP CONNECT (one request head). Each round peeks at what
 * the client sent into the worker's scratch, lets the pure parsers
 * (socks5.c, httpconnect.c) say how long the next message is, and then
 * consumes exactly that: bytes after it, if a client sends its tunnelled
 * bytes early, stay queued for the inner detection.
 *
 * A requested name is looked up with resolver.c (getaddrinfo_a, off the
 * loop) under the listener's connect_timeout_ms; an address is taken as
 * it is. Only then is the reply chosen: "not allowed" (SOCKS5 0x02, HTTP
 * 403) when no route could match the destination whatever the inner
 * protocol turns out to be, "host unreachable" (0x04, 502; 504 for a
 * lookup that timed out) when the name does not resolve, else success.
 * Credentials are compared and forgotten, never logged.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/sockios.h>

#include "conn.h"
#include "httpconnect.h"
#include "log.h"
#include "resolver.h"
#include "route.h"
#include "socks5.h"
#include "tunnel.h"
#include "worker.h"

enum pt_tun_step {
	ST_GREETING = 0, /* SOCKS5: methods offered */
	ST_AUTH,	 /* SOCKS5: username/password */
	ST_REQUEST,	 /* SOCKS5 request or CONNECT head */
	ST_RESOLVING,	 /* lookup of the requested name under way */
	ST_DONE,	 /* success sent */
};

#define SOCKS5_PEEK 1024 /* longer than any SOCKS5 client message (513) */

bool pt_tunnel_wanted(const struct pt_conn *c)
{
	const struct pt_terminate_cfg *t = &c->lcfg->term;

	if (c->tun || !c->detected || !c->fields)
		return false;
	if (c->fields->proto == PT_PROTO_SOCKS5)
		return t->socks5;
	return c->fields->proto == PT_PROTO_HTTP && t->http_connect &&
	       !strcmp(c->fields->method, "CONNECT");
}

static bool send_all(struct pt_conn *c, const void *b, size_t n)
{
	return send(c->cli.fd, b, n, MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)n;
}

/* Answer with the SOCKS5 code @rep or the HTTP status @status, whichever the client speaks. */
static bool answer(struct pt_conn *c, uint8_t rep, int status)
{
	uint8_t b[128];
	size_t n;

	if (c->tun->outer == PT_PROTO_SOCKS5)
		n = pt_socks5_reply(rep, b);
	else
		n = pt_http_connect_reply(status, (char *)b, sizeof(b));
	return send_all(c, b, n);
}

/*
 * Take the @n bytes of a whole message off the client socket (they were
 * peeked). They count as read but not relayed, like a PROXY header's
 * (c->pp_len: the sockmap plane's byte accounting subtracts them).
 */
static bool consume(struct pt_conn *c, size_t n)
{
	if (recv(c->cli.fd, c->w->window, n, MSG_DONTWAIT) != (ssize_t)n)
		return false;
	c->pp_len = (uint16_t)(c->pp_len + n);
	return true;
}

/* Refuse: say @why in the log, end with @reason. */
static enum pt_tun_res refuse(struct pt_conn *c, const char *why, enum pt_end reason,
			      enum pt_end *end)
{
	c->tun->why = why;
	*end = reason;
	pr_debug(CONN, "#%llu: tunnel refused: %s", (unsigned long long)c->id, why);
	return PT_TUN_CLOSE;
}

#ifdef PT_TEST_HOOKS
/*
 * Test build only (build/tests/passthru-hooks): PASSTHRU_FAULT_REPLY_SLEEP_MS=N
 * sleeps N ms after a success reply, as a slow daemon would, so that the
 * client's first tunnelled bytes are queued before the next step looks.
 */
static void reply_sent_hook(void)
{
	const char *e = getenv("PASSTHRU_FAULT_REPLY_SLEEP_MS");
	long ms = e ? strtol(e, NULL, 10) : 0;

	if (ms > 0)
		usleep((useconds_t)(ms * 1000));
}
#else
#define reply_sent_hook() do { } while (0) /* no test knobs outside the test build */
#endif

/*
 * The destination is known (c->x->local): could a route take it? Then reply
 * success and hand over to the inner detection.
 */
static enum pt_tun_res decide(struct pt_conn *c, enum pt_end *end)
{
	struct pt_tunnel *t = c->tun;
	int idx, rest = 0;

	pt_fields_init(c->fields);
	if (pt_route_select(c->lcfg, &c->peer.ss.sa, &c->x->local.ss.sa, t->req.host, c->fields,
			    false, &idx) == PT_ROUTE_NONE) {
		answer(c, PT_SOCKS5_NOT_ALLOWED, 403);
		return refuse(c, "no route for the destination", PT_END_REJECTED, end);
	}
	/*
	 * Tunnelled bytes queued now came before the reply: they may share the
	 * last handshake skb (sockmap.c). Asked before the reply is sent: what a
	 * client sends once it has the reply is in skbs of its own, and on
	 * loopback it can be queued before send() here has even returned.
	 */
	c->pp_shared = ioctl(c->cli.fd, SIOCINQ, &rest) || rest > 0;
	if (!answer(c, PT_SOCKS5_OK, 200))
		return refuse(c, "reply not sent", PT_END_CLIENT_RESET, end);
	reply_sent_hook();
	t->step = ST_DONE;
	t->inner = 1;
	return PT_TUN_READY;
}

/* resolver.c's answer, on the worker's thread. */
static void resolved(void *owner, int err, const struct pt_sockaddr *addr)
{
	struct pt_conn *c = owner;
	enum pt_end end = PT_END_NONE;
	enum pt_tun_res res;

	c->tun->rq = NULL;
	if (err) {
		pr_debug(CONN, "#%llu: lookup of %s: %s", (unsigned long long)c->id,
			 c->tun->req.host, gai_strerror(err));
		answer(c, PT_SOCKS5_HOST_UNREACH, 502);
		res = refuse(c, "name does not resolve", PT_END_UPSTREAM_FAILED, &end);
	} else {
		c->x->local = *addr;
		res = decide(c, &end);
	}
	c->tun->resume(c, res, end);
}

/* A literal address as the requested destination into c->x->local; false if @host is none. */
static bool literal(struct pt_conn *c, const char *host, uint16_t port)
{
	struct pt_sockaddr *a = &c->x->local;

	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, host, &a->ss.sin.sin_addr) == 1) {
		a->ss.sin.sin_family = AF_INET;
		a->ss.sin.sin_port = htons(port);
		a->len = sizeof(a->ss.sin);
		return true;
	}
	if (inet_pton(AF_INET6, host, &a->ss.sin6.sin6_addr) == 1) {
		a->ss.sin6.sin6_family = AF_INET6;
		a->ss.sin6.sin6_port = htons(port);
		a->len = sizeof(a->ss.sin6);
		return true;
	}
	return false;
}

static bool port_allowed(const struct pt_terminate_cfg *tc, uint16_t port)
{
	for (int i = 0; i < tc->n_ports; i++)
		if (tc->ports[i] == port)
			return true;
	return false;
}

/* The request was read: check its port, find its address, decide. */
static enum pt_tun_res requested(struct pt_conn *c, enum pt_end *end)
{
	struct pt_tunnel *t = c->tun;
	struct pt_worker *w = c->w;

	if (t->outer == PT_PROTO_HTTP && !port_allowed(&c->lcfg->term, t->req.port)) {
		answer(c, PT_SOCKS5_NOT_ALLOWED, 403);
		return refuse(c, "port not allowed", PT_END_REJECTED, end);
	}
	if (!pt_conn_extra(c)) { /* where the destination goes */
		answer(c, PT_SOCKS5_FAILURE, 502);
		return refuse(c, "out of memory", PT_END_ERROR, end);
	}
	if (literal(c, t->req.host, t->req.port))
		return decide(c, end);
	t->rq = pt_resolve_start(&w->resolver, &w->loop, t->req.host, t->req.port, c, resolved);
	if (!t->rq) {
		answer(c, PT_SOCKS5_FAILURE, 502);
		return refuse(c, "lookup not started", PT_END_ERROR, end);
	}
	t->step = ST_RESOLVING;
	pt_timer_arm(&w->loop, &c->timer, w->loop.now + c->lcfg->connect_timeout_ms);
	return PT_TUN_AGAIN;
}

/* @got equals @want (non-empty), in a time that does not depend on where they differ. */
static bool same_secret(const char *want, const char *got)
{
	size_t wl = strlen(want), gl = strlen(got);
	unsigned char d = wl != gl;

	for (size_t i = 0; i < gl; i++)
		d |= (unsigned char)(got[i] ^ want[i % wl]);
	return !d;
}

/* Is @user / @pass one of the configured users? */
static bool cred_ok(const struct pt_terminate_cfg *tc, const char *user, const char *pass)
{
	for (int i = 0; i < tc->n_users; i++)
		if (!strcmp(tc->users[i].user, user))
			return same_secret(tc->users[i].pass, pass);
	return false;
}

/* SOCKS5 greeting or authentication (@used bytes, whole): answer it. */
static enum pt_tun_res socks5_auth_step(struct pt_conn *c, const uint8_t *b, size_t n, size_t *used,
					enum pt_end *end)
{
	const struct pt_terminate_cfg *tc = &c->lcfg->term;
	struct pt_tunnel *t = c->tun;
	char user[PT_SOCKS5_CRED_MAX + 1], pass[PT_SOCKS5_CRED_MAX + 1];
	uint8_t method = 0, reply[2];
	enum pt_hs hs;
	bool ok;

	if (t->step == ST_GREETING) {
		hs = pt_socks5_greeting(b, n, tc->n_users > 0, used, &method);
		if (hs != PT_HS_DONE)
			return hs == PT_HS_AGAIN ? PT_TUN_AGAIN
						 : refuse(c, "bad greeting", PT_END_REJECTED, end);
		reply[0] = 5;
		reply[1] = method;
		ok = method != PT_SOCKS5_NO_METHOD;
		t->step = method == PT_SOCKS5_USERPASS ? ST_AUTH : ST_REQUEST;
	} else {
		hs = pt_socks5_auth(b, n, used, user, pass);
		if (hs != PT_HS_DONE)
			return hs == PT_HS_AGAIN
				       ? PT_TUN_AGAIN
				       : refuse(c, "bad authentication", PT_END_REJECTED, end);
		ok = cred_ok(tc, user, pass);
		explicit_bzero(pass, sizeof(pass));
		reply[0] = 1;
		reply[1] = ok ? 0 : 1;
		t->step = ST_REQUEST;
	}
	if (!consume(c, *used)) {
		*end = PT_END_ERROR;
		return PT_TUN_CLOSE;
	}
	send_all(c, reply, sizeof(reply));
	if (!ok)
		return refuse(c,
			      method == PT_SOCKS5_NO_METHOD ? "no acceptable method"
							    : "authentication failed",
			      PT_END_REJECTED, end);
	return PT_TUN_READY; /* this step: go on with the next */
}

/* The SOCKS5 request or the CONNECT head. */
static enum pt_tun_res request_step(struct pt_conn *c, const uint8_t *b, size_t n, size_t *used,
				    enum pt_end *end)
{
	struct pt_tunnel *t = c->tun;
	uint8_t rep = PT_SOCKS5_FAILURE;
	enum pt_hs hs;

	if (t->outer == PT_PROTO_SOCKS5)
		hs = pt_socks5_request(b, n, used, &t->req, &rep);
	else
		hs = pt_http_connect_parse(b, n, used, &t->req);
	if (hs == PT_HS_AGAIN)
		return PT_TUN_AGAIN;
	if (hs == PT_HS_BAD) {
		answer(c, rep, 400);
		memset(&t->req, 0, sizeof(t->req));
		return refuse(c, "bad request", PT_END_REJECTED, end);
	}
	if (!consume(c, *used)) {
		*end = PT_END_ERROR;
		return PT_TUN_CLOSE;
	}
	return requested(c, end);
}

enum pt_tun_res pt_tunnel_round(struct pt_conn *c, enum pt_end *end)
{
	struct pt_tunnel *t = c->tun;
	size_t used, cap = t->outer == PT_PROTO_SOCKS5 ? SOCKS5_PEEK : PT_HTTP_CONNECT_HEAD_MAX;
	enum pt_tun_res res;
	ssize_t n;

	while (t->step < ST_RESOLVING) {
		n = recv(c->cli.fd, c->w->window, cap, MSG_PEEK | MSG_DONTWAIT);
		if (n == -1 && (errno == EAGAIN || errno == EINTR) && !c->cli_rdhup)
			return PT_TUN_AGAIN;
		if (n <= 0)
			return refuse(c, "client left in the handshake",
				      n ? PT_END_CLIENT_RESET : PT_END_CLIENT_GONE, end);
		if (t->step == ST_REQUEST)
			res = request_step(c, c->w->window, (size_t)n, &used, end);
		else
			res = socks5_auth_step(c, c->w->window, (size_t)n, &used, end);
		if (res == PT_TUN_AGAIN && c->cli_rdhup && t->step < ST_RESOLVING)
			return refuse(c, "client left in the handshake", PT_END_CLIENT_GONE, end);
		if (res != PT_TUN_READY || t->step == ST_DONE)
			return res;
	}
	return PT_TUN_AGAIN;
}

enum pt_tun_res pt_tunnel_begin(struct pt_conn *c, enum pt_end *end)
{
	c->tun = calloc(1, sizeof(*c->tun));
	if (!c->tun) {
		*end = PT_END_ERROR;
		return PT_TUN_CLOSE;
	}
	c->tun->outer = (uint8_t)c->fields->proto;
	c->tun->step = c->tun->outer == PT_PROTO_SOCKS5 ? ST_GREETING : ST_REQUEST;
	return pt_tunnel_round(c, end);
}

enum pt_tun_res pt_tunnel_timeout(struct pt_conn *c, enum pt_end *end)
{
	struct pt_tunnel *t = c->tun;

	if (t->step != ST_RESOLVING)
		return refuse(c, "handshake not done by timeout_ms", PT_END_REJECTED, end);
	pt_resolve_abandon(t->rq);
	t->rq = NULL;
	answer(c, PT_SOCKS5_HOST_UNREACH, 504);
	return refuse(c, "lookup timed out", PT_END_UPSTREAM_FAILED, end);
}

void pt_tunnel_free(struct pt_conn *c)
{
	if (!c->tun)
		return;
	if (c->tun->rq)
		pt_resolve_abandon(c->tun->rq);
	free(c->tun);
	c->tun = NULL;
}

void pt_tunnel_requested_str(const struct pt_tunnel *t, char *buf, size_t size)
{
	bool v6 = t->req.is_addr && strchr(t->req.host, ':');

	if (!t->req.port)
		snprintf(buf, size, "-");
	else
		snprintf(buf, size, "%s%s%s:%u", v6 ? "[" : "", t->req.host, v6 ? "]" : "",
			 t->req.port);
}
