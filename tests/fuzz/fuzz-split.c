// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Replay a fuzzed sequence of reads against a detector the way the daemon
 * does (user/conn.c detect_decide): after every read that adds bytes, one
 * round over the whole window from byte 0 with final=false; the first
 * verdict that is not AGAIN decides; if none does, one last round with
 * final=true once the client stops or the window is full. Each round gets
 * its own malloc'ed copy of exactly the window, so that ASan reports any
 * read past it.
 *
 * Invariants, each a crash when broken:
 *   - the detector does not write to the window, never says AGAIN at final;
 *   - a round's verdict and fields are a pure function of the window: the
 *     same window after a different history (the TLS detector keeps a static
 *     scratch buffer) gives the same result, and pt_detect() overwrites
 *     every field of what it is handed;
 *   - the fields are sane: strings NUL-terminated, the reason printable,
 *     SNI and Host valid lower-case host names (or an IPv6 literal for
 *     Host), alpn a well-formed list of at most PT_ALPN_BUF bytes, and only
 *     the matched protocol's fields set;
 *   - the decided verdict does not depend on how the bytes were split: the
 *     same bytes in a single read give the same verdict and, on a MATCH, the
 *     same fields (an SSH banner may be shorter when decided earlier, as
 *     documented in ssh.c). The reason of a NEXT may differ: the TLS
 *     detector checks every record header before the hello inside them, so
 *     more bytes can bring an earlier complaint; it only goes to the log.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-split.h"

/* max_bytes choices: the default first, so that an all-zero header is ordinary. */
static const size_t fz_windows[8] = {
	PT_WINDOW_DEFAULT, PT_WINDOW_MAX, 64, 100, 256, 1024, 2048, 4096
};

static const char *const verdict_names[] = { "NEXT", "MATCH", "AGAIN" };

static const char *vname(enum pt_probe v)
{
	return (unsigned int)v < 3 ? verdict_names[v] : "(bad verdict)";
}

void fz_fail(const struct fz_target *t, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzz: %s: ", t->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

bool fz_known(const char *tag)
{
	static const char *said[16];
	const char *list = getenv("PT_FUZZ_KNOWN"), *p;
	size_t n = strlen(tag);
	int i;

	for (p = list ? strstr(list, tag) : NULL; p; p = strstr(p + 1, tag)) {
		if ((p != list && p[-1] != ',') || (p[n] && p[n] != ','))
			continue;
		for (i = 0; i < 16 && said[i] && strcmp(said[i], tag); i++)
			;
		if (i < 16 && !said[i]) {
			said[i] = tag;
			fprintf(stderr, "fuzz: known bug %s (further hits not shown)\n", tag);
		}
		return true;
	}
	return false;
}

uint8_t fz_u8(struct fz_reader *r)
{
	uint8_t v = 0;

	fz_bytes(r, &v, 1);
	return v;
}

uint16_t fz_u16(struct fz_reader *r)
{
	uint8_t b[2] = { 0, 0 };

	fz_bytes(r, b, 2);
	return (uint16_t)(b[0] | b[1] << 8);
}

size_t fz_bytes(struct fz_reader *r, uint8_t *out, size_t n)
{
	if (n > r->n)
		n = r->n;
	memcpy(out, r->p, n);
	r->p += n;
	r->n -= n;
	return n;
}

void fz_input_head(struct fz_reader *r, struct fz_input *in)
{
	uint8_t flags = fz_u8(r);

	memset(in, 0, sizeof(*in));
	in->window = fz_windows[flags & 7];
	in->eof = flags & 8;
	in->extra = flags >> 4;
	in->n_reads = fz_u8(r) % (FZ_MAX_READS + 1);
	for (int i = 0; i < in->n_reads; i++)
		in->reads[i] = fz_u16(r);
}

/* The rest is the client's bytes: where each read ends, capped at the window. */
void fz_input_data(struct fz_reader *r, struct fz_input *in)
{
	size_t end = 0;

	in->data = r->p;
	in->len = r->n < in->window ? r->n : in->window;
	for (int i = 0; i < in->n_reads; i++) {
		if (!in->reads[i])
			continue; /* nothing new: the daemon skips the round */
		end += in->reads[i];
		if (end >= in->len)
			break;
		in->ends[in->n_ends++] = end;
	}
	in->ends[in->n_ends++] = in->len;
	r->p += r->n;
	r->n = 0;
}

/* A copy of data[0..len) in a block of exactly len bytes. */
static uint8_t *fz_copy(const uint8_t *data, size_t len)
{
	uint8_t *buf = malloc(len);

	if (!buf && len)
		abort();
	if (len)
		memcpy(buf, data, len);
	return buf;
}

/* A well-formed ClientHello (SNI poison.example, ALPN h2,http/1.1, TLS 1.3). */
static size_t fz_poison_hello(uint8_t *b)
{
	static const char sni[] = "poison.example";
	static const uint8_t alpn[] = { 2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1' };
	size_t n = 0, hs, ext;

	memcpy(b, "\x16\x03\x01\x00\x00", 5);
	n = 5;
	hs = n;
	memcpy(b + n, "\x01\x00\x00\x00\x03\x03", 6);
	n += 6;
	memset(b + n, 0x5a, 32); /* random */
	n += 32;
	b[n++] = 0;				      /* session id */
	memcpy(b + n, "\x00\x02\x13\x01\x01\x00", 6); /* one suite, null compression */
	n += 6;
	ext = n;
	n += 2;
	/* server_name */
	b[n++] = 0x00, b[n++] = 0x00, b[n++] = 0, b[n++] = sizeof(sni) - 1 + 5;
	b[n++] = 0, b[n++] = sizeof(sni) - 1 + 3, b[n++] = 0, b[n++] = 0, b[n++] = sizeof(sni) - 1;
	memcpy(b + n, sni, sizeof(sni) - 1);
	n += sizeof(sni) - 1;
	/* ALPN */
	b[n++] = 0x00, b[n++] = 0x10, b[n++] = 0, b[n++] = sizeof(alpn) + 2;
	b[n++] = 0, b[n++] = sizeof(alpn);
	memcpy(b + n, alpn, sizeof(alpn));
	n += sizeof(alpn);
	/* supported_versions: TLS 1.3 */
	memcpy(b + n, "\x00\x2b\x00\x03\x02\x03\x04", 7);
	n += 7;
	b[ext] = (uint8_t)((n - ext - 2) >> 8), b[ext + 1] = (uint8_t)(n - ext - 2);
	b[hs + 2] = (uint8_t)((n - hs - 4) >> 8), b[hs + 3] = (uint8_t)(n - hs - 4);
	b[3] = (uint8_t)((n - 5) >> 8), b[4] = (uint8_t)(n - 5);
	return n;
}

/*
 * Give the detectors a different history: a complete hello and a truncated
 * one leave other bytes in the TLS detector's scratch buffer than the
 * rounds before did. A result that changes after this depends on history.
 */
static void fz_poison(const struct fz_target *t)
{
	static uint8_t hello[256];
	static size_t len;
	struct pt_fields f;
	uint8_t *buf;

	if (!len) {
		len = fz_poison_hello(hello);
		pt_fields_init(&f);
		if (pt_probe_tls(hello, len, false, &f) != PT_PROBE_MATCH ||
		    strcmp(f.sni, "poison.example") || f.alpn_len != 12)
			fz_fail(t, "harness bug: the poison ClientHello does not parse (%s)",
				f.reason);
	}
	buf = fz_copy(hello, len);
	pt_fields_init(&f);
	pt_probe_tls(buf, len, false, &f);
	pt_detect(t->pats, t->n_pats, buf, len, true, &f);
	pt_fields_init(&f);
	pt_probe_tls(buf, len - 20, false, &f);
	free(buf);
}

static bool is_str(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

#define IS_STR(a) is_str((a), sizeof(a))

static bool has_upper(const char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			return true;
	return false;
}

/* Every byte of s in [lo, hi]. */
static bool chars_in(const char *s, unsigned char lo, unsigned char hi)
{
	for (; *s; s++)
		if ((unsigned char)*s < lo || (unsigned char)*s > hi)
			return false;
	return true;
}

/* "" or a valid lower-case host name (or, with @v6, an IPv6 literal). */
static bool is_host_field(const char *s, bool v6)
{
	struct in6_addr a;

	if (!*s)
		return true;
	if (has_upper(s))
		return false;
	return pt_is_valid_hostname(s, strlen(s)) || (v6 && inet_pton(AF_INET6, s, &a) == 1);
}

static bool is_alpn_list(const struct pt_fields *f)
{
	size_t i = 0;

	if (f->alpn_len > PT_ALPN_BUF)
		return false;
	while (i < f->alpn_len) {
		if (!f->alpn[i])
			return false;
		i += 1 + f->alpn[i];
	}
	return i == f->alpn_len;
}

static bool tls_fields_empty(const struct pt_fields *f)
{
	return !f->sni[0] && !f->alpn_len && !f->tls_version && !f->tls_max_version &&
	       !f->tls_sslv2 && !f->tls_ech && !f->ja4[0];
}

/* "t13d1516h2_8daaf6152771_e5627efa2ab1": 36 characters, "_" at 10 and 23. */
static bool is_ja4(const char *s)
{
	return strlen(s) == 36 && s[0] == 't' && s[10] == '_' && s[23] == '_' &&
	       strspn(s + 11, "0123456789abcdef") == 12 && strspn(s + 24, "0123456789abcdef") == 12;
}

/* The fields of protocol @p: set (checked) on its MATCH, empty otherwise. */
static void check_match_fields(const struct fz_target *t, enum pt_proto p,
			       const struct pt_fields *f, size_t len)
{
	bool http = p == PT_PROTO_HTTP, tls = p == PT_PROTO_TLS;

	if (!tls && !tls_fields_empty(f))
		fz_fail(t, "%s MATCH at %zu carries TLS fields", pt_proto_name(p), len);
	if (!http && (f->method[0] || f->path[0] || f->path_truncated))
		fz_fail(t, "%s MATCH at %zu carries HTTP fields", pt_proto_name(p), len);
	if (!http && p != PT_PROTO_SOCKS4 && f->host[0])
		fz_fail(t, "%s MATCH at %zu carries a host \"%s\"", pt_proto_name(p), len, f->host);
	if (p != PT_PROTO_SSH && f->banner[0])
		fz_fail(t, "%s MATCH at %zu carries an SSH banner", pt_proto_name(p), len);
	if (p != PT_PROTO_SOCKS4 && f->port)
		fz_fail(t, "%s MATCH at %zu carries a port", pt_proto_name(p), len);
	if (f->reason[0])
		fz_fail(t, "%s MATCH at %zu with a reason: \"%s\"", pt_proto_name(p), len,
			f->reason);
	switch (p) {
	case PT_PROTO_TLS:
		if (!is_host_field(f->sni, false))
			fz_fail(t, "TLS MATCH at %zu: bad SNI \"%s\"", len, f->sni);
		if (!is_alpn_list(f))
			fz_fail(t, "TLS MATCH at %zu: bad ALPN list (%u bytes)", len, f->alpn_len);
		if (f->tls_sslv2 && (f->sni[0] || f->alpn_len || f->tls_ech))
			fz_fail(t, "SSLv2 MATCH at %zu with extension fields", len);
		if (f->tls_sslv2 ? f->ja4[0] != '\0' : !is_ja4(f->ja4))
			fz_fail(t, "TLS MATCH at %zu: bad JA4 \"%s\"", len, f->ja4);
		if (!f->tls_sslv2 && (f->tls_version >> 8 != 3 || !f->tls_max_version))
			fz_fail(t, "TLS MATCH at %zu: version 0x%04x max 0x%04x", len,
				f->tls_version, f->tls_max_version);
		break;
	case PT_PROTO_HTTP:
		if (!f->method[0] || !chars_in(f->method, 'A', 'Z'))
			fz_fail(t, "HTTP MATCH at %zu: bad method \"%s\"", len, f->method);
		if (!is_host_field(f->host, true))
			fz_fail(t, "HTTP MATCH at %zu: bad host \"%s\"", len, f->host);
		if (!chars_in(f->path, 0x21, 0x7e))
			fz_fail(t, "HTTP MATCH at %zu: bad path \"%s\"", len, f->path);
		if (!f->path[0] && strcmp(f->method, "CONNECT"))
			fz_fail(t, "HTTP MATCH at %zu: empty path", len);
		if (f->path_truncated && strlen(f->path) != PT_PATH_MAX - 1)
			fz_fail(t, "HTTP MATCH at %zu: truncated path of %zu bytes", len,
				strlen(f->path));
		break;
	case PT_PROTO_SSH:
		if (!chars_in(f->banner, 0x21, 0x7e))
			fz_fail(t, "SSH MATCH at %zu: bad banner \"%s\"", len, f->banner);
		break;
	case PT_PROTO_SOCKS4:
		if (!f->host[0] || !is_host_field(f->host, false))
			fz_fail(t, "SOCKS4 MATCH at %zu: bad host \"%s\"", len, f->host);
		break;
	default:
		break;
	}
}

static bool fields_empty(const struct pt_fields *f)
{
	return tls_fields_empty(f) && !f->method[0] && !f->host[0] && !f->path[0] &&
	       !f->path_truncated && !f->banner[0] && !f->port;
}

/* Invariants of one round's result. */
static void check_round(const struct fz_target *t, enum pt_probe v, const struct pt_fields *f,
			bool final, size_t len)
{
	enum pt_proto p = t->proto;

	if ((unsigned int)v > PT_PROBE_AGAIN)
		fz_fail(t, "verdict %d at %zu", (int)v, len);
	if (final && v == PT_PROBE_AGAIN)
		fz_fail(t, "AGAIN at final (%zu bytes)", len);
	if (!IS_STR(f->sni) || !IS_STR(f->method) || !IS_STR(f->host) || !IS_STR(f->path) ||
	    !IS_STR(f->banner) || !IS_STR(f->reason))
		fz_fail(t, "a string field is not NUL-terminated (%s at %zu)", vname(v), len);
	if (!chars_in(f->reason, 0x20, 0x7e))
		fz_fail(t, "unprintable reason \"%s\" at %zu", f->reason, len);
	if (f->alpn_len > PT_ALPN_BUF)
		fz_fail(t, "alpn_len %u > %d at %zu", f->alpn_len, PT_ALPN_BUF, len);
	if (p == PT_PROTO_NONE) {
		/* pt_detect(): f->proto and f->pattern say what matched */
		p = f->proto;
		if (v == PT_PROBE_MATCH &&
		    (p < PT_PROTO_TLS || p >= PT_PROTO_MAX ||
		     (p == PT_PROTO_PATTERN) != (f->pattern >= 0) || f->pattern >= t->n_pats))
			fz_fail(t, "MATCH at %zu with proto %d pattern %d", len, (int)p,
				f->pattern);
		if (v == PT_PROBE_NEXT && (p != PT_PROTO_UNKNOWN || f->pattern != -1 ||
					   !f->reason[0] || !fields_empty(f)))
			fz_fail(t, "NEXT at %zu: proto %s, pattern %d, reason \"%s\"", len,
				pt_proto_name(p), f->pattern, f->reason);
		if (v == PT_PROBE_AGAIN &&
		    (p != PT_PROTO_NONE || f->pattern != -1 || f->reason[0] || !fields_empty(f)))
			fz_fail(t, "AGAIN at %zu leaves fields set (proto %s)", len,
				pt_proto_name(p));
	} else if (f->proto != PT_PROTO_NONE && (f->proto != p || v != PT_PROBE_MATCH)) {
		fz_fail(t, "%s at %zu sets proto %s", vname(v), len, pt_proto_name(f->proto));
	}
	if (v == PT_PROBE_MATCH)
		check_match_fields(t, p, f, len);
	else if (t->proto == PT_PROTO_TLS && !tls_fields_empty(f))
		fz_fail(t, "TLS %s at %zu leaves TLS fields set (sni \"%s\")", vname(v), len,
			f->sni);
}

/*
 * The first field where a and b differ, or NULL. With @banner_prefix, a's
 * SSH banner may be a prefix of b's (decided on fewer bytes); @reason says
 * whether the reasons must agree too.
 */
static const char *fields_diff(const struct pt_fields *a, const struct pt_fields *b,
			       bool banner_prefix, bool reason)
{
	if (a->proto != b->proto)
		return "proto";
	if (a->pattern != b->pattern)
		return "pattern";
	if (strcmp(a->sni, b->sni))
		return "sni";
	if (a->alpn_len != b->alpn_len || memcmp(a->alpn, b->alpn, a->alpn_len))
		return "alpn";
	if (a->tls_version != b->tls_version || a->tls_max_version != b->tls_max_version)
		return "tls_version";
	if (a->tls_sslv2 != b->tls_sslv2 || a->tls_ech != b->tls_ech)
		return "tls flags";
	if (a->path_truncated != b->path_truncated || strcmp(a->path, b->path))
		return "path";
	if (strcmp(a->method, b->method))
		return "method";
	if (strcmp(a->host, b->host))
		return "host";
	if (banner_prefix ? strncmp(a->banner, b->banner, strlen(a->banner))
			  : strcmp(a->banner, b->banner))
		return "banner";
	if (a->port != b->port)
		return "port";
	if (reason && strcmp(a->reason, b->reason))
		return "reason";
	return NULL;
}

static void fields_print(const char *tag, enum pt_probe v, const struct pt_fields *f)
{
	char alpn[PT_ALPN_BUF * 4 + 1];

	pt_fields_alpn_str(f, alpn, sizeof(alpn));
	fprintf(stderr,
		"  %s: %s proto=%s pattern=%d sni=\"%s\" alpn=\"%s\" ver=0x%04x/0x%04x"
		" sslv2=%d ech=%d\n    method=\"%s\" host=\"%s\" path=\"%s\"%s banner=\"%s\""
		" port=%u reason=\"%s\"\n",
		tag, vname(v), pt_proto_name(f->proto), f->pattern, f->sni, alpn, f->tls_version,
		f->tls_max_version, f->tls_sslv2, f->tls_ech, f->method, f->host, f->path,
		f->path_truncated ? " (truncated)" : "", f->banner, f->port, f->reason);
}

static enum pt_probe fz_call(const struct fz_target *t, const uint8_t *buf, size_t len, bool final,
			     struct pt_fields *f)
{
	return t->probe ? t->probe(t, buf, len, final, f) : t->builtin(buf, len, final, f);
}

/* What the daemon's pt_fields hold when pt_detect() is called: anything. */
static void fields_garbage(struct pt_fields *f)
{
	memset(f, 0xa5, sizeof(*f));
}

/*
 * One detection round over data[0..len), in a fresh exact-size copy, then
 * the same round again after another history, which must agree. @f is
 * the caller's fields: kept across rounds for pt_detect(), as the daemon
 * keeps them, and initialised for a single detector, as pt_detect() does.
 */
static enum pt_probe fz_round(const struct fz_target *t, const uint8_t *data, size_t len,
			      bool final, struct pt_fields *f)
{
	struct pt_fields again;
	const char *diff;
	enum pt_probe v, w;
	uint8_t *buf;

	if (t->proto != PT_PROTO_NONE)
		pt_fields_init(f);
	buf = fz_copy(data, len);
	v = fz_call(t, buf, len, final, f);
	if (len && memcmp(buf, data, len))
		fz_fail(t, "the detector wrote to the window (%zu bytes)", len);
	free(buf);
	check_round(t, v, f, final, len);

	fz_poison(t);
	if (t->proto == PT_PROTO_NONE)
		fields_garbage(&again);
	else
		pt_fields_init(&again);
	buf = fz_copy(data, len);
	w = fz_call(t, buf, len, final, &again);
	free(buf);
	diff = w == v ? fields_diff(f, &again, false, true) : "verdict";
	if (diff) {
		fields_print("first", v, f);
		fields_print("again", w, &again);
		fz_fail(t, "%s differs when the same %zu bytes%s are probed after another history",
			diff, len, final ? " (final)" : "");
	}
	return v;
}

struct fz_outcome {
	enum pt_probe v;
	struct pt_fields f;
	size_t at;  /* the window length of the deciding round */
	bool final; /* decided by the final round */
};

/* The daemon's detection loop over the reads ending at ends[0..n). */
static void fz_detect(const struct fz_target *t, const struct fz_input *in, const size_t *ends,
		      int n, struct fz_outcome *out)
{
	size_t len = 0;

	if (t->proto == PT_PROTO_NONE)
		fields_garbage(&out->f);
	else
		pt_fields_init(&out->f);
	out->v = PT_PROBE_AGAIN;
	out->final = false;
	for (int i = 0; i < n; i++) {
		len = ends[i];
		out->at = len;
		out->v = fz_round(t, in->data, len, false, &out->f);
		if (out->v != PT_PROBE_AGAIN)
			return;
	}
	if (!in->eof && len < in->window)
		return; /* the daemon keeps waiting */
	out->final = true;
	out->v = fz_round(t, in->data, len, true, &out->f);
}

void fz_check_target(const struct fz_target *t, const struct fz_input *in)
{
	struct fz_outcome split, whole;
	const char *diff;

	fz_detect(t, in, in->ends, in->n_ends, &split);
	if (in->n_ends == 1)
		return;
	fz_detect(t, in, &in->len, 1, &whole);
	diff = split.v != whole.v	   ? "verdict"
	       : split.v == PT_PROBE_MATCH ? fields_diff(&split.f, &whole.f, true, false)
					   : NULL;
	if (!diff ||
	    (t->excuse && t->excuse(t, in->data, split.at, split.final, whole.at, whole.final)))
		return;
	fields_print("split", split.v, &split.f);
	fields_print("whole", whole.v, &whole.f);
	fz_fail(t, "%s depends on the split: %s at %zu%s in %d reads, %s at %zu%s in one", diff,
		vname(split.v), split.at, split.final ? " (final)" : "", in->n_ends, vname(whole.v),
		whole.at, whole.final ? " (final)" : "");
}

void fz_run_simple(const struct fz_target *t, const uint8_t *data, size_t size)
{
	struct fz_reader r = { data, size };
	struct fz_input in;

	fz_input_head(&r, &in);
	fz_input_data(&r, &in);
	fz_check_target(t, &in);
}
