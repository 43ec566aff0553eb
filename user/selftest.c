// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A functional test of the kernel data plane, run once at start on two real
 * loopback connections relayed through the loaded maps, before any client
 * is accepted. It checks the behaviours passthru depends on and that older
 * kernels got wrong (shared/research/sockmap.md 4.5):
 *
 *   pre    bytes queued before insertion are relayed after the kick
 *          ("TCP data stall on recv before accept", 2023)
 *   bulk   512 KiB through a target with a tiny send buffer arrive exactly
 *          once, in order (EAGAIN-retry loss and duplication, 2025)
 *   fin    after the peer's FIN, recv() on the source says 0, not EAGAIN,
 *          and no error lands on the target ("handle fin correctly", 2023;
 *          zero-length skb EPIPE)
 *
 * A failure means the kernel lacks something: the caller unloads the maps
 * and relays with splice. In the test build (PT_TEST_HOOKS, `make tests`
 * makes build/tests/passthru-hooks), PASSTHRU_SELFTEST_FAIL=<step> makes
 * that step fail on purpose, so that tests can prove the fallback on any
 * kernel; the shipped daemon does not read it.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "bpf_loader.h"
#include "log.h"
#include "selftest.h"

#define ST_BULK	      (512u << 10)
#define ST_TIMEOUT_MS 3000

/* The daemon side relays x <-> y; a is x's client, b is y's server. */
struct st_socks {
	int lsn, a, x, y, b;
	__u64 ck[2];
};

#ifdef PT_TEST_HOOKS
/* Test build only: PASSTHRU_SELFTEST_FAIL=@step makes that step fail. */
static bool injected(const char *step)
{
	const char *f = getenv("PASSTHRU_SELFTEST_FAIL");

	return f && !strcmp(f, step);
}
#else
static bool injected(const char *step)
{
	return false;
}
#endif

static int tcp_pair(int lsn, int *conn, int *acc)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	if (getsockname(lsn, (struct sockaddr *)&sin, &len))
		return -errno;
	*conn = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*conn < 0)
		return -errno;
	if (connect(*conn, (struct sockaddr *)&sin, sizeof(sin)))
		return -errno;
	*acc = accept4(lsn, NULL, NULL, SOCK_CLOEXEC);
	return *acc < 0 ? -errno : 0;
}

static int open_socks(struct st_socks *s)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int err;

	s->lsn = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->lsn < 0)
		return -errno;
	if (bind(s->lsn, (struct sockaddr *)&sin, sizeof(sin)) || listen(s->lsn, 4))
		return -errno;
	err = tcp_pair(s->lsn, &s->a, &s->x);
	if (!err)
		err = tcp_pair(s->lsn, &s->y, &s->b);
	return err;
}

static void close_socks(struct st_socks *s)
{
	int *fds[] = { &s->lsn, &s->a, &s->x, &s->y, &s->b };

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (*fds[i] >= 0)
			close(*fds[i]);
}

static int insert(struct pt_bpf *bpf, struct st_socks *s, __u32 slot)
{
	struct pt_pair *p = &bpf->pairs[slot];
	int fds[2] = { s->x, s->y };
	socklen_t len = sizeof(__u64);
	char k;

	memset(p, 0, sizeof(*p));
	p->limit = 1ull << 30;
	for (int i = 0; i < 2; i++) {
		struct pt_sock_ref ref = { .slot = slot, .dir = i };
		__u64 fd = fds[i];

		if (getsockopt(fds[i], SOL_SOCKET, SO_COOKIE, &s->ck[i], &len))
			return -errno;
		p->cookie[i] = s->ck[i];
		/* peer_base stays 0: with a 1 GiB limit the SYN's byte does not matter. */
		if (bpf_map_update_elem(bpf->socks_fd, &s->ck[i], &ref, BPF_NOEXIST) ||
		    bpf_map_update_elem(bpf->tx_fd, &s->ck[i], &fd, BPF_NOEXIST))
			return -errno;
	}
	for (int i = 0; i < 2; i++) {
		__u64 fd = fds[i];

		if (bpf_map_update_elem(bpf->rx_fd, &s->ck[i], &fd, BPF_NOEXIST))
			return -errno;
	}
	for (int i = 0; i < 2; i++)
		recv(fds[i], &k, 1, MSG_PEEK | MSG_DONTWAIT);
	return 0;
}

static void remove_socks(struct pt_bpf *bpf, struct st_socks *s, __u32 slot)
{
	for (int i = 0; i < 2; i++) {
		bpf_map_delete_elem(bpf->rx_fd, &s->ck[i]);
		bpf_map_delete_elem(bpf->tx_fd, &s->ck[i]);
		bpf_map_delete_elem(bpf->socks_fd, &s->ck[i]);
	}
	memset(&bpf->pairs[slot], 0, sizeof(bpf->pairs[slot]));
}

static long elapsed_ms(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Read exactly n bytes from fd into buf within the deadline. */
static int read_exact(int fd, char *buf, size_t n)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	struct timespec t0;
	size_t got = 0;
	ssize_t r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (got < n) {
		if (elapsed_ms(&t0) > ST_TIMEOUT_MS)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, 50) < 0)
			return -errno;
		r = recv(fd, buf + got, n - got, MSG_DONTWAIT);
		if (r == 0)
			return -EPIPE;
		if (r < 0 && errno != EAGAIN)
			return -errno;
		if (r > 0)
			got += r;
	}
	return 0;
}

static unsigned char pattern(size_t i)
{
	return (unsigned char)(i * 131 + (i >> 11));
}

/* Push ST_BULK bytes a -> b while y's send buffer is tiny; check them. */
static int step_bulk(struct st_socks *s, char *buf)
{
	struct pollfd pfd[2] = { { .fd = s->a, .events = POLLOUT },
				 { .fd = s->b, .events = POLLIN } };
	size_t sent = 0, got = 0;
	struct timespec t0;
	int small = 4096;
	ssize_t r;

	setsockopt(s->y, SOL_SOCKET, SO_SNDBUFFORCE, &small, sizeof(small));
	fcntl(s->a, F_SETFL, O_NONBLOCK);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (got < ST_BULK) {
		if (elapsed_ms(&t0) > ST_TIMEOUT_MS)
			return -ETIMEDOUT;
		pfd[0].events = sent < ST_BULK ? POLLOUT : 0;
		poll(pfd, 2, 50);
		if (sent < ST_BULK) {
			size_t n = ST_BULK - sent < 65536 ? ST_BULK - sent : 65536;

			for (size_t i = 0; i < n; i++)
				buf[i] = pattern(sent + i);
			r = send(s->a, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (r < 0 && errno != EAGAIN)
				return -errno;
			sent += r > 0 ? r : 0;
		}
		r = recv(s->b, buf, 65536, MSG_DONTWAIT);
		if (r == 0)
			return -EPIPE;
		if (r < 0 && errno != EAGAIN)
			return -errno;
		for (ssize_t i = 0; i < r; i++)
			if ((unsigned char)buf[i] != pattern(got + i))
				return -EILSEQ;
		got += r > 0 ? r : 0;
	}
	/* Nothing more may come: a duplicate would show up here. */
	usleep(20000);
	r = recv(s->b, buf, 1, MSG_DONTWAIT);
	return r > 0 ? -EILSEQ : 0;
}

/* a's FIN: x must report EOF (0), y must carry no error. */
static int step_fin(struct st_socks *s)
{
	struct timespec t0;
	int err = 0;
	socklen_t len = sizeof(err);
	char c;

	shutdown(s->a, SHUT_WR);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		ssize_t r = recv(s->x, &c, 1, MSG_DONTWAIT);

		if (r == 0)
			break;
		if (r > 0 || errno != EAGAIN)
			return r > 0 ? -EILSEQ : -errno;
		if (elapsed_ms(&t0) > 1000)
			return -EAGAIN;
		usleep(2000);
	}
	getsockopt(s->y, SOL_SOCKET, SO_ERROR, &err, &len);
	return err ? -err : 0;
}

int pt_sockmap_selftest(struct pt_bpf *bpf, const char **step)
{
	struct st_socks s = { -1, -1, -1, -1, -1, { 0, 0 } };
	static const char pre[] = "passthru-selftest";
	__u32 slot = 0;
	char *buf;
	int err;

	buf = malloc(65536);
	if (!buf)
		return -ENOMEM;
	*step = "setup";
	err = open_socks(&s);
	if (err)
		goto out;
	if (send(s.a, pre, sizeof(pre), 0) != sizeof(pre)) {
		err = -errno;
		goto out;
	}
	usleep(1000);
	err = insert(bpf, &s, slot);
	if (err)
		goto out_remove;

	*step = "pre";
	err = injected("pre") ? -EPROTO : read_exact(s.b, buf, sizeof(pre));
	if (!err && memcmp(buf, pre, sizeof(pre)))
		err = -EILSEQ;
	if (err)
		goto out_remove;
	*step = "bulk";
	err = injected("bulk") ? -EPROTO : step_bulk(&s, buf);
	if (err)
		goto out_remove;
	*step = "fin";
	err = injected("fin") ? -EPROTO : step_fin(&s);
out_remove:
	remove_socks(bpf, &s, slot);
out:
	close_socks(&s);
	free(buf);
	return err;
}
