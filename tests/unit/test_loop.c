// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The event loop (loop.c): timers fire in deadline order, once, and can be
 * re-armed or cancelled (also from inside a callback); deferred tasks run
 * after the round's events and timers, in order, once, and what a task
 * defers waits for the next round; epoll events reach the handler of their
 * descriptor, masks can be changed and unwatched; the wait is bounded by
 * the next deadline and skipped while tasks are queued.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>

#include "loop.h"
#include "test.h"

/* What fired, in order: one character per callback. */
static char trace[1024];
static size_t trace_len;

static void note(char c)
{
	if (trace_len < sizeof(trace) - 1)
		trace[trace_len++] = c;
	trace[trace_len] = 0;
}

static void trace_reset(void)
{
	trace_len = 0;
	trace[0] = 0;
}

struct tag_timer {
	struct pt_timer t;
	char tag;
	struct pt_loop *l;
	struct pt_timer *other; /* cancelled or armed by the callback, if set */
	uint64_t rearm;		/* callback re-arms itself for this time, if set */
};

static void timer_fired(struct pt_timer *t)
{
	struct tag_timer *tt = container_of(t, struct tag_timer, t);

	note(tt->tag);
	if (!ASSERT_FALSE(pt_timer_armed(t), "a timer is disarmed before its callback"))
		return;
	if (tt->rearm)
		pt_timer_arm(tt->l, t, tt->rearm);
}

static void tag_timer_init(struct tag_timer *tt, struct pt_loop *l, char tag)
{
	memset(tt, 0, sizeof(*tt));
	pt_timer_init(&tt->t, timer_fired);
	tt->tag = tag;
	tt->l = l;
}

static void test_timer_order(void)
{
	/* Deadlines in the past, armed out of order; equal deadlines avoided (no order among them).
	 */
	static const int ago[] = { 5, 40, 1, 30, 20, 10, 35, 15, 25, 2 };
	struct tag_timer tt[10];
	struct pt_loop l;

	if (!ASSERT_OK(pt_loop_init(&l), "init"))
		return;
	trace_reset();
	for (int i = 0; i < 10; i++) {
		tag_timer_init(&tt[i], &l, (char)('0' + i));
		ASSERT_FALSE(pt_timer_armed(&tt[i].t), "not armed after init");
		pt_timer_arm(&l, &tt[i].t, l.now - 100 + ago[i]);
		ASSERT_TRUE(pt_timer_armed(&tt[i].t), "armed");
	}
	ASSERT_EQ(l.n_timers, 10, "ten in the heap");
	ASSERT_OK(pt_loop_run_once(&l, 0), "run");
	ASSERT_STREQ(trace, "2905748361", "earliest deadline first");
	ASSERT_EQ(l.n_timers, 0, "heap empty");
	trace_reset();
	ASSERT_OK(pt_loop_run_once(&l, 0), "run again");
	ASSERT_STREQ(trace, "", "a timer fires once");
	for (int i = 0; i < 10; i++)
		ASSERT_FALSE(pt_timer_armed(&tt[i].t), "disarmed after firing");
	pt_loop_fini(&l);
}

/* More timers than the heap's first allocation, in pseudo-random order. */
static struct pt_timer *fired_last;
static int fired_n, fired_bad;

static void heap_fired(struct pt_timer *t)
{
	if (fired_last && fired_last->when > t->when)
		fired_bad++;
	fired_last = t;
	fired_n++;
}

/*
 * A deadline already passed, up to 100 s back, chosen by @x; never before 0
 * (a freshly booted VM's monotonic clock may be younger than 100 s).
 */
static uint64_t past(const struct pt_loop *l, uint32_t x)
{
	uint64_t back = 1 + (x >> 16) % 100000;

	return l->now > back ? l->now - back : 0;
}

static void test_timer_heap(void)
{
	enum { N = 1000 };
	struct pt_timer *t = calloc(N, sizeof(*t));
	struct pt_loop l;
	uint32_t x = 12345;
	int cancelled = 0;

	if (!ASSERT_TRUE(t, "calloc") || !ASSERT_OK(pt_loop_init(&l), "init")) {
		free(t);
		return;
	}
	for (int i = 0; i < N; i++) {
		x = x * 1103515245 + 12345;
		pt_timer_init(&t[i], heap_fired);
		pt_timer_arm(&l, &t[i], past(&l, x));
	}
	/* Re-arm some to other past times, cancel every seventh. */
	for (int i = 0; i < N; i += 3) {
		x = x * 1103515245 + 12345;
		pt_timer_arm(&l, &t[i], past(&l, x));
	}
	for (int i = 0; i < N; i += 7) {
		pt_timer_cancel(&l, &t[i]);
		cancelled++;
	}
	ASSERT_EQ(l.n_timers, N - cancelled, "re-arming adds nothing, cancel removes");
	fired_last = NULL;
	fired_n = fired_bad = 0;
	ASSERT_OK(pt_loop_run_once(&l, 0), "run");
	ASSERT_EQ(fired_n, N - cancelled, "every armed timer fired");
	ASSERT_EQ(fired_bad, 0, "in deadline order");
	pt_loop_fini(&l);
	free(t);
}

static void test_timer_rearm_cancel(void)
{
	struct tag_timer a, b, c, d;
	struct pt_loop l;
	uint64_t d_when;

	if (!ASSERT_OK(pt_loop_init(&l), "init"))
		return;
	trace_reset();
	tag_timer_init(&a, &l, 'a');
	tag_timer_init(&b, &l, 'b');
	tag_timer_init(&c, &l, 'c');
	tag_timer_init(&d, &l, 'd');
	pt_timer_arm(&l, &a.t, l.now + 100000);
	pt_timer_arm(&l, &b.t, l.now - 10);
	pt_timer_arm(&l, &c.t, l.now - 20);
	pt_timer_arm(&l, &d.t, l.now - 30);
	pt_timer_arm(&l, &a.t, l.now - 40); /* earlier: moves up */
	d_when = l.now + 100000;
	pt_timer_arm(&l, &d.t, d_when); /* later: moves out of the past */
	pt_timer_cancel(&l, &c.t);
	ASSERT_FALSE(pt_timer_armed(&c.t), "cancelled");
	pt_timer_cancel(&l, &c.t); /* twice is harmless */
	ASSERT_EQ(l.n_timers, 3, "a, b, d");
	ASSERT_OK(pt_loop_run_once(&l, 0), "run");
	ASSERT_STREQ(trace, "ab", "re-armed a first, cancelled c never, future d not yet");
	ASSERT_TRUE(pt_timer_armed(&d.t), "d still armed");
	ASSERT_EQ(d.t.when, d_when, "d's new deadline");
	pt_timer_cancel(&l, &d.t);
	ASSERT_EQ(l.n_timers, 0, "empty");
	pt_timer_cancel(&l, &a.t); /* already fired: harmless */
	ASSERT_EQ(l.n_timers, 0, "still empty");

	/* A cancelled timer can be armed again. */
	trace_reset();
	pt_timer_arm(&l, &c.t, l.now - 1);
	ASSERT_OK(pt_loop_run_once(&l, 0), "run");
	ASSERT_STREQ(trace, "c", "c re-armed after cancel");
	pt_loop_fini(&l);
}

/* Callbacks that act on other timers while the expired ones are run. */
static void canceller_fired(struct pt_timer *t)
{
	struct tag_timer *tt = container_of(t, struct tag_timer, t);

	note(tt->tag);
	pt_timer_cancel(tt->l, tt->other);
}

static void armer_fired(struct pt_timer *t)
{
	struct tag_timer *tt = container_of(t, struct tag_timer, t);

	note(tt->tag);
	pt_timer_arm(tt->l, tt->other, tt->l->now - 1000);
}

static void test_timer_from_callback(void)
{
	struct tag_timer a, b, c, p;
	struct pt_loop l;

	if (!ASSERT_OK(pt_loop_init(&l), "init"))
		return;
	trace_reset();
	tag_timer_init(&a, &l, 'a');
	tag_timer_init(&b, &l, 'b');
	tag_timer_init(&c, &l, 'c');
	a.t.fn = canceller_fired;
	a.other = &b.t;
	pt_timer_arm(&l, &a.t, l.now - 30);
	pt_timer_arm(&l, &b.t, l.now - 20); /* expired too, but a cancels it */
	pt_timer_arm(&l, &c.t, l.now - 10);
	ASSERT_OK(pt_loop_run_once(&l, 0), "run");
	ASSERT_STREQ(trace, "ac", "an expired timer cancelled by an earlier one does not fire");

	/* A callback arming a timer in the past: it fires in the same round. */
	trace_reset();
	a.t.fn = armer_fired;
	a.other = &b.t;
	pt_timer_arm(&l, &a.t, l.now - 5);
	pt_timer_arm(&l, &c.t, l.now - 1);
	ASSERT_OK(pt_loop_run_once(&l, 0), "run");
	ASSERT_STREQ(trace, "abc", "armed from a callback, earlier than c");

	/* A periodic timer re-arms itself for the future: once per round. */
	trace_reset();
	tag_timer_init(&p, &l, 'p');
	p.rearm = l.now + 100000;
	pt_timer_arm(&l, &p.t, l.now - 1);
	ASSERT_OK(pt_loop_run_once(&l, 0), "run");
	ASSERT_OK(pt_loop_run_once(&l, 0), "run");
	ASSERT_STREQ(trace, "p", "fired once");
	ASSERT_TRUE(pt_timer_armed(&p.t), "re-armed by its callback");
	ASSERT_EQ(p.t.when, p.rearm, "for the new deadline");
	pt_loop_fini(&l);
}

/* run_once(-1) sleeps until the next deadline, no longer. */
static void test_timer_wait(void)
{
	struct tag_timer a, far;
	struct pt_loop l;
	uint64_t t0, dt;

	if (!ASSERT_OK(pt_loop_init(&l), "init"))
		return;
	trace_reset();
	tag_timer_init(&a, &l, 'a');
	tag_timer_init(&far, &l, 'f');
	t0 = pt_now_ms();
	pt_timer_arm(&l, &far.t, t0 + 100000);
	pt_timer_arm(&l, &a.t, t0 + 30);
	ASSERT_OK(pt_loop_run_once(&l, -1), "run");
	dt = pt_now_ms() - t0;
	ASSERT_STREQ(trace, "a", "the timer fired in the first round");
	ASSERT_TRUE(dt >= 30, "not before its deadline");
	ASSERT_TRUE(dt < 1000, "nor long after");
	ASSERT_TRUE(l.now >= t0 + 30, "now is cached at wake-up");

	/* max_wait_ms caps the wait when the deadline is further. */
	trace_reset();
	t0 = pt_now_ms();
	ASSERT_OK(pt_loop_run_once(&l, 20), "run");
	dt = pt_now_ms() - t0;
	ASSERT_STREQ(trace, "", "nothing due");
	ASSERT_TRUE(dt >= 19 && dt < 1000, "waited about max_wait_ms");
	pt_loop_fini(&l);
}

struct tag_task {
	struct pt_task t;
	char tag;
	struct pt_loop *l;
	struct pt_task *other; /* deferred (or cancelled) by the callback */
	bool cancel_other;
	int again; /* defer itself this many more times */
};

static void task_ran(struct pt_task *t)
{
	struct tag_task *tt = container_of(t, struct tag_task, t);

	note(tt->tag);
	ASSERT_TRUE(!t->next && !t->prev, "a task is off the queue when it runs");
	if (tt->other && tt->cancel_other)
		pt_task_cancel(tt->other);
	else if (tt->other)
		pt_loop_defer(tt->l, tt->other);
	if (tt->again-- > 0)
		pt_loop_defer(tt->l, t);
}

static void tag_task_init(struct tag_task *tt, struct pt_loop *l, char tag)
{
	memset(tt, 0, sizeof(*tt));
	pt_task_init(&tt->t, task_ran);
	tt->tag = tag;
	tt->l = l;
}

static void test_tasks(void)
{
	struct tag_task a, b, c, d;
	struct pt_loop l;
	uint64_t t0;

	if (!ASSERT_OK(pt_loop_init(&l), "init"))
		return;
	trace_reset();
	tag_task_init(&a, &l, 'a');
	tag_task_init(&b, &l, 'b');
	tag_task_init(&c, &l, 'c');
	tag_task_init(&d, &l, 'd');
	pt_loop_defer(&l, &c.t);
	pt_loop_defer(&l, &a.t);
	pt_loop_defer(&l, &b.t);
	pt_loop_defer(&l, &c.t); /* already queued: stays where it is */
	pt_loop_defer(&l, &d.t);
	pt_task_cancel(&d.t);
	pt_task_cancel(&d.t); /* twice is harmless */
	ASSERT_STREQ(trace, "", "nothing runs at defer time");
	t0 = pt_now_ms();
	ASSERT_OK(pt_loop_run_once(&l, 5000), "run");
	ASSERT_TRUE(pt_now_ms() - t0 < 1000, "no wait while tasks are queued");
	ASSERT_STREQ(trace, "cab", "in the order deferred, once each, cancelled d not at all");
	trace_reset();
	ASSERT_OK(pt_loop_run_once(&l, 0), "run");
	ASSERT_STREQ(trace, "", "a task runs once per defer");

	/* What a task defers waits for the next round, even itself. */
	trace_reset();
	a.other = &b.t;
	c.again = 2;
	pt_loop_defer(&l, &a.t);
	pt_loop_defer(&l, &c.t);
	ASSERT_OK(pt_loop_run_once(&l, 0), "round 1");
	ASSERT_STREQ(trace, "ac", "round 1: only what was queued before");
	ASSERT_OK(pt_loop_run_once(&l, 0), "round 2");
	ASSERT_STREQ(trace, "acbc", "round 2: b (from a) then c (itself)");
	ASSERT_OK(pt_loop_run_once(&l, 0), "round 3");
	ASSERT_STREQ(trace, "acbcc", "round 3: c's last");
	ASSERT_OK(pt_loop_run_once(&l, 0), "round 4");
	ASSERT_STREQ(trace, "acbcc", "then nothing");

	/* A task cancelling a later one of the same round. */
	trace_reset();
	a.other = &b.t;
	a.cancel_other = true;
	pt_loop_defer(&l, &a.t);
	pt_loop_defer(&l, &b.t);
	pt_loop_defer(&l, &c.t);
	ASSERT_OK(pt_loop_run_once(&l, 0), "run");
	ASSERT_STREQ(trace, "ac", "b cancelled by a before its turn");
	ASSERT_TRUE(l.ready.next == &l.ready, "queue empty");
	pt_loop_fini(&l);
}

struct tag_ev {
	struct pt_ev ev;
	char tag;
	uint32_t got; /* events of the last call */
	int calls;
	struct pt_loop *l;
	struct pt_ev *unwatch; /* unwatched by the handler, if set */
	struct pt_task *defer; /* deferred by the handler, if set */
	struct pt_timer *arm;  /* armed in the past by the handler, if set */
};

static void ev_ready(struct pt_ev *ev, uint32_t events)
{
	struct tag_ev *te = container_of(ev, struct tag_ev, ev);
	char buf[64];

	note(te->tag);
	te->got = events;
	te->calls++;
	if (events & EPOLLIN)
		while (read(ev->fd, buf, sizeof(buf)) > 0)
			;
	if (te->unwatch)
		pt_loop_unwatch(te->l, te->unwatch);
	if (te->defer)
		pt_loop_defer(te->l, te->defer);
	if (te->arm)
		pt_timer_arm(te->l, te->arm, te->l->now - 1);
}

static void tag_ev_init(struct tag_ev *te, struct pt_loop *l, int fd, char tag)
{
	memset(te, 0, sizeof(*te));
	pt_ev_init(&te->ev, fd, ev_ready);
	te->tag = tag;
	te->l = l;
}

static void test_events(void)
{
	struct tag_ev x, y;
	struct pt_loop l;
	int px[2] = { -1, -1 }, py[2] = { -1, -1 };

	if (!ASSERT_OK(pt_loop_init(&l), "init"))
		return;
	if (!ASSERT_OK(pipe2(px, O_NONBLOCK | O_CLOEXEC), "pipe x") ||
	    !ASSERT_OK(pipe2(py, O_NONBLOCK | O_CLOEXEC), "pipe y"))
		goto out;
	tag_ev_init(&x, &l, px[0], 'x');
	tag_ev_init(&y, &l, py[0], 'y');
	ASSERT_OK(pt_loop_watch(&l, &x.ev, EPOLLIN), "watch x");
	ASSERT_OK(pt_loop_watch(&l, &y.ev, EPOLLIN), "watch y");
	ASSERT_EQ(x.ev.events, EPOLLIN, "mask kept");

	trace_reset();
	ASSERT_OK(pt_loop_run_once(&l, 0), "idle round");
	ASSERT_STREQ(trace, "", "nothing ready");
	ASSERT_EQ(write(py[1], "1", 1), 1, "write y");
	ASSERT_OK(pt_loop_run_once(&l, 1000), "run");
	ASSERT_STREQ(trace, "y", "only y's handler");
	ASSERT_EQ(y.got, EPOLLIN, "with EPOLLIN");
	ASSERT_EQ(write(px[1], "1", 1), 1, "write x");
	ASSERT_OK(pt_loop_run_once(&l, 1000), "run");
	ASSERT_STREQ(trace, "yx", "then only x's");

	/* A zero mask keeps the descriptor registered but silent. */
	ASSERT_OK(pt_loop_watch(&l, &x.ev, 0), "mask 0");
	ASSERT_NE(x.ev.events, 0, "still marked registered");
	ASSERT_EQ(write(px[1], "1", 1), 1, "write x");
	ASSERT_OK(pt_loop_run_once(&l, 0), "run");
	ASSERT_STREQ(trace, "yx", "silent with mask 0");
	ASSERT_OK(pt_loop_watch(&l, &x.ev, EPOLLIN), "mask back (MOD, not ADD)");
	ASSERT_OK(pt_loop_run_once(&l, 1000), "run");
	ASSERT_STREQ(trace, "yxx", "the pending byte is seen again");

	/* Unwatched: no more calls; watching again adds it back. */
	pt_loop_unwatch(&l, &x.ev);
	ASSERT_EQ(x.ev.events, 0, "unregistered");
	pt_loop_unwatch(&l, &x.ev); /* twice is harmless */
	ASSERT_EQ(write(px[1], "1", 1), 1, "write x");
	ASSERT_OK(pt_loop_run_once(&l, 0), "run");
	ASSERT_STREQ(trace, "yxx", "unwatched x is not called");
	ASSERT_OK(pt_loop_watch(&l, &x.ev, EPOLLIN), "watch again (ADD)");
	ASSERT_OK(pt_loop_run_once(&l, 1000), "run");
	ASSERT_STREQ(trace, "yxxx", "called again");

	/* The peer closing is reported as a hang-up to the right handler. */
	close(py[1]);
	py[1] = -1;
	ASSERT_OK(pt_loop_run_once(&l, 1000), "run");
	ASSERT_STREQ(trace, "yxxxy", "y told");
	ASSERT_TRUE(y.got & EPOLLHUP, "EPOLLHUP");
	pt_loop_unwatch(&l, &y.ev);

	/* Errors come back as -errno. */
	{
		struct tag_ev bad;

		tag_ev_init(&bad, &l, 1000000, 'z');
		ASSERT_EQ(pt_loop_watch(&l, &bad.ev, EPOLLIN), -EBADF, "bad fd");
		ASSERT_EQ(bad.ev.events, 0, "not marked registered");
		ASSERT_EQ(pt_loop_watch(&l, &x.ev, EPOLLIN | EPOLLOUT), 0, "change mask");
		ASSERT_EQ(x.ev.events, EPOLLIN | EPOLLOUT, "new mask kept");
	}
out:
	for (int i = 0; i < 2; i++) {
		if (px[i] >= 0)
			close(px[i]);
		if (py[i] >= 0)
			close(py[i]);
	}
	pt_loop_fini(&l);
}

/* One round: events first, then expired timers, then deferred tasks. */
static void test_round_order(void)
{
	struct tag_ev x, y;
	struct tag_task k, m;
	struct tag_timer t;
	struct pt_loop l;
	int px[2] = { -1, -1 }, py[2] = { -1, -1 };

	if (!ASSERT_OK(pt_loop_init(&l), "init"))
		return;
	if (!ASSERT_OK(pipe2(px, O_NONBLOCK | O_CLOEXEC), "pipe x") ||
	    !ASSERT_OK(pipe2(py, O_NONBLOCK | O_CLOEXEC), "pipe y"))
		goto out;
	tag_ev_init(&x, &l, px[0], 'x');
	tag_ev_init(&y, &l, py[0], 'y');
	tag_task_init(&k, &l, 'K');
	tag_task_init(&m, &l, 'M');
	tag_timer_init(&t, &l, 'T');
	x.defer = &k.t;
	y.defer = &k.t; /* deferred twice in the round: runs once */
	y.arm = &t.t;
	pt_loop_defer(&l, &m.t); /* queued before the round */
	pt_loop_watch(&l, &x.ev, EPOLLIN);
	pt_loop_watch(&l, &y.ev, EPOLLIN);
	ASSERT_EQ(write(px[1], "1", 1), 1, "write x");
	ASSERT_EQ(write(py[1], "1", 1), 1, "write y");
	trace_reset();
	ASSERT_OK(pt_loop_run_once(&l, 1000), "run");
	ASSERT_EQ(strlen(trace), 5, "five callbacks");
	ASSERT_TRUE(strchr("xy", trace[0]) && strchr("xy", trace[1]) && trace[0] != trace[1],
		    "both handlers first");
	ASSERT_STREQ(trace + 2, "TMK", "then the timer, then tasks in the order deferred");

	/*
	 * A handler that unwatches a descriptor whose event is in the same
	 * batch: that event is still delivered (its owner must keep it alive
	 * until the batch ends), and no later one is.
	 */
	x.defer = y.defer = NULL;
	y.arm = NULL;
	x.unwatch = &y.ev;
	x.calls = y.calls = 0;
	ASSERT_EQ(write(px[1], "1", 1), 1, "write x");
	ASSERT_EQ(write(py[1], "1", 1), 1, "write y");
	ASSERT_OK(pt_loop_run_once(&l, 1000), "run");
	ASSERT_EQ(x.calls, 1, "x once");
	ASSERT_EQ(y.calls, 1, "y's pending event delivered");
	ASSERT_EQ(y.ev.events, 0, "y unwatched");
	ASSERT_EQ(write(py[1], "1", 1), 1, "write y");
	ASSERT_OK(pt_loop_run_once(&l, 0), "run");
	ASSERT_EQ(y.calls, 1, "no more for y");
out:
	for (int i = 0; i < 2; i++) {
		if (px[i] >= 0)
			close(px[i]);
		if (py[i] >= 0)
			close(py[i]);
	}
	pt_loop_fini(&l);
}

static void test_init_fini(void)
{
	struct pt_loop l;
	uint64_t before = pt_now_ms();

	if (!ASSERT_OK(pt_loop_init(&l), "init"))
		return;
	ASSERT_TRUE(l.epfd >= 0, "epoll fd");
	ASSERT_TRUE(fcntl(l.epfd, F_GETFD) & FD_CLOEXEC, "close-on-exec");
	ASSERT_TRUE(l.now >= before && l.now <= pt_now_ms(), "now set");
	ASSERT_EQ(l.n_timers, 0, "no timers");
	ASSERT_TRUE(l.ready.next == &l.ready && l.ready.prev == &l.ready, "no tasks");
	pt_loop_fini(&l);
	ASSERT_EQ(l.epfd, -1, "closed");
	pt_loop_fini(&l); /* twice is harmless */
	ASSERT_EQ(pt_loop_run_once(&l, 0), -EBADF, "a finished loop reports EBADF");
}

int main(void)
{
	alarm(60); /* a broken heap can loop forever: fail instead */
	RUN_TEST(test_init_fini);
	RUN_TEST(test_timer_order);
	RUN_TEST(test_timer_heap);
	RUN_TEST(test_timer_rearm_cancel);
	RUN_TEST(test_timer_from_callback);
	RUN_TEST(test_timer_wait);
	RUN_TEST(test_tasks);
	RUN_TEST(test_events);
	RUN_TEST(test_round_order);
	return pt_test_done();
}
