/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef __PT_PRIVS_H
#define __PT_PRIVS_H

#include <stdbool.h>
#include <sys/types.h>

/* What the processes still ask of the kernel once privileges are dropped. */
struct pt_privs_need {
	int map_fd;		/* an array map the workers update (probe), -1 without BPF */
	unsigned int sndbuf;	/* the largest forced send buffer (SO_SNDBUFFORCE), 0 if none */
	bool transparent;	/* a route binds upstream sockets to its clients (IP_TRANSPARENT) */
};

/* @user's uid and primary gid. 0, or -ENOENT (logged) if there is no such user. */
int pt_privs_lookup(const char *user, uid_t *uid, gid_t *gid);

/*
 * Become @user (and its primary group, no supplementary groups) once the
 * listeners are bound, the BPF objects loaded and the instance's files
 * given to @user. Keeps CAP_BPF only if a process without capabilities
 * cannot update @need->map_fd on this kernel (probed in a child), and
 * CAP_NET_ADMIN only if @need->sndbuf exceeds net.core.wmem_max; nothing
 * else. The bounding set is cut to match and no_new_privs set. One log
 * line says what was kept and why. Returns 0 or -errno.
 */
int pt_privs_drop(const char *user, const struct pt_privs_need *need);

struct pt_config;
struct pt_bpf;

/*
 * Give the kernel data plane's pins (@bpf, may be NULL) and the .pairs
 * file (@pairs_file, "" if none) to @uid/@gid, then pt_privs_drop() to
 * @cfg's user with what its listeners still need; warn if that user cannot
 * read @config_path (reloads would fail). Returns 0 or -errno (logged).
 */
int pt_privs_become(const struct pt_config *cfg, struct pt_bpf *bpf, const char *pairs_file,
		    const char *config_path, uid_t uid, gid_t gid);

#endif /* __PT_PRIVS_H */
