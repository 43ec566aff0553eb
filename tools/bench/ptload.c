// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * ptload: the small-transaction load generator and backend of `make bench`.
 *
 * One single-threaded epoll loop, non-blocking sockets, fixed-size messages.
 * Every connection starts with a first flight (a captured TLS ClientHello,
 * -P FILE) so that the proxy in between routes it by SNI; the backend answers
 * it with a short reply.
 *
 *   ptload server -l ADDR:PORT [-r REPLY]
 *   ptload rr   -c ADDR:PORT -P FILE -n CONNS [-t SECONDS] [-W WARMUP] [-m MSG] [-r REPLY]
 *   ptload cps  -c ADDR:PORT -P FILE -n CONC  [-t SECONDS] [-W WARMUP] [-r REPLY]
 *   ptload hold -c ADDR:PORT -P FILE -n CONNS [-r REPLY]
 *
 * server  Reads the first flight (one TLS record: 5-byte header plus its
 *         length; anything else: whatever the first read returns), sends
 *         REPLY bytes (default 64), then echoes every byte it receives.
 * rr      CONNS long-lived connections; after the first flight and reply
 *         each sends MSG bytes (default 64) and waits for the MSG bytes to
 *         come back, again and again. Counts round trips.
 * cps     CONC connections at a time, each: connect, first flight, read the
 *         reply, close; then the next one. Counts completed connections.
 * hold    Opens CONNS connections (at most 256 being set up at once), each
 *         with its first flight and reply, prints "ready N" on stdout and
 *         keeps them idle until stdin reaches EOF or SIGTERM; then closes
 *         them and exits.
 *
 * rr and cps set up first, run WARMUP seconds (default 0.5) unmeasured, then
 * count for SECONDS (default 3). They print "window start" and "window end"
 * lines around the counted interval (a driver can sample what it wants
 * there), then one JSON object with the count, the rate, and the whole
 * machine's busy CPU time over the window (/proc/stat:
 * user+nice+system+irq+softirq), because much of a relay's work runs in
 * softirq and kworkers, outside any one process.
 * Connection errors (refused, reset, early EOF, short reply) are counted;
 * the exit status is 1 if there was any, 2 on usage errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS    512
#define MAX_MSG	      65536
#define HOLD_SETUP    256  /* hold: connections being set up at once */
#define SETUP_TIMEOUT 30.0 /* rr, hold: seconds to get every connection going */

enum mode {
	M_SERVER = 0,
	M_RR,
	M_CPS,
	M_HOLD,
};

enum state {
	S_CONNECTING = 0,
	S_FIRST, /* server: reading the first flight; client: sending it */
	S_REPLY, /* client: reading the reply */
	S_RUN,	 /* rr: request/response; server: echo */
	S_IDLE,	 /* hold: established and answered */
};

struct conn {
	int fd;
	enum state state;
	uint32_t events;
	size_t off;    /* bytes of the current message sent or received */
	size_t need;   /* server: first-flight bytes still expected (0: unknown) */
	uint8_t *pend; /* server: echo bytes the socket did not take yet */
	size_t pend_len, pend_off;
	bool sending; /* rr: the request is (being) sent */
	struct conn *dead_next;
};

static struct {
	enum mode mode;
	const char *addr;
	uint8_t *first;
	size_t first_len;
	unsigned int n;
	double seconds, warmup;
	size_t msg, reply;
} opt = {
	.n = 1,
	.seconds = 3,
	.warmup = 0.5,
	.msg = 64,
	.reply = 64,
};

static int epfd = -1;
static struct conn **by_fd, *dead;
static int max_fds;
static struct sockaddr_storage peer;
static socklen_t peer_len;
static uint8_t buf[MAX_MSG];
static uint8_t msgbuf[MAX_MSG];
static uint64_t n_done, n_errors, n_open, n_setup;
static bool counting;
static volatile sig_atomic_t stop;
static char first_error[160];

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Busy jiffies of the whole machine (user nice system irq softirq). */
static uint64_t cpu_busy_ticks(uint64_t *total)
{
	unsigned long long v[8] = { 0 };
	FILE *f = fopen("/proc/stat", "r");
	int n;

	if (!f)
		return 0;
	n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
		   &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	if (n < 7)
		return 0;
	if (total)
		*total = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
	return v[0] + v[1] + v[2] + v[5] + v[6];
}

static void note_error(const char *what, int err)
{
	n_errors++;
	if (!first_error[0])
		snprintf(first_error, sizeof(first_error), "%s: %s", what,
			 err ? strerror(err) : "unexpected EOF");
}

static int parse_addr(const char *s)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *ai;
	char host[256];
	const char *colon = strrchr(s, ':');
	size_t hl;

	if (!colon || colon == s)
		return -EINVAL;
	hl = colon - s;
	if (s[0] == '[' && colon[-1] == ']') {
		s++;
		hl -= 2;
	}
	if (hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hl);
	host[hl] = 0;
	if (getaddrinfo(host, colon + 1, &hints, &ai))
		return -EINVAL;
	memcpy(&peer, ai->ai_addr, ai->ai_addrlen);
	peer_len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

static void set_events(struct conn *c, uint32_t ev)
{
	struct epoll_event e = { .events = ev, .data.ptr = c };

	if (c->events == ev)
		return;
	epoll_ctl(epfd, c->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &e);
	c->events = ev;
}

static struct conn *conn_new(int fd, enum state st)
{
	struct conn *c;

	if (fd >= max_fds) {
		close(fd);
		errno = EMFILE;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return NULL;
	}
	c->fd = fd;
	c->state = st;
	by_fd[fd] = c;
	n_open++;
	return c;
}

/*
 * Close now, free later: an event for c may still wait further down the
 * batch epoll_wait() returned, so the memory stays until reap().
 */
static void conn_free(struct conn *c)
{
	by_fd[c->fd] = NULL;
	close(c->fd);
	c->fd = -1;
	c->dead_next = dead;
	dead = c;
	n_open--;
}

static void reap(void)
{
	while (dead) {
		struct conn *c = dead;

		dead = c->dead_next;
		free(c->pend);
		free(c);
	}
}

/* --- server ----------------------------------------------------------------- */

/* Send what we can of [p, p+len); keep the rest in c->pend. 0 or -errno. */
static int server_send(struct conn *c, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return -errno;
			c->pend = malloc(len);
			if (!c->pend)
				return -ENOMEM;
			memcpy(c->pend, p, len);
			c->pend_len = len;
			c->pend_off = 0;
			set_events(c, EPOLLOUT);
			return 0;
		}
		p += n;
		len -= n;
	}
	return 0;
}

static int server_flush(struct conn *c)
{
	while (c->pend_off < c->pend_len) {
		ssize_t n =
			send(c->fd, c->pend + c->pend_off, c->pend_len - c->pend_off, MSG_NOSIGNAL);

		if (n == -1)
			return errno == EAGAIN ? 0 : -errno;
		c->pend_off += n;
	}
	free(c->pend);
	c->pend = NULL;
	c->pend_len = c->pend_off = 0;
	set_events(c, EPOLLIN);
	return 0;
}

static void server_event(struct conn *c, uint32_t ev)
{
	int err = 0;

	if (c->pend) {
		err = server_flush(c);
		if (err || c->pend)
			goto out;
	}
	for (;;) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
		size_t used = 0;

		if (n == 0)
			goto close;
		if (n == -1) {
			if (errno == EAGAIN)
				return;
			if (errno == EINTR)
				continue;
			goto close;
		}
		if (c->state == S_FIRST) {
			if (!c->off && !c->need) {
				/* A TLS record says how long it is; else the first read is it. */
				if (n >= 5 && buf[0] == 0x16)
					c->need = 5 + ((size_t)buf[3] << 8 | buf[4]);
				else
					c->need = n;
			}
			used = (size_t)n < c->need - c->off ? (size_t)n : c->need - c->off;
			c->off += used;
			if (c->off < c->need)
				continue;
			c->state = S_RUN;
			err = server_send(c, msgbuf, opt.reply);
			if (err || c->pend)
				goto out;
		}
		if ((size_t)n > used) {
			err = server_send(c, buf + used, n - used);
			if (err || c->pend)
				goto out;
		}
	}
out:
	if (!err)
		return;
close:
	conn_free(c);
}

static int listen_on(const char *addr)
{
	int one = 1, fd, err;

	err = parse_addr(addr);
	if (err)
		return err;
	fd = socket(peer.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&peer, peer_len) == -1 || listen(fd, 4096) == -1) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

static int run_server(void)
{
	struct epoll_event evs[MAX_EVENTS], e = { .events = EPOLLIN };
	int lfd = listen_on(opt.addr), one = 1;

	if (lfd < 0) {
		fprintf(stderr, "ptload: listen %s: %s\n", opt.addr, strerror(-lfd));
		return 1;
	}
	e.data.ptr = NULL;
	epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &e);
	printf("listening on %s\n", opt.addr);
	fflush(stdout);
	while (!stop) {
		int n = epoll_wait(epfd, evs, MAX_EVENTS, 1000);

		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;

			if (c) {
				if (c->fd >= 0)
					server_event(c, evs[i].events);
				continue;
			}
			for (;;) {
				int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

				if (fd == -1)
					break;
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
				c = conn_new(fd, S_FIRST);
				if (c)
					set_events(c, EPOLLIN);
			}
		}
		reap();
	}
	fprintf(stderr, "ptload: server: %llu connections open at exit\n",
		(unsigned long long)n_open);
	return 0;
}

/* --- clients ---------------------------------------------------------------- */

static int client_open(void)
{
	int fd, one = 1;
	struct conn *c;

	fd = socket(peer.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		note_error("socket", errno);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c = conn_new(fd, S_CONNECTING);
	if (!c) {
		note_error("socket", errno);
		return -1;
	}
	n_setup++;
	if (connect(fd, (struct sockaddr *)&peer, peer_len) == -1 && errno != EINPROGRESS) {
		note_error("connect", errno);
		conn_free(c);
		n_setup--;
		return -1;
	}
	set_events(c, EPOLLOUT);
	return 0;
}

/* Send [p + c->off, p + len); 1 when all is out, 0 if it must wait, -errno. */
static int client_send(struct conn *c, const uint8_t *p, size_t len)
{
	while (c->off < len) {
		ssize_t n = send(c->fd, p + c->off, len - c->off, MSG_NOSIGNAL);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 0 : -errno;
		}
		c->off += n;
	}
	c->off = 0;
	return 1;
}

/* Receive up to want - c->off bytes; 1 when complete, 0 to wait, -errno (-EPIPE: EOF). */
static int client_recv(struct conn *c, size_t want)
{
	while (c->off < want) {
		ssize_t n = recv(c->fd, buf, want - c->off, 0);

		if (n == 0)
			return -EPIPE;
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 0 : -errno;
		}
		c->off += n;
	}
	c->off = 0;
	return 1;
}

/* One transition after another until the connection must wait. */
static void client_event(struct conn *c, uint32_t ev)
{
	int r, err;
	socklen_t sl = sizeof(err);

	for (;;) {
		switch (c->state) {
		case S_CONNECTING:
			if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &sl) == 0 && err) {
				note_error("connect", err);
				goto drop;
			}
			if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
				return;
			c->state = S_FIRST;
			continue;
		case S_FIRST:
			r = client_send(c, opt.first, opt.first_len);
			if (r < 0) {
				note_error("send first flight", -r);
				goto drop;
			}
			if (!r) {
				set_events(c, EPOLLOUT);
				return;
			}
			c->state = S_REPLY;
			set_events(c, EPOLLIN);
			continue;
		case S_REPLY:
			r = client_recv(c, opt.reply);
			if (r < 0) {
				note_error("read reply", r == -EPIPE ? 0 : -r);
				goto drop;
			}
			if (!r)
				return;
			n_setup--;
			if (opt.mode == M_CPS) {
				if (counting)
					n_done++;
				conn_free(c);
				if (!stop)
					client_open();
				return;
			}
			if (opt.mode == M_HOLD) {
				c->state = S_IDLE;
				set_events(c, EPOLLIN | EPOLLRDHUP);
				return;
			}
			c->state = S_RUN;
			c->sending = true;
			continue;
		case S_RUN:
			/* Send the request (c->sending), then read the response. */
			if (c->sending) {
				r = client_send(c, msgbuf, opt.msg);
				if (r < 0) {
					note_error("send request", -r);
					goto drop;
				}
				if (!r) {
					set_events(c, EPOLLOUT);
					return;
				}
				c->sending = false;
				set_events(c, EPOLLIN);
			}
			r = client_recv(c, opt.msg);
			if (r < 0) {
				note_error("read response", r == -EPIPE ? 0 : -r);
				goto drop;
			}
			if (!r)
				return;
			if (counting)
				n_done++;
			c->sending = true;
			continue;
		case S_IDLE:
			if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) {
				note_error("idle connection closed", 0);
				goto drop;
			}
			return;
		}
	}
drop:
	if (c->state != S_RUN && c->state != S_IDLE)
		n_setup--;
	conn_free(c);
	if (opt.mode == M_CPS && !stop)
		client_open();
}

static void loop_once(int timeout_ms)
{
	struct epoll_event evs[MAX_EVENTS];
	int n = epoll_wait(epfd, evs, MAX_EVENTS, timeout_ms);

	for (int i = 0; i < n; i++) {
		struct conn *c = evs[i].data.ptr;

		if (c && c->fd >= 0)
			client_event(c, evs[i].events);
	}
	reap();
}

static int run_hold(void)
{
	double t0 = now();
	char line[16];

	while (n_open + n_errors < opt.n || n_setup) {
		while (!stop && n_setup < HOLD_SETUP && n_open + n_errors < opt.n)
			if (client_open() < 0)
				break;
		loop_once(100);
		if (stop || now() - t0 > SETUP_TIMEOUT * 4)
			break;
	}
	printf("ready %llu errors %llu setup_s %.2f%s%s\n", (unsigned long long)n_open,
	       (unsigned long long)n_errors, now() - t0, first_error[0] ? " first_error " : "",
	       first_error);
	fflush(stdout);
	/* Idle until stdin closes (the driver is done measuring) or a signal. */
	{
		struct epoll_event e = { .events = EPOLLIN, .data.ptr = NULL };

		epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &e);
	}
	while (!stop) {
		struct epoll_event evs[MAX_EVENTS];
		int n = epoll_wait(epfd, evs, MAX_EVENTS, 1000);

		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;

			if (!c) {
				if (read(0, line, sizeof(line)) <= 0)
					stop = 1;
				continue;
			}
			if (c->fd >= 0)
				client_event(c, evs[i].events);
		}
		reap();
	}
	for (int fd = 0; fd < max_fds; fd++)
		if (by_fd[fd])
			conn_free(by_fd[fd]);
	return n_errors ? 1 : 0;
}

static int run_load(void)
{
	uint64_t b0, b1, t0, t1;
	double start = now(), w0, w1, end;
	long hz = sysconf(_SC_CLK_TCK);

	if (opt.mode == M_RR) {
		/* Open everything first, at most HOLD_SETUP at a time, then start. */
		while (n_open + n_errors < opt.n || n_setup) {
			while (n_setup < HOLD_SETUP && n_open + n_errors < opt.n)
				if (client_open() < 0)
					break;
			loop_once(100);
			if (stop || now() - start > SETUP_TIMEOUT)
				break;
		}
	} else {
		for (unsigned int i = 0; i < opt.n; i++)
			client_open();
	}
	w0 = now();
	while (!stop && now() - w0 < opt.warmup)
		loop_once(10);
	counting = true;
	printf("window start\n");
	fflush(stdout);
	b0 = cpu_busy_ticks(&t0);
	w1 = now();
	end = w1 + opt.seconds;
	while (!stop && now() < end)
		loop_once(10);
	counting = false;
	b1 = cpu_busy_ticks(&t1);
	printf("window end\n");
	fflush(stdout);
	end = now();
	stop = 1;
	printf("{\"mode\": \"%s\", \"n\": %u, \"seconds\": %.3f, \"count\": %llu, "
	       "\"rate\": %.1f, \"cpu_busy_s\": %.3f, \"cpu_total_s\": %.3f, "
	       "\"open\": %llu, \"errors\": %llu, \"first_error\": \"%s\", "
	       "\"setup_s\": %.3f}\n",
	       opt.mode == M_RR ? "rr" : "cps", opt.n, end - w1, (unsigned long long)n_done,
	       n_done / (end - w1), (double)(b1 - b0) / hz, (double)(t1 - t0) / hz,
	       (unsigned long long)n_open, (unsigned long long)n_errors, first_error, w0 - start);
	fflush(stdout);
	for (int fd = 0; fd < max_fds; fd++)
		if (by_fd[fd])
			conn_free(by_fd[fd]);
	return n_errors ? 1 : 0;
}

/* --- main ------------------------------------------------------------------- */

static int read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	long len;

	if (!f)
		return -errno;
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	opt.first = malloc(len > 0 ? len : 1);
	if (!opt.first || fread(opt.first, 1, len, f) != (size_t)len) {
		fclose(f);
		return -EIO;
	}
	opt.first_len = len;
	fclose(f);
	return 0;
}

static void on_signal(int sig)
{
	stop = 1;
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: ptload server -l ADDR:PORT [-r REPLY]\n"
		"       ptload rr|cps|hold -c ADDR:PORT -P FILE -n N [-t SECONDS] [-W WARMUP]\n"
		"                          [-m MSG] [-r REPLY]\n");
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "connect", required_argument, NULL, 'c' },
		{ "prefix", required_argument, NULL, 'P' },
		{ "conns", required_argument, NULL, 'n' },
		{ "time", required_argument, NULL, 't' },
		{ "warmup", required_argument, NULL, 'W' },
		{ "msg", required_argument, NULL, 'm' },
		{ "reply", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sigaction sa = { .sa_handler = on_signal };
	struct rlimit rl;
	const char *m;
	int ch, err;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	m = argv[1];
	if (!strcmp(m, "server"))
		opt.mode = M_SERVER;
	else if (!strcmp(m, "rr"))
		opt.mode = M_RR;
	else if (!strcmp(m, "cps"))
		opt.mode = M_CPS;
	else if (!strcmp(m, "hold"))
		opt.mode = M_HOLD;
	else {
		usage(strcmp(m, "-h") && strcmp(m, "--help") ? stderr : stdout);
		return strcmp(m, "-h") && strcmp(m, "--help") ? 2 : 0;
	}
	optind = 2;
	while ((ch = getopt_long(argc, argv, "l:c:P:n:t:W:m:r:h", lopts, NULL)) != -1) {
		switch (ch) {
		case 'l':
		case 'c':
			opt.addr = optarg;
			break;
		case 'P':
			err = read_file(optarg);
			if (err) {
				fprintf(stderr, "ptload: %s: %s\n", optarg, strerror(-err));
				return 2;
			}
			break;
		case 'n':
			opt.n = strtoul(optarg, NULL, 10);
			break;
		case 't':
			opt.seconds = strtod(optarg, NULL);
			break;
		case 'W':
			opt.warmup = strtod(optarg, NULL);
			break;
		case 'm':
			opt.msg = strtoul(optarg, NULL, 10);
			break;
		case 'r':
			opt.reply = strtoul(optarg, NULL, 10);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!opt.addr || !opt.n || !opt.msg || opt.msg > MAX_MSG || !opt.reply ||
	    opt.reply > MAX_MSG || (opt.mode != M_SERVER && !opt.first_len)) {
		usage(stderr);
		return 2;
	}
	memset(msgbuf, 'x', sizeof(msgbuf));
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		max_fds = rl.rlim_cur > 1u << 20 ? 1 << 20 : (int)rl.rlim_cur;
	}
	by_fd = calloc(max_fds, sizeof(*by_fd));
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!by_fd || epfd == -1) {
		perror("ptload");
		return 1;
	}
	if (opt.mode == M_SERVER)
		return run_server();
	err = parse_addr(opt.addr);
	if (err) {
		fprintf(stderr, "ptload: bad address %s\n", opt.addr);
		return 2;
	}
	return opt.mode == M_HOLD ? run_hold() : run_load();
}
