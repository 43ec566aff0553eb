// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The data planes a worker may use, and their per-worker hooks
 * (dataplane.h): set up and released once per worker by worker.c.
 */
#include <stddef.h>

#include "dataplane.h"

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
