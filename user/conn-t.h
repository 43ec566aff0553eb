/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Types about a connection that other modules need without conn.h: its
 * two directions, and how it ended (the data planes return that to
 * conn.c, which closes the connection; stats counts one row per reason).
 */
#ifndef __PT_CONN_T_H
#define __PT_CONN_T_H

/* Direction index: bytes read from side s go to side !s. */
#define PT_DIR_UP	0	/* client -> upstream */
#define PT_DIR_DOWN	1	/* upstream -> client */

/* How a connection ended, for the log and the counters. */
enum pt_end {
	PT_END_DONE = 0,	/* both directions finished */
	PT_END_CLIENT_RESET,
	PT_END_UPSTREAM_RESET,
	PT_END_ERROR,
	PT_END_IDLE,
	PT_END_NO_ROUTE,
	PT_END_REJECTED,
	PT_END_UPSTREAM_FAILED,
	PT_END_CLIENT_GONE,	/* client left before relaying started */
	PT_END_SHUTDOWN,
	PT_END_MAX,		/* the number of reasons (counter rows) */
	PT_END_NONE,		/* not ended: a data plane keeps the connection going */
};

#endif /* __PT_CONN_T_H */
