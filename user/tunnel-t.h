/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Types of terminated proxies ("terminate" on a listener): what the config
 * says, what a handshake parser returns, and the destination a client
 * asked for. socks5.c and httpconnect.c parse, tunnel.c does the I/O.
 */
#ifndef __PT_TUNNEL_T_H
#define __PT_TUNNEL_T_H

#include <stdbool.h>
#include <stdint.h>

/* What a handshake parser says about the bytes it was given. */
enum pt_hs {
	PT_HS_AGAIN = 0, /* a prefix of a valid message: wait for more */
	PT_HS_DONE,	 /* one whole message, *used bytes long */
	PT_HS_BAD,	 /* not a valid message: answer the error and close */
};

/* Room for a requested host: a DNS name (253), an IPv6 address in text (45). */
#define PT_REQ_HOST_MAX 256

/* The destination a client asked a terminated proxy for. */
struct pt_requested {
	char host[PT_REQ_HOST_MAX]; /* a host name (lower-case) or an address in text */
	uint16_t port;
	bool is_addr; /* host is an IPv4 or IPv6 address */
};

/* One "users" entry of "socks5". */
struct pt_cred {
	char *user;
	char *pass;
};

/* A listener's "terminate" object; nothing is terminated when both are off. */
struct pt_terminate_cfg {
	bool socks5;
	struct pt_cred *users; /* RFC 1929 username/password; none: no authentication */
	int n_users;
	bool http_connect;
	uint16_t *ports; /* CONNECT only to these ports */
	int n_ports;
};

struct pt_conn;
struct pt_resolve;

/* A connection's terminated proxy (c->tun), from the handshake to its end. */
struct pt_tunnel {
	uint8_t outer;		 /* enum pt_proto: PT_PROTO_SOCKS5 or PT_PROTO_HTTP */
	uint8_t step;		 /* enum pt_tun_step (tunnel.c) */
	uint8_t inner;		 /* inner detection began: log proto=OUTER>INNER */
	const char *why;	 /* why the tunnel was refused, for the log, or NULL */
	struct pt_requested req; /* req.port 0 until the request is read */
	struct pt_resolve *rq;	 /* a lookup under way, or NULL */
	/* Set by conn.c: the handshake finished (READY or CLOSE) out of a lookup. */
	void (*resume)(struct pt_conn *c, int res, int end);
};

#endif /* __PT_TUNNEL_T_H */
