// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * SOCKS5 server-side parsers and replies (socks5.h). Each parser looks at
 * one message from the start of @b: AGAIN while @b is a prefix of one,
 * DONE with its length, BAD otherwise. A domain must be a valid host name
 * (it is resolved and matched against dst_host); an IPv4 or IPv6 address
 * is kept in text, as dst_host and the log show it.
 */
#include <arpa/inet.h>
#include <string.h>

#include "detect.h"
#include "socks5.h"

#define SOCKS5_VER	 5
#define SOCKS5_AUTH_VER	 1
#define SOCKS5_CONNECT	 1
#define SOCKS5_ATYP_V4	 1
#define SOCKS5_ATYP_NAME 3
#define SOCKS5_ATYP_V6	 4

enum pt_hs pt_socks5_greeting(const uint8_t *b, size_t len, bool want_auth, size_t *used,
			      uint8_t *method)
{
	uint8_t want = want_auth ? PT_SOCKS5_USERPASS : PT_SOCKS5_NO_AUTH;

	if (len >= 1 && b[0] != SOCKS5_VER)
		return PT_HS_BAD;
	if (len < 2)
		return PT_HS_AGAIN;
	if (b[1] == 0)
		return PT_HS_BAD;
	if (len < 2 + (size_t)b[1])
		return PT_HS_AGAIN;
	*used = 2 + (size_t)b[1];
	*method = PT_SOCKS5_NO_METHOD;
	for (size_t i = 2; i < *used; i++)
		if (b[i] == want)
			*method = want;
	return PT_HS_DONE;
}

/* A length-prefixed string at @b[*at] into @out (NUL-terminated); AGAIN, DONE or BAD. */
static enum pt_hs lstring(const uint8_t *b, size_t len, size_t *at, char *out)
{
	size_t n;

	if (len < *at + 1)
		return PT_HS_AGAIN;
	n = b[*at];
	if (len < *at + 1 + n)
		return PT_HS_AGAIN;
	memcpy(out, b + *at + 1, n);
	out[n] = 0;
	*at += 1 + n;
	return strlen(out) == n ? PT_HS_DONE : PT_HS_BAD;
}

enum pt_hs pt_socks5_auth(const uint8_t *b, size_t len, size_t *used, char *user, char *pass)
{
	size_t at = 1;
	enum pt_hs r;

	if (len >= 1 && b[0] != SOCKS5_AUTH_VER)
		return PT_HS_BAD;
	if (len < 1)
		return PT_HS_AGAIN;
	r = lstring(b, len, &at, user);
	if (r == PT_HS_DONE)
		r = lstring(b, len, &at, pass);
	if (r == PT_HS_DONE)
		*used = at;
	return r;
}

/* The DST.ADDR of type @atyp at @b + 4, @alen bytes, into @req; false if invalid. */
static bool request_addr(const uint8_t *b, uint8_t atyp, size_t alen, struct pt_requested *req)
{
	const uint8_t *a = b + 4;

	req->is_addr = atyp != SOCKS5_ATYP_NAME;
	if (atyp == SOCKS5_ATYP_NAME)
		return alen && pt_hostname_copy(req->host, (const char *)a + 1, alen - 1) == 0;
	return inet_ntop(atyp == SOCKS5_ATYP_V4 ? AF_INET : AF_INET6, a, req->host,
			 sizeof(req->host)) != NULL;
}

enum pt_hs pt_socks5_request(const uint8_t *b, size_t len, size_t *used, struct pt_requested *req,
			     uint8_t *rep)
{
	size_t alen;

	*rep = PT_SOCKS5_FAILURE;
	if ((len >= 1 && b[0] != SOCKS5_VER) || (len >= 3 && b[2] != 0))
		return PT_HS_BAD;
	if (len < 5)
		return PT_HS_AGAIN;
	switch (b[3]) {
	case SOCKS5_ATYP_V4:
		alen = 4;
		break;
	case SOCKS5_ATYP_V6:
		alen = 16;
		break;
	case SOCKS5_ATYP_NAME:
		alen = 1 + (size_t)b[4];
		break;
	default:
		*rep = PT_SOCKS5_BAD_ATYP;
		return PT_HS_BAD;
	}
	if (len < 4 + alen + 2)
		return PT_HS_AGAIN;
	if (b[1] != SOCKS5_CONNECT) {
		*rep = PT_SOCKS5_BAD_COMMAND;
		return PT_HS_BAD;
	}
	if (!request_addr(b, b[3], alen, req))
		return PT_HS_BAD;
	req->port = (uint16_t)(b[4 + alen] << 8 | b[4 + alen + 1]);
	if (!req->port)
		return PT_HS_BAD;
	*used = 4 + alen + 2;
	return PT_HS_DONE;
}

size_t pt_socks5_reply(uint8_t rep, uint8_t out[10])
{
	memset(out, 0, 10);
	out[0] = SOCKS5_VER;
	out[1] = rep;
	out[3] = SOCKS5_ATYP_V4;
	return 10;
}
