/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Protocol detection over the first bytes of a connection ("more bytes?").
 *
 * Detectors are stateless: every round re-parses the whole peeked window
 * from its first byte, so nothing but the socket's receive queue holds the
 * window between rounds. A detector returns one of three verdicts:
 *
 *   PT_PROBE_NEXT   enough bytes, not this protocol (or malformed: say why
 *                   in f->reason; a malformed ClientHello is never "TLS
 *                   without SNI")
 *   PT_PROBE_MATCH  this protocol; its fields are filled in
 *   PT_PROBE_AGAIN  cannot tell yet, more bytes needed; f->need says how
 *                   many bytes the window must hold before a MATCH is
 *                   possible (0: one more byte may do), so the caller need
 *                   not run the round again before (conn.c sets
 *                   SO_RCVLOWAT). A NEXT for malformed input may be
 *                   possible earlier; it is then found at the deadline.
 *
 * pt_detect() runs the user patterns (config order) and then the built-in
 * detectors (fixed order) and decides when one matches and every detector
 * before it said NEXT. With @final set (deadline passed, peer closed, window
 * full) AGAIN counts as NEXT.
 */
#ifndef __PT_DETECT_H
#define __PT_DETECT_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>

#include "passthru.h"
#include "passthru-common.h" /* pt_proto_name(), pt_proto_from_name() */

enum pt_probe {
	PT_PROBE_NEXT = 0,
	PT_PROBE_MATCH,
	PT_PROBE_AGAIN,
};

#define PT_ALPN_BUF	256	/* ALPN list, wire format: u8 length then the bytes, repeated */
#define PT_PATH_MAX	256	/* longest HTTP path kept (and longest path_prefix) */
#define PT_REASON_MAX	96

/* What detection found out about a connection. */
struct pt_fields {
	enum pt_proto proto;
	int pattern;			/* index of the matching pattern, else -1 */
	char sni[PT_NAME_MAX + 1];	/* TLS: validated, lower-case, "" if absent */
	uint8_t alpn[PT_ALPN_BUF];	/* TLS: ALPN protocol list, wire format */
	uint16_t alpn_len;		/* bytes used in alpn[] */
	uint16_t tls_version;		/* TLS: record/legacy version, e.g. 0x0303 */
	uint16_t tls_max_version;	/* TLS: highest supported_versions entry, GREASE ignored */
	bool tls_sslv2;			/* TLS: SSLv2-compatible ClientHello */
	bool tls_ech;			/* TLS: encrypted_client_hello present (sni is the outer one) */
	char ja4[PT_JA4_MAX];		/* TLS: JA4 fingerprint (detectors/ja4.c), "" for SSLv2 */
	bool path_truncated;		/* HTTP: path longer than PT_PATH_MAX - 1 */
	char method[16];		/* HTTP: request method */
	char host[PT_NAME_MAX + 1];	/* HTTP: Host without port, lower-case; SOCKS4a: host */
	char path[PT_PATH_MAX];		/* HTTP: request target path, as sent */
	char npath[PT_PATH_MAX];	/* HTTP: path normalised (pt_path_normalise), for routing */
	char banner[64];		/* SSH: software version from the identification string */
	uint16_t port;			/* SOCKS4: destination port */
	char reason[PT_REASON_MAX];	/* NEXT: why, for the log ("tls: bad extension length") */
	uint32_t need;			/* AGAIN: window bytes a MATCH needs at least, 0: len + 1 */
};

/* A user-defined detector: a byte prefix and/or an extended regex. */
struct pt_pattern {
	char *name;
	uint8_t *prefix;	/* may be NULL */
	size_t prefix_len;
	bool has_regex;
	regex_t regex;		/* compiled with REG_EXTENDED | REG_NOSUB */
	char *regex_src;
	size_t min_bytes;	/* regex: run only once this many bytes are in (or final) */
};

/* One built-in detector. */
struct pt_detector {
	const char *name;
	enum pt_proto proto;
	enum pt_probe (*probe)(const uint8_t *buf, size_t len, bool final, struct pt_fields *f);
};

enum pt_probe pt_probe_tls(const uint8_t *buf, size_t len, bool final, struct pt_fields *f);
enum pt_probe pt_probe_http2(const uint8_t *buf, size_t len, bool final, struct pt_fields *f);
enum pt_probe pt_probe_http(const uint8_t *buf, size_t len, bool final, struct pt_fields *f);
enum pt_probe pt_probe_ssh(const uint8_t *buf, size_t len, bool final, struct pt_fields *f);
enum pt_probe pt_probe_socks5(const uint8_t *buf, size_t len, bool final, struct pt_fields *f);
enum pt_probe pt_probe_socks4(const uint8_t *buf, size_t len, bool final, struct pt_fields *f);
/*
 * The JA4 fingerprint of the ClientHello hs[0..n) (handshake header
 * included, already validated by the TLS detector) into out; "" if it
 * cannot be read.
 */
void pt_ja4(const uint8_t *hs, size_t n, char out[PT_JA4_MAX]);
enum pt_probe pt_probe_pattern(const struct pt_pattern *p, const uint8_t *buf, size_t len,
			       bool final, struct pt_fields *f);

/*
 * Run every detector over buf[0..len). Returns MATCH (f filled, f->proto
 * set), NEXT (nobody matched: f->proto = PT_PROTO_UNKNOWN, f->reason may say
 * why) or AGAIN (only when !final).
 */
enum pt_probe pt_detect(const struct pt_pattern *pats, int n_pats, const uint8_t *buf,
			size_t len, bool final, struct pt_fields *f);

void pt_fields_init(struct pt_fields *f);
/* Does the ALPN list in f contain proto (exact, case-sensitive)? */
bool pt_fields_has_alpn(const struct pt_fields *f, const char *proto);
/* Format the ALPN list as "h2,http/1.1" (non-printables escaped as \xNN). */
void pt_fields_alpn_str(const struct pt_fields *f, char *out, size_t size);
/* Is name a valid DNS host name (LDH labels, dots, 1..253 chars)? */
bool pt_is_valid_hostname(const char *name, size_t len);

/*
 * Helpers for the detectors in user/detectors/ (additions to the API above).
 * pt_detect_fail() formats f->reason and returns PT_PROBE_NEXT;
 * pt_detect_need() returns PT_PROBE_AGAIN, or with @final set records @why
 * and returns PT_PROBE_NEXT.
 */
enum pt_probe pt_detect_fail(struct pt_fields *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
enum pt_probe pt_detect_need(struct pt_fields *f, bool final, const char *why);
/* pt_detect_need() that also records @need, the window bytes a MATCH needs at least. */
enum pt_probe pt_detect_want(struct pt_fields *f, bool final, size_t need, const char *why);
/*
 * Validate src[0..len) with pt_is_valid_hostname() and copy it lower-cased
 * and NUL-terminated into dst (at least PT_NAME_MAX + 1 bytes). Returns 0 or
 * -EINVAL (dst untouched).
 */
int pt_hostname_copy(char *dst, const char *src, size_t len);

/*
 * Normalise the HTTP path in[0..n) (origin-form, starting with '/') into
 * out, which has room for n + 2 bytes: percent-encoded unreserved
 * characters decoded and other escapes' hex upper-cased (RFC 3986 §6.2.2),
 * runs of '/' collapsed to one, "." and ".." segments resolved (§5.2.4,
 * never above the root). The query, from the first '?', is copied as is.
 * Returns the length written (out is NUL-terminated).
 */
size_t pt_path_normalise(const char *in, size_t n, char *out);

#endif /* __PT_DETECT_H */
