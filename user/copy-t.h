/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The copy data plane's per-connection state (in struct pt_conn).
 */
#ifndef __PT_COPY_T_H
#define __PT_COPY_T_H

#include <stdbool.h>
#include <stdint.h>

/* One direction: bytes read from src and sent on to dst. */
struct pt_copy_dir {
	uint8_t *buf;		/* what dst has not taken yet; NULL unless stuck */
	uint32_t off, len;	/* unsent bytes are buf[off, len) */
	uint16_t big_turns;	/* turns in a row that read >= bulk_turn_bytes */
	bool eof;		/* src said EOF */
	bool drained;		/* the last read emptied src's queue (short read or EAGAIN) */
	bool shut;		/* shutdown(dst, SHUT_WR) done */
	bool queued;		/* a read and send wait in the batcher (batch.c) */
};

struct pt_copy_state {
	struct pt_copy_dir dir[2];
};

#endif /* __PT_COPY_T_H */
