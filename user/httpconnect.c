// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * HTTP CONNECT parser and responses (httpconnect.h). The head must end in
 * CRLF CRLF within PT_HTTP_CONNECT_HEAD_MAX bytes; header fields are
 * skipped (no Proxy-Authorization: credentials are SOCKS5's), bytes after
 * the head are the tunnel's and are left alone.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "detect.h"
#include "httpconnect.h"

static const char connect_sp[] = "CONNECT ";

/* "HTTP/1.0" or "HTTP/1.1" at @p, @n bytes. */
static bool is_version(const char *p, size_t n)
{
	return n == 8 && !memcmp(p, "HTTP/1.", 7) && (p[7] == '0' || p[7] == '1');
}

/* The port after the ':' at @p, @n digits: 1..65535, or 0 if invalid. */
static uint16_t parse_port(const char *p, size_t n)
{
	unsigned int v = 0;

	if (!n || n > 5)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return 0;
		v = v * 10 + (unsigned int)(p[i] - '0');
	}
	return v <= 65535 ? (uint16_t)v : 0;
}

/* The authority @a (@n bytes) into @req; false if it is not host:port. */
static bool parse_authority(const char *a, size_t n, struct pt_requested *req)
{
	const char *colon = n ? memrchr(a, ':', n) : NULL;
	char tmp[INET6_ADDRSTRLEN];
	size_t hl;
	uint8_t bin[16];

	if (!colon || !(req->port = parse_port(colon + 1, n - (size_t)(colon + 1 - a))))
		return false;
	hl = (size_t)(colon - a);
	if (hl >= 2 && a[0] == '[' && a[hl - 1] == ']') {
		if (hl - 2 >= sizeof(tmp))
			return false;
		memcpy(tmp, a + 1, hl - 2);
		tmp[hl - 2] = 0;
		req->is_addr = true;
		return inet_pton(AF_INET6, tmp, bin) == 1 &&
		       inet_ntop(AF_INET6, bin, req->host, sizeof(req->host));
	}
	if (hl < sizeof(tmp)) {
		memcpy(tmp, a, hl);
		tmp[hl] = 0;
		if (inet_pton(AF_INET, tmp, bin) == 1) {
			req->is_addr = true;
			memcpy(req->host, tmp, hl + 1);
			return true;
		}
	}
	req->is_addr = false;
	return pt_hostname_copy(req->host, a, hl) == 0;
}

enum pt_hs pt_http_connect_parse(const uint8_t *b, size_t len, size_t *used,
				 struct pt_requested *req)
{
	const char *s = (const char *)b, *eol, *sp, *end;
	size_t cmp = len < sizeof(connect_sp) - 1 ? len : sizeof(connect_sp) - 1;

	if (memcmp(s, connect_sp, cmp))
		return PT_HS_BAD;
	end = len >= 4 ? memmem(s, len, "\r\n\r\n", 4) : NULL;
	if (!end)
		return len >= PT_HTTP_CONNECT_HEAD_MAX ? PT_HS_BAD : PT_HS_AGAIN;
	if ((size_t)(end - s) + 4 > PT_HTTP_CONNECT_HEAD_MAX)
		return PT_HS_BAD;
	eol = memmem(s, (size_t)(end - s) + 2, "\r\n", 2);
	s += sizeof(connect_sp) - 1;
	sp = memchr(s, ' ', (size_t)(eol - s));
	if (!sp || !is_version(sp + 1, (size_t)(eol - sp - 1)) ||
	    !parse_authority(s, (size_t)(sp - s), req))
		return PT_HS_BAD;
	*used = (size_t)(end - (const char *)b) + 4;
	return PT_HS_DONE;
}

static const char *reason(int status)
{
	switch (status) {
	case 200:
		return "Connection established";
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 502:
		return "Bad Gateway";
	case 504:
		return "Gateway Timeout";
	}
	return "Error";
}

size_t pt_http_connect_reply(int status, char *out, size_t size)
{
	int n = snprintf(out, size, "HTTP/1.1 %d %s\r\n%s\r\n", status, reason(status),
			 status == 200 ? "" : "Content-Length: 0\r\nConnection: close\r\n");

	return n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
}
