// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The Prometheus endpoint (metrics.h). Each client is a small state
 * machine in the owner's event loop: read the request head (at most
 * PT_METRICS_REQUEST_MAX bytes, within PT_METRICS_READ_MS), answer from
 * the request line alone, write without blocking (within
 * PT_METRICS_WRITE_MS), close. One request per connection ("Connection:
 * close"): a scrape every few seconds does not need keep-alive.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control.h"
#include "log.h"
#include "metrics-text.h"
#include "metrics.h"

struct pt_metrics_client {
	struct pt_ev ev;
	struct pt_timer timer;
	struct pt_metrics *m;
	struct pt_metrics_client *prev, *next;
	char req[PT_METRICS_REQUEST_MAX + 1];
	size_t len;
	char *out;			/* the whole answer, head and body */
	size_t out_len, out_off;
};

static void client_free(struct pt_metrics_client *cl)
{
	struct pt_metrics *m = cl->m;

	pt_timer_cancel(m->loop, &cl->timer);
	pt_loop_unwatch(m->loop, &cl->ev);
	close(cl->ev.fd);
	if (cl->prev)
		cl->prev->next = cl->next;
	else
		m->clients = cl->next;
	if (cl->next)
		cl->next->prev = cl->prev;
	m->n_clients--;
	free(cl->out);
	free(cl);
}

static void client_write(struct pt_metrics_client *cl)
{
	ssize_t n;

	while (cl->out_off < cl->out_len) {
		n = send(cl->ev.fd, cl->out + cl->out_off, cl->out_len - cl->out_off,
			 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN) {
			if (pt_loop_watch(cl->m->loop, &cl->ev, EPOLLOUT))
				break;
			return;
		}
		if (n <= 0)
			break;
		cl->out_off += (size_t)n;
	}
	client_free(cl);
}

/* Send status @status with @body (@ctype), or only the head for HEAD. */
static void reply(struct pt_metrics_client *cl, const char *status, const char *extra,
		  const char *ctype, const char *body, size_t body_len, bool head_only)
{
	struct pt_metrics *m = cl->m;
	char head[256];
	int n;

	n = snprintf(head, sizeof(head),
		     "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
		     "Connection: close\r\n\r\n",
		     status, ctype, body_len, extra);
	cl->out_len = (size_t)n + (head_only ? 0 : body_len);
	cl->out = malloc(cl->out_len);
	if (!cl->out) {
		client_free(cl);
		return;
	}
	memcpy(cl->out, head, (size_t)n);
	if (!head_only)
		memcpy(cl->out + n, body, body_len);
	pt_timer_arm(m->loop, &cl->timer, m->loop->now + PT_METRICS_WRITE_MS);
	client_write(cl);
}

static void reply_text(struct pt_metrics_client *cl, const char *status, const char *extra,
		       const char *msg)
{
	reply(cl, status, extra, "text/plain; charset=utf-8", msg, strlen(msg), false);
}

static void reply_metrics(struct pt_metrics_client *cl, bool head_only)
{
	const struct pt_control *ctl = cl->m->ctl;
	struct pt_metrics_src src = {
		.cfg = ctl->cfg, .stats = ctl->stats, .version = ctl->version,
		.n_workers = ctl->n_workers,
	};
	char *text;
	size_t len;

	if (pt_metrics_render(&src, &text, &len)) {
		reply_text(cl, "500 Internal Server Error", "", "out of memory\n");
		return;
	}
	reply(cl, "200 OK", "", "text/plain; version=0.0.4; charset=utf-8", text, len, head_only);
	free(text);
}

/* Is @s an HTTP token of upper-case letters (a method)? */
static bool is_method(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < 'A' || *s > 'Z')
			return false;
	return true;
}

/* Answer the request line "METHOD TARGET HTTP/1.x" (NUL-terminated, no CR/LF). */
static void answer(struct pt_metrics_client *cl, char *line)
{
	char *save = NULL, *method = strtok_r(line, " ", &save),
	     *target = strtok_r(NULL, " ", &save), *version = strtok_r(NULL, " ", &save),
	     *rest = strtok_r(NULL, " ", &save);
	size_t path_len;

	if (!method || !target || !version || rest || !is_method(method) ||
	    strncmp(version, "HTTP/1.", 7) || target[0] != '/') {
		reply_text(cl, "400 Bad Request", "", "bad request\n");
		return;
	}
	if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
		reply_text(cl, "405 Method Not Allowed", "Allow: GET, HEAD\r\n",
			   "only GET and HEAD\n");
		return;
	}
	path_len = strcspn(target, "?");
	if (path_len != strlen("/metrics") || strncmp(target, "/metrics", path_len)) {
		reply_text(cl, "404 Not Found", "", "not found: try /metrics\n");
		return;
	}
	reply_metrics(cl, !strcmp(method, "HEAD"));
}

/* Read what is there; once the head is complete (a blank line), answer. */
static void client_read(struct pt_metrics_client *cl)
{
	ssize_t n;

	for (;;) {
		n = recv(cl->ev.fd, cl->req + cl->len, PT_METRICS_REQUEST_MAX - cl->len,
			 MSG_DONTWAIT);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		if (n <= 0) {
			client_free(cl);
			return;
		}
		cl->len += (size_t)n;
		cl->req[cl->len] = 0;
		if (memchr(cl->req, 0, cl->len)) {
			reply_text(cl, "400 Bad Request", "", "bad request\n");
			return;
		}
		if (strstr(cl->req, "\r\n\r\n") || strstr(cl->req, "\n\n"))
			break;
		if (cl->len == PT_METRICS_REQUEST_MAX) {
			reply_text(cl, "431 Request Header Fields Too Large", "",
				   "request head too large\n");
			return;
		}
	}
	cl->req[strcspn(cl->req, "\r\n")] = 0;
	answer(cl, cl->req);
}

static void client_event(struct pt_ev *ev, uint32_t events)
{
	struct pt_metrics_client *cl = container_of(ev, struct pt_metrics_client, ev);

	if (cl->out)
		client_write(cl);
	else if (events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP))
		client_read(cl);
}

static void client_timeout(struct pt_timer *t)
{
	struct pt_metrics_client *cl = container_of(t, struct pt_metrics_client, timer);

	pr_debug(MAIN, "metrics: client too slow, dropped");
	client_free(cl);
}

static void accept_event(struct pt_ev *ev, uint32_t events)
{
	struct pt_metrics *m = container_of(ev, struct pt_metrics, ev);
	struct pt_metrics_client *cl;
	int fd;

	for (;;) {
		fd = accept4(ev->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN)
				pr_warn(MAIN, "metrics: accept: %s", strerror(errno));
			return;
		}
		cl = m->n_clients < PT_METRICS_CLIENTS_MAX ? calloc(1, sizeof(*cl)) : NULL;
		if (!cl) {
			close(fd);
			continue;
		}
		cl->m = m;
		pt_ev_init(&cl->ev, fd, client_event);
		pt_timer_init(&cl->timer, client_timeout);
		if (pt_loop_watch(m->loop, &cl->ev, EPOLLIN | EPOLLRDHUP)) {
			close(fd);
			free(cl);
			continue;
		}
		cl->next = m->clients;
		if (m->clients)
			m->clients->prev = cl;
		m->clients = cl;
		m->n_clients++;
		pt_timer_arm(m->loop, &cl->timer, m->loop->now + PT_METRICS_READ_MS);
	}
}

/* A listening TCP socket on @cfg's metrics address: the descriptor or -errno. */
static int bind_listen(const struct pt_config *cfg)
{
	const struct pt_sockaddr *sa = &cfg->metrics_addr;
	int fd, one = 1, v6only = cfg->metrics_v6only, err;

	fd = socket(sa->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    (sa->ss.ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only))) ||
	    bind(fd, &sa->ss.sa, sa->len) || listen(fd, 64)) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int pt_metrics_open(struct pt_metrics *m, const struct pt_config *cfg,
		    const struct pt_control *ctl)
{
	int fd = -1;

	memset(m, 0, sizeof(*m));
	m->ctl = ctl;
	if (cfg->metrics_listen[0]) {
		fd = bind_listen(cfg);
		if (fd < 0) {
			pr_err(MAIN, "metrics.listen \"%s\": %s", cfg->metrics_listen,
			       strerror(-fd));
			pt_ev_init(&m->ev, -1, accept_event);
			return fd;
		}
		snprintf(m->listen, sizeof(m->listen), "%s", cfg->metrics_listen);
		pr_info(MAIN, "metrics at http://%s/metrics", cfg->metrics_listen);
	}
	pt_ev_init(&m->ev, fd, accept_event);
	return 0;
}

int pt_metrics_start(struct pt_metrics *m, struct pt_loop *loop)
{
	if (!m)
		return 0;
	m->loop = loop;
	if (m->ev.fd < 0)
		return 0;
	return pt_loop_watch(loop, &m->ev, EPOLLIN);
}

void pt_metrics_reload(const struct pt_metrics *m, const struct pt_config *next)
{
	if (m && strcmp(m->listen, next->metrics_listen))
		pr_warn(CONFIG, "metrics.listen changed from \"%s\" to \"%s\": that takes a restart; "
			"the endpoint stays where it was", m->listen, next->metrics_listen);
}

void pt_metrics_stop(struct pt_metrics *m)
{
	if (!m)
		return;
	while (m->clients)
		client_free(m->clients);
	if (m->ev.fd >= 0) {
		if (m->loop)
			pt_loop_unwatch(m->loop, &m->ev);
		close(m->ev.fd);
		m->ev.fd = -1;
	}
}

void pt_metrics_forget(struct pt_metrics *m)
{
	struct pt_metrics_client *cl, *next;

	if (!m)
		return;
	for (cl = m->clients; cl; cl = next) {
		next = cl->next;
		close(cl->ev.fd);
		free(cl->out);
		free(cl);
	}
	m->clients = NULL;
	m->n_clients = 0;
	if (m->ev.fd >= 0)
		close(m->ev.fd);
	m->ev.fd = -1;
}
