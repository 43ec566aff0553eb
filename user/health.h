/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Active health checks of the upstream pools (a pool's "health"): run by
 * the one process that serves the control socket (the master, or the only
 * worker with -w 1), on its event loop, never on a worker's serving path
 * and never from several processes for one server. A check is a
 * non-blocking TCP connect, then optionally a TLS ClientHello that must be
 * answered by a ServerHello, or "send" bytes and/or "expect" bytes in the
 * reply, within timeout_ms. "rise" passes in a row mark a down server up,
 * "fall" failures an up one down: in its shared row (pool-t.h), where the
 * workers read it. Each transition is logged once.
 */
#ifndef __PT_HEALTH_H
#define __PT_HEALTH_H

#include "config-t.h"
#include "loop.h"
#include "pool-t.h"

struct pt_check;

struct pt_health {
	struct pt_loop *loop;
	struct pt_config *cfg;		/* one reference, the config checked */
	struct pt_pool_shared *sh;
	struct pt_check *checks;
	int n_checks;
};

/* Start checking the pools of @cfg on @loop, writing to @sh. 0 or -errno. */
int pt_health_start(struct pt_health *h, struct pt_loop *loop, struct pt_config *cfg,
		    struct pt_pool_shared *sh);

/* A reload: check the pools of @next from now on (shared rows keep their state). */
int pt_health_reload(struct pt_health *h, struct pt_config *next);

/* Stop every check and close its socket. */
void pt_health_stop(struct pt_health *h);

/* In a forked worker: close the checks' sockets without touching the loop. */
void pt_health_forget(struct pt_health *h);

#endif /* __PT_HEALTH_H */
