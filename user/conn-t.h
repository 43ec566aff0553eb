/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Types about a connection that other modules need without conn.h: its
 * two directions, and how it ended (enum pt_end, from passthru-common.h:
 * the data planes return it to conn.c, which closes the connection; stats
 * counts one row per reason).
 */
#ifndef __PT_CONN_T_H
#define __PT_CONN_T_H

#include "passthru-common.h"	/* enum pt_end, shared with passthru-ctl */

/* Direction index: bytes read from side s go to side !s. */
#define PT_DIR_UP	0	/* client -> upstream */
#define PT_DIR_DOWN	1	/* upstream -> client */

#endif /* __PT_CONN_T_H */
