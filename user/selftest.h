/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef __PT_SELFTEST_H
#define __PT_SELFTEST_H

struct pt_bpf;

/*
 * Relay two loopback connections through the loaded maps and check what
 * passthru relies on. 0 if the kernel behaves; else -errno and *step names
 * the check that failed ("pre", "bulk", "fin", "setup").
 */
int pt_sockmap_selftest(struct pt_bpf *bpf, const char **step);

#endif /* __PT_SELFTEST_H */
