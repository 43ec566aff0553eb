/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Loading the same-host bypass (bpf/local.bpf.c, data_plane "local"): the
 * sock_ops program on the root of a cgroup v2 hierarchy (the one mounted,
 * or one we mount under /run/passthru when the host has only v1), the
 * sk_msg programs on PT_MAP_LOCAL_BE and PT_MAP_LOCAL_UP (the latter used
 * only where struct sk_psock has msg_tot_len), the per-slot counters mapped into
 * memory, then a self-test through the kernel path. Loaded at start-up
 * only, when a listener asks for it and the config says "experimental".
 */
#ifndef __PT_LOCAL_BPF_H
#define __PT_LOCAL_BPF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>

#include "passthru-local.h"

struct local;
struct bpf_link;
struct pt_config;

struct pt_local_bpf {
	struct local *skel;
	struct bpf_link *sockops_link;	/* detached when the daemon exits */
	struct pt_local_dir *dirs;	/* PT_MAP_LOCAL_DIR, mmapped, n_slots entries */
	size_t dirs_len;
	uint32_t n_slots;
	int arm_fd, cli_fd, be_fd, stat_fd, reg_fd, up_fd;
	bool up_on;			/* client -> backend bypassed too (the program on U) */
	char cgroup[108];		/* the cgroup v2 root the sock_ops program is on */
	bool mounted;			/* we mounted it (unmounted at close) */
};

/* Does a listener of @cfg want the bypass? */
bool pt_local_wanted(const struct pt_config *cfg);

/*
 * Load, register @cfg's "local" listening ports, attach and self-test
 * into @lb, sized for @n_slots pair slots.
 * 0 or -errno with *why in words for the one log line.
 */
int pt_local_open(struct pt_local_bpf *lb, const struct pt_config *cfg, uint32_t n_slots,
		  const char **why);

/*
 * Load it if @cfg wants it: 0 with *out = @lb, or 0 with *out NULL (not
 * wanted, or it failed: logged, and every connection then says
 * fallback=not-loaded).
 */
int pt_local_load(const struct pt_config *cfg, uint32_t n_slots, struct pt_local_bpf *lb,
		  struct pt_local_bpf **out);

void pt_local_close(struct pt_local_bpf *lb);

/*
 * The self-test (local-selftest.c): 0, or -errno with *step naming what
 * failed. *up_why: NULL, or why client -> backend failed its part.
 */
int pt_local_selftest(struct pt_local_bpf *lb, const char **step, const char **up_why);

/*
 * Switch the client -> backend path (the program on U) on or off for
 * connections armed from now on.
 */
void pt_local_set_up(struct pt_local_bpf *lb, bool on);

#endif /* __PT_LOCAL_BPF_H */
