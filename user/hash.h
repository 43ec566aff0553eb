/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Small non-cryptographic hashes: FNV-1a over bytes and the splitmix64
 * finaliser that spreads its bits. Used for the keys of pool servers and
 * the source-hash balancing (pool.c); nothing depends on their exact values
 * across versions.
 */
#ifndef __PT_HASH_H
#define __PT_HASH_H

#include <stddef.h>
#include <stdint.h>

#define PT_FNV_OFFSET 0xcbf29ce484222325ULL

static inline uint64_t pt_fnv1a(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n--)
		h = (h ^ *b++) * 0x100000001b3ULL;
	return h;
}

static inline uint64_t pt_mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

#endif /* __PT_HASH_H */
