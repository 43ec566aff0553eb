// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * HTTP path normalisation for path_prefix routes (RFC 3986 §6.2.2 and
 * §5.2.4), so that "//admin", "/%61dmin" and "/x/../admin" all compare as
 * "/admin". Not normalised: "%2F" (an encoded '/' stays one byte of a
 * segment), backslashes, letter case, ";" parameters, the query.
 */
#include <stdbool.h>
#include <string.h>

#include "detect.h"

static int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* RFC 3986 §2.3: ALPHA / DIGIT / "-" / "." / "_" / "~" */
static bool is_unreserved(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

/*
 * Copy one segment in[*i..end) up to the next '/' to out + o, decoding
 * escapes of unreserved characters and upper-casing the hex of the others.
 * Returns the bytes written.
 */
static size_t copy_segment(const char *in, size_t *i, size_t end, char *out)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	int hi, lo;

	while (*i < end && in[*i] != '/') {
		if (in[*i] != '%' || end - *i < 3 || (hi = hex_val(in[*i + 1])) < 0 ||
		    (lo = hex_val(in[*i + 2])) < 0) {
			out[o++] = in[(*i)++];
			continue;
		}
		*i += 3;
		if (is_unreserved(hi << 4 | lo)) {
			out[o++] = (char)(hi << 4 | lo);
			continue;
		}
		out[o++] = '%';
		out[o++] = hex[hi];
		out[o++] = hex[lo];
	}
	return o;
}

/* Drop the last segment of out[0..o): the new length, never below the root. */
static size_t pop_segment(const char *out, size_t o)
{
	while (o > 0 && out[o - 1] != '/')
		o--;
	return o > 0 ? o - 1 : 0;
}

size_t pt_path_normalise(const char *in, size_t n, char *out)
{
	const char *q = memchr(in, '?', n);
	size_t end = q ? (size_t)(q - in) : n, i = 0, o = 0, seg;
	bool dir = false; /* the path ends in '/' (or in "." or "..") */

	while (i < end) {
		while (i < end && in[i] == '/')
			i++;
		if (i == end) {
			dir = true;
			break;
		}
		out[o] = '/';
		seg = copy_segment(in, &i, end, out + o + 1);
		dir = seg <= 2 && out[o + 1] == '.' && (seg == 1 || out[o + 2] == '.');
		if (!dir)
			o += 1 + seg;
		else if (seg == 2)
			o = pop_segment(out, o);
	}
	if (!o || dir)
		out[o++] = '/';
	memcpy(out + o, in + end, n - end);
	o += n - end;
	out[o] = '\0';
	return o;
}
