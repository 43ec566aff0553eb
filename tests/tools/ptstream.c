// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * ptstream: traffic generator and checker for passthru's tests.
 *
 * One single-threaded epoll loop, non-blocking sockets, no per-connection
 * payload buffers: every payload byte is a pure function of (key, offset),
 * so the sender generates it on the fly and the receiver regenerates it to
 * check each byte, in order, without storing anything.
 *
 *   ptstream server [-l ADDR:PORT] [-v] MODE [ARG]
 *   ptstream client -c ADDR:PORT [-m MODE] [-C CONC] [-N TOTAL] [-s SIZE] ...
 *   ptstream gen [-S SEED] [-i INDEX] [-d up|down] -n BYTES  (the stream, to stdout)
 *
 * Server modes (the server accepts until SIGTERM/SIGINT, then prints a
 * summary on stderr and exits 0, or 1 if a connection failed):
 *
 *   echo            send back every byte received; pass the client's FIN on
 *                   once everything is echoed
 *   sink            read everything until the client's FIN, then reply
 *                   "<sha256 hex of all bytes received> <byte count>\n" and
 *                   close
 *   source N        send N bytes of stream (SEED, 0, down), then FIN; read and
 *                   discard what the client sends. Starts on the client's first
 *                   byte (or FIN), or at once with --first (server speaks first)
 *   banner TEXT     send TEXT (C escapes \r \n \t \\ \xNN) at once, then echo
 *   stream          the ptstream protocol below: check the client's upload,
 *                   send the download it asks for
 *
 * -l defaults to 127.0.0.1:0; the address actually bound is printed on
 * stdout as "listening on ADDR:PORT" (so a test can use port 0 and read the
 * port back). -P/--prefix-text: in stream mode, the exact bytes that precede
 * the header (a ClientHello, an HTTP request); they are checked and skipped.
 *
 * Client modes (each connection's sizes come from -s, fixed "N" or random
 * "MIN:MAX", seeded per connection index; suffixes k, m, g = KiB, MiB, GiB):
 *
 *   upload    (peer: sink)    send PREFIX + SIZE payload bytes + FIN; the
 *                             reply must carry our sha256 and byte count
 *   echo      (peer: echo)    send PREFIX + SIZE bytes + FIN; the exact same
 *                             bytes must come back, then FIN
 *   download  (peer: stream)  send PREFIX + header(up 0, down SIZE) + FIN;
 *                             receive SIZE payload bytes, then the trailer
 *   both      (peer: stream)  send PREFIX + header + SIZE up bytes + FIN while
 *                             receiving a second, independent SIZE down bytes
 *                             and the trailer
 *   download --no-header (peer: source N)  send PREFIX + FIN; receive exactly
 *                             SIZE bytes of stream (SEED, 0, down), then FIN
 *
 * The PREFIX (-P FILE or --prefix-text TEXT) goes first so that a connection
 * takes a detection route (captured TLS ClientHello, HTTP request head, ...).
 * By default the client keeps sending straight on after the prefix, while
 * passthru is still detecting, connecting and handing the connection to its
 * data plane: bytes that arrive during the hand-off must neither be lost nor
 * reordered. -g MS instead pauses MS milliseconds after the prefix.
 *
 * The ptstream protocol (stream mode), after the prefix: the client sends a
 * 32-byte header, all integers little-endian:
 *
 *   0  "PTS1"    4  u32 connection index    8  u64 seed
 *   16 u64 up_len (payload bytes that follow the header)
 *   24 u64 down_len (payload bytes the server sends back)
 *
 * then up_len bytes of stream (seed, index, up) and FIN. The server answers
 * with down_len bytes of stream (seed, index, down), checks every up byte,
 * and once it has both sent everything and seen the client's FIN after
 * exactly up_len bytes, sends the trailer "OK <up_len>\n" and FIN. On any
 * mismatch it resets the connection instead, so the client fails too.
 *
 * Stream bytes: block b (8 bytes, little-endian) of stream (seed, index,
 * dir) is mix64(key + b * GAMMA), key = stream_key(seed, index, dir): the
 * splitmix64 generator, seekable. "ptstream gen" prints any stream.
 *
 * Client output: a failure line "ptstream: #IDX FAIL: why (sent N, received
 * N, local ADDR)" on stderr for each failed connection; with -v one line per
 * connection "#IDX ok up=N down=N up_sha256=HEX down_sha256=HEX local=ADDR" on
 * stdout (ADDR: the client's own address, as passthru logs it);
 * always the totals on stdout; with --summary a last line "N passed, N
 * failed" counting connections. Exit 0 when every connection passed, 1 if
 * one failed, 2 on usage errors. -T SECONDS (default 120) bounds the run:
 * connections still open then fail with their state.
 *
 * Server output with -v: one line per connection on stderr, "ptstream:
 * server #IDX ok|FAIL peer=ADDR rx=N rx_sha256=HEX tx=N tx_sha256=HEX
 * [why]" (failures are always printed).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
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
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#define CHUNK	     (64 * 1024) /* most bytes moved by one send/recv */
#define RING_SIZE    (64 * 1024) /* echo buffer per connection */
#define HDR_LEN	     32
#define MAX_SEGS     4
#define LINE_MAX_LEN 255
#define GAMMA	     0x9e3779b97f4a7c15ULL
#define MAX_EVENTS   256

enum role {
	/* servers */
	R_ECHO = 0,
	R_SINK,
	R_SOURCE,
	R_BANNER,
	R_STREAM,
	/* clients */
	R_UPLOAD,
	R_CECHO,
	R_DOWNLOAD,
	R_BOTH,
};

enum dir {
	DIR_UP = 1,
	DIR_DOWN = 2,
};

/*
 * A piece of what one direction carries, in order: literal bytes (sent, or
 * expected byte for byte), generated stream bytes, the 32-byte header, a
 * text line up to '\n', or anything until EOF.
 */
enum seg_kind {
	SEG_LIT = 0,
	SEG_GEN,
	SEG_HDR,
	SEG_LINE,
	SEG_REST,
};

struct seg {
	enum seg_kind kind;
	const char *what; /* for messages: "prefix", "payload", ... */
	const uint8_t *lit;
	uint64_t len;
	uint64_t key;
	uint64_t off; /* bytes done */
};

struct queue {
	struct seg seg[MAX_SEGS];
	int n, i;
};

struct conn {
	struct conn *prev, *next;
	int fd;
	uint32_t idx;
	enum role role;
	uint32_t events; /* epoll interest now registered */
	bool connecting;
	bool shut_wr;  /* our FIN is out */
	bool rx_eof;   /* the peer's FIN is in */
	bool tx_fin;   /* send FIN once the tx queue is empty */
	bool tx_hold;  /* source: wait for the client's first byte */
	bool have_hdr; /* stream server: the header is in */
	bool trailer_sent;
	bool failed;
	struct queue tx, rx;
	double resume_at; /* -g: no sending before this time */
	uint64_t up_len, down_len;
	uint64_t tx_bytes, rx_bytes;
	EVP_MD_CTX *tx_md, *rx_md;
	uint8_t hdr[HDR_LEN];
	char line[LINE_MAX_LEN + 1];
	size_t line_len;
	char reply[160]; /* sink reply, stream trailer, expected trailer */
	uint8_t *ring;	 /* echo/banner */
	size_t ring_off, ring_len;
	char peer[64]; /* server: the client's address; client: our local address */
	char why[256];
};

static struct {
	/* shared */
	enum role role;
	bool verbose;
	uint64_t seed;
	uint8_t *prefix;
	size_t prefix_len;
	/* server */
	const char *listen;
	uint64_t source_len;
	bool first;
	uint8_t *banner;
	size_t banner_len;
	/* client */
	const char *connect;
	const char *bind;
	unsigned int conc, total;
	uint64_t size_min, size_max;
	unsigned int gap_ms;
	double deadline_s;
	bool no_header;
	bool summary;
} opt = {
	.seed = 1,
	.listen = "127.0.0.1:0",
	.conc = 1,
	.total = 1,
	.size_min = 65536,
	.size_max = 65536,
	.deadline_s = 120,
};

static int epfd = -1;
static struct conn *conns;
static unsigned int n_open, n_started, n_ok, n_failed;
static uint64_t tot_up, tot_down;
static uint8_t txbuf[CHUNK], rxbuf[CHUNK], cmpbuf[CHUNK];
static volatile sig_atomic_t stop_signal;

/* --- the deterministic stream ------------------------------------------- */

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t stream_key(uint64_t seed, uint32_t idx, int dir)
{
	return mix64(mix64(seed + GAMMA) ^ ((uint64_t)idx << 8 | (uint64_t)dir));
}

/* Fill buf with bytes [off, off + len) of the stream with this key. */
static void gen_fill(uint64_t key, uint64_t off, uint8_t *buf, size_t len)
{
	uint64_t b = off / 8;
	unsigned int skip = off % 8;

	while (len) {
		uint64_t v = mix64(key + b * GAMMA);
		uint8_t le[8];

		if (!skip && len >= 8) {
			for (int i = 0; i < 8; i++)
				buf[i] = v >> (8 * i);
			buf += 8;
			len -= 8;
			b++;
			continue;
		}
		for (int i = 0; i < 8; i++)
			le[i] = v >> (8 * i);
		for (; skip < 8 && len; skip++, len--)
			*buf++ = le[skip];
		skip = 0;
		b++;
	}
}

/* The payload size of connection idx in direction dir. */
static uint64_t conn_size(uint32_t idx, int dir)
{
	uint64_t span = opt.size_max - opt.size_min;

	if (!span)
		return opt.size_min;
	return opt.size_min + mix64(stream_key(opt.seed, idx, dir + 16)) % (span + 1);
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = v >> (8 * i);
}

static uint64_t get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* --- helpers -------------------------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("ptstream: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	if (!p)
		die("out of memory");
	return p;
}

/* Parse "N", "Nk", "Nm", "Ng" (KiB, MiB, GiB); -1 if malformed. */
static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return -1;
	switch (*end) {
	case 'k':
	case 'K':
		v <<= 10;
		end++;
		break;
	case 'm':
	case 'M':
		v <<= 20;
		end++;
		break;
	case 'g':
	case 'G':
		v <<= 30;
		end++;
		break;
	}
	if (*end)
		return -1;
	*out = v;
	return 0;
}

static unsigned int parse_uint(const char *s, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v > 100000000)
		die("%s: expected a number, got \"%s\"", what, s);
	return v;
}

/* Decode C escapes (\r \n \t \0 \\ \xNN) into a new buffer. */
static uint8_t *unescape(const char *s, size_t *len)
{
	uint8_t *out = xcalloc(strlen(s) + 1, 1);
	size_t n = 0;

	while (*s) {
		if (*s != '\\') {
			out[n++] = *s++;
			continue;
		}
		s++;
		switch (*s) {
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
		case 'x': {
			char hex[3] = { 0 };
			char *end;

			if (!s[1] || !s[2])
				die("bad \\x escape");
			hex[0] = s[1];
			hex[1] = s[2];
			out[n++] = strtoul(hex, &end, 16);
			if (*end)
				die("bad \\x escape \"\\x%s\"", hex);
			s += 2;
			break;
		}
		default:
			die("unknown escape \"\\%c\"", *s ? *s : '0');
		}
		s++;
	}
	*len = n;
	return out;
}

static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t cap = 0, n = 0, r;

	if (!f)
		die("%s: %s", path, strerror(errno));
	do {
		if (n == cap) {
			cap = cap ? cap * 2 : 4096;
			buf = realloc(buf, cap);
			if (!buf)
				die("out of memory");
		}
		r = fread(buf + n, 1, cap - n, f);
		n += r;
	} while (r);
	if (ferror(f))
		die("%s: read error", path);
	fclose(f);
	*len = n;
	return buf;
}

/* "1.2.3.4:80", "[::1]:80", "localhost:80" -> sockaddr. */
static void parse_addr(const char *spec, struct sockaddr_storage *ss, socklen_t *len)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res;
	char host[256];
	const char *colon = strrchr(spec, ':');
	size_t hl;
	int err;

	if (!colon || colon == spec || strlen(spec) >= sizeof(host))
		die("bad address \"%s\": expected HOST:PORT", spec);
	hl = colon - spec;
	memcpy(host, spec, hl);
	host[hl] = 0;
	if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = 0;
	}
	err = getaddrinfo(host, colon + 1, &hints, &res);
	if (err)
		die("bad address \"%s\": %s", spec, gai_strerror(err));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
}

static const char *addr_str(const struct sockaddr_storage *ss, char *buf, size_t size)
{
	char ip[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		snprintf(buf, size, "[%s]:%u", ip, ntohs(s6->sin6_port));
	} else {
		const struct sockaddr_in *s4 = (const void *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		snprintf(buf, size, "%s:%u", ip, ntohs(s4->sin_port));
	}
	return buf;
}

static void md_hex(EVP_MD_CTX *md, char *hex)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	EVP_DigestFinal_ex(md, d, &n);
	for (unsigned int i = 0; i < n; i++)
		sprintf(hex + 2 * i, "%02x", d[i]);
	hex[2 * n] = 0;
}

static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* --- segment queues --------------------------------------------------------- */

static void q_push(struct queue *q, enum seg_kind kind, const char *what, const uint8_t *lit,
		   uint64_t len, uint64_t key)
{
	/* Empty literal or generated pieces carry nothing: leave them out. */
	if ((kind == SEG_LIT || kind == SEG_GEN) && !len)
		return;
	if (q->n == MAX_SEGS)
		die("internal error: segment queue full");
	q->seg[q->n++] = (struct seg){
		.kind = kind,
		.what = what,
		.lit = lit,
		.len = len,
		.key = key,
	};
}

static struct seg *q_cur(struct queue *q)
{
	return q->i < q->n ? &q->seg[q->i] : NULL;
}

/* --- connections ------------------------------------------------------------ */

static bool fail(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool fail(struct conn *c, const char *fmt, ...)
{
	va_list ap;

	if (c->failed)
		return false;
	c->failed = true;
	va_start(ap, fmt);
	vsnprintf(c->why, sizeof(c->why), fmt, ap);
	va_end(ap);
	return false;
}

static bool is_server(enum role r)
{
	return r <= R_STREAM;
}

static struct conn *conn_new(int fd, uint32_t idx, enum role role)
{
	struct conn *c = xcalloc(1, sizeof(*c));

	c->fd = fd;
	c->idx = idx;
	c->role = role;
	c->tx_md = EVP_MD_CTX_new();
	c->rx_md = EVP_MD_CTX_new();
	if (!c->tx_md || !c->rx_md || !EVP_DigestInit_ex(c->tx_md, EVP_sha256(), NULL) ||
	    !EVP_DigestInit_ex(c->rx_md, EVP_sha256(), NULL))
		die("sha256 init failed");
	c->next = conns;
	if (conns)
		conns->prev = c;
	conns = c;
	n_open++;
	return c;
}

static void report(struct conn *c)
{
	char txh[2 * EVP_MAX_MD_SIZE + 1], rxh[2 * EVP_MAX_MD_SIZE + 1];

	md_hex(c->tx_md, txh);
	md_hex(c->rx_md, rxh);
	if (is_server(c->role)) {
		if (c->failed || opt.verbose)
			fprintf(stderr,
				"ptstream: server #%u %s peer=%s rx=%" PRIu64
				" rx_sha256=%s tx=%" PRIu64 " tx_sha256=%s%s%s\n",
				c->idx, c->failed ? "FAIL" : "ok", c->peer, c->rx_bytes, rxh,
				c->tx_bytes, txh, c->failed ? " " : "", c->failed ? c->why : "");
		return;
	}
	if (c->failed)
		fprintf(stderr,
			"ptstream: #%u FAIL: %s (sent %" PRIu64 ", received %" PRIu64
			", local %s)\n",
			c->idx, c->why, c->tx_bytes, c->rx_bytes, c->peer[0] ? c->peer : "-");
	else if (opt.verbose)
		printf("#%u ok up=%" PRIu64 " down=%" PRIu64
		       " up_sha256=%s down_sha256=%s local=%s\n",
		       c->idx, c->tx_bytes, c->rx_bytes, txh, rxh, c->peer);
}

/* The connection is over (passed or failed): report, close, forget. */
static void conn_end(struct conn *c)
{
	if (c->failed) {
		/* Reset, so that the peer cannot mistake a failure for an end. */
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };

		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		n_failed++;
	} else {
		n_ok++;
	}
	tot_up += c->tx_bytes;
	tot_down += c->rx_bytes;
	report(c);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	n_open--;
	EVP_MD_CTX_free(c->tx_md);
	EVP_MD_CTX_free(c->rx_md);
	free(c->ring);
	free(c);
}

/* --- per-role decisions ------------------------------------------------------ */

/* The stream server has read the header: set up both directions. */
static bool stream_header(struct conn *c)
{
	uint32_t idx;
	uint64_t seed;

	if (memcmp(c->hdr, "PTS1", 4))
		return fail(c, "bad header magic %02x%02x%02x%02x", c->hdr[0], c->hdr[1], c->hdr[2],
			    c->hdr[3]);
	idx = get_le(c->hdr + 4, 4);
	seed = get_le(c->hdr + 8, 8);
	c->up_len = get_le(c->hdr + 16, 8);
	c->down_len = get_le(c->hdr + 24, 8);
	c->have_hdr = true;
	q_push(&c->rx, SEG_GEN, "upload", NULL, c->up_len, stream_key(seed, idx, DIR_UP));
	q_push(&c->tx, SEG_GEN, "download", NULL, c->down_len, stream_key(seed, idx, DIR_DOWN));
	return true;
}

/* A client got its one-line answer: the sink's hash, or the stream trailer. */
static bool client_line(struct conn *c)
{
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	EVP_MD_CTX *copy;

	if (c->role == R_UPLOAD) {
		if (!c->shut_wr)
			return fail(c, "sink replied before our FIN: \"%s\"", c->line);
		copy = EVP_MD_CTX_new();
		if (!copy || !EVP_MD_CTX_copy_ex(copy, c->tx_md))
			die("sha256 copy failed");
		md_hex(copy, hex);
		EVP_MD_CTX_free(copy);
		snprintf(c->reply, sizeof(c->reply), "%s %" PRIu64 "\n", hex, c->tx_bytes);
	}
	if (strcmp(c->line, c->reply)) {
		c->line[strcspn(c->line, "\n")] = 0;
		c->reply[strcspn(c->reply, "\n")] = 0;
		return fail(c, "server replied \"%s\", expected \"%s\"", c->line, c->reply);
	}
	return true;
}

/* Called when a receive segment is complete. */
static bool rx_seg_done(struct conn *c, struct seg *s)
{
	switch (s->kind) {
	case SEG_HDR:
		return stream_header(c);
	case SEG_LINE:
		return client_line(c);
	default:
		return true;
	}
}

/* The peer's FIN arrived after everything expected: what now? */
static void rx_finished(struct conn *c)
{
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	EVP_MD_CTX *copy;

	if (c->role != R_SINK)
		return;
	copy = EVP_MD_CTX_new();
	if (!copy || !EVP_MD_CTX_copy_ex(copy, c->rx_md))
		die("sha256 copy failed");
	md_hex(copy, hex);
	EVP_MD_CTX_free(copy);
	snprintf(c->reply, sizeof(c->reply), "%s %" PRIu64 "\n", hex, c->rx_bytes);
	q_push(&c->tx, SEG_LIT, "reply", (const uint8_t *)c->reply, strlen(c->reply), 0);
	c->tx_fin = true;
}

/* The stream server sends its trailer once it has sent all and seen all. */
static void stream_trailer(struct conn *c)
{
	if (c->role != R_STREAM || !c->have_hdr || c->trailer_sent || !c->rx_eof || c->failed ||
	    q_cur(&c->tx))
		return;
	snprintf(c->reply, sizeof(c->reply), "OK %" PRIu64 "\n", c->up_len);
	q_push(&c->tx, SEG_LIT, "trailer", (const uint8_t *)c->reply, strlen(c->reply), 0);
	c->trailer_sent = true;
	c->tx_fin = true;
}

/* --- moving bytes ------------------------------------------------------------- */

static bool tx_paused(struct conn *c)
{
	return c->tx_hold || (c->resume_at && now_s() < c->resume_at);
}

/* Send from the tx queue until it is empty or the socket is full. */
static bool do_tx(struct conn *c)
{
	struct seg *s;

	while ((s = q_cur(&c->tx)) && !tx_paused(c)) {
		uint64_t left = s->len - s->off;
		size_t n = left < CHUNK ? left : CHUNK;
		const uint8_t *p;
		ssize_t w;

		if (s->kind == SEG_LIT) {
			p = s->lit + s->off;
		} else {
			gen_fill(s->key, s->off, txbuf, n);
			p = txbuf;
		}
		w = send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return true;
			return fail(c, "send (%s, byte %" PRIu64 "): %s", s->what, c->tx_bytes,
				    strerror(errno));
		}
		EVP_DigestUpdate(c->tx_md, p, w);
		c->tx_bytes += w;
		s->off += w;
		if (s->off == s->len) {
			c->tx.i++;
			if (opt.gap_ms && !strcmp(s->what, "prefix"))
				c->resume_at = now_s() + opt.gap_ms / 1000.0;
		}
		if ((size_t)w < n)
			return true;
	}
	if (!q_cur(&c->tx) && c->tx_fin && !c->shut_wr) {
		if (shutdown(c->fd, SHUT_WR))
			return fail(c, "shutdown: %s", strerror(errno));
		c->shut_wr = true;
	}
	return true;
}

/* Check received bytes against the rx queue. */
static bool consume(struct conn *c, const uint8_t *p, size_t n)
{
	while (n) {
		struct seg *s = q_cur(&c->rx);
		uint64_t take;
		bool done = false;

		if (!s)
			return fail(c, "%zu unexpected bytes after the end (first 0x%02x)", n,
				    p[0]);
		take = n;
		switch (s->kind) {
		case SEG_LIT:
		case SEG_GEN:
			if (take > s->len - s->off)
				take = s->len - s->off;
			if (s->kind == SEG_GEN)
				gen_fill(s->key, s->off, cmpbuf, take);
			else
				memcpy(cmpbuf, s->lit + s->off, take);
			if (memcmp(cmpbuf, p, take)) {
				uint64_t i = 0;

				while (cmpbuf[i] == p[i])
					i++;
				return fail(c,
					    "%s differs at its byte %" PRIu64
					    " (stream byte %" PRIu64 "): got 0x%02x, want 0x%02x",
					    s->what, s->off + i, c->rx_bytes - n + i, p[i],
					    cmpbuf[i]);
			}
			done = s->off + take == s->len;
			break;
		case SEG_HDR:
			if (take > HDR_LEN - s->off)
				take = HDR_LEN - s->off;
			memcpy(c->hdr + s->off, p, take);
			done = s->off + take == HDR_LEN;
			break;
		case SEG_LINE: {
			const uint8_t *nl = memchr(p, '\n', n);

			take = nl ? (size_t)(nl - p) + 1 : n;
			if (c->line_len + take > LINE_MAX_LEN)
				return fail(c, "%s: line longer than %d bytes", s->what,
					    LINE_MAX_LEN);
			memcpy(c->line + c->line_len, p, take);
			c->line_len += take;
			c->line[c->line_len] = 0;
			done = nl != NULL;
			break;
		}
		case SEG_REST:
			break;
		}
		s->off += take;
		p += take;
		n -= take;
		if (done) {
			c->rx.i++;
			if (!rx_seg_done(c, s))
				return false;
		}
	}
	return true;
}

static bool on_eof(struct conn *c)
{
	struct seg *s = q_cur(&c->rx);

	c->rx_eof = true;
	if (s && s->kind == SEG_REST) {
		c->rx.i++;
		s = q_cur(&c->rx);
	}
	if (s)
		return fail(c,
			    "EOF in %s after %" PRIu64 " of %" PRIu64 " bytes (stream byte %" PRIu64
			    ")",
			    s->what, s->off, s->kind == SEG_LINE ? s->off + 1 : s->len,
			    c->rx_bytes);
	if (c->tx_hold)
		c->tx_hold = false;
	rx_finished(c);
	return true;
}

static bool do_rx(struct conn *c)
{
	for (int round = 0; round < 8 && !c->rx_eof; round++) {
		ssize_t r = recv(c->fd, rxbuf, sizeof(rxbuf), MSG_DONTWAIT);

		if (r == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return true;
			return fail(c, "recv (byte %" PRIu64 "): %s", c->rx_bytes, strerror(errno));
		}
		if (r == 0)
			return on_eof(c);
		EVP_DigestUpdate(c->rx_md, rxbuf, r);
		c->rx_bytes += r;
		c->tx_hold = false;
		if (!consume(c, rxbuf, r))
			return false;
	}
	return true;
}

/* Echo (and banner): everything read goes into the ring and back out. */
static bool do_echo(struct conn *c)
{
	bool moved = true;

	while (moved) {
		moved = false;
		if (!c->rx_eof && c->ring_len < RING_SIZE) {
			size_t start = (c->ring_off + c->ring_len) % RING_SIZE;
			size_t room = RING_SIZE - c->ring_len;
			size_t n = start + room > RING_SIZE ? RING_SIZE - start : room;
			ssize_t r = recv(c->fd, c->ring + start, n, MSG_DONTWAIT);

			if (r > 0) {
				EVP_DigestUpdate(c->rx_md, c->ring + start, r);
				c->rx_bytes += r;
				c->ring_len += r;
				moved = true;
			} else if (r == 0) {
				c->rx_eof = true;
				moved = true;
			} else if (errno != EAGAIN && errno != EINTR) {
				return fail(c, "recv (byte %" PRIu64 "): %s", c->rx_bytes,
					    strerror(errno));
			}
		}
		if (c->ring_len) {
			size_t n = c->ring_off + c->ring_len > RING_SIZE ? RING_SIZE - c->ring_off
									 : c->ring_len;
			ssize_t w =
				send(c->fd, c->ring + c->ring_off, n, MSG_NOSIGNAL | MSG_DONTWAIT);

			if (w > 0) {
				EVP_DigestUpdate(c->tx_md, c->ring + c->ring_off, w);
				c->tx_bytes += w;
				c->ring_off = (c->ring_off + w) % RING_SIZE;
				c->ring_len -= w;
				moved = true;
			} else if (w == -1 && errno != EAGAIN && errno != EINTR) {
				return fail(c, "send (byte %" PRIu64 "): %s", c->tx_bytes,
					    strerror(errno));
			}
		}
	}
	if (c->rx_eof && !c->ring_len && !c->shut_wr) {
		if (shutdown(c->fd, SHUT_WR))
			return fail(c, "shutdown: %s", strerror(errno));
		c->shut_wr = true;
	}
	return true;
}

static bool is_echo(const struct conn *c)
{
	return c->role == R_ECHO || c->role == R_BANNER;
}

/* Register the epoll interest this connection needs now. */
static void update_events(struct conn *c)
{
	struct epoll_event e = { .data.ptr = c };
	uint32_t ev = 0;

	if (c->connecting) {
		ev = EPOLLOUT;
	} else if (is_echo(c)) {
		if (!c->rx_eof && c->ring_len < RING_SIZE)
			ev |= EPOLLIN;
		if (c->ring_len)
			ev |= EPOLLOUT;
	} else {
		if (!c->rx_eof)
			ev |= EPOLLIN;
		if (q_cur(&c->tx) && !tx_paused(c))
			ev |= EPOLLOUT;
	}
	if (ev == c->events)
		return;
	e.events = ev;
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &e))
		die("epoll_ctl: %s", strerror(errno));
	c->events = ev;
}

/* Done when our FIN is out and the peer's FIN is in, after all expected. */
static bool is_done(struct conn *c)
{
	return c->shut_wr && c->rx_eof && !q_cur(&c->rx) && !q_cur(&c->tx);
}

/* Move what can be moved; end the connection if it is over. */
static void step(struct conn *c)
{
	bool ok;

	if (is_echo(c)) {
		ok = do_echo(c);
	} else {
		ok = do_rx(c) && do_tx(c);
		stream_trailer(c);
		if (ok)
			ok = do_tx(c);
	}
	if (!ok || c->failed || is_done(c)) {
		conn_end(c);
		return;
	}
	update_events(c);
}

static void conn_event(struct conn *c, uint32_t events)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (events & EPOLLERR || c->connecting) {
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len))
			err = errno;
		if (!err && events & EPOLLERR)
			err = EIO;
		if (err) {
			fail(c, "%s: %s", c->connecting ? "connect" : "socket error",
			     strerror(err));
			conn_end(c);
			return;
		}
		c->connecting = false;
	}
	step(c);
}

static void watch(struct conn *c, uint32_t ev)
{
	struct epoll_event e = { .events = ev, .data.ptr = c };

	if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &e))
		die("epoll_ctl: %s", strerror(errno));
	c->events = ev;
}

/* --- server --------------------------------------------------------------------- */

static uint32_t n_accepted;
static int lmark; /* epoll tag of the listening socket */

static void server_conn(int fd, const struct sockaddr_storage *ss)
{
	struct conn *c = conn_new(fd, n_accepted++, opt.role);
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	addr_str(ss, c->peer, sizeof(c->peer));
	switch (opt.role) {
	case R_BANNER:
	case R_ECHO:
		c->ring = xcalloc(1, RING_SIZE);
		if (opt.banner_len) {
			memcpy(c->ring, opt.banner, opt.banner_len);
			c->ring_len = opt.banner_len;
		}
		break;
	case R_SINK:
		q_push(&c->rx, SEG_REST, "data", NULL, 0, 0);
		break;
	case R_SOURCE:
		q_push(&c->rx, SEG_REST, "data", NULL, 0, 0);
		q_push(&c->tx, SEG_GEN, "source", NULL, opt.source_len,
		       stream_key(opt.seed, 0, DIR_DOWN));
		c->tx_fin = true;
		c->tx_hold = !opt.first;
		break;
	case R_STREAM:
		q_push(&c->rx, SEG_LIT, "prefix", opt.prefix, opt.prefix_len, 0);
		q_push(&c->rx, SEG_HDR, "header", NULL, HDR_LEN, 0);
		break;
	default:
		break;
	}
	watch(c, 0);
	step(c);
}

static void on_signal(int signo)
{
	stop_signal = signo;
}

static int run_server(void)
{
	struct sockaddr_storage ss;
	socklen_t len;
	struct epoll_event evs[MAX_EVENTS];
	struct sigaction sa = { .sa_handler = on_signal };
	sigset_t block, during;
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = &lmark };
	char buf[80];
	int lfd, one = 1;

	parse_addr(opt.listen, &ss, &len);
	lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd == -1)
		die("socket: %s", strerror(errno));
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&ss, len) || listen(lfd, 4096))
		die("listen on %s: %s", opt.listen, strerror(errno));
	len = sizeof(ss);
	getsockname(lfd, (struct sockaddr *)&ss, &len);
	printf("listening on %s\n", addr_str(&ss, buf, sizeof(buf)));
	fflush(stdout);

	/* Signals are blocked but while waiting, so none slips between check and wait. */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &during);
	sigdelset(&during, SIGTERM);
	sigdelset(&during, SIGINT);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd == -1)
		die("epoll_create1: %s", strerror(errno));
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &e))
		die("epoll_ctl: %s", strerror(errno));

	while (!stop_signal) {
		int n = epoll_pwait(epfd, evs, MAX_EVENTS, -1, &during);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			die("epoll_wait: %s", strerror(errno));
		}
		for (int i = 0; i < n; i++) {
			if (evs[i].data.ptr != &lmark) {
				conn_event(evs[i].data.ptr, evs[i].events);
				continue;
			}
			for (;;) {
				struct sockaddr_storage peer;
				socklen_t plen = sizeof(peer);
				int fd = accept4(lfd, (struct sockaddr *)&peer, &plen,
						 SOCK_NONBLOCK | SOCK_CLOEXEC);

				if (fd == -1) {
					if (errno == EMFILE || errno == ENFILE)
						fprintf(stderr, "ptstream: accept: %s\n",
							strerror(errno));
					break;
				}
				server_conn(fd, &peer);
			}
		}
	}
	while (conns) {
		fail(conns, "server stopped while the connection was open");
		conn_end(conns);
	}
	fprintf(stderr, "ptstream: server: %u connections, %u ok, %u failed\n", n_ok + n_failed,
		n_ok, n_failed);
	return n_failed ? 1 : 0;
}

/* --- client ------------------------------------------------------------------------ */

static struct sockaddr_storage dst_ss, bind_ss;
static socklen_t dst_len, bind_len;

static void client_start(uint32_t idx)
{
	struct sockaddr_storage local;
	socklen_t len = sizeof(local);
	int fd, err, one = 1;
	struct conn *c;
	uint64_t up = conn_size(idx, DIR_UP), down = conn_size(idx, DIR_DOWN);

	fd = socket(dst_ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		die("socket: %s", strerror(errno));
	c = conn_new(fd, idx, opt.role);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (opt.bind && bind(fd, (struct sockaddr *)&bind_ss, bind_len)) {
		fail(c, "bind %s: %s", opt.bind, strerror(errno));
		conn_end(c);
		return;
	}
	q_push(&c->tx, SEG_LIT, "prefix", opt.prefix, opt.prefix_len, 0);
	c->tx_fin = true;
	switch (opt.role) {
	case R_UPLOAD:
		q_push(&c->tx, SEG_GEN, "payload", NULL, up, stream_key(opt.seed, idx, DIR_UP));
		q_push(&c->rx, SEG_LINE, "sink reply", NULL, 0, 0);
		break;
	case R_CECHO:
		q_push(&c->tx, SEG_GEN, "payload", NULL, up, stream_key(opt.seed, idx, DIR_UP));
		q_push(&c->rx, SEG_LIT, "echoed prefix", opt.prefix, opt.prefix_len, 0);
		q_push(&c->rx, SEG_GEN, "echoed payload", NULL, up,
		       stream_key(opt.seed, idx, DIR_UP));
		break;
	case R_DOWNLOAD:
	case R_BOTH:
		if (opt.no_header) {
			/* A `source` server: stream (seed, 0, down), no trailer. */
			q_push(&c->rx, SEG_GEN, "download", NULL, down,
			       stream_key(opt.seed, 0, DIR_DOWN));
			break;
		}
		if (opt.role == R_DOWNLOAD)
			up = 0;
		memcpy(c->hdr, "PTS1", 4);
		put_le(c->hdr + 4, idx, 4);
		put_le(c->hdr + 8, opt.seed, 8);
		put_le(c->hdr + 16, up, 8);
		put_le(c->hdr + 24, down, 8);
		q_push(&c->tx, SEG_LIT, "header", c->hdr, HDR_LEN, 0);
		q_push(&c->tx, SEG_GEN, "upload", NULL, up, stream_key(opt.seed, idx, DIR_UP));
		q_push(&c->rx, SEG_GEN, "download", NULL, down,
		       stream_key(opt.seed, idx, DIR_DOWN));
		q_push(&c->rx, SEG_LINE, "trailer", NULL, 0, 0);
		snprintf(c->reply, sizeof(c->reply), "OK %" PRIu64 "\n", up);
		break;
	default:
		break;
	}
	err = connect(fd, (struct sockaddr *)&dst_ss, dst_len) ? errno : 0;
	/* The local address lets a test find this connection in passthru's log. */
	if (getsockname(fd, (struct sockaddr *)&local, &len) == 0)
		addr_str(&local, c->peer, sizeof(c->peer));
	if (!err) {
		watch(c, 0);
		step(c);
		return;
	}
	if (err != EINPROGRESS) {
		fail(c, "connect: %s", strerror(err));
		conn_end(c);
		return;
	}
	c->connecting = true;
	watch(c, EPOLLOUT);
}

/* Earliest -g resume time among open connections, as an epoll timeout. */
static int next_timeout_ms(double deadline)
{
	double t = deadline, now = now_s();

	if (opt.gap_ms)
		for (struct conn *c = conns; c; c = c->next)
			if (c->resume_at && c->resume_at > now && c->resume_at < t)
				t = c->resume_at;
	if (t <= now)
		return 0;
	return (int)((t - now) * 1000) + 1;
}

/* Wake connections whose -g pause is over. */
static void resume_paused(void)
{
	double now = now_s();
	struct conn *c = conns, *next;

	for (; c; c = next) {
		next = c->next;
		if (c->resume_at && c->resume_at <= now) {
			c->resume_at = 0;
			step(c);
		}
	}
}

static int run_client(void)
{
	struct epoll_event evs[MAX_EVENTS];
	double t0 = now_s(), deadline = t0 + opt.deadline_s, dt;

	parse_addr(opt.connect, &dst_ss, &dst_len);
	if (opt.bind) {
		struct sockaddr_in *s4 = (void *)&bind_ss;
		struct sockaddr_in6 *s6 = (void *)&bind_ss;

		/* A source address, any port. */
		if (inet_pton(AF_INET, opt.bind, &s4->sin_addr) == 1) {
			s4->sin_family = AF_INET;
			bind_len = sizeof(*s4);
		} else if (inet_pton(AF_INET6, opt.bind, &s6->sin6_addr) == 1) {
			s6->sin6_family = AF_INET6;
			bind_len = sizeof(*s6);
		} else {
			die("-B: expected an IP address, got \"%s\"", opt.bind);
		}
	}
	signal(SIGPIPE, SIG_IGN);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd == -1)
		die("epoll_create1: %s", strerror(errno));

	while (n_started < opt.total || n_open) {
		int n;

		while (n_started < opt.total && n_open < opt.conc)
			client_start(n_started++);
		if (!n_open)
			continue;
		if (now_s() >= deadline)
			break;
		n = epoll_wait(epfd, evs, MAX_EVENTS, next_timeout_ms(deadline));
		if (n == -1) {
			if (errno == EINTR)
				continue;
			die("epoll_wait: %s", strerror(errno));
		}
		for (int i = 0; i < n; i++)
			conn_event(evs[i].data.ptr, evs[i].events);
		if (opt.gap_ms)
			resume_paused();
	}
	while (conns) {
		struct conn *c = conns;
		struct seg *t = q_cur(&c->tx), *r = q_cur(&c->rx);

		fail(c, "timed out after %.0f s: %s; sending %s, receiving %s%s", opt.deadline_s,
		     c->connecting ? "connecting" : "connected",
		     t		  ? t->what
		     : c->shut_wr ? "done"
				  : "FIN",
		     r		 ? r->what
		     : c->rx_eof ? "done"
				 : "FIN",
		     c->tx_hold ? " (held)" : "");
		conn_end(c);
	}
	/* Connections never started (deadline) count as failed too. */
	n_failed += opt.total - n_started;
	dt = now_s() - t0;
	printf("ptstream: %u connections: %u ok, %u failed; up %" PRIu64 " bytes, down %" PRIu64
	       " bytes in %.3f s (%.1f MiB/s)\n",
	       opt.total, n_ok, n_failed, tot_up, tot_down, dt,
	       dt > 0 ? (tot_up + tot_down) / dt / 1048576 : 0.0);
	if (opt.summary)
		printf("%u passed, %u failed\n", n_ok, n_failed);
	return n_failed ? 1 : 0;
}

/* --- command line ---------------------------------------------------------------- */

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: ptstream server [-l ADDR:PORT] [-S SEED] [-P FILE | --prefix-text TEXT]\n"
		"                       [--first] [-v] echo|sink|stream|source N|banner TEXT\n"
		"       ptstream client -c ADDR:PORT [-m upload|download|both|echo] [-C CONC]\n"
		"                       [-N TOTAL] [-s SIZE|MIN:MAX] [-S SEED] [-P FILE |\n"
		"                       --prefix-text TEXT] [-B ADDR] [-g MS] [-T SECONDS]\n"
		"                       [--no-header] [--summary] [-v]\n"
		"       ptstream gen [-S SEED] [-i INDEX] [-d up|down] -n BYTES\n"
		"See the comment at the top of tests/tools/ptstream.c for the details.\n");
}

static int run_gen(uint32_t idx, int dir, uint64_t n)
{
	uint64_t key = stream_key(opt.seed, idx, dir), off = 0;

	while (off < n) {
		size_t len = n - off < CHUNK ? n - off : CHUNK;

		gen_fill(key, off, txbuf, len);
		if (fwrite(txbuf, 1, len, stdout) != len)
			return 1;
		off += len;
	}
	return fflush(stdout) ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "connect", required_argument, NULL, 'c' },
		{ "mode", required_argument, NULL, 'm' },
		{ "concurrency", required_argument, NULL, 'C' },
		{ "total", required_argument, NULL, 'N' },
		{ "size", required_argument, NULL, 's' },
		{ "seed", required_argument, NULL, 'S' },
		{ "prefix", required_argument, NULL, 'P' },
		{ "prefix-text", required_argument, NULL, 'p' },
		{ "bind", required_argument, NULL, 'B' },
		{ "gap", required_argument, NULL, 'g' },
		{ "deadline", required_argument, NULL, 'T' },
		{ "index", required_argument, NULL, 'i' },
		{ "dir", required_argument, NULL, 'd' },
		{ "bytes", required_argument, NULL, 'n' },
		{ "first", no_argument, NULL, 'F' },
		{ "no-header", no_argument, NULL, 'H' },
		{ "summary", no_argument, NULL, 'R' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	const char *cmd, *mode = NULL;
	uint32_t gen_idx = 0;
	int gen_dir = DIR_UP, o;
	uint64_t gen_n = 0;
	bool have_n = false;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	cmd = argv[1];
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help")) {
		usage(stdout);
		return 0;
	}
	optind = 2;
	while ((o = getopt_long(argc, argv, "l:c:m:C:N:s:S:P:B:g:T:i:d:n:vh", longopts, NULL)) !=
	       -1) {
		switch (o) {
		case 'l':
			opt.listen = optarg;
			break;
		case 'c':
			opt.connect = optarg;
			break;
		case 'm':
			mode = optarg;
			break;
		case 'C':
			opt.conc = parse_uint(optarg, "-C");
			break;
		case 'N':
			opt.total = parse_uint(optarg, "-N");
			break;
		case 's': {
			char *colon = strchr(optarg, ':');

			if (colon)
				*colon = 0;
			if (parse_size(optarg, &opt.size_min) ||
			    parse_size(colon ? colon + 1 : optarg, &opt.size_max) ||
			    opt.size_max < opt.size_min)
				die("-s: expected SIZE or MIN:MAX");
			break;
		}
		case 'S':
			if (parse_size(optarg, &opt.seed))
				die("-S: expected a number");
			break;
		case 'P':
			opt.prefix = read_file(optarg, &opt.prefix_len);
			break;
		case 'p':
			opt.prefix = unescape(optarg, &opt.prefix_len);
			break;
		case 'B':
			opt.bind = optarg;
			break;
		case 'g':
			opt.gap_ms = parse_uint(optarg, "-g");
			break;
		case 'T':
			opt.deadline_s = parse_uint(optarg, "-T");
			break;
		case 'i':
			gen_idx = parse_uint(optarg, "-i");
			break;
		case 'd':
			if (strcmp(optarg, "up") && strcmp(optarg, "down"))
				die("-d: expected up or down");
			gen_dir = !strcmp(optarg, "up") ? DIR_UP : DIR_DOWN;
			break;
		case 'n':
			if (parse_size(optarg, &gen_n))
				die("-n: expected a size");
			have_n = true;
			break;
		case 'F':
			opt.first = true;
			break;
		case 'H':
			opt.no_header = true;
			break;
		case 'R':
			opt.summary = true;
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
	raise_nofile();

	if (!strcmp(cmd, "gen")) {
		if (!have_n || optind != argc)
			die("gen: expected -n BYTES and no other argument");
		return run_gen(gen_idx, gen_dir, gen_n);
	}
	if (!strcmp(cmd, "server")) {
		if (optind >= argc)
			die("server: which mode? echo, sink, stream, source N or banner TEXT");
		mode = argv[optind++];
		if (!strcmp(mode, "echo")) {
			opt.role = R_ECHO;
		} else if (!strcmp(mode, "sink")) {
			opt.role = R_SINK;
		} else if (!strcmp(mode, "stream")) {
			opt.role = R_STREAM;
		} else if (!strcmp(mode, "source")) {
			opt.role = R_SOURCE;
			if (optind >= argc || parse_size(argv[optind++], &opt.source_len))
				die("server source: expected a byte count");
		} else if (!strcmp(mode, "banner")) {
			opt.role = R_BANNER;
			if (optind >= argc)
				die("server banner: expected the text");
			opt.banner = unescape(argv[optind++], &opt.banner_len);
			if (opt.banner_len > RING_SIZE)
				die("server banner: longer than %d bytes", RING_SIZE);
		} else {
			die("server: unknown mode \"%s\"", mode);
		}
		if (optind != argc)
			die("server: unexpected argument \"%s\"", argv[optind]);
		return run_server();
	}
	if (!strcmp(cmd, "client")) {
		if (!opt.connect)
			die("client: -c ADDR:PORT is required");
		if (optind != argc)
			die("client: unexpected argument \"%s\"", argv[optind]);
		if (!mode || !strcmp(mode, "both"))
			opt.role = R_BOTH;
		else if (!strcmp(mode, "upload"))
			opt.role = R_UPLOAD;
		else if (!strcmp(mode, "download"))
			opt.role = R_DOWNLOAD;
		else if (!strcmp(mode, "echo"))
			opt.role = R_CECHO;
		else
			die("client: unknown mode \"%s\"", mode);
		if (opt.no_header && opt.role != R_DOWNLOAD)
			die("client: --no-header goes with -m download");
		if (!opt.conc || !opt.total)
			die("client: -C and -N must be at least 1");
		return run_client();
	}
	usage(stderr);
	return 2;
}
