// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * libFuzzer harness for the HTTP/1.x and HTTP/2-preface detectors, each run
 * alone over the same fuzzed sequence of reads (input format and invariants
 * in fuzz-split.h).
 */
#include <stddef.h>
#include <stdint.h>

#include "fuzz-split.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct fz_target http = {
	.name = "http",
	.builtin = pt_probe_http,
	.proto = PT_PROTO_HTTP,
};

static const struct fz_target http2 = {
	.name = "http2",
	.builtin = pt_probe_http2,
	.proto = PT_PROTO_HTTP2,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_run_simple(&http, data, size);
	fz_run_simple(&http2, data, size);
	return 0;
}
