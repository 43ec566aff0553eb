// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Config loading, on top of the rest of the config module: read the file,
 * parse the JSON, tell the formats apart and hand it to the native or the
 * legacy reader, collect every error, fit unset max_connections to the
 * descriptor limit. Also the reference counting and freeing of the model.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "config-int.h"
#include "config.h"

#define PT_CFG_FILE_MAX (16 << 20)

static void strv_free(struct pt_strv *sv)
{
	int i;

	for (i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
}

static void cidrs_free(struct pt_cidr *v, int n)
{
	for (int i = 0; i < n; i++)
		free(v[i].spec);
	free(v);
}

static void route_free(struct pt_route *r)
{
	int i;

	free(r->name);
	strv_free(&r->sni);
	strv_free(&r->alpn);
	strv_free(&r->host);
	strv_free(&r->path_prefix);
	strv_free(&r->ja4);
	cidrs_free(r->cidr, r->n_cidr);
	cidrs_free(r->dst_cidr, r->n_dst_cidr);
	free(r->dst_port);
	strv_free(&r->dst_host);
	for (i = 0; i < r->n_upstreams; i++) {
		free(r->upstreams[i].spec);
		free(r->upstreams[i].addrs);
	}
	free(r->upstreams);
}

static void listener_free(struct pt_listener_cfg *l)
{
	int i;

	free(l->name);
	for (i = 0; i < l->n_listen; i++)
		free(l->listen[i].spec);
	free(l->listen);
	cidrs_free(l->trusted, l->n_trusted);
	for (i = 0; i < l->n_routes; i++)
		route_free(&l->routes[i]);
	free(l->routes);
	pt_shield_cfg_free(&l->shield);
	pt_terminate_cfg_free(&l->term);
}

static void config_free(struct pt_config *cfg)
{
	int i;

	for (i = 0; i < cfg->n_listeners; i++)
		listener_free(&cfg->listeners[i]);
	free(cfg->listeners);
	for (i = 0; i < cfg->n_pools; i++)
		pt_pool_cfg_free(&cfg->pools[i]);
	free(cfg->pools);
	for (i = 0; i < cfg->n_patterns; i++) {
		struct pt_pattern *p = &cfg->patterns[i];

		free(p->name);
		free(p->prefix);
		free(p->regex_src);
		if (p->has_regex)
			regfree(&p->regex);
	}
	free(cfg->patterns);
	free(cfg->path);
	free(cfg);
}

/* Take one more reference to @cfg; returns it. */
struct pt_config *pt_config_get(struct pt_config *cfg)
{
	if (cfg)
		__atomic_add_fetch(&cfg->refcnt, 1, __ATOMIC_RELAXED);
	return cfg;
}

/* Drop a reference; the last one frees the whole model. NULL is fine. */
void pt_config_put(struct pt_config *cfg)
{
	if (cfg && !__atomic_sub_fetch(&cfg->refcnt, 1, __ATOMIC_ACQ_REL))
		config_free(cfg);
}

/* The number of routes over all listeners (the start-up line and --check). */
int pt_config_n_routes(const struct pt_config *cfg)
{
	int n = 0;

	for (int i = 0; i < cfg->n_listeners; i++)
		n += cfg->listeners[i].n_routes;
	return n;
}

/* "FILE:LINE:COL: JSON syntax error near ..." for a cJSON parse failure at @at. */
static void err_syntax(struct pt_cfg_ctx *ctx, const char *text, size_t len, const char *at,
		       const char *what)
{
	const char *p, *bol = text;
	int line = 1;

	if (!at || at < text || at > text + len)
		at = text + len;
	for (p = text; p < at; p++) {
		if (*p == '\n') {
			line++;
			bol = p + 1;
		}
	}
	ctx->n_errors++;
	if (!ctx->errs)
		return;
	if (ctx->prog)
		fprintf(ctx->errs, "%s: ", ctx->prog);
	fprintf(ctx->errs, "%s:%d:%d: %s", ctx->file, line, (int)(at - bol) + 1, what);
	if (at < text + len && *at) {
		char near[24];
		size_t n = strcspn(at, "\r\n");

		n = n < sizeof(near) - 1 ? n : sizeof(near) - 1;
		memcpy(near, at, n);
		near[n] = '\0';
		fprintf(ctx->errs, " near %s", pt_cfg_q(ctx, near));
	} else {
		fprintf(ctx->errs, " at end of input");
	}
	fputc('\n', ctx->errs);
}

/*
 * The first "\u0000" escape inside a JSON string, or NULL. cJSON would
 * decode it into its NUL-terminated strings and silently cut the value
 * ("good.example\u0000.evil" read as "good.example").
 */
static const char *find_nul_escape(const char *text, size_t len)
{
	bool in_string = false;

	for (size_t i = 0; i < len; i++) {
		if (!in_string) {
			in_string = text[i] == '"';
			continue;
		}
		if (text[i] == '"') {
			in_string = false;
		} else if (text[i] == '\\') {
			if (i + 5 < len && text[i + 1] == 'u' && !memcmp(text + i + 2, "0000", 4))
				return text + i;
			i++;
		}
	}
	return NULL;
}

static struct pt_config *parse_text(const char *name, const char *text, size_t len,
				    const struct pt_config_opts *opts, FILE *errs)
{
	static const struct pt_config_opts no_opts;
	struct pt_cfg_ctx *ctx;
	struct pt_config *cfg;
	const char *end = NULL;
	cJSON *root = NULL;
	int err = EINVAL;

	ctx = calloc(1, sizeof(*ctx));
	cfg = calloc(1, sizeof(*cfg));
	if (!ctx || !cfg || !(cfg->path = strdup(name))) {
		free(ctx);
		free(cfg);
		errno = ENOMEM;
		return NULL;
	}
	cfg->refcnt = 1;
	ctx->file = name;
	ctx->errs = errs;
	ctx->opts = opts ? opts : &no_opts;
	ctx->prog = ctx->opts->prog;
	ctx->cfg = cfg;

	if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3)) {
		text += 3;
		len -= 3;
	}
	if (memchr(text, '\0', len)) {
		err_syntax(ctx, text, len, memchr(text, '\0', len), "NUL byte in the file");
		goto out;
	}
	/* the length includes the terminating NUL, as cJSON_ParseWithOpts() does */
	root = cJSON_ParseWithLengthOpts(text, len + 1, &end, 1);
	if (!root) {
		err_syntax(ctx, text, len, end, "JSON syntax error");
		goto out;
	}
	end = find_nul_escape(text, len);
	if (end) {
		err_syntax(ctx, text, len, end, "\\u0000 (a NUL character) is not allowed in a string");
		goto out;
	}
	if (cJSON_IsObject(root) && cJSON_GetObjectItemCaseSensitive(root, "servers"))
		pt_cfg_legacy(ctx, root);
	else
		pt_cfg_native(ctx, root);
	if (ctx->oom)
		err = ENOMEM;
out:
	cJSON_Delete(root);
	if (ctx->n_errors || ctx->oom) {
		free(ctx);
		pt_config_put(cfg);
		errno = err;
		return NULL;
	}
	pt_cfg_fit_fds(cfg, ctx->opts);
	free(ctx);
	return cfg;
}

/*
 * Parse a config held in memory (@text, NUL-terminated); @name is what error
 * messages call the file. See pt_config_load().
 */
struct pt_config *pt_config_parse(const char *name, const char *text,
				  const struct pt_config_opts *opts, FILE *errs)
{
	return parse_text(name, text, strlen(text), opts, errs);
}

static int read_file(const char *path, char **text, size_t *len)
{
	size_t size = 0, cap = 0;
	char *buf = NULL, *p;
	ssize_t n;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return -errno;
	for (;;) {
		if (cap - size < 4096) {
			cap = cap ? cap * 2 : 16384;
			if (cap > PT_CFG_FILE_MAX + 1) {
				err = -EFBIG;
				break;
			}
			p = realloc(buf, cap + 1);
			if (!p) {
				err = -ENOMEM;
				break;
			}
			buf = p;
		}
		n = read(fd, buf + size, cap - size);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			err = -errno;
			break;
		}
		if (!n)
			break;
		size += (size_t)n;
	}
	close(fd);
	if (err) {
		free(buf);
		return err;
	}
	buf[size] = '\0';
	*text = buf;
	*len = size;
	return 0;
}

/*
 * Load and validate the config file @path (native or legacy format). Every
 * problem is printed to @errs (NULL: not printed) as "FILE: JSON.PATH:
 * message", or "FILE:LINE:COL: ..." for JSON syntax, or "FILE: strerror"
 * when the file cannot be read. Returns a config holding one reference, or
 * NULL with errno EINVAL (bad config), ENOMEM, or the errno of the read.
 */
struct pt_config *pt_config_load(const char *path, const struct pt_config_opts *opts, FILE *errs)
{
	return pt_config_load_text(path, opts, errs, NULL, NULL);
}

/* pt_config_load(), and on success the text it parsed in *ptext (malloc'd), *plen bytes. */
struct pt_config *pt_config_load_text(const char *path, const struct pt_config_opts *opts,
				      FILE *errs, char **ptext, size_t *plen)
{
	struct pt_config *cfg;
	char *text = NULL;
	size_t len = 0;
	int err;

	err = read_file(path, &text, &len);
	if (err) {
		if (errs)
			fprintf(errs, "%s%s%s: %s\n", opts && opts->prog ? opts->prog : "",
				opts && opts->prog ? ": " : "", path,
				err == -EFBIG ? "file too large" : strerror(-err));
		errno = -err;
		return NULL;
	}
	cfg = parse_text(path, text, len, opts, errs);
	err = errno;
	if (cfg && ptext) {
		*ptext = text;
		*plen = len;
		text = NULL;
	}
	free(text);
	errno = err;
	return cfg;
}
