/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * HTTP CONNECT (RFC 9110 §9.3.6) as a terminating forward proxy sees it: a
 * pure parser of the request head and the builder of the status line sent
 * back. No I/O here: tunnel.c peeks, calls these, consumes the head;
 * tests/fuzz/fuzz_httpconnect.c calls the parser on any bytes.
 */
#ifndef __PT_HTTPCONNECT_H
#define __PT_HTTPCONNECT_H

#include <stddef.h>
#include <stdint.h>

#include "tunnel-t.h"

/* The longest request head taken (request line and header fields). */
#define PT_HTTP_CONNECT_HEAD_MAX 8192

/*
 * "CONNECT host:port HTTP/1.x" CRLF, header fields, CRLF. On PT_HS_DONE
 * *used is the head's length and @req the authority: a host name (valid,
 * lower-case) or an IPv4 / [IPv6] address, and a port (1..65535, required).
 * PT_HS_BAD: not such a head, or none within PT_HTTP_CONNECT_HEAD_MAX
 * bytes (answer 400).
 */
enum pt_hs pt_http_connect_parse(const uint8_t *b, size_t len, size_t *used,
				 struct pt_requested *req);

/*
 * The response head for @status (200, 400, 403, 502, 504) into @out
 * (@size bytes); returns its length.
 */
size_t pt_http_connect_reply(int status, char *out, size_t size);

#endif /* __PT_HTTPCONNECT_H */
