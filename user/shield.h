/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The XDP shield (bpf/shield.bpf.c, include/passthru-shield.h) from the
 * daemon's side: load it through libxdp and attach it to the interfaces
 * the listeners name (native mode where the driver has it, else generic),
 * fill its maps from the config, pin them under
 * /sys/fs/bpf/passthru/<instance>/shield/, apply a reload without
 * detaching, detach on exit, detach what a crashed instance left, and ban
 * addresses whose connections keep failing detection.
 */
#ifndef __PT_SHIELD_H
#define __PT_SHIELD_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/types.h>
#include <sys/socket.h>

#include "linkwatch.h"
#include "passthru-shield.h"

struct pt_config;
struct shield;
struct xdp_program;

struct pt_shield_iface {
	char name[16];
	int ifindex;		/* 0: not attached */
	int mode;		/* PT_SHIELD_MODE_* */
};

struct pt_shield {
	struct shield *skel;
	struct xdp_program *prog;
	bool loaded;		/* attached at least once: the maps exist */
	char instance[32];
	char pin_dir[160];	/* PT_PIN_ROOT/<instance>/PT_SHIELD_PIN_DIR */
	bool pinned;
	bool made_instance_dir;	/* we made PT_PIN_ROOT/<instance>: remove it if empty */
	struct pt_shield_iface ifaces[PT_SHIELD_IFACES_MAX];	/* by counter slot */
	int dst_fd, lists_fd, bans_fd, counts_fd, meta_fd, fails_fd;
	struct pt_config *cfg;	/* what the maps were filled from (a reference) */
	struct pt_linkwatch link;	/* interfaces that go and come, when watched */
};

/*
 * Detach and unpin what a crashed passthru of @instance left (its shield
 * pin directory names the interfaces and the program). Call with the
 * instance lock held, before pt_bpf_load(), which removes the whole pin
 * directory.
 */
void pt_shield_clean_stale(const char *instance);

/*
 * Attach the shield for @cfg's listeners that have one. 0 with *out = @s
 * when attached to at least one interface, 0 with *out NULL when no
 * listener has a shield or it could attach nowhere (logged), -errno when a
 * listener with "required": true cannot have it on all its interfaces.
 */
int pt_shield_start(struct pt_shield *s, const struct pt_config *cfg, const char *instance,
		    struct pt_shield **out);

/*
 * A reload: attach to interfaces @cfg adds, detach from those it drops,
 * rewrite the destinations and the lists. The program stays attached.
 */
void pt_shield_apply(struct pt_shield *s, const struct pt_config *cfg);

/* Detach from every interface, unpin, free. */
void pt_shield_stop(struct pt_shield *s);

/*
 * Interfaces that go and come while passthru runs (linkwatch.c): the
 * process that applies reloads follows them from @loop. A shielded
 * interface that is deleted is logged once and forgotten; one that appears
 * under a configured name (again, or renamed) is attached. 0, or -errno
 * (logged: then only a reload notices them).
 */
int pt_shield_watch(struct pt_shield *s, struct pt_loop *loop);
void pt_shield_unwatch(struct pt_shield *s);
/* In a forked worker: close the watch without touching the (closed) epoll set. */
void pt_shield_forget_watch(struct pt_shield *s);

/*
 * A connection from @client failed detection on a listener with shield
 * settings @sh: count it (PT_MAP_SHIELD_FAILS, shared by the workers) and
 * ban the address once it has failed ban_failures times within
 * ban_window_s (one log line). Nothing when the listener bans nothing.
 */
struct pt_shield_cfg;
void pt_shield_failed(const struct pt_shield *s, const struct pt_shield_cfg *sh,
		      const struct sockaddr *client);

#endif /* __PT_SHIELD_H */
