/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The contract between the XDP shield (bpf/shield.bpf.c) and userspace
 * (user/shield.c, passthru-ctl, tests), under the rules of passthru.h: it
 * includes nothing, the includer provides <linux/types.h> or vmlinux.h.
 *
 * The shield looks only at TCP packets whose destination is a listening
 * address and port of passthru on the interface they arrive on
 * (PT_MAP_SHIELD_DST); everything else passes untouched. Of those it drops,
 * in this order: sources banned until a time still to come
 * (PT_MAP_SHIELD_BANS), sources the listener's static lists refuse
 * (PT_MAP_SHIELD_LISTS), and SYNs over the listener's per-source rate
 * (PT_MAP_SHIELD_RATE). Every packet looked at is counted per interface
 * and per reason (PT_MAP_SHIELD_COUNTS).
 */
#ifndef __PASSTHRU_SHIELD_H
#define __PASSTHRU_SHIELD_H

#define PT_MAP_SHIELD_DST	pt_shield_dst	/* HASH: struct pt_shield_dst -> struct pt_shield_lcfg */
#define PT_MAP_SHIELD_LISTS	pt_shield_lists	/* LPM_TRIE: struct pt_shield_lpm -> __u32 enum pt_shield_list */
#define PT_MAP_SHIELD_RATE	pt_shield_rate	/* LRU_HASH: struct pt_shield_src -> __u64 GCRA time */
#define PT_MAP_SHIELD_BANS	pt_shield_bans	/* HASH: struct pt_shield_src -> struct pt_shield_ban */
#define PT_MAP_SHIELD_COUNTS	pt_shield_counts /* PERCPU_ARRAY: slot * PT_SHIELD_R_MAX + reason */
#define PT_MAP_SHIELD_META	pt_shield_meta	/* ARRAY[1]: struct pt_shield_meta */
#define PT_MAP_SHIELD_FAILS	pt_shield_fails	/* LRU_HASH: struct pt_shield_src -> struct pt_shield_fail
						 * (the daemon's failed detections; no program reads it) */
#define PT_PROG_SHIELD		prog_shield

#define PT_SHIELD_PIN_DIR	"shield"	/* under the instance's pin directory */
#define PT_SHIELD_IFACES_MAX	16		/* interfaces per instance */
#define PT_SHIELD_DST_MAX	1024		/* listening address x interface entries */
#define PT_SHIELD_LISTS_MAX	65536		/* deny and allow prefixes, all listeners */
#define PT_SHIELD_RATE_MAX	65536		/* rate-limited sources remembered (LRU) */
#define PT_SHIELD_BANS_MAX	65536
#define PT_SHIELD_FAILS_MAX	65536		/* sources with recent failed detections (LRU) */
#define PT_SHIELD_ABI_VERSION	1
#define PT_SHIELD_MAGIC		0x50545348u	/* "PTSH" */

/* Why a packet was dropped (or that it was not): counter columns. */
enum pt_shield_reason {
	PT_SHIELD_R_PASS = 0,	/* looked at and let through */
	PT_SHIELD_R_BANNED,	/* the source is banned (PT_MAP_SHIELD_BANS) */
	PT_SHIELD_R_DENIED,	/* the source is on the deny list */
	PT_SHIELD_R_NOT_ALLOWED,	/* the listener has an allow list and the source is not on it */
	PT_SHIELD_R_RATE,	/* a SYN over the per-source rate */
	PT_SHIELD_R_MAX,
};

/* What a prefix of PT_MAP_SHIELD_LISTS says; the longest match wins. */
enum pt_shield_list {
	PT_SHIELD_LIST_ALLOW = 1,
	PT_SHIELD_LIST_DENY = 2,
};

/* pt_shield_lcfg.flags */
#define PT_SHIELD_F_ALLOW_LIST	(1u << 0)	/* sources on no allow prefix are dropped */

/* A destination the shield guards; addr all zero = any address of that family. */
struct pt_shield_dst {
	__u32 ifindex;
	__u16 family;		/* AF_INET or AF_INET6 */
	__be16 port;
	__u8 addr[16];		/* IPv4 in the first 4 bytes */
};

/* What the shield applies to one destination: its listener's settings. */
struct pt_shield_lcfg {
	__u32 listener;		/* listener index in the daemon's config */
	__u32 slot;		/* interface slot: counter row, pt_shield_meta.ifindex[] */
	__u32 flags;		/* PT_SHIELD_F_* */
	__u32 syn_rate;		/* SYNs per second per source, 0 = no limit */
	__u32 syn_burst;	/* SYNs a source may send at once */
	__u8 prefix_v4;		/* bits of a source that make one rate-limited source */
	__u8 prefix_v6;
	__u16 pad;
};

/*
 * A key of PT_MAP_SHIELD_LISTS: prefixlen counts the 32 bits of listener
 * and family (always matched in full) plus the address bits.
 */
struct pt_shield_lpm {
	__u32 prefixlen;
	__u16 listener;
	__u16 family;
	__u8 addr[16];
};

/* A source: of a listener for the rate limit, listener 0 for bans (all listeners). */
struct pt_shield_src {
	__u32 listener;
	__u16 family;
	__u16 pad;
	__u8 addr[16];		/* the address, cut to the prefix for the rate limit */
};

struct pt_shield_ban {
	__u64 until_ns;		/* CLOCK_MONOTONIC (bpf_ktime_get_ns); expired bans are ignored */
	__u64 added_ns;
};

/* Failed detections of a source since first_ns (the daemon's workers count them). */
struct pt_shield_fail {
	__u64 first_ns;		/* CLOCK_MONOTONIC of the first failure in the window */
	__u32 count;
	__u32 pad;
};

/* PT_MAP_SHIELD_COUNTS value, per CPU. */
struct pt_shield_count {
	__u64 packets;
	__u64 bytes;
};

/* enum xdp_attach_mode values as pt_shield_meta.mode records them. */
#define PT_SHIELD_MODE_NATIVE	1
#define PT_SHIELD_MODE_GENERIC	2

/*
 * PT_MAP_SHIELD_META[0]: who attached the shield where, so that passthru-ctl
 * can show it and the cleanup of a crashed instance can detach it.
 */
struct pt_shield_meta {
	__u32 magic;
	__u32 abi;
	__u32 pid;		/* the daemon's master pid */
	__u32 prog_id;		/* PT_PROG_SHIELD as attached (one program, every interface) */
	__u32 n_slots;		/* interface slots in use */
	__u32 pad;
	__u32 ifindex[PT_SHIELD_IFACES_MAX];	/* 0 = slot not attached */
	__u8 mode[PT_SHIELD_IFACES_MAX];	/* PT_SHIELD_MODE_* */
	char ifname[PT_SHIELD_IFACES_MAX][16];
};

#endif /* __PASSTHRU_SHIELD_H */
