// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * ptloris: slow and idle clients for passthru's stress tests.
 *
 * One single-threaded epoll loop holds thousands of client connections that
 * never complete a protocol greeting, and times how long each lives:
 *
 *   ptloris -c ADDR:PORT [-n IDLE] [-s SLOW] [-t TEXT]... [-i MS] [-r MS]
 *           [-B ADDR] [-T SECONDS] [-v]
 *
 *   -n IDLE   connections that send nothing (default 0)
 *   -s SLOW   connections that send one byte of their text every -i MS
 *             (default 1000), the first as soon as they are connected, and
 *             then hold silently once the text is used up (default 0)
 *   -t TEXT   the text of the slow connections, C escapes allowed (\r \n \t
 *             \0 \\ \xNN); repeat it to give slow connection k text
 *             k % count (default "GET / HTTP/1.1\r\n": never a whole head)
 *   -r MS     spread the connects evenly over MS milliseconds (default 0:
 *             all at once)
 *   -B ADDR   bind every connection to this source address
 *   -T SECS   give up after this long (default 60); connections still open
 *             then are reported as open
 *
 * Idle connections come first (indices 0..IDLE-1), then the slow ones.
 * Once every connection is connected (or failed to), one line goes to
 * stdout: "ptloris: held N (idle I, slow S), F connect failures, after T s".
 * At the end, per kind, a summary line
 *
 *   ptloris: KIND: N connected, N closed (eof N, reset N), N open, N failed;
 *            life s: min X p50 X p99 X max X
 *
 * where life is the time from connected to closed by the peer (EOF or RST
 * seen). With -v first one line per connection on stdout:
 * "#IDX KIND life=S how=eof|reset|open|failed sent=N rx=N local=ADDR". The
 * exit status is 0 unless the arguments are wrong (2): the test judges.
 */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#define MAX_TEXTS  16
#define MAX_EVENTS 512

enum lstate {
	LS_NEW = 0,
	LS_CONNECTING,
	LS_OPEN,
	LS_CLOSED,
	LS_FAILED,
};

struct lconn {
	int fd;
	bool slow;
	enum lstate state;
	const char *how;
	double t_conn, t_end;
	size_t sent, rx;
	const uint8_t *text;
	size_t text_len;
	char local[64];
};

/* Slow connections due to send, oldest first: every push is now + interval. */
struct due_ring {
	uint32_t *idx;
	double *at;
	size_t head, len, cap;
};

static struct {
	const char *connect;
	const char *bind;
	unsigned int idle, slow, interval_ms, ramp_ms;
	double limit_s;
	bool verbose;
	uint8_t *text[MAX_TEXTS];
	size_t text_len[MAX_TEXTS];
	int n_texts;
} opt = {
	.interval_ms = 1000,
	.limit_s = 60,
};

static struct lconn *conns;
static unsigned int n_conns, n_started, n_pending, n_live;
static struct due_ring ring;
static struct sockaddr_storage dst, src;
static socklen_t dst_len, src_len;
static volatile sig_atomic_t stop_signal;
static int epfd;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("ptloris: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	if (!p)
		die("out of memory");
	return p;
}

static unsigned int parse_uint(const char *s, const char *what)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v > 1000000)
		die("%s: expected a number up to 1000000, got \"%s\"", what, s);
	return v;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
		return (c | 0x20) - 'a' + 10;
	return -1;
}

/* C escapes (\r \n \t \0 \\ \xNN) decoded into a new buffer of *len bytes. */
static uint8_t *decode_text(const char *s, size_t *len)
{
	uint8_t *out = xcalloc(strlen(s) + 1, 1);
	size_t n = 0;

	for (; *s; s++) {
		int hi, lo;

		if (*s != '\\') {
			out[n++] = *s;
			continue;
		}
		switch (*++s) {
		case 'r':
			out[n++] = '\r';
			break;
		case 'n':
			out[n++] = '\n';
			break;
		case 't':
			out[n++] = '\t';
			break;
		case '0':
			out[n++] = 0;
			break;
		case '\\':
			out[n++] = '\\';
			break;
		case 'x':
			hi = s[1] ? hex_digit(s[1]) : -1;
			lo = hi >= 0 && s[2] ? hex_digit(s[2]) : -1;
			if (lo < 0)
				die("-t: bad \\x escape");
			out[n++] = hi << 4 | lo;
			s += 2;
			break;
		default:
			die("-t: unknown escape \"\\%c\"", *s ? *s : '0');
		}
	}
	*len = n;
	return out;
}

static void parse_addr(const char *spec, struct sockaddr_storage *ss, socklen_t *len,
		       bool want_port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	const char *colon = want_port ? strrchr(spec, ':') : NULL;
	struct addrinfo *res;
	char host[128];
	size_t hl = colon ? (size_t)(colon - spec) : strlen(spec);
	int err;

	if ((want_port && (!colon || colon == spec)) || hl >= sizeof(host))
		die("bad address \"%s\"%s", spec, want_port ? ": expected HOST:PORT" : "");
	memcpy(host, spec, hl);
	host[hl] = 0;
	if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = 0;
	}
	err = getaddrinfo(host, colon ? colon + 1 : "0", &hints, &res);
	if (err)
		die("bad address \"%s\": %s", spec, gai_strerror(err));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
}

static void addr_str(const struct sockaddr_storage *ss, char *buf, size_t size)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		snprintf(buf, size, "[%s]:%u", ip, ntohs(s6->sin6_port));
		return;
	}
	inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, ip, sizeof(ip));
	snprintf(buf, size, "%s:%u", ip, ntohs(((const struct sockaddr_in *)ss)->sin_port));
}

static void due_push(uint32_t idx, double at)
{
	if (ring.len == ring.cap)
		die("internal: due ring full");
	ring.idx[(ring.head + ring.len) % ring.cap] = idx;
	ring.at[(ring.head + ring.len) % ring.cap] = at;
	ring.len++;
}

/* The connection is over: record when and how, give its descriptor back. */
static void finish(struct lconn *c, enum lstate state, const char *how)
{
	if (c->state == LS_CONNECTING)
		n_pending--;
	c->state = state;
	c->how = how;
	c->t_end = now_s();
	epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	n_live--;
}

/* Send the next byte of a slow connection's text, if any is left. */
static void send_next(struct lconn *c, uint32_t idx)
{
	ssize_t n;

	if (c->state != LS_OPEN || c->sent >= c->text_len)
		return;
	n = send(c->fd, c->text + c->sent, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n == 1) {
		c->sent++;
		if (c->sent < c->text_len)
			due_push(idx, now_s() + opt.interval_ms / 1000.0);
		return;
	}
	if (errno == EAGAIN || errno == EINTR) {
		due_push(idx, now_s() + opt.interval_ms / 1000.0);
		return;
	}
	finish(c, LS_CLOSED, errno == EPIPE || errno == ECONNRESET ? "reset" : "error");
}

static void start_conn(uint32_t idx)
{
	struct lconn *c = &conns[idx];
	struct epoll_event e = { .events = EPOLLOUT, .data.u32 = idx };
	int fd;

	fd = socket(dst.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		die("socket: %s (connection %u)", strerror(errno), idx);
	c->fd = fd;
	n_live++;
	if (opt.bind && bind(fd, (struct sockaddr *)&src, src_len)) {
		c->state = LS_CONNECTING;
		n_pending++;
		finish(c, LS_FAILED, "bind");
		return;
	}
	c->state = LS_CONNECTING;
	n_pending++;
	if (connect(fd, (struct sockaddr *)&dst, dst_len) && errno != EINPROGRESS) {
		finish(c, LS_FAILED, "connect");
		return;
	}
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e))
		die("epoll_ctl: %s", strerror(errno));
}

static void connected(struct lconn *c, uint32_t idx)
{
	struct epoll_event e = { .events = EPOLLIN | EPOLLRDHUP, .data.u32 = idx };
	struct sockaddr_storage local;
	socklen_t len = sizeof(local);
	int err = 0;

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) || err) {
		finish(c, LS_FAILED, "connect");
		return;
	}
	c->state = LS_OPEN;
	n_pending--;
	c->t_conn = now_s();
	len = sizeof(local);
	if (!getsockname(c->fd, (struct sockaddr *)&local, &len))
		addr_str(&local, c->local, sizeof(c->local));
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &e))
		die("epoll_ctl: %s", strerror(errno));
	if (c->slow)
		send_next(c, idx);
}

/* Something happened on an open connection: bytes (counted), EOF or an error. */
static void readable(struct lconn *c)
{
	char buf[4096];
	int err = 0;
	socklen_t len = sizeof(err);

	for (;;) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n > 0) {
			c->rx += n;
			continue;
		}
		if (n == 0) {
			finish(c, LS_CLOSED, "eof");
			return;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			break;
		finish(c, LS_CLOSED, errno == ECONNRESET ? "reset" : "error");
		return;
	}
	if (!getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) && err)
		finish(c, LS_CLOSED, err == ECONNRESET ? "reset" : "error");
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double pct(const double *v, size_t n, double p)
{
	size_t i = (size_t)(p * (n - 1) + 0.5);

	return n ? v[i < n ? i : n - 1] : 0;
}

static void summary(const char *kind, bool slow)
{
	unsigned int connected = 0, closed = 0, eof = 0, reset = 0, open = 0, failed = 0;
	double *life = xcalloc(n_conns ? n_conns : 1, sizeof(*life));
	size_t n = 0;

	for (unsigned int i = 0; i < n_conns; i++) {
		const struct lconn *c = &conns[i];

		if (c->slow != slow)
			continue;
		if (c->state == LS_FAILED || c->state == LS_NEW) {
			failed++;
			continue;
		}
		if (c->state == LS_CONNECTING) {
			open++;
			continue;
		}
		connected++;
		if (c->state == LS_OPEN) {
			open++;
			continue;
		}
		closed++;
		eof += !strcmp(c->how, "eof");
		reset += !strcmp(c->how, "reset");
		life[n++] = c->t_end - c->t_conn;
	}
	qsort(life, n, sizeof(*life), cmp_double);
	printf("ptloris: %s: %u connected, %u closed (eof %u, reset %u), %u open, %u failed; "
	       "life s: min %.3f p50 %.3f p99 %.3f max %.3f\n",
	       kind, connected, closed, eof, reset, open, failed, n ? life[0] : 0,
	       pct(life, n, 0.5), pct(life, n, 0.99), n ? life[n - 1] : 0);
	free(life);
}

static const char *how_str(const struct lconn *c)
{
	switch (c->state) {
	case LS_NEW:
		return "never";
	case LS_CONNECTING:
	case LS_OPEN:
		return "open";
	case LS_FAILED:
		return "failed";
	case LS_CLOSED:
		break;
	}
	return c->how;
}

static void report(void)
{
	for (unsigned int i = 0; opt.verbose && i < n_conns; i++) {
		const struct lconn *c = &conns[i];

		printf("#%u %s life=%.3f how=%s sent=%zu rx=%zu local=%s\n", i,
		       c->slow ? "slow" : "idle", c->state == LS_CLOSED ? c->t_end - c->t_conn : -1,
		       how_str(c), c->sent, c->rx, c->local[0] ? c->local : "-");
	}
	if (opt.idle)
		summary("idle", false);
	if (opt.slow)
		summary("slow", true);
	fflush(stdout);
}

static void on_signal(int signo)
{
	stop_signal = signo;
}

static void raise_nofile(void)
{
	struct rlimit rl;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* When connection n_started is due to connect (-r spreads them out). */
static double connect_at(double t0)
{
	return t0 + (double)opt.ramp_ms / 1000 * n_started / n_conns;
}

/* Milliseconds until the next thing to do: a connect, a byte to send, the end. */
static int next_wait_ms(double t0, double end)
{
	double t = end, now = now_s();

	if (n_started < n_conns)
		t = connect_at(t0);
	if (ring.len && ring.at[ring.head] < t)
		t = ring.at[ring.head];
	if (t <= now)
		return 0;
	return (int)((t - now) * 1000) + 1;
}

static void run(void)
{
	struct epoll_event evs[MAX_EVENTS];
	struct sigaction sa = { .sa_handler = on_signal };
	double t0 = now_s(), end = t0 + opt.limit_s;
	bool held = false;

	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd == -1)
		die("epoll_create1: %s", strerror(errno));
	while (!stop_signal && (n_started < n_conns || n_live) && now_s() < end) {
		double now = now_s();
		int n;

		while (n_started < n_conns && now >= connect_at(t0))
			start_conn(n_started++);
		while (ring.len && ring.at[ring.head] <= now) {
			uint32_t idx = ring.idx[ring.head];

			ring.head = (ring.head + 1) % ring.cap;
			ring.len--;
			send_next(&conns[idx], idx);
		}
		if (!held && n_started == n_conns && !n_pending) {
			unsigned int failed = 0;

			for (unsigned int i = 0; i < n_conns; i++)
				failed += conns[i].state == LS_FAILED;
			printf("ptloris: held %u (idle %u, slow %u), %u connect failures, after %.3f s\n",
			       n_conns - failed, opt.idle, opt.slow, failed, now_s() - t0);
			fflush(stdout);
			held = true;
		}
		n = epoll_wait(epfd, evs, MAX_EVENTS, next_wait_ms(t0, end));
		if (n == -1) {
			if (errno == EINTR)
				continue;
			die("epoll_wait: %s", strerror(errno));
		}
		for (int i = 0; i < n; i++) {
			uint32_t idx = evs[i].data.u32;
			struct lconn *c = &conns[idx];

			if (c->state == LS_CONNECTING)
				connected(c, idx);
			else if (c->state == LS_OPEN)
				readable(c);
		}
	}
	report();
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: ptloris -c ADDR:PORT [-n IDLE] [-s SLOW] [-t TEXT]... [-i MS] [-r MS]\n"
		"               [-B ADDR] [-T SECONDS] [-v]\n"
		"See the comment at the top of tests/tools/ptloris.c.\n");
}

int main(int argc, char **argv)
{
	int o;

	while ((o = getopt(argc, argv, "c:n:s:t:i:r:B:T:vh")) != -1) {
		switch (o) {
		case 'c':
			opt.connect = optarg;
			break;
		case 'n':
			opt.idle = parse_uint(optarg, "-n");
			break;
		case 's':
			opt.slow = parse_uint(optarg, "-s");
			break;
		case 't':
			if (opt.n_texts == MAX_TEXTS)
				die("-t: at most %d texts", MAX_TEXTS);
			opt.text[opt.n_texts] = decode_text(optarg, &opt.text_len[opt.n_texts]);
			opt.n_texts++;
			break;
		case 'i':
			opt.interval_ms = parse_uint(optarg, "-i");
			break;
		case 'r':
			opt.ramp_ms = parse_uint(optarg, "-r");
			break;
		case 'B':
			opt.bind = optarg;
			break;
		case 'T':
			opt.limit_s = parse_uint(optarg, "-T");
			break;
		case 'v':
			opt.verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!opt.connect || optind != argc || !opt.interval_ms) {
		usage(stderr);
		return 2;
	}
	parse_addr(opt.connect, &dst, &dst_len, true);
	if (opt.bind)
		parse_addr(opt.bind, &src, &src_len, false);
	if (!opt.n_texts)
		opt.text[opt.n_texts++] = decode_text("GET / HTTP/1.1\\r\\n", &opt.text_len[0]);
	raise_nofile();
	n_conns = opt.idle + opt.slow;
	conns = xcalloc(n_conns ? n_conns : 1, sizeof(*conns));
	for (unsigned int i = 0; i < n_conns; i++) {
		conns[i].fd = -1;
		conns[i].slow = i >= opt.idle;
		if (conns[i].slow) {
			int t = (i - opt.idle) % opt.n_texts;

			conns[i].text = opt.text[t];
			conns[i].text_len = opt.text_len[t];
		}
	}
	ring.cap = opt.slow ? opt.slow : 1;
	ring.idx = xcalloc(ring.cap, sizeof(*ring.idx));
	ring.at = xcalloc(ring.cap, sizeof(*ring.at));
	run();
	return 0;
}
