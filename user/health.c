// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Active health checks (health.h). One struct pt_check per server of a
 * pool with "health", each with its own socket and timer: the timer starts
 * a check every interval_ms (the first ones spread over one interval) and
 * bounds it to timeout_ms. A server with several addresses is checked on
 * its first one.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"
#include "config.h"
#include "health.h"
#include "log.h"
#include "pool.h"

#define PT_CHECK_BUF 1024

struct pt_check {
	struct pt_health *h;
	const struct pt_pool *pool;
	int srv;
	struct pt_ev ev;
	struct pt_timer timer;
	uint64_t started;	/* ms, 0 while no check runs */
	unsigned int streak;	/* results in a row that disagree with the server's state */
	size_t got;
	char buf[PT_CHECK_BUF];
};

/*
 * A minimal ClientHello: TLS 1.3 and 1.2 suites and an empty key share, so
 * that a TLS 1.3 server answers a HelloRetryRequest (a ServerHello too)
 * without any key exchange on our side.
 */
static size_t client_hello(uint8_t *b, size_t cap)
{
	static const uint8_t suites[] = { 0x13, 0x01, 0x13, 0x02, 0x13, 0x03, 0xc0, 0x2f, 0xc0,
					  0x30, 0xc0, 0x2b, 0xc0, 0x2c, 0x00, 0x9c, 0x00, 0x2f };
	static const uint8_t ext[] = {
		0x00, 0x0a, 0x00, 0x08, 0x00, 0x06, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x18, /* groups */
		0x00, 0x0b, 0x00, 0x02, 0x01, 0x00,				  /* points */
		0x00, 0x0d, 0x00, 0x12, 0x00, 0x10, 0x04, 0x03, 0x08, 0x04, 0x04, 0x01, 0x05, 0x03,
		0x08, 0x05, 0x05, 0x01, 0x08, 0x06, 0x06, 0x01,		/* signature algorithms */
		0x00, 0x2b, 0x00, 0x05, 0x04, 0x03, 0x04, 0x03, 0x03,	/* versions 1.3, 1.2 */
		0x00, 0x33, 0x00, 0x02, 0x00, 0x00,	/* key_share: none (OpenSSL wants the key) */
	};
	size_t body = 2 + 32 + 1 + 2 + sizeof(suites) + 2 + 2 + sizeof(ext), n = 0;

	if (cap < body + 9)
		return 0;
	b[n++] = 0x16, b[n++] = 0x03, b[n++] = 0x01;		/* record: handshake */
	b[n++] = (uint8_t)((body + 4) >> 8), b[n++] = (uint8_t)(body + 4);
	b[n++] = 0x01, b[n++] = 0, b[n++] = (uint8_t)(body >> 8), b[n++] = (uint8_t)body;
	b[n++] = 0x03, b[n++] = 0x03;
	for (int i = 0; i < 32; i++)
		b[n++] = (uint8_t)random();
	b[n++] = 0;						/* no session id */
	b[n++] = 0, b[n++] = sizeof(suites);
	memcpy(b + n, suites, sizeof(suites));
	n += sizeof(suites);
	b[n++] = 1, b[n++] = 0;					/* null compression */
	b[n++] = 0, b[n++] = sizeof(ext);
	memcpy(b + n, ext, sizeof(ext));
	return n + sizeof(ext);
}

static const struct pt_pool_server *server_of(const struct pt_check *ck)
{
	return &ck->pool->servers[ck->srv];
}

static void end_socket(struct pt_check *ck)
{
	if (ck->ev.fd < 0)
		return;
	pt_loop_unwatch(ck->h->loop, &ck->ev);
	close(ck->ev.fd);
	ck->ev.fd = -1;
}

/* Count one result; move the server up or down after rise / fall in a row. */
static void check_done(struct pt_check *ck, bool ok, const char *why)
{
	const struct pt_health_cfg *hc = &ck->pool->health;
	struct pt_srv_state *st = pt_pool_row(ck->h->sh, ck->pool, ck->srv);
	struct pt_loop *l = ck->h->loop;
	bool down;

	end_socket(ck);
	pt_timer_arm(l, &ck->timer, ck->started + hc->interval_ms);
	if (!st)
		return;
	__atomic_fetch_add(&st->checks, 1, __ATOMIC_RELAXED);
	if (!ok)
		__atomic_fetch_add(&st->checks_failed, 1, __ATOMIC_RELAXED);
	else
		__atomic_store_n(&st->check_ms, l->now - ck->started, __ATOMIC_RELAXED);
	ck->started = 0;
	down = __atomic_load_n(&st->down, __ATOMIC_RELAXED);
	if (ok != down) {
		ck->streak = 0;
		return;
	}
	if (++ck->streak < (ok ? hc->rise : hc->fall))
		return;
	ck->streak = 0;
	/* Logged first: no connection reaches a server before the line saying it is up. */
	if (ok)
		pr_info(MAIN, "pool %s: server %s is up (%u checks passed)", ck->pool->name,
			server_of(ck)->u.spec, hc->rise);
	else
		pr_warn(MAIN, "pool %s: server %s is down (%u checks failed, last: %s)",
			ck->pool->name, server_of(ck)->u.spec, hc->fall, why);
	__atomic_store_n(&st->down, !ok, __ATOMIC_RELEASE);
	__atomic_fetch_add(&st->transitions, 1, __ATOMIC_RELAXED);
}

/* Connected: send what the check sends; true if a reply must be read. */
static bool send_probe(struct pt_check *ck, const char **why)
{
	const struct pt_health_cfg *hc = &ck->pool->health;
	uint8_t hello[256];
	const void *p = hc->send;
	size_t n = hc->send ? strlen(hc->send) : 0;

	if (hc->tls) {
		n = client_hello(hello, sizeof(hello));
		p = hello;
	}
	if (n && send(ck->ev.fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)n) {
		*why = "send failed";
		return false;
	}
	*why = NULL;
	return hc->tls || hc->expect;
}

/* Judge the reply so far: 1 passed, 0 failed, -1 wait for more. */
static int judge(struct pt_check *ck, bool eof)
{
	const struct pt_health_cfg *hc = &ck->pool->health;
	const uint8_t *b = (const uint8_t *)ck->buf;

	if (hc->tls) {
		if (ck->got < 6)
			return eof ? 0 : -1;
		return b[0] == 0x16 && b[1] == 0x03 && b[5] == 0x02;	/* handshake: ServerHello */
	}
	if (memmem(ck->buf, ck->got, hc->expect, strlen(hc->expect)))
		return 1;
	return eof || ck->got == sizeof(ck->buf) ? 0 : -1;
}

static void read_reply(struct pt_check *ck)
{
	ssize_t n;
	int v;

	do {
		n = recv(ck->ev.fd, ck->buf + ck->got, sizeof(ck->buf) - ck->got, 0);
		if (n > 0)
			ck->got += (size_t)n;
	} while (n > 0 && ck->got < sizeof(ck->buf));
	if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK) {
		check_done(ck, false, "reset");
		return;
	}
	v = judge(ck, n == 0);
	if (v >= 0)
		check_done(ck, v, ck->pool->health.tls ? "no ServerHello" : "expect not found");
}

static void check_event(struct pt_ev *ev, uint32_t events)
{
	struct pt_check *ck = container_of(ev, struct pt_check, ev);
	const char *why;

	if (ev->events & EPOLLOUT) {
		if (events & (EPOLLERR | EPOLLHUP)) {
			check_done(ck, false, "connect failed");
			return;
		}
		if (!send_probe(ck, &why)) {
			check_done(ck, !why, why);
			return;
		}
		if (pt_loop_watch(ck->h->loop, ev, EPOLLIN | EPOLLRDHUP))
			check_done(ck, false, "epoll");
		return;
	}
	read_reply(ck);
}

static void check_start(struct pt_check *ck)
{
	const struct pt_pool_server *s = server_of(ck);
	const struct pt_sockaddr *a = s->u.n_addrs ? &s->u.addrs[0] : NULL;
	struct pt_loop *l = ck->h->loop;
	int fd;

	ck->started = l->now;
	ck->got = 0;
	pt_timer_arm(l, &ck->timer, l->now + ck->pool->health.timeout_ms);
	fd = a ? socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0) : -1;
	if (fd == -1) {
		check_done(ck, false, a ? "socket" : "no address");
		return;
	}
	pt_ev_init(&ck->ev, fd, check_event);
	if (connect(fd, &a->ss.sa, a->len) && errno != EINPROGRESS) {
		check_done(ck, false, "connect failed");
		return;
	}
	if (pt_loop_watch(l, &ck->ev, EPOLLOUT))
		check_done(ck, false, "epoll");
}

static void check_timer(struct pt_timer *t)
{
	struct pt_check *ck = container_of(t, struct pt_check, timer);

	if (ck->started)
		check_done(ck, false, "timeout");
	else
		check_start(ck);
}

static int n_checked(const struct pt_config *cfg)
{
	int n = 0;

	for (int i = 0; i < cfg->n_pools; i++)
		if (cfg->pools[i].health.on)
			n += cfg->pools[i].n_servers;
	return n;
}

int pt_health_start(struct pt_health *h, struct pt_loop *loop, struct pt_config *cfg,
		    struct pt_pool_shared *sh)
{
	int n = n_checked(cfg), k = 0;

	if (!h)
		return 0;
	h->loop = loop;
	h->sh = sh;
	h->checks = n ? calloc((size_t)n, sizeof(*h->checks)) : NULL;
	if (n && !h->checks)
		return -ENOMEM;
	h->n_checks = n;
	h->cfg = pt_config_get(cfg);
	for (int i = 0; i < cfg->n_pools; i++) {
		const struct pt_pool *p = &cfg->pools[i];

		for (int s = 0; p->health.on && s < p->n_servers; s++, k++) {
			struct pt_check *ck = &h->checks[k];

			*ck = (struct pt_check){ .h = h, .pool = p, .srv = s, .ev.fd = -1 };
			pt_timer_init(&ck->timer, check_timer);
			/* The first checks spread over one interval. */
			pt_timer_arm(loop, &ck->timer,
				     loop->now + (uint64_t)p->health.interval_ms * s / p->n_servers);
		}
	}
	if (n)
		pr_info(MAIN, "health checks: %d servers", n);
	return 0;
}

void pt_health_stop(struct pt_health *h)
{
	if (!h || !h->loop)
		return;
	for (int i = 0; i < h->n_checks; i++) {
		end_socket(&h->checks[i]);
		pt_timer_cancel(h->loop, &h->checks[i].timer);
	}
	free(h->checks);
	h->checks = NULL;
	h->n_checks = 0;
	pt_config_put(h->cfg);
	h->cfg = NULL;
	h->loop = NULL;
}

int pt_health_reload(struct pt_health *h, struct pt_config *next)
{
	struct pt_loop *loop = h ? h->loop : NULL;

	if (!loop)
		return 0;
	pt_health_stop(h);
	return pt_health_start(h, loop, next, h->sh);
}

void pt_health_forget(struct pt_health *h)
{
	if (!h)
		return;
	for (int i = 0; i < h->n_checks; i++)
		if (h->checks[i].ev.fd >= 0)
			close(h->checks[i].ev.fd);
	free(h->checks);
	h->checks = NULL;
	h->n_checks = 0;
	h->loop = NULL;
}
