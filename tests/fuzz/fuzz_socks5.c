// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * libFuzzer harness for the SOCKS5 server-side parsers (user/socks5.c),
 * which a terminating listener (user/tunnel.c) runs on what a client
 * sends. The input is the client's bytes; byte 0 says whether the listener
 * has users (bit 0: the greeting must offer username/password), the rest
 * is parsed as tunnel.c does: greeting, then (if username/password was
 * chosen) the RFC 1929 request, then the CONNECT request, each from where
 * the last one ended. Every parse gets a malloc'ed copy of exactly its
 * bytes (ASan sees a read past them). Checked for each message: DONE's
 * length is within the input and every strict prefix says AGAIN; the
 * message alone parses to the same result; credentials are NUL-terminated
 * and at most 255 bytes; a request's host is a valid host name or an
 * address in canonical text form, its port non-zero; the reply is 10 bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect.h"
#include "fuzz-tunnel.h"
#include "socks5.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what)
{
	fprintf(stderr, "fuzz: %s\n", what);
	abort();
}

enum msg { GREETING, AUTH, REQUEST };

struct out {
	size_t used;
	uint8_t method, rep;
	char user[PT_SOCKS5_CRED_MAX + 1], pass[PT_SOCKS5_CRED_MAX + 1];
	struct pt_requested req;
};

/* Parse message @m from exactly @len bytes of a malloc'ed copy of @data. */
static enum pt_hs parse(enum msg m, bool auth, const uint8_t *data, size_t len, struct out *o)
{
	uint8_t *b = malloc(len ? len : 1);
	enum pt_hs r;

	if (!b)
		abort();
	memcpy(b, data, len);
	memset(o, 0, sizeof(*o));
	if (m == GREETING)
		r = pt_socks5_greeting(b, len, auth, &o->used, &o->method);
	else if (m == AUTH)
		r = pt_socks5_auth(b, len, &o->used, o->user, o->pass);
	else
		r = pt_socks5_request(b, len, &o->used, &o->req, &o->rep);
	free(b);
	if (r == PT_HS_DONE && (!o->used || o->used > len))
		fail("DONE with a length outside the input");
	return r;
}

/* Check message @m at @data (@size bytes); returns its length if DONE, else 0. */
static size_t check_msg(enum msg m, bool auth, const uint8_t *data, size_t size, struct out *o)
{
	struct out alone, pre;
	enum pt_hs r = parse(m, auth, data, size, o);
	size_t step;

	if (r != PT_HS_DONE)
		return 0;
	step = o->used > 256 ? o->used / 128 : 1;
	for (size_t i = 0; i < o->used; i += step)
		if (parse(m, auth, data, i, &pre) != PT_HS_AGAIN)
			fail("a strict prefix of a message did not ask for more");
	if (parse(m, auth, data, o->used, &alone) != PT_HS_DONE || alone.used != o->used ||
	    memcmp(&alone, o, sizeof(alone)))
		fail("the message alone parses differently");
	if (m == AUTH &&
	    (strlen(o->user) > PT_SOCKS5_CRED_MAX || strlen(o->pass) > PT_SOCKS5_CRED_MAX))
		fail("credentials too long");
	if (m == REQUEST)
		fz_check_requested(&o->req);
	return o->used;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bool auth;
	struct out o;
	uint8_t reply[10];
	size_t at, n;

	if (size < 1)
		return 0;
	auth = data[0] & 1;
	at = 1;
	n = check_msg(GREETING, auth, data + at, size - at, &o);
	if (!n || o.method == PT_SOCKS5_NO_METHOD)
		return 0;
	if (o.method != (auth ? PT_SOCKS5_USERPASS : PT_SOCKS5_NO_AUTH))
		fail("a method the listener did not want");
	at += n;
	if (auth) {
		n = check_msg(AUTH, auth, data + at, size - at, &o);
		if (!n)
			return 0;
		at += n;
	}
	n = check_msg(REQUEST, auth, data + at, size - at, &o);
	if (pt_socks5_reply(n ? PT_SOCKS5_OK : o.rep, reply) != 10 || reply[0] != 5)
		fail("a reply that is not 10 bytes of version 5");
	return 0;
}
