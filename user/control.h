/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The control socket: a unix stream socket on which passthru-ctl asks for
 * what the BPF maps do not hold (listener and route names, the routing
 * table, counters) and asks for a reload.
 *
 * Protocol (version PT_CONTROL_PROTOCOL): the client sends one command line
 * ("version", "listeners", "routes", "stats", "reload" or "help", ended by
 * "\n"); the daemon answers with one JSON document and "\n", then closes.
 * Every local user may read; "reload" is for root and members of
 * control_admin_group only (the peer's SO_PEERCRED at connect time).
 * Errors are {"error": "..."}. Served from the event loop of the process
 * that holds the config for everyone (the worker with -w 1, else the
 * master): reads are bounded and short, writes never block, and a client
 * that stalls is dropped.
 */
#ifndef __PT_CONTROL_H
#define __PT_CONTROL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "config-t.h"
#include "loop.h"
#include "passthru-common.h"

struct pt_stats;
struct pt_ctl_client;
struct pt_metrics;
struct pt_health;

/*
 * Start a reload for client @cl (NULL: asked by SIGHUP). The owner answers
 * with pt_control_reply(), now or later, exactly once when @cl is set.
 */
typedef void (*pt_control_reload_fn)(struct pt_ctl_client *cl, void *arg);

struct pt_control {
	struct pt_ev ev;		/* the listening socket, -1 if none */
	struct pt_loop *loop;
	char path[PT_CONTROL_PATH_MAX];
	dev_t dev;			/* what we bound, to unlink only our own socket */
	ino_t ino;
	struct pt_ctl_client *clients;
	int n_clients;
	/* Kept current by the owner; the answers are built from these. */
	struct pt_config *cfg;
	struct pt_stats *stats;
	const char *version;
	const char *instance;
	const char *pairs;		/* where the pair slots are pinned, "" if nowhere */
	int n_workers;
	pid_t pid;
	uint64_t start_ms;
	pt_control_reload_fn reload;
	void *reload_arg;
	struct pt_metrics *metrics;	/* the Prometheus endpoint the same owner serves */
	struct pt_health *health;	/* the pools' health checks the same owner runs */
};

/*
 * Create the listening socket at @path (mode 0666: any local user may
 * connect and read; only root and control_admin_group may reload, checked
 * per peer with SO_PEERCRED; its directory is made if it is PT_RUN_DIR). A stale socket is replaced; one a live process
 * answers on is not: -EADDRINUSE, and *pid says who (0 if unknown).
 * Returns the descriptor or -errno.
 */
int pt_control_bind(const char *path, pid_t *pid);

/* Take @fd, bound at @path by pt_control_bind(); -1 for no socket. */
void pt_control_init(struct pt_control *ctl, int fd, const char *path);

/*
 * Bind @cfg's control_socket, else PT_RUN_DIR/<instance>.sock, give it to
 * @uid:@gid (the user the daemon will run as; 0 = stay root's), and
 * pt_control_init() @ctl with it, answering for @cfg and @instance from
 * this process. -EADDRINUSE (logged) when a live passthru answers there,
 * -EPERM (logged) when control_socket is in a directory that a user other
 * than root and @uid could change (pt_dir_check_private()); any other
 * failure is only a warning: @ctl then has no socket and 0 is returned.
 */
int pt_control_open(struct pt_control *ctl, struct pt_config *cfg, const char *instance,
		    uid_t uid, gid_t gid);

/* Serve the socket in @loop. 0 or -errno. */
int pt_control_start(struct pt_control *ctl, struct pt_loop *loop);

/*
 * Stop serving: drop the clients, close the socket and, with @unlink, remove
 * the socket file if it is still the one we bound.
 */
void pt_control_stop(struct pt_control *ctl, bool unlink);

/*
 * In a child after fork(): close the inherited descriptors (the socket and
 * the clients') without touching the parent's epoll set.
 */
void pt_control_forget(struct pt_control *ctl);

/* Answer @cl with @doc (consumed; NULL means out of memory) and close it. */
void pt_control_reply(struct pt_ctl_client *cl, cJSON *doc);

/*
 * The answer to "reload": {"result": "ok", "generation": N} when @err is 0,
 * else {"error": "...", "messages": [the lines of @why]}; @cfg is the
 * config now in use.
 */
cJSON *pt_control_reload_answer(const struct pt_config *cfg, int err, const char *why);

/* {"error": "..."} */
cJSON *pt_control_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* __PT_CONTROL_H */
