// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * libFuzzer harness for the SSH identification-string detector over a
 * fuzzed sequence of reads (input format and invariants in fuzz-split.h).
 */
#include <stddef.h>
#include <stdint.h>

#include "fuzz-split.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct fz_target ssh = {
	.name = "ssh",
	.builtin = pt_probe_ssh,
	.proto = PT_PROTO_SSH,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_run_simple(&ssh, data, size);
	return 0;
}
