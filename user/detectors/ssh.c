// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * SSH: the client's identification string (RFC 4253 §4.2),
 * "SSH-2.0-softwareversion SP comments CR LF", or "SSH-1.99-" from a client
 * that also speaks protocol 1 (§5.1). The prefix alone decides: clients send
 * the whole line at once, so we do not wait for its end, but copy as much of
 * the software version as is present.
 */
#include <string.h>

#include "detect.h"

static const char *const ssh_prefixes[] = {"SSH-2.0-", "SSH-1.99-"};

/* Copy the software version: printable ASCII up to SP, CR or LF. */
static void ssh_banner(const uint8_t *s, size_t n, struct pt_fields *f)
{
	size_t i;

	for (i = 0; i < n && i < sizeof(f->banner) - 1; i++) {
		if (s[i] <= 0x20 || s[i] >= 0x7f)
			break;
		f->banner[i] = s[i];
	}
	f->banner[i] = '\0';
}

/* MATCH on a full prefix, AGAIN on a part of one, NEXT otherwise. */
enum pt_probe pt_probe_ssh(const uint8_t *buf, size_t len, bool final, struct pt_fields *f)
{
	size_t need = 0;

	for (size_t i = 0; i < sizeof(ssh_prefixes) / sizeof(ssh_prefixes[0]); i++) {
		size_t n = strlen(ssh_prefixes[i]);

		if (len >= n && !memcmp(buf, ssh_prefixes[i], n)) {
			ssh_banner(buf + n, len - n, f);
			f->proto = PT_PROTO_SSH;
			return PT_PROBE_MATCH;
		}
		if (len < n && !memcmp(buf, ssh_prefixes[i], len) && (!need || n < need))
			need = n;
	}
	if (!need && len >= 4 && !memcmp(buf, "SSH-", 4))
		return pt_detect_fail(f, "ssh: unsupported protocol version");
	return need ? pt_detect_want(f, final, need, "ssh: truncated identification string")
		    : PT_PROBE_NEXT;
}
