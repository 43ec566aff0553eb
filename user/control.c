// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The control socket (protocol in control.h and README.md). Each client is
 * a small state machine in the owner's event loop: read one line (at most
 * PT_CTL_LINE_MAX bytes within PT_CTL_READ_MS), build the answer, write it
 * without blocking (within PT_CTL_WRITE_MS), close. A reload may answer
 * later: the client then waits, unwatched, until the owner replies.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "control.h"
#include "detect.h"
#include "fsutil.h"
#include "log.h"
#include "pool-dump.h"
#include "stats.h"

#define PT_CTL_LINE_MAX		256
#define PT_CTL_READ_MS		1000
#define PT_CTL_WRITE_MS		2000
#define PT_CTL_CLIENTS_MAX	32
#define PT_CTL_GROUPS_MAX	256	/* supplementary groups of a peer we look at */

struct pt_ctl_client {
	struct pt_ev ev;
	struct pt_timer timer;
	struct pt_control *ctl;
	struct pt_ctl_client *prev, *next;
	char line[PT_CTL_LINE_MAX + 1];
	size_t len;
	char *out;			/* the answer, "\n"-terminated */
	size_t out_len, out_off;
	bool admin;			/* root or control_admin_group: may reload */
	uid_t uid;			/* the peer's, for the refusal */
};

static const struct {
	const char *name;
	const char *help;
} commands[] = {
	{ "version", "daemon version, protocol, instance, pid, workers, config generation" },
	{ "listeners", "listeners with their addresses and limits" },
	{ "routes", "the routing table of the running config generation" },
	{ "stats", "counters per listener and route, data-plane counters" },
	{ "upstreams", "upstream pools: each server's state and counters" },
	{ "reload", "re-read the config file; new connections use it" },
	{ "help", "this list" },
};

cJSON *pt_control_error(const char *fmt, ...)
{
	cJSON *doc = cJSON_CreateObject();
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (doc && !cJSON_AddStringToObject(doc, "error", msg)) {
		cJSON_Delete(doc);
		doc = NULL;
	}
	return doc;
}

cJSON *pt_control_reload_answer(const struct pt_config *cfg, int err, const char *why)
{
	cJSON *doc, *a;
	const char *p = why ? why : "", *nl;
	char line[512];

	if (!err) {
		doc = cJSON_CreateObject();
		if (doc) {
			cJSON_AddStringToObject(doc, "result", "ok");
			cJSON_AddStringToObject(doc, "config", cfg->path);
			cJSON_AddNumberToObject(doc, "generation", cfg->generation);
		}
		return doc;
	}
	doc = pt_control_error("reload of %s failed; generation %u stays in use", cfg->path,
			       cfg->generation);
	a = doc ? cJSON_AddArrayToObject(doc, "messages") : NULL;
	for (; a && *p; p = *nl ? nl + 1 : nl) {
		nl = p + strcspn(p, "\n");
		if (nl == p)
			continue;
		snprintf(line, sizeof(line), "%.*s", (int)(nl - p), p);
		cJSON_AddItemToArray(a, cJSON_CreateString(line));
	}
	return doc;
}

/* --- the socket ---------------------------------------------------------- */

int pt_control_bind(const char *path, pid_t *pid)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t mask;
	int fd, err;

	*pid = 0;
	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	if (!strncmp(path, PT_RUN_DIR "/", strlen(PT_RUN_DIR) + 1) &&
	    mkdir(PT_RUN_DIR, 0755) && errno != EEXIST)
		return -errno;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return -EEXIST;
		err = pt_sock_alive(path, pid);
		if (err)
			return err > 0 ? -EADDRINUSE : err;
		pr_info(MAIN, "control socket %s: replacing a stale one", path);
		if (unlink(path) && errno != ENOENT)
			return -errno;
	}
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -errno;
	/* Anyone may connect: what a peer may ask is decided by its credentials. */
	mask = umask(0111);
	err = bind(fd, (struct sockaddr *)&sun, sizeof(sun)) ? -errno : 0;
	umask(mask);
	if (!err && listen(fd, 16))
		err = -errno;
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

static void client_free(struct pt_ctl_client *cl)
{
	struct pt_control *ctl = cl->ctl;

	pt_timer_cancel(ctl->loop, &cl->timer);
	pt_loop_unwatch(ctl->loop, &cl->ev);
	close(cl->ev.fd);
	if (cl->prev)
		cl->prev->next = cl->next;
	else
		ctl->clients = cl->next;
	if (cl->next)
		cl->next->prev = cl->prev;
	ctl->n_clients--;
	free(cl->out);
	free(cl);
}

/* --- answers ------------------------------------------------------------- */

static cJSON *add_pair(cJSON *obj, const char *name, const uint64_t v[2])
{
	cJSON *o = cJSON_AddObjectToObject(obj, name);

	if (o) {
		cJSON_AddNumberToObject(o, "up", (double)v[PT_DIR_UP]);
		cJSON_AddNumberToObject(o, "down", (double)v[PT_DIR_DOWN]);
	}
	return o;
}

static uint64_t ld64(const uint64_t *v)
{
	return __atomic_load_n(v, __ATOMIC_RELAXED);
}

/* The config as --check prints it, as a cJSON tree. */
static cJSON *config_tree(const struct pt_config *cfg)
{
	char *text = NULL;
	size_t len = 0;
	cJSON *root = NULL;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	if (pt_config_dump(cfg, f) == 0 && fflush(f) == 0)
		root = cJSON_ParseWithLength(text, len);
	fclose(f);
	free(text);
	return root;
}

static cJSON *answer_version(struct pt_control *ctl)
{
	cJSON *doc = cJSON_CreateObject();

	if (!doc)
		return NULL;
	cJSON_AddStringToObject(doc, "passthru", ctl->version);
	cJSON_AddNumberToObject(doc, "protocol", PT_CONTROL_PROTOCOL);
	cJSON_AddNumberToObject(doc, "abi", PT_ABI_VERSION);
	cJSON_AddStringToObject(doc, "instance", ctl->instance);
	cJSON_AddNumberToObject(doc, "pid", ctl->pid);
	cJSON_AddNumberToObject(doc, "workers", ctl->n_workers);
	cJSON_AddStringToObject(doc, "config", ctl->cfg->path);
	cJSON_AddNumberToObject(doc, "generation", ctl->cfg->generation);
	cJSON_AddNumberToObject(doc, "uptime_ms", (double)(pt_now_ms() - ctl->start_ms));
	cJSON_AddStringToObject(doc, "control_socket", ctl->path);
	cJSON_AddStringToObject(doc, "pairs", ctl->pairs);
	return doc;
}

/*
 * The listeners of the dump with their index and effective values (the
 * dump shows timeout_ms only when the file sets it); routes are left out
 * (@with_routes false) or given their index.
 */
static cJSON *dump_listeners(struct pt_control *ctl, bool with_routes)
{
	const struct pt_config *cfg = ctl->cfg;
	cJSON *doc, *tree, *ls, *l, *r;
	int i = 0, k;

	tree = config_tree(cfg);
	ls = cJSON_DetachItemFromObjectCaseSensitive(tree, "listeners");
	cJSON_Delete(tree);
	doc = cJSON_CreateObject();
	if (!ls || !doc) {
		cJSON_Delete(ls);
		cJSON_Delete(doc);
		return NULL;
	}
	cJSON_AddNumberToObject(doc, "generation", cfg->generation);
	cJSON_AddStringToObject(doc, "config", cfg->path);
	cJSON_ArrayForEach(l, ls)
	{
		const struct pt_listener_cfg *lc = &cfg->listeners[i];

		cJSON_AddItemToObject(l, "index", cJSON_CreateNumber(i));
		cJSON_DeleteItemFromObjectCaseSensitive(l, "timeout_ms");
		cJSON_AddNumberToObject(l, "timeout_ms", lc->timeout_ms);
		if (!with_routes) {
			cJSON_DeleteItemFromObjectCaseSensitive(l, "routes");
			cJSON_AddNumberToObject(l, "n_routes", lc->n_routes);
		} else {
			k = 0;
			cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(l, "routes"))
				cJSON_AddNumberToObject(r, "index", k++);
		}
		i++;
	}
	cJSON_AddItemToObject(doc, "listeners", ls);
	return doc;
}

static cJSON *route_stats(const struct pt_route *r, int idx, const struct pt_route_stats *rs)
{
	cJSON *o = cJSON_CreateObject(), *p;
	uint64_t v[2];

	if (!o)
		return NULL;
	cJSON_AddNumberToObject(o, "index", idx);
	cJSON_AddStringToObject(o, "name", r->name);
	cJSON_AddNumberToObject(o, "matched", (double)ld64(&rs->matched));
	cJSON_AddNumberToObject(o, "rejected", (double)ld64(&rs->rejected));
	cJSON_AddNumberToObject(o, "upstream_failures", (double)ld64(&rs->upstream_failures));
	cJSON_AddNumberToObject(o, "connect_errors", (double)ld64(&rs->connect_errors));
	cJSON_AddNumberToObject(o, "connect_timeouts", (double)ld64(&rs->connect_timeouts));
	p = cJSON_AddObjectToObject(o, "relayed");
	if (p) {
		cJSON_AddNumberToObject(p, "splice", (double)ld64(&rs->relayed[PT_PLANE_SPLICE]));
		cJSON_AddNumberToObject(p, "sockmap", (double)ld64(&rs->relayed[PT_PLANE_SOCKMAP]));
		cJSON_AddNumberToObject(p, "copy", (double)ld64(&rs->relayed[PT_PLANE_COPY]));
		cJSON_AddNumberToObject(p, "local", (double)ld64(&rs->relayed[PT_PLANE_LOCAL]));
	}
	cJSON_AddNumberToObject(o, "moves", (double)ld64(&rs->moves));
#define PAIR(name, f)                                  \
	do {                                           \
		v[0] = ld64(&rs->f[0]);                \
		v[1] = ld64(&rs->f[1]);                \
		add_pair(o, name, v);                  \
	} while (0)
	PAIR("bytes", bytes);
	PAIR("kernel_bytes", kernel_bytes);
	PAIR("daemon_bytes", daemon_bytes);
	PAIR("copy_bytes", copy_bytes);
	PAIR("passed", passed);
	PAIR("pass_events", pass_events);
	PAIR("redirect_fail", redirect_fail);
	PAIR("max_queued", max_queued);
#undef PAIR
	return o;
}

static cJSON *listener_stats(const struct pt_listener_cfg *lc, int idx,
			     const struct pt_listener_stats *ls, const struct pt_route_stats *rows,
			     bool rows_valid)
{
	cJSON *o = cJSON_CreateObject(), *p, *routes;
	uint64_t v[2], connect_timeouts = 0;

	if (!o)
		return NULL;
	cJSON_AddNumberToObject(o, "index", idx);
	cJSON_AddStringToObject(o, "name", lc->name);
	cJSON_AddNumberToObject(o, "active", (double)__atomic_load_n(&ls->active,
								       __ATOMIC_RELAXED));
	cJSON_AddNumberToObject(o, "accepted", (double)ld64(&ls->accepted));
	cJSON_AddNumberToObject(o, "over_limit", (double)ld64(&ls->over_limit));
	cJSON_AddNumberToObject(o, "over_source_limit", (double)ld64(&ls->over_source_limit));
	cJSON_AddNumberToObject(o, "untracked_sources", (double)ld64(&ls->untracked_sources));
	cJSON_AddNumberToObject(o, "evicted", (double)ld64(&ls->ended[PT_END_EVICTED]));
	cJSON_AddNumberToObject(o, "rejected", (double)ld64(&ls->ended[PT_END_REJECTED]));
	cJSON_AddNumberToObject(o, "no_route", (double)ld64(&ls->ended[PT_END_NO_ROUTE]));
	cJSON_AddNumberToObject(o, "upstream_failures",
				(double)ld64(&ls->ended[PT_END_UPSTREAM_FAILED]));
	cJSON_AddNumberToObject(o, "detect_rounds", (double)ld64(&ls->detect_rounds));
	p = cJSON_AddObjectToObject(o, "detected");
	for (int i = 0; p && i < PT_PROTO_MAX; i++)
		cJSON_AddNumberToObject(p, pt_proto_name(i), (double)ld64(&ls->detected[i]));
	p = cJSON_AddObjectToObject(o, "ended");
	for (int i = 0; p && i < PT_END_MAX; i++)
		cJSON_AddNumberToObject(p, pt_end_name(i), (double)ld64(&ls->ended[i]));
	v[0] = ld64(&ls->bytes[0]);
	v[1] = ld64(&ls->bytes[1]);
	add_pair(o, "bytes", v);
	routes = cJSON_AddArrayToObject(o, "routes");
	for (int r = 0; routes && r < lc->n_routes && r < PT_MAX_ROUTES; r++) {
		static const struct pt_route_stats zero;
		const struct pt_route_stats *rs = rows_valid ? &rows[r] : &zero;

		connect_timeouts += ld64(&rs->connect_timeouts);
		cJSON_AddItemToArray(routes, route_stats(&lc->routes[r], r, rs));
	}
	p = cJSON_AddObjectToObject(o, "timeouts");
	if (p) {
		cJSON_AddNumberToObject(p, "detect", (double)ld64(&ls->detected[PT_PROTO_NONE]));
		cJSON_AddNumberToObject(p, "connect", (double)connect_timeouts);
		cJSON_AddNumberToObject(p, "idle", (double)ld64(&ls->ended[PT_END_IDLE]));
	}
	return o;
}

static cJSON *answer_stats(struct pt_control *ctl)
{
	const struct pt_config *cfg = ctl->cfg;
	const struct pt_stats *s = ctl->stats;
	uint32_t rgen = __atomic_load_n(&s->route_gen, __ATOMIC_ACQUIRE);
	cJSON *doc = cJSON_CreateObject(), *a;

	if (!doc)
		return NULL;
	cJSON_AddNumberToObject(doc, "generation", cfg->generation);
	cJSON_AddNumberToObject(doc, "route_generation", rgen);
	a = cJSON_AddObjectToObject(doc, "sockmap_budget");
	if (a) {
		cJSON_AddNumberToObject(a, "reserved", (double)ld64(&s->budget.reserved));
		cJSON_AddNumberToObject(a, "squeezed", (double)ld64(&s->budget.squeezed));
		cJSON_AddNumberToObject(a, "refused", (double)ld64(&s->budget.refused));
	}
	a = cJSON_AddArrayToObject(doc, "workers");
	for (int w = 0; a && w < ctl->n_workers && w < PT_MAX_WORKERS; w++) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddNumberToObject(o, "id", w);
		cJSON_AddNumberToObject(o, "generation",
					__atomic_load_n(&s->worker_gen[w], __ATOMIC_RELAXED));
		cJSON_AddItemToArray(a, o);
	}
	a = cJSON_AddArrayToObject(doc, "listeners");
	for (int l = 0; a && l < cfg->n_listeners && l < PT_MAX_LISTENERS; l++)
		cJSON_AddItemToArray(a, listener_stats(&cfg->listeners[l], l, &s->l[l], s->r[l],
						       rgen == cfg->generation));
	return doc;
}

static cJSON *answer_help(void)
{
	cJSON *doc = cJSON_CreateObject(), *o;

	if (!doc)
		return NULL;
	cJSON_AddNumberToObject(doc, "protocol", PT_CONTROL_PROTOCOL);
	o = cJSON_AddObjectToObject(doc, "commands");
	for (size_t i = 0; o && i < sizeof(commands) / sizeof(commands[0]); i++)
		cJSON_AddStringToObject(o, commands[i].name, commands[i].help);
	return doc;
}

/* --- clients -------------------------------------------------------------- */

static void client_write(struct pt_ctl_client *cl)
{
	ssize_t n;

	while (cl->out_off < cl->out_len) {
		n = send(cl->ev.fd, cl->out + cl->out_off, cl->out_len - cl->out_off,
			 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN) {
			if (pt_loop_watch(cl->ctl->loop, &cl->ev, EPOLLOUT))
				break;
			return;
		}
		if (n <= 0)
			break;
		cl->out_off += (size_t)n;
	}
	client_free(cl);
}

void pt_control_reply(struct pt_ctl_client *cl, cJSON *doc)
{
	struct pt_control *ctl = cl->ctl;
	char *text = doc ? cJSON_PrintUnformatted(doc) : NULL;

	cJSON_Delete(doc);
	if (!text)
		text = strdup("{\"error\": \"out of memory\"}");
	if (!text) {
		client_free(cl);
		return;
	}
	cl->out_len = strlen(text);
	cl->out = realloc(text, cl->out_len + 2);
	if (!cl->out) {
		free(text);
		client_free(cl);
		return;
	}
	cl->out[cl->out_len++] = '\n';
	cl->out[cl->out_len] = 0;
	pt_timer_arm(ctl->loop, &cl->timer, ctl->loop->now + PT_CTL_WRITE_MS);
	client_write(cl);
}

/* The answer to an admin command from a peer that may not give it. */
static cJSON *refusal(const struct pt_control *ctl, const struct pt_ctl_client *cl,
		      const char *cmd)
{
	const char *group = ctl->cfg->control_admin_group;

	pr_warn(MAIN, "control: \"%s\" refused to uid %d", cmd, (int)cl->uid);
	return pt_control_error("permission denied: \"%s\" needs root%s%s%s (you are uid %d)", cmd,
				group[0] ? " or group \"" : "", group, group[0] ? "\"" : "",
				(int)cl->uid);
}

static void dispatch(struct pt_ctl_client *cl, const char *cmd)
{
	struct pt_control *ctl = cl->ctl;
	cJSON *doc;

	pr_debug(MAIN, "control: %s", cmd);
	if (!strcmp(cmd, "reload") && !cl->admin) {
		pt_control_reply(cl, refusal(ctl, cl, cmd));
		return;
	}
	if (!strcmp(cmd, "reload")) {
		/*
		 * The owner answers, maybe later: out of epoll meanwhile (a
		 * hang-up would otherwise be reported again and again).
		 */
		pt_loop_unwatch(ctl->loop, &cl->ev);
		pt_timer_cancel(ctl->loop, &cl->timer);
		ctl->reload(cl, ctl->reload_arg);
		return;
	}
	if (!strcmp(cmd, "version"))
		doc = answer_version(ctl);
	else if (!strcmp(cmd, "listeners"))
		doc = dump_listeners(ctl, false);
	else if (!strcmp(cmd, "routes"))
		doc = dump_listeners(ctl, true);
	else if (!strcmp(cmd, "stats"))
		doc = answer_stats(ctl);
	else if (!strcmp(cmd, "upstreams"))
		doc = pt_pool_answer(ctl->cfg, &ctl->stats->pools, ctl->loop->now);
	else if (!strcmp(cmd, "help"))
		doc = answer_help();
	else
		doc = pt_control_error("unknown command \"%.64s\" (try \"help\")", cmd);
	pt_control_reply(cl, doc);
}

/* Read what is there; at a complete line, answer it. */
static void client_read(struct pt_ctl_client *cl)
{
	char *nl;
	ssize_t n;

	for (;;) {
		n = recv(cl->ev.fd, cl->line + cl->len, PT_CTL_LINE_MAX - cl->len, MSG_DONTWAIT);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		if (n <= 0) {
			/* EOF without a newline: take what came as the command. */
			if (n == 0 && cl->len)
				break;
			client_free(cl);
			return;
		}
		cl->len += (size_t)n;
		cl->line[cl->len] = 0;
		if (memchr(cl->line, '\n', cl->len))
			break;
		if (cl->len == PT_CTL_LINE_MAX) {
			pt_control_reply(cl, pt_control_error("command line longer than %d bytes",
							      PT_CTL_LINE_MAX));
			return;
		}
	}
	nl = strchr(cl->line, '\n');
	if (nl)
		*nl = 0;
	for (size_t i = strlen(cl->line); i && (cl->line[i - 1] == '\r' || cl->line[i - 1] == ' ' ||
						cl->line[i - 1] == '\t');
	     i--)
		cl->line[i - 1] = 0;
	dispatch(cl, cl->line + strspn(cl->line, " \t"));
}

static void client_event(struct pt_ev *ev, uint32_t events)
{
	struct pt_ctl_client *cl = container_of(ev, struct pt_ctl_client, ev);

	if (cl->out)
		client_write(cl);
	else
		client_read(cl);
}

static void client_timeout(struct pt_timer *t)
{
	struct pt_ctl_client *cl = container_of(t, struct pt_ctl_client, timer);

	pr_debug(MAIN, "control: client too slow, dropped");
	client_free(cl);
}

/* Is a supplementary group of the peer on @fd @gid? (SO_PEERGROUPS, Linux 4.13) */
static bool peer_in_group(int fd, gid_t gid)
{
	gid_t groups[PT_CTL_GROUPS_MAX];
	socklen_t len = sizeof(groups);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len))
		return false;
	for (size_t i = 0; i < len / sizeof(groups[0]); i++)
		if (groups[i] == gid)
			return true;
	return false;
}

/*
 * May the peer on @fd give admin commands (SO_PEERCRED, taken at connect)?
 * Root may; so may a member of @cfg's control_admin_group, by its primary
 * or a supplementary group. *uid gets the peer's uid.
 */
static bool peer_is_admin(int fd, const struct pt_config *cfg, uid_t *uid)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	*uid = (uid_t)-1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len))
		return false;
	*uid = cred.uid;
	if (cred.uid == 0)
		return true;
	if (!cfg->control_admin_group[0])
		return false;
	return cred.gid == cfg->control_admin_gid || peer_in_group(fd, cfg->control_admin_gid);
}

static void accept_event(struct pt_ev *ev, uint32_t events)
{
	struct pt_control *ctl = container_of(ev, struct pt_control, ev);
	struct pt_ctl_client *cl;
	int fd;

	for (;;) {
		fd = accept4(ev->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN)
				pr_warn(MAIN, "control socket: accept: %s", strerror(errno));
			return;
		}
		cl = ctl->n_clients < PT_CTL_CLIENTS_MAX ? calloc(1, sizeof(*cl)) : NULL;
		if (!cl) {
			close(fd);
			continue;
		}
		cl->ctl = ctl;
		cl->admin = peer_is_admin(fd, ctl->cfg, &cl->uid);
		pt_ev_init(&cl->ev, fd, client_event);
		pt_timer_init(&cl->timer, client_timeout);
		if (pt_loop_watch(ctl->loop, &cl->ev, EPOLLIN | EPOLLRDHUP)) {
			close(fd);
			free(cl);
			continue;
		}
		cl->next = ctl->clients;
		if (ctl->clients)
			ctl->clients->prev = cl;
		ctl->clients = cl;
		ctl->n_clients++;
		pt_timer_arm(ctl->loop, &cl->timer, ctl->loop->now + PT_CTL_READ_MS);
	}
}

void pt_control_init(struct pt_control *ctl, int fd, const char *path)
{
	struct stat st;

	ctl->loop = NULL;
	ctl->clients = NULL;
	ctl->n_clients = 0;
	pt_ev_init(&ctl->ev, fd, accept_event);
	snprintf(ctl->path, sizeof(ctl->path), "%s", fd >= 0 ? path : "");
	if (fd >= 0 && stat(path, &st) == 0) {
		ctl->dev = st.st_dev;
		ctl->ino = st.st_ino;
	}
}

/* Give the socket we bound at @path to @uid:@gid, if it is still ours. */
static void chown_socket(const struct pt_control *ctl, uid_t uid, gid_t gid)
{
	struct stat st;

	if (lstat(ctl->path, &st) == 0 && st.st_dev == ctl->dev && st.st_ino == ctl->ino &&
	    lchown(ctl->path, uid, gid))
		pr_warn(MAIN, "control socket %s: chown: %s", ctl->path, strerror(errno));
}

/*
 * Open the control socket: the config's control_socket, else
 * /run/passthru/<instance>.sock. Another live passthru on it, or a
 * directory other users could change, is an error; any other failure only
 * costs passthru-ctl its answers, so it is a warning.
 */
int pt_control_open(struct pt_control *ctl, struct pt_config *cfg, const char *instance,
		    uid_t uid, gid_t gid)
{
	char path[PT_CONTROL_PATH_MAX], why[PT_CONTROL_PATH_MAX + 96];
	pid_t pid;
	int fd;

	if (cfg->control_socket[0])
		snprintf(path, sizeof(path), "%s", cfg->control_socket);
	else
		pt_control_path(path, sizeof(path), instance);
	if (pt_dir_check_private(path, uid, why, sizeof(why)) == -EPERM) {
		pr_err(MAIN, "control socket %s: refused: %s; use a directory only root%s can write",
		       path, why, uid ? " or the user" : "");
		return -EPERM;
	}
	fd = pt_control_bind(path, &pid);
	if (fd == -EADDRINUSE) {
		pr_err(MAIN, "control socket %s: in use by a running passthru (pid %d); "
		       "use another --instance or control_socket", path, pid);
		return fd;
	}
	if (fd < 0)
		pr_warn(MAIN, "control socket %s: %s; passthru-ctl will not reach this instance",
			path, strerror(-fd));
	else
		pr_info(MAIN, "control socket %s", path);
	pt_control_init(ctl, fd, path);
	if (fd >= 0 && uid)
		chown_socket(ctl, uid, gid);
	ctl->cfg = cfg;
	ctl->instance = instance;
	ctl->pid = getpid();
	ctl->start_ms = pt_now_ms();
	return 0;
}

int pt_control_start(struct pt_control *ctl, struct pt_loop *loop)
{
	ctl->loop = loop;
	if (ctl->ev.fd < 0)
		return 0;
	return pt_loop_watch(loop, &ctl->ev, EPOLLIN);
}

void pt_control_stop(struct pt_control *ctl, bool unlink_it)
{
	struct stat st;

	while (ctl->clients)
		client_free(ctl->clients);
	if (ctl->ev.fd >= 0) {
		if (ctl->loop)
			pt_loop_unwatch(ctl->loop, &ctl->ev);
		close(ctl->ev.fd);
		ctl->ev.fd = -1;
	}
	if (unlink_it && ctl->path[0] && lstat(ctl->path, &st) == 0 && st.st_dev == ctl->dev &&
	    st.st_ino == ctl->ino)
		unlink(ctl->path);
	if (unlink_it)
		ctl->path[0] = 0;
}

void pt_control_forget(struct pt_control *ctl)
{
	struct pt_ctl_client *cl, *next;

	for (cl = ctl->clients; cl; cl = next) {
		next = cl->next;
		close(cl->ev.fd);
		free(cl->out);
		free(cl);
	}
	ctl->clients = NULL;
	ctl->n_clients = 0;
	if (ctl->ev.fd >= 0)
		close(ctl->ev.fd);
	ctl->ev.fd = -1;
	ctl->path[0] = 0;
	ctl->loop = NULL;
}
