// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * User-defined patterns: a byte prefix, then an extended regex over the
 * whole window. regexec() runs with REG_STARTEND so the window need not be
 * NUL-terminated and may contain NUL bytes.
 */
#include <regex.h>
#include <string.h>

#include "detect.h"

/*
 * The prefix decides first (NEXT on the first differing byte, AGAIN while
 * the window is shorter); then the regex, which runs only once min_bytes
 * are in (or with @final set): MATCH or NEXT. Never MATCH on an empty
 * window. Running the regex once, not at every byte, keeps a client that
 * sends its first bytes one at a time from costing a regexec() per byte.
 */
enum pt_probe pt_probe_pattern(const struct pt_pattern *p, const uint8_t *buf, size_t len,
			       bool final, struct pt_fields *f)
{
	size_t n = len < p->prefix_len ? len : p->prefix_len;
	regmatch_t m;

	if (n && memcmp(buf, p->prefix, n))
		return PT_PROBE_NEXT;
	if (len < p->prefix_len || !len)
		return pt_detect_want(f, final, p->prefix_len, "pattern: too few bytes");
	if (p->has_regex) {
		if (len < p->min_bytes && !final)
			return pt_detect_want(f, final, p->min_bytes, "pattern: too few bytes");
		m.rm_so = 0;
		m.rm_eo = len;
		if (regexec(&p->regex, (const char *)buf, 1, &m, REG_STARTEND))
			return pt_detect_fail(f, "pattern %s: regex did not match",
					      p->name ? p->name : "?");
	}
	f->proto = PT_PROTO_PATTERN;
	return PT_PROBE_MATCH;
}
