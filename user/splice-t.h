/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The splice data plane's types: its per-connection state (in struct
 * pt_conn) and its per-worker pipe pool (in struct pt_worker).
 */
#ifndef __PT_SPLICE_T_H
#define __PT_SPLICE_T_H

#include <stdbool.h>
#include <stdint.h>

/* A pipe borrowed from the worker's pool while bytes are in flight. */
struct pt_pipe {
	int rd, wr;
};

/* One direction of a splice relay: src socket -> pipe -> dst socket. */
struct pt_splice_dir {
	struct pt_pipe pipe;	/* rd == -1 when no pipe is held */
	uint32_t in_pipe;	/* bytes read from src not yet written to dst */
	bool eof;		/* src said EOF */
	bool shut;		/* shutdown(dst, SHUT_WR) done */
};

struct pt_splice_state {
	struct pt_splice_dir dir[2];
	bool starved;		/* a pipe could not be made (EMFILE): retry on a timer */
};

/* A worker's idle pipes, reused by its connections (splice.c). */
struct pt_pipe_pool {
	struct pt_pipe *free;
	int n_free;
	int cap;
	int in_use;
	unsigned int pipe_size;
	unsigned int warned;	/* "no fd for a pipe" said (once per worker) */
};

#endif /* __PT_SPLICE_T_H */
