/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A reload, done off the event loop: a thread reads the config file,
 * validates it and resolves its upstream names (which may block for as long
 * as the resolver likes), then wakes the loop through an eventfd; the owner
 * (the worker with -w 1, else the master) applies the result there. One
 * reload at a time: a SIGHUP during one runs another after it, a control
 * client during one is told to retry.
 */
#ifndef __PT_RELOAD_H
#define __PT_RELOAD_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "loop.h"

struct pt_ctl_client;
struct pt_reload;

/*
 * The owner's end of a reload, called in its loop. @next is the new config
 * (one reference, for the owner to keep or put) with its generation set,
 * or NULL if the file cannot apply; @text/@len the file as read (valid
 * during the call, for pt_config_pack()); @why the loader's messages; @cl
 * the control client that asked, or NULL (SIGHUP), to answer exactly once.
 */
typedef void (*pt_reload_done_fn)(struct pt_reload *r, struct pt_ctl_client *cl,
				  struct pt_config *next, const char *text, size_t len,
				  const char *why);

struct pt_reload {
	struct pt_ev ev;		/* eventfd: the thread is done */
	struct pt_loop *loop;
	pt_reload_done_fn done;
	const struct pt_config_opts *copts;
	struct pt_config **cfgp;	/* where the owner keeps its running config */
	bool busy;			/* a thread runs */
	bool again;			/* a SIGHUP came during it */
	pthread_t thread;
	/* The job, owned by the thread while busy: */
	struct pt_config *cur;		/* a reference held for the thread */
	struct pt_ctl_client *cl;
	unsigned int gen;
	struct pt_config *next;
	char *text, *why;
	size_t len;
};

/*
 * Set up @r in @loop (an eventfd): reloads of *@cfgp, the owner's running
 * config, loaded with @copts; @done gets each result. 0 or -errno.
 */
int pt_reload_init(struct pt_reload *r, struct pt_loop *loop, const struct pt_config_opts *copts,
		   struct pt_config **cfgp, pt_reload_done_fn done);

/*
 * Reload the running config's file as its generation + 1, for control
 * client @cl (NULL: SIGHUP). While one runs, a SIGHUP makes it run again
 * after and a client is answered at once that a reload is in progress.
 */
void pt_reload_request(struct pt_reload *r, struct pt_ctl_client *cl);

/* The client waiting for the running reload, if any (to answer it at a stop). */
struct pt_ctl_client *pt_reload_take_client(struct pt_reload *r);

/* Wait for a running thread and drop its result; close the eventfd. */
void pt_reload_fini(struct pt_reload *r);

/*
 * The master's hand-over to a worker over their socketpair @sock: the
 * generation and the pack (pt_config_pack()) as SCM_RIGHTS. 0 or -errno.
 */
int pt_reload_send(int sock, int pack, unsigned int gen);

/*
 * Receive one hand-over on @sock (non-blocking): *pack (a descriptor to
 * close) and *gen. 0, -EAGAIN when none is waiting, -EPIPE when the master
 * has gone, -EBADMSG for anything else, or -errno.
 */
int pt_reload_recv(int sock, int *pack, unsigned int *gen);

/* In a child after fork(): close the eventfd, forget the parent's thread. */
void pt_reload_forget(struct pt_reload *r);

#endif /* __PT_RELOAD_H */
