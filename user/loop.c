// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The event loop: epoll for descriptors, a min-heap for deadlines. A
 * callback may unwatch or close any descriptor, including ones whose events
 * are still pending in the current batch: owners must keep the memory alive
 * until the batch ends (conn.c defers frees for that reason).
 *
 * Busy polling (pt_loop_set_spin(), off unless set): waking a sleeping
 * thread costs tens of microseconds on a VM, twice per relayed round trip.
 * Before it sleeps, the loop polls epoll for a window; the window adapts
 * the way the kernel's haltpoll cpuidle governor does: it doubles when the
 * sleep that followed a window was ended by an event within the longest
 * window (polling longer would have caught it), and halves when a sleep
 * lasted longer than that (the poll was wasted). Sparse traffic so takes
 * the window to 0, and nothing is polled; dense traffic keeps the thread
 * awake between its events. The poll yields the CPU (sched_yield()) each
 * time round, so runnable threads, a backend's on the same CPU among them,
 * go first, and it takes at most PT_SPIN_SHARE of each second.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "loop.h"
#include "passthru-common.h"

#define PT_LOOP_BATCH 256
#define PT_SPIN_START_NS 10000u	/* the first window, and the smallest */
#define PT_SPIN_SHARE 2		/* polling takes at most 1/PT_SPIN_SHARE of each second */

uint64_t pt_now_ms(void)
{
	return pt_now_ns() / 1000000;
}

int pt_loop_init(struct pt_loop *l)
{
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd == -1)
		return -errno;
	l->ready.prev = l->ready.next = &l->ready;
	l->after.prev = l->after.next = &l->after;
	l->heap = NULL;
	l->n_timers = 0;
	l->cap_timers = 0;
	l->now = pt_now_ms();
	l->spin_max_ns = l->spin_ns = 0;
	l->spin_sec = l->spin_used = 0;
	l->spin_hold = false;
	return 0;
}

void pt_loop_set_spin(struct pt_loop *l, unsigned int max_us)
{
	l->spin_max_ns = max_us * 1000u;
	l->spin_ns = 0;
}

void pt_loop_fini(struct pt_loop *l)
{
	if (l->epfd >= 0)
		close(l->epfd);
	l->epfd = -1;
	free(l->heap);
	l->heap = NULL;
	l->n_timers = l->cap_timers = 0;
}

void pt_ev_init(struct pt_ev *ev, int fd, pt_ev_fn fn)
{
	ev->fd = fd;
	ev->fn = fn;
	ev->events = 0;
}

/* Register ev (or change its event mask if it is already registered). */
int pt_loop_watch(struct pt_loop *l, struct pt_ev *ev, uint32_t events)
{
	struct epoll_event ee = { .events = events, .data.ptr = ev };
	int op = ev->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;

	if (events && ev->events == events)
		return 0;	/* already so: no syscall */
	if (epoll_ctl(l->epfd, op, ev->fd, &ee) == -1)
		return -errno;
	/* A zero mask is legal for MOD; keep a marker that it is registered. */
	ev->events = events ? events : EPOLLET;
	return 0;
}

void pt_loop_forget(struct pt_ev *ev)
{
	ev->events = 0;
}

void pt_loop_unwatch(struct pt_loop *l, struct pt_ev *ev)
{
	if (!ev->events || ev->fd < 0)
		return;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, ev->fd, NULL);
	ev->events = 0;
}

void pt_timer_init(struct pt_timer *t, pt_timer_fn fn)
{
	t->when = 0;
	t->idx = -1;
	t->fn = fn;
}

static void heap_set(struct pt_loop *l, int i, struct pt_timer *t)
{
	l->heap[i] = t;
	t->idx = i;
}

static void heap_up(struct pt_loop *l, int i)
{
	struct pt_timer *t = l->heap[i];

	while (i > 0) {
		int parent = (i - 1) / 2;

		if (l->heap[parent]->when <= t->when)
			break;
		heap_set(l, i, l->heap[parent]);
		i = parent;
	}
	heap_set(l, i, t);
}

static void heap_down(struct pt_loop *l, int i)
{
	struct pt_timer *t = l->heap[i];

	for (;;) {
		int child = 2 * i + 1;

		if (child >= l->n_timers)
			break;
		if (child + 1 < l->n_timers && l->heap[child + 1]->when < l->heap[child]->when)
			child++;
		if (t->when <= l->heap[child]->when)
			break;
		heap_set(l, i, l->heap[child]);
		i = child;
	}
	heap_set(l, i, t);
}

static int heap_grow(struct pt_loop *l)
{
	int cap = l->cap_timers ? l->cap_timers * 2 : 256;
	struct pt_timer **h = realloc(l->heap, cap * sizeof(*h));

	if (!h)
		return -ENOMEM;
	l->heap = h;
	l->cap_timers = cap;
	return 0;
}

/*
 * Arm (or re-arm) t for the absolute time `when`. Growing the heap is the
 * only failure; it is reported by aborting since a lost deadline would leak
 * the connection forever.
 */
void pt_timer_arm(struct pt_loop *l, struct pt_timer *t, uint64_t when)
{
	if (t->idx >= 0) {
		uint64_t old = t->when;

		t->when = when;
		if (when < old)
			heap_up(l, t->idx);
		else
			heap_down(l, t->idx);
		return;
	}
	if (l->n_timers == l->cap_timers && heap_grow(l))
		abort();
	t->when = when;
	l->heap[l->n_timers] = t;
	t->idx = l->n_timers++;
	heap_up(l, t->idx);
}

void pt_timer_cancel(struct pt_loop *l, struct pt_timer *t)
{
	int i = t->idx;
	struct pt_timer *last;

	if (i < 0)
		return;
	t->idx = -1;
	last = l->heap[--l->n_timers];
	if (last == t)
		return;
	heap_set(l, i, last);
	heap_up(l, i);
	heap_down(l, last->idx);
}

void pt_task_init(struct pt_task *t, pt_task_fn fn)
{
	t->prev = t->next = NULL;
	t->fn = fn;
}

static void task_queue(struct pt_task *head, struct pt_task *t)
{
	if (t->next)
		return;
	t->prev = head->prev;
	t->next = head;
	head->prev->next = t;
	head->prev = t;
}

void pt_loop_defer(struct pt_loop *l, struct pt_task *t)
{
	task_queue(&l->ready, t);
}

void pt_loop_after_events(struct pt_loop *l, struct pt_task *t)
{
	task_queue(&l->after, t);
}

void pt_task_cancel(struct pt_task *t)
{
	if (!t->next)
		return;
	t->prev->next = t->next;
	t->next->prev = t->prev;
	t->prev = t->next = NULL;
}

/* Run the tasks queued on @head so far; those they queue again wait for the next round. */
static void run_tasks(struct pt_task *head)
{
	struct pt_task batch;

	if (head->next == head)
		return;
	batch.next = head->next;
	batch.prev = head->prev;
	batch.next->prev = batch.prev->next = &batch;
	head->prev = head->next = head;
	while (batch.next != &batch) {
		struct pt_task *t = batch.next;

		pt_task_cancel(t);
		t->fn(t);
	}
}

static int next_wait(struct pt_loop *l, int max_wait_ms)
{
	uint64_t now = pt_now_ms();
	long long wait;

	if (l->ready.next != &l->ready)
		return 0;
	if (!l->n_timers)
		return max_wait_ms;
	wait = l->heap[0]->when > now ? (long long)(l->heap[0]->when - now) : 0;
	if (max_wait_ms >= 0 && wait > max_wait_ms)
		wait = max_wait_ms;
	return (int)wait;
}

static void run_timers(struct pt_loop *l)
{
	l->now = pt_now_ms();
	while (l->n_timers && l->heap[0]->when <= l->now) {
		struct pt_timer *t = l->heap[0];

		pt_timer_cancel(l, t);
		t->fn(t);
	}
}

/* Poll for events until the window since @t0 closes: their number, 0, or -1. */
static int spin(struct pt_loop *l, struct epoll_event *evs, uint64_t t0)
{
	uint64_t sec = t0 / 1000000000ull, t = t0;
	int n = 0;

	if (sec != l->spin_sec) {
		l->spin_sec = sec;
		l->spin_used = 0;
	}
	if (l->spin_used >= 1000000000ull / PT_SPIN_SHARE)
		return 0;
	while (t - t0 < l->spin_ns) {
		n = epoll_wait(l->epfd, evs, PT_LOOP_BATCH, 0);
		if (n)
			break;
		sched_yield();
		t = pt_now_ns();
	}
	l->spin_used += t - t0;
	return n;
}

/* A sleep of @slept_ns after the window ended, by an event or not: adapt the window. */
static void adapt(struct pt_loop *l, uint64_t slept_ns, bool event)
{
	if (event && slept_ns <= l->spin_max_ns) {
		l->spin_ns = l->spin_ns ? l->spin_ns * 2 : PT_SPIN_START_NS;
		if (l->spin_ns > l->spin_max_ns)
			l->spin_ns = l->spin_max_ns;
	} else if (slept_ns > l->spin_max_ns) {
		l->spin_ns /= 2;
		if (l->spin_ns < PT_SPIN_START_NS)
			l->spin_ns = 0;
	}
}

/* epoll_wait() for up to @wait ms, polling first if busy polling is on. */
static int wait_events(struct pt_loop *l, struct epoll_event *evs, int wait)
{
	uint64_t t0;
	int n;

	if (!l->spin_max_ns || l->spin_hold || !wait)
		return epoll_wait(l->epfd, evs, PT_LOOP_BATCH, wait);
	t0 = pt_now_ns();
	n = spin(l, evs, t0);
	if (n)
		return n;
	n = epoll_wait(l->epfd, evs, PT_LOOP_BATCH, wait);
	adapt(l, pt_now_ns() - t0, n > 0);
	return n;
}

int pt_loop_run_once(struct pt_loop *l, int max_wait_ms)
{
	struct epoll_event evs[PT_LOOP_BATCH];
	int n;

	n = wait_events(l, evs, next_wait(l, max_wait_ms));
	if (n == -1 && errno != EINTR)
		return -errno;
	l->now = pt_now_ms();
	for (int i = 0; i < n; i++) {
		struct pt_ev *ev = evs[i].data.ptr;

		ev->fn(ev, evs[i].events);
	}
	run_tasks(&l->after);
	run_timers(l);
	run_tasks(&l->ready);
	return 0;
}
