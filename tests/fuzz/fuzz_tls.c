// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * libFuzzer harness for the TLS detector alone: pt_probe_tls() over a
 * fuzzed sequence of reads (input format and invariants in fuzz-split.h).
 * Seeds: the captured ClientHellos of tests/data/tls, whole and split.
 */
#include <stddef.h>
#include <stdint.h>

#include "fuzz-split.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct fz_target tls = {
	.name = "tls",
	.builtin = pt_probe_tls,
	.proto = PT_PROTO_TLS,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_run_simple(&tls, data, size);
	return 0;
}
