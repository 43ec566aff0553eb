// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * passthru: command line, config, listening sockets, and the master that
 * runs the workers. With -w 1 (the default) the process is its own worker;
 * with -w N it forks N workers, forwards signals to them and restarts any
 * that dies.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include "bpf_loader.h"
#include "config.h"
#include "control.h"
#include "log.h"
#include "pairs.h"
#include "privs.h"
#include "sources.h"
#include "stats.h"
#include "worker.h"

#define PT_VERSION	"0.1.0"
#define PT_BACKLOG	4096
#define PT_RESPAWN_MS	1000	/* pause before a dead worker is replaced */
#define PT_RELOAD_WAIT_MS 5000	/* "reload" waits this long for the workers */
#define PT_RELOAD_POLL_MS 10

struct pt_opts {
	const char *config;
	int workers;
	unsigned int timeout_ms;
	int verbose;
	bool check;
	bool force_dp;
	enum pt_data_plane dp;
	const char *instance;
	char instance_buf[32];
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: passthru -c FILE [-w WORKERS] [-t DETECT_TIMEOUT_MS] [-v...] [--check]\n"
		"                [--data-plane auto|sockmap|splice] [--instance NAME]\n"
		"\n"
		"  -c, --config FILE    config file (native or legacy Go-passthru JSON)\n"
		"  -w, --workers N      worker processes sharing each listener (default 1)\n"
		"  -t, --timeout MS     detection deadline for listeners without timeout_ms (default %d)\n"
		"  -v, --verbose        more logging (-v debug, -vv trace)\n"
		"      --check          validate the config, print the routing table, exit\n"
		"  -d, --data-plane DP  use DP on every listener, whatever the config says\n"
		"  -i, --instance NAME  name of the BPF pin directory /sys/fs/bpf/passthru/NAME\n"
		"                       (default: the config file name without .json)\n"
		"  -h, --help           this text\n"
		"  -V, --version        print the version\n",
		PT_DEF_DETECT_TIMEOUT_MS);
}

/* Parse a decimal number in [min, max]; -1 if it is not one. */
static long parse_num(const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -1;
	return v;
}

/* "/etc/passthru/front.json" -> "front"; characters outside [A-Za-z0-9_.-] become '_'. */
static const char *default_instance(const char *path, char *buf, size_t size)
{
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	size_t n = 0;

	for (; *base && n + 1 < size; base++, n++) {
		if (!strcmp(base, ".json"))
			break;
		buf[n] = pt_instance_name_ok((char[]){ *base, 0 }) || *base == '.' ? *base : '_';
	}
	buf[n] = 0;
	if (!n || buf[0] == '.')
		snprintf(buf, size, "default");
	return buf;
}

static int parse_args(int argc, char **argv, struct pt_opts *o)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "workers", required_argument, NULL, 'w' },
		{ "timeout", required_argument, NULL, 't' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "check", no_argument, NULL, 'C' },
		{ "data-plane", required_argument, NULL, 'd' },
		{ "instance", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{},
	};
	long v;
	int opt;

	o->workers = 1;
	while ((opt = getopt_long(argc, argv, "c:w:t:vd:i:hV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			o->config = optarg;
			break;
		case 'w':
			v = parse_num(optarg, 1, PT_MAX_WORKERS);
			if (v < 0) {
				fprintf(stderr, "passthru: -w: expected 1..%d, got \"%s\"\n",
					PT_MAX_WORKERS, optarg);
				return -EINVAL;
			}
			o->workers = v;
			break;
		case 't':
			v = parse_num(optarg, 1, 3600000);
			if (v < 0) {
				fprintf(stderr, "passthru: -t: expected milliseconds 1..3600000, got \"%s\"\n",
					optarg);
				return -EINVAL;
			}
			o->timeout_ms = v;
			break;
		case 'v':
			o->verbose++;
			break;
		case 'C':
			o->check = true;
			break;
		case 'd':
			v = pt_data_plane_from_name(optarg);
			if (v < 0) {
				fprintf(stderr, "passthru: --data-plane: expected auto, sockmap or splice, got \"%s\"\n",
					optarg);
				return -EINVAL;
			}
			o->force_dp = true;
			o->dp = v;
			break;
		case 'i':
			if (!pt_instance_name_ok(optarg)) {
				fprintf(stderr, "passthru: --instance: \"%s\" is not 1-31 of [A-Za-z0-9_.-]\n",
					optarg);
				return -EINVAL;
			}
			o->instance = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("passthru %s\n", PT_VERSION);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "passthru: unexpected argument \"%s\"\n", argv[optind]);
		return -EINVAL;
	}
	if (!o->config) {
		fprintf(stderr, "passthru: no config file: use -c FILE\n");
		usage(stderr);
		return -EINVAL;
	}
	if (!o->instance)
		o->instance = default_instance(o->config, o->instance_buf, sizeof(o->instance_buf));
	return 0;
}

static int count_routes(const struct pt_config *cfg)
{
	int n = 0;

	for (int i = 0; i < cfg->n_listeners; i++)
		n += cfg->listeners[i].n_routes;
	return n;
}

/* --- listening sockets ------------------------------------------------- */

static int open_listen_socket(const struct pt_listen_addr *la, bool reuseport)
{
	int fd, one = 1, v6only = la->v6only;

	fd = socket(la->addr.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)))
		goto err;
	if (la->addr.ss.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)))
		goto err;
	if (bind(fd, (const struct sockaddr *)&la->addr.ss, la->addr.len))
		goto err;
	if (listen(fd, PT_BACKLOG))
		goto err;
	return fd;
err:
	one = -errno;
	close(fd);
	return one;
}

/*
 * Bind every listen address once per worker. With several workers the
 * sockets share the port through SO_REUSEPORT; a first plain bind proves
 * that no other process already holds it (SO_REUSEPORT would otherwise let
 * a second passthru silently steal half of the connections).
 */
static int open_listeners(const struct pt_config *cfg, int workers, struct pt_listen_set *sets)
{
	int total = 0, err;

	for (int i = 0; i < cfg->n_listeners; i++)
		total += cfg->listeners[i].n_listen;
	for (int w = 0; w < workers; w++) {
		sets[w].fds = calloc(total, sizeof(int));
		sets[w].lidx = calloc(total, sizeof(int));
		sets[w].aidx = calloc(total, sizeof(int));
		if (!sets[w].fds || !sets[w].lidx || !sets[w].aidx)
			return -ENOMEM;
	}
	for (int i = 0; i < cfg->n_listeners; i++) {
		const struct pt_listener_cfg *l = &cfg->listeners[i];

		for (int a = 0; a < l->n_listen; a++) {
			if (workers > 1) {
				err = open_listen_socket(&l->listen[a], false);
				if (err < 0)
					goto fail;
				close(err);
			}
			for (int w = 0; w < workers; w++) {
				err = open_listen_socket(&l->listen[a], workers > 1);
				if (err < 0)
					goto fail;
				sets[w].fds[sets[w].n] = err;
				sets[w].lidx[sets[w].n] = i;
				sets[w].aidx[sets[w].n] = a;
				sets[w].n++;
			}
			pr_info(MAIN, "listener %s: listening on %s", l->name, l->listen[a].spec);
			continue;
fail:
			pr_err(MAIN, "listener %s: cannot listen on %s: %s", l->name,
			       l->listen[a].spec, strerror(-err));
			return err;
		}
	}
	return 0;
}

static void close_set(struct pt_listen_set *set)
{
	for (int i = 0; i < set->n; i++)
		if (set->fds[i] >= 0)
			close(set->fds[i]);
	set->n = 0;
}

static void free_sets(struct pt_listen_set *sets, int workers)
{
	for (int w = 0; w < workers; w++) {
		close_set(&sets[w]);
		free(sets[w].fds);
		free(sets[w].lidx);
		free(sets[w].aidx);
	}
}

/* --- master ------------------------------------------------------------ */

/*
 * With -w N the master holds the config for everyone: it serves the control
 * socket, reloads its own copy and tells the workers to reload theirs with
 * sigqueue(SIGHUP, generation), so that all of them agree on the number.
 */
struct pt_master {
	struct pt_opts *o;
	struct pt_worker_args args;	/* template; id and set filled per worker */
	struct pt_listen_set *sets;
	pid_t pids[PT_MAX_WORKERS];
	struct pt_loop loop;
	struct pt_ev sig;		/* signalfd */
	struct pt_timer respawn;
	struct pt_control *ctl;
	struct pt_ctl_client *reload_cl;	/* waiting for the workers to apply: */
	unsigned int reload_gen;		/* this generation */
	uint64_t reload_deadline;
	struct pt_timer reload_wait;
	bool stopping;
};

static pid_t spawn_worker(struct pt_master *m, int id)
{
	char tag[16];
	pid_t pid = fork();
	int rc;

	if (pid)
		return pid;
	/* Child: keep only this worker's sockets; nothing of the master's loop. */
	for (int w = 0; w < m->o->workers; w++)
		if (w != id)
			close_set(&m->sets[w]);
	pt_control_forget(m->ctl);
	close(m->sig.fd);
	close(m->loop.epfd);
	snprintf(tag, sizeof(tag), "w%d", id);
	pt_log_set_tag(tag);
	m->args.id = id;
	m->args.set = &m->sets[id];
	m->args.ctl = NULL;
	rc = pt_worker_run(&m->args);
	_exit(rc);
}

static void forward_signal(struct pt_master *m, int signo)
{
	for (int w = 0; w < m->o->workers; w++)
		if (m->pids[w] > 0)
			kill(m->pids[w], signo);
}

static int live_workers(const struct pt_master *m)
{
	int n = 0;

	for (int w = 0; w < m->o->workers; w++)
		n += m->pids[w] > 0;
	return n;
}

static void respawn_workers(struct pt_timer *t)
{
	struct pt_master *m = container_of(t, struct pt_master, respawn);

	for (int w = 0; w < m->o->workers && !m->stopping; w++) {
		if (m->pids[w])
			continue;
		m->pids[w] = spawn_worker(m, w);
		if (m->pids[w] < 0) {
			pr_err(MAIN, "fork worker %d: %s", w, strerror(errno));
			m->pids[w] = 0;
			pt_timer_arm(&m->loop, &m->respawn, m->loop.now + PT_RESPAWN_MS);
		}
	}
}

/* A worker exited: log it, and restart it a moment later unless we are stopping. */
/*
 * Give back what a dead worker held in state shared with the others: its
 * open-connection counts, its per-source counts (and the table lock if it
 * died holding it), its pair slots and their map entries.
 */
static void forget_worker(struct pt_master *m, int w, pid_t pid)
{
	pt_stats_forget_worker(m->args.stats, w);
	if (m->args.sources)
		pt_sources_forget_worker(m->args.sources, w, pid);
	pt_pairs_reclaim(m->args.pairs, m->args.n_slots, m->o->workers, w, m->args.bpf);
}

static void reap_workers(struct pt_master *m)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (int w = 0; w < m->o->workers; w++) {
			if (m->pids[w] != pid)
				continue;
			m->pids[w] = 0;
			forget_worker(m, w, pid);
			if (m->stopping)
				break;
			if (WIFSIGNALED(status))
				pr_err(MAIN, "worker %d (pid %d) killed by %s; restarting it", w, pid,
				       strsignal(WTERMSIG(status)));
			else
				pr_err(MAIN, "worker %d (pid %d) exited with %d; restarting it", w,
				       pid, WEXITSTATUS(status));
			pt_timer_arm(&m->loop, &m->respawn, m->loop.now + PT_RESPAWN_MS);
		}
	}
}

/* Workers that run an older generation than the one being applied, as "0 2". */
static int lagging_workers(const struct pt_master *m, char *buf, size_t size)
{
	int n = 0, len = 0;

	buf[0] = 0;
	for (int w = 0; w < m->o->workers; w++) {
		unsigned int g = __atomic_load_n(&m->args.stats->worker_gen[w], __ATOMIC_ACQUIRE);

		if (m->pids[w] <= 0 || (int)(g - m->reload_gen) >= 0)
			continue;
		if (len < (int)size)
			len += snprintf(buf + len, size - len, "%s%d", n ? " " : "", w);
		n++;
	}
	return n;
}

/* Answer the pending "reload" once every worker runs the new generation. */
static void reload_poll(struct pt_timer *t)
{
	struct pt_master *m = container_of(t, struct pt_master, reload_wait);
	struct pt_ctl_client *cl = m->reload_cl;
	char late[256];
	cJSON *doc;

	if (!cl)
		return;
	if (lagging_workers(m, late, sizeof(late))) {
		if (m->loop.now < m->reload_deadline) {
			pt_timer_arm(&m->loop, &m->reload_wait, m->loop.now + PT_RELOAD_POLL_MS);
			return;
		}
		doc = pt_control_error("generation %u loaded, but worker(s) %s did not apply it "
				       "within %d ms (see the log)",
				       m->reload_gen, late, PT_RELOAD_WAIT_MS);
	} else {
		doc = pt_control_reload_answer(m->ctl->cfg, 0, NULL);
		if (doc)
			cJSON_AddNumberToObject(doc, "workers", live_workers(m));
	}
	m->reload_cl = NULL;
	pt_control_reply(cl, doc);
}

/*
 * Reload for a control client @cl or for SIGHUP (@cl NULL). The master
 * validates the file itself (its answer is the client's), then sends every
 * worker SIGHUP with the generation: each worker re-reads the file and
 * applies it, or refuses it and logs why, as it would for its own SIGHUP.
 */
static void master_reload(struct pt_ctl_client *cl, void *arg)
{
	struct pt_master *m = arg;
	struct pt_config *cur = m->args.cfg, *next;
	unsigned int gen = cur->generation + 1;
	char *why = NULL;

	if (cl && m->reload_cl) {
		pt_control_reply(cl, pt_control_error("a reload is already in progress"));
		return;
	}
	next = pt_worker_next_config(cur, m->args.copts, gen, &why);
	for (int w = 0; w < m->o->workers; w++)
		if (m->pids[w] > 0)
			sigqueue(m->pids[w], SIGHUP, (union sigval){ .sival_int = (int)gen });
	if (!next) {
		pr_err(CONFIG, "reload of %s failed; the master stays at generation %u", cur->path,
		       cur->generation);
		if (cl)
			pt_control_reply(cl, pt_control_reload_answer(cur, -EINVAL, why));
		free(why);
		return;
	}
	free(why);
	/* Restarted workers start from this one. */
	m->args.cfg = next;
	m->ctl->cfg = next;
	pt_config_put(cur);
	pt_stats_routes_reset(m->args.stats, gen, next->n_listeners);
	pr_info(CONFIG, "%s: generation %u loaded; telling %d workers to re-read it", next->path,
		gen, live_workers(m));
	if (!cl)
		return;
	m->reload_cl = cl;
	m->reload_gen = gen;
	m->reload_deadline = m->loop.now + PT_RELOAD_WAIT_MS;
	reload_poll(&m->reload_wait);
}

static void begin_stop(struct pt_master *m, int signo)
{
	if (!m->stopping) {
		/* Stop the kernel from queueing new connections on our sockets. */
		for (int w = 0; w < m->o->workers; w++)
			close_set(&m->sets[w]);
	}
	m->stopping = true;
	pt_timer_cancel(&m->loop, &m->respawn);
	forward_signal(m, signo);
}

static void master_signal(struct pt_ev *ev, uint32_t events)
{
	struct pt_master *m = container_of(ev, struct pt_master, sig);
	struct signalfd_siginfo si;

	while (read(ev->fd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			reap_workers(m);
			break;
		case SIGHUP:
			master_reload(NULL, m);
			break;
		default:
			begin_stop(m, si.ssi_signo);
			break;
		}
	}
}

static int master_setup(struct pt_master *m)
{
	sigset_t set;
	int fd, err;

	/* Workers inherit the blocked mask and read the same signals from their own signalfd. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd == -1)
		return -errno;
	pt_ev_init(&m->sig, fd, master_signal);
	err = pt_loop_watch(&m->loop, &m->sig, EPOLLIN);
	if (err)
		return err;
	pt_timer_init(&m->respawn, respawn_workers);
	pt_timer_init(&m->reload_wait, reload_poll);
	m->ctl->cfg = m->args.cfg;
	m->ctl->reload = master_reload;
	m->ctl->reload_arg = m;
	return pt_control_start(m->ctl, &m->loop);
}

static int run_master(struct pt_master *m)
{
	int err;

	m->sig.fd = -1;
	err = pt_loop_init(&m->loop);
	if (!err)
		err = master_setup(m);
	if (err) {
		pr_err(MAIN, "master: setup: %s", strerror(-err));
		goto out;
	}
	for (int w = 0; w < m->o->workers; w++) {
		m->pids[w] = spawn_worker(m, w);
		if (m->pids[w] < 0) {
			pr_err(MAIN, "fork worker %d: %s", w, strerror(errno));
			m->pids[w] = 0;
			pt_timer_arm(&m->loop, &m->respawn, m->loop.now + PT_RESPAWN_MS);
		}
	}
	pr_info(MAIN, "running %d workers", m->o->workers);
	while (live_workers(m) || !m->stopping) {
		err = pt_loop_run_once(&m->loop, -1);
		if (err && err != -EINTR) {
			pr_err(MAIN, "master: event loop: %s", strerror(-err));
			begin_stop(m, SIGTERM);
			break;
		}
		err = 0;
	}
	while (live_workers(m) && waitpid(-1, NULL, 0) > 0)
		;
	if (m->reload_cl)
		pt_control_reply(m->reload_cl, pt_control_error("passthru is stopping"));
	m->reload_cl = NULL;
	pr_info(MAIN, "all workers exited");
out:
	pt_control_stop(m->ctl, false);
	if (m->sig.fd >= 0)
		close(m->sig.fd);
	pt_loop_fini(&m->loop);
	return err ? 1 : 0;
}

/* Does any listener want the kernel data plane? */
static bool wants_sockmap(const struct pt_config *cfg, bool *required)
{
	bool any = false;

	*required = false;
	for (int i = 0; i < cfg->n_listeners; i++) {
		any |= cfg->listeners[i].data_plane != PT_DP_SPLICE;
		*required |= cfg->listeners[i].data_plane == PT_DP_SOCKMAP;
	}
	return any;
}

/* Pair slots: room for every listener's max_connections (0 counts as 65536). */
static uint32_t slot_count(const struct pt_config *cfg, int workers)
{
	uint64_t n = 0;

	for (int i = 0; i < cfg->n_listeners; i++)
		n += cfg->listeners[i].max_connections ? cfg->listeners[i].max_connections : 65536;
	if (n > (1u << 20))
		n = 1u << 20;
	if (n < 64)
		n = 64;
	return (uint32_t)((n + workers - 1) / workers * workers);
}

/*
 * Load the kernel data plane if the config wants it. 0 with *bpf NULL means
 * splice everywhere; an error only when a listener insists on sockmap.
 */
static int load_bpf(const struct pt_opts *o, const struct pt_config *cfg, struct pt_bpf *b,
		    struct pt_bpf **out)
{
	const char *why;
	bool required;
	int err;

	*out = NULL;
	if (!wants_sockmap(cfg, &required))
		return 0;
	err = pt_bpf_open(b, o->instance, slot_count(cfg, o->workers), o->workers, &why);
	if (err) {
		if (err == -EBUSY) {
			pr_err(BPF, "instance %s: %s", o->instance, why);
			return err;
		}
		if (required) {
			pr_err(BPF, "data_plane sockmap: cannot load the kernel data plane: %s (%s)",
			       why, strerror(-err));
			return err;
		}
		pr_warn(BPF, "kernel data plane unavailable: %s (%s); relaying with splice", why,
			strerror(-err));
		return 0;
	}
	pr_info(BPF, "kernel data plane loaded: %u pair slots, pinned at %s", b->n_slots,
		b->pin_dir);
	*out = b;
	return 0;
}

/*
 * Without the kernel maps, the pair slots live in a file on tmpfs, mapped
 * shared before the fork: a struct pt_meta, then n_slots struct pt_pair
 * right after it. passthru-ctl reads it as it reads the pinned maps.
 */
struct pt_pairs_file {
	char path[PT_CONTROL_PATH_MAX];
	void *map;
	size_t len;
};

static struct pt_pair *open_pairs_file(const struct pt_opts *o, uint32_t n_slots,
				       struct pt_pairs_file *pf)
{
	struct pt_meta *m;
	struct timespec ts;
	int fd, err;

	snprintf(pf->path, sizeof(pf->path), "%s/%s.pairs", PT_CONTROL_DIR, o->instance);
	pf->len = sizeof(struct pt_meta) + (size_t)n_slots * sizeof(struct pt_pair);
	if (mkdir(PT_CONTROL_DIR, 0755) && errno != EEXIST)
		goto fail;
	fd = open(pf->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1)
		goto fail;
	if (ftruncate(fd, (off_t)pf->len)) {
		err = errno;
		close(fd);
		errno = err;
		goto fail_unlink;
	}
	pf->map = mmap(NULL, pf->len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	err = errno;
	close(fd);
	errno = err;
	if (pf->map == MAP_FAILED)
		goto fail_unlink;
	m = pf->map;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	*m = (struct pt_meta){
		.magic = PT_META_MAGIC,
		.abi = PT_ABI_VERSION,
		.pair_size = sizeof(struct pt_pair),
		.n_slots = n_slots,
		.n_workers = o->workers,
		.pid = getpid(),
		.start_ns = (__u64)ts.tv_sec * 1000000000ull + ts.tv_nsec,
	};
	snprintf(m->instance, sizeof(m->instance), "%s", o->instance);
	pr_info(MAIN, "%u pair slots in %s", n_slots, pf->path);
	return (struct pt_pair *)(m + 1);
fail_unlink:
	unlink(pf->path);
fail:
	pr_warn(MAIN, "%s: %s; passthru-ctl status will not list connections", pf->path,
		strerror(errno));
	pf->map = NULL;
	pf->path[0] = 0;
	return NULL;
}

static void close_pairs_file(struct pt_pairs_file *pf)
{
	if (pf->map)
		munmap(pf->map, pf->len);
	if (pf->path[0])
		unlink(pf->path);
	pf->map = NULL;
	pf->path[0] = 0;
}

/*
 * Open the control socket: the config's control_socket, else
 * /run/passthru/<instance>.sock. Another live passthru on it is an error
 * (two daemons would claim one instance); any other failure only costs
 * passthru-ctl its answers, so it is a warning.
 */
static int open_control(const struct pt_opts *o, const struct pt_config *cfg,
			struct pt_control *ctl)
{
	char path[PT_CONTROL_PATH_MAX];
	pid_t pid;
	int fd;

	if (cfg->control_socket[0])
		snprintf(path, sizeof(path), "%s", cfg->control_socket);
	else
		snprintf(path, sizeof(path), "%s/%s.sock", PT_CONTROL_DIR, o->instance);
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
	return 0;
}

/*
 * Hold SIGTERM, SIGINT and SIGHUP from the start: they wait until the
 * worker (or master) reads them from its signalfd, so a signal during
 * start-up still ends in a clean stop that removes the pins.
 */
static void block_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
}

int main(int argc, char **argv)
{
	struct pt_listen_set sets[PT_MAX_WORKERS] = {};
	struct pt_opts o = {};
	struct pt_config_opts copts = { .prog = "passthru" };
	struct pt_master m = { .o = &o };
	struct pt_control ctl = { .ev.fd = -1 };
	struct pt_pairs_file pf = {};
	struct pt_pair *slots;
	uint32_t n_slots;
	struct pt_bpf bpf_store, *bpf = NULL;
	struct pt_config *cfg;
	struct pt_stats *stats = NULL;
	struct pt_sources *sources = NULL;
	char pairs[sizeof(bpf_store.pin_dir) + 32] = "";
	int err, rc = 1;

	if (parse_args(argc, argv, &o))
		return 2;
	block_signals();
	pt_log_set_level(PT_LOG_INFO + (o.verbose > 2 ? 2 : o.verbose));
	copts.default_timeout_ms = o.timeout_ms;
	copts.fd_limit = pt_config_raise_fds();
	copts.workers = o.workers;
	copts.force_data_plane = o.force_dp;
	copts.data_plane = o.dp;
	cfg = pt_config_load(o.config, &copts, stderr);
	if (!cfg)
		return 2;
	if (o.check) {
		pt_config_dump(cfg, stdout);
		fprintf(stderr, "passthru: %s: OK (%s format, %d listeners, %d routes)\n", o.config,
			cfg->legacy ? "legacy" : "native", cfg->n_listeners, count_routes(cfg));
		pt_config_put(cfg);
		return 0;
	}

	signal(SIGPIPE, SIG_IGN);
	err = pt_config_check_fds(cfg, o.workers);
	if (err)
		goto out;
	stats = pt_stats_create();
	sources = pt_sources_create(o.workers);
	if (!stats || !sources) {
		pr_err(MAIN, "shared counters: %s", strerror(errno));
		goto out;
	}
	err = open_listeners(cfg, o.workers, sets);
	if (err)
		goto out;
	err = load_bpf(&o, cfg, &bpf_store, &bpf);
	if (err)
		goto out;
	err = open_control(&o, cfg, &ctl);
	if (err)
		goto out;
	if (bpf) {
		snprintf(pairs, sizeof(pairs), "%s/%s", bpf->pin_dir, PT_STR(PT_MAP_PAIRS));
		slots = bpf->pairs;
		n_slots = bpf->n_slots;
	} else {
		n_slots = slot_count(cfg, o.workers);
		slots = open_pairs_file(&o, n_slots, &pf);
		snprintf(pairs, sizeof(pairs), "%s", pf.path);
	}
	ctl.version = PT_VERSION;
	ctl.instance = o.instance;
	ctl.pairs = pairs;
	ctl.n_workers = o.workers;
	ctl.pid = getpid();
	ctl.start_ms = pt_now_ms();
	ctl.stats = stats;
	ctl.cfg = cfg;
	if (cfg->user[0]) {
		const char *cleanup[] = { bpf ? bpf->pin_dir : "", ctl.path, pf.path, NULL };

		err = pt_privs_drop(cfg->user, bpf != NULL, cleanup);
		if (err)
			goto out;
		if (access(o.config, R_OK))
			pr_warn(CONFIG, "user %s cannot read %s: reloads will fail", cfg->user,
				o.config);
	}
	pr_info(MAIN, "passthru %s: %s: %d listeners, %d routes, %d workers, data plane %s",
		PT_VERSION, o.config, cfg->n_listeners, count_routes(cfg), o.workers,
		bpf ? "sockmap" : "splice");
	m.args = (struct pt_worker_args){
		.n_workers = o.workers, .cfg = pt_config_get(cfg), .stats = stats, .copts = &copts,
		.bpf = bpf, .pairs = slots, .n_slots = slots ? n_slots : 0, .sources = sources,
	};
	if (o.workers == 1) {
		m.args.set = &sets[0];
		m.args.ctl = &ctl;
		rc = pt_worker_run(&m.args);
		sets[0].n = 0; /* the worker closed them */
	} else {
		m.sets = sets;
		m.ctl = &ctl;
		rc = run_master(&m);
	}
out:
	pt_control_stop(&ctl, true);
	close_pairs_file(&pf);
	if (bpf)
		pt_bpf_close(bpf, true);
	free_sets(sets, o.workers);
	pt_stats_destroy(stats);
	pt_sources_destroy(sources);
	pt_config_put(m.args.cfg);
	pt_config_put(cfg);
	return rc;
}
