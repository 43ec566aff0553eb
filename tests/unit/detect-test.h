/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Helpers shared by the detector tests: finding tests/data, loading a
 * capture, and a byte builder for hand-made first flights.
 */
#ifndef __PT_DETECT_TEST_H
#define __PT_DETECT_TEST_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "detect.h"

/*
 * tests/data, wherever we run from: $PT_TEST_DATA, the source tree seen from
 * the build directory (the Makefile compiles from the top), or ./tests/data.
 */
static inline const char *data_dir(void)
{
	static const char *const cands[] = {"tests/data", "../../tests/data", "../tests/data"};
	const char *env = getenv("PT_TEST_DATA");

	if (env)
		return env;
	for (size_t i = 0; i < sizeof(cands) / sizeof(cands[0]); i++)
		if (!access(cands[i], R_OK))
			return cands[i];
	return "tests/data";
}

/* Read data_dir()/sub/name into buf; returns its length or -1. */
static inline long load_file(const char *sub, const char *name, uint8_t *buf, size_t size)
{
	char path[512];
	FILE *fp;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s/%s", data_dir(), sub, name);
	fp = fopen(path, "rb");
	if (!fp) {
		fprintf(stderr, "  cannot open %s\n", path);
		return -1;
	}
	n = fread(buf, 1, size, fp);
	fclose(fp);
	return (long)n;
}

static inline FILE *open_manifest(const char *sub)
{
	char path[512];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s/manifest.txt", data_dir(), sub);
	fp = fopen(path, "r");
	if (!fp)
		fprintf(stderr, "  cannot open %s\n", path);
	return fp;
}

/* A growable byte string for building messages. */
struct bytes {
	uint8_t b[70000];
	size_t n;
};

static inline void put_u8(struct bytes *s, unsigned int v)
{
	s->b[s->n++] = (uint8_t)v;
}

static inline void put_u16(struct bytes *s, unsigned int v)
{
	put_u8(s, v >> 8);
	put_u8(s, v);
}

static inline void put_u24(struct bytes *s, unsigned int v)
{
	put_u8(s, v >> 16);
	put_u16(s, v);
}

static inline void put_mem(struct bytes *s, const void *p, size_t n)
{
	memcpy(s->b + s->n, p, n);
	s->n += n;
}

static inline void put_str(struct bytes *s, const char *str)
{
	put_mem(s, str, strlen(str));
}

/* Overwrite a big-endian length field of w bytes at off. */
static inline void patch_len(struct bytes *s, size_t off, size_t w, size_t v)
{
	for (size_t i = 0; i < w; i++)
		s->b[off + i] = (uint8_t)(v >> (8 * (w - 1 - i)));
}

static inline const char *probe_name(enum pt_probe v)
{
	return v == PT_PROBE_MATCH ? "MATCH" : v == PT_PROBE_AGAIN ? "AGAIN" : "NEXT";
}

#endif /* __PT_DETECT_TEST_H */
