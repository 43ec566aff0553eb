/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * SOCKS5 (RFC 1928) and its username/password sub-negotiation (RFC 1929),
 * as the server side of a terminating listener sees them: pure parsers of
 * the client's three messages over a byte buffer, and the builders of the
 * answers. No I/O here: tunnel.c peeks, calls these, consumes what they
 * used; tests/fuzz/fuzz_socks5.c calls them on any bytes.
 */
#ifndef __PT_SOCKS5_H
#define __PT_SOCKS5_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tunnel-t.h"

/* Methods (RFC 1928 §3). */
#define PT_SOCKS5_NO_AUTH   0x00
#define PT_SOCKS5_USERPASS  0x02
#define PT_SOCKS5_NO_METHOD 0xff

/* Reply codes (RFC 1928 §6). */
#define PT_SOCKS5_OK	       0x00
#define PT_SOCKS5_FAILURE      0x01
#define PT_SOCKS5_NOT_ALLOWED  0x02
#define PT_SOCKS5_HOST_UNREACH 0x04
#define PT_SOCKS5_REFUSED      0x05
#define PT_SOCKS5_BAD_COMMAND  0x07
#define PT_SOCKS5_BAD_ATYP     0x08

/* The longest user name or password (one length byte). */
#define PT_SOCKS5_CRED_MAX 255

/*
 * The greeting: VER 5, NMETHODS, METHODS. On PT_HS_DONE *used is its
 * length and *method the one to answer with: username/password when
 * @want_auth and offered, no-auth when not @want_auth and offered, else
 * PT_SOCKS5_NO_METHOD.
 */
enum pt_hs pt_socks5_greeting(const uint8_t *b, size_t len, bool want_auth, size_t *used,
			      uint8_t *method);

/*
 * The RFC 1929 request: VER 1, ULEN, UNAME, PLEN, PASSWD. On PT_HS_DONE
 * @user and @pass (PT_SOCKS5_CRED_MAX + 1 bytes each) hold them NUL-
 * terminated; a NUL inside either is PT_HS_BAD.
 */
enum pt_hs pt_socks5_auth(const uint8_t *b, size_t len, size_t *used, char *user, char *pass);

/*
 * The request: VER 5, CMD, RSV, ATYP, DST.ADDR, DST.PORT. Only CONNECT is
 * taken. On PT_HS_DONE @req holds the destination (a domain as a valid
 * host name, lower-case; an address in text). On PT_HS_BAD *rep is the
 * reply code to send (command or address type not supported, or failure).
 */
enum pt_hs pt_socks5_request(const uint8_t *b, size_t len, size_t *used, struct pt_requested *req,
			     uint8_t *rep);

/* The reply with code @rep and a zero IPv4 bound address: 10 bytes into @out. */
size_t pt_socks5_reply(uint8_t rep, uint8_t out[10]);

#endif /* __PT_SOCKS5_H */
