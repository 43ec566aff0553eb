/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * SHA-256 (FIPS 180-4) in plain portable C: JA4 hashes a few hundred bytes
 * once per TLS connection, so the daemon needs no crypto library for it.
 */
#ifndef __PT_SHA256_H
#define __PT_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define PT_SHA256_LEN 32

struct pt_sha256 {
	uint32_t h[8];
	uint64_t len;	 /* bytes hashed so far */
	uint8_t buf[64]; /* the block being filled */
	size_t used;
};

void pt_sha256_init(struct pt_sha256 *s);
void pt_sha256_update(struct pt_sha256 *s, const void *data, size_t n);
void pt_sha256_final(struct pt_sha256 *s, uint8_t out[PT_SHA256_LEN]);
/* The digest of data[0..n) in one call. */
void pt_sha256(const void *data, size_t n, uint8_t out[PT_SHA256_LEN]);

#endif /* __PT_SHA256_H */
