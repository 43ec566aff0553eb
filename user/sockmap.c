// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The sockmap data plane: the client/upstream pair goes into BPF socket
 * maps and the verdict program in bpf/passthru.bpf.c relays every byte in
 * the kernel. The daemon only watches for the end of each direction and
 * for bytes the program handed back to it (backpressure).
 *
 * Handoff (no byte lost or reordered; see shared/research/sockmap.md 4.1):
 *   1. pair slot filled: cookies, the peers' write counters, the limit;
 *   2. both sockets into PT_MAP_TX (no program: they become redirect
 *      targets, their receive queues keep filling in order);
 *   3. both into PT_MAP_RX (the verdict now runs on new skbs);
 *   4. a MSG_PEEK recv on each: bytes queued before step 3 (the peeked
 *      first flight, an early server banner) go through the verdict now.
 *
 * End of a direction (source S feeds target T): the kernel never forwards
 * FIN. After S reports RDHUP we wait until (a) every byte S received went
 * through the verdict (redirected + passed + copied == bytes received, where
 * copied is what the copy plane relayed before a move here), (b) the
 * daemon wrote every passed byte (passed == consumed), (c) T's TCP stream
 * took everything (T's written counter caught up); then shutdown(T, WR).
 * Waiting polls with a short timer; a pair that makes no progress for
 * drain_timeout_ms is reset.
 *
 * What wakes us: not the redirected bytes. sk_psock_verdict_data_ready()
 * calls the saved sock_def_readable() after each read_skb batch (6.4+, and
 * 6.1.192 net/core/skmsg.c l.1288-1293), key EPOLLIN|EPOLLPRI|EPOLLRDNORM|
 * EPOLLRDBAND (net/core/sock.c l.3347), and ep_poll_callback() ignores a
 * key sharing no bit with the watched mask (fs/eventpoll.c l.1169). So a
 * pair relaying in the kernel is watched for EPOLLRDHUP only (plus EPOLLOUT
 * while our write is stuck). A FIN wakes us: tcp_fin() -> sk_state_change =
 * sock_def_wakeup(), no key (tcp_input.c l.4552, sock.c l.3324); a reset:
 * tcp_done() -> sk_state_change (tcp.c l.4738), sk_error_report -> key
 * EPOLLERR (sock.c l.3335), in every mask (eventpoll.c l.2218, l.2238).
 * Bytes passed back to us are announced by the verdict (a ring record,
 * sockmap-wake.c) when a direction begins passing or a redirect fails; the
 * pair's turn forwards them and watches EPOLLIN (a MOD reports readiness
 * already there) on a side whose direction owes bytes (passed != consumed,
 * or owed) or saw EOF (draining: polled anyway), and on both sides until
 * the turn attach defers (the handoff). Race: a turn sees passed == consumed,
 * drops EPOLLIN, and the verdict begins passing. We store consumed, fence,
 * load passed; the program fetch-and-adds passed (fully ordered), loads
 * consumed, and sends a record if passed equalled it. Each stores, then loads
 * the other's counter: one sees the other (we keep EPOLLIN, or a turn comes).
 *
 * Like every data plane, this one never closes a connection: its callbacks
 * return the end reason and conn.c closes (dataplane.h).
 */
#include <errno.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <linux/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "bpf_loader.h"
#include "conn.h"
#include "log.h"
#include "pairs.h"
#include "sockmap-budget.h"
#include "sockmap-wake.h"
#include "worker.h"

#define PT_TCP_CLOSE   7 /* include/net/tcp_states.h, not in the uapi headers */
#define SM_POLL_MIN_MS 1
#define SM_POLL_MAX_MS 50

static struct pt_sockmap_state *sm(struct pt_conn *c)
{
	return &c->dps.sockmap;
}

static int side_fd(const struct pt_conn *c, enum pt_side s)
{
	return s == PT_SIDE_CLIENT ? c->cli.fd : c->up.fd;
}

/* Direction d reads from its source side and writes to its target side. */
static enum pt_side src_side(int d)
{
	return d == PT_DIR_UP ? PT_SIDE_CLIENT : PT_SIDE_UPSTREAM;
}

static enum pt_side dst_side(int d)
{
	return d == PT_DIR_UP ? PT_SIDE_UPSTREAM : PT_SIDE_CLIENT;
}

static int src_fd(const struct pt_conn *c, int d)
{
	return side_fd(c, src_side(d));
}

static int dst_fd(const struct pt_conn *c, int d)
{
	return side_fd(c, dst_side(d));
}

static uint64_t ld(const __u64 *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static int tcp_info_of(int fd, struct tcp_info *ti)
{
	socklen_t len = sizeof(*ti);

	return getsockopt(fd, IPPROTO_TCP, TCP_INFO, ti, &len) ? -errno : 0;
}

/*
 * Bytes fd's TCP stream has taken (acked + still queued), or -errno.
 * TCP_INFO gives bytes_acked, SIOCOUTQ write_seq - snd_una (lockless): two
 * calls, and an ACK between them moves snd_una after bytes_acked was read,
 * so their sum falls short by what it acked. A pair moved here from copy is
 * inserted while the copy plane's last bytes are still being acked: its
 * peer_base came out short, the backlog later went below zero and the pair
 * was reset. So bytes_acked is read again after SIOCOUTQ until it holds still.
 */
static int64_t tcp_written(int fd)
{
	struct tcp_info ti;
	uint64_t acked;
	int outq, err;

	err = tcp_info_of(fd, &ti);
	while (!err) {
		acked = ti.tcpi_bytes_acked;
		if (ioctl(fd, SIOCOUTQ, &outq))
			return -errno;
		err = tcp_info_of(fd, &ti);
		if (!err && ti.tcpi_bytes_acked == acked)
			return (int64_t)acked + outq;
	}
	return err;
}

/* Bytes fd has received from its peer (counting a FIN as one), or -errno. */
static int64_t tcp_received(int fd)
{
	struct tcp_info ti;
	int err = tcp_info_of(fd, &ti);

	return err ? err : (int64_t)ti.tcpi_bytes_received;
}

static int get_cookie(int fd, uint64_t *cookie)
{
	socklen_t len = sizeof(*cookie);

	return getsockopt(fd, SOL_SOCKET, SO_COOKIE, cookie, &len) ? -errno : 0;
}

/* --- insertion and removal ---------------------------------------------- */

static void set_sndbuf(struct pt_conn *c)
{
	int v = (int)sm(c)->sndbuf;

	if (!v)
		return;
	for (int s = 0; s < 2; s++) {
		int fd = side_fd(c, s);

		/* FORCE passes net.core.wmem_max; plain SNDBUF is the fallback. */
		if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v)))
			setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
	}
}

static void maps_remove(struct pt_conn *c)
{
	struct pt_bpf *b = c->w->bpf;
	struct pt_pair *p = c->pair;

	/* RX first: the verdict stops before the targets disappear. */
	for (int s = 0; s < 2; s++)
		bpf_map_delete_elem(b->rx_fd, &p->cookie[s]);
	for (int s = 0; s < 2; s++)
		bpf_map_delete_elem(b->tx_fd, &p->cookie[s]);
	for (int s = 0; s < 2; s++)
		bpf_map_delete_elem(b->socks_fd, &p->cookie[s]);
	sm(c)->in_maps = false;
}

/*
 * Insert the pair. Returns 0, -EIO if it failed half way (bytes may already
 * be in the kernel queues: the connection must be reset), or the -errno of
 * a failure before the verdict could run on either socket (nothing moved:
 * the caller may use splice instead).
 */
static int maps_insert(struct pt_conn *c, const uint64_t cookie[2])
{
	struct pt_bpf *b = c->w->bpf;
	int err = 0;

	sm(c)->in_maps = true;
	for (int s = 0; s < 2 && !err; s++) {
		struct pt_sock_ref ref = { .slot = c->slot,
					   .dir = s == PT_SIDE_CLIENT ? PT_DIR_UP : PT_DIR_DOWN };

		if (bpf_map_update_elem(b->socks_fd, &cookie[s], &ref, BPF_NOEXIST))
			err = -errno;
	}
	for (int s = 0; s < 2 && !err; s++) {
		uint64_t fd = side_fd(c, s);

		if (bpf_map_update_elem(b->tx_fd, &cookie[s], &fd, BPF_NOEXIST))
			err = -errno;
	}
	for (int s = 0; s < 2 && !err; s++) {
		uint64_t fd = side_fd(c, s);

		if (bpf_map_update_elem(b->rx_fd, &cookie[s], &fd, BPF_NOEXIST))
			err = s == 0 ? -errno : -EIO;
	}
	if (err) {
		pr_debug(CONN, "#%llu: sockmap insert: %s", (unsigned long long)c->id,
			 strerror(-err));
		maps_remove(c);
	}
	return err;
}

/* Make the verdict run over bytes that were queued before insertion. */
static void kick(struct pt_conn *c)
{
	char b;

	for (int s = 0; s < 2; s++) {
		/* A pending reset surfaces here, once: sock_error() clears it. */
		if (recv(side_fd(c, s), &b, 1, MSG_PEEK | MSG_DONTWAIT) == -1 && errno != EAGAIN &&
		    errno != EINTR && !sm(c)->reset[s])
			sm(c)->reset[s] = errno;
	}
}

/*
 * Did the peer on @side abort (RST) rather than finish (FIN)? Its error may
 * already have been taken by one of our calls; a socket that is CLOSE while
 * we never shut it down for writing can only have been reset.
 */
static int peer_aborted(struct pt_conn *c, enum pt_side side)
{
	int fd = side_fd(c, side), err = 0;
	int into = side == PT_SIDE_CLIENT ? PT_DIR_DOWN : PT_DIR_UP;
	socklen_t len = sizeof(err);
	struct tcp_info ti;

	if (sm(c)->reset[side])
		return sm(c)->reset[side];
	if (!getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) && err)
		return err;
	len = sizeof(ti);
	if (!sm(c)->shut[into] && !getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) &&
	    ti.tcpi_state == PT_TCP_CLOSE)
		return ECONNRESET;
	return 0;
}

/* --- draining ------------------------------------------------------------ */

static uint64_t counter_sig(const struct pt_pair *p)
{
	uint64_t sum = 0;

	for (int d = 0; d < 2; d++)
		sum += ld(&p->dir[d].redirected) + ld(&p->dir[d].passed) + ld(&p->dir[d].consumed);
	return sum;
}

/* Bytes of direction d not yet in the target's TCP stream, or -errno. */
static int64_t backlog(struct pt_conn *c, int d)
{
	const struct pt_dir *pd = &c->pair->dir[d];
	int64_t w = tcp_written(dst_fd(c, d));

	if (w < 0)
		return w;
	return (int64_t)(ld(&pd->redirected) + ld(&pd->consumed) + pd->peer_base) - w;
}

/* Must the source of direction d be watched for EPOLLIN (header comment)? */
static bool needs_in(struct pt_conn *c, int d)
{
	return !sm(c)->settled || sm(c)->eof[d] || sm(c)->owed[d] ||
	       ld(&c->pair->dir[d].passed) != ld(&c->pair->dir[d].consumed);
}

static void watch_sides(struct pt_conn *c)
{
	struct pt_sockmap_state *s = sm(c);
	uint32_t want[2];

	for (int side = 0; side < 2; side++) {
		/* RDHUP: EOF; IN while bytes are owed; OUT only while a write is stuck. */
		want[side] = EPOLLRDHUP | EPOLLET;
		if (needs_in(c, side == PT_SIDE_CLIENT ? PT_DIR_UP : PT_DIR_DOWN))
			want[side] |= EPOLLIN;
		if (s->out_wait[side == PT_SIDE_CLIENT ? PT_DIR_DOWN : PT_DIR_UP])
			want[side] |= EPOLLOUT;
		if (want[side] != s->mask[side]) {
			pt_loop_watch(&c->w->loop, side == PT_SIDE_CLIENT ? &c->cli : &c->up,
				      want[side]);
			s->mask[side] = want[side];
		}
	}
}

#ifdef PT_TEST_HOOKS
/*
 * Test build only (PT_TEST_HOOKS, build/tests/passthru-hooks; the shipped
 * daemon has none of this): fault injection, every Nth call hits when the
 * variable @name holds N (unset or 0: never). PASSTHRU_FAULT_OWED makes a recv() of owed
 * bytes answer EAGAIN, as the kernel sometimes does (see take_owed());
 * PASSTHRU_FAULT_INFLIGHT makes forward_passed(), resumed after the target
 * was full, see redirected bytes still on their way to it, as while the
 * kernel's worker pushes them.
 */
struct pt_fault {
	const char *name;
	long every; /* -1 until read from the environment */
	long calls;
};

static struct pt_fault fault_owed = { "PASSTHRU_FAULT_OWED", -1, 0 };
static struct pt_fault fault_inflight = { "PASSTHRU_FAULT_INFLIGHT", -1, 0 };

static bool fault_hit(struct pt_fault *f)
{
	if (f->every < 0) {
		const char *e = getenv(f->name);

		f->every = e ? strtol(e, NULL, 10) : 0;
	}
	return f->every > 0 && ++f->calls % f->every == 0;
}
#else
#define fault_hit(f) false /* no fault injection outside the test build */
#endif

/*
 * Take the bytes of direction d we already sent on (peeked, then written to
 * the target) out of the source's queue. The verdict's psock queue can
 * answer EAGAIN for a moment to a recv() after a MSG_PEEK saw the bytes
 * (in about one run in 40 of tests/e2e/test_fair.py on sockmap; readable
 * again within a few ms): then they stay owed and a later turn takes them.
 * 1 when nothing is owed, 0 to wait, -1 if the stream lost them (EOF or an
 * error: it can no longer be relayed in order).
 */
static int take_owed(struct pt_conn *c, int d)
{
	uint32_t *owed = &sm(c)->owed[d];
	uint8_t *buf = c->w->window;
	ssize_t k;

	while (*owed) {
		if (fault_hit(&fault_owed)) {
			k = -1;
			errno = EAGAIN;
		} else {
			k = recv(src_fd(c, d), buf,
				 *owed < PT_SCRATCH_SIZE ? *owed : PT_SCRATCH_SIZE, MSG_DONTWAIT);
		}
		if (k == -1 && (errno == EAGAIN || errno == EINTR)) {
			pr_debug(CONN, "#%llu: sockmap: %u sent bytes not readable yet; retrying",
				 (unsigned long long)c->id, *owed);
			return 0;
		}
		if (k <= 0) {
			pr_debug(CONN, "#%llu: sockmap: %u sent bytes gone from the source: %s",
				 (unsigned long long)c->id, *owed, k ? strerror(errno) : "EOF");
			return -1;
		}
		*owed -= k;
	}
	return 1;
}

/*
 * Write the bytes the verdict passed to the daemon (they sit in the source
 * socket's queue) to the target, once every earlier byte reached it; at
 * most PT_RELAY_BUDGET bytes per call (*more set when some are left).
 * Returns 1 when done, 0 to wait, -errno on a socket error (*bad side).
 */
static int forward_passed(struct pt_conn *c, int d, bool *more, enum pt_side *bad)
{
	struct pt_dir *pd = &c->pair->dir[d];
	uint8_t *buf = c->w->window;
	int src = src_fd(c, d), dst = dst_fd(c, d);
	uint64_t P, C, start = ld(&pd->consumed);
	int64_t q;
	ssize_t n, m;
	bool was_full = sm(c)->out_wait[d];
	int r;

	/*
	 * out_wait says only why this call stopped: a wait for redirected bytes
	 * still on their way must be polled even after an earlier EAGAIN. The
	 * kernel's worker can push them into the target without filling it,
	 * and then no EPOLLOUT ever comes.
	 */
	sm(c)->out_wait[d] = false;
	for (;;) {
		r = take_owed(c, d);
		if (r < 0) {
			*bad = src_side(d);
			return -EIO;
		}
		if (!r)
			return 0;
		P = ld(&pd->passed);
		C = ld(&pd->consumed);
		if (P == C)
			return 1;
		if (C - start >= PT_RELAY_BUDGET) {
			*more = true;
			return 0;
		}
		q = backlog(c, d);
		if (q < 0) {
			*bad = dst_side(d);
			return q;
		}
		if (was_full && fault_hit(&fault_inflight))
			q = 1;
		was_full = false;
		if (q > 0)
			return 0; /* redirected bytes still in flight: they go first (polled) */
		n = recv(src, buf, P - C < PT_SCRATCH_SIZE ? P - C : PT_SCRATCH_SIZE,
			 MSG_PEEK | MSG_DONTWAIT);
		if (n == -1 && errno == EAGAIN)
			return 0;
		if (n == 0) {
			/*
			 * EOF, yet the verdict passed P - C bytes we have not
			 * read: they are still in the source's psock queue,
			 * behind skbs redirected to it that wait for its send
			 * buffer (sk_psock_verdict_apply() queues a pass there
			 * while that queue is not empty, for order), and with
			 * the FIN in and nothing readable, recv() says 0. The
			 * kernel's worker delivers them once the skbs ahead
			 * are sent: wait (polled; drain_timeout_ms bounds it).
			 */
			pr_debug(CONN, "#%llu: sockmap: %llu passed bytes still queued after EOF; "
				 "waiting", (unsigned long long)c->id, (unsigned long long)(P - C));
			return 0;
		}
		if (n < 0) {
			*bad = src_side(d);
			return -errno;
		}
		m = send(dst, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (m == -1) {
			if (errno == EAGAIN) {
				sm(c)->out_wait[d] = true;
				return 0;
			}
			*bad = dst_side(d);
			return -errno;
		}
		/* Written to the target: consumed for the verdict, owed by the source. */
		sm(c)->owed[d] = m;
		__atomic_store_n(&pd->consumed, C + m, __ATOMIC_RELEASE);
		/* Store, then load passed: the verdict's side of the race (header). */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
	}
}

/*
 * Has everything the source of d sent reached the target's TCP stream?
 * Only asked after the source's FIN. 1 yes, 0 not yet, -errno.
 */
static int dir_drained(struct pt_conn *c, int d)
{
	const struct pt_dir *pd = &c->pair->dir[d];
	int64_t rcvd = tcp_received(src_fd(c, d)), q, seen;

	if (rcvd < 0)
		return rcvd;
	/*
	 * bytes_received counts the FIN: one more than the data. It counts
	 * from the start, so the bytes another plane relayed before the pair
	 * moved here (copied) are in it too.
	 */
	if (d == PT_DIR_UP)
		rcvd -= c->pp_len;	/* a PROXY header the daemon read (proxyio.c) */
	seen = (int64_t)(ld(&pd->redirected) + ld(&pd->passed) + ld(&pd->copied));
	if (seen < rcvd - 1)
		return 0;
	if (seen > rcvd - 1) {
		/*
		 * More bytes went through the verdict (redirected + passed)
		 * than the source's TCP stream carried: some skb repeated
		 * bytes the verdict had already relayed and it could not cut
		 * them off (bpf/passthru.bpf.c, "Bytes seen twice"; before it
		 * did, seen once under backpressure: one 64 KiB skb, make
		 * stress), and the target got those bytes twice. The stream
		 * is wrong: the caller resets both sides rather than finish
		 * it with a FIN.
		 */
		pr_warn(CONN, "#%llu: sockmap %s: the kernel relayed %lld bytes more than the "
			"source sent; resetting", (unsigned long long)c->id, d ? "down" : "up",
			(long long)(seen - (rcvd - 1)));
		return -EPROTO;
	}
	if (ld(&pd->passed) != ld(&pd->consumed))
		return 0;
	q = backlog(c, d);
	if (q < 0)
		return q;
	return q == 0;
}

static void arm_timer(struct pt_conn *c)
{
	struct pt_sockmap_state *s = sm(c);
	uint64_t now = c->w->loop.now, when = UINT64_MAX;
	unsigned int idle = c->lcfg->idle_timeout_ms;

	if (s->poll_ms)
		when = now + s->poll_ms;
	if (idle && c->t_last + idle < when)
		when = c->t_last + idle;
	if (when == UINT64_MAX)
		pt_timer_cancel(&c->w->loop, &c->timer);
	else
		pt_timer_arm(&c->w->loop, &c->timer, when);
}

/* Say where a stuck pair is stuck: what each direction received, moved, delivered. */
static void log_stuck(struct pt_conn *c)
{
	for (int d = 0; d < 2; d++) {
		const struct pt_dir *pd = &c->pair->dir[d];

		pr_warn(CONN,
			"#%llu: sockmap %s: eof=%d shut=%d received=%lld redirected=%llu passed=%llu "
			"consumed=%llu owed=%u written=%lld base=%llu",
			(unsigned long long)c->id, d == PT_DIR_UP ? "up" : "down", sm(c)->eof[d],
			sm(c)->shut[d], (long long)tcp_received(src_fd(c, d)),
			(unsigned long long)ld(&pd->redirected),
			(unsigned long long)ld(&pd->passed), (unsigned long long)ld(&pd->consumed),
			sm(c)->owed[d], (long long)tcp_written(dst_fd(c, d)),
			(unsigned long long)pd->peer_base);
	}
}

/*
 * Look at both directions and do what can be done now: forward passed
 * bytes, finish a direction whose source said EOF, and decide whether to
 * keep polling (something is draining) or sleep until the next event.
 * Returns how the connection ended, or PT_END_NONE.
 */
static enum pt_end service(struct pt_conn *c)
{
	struct pt_sockmap_state *s = sm(c);
	enum pt_side bad = PT_SIDE_CLIENT;
	bool waiting = false, moved, more = false;
	uint64_t sig;
	int r;

	for (int d = 0; d < 2; d++) {
		if (s->shut[d])
			continue;
		r = forward_passed(c, d, &more, &bad);
		if (r == 1 && s->eof[d])
			r = dir_drained(c, d);
		if (r == -EPROTO)
			return PT_END_ERROR; /* dir_drained() said why */
		if (r < 0) {
			pr_debug(CONN, "#%llu: sockmap: %s side: %s", (unsigned long long)c->id,
				 bad == PT_SIDE_CLIENT ? "client" : "upstream", strerror(-r));
			return bad == PT_SIDE_CLIENT ? PT_END_CLIENT_RESET : PT_END_UPSTREAM_RESET;
		}
		if (r == 1 && s->eof[d]) {
			pr_debug(
				CONN,
				"#%llu: sockmap %s finished: redirected=%llu passed=%llu received=%lld written=%lld base=%llu",
				(unsigned long long)c->id, d ? "down" : "up",
				(unsigned long long)c->pair->dir[d].redirected,
				(unsigned long long)c->pair->dir[d].passed,
				(long long)tcp_received(src_fd(c, d)),
				(long long)tcp_written(dst_fd(c, d)),
				(unsigned long long)c->pair->dir[d].peer_base);
			shutdown(dst_fd(c, d), SHUT_WR);
			s->shut[d] = true;
			pt_pair_set_state(c->pair, PT_PAIR_HALF_CLOSED);
			continue;
		}
		if (s->eof[d] || s->owed[d] ||
		    (ld(&c->pair->dir[d].passed) != ld(&c->pair->dir[d].consumed) &&
		     !s->out_wait[d]))
			waiting = true;
	}
	for (int d = 0; d < 2; d++)
		c->bytes[d] = ld(&c->pair->dir[d].redirected) + ld(&c->pair->dir[d].consumed) +
			      ld(&c->pair->dir[d].copied);
	if (s->shut[0] && s->shut[1])
		return PT_END_DONE;

	sig = counter_sig(c->pair);
	if (waiting)
		sig += tcp_written(c->cli.fd) + tcp_written(c->up.fd);
	moved = sig != s->sig;
	if (moved) {
		s->sig = sig;
		s->t_move = c->w->loop.now;
		c->t_last = c->w->loop.now;
	}
	if (waiting) {
		if (c->w->loop.now - s->t_move >= c->lcfg->drain_timeout_ms) {
			pr_warn(CONN,
				"#%llu: sockmap: no progress for %u ms while draining; resetting",
				(unsigned long long)c->id, c->lcfg->drain_timeout_ms);
			log_stuck(c);
			return PT_END_ERROR;
		}
		pt_pair_set_state(c->pair, PT_PAIR_DRAINING);
		/* Poll fast while the queue moves, back off while it is stuck. */
		if (moved || !s->poll_ms)
			s->poll_ms = SM_POLL_MIN_MS;
		else if (s->poll_ms < SM_POLL_MAX_MS)
			s->poll_ms *= 2;
	} else {
		s->poll_ms = 0;
	}
	if (more)
		pt_loop_defer(&c->w->loop, &c->more);
	watch_sides(c);
	arm_timer(c);
	return PT_END_NONE;
}

static enum pt_end sockmap_event(struct pt_conn *c, enum pt_side side, uint32_t events)
{
	struct pt_ev *ev = side == PT_SIDE_CLIENT ? &c->cli : &c->up;
	int err = 0;
	socklen_t len = sizeof(err);

	if (events & EPOLLERR)
		getsockopt(ev->fd, SOL_SOCKET, SO_ERROR, &err, &len);
	else if (events & (EPOLLRDHUP | EPOLLHUP))
		err = peer_aborted(c, side);
	if (err || (events & EPOLLERR)) {
		pr_debug(CONN, "#%llu: %s socket error: %s", (unsigned long long)c->id,
			 side == PT_SIDE_CLIENT ? "client" : "upstream", strerror(err));
		return side == PT_SIDE_CLIENT ? PT_END_CLIENT_RESET : PT_END_UPSTREAM_RESET;
	}
	if (events & (EPOLLRDHUP | EPOLLHUP))
		sm(c)->eof[side == PT_SIDE_CLIENT ? PT_DIR_UP : PT_DIR_DOWN] = true;
	return service(c);
}

static enum pt_end sockmap_timer(struct pt_conn *c)
{
	unsigned int idle = c->lcfg->idle_timeout_ms;
	enum pt_end end;

	end = service(c);
	if (end != PT_END_NONE || !idle)
		return end;
	if (c->w->loop.now - c->t_last >= idle && !sm(c)->poll_ms)
		return PT_END_IDLE;
	return PT_END_NONE;
}

/* Cookies, write-counter bases and the limit: what the verdict needs. */
static int prime_pair(struct pt_conn *c, uint64_t cookie[2])
{
	struct pt_pair *p = c->pair;
	int64_t base;
	int err;

	for (int side = 0; side < 2; side++) {
		err = get_cookie(side_fd(c, side), &cookie[side]);
		if (err)
			return err;
		base = tcp_written(side_fd(c, side));
		if (base < 0)
			return base;
		/* Direction d writes to side !d: its base is that side's counter. */
		p->dir[side == PT_SIDE_CLIENT ? PT_DIR_DOWN : PT_DIR_UP].peer_base = base;
	}
	p->cookie[0] = cookie[PT_SIDE_CLIENT];
	p->cookie[1] = cookie[PT_SIDE_UPSTREAM];
	p->limit = sm(c)->max_queued;
	return 0;
}

static int sockmap_attach(struct pt_conn *c, enum pt_end *end)
{
	struct pt_sockmap_state *s = sm(c);
	uint64_t cookie[2];
	int err;

	memset(s, 0, sizeof(*s));
	if (!c->w->bpf)
		return -EOPNOTSUPP;
	if (c->pp_shared) {
		/* Its first skb may be half read: the verdict would send it whole. */
		c->fallback = c->tun ? "handshake" : "proxy-header";
		return -EAGAIN;
	}
	if (pt_sm_budget_reserve(c)) {
		c->fallback = "over-budget";
		return -EAGAIN;
	}
	if (!pt_pair_open(c, PT_PLANE_SOCKMAP)) {
		pt_sm_budget_release(c);
		return -ENOSPC;
	}
	set_sndbuf(c);
	err = prime_pair(c, cookie);
	if (!err)
		err = maps_insert(c, cookie);
	if (err) {
		/* The kernel takes only ESTABLISHED sockets: a peer's FIN came first. */
		c->fallback = err == -EOPNOTSUPP ? "peer-closed" : "insert-failed";
		pt_sm_budget_release(c);
		pt_pair_close(c);
		return err == -EIO ? err : -EAGAIN;
	}
	pt_sm_wake_add(c);
	kick(c);
	s->t_move = c->w->loop.now;
	for (int side = 0; side < 2; side++) {
		if (s->reset[side]) {
			*end = side == PT_SIDE_CLIENT ? PT_END_CLIENT_RESET : PT_END_UPSTREAM_RESET;
			return 0;
		}
	}
	*end = service(c);
	s->settled = true; /* the handoff ends with a turn after this round */
	if (*end == PT_END_NONE)
		pt_loop_defer(&c->w->loop, &c->more);
	return 0;
}

/*
 * Bytes the verdict cut off direction d's skbs as already seen (TCP sent
 * them again, or the daemon had read them before insertion): 0 if unknown.
 */
static uint64_t dir_trimmed(struct pt_conn *c, int d)
{
	struct pt_sock_ref ref;

	if (!sm(c)->in_maps ||
	    bpf_map_lookup_elem(c->w->bpf->socks_fd, &c->pair->cookie[d], &ref))
		return 0;
	return ref.trimmed;
}

static void sockmap_detach(struct pt_conn *c)
{
	if (!c->pair)
		return;
	for (int d = 0; d < 2; d++) {
		const struct pt_dir *pd = &c->pair->dir[d];

		c->bytes[d] = ld(&pd->redirected) + ld(&pd->consumed) + ld(&pd->copied);
		pr_debug(
			CONN,
			"#%llu: sockmap %s: redirected=%llu packets=%llu passed=%llu consumed=%llu "
			"pass_events=%llu redirect_fail=%llu max_queued=%llu trimmed=%llu",
			(unsigned long long)c->id, d == PT_DIR_UP ? "up" : "down",
			(unsigned long long)pd->redirected, (unsigned long long)pd->packets,
			(unsigned long long)pd->passed, (unsigned long long)pd->consumed,
			(unsigned long long)pd->pass_events, (unsigned long long)pd->redirect_fail,
			(unsigned long long)pd->max_queued, (unsigned long long)dir_trimmed(c, d));
	}
	pt_sm_wake_del(c);
	if (sm(c)->in_maps)
		maps_remove(c);
	pt_sm_budget_release(c);
}

const struct pt_dataplane pt_dp_sockmap = {
	.name = "sockmap",
	.attach = sockmap_attach,
	.event = sockmap_event,
	.timer = sockmap_timer,
	.resume = service,
	.detach = sockmap_detach,
	.worker_init = pt_sm_wake_init,
	.worker_fini = pt_sm_wake_fini,
};
