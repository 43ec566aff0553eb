/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What the data planes do the same way (relay.c): name the side a
 * direction reads from and writes to, turn a socket error into an end
 * reason, keep the idle deadline, and show a pair's progress to
 * passthru-ctl. Called by the data planes only; calls nothing above them.
 */
#ifndef __PT_RELAY_H
#define __PT_RELAY_H

#include <stdbool.h>

#include "conn.h"

/* The side direction @d reads from, and the one it writes to. */
static inline enum pt_side pt_src_side(int d)
{
	return d == PT_DIR_UP ? PT_SIDE_CLIENT : PT_SIDE_UPSTREAM;
}

static inline enum pt_side pt_dst_side(int d)
{
	return d == PT_DIR_UP ? PT_SIDE_UPSTREAM : PT_SIDE_CLIENT;
}

static inline int pt_side_fd(const struct pt_conn *c, enum pt_side side)
{
	return side == PT_SIDE_CLIENT ? c->cli.fd : c->up.fd;
}

/* The end reason for a failure on @side: a reset of that side. */
static inline enum pt_end pt_reset_of(enum pt_side side)
{
	return side == PT_SIDE_CLIENT ? PT_END_CLIENT_RESET : PT_END_UPSTREAM_RESET;
}

/*
 * EPOLLERR on @side: read and log its pending error; returns the end
 * reason (a reset of that side).
 */
enum pt_end pt_relay_sock_error(struct pt_conn *c, enum pt_side side);

/* Arm c->timer for the idle deadline (nothing if idle_timeout_ms is 0). */
void pt_relay_arm_idle(struct pt_conn *c);

/*
 * c->timer fired: PT_END_IDLE when nothing moved for idle_timeout_ms,
 * else re-arm it for the new deadline and return PT_END_NONE.
 */
enum pt_end pt_relay_idle(struct pt_conn *c);

/*
 * Show c->bytes (relayed by the daemon) in the pair slot, and the
 * half-closed state once a direction has finished.
 */
void pt_relay_publish(struct pt_conn *c, bool half_closed);

#endif /* __PT_RELAY_H */
