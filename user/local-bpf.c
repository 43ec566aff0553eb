// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Loading the same-host bypass (local-bpf.h). The sock_ops program goes on
 * the root of a cgroup v2 hierarchy with a bpf_link (BPF_F_ALLOW_MULTI
 * semantics: other programs there are untouched), so it runs for every
 * socket on the host, in any cgroup of that hierarchy, and goes away with
 * the daemon. A host with only cgroup v1 mounted still has the v2
 * hierarchy: we mount it on PT_LOCAL_CGROUP_DIR; in a freshly mounted v2
 * hierarchy every process is in its root, so the backends are covered.
 * The self-test (local-selftest.c) then proves the kernel path on a real
 * loopback connection of this process before any client is accepted.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <linux/magic.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "config-t.h"
#include "local-bpf.h"
#include "local.skel.h"
#include "log.h"

#define PT_LOCAL_CGROUP_DIR "/run/passthru/cgroup2"

bool pt_local_wanted(const struct pt_config *cfg)
{
	for (int i = 0; i < cfg->n_listeners; i++)
		if (cfg->listeners[i].data_plane == PT_DP_LOCAL)
			return true;
	return false;
}

/* The mount point of a cgroup v2 hierarchy from /proc/self/mountinfo: 0 or -ENOENT. */
static int find_cgroup2(char *out, size_t size)
{
	char line[1024], mnt[512], fstype[64];
	FILE *f = fopen("/proc/self/mountinfo", "re");
	int err = -ENOENT;

	if (!f)
		return -errno;
	while (err && fgets(line, sizeof(line), f)) {
		const char *sep = strstr(line, " - ");

		/* "id parent maj:min root mountpoint opts ... - fstype source opts" */
		if (!sep || sscanf(line, "%*s %*s %*s %*s %511s", mnt) != 1 ||
		    sscanf(sep + 3, "%63s", fstype) != 1 || strcmp(fstype, "cgroup2"))
			continue;
		if (strlen(mnt) < size) {
			snprintf(out, size, "%s", mnt);
			err = 0;
		}
	}
	fclose(f);
	return err;
}

/* A cgroup v2 root to attach to: the one mounted, else one we mount. */
static int cgroup2_root(struct pt_local_bpf *lb, const char **why)
{
	struct statfs st;

	if (!find_cgroup2(lb->cgroup, sizeof(lb->cgroup)))
		return 0;
	mkdir("/run/passthru", 0755);
	if (mkdir(PT_LOCAL_CGROUP_DIR, 0700) && errno != EEXIST)
		goto fail;
	if (statfs(PT_LOCAL_CGROUP_DIR, &st) || st.f_type != CGROUP2_SUPER_MAGIC) {
		if (mount("cgroup2", PT_LOCAL_CGROUP_DIR, "cgroup2",
			  MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL))
			goto fail;
		lb->mounted = true;
		pr_info(BPF, "local: mounted cgroup v2 on %s", PT_LOCAL_CGROUP_DIR);
	}
	snprintf(lb->cgroup, sizeof(lb->cgroup), "%s", PT_LOCAL_CGROUP_DIR);
	return 0;
fail:
	*why = "cannot mount cgroup v2";
	return -errno;
}

static void size_maps(struct local *skel, uint32_t n_slots)
{
	bpf_map__set_max_entries(skel->maps.PT_MAP_LOCAL_ARM, n_slots);
	bpf_map__set_max_entries(skel->maps.PT_MAP_LOCAL_REG, n_slots);
	/* Clients in detection are there too: room for as many again. */
	bpf_map__set_max_entries(skel->maps.PT_MAP_LOCAL_CLI, 2 * n_slots);
	bpf_map__set_max_entries(skel->maps.PT_MAP_LOCAL_BE, n_slots);
	bpf_map__set_max_entries(skel->maps.PT_MAP_LOCAL_UP, n_slots);
	bpf_map__set_max_entries(skel->maps.PT_MAP_LOCAL_DIR, n_slots);
}

/* The ports of @cfg's "local" listeners, in our netns, into PT_MAP_LOCAL_LSN. */
static int fill_listeners(struct pt_local_bpf *lb, const struct pt_config *cfg)
{
	int fd = bpf_map__fd(lb->skel->maps.PT_MAP_LOCAL_LSN), s, err = 0;
	struct pt_local_lsn k = {};
	socklen_t len = sizeof(k.netns);
	__u32 one = 1;

	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || getsockopt(s, SOL_SOCKET, SO_NETNS_COOKIE, &k.netns, &len))
		err = -errno;
	if (s >= 0)
		close(s);
	for (int i = 0; !err && i < cfg->n_listeners; i++) {
		const struct pt_listener_cfg *l = &cfg->listeners[i];

		for (int j = 0; l->data_plane == PT_DP_LOCAL && j < l->n_listen && !err; j++) {
			const struct sockaddr *sa = &l->listen[j].addr.ss.sa;

			k.port = ntohs(sa->sa_family == AF_INET6
					       ? l->listen[j].addr.ss.sin6.sin6_port
					       : l->listen[j].addr.ss.sin.sin_port);
			if (bpf_map_update_elem(fd, &k, &one, BPF_ANY))
				err = -errno;
		}
	}
	return err;
}

/*
 * Does this kernel's struct sk_psock count the bytes of its ingress queue
 * (msg_tot_len)? Without it the program on U could not bound what it
 * queues on B: client -> backend then keeps U's TCP stream.
 */
static bool psock_counts_ingress(void)
{
	struct btf *btf = btf__load_vmlinux_btf();
	const struct btf_member *m;
	const struct btf_type *t;
	bool found = false;
	int id;

	if (!btf)
		return false;
	id = btf__find_by_name_kind(btf, "sk_psock", BTF_KIND_STRUCT);
	t = id > 0 ? btf__type_by_id(btf, id) : NULL;
	m = t ? btf_members(t) : NULL;
	for (int i = 0; m && i < btf_vlen(t) && !found; i++)
		found = !strcmp(btf__name_by_offset(btf, m[i].name_off), "msg_tot_len");
	btf__free(btf);
	return found;
}

void pt_local_set_up(struct pt_local_bpf *lb, bool on)
{
	__atomic_store_n(&lb->skel->bss->pt_local_up_on, on ? 1 : 0, __ATOMIC_RELEASE);
	lb->up_on = on;
}

static int attach(struct pt_local_bpf *lb, const char **why)
{
	struct local *skel = lb->skel;
	int cg, err;

	if (bpf_prog_attach(bpf_program__fd(skel->progs.PT_PROG_LOCAL_MSG), lb->be_fd,
			    BPF_SK_MSG_VERDICT, 0) ||
	    bpf_prog_attach(bpf_program__fd(skel->progs.PT_PROG_LOCAL_UPMSG), lb->up_fd,
			    BPF_SK_MSG_VERDICT, 0)) {
		*why = "cannot attach the sk_msg programs";
		return -errno;
	}
	err = cgroup2_root(lb, why);
	if (err)
		return err;
	cg = open(lb->cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg < 0) {
		*why = "cannot open the cgroup v2 root";
		return -errno;
	}
	lb->sockops_link = bpf_program__attach_cgroup(skel->progs.PT_PROG_LOCAL_SOCKOPS, cg);
	err = libbpf_get_error(lb->sockops_link);
	close(cg);
	if (err) {
		lb->sockops_link = NULL;
		*why = "cannot attach the sock_ops program to the cgroup v2 root";
		return err;
	}
	return 0;
}

int pt_local_open(struct pt_local_bpf *lb, const struct pt_config *cfg, uint32_t n_slots,
		  const char **why)
{
	const char *step, *up_why;
	int err;

	memset(lb, 0, sizeof(*lb));
	lb->n_slots = n_slots;
	*why = "cannot open the BPF object";
	lb->skel = local__open();
	if (!lb->skel)
		return -errno ? -errno : -EINVAL;
	size_maps(lb->skel, n_slots);
	err = local__load(lb->skel);
	if (err) {
		*why = "the kernel refused the programs (sock_ops, sk_msg)";
		goto fail;
	}
	lb->arm_fd = bpf_map__fd(lb->skel->maps.PT_MAP_LOCAL_ARM);
	lb->cli_fd = bpf_map__fd(lb->skel->maps.PT_MAP_LOCAL_CLI);
	lb->be_fd = bpf_map__fd(lb->skel->maps.PT_MAP_LOCAL_BE);
	lb->stat_fd = bpf_map__fd(lb->skel->maps.PT_MAP_LOCAL_STAT);
	lb->reg_fd = bpf_map__fd(lb->skel->maps.PT_MAP_LOCAL_REG);
	lb->up_fd = bpf_map__fd(lb->skel->maps.PT_MAP_LOCAL_UP);
	lb->dirs_len = (size_t)n_slots * sizeof(struct pt_local_dir);
	lb->dirs = mmap(NULL, lb->dirs_len, PROT_READ | PROT_WRITE, MAP_SHARED,
			bpf_map__fd(lb->skel->maps.PT_MAP_LOCAL_DIR), 0);
	if (lb->dirs == MAP_FAILED) {
		lb->dirs = NULL;
		err = -errno;
		*why = "cannot map the counters";
		goto fail;
	}
	err = fill_listeners(lb, cfg);
	if (err) {
		*why = "cannot register the listeners (SO_NETNS_COOKIE)";
		goto fail;
	}
	err = attach(lb, why);
	if (err)
		goto fail;
	pt_local_set_up(lb, psock_counts_ingress());
	err = pt_local_selftest(lb, &step, &up_why);
	if (err) {
		*why = step;
		goto fail;
	}
	if (up_why) {
		pr_warn(BPF, "local: self-test up: %s; client -> backend stays on TCP", up_why);
		pt_local_set_up(lb, false);
	}
	return 0;
fail:
	pt_local_close(lb);
	return err;
}

int pt_local_load(const struct pt_config *cfg, uint32_t n_slots, struct pt_local_bpf *lb,
		  struct pt_local_bpf **out)
{
	const char *why = "?";
	int err;

	*out = NULL;
	if (!pt_local_wanted(cfg))
		return 0;
	err = pt_local_open(lb, cfg, n_slots, &why);
	if (err) {
		pr_warn(BPF,
			"local: same-host bypass unavailable: %s (%s); relaying with copy (fallback=not-loaded)",
			why, strerror(-err));
		return 0;
	}
	pr_info(BPF,
		"local: same-host bypass loaded (experimental), sock_ops on %s; client -> backend: %s",
		lb->cgroup,
		lb->up_on
			? "bypassed too (psock ingress)"
			: "over TCP (this kernel's struct sk_psock has no msg_tot_len, or its self-test failed)");
	*out = lb;
	return 0;
}

void pt_local_close(struct pt_local_bpf *lb)
{
	if (lb->sockops_link)
		bpf_link__destroy(lb->sockops_link);
	lb->sockops_link = NULL;
	if (lb->dirs)
		munmap(lb->dirs, lb->dirs_len);
	lb->dirs = NULL;
	if (lb->skel)
		local__destroy(lb->skel);
	lb->skel = NULL;
	if (lb->mounted)
		umount2(PT_LOCAL_CGROUP_DIR, MNT_DETACH);
	lb->mounted = false;
}
