// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The same-host bypass (data_plane "local", include/passthru-local.h has
 * the maps and the counters). Three programs:
 *
 * sock_ops, attached to the root of the cgroup v2 hierarchy:
 *   - when an upstream socket U that passthru registered (PT_MAP_LOCAL_REG,
 *     by cookie) connects, it writes the backend connection's tuple into
 *     PT_MAP_LOCAL_ARM before the SYN leaves (TCP_CONNECT_CB); when U's
 *     handshake completes (ACTIVE_ESTABLISHED_CB) U goes into
 *     PT_MAP_LOCAL_UP, where the kernel counts psock ingress bytes;
 *   - when a passive TCP connection becomes established on this host
 *     (PASSIVE_ESTABLISHED_CB), a tuple found in PT_MAP_LOCAL_ARM makes that
 *     backend socket B go into PT_MAP_LOCAL_BE, and a client accepted on a
 *     port of a "local" listener (PT_MAP_LOCAL_LSN) goes into
 *     PT_MAP_LOCAL_CLI. The callback runs in the softirq that completes B's
 *     handshake, under B's lock, before the backend can send on B: no byte
 *     B sends misses the bypass.
 * Any other connection costs a few hash lookups and is left alone.
 *
 * sk_msg, attached to PT_MAP_LOCAL_BE: runs inline in B's sendmsg() and
 * redirects the message into C's send queue (egress, flags 0): the bytes
 * never cross U. It passes the message on B's own stream (to U, where the
 * daemon relays it) instead when
 *   - the daemon has not yet written to C every byte B's stream carried
 *     (B's bytes_acked + unacked, read from B itself, != consumed): order;
 *   - C's queue would exceed the limit: backpressure by TCP
 *     (passthru-local.h says how the queue is estimated);
 *   - C is gone from PT_MAP_LOCAL_CLI (closing): the redirect failed.
 * A message it redirects reaches C before anything B sends later, its FIN
 * included: the FIN travels to U, and the daemon passes it on to C only
 * after reading U empty, so a backend's FIN never overtakes its data.
 *
 * sk_msg, attached to PT_MAP_LOCAL_UP: runs inline in the daemon's send()
 * on U (the copy plane relays C -> U) and redirects the message into B's
 * psock ingress queue (BPF_F_INGRESS) when nothing older can be behind it
 * and that queue stays within B's sk_rcvbuf; otherwise it passes it on U's
 * TCP stream. The daemon's FIN on U follows its last send(), by which time
 * every redirected byte is queued on B, and B reads that queue before its
 * TCP receive queue (passthru-local.h has the conditions and the kernel
 * path; README, "Same-host bypass").
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>

#include "passthru-local.h"

#ifndef READ_ONCE
#define READ_ONCE(x) (*(volatile typeof(x) *)&(x))
#endif

#define PT_AF_INET 2

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1); /* sized by the loader */
	__type(key, struct pt_local_tuple);
	__type(value, struct pt_local_arm);
} PT_MAP_LOCAL_ARM SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 1); /* sized by the loader */
	__type(key, __u64);
	__type(value, __u64);
} PT_MAP_LOCAL_CLI SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 1); /* sized by the loader */
	__type(key, struct pt_local_tuple);
	__type(value, __u64);
} PT_MAP_LOCAL_BE SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 1); /* sized by the loader */
	__type(key, struct pt_local_tuple);
	__type(value, __u64);
} PT_MAP_LOCAL_UP SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1); /* sized by the loader */
	__type(key, __u32);
	__type(value, struct pt_local_dir);
} PT_MAP_LOCAL_DIR SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1); /* sized by the loader */
	__type(key, __u64);
	__type(value, struct pt_local_reg);
} PT_MAP_LOCAL_REG SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PT_LOCAL_MAX_LSN);
	__type(key, struct pt_local_lsn);
	__type(value, __u32);
} PT_MAP_LOCAL_LSN SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pt_local_stat);
} PT_MAP_LOCAL_STAT SEC(".maps");

/*
 * Client -> backend through U's program (passthru-local.h): set by the
 * loader when the kernel's struct sk_psock has msg_tot_len, cleared again
 * if the self-test of that path fails.
 */
__u32 pt_local_up_on = 0;

static __always_inline struct pt_local_stat *stat(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&PT_MAP_LOCAL_STAT, &zero);
}

/*
 * sock_ops and sk_msg give remote_port in network order in the high half
 * on little-endian hosts (net/core/filter.c shifts skc_dport left by 16),
 * local_port in host order.
 */
static __always_inline __u16 remote_port_host(__u32 remote_port)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return bpf_ntohs((__u16)(remote_port >> 16));
#else
	return (__u16)remote_port;
#endif
}

/* A client of a "local" listener: into PT_MAP_LOCAL_CLI (passthru-local.h). */
static __always_inline int client_socket(struct bpf_sock_ops *skops, struct pt_local_stat *s)
{
	struct pt_local_lsn l = { .netns = bpf_get_netns_cookie(skops), .port = skops->local_port };
	__u64 cookie;

	if (!bpf_map_lookup_elem(&PT_MAP_LOCAL_LSN, &l))
		return 1;
	cookie = bpf_get_socket_cookie(skops);
	if (bpf_sock_hash_update(skops, &PT_MAP_LOCAL_CLI, &cookie, BPF_NOEXIST) && s)
		s->arm_fail++;
	return 1;
}

static __always_inline void tuple_of(struct bpf_sock_ops *skops, struct pt_local_tuple *t)
{
	t->be_ip = skops->local_ip4;
	t->up_ip = skops->remote_ip4;
	t->be_port = (__u16)skops->local_port;
	t->up_port = remote_port_host(skops->remote_port);
}

/*
 * B's ingress queue in bytes and its limit, read through B's struct sock
 * (struct pt_local_arm): -1 if B has no psock (left the map).
 */
static __always_inline __s64 be_queued(struct sock *be, __s64 *limit)
{
	unsigned long ud = (unsigned long)BPF_CORE_READ(be, sk_user_data);
	struct sk_psock *psock;

	/* sk_user_data carries flag bits (SK_USER_DATA_PTRMASK, include/net/sock.h) */
	psock = (struct sk_psock *)(ud & ~7UL);
	if (!psock)
		return -1;
	*limit = BPF_CORE_READ(be, sk_rcvbuf);
	if (!bpf_core_field_exists(struct sk_psock, msg_tot_len))
		return -1;
	return BPF_CORE_READ(psock, msg_tot_len);
}

/*
 * May B leave PT_MAP_LOCAL_BE now that it shut down? Not while its ingress
 * queue holds bytes or a redirect into it may be under way
 * (passthru-local.h: be_shut and up_busy). Without the program on U it may.
 */
static __always_inline bool be_may_leave(const struct pt_local_tuple *t)
{
	struct pt_local_arm *arm;
	struct pt_local_dir *d;
	__s64 limit = 0;
	__u32 slot;

	if (!pt_local_up_on)
		return true;
	arm = bpf_map_lookup_elem(&PT_MAP_LOCAL_ARM, t);
	if (!arm)
		return true; /* unregistered: the program on U passes everything */
	slot = arm->slot;
	d = bpf_map_lookup_elem(&PT_MAP_LOCAL_DIR, &slot);
	if (!d || !arm->be_sk)
		return true;
	__sync_fetch_and_or(&d->be_shut, 1);
	if (__sync_fetch_and_or(&d->up_busy, 0))
		return false;
	return be_queued((struct sock *)(unsigned long)arm->be_sk, &limit) <= 0;
}

/*
 * B's own side is done (FIN_WAIT1, LAST_ACK: the backend shut down or
 * closed; CLOSE: reset): it can send no more, so it leaves PT_MAP_LOCAL_BE and gets tcp_prot back
 * before its next recv(). Kept there, a blocking recv() would go through tcp_bpf_recvmsg(), which
 * returns -EAGAIN when tcp_msg_wait_data() is woken without data, as the ACK of B's FIN does
 * (sk_state_change(), FIN_WAIT1 -> FIN_WAIT2): a blocking backend that half-closes and then reads
 * would see EAGAIN (net/ipv4/tcp_bpf.c, every kernel we target). With the program on U it stays
 * when leaving would lose bytes (be_may_leave()): leaving drops B's psock, and with it the ingress
 * queue the backend has not read (sk_psock_drop(), net/core/skmsg.c).
 */
static __always_inline int backend_state(struct bpf_sock_ops *skops)
{
	struct pt_local_tuple t = {};

	__u32 to = skops->args[1];

	/* CLOSE_WAIT (the client's FIN) leaves B sending: it stays. */
	if ((to != BPF_TCP_FIN_WAIT1 && to != BPF_TCP_LAST_ACK && to != BPF_TCP_CLOSE) ||
	    skops->family != PT_AF_INET)
		return 1;
	tuple_of(skops, &t);
	if (to != BPF_TCP_CLOSE && !be_may_leave(&t))
		return 1;
	bpf_map_delete_elem(&PT_MAP_LOCAL_BE, &t);
	return 1;
}

/*
 * U connects (TCP_CONNECT_CB: its port chosen, the SYN not sent yet): if
 * the daemon registered it, the backend connection's tuple is known now;
 * arm it before B can exist.
 */
static __always_inline int upstream_connect(struct bpf_sock_ops *skops)
{
	__u64 cookie = bpf_get_socket_cookie(skops);
	struct pt_local_reg *reg;
	struct pt_local_tuple t = {};

	reg = bpf_map_lookup_elem(&PT_MAP_LOCAL_REG, &cookie);
	if (!reg || skops->family != PT_AF_INET)
		return 1;
	t.be_ip = skops->remote_ip4;
	t.up_ip = skops->local_ip4;
	t.be_port = remote_port_host(skops->remote_port);
	t.up_port = (__u16)skops->local_port;
	reg->t = t;
	if (!bpf_map_update_elem(&PT_MAP_LOCAL_ARM, &t, &reg->arm, BPF_ANY))
		reg->set = 1;
	return 1;
}

/*
 * U's handshake completed (ACTIVE_ESTABLISHED_CB, before the daemon can
 * send on it): a registered U goes into PT_MAP_LOCAL_UP, where the program
 * on U takes over its sends (passthru-local.h). Not on a kernel whose
 * psock does not count its ingress queue: no bound there.
 */
static __always_inline int upstream_established(struct bpf_sock_ops *skops)
{
	__u64 cookie = bpf_get_socket_cookie(skops);
	struct pt_local_stat *s = stat();
	struct pt_local_reg *reg;
	struct pt_local_tuple t;

	if (!pt_local_up_on || !bpf_core_field_exists(struct sk_psock, msg_tot_len))
		return 1;
	reg = bpf_map_lookup_elem(&PT_MAP_LOCAL_REG, &cookie);
	if (!reg || !reg->set || skops->family != PT_AF_INET)
		return 1;
	t = reg->t;
	if (bpf_sock_hash_update(skops, &PT_MAP_LOCAL_UP, &t, BPF_NOEXIST)) {
		if (s)
			s->arm_fail++;
		return 1;
	}
	if (s)
		s->up_armed++;
	return 1;
}

SEC("sockops")
int PT_PROG_LOCAL_SOCKOPS(struct bpf_sock_ops *skops)
{
	struct pt_local_tuple t = {};
	struct pt_local_stat *s;
	struct pt_local_arm *arm;

	if (skops->op == BPF_SOCK_OPS_STATE_CB)
		return backend_state(skops); /* only B asks for it */
	if (skops->op == BPF_SOCK_OPS_TCP_CONNECT_CB)
		return upstream_connect(skops);
	if (skops->op == BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB)
		return upstream_established(skops);
	if (skops->op != BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB)
		return 1;
	s = stat();
	if (s)
		s->sockops_runs++;
	if (skops->family != PT_AF_INET)
		return 1;
	tuple_of(skops, &t);
	arm = bpf_map_lookup_elem(&PT_MAP_LOCAL_ARM, &t);
	if (!arm)
		return client_socket(skops, s);
	if (bpf_sock_hash_update(skops, &PT_MAP_LOCAL_BE, &t, BPF_NOEXIST)) {
		if (s)
			s->arm_fail++;
		return 1;
	}
	bpf_sock_ops_cb_flags_set(skops, BPF_SOCK_OPS_STATE_CB_FLAG);
	if (s)
		s->armed++;
	if (skops->sk)
		arm->be_sk = (__u64)(unsigned long)skops->sk;
	*(volatile __u32 *)&arm->armed = 1;
	return 1;
}

SEC("sk_msg")
int PT_PROG_LOCAL_MSG(struct sk_msg_md *msg)
{
	struct pt_local_tuple t = {};
	struct pt_local_arm *arm;
	struct pt_local_dir *d;
	struct pt_local_stat *s;
	__u32 size = msg->size, slot;
	__u64 cookie;
	__s64 queued;
	struct tcp_sock *tp;
	__u64 written;

	s = stat();
	if (s)
		s->msg_runs++;
	t.be_ip = msg->local_ip4;
	t.up_ip = msg->remote_ip4;
	t.be_port = (__u16)msg->local_port;
	t.up_port = remote_port_host(msg->remote_port);
	arm = bpf_map_lookup_elem(&PT_MAP_LOCAL_ARM, &t);
	if (!arm)
		return SK_PASS;
	slot = arm->slot;
	cookie = arm->cookie;
	d = bpf_map_lookup_elem(&PT_MAP_LOCAL_DIR, &slot);
	if (!d)
		return SK_PASS;
	/*
	 * Everything B's own TCP stream carried (passed) must be in C before
	 * a redirect: the daemon wrote it (consumed). B's stream says what
	 * it took, so a pass the backend's send cut short counts right.
	 */
	tp = bpf_skc_to_tcp_sock(msg->sk);
	if (!tp)
		return SK_PASS;
	written = tp->bytes_acked + (__u32)(tp->write_seq - tp->snd_una);
	d->passed = written;
	if (written != READ_ONCE(d->consumed))
		goto pass;
	queued = (__s64)(d->redirected + READ_ONCE(d->consumed) - READ_ONCE(d->acked));
	if (queued + size > (__s64)READ_ONCE(d->limit)) {
		__sync_fetch_and_add(&d->over, 1);
		goto pass;
	}
	if (bpf_msg_redirect_hash(msg, &PT_MAP_LOCAL_CLI, &cookie, 0) != SK_PASS) {
		__sync_fetch_and_add(&d->fail, 1);
		goto pass;
	}
	__sync_fetch_and_add(&d->redirected, size);
	__sync_fetch_and_add(&d->msgs, 1);
	return SK_PASS;
pass:
	return SK_PASS;
}

/* Can nothing older be behind a message sent on U now? (passthru-local.h) */
static __always_inline bool in_order(struct sk_msg_md *msg, struct sock *be)
{
	struct tcp_sock *up = bpf_skc_to_tcp_sock(msg->sk);
	struct tcp_sock *tb = (struct tcp_sock *)be;

	if (!up || up->snd_una != up->write_seq)
		return false;
	return BPF_CORE_READ(tb, bytes_received) && /* the first message takes TCP */
	       BPF_CORE_READ(tb, copied_seq) == BPF_CORE_READ(tb, rcv_nxt) &&
	       BPF_CORE_READ(be, __sk_common.skc_state) == BPF_TCP_ESTABLISHED;
}

/* Count a redirect of @size bytes onto @queued ones in B's ingress queue. */
static __always_inline void up_count(struct pt_local_dir *d, __s64 queued, __u32 size)
{
	__u64 now = (__u64)queued + size;

	__sync_fetch_and_add(&d->up_redirected, size);
	__sync_fetch_and_add(&d->up_msgs, 1);
	if (now > d->up_queued_max)
		d->up_queued_max = now; /* U's lock serialises the program on U */
}

/*
 * sk_msg on U, inline in the daemon's send(): into B's ingress queue when
 * in order and within the limit, else on U's TCP stream (passthru-local.h).
 */
SEC("sk_msg")
int PT_PROG_LOCAL_UPMSG(struct sk_msg_md *msg)
{
	struct pt_local_tuple t = {};
	struct pt_local_stat *s = stat();
	struct pt_local_arm *arm;
	struct pt_local_dir *d;
	__u32 size = msg->size, slot;
	__s64 queued, limit = 0;
	struct sock *be;

	if (s)
		s->up_runs++;
	t.be_ip = msg->remote_ip4;
	t.up_ip = msg->local_ip4;
	t.be_port = remote_port_host(msg->remote_port);
	t.up_port = (__u16)msg->local_port;
	arm = bpf_map_lookup_elem(&PT_MAP_LOCAL_ARM, &t);
	if (!arm || !size || !bpf_core_field_exists(struct sk_psock, msg_tot_len))
		return SK_PASS;
	slot = arm->slot;
	be = (struct sock *)(unsigned long)arm->be_sk;
	d = bpf_map_lookup_elem(&PT_MAP_LOCAL_DIR, &slot);
	if (!d || !be)
		return SK_PASS;
	if (!in_order(msg, be)) {
		__sync_fetch_and_add(&d->up_order, 1);
		return SK_PASS;
	}
	queued = be_queued(be, &limit);
	d->up_limit = limit;
	if (queued < 0 || queued + size > limit) {
		__sync_fetch_and_add(&d->up_over, 1);
		return SK_PASS;
	}
	__sync_fetch_and_or(&d->up_busy, 1); /* then be_shut: see passthru-local.h */
	if (__sync_fetch_and_or(&d->be_shut, 0))
		return SK_PASS;
	if (bpf_msg_redirect_hash(msg, &PT_MAP_LOCAL_BE, &t, BPF_F_INGRESS) != SK_PASS) {
		__sync_fetch_and_add(&d->up_fail, 1);
		return SK_PASS;
	}
	up_count(d, queued, size);
	return SK_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
