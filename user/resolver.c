// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Asynchronous name lookups with getaddrinfo_a() (resolver.h). The
 * completion runs in a glibc thread and does one thing: write the
 * request's pointer (8 bytes, atomic on a pipe) to the worker. The write
 * end blocks, so no answer is ever lost; the read end is non-blocking and
 * watched by the worker's loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "log.h"
#include "resolver.h"

/* In glibc's thread: hand the request back to the worker. */
static void answered(union sigval sv)
{
	struct pt_resolve *q = sv.sival_ptr;

	while (write(q->wfd, &q, sizeof(q)) == -1 && errno == EINTR)
		;
}

/* The first address of @q's answer into @out; an EAI_ code. */
static int first_addr(struct pt_resolve *q, struct pt_sockaddr *out)
{
	int err = gai_error(&q->cb);
	struct addrinfo *ai;

	if (err)
		return err;
	for (ai = q->cb.ar_result; ai; ai = ai->ai_next) {
		if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
		    ai->ai_addrlen > sizeof(out->ss))
			continue;
		memset(out, 0, sizeof(*out));
		memcpy(&out->ss, ai->ai_addr, ai->ai_addrlen);
		out->len = ai->ai_addrlen;
		return 0;
	}
	return EAI_NONAME;
}

static void deliver(struct pt_resolve *q)
{
	struct pt_sockaddr a;
	int err = first_addr(q, &a);

	if (q->owner)
		q->done(q->owner, err, err ? NULL : &a);
	if (q->cb.ar_result)
		freeaddrinfo(q->cb.ar_result);
	free(q);
}

static void pipe_event(struct pt_ev *ev, uint32_t events)
{
	struct pt_resolver *r = container_of(ev, struct pt_resolver, ev);
	struct pt_resolve *q[64];
	ssize_t n;

	while ((n = read(r->pipe[0], q, sizeof(q))) > 0) {
		for (size_t i = 0; i < (size_t)n / sizeof(q[0]); i++) {
			r->pending--;
			deliver(q[i]);
		}
	}
}

static int setup(struct pt_resolver *r, struct pt_loop *loop)
{
	int err;

	if (pipe2(r->pipe, O_CLOEXEC))
		return -errno;
	fcntl(r->pipe[0], F_SETFL, O_NONBLOCK);
	pt_ev_init(&r->ev, r->pipe[0], pipe_event);
	err = pt_loop_watch(loop, &r->ev, EPOLLIN);
	if (err) {
		close(r->pipe[0]);
		close(r->pipe[1]);
		return err;
	}
	r->on = true;
	return 0;
}

struct pt_resolve *pt_resolve_start(struct pt_resolver *r, struct pt_loop *loop, const char *host,
				    uint16_t port, void *owner,
				    void (*done)(void *, int, const struct pt_sockaddr *))
{
	struct gaicb *list[1];
	struct pt_resolve *q;
	int err;

	if (!r->on && (err = setup(r, loop))) {
		errno = -err;
		return NULL;
	}
	q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	snprintf(q->host, sizeof(q->host), "%s", host);
	snprintf(q->port, sizeof(q->port), "%u", port);
	q->hints.ai_socktype = SOCK_STREAM;
	q->hints.ai_flags = AI_ADDRCONFIG | AI_NUMERICSERV;
	q->cb = (struct gaicb){ .ar_name = q->host,
				.ar_service = q->port,
				.ar_request = &q->hints };
	q->sev.sigev_notify = SIGEV_THREAD;
	q->sev.sigev_notify_function = answered;
	q->sev.sigev_value.sival_ptr = q;
	q->owner = owner;
	q->done = done;
	q->wfd = r->pipe[1];
	list[0] = &q->cb;
	err = getaddrinfo_a(GAI_NOWAIT, list, 1, &q->sev);
	if (err) {
		pr_warn(CONN, "getaddrinfo_a: %s", gai_strerror(err));
		free(q);
		errno = EAGAIN;
		return NULL;
	}
	r->pending++;
	return q;
}

void pt_resolve_abandon(struct pt_resolve *q)
{
	q->owner = NULL;
}
