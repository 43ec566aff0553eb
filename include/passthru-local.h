/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The contract between bpf/local.bpf.c (the same-host bypass, data_plane
 * "local") and user/local.c, user/local-bpf.c. Like passthru.h it includes
 * nothing: the includer provides the kernel types.
 *
 * Names: C the client socket (passthru's), U the upstream socket
 * (passthru's), B the backend's accepted socket, U's peer on this host.
 */
#ifndef __PASSTHRU_LOCAL_H
#define __PASSTHRU_LOCAL_H

#define PT_MAP_LOCAL_ARM	pt_local_arm	/* HASH: struct pt_local_tuple -> struct pt_local_arm */
#define PT_MAP_LOCAL_CLI	pt_local_cli	/* SOCKHASH, no program: C's cookie -> C (target) */
#define PT_MAP_LOCAL_BE		pt_local_be	/* SOCKHASH, sk_msg attached: tuple -> B */
#define PT_MAP_LOCAL_UP		pt_local_up	/* SOCKHASH, sk_msg attached: tuple -> U */
#define PT_MAP_LOCAL_DIR	pt_local_dir	/* ARRAY (mmapable): pair slot -> struct pt_local_dir */
#define PT_MAP_LOCAL_STAT	pt_local_stat	/* PERCPU_ARRAY[1]: struct pt_local_stat */
#define PT_MAP_LOCAL_LSN	pt_local_lsn	/* HASH: struct pt_local_lsn -> __u32 1 */
#define PT_MAP_LOCAL_REG	pt_local_reg	/* HASH: U's cookie -> struct pt_local_reg */
#define PT_PROG_LOCAL_SOCKOPS	prog_local_sockops
#define PT_PROG_LOCAL_MSG	prog_local_msg
#define PT_PROG_LOCAL_UPMSG	prog_local_upmsg

/*
 * B's connection as B sees it: its local end is the upstream address
 * passthru connected to, its remote end U's address. IPv4 only; addresses
 * in network order, ports in host order.
 */
struct pt_local_tuple {
	__u32 be_ip;		/* the upstream address (B's local address) */
	__u32 up_ip;		/* U's local address */
	__u16 be_port;
	__u16 up_port;
};

/*
 * A listening port of a "local" listener in passthru's network namespace:
 * the sock_ops program puts every client socket accepted there into
 * PT_MAP_LOCAL_CLI (key: its cookie) as its handshake completes, while it
 * is ESTABLISHED; the kernel refuses a socket in CLOSE_WAIT later, and
 * clients often send their FIN right behind the request, before accept().
 */
struct pt_local_lsn {
	__u64 netns;		/* network namespace cookie (SO_NETNS_COOKIE) */
	__u32 port;		/* host order */
	__u32 pad;
};

#define PT_LOCAL_MAX_LSN 1024

/*
 * PT_MAP_LOCAL_ARM's value: written by the sock_ops program from U's
 * registration when U's connect() sends its SYN; armed set once B is in
 * PT_MAP_LOCAL_BE, be_sk with it (B's struct sock: the sk_msg program on U
 * reads B's receive state through it with bpf_probe_read_kernel(), as it
 * can hold no reference to B; B leaves PT_MAP_LOCAL_BE before it is freed,
 * and a redirect needs B there, so a stale read can only make it pass).
 */
struct pt_local_arm {
	__u64 cookie;		/* C's socket cookie, its PT_MAP_LOCAL_CLI key */
	__u32 slot;		/* PT_MAP_LOCAL_DIR index (the connection's pair slot) */
	__u32 armed;		/* 1: B picked up by sock_ops */
	__u64 be_sk;		/* B's struct sock, kernel address (0 until armed) */
};

/*
 * U's registration, written by the daemon before connect() (key: U's
 * socket cookie, known as soon as the socket exists). U's port is not:
 * connect() picks it for the 4-tuple. So the sock_ops program, at U's
 * BPF_SOCK_OPS_TCP_CONNECT_CB (tcp_connect(), port chosen, SYN not yet
 * sent), writes PT_MAP_LOCAL_ARM[B's tuple] = arm and t here, for the
 * daemon to find both later. Binding U to a port before connect() would
 * need the port free for the address alone: thousands of short
 * connections exhaust that (TIME_WAIT).
 */
struct pt_local_reg {
	struct pt_local_arm arm;	/* the daemon's: cookie and slot */
	struct pt_local_tuple t;	/* the program's: B's tuple */
	__u32 set;			/* the program's: t and the ARM entry written */
};

/*
 * Backend -> client. The sk_msg program redirects what B sends straight
 * into C's send queue, inline in B's sendmsg(), while the daemon has
 * written to C every byte B's own TCP stream carried (B's counters ==
 * consumed) and C's queue, as estimated below, stays
 * under limit; otherwise it passes it on B's own TCP stream to U, where
 * the daemon reads it and writes it to C after everything before it.
 *
 * The estimate: written to C since registration (redirected + consumed)
 * minus what C's peer acknowledged (acked, refreshed by the daemon
 * whenever it runs for the connection, so it lags and the estimate errs
 * high). An sk_msg program cannot read C itself (a socket looked up in a
 * map must be released, and sk_msg has no bpf_sk_release). Redirecting
 * after the limit would let a full C answer EAGAIN to a non-blocking
 * backend whose own socket still polls writable: it would spin. Passed
 * bytes travel by TCP instead: the daemon, which then wakes, refreshes
 * acked, and when C is really full it stops reading U, U's window closes,
 * B's send buffer fills and the backend sees a socket that is not
 * writable. C's send buffer is made larger than limit plus any one message
 * (local.c), so a redirect under the limit finds room.
 */
struct pt_local_dir {
	__u64 redirected;	/* bytes the program redirected (B's sendmsg may take fewer) */
	__u64 msgs;		/* messages redirected */
	__u64 passed;		/* bytes B's TCP stream carried to U (at the last message) */
	__u64 consumed;		/* passed bytes the daemon wrote to C (daemon writes) */
	__u64 acked;		/* C's bytes acknowledged since registration (daemon writes) */
	__u64 limit;		/* most bytes estimated queued on C (daemon writes) */
	__u64 over;		/* messages passed because of the limit */
	__u64 fail;		/* redirects that failed (C gone from the map): passed */
	/* client -> backend (the program on U), below */
	__u64 up_redirected;	/* bytes redirected into B's psock ingress queue */
	__u64 up_msgs;		/* messages redirected */
	__u64 up_order;		/* messages passed: U unacked or B's TCP queue unread */
	__u64 up_over;		/* messages passed: B's ingress queue would pass the limit */
	__u64 up_fail;		/* redirects that failed (B gone from the map): passed */
	__u64 up_queued_max;	/* most bytes B's ingress queue held after a redirect */
	__u64 up_limit;		/* the limit at the last message (B's sk_rcvbuf) */
	__u64 up_busy;		/* 1: a redirect into B may be under way (program sets, daemon clears) */
	__u64 be_shut;		/* 1: B shut down its sending side (sock_ops): no more redirects */
};

/*
 * Client -> backend. U goes into PT_MAP_LOCAL_UP (sock_ops, when U's
 * handshake completes) if the kernel's struct sk_psock counts its ingress
 * queue (msg_tot_len; CO-RE: not on 6.1, where U stays out and this
 * direction takes U's TCP stream as before). The program on U redirects
 * what the daemon sends on U into B's psock ingress queue (BPF_F_INGRESS:
 * bpf_tcp_ingress() queues it under B's lock and wakes B, inside the
 * daemon's send(); tcp_bpf_recvmsg() reads that queue before B's TCP
 * receive queue) when
 *   - nothing older can be behind it: U's stream is fully acknowledged
 *     (snd_una == write_seq) and B has read its TCP receive queue
 *     (copied_seq == rcv_nxt), which has carried something already (the
 *     first message always takes TCP: a backend that shuts down before it
 *     reads anything finds nothing in its ingress queue); otherwise it
 *     passes the message on U's TCP stream, and the next redirect waits
 *     until those bytes are read;
 *   - B is ESTABLISHED and has not shut down (be_shut);
 *   - B's ingress queue stays within B's sk_rcvbuf (else it passes: TCP's
 *     window then closes U, the daemon stops reading C, the client waits).
 * The daemon's shutdown(U) sends the FIN on U's TCP stream after its last
 * send() returned, so after every redirected byte was queued on B; B reads
 * that queue before it can see the FIN.
 *
 * When B shuts down (FIN_WAIT1, LAST_ACK), sock_ops takes it out of
 * PT_MAP_LOCAL_BE (its own protocol operations back, bpf/local.bpf.c says
 * why) only if that loses nothing: its ingress queue empty and no redirect
 * under way. Leaving the map drops B's psock and the queue with it, and a
 * redirect that already chose B would land in a psock about to go. The two
 * sides order themselves through be_shut and up_busy (set, full barrier,
 * read the other's): the program on U sets up_busy and redirects only if
 * be_shut is clear; sock_ops sets be_shut and removes B only if up_busy is
 * clear; the daemon clears up_busy after its send() returned. Otherwise B
 * stays in the map until it closes.
 */

/* Cost accounting: how often the sock_ops program runs, and what it did. */
struct pt_local_stat {
	__u64 sockops_runs;	/* PASSIVE_ESTABLISHED callbacks seen (every TCP accept) */
	__u64 armed;		/* backend sockets picked up */
	__u64 arm_fail;		/* registered tuples whose insert failed */
	__u64 msg_runs;		/* sk_msg verdicts */
	__u64 up_armed;		/* upstream sockets put into PT_MAP_LOCAL_UP */
	__u64 up_runs;		/* sk_msg verdicts on U */
};

#endif /* __PASSTHRU_LOCAL_H */
