/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Gateway listeners ("mode": "tproxy" or "redirect"): the destination the
 * client asked for, read once at accept into c->x->local, for the routes'
 * dst_cidr and dst_port and for forward "original".
 */
#ifndef __PT_GATEWAY_H
#define __PT_GATEWAY_H

#include <stdbool.h>

struct pt_conn;

/*
 * Fill c->x->local with the destination the client asked for: the accepted
 * socket's own address (proxy and tproxy listeners), or conntrack's
 * original destination (SO_ORIGINAL_DST, redirect listeners). An IPv4
 * destination seen on a dual-stack socket is stored as IPv4. pt_conn_local()
 * stays NULL if it cannot be read (said at debug level).
 */
void pt_gateway_dst(struct pt_conn *c);

/*
 * Would connecting to pt_conn_local() reach one of this config's listeners
 * (a loop: a client that asked for passthru itself)? True also when the
 * destination is unknown. Says why at warn level.
 */
bool pt_gateway_refuse_original(const struct pt_conn *c);

#endif /* __PT_GATEWAY_H */
