/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The verdict's wake-ups for the sockmap data plane: each worker reads its
 * own ring of PT_MAP_WAKE and gives the named pairs a turn (their c->more
 * task), so that a pair whose sockets are not watched for EPOLLIN still
 * has its passed bytes forwarded at once. See sockmap.c's header comment.
 */
#ifndef __PT_SOCKMAP_WAKE_H
#define __PT_SOCKMAP_WAKE_H

struct pt_conn;
struct pt_worker;

/* Open @w's ring and watch it (nothing without the kernel plane). 0 or -errno. */
int pt_sm_wake_init(struct pt_worker *w);
void pt_sm_wake_fini(struct pt_worker *w);

/* @c's pair is in the maps from now on / no longer: wake-ups for its slot reach it. */
void pt_sm_wake_add(struct pt_conn *c);
void pt_sm_wake_del(struct pt_conn *c);

#endif /* __PT_SOCKMAP_WAKE_H */
