// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Helpers every data plane shares (relay.h): socket errors as end
 * reasons, the idle deadline, progress in the pair slot.
 */
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "pairs.h"
#include "relay.h"
#include "worker.h"

enum pt_end pt_relay_sock_error(struct pt_conn *c, enum pt_side side)
{
	socklen_t len = sizeof(int);
	int err = 0;

	getsockopt(pt_side_fd(c, side), SOL_SOCKET, SO_ERROR, &err, &len);
	pr_debug(CONN, "#%llu: %s socket error: %s", (unsigned long long)c->id,
		 side == PT_SIDE_CLIENT ? "client" : "upstream", strerror(err));
	return pt_reset_of(side);
}

void pt_relay_arm_idle(struct pt_conn *c)
{
	unsigned int idle = c->lcfg->idle_timeout_ms;

	if (idle)
		pt_timer_arm(&c->w->loop, &c->timer, c->t_last + idle);
}

enum pt_end pt_relay_idle(struct pt_conn *c)
{
	unsigned int idle = c->lcfg->idle_timeout_ms;

	if (!idle)
		return PT_END_NONE;
	if (c->w->loop.now - c->t_last >= idle)
		return PT_END_IDLE;
	pt_relay_arm_idle(c);
	return PT_END_NONE;
}

void pt_relay_publish(struct pt_conn *c, bool half_closed)
{
	if (!c->pair)
		return;
	for (int d = 0; d < 2; d++)
		__atomic_store_n(&c->pair->dir[d].copied, c->bytes[d], __ATOMIC_RELAXED);
	if (half_closed)
		pt_pair_set_state(c->pair, PT_PAIR_HALF_CLOSED);
}
