// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * passthru: the command line, and the wiring of the parts in start-up
 * order: config, shared counters, listening sockets (listener.c), kernel
 * data plane (bpf_loader.c) or .pairs file (pairs.c), XDP shield
 * (shield.c), control socket (control.c) and metrics endpoint (metrics.c),
 * dropping privileges, then the workers (master.c). Before any of that, the
 * instance lock: one daemon per instance name, and the cleanup of what a
 * crashed one left.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bpf_loader.h"
#include "config.h"
#include "control.h"
#include "fsutil.h"
#include "listener.h"
#include "local-bpf.h"
#include "log.h"
#include "master.h"
#include "health.h"
#include "metrics.h"
#include "pool.h"
#include "pairs.h"
#include "privs.h"
#include "shield.h"
#include "sources.h"
#include "stats.h"
#include "worker.h"

#define PT_VERSION	"0.1.0"

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
		"                [--data-plane auto|copy|splice|sockmap] [--instance NAME]\n"
		"\n"
		"  -c, --config FILE    config file (native or legacy Go-passthru JSON)\n"
		"  -w, --workers N      worker processes sharing each listener (default: one per CPU)\n"
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

/* The CPUs this process may run on (the default worker count), within [1, PT_MAX_WORKERS]. */
static int cpus_available(void)
{
	cpu_set_t set;
	int n;

	if (sched_getaffinity(0, sizeof(set), &set))
		return 1;
	n = CPU_COUNT(&set);
	return n < 1 ? 1 : n > PT_MAX_WORKERS ? PT_MAX_WORKERS : n;
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

	o->workers = cpus_available();
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
				fprintf(stderr, "passthru: --data-plane: expected auto, copy, splice or sockmap, got \"%s\"\n",
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
		o->instance = pt_instance_default(o->config, o->instance_buf,
						  sizeof(o->instance_buf));
	return 0;
}

/* The config file with the command line's overrides; NULL (errors printed) if it is bad. */
static struct pt_config *load_config(const struct pt_opts *o, struct pt_config_opts *copts)
{
	copts->default_timeout_ms = o->timeout_ms;
	copts->fd_limit = pt_config_raise_fds();
	copts->workers = o->workers;
	copts->force_data_plane = o->force_dp;
	copts->data_plane = o->dp;
	return pt_config_load(o->config, copts, stderr);
}

/* --check: print the model the config translates to; exit status 0. */
static int check_only(const struct pt_opts *o, struct pt_config *cfg)
{
	pt_config_dump(cfg, stdout);
	fprintf(stderr, "passthru: %s: OK (%s format, %d listeners, %d routes)\n", o->config,
		cfg->legacy ? "legacy" : "native", cfg->n_listeners, pt_config_n_routes(cfg));
	pt_config_put(cfg);
	return 0;
}

int main(int argc, char **argv)
{
	struct pt_listen_set sets[PT_MAX_WORKERS] = {};
	struct pt_opts o = {};
	struct pt_config_opts copts = { .prog = "passthru" };
	struct pt_worker_args args = {};
	struct pt_control ctl = { .ev.fd = -1 };
	struct pt_metrics metrics = { .ev.fd = -1 };
	struct pt_health health = {};
	struct pt_pairs_file pf = {};
	struct pt_pair *slots;
	uint32_t n_slots;
	struct pt_bpf bpf_store, *bpf = NULL;
	struct pt_local_bpf local_store, *local = NULL;
	struct pt_shield shield_store, *shield = NULL;
	struct pt_config *cfg;
	struct pt_stats *stats = NULL;
	struct pt_sources *sources = NULL;
	char pairs[sizeof(bpf_store.pin_dir) + 32] = "", planes[32];
	uid_t uid = 0;
	gid_t gid = 0;
	int lock_fd = -1, err, rc = 1;

	if (parse_args(argc, argv, &o))
		return 2;
	pt_master_hold_signals();
	pt_log_set_level(PT_LOG_INFO + (o.verbose > 2 ? 2 : o.verbose));
	cfg = load_config(&o, &copts);
	if (!cfg)
		return 2;
	pt_log_set_format(cfg->log_format);
	if (o.check)
		return check_only(&o, cfg);

	signal(SIGPIPE, SIG_IGN);
	err = pt_config_check_fds(cfg, o.workers);
	if (!err)
		err = pt_instance_claim(o.instance, &lock_fd);
	if (!err && cfg->user[0])
		err = pt_privs_lookup(cfg->user, &uid, &gid);
	if (err)
		goto out;
	stats = pt_stats_create();
	sources = pt_sources_create(o.workers);
	if (!stats || !sources) {
		pr_err(MAIN, "shared counters: %s", strerror(errno));
		goto out;
	}
	pt_pools_bind(&stats->pools, cfg, true);
	err = pt_listen_open(cfg, o.workers, sets);
	if (err)
		goto out;
	pt_shield_clean_stale(o.instance);
	err = pt_bpf_load(cfg, o.instance, o.workers, &bpf_store, &bpf);
	if (!err)
		err = pt_local_load(cfg, pt_bpf_slot_count(cfg, o.workers), &local_store, &local);
	if (!err)
		err = pt_shield_start(&shield_store, cfg, o.instance, &shield);
	if (err)
		goto out;
	err = pt_control_open(&ctl, cfg, o.instance, uid, gid);
	if (!err)
		err = pt_metrics_open(&metrics, cfg, &ctl);
	if (err)
		goto out;
	slots = pt_pairs_place(&pf, bpf, pt_bpf_slot_count(cfg, o.workers), o.instance, o.workers,
			       pairs, sizeof(pairs), &n_slots);
	ctl.version = PT_VERSION;
	ctl.pairs = pairs;
	ctl.n_workers = o.workers;
	ctl.stats = stats;
	ctl.metrics = &metrics;
	ctl.health = &health;
	if (cfg->user[0] && pt_privs_become(cfg, bpf, pf.path, o.config, uid, gid))
		goto out;
	pr_info(MAIN, "passthru %s: %s: %d listeners, %d routes, %d workers, data planes %s",
		PT_VERSION, o.config, cfg->n_listeners, pt_config_n_routes(cfg), o.workers,
		pt_bpf_planes(cfg, bpf != NULL, planes, sizeof(planes)));
	args = (struct pt_worker_args){
		.n_workers = o.workers, .cfg = pt_config_get(cfg), .stats = stats, .copts = &copts,
		.bpf = bpf, .local = local, .pairs = slots, .n_slots = slots ? n_slots : 0, .sources = sources,
		.shield = shield,
	};
	rc = pt_master_run(&args, sets, &ctl);
out:
	pt_control_stop(&ctl, true);
	pt_metrics_stop(&metrics);
	pt_health_stop(&health);
	pt_pairs_file_close(&pf);
	if (bpf)
		pt_bpf_close(bpf, true);
	if (local)
		pt_local_close(local);
	if (shield)
		pt_shield_stop(shield);
	pt_listen_sets_free(sets, o.workers);
	pt_stats_destroy(stats);
	pt_sources_destroy(sources);
	pt_config_put(args.cfg);
	pt_config_put(cfg);
	pt_instance_unlock(lock_fd, o.instance);
	return rc;
}
