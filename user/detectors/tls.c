// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * TLS: the first ClientHello, reassembled across TLS records and TCP
 * segments (RFC 8446 §5.1 allows a handshake message to span records, and
 * post-quantum hellos of ~2 KB routinely span segments), plus the
 * SSLv2-compatible hello of RFC 5246 appendix E.2.
 *
 * Each round copies the handshake bytes of the leading handshake records
 * into a static scratch buffer (workers are single-threaded) and parses the
 * ClientHello from there. Every read is checked twice: against the length
 * its enclosing vector declares (beyond it: malformed, NEXT with a reason)
 * and against the bytes present so far (beyond them: AGAIN). A malformed
 * hello is never reported as "TLS without SNI". A whole hello also gets
 * its JA4 fingerprint (ja4.c).
 */
#include <errno.h>
#include <string.h>

#include "detect.h"

#define TLS_REC_HDR 5
#define TLS_REC_MAX (16384 + 2048) /* 2^14, plus the slack Go allows */
#define TLS_HS_HDR 4
#define TLS_CT_HANDSHAKE 22
#define TLS_HS_CLIENT_HELLO 1
#define TLS_SID_MAX 32

#define EXT_SERVER_NAME 0x0000
#define EXT_ALPN 0x0010
#define EXT_SUPPORTED_VERSIONS 0x002b
#define EXT_ECH 0xfe0d

#define SEEN_SNI 0x1
#define SEEN_ALPN 0x2
#define SEEN_SV 0x4
#define SEEN_ECH 0x8

static uint8_t tls_scratch[PT_WINDOW_MAX];

/* A bounded reader over one vector of the hello. */
struct tls_rd {
	const uint8_t *p;
	size_t pos;
	size_t end;   /* where the enclosing vector ends, as declared */
	size_t avail; /* how many bytes of p are present */
};

/* Take n bytes: 0, -EINVAL past the vector's end, -EAGAIN if not here yet. */
static int rd_take(struct tls_rd *r, size_t n, const uint8_t **out)
{
	if (n > r->end - r->pos)
		return -EINVAL;
	if (r->pos + n > r->avail)
		return -EAGAIN;
	*out = r->p + r->pos;
	r->pos += n;
	return 0;
}

static int rd_uint(struct tls_rd *r, size_t n, uint32_t *v)
{
	const uint8_t *b;
	int err;

	err = rd_take(r, n, &b);
	if (err)
		return err;
	*v = 0;
	for (size_t i = 0; i < n; i++)
		*v = *v << 8 | b[i];
	return 0;
}

/* Split off the next n bytes as a vector of their own (present or not). */
static int rd_sub(struct tls_rd *r, size_t n, struct tls_rd *sub)
{
	if (n > r->end - r->pos)
		return -EINVAL;
	*sub = *r;
	sub->end = r->pos + n;
	r->pos += n;
	return 0;
}

/* A length-prefixed vector that must fill the rest of r exactly. */
static int rd_vec_rest(struct tls_rd *r, size_t len_bytes, struct tls_rd *sub)
{
	uint32_t n;
	int err;

	err = rd_uint(r, len_bytes, &n);
	if (err)
		return err;
	if (n != r->end - r->pos)
		return n > r->end - r->pos ? -EINVAL : -ERANGE;
	return rd_sub(r, n, sub);
}

/* Record why err happened when it is a malformation; pass -EAGAIN through. */
static int tls_bad(struct pt_fields *f, int err, const char *why)
{
	if (err != -EAGAIN)
		pt_detect_fail(f, "tls: %s", why);
	return err;
}

static bool is_grease(uint32_t v)
{
	return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff);
}

static int tls_sni_name(struct tls_rd *list, struct pt_fields *f)
{
	const uint8_t *name;
	uint32_t type, n;
	int err;

	err = rd_uint(list, 1, &type);
	if (!err)
		err = rd_uint(list, 2, &n);
	if (!err)
		err = rd_take(list, n, &name);
	if (err)
		return tls_bad(f, err, "server name overflows server name list");
	if (type != 0)
		return tls_bad(f, -EINVAL, "unknown server name type");
	if (f->sni[0])
		return tls_bad(f, -EINVAL, "more than one host name in server_name");
	if (!n)
		return tls_bad(f, -EINVAL, "empty server name");
	if (memchr(name, '\0', n))
		return tls_bad(f, -EINVAL, "server name contains a NUL byte");
	if (n > PT_NAME_MAX)
		return tls_bad(f, -EINVAL, "server name longer than 253 bytes");
	if (pt_hostname_copy(f->sni, (const char *)name, n))
		return tls_bad(f, -EINVAL, "invalid server name");
	return 0;
}

/* server_name (RFC 6066 §3): a list holding one host_name. */
static int tls_ext_sni(struct tls_rd *ext, struct pt_fields *f)
{
	struct tls_rd list;
	int err;

	if (ext->end == ext->pos)
		return tls_bad(f, -EINVAL, "empty server_name extension");
	err = rd_vec_rest(ext, 2, &list);
	if (err == -ERANGE)
		return tls_bad(f, err, "trailing bytes in server_name extension");
	if (err)
		return tls_bad(f, err, "server name list overflows extension");
	if (list.end == list.pos)
		return tls_bad(f, -EINVAL, "empty server name list");
	while (list.pos < list.end) {
		err = tls_sni_name(&list, f);
		if (err)
			return err;
	}
	return 0;
}

/* application_layer_protocol_negotiation (RFC 7301 §3.1). */
static int tls_ext_alpn(struct tls_rd *ext, struct pt_fields *f)
{
	struct tls_rd list;
	const uint8_t *name;
	uint32_t n;
	size_t start;
	int err;

	err = rd_vec_rest(ext, 2, &list);
	if (err == -ERANGE)
		return tls_bad(f, err, "trailing bytes in ALPN extension");
	if (err)
		return tls_bad(f, err, "ALPN list overflows extension");
	start = list.pos;
	if (list.end == start)
		return tls_bad(f, -EINVAL, "empty ALPN list");
	if (list.end - start > PT_ALPN_BUF)
		return tls_bad(f, -EINVAL, "ALPN list longer than 256 bytes");
	while (list.pos < list.end) {
		err = rd_uint(&list, 1, &n);
		if (!err && !n)
			return tls_bad(f, -EINVAL, "empty ALPN protocol name");
		if (!err)
			err = rd_take(&list, n, &name);
		if (err)
			return tls_bad(f, err, "ALPN protocol name overflows list");
	}
	memcpy(f->alpn, list.p + start, list.end - start);
	f->alpn_len = list.end - start;
	return 0;
}

/* supported_versions (RFC 8446 §4.2.1): keep the highest non-GREASE entry. */
static int tls_ext_versions(struct tls_rd *ext, struct pt_fields *f)
{
	struct tls_rd list;
	uint32_t v, max = 0;
	int err;

	err = rd_vec_rest(ext, 1, &list);
	if (err == -ERANGE)
		return tls_bad(f, err, "trailing bytes in supported_versions");
	if (err)
		return tls_bad(f, err, "supported_versions list overflows extension");
	if (list.end == list.pos || (list.end - list.pos) % 2)
		return tls_bad(f, -EINVAL, "bad supported_versions length");
	while (list.pos < list.end) {
		err = rd_uint(&list, 2, &v);
		if (err)
			return err;
		if (!is_grease(v) && v > max)
			max = v;
	}
	if (max)
		f->tls_max_version = max;
	return 0;
}

static int tls_ext_once(unsigned int *seen, unsigned int bit, struct pt_fields *f, uint32_t type)
{
	if (*seen & bit) {
		pt_detect_fail(f, "tls: duplicate extension 0x%04x", type);
		return -EINVAL;
	}
	*seen |= bit;
	return 0;
}

/* One extension: the ones we read are parsed, the others only skipped. */
static int tls_ext(struct tls_rd *exts, unsigned int *seen, struct pt_fields *f)
{
	struct tls_rd ext;
	uint32_t type, n;
	int err;

	err = rd_uint(exts, 2, &type);
	if (!err)
		err = rd_uint(exts, 2, &n);
	if (err)
		return tls_bad(f, err, "truncated extension header");
	err = rd_sub(exts, n, &ext);
	if (err)
		return tls_bad(f, err, "extension length overflows hello");
	switch (type) {
	case EXT_SERVER_NAME:
		err = tls_ext_once(seen, SEEN_SNI, f, type);
		return err ? err : tls_ext_sni(&ext, f);
	case EXT_ALPN:
		err = tls_ext_once(seen, SEEN_ALPN, f, type);
		return err ? err : tls_ext_alpn(&ext, f);
	case EXT_SUPPORTED_VERSIONS:
		err = tls_ext_once(seen, SEEN_SV, f, type);
		return err ? err : tls_ext_versions(&ext, f);
	case EXT_ECH:
		f->tls_ech = true;
		return tls_ext_once(seen, SEEN_ECH, f, type);
	}
	return 0;
}

/* legacy_version, random, session id, cipher suites, compression methods. */
static int tls_hello_fixed(struct tls_rd *r, struct pt_fields *f)
{
	const uint8_t *skip;
	uint32_t v, n;
	int err;

	err = rd_uint(r, 2, &v);
	if (err)
		return tls_bad(f, err, "ClientHello too short");
	if (v >> 8 != 3)
		return tls_bad(f, -EINVAL, "bad ClientHello version");
	f->tls_version = v;
	f->tls_max_version = v;
	err = rd_take(r, 32, &skip);
	if (!err)
		err = rd_uint(r, 1, &n);
	if (err)
		return tls_bad(f, err, "ClientHello too short");
	if (n > TLS_SID_MAX)
		return tls_bad(f, -EINVAL, "session id longer than 32 bytes");
	err = rd_take(r, n, &skip);
	if (!err)
		err = rd_uint(r, 2, &n);
	if (err)
		return tls_bad(f, err, "session id overflows hello");
	if (!n || n % 2)
		return tls_bad(f, -EINVAL, "bad cipher suites length");
	err = rd_take(r, n, &skip);
	if (!err)
		err = rd_uint(r, 1, &n);
	if (err)
		return tls_bad(f, err, "cipher suites overflow hello");
	if (!n)
		return tls_bad(f, -EINVAL, "no compression methods");
	err = rd_take(r, n, &skip);
	if (err)
		return tls_bad(f, err, "compression methods overflow hello");
	return 0;
}

/*
 * Parse the handshake bytes collected in hs[0..n). Returns 0 once the whole
 * ClientHello is in and well-formed, -EAGAIN if more is needed, -EINVAL
 * (reason set) if it is malformed.
 */
static int tls_parse_hello(const uint8_t *hs, size_t n, struct pt_fields *f)
{
	struct tls_rd r = {.p = hs, .pos = TLS_HS_HDR, .avail = n};
	struct tls_rd exts;
	unsigned int seen = 0;
	size_t len;
	int err;

	if (n >= 1 && hs[0] != TLS_HS_CLIENT_HELLO)
		return tls_bad(f, -EINVAL, "first handshake message is not a ClientHello");
	if (n < TLS_HS_HDR)
		return -EAGAIN;
	len = (size_t)hs[1] << 16 | hs[2] << 8 | hs[3];
	if (TLS_HS_HDR + len + TLS_REC_HDR > PT_WINDOW_MAX)
		return tls_bad(f, -EINVAL, "ClientHello larger than window");
	r.end = TLS_HS_HDR + len;
	err = tls_hello_fixed(&r, f);
	if (err || r.pos == r.end)
		return err;
	err = rd_vec_rest(&r, 2, &exts);
	if (err == -ERANGE)
		return tls_bad(f, err, "trailing bytes after extensions");
	if (err)
		return tls_bad(f, err, "extensions length overflows hello");
	while (exts.pos < exts.end) {
		err = tls_ext(&exts, &seen, f);
		if (err)
			return err;
	}
	return n >= r.end ? 0 : -EAGAIN;
}

/* Check the present bytes of a record header at b[0..n). */
static int tls_record_header(const uint8_t *b, size_t n, struct pt_fields *f)
{
	size_t rlen;

	if (n >= 1 && b[0] != TLS_CT_HANDSHAKE)
		return tls_bad(f, -EINVAL, "non-handshake record inside ClientHello");
	if ((n >= 2 && b[1] != 3) || (n >= 3 && b[2] > 4))
		return tls_bad(f, -EINVAL, "bad record version");
	if (n < TLS_REC_HDR)
		return 0;
	rlen = b[3] << 8 | b[4];
	if (!rlen)
		return tls_bad(f, -EINVAL, "empty handshake record");
	if (rlen > TLS_REC_MAX)
		return tls_bad(f, -EINVAL, "record length exceeds 2^14");
	return 0;
}

/* Has the scratch buffer got the whole first handshake message? */
static bool tls_hs_complete(const uint8_t *hs, size_t n)
{
	return n >= TLS_HS_HDR && n >= TLS_HS_HDR + ((size_t)hs[1] << 16 | hs[2] << 8 | hs[3]);
}

/*
 * Copy the payload of the leading handshake records of buf[0..len) into
 * tls_scratch, stopping at the record that completes the first handshake
 * message (later records and bytes are not ours to judge). Sets *n to the
 * bytes collected; returns 0 or -EINVAL (reason set).
 */
static int tls_reassemble(const uint8_t *buf, size_t len, struct pt_fields *f, size_t *n)
{
	size_t off = 0, rlen, take;
	int err;

	*n = 0;
	while (off < len && !tls_hs_complete(tls_scratch, *n)) {
		err = tls_record_header(buf + off, len - off, f);
		if (err || len - off < TLS_REC_HDR)
			return err;
		rlen = buf[off + 3] << 8 | buf[off + 4];
		off += TLS_REC_HDR;
		take = rlen < len - off ? rlen : len - off;
		if (take > sizeof(tls_scratch) - *n)
			return tls_bad(f, -EINVAL, "ClientHello larger than window");
		memcpy(tls_scratch + *n, buf + off, take);
		*n += take;
		off += take;
	}
	return 0;
}

/*
 * SSLv2-compatible CLIENT-HELLO: 2-byte header with the high bit set, type
 * 1, version 0x0002 or 0x03xx, three lengths and their data. It carries no
 * extensions, hence no SNI or ALPN.
 */
static enum pt_probe tls_probe_sslv2(const uint8_t *b, size_t len, bool final, struct pt_fields *f)
{
	size_t rlen, cs, sid, ch;

	if (len >= 3 && b[2] != TLS_HS_CLIENT_HELLO)
		return PT_PROBE_NEXT;
	if (len >= 4 && b[3] != 0 && b[3] != 3)
		return PT_PROBE_NEXT;
	if (len >= 5 && b[3] == 0 && b[4] != 2)
		return PT_PROBE_NEXT;
	if (len < 11)
		return pt_detect_want(f, final, 11, "tls: truncated SSLv2 ClientHello");
	rlen = (size_t)(b[0] & 0x7f) << 8 | b[1];
	cs = b[5] << 8 | b[6];
	sid = b[7] << 8 | b[8];
	ch = b[9] << 8 | b[10];
	if (!cs || cs % 3 || (sid != 0 && sid != 16) || ch < 16 || ch > 32 ||
	    rlen != 9 + cs + sid + ch)
		return pt_detect_fail(f, "tls: bad SSLv2 ClientHello lengths");
	if (len < 2 + rlen)
		return pt_detect_want(f, final, 2 + rlen, "tls: truncated SSLv2 ClientHello");
	f->tls_sslv2 = true;
	f->tls_version = b[3] << 8 | b[4];
	f->tls_max_version = f->tls_version;
	f->proto = PT_PROTO_TLS;
	return PT_PROBE_MATCH;
}

/*
 * The fewest bytes of buf a whole ClientHello needs, given that the first
 * @got handshake bytes of the len present sit in tls_scratch: the rest of
 * the record being read, and if the hello goes on past it, one more record
 * header and the hello's missing bytes. Before the handshake header is in,
 * the hello counts as its 4-byte header.
 */
static size_t tls_need(const uint8_t *buf, size_t len, size_t got)
{
	size_t hello = TLS_HS_HDR, off = 0, rlen, before;

	if (got >= TLS_HS_HDR)
		hello += (size_t)tls_scratch[1] << 16 | tls_scratch[2] << 8 | tls_scratch[3];
	while (len - off >= TLS_REC_HDR) {
		rlen = buf[off + 3] << 8 | buf[off + 4];
		if (off + TLS_REC_HDR + rlen > len)
			break;
		off += TLS_REC_HDR + rlen;
	}
	if (len - off < TLS_REC_HDR) /* between records: all of got is before off */
		return off + TLS_REC_HDR + (hello > got ? hello - got : 1);
	before = got - (len - off - TLS_REC_HDR);
	if (before + rlen >= hello)
		return off + TLS_REC_HDR + (hello - before);
	return off + TLS_REC_HDR + rlen + TLS_REC_HDR + (hello - before - rlen);
}

/* Only a MATCH reports fields: drop what a partial parse left behind. */
static enum pt_probe tls_no_match(struct pt_fields *f, enum pt_probe v)
{
	f->sni[0] = '\0';
	f->alpn_len = 0;
	f->tls_version = 0;
	f->tls_max_version = 0;
	f->tls_ech = false;
	f->ja4[0] = '\0';
	return v;
}

/*
 * NEXT after one byte unless it is 0x16 (a handshake record) or has the
 * high bit set (SSLv2); then MATCH once the whole first ClientHello is in
 * and well-formed, AGAIN before, NEXT with a reason on any malformation.
 */
enum pt_probe pt_probe_tls(const uint8_t *buf, size_t len, bool final, struct pt_fields *f)
{
	size_t n;
	int err;

	if (!len)
		return pt_detect_need(f, final, "tls: no bytes");
	if (buf[0] & 0x80)
		return tls_probe_sslv2(buf, len, final, f);
	if (buf[0] != TLS_CT_HANDSHAKE)
		return PT_PROBE_NEXT;
	err = tls_reassemble(buf, len, f, &n);
	if (!err)
		err = tls_parse_hello(tls_scratch, n, f);
	if (err == -EAGAIN)
		return tls_no_match(f, pt_detect_want(f, final, tls_need(buf, len, n),
						      "tls: truncated ClientHello"));
	if (err)
		return tls_no_match(f, PT_PROBE_NEXT);
	pt_ja4(tls_scratch, n, f->ja4);
	f->proto = PT_PROTO_TLS;
	return PT_PROBE_MATCH;
}
