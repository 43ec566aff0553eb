// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The master supervisor (master.h). It blocks the stop and reload signals
 * at start-up; with -w 1 it then runs the only worker in its own process.
 * With -w N it forks the workers, each keeping only its own listen set;
 * reads SIGCHLD, SIGHUP, SIGTERM and SIGINT from a signalfd; restarts a
 * dead worker after PT_RESPAWN_MS and gives back what it held in shared
 * state; on SIGHUP or a control-socket "reload" loads the config, once,
 * in a thread (reload.c), hands the result to every worker over its
 * socketpair (config-pack.c: the text it read and the addresses it
 * resolved) and polls until they all run it; a reload that fails reaches
 * no worker. On SIGTERM/SIGINT it closes its copies of the listen sockets
 * and forwards the signal.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "control.h"
#include "listener.h"
#include "log.h"
#include "master.h"
#include "health.h"
#include "metrics.h"
#include "pool.h"
#include "pairs.h"
#include "reload.h"
#include "shield.h"
#include "sources.h"
#include "stats.h"
#include "worker.h"

#define PT_RESPAWN_MS	1000	/* pause before a dead worker is replaced */
#define PT_RELOAD_WAIT_MS 5000	/* "reload" waits this long for the workers */
#define PT_RELOAD_POLL_MS 10

/*
 * Hold SIGTERM, SIGINT and SIGHUP from the start: they wait until the
 * worker (or master) reads them from its signalfd, so a signal during
 * start-up still ends in a clean stop that removes the pins.
 */
void pt_master_hold_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
}

/*
 * With -w N the master holds the config for everyone: it serves the control
 * socket, is the only process that reads the file and resolves names, and
 * hands each new config to the workers, so that a generation means one
 * model everywhere.
 */
struct pt_master {
	struct pt_worker_args *args;	/* template; id and set filled per worker */
	struct pt_listen_set *sets;
	pid_t pids[PT_MAX_WORKERS];
	int chan[PT_MAX_WORKERS];	/* socketpair to each worker, -1 if none */
	struct pt_reload reload;
	struct pt_loop loop;
	struct pt_ev sig;		/* signalfd */
	struct pt_timer respawn;
	struct pt_control *ctl;
	struct pt_ctl_client *reload_cl;	/* waiting for the workers to apply: */
	unsigned int reload_gen;		/* this generation */
	uint64_t reload_deadline;
	struct pt_timer reload_wait;
	bool stopping;
	bool fault_loop;		/* test build: make the event loop fail */
};

#ifdef PT_TEST_HOOKS
/*
 * Test build only (build/tests/passthru-hooks): PASSTHRU_FAULT_MASTER_LOOP=1
 * makes the master's event loop fail with EIO once a SIGHUP has arrived, to
 * test the exit path that follows (see wait_workers()).
 */
static bool fault_master_loop(void)
{
	const char *e = getenv("PASSTHRU_FAULT_MASTER_LOOP");

	return e && atoi(e) > 0;
}
#else
#define fault_master_loop() false /* no fault injection outside the test build */
#endif

static pid_t spawn_worker(struct pt_master *m, int id)
{
	char tag[16];
	int sv[2], rc;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv))
		return -1;
	pid = fork();
	if (pid) {
		close(sv[1]);
		if (pid < 0)
			close(sv[0]);
		else
			m->chan[id] = sv[0];
		return pid;
	}
	/* Child: keep only this worker's sockets; nothing of the master's loop. */
	for (int w = 0; w < m->args->n_workers; w++) {
		if (w != id)
			pt_listen_set_close(&m->sets[w]);
		if (m->chan[w] >= 0)
			close(m->chan[w]);
	}
	close(sv[0]);
	pt_control_forget(m->ctl);
	pt_metrics_forget(m->ctl->metrics);
	pt_health_forget(m->ctl->health);
	pt_reload_forget(&m->reload);
	close(m->sig.fd);
	if (m->args->shield)
		pt_shield_forget_watch(m->args->shield);
	close(m->loop.epfd);
	snprintf(tag, sizeof(tag), "w%d", id);
	pt_log_set_tag(tag);
	m->args->id = id;
	m->args->set = &m->sets[id];
	m->args->ctl = NULL;
	m->args->chan_fd = sv[1];
	rc = pt_worker_run(m->args);
	_exit(rc);
}

/* A worker is gone: close our end of its socketpair. */
static void close_chan(struct pt_master *m, int w)
{
	if (m->chan[w] >= 0)
		close(m->chan[w]);
	m->chan[w] = -1;
}

static void forward_signal(struct pt_master *m, int signo)
{
	for (int w = 0; w < m->args->n_workers; w++)
		if (m->pids[w] > 0)
			kill(m->pids[w], signo);
}

static int live_workers(const struct pt_master *m)
{
	int n = 0;

	for (int w = 0; w < m->args->n_workers; w++)
		n += m->pids[w] > 0;
	return n;
}

static void respawn_workers(struct pt_timer *t)
{
	struct pt_master *m = container_of(t, struct pt_master, respawn);

	for (int w = 0; w < m->args->n_workers && !m->stopping; w++) {
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

/*
 * Give back what a dead worker held in state shared with the others: its
 * open-connection counts, its per-source counts (and the table lock if it
 * died holding it), its pair slots and their map entries.
 */
static void forget_worker(struct pt_master *m, int w, pid_t pid)
{
	pt_stats_forget_worker(m->args->stats, w);
	pt_pools_forget_worker(&m->args->stats->pools, w);
	if (m->args->sources)
		pt_sources_forget_worker(m->args->sources, w, pid);
	pt_pairs_reclaim(m->args->pairs, m->args->n_slots, m->args->n_workers, w, m->args->bpf);
}

/* A worker exited: log it, and restart it a moment later unless we are stopping. */
static void reap_workers(struct pt_master *m)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (int w = 0; w < m->args->n_workers; w++) {
			if (m->pids[w] != pid)
				continue;
			m->pids[w] = 0;
			close_chan(m, w);
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

/*
 * After the loop (an error may have ended it with workers still running):
 * wait for each worker left in the table, and only for them. The janitor
 * is a child too, and it exits only once we have: waitpid(-1) would hang.
 */
static void wait_workers(struct pt_master *m)
{
	for (int w = 0; w < m->args->n_workers; w++) {
		pid_t pid = m->pids[w];

		if (pid <= 0)
			continue;
		while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
			;
		m->pids[w] = 0;
		close_chan(m, w);
		forget_worker(m, w, pid);
	}
}

/* Workers that run an older generation than the one being applied, as "0 2". */
static int lagging_workers(const struct pt_master *m, char *buf, size_t size)
{
	int n = 0, len = 0;

	buf[0] = 0;
	for (int w = 0; w < m->args->n_workers; w++) {
		unsigned int g = __atomic_load_n(&m->args->stats->worker_gen[w], __ATOMIC_ACQUIRE);

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

/* Hand generation @gen, packed in @pack, to every live worker. */
static void hand_over(struct pt_master *m, int pack, unsigned int gen)
{
	int err;

	for (int w = 0; w < m->args->n_workers; w++) {
		if (m->pids[w] <= 0 || m->chan[w] < 0)
			continue;
		err = pt_reload_send(m->chan[w], pack, gen);
		if (err)
			pr_err(CONFIG, "generation %u to worker %d: %s", gen, w, strerror(-err));
	}
}

/*
 * The reload thread is done (reload.c). A config that cannot apply stops
 * here: no worker hears of it. Else the master packs what it read and
 * resolved, hands it to every worker, and answers the client once they
 * all run it.
 */
static void reload_done(struct pt_reload *r, struct pt_ctl_client *cl, struct pt_config *next,
			const char *text, size_t len, const char *why)
{
	struct pt_master *m = container_of(r, struct pt_master, reload);
	struct pt_config *cur = m->args->cfg;
	int pack = next ? pt_config_pack(next, text, len) : -EINVAL;

	/* Rows first: the workers find their servers' rows when they apply it. */
	if (next)
		pt_pools_bind(&m->args->stats->pools, next, true);

	if (pack < 0) {
		if (next)
			pr_err(CONFIG, "%s: cannot pack it for the workers: %s", next->path,
			       strerror(-pack));
		pr_err(CONFIG, "reload of %s failed; keeping the running config (generation %u)",
		       cur->path, cur->generation);
		pt_config_put(next);
		if (cl)
			pt_control_reply(cl, pt_control_reload_answer(cur, -EINVAL, why));
		return;
	}
	hand_over(m, pack, next->generation);
	close(pack);
	if (m->args->shield)
		pt_shield_apply(m->args->shield, next);
	/* Restarted workers start from this one. */
	m->args->cfg = next;
	m->ctl->cfg = next;
	pt_metrics_reload(m->ctl->metrics, next);
	pt_health_reload(m->ctl->health, next);
	pt_log_set_format(next->log_format);
	pt_config_put(cur);
	pt_stats_routes_reset(m->args->stats, next->generation, next->n_listeners);
	pr_info(CONFIG, "%s: generation %u loaded; handed to %d workers", next->path,
		next->generation, live_workers(m));
	if (!cl)
		return;
	m->reload_cl = cl;
	m->reload_gen = next->generation;
	m->reload_deadline = m->loop.now + PT_RELOAD_WAIT_MS;
	reload_poll(&m->reload_wait);
}

/* Reload for a control client @cl or for SIGHUP (@cl NULL): in a thread. */
static void master_reload(struct pt_ctl_client *cl, void *arg)
{
	struct pt_master *m = arg;

	if (cl && m->reload_cl) {
		pt_control_reply(cl, pt_control_error("a reload is already in progress"));
		return;
	}
	pt_reload_request(&m->reload, cl);
}

static void begin_stop(struct pt_master *m, int signo)
{
	if (!m->stopping) {
		/* Stop the kernel from queueing new connections on our sockets. */
		for (int w = 0; w < m->args->n_workers; w++)
			pt_listen_set_close(&m->sets[w]);
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
			m->fault_loop = fault_master_loop();
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
	err = pt_reload_init(&m->reload, &m->loop, m->args->copts, &m->args->cfg, reload_done);
	if (err)
		return err;
	m->ctl->cfg = m->args->cfg;
	m->ctl->reload = master_reload;
	m->ctl->reload_arg = m;
	err = pt_control_start(m->ctl, &m->loop);
	if (err)
		return err;
	if (m->args->shield)	/* the process that reloads it follows its interfaces */
		pt_shield_watch(m->args->shield, &m->loop);
	err = pt_metrics_start(m->ctl->metrics, &m->loop);
	if (err)
		return err;
	return pt_health_start(m->ctl->health, &m->loop, m->args->cfg, &m->args->stats->pools);
}

static int run_master(struct pt_master *m)
{
	int err;

	m->sig.fd = -1;
	m->reload.ev.fd = -1;
	for (int w = 0; w < PT_MAX_WORKERS; w++)
		m->chan[w] = -1;
	err = pt_loop_init(&m->loop);
	if (!err)
		err = master_setup(m);
	if (err) {
		pr_err(MAIN, "master: setup: %s", strerror(-err));
		goto out;
	}
	for (int w = 0; w < m->args->n_workers; w++) {
		m->pids[w] = spawn_worker(m, w);
		if (m->pids[w] < 0) {
			pr_err(MAIN, "fork worker %d: %s", w, strerror(errno));
			m->pids[w] = 0;
			pt_timer_arm(&m->loop, &m->respawn, m->loop.now + PT_RESPAWN_MS);
		}
	}
	pr_info(MAIN, "running %d workers", m->args->n_workers);
	while (live_workers(m) || !m->stopping) {
		err = pt_loop_run_once(&m->loop, -1);
		if (!err && m->fault_loop)
			err = -EIO;
		if (err && err != -EINTR) {
			pr_err(MAIN, "master: event loop: %s", strerror(-err));
			begin_stop(m, SIGTERM);
			break;
		}
		err = 0;
	}
	wait_workers(m);
	if (m->reload_cl)
		pt_control_reply(m->reload_cl, pt_control_error("passthru is stopping"));
	m->reload_cl = NULL;
	if (m->reload.busy && m->reload.cl)
		pt_control_reply(pt_reload_take_client(&m->reload),
				 pt_control_error("passthru is stopping"));
	pr_info(MAIN, "all workers exited");
out:
	pt_reload_fini(&m->reload);
	pt_control_stop(m->ctl, false);
	pt_metrics_stop(m->ctl->metrics);
	if (m->args->shield)
		pt_shield_unwatch(m->args->shield);
	pt_health_stop(m->ctl->health);
	if (m->sig.fd >= 0)
		close(m->sig.fd);
	pt_loop_fini(&m->loop);
	return err ? 1 : 0;
}

/*
 * The one entry point: -w 1 runs the worker here, with the control socket;
 * -w N supervises forked workers. Returns the process's exit code.
 */
int pt_master_run(struct pt_worker_args *args, struct pt_listen_set *sets, struct pt_control *ctl)
{
	struct pt_master m = { .args = args, .sets = sets, .ctl = ctl };
	int rc;

	if (args->n_workers > 1)
		return run_master(&m);
	args->set = &sets[0];
	args->ctl = ctl;
	args->chan_fd = -1;
	rc = pt_worker_run(args);
	sets[0].n = 0; /* the worker closed them */
	return rc;
}
