/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The part every detector harness shares: the input format (a small header
 * saying how the client's bytes arrive, then the bytes), a replay of those
 * reads the way the daemon runs detection, and the invariants checked on
 * every round. A failed invariant prints what broke to stderr and aborts,
 * which libFuzzer reports as a crash and saves the input.
 *
 * Input layout (reads past the end of the input give zero bytes):
 *
 *   u8      flags: bits 0-2 window (the listener's max_bytes, see
 *           fz_windows[]), bit 3 the client stops after its last read (FIN
 *           or deadline: the daemon runs a final round), bits 4-7 for the
 *           harness (fuzz_detect: number of patterns)
 *   u8      number of reads listed, modulo FZ_MAX_READS + 1
 *   u16le   size of each listed read (0: a wakeup with no new bytes)
 *   ...     harness-specific bytes (fuzz_detect: the patterns)
 *   rest    the client's bytes; what the listed reads leave over is the
 *           last read, and the window caps what the daemon may peek
 */
#ifndef __PT_FUZZ_SPLIT_H
#define __PT_FUZZ_SPLIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "detect.h"

#define FZ_MAX_READS 32

/* A cursor over the fuzzer's input. */
struct fz_reader {
	const uint8_t *p;
	size_t n;
};

struct fz_input {
	size_t window;		      /* max_bytes: the daemon never peeks more */
	bool eof;		      /* a final round follows the last read */
	uint8_t extra;		      /* flag bits 4-7 */
	uint16_t reads[FZ_MAX_READS]; /* the listed read sizes */
	int n_reads;
	size_t ends[FZ_MAX_READS + 1]; /* window length after each read that adds bytes */
	int n_ends;
	const uint8_t *data;
	size_t len; /* bytes of data after capping at the window */
};

/*
 * What is fuzzed: one built-in pt_probe_*() (@builtin, @proto the protocol
 * its MATCH means), or pt_detect() with the patterns @pats (@probe, with
 * @proto PT_PROTO_NONE: f->proto says what matched). @excuse, if set, is
 * asked whether a verdict that depends on how the bytes were split is one
 * the design allows; it gets the window lengths of both verdicts.
 */
struct fz_target {
	const char *name;
	enum pt_probe (*builtin)(const uint8_t *buf, size_t len, bool final, struct pt_fields *f);
	enum pt_probe (*probe)(const struct fz_target *t, const uint8_t *buf, size_t len,
			       bool final, struct pt_fields *f);
	enum pt_proto proto;
	const struct pt_pattern *pats;
	int n_pats;
	bool (*excuse)(const struct fz_target *t, const uint8_t *data, size_t at, bool at_final,
		       size_t whole, bool whole_final);
};

uint8_t fz_u8(struct fz_reader *r);
uint16_t fz_u16(struct fz_reader *r);
/* Take up to @n bytes; returns how many were there. */
size_t fz_bytes(struct fz_reader *r, uint8_t *out, size_t n);

/* Read the flags and the read sizes; fz_input_data() then takes the rest. */
void fz_input_head(struct fz_reader *r, struct fz_input *in);
void fz_input_data(struct fz_reader *r, struct fz_input *in);

/*
 * Replay @in against @t as the daemon does, check every invariant, then
 * check that delivering the same bytes in one read gives the same verdict.
 */
void fz_check_target(const struct fz_target *t, const struct fz_input *in);

/* Parse the whole input as the common header plus data and check @t. */
void fz_run_simple(const struct fz_target *t, const uint8_t *data, size_t size);

/*
 * Is @tag listed in $PT_FUZZ_KNOWN (comma-separated)? Known bugs, reported
 * and not yet fixed (tests/fuzz/known-bugs), are then skipped so that the
 * fuzzer can look for others; the first skip is said on stderr.
 */
bool fz_known(const char *tag);

/* Print "fuzz: <harness>: <what>" to stderr and abort. */
void fz_fail(const struct fz_target *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));

#endif /* __PT_FUZZ_SPLIT_H */
