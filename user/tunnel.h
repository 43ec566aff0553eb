/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Terminated proxies: on a listener with "terminate", a client detected as
 * SOCKS5 or as an HTTP CONNECT request gets its handshake answered here
 * (HANDSHAKE state of conn.c); the destination it asks for becomes the
 * connection's (c->x->local, and c->tun->req for dst_host and the log), and
 * conn.c then runs detection again on the tunnelled bytes. The order:
 *
 *   handshake -> [lookup of a name] -> a route could match? -> reply
 *   success -> inner detection -> route -> connect (forward "requested":
 *   to the requested destination)
 *
 * The success reply has to go first: a client sends its inner bytes (a
 * ClientHello) only after it. So a connect failure, or an inner protocol
 * no route takes, ends the tunnel by closing it, not with a reply code.
 * Like upstream.c this file reports, conn.c acts: nothing here calls up.
 */
#ifndef __PT_TUNNEL_H
#define __PT_TUNNEL_H

#include <stdbool.h>

#include "conn-t.h"
#include "tunnel-t.h"

struct pt_conn;

enum pt_tun_res {
	PT_TUN_AGAIN = 0, /* waiting for the client or a lookup */
	PT_TUN_READY,	  /* success sent: detect the inner protocol */
	PT_TUN_CLOSE,	  /* refused or failed (answered if it could be): close */
};

/* Does detection's verdict on @c start a handshake (its listener terminates that protocol)? */
bool pt_tunnel_wanted(const struct pt_conn *c);

/*
 * Start the handshake on @c (c->tun, detected as SOCKS5 or CONNECT) and
 * run it as far as the bytes go. *end is set when PT_TUN_CLOSE.
 */
enum pt_tun_res pt_tunnel_begin(struct pt_conn *c, enum pt_end *end);

/* Client bytes arrived: go on. */
enum pt_tun_res pt_tunnel_round(struct pt_conn *c, enum pt_end *end);

/* The handshake's deadline passed: answer what can be answered; always PT_TUN_CLOSE. */
enum pt_tun_res pt_tunnel_timeout(struct pt_conn *c, enum pt_end *end);

/* The connection ends: drop a lookup under way; free c->tun. */
void pt_tunnel_free(struct pt_conn *c);

/* "host:port" of the request ([v6]:port), or "-" before it was read. */
void pt_tunnel_requested_str(const struct pt_tunnel *t, char *buf, size_t size);

#endif /* __PT_TUNNEL_H */
