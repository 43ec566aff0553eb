/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The sockmap plane's kernel memory budget (sockmap-budget.c): a pair's
 * share is reserved at the handoff and released when it leaves the maps.
 */
#ifndef __PT_SOCKMAP_BUDGET_H
#define __PT_SOCKMAP_BUDGET_H

struct pt_conn;

/* The smallest queue limit a squeezed pair gets. */
#define PT_SM_MIN_QUEUED 65536

/*
 * Take @c's share: the listener's sndbuf and queue limit, else halves of
 * both (into c->dps.sockmap). 0, or -ENOBUFS when not even the smallest
 * fits (counted, warned).
 */
int pt_sm_budget_reserve(struct pt_conn *c);
/* Give back what pt_sm_budget_reserve() took (nothing if it took nothing). */
void pt_sm_budget_release(struct pt_conn *c);

#endif /* __PT_SOCKMAP_BUDGET_H */
