// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * libFuzzer harness for the PROXY protocol parser and builder
 * (user/proxyproto.c). The input is the bytes a front load balancer sends.
 * Checked: the result is an error with a reason, "more", or a length
 * within the input and PT_PP_MAX; every prefix of a header says "more"
 * (a header split across segments parses as one), an error in a prefix is
 * an error in the whole, and the header alone parses to the same result;
 * a parsed PROXY header's addresses, built again as v1 and v2 (with the
 * input's tail as TLVs), parse back to the same addresses.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxyproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what)
{
	fprintf(stderr, "fuzz: %s\n", what);
	abort();
}

static bool same_addr(const struct pt_sockaddr *a, const struct pt_sockaddr *b)
{
	if (a->ss.ss_family != b->ss.ss_family)
		return false;
	if (a->ss.ss_family == AF_INET)
		return a->ss.sin.sin_port == b->ss.sin.sin_port &&
		       !memcmp(&a->ss.sin.sin_addr, &b->ss.sin.sin_addr, 4);
	return a->ss.sin6.sin6_port == b->ss.sin6.sin6_port &&
	       !memcmp(&a->ss.sin6.sin6_addr, &b->ss.sin6.sin6_addr, 16);
}

static bool same_hdr(const struct pt_pp_hdr *a, const struct pt_pp_hdr *b)
{
	if (a->version != b->version || a->local != b->local)
		return false;
	return a->local || (same_addr(&a->src, &b->src) && same_addr(&a->dst, &b->dst));
}

/* Parse exactly @len bytes of a malloc'ed copy, so ASan sees a read past them. */
static int parse_copy(const uint8_t *data, size_t len, struct pt_pp_hdr *h)
{
	uint8_t *b = malloc(len ? len : 1);
	const char *why = NULL;
	int r;

	if (!b)
		abort();
	memcpy(b, data, len);
	r = pt_pp_parse(b, len, h, &why);
	free(b);
	if (r < 0 && (r != -EINVAL || !why || !why[0]))
		fail("an error without -EINVAL and a reason");
	if (r > 0 && ((size_t)r > len || r > PT_PP_MAX))
		fail("a length beyond the input or PT_PP_MAX");
	return r;
}

static void check_prefixes(const uint8_t *data, size_t size, int whole)
{
	struct pt_pp_hdr h;
	size_t end = whole > 0 ? (size_t)whole : size;
	size_t step = end > 256 ? end / 128 : 1;

	for (size_t i = 0; i < end; i += step) {
		int r = parse_copy(data, i, &h);

		if (whole > 0 && r != 0)
			fail("a strict prefix of a header did not ask for more");
		if (r < 0 && whole >= 0)
			fail("an error in a prefix but not in the whole");
	}
}

/* Build the parsed addresses again as @version with TLVs from @tail; parse back. */
static void round_trip(int version, const struct pt_pp_hdr *h, const uint8_t *tail, size_t n)
{
	char auth[64], lname[64];
	struct pt_pp_tlvs t = { .alpn = tail, .alpn_len = n < 40 ? n : 40 };
	uint8_t buf[512];
	struct pt_pp_hdr back;
	ssize_t len;

	snprintf(auth, sizeof(auth), "%.*s", (int)(n < 63 ? n : 63), (const char *)tail);
	snprintf(lname, sizeof(lname), "%.*s", (int)(n < 20 ? n : 20), (const char *)tail);
	t.authority = auth;
	t.listener = lname;
	len = pt_pp_build(version, &h->src.ss.sa, &h->dst.ss.sa, &t, buf,
			  16 + n % (sizeof(buf) - 16));
	if (len == -ENOSPC)
		return;
	if (len <= 0)
		fail("build failed with room enough");
	if (parse_copy(buf, (size_t)len, &back) != len)
		fail("a built header does not parse to its length");
	if (back.version != version || back.local || !same_addr(&h->src, &back.src) ||
	    !same_addr(&h->dst, &back.dst))
		fail("a built header parses to other addresses");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pt_pp_hdr h, alone;
	int r = parse_copy(data, size, &h);

	check_prefixes(data, size, r);
	if (r <= 0)
		return 0;
	if (parse_copy(data, (size_t)r, &alone) != r || !same_hdr(&h, &alone))
		fail("the header alone parses differently");
	if (!h.local) {
		round_trip(1, &h, data + r, size - (size_t)r);
		round_trip(2, &h, data + r, size - (size_t)r);
	}
	return 0;
}
