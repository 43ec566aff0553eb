// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * libFuzzer harness for the SOCKS5 and SOCKS4/4a greeting detectors, each
 * run alone over the same fuzzed sequence of reads (input format and
 * invariants in fuzz-split.h).
 */
#include <stddef.h>
#include <stdint.h>

#include "fuzz-split.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct fz_target socks5 = {
	.name = "socks5",
	.builtin = pt_probe_socks5,
	.proto = PT_PROTO_SOCKS5,
};

static const struct fz_target socks4 = {
	.name = "socks4",
	.builtin = pt_probe_socks4,
	.proto = PT_PROTO_SOCKS4,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_run_simple(&socks5, data, size);
	fz_run_simple(&socks4, data, size);
	return 0;
}
