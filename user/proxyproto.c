// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * PROXY protocol headers, versions 1 and 2 (proxyproto.h): the parser of a
 * front load balancer's header (the version is told by the first byte) and
 * the builder of the header sent to an upstream. Nothing here does I/O.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "proxyproto.h"

static const uint8_t v2_sig[12] = { 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
				    0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A };

#define V2_CMD_LOCAL	0x0
#define V2_CMD_PROXY	0x1
#define V2_FAM_UNSPEC	0x0
#define V2_FAM_INET	0x1
#define V2_FAM_INET6	0x2
#define V2_TRANS_STREAM	0x1

/* --- version 1: "PROXY TCP4 1.2.3.4 5.6.7.8 1234 443\r\n" ------------------ */

/* A decimal port, 0..65535, one to five digits. */
static int v1_port(const char *s, uint16_t *port)
{
	unsigned long v = 0;
	size_t i;

	for (i = 0; s[i] >= '0' && s[i] <= '9' && i < 5; i++)
		v = v * 10 + (unsigned long)(s[i] - '0');
	if (!i || s[i] || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

static int v1_addr(int family, const char *ip, const char *port, struct pt_sockaddr *a)
{
	uint16_t p;

	memset(a, 0, sizeof(*a));
	if (v1_port(port, &p))
		return -EINVAL;
	if (family == AF_INET) {
		a->ss.sin.sin_family = AF_INET;
		a->ss.sin.sin_port = htons(p);
		a->len = sizeof(a->ss.sin);
		return inet_pton(AF_INET, ip, &a->ss.sin.sin_addr) == 1 ? 0 : -EINVAL;
	}
	a->ss.sin6.sin6_family = AF_INET6;
	a->ss.sin6.sin6_port = htons(p);
	a->len = sizeof(a->ss.sin6);
	return inet_pton(AF_INET6, ip, &a->ss.sin6.sin6_addr) == 1 ? 0 : -EINVAL;
}

/* The line without its CRLF, NUL-terminated in @line: split on single spaces. */
static int v1_fields(char *line, struct pt_pp_hdr *h, const char **why)
{
	char *f[7];
	int n = 0, family;
	char *p = line;

	while (n < 7) {
		f[n++] = p;
		p = strchr(p, ' ');
		if (!p)
			break;
		*p++ = 0;
	}
	if (n >= 2 && !strcmp(f[1], "UNKNOWN")) {
		h->local = true;
		return 0;
	}
	if (n != 6 || p) {
		*why = "v1: expected \"PROXY TCP4|TCP6 SRC DST SPORT DPORT\"";
		return -EINVAL;
	}
	if (!strcmp(f[1], "TCP4")) {
		family = AF_INET;
	} else if (!strcmp(f[1], "TCP6")) {
		family = AF_INET6;
	} else {
		*why = "v1: unknown protocol (expected TCP4, TCP6 or UNKNOWN)";
		return -EINVAL;
	}
	if (v1_addr(family, f[2], f[4], &h->src) || v1_addr(family, f[3], f[5], &h->dst)) {
		*why = "v1: bad address or port";
		return -EINVAL;
	}
	return 0;
}

static int v1_parse(const uint8_t *buf, size_t len, struct pt_pp_hdr *h, const char **why)
{
	char line[PT_PP_V1_MAX];
	size_t i;

	if (memcmp(buf, "PROXY ", len < 6 ? len : 6)) {
		*why = "not a PROXY protocol header";
		return -EINVAL;
	}
	for (i = 0; i < len && i < PT_PP_V1_MAX; i++) {
		if (buf[i] == '\r')
			break;
		if (buf[i] < 0x20 || buf[i] > 0x7e) {
			*why = "v1: a byte that is not printable ASCII";
			return -EINVAL;
		}
	}
	if (i >= PT_PP_V1_MAX - 1) {
		*why = "v1: no CRLF within 107 bytes";
		return -EINVAL;
	}
	if (i + 1 >= len)
		return 0;
	if (buf[i + 1] != '\n') {
		*why = "v1: CR not followed by LF";
		return -EINVAL;
	}
	memcpy(line, buf, i);
	line[i] = 0;
	h->version = 1;
	if (v1_fields(line, h, why))
		return -EINVAL;
	return (int)i + 2;
}

/* --- version 2: binary ---------------------------------------------------- */

static void v2_inet(struct pt_sockaddr *a, const uint8_t *ip, const uint8_t *port)
{
	memset(a, 0, sizeof(*a));
	a->ss.sin.sin_family = AF_INET;
	memcpy(&a->ss.sin.sin_addr, ip, 4);
	memcpy(&a->ss.sin.sin_port, port, 2);
	a->len = sizeof(a->ss.sin);
}

static void v2_inet6(struct pt_sockaddr *a, const uint8_t *ip, const uint8_t *port)
{
	memset(a, 0, sizeof(*a));
	a->ss.sin6.sin6_family = AF_INET6;
	memcpy(&a->ss.sin6.sin6_addr, ip, 16);
	memcpy(&a->ss.sin6.sin6_port, port, 2);
	a->len = sizeof(a->ss.sin6);
}

/* The address block of a PROXY command (@p: after the 16-byte head, @n bytes). */
static int v2_addrs(uint8_t fam, const uint8_t *p, size_t n, struct pt_pp_hdr *h, const char **why)
{
	if ((fam >> 4) == V2_FAM_UNSPEC || (fam >> 4) > V2_FAM_INET6) {
		h->local = true;	/* AF_UNSPEC or AF_UNIX: no address to use */
		return 0;
	}
	if ((fam & 0xf) != V2_TRANS_STREAM) {
		*why = "v2: not a stream (TCP) connection";
		return -EINVAL;
	}
	if ((fam >> 4) == V2_FAM_INET) {
		if (n < 12)
			goto short_block;
		v2_inet(&h->src, p, p + 8);
		v2_inet(&h->dst, p + 4, p + 10);
		return 0;
	}
	if (n < 36)
		goto short_block;
	v2_inet6(&h->src, p, p + 32);
	v2_inet6(&h->dst, p + 16, p + 34);
	return 0;
short_block:
	*why = "v2: address block shorter than its family needs";
	return -EINVAL;
}

static int v2_parse(const uint8_t *buf, size_t len, struct pt_pp_hdr *h, const char **why)
{
	size_t body;

	if (memcmp(buf, v2_sig, len < sizeof(v2_sig) ? len : sizeof(v2_sig))) {
		*why = "not a PROXY protocol header";
		return -EINVAL;
	}
	if (len > 12 && (buf[12] >> 4) != 2) {
		*why = "v2: version nibble is not 2";
		return -EINVAL;
	}
	if (len > 12 && (buf[12] & 0xf) > V2_CMD_PROXY) {
		*why = "v2: unknown command";
		return -EINVAL;
	}
	if (len < PT_PP_V2_HEAD)
		return 0;
	body = (size_t)buf[14] << 8 | buf[15];
	if (PT_PP_V2_HEAD + body > PT_PP_MAX) {
		*why = "v2: header longer than 4096 bytes";
		return -EINVAL;
	}
	if (len < PT_PP_V2_HEAD + body)
		return 0;
	h->version = 2;
	if ((buf[12] & 0xf) == V2_CMD_LOCAL)
		h->local = true;
	else if (v2_addrs(buf[13], buf + PT_PP_V2_HEAD, body, h, why))
		return -EINVAL;
	return (int)(PT_PP_V2_HEAD + body);
}

int pt_pp_parse(const uint8_t *buf, size_t len, struct pt_pp_hdr *h, const char **why)
{
	memset(h, 0, sizeof(*h));
	*why = "";
	if (!len)
		return 0;
	if (buf[0] == 'P')
		return v1_parse(buf, len, h, why);
	if (buf[0] == v2_sig[0])
		return v2_parse(buf, len, h, why);
	*why = "not a PROXY protocol header";
	return -EINVAL;
}

/* --- building ------------------------------------------------------------- */

/* @a as IPv6 (IPv4 becomes ::ffff:a.b.c.d), for a pair of mixed families. */
static void as_v6(const struct sockaddr *a, struct sockaddr_in6 *out)
{
	const struct sockaddr_in *in = (const struct sockaddr_in *)a;

	if (a->sa_family == AF_INET6) {
		memcpy(out, a, sizeof(*out));
		return;
	}
	memset(out, 0, sizeof(*out));
	out->sin6_family = AF_INET6;
	out->sin6_port = in->sin_port;
	out->sin6_addr.s6_addr[10] = 0xff;
	out->sin6_addr.s6_addr[11] = 0xff;
	memcpy(&out->sin6_addr.s6_addr[12], &in->sin_addr, 4);
}

static bool inet(const struct sockaddr *a)
{
	return a->sa_family == AF_INET || a->sa_family == AF_INET6;
}

static ssize_t build_v1(const struct sockaddr *src, const struct sockaddr *dst, char *buf,
			size_t size)
{
	const struct sockaddr_in *s4 = (const void *)src, *d4 = (const void *)dst;
	struct sockaddr_in6 s6, d6;
	char sip[INET6_ADDRSTRLEN], dip[INET6_ADDRSTRLEN];
	int n;

	if (!inet(src) || !inet(dst)) {
		n = snprintf(buf, size, "PROXY UNKNOWN\r\n");
	} else if (src->sa_family == AF_INET && dst->sa_family == AF_INET) {
		inet_ntop(AF_INET, &s4->sin_addr, sip, sizeof(sip));
		inet_ntop(AF_INET, &d4->sin_addr, dip, sizeof(dip));
		n = snprintf(buf, size, "PROXY TCP4 %s %s %u %u\r\n", sip, dip,
			     ntohs(s4->sin_port), ntohs(d4->sin_port));
	} else {
		as_v6(src, &s6);
		as_v6(dst, &d6);
		inet_ntop(AF_INET6, &s6.sin6_addr, sip, sizeof(sip));
		inet_ntop(AF_INET6, &d6.sin6_addr, dip, sizeof(dip));
		n = snprintf(buf, size, "PROXY TCP6 %s %s %u %u\r\n", sip, dip,
			     ntohs(s6.sin6_port), ntohs(d6.sin6_port));
	}
	return n < 0 || (size_t)n >= size ? -ENOSPC : n;
}

/* Append one TLV at @buf + *n; false if it does not fit. */
static bool put_tlv(uint8_t *buf, size_t size, size_t *n, uint8_t type, const void *v,
		    size_t len)
{
	if (!len)
		return true;
	if (len > 0xffff || *n + 3 + len > size)
		return false;
	buf[*n] = type;
	buf[*n + 1] = (uint8_t)(len >> 8);
	buf[*n + 2] = (uint8_t)len;
	memcpy(buf + *n + 3, v, len);
	*n += 3 + len;
	return true;
}

/* The family byte and address block of a v2 PROXY command. */
static size_t v2_block(const struct sockaddr *src, const struct sockaddr *dst, uint8_t *fam,
		       uint8_t *p)
{
	const struct sockaddr_in *s4 = (const void *)src, *d4 = (const void *)dst;
	struct sockaddr_in6 s6, d6;

	if (!inet(src) || !inet(dst)) {
		*fam = V2_FAM_UNSPEC << 4;
		return 0;
	}
	if (src->sa_family == AF_INET && dst->sa_family == AF_INET) {
		*fam = V2_FAM_INET << 4 | V2_TRANS_STREAM;
		memcpy(p, &s4->sin_addr, 4);
		memcpy(p + 4, &d4->sin_addr, 4);
		memcpy(p + 8, &s4->sin_port, 2);
		memcpy(p + 10, &d4->sin_port, 2);
		return 12;
	}
	as_v6(src, &s6);
	as_v6(dst, &d6);
	*fam = V2_FAM_INET6 << 4 | V2_TRANS_STREAM;
	memcpy(p, &s6.sin6_addr, 16);
	memcpy(p + 16, &d6.sin6_addr, 16);
	memcpy(p + 32, &s6.sin6_port, 2);
	memcpy(p + 34, &d6.sin6_port, 2);
	return 36;
}

static ssize_t build_v2(const struct sockaddr *src, const struct sockaddr *dst,
			const struct pt_pp_tlvs *t, uint8_t *buf, size_t size)
{
	uint8_t block[36], fam;
	size_t n, blen = v2_block(src, dst, &fam, block);

	if (size < PT_PP_V2_HEAD + blen)
		return -ENOSPC;
	memcpy(buf, v2_sig, sizeof(v2_sig));
	buf[12] = 0x20 | V2_CMD_PROXY;
	buf[13] = fam;
	memcpy(buf + PT_PP_V2_HEAD, block, blen);
	n = PT_PP_V2_HEAD + blen;
	if (t && (!put_tlv(buf, size, &n, PT_PP2_TYPE_ALPN, t->alpn, t->alpn ? t->alpn_len : 0) ||
		  !put_tlv(buf, size, &n, PT_PP2_TYPE_AUTHORITY, t->authority,
			   t->authority ? strlen(t->authority) : 0) ||
		  !put_tlv(buf, size, &n, PT_PP2_TYPE_LISTENER, t->listener,
			   t->listener ? strlen(t->listener) : 0)))
		return -ENOSPC;
	if (n - PT_PP_V2_HEAD > 0xffff)
		return -ENOSPC;
	buf[14] = (uint8_t)((n - PT_PP_V2_HEAD) >> 8);
	buf[15] = (uint8_t)(n - PT_PP_V2_HEAD);
	return (ssize_t)n;
}

ssize_t pt_pp_build(int version, const struct sockaddr *src, const struct sockaddr *dst,
		    const struct pt_pp_tlvs *t, uint8_t *buf, size_t size)
{
	if (version == 1)
		return build_v1(src, dst, (char *)buf, size);
	return build_v2(src, dst, t, buf, size);
}
