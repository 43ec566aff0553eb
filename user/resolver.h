/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Name lookups off the worker's event loop, for forward "requested" to a
 * name a SOCKS5 or CONNECT client asked for: glibc's getaddrinfo_a() runs
 * each lookup in its own thread (a pool glibc keeps), whose completion
 * writes the request's pointer into a pipe the worker watches; the worker
 * reads it and calls the request's done(). The worker thread is the only
 * one that allocates, frees or looks into a request after it started, so
 * a connection that gives up (its deadline) only clears req->owner: the
 * request is freed when its answer arrives.
 */
#ifndef __PT_RESOLVER_H
#define __PT_RESOLVER_H

#include <netdb.h>
#include <stdbool.h>
#include <stdint.h>

#include "config-t.h"
#include "loop.h"

struct pt_resolve {
	struct gaicb cb;
	struct addrinfo hints;
	struct sigevent sev;
	char host[256];
	char port[8];
	void *owner; /* NULL: abandoned, free on arrival */
	/* Called on the worker's thread: err 0 and @addr (with the port), or an EAI_ code. */
	void (*done)(void *owner, int err, const struct pt_sockaddr *addr);
	int wfd; /* the pipe's write end */
};

/* A worker's resolver: created at its first lookup. */
struct pt_resolver {
	int pipe[2];
	bool on; /* the pipe is open and watched */
	struct pt_ev ev;
	unsigned int pending;
};

/*
 * Start looking up @host:@port (TCP, any family: the first address
 * getaddrinfo prefers is the answer). Returns the request, or NULL with
 * errno set. @r is set up on first use, on @loop.
 */
struct pt_resolve *pt_resolve_start(struct pt_resolver *r, struct pt_loop *loop, const char *host,
				    uint16_t port, void *owner,
				    void (*done)(void *, int, const struct pt_sockaddr *));

/* The owner gives up on @q: done() is not called; the answer frees it. */
void pt_resolve_abandon(struct pt_resolve *q);

#endif /* __PT_RESOLVER_H */
