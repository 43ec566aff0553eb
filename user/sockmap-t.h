/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef __PT_SOCKMAP_T_H
#define __PT_SOCKMAP_T_H

#include <stdbool.h>
#include <stdint.h>

/* Per-connection state of the sockmap data plane. */
struct pt_sockmap_state {
	bool in_maps;
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

#endif /* __PT_SOCKMAP_T_H */
