// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The same-host bypass, data_plane "local" (experimental). When the
 * upstream runs on this host, what the backend sends goes from its socket
 * B straight into the client socket C, inline in the backend's sendmsg()
 * (bpf/local.bpf.c, sk_msg redirect): it never crosses the upstream
 * socket U nor this process. The client's bytes take the copy plane's
 * path, C -> this process -> U; where the kernel allows it (passthru-local.h,
 * "Client -> backend") the program on U moves what we send on U straight
 * into B's ingress queue instead of U's TCP stream, and falls back to that
 * stream whenever order or B's limit asks for it: TCP then keeps the
 * client's window closed while the backend does not read. We clear
 * up_busy after each turn (our send()s on U returned), a batched one
 * included (after_batch: copy.c batches our reads and sends too).
 *
 * Arming (nothing lost, nothing reordered):
 *   1. before connect(): the upstream address must be one of this host's
 *      in our netns (else fallback=not-local); U's cookie goes into
 *      PT_MAP_LOCAL_REG with C's cookie and the pair slot;
 *   2. C went into PT_MAP_LOCAL_CLI (key: its cookie) by sock_ops as its
 *      handshake completed (passthru-local.h, struct pt_local_lsn);
 *   3. connect(): sock_ops writes B's tuple into PT_MAP_LOCAL_ARM as U's
 *      SYN leaves (struct pt_local_reg), and puts B into PT_MAP_LOCAL_BE
 *      when B's handshake completes, before the backend can send a byte;
 *   4. attach: the copy plane takes C and U as usual. If B was not picked
 *      up (not in the cgroup v2 hierarchy, another netns behind the same
 *      address), everything is unregistered and the connection relays on
 *      copy (fallback=backend-unseen): nothing was redirected, so nothing
 *      is out of order.
 *
 * Bytes the program passes instead of redirecting (C's queue over the
 * limit, or while older passed bytes are still on their way) arrive on U
 * like ordinary upstream bytes; the copy plane writes them to C, and after
 * each call we publish how many it wrote (PT_MAP_LOCAL_DIR consumed): the
 * program redirects again only once consumed equals what B's TCP stream
 * carried, so those bytes are never overtaken. The backend's FIN comes over U after its last byte
 * was redirected or passed; the copy plane shuts C down only after writing
 * everything it read from U before it.
 *
 * Ends: a reset on either side is the copy plane's (it resets the other
 * side); unregistering takes the tuple out of PT_MAP_LOCAL_ARM first (both
 * programs then pass everything on TCP), then U, B and C out of their maps,
 * which gives the sockets their own protocol operations back.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <linux/tcp.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "conn.h"
#include "local-bpf.h"
#include "local.h"
#include "log.h"
#include "pairs.h"
#include "worker.h"

#define LOCAL_ARM_SPINS 1000 /* sched_yield()s to wait for B's handshake to complete */

static struct pt_local_dir *ldir(struct pt_conn *c)
{
	return &c->w->local->dirs[c->slot];
}

/* Bytes @fd's TCP stream has taken (acked + still queued), or -1. */
static int64_t tcp_written(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	uint64_t acked;
	int outq;

	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len))
		return -1;
	do { /* an ACK between the two calls moves both: read until it holds still */
		acked = ti.tcpi_bytes_acked;
		if (ioctl(fd, SIOCOUTQ, &outq) || getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len))
			return -1;
	} while (ti.tcpi_bytes_acked != acked);
	return (int64_t)acked + outq;
}

/*
 * Is @a an address of this host, in our network namespace? 127/8 is; for
 * another, a bind() without a port (IP_BIND_ADDRESS_NO_PORT) on a spare
 * socket says, and takes no port.
 */
static bool addr_is_local(const struct sockaddr_in *a)
{
	struct sockaddr_in u = { .sin_family = AF_INET, .sin_addr = a->sin_addr };
	int fd, one = 1;
	bool local;

	if ((ntohl(a->sin_addr.s_addr) >> 24) == 127)
		return true;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	setsockopt(fd, SOL_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	local = !bind(fd, (struct sockaddr *)&u, sizeof(u));
	close(fd);
	return local;
}

/*
 * Make C's send buffer hold the limit plus any one message of the backend
 * (passthru-local.h), and return the limit: sockmap_max_queued, or half the
 * buffer C got if that is less.
 */
static uint64_t size_cli(struct pt_conn *c)
{
	int v = (int)c->lcfg->sockmap_sndbuf, got = 0;
	socklen_t len = sizeof(got);
	uint64_t limit = c->lcfg->sockmap_max_queued;

	/* FORCE passes net.core.wmem_max; plain SNDBUF is the fallback. */
	if (v && setsockopt(c->cli.fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v)))
		setsockopt(c->cli.fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
	if (getsockopt(c->cli.fd, SOL_SOCKET, SO_SNDBUF, &got, &len) || got <= 0)
		return 0;
	return (uint64_t)got / 2 < limit ? (uint64_t)got / 2 : limit;
}

/* Steps 1 and 2 of the header. NULL, or why the bypass is not used. */
static const char *try_register(struct pt_conn *c, int fd, const struct pt_sockaddr *a)
{
	struct pt_local_bpf *lb = c->w->local;
	socklen_t len = sizeof(__u64);
	struct pt_local_reg reg = {};
	int64_t base;

	if (!lb)
		return "not-loaded";
	if (!c->lo)
		return c->fallback ? c->fallback : "insert-failed";
	if (a->ss.ss_family != AF_INET)
		return "ipv6";
	if (pt_conn_route(c)->transparent)
		return "transparent";
	if (!addr_is_local(&a->ss.sin))
		return "not-local";
	c->up_addr = a; /* for the pair slot, opened now: its counters must be ready */
	if (!pt_pair_open(c, PT_PLANE_LOCAL) || c->slot >= lb->n_slots)
		return "no-slot";
	memset(ldir(c), 0, sizeof(struct pt_local_dir));
	ldir(c)->limit = size_cli(c);
	base = tcp_written(c->cli.fd);
	if (base < 0)
		return "client-closed";
	c->lo->cli_base = base;
	reg.arm.slot = c->slot;
	reg.arm.cookie = c->lo->cookie;
	if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, &c->lo->ucookie, &len))
		return "insert-failed";
	if (bpf_map_update_elem(lb->reg_fd, &c->lo->ucookie, &reg, BPF_NOEXIST)) {
		pr_debug(CONN, "#%llu: local: register: %s", (unsigned long long)c->id,
			 strerror(errno));
		return "insert-failed";
	}
	c->lo->registered = true;
	return NULL;
}

void pt_local_register(struct pt_conn *c, int fd, const struct pt_sockaddr *a)
{
	const char *why;

	pt_local_unregister(c); /* an earlier attempt's (failover) */
	if (c->lcfg->data_plane != PT_DP_LOCAL)
		return;
	why = try_register(c, fd, a);
	if (!why)
		return;
	c->fallback = why;
	pt_local_release(c);
	pt_pair_close(c); /* the fallback plane opens its own */
	pr_debug(CONN, "#%llu: local: not used: %s", (unsigned long long)c->id, why);
}

void pt_local_accept(struct pt_conn *c)
{
	struct pt_local_bpf *lb = c->w->local;
	socklen_t len = sizeof(__u64);
	__u64 cookie, v;

	if (c->lcfg->data_plane != PT_DP_LOCAL || !lb)
		return;
	/* sock_ops put it there at the handshake (a port of a local listener). */
	if (getsockopt(c->cli.fd, SOL_SOCKET, SO_COOKIE, &cookie, &len) ||
	    bpf_map_lookup_elem(lb->cli_fd, &cookie, &v)) {
		c->fallback = "client-unseen";
		return;
	}
	c->lo = calloc(1, sizeof(*c->lo));
	if (!c->lo) {
		/* C leaves the map: it gets its own protocol operations back. */
		bpf_map_delete_elem(lb->cli_fd, &cookie);
		c->fallback = "no-memory";
		return;
	}
	c->lo->cookie = cookie;
}

/* The tuple sock_ops wrote into U's registration at connect(), if it did. */
static bool read_tuple(struct pt_conn *c)
{
	struct pt_local_reg reg;

	if (!c->lo->have_t && !bpf_map_lookup_elem(c->w->local->reg_fd, &c->lo->ucookie, &reg) &&
	    reg.set) {
		c->lo->t = reg.t;
		c->lo->have_t = true;
	}
	return c->lo->have_t;
}

void pt_local_unregister(struct pt_conn *c)
{
	struct pt_local_bpf *lb = c->w->local;

	if (!c->lo || !c->lo->registered)
		return;
	read_tuple(c);
	bpf_map_delete_elem(lb->reg_fd, &c->lo->ucookie);
	/* ARM first: from here the program passes everything to U. */
	if (c->lo->have_t) {
		bpf_map_delete_elem(lb->arm_fd, &c->lo->t);
		bpf_map_delete_elem(lb->up_fd, &c->lo->t);
		bpf_map_delete_elem(lb->be_fd, &c->lo->t);
	}
	c->lo->registered = false;
	c->lo->have_t = false;
}

void pt_local_release(struct pt_conn *c)
{
	pt_local_unregister(c);
	if (!c->lo)
		return;
	/* C gets its own protocol operations back (sock_map_unref()). */
	bpf_map_delete_elem(c->w->local->cli_fd, &c->lo->cookie);
	free(c->lo);
	c->lo = NULL;
}

/* Did sock_ops pick B up? Its handshake may still be completing on the other CPU. */
static bool backend_armed(struct pt_conn *c)
{
	struct pt_local_arm arm;

	if (!read_tuple(c))
		return false;
	for (int i = 0; i < LOCAL_ARM_SPINS; i++) {
		if (bpf_map_lookup_elem(c->w->local->arm_fd, &c->lo->t, &arm))
			return false;
		if (arm.armed)
			return true;
		sched_yield();
	}
	return false;
}

/* C's bytes acknowledged since registration, into the estimate's counter. */
static void refresh_acked(struct pt_conn *c)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	if (getsockopt(c->cli.fd, IPPROTO_TCP, TCP_INFO, &ti, &len))
		return;
	if (ti.tcpi_bytes_acked > c->lo->cli_base)
		__atomic_store_n(&ldir(c)->acked, ti.tcpi_bytes_acked - c->lo->cli_base,
				 __ATOMIC_RELEASE);
}

/*
 * After each call of the copy plane: tell the program how many passed
 * bytes reached C, and once its estimate of C's queue passes half the
 * limit, what C's peer acknowledged (passthru-local.h).
 */
static void publish(struct pt_conn *c)
{
	struct pt_local_dir *d = ldir(c);
	uint64_t est;

	__atomic_store_n(&d->consumed, c->bytes[PT_DIR_DOWN], __ATOMIC_RELEASE);
	/* Our send()s on U returned: no redirect into B is under way (passthru-local.h). */
	if (__atomic_load_n(&d->up_busy, __ATOMIC_RELAXED))
		__atomic_store_n(&d->up_busy, 0, __ATOMIC_SEQ_CST);
	if (c->pair) { /* for passthru-ctl, as of this turn */
		c->pair->dir[PT_DIR_DOWN].redirected = d->redirected;
		c->pair->dir[PT_DIR_DOWN].packets = d->msgs;
		/* What we sent on U counts both: split it (passthru-ctl adds them up). */
		c->pair->dir[PT_DIR_UP].redirected = d->up_redirected;
		c->pair->dir[PT_DIR_UP].packets = d->up_msgs;
		if (c->bytes[PT_DIR_UP] >= d->up_redirected)
			__atomic_store_n(&c->pair->dir[PT_DIR_UP].copied,
					 c->bytes[PT_DIR_UP] - d->up_redirected, __ATOMIC_RELAXED);
	}
	est = __atomic_load_n(&d->redirected, __ATOMIC_ACQUIRE) + c->bytes[PT_DIR_DOWN] - d->acked;
	if (est > d->limit / 2)
		refresh_acked(c);
}

static int local_attach(struct pt_conn *c, enum pt_end *end)
{
	int err;

	if (!c->lo || !c->lo->registered) {
		if (!c->fallback)
			c->fallback = "not-registered";
		return -EAGAIN;
	}
	if (!backend_armed(c)) {
		c->fallback = "backend-unseen";
		pt_local_release(c);
		pt_pair_close(c);
		return -EAGAIN;
	}
	err = pt_dp_copy.attach(c, end);
	if (err)
		return err;
	publish(c);
	return 0;
}

static enum pt_end local_event(struct pt_conn *c, enum pt_side side, uint32_t events)
{
	enum pt_end end = pt_dp_copy.event(c, side, events);

	publish(c);
	return end;
}

static enum pt_end local_resume(struct pt_conn *c)
{
	enum pt_end end = pt_dp_copy.resume(c);

	publish(c);
	return end;
}

/* Bytes C's stream took since registration: what the daemon wrote plus what was redirected. */
static uint64_t cli_bytes(struct pt_conn *c)
{
	int64_t w = tcp_written(c->cli.fd);

	/* Once shut down, the FIN takes one sequence number too. */
	if (w > 0 && c->dps.copy.dir[PT_DIR_DOWN].shut)
		w--;
	if (w < 0 || (uint64_t)w < c->lo->cli_base)
		return 0;
	return (uint64_t)w - c->lo->cli_base;
}

/* Redirected bytes move without us: they count as activity for the idle timeout. */
static enum pt_end local_timer(struct pt_conn *c)
{
	uint64_t down = cli_bytes(c);

	if (down != c->lo->idle_seen) {
		c->lo->idle_seen = down;
		c->t_last = c->w->loop.now;
	}
	return pt_dp_copy.timer(c);
}

static void local_detach(struct pt_conn *c)
{
	const struct pt_local_dir *d = ldir(c);
	uint64_t down = cli_bytes(c);

	pt_dp_copy.detach(c);
	pr_debug(CONN,
		 "#%llu: local down: redirected=%llu msgs=%llu passed=%llu consumed=%llu over=%llu "
		 "fail=%llu acked=%llu limit=%llu client_took=%llu",
		 (unsigned long long)c->id, (unsigned long long)d->redirected,
		 (unsigned long long)d->msgs, (unsigned long long)d->passed,
		 (unsigned long long)d->consumed, (unsigned long long)d->over,
		 (unsigned long long)d->fail, (unsigned long long)d->acked,
		 (unsigned long long)d->limit, (unsigned long long)down);
	pr_debug(CONN,
		 "#%llu: local up: redirected=%llu msgs=%llu order=%llu over=%llu fail=%llu "
		 "queued_max=%llu limit=%llu sent=%llu",
		 (unsigned long long)c->id, (unsigned long long)d->up_redirected,
		 (unsigned long long)d->up_msgs, (unsigned long long)d->up_order,
		 (unsigned long long)d->up_over, (unsigned long long)d->up_fail,
		 (unsigned long long)d->up_queued_max, (unsigned long long)d->up_limit,
		 (unsigned long long)c->bytes[PT_DIR_UP]);
	publish(c);
	if (down > c->bytes[PT_DIR_DOWN])
		c->bytes[PT_DIR_DOWN] = down;
	pt_local_release(c);
}

const struct pt_dataplane pt_dp_local = {
	.name = "local",
	.attach = local_attach,
	.event = local_event,
	.timer = local_timer,
	.resume = local_resume,
	.detach = local_detach,
	.after_batch = publish,
};
