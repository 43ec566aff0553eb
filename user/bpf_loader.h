/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Loading the kernel data plane: open the skeleton, size the maps, load,
 * attach the verdict program to PT_MAP_RX, make one wake-up ring per
 * worker (PT_MAP_WAKE), map the pair slots and the lost wake-up counters
 * into memory and pin everything but the rings under
 * /sys/fs/bpf/passthru/<instance>/ so that passthru-ctl can read it.
 */
#ifndef __PT_BPF_LOADER_H
#define __PT_BPF_LOADER_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/types.h>

#include "passthru.h"
#include "passthru-common.h" /* pt_instance_name_ok() */

#define PT_BPF_PINS	6	/* five maps and the verdict program */

struct passthru;
struct pt_config;
struct pt_listener_cfg;

struct pt_bpf {
	struct passthru *skel;
	struct pt_pair *pairs;		/* PT_MAP_PAIRS, mmapped, n_slots entries */
	size_t pairs_len;
	uint32_t n_slots;
	int pairs_fd, socks_fd, rx_fd, tx_fd, meta_fd, prog_fd;
	int *ring_fds;			/* worker id -> its wake-up ring (PT_MAP_WAKE) */
	int n_rings;
	__u64 *wake_lost;		/* PT_MAP_WAKE_LOST, mmapped, n_rings entries */
	size_t wake_lost_len;
	char pin_dir[128];		/* PT_PIN_ROOT "/" instance */
	bool pinned;			/* we made pin_dir: dir_fd is open on it */
	int dir_fd;
	int n_pins;			/* what we pinned in it, to remove only that */
	struct pt_bpf_pin {
		const char *name;
		ino_t ino;
	} pins[PT_BPF_PINS];
};

/*
 * Load and pin the data plane for @instance with room for @n_slots pairs.
 * Returns 0 or -errno; on failure *why says what went wrong in words
 * ("no BTF", "not permitted", ...) for the one fallback log line.
 */
int pt_bpf_open(struct pt_bpf *b, const char *instance, uint32_t n_slots, int n_workers,
		const char **why);

/*
 * Pair slots for @cfg's listeners over @workers workers (the BPF map, or
 * the .pairs file without it): their max_connections, within [64, 2^20],
 * a multiple of @workers.
 */
uint32_t pt_bpf_slot_count(const struct pt_config *cfg, int workers);

/* May listener @l relay on sockmap: data_plane sockmap, or auto moving bulk there? */
bool pt_listener_may_sockmap(const struct pt_listener_cfg *l);

/*
 * The planes @cfg's listeners relay on, given whether the kernel data
 * plane is loaded (@bpf), as "copy+splice" for the start-up line. Returns
 * @buf.
 */
const char *pt_bpf_planes(const struct pt_config *cfg, bool bpf, char *buf, size_t size);

/*
 * Load the data plane for @instance into @b if a listener of @cfg wants
 * sockmap. Returns 0 with *out = @b when loaded, 0 with *out NULL for
 * splice everywhere, -errno when the instance is in use or a listener
 * requires sockmap and it cannot load. Logs the outcome.
 */
int pt_bpf_load(const struct pt_config *cfg, const char *instance, int workers, struct pt_bpf *b,
		struct pt_bpf **out);

/*
 * Remove the pins (master, on clean exit) and release everything. Only the
 * pins this process made are removed, each only if it is still the same
 * inode, through the directory descriptor (no path is followed); the
 * directory itself goes too when we may (not as an unprivileged user:
 * the next start removes it).
 */
void pt_bpf_close(struct pt_bpf *b, bool unpin);

/* Give the pin directory and the pins to @uid:@gid (before dropping root). 0 or -errno. */
int pt_bpf_chown(struct pt_bpf *b, uid_t uid, gid_t gid);

/* Mount bpffs on /sys/fs/bpf if nothing is mounted there. 0 or -errno. */
int pt_bpf_mount(void);

/* Send libbpf's messages to our log (category bpf, demoted one level). */
void pt_bpf_set_print(void);

/* A valid instance name: 1..31 of [A-Za-z0-9_.-], not starting with '.'. */

#endif /* __PT_BPF_LOADER_H */
