// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The verdict's wake-ups (sockmap-wake.h). The master made one ring per
 * worker (bpf_loader.c); a worker maps its own with libbpf's ring_buffer
 * and watches the ring's epoll descriptor in its loop. Each record names a
 * slot of this worker's share: its connection gets a turn (c->more, so
 * that conn.c sees how the turn ended), which forwards the passed bytes
 * and watches EPOLLIN again while some are owed. A record the verdict
 * could not write (ring full) was counted in PT_MAP_WAKE_LOST instead:
 * when that counter moved, every sockmap pair of the worker gets a turn.
 * Records left by a previous worker with the same id, or for a slot freed
 * since, find no connection and are ignored.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "bpf_loader.h"
#include "conn.h"
#include "log.h"
#include "pairs.h"
#include "sockmap-wake.h"
#include "worker.h"

static struct pt_sockmap_wake *smw(struct pt_worker *w)
{
	return &w->smw;
}

static void give_turn(struct pt_worker *w, struct pt_conn *c)
{
	if (c)
		pt_loop_defer(&w->loop, &c->more);
}

static int on_record(void *ctx, void *data, size_t size)
{
	struct pt_worker *w = ctx;
	const struct pt_wake *e = data;
	uint32_t i;

	if (size < sizeof(*e))
		return 0;
	i = e->slot - smw(w)->first;
	if (i < smw(w)->n)
		give_turn(w, smw(w)->by_slot[i]);
	return 0;
}

/* The ring filled up at some point: every pair may owe bytes. */
static void rescan(struct pt_worker *w)
{
	struct pt_sockmap_wake *s = smw(w);
	uint64_t lost = __atomic_load_n(s->lost, __ATOMIC_ACQUIRE);

	if (lost == s->lost_seen)
		return;
	pr_debug(CONN, "worker %d: %llu sockmap wake-ups lost (ring full); rescanning", w->id,
		 (unsigned long long)(lost - s->lost_seen));
	s->lost_seen = lost;
	for (uint32_t i = 0; i < s->n; i++)
		give_turn(w, s->by_slot[i]);
}

static void ring_event(struct pt_ev *ev, uint32_t events)
{
	struct pt_sockmap_wake *s = container_of(ev, struct pt_sockmap_wake, ev);
	struct pt_worker *w = container_of(s, struct pt_worker, smw);
	int n = ring_buffer__consume(s->rb);

	if (n < 0)
		pr_warn(CONN, "worker %d: sockmap wake-up ring: %s", w->id, strerror(-n));
	/* After the records: a loss counted before them is seen now. */
	rescan(w);
}

int pt_sm_wake_init(struct pt_worker *w)
{
	struct pt_sockmap_wake *s = smw(w);
	struct pt_bpf *b = w->bpf;
	int err;

	memset(s, 0, sizeof(*s));
	s->ev.fd = -1;
	if (!b || w->id >= b->n_rings)
		return 0;
	pt_pairs_share(b->n_slots, w->n_workers, w->id, &s->first, &s->n);
	s->by_slot = calloc(s->n, sizeof(*s->by_slot));
	if (!s->by_slot)
		return -ENOMEM;
	s->lost = (const uint64_t *)&b->wake_lost[w->id];
	s->lost_seen = __atomic_load_n(s->lost, __ATOMIC_ACQUIRE);
	s->rb = ring_buffer__new(b->ring_fds[w->id], on_record, w, NULL);
	if (!s->rb) {
		err = -errno;
		goto out_free;
	}
	/* Level-triggered: a record not consumed this round wakes us again. */
	pt_ev_init(&s->ev, ring_buffer__epoll_fd(s->rb), ring_event);
	err = pt_loop_watch(&w->loop, &s->ev, EPOLLIN);
	if (err)
		goto out_free_rb;
	return 0;
out_free_rb:
	ring_buffer__free(s->rb);
	s->rb = NULL;
	s->ev.fd = -1;
out_free:
	free(s->by_slot);
	s->by_slot = NULL;
	return err;
}

void pt_sm_wake_fini(struct pt_worker *w)
{
	struct pt_sockmap_wake *s = smw(w);

	/* ring_buffer__free() closes the epoll descriptor: out of our set with it. */
	if (s->rb)
		ring_buffer__free(s->rb);
	s->rb = NULL;
	s->ev.fd = -1;
	free(s->by_slot);
	s->by_slot = NULL;
	s->n = 0;
}

void pt_sm_wake_add(struct pt_conn *c)
{
	struct pt_sockmap_wake *s = smw(c->w);
	uint32_t i = c->slot - s->first;

	if (s->by_slot && i < s->n)
		s->by_slot[i] = c;
}

void pt_sm_wake_del(struct pt_conn *c)
{
	struct pt_sockmap_wake *s = smw(c->w);
	uint32_t i = c->slot - s->first;

	if (s->by_slot && i < s->n && s->by_slot[i] == c)
		s->by_slot[i] = NULL;
}
