/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef __PT_ROUTE_H
#define __PT_ROUTE_H

#include <stdbool.h>
#include <sys/socket.h>

#include "config-t.h"
#include "detect.h"

enum pt_route_res {
	PT_ROUTE_PENDING = 0,	/* a route before the winner needs detection to finish */
	PT_ROUTE_FOUND,
	PT_ROUTE_NONE,		/* no route matches this connection */
};

/*
 * Walk the listener's routes in order and return the first that matches
 * the client address, the destination it asked for (@dst, NULL if unknown:
 * routes with dst_cidr or dst_port do not match), the host a terminated
 * proxy's client asked for (@dst_host, NULL if none: routes with dst_host or
 * forward "requested" do not match) and detection result. While detection is not done
 * (@done false) only routes that need no protocol information can match;
 * the walk stops with PENDING at the first route that needs it.
 */
enum pt_route_res pt_route_select(const struct pt_listener_cfg *l, const struct sockaddr *peer,
				  const struct sockaddr *dst, const char *dst_host,
				  const struct pt_fields *f, bool done, int *idx);

/* Does @name match @pat ("exact" or "*.suffix" for any name below suffix)? */
bool pt_name_match(const char *pat, const char *name);

#endif /* __PT_ROUTE_H */
