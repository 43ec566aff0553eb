/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The Prometheus endpoint ("metrics": {"listen": ...}): a small HTTP/1.x
 * responder in the event loop of the process that serves the control
 * socket (the master, or the worker with -w 1). GET or HEAD /metrics
 * answers 200 with the exposition of the shared counters (metrics-text.h),
 * any other path 404, any other method 405, a request that is not HTTP 400;
 * then the connection closes. Each client has PT_METRICS_READ_MS to send
 * its request and PT_METRICS_WRITE_MS to take the answer; at most
 * PT_METRICS_CLIENTS_MAX are served at once (more are closed at accept),
 * so a slow or broken scraper never holds the loop.
 */
#ifndef __PT_METRICS_H
#define __PT_METRICS_H

#include <stdbool.h>

#include "config-t.h"
#include "loop.h"

#define PT_METRICS_READ_MS	2000
#define PT_METRICS_WRITE_MS	5000
#define PT_METRICS_CLIENTS_MAX	8
#define PT_METRICS_REQUEST_MAX	4096	/* request line and headers */

struct pt_control;
struct pt_metrics_client;

struct pt_metrics {
	struct pt_ev ev;		/* the listening socket, -1 if none */
	struct pt_loop *loop;
	const struct pt_control *ctl;	/* its cfg, stats, version and n_workers */
	char listen[PT_METRICS_LISTEN_MAX];	/* what we bound, as written */
	struct pt_metrics_client *clients;
	int n_clients;
};

/*
 * Bind @cfg's metrics.listen (nothing if it has none) for @ctl's owner.
 * 0, or -errno (logged) when the address cannot be bound.
 */
int pt_metrics_open(struct pt_metrics *m, const struct pt_config *cfg,
		    const struct pt_control *ctl);

/* Serve from @loop. 0 or -errno. This and the calls below take a NULL @m (no endpoint). */
int pt_metrics_start(struct pt_metrics *m, struct pt_loop *loop);

/* A reload brings @next: a changed metrics.listen only takes effect at restart (logged). */
void pt_metrics_reload(const struct pt_metrics *m, const struct pt_config *next);

/* Close the socket and every client. */
void pt_metrics_stop(struct pt_metrics *m);

/* In a forked worker: close the descriptors, free the clients, touch no epoll set. */
void pt_metrics_forget(struct pt_metrics *m);

#endif /* __PT_METRICS_H */
