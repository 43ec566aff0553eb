// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * libFuzzer harness for the HTTP CONNECT parser (user/httpconnect.c),
 * which a terminating listener (user/tunnel.c) runs on a request head. The
 * input is the client's bytes. Each parse gets a malloc'ed copy of exactly
 * its bytes (ASan sees a read past them). Checked: DONE's length is within
 * the input and PT_HTTP_CONNECT_HEAD_MAX and ends in CRLF CRLF; every
 * strict prefix of a head says AGAIN (sampled for long heads); the head
 * alone parses to the same authority; the host is a valid host name or an
 * address in canonical text form, the port non-zero; the responses built
 * for every status are one status line and an empty line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect.h"
#include "fuzz-tunnel.h"
#include "httpconnect.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what)
{
	fprintf(stderr, "fuzz: %s\n", what);
	abort();
}

static enum pt_hs parse(const uint8_t *data, size_t len, size_t *used, struct pt_requested *q)
{
	uint8_t *b = malloc(len ? len : 1);
	enum pt_hs r;

	if (!b)
		abort();
	memcpy(b, data, len);
	memset(q, 0, sizeof(*q));
	*used = 0;
	r = pt_http_connect_parse(b, len, used, q);
	free(b);
	return r;
}

static void check_replies(void)
{
	static const int st[] = { 200, 400, 403, 502, 504 };
	char b[256];

	for (size_t i = 0; i < sizeof(st) / sizeof(st[0]); i++) {
		size_t n = pt_http_connect_reply(st[i], b, sizeof(b));

		if (n < 16 || strncmp(b, "HTTP/1.1 ", 9) || strcmp(b + n - 4, "\r\n\r\n") ||
		    strstr(b, "\r\n\r\n") != b + n - 4)
			fail("a response that is not a status line, fields and an empty line");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pt_requested q, alone;
	size_t used, u2, step;
	enum pt_hs r = parse(data, size, &used, &q);

	check_replies();
	if (r != PT_HS_DONE)
		return 0;
	if (!used || used > size || used > PT_HTTP_CONNECT_HEAD_MAX ||
	    memcmp(data + used - 4, "\r\n\r\n", 4))
		fail("a head that does not end in CRLF CRLF within the input");
	fz_check_requested(&q);
	step = used > 256 ? used / 128 : 1;
	for (size_t i = 0; i < used; i += step)
		if (parse(data, i, &u2, &alone) != PT_HS_AGAIN)
			fail("a strict prefix of a head did not ask for more");
	if (parse(data, used, &u2, &alone) != PT_HS_DONE || u2 != used ||
	    memcmp(&alone, &q, sizeof(q)))
		fail("the head alone parses differently");
	return 0;
}
