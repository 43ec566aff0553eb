// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Holding dropped connections silently (silent.h): a list of duplicated
 * client descriptors, each with its epoll entry (hang-up only) and its
 * deadline in the worker's loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/epoll.h>

#include "silent.h"

struct pt_silent {
	struct pt_silent *prev, *next;
	struct pt_silent_set *set;
	struct pt_loop *loop;
	struct pt_ev ev;
	struct pt_timer timer;
};

static void release(struct pt_silent *h)
{
	pt_timer_cancel(h->loop, &h->timer);
	pt_loop_forget(&h->ev);
	close(h->ev.fd);
	if (h->prev)
		h->prev->next = h->next;
	else
		h->set->head = h->next;
	if (h->next)
		h->next->prev = h->prev;
	h->set->n--;
	free(h);
}

static void on_hangup(struct pt_ev *ev, uint32_t events)
{
	release(container_of(ev, struct pt_silent, ev));
}

static void on_deadline(struct pt_timer *t)
{
	release(container_of(t, struct pt_silent, timer));
}

int pt_silent_hold(struct pt_silent_set *set, struct pt_loop *loop, int fd, unsigned int ms)
{
	struct pt_silent *h;
	int dup_fd, err;

	if (set->n >= PT_SILENT_MAX)
		return -ENOSPC;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dup_fd == -1) {
		err = -errno;
		free(h);
		return err;
	}
	h->set = set;
	h->loop = loop;
	pt_ev_init(&h->ev, dup_fd, on_hangup);
	err = pt_loop_watch(loop, &h->ev, EPOLLRDHUP);
	if (err) {
		close(dup_fd);
		free(h);
		return err;
	}
	pt_timer_init(&h->timer, on_deadline);
	pt_timer_arm(loop, &h->timer, loop->now + ms);
	h->next = set->head;
	if (set->head)
		set->head->prev = h;
	set->head = h;
	set->n++;
	return 0;
}

void pt_silent_fini(struct pt_silent_set *set)
{
	while (set->head)
		release(set->head);
}
