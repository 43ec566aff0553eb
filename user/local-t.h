/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The same-host bypass's per-connection state (c->lo, outside the data
 * plane union: it is set up at accept, before connect(), local.c). Only
 * connections of a "local" listener whose client socket sock_ops took
 * have one.
 */
#ifndef __PT_LOCAL_T_H
#define __PT_LOCAL_T_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/types.h>

#include "passthru-local.h"

struct pt_local_conn {
	struct pt_local_tuple t;	/* the backend connection's tuple, once have_t */
	uint64_t ucookie;		/* U's socket cookie, its PT_MAP_LOCAL_REG key */
	bool registered;		/* U is in PT_MAP_LOCAL_REG */
	bool have_t;			/* t read back from there (sock_ops wrote it) */
	uint64_t cookie;		/* C's socket cookie, its PT_MAP_LOCAL_CLI key */
	uint64_t cli_base;		/* C's written counter at registration (bytes sent before) */
	uint64_t idle_seen;		/* bytes C had taken at the last idle check */
};

#endif /* __PT_LOCAL_T_H */
