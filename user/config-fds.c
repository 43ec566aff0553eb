// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The descriptor-limit policy, in one place: raise RLIMIT_NOFILE to its
 * hard limit, size the max_connections of listeners that leave it unset to
 * what the limit leaves (at load), and refuse a config whose connections
 * cannot fit in the limit before the daemon starts (logged as "main", as
 * the daemon's start-up checks are).
 */
#include <errno.h>
#include <stdbool.h>
#include <sys/resource.h>

#include "config-int.h"
#include "config.h"
#include "log.h"

/*
 * Listeners that do not set max_connections share what RLIMIT_NOFILE leaves
 * after the ones that do: each relayed connection holds two descriptors in
 * its worker. The default is kept when it fits.
 */
void pt_cfg_fit_fds(struct pt_config *cfg, const struct pt_config_opts *o)
{
	unsigned long long budget, set = 0, share;
	int unset = 0, workers = o->workers > 0 ? o->workers : 1;

	if (!o->fd_limit || o->fd_limit <= PT_FD_RESERVE)
		return;
	budget = (o->fd_limit - PT_FD_RESERVE) / 2 * workers;
	for (int i = 0; i < cfg->n_listeners; i++) {
		if (cfg->listeners[i].has_max_connections)
			set += cfg->listeners[i].max_connections;
		else
			unset++;
	}
	if (!unset || set >= budget)
		return;
	share = (budget - set) / unset;
	for (int i = 0; i < cfg->n_listeners; i++) {
		struct pt_listener_cfg *l = &cfg->listeners[i];

		if (!l->has_max_connections && l->max_connections > share)
			l->max_connections = share ? share : 1;
	}
}

/*
 * Every relayed connection holds two sockets in its worker (plus, for
 * splice, two pipes while bytes are in flight). Refuse to start when the
 * descriptor limit cannot hold max_connections, rather than fail at load.
 * Logs why (and, at info level, what the limit implies) and returns
 * -EMFILE, or 0 when it fits or the limit cannot be read.
 */
int pt_config_check_fds(const struct pt_config *cfg, int workers)
{
	unsigned long long conns = 0, per, need;
	bool unlimited = false;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return 0;
	for (int i = 0; i < cfg->n_listeners; i++) {
		conns += cfg->listeners[i].max_connections;
		unlimited |= !cfg->listeners[i].max_connections;
	}
	per = (conns + workers - 1) / workers;
	need = 2 * per + PT_FD_RESERVE;
	if (need > rl.rlim_cur) {
		pr_err(MAIN,
		       "max_connections %llu over %d worker(s) needs about %llu file descriptors "
		       "per worker (2 per connection + %d); RLIMIT_NOFILE is %llu: raise it "
		       "(ulimit -n, LimitNOFILE=), lower max_connections or add workers (-w)",
		       conns, workers, need, PT_FD_RESERVE, (unsigned long long)rl.rlim_cur);
		return -EMFILE;
	}
	for (int i = 0; i < cfg->n_listeners; i++)
		if (!cfg->listeners[i].has_max_connections &&
		    cfg->listeners[i].max_connections < PT_DEF_MAX_CONNECTIONS)
			pr_info(MAIN,
				"listener %s: max_connections %u (unset: sized to fit RLIMIT_NOFILE %llu)",
				cfg->listeners[i].name, cfg->listeners[i].max_connections,
				(unsigned long long)rl.rlim_cur);
	if (unlimited)
		pr_warn(MAIN,
			"a listener has max_connections 0: only RLIMIT_NOFILE (%llu) bounds it",
			(unsigned long long)rl.rlim_cur);
	else if (4 * per + PT_FD_RESERVE > rl.rlim_cur)
		pr_info(MAIN,
			"RLIMIT_NOFILE %llu: splice connections may wait for pipes at full load",
			(unsigned long long)rl.rlim_cur);
	return 0;
}

/*
 * Raise the soft RLIMIT_NOFILE to the hard one: use as many descriptors as
 * the hard limit allows. Returns the limit now in force, 0 for none or
 * unknown (what pt_config_opts.fd_limit takes).
 */
unsigned long long pt_config_raise_fds(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return 0;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur == RLIM_INFINITY ? 0 : rl.rlim_cur;
}
