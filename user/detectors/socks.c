// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * SOCKS greetings. SOCKS5 (RFC 1928 §3): VER=5, NMETHODS >= 1, then that
 * many method bytes, after which the client waits for the server. SOCKS4
 * and 4a: VER=4, CMD connect or bind, DSTPORT, DSTIP, USERID NUL, and for
 * 4a (DSTIP 0.0.0.x, x != 0) the destination host name NUL.
 */
#include <stdio.h>
#include <string.h>

#include "detect.h"

#define SOCKS4_FIELD_MAX 255 /* longest USERID or 4a host name we wait for */

/*
 * Methods a real client offers: the IANA-assigned 0x00..0x09 and the
 * private range 0x80..0xfe. 0xff means "no acceptable method" and only a
 * server sends it.
 */
static bool socks5_method_ok(uint8_t m)
{
	return m <= 0x09 || (m >= 0x80 && m <= 0xfe);
}

/* MATCH once all NMETHODS methods are in and every one is plausible. */
enum pt_probe pt_probe_socks5(const uint8_t *buf, size_t len, bool final, struct pt_fields *f)
{
	size_t n;

	if (len >= 1 && buf[0] != 5)
		return PT_PROBE_NEXT;
	if (len < 2)
		return pt_detect_want(f, final, 2, "socks5: truncated greeting");
	n = buf[1];
	if (!n)
		return pt_detect_fail(f, "socks5: no authentication methods");
	for (size_t i = 2; i < len && i < 2 + n; i++)
		if (!socks5_method_ok(buf[i]))
			return pt_detect_fail(f, "socks5: implausible method 0x%02x", buf[i]);
	if (len < 2 + n)
		return pt_detect_want(f, final, 2 + n, "socks5: truncated greeting");
	f->proto = PT_PROTO_SOCKS5;
	return PT_PROBE_MATCH;
}

/*
 * Find the NUL ending the string at buf[off..len). Returns its offset, 0 if
 * it is not there yet (more may come), or -1 if the string is too long.
 */
static long socks4_string(const uint8_t *buf, size_t len, size_t off)
{
	size_t avail = len > off ? len - off : 0;
	const uint8_t *nul = memchr(buf + off, '\0', avail);

	if (nul && (size_t)(nul - buf) - off <= SOCKS4_FIELD_MAX)
		return nul - buf;
	return avail > SOCKS4_FIELD_MAX ? -1 : 0;
}

/* MATCH once the USERID (and, for 4a, host name) NUL is in; fills port and host. */
enum pt_probe pt_probe_socks4(const uint8_t *buf, size_t len, bool final, struct pt_fields *f)
{
	long uid_end, host_end;
	bool is_4a;

	if ((len >= 1 && buf[0] != 4) || (len >= 2 && buf[1] != 1 && buf[1] != 2))
		return PT_PROBE_NEXT;
	if (len < 9)
		return pt_detect_want(f, final, 9, "socks4: truncated request");
	uid_end = socks4_string(buf, len, 8);
	if (uid_end < 0)
		return pt_detect_fail(f, "socks4: user id longer than 255 bytes");
	if (!uid_end)
		return pt_detect_need(f, final, "socks4: truncated user id");
	f->port = buf[2] << 8 | buf[3];
	is_4a = !buf[4] && !buf[5] && !buf[6] && buf[7];
	if (!is_4a) {
		snprintf(f->host, sizeof(f->host), "%u.%u.%u.%u", buf[4], buf[5], buf[6], buf[7]);
		f->proto = PT_PROTO_SOCKS4;
		return PT_PROBE_MATCH;
	}
	host_end = socks4_string(buf, len, uid_end + 1);
	if (host_end < 0)
		return pt_detect_fail(f, "socks4: host name longer than 255 bytes");
	if (!host_end)
		return pt_detect_need(f, final, "socks4: truncated host name");
	if (pt_hostname_copy(f->host, (const char *)buf + uid_end + 1, host_end - uid_end - 1))
		return pt_detect_fail(f, "socks4: invalid host name");
	f->proto = PT_PROTO_SOCKS4;
	return PT_PROBE_MATCH;
}
