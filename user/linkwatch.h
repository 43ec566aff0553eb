/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Interfaces that go and come (linkwatch.c): an rtnetlink socket in the
 * RTMGRP_LINK group, watched from an event loop, turned into two calls.
 */
#ifndef __PT_LINKWATCH_H
#define __PT_LINKWATCH_H

#include "loop.h"

struct pt_linkwatch;
/* Interface @ifindex now exists as @name (new, renamed, or any change of it); @name NULL: deleted. */
typedef void (*pt_link_fn)(struct pt_linkwatch *lw, int ifindex, const char *name);
/* Events were lost (the socket's buffer overflowed): look at every interface again. */
typedef void (*pt_link_lost_fn)(struct pt_linkwatch *lw);

/* Embed it and use container_of in the callbacks. */
struct pt_linkwatch {
	struct pt_ev ev;
	struct pt_loop *loop;	/* NULL: not watching */
	pt_link_fn changed;
	pt_link_lost_fn lost;
};

/* Open the socket and watch it from @loop. 0 or -errno. */
int pt_linkwatch_start(struct pt_linkwatch *lw, struct pt_loop *loop, pt_link_fn changed,
		       pt_link_lost_fn lost);
/* Stop watching and close; nothing when not watching. */
void pt_linkwatch_stop(struct pt_linkwatch *lw);
/* In a forked child whose epoll set is gone: close without touching it. */
void pt_linkwatch_forget(struct pt_linkwatch *lw);

#endif /* __PT_LINKWATCH_H */
