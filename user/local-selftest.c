// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The same-host bypass's start-up self-test, on real loopback connections
 * of this process through the loaded programs (local-bpf.h):
 *
 *   arm       a backend socket whose tuple was registered before connect()
 *             is picked up by sock_ops: the hierarchy the program is on
 *             sees this process's sockets (cgroup v2), and the kernel runs
 *             PASSIVE_ESTABLISHED_CB with a sockhash update
 *   redirect  what the backend sends arrives on the client's peer, in
 *             order, and nothing on the upstream socket
 *   up        (where the kernel counts psock ingress bytes) the upstream
 *             socket was put into PT_MAP_LOCAL_UP and what it sends
 *             arrives on the backend socket, the second message through
 *             its ingress queue; if not (*up_why says why), the loader
 *             switches only this direction off
 *
 * A failure leaves the plane unloaded: every "local" connection falls back
 * to copy (fallback=not-loaded). Slot 0 of PT_MAP_LOCAL_DIR is borrowed
 * and zeroed again.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "local-bpf.h"

#define LST_TIMEOUT_MS 1000
#define LST_MSG	       "passthru local self-test"

struct lst_socks {
	int lsn, cli_peer, cli, up, be;
};

static int listen_lo(struct sockaddr_in *a)
{
	socklen_t len = sizeof(*a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)a, sizeof(*a)) || listen(fd, 4) ||
	    getsockname(fd, (struct sockaddr *)a, &len)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* A connected pair through @s->lsn: *out_conn the connecting end, accepted returned. */
static int pair_through(int lsn, const struct sockaddr_in *a, int *out_conn)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || connect(fd, (const struct sockaddr *)a, sizeof(*a))) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*out_conn = fd;
	return accept4(lsn, NULL, NULL, SOCK_CLOEXEC);
}

static bool armed(struct pt_local_bpf *lb, const struct pt_local_tuple *t)
{
	struct pt_local_arm arm;

	for (int i = 0; i < LST_TIMEOUT_MS; i++) {
		if (bpf_map_lookup_elem(lb->arm_fd, t, &arm))
			return false;
		if (arm.armed)
			return true;
		usleep(1000);
	}
	return false;
}

/* Read exactly @len bytes from @fd within the timeout. */
static bool read_all(int fd, char *buf, size_t len)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	size_t got = 0;
	ssize_t n;

	while (got < len && poll(&p, 1, LST_TIMEOUT_MS) == 1) {
		n = recv(fd, buf + got, len - got, MSG_DONTWAIT);
		if (n <= 0)
			return false;
		got += n;
	}
	return got == len;
}

/* @up sends LST_MSG, @be reads it: true if it arrived whole. */
static bool up_to_be(struct lst_socks *s)
{
	char buf[sizeof(LST_MSG)];

	return send(s->up, LST_MSG, sizeof(LST_MSG), MSG_NOSIGNAL) == sizeof(LST_MSG) &&
	       read_all(s->be, buf, sizeof(buf)) && !memcmp(buf, LST_MSG, sizeof(buf));
}

/*
 * The "up" step: NULL, or what failed. The first message takes TCP
 * (passthru-local.h); once the backend read it, the second is redirected.
 */
static const char *up_check(struct pt_local_bpf *lb, struct lst_socks *s,
			    const struct pt_local_tuple *t)
{
	__u64 v;

	if (bpf_map_lookup_elem(lb->up_fd, t, &v))
		return "sock_ops did not put the upstream socket into its map";
	if (!up_to_be(s) || !up_to_be(s))
		return "the upstream socket's bytes did not reach the backend";
	if (lb->dirs[0].up_redirected != sizeof(LST_MSG))
		return "the upstream socket's bytes took TCP, not the redirect";
	return NULL;
}

static int run(struct pt_local_bpf *lb, struct lst_socks *s, struct pt_local_tuple *t,
	       __u64 *cookie, __u64 *ureg, const char **step, const char **up_why)
{
	struct pt_local_reg reg = {};
	struct pt_local_arm arm = { .slot = 0 };
	socklen_t clen = sizeof(arm.cookie);
	struct sockaddr_in la;
	__u64 ucookie = 0;
	char buf[sizeof(LST_MSG)];
	__u64 fd;

	*step = "self-test: loopback sockets";
	s->lsn = listen_lo(&la);
	if (s->lsn < 0 || (s->cli = pair_through(s->lsn, &la, &s->cli_peer)) < 0)
		return -errno;
	s->up = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	clen = sizeof(ucookie);
	if (s->up < 0 || getsockopt(s->up, SOL_SOCKET, SO_COOKIE, &ucookie, &clen))
		return -errno;
	clen = sizeof(arm.cookie);
	fd = s->cli;
	*step = "self-test: register";
	memset(&lb->dirs[0], 0, sizeof(lb->dirs[0]));
	lb->dirs[0].limit = 1 << 20;
	if (getsockopt(s->cli, SOL_SOCKET, SO_COOKIE, &arm.cookie, &clen) ||
	    bpf_map_update_elem(lb->cli_fd, &arm.cookie, &fd, BPF_NOEXIST))
		return -errno;
	reg.arm = arm;
	if (bpf_map_update_elem(lb->reg_fd, &ucookie, &reg, BPF_NOEXIST))
		return -errno;
	*cookie = arm.cookie;
	*ureg = ucookie;
	if (connect(s->up, (struct sockaddr *)&la, sizeof(la)))
		return -errno;
	*step = "self-test arm: sock_ops did not see the upstream socket connect (cgroup v2?)";
	if (bpf_map_lookup_elem(lb->reg_fd, &ucookie, &reg) || !reg.set)
		return -ENOENT;
	*t = reg.t;
	s->be = accept4(s->lsn, NULL, NULL, SOCK_CLOEXEC);
	if (s->be < 0)
		return -errno;
	*step = "self-test arm: sock_ops did not pick up the backend socket (cgroup v2?)";
	if (!armed(lb, t))
		return -ENOENT;
	*step = "self-test redirect: the backend's bytes did not reach the client";
	if (send(s->be, LST_MSG, sizeof(LST_MSG), MSG_NOSIGNAL) != sizeof(LST_MSG) ||
	    !read_all(s->cli_peer, buf, sizeof(buf)) || memcmp(buf, LST_MSG, sizeof(buf)))
		return -EIO;
	*step = "self-test redirect: bytes also reached the upstream socket";
	if (recv(s->up, buf, 1, MSG_DONTWAIT) != -1 || errno != EAGAIN)
		return -EIO;
	if (lb->up_on)
		*up_why = up_check(lb, s, t);
	return 0;
}

int pt_local_selftest(struct pt_local_bpf *lb, const char **step, const char **up_why)
{
	struct lst_socks s = { -1, -1, -1, -1, -1 };
	struct pt_local_tuple t = {};
	__u64 cookie = 0, ureg = 0;
	int err;

	*up_why = NULL;
	err = run(lb, &s, &t, &cookie, &ureg, step, up_why);

	bpf_map_delete_elem(lb->reg_fd, &ureg);
	bpf_map_delete_elem(lb->arm_fd, &t);
	bpf_map_delete_elem(lb->cli_fd, &cookie);
	bpf_map_delete_elem(lb->be_fd, &t);
	bpf_map_delete_elem(lb->up_fd, &t);
	memset(&lb->dirs[0], 0, sizeof(lb->dirs[0]));
	for (int *fd = &s.lsn; fd <= &s.be; fd++)
		if (*fd >= 0)
			close(*fd);
	return err;
}
