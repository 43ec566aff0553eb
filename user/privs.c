// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Dropping privileges once everything privileged is done (privs.h): the
 * user and group switch, the capabilities kept for the kernel data plane,
 * and the janitor: a root process forked first that removes the pins,
 * control socket and .pairs file once every daemon process has exited.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "privs.h"

static const cap_value_t bpf_caps[] = { CAP_BPF, CAP_NET_ADMIN };
#define N_BPF_CAPS ((int)(sizeof(bpf_caps) / sizeof(bpf_caps[0])))

/* The janitor: wait until no daemon process holds the pipe, then clean up. */
static void __attribute__((noreturn)) janitor(int rd, const char *const *cleanup)
{
	char b;

	prctl(PR_SET_NAME, "passthru-janitor", 0, 0, 0);
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	if (rd != 3) {
		dup2(rd, 3);
		close(rd);
	}
	close_range(4, ~0u, 0);
	close(0);
	close(1);
	for (;;) {
		ssize_t n = read(3, &b, 1);

		if (n == 0 || (n < 0 && errno != EINTR))
			break;
	}
	for (int i = 0; cleanup && cleanup[i]; i++)
		if (cleanup[i][0])
			pt_remove_path(cleanup[i]);
	_exit(0);
}

/* Fork the janitor; the daemon keeps the write end (inherited by workers). */
static int start_janitor(const char *const *cleanup)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC))
		return -errno;
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -errno;
	}
	if (!pid) {
		close(p[1]);
		janitor(p[0], cleanup);
	}
	close(p[0]);
	/* Keep the write end across the workers' fork, never across exec. */
	return 0;
}

static bool kept(cap_value_t c, bool keep_bpf)
{
	for (int i = 0; keep_bpf && i < N_BPF_CAPS; i++)
		if (bpf_caps[i] == c)
			return true;
	return false;
}

/* Drop every other capability from the bounding set (needs CAP_SETPCAP: before setuid). */
static int cut_bounding_set(bool keep_bpf)
{
	for (cap_value_t c = 0; c <= CAP_LAST_CAP; c++)
		if (!kept(c, keep_bpf) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) && errno != EINVAL)
			return -errno;
	return 0;
}

static int set_caps(bool keep_bpf)
{
	cap_t caps = cap_init();
	int err = 0;

	if (!caps)
		return -errno;
	if (keep_bpf && (cap_set_flag(caps, CAP_PERMITTED, N_BPF_CAPS, bpf_caps, CAP_SET) ||
			 cap_set_flag(caps, CAP_EFFECTIVE, N_BPF_CAPS, bpf_caps, CAP_SET)))
		err = -errno;
	if (!err && cap_set_proc(caps))
		err = -errno;
	cap_free(caps);
	return err;
}

int pt_privs_drop(const char *user, bool keep_bpf, const char *const *cleanup)
{
	struct passwd *pw;
	int err;

	pw = getpwnam(user);
	if (!pw) {
		pr_err(MAIN, "user %s: no such user", user);
		return -ENOENT;
	}
	err = start_janitor(cleanup);
	if (err)
		goto fail;
	err = cut_bounding_set(keep_bpf);
	if (err)
		goto fail;
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) || setgroups(1, &pw->pw_gid) ||
	    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid)) {
		err = -errno;
		goto fail;
	}
	err = set_caps(keep_bpf);
	if (err)
		goto fail;
	prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
		err = -errno;
		goto fail;
	}
	/* Paranoia: there must be no way back. */
	if (pw->pw_uid && setuid(0) == 0) {
		err = -EPERM;
		goto fail;
	}
	pr_info(MAIN, "running as %s (uid %d, gid %d)%s", user, pw->pw_uid, pw->pw_gid,
		keep_bpf ? " with CAP_BPF and CAP_NET_ADMIN" : " without capabilities");
	return 0;
fail:
	pr_err(MAIN, "cannot drop privileges to %s: %s", user, strerror(-err));
	return err;
}
