/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The one contract between the BPF programs in bpf/ and userspace (the
 * daemon, passthru-ctl, tests). It includes nothing: the includer provides
 * <linux/types.h> (userspace) or vmlinux.h / <linux/bpf.h> (BPF).
 */
#ifndef __PASSTHRU_H
#define __PASSTHRU_H

/* Protocols a detector can report. Stored in BPF maps: never renumber. */
enum pt_proto {
	PT_PROTO_NONE = 0,	/* no detector decided (deadline or empty EOF) */
	PT_PROTO_UNKNOWN,	/* every detector said "not mine" */
	PT_PROTO_TLS,
	PT_PROTO_HTTP,
	PT_PROTO_HTTP2,
	PT_PROTO_SSH,
	PT_PROTO_SOCKS4,
	PT_PROTO_SOCKS5,
	PT_PROTO_PATTERN,	/* a user-defined pattern from the config */
	PT_PROTO_MAX,
};

/* Detection window limits (bytes). */
#define PT_WINDOW_DEFAULT	16384
#define PT_WINDOW_MAX		65536

/* Longest DNS name kept for SNI / Host (RFC 1035: 253 characters). */
#define PT_NAME_MAX		253

/* A JA4 TLS client fingerprint, "t13d1516h2_8daaf6152771_e5627efa2ab1": 36 characters, NUL, padding. */
#define PT_JA4_MAX		40


/*
 * Kernel data plane (sockmap). Map names are tokens so that both sides
 * spell them once: the BPF object defines PT_MAP_PAIRS etc., userspace
 * finds them as skel->maps.PT_MAP_PAIRS or by the string PT_STR(...).
 */
#define PT_MAP_PAIRS	pt_pairs	/* ARRAY (mmapable): struct pt_pair per slot */
#define PT_MAP_SOCKS	pt_socks	/* HASH: socket cookie -> struct pt_sock_ref */
#define PT_MAP_RX	pt_rx		/* SOCKHASH, verdict attached: sockets we read */
#define PT_MAP_TX	pt_tx		/* SOCKHASH, no program: redirect targets */
#define PT_MAP_META	pt_meta		/* ARRAY[1]: struct pt_meta */
#define PT_MAP_WAKE	pt_wake		/* ARRAY_OF_MAPS: worker id -> its RINGBUF of struct pt_wake */
#define PT_MAP_WAKE_LOST pt_wake_lost	/* ARRAY (mmapable): worker id -> wake-ups lost, ring full */
#define PT_PROG_VERDICT	prog_stream_verdict
#define __PT_STR(x)	#x
#define PT_STR(x)	__PT_STR(x)

#define PT_PIN_ROOT	"/sys/fs/bpf/passthru"

/* Bump when the layout of any shared struct or map changes. */
#define PT_ABI_VERSION	4
#define PT_META_MAGIC	0x50545255u	/* "PTRU" */

/* States of a pair slot, as passthru-ctl shows them. */
enum pt_pair_state {
	PT_PAIR_FREE = 0,
	PT_PAIR_RELAYING,	/* both directions open */
	PT_PAIR_HALF_CLOSED,	/* one direction finished (FIN passed on) */
	PT_PAIR_DRAINING,	/* EOF seen, waiting for queued bytes to reach the peer */
	PT_PAIR_CLOSING,
};

enum pt_plane {
	PT_PLANE_NONE = 0,
	PT_PLANE_SPLICE,
	PT_PLANE_SOCKMAP,
	PT_PLANE_COPY,
	PT_PLANE_LOCAL,		/* same-host bypass (include/passthru-local.h) */
	PT_PLANE_MAX,
};

/*
 * One direction of a pair: bytes read from one socket and written to the
 * other. The verdict program redirects while the daemon holds no passed
 * bytes (passed == consumed) and the kernel queue towards the peer stays
 * under the pair's limit; otherwise it passes the skb to the reading
 * socket's own queue, where the daemon picks it up and writes it to the
 * peer itself once the kernel queue has drained, in order. Passed skbs wait
 * in the reading socket, charged to its receive buffer, so its TCP window
 * closes while the daemon is behind: the sender slows down.
 */
struct pt_dir {
	__u64 redirected;	/* bytes redirected by the verdict program */
	__u64 packets;		/* skbs redirected */
	__u64 passed;		/* bytes left to the daemon (over the limit, or a failed redirect) */
	__u64 consumed;		/* passed bytes the daemon has written to the peer (daemon writes) */
	__u64 copied;		/* bytes relayed without the verdict: by the copy or the
				 * splice plane, before a move to sockmap too (daemon writes) */
	__u64 peer_base;	/* the peer's bytes_acked + unacked at insertion (daemon writes) */
	__u64 max_queued;	/* high-water mark of bytes queued in the kernel towards the peer */
	__u64 pass_events;	/* times the limit was hit and passing began */
	__u64 redirect_fail;	/* bpf_sk_redirect_hash() failures */
};

/*
 * The verdict tells the worker holding a pair (pt_pair.worker) that the
 * daemon has bytes to forward: one record in the worker's ring when a
 * direction begins passing (passed caught up with consumed before this skb)
 * and on every failed redirect. Between those the daemon does not watch
 * EPOLLIN on the pair's sockets (user/sockmap.c). A record that does not
 * fit counts in PT_MAP_WAKE_LOST[worker]: the worker then rescans all its
 * pairs.
 */
#define PT_WAKE_RING_SIZE	(64 * 1024)	/* bytes per worker: 4096 records */

struct pt_wake {
	__u32 slot;		/* PT_MAP_PAIRS index */
	__u32 dir;		/* the direction that began passing */
};

/* Address as passthru-ctl prints it; family 0 = unused. */
struct pt_addr {
	__u16 family;		/* AF_INET or AF_INET6 */
	__be16 port;
	__u8 addr[16];		/* IPv4 in the first 4 bytes */
};

#define PT_PAIR_NAME_MAX 64

/* A relayed connection, one slot of PT_MAP_PAIRS. */
struct pt_pair {
	__u64 cookie[2];	/* [0] client socket, [1] upstream socket */
	struct pt_dir dir[2];	/* [0] client -> upstream, [1] upstream -> client */
	__u64 limit;		/* max bytes queued in the kernel per direction */
	__u64 start_ns;		/* CLOCK_MONOTONIC at accept */
	__u64 conn_id;		/* the daemon's connection number */
	__u32 state;		/* enum pt_pair_state */
	__u32 plane;		/* enum pt_plane */
	__u16 listener;		/* listener index in the daemon's config */
	__u16 route;		/* route index within that listener */
	__u8 proto;		/* enum pt_proto */
	__u8 worker;
	__u16 flags;
	__u32 gen;		/* config generation the route index refers to */
	__u32 moves;		/* times the pair moved to another plane (daemon writes) */
	struct pt_addr client;
	struct pt_addr upstream;
	struct pt_addr dst;	/* gateway listeners: the destination the client asked for */
	__u32 pad;
	char name[PT_PAIR_NAME_MAX];	/* SNI or Host, "" if none */
	char ja4[PT_JA4_MAX];		/* TLS: JA4 fingerprint, "" if none */
};

/*
 * Which pair and direction a socket belongs to (PT_MAP_SOCKS value), and
 * where the verdict is in the socket's TCP stream. The daemon writes slot
 * and dir at insertion (the rest zero: a fresh entry per insertion); the
 * verdict keeps seq_next and trimmed (bpf/passthru.bpf.c, "Bytes seen
 * twice").
 */
struct pt_sock_ref {
	__u32 slot;
	__u32 dir;		/* the direction this socket's bytes travel */
	__u32 seq_next;		/* TCP sequence of the next byte not yet through the verdict */
	__u32 seq_known;	/* seq_next is set (0 until the first skb) */
	__u64 trimmed;		/* bytes cut off skbs as already seen (not relayed again) */
};

/* PT_MAP_META[0]: lets passthru-ctl refuse maps from another version. */
struct pt_meta {
	__u32 magic;
	__u32 abi;
	__u32 pair_size;	/* sizeof(struct pt_pair) */
	__u32 n_slots;
	__u32 n_workers;
	__u32 pid;		/* the daemon's master pid */
	__u64 start_ns;
	__u64 redirect_miss;	/* verdict ran on a socket with no pair */
	char instance[32];
};

#endif /* __PASSTHRU_H */
