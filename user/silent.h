/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Routes with "drop": true. The connection is handed over here as a
 * duplicate of its client descriptor: conn.c then closes the connection as
 * usual, but with the duplicate open nothing reaches the client, neither a
 * byte nor a FIN nor a reset. The duplicate is watched only for the
 * client's hang-up and closed then or after @ms (its unread bytes make
 * that close a reset, as from a server that never read them). At most
 * PT_SILENT_MAX per worker: beyond, the descriptor is closed at once.
 */
#ifndef __PT_SILENT_H
#define __PT_SILENT_H

#include "loop.h"

#define PT_SILENT_MAX 4096

struct pt_silent_set {
	struct pt_silent *head;
	int n;
};

/* Hold a duplicate of @fd in @set for at most @ms. 0 or -errno (then nothing is held). */
int pt_silent_hold(struct pt_silent_set *set, struct pt_loop *loop, int fd, unsigned int ms);

/* Close everything held (worker exit). */
void pt_silent_fini(struct pt_silent_set *set);

#endif /* __PT_SILENT_H */
