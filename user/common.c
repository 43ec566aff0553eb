// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The facts the daemon and passthru-ctl share (include/passthru-common.h):
 * enum names, the instance name rule and the paths derived from a name,
 * CIDR parsing and matching, the shield's key of a client address, the
 * monotonic clock in nanoseconds, the pt_meta stamp and the liveness checks.
 * Built on its own into libptcommon.a; nothing here logs, callers word
 * their own messages from the negative errno.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include "passthru-common.h"
#include "passthru-shield.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* The enums of passthru.h are stored in maps and never renumbered. */
static const char *const proto_names[PT_PROTO_MAX] = {
	[PT_PROTO_NONE] = "none",	[PT_PROTO_UNKNOWN] = "unknown",
	[PT_PROTO_TLS] = "tls",		[PT_PROTO_HTTP] = "http",
	[PT_PROTO_HTTP2] = "http2",	[PT_PROTO_SSH] = "ssh",
	[PT_PROTO_SOCKS4] = "socks4",	[PT_PROTO_SOCKS5] = "socks5",
	[PT_PROTO_PATTERN] = "pattern",
};

static const char *const end_names[PT_END_MAX] = {
	[PT_END_DONE] = "done",
	[PT_END_CLIENT_RESET] = "client-reset",
	[PT_END_UPSTREAM_RESET] = "upstream-reset",
	[PT_END_ERROR] = "error",
	[PT_END_IDLE] = "idle-timeout",
	[PT_END_NO_ROUTE] = "no-route",
	[PT_END_REJECTED] = "rejected",
	[PT_END_UPSTREAM_FAILED] = "upstream-failed",
	[PT_END_CLIENT_GONE] = "client-gone",
	[PT_END_SHUTDOWN] = "shutdown",
	[PT_END_EVICTED] = "evicted",
};

static const char *const plane_names[] = {
	[PT_PLANE_NONE] = "none",
	[PT_PLANE_SPLICE] = "splice",
	[PT_PLANE_SOCKMAP] = "sockmap",
	[PT_PLANE_COPY] = "copy",
	[PT_PLANE_LOCAL] = "local",
};

static const char *const state_names[] = {
	[PT_PAIR_FREE] = "free",
	[PT_PAIR_RELAYING] = "relaying",
	[PT_PAIR_HALF_CLOSED] = "half-closed",
	[PT_PAIR_DRAINING] = "draining",
	[PT_PAIR_CLOSING] = "closing",
};

/* "tls", ...; "invalid" for a value out of range. */
const char *pt_proto_name(enum pt_proto proto)
{
	if ((unsigned int)proto >= PT_PROTO_MAX || !proto_names[proto])
		return "invalid";
	return proto_names[proto];
}

/* Inverse of pt_proto_name(); -1 if @name is not one. */
int pt_proto_from_name(const char *name)
{
	for (int i = 0; i < PT_PROTO_MAX; i++)
		if (proto_names[i] && !strcmp(name, proto_names[i]))
			return i;
	return -1;
}

/* "client-reset", ...; "?" for a value out of range. */
const char *pt_end_name(enum pt_end end)
{
	return (unsigned int)end < PT_END_MAX ? end_names[end] : "?";
}

/* Name of an enum pt_plane ("splice"), "?" if out of range. */
const char *pt_plane_name(unsigned int plane)
{
	return plane < ARRAY_SIZE(plane_names) ? plane_names[plane] : "?";
}

/* Name of an enum pt_pair_state ("half-closed"), "?" if out of range. */
const char *pt_pair_state_name(unsigned int state)
{
	return state < ARRAY_SIZE(state_names) ? state_names[state] : "?";
}

static bool is_name_char(char c)
{
	return c == '-' || c == '_' || c == '.' || (c >= '0' && c <= '9') ||
	       (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/*
 * An instance name names a pin directory and two files: 1 to 31 of
 * [A-Za-z0-9_.-], not starting with a dot.
 */
bool pt_instance_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (!n || n > PT_INSTANCE_NAME_MAX || name[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_name_char(name[i]))
			return false;
	return true;
}

/*
 * The instance name a config file gives when none is set:
 * "/etc/passthru/front.json" -> "front"; characters outside [A-Za-z0-9_.-]
 * become '_'; "default" if nothing is left. Returns @buf.
 */
const char *pt_instance_default(const char *config_path, char *buf, size_t size)
{
	const char *base = strrchr(config_path, '/') ? strrchr(config_path, '/') + 1 : config_path;
	size_t n = 0;

	for (; *base && n + 1 < size; base++, n++) {
		if (!strcmp(base, ".json"))
			break;
		buf[n] = is_name_char(*base) ? *base : '_';
	}
	buf[n] = 0;
	if (!n || buf[0] == '.')
		snprintf(buf, size, "default");
	return buf;
}

/* PT_PIN_ROOT/<instance>, where the kernel data plane's maps are pinned. Returns @buf. */
char *pt_pin_dir(char *buf, size_t size, const char *instance)
{
	snprintf(buf, size, "%s/%s", PT_PIN_ROOT, instance);
	return buf;
}

/* PT_RUN_DIR/<instance>.<ext>: the instance's files in the run directory. Returns @buf. */
static char *run_file(char *buf, size_t size, const char *instance, const char *ext)
{
	snprintf(buf, size, "%s/%s.%s", PT_RUN_DIR, instance, ext);
	return buf;
}

/* PT_RUN_DIR/<instance>.sock, the default control socket. Returns @buf. */
char *pt_control_path(char *buf, size_t size, const char *instance)
{
	return run_file(buf, size, instance, "sock");
}

/* PT_RUN_DIR/<instance>.pairs, the pair slots without the kernel maps. Returns @buf. */
char *pt_pairs_path(char *buf, size_t size, const char *instance)
{
	return run_file(buf, size, instance, "pairs");
}

/*
 * PT_RUN_DIR/<instance>.lock: whoever holds an flock on it owns the
 * instance (its pins, control socket and .pairs file). Returns @buf.
 */
char *pt_lock_path(char *buf, size_t size, const char *instance)
{
	return run_file(buf, size, instance, "lock");
}

/* Decimal 0..max; -EINVAL if not digits, -ERANGE above @max. */
static int parse_prefix(const char *s, unsigned int max, unsigned int *out)
{
	unsigned long v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > max)
			return -ERANGE;
	}
	*out = (unsigned int)v;
	return 0;
}

/* Clear the bits past @prefix; returns true if any was set. */
static bool mask_host_bits(uint8_t *a, int len, int prefix)
{
	bool changed = false;

	for (int i = 0; i < len; i++) {
		int keep = prefix - i * 8;
		uint8_t m = keep >= 8 ? 0xff : keep <= 0 ? 0 : (uint8_t)(0xff << (8 - keep));

		if (a[i] & ~m)
			changed = true;
		a[i] &= m;
	}
	return changed;
}

/*
 * Parse "10.0.0.0/8", "2001:db8::/32" or a single address (a /32 or /128).
 * The host bits are cleared; returns 1 if there were any set (callers may
 * refuse such a spec), 0 if the network was clean, or -EINVAL / -ERANGE.
 * c->spec is left alone.
 */
int pt_cidr_parse(const char *spec, struct pt_cidr *c)
{
	char buf[INET6_ADDRSTRLEN];
	const char *slash = strchr(spec, '/');
	size_t len = slash ? (size_t)(slash - spec) : strlen(spec);
	unsigned int prefix;
	int err, max;

	if (len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, spec, len);
	buf[len] = '\0';
	memset(c->addr, 0, sizeof(c->addr));
	c->family = strchr(buf, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(c->family, buf, c->addr) != 1)
		return -EINVAL;
	max = c->family == AF_INET ? 32 : 128;
	prefix = (unsigned int)max;
	if (slash) {
		err = parse_prefix(slash + 1, (unsigned int)max, &prefix);
		if (err)
			return err;
	}
	c->prefix = (int)prefix;
	return mask_host_bits(c->addr, max / 8, c->prefix) ? 1 : 0;
}

/* Canonical "network/prefix" text of @c into @buf; returns buf. */
char *pt_cidr_str(const struct pt_cidr *c, char *buf, size_t size)
{
	char ip[INET6_ADDRSTRLEN];

	if (!inet_ntop(c->family, c->addr, ip, sizeof(ip)))
		snprintf(ip, sizeof(ip), "?");
	snprintf(buf, size, "%s/%d", ip, c->prefix);
	return buf;
}

static bool prefix_equal(const uint8_t *a, const uint8_t *b, int prefix)
{
	int bytes = prefix / 8, bits = prefix % 8;
	uint8_t m = (uint8_t)(0xff << (8 - bits));

	if (memcmp(a, b, (size_t)bytes))
		return false;
	return !bits || !((a[bytes] ^ b[bytes]) & m);
}

/*
 * Is the client address @sa inside @c? An IPv4-mapped IPv6 address
 * (::ffff:1.2.3.4, what a dual-stack socket reports for IPv4 clients) counts
 * as the IPv4 address, so "10.0.0.0/8" matches it; an IPv6 network sees IPv4
 * clients in their mapped form, so "::/0" matches every client.
 */
bool pt_cidr_contains(const struct pt_cidr *c, const struct sockaddr *sa)
{
	uint8_t a[16] = {[10] = 0xff, [11] = 0xff};
	bool v4;

	if (sa->sa_family == AF_INET) {
		memcpy(a + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		v4 = true;
	} else if (sa->sa_family == AF_INET6) {
		memcpy(a, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		v4 = IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)a);
	} else {
		return false;
	}
	if (c->family == AF_INET)
		return v4 && prefix_equal(c->addr, a + 12, c->prefix);
	return c->family == AF_INET6 && prefix_equal(c->addr, a, c->prefix);
}

bool pt_shield_src_of(const struct sockaddr *sa, struct pt_shield_src *k)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

	memset(k, 0, sizeof(*k));
	if (sa->sa_family == AF_INET) {
		k->family = AF_INET;
		memcpy(k->addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		k->family = AF_INET;
		memcpy(k->addr, s6->sin6_addr.s6_addr + 12, 4);
	} else if (sa->sa_family == AF_INET6) {
		k->family = AF_INET6;
		memcpy(k->addr, &s6->sin6_addr, 16);
	} else {
		return false;
	}
	return true;
}

uint64_t pt_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Stamp @m for this process: our magic and layout, pid, start time, @instance. */
void pt_meta_init(struct pt_meta *m, __u32 n_slots, int n_workers, const char *instance)
{
	*m = (struct pt_meta){
		.magic = PT_META_MAGIC,
		.abi = PT_ABI_VERSION,
		.pair_size = sizeof(struct pt_pair),
		.n_slots = n_slots,
		.n_workers = (__u32)n_workers,
		.pid = (__u32)getpid(),
		.start_ns = pt_now_ns(),
	};
	snprintf(m->instance, sizeof(m->instance), "%s", instance);
}

/*
 * Is @m a stamp we can read? 0 yes, -EBADMSG if it is not a passthru stamp
 * at all (magic), -EPROTO if it is one of another layout (abi, pair size).
 */
int pt_meta_check(const struct pt_meta *m)
{
	if (m->magic != PT_META_MAGIC)
		return -EBADMSG;
	if (m->abi != PT_ABI_VERSION || m->pair_size != sizeof(struct pt_pair))
		return -EPROTO;
	return 0;
}

/*
 * Is @pid a live passthru? Its pid must exist and, when /proc says, still
 * be a passthru: pins left by a killed daemon outlive it, and its pid may
 * have gone to someone else since. When /proc cannot tell (not readable),
 * the process counts as alive: nothing of a live daemon gets removed.
 */
bool pt_pid_alive(pid_t pid)
{
	char path[64], comm[32] = "";
	FILE *f;

	if (pid <= 0 || (kill(pid, 0) && errno == ESRCH))
		return false;
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return true;
	if (!fgets(comm, sizeof(comm), f))
		comm[0] = 0;
	fclose(f);
	return !comm[0] || !strncmp(comm, "passthru", 8);
}

/*
 * Does a process accept connections on the unix socket @path? 1 yes (*pid:
 * who, when the kernel says), 0 no (refused or gone: a stale socket),
 * or -errno when it cannot be told (e.g. -EACCES).
 */
int pt_sock_alive(const char *path, pid_t *pid)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int fd, rc = 0;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
		rc = 1;
		if (pid && getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
			*pid = cred.pid;
	} else if (errno != ECONNREFUSED && errno != ENOENT) {
		rc = -errno;
	}
	close(fd);
	return rc;
}
