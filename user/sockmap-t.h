/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef __PT_SOCKMAP_T_H
#define __PT_SOCKMAP_T_H

#include <stdbool.h>
#include <stdint.h>

#include "loop.h"

struct pt_conn;
struct ring_buffer;

/* Per-connection state of the sockmap data plane. */
struct pt_sockmap_state {
	bool in_maps;
	bool settled;			/* past the handoff: EPOLLIN may be dropped */
	bool eof[2];			/* FIN seen on the socket feeding direction d */
	bool shut[2];			/* direction d finished: shutdown(SHUT_WR) done */
	bool out_wait[2];		/* d's last forward stopped on a full target */
	int reset[2];			/* error a side reported to one of our calls */
	uint32_t owed[2];		/* d's bytes sent on, still to take out of its source */
	uint32_t mask[2];		/* epoll mask per side */
	uint32_t poll_ms;		/* current drain poll interval, 0 = not polling */
	uint64_t sig;			/* counter sum at the last progress check */
	uint64_t t_move;		/* last time a counter moved */
	uint64_t reserved;		/* bytes of the sockmap memory budget this pair holds */
	uint32_t sndbuf;		/* forced send buffer, within the budget (0: kernel's) */
	uint32_t max_queued;		/* backpressure limit per direction, within the budget */
};

/*
 * Per worker: the verdict's wake-ups (sockmap-wake.c). The ring of this
 * worker in PT_MAP_WAKE names the slots whose pairs began passing bytes
 * to the daemon; by_slot finds their connections.
 */
struct pt_sockmap_wake {
	struct pt_ev ev;		/* the ring's epoll descriptor; fd -1 if none */
	struct ring_buffer *rb;
	struct pt_conn **by_slot;	/* this worker's sockmap pairs, at slot - first */
	uint32_t first, n;
	const uint64_t *lost;		/* PT_MAP_WAKE_LOST[worker id], shared memory */
	uint64_t lost_seen;		/* *lost at the last rescan */
};

#endif /* __PT_SOCKMAP_T_H */
