/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * One epoll event loop per worker, with a binary min-heap of deadlines and
 * a list of deferred tasks. Everything is non-blocking; callbacks run to
 * completion, and one that has more work than its fair share defers the
 * rest (pt_loop_defer) so that every other ready descriptor gets a turn.
 */
#ifndef __PT_LOOP_H
#define __PT_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct pt_ev;
typedef void (*pt_ev_fn)(struct pt_ev *ev, uint32_t events);

/* A file descriptor watched by the loop; embed it and use container_of. */
struct pt_ev {
	pt_ev_fn fn;
	int fd;
	uint32_t events;	/* what is registered, 0 = not in epoll */
};

struct pt_timer;
typedef void (*pt_timer_fn)(struct pt_timer *t);

/* A deadline in CLOCK_MONOTONIC milliseconds; embed it. */
struct pt_timer {
	uint64_t when;
	int idx;		/* position in the heap, -1 when not armed */
	pt_timer_fn fn;
};

struct pt_task;
typedef void (*pt_task_fn)(struct pt_task *t);

/* Work to resume after the next round of events; embed it. */
struct pt_task {
	struct pt_task *prev, *next;	/* NULL when not queued */
	pt_task_fn fn;
};

struct pt_loop {
	int epfd;
	struct pt_task ready;		/* list head of deferred tasks */
	struct pt_task after;		/* list head of tasks run right after the events */
	struct pt_timer **heap;
	int n_timers;
	int cap_timers;
	uint64_t now;		/* cached at every wake-up */
	uint32_t spin_max_ns;	/* busy polling: the longest window, 0 = off */
	uint32_t spin_ns;	/* ... the window now (pt_loop_set_spin()) */
	uint64_t spin_sec;	/* ... the second (CLOCK_MONOTONIC) spin_used counts */
	uint64_t spin_used;	/* ... ns polled in that second */
	bool spin_hold;		/* ... not now, says the owner (set before each round) */
};

#ifndef container_of
#define container_of(ptr, type, member) ((type *)((char *)(ptr) - __builtin_offsetof(type, member)))
#endif

uint64_t pt_now_ms(void);

int pt_loop_init(struct pt_loop *l);
/*
 * Before sleeping in epoll_wait(), poll for up to @max_us microseconds
 * (0: never), over a window that adapts to how soon events come.
 */
void pt_loop_set_spin(struct pt_loop *l, unsigned int max_us);
void pt_loop_fini(struct pt_loop *l);

void pt_ev_init(struct pt_ev *ev, int fd, pt_ev_fn fn);
/*
 * Watch @ev->fd for @events (ADD, or MOD if it is watched already); no
 * syscall when it is already watched for exactly @events. 0 or -errno.
 */
int pt_loop_watch(struct pt_loop *l, struct pt_ev *ev, uint32_t events);
void pt_loop_unwatch(struct pt_loop *l, struct pt_ev *ev);
/*
 * @ev->fd is about to be closed, which takes it out of the epoll set by
 * itself (no other descriptor shares its file): forget it without a syscall.
 */
void pt_loop_forget(struct pt_ev *ev);

void pt_timer_init(struct pt_timer *t, pt_timer_fn fn);
void pt_timer_arm(struct pt_loop *l, struct pt_timer *t, uint64_t when);
void pt_timer_cancel(struct pt_loop *l, struct pt_timer *t);
static inline bool pt_timer_armed(const struct pt_timer *t)
{
	return t->idx >= 0;
}

void pt_task_init(struct pt_task *t, pt_task_fn fn);
/* Run t once more after the next epoll round (no-op if already queued). */
void pt_loop_defer(struct pt_loop *l, struct pt_task *t);
void pt_task_cancel(struct pt_task *t);
/*
 * Run t once right after this round's events were dispatched, before the
 * timers (no-op if already queued): work the handlers gathered to do in
 * one go (batch.c).
 */
void pt_loop_after_events(struct pt_loop *l, struct pt_task *t);

/*
 * Wait for events for at most max_wait_ms (-1: until the next deadline; no
 * wait at all while tasks are deferred), dispatch them, run the tasks they
 * queued with pt_loop_after_events(), run expired timers,
 * then the deferred tasks: those queued before this round or by its event
 * handlers and timers; a task deferred by a task runs in the next round.
 * Returns 0 or -errno.
 */
int pt_loop_run_once(struct pt_loop *l, int max_wait_ms);

#endif /* __PT_LOOP_H */
