// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * HTTP/1.x request heads (RFC 9112) and the HTTP/2 prior-knowledge preface
 * (RFC 9113 §3.4).
 *
 * HTTP/1.x: "METHOD SP target SP HTTP/1.d" then header lines. The method
 * decides early (NEXT as soon as the prefix cannot be one of ours); the
 * verdict waits for the end of the head, so that a second Host line is
 * seen. The host comes from the target's authority (absolute-form and
 * CONNECT's authority-form) or the Host header, which must then name the
 * same host; two Host lines, or a disagreeing one, make the request NEXT
 * (unknown): a backend might route by the one we did not. No Host at all
 * (HTTP/1.0) gives an empty host. Lines may end in CRLF or a bare LF (RFC
 * 9112 §2.2 lets a recipient accept it). The path is kept as sent and
 * normalised (path.c) for path_prefix. Only the first request of a
 * connection is read.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "detect.h"

static const char h2_preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/* MATCH on the whole 24-byte preface, AGAIN while the window is a prefix of it. */
enum pt_probe pt_probe_http2(const uint8_t *buf, size_t len, bool final, struct pt_fields *f)
{
	size_t plen = sizeof(h2_preface) - 1;
	size_t n = len < plen ? len : plen;

	if (memcmp(buf, h2_preface, n))
		return PT_PROBE_NEXT;
	if (len < plen)
		return pt_detect_want(f, final, plen, "http2: truncated preface");
	return PT_PROBE_MATCH;
}

/* RFC 9110 §9 methods plus the WebDAV ones (RFC 4918, 3253, 5323). */
static const char *const http_methods[] = {
	"GET",	"HEAD", "POST",	 "PUT",	 "DELETE",   "CONNECT",	  "OPTIONS", "TRACE",  "PATCH",
	"COPY", "LOCK", "MKCOL", "MOVE", "PROPFIND", "PROPPATCH", "UNLOCK",  "REPORT", "SEARCH",
};

#define HTTP_N_METHODS (sizeof(http_methods) / sizeof(http_methods[0]))

/*
 * Match "METHOD SP" at the start of buf. Returns MATCH with *mlen set, AGAIN
 * while buf is a proper prefix of one, NEXT when it cannot be one.
 */
static enum pt_probe http_method(const uint8_t *buf, size_t len, size_t *mlen)
{
	bool prefix = false;

	for (size_t i = 0; i < HTTP_N_METHODS; i++) {
		size_t n = strlen(http_methods[i]);

		if (len > n) {
			if (!memcmp(buf, http_methods[i], n) && buf[n] == ' ') {
				*mlen = n;
				return PT_PROBE_MATCH;
			}
		} else if (!memcmp(buf, http_methods[i], len)) {
			prefix = true;
		}
	}
	return prefix ? PT_PROBE_AGAIN : PT_PROBE_NEXT;
}

/* Copy s[0..n) after lead into dst (PT_PATH_MAX bytes); true if it had to be cut. */
static bool http_copy_path(char *dst, const char *lead, const void *s, size_t n)
{
	size_t l = strlen(lead), max = PT_PATH_MAX - 1 - l;
	bool cut = n > max;

	memcpy(dst, lead, l);
	if (cut)
		n = max;
	memcpy(dst + l, s, n);
	dst[l + n] = '\0';
	return cut;
}

/*
 * The path as sent (for the log) and normalised (for path_prefix). The
 * whole path is normalised before it is cut to PT_PATH_MAX, so a ".."
 * beyond the cut cannot leave a prefix standing that the backend removes.
 */
static void http_set_path(struct pt_fields *f, const char *lead, const uint8_t *s, size_t n)
{
	static char norm[PT_WINDOW_MAX + 2]; /* workers are single-threaded */
	size_t nn;

	f->path_truncated = http_copy_path(f->path, lead, s, n);
	if (lead[0] || !n || s[0] != '/') {
		http_copy_path(f->npath, lead, s, n);
		return;
	}
	nn = pt_path_normalise((const char *)s, n, norm);
	http_copy_path(f->npath, "", norm, nn);
}

/* A port: empty (RFC 3986 allows it) or up to 65535. */
static bool is_port(const uint8_t *s, size_t n)
{
	unsigned long v = 0;

	if (n > 5)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + s[i] - '0';
	}
	return v <= 65535;
}

/* "[v6addr]" with an optional ":port"; stored lower-case without brackets. */
static int http_set_v6(struct pt_fields *f, const uint8_t *s, size_t n)
{
	const uint8_t *close = memchr(s, ']', n);
	char tmp[INET6_ADDRSTRLEN];
	struct in6_addr a;
	size_t alen, rest;

	if (!close)
		return -EINVAL;
	alen = close - s - 1;
	rest = n - (close - s) - 1;
	if (rest && (close[1] != ':' || !is_port(close + 2, rest - 1)))
		return -EINVAL;
	if (alen >= sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, s + 1, alen);
	tmp[alen] = '\0';
	if (inet_pton(AF_INET6, tmp, &a) != 1)
		return -EINVAL;
	for (size_t i = 0; i <= alen; i++)
		f->host[i] = (tmp[i] >= 'A' && tmp[i] <= 'Z') ? tmp[i] - 'A' + 'a' : tmp[i];
	return 0;
}

/*
 * Store the host of "host[:port]" (a Host value or an authority without
 * userinfo) into f->host, lower-case and without the port. An empty value
 * gives an empty host. One trailing dot is dropped: "example.com." names
 * the same host. Returns 0 or -EINVAL.
 */
static int http_set_host(struct pt_fields *f, const uint8_t *s, size_t n)
{
	const uint8_t *colon;

	f->host[0] = '\0';
	if (!n)
		return 0;
	if (s[0] == '[')
		return http_set_v6(f, s, n);
	colon = memrchr(s, ':', n);
	if (colon) {
		if (!is_port(colon + 1, n - (colon - s) - 1))
			return -EINVAL;
		n = colon - s;
	}
	if (n > 1 && s[n - 1] == '.')
		n--;
	return pt_hostname_copy(f->host, (const char *)s, n);
}

/* RFC 3986 §3.1: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
static bool is_scheme_char(uint8_t c, bool first)
{
	if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
		return true;
	return !first && ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.');
}

/* "scheme://[userinfo@]authority[/path...]": host and path from it. */
static int http_absolute_form(struct pt_fields *f, const uint8_t *t, size_t n)
{
	const uint8_t *sep = memmem(t, n, "://", 3), *end = t + n, *auth, *path, *at;

	if (!sep || sep == t)
		return -EINVAL;
	for (const uint8_t *p = t; p < sep; p++)
		if (!is_scheme_char(*p, p == t))
			return -EINVAL;
	auth = sep + 3;
	for (path = auth; path < end && *path != '/' && *path != '?' && *path != '#'; path++)
		;
	at = memrchr(auth, '@', path - auth);
	if (at)
		auth = at + 1;
	if (path == auth || http_set_host(f, auth, path - auth))
		return -EINVAL;
	http_set_path(f, path < end && *path == '/' ? "" : "/", path, end - path);
	return 0;
}

/*
 * Take host and path from the request target. Returns 1 when the target
 * named the host (absolute-form, CONNECT), 0 when the Host header must,
 * -EINVAL when the target is none of the RFC 9112 §3.2 forms.
 */
static int http_target(struct pt_fields *f, const uint8_t *t, size_t n)
{
	if (!strcmp(f->method, "CONNECT")) {
		if (memchr(t, '@', n) || memchr(t, '/', n) || http_set_host(f, t, n) || !f->host[0])
			return -EINVAL;
		return 1;
	}
	if (t[0] == '/' || (n == 1 && t[0] == '*')) {
		http_set_path(f, "", t, n);
		return 0;
	}
	return http_absolute_form(f, t, n) ? -EINVAL : 1;
}

/* Record a malformation as the reason; returns -EINVAL. */
static int http_bad(struct pt_fields *f, const char *why)
{
	pt_detect_fail(f, "http: %s", why);
	return -EINVAL;
}

/* Check "HTTP/1.d" then CRLF or LF at s[0..n) (n may be short): 0, -EAGAIN, -EINVAL. */
static int http_version(const uint8_t *s, size_t n, size_t *line_end)
{
	static const char v[] = "HTTP/1.";
	size_t i;

	for (i = 0; i < n && i < 7; i++)
		if (s[i] != v[i])
			return -EINVAL;
	if (n > 7 && (s[7] < '0' || s[7] > '9'))
		return -EINVAL;
	if (n > 8 && s[8] == '\n') {
		*line_end = 9;
		return 0;
	}
	if (n > 8 && s[8] != '\r')
		return -EINVAL;
	if (n > 9 && s[9] != '\n')
		return -EINVAL;
	if (n < 10)
		return -EAGAIN;
	*line_end = 10;
	return 0;
}

/*
 * The request line after the method: sets method, path and (for absolute
 * and authority forms) host. Returns the offset of the first header line,
 * -EAGAIN or -EINVAL (reason set).
 */
static long http_request_line(const uint8_t *buf, size_t len, size_t mlen, struct pt_fields *f,
			      bool *have_host)
{
	size_t t = mlen + 1, sp = t, end;
	int err;

	memcpy(f->method, buf, mlen);
	f->method[mlen] = '\0';
	while (sp < len && buf[sp] != ' ') {
		if (buf[sp] < 0x21 || buf[sp] > 0x7e)
			return http_bad(f, "bad character in request target");
		sp++;
	}
	if (sp == len)
		return -EAGAIN;
	if (sp == t)
		return http_bad(f, "empty request target");
	err = http_version(buf + sp + 1, len - sp - 1, &end);
	if (err == -EINVAL)
		return http_bad(f, "bad HTTP version");
	if (err)
		return err;
	err = http_target(f, buf + t, sp - t);
	if (err < 0)
		return http_bad(f, "bad request target");
	*have_host = err;
	return sp + 1 + end;
}

static bool is_tchar(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/*
 * One complete header line s[0..n) (line end removed). Returns 1 if it was
 * a good Host line (its host in *host), 0 for any other good line, -EINVAL
 * if bad.
 */
static int http_header(const uint8_t *s, size_t n, struct pt_fields *f, struct pt_fields *host)
{
	const uint8_t *colon = memchr(s, ':', n);
	size_t name, v, e;

	if (s[0] == ' ' || s[0] == '\t')
		return 0; /* obs-fold continuation: nothing we need */
	if (!colon || colon == s)
		return http_bad(f, "bad header line");
	name = colon - s;
	for (size_t i = 0; i < name; i++)
		if (!is_tchar(s[i]))
			return http_bad(f, "bad header name");
	if (name != 4 || strncasecmp((const char *)s, "host", 4))
		return 0;
	for (v = name + 1; v < n && (s[v] == ' ' || s[v] == '\t'); v++)
		;
	for (e = n; e > v && (s[e - 1] == ' ' || s[e - 1] == '\t'); e--)
		;
	if (http_set_host(host, s + v, e - v))
		return http_bad(f, "invalid Host");
	return 1;
}

/*
 * A Host line when the host is already known: from an earlier Host line
 * (two Host lines: RFC 9112 §3.2 says 400) or from the target (RFC 9112
 * §3.2.2 lets the target override Host; a router that saw only one of the
 * two would route by a name the backend may not use, so they must agree).
 */
static int http_host_again(struct pt_fields *f, const char *host, bool from_target, bool from_line)
{
	if (from_line)
		return http_bad(f, "more than one Host header");
	if (from_target && strcmp(f->host, host))
		return http_bad(f, "Host disagrees with the request target");
	return 0;
}

/*
 * Read the header lines from buf[pos..len) to the end of the head. Returns 0
 * at the end of the head, -EAGAIN before it, -EINVAL (reason set) on a bad
 * line or a second, or disagreeing, Host.
 */
static int http_headers(const uint8_t *buf, size_t len, size_t pos, struct pt_fields *f,
			bool from_target)
{
	static struct pt_fields host; /* workers are single-threaded */
	bool from_line = false;
	const uint8_t *lf;
	size_t n;
	int err;

	for (;; pos = lf - buf + 1) {
		lf = memchr(buf + pos, '\n', len - pos);
		if (!lf)
			return -EAGAIN;
		n = lf - buf - pos;
		if (n && buf[pos + n - 1] == '\r')
			n--;
		if (!n)
			return 0;
		err = http_header(buf + pos, n, f, &host);
		if (err <= 0) {
			if (err)
				return err;
			continue;
		}
		if (from_target || from_line) {
			err = http_host_again(f, host.host, from_target, from_line);
			if (err)
				return err;
		} else {
			memcpy(f->host, host.host, sizeof(f->host));
		}
		from_line = true;
	}
}

/*
 * MATCH once the request line is good and the whole head is in, with at
 * most one Host, agreeing with the target's authority if it has one. With
 * @final set (deadline, window full, client closed) a head cut short is
 * judged on the lines present.
 */
enum pt_probe pt_probe_http(const uint8_t *buf, size_t len, bool final, struct pt_fields *f)
{
	bool have_host = false;
	size_t mlen;
	enum pt_probe v;
	long off;
	int err;

	v = http_method(buf, len, &mlen);
	if (v != PT_PROBE_MATCH)
		return v == PT_PROBE_AGAIN ? pt_detect_need(f, final, "http: truncated method") : v;
	off = http_request_line(buf, len, mlen, f, &have_host);
	if (off == -EAGAIN)
		return pt_detect_need(f, final, "http: truncated request line");
	if (off < 0)
		return PT_PROBE_NEXT;
	err = http_headers(buf, len, off, f, have_host);
	if (err == -EAGAIN && (!final || (!have_host && !f->host[0])))
		return pt_detect_need(f, final, "http: truncated headers");
	if (err == -EINVAL)
		return PT_PROBE_NEXT;
	f->proto = PT_PROTO_HTTP;
	return PT_PROBE_MATCH;
}
