// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The data planes a worker may use, and their per-worker hooks
 * (dataplane.h): set up and released once per worker by worker.c. And a
 * connection's move onto a plane, which keeps the worker's count of
 * streams on the kernel planes (its busy polling stops while there is one).
 */
#include <stdbool.h>
#include <stddef.h>

#include "conn.h"
#include "dataplane.h"
#include "worker.h"

/* The data planes a worker may use, for their per-worker hooks. */
static const struct pt_dataplane *const planes[] = { &pt_dp_copy, &pt_dp_splice, &pt_dp_sockmap };

int pt_dataplanes_init(struct pt_worker *w)
{
	int err;

	for (size_t i = 0; i < sizeof(planes) / sizeof(planes[0]); i++) {
		if (!planes[i]->worker_init)
			continue;
		err = planes[i]->worker_init(w);
		if (err)
			return err;
	}
	return 0;
}

void pt_dataplanes_fini(struct pt_worker *w)
{
	for (size_t i = 0; i < sizeof(planes) / sizeof(planes[0]); i++)
		if (planes[i]->worker_fini)
			planes[i]->worker_fini(w);
}

bool pt_dataplane_kernel(const struct pt_dataplane *dp)
{
	return dp && dp != &pt_dp_copy && dp != &pt_dp_local;
}

void pt_dataplane_set(struct pt_conn *c, const struct pt_dataplane *dp)
{
	c->w->n_streams += pt_dataplane_kernel(dp) - pt_dataplane_kernel(c->dp);
	c->dp = dp;
}
