// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The kernel data plane: a verdict-only sk_skb program (no stream parser)
 * attached to PT_MAP_RX. Every skb that arrives on a relayed socket is
 * redirected (egress, flags 0) to the other socket of its pair, found in
 * PT_MAP_TX by socket cookie.
 *
 * What it never drops: data. A failed lookup or redirect passes the skb to
 * its own socket, where the daemon reads it and forwards it itself, in
 * order. Zero-length skbs (a bare FIN) are the one thing dropped: the FIN
 * is already recorded by TCP (RCV_SHUTDOWN, seen as EPOLLRDHUP), and both
 * other verdicts break the pair. Redirected, the backlog reports EPIPE on
 * the target; passed while the socket's psock queue holds skbs redirected
 * to it, it takes the same backlog path and a zero-length ingress is a
 * "hard error" there too (EPIPE, TX disabled: the queued bytes are lost).
 *
 * Backpressure: the kernel does not limit what waits in the target's psock
 * queue. Before redirecting, the program computes how much of this
 * direction is still queued (redirected + written by the daemon - what the
 * peer's TCP stream has taken) and passes the skb instead when the pair's
 * limit would be exceeded. Once one skb has been passed, every later one is
 * passed too until the daemon has written all of them (passed == consumed),
 * so order always holds. Passed skbs are charged to the reading socket and
 * close its TCP window when the daemon falls behind: the sender slows down.
 * (Taking the reader out of PT_MAP_RX instead would avoid the daemon's copy,
 * but sk_psock_verdict_recv() drops skbs whose program vanished mid-loop.)
 *
 * Wake-ups: the daemon does not watch EPOLLIN on a pair in steady kernel
 * relay (user/sockmap.c says why), so a passed skb would wait unseen. The
 * program therefore puts a struct pt_wake in the ring of the pair's worker
 * (PT_MAP_WAKE) when a direction begins passing, and on every failed
 * redirect. "Begins" is decided after the skb is counted: the value passed
 * had before this skb's fetch-and-add equals consumed read after it. The
 * daemon stores consumed, fences, then reads passed: either it sees this
 * skb's bytes, or this program sees its store and sends the record (both
 * sides store, then load the other's counter: one of them sees the other).
 * A record that does not fit (ring full) counts in PT_MAP_WAKE_LOST.
 * The early SK_PASS returns (socket or slot not found) send nothing: they
 * cannot name a worker, and they do not happen while a pair is relaying
 * (the daemon fills PT_MAP_SOCKS before PT_MAP_RX and empties RX first).
 *
 * Bytes seen twice: tcp_read_skb() hands the verdict whole skbs from the
 * receive queue and never looks at copied_seq (since "bpf: tcp_read_skb
 * needs to pop skb regardless of seq", 6.6 and stable: it assumes no skb
 * there holds bytes already taken). Two kinds do: a segment TCP queued although it starts before
 * rcv_nxt (tcp_data_queue(), "Partial packet, seq < rcv_next < end_seq":
 * a retransmission that covers bytes already received, e.g. after a lost
 * ACK; likely the 64 KiB excess once seen in make stress, under heavy
 * backpressure), and an skb the daemon had read in part before the pair
 * went into the maps. Redirected or passed whole, its old bytes reach the
 * target twice. So the program follows each socket's TCP sequence (the skb's struct
 * tcp_skb_cb seq, which an sk_skb program reads as cb[0]: its cb[] is the
 * start of skb->cb, net/core/filter.c sk_skb_convert_ctx_access()) and
 * cuts off the bytes before the next one it expects, starting from the
 * socket's copied_seq at its first skb (every byte before it the daemon
 * has read). bpf_skb_adjust_room() cuts at most 4095 bytes a call. An skb
 * with nothing new is cut to zero bytes and dropped: tcp_eat_skb() then
 * leaves copied_seq alone.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "passthru.h"

#ifndef READ_ONCE
#define READ_ONCE(x) (*(volatile typeof(x) *)&(x))
#endif

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1); /* sized by the loader */
	__type(key, __u32);
	__type(value, struct pt_pair);
} PT_MAP_PAIRS SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2);
	__type(key, __u64);
	__type(value, struct pt_sock_ref);
} PT_MAP_SOCKS SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 2);
	__type(key, __u64);
	__type(value, __u64);
} PT_MAP_RX SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 2);
	__type(key, __u64);
	__type(value, __u64);
} PT_MAP_TX SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pt_meta);
} PT_MAP_META SEC(".maps");

/* The template of the per-worker rings the loader makes and inserts. */
struct pt_wake_ring {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, PT_WAKE_RING_SIZE);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1); /* one per worker, sized by the loader */
	__type(key, __u32);
	__array(values, struct pt_wake_ring);
} PT_MAP_WAKE SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1); /* one per worker, sized by the loader */
	__type(key, __u32);
	__type(value, __u64);
} PT_MAP_WAKE_LOST SEC(".maps");

/*
 * Bytes the peer's TCP stream has taken since the connection started:
 * acknowledged plus still in its write queue. -1 if the peer is gone.
 */
static __always_inline __s64 peer_written(__u64 *peer_cookie)
{
	struct bpf_sock *sk;
	struct tcp_sock *tp;
	__s64 written = -1;

	sk = bpf_map_lookup_elem(&PT_MAP_TX, peer_cookie);
	if (!sk)
		return -1;
	tp = bpf_skc_to_tcp_sock(sk);
	if (tp)
		written = tp->bytes_acked + (__u32)(tp->write_seq - tp->snd_una);
	bpf_sk_release(sk);
	return written;
}

#define PT_CUT_STEP	4095	/* sk_skb_adjust_room(): at most 0xfff bytes a call */
#define PT_CUT_CALLS	64	/* up to 255 KiB cut off one skb */

/* The sequence of the next byte @ref's socket has not had through the verdict. */
static __always_inline __u32 seq_expected(struct pt_sock_ref *ref, __u64 *cookie)
{
	struct bpf_sock *sk;
	struct tcp_sock *tp;
	__u32 next;

	if (ref->seq_known)
		return ref->seq_next;
	sk = bpf_map_lookup_elem(&PT_MAP_TX, cookie);
	if (!sk)
		return 0;
	tp = bpf_skc_to_tcp_sock(sk);
	next = tp ? tp->copied_seq : 0;
	bpf_sk_release(sk);
	if (!tp)
		return 0;
	ref->seq_known = 1;
	return next;
}

/*
 * Cut off the head of @skb (@len bytes) the verdict already had (header
 * comment); skb->len says what is left. If the cut fails part way, the
 * rest of the old bytes go on: the daemon then finds more relayed than
 * received when the direction ends, and resets the pair.
 */
static __always_inline void skip_seen(struct __sk_buff *skb, struct pt_sock_ref *ref,
				      __u64 *cookie, __u32 len)
{
	__u32 seq = skb->cb[0], next, old, step;

	next = seq_expected(ref, cookie);
	if (!ref->seq_known)
		return;
	ref->seq_next = seq + len;
	old = next - seq;
	if ((__s32)old <= 0)
		return;
	if (old > len)
		old = len;
	for (int i = 0; i < PT_CUT_CALLS && old; i++) {
		step = old < PT_CUT_STEP ? old : PT_CUT_STEP;
		if (bpf_skb_adjust_room(skb, -(__s32)step, 0, 0))
			return;
		old -= step;
		__sync_fetch_and_add(&ref->trimmed, step);
	}
}

static __always_inline void count_miss(void)
{
	__u32 zero = 0;
	struct pt_meta *m = bpf_map_lookup_elem(&PT_MAP_META, &zero);

	if (m)
		__sync_fetch_and_add(&m->redirect_miss, 1);
}

/* Tell the worker of pair @p that direction @dir has bytes for the daemon. */
static __always_inline void wake_worker(const struct pt_pair *p, __u32 slot, __u32 dir)
{
	struct pt_wake ev = { .slot = slot, .dir = dir };
	__u32 w = p->worker;
	__u64 *lost;
	void *ring;

	ring = bpf_map_lookup_elem(&PT_MAP_WAKE, &w);
	if (ring && !bpf_ringbuf_output(ring, &ev, sizeof(ev), 0))
		return;
	lost = bpf_map_lookup_elem(&PT_MAP_WAKE_LOST, &w);
	if (lost)
		__sync_fetch_and_add(lost, 1);
}

SEC("sk_skb/stream_verdict")
int PT_PROG_VERDICT(struct __sk_buff *skb)
{
	__u64 cookie = bpf_get_socket_cookie(skb);
	struct pt_sock_ref *ref;
	struct pt_pair *p;
	struct pt_dir *d;
	__u32 len = skb->len, slot, dir;
	bool failed = false;
	__u64 peer, before;
	__s64 written, queued;

	if (!len)
		return SK_DROP;
	ref = bpf_map_lookup_elem(&PT_MAP_SOCKS, &cookie);
	if (!ref) {
		count_miss();
		return SK_PASS;
	}
	skip_seen(skb, ref, &cookie, len);
	len = skb->len;
	if (!len)
		return SK_DROP; /* nothing new in it */
	slot = ref->slot;
	dir = ref->dir & 1;
	p = bpf_map_lookup_elem(&PT_MAP_PAIRS, &slot);
	if (!p)
		return SK_PASS;
	d = &p->dir[dir];

	/* The daemon still owns older bytes of this direction: queue behind them. */
	if (READ_ONCE(d->passed) != READ_ONCE(d->consumed))
		goto pass;

	peer = p->cookie[dir ^ 1];
	written = peer_written(&peer);
	if (written < 0)
		goto fail;
	/* peer_base counts what another plane wrote before the move (copied). */
	queued = (__s64)(d->redirected + READ_ONCE(d->consumed) + READ_ONCE(d->peer_base)) -
		 written;
	if (queued < 0)
		queued = 0;
	if (queued + len > p->limit) {
		__sync_fetch_and_add(&d->pass_events, 1);
		goto pass;
	}
	if (bpf_sk_redirect_hash(skb, &PT_MAP_TX, &peer, 0) != SK_PASS)
		goto fail;
	__sync_fetch_and_add(&d->redirected, len);
	__sync_fetch_and_add(&d->packets, 1);
	if (queued + len > d->max_queued)
		d->max_queued = queued + len;
	return SK_PASS;
fail:
	__sync_fetch_and_add(&d->redirect_fail, 1);
	failed = true;
pass:
	before = __sync_fetch_and_add(&d->passed, len);
	if (failed || before == READ_ONCE(d->consumed))
		wake_worker(p, slot, dir);
	return SK_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
