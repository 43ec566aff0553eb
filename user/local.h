/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The same-host bypass, data_plane "local" (local.c, bpf/local.bpf.c).
 * upstream.c registers the upstream socket before connect(); conn.c
 * releases the registration when a connection closes.
 */
#ifndef __PT_LOCAL_H
#define __PT_LOCAL_H

struct pt_conn;
struct pt_sockaddr;

/*
 * A client of a "local" listener was accepted: find its socket in the
 * redirect map, where sock_ops put it at the handshake. Not there (a
 * listener added by a reload, the map full): c->fallback says so.
 */
void pt_local_accept(struct pt_conn *c);

/*
 * Before connect(@fd) to @a: if @c's listener relays "local", bind @fd on
 * @a's address (port 0: its own port becomes known), register the tuple
 * the backend will see and put the client socket in the redirect map.
 * Never fails the connect: when the bypass cannot be used, c->fallback
 * says why and the data plane attach falls back.
 */
void pt_local_register(struct pt_conn *c, int fd, const struct pt_sockaddr *a);

/* Undo pt_local_register(): the registration and B out of the maps. Idempotent. */
void pt_local_unregister(struct pt_conn *c);

/* Undo both: the client socket out of the redirect map too. Idempotent. */
void pt_local_release(struct pt_conn *c);

#endif /* __PT_LOCAL_H */
