// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Dropping privileges once everything privileged is done (privs.h): the
 * user and group switch, and the capabilities kept for the work left,
 * each only when this kernel and this config really need it: CAP_BPF if
 * a capability-less child cannot update a map we hold (kernels before
 * 5.19 refuse every bpf() command without it when unprivileged BPF is
 * off), CAP_NET_ADMIN if a forced send buffer exceeds net.core.wmem_max
 * or a route is "transparent" (IP_TRANSPARENT on upstream sockets).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "bpf_loader.h"
#include "config.h"
#include "log.h"
#include "privs.h"

#define PT_WMEM_MAX_PATH	"/proc/sys/net/core/wmem_max"

int pt_privs_lookup(const char *user, uid_t *uid, gid_t *gid)
{
	struct passwd *pw = getpwnam(user);

	if (!pw) {
		pr_err(MAIN, "user %s: no such user", user);
		return -ENOENT;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

/*
 * Can a process without any capability read and rewrite entry 0 of
 * @map_fd (an array map of ours)? Tried in a child that drops them all,
 * so that the answer is this kernel's (and LSM's), not a guess from its
 * version. A failure to probe counts as "no".
 */
static bool map_update_unprivileged(int map_fd)
{
	char value[512];
	__u32 zero = 0;
	int status;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return false;
	if (!pid) {
		cap_t none = cap_init();

		if (!none || cap_set_proc(none))
			_exit(2);
		if (bpf_map_lookup_elem(map_fd, &zero, value) ||
		    bpf_map_update_elem(map_fd, &zero, value, BPF_EXIST))
			_exit(1);
		_exit(0);
	}
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR)
			return false;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* net.core.wmem_max, or 0 if it cannot be read. */
static long wmem_max(void)
{
	char buf[32] = "";
	FILE *f = fopen(PT_WMEM_MAX_PATH, "re");

	if (!f)
		return 0;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	return atol(buf);
}

/* Decide which capabilities to keep; @why gets the reasons, for the log. */
static int needed_caps(const struct pt_privs_need *need, cap_value_t *caps, char *why,
		       size_t size)
{
	long wmax = wmem_max();
	int n = 0, len = 0;

	if (need->map_fd >= 0 && !map_update_unprivileged(need->map_fd)) {
		caps[n++] = CAP_BPF;
		len += snprintf(why + len, size - len, "CAP_BPF: map updates need it here");
	} else if (need->map_fd >= 0) {
		len += snprintf(why + len, size - len, "no CAP_BPF: map updates work without it");
	}
	if (need->sndbuf && (unsigned long)need->sndbuf > (unsigned long)wmax) {
		caps[n++] = CAP_NET_ADMIN;
		len += snprintf(why + len, size - len,
				"%sCAP_NET_ADMIN: sockmap_sndbuf %u > net.core.wmem_max %ld",
				len ? "; " : "", need->sndbuf, wmax);
	} else if (need->sndbuf) {
		len += snprintf(why + len, size - len,
				"%sno CAP_NET_ADMIN: sockmap_sndbuf %u <= net.core.wmem_max %ld",
				len ? "; " : "", need->sndbuf, wmax);
	}
	if (need->transparent) {
		if (!n || caps[n - 1] != CAP_NET_ADMIN)
			caps[n++] = CAP_NET_ADMIN;
		len += snprintf(why + len, size - len, "%sCAP_NET_ADMIN: a transparent route",
				len ? "; " : "");
	}
	if (!len)
		snprintf(why, size, "splice needs none");
	return n;
}

static bool kept(cap_value_t c, const cap_value_t *caps, int n)
{
	for (int i = 0; i < n; i++)
		if (caps[i] == c)
			return true;
	return false;
}

/* Drop every other capability from the bounding set (needs CAP_SETPCAP: before setuid). */
static int cut_bounding_set(const cap_value_t *caps, int n)
{
	for (cap_value_t c = 0; c <= CAP_LAST_CAP; c++)
		if (!kept(c, caps, n) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) && errno != EINVAL)
			return -errno;
	return 0;
}

static int set_caps(const cap_value_t *caps, int n)
{
	cap_t c = cap_init();
	int err = 0;

	if (!c)
		return -errno;
	if (n && (cap_set_flag(c, CAP_PERMITTED, n, caps, CAP_SET) ||
		  cap_set_flag(c, CAP_EFFECTIVE, n, caps, CAP_SET)))
		err = -errno;
	if (!err && cap_set_proc(c))
		err = -errno;
	cap_free(c);
	return err;
}

/* "CAP_BPF and CAP_NET_ADMIN", "CAP_NET_ADMIN", ... */
static const char *cap_list(const cap_value_t *caps, int n)
{
	if (n == 2)
		return "CAP_BPF and CAP_NET_ADMIN";
	return caps[0] == CAP_BPF ? "CAP_BPF" : "CAP_NET_ADMIN";
}

int pt_privs_drop(const char *user, const struct pt_privs_need *need)
{
	cap_value_t caps[2];
	char why[256];
	uid_t uid;
	gid_t gid;
	int n, err;

	err = pt_privs_lookup(user, &uid, &gid);
	if (err)
		return err;
	n = needed_caps(need, caps, why, sizeof(why));
	err = cut_bounding_set(caps, n);
	if (err)
		goto fail;
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) || setgroups(1, &gid) ||
	    setresgid(gid, gid, gid) || setresuid(uid, uid, uid)) {
		err = -errno;
		goto fail;
	}
	err = set_caps(caps, n);
	if (err)
		goto fail;
	prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
		err = -errno;
		goto fail;
	}
	/* Paranoia: there must be no way back. */
	if (uid && setuid(0) == 0) {
		err = -EPERM;
		goto fail;
	}
	pr_info(MAIN, "running as %s (uid %d, gid %d) %s%s (%s)", user, (int)uid, (int)gid,
		n ? "with " : "without capabilities", n ? cap_list(caps, n) : "", why);
	return 0;
fail:
	pr_err(MAIN, "cannot drop privileges to %s: %s", user, strerror(-err));
	return err;
}

/* The largest send buffer a listener that may relay on sockmap forces, 0 if none. */
static unsigned int max_sndbuf(const struct pt_config *cfg)
{
	unsigned int v = 0;

	for (int i = 0; i < cfg->n_listeners; i++)
		if (pt_listener_may_sockmap(&cfg->listeners[i]) &&
		    cfg->listeners[i].sockmap_sndbuf > v)
			v = cfg->listeners[i].sockmap_sndbuf;
	return v;
}

/* Does a route of @cfg bind upstream sockets to its clients' addresses? */
static bool any_transparent(const struct pt_config *cfg)
{
	for (int i = 0; i < cfg->n_listeners; i++)
		for (int r = 0; r < cfg->listeners[i].n_routes; r++)
			if (cfg->listeners[i].routes[r].transparent)
				return true;
	return false;
}

int pt_privs_become(const struct pt_config *cfg, struct pt_bpf *bpf, const char *pairs_file,
		    const char *config_path, uid_t uid, gid_t gid)
{
	struct pt_privs_need need = { .map_fd = -1, .transparent = any_transparent(cfg) };
	int err;

	if (pairs_file[0] && chown(pairs_file, uid, gid))
		pr_warn(MAIN, "%s: chown: %s", pairs_file, strerror(errno));
	if (bpf) {
		err = pt_bpf_chown(bpf, uid, gid);
		if (err) {
			pr_err(BPF, "%s: chown to %s: %s", bpf->pin_dir, cfg->user, strerror(-err));
			return err;
		}
		need.map_fd = bpf->meta_fd;
		need.sndbuf = max_sndbuf(cfg);
	}
	err = pt_privs_drop(cfg->user, &need);
	if (!err && access(config_path, R_OK))
		pr_warn(CONFIG, "user %s cannot read %s: reloads will fail", cfg->user, config_path);
	return err;
}
