/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The copy plane's syscall batcher: the recv() and send() that the events
 * of one epoll round ask for go to the kernel together, through io_uring,
 * in two io_uring_enter() calls right after the round (pt_loop_after_events)
 * instead of two syscalls per message. Every operation is non-blocking
 * (MSG_DONTWAIT) and completes inside the submitting call, with the result
 * recv() or send() would have returned, so nothing is in flight between
 * rounds. Contract in batch.c's header comment.
 */
#ifndef __PT_BATCH_H
#define __PT_BATCH_H

#include <stdbool.h>
#include <stdint.h>

struct pt_loop;
struct pt_batch;

/* Operations per round: one per event of a round at most (loop.c's batch). */
#define PT_BATCH_OPS 256
/* Bytes one batched read may bring; a full read means more may wait. */
#define PT_BATCH_BUF (16 * 1024)

/*
 * The outcome of one queued relay: @got is what recv() returned (bytes,
 * 0 at EOF, -errno), @sent what send() of those bytes returned (bytes or
 * -errno; 0 when nothing was sent), @buf holds the @got bytes until the
 * callback returns.
 */
typedef void (*pt_batch_fn)(void *ctx, int dir, const uint8_t *buf, int got, int sent);

/* A batcher on @l's rounds, or NULL with -errno in *err (io_uring unavailable). */
struct pt_batch *pt_batch_new(struct pt_loop *l, int *err);
void pt_batch_free(struct pt_batch *b);

/*
 * Queue, for right after this round's events, a recv() of up to
 * PT_BATCH_BUF bytes from @src and a send() of what came to @dst, then
 * @done(@ctx, @dir, ...). False when it cannot be queued (full, or during
 * the callbacks): then do the relay now.
 */
bool pt_batch_relay(struct pt_batch *b, int src, int dst, void *ctx, int dir, pt_batch_fn done);

/* @ctx goes away (its sockets close): drop its queued relays, no callback. */
void pt_batch_cancel(struct pt_batch *b, const void *ctx);

#endif /* __PT_BATCH_H */
