/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The PROXY protocol (HAProxy's proxy-protocol.txt, versions 1 and 2):
 * parse the header a front load balancer puts before a client's bytes, and
 * build the one passthru puts before them towards an upstream. Pure
 * functions over buffers: no socket, no state (proxyio.c does the I/O).
 */
#ifndef __PT_PROXYPROTO_H
#define __PT_PROXYPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "config-t.h"	/* struct pt_sockaddr */

#define PT_PP_V1_MAX	107	/* the longest v1 line, CRLF included */
#define PT_PP_V2_HEAD	16	/* v2 signature, command, family, length */
#define PT_PP_MAX	4096	/* the longest header accepted (v2 with its TLVs) */

/* v2 TLV types passthru sends. */
#define PT_PP2_TYPE_ALPN	0x01
#define PT_PP2_TYPE_AUTHORITY	0x02
#define PT_PP2_TYPE_LISTENER	0xE0	/* custom range: the passthru listener's name */

struct pt_pp_hdr {
	int version;		/* 1 or 2 */
	bool local;		/* LOCAL (v2), UNKNOWN (v1), or no address family: keep the
				 * socket's own addresses */
	struct pt_sockaddr src;	/* the client, unless local */
	struct pt_sockaddr dst;	/* the address it connected to, unless local */
};

/*
 * Parse the header at the start of @buf (@len bytes). Returns its length
 * (> 0, the bytes to consume), 0 if the bytes so far are a valid start but
 * more are needed, or -EINVAL with *why saying what is wrong.
 */
int pt_pp_parse(const uint8_t *buf, size_t len, struct pt_pp_hdr *h, const char **why);

/* What a v2 header carries besides the addresses; NULL or "" leaves a TLV out. */
struct pt_pp_tlvs {
	const uint8_t *alpn;	/* a protocol name, not NUL-terminated */
	size_t alpn_len;
	const char *authority;	/* SNI or Host */
	const char *listener;
};

/*
 * Build a version @version header for a connection from @src to @dst into
 * @buf. Addresses of different families are sent as IPv6 (IPv4-mapped);
 * families other than IPv4/IPv6 give "UNKNOWN" (v1) or AF_UNSPEC (v2).
 * Returns the length, or -ENOSPC if @size is too small.
 */
ssize_t pt_pp_build(int version, const struct sockaddr *src, const struct sockaddr *dst,
		    const struct pt_pp_tlvs *t, uint8_t *buf, size_t size);

#endif /* __PT_PROXYPROTO_H */
