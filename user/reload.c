// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Reloads off the event loop (reload.h). The thread only reads, parses,
 * resolves and checks that the listen addresses did not change: it touches
 * nothing the loop uses but its own job fields, and reads the running
 * config, which is immutable (the loop holds a reference for it). The loop
 * joins the thread when its eventfd fires, then hands the result over.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control.h"
#include "log.h"
#include "reload.h"

/*
 * Same listeners, same addresses, in the same order, same modes (a tproxy
 * listening socket is made so at bind): a reload can apply.
 */
static bool same_listeners(const struct pt_config *a, const struct pt_config *b)
{
	if (a->n_listeners != b->n_listeners)
		return false;
	for (int i = 0; i < a->n_listeners; i++) {
		const struct pt_listener_cfg *la = &a->listeners[i], *lb = &b->listeners[i];

		if (la->n_listen != lb->n_listen || la->mode != lb->mode)
			return false;
		for (int j = 0; j < la->n_listen; j++)
			if (strcmp(la->listen[j].spec, lb->listen[j].spec))
				return false;
	}
	return true;
}

/* Load @cur's file again as its successor; the loader's messages go to @errs. */
static struct pt_config *load_next(struct pt_reload *r, FILE *errs)
{
	const struct pt_config *cur = r->cur;
	struct pt_config *cfg;

	cfg = pt_config_load_text(cur->path, r->copts, errs, &r->text, &r->len);
	if (cfg && !same_listeners(cur, cfg)) {
		fprintf(errs, "%s: listen addresses or modes changed; restart passthru to apply them\n",
			cur->path);
		pt_config_put(cfg);
		return NULL;
	}
	if (!cfg)
		return NULL;
	if (strcmp(cfg->control_socket, cur->control_socket))
		pr_warn(CONFIG, "%s: control_socket changes apply at the next start", cfg->path);
	cfg->generation = r->gen;
	return cfg;
}

static void *reload_thread(void *arg)
{
	struct pt_reload *r = arg;
	uint64_t one = 1;
	size_t len = 0;
	FILE *errs;

	/* The loader prints its errors to a FILE: keep them for the answer too. */
	errs = open_memstream(&r->why, &len);
	r->next = load_next(r, errs ? errs : stderr);
	if (errs) {
		fclose(errs);
		fputs(r->why, stderr);
	}
	if (!r->next) {
		free(r->text);
		r->text = NULL;
	}
	while (write(r->ev.fd, &one, sizeof(one)) == -1 && errno == EINTR)
		;
	return NULL;
}

static void start(struct pt_reload *r, struct pt_ctl_client *cl)
{
	struct pt_config *cur = *r->cfgp;
	int err;

	r->cur = pt_config_get(cur);
	r->cl = cl;
	r->gen = cur->generation + 1;
	r->next = NULL;
	r->text = r->why = NULL;
	r->len = 0;
	r->busy = true;
	err = pthread_create(&r->thread, NULL, reload_thread, r);
	if (!err)
		return;
	r->busy = false;
	pt_config_put(r->cur);
	r->cur = NULL;
	pr_err(CONFIG, "reload of %s: cannot start a thread: %s", cur->path, strerror(err));
	if (cl)
		pt_control_reply(cl, pt_control_error("reload: cannot start a thread: %s",
						      strerror(err)));
}

/* The thread is done: join it, give the result to the owner, run again if asked. */
static void reload_event(struct pt_ev *ev, uint32_t events)
{
	struct pt_reload *r = container_of(ev, struct pt_reload, ev);
	struct pt_config *cur = r->cur;
	uint64_t n;

	if (read(ev->fd, &n, sizeof(n)) != sizeof(n) || !r->busy)
		return;
	pthread_join(r->thread, NULL);
	r->busy = false;
	r->cur = NULL;
	r->done(r, r->cl, r->next, r->text, r->len, r->why);
	free(r->text);
	free(r->why);
	r->text = r->why = NULL;
	r->next = NULL;
	r->cl = NULL;
	pt_config_put(cur);
	if (r->again) {
		r->again = false;
		start(r, NULL);
	}
}

int pt_reload_init(struct pt_reload *r, struct pt_loop *loop, const struct pt_config_opts *copts,
		   struct pt_config **cfgp, pt_reload_done_fn done)
{
	int fd;

	*r = (struct pt_reload){ .loop = loop, .copts = copts, .cfgp = cfgp, .done = done };
	fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fd == -1) {
		r->ev.fd = -1;
		return -errno;
	}
	pt_ev_init(&r->ev, fd, reload_event);
	return pt_loop_watch(loop, &r->ev, EPOLLIN);
}

void pt_reload_request(struct pt_reload *r, struct pt_ctl_client *cl)
{
	if (!r->busy) {
		start(r, cl);
	} else if (cl) {
		pt_control_reply(cl, pt_control_error("a reload is already in progress"));
	} else {
		pr_info(CONFIG, "SIGHUP during a reload: reloading again after it");
		r->again = true;
	}
}

struct pt_ctl_client *pt_reload_take_client(struct pt_reload *r)
{
	struct pt_ctl_client *cl = r->cl;

	r->cl = NULL;
	return cl;
}

void pt_reload_fini(struct pt_reload *r)
{
	if (r->busy) {
		pr_info(CONFIG, "waiting for the reload of %s to finish", r->cur->path);
		pthread_join(r->thread, NULL);
		r->busy = false;
		pt_config_put(r->next);
		pt_config_put(r->cur);
		free(r->text);
		free(r->why);
	}
	if (r->ev.fd >= 0) {
		pt_loop_unwatch(r->loop, &r->ev);
		close(r->ev.fd);
		r->ev.fd = -1;
	}
}

void pt_reload_forget(struct pt_reload *r)
{
	if (r->ev.fd >= 0)
		close(r->ev.fd);
	r->ev.fd = -1;
	r->busy = false;
	r->cur = r->next = NULL;	/* the parent's: not ours to put */
	r->text = r->why = NULL;
	r->cl = NULL;
}

int pt_reload_send(int sock, int pack, unsigned int gen)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u = { 0 };
	struct iovec iov = { .iov_base = &gen, .iov_len = sizeof(gen) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			      .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &pack, sizeof(int));
	if (sendmsg(sock, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) == -1)
		return -errno;
	return 0;
}

int pt_reload_recv(int sock, int *pack, unsigned int *gen)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = gen, .iov_len = sizeof(*gen) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			      .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c;
	ssize_t n;

	*pack = -1;
	n = recvmsg(sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n == -1)
		return -errno;
	if (n == 0)
		return -EPIPE;
	c = CMSG_FIRSTHDR(&msg);
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
	    c->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(pack, CMSG_DATA(c), sizeof(int));
	if (n != sizeof(*gen) || *pack < 0 || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
		if (*pack >= 0)
			close(*pack);
		*pack = -1;
		return -EBADMSG;
	}
	return 0;
}
