/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The in-memory configuration model: the only thing the rest of the daemon
 * reads. Both the native format and the legacy Go-passthru format are
 * translated into it by config.c. Everything here is immutable once loaded;
 * connections hold a reference (pt_config_get/put) so that a reload never
 * pulls a route from under an established connection.
 */
#ifndef __PT_CONFIG_T_H
#define __PT_CONFIG_T_H

#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "detect.h"
#include "log.h" /* enum pt_log_format */
#include "passthru-common.h" /* struct pt_cidr */
#include "tunnel-t.h" /* struct pt_terminate_cfg */

/* Defaults, documented in README.md ("Config reference"). */
#define PT_DEF_DETECT_TIMEOUT_MS	3000
#define PT_DEF_CONNECT_TIMEOUT_MS	5000
#define PT_DEF_IDLE_TIMEOUT_MS		0	/* off */
#define PT_DEF_MAX_CONNECTIONS		4096
#define PT_DEF_MAX_DETECTING		1024	/* per listener, shared out among the workers */
#define PT_DEF_MAX_PER_SOURCE		256
#define PT_DEF_SOURCE_PREFIX_V4		32
#define PT_DEF_SOURCE_PREFIX_V6		64
#define PT_DEF_GRACE_MS			10000
#define PT_DEF_BUSY_POLL_US		50	/* adaptive, loop.c */
#define PT_FD_RESERVE			600	/* fds a worker needs besides its connections */
#define PT_DEF_SOCKMAP_SNDBUF		(32 << 20)
#define PT_DEF_SOCKMAP_MAX_QUEUED	(16 << 20)
#define PT_DEF_DRAIN_TIMEOUT_MS		30000
#define PT_DEF_BULK_PLANE		PT_DP_SPLICE
#define PT_DEF_BULK_TURN_BYTES		65536
#define PT_DEF_BULK_TURNS		4

/*
 * Limits of the model: the shared counters (stats.h) keep a fixed row per
 * listener and per route, so the loader refuses configs beyond these.
 */
#define PT_MAX_LISTENERS		64
#define PT_MAX_ROUTES			256	/* per listener */
#define PT_MAX_WORKERS			64	/* -w; shared rows keep a count per worker */

/* sizeof(sockaddr_un.sun_path), with room for the NUL */
#define PT_CONTROL_PATH_MAX		108

/* Room for a "metrics" listen address as written, with its NUL. */
#define PT_METRICS_LISTEN_MAX		64

/*
 * An IPv4 or IPv6 socket address, the only families listeners and upstreams
 * use: 28 bytes where a sockaddr_storage takes 128, and every connection
 * keeps one (its peer). ss_family overlays the family of each member.
 */
union pt_inet_addr {
	sa_family_t ss_family;
	struct sockaddr sa;
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
};

struct pt_sockaddr {
	union pt_inet_addr ss;
	socklen_t len;
};

/* A listen address: "1.2.3.4:443", "[::1]:443", "[::]:443", ":443" or "*:443". */
struct pt_listen_addr {
	char *spec;		/* as written */
	struct pt_sockaddr addr;
	bool v6only;		/* "[::]:p" is IPv6 only; ":p" / "*:p" is dual-stack */
};

/* One "host:port" of a forward list, resolved at load (all addresses kept). */
struct pt_upstream {
	char *spec;
	struct pt_sockaddr *addrs;
	int n_addrs;
};

/* Upstream pools (the top-level "upstreams" object, config-pool.c, pool.c). */
#define PT_MAX_POOLS			32
#define PT_MAX_POOL_SERVERS		32	/* per pool: a connection's tried set is a bitmask */
#define PT_MAX_WEIGHT			256

enum pt_balance {
	PT_BAL_FIRST = 0,	/* in order, the first that is up (failover) */
	PT_BAL_ROUND_ROBIN,	/* weighted, interleaved, one sequence shared by the workers */
	PT_BAL_LEAST_CONN,	/* fewest open connections per unit of weight, all workers */
	PT_BAL_SOURCE_HASH,	/* weighted rendezvous hash of the client address */
};

/* What a pool does when every server is down (pt_pool.fallback >= 0: that pool). */
#define PT_POOL_FB_TRY		-1	/* try them anyway, in the pool's order */
#define PT_POOL_FB_REJECT	-2	/* close the client */

/* Active health checks of a pool's servers, run by one process (health.c). */
struct pt_health_cfg {
	bool on;
	unsigned int interval_ms;
	unsigned int timeout_ms;
	unsigned int rise;		/* good checks in a row that mark a down server up */
	unsigned int fall;		/* failed checks in a row that mark an up server down */
	bool tls;			/* send a ClientHello, expect a ServerHello */
	char *send;			/* bytes sent after connect, NULL = none */
	char *expect;			/* must appear in the first bytes read, NULL = connect only */
};

struct pt_pool_server {
	struct pt_upstream u;		/* "host:port" and its resolved addresses */
	unsigned int weight;		/* 1..PT_MAX_WEIGHT */
	uint64_t key;			/* hash of pool name and spec: shared slot and source-hash */
	int slot;			/* its row in the shared state (pool.h), -1 if none */
};

struct pt_pool {
	char *name;
	struct pt_pool_server *servers;
	int n_servers;
	enum pt_balance balance;
	int fallback;			/* PT_POOL_FB_* or a pool index */
	char *fallback_name;		/* as written, resolved once all pools are read */
	unsigned int eject_failures;	/* passive: connect failures in a row, 0 = off */
	unsigned int eject_ms;		/* ... take the server out for this long */
	struct pt_health_cfg health;
	uint16_t *rr_seq;		/* round-robin: server indices, each weight times, interleaved */
	unsigned int n_rr_seq;
};

enum pt_match_proto {
	PT_MATCH_ANY = 0,	/* whatever detection says, even nothing */
	PT_MATCH_TLS,
	PT_MATCH_HTTP,
	PT_MATCH_HTTP2,
	PT_MATCH_SSH,
	PT_MATCH_SOCKS4,
	PT_MATCH_SOCKS5,
	PT_MATCH_PATTERN,	/* route.pattern names which one */
	PT_MATCH_TIMEOUT,	/* deadline passed (or empty EOF) before any verdict */
	PT_MATCH_UNKNOWN,	/* every detector said no */
};

enum pt_action {
	PT_ACT_FORWARD = 0,
	PT_ACT_REJECT,
	PT_ACT_DROP,		/* hold silently, then close (silent.h) */
};

/* A list of strings from "x" or ["x", "y"]. */
struct pt_strv {
	char **v;
	int n;
};

struct pt_route {
	char *name;
	enum pt_match_proto proto;
	struct pt_strv sni;		/* lower-case; "*.example.com" = any subdomain */
	struct pt_strv alpn;		/* any of them in the client's list */
	struct pt_strv host;		/* lower-case, no port; wildcards as for sni */
	struct pt_strv path_prefix;
	struct pt_strv ja4;		/* TLS: JA4 fingerprints, a trailing "*" = prefix */
	struct pt_cidr *cidr;		/* client address in any of them */
	int n_cidr;
	int pattern;			/* index into pt_config.patterns, -1 if none */
	enum pt_action action;
	bool ban;			/* choosing it counts toward a shield ban */
	struct pt_upstream *upstreams;	/* tried in order when a connect fails */
	int n_upstreams;
	const struct pt_pool *pool;	/* forward to this pool of cfg->pools instead, or NULL */
	unsigned int proxy_protocol;	/* PROXY header version sent to the upstream, 0 = none */
	bool transparent;		/* the upstream socket binds to the client's address */
	bool original;			/* forward "original": to the destination the client asked for */
	struct pt_cidr *dst_cidr;	/* destination address in any of them (gateway.c) */
	int n_dst_cidr;
	uint16_t *dst_port;		/* destination port one of them */
	int n_dst_port;
	struct pt_strv dst_host;	/* a terminated proxy's requested host, as sni */
	bool requested;			/* forward "requested": where a terminated proxy's
					 * client asked (tunnel.c) */
};

/* How a listener's clients reach it (gateway.c). */
enum pt_listen_mode {
	PT_MODE_PROXY = 0,	/* they connect to its address */
	PT_MODE_TPROXY,		/* an nftables tproxy rule hands it connections for any address */
	PT_MODE_REDIRECT,	/* an nftables redirect (NAT) does; SO_ORIGINAL_DST says where to */
};

enum pt_data_plane {
	PT_DP_AUTO = 0,		/* copy, moving to bulk_plane when a connection shows bulk */
	PT_DP_SOCKMAP,
	PT_DP_SPLICE,
	PT_DP_COPY,
	PT_DP_LOCAL,		/* same-host bypass (experimental): local.c, README */
};

/*
 * A listener's XDP shield (user/shield.c, include/passthru-shield.h); on
 * when the listener has a "shield" object.
 */
struct pt_shield_cfg {
	bool on;
	bool required;			/* the daemon does not start without it */
	struct pt_strv interfaces;	/* names of network interfaces */
	struct pt_cidr *deny;		/* sources dropped */
	int n_deny;
	struct pt_cidr *allow;		/* if any: the only sources let through */
	int n_allow;
	unsigned int syn_rate;		/* SYNs per second per source, 0 = no limit */
	unsigned int syn_burst;		/* SYNs at once, 0 = syn_rate */
	unsigned int ban_failures;	/* failed detections that ban a source, 0 = never */
	unsigned int ban_window_s;	/* ... within this many seconds */
	unsigned int ban_seconds;	/* for this long */
};

struct pt_listener_cfg {
	char *name;
	struct pt_listen_addr *listen;
	int n_listen;
	unsigned int timeout_ms;	/* absolute detection deadline */
	bool has_timeout_ms;		/* set in the file (else -t or the default) */
	unsigned int max_bytes;		/* detection window */
	unsigned int max_connections;	/* 0 = unlimited */
	bool has_max_connections;	/* set in the file (else sized to fit RLIMIT_NOFILE) */
	unsigned int max_detecting;	/* still in detection; the oldest is evicted, 0 = no cap */
	unsigned int max_per_source;	/* concurrent connections per client network, 0 = off */
	unsigned int source_prefix_v4;	/* bits of an IPv4 client address that make its network */
	unsigned int source_prefix_v6;	/* ... of an IPv6 one */
	unsigned int connect_timeout_ms;
	unsigned int idle_timeout_ms;	/* 0 = off */
	enum pt_data_plane data_plane;
	enum pt_data_plane bulk_plane;	/* auto: where bulk goes, PT_DP_SPLICE or PT_DP_SOCKMAP */
	unsigned int bulk_turn_bytes;	/* auto: a turn that reads this much is a bulk turn, 0 = never */
	unsigned int bulk_turns;	/* auto: ... this many turns in a row move the connection */
	unsigned int sockmap_sndbuf;	/* SO_SNDBUF(FORCE) for sockmap pairs, 0 = kernel's */
	unsigned int sockmap_max_queued;	/* backpressure limit per direction, bytes */
	unsigned int drain_timeout_ms;	/* sockmap: reset a pair that stops draining */
	enum pt_listen_mode mode;
	bool needs_dst;			/* a route matches on dst_cidr/dst_port or forwards "original" */
	bool accept_proxy;		/* a PROXY header comes first and names the client */
	struct pt_cidr *trusted;	/* ... from these sources only (trusted_sources) */
	int n_trusted;
	struct pt_shield_cfg shield;
	struct pt_terminate_cfg term;	/* SOCKS5 / HTTP CONNECT answered here (tunnel.c) */
	struct pt_route *routes;
	int n_routes;
};

struct pt_config {
	int refcnt;
	unsigned int generation;	/* bumped by every reload, for passthru-ctl */
	char *path;
	bool legacy;			/* loaded from the Go-passthru "servers" format */
	unsigned int grace_ms;		/* SIGTERM: how long open connections may finish */
	unsigned int sockmap_budget_mib;	/* kernel memory sockmap pairs may pin, 0 = RAM / 4 */
	char control_socket[PT_CONTROL_PATH_MAX];	/* "" = /run/passthru/<instance>.sock */
	char user[64];			/* drop to this user after start-up, "" = stay */
	char control_admin_group[64];	/* may "reload" besides root, "" = root only */
	gid_t control_admin_gid;
	char metrics_listen[PT_METRICS_LISTEN_MAX];	/* "metrics": {"listen"}, "" = none */
	struct pt_sockaddr metrics_addr;	/* ... parsed */
	bool metrics_v6only;
	enum pt_log_format log_format;
	bool experimental;		/* "experimental": true lets data_plane "local" be used */
	bool no_io_uring;		/* "io_uring": false: the copy plane makes plain syscalls */
	uint32_t busy_poll_us;		/* workers poll this long at most before sleeping */
	struct pt_pattern *patterns;
	int n_patterns;
	struct pt_pool *pools;
	int n_pools;
	struct pt_listener_cfg *listeners;
	int n_listeners;
};

#endif /* __PT_CONFIG_T_H */
