// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The detector table and pt_detect(), which runs it over the peeked window,
 * plus the small helpers the detectors and the rest of the daemon share.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "detect.h"

/* Built-in detectors in priority order: most specific signatures first. */
static const struct pt_detector pt_builtins[] = {
	{"tls", PT_PROTO_TLS, pt_probe_tls},	      {"http2", PT_PROTO_HTTP2, pt_probe_http2},
	{"http", PT_PROTO_HTTP, pt_probe_http},	      {"ssh", PT_PROTO_SSH, pt_probe_ssh},
	{"socks5", PT_PROTO_SOCKS5, pt_probe_socks5}, {"socks4", PT_PROTO_SOCKS4, pt_probe_socks4},
};

/* Empty fields: no protocol, no pattern. */
void pt_fields_init(struct pt_fields *f)
{
	memset(f, 0, sizeof(*f));
	f->proto = PT_PROTO_NONE;
	f->pattern = -1;
}

enum pt_probe pt_detect_fail(struct pt_fields *f, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(f->reason, sizeof(f->reason), fmt, ap);
	va_end(ap);
	return PT_PROBE_NEXT;
}

enum pt_probe pt_detect_need(struct pt_fields *f, bool final, const char *why)
{
	if (!final)
		return PT_PROBE_AGAIN;
	return pt_detect_fail(f, "%s", why);
}

enum pt_probe pt_detect_want(struct pt_fields *f, bool final, size_t need, const char *why)
{
	f->need = need > UINT32_MAX ? UINT32_MAX : (uint32_t)need;
	return pt_detect_need(f, final, why);
}

/*
 * Keep the reason of a detector that said NEXT if it is the first one of its
 * kind: a built-in detector's reason ("tls: session id longer than 32 bytes")
 * says more than a pattern's, and detectors that merely saw a foreign
 * signature leave their reason empty.
 */
static void keep_reason(char *dst, const struct pt_fields *tmp)
{
	if (!dst[0] && tmp->reason[0])
		memcpy(dst, tmp->reason, PT_REASON_MAX);
}

/*
 * Fold one detector's verdict into the round: true when the round is decided
 * (MATCH, or AGAIN before the deadline), with *res set and, on MATCH, f
 * holding the detector's fields; on AGAIN f holds only the detector's need.
 */
static bool decided(enum pt_probe v, const struct pt_fields *tmp, bool final, enum pt_probe *res,
		    struct pt_fields *f, char *reason)
{
	if (v == PT_PROBE_MATCH) {
		*f = *tmp;
		*res = PT_PROBE_MATCH;
		return true;
	}
	if (v == PT_PROBE_AGAIN && !final) {
		pt_fields_init(f);
		f->need = tmp->need;
		*res = PT_PROBE_AGAIN;
		return true;
	}
	keep_reason(reason, tmp);
	return false;
}

/* Nobody matched: unknown, with the most useful reason we collected. */
static enum pt_probe unknown(struct pt_fields *f, const char *bi_reason, const char *pat_reason,
			     size_t len)
{
	pt_fields_init(f);
	f->proto = PT_PROTO_UNKNOWN;
	if (!len)
		snprintf(f->reason, sizeof(f->reason), "no bytes");
	else if (bi_reason[0])
		memcpy(f->reason, bi_reason, sizeof(f->reason));
	else if (pat_reason[0])
		memcpy(f->reason, pat_reason, sizeof(f->reason));
	else
		snprintf(f->reason, sizeof(f->reason), "no detector recognised the first bytes");
	return PT_PROBE_NEXT;
}

/*
 * Patterns in config order, then the built-ins; the first MATCH wins if
 * everyone before it said NEXT. Each detector fills a scratch copy so that a
 * NEXT leaves nothing behind in f.
 */
enum pt_probe pt_detect(const struct pt_pattern *pats, int n_pats, const uint8_t *buf, size_t len,
			bool final, struct pt_fields *f)
{
	char bi_reason[PT_REASON_MAX] = "", pat_reason[PT_REASON_MAX] = "";
	struct pt_fields tmp;
	enum pt_probe v, res;

	for (int i = 0; i < n_pats; i++) {
		pt_fields_init(&tmp);
		v = pt_probe_pattern(&pats[i], buf, len, final, &tmp);
		tmp.proto = PT_PROTO_PATTERN;
		tmp.pattern = i;
		if (decided(v, &tmp, final, &res, f, pat_reason))
			return res;
	}
	for (size_t i = 0; i < sizeof(pt_builtins) / sizeof(pt_builtins[0]); i++) {
		pt_fields_init(&tmp);
		v = pt_builtins[i].probe(buf, len, final, &tmp);
		tmp.proto = pt_builtins[i].proto;
		if (decided(v, &tmp, final, &res, f, bi_reason))
			return res;
	}
	return unknown(f, bi_reason, pat_reason, len);
}

bool pt_fields_has_alpn(const struct pt_fields *f, const char *proto)
{
	size_t plen = strlen(proto);

	for (size_t i = 0; i < f->alpn_len; i += 1 + f->alpn[i]) {
		size_t n = f->alpn[i];

		if (i + 1 + n > f->alpn_len)
			break;
		if (n == plen && !memcmp(f->alpn + i + 1, proto, n))
			return true;
	}
	return false;
}

/* Append s (n bytes, NUL-terminated output kept) if it fits whole; false if not. */
static bool put(char *out, size_t size, size_t *pos, const char *s, size_t n)
{
	if (*pos + n >= size)
		return false;
	memcpy(out + *pos, s, n);
	*pos += n;
	out[*pos] = '\0';
	return true;
}

void pt_fields_alpn_str(const struct pt_fields *f, char *out, size_t size)
{
	size_t pos = 0;
	char esc[5];

	if (!size)
		return;
	out[0] = '\0';
	for (size_t i = 0; i < f->alpn_len; i += 1 + f->alpn[i]) {
		size_t n = f->alpn[i];

		if (i + 1 + n > f->alpn_len)
			break;
		if (i && !put(out, size, &pos, ",", 1))
			return;
		for (size_t j = 0; j < n; j++) {
			uint8_t c = f->alpn[i + 1 + j];
			bool plain = c > 0x20 && c < 0x7f && c != ',' && c != '\\';

			if (plain) {
				esc[0] = (char)c;
				if (!put(out, size, &pos, esc, 1))
					return;
				continue;
			}
			snprintf(esc, sizeof(esc), "\\x%02x", c);
			if (!put(out, size, &pos, esc, 4))
				return;
		}
	}
}

static bool is_label_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

/*
 * Labels of letters, digits, '-' and '_' (underscores appear in real
 * service names such as "_acme.example" and in SNI sent by real clients),
 * 1..63 characters, not starting or ending with '-', joined by single dots.
 * An empty label is refused, so a trailing dot ("example.com.") is invalid:
 * RFC 6066 forbids it in SNI; the HTTP detector strips it before asking.
 */
bool pt_is_valid_hostname(const char *name, size_t len)
{
	size_t label = 0;

	if (!len || len > PT_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (c == '.') {
			if (!label || name[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!is_label_char(c) || (!label && c == '-') || ++label > 63)
			return false;
	}
	return label && name[len - 1] != '-';
}

int pt_hostname_copy(char *dst, const char *src, size_t len)
{
	if (!pt_is_valid_hostname(src, len))
		return -EINVAL;
	for (size_t i = 0; i < len; i++)
		dst[i] = (src[i] >= 'A' && src[i] <= 'Z') ? src[i] - 'A' + 'a' : src[i];
	dst[len] = '\0';
	return 0;
}
