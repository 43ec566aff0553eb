// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The invariants of a requested destination, for the terminated-proxy
 * harnesses (fuzz-tunnel.h).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect.h"
#include "fuzz-tunnel.h"

static void fail(const char *what)
{
	fprintf(stderr, "fuzz: %s\n", what);
	abort();
}

void fz_check_requested(const struct pt_requested *q)
{
	uint8_t bin[16];
	char back[INET6_ADDRSTRLEN];
	int fam = strchr(q->host, ':') ? AF_INET6 : AF_INET;

	if (!q->port)
		fail("a request with port 0");
	if (!memchr(q->host, 0, sizeof(q->host)))
		fail("host not NUL-terminated");
	if (!q->is_addr) {
		if (!pt_is_valid_hostname(q->host, strlen(q->host)))
			fail("a domain that is not a valid host name");
		return;
	}
	if (inet_pton(fam, q->host, bin) != 1 || !inet_ntop(fam, bin, back, sizeof(back)) ||
	    strcmp(back, q->host))
		fail("an address not in canonical text form");
}
