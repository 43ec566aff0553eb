// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The per-connection log line (conn-log.h). What detection found is kept
 * as a list of words (pt_conn_log_words()) so that the fields can be freed
 * when relaying starts; the line is then written from the connection and
 * those words, as text:
 *
 *   #ID client=A [pp=OUTCOME [via=B]] [dst=D] listener=L proto=P [sni=.. alpn=.. ja4=.. |
 *   method=.. host=.. path=.. | banner=.. | target=.. | pattern=.. | why=".."] route=R
 *   upstream=U [src=S] plane=P[>Q moved_at=UP/DOWN] [fallback=WHY] up=N down=N
 *   dur=S.MMMs end=E
 *
 * or as one JSON object with the same keys ("-" becomes null; up, down
 * and id are numbers, dur a number of seconds, moved_at [UP, DOWN], a
 * flag like "ech" true). src is the upstream socket's own address on a
 * "transparent" route: the client's address, as the upstream saw it; dst
 * the destination the client asked for, on a gateway listener. A
 * terminated proxy's line says proto=OUTER>INNER requested=HOST:PORT.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "config.h"
#include "conn-log.h"
#include "conn.h"
#include "log.h"
#include "proxyio.h"
#include "tunnel.h"
#include "worker.h"

/* Append the word @fmt... to the list in @buf at @n; keep room for the list's last NUL. */
static size_t word(char *buf, size_t size, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static size_t word(char *buf, size_t size, size_t n, const char *fmt, ...)
{
	va_list ap;
	int len;

	if (n + 2 > size)
		return n;
	va_start(ap, fmt);
	len = vsnprintf(buf + n, size - n - 1, fmt, ap);
	va_end(ap);
	if (len < 0)
		return n;
	if ((size_t)len > size - n - 2)
		len = (int)(size - n - 2);
	return n + (size_t)len + 1;
}

/* The bytes a word list takes, its last NUL included. */
static size_t words_len(const char *w)
{
	const char *p = w;

	while (*p)
		p += strlen(p) + 1;
	return (size_t)(p - w) + 1;
}

static size_t field_words(const struct pt_conn *c, char *buf, size_t size, size_t n);
static size_t tunnel_words(const struct pt_conn *c, char *buf, size_t size);

size_t pt_conn_log_words(const struct pt_conn *c, char *buf, size_t size)
{
	const struct pt_fields *f = c->fields;
	size_t n = 0;

	if (!f && c->summary) {
		n = words_len(c->summary);
		n = n < size ? n : 0;
		memcpy(buf, c->summary, n);
	} else if (c->tun) {
		n = tunnel_words(c, buf, size);
	} else if (!f || !c->detected) {
		n = f ? word(buf, size, 0, "proto=-") : 0;
	} else {
		n = word(buf, size, 0, "proto=%s", pt_proto_name(f->proto));
		n = field_words(c, buf, size, n);
	}
	if (n < size)
		buf[n++] = 0;
	return n;
}

/* The words of what detection found in @c->fields after "proto=", from @n on. */
static size_t field_words(const struct pt_conn *c, char *buf, size_t size, size_t n)
{
	const struct pt_fields *f = c->fields;
	char alpn[160];

	switch (f->proto) {
	case PT_PROTO_TLS:
		pt_fields_alpn_str(f, alpn, sizeof(alpn));
		n = word(buf, size, n, "sni=%s", f->sni[0] ? f->sni : "-");
		n = word(buf, size, n, "alpn=%s", alpn[0] ? alpn : "-");
		n = word(buf, size, n, "ja4=%s", f->ja4[0] ? f->ja4 : "-");
		if (f->tls_sslv2)
			n = word(buf, size, n, "sslv2");
		if (f->tls_ech)
			n = word(buf, size, n, "ech");
		break;
	case PT_PROTO_HTTP:
		n = word(buf, size, n, "method=%s", f->method);
		n = word(buf, size, n, "host=%s", f->host[0] ? f->host : "-");
		n = word(buf, size, n, "path=%.64s%s", f->path, f->path_truncated ? "..." : "");
		break;
	case PT_PROTO_SSH:
		n = word(buf, size, n, "banner=%s", f->banner[0] ? f->banner : "-");
		break;
	case PT_PROTO_SOCKS4:
		n = word(buf, size, n, "target=%s:%u", f->host, f->port);
		break;
	case PT_PROTO_PATTERN:
		n = word(buf, size, n, "pattern=%s", c->cfg->patterns[f->pattern].name);
		break;
	case PT_PROTO_UNKNOWN:
	case PT_PROTO_NONE:
		if (f->reason[0])
			n = word(buf, size, n, "why=\"%s\"", f->reason);
		break;
	default:
		break;
	}
	return n;
}

/*
 * A terminated proxy: "proto=socks5>tls" (outer, then what detection found
 * inside, "-" while undecided), the inner fields, "requested=host:port" and
 * why it was refused.
 */
static size_t tunnel_words(const struct pt_conn *c, char *buf, size_t size)
{
	const struct pt_tunnel *t = c->tun;
	const char *inner = c->detected ? pt_proto_name(c->fields->proto) : "-";
	char req[PT_REQ_HOST_MAX + 16];
	size_t n;

	n = word(buf, size, 0, "proto=%s%s%s", pt_proto_name(t->outer), t->inner ? ">" : "",
		 t->inner ? inner : "");
	if (t->inner && c->detected)
		n = field_words(c, buf, size, n);
	pt_tunnel_requested_str(t, req, sizeof(req));
	n = word(buf, size, n, "requested=%s", req);
	if (t->why)
		n = word(buf, size, n, "why=\"%s\"", t->why);
	return n;
}

/* --- text ------------------------------------------------------------------ */

/*
 * A value for a key=value log field: as is when it is one plain word, else
 * in double quotes with " and \ escaped (legacy route names have spaces).
 */
static const char *log_word(const char *s, char *buf, size_t size)
{
	size_t n = 0;

	if (s[0] && !strpbrk(s, " \t\"\\="))
		return s;
	buf[n++] = '"';
	for (; *s && n + 3 < size; s++) {
		if (*s == '"' || *s == '\\')
			buf[n++] = '\\';
		buf[n++] = *s;
	}
	buf[n++] = '"';
	buf[n] = 0;
	return buf;
}

static const char *upstream_str(const struct pt_conn *c, char *buf, size_t size)
{
	if (!c->up_addr)
		return "-";
	return pt_sockaddr_str((const struct sockaddr *)&c->up_addr->ss, buf, size);
}

/* A gateway listener: the destination the client asked for ("-" if unknown), or NULL. */
static const char *dst_str(const struct pt_conn *c, char *buf, size_t size)
{
	const struct pt_sockaddr *dst = pt_conn_local(c);

	if (c->lcfg->mode == PT_MODE_PROXY)
		return NULL;
	return dst ? pt_sockaddr_str(&dst->ss.sa, buf, size) : "-";
}

/* transparent: the upstream socket's own address (the client's), or NULL. */
static const char *src_str(const struct pt_conn *c, char *buf, size_t size)
{
	const struct pt_route *r = pt_conn_route(c);
	struct pt_sockaddr a = { .len = sizeof(a.ss) };

	if (!r || !r->transparent || !c->up_addr || c->up.fd < 0 ||
	    getsockname(c->up.fd, &a.ss.sa, &a.len))
		return NULL;
	return pt_sockaddr_str(&a.ss.sa, buf, size);
}

/*
 * The plane words of the log line: "plane=copy", or after a move
 * "plane=copy>splice moved_at=UP/DOWN" (the bytes the first plane relayed).
 */
static const char *plane_str(const struct pt_conn *c, char *buf, size_t size)
{
	if (!c->dp)
		return "-";
	if (!pt_conn_first_dp(c))
		return c->dp->name;
	snprintf(buf, size, "%s>%s moved_at=%llu/%llu", c->x->first_dp->name, c->dp->name,
		 (unsigned long long)c->x->moved_at[0], (unsigned long long)c->x->moved_at[1]);
	return buf;
}

/* " proto=tls sni=..": the words, each after a space. */
static void words_text(const char *w, char *buf, size_t size)
{
	size_t n = 0, len;

	for (; *w; w += len + 1) {
		len = strlen(w);
		if (n + 1 + len + 1 > size)
			break;
		buf[n++] = ' ';
		memcpy(buf + n, w, len);
		n += len;
	}
	buf[n] = 0;
}

static void log_text(const struct pt_conn *c, enum pt_log_level level, const char *words,
		     uint64_t dur)
{
	const struct pt_route *r = pt_conn_route((struct pt_conn *)c);
	char peer[64], up[64], fields[600], lname[128], rname[128], plane[80], pp[96], src[64];
	char dst[64];
	const char *s = src_str(c, src, sizeof(src)), *d = dst_str(c, dst, sizeof(dst));

	words_text(words, fields, sizeof(fields));
	pt_proxy_log_words(c, pp, sizeof(pp));
	pt_log(PT_LC_CONN, level,
	       "#%llu client=%s%s%s%s listener=%s%s route=%s upstream=%s%s%s plane=%s%s%s up=%llu "
	       "down=%llu dur=%llu.%03llus end=%s",
	       (unsigned long long)c->id,
	       pt_sockaddr_str((struct sockaddr *)&c->peer.ss, peer, sizeof(peer)), pp,
	       d ? " dst=" : "", d ? d : "",
	       log_word(c->lcfg->name, lname, sizeof(lname)), fields,
	       r ? log_word(r->name, rname, sizeof(rname)) : "-", upstream_str(c, up, sizeof(up)),
	       s ? " src=" : "", s ? s : "", plane_str(c, plane, sizeof(plane)),
	       c->fallback ? " fallback=" : "", c->fallback ? c->fallback : "", (unsigned long long)c->bytes[PT_DIR_UP],
	       (unsigned long long)c->bytes[PT_DIR_DOWN], (unsigned long long)dur / 1000,
	       (unsigned long long)dur % 1000, pt_end_name(c->end));
}

/* --- JSON ------------------------------------------------------------------- */

struct jline {
	char b[1800];
	size_t n;
};

/* ,"key": then @fmt... as is (a number, true, null, [..]). */
static void jraw(struct jline *j, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void jraw(struct jline *j, const char *key, const char *fmt, ...)
{
	va_list ap;

	if (j->n + 8 >= sizeof(j->b))
		return;
	j->n += (size_t)snprintf(j->b + j->n, sizeof(j->b) - j->n, "%s\"%s\":", j->n ? "," : "",
				 key);
	va_start(ap, fmt);
	if (j->n < sizeof(j->b))
		j->n += (size_t)vsnprintf(j->b + j->n, sizeof(j->b) - j->n, fmt, ap);
	va_end(ap);
	if (j->n >= sizeof(j->b))
		j->n = sizeof(j->b) - 1;
}

/* ,"key":"value" escaped, or null for NULL or "-". */
static void jstr(struct jline *j, const char *key, const char *v)
{
	if (!v || !strcmp(v, "-")) {
		jraw(j, key, "null");
		return;
	}
	jraw(j, key, "\"");
	j->n = pt_log_json_str(j->b, sizeof(j->b) - 2, j->n, v);
	j->b[j->n++] = '"';
	j->b[j->n] = 0;
}

/* The detection words: "k=v" as "k":"v" (quotes around v dropped), a flag as "k":true. */
static void words_json(struct jline *j, const char *w)
{
	char key[32], val[512];

	for (; *w; w += strlen(w) + 1) {
		const char *eq = strchr(w, '=');
		size_t kl = eq ? (size_t)(eq - w) : strlen(w), vl;

		snprintf(key, sizeof(key), "%.*s", (int)kl, w);
		if (!eq) {
			jraw(j, key, "true");
			continue;
		}
		vl = strlen(eq + 1);
		if (vl >= 2 && eq[1] == '"' && eq[vl] == '"')
			snprintf(val, sizeof(val), "%.*s", (int)(vl - 2), eq + 2);
		else
			snprintf(val, sizeof(val), "%s", eq + 1);
		jstr(j, key, val);
	}
}

static void log_json(const struct pt_conn *c, enum pt_log_level level, const char *words,
		     uint64_t dur)
{
	const struct pt_route *r = pt_conn_route((struct pt_conn *)c);
	char peer[64], up[64], plane[80];
	struct jline j = { .n = 0 };

	jraw(&j, "id", "%llu", (unsigned long long)c->id);
	jstr(&j, "client", pt_sockaddr_str((struct sockaddr *)&c->peer.ss, peer, sizeof(peer)));
	if (pt_proxy_outcome(c)) {
		const struct pt_sockaddr *via = pt_conn_via(c);

		jstr(&j, "pp", pt_proxy_outcome(c));
		if (via)
			jstr(&j, "via", pt_sockaddr_str(&via->ss.sa, peer, sizeof(peer)));
	}
	if (dst_str(c, peer, sizeof(peer)))
		jstr(&j, "dst", peer);
	jstr(&j, "listener", c->lcfg->name);
	words_json(&j, words);
	jstr(&j, "route", r ? r->name : NULL);
	jstr(&j, "upstream", c->up_addr ? upstream_str(c, up, sizeof(up)) : NULL);
	if (src_str(c, peer, sizeof(peer)))
		jstr(&j, "src", peer);
	if (c->dp && pt_conn_first_dp(c)) {
		snprintf(plane, sizeof(plane), "%s>%s", c->x->first_dp->name, c->dp->name);
		jstr(&j, "plane", plane);
		jraw(&j, "moved_at", "[%llu,%llu]", (unsigned long long)c->x->moved_at[0],
		     (unsigned long long)c->x->moved_at[1]);
	} else {
		jstr(&j, "plane", c->dp ? c->dp->name : NULL);
	}
	if (c->fallback)
		jstr(&j, "fallback", c->fallback);
	jraw(&j, "up", "%llu", (unsigned long long)c->bytes[PT_DIR_UP]);
	jraw(&j, "down", "%llu", (unsigned long long)c->bytes[PT_DIR_DOWN]);
	jraw(&j, "dur", "%llu.%03llu", (unsigned long long)dur / 1000,
	     (unsigned long long)dur % 1000);
	jstr(&j, "end", pt_end_name(c->end));
	pt_log_json(PT_LC_CONN, level, j.b);
}

void pt_conn_log_end(const struct pt_conn *c)
{
	enum pt_log_level level = c->end == PT_END_ERROR ? PT_LOG_WARN : PT_LOG_INFO;
	uint64_t dur = c->w->loop.now - c->t_start;
	char words[600];

	if (!pt_log_enabled(PT_LC_CONN, level))
		return;
	pt_conn_log_words(c, words, sizeof(words));
	if (pt_log_format() == PT_LOG_FMT_JSON)
		log_json(c, level, words, dur);
	else
		log_text(c, level, words, dur);
}
