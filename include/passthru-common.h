/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What the daemon and passthru-ctl both need to know, defined once
 * (user/common.c, built into libptcommon.a and linked by both): the names
 * of the shared enums, how end reasons are named, the instance name rule,
 * where an instance keeps its pins, control socket, .pairs and lock file, CIDR
 * parsing and matching, the shield's key of a client address, the monotonic
 * clock of the start times, the pt_meta stamp, and whether the passthru that
 * wrote a stamp or bound a socket is still alive. Userspace only: BPF
 * programs include passthru.h alone.
 */
#ifndef __PT_COMMON_H
#define __PT_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <linux/types.h>

#include "passthru.h"

#define PT_BPFFS		"/sys/fs/bpf"
#define PT_RUN_DIR		"/run/passthru"	/* control sockets, .pairs and .lock files */
#define PT_CONTROL_PROTOCOL	1		/* version of the control socket protocol */
#define PT_INSTANCE_NAME_MAX	31

/* How a connection ended, for the log and the counters. */
enum pt_end {
	PT_END_DONE = 0,	/* both directions finished */
	PT_END_CLIENT_RESET,
	PT_END_UPSTREAM_RESET,
	PT_END_ERROR,
	PT_END_IDLE,
	PT_END_NO_ROUTE,
	PT_END_REJECTED,
	PT_END_UPSTREAM_FAILED,
	PT_END_CLIENT_GONE,	/* client left before relaying started */
	PT_END_SHUTDOWN,
	PT_END_EVICTED,		/* still detecting when max_detecting needed its place */
	PT_END_MAX,		/* the number of reasons (counter rows) */
	PT_END_NONE,		/* not ended: a data plane keeps the connection going */
};

/* A client network; spec is the config's text (owned by the config), or NULL. */
struct pt_cidr {
	int family;		/* AF_INET or AF_INET6 */
	uint8_t addr[16];	/* network byte order, host bits cleared */
	int prefix;
	char *spec;
};

/* Names of enum values as the log, the counters and passthru-ctl print them. */
const char *pt_proto_name(enum pt_proto proto);
int pt_proto_from_name(const char *name);
const char *pt_end_name(enum pt_end end);
const char *pt_plane_name(unsigned int plane);
const char *pt_pair_state_name(unsigned int state);

/* Instances: names, and where each keeps its files. */
bool pt_instance_name_ok(const char *name);
const char *pt_instance_default(const char *config_path, char *buf, size_t size);
char *pt_pin_dir(char *buf, size_t size, const char *instance);
char *pt_control_path(char *buf, size_t size, const char *instance);
char *pt_pairs_path(char *buf, size_t size, const char *instance);
char *pt_lock_path(char *buf, size_t size, const char *instance);

/* Client networks. */
int pt_cidr_parse(const char *spec, struct pt_cidr *c);
char *pt_cidr_str(const struct pt_cidr *c, char *buf, size_t size);
bool pt_cidr_contains(const struct pt_cidr *c, const struct sockaddr *sa);

/*
 * The shield's key for a client address (include/passthru-shield.h): as
 * the XDP program sees it, so an IPv4-mapped IPv6 address becomes IPv4.
 * False for other families.
 */
struct pt_shield_src;
bool pt_shield_src_of(const struct sockaddr *sa, struct pt_shield_src *k);

/* CLOCK_MONOTONIC in nanoseconds: the clock of pt_meta and pt_pair's start_ns. */
uint64_t pt_now_ns(void);

/* The stamp and the liveness of the daemon behind it. */
void pt_meta_init(struct pt_meta *m, __u32 n_slots, int n_workers, const char *instance);
int pt_meta_check(const struct pt_meta *m);
bool pt_pid_alive(pid_t pid);
int pt_sock_alive(const char *path, pid_t *pid);

#endif /* __PT_COMMON_H */
